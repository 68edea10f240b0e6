"""A GraphQL operation before it runs: its limits, its read plan, how it is run."""
