"""The data and its rules. Nothing here imports strawberry or starlette or reads the
environment, so every door (GraphQL, REST, SSE, CLI) shares one implementation of each rule."""
