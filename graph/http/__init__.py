"""The HTTP door: the app's GraphQL endpoint, request parsing, keys, rate limits, pages."""
