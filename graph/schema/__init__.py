"""The GraphQL schema: types, inputs, roots, errors and its Federation build."""
