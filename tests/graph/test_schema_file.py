"""`schema.graphql` at the repo root is exactly what the code prints."""

from __future__ import annotations

from pathlib import Path

from graph.schema.build import printed_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_is_current() -> None:
    assert SCHEMA_FILE.read_text() == printed_schema(), (
        "schema.graphql is stale: run `sessiongraph export-schema`"
    )


def test_contract_surface_is_present() -> None:
    text = printed_schema()
    for line in (
        "session(id: ID!): Session",
        "createSession(input: CreateSessionInput!): Session!",
        "updateSession(id: ID!, input: UpdateSessionInput!): Session!",
        "deleteSession(id: ID!): ID!",
        "appendEvent(sessionId: ID!, input: AppendEventInput!): Event!",
        "node(id: ID!): Node",
    ):
        assert line in text, line
