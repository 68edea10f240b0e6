"""`python -m graph` is the `sessiongraph` command."""

from graph.cli import main

raise SystemExit(main())
