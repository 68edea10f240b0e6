"""The document store and the manifest, without a server: every branch of graph/plan/persisted.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from graph.plan.persisted import (
    DocumentNotFound,
    DocumentRefused,
    ManifestError,
    PersistedDocuments,
    load_manifest,
    persisted_documents,
    sha256_hex,
    trusted_only,
)
from graph.settings import Settings

QUERY = "query Q { sessions(first: 1) { totalCount } }"


def apq(text: str, version: object = 1) -> dict[str, object]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256_hex(text)}}


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(content)
    return path


# --- Manifests ---------------------------------------------------------------------------


def test_graphql_codegen_client_preset_manifest(tmp_path: Path) -> None:
    """`persisted-documents.json` of @graphql-codegen/client-preset: hash -> printed text."""
    manifest = {sha256_hex(QUERY): QUERY}
    documents = PersistedDocuments(load_manifest(write(tmp_path, json.dumps(manifest))))
    digest = sha256_hex(QUERY)
    assert documents.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": digest}}, None)
    assert documents.resolve(None, None, f"sha256:{digest}") == QUERY
    assert documents.resolve(None, None, digest) == QUERY


def test_relay_manifest(tmp_path: Path) -> None:
    """Relay's `persisted_queries.json`: its own ids (an md5 by default) -> text."""
    manifest = {"3be4abb81fa595e25eb725b2c6a87508": QUERY}
    documents = PersistedDocuments(load_manifest(write(tmp_path, json.dumps(manifest))))
    assert documents.resolve(None, None, "3be4abb81fa595e25eb725b2c6a87508") == QUERY


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a non-empty JSON object"),
        ("{}", "must be a non-empty JSON object"),
        ('{"a": 1}', "the entry 'a' is not a document text"),
        ('{"a": "  "}', "the entry 'a' is not a document text"),
    ],
)
def test_malformed_manifests_stop_start_up(tmp_path: Path, content: str, reason: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ManifestError, match=reason) as error:
        load_manifest(path)
    assert f"SESSIONGRAPH_TRUSTED_DOCUMENTS={path}" in str(error.value)
    with pytest.raises(ValidationError, match=reason):
        Settings(trusted_documents=str(path))


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read the manifest"):
        Settings(trusted_documents=str(tmp_path / "absent.json"))


def test_trusted_only_needs_a_manifest() -> None:
    with pytest.raises(ValidationError, match="needs a manifest"):
        Settings(trusted_documents_only=True)
    with pytest.raises(ManifestError, match="needs a manifest"):
        PersistedDocuments(trusted_only=True)


def test_production_runs_only_trusted_documents_once_it_has_a_manifest(tmp_path: Path) -> None:
    path = str(write(tmp_path, json.dumps({"q": QUERY})))
    assert trusted_only("production", path, None)
    assert not trusted_only("production", None, None)
    assert not trusted_only("development", path, None)
    assert not trusted_only("production", path, False)
    assert trusted_only("development", path, True)
    assert persisted_documents(Settings(env="production", trusted_documents=path)).trusted_only
    assert not persisted_documents(Settings(env="development", trusted_documents=path)).trusted_only


# --- Automatic persisted queries -----------------------------------------------------------


def test_miss_register_hit() -> None:
    documents = PersistedDocuments()
    with pytest.raises(DocumentNotFound) as missing:
        documents.resolve(None, apq(QUERY), None)
    assert missing.value.error().message == "PersistedQueryNotFound"
    assert documents.resolve(QUERY, apq(QUERY), None) == QUERY
    assert documents.resolve(None, apq(QUERY), None) == QUERY
    assert documents.resolve(None, None, f"sha256:{sha256_hex(QUERY)}") == QUERY


def test_mismatch_and_versions() -> None:
    documents = PersistedDocuments()
    with pytest.raises(DocumentRefused, match="provided sha does not match query"):
        documents.resolve("{ __typename }", apq(QUERY), None)
    with pytest.raises(DocumentRefused, match="Unsupported persisted query version 2") as error:
        documents.resolve(QUERY, apq(QUERY, version=2), None)
    assert error.value.code == "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"
    assert not documents.stored


def test_query_and_document_id_together_are_refused() -> None:
    with pytest.raises(DocumentRefused, match="not both"):
        PersistedDocuments().resolve(QUERY, None, "abc")


def test_the_store_is_bounded_and_keeps_the_recently_used() -> None:
    documents = PersistedDocuments(capacity=2)
    texts = [f"query Q{n} {{ __typename }}" for n in range(3)]
    documents.resolve(texts[0], apq(texts[0]), None)
    documents.resolve(texts[1], apq(texts[1]), None)
    documents.resolve(None, apq(texts[0]), None)  # used: now the most recent
    documents.resolve(texts[2], apq(texts[2]), None)  # evicts texts[1], the least recent
    assert list(documents.stored.values()) == [texts[0], texts[2]]
    with pytest.raises(DocumentNotFound):
        documents.resolve(None, apq(texts[1]), None)


def test_capacity_zero_turns_registration_off() -> None:
    """Clients then stop hashing (`PersistedQueryNotSupported`) and send full texts."""
    documents = PersistedDocuments(capacity=0)
    assert documents.resolve(QUERY, apq(QUERY), None) == QUERY
    with pytest.raises(DocumentNotFound) as missing:
        documents.resolve(None, apq(QUERY), None)
    assert missing.value.error().extensions == {"code": "PERSISTED_QUERY_NOT_SUPPORTED"}


# --- Trusted-only mode ---------------------------------------------------------------------


def test_trusted_only_refuses_other_documents_and_registration() -> None:
    other = "{ __typename }"
    documents = PersistedDocuments({"q": QUERY}, trusted_only=True)
    assert documents.resolve(None, None, "q") == QUERY
    assert documents.resolve(QUERY, None, None) == QUERY  # a trusted text sent in full
    assert documents.resolve(QUERY, apq(QUERY), None) == QUERY
    for query, extensions in ((other, None), (other, apq(other))):
        with pytest.raises(DocumentRefused) as refused:
            documents.resolve(query, extensions, None)
        assert refused.value.code == "TRUSTED_DOCUMENT_REQUIRED"  # its 400: test_persisted_trusted
    with pytest.raises(DocumentNotFound):
        documents.resolve(None, apq(other), None)
    assert not documents.stored


def test_websocket_payloads() -> None:
    documents = PersistedDocuments({"q": QUERY})
    assert documents.resolve_payload({"documentId": "q"}) == {"documentId": "q", "query": QUERY}
    assert documents.resolve_payload({"extensions": apq(QUERY), "variables": {}})["query"] == QUERY
    assert documents.resolve_payload({"query": 1}) == {"query": 1}  # the shape check answers
    assert documents.resolve_payload({}) == {}
    with pytest.raises(DocumentNotFound):
        documents.resolve_payload({"doc_id": "unknown"})
