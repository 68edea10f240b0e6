"""`python -m graph` is the `sessiongraph` command."""

from graph.cli.commands import main

raise SystemExit(main())
