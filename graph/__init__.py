"""The face of sessiongraph: GraphQL schema, HTTP app, auth and CLI over the rules in `db`."""
