"""The `sessiongraph` command: serve, migrate, demo and the tools around them."""
