"""The REST API under `/v1/products/generation/sessions`, its OpenAPI document and docs page:
a thin face over the same `db` operations as GraphQL (`operations` lists them, `models` is
the wire format, `handlers` the translation)."""

from graph.rest.routing import rest_api_routes

__all__ = ["rest_api_routes"]
