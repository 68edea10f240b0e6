"""The REST API under `/v1/products/generation/sessions`, its OpenAPI document and docs page
(`routing` lists them, `models` is the wire format, `handlers` the translation)."""
