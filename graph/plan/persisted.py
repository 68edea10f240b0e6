"""Persisted documents: automatic persisted queries (APQ) and a manifest of trusted documents.

A document named by `extensions.persistedQuery` (Apollo, urql) or `documentId` (`sha256:<hex>`
or Relay's plain id) resolves to its text, so the text-keyed caches serve it. The manifest
(GraphQL Code Generator's `persisted-documents.json`, Relay's) is read at start; in
trusted-only mode every other document is refused and APQ registers nothing.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from graphql import GraphQLError

if TYPE_CHECKING:
    from graph.settings import Settings

MANIFEST_SETTING = "SESSIONGRAPH_TRUSTED_DOCUMENTS"
SHA256_PREFIX = "sha256:"


class ManifestError(ValueError):
    """The trusted-documents manifest cannot be used: the server must not start."""


class DocumentRefused(Exception):
    """A request the HTTP layer answers with 400 before any GraphQL work."""

    def __init__(self, message: str, code: str = "BAD_USER_INPUT") -> None:
        super().__init__(message)
        self.code = code


class DocumentNotFound(Exception):
    """A request error whose message and code clients recognise, to retry with the full text."""

    def __init__(self, supported: bool) -> None:
        super().__init__("PersistedQueryNotFound" if supported else "PersistedQueryNotSupported")
        self.code = "PERSISTED_QUERY_NOT_FOUND" if supported else "PERSISTED_QUERY_NOT_SUPPORTED"

    def error(self) -> GraphQLError:
        return GraphQLError(str(self), extensions={"code": self.code})


def load_manifest(path: str | Path) -> dict[str, str]:
    """`{"<id>": "<document text>"}`; anything else stops start-up with the reason."""
    where = f"{MANIFEST_SETTING}={path}"
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as error:
        raise ManifestError(f"{where}: cannot read the manifest ({error.strerror})") from None
    except orjson.JSONDecodeError as error:
        raise ManifestError(f"{where}: the manifest is not valid JSON ({error})") from None
    if not isinstance(data, dict) or not data:
        raise ManifestError(
            f"{where}: the manifest must be a non-empty JSON object mapping document ids "
            'to document texts, {"<id>": "<document>"}'
        )
    for key, text in data.items():
        if not isinstance(text, str) or not text.strip():
            raise ManifestError(f"{where}: the entry {key!r} is not a document text")
    return data


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """The hash an `extensions.persistedQuery` names, None without one; 400 when malformed."""
    persisted = extensions.get("persistedQuery") if extensions else None
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise DocumentRefused("'extensions.persistedQuery' must be an object")
    if persisted.get("version") != 1:
        raise DocumentRefused(
            f"Unsupported persisted query version {persisted.get('version')!r}: "
            "this server speaks version 1",
            "PERSISTED_QUERY_VERSION_NOT_SUPPORTED",
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not digest:
        raise DocumentRefused("'extensions.persistedQuery.sha256Hash' must be a string")
    return digest


class PersistedDocuments:
    """The trusted manifest and this process's APQ store (least recently used goes first)."""

    def __init__(
        self,
        trusted: Mapping[str, str] | None = None,
        *,
        trusted_only: bool = False,
        capacity: int = 1000,
    ) -> None:
        if trusted_only and not trusted:
            raise ManifestError(
                f"trusted-documents-only mode needs a manifest: set {MANIFEST_SETTING}"
            )
        # Each text is also named by its SHA-256, as APQ clients send, whatever ids the
        # manifest's tool chose (Relay's are md5 hashes).
        self.trusted = {sha256_hex(text): text for text in (trusted or {}).values()}
        self.trusted.update(trusted or {})
        self.trusted_texts = frozenset(self.trusted.values())
        self.trusted_only = trusted_only
        self.capacity = 0 if trusted_only else capacity
        self.stored: OrderedDict[str, str] = OrderedDict()

    def resolve(
        self, query: str | None, extensions: Mapping[str, Any] | None, document_id: str | None
    ) -> str:
        """The text to run. Raises `DocumentRefused` or `DocumentNotFound`."""
        if document_id is not None:
            if query is not None:
                raise DocumentRefused("send either 'query' or 'documentId', not both")
            return self._lookup(document_id)
        digest = persisted_hash(extensions)
        if digest is not None and query is None:
            return self._lookup(digest)
        if query is None:
            raise DocumentRefused("the request needs a 'query' string")
        if digest is not None:
            self._register(digest, query)
        elif self.trusted_only and query not in self.trusted_texts:
            raise self._untrusted()
        return query

    def resolve_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A WebSocket start payload with its text as `query`; a wrong shape passes unchanged."""
        query = payload.get("query")
        document_id = payload.get("documentId", payload.get("doc_id"))
        extensions = payload.get("extensions")
        extensions = extensions if isinstance(extensions, dict) else None
        if not isinstance(query, str | None) or not isinstance(document_id, str | None):
            return payload
        if query is None and document_id is None and "persistedQuery" not in (extensions or {}):
            return payload
        text = self.resolve(query, extensions, document_id)
        return payload if text is query else {**payload, "query": text}

    def message(self, message: Any, start: str) -> tuple[Any, dict[str, Any] | None]:
        """A WebSocket `start` message with its document resolved, or the error answering it;
        the protocol's shape check answers any other message."""
        if not (
            isinstance(message, dict)
            and message.get("type") == start
            and isinstance(message.get("id"), str)
            and message["id"]
            and isinstance(message.get("payload"), dict)
        ):
            return message, None
        try:
            return {**message, "payload": self.resolve_payload(message["payload"])}, None
        except (DocumentNotFound, DocumentRefused) as refused:
            return message, {"message": str(refused), "extensions": {"code": refused.code}}

    def _lookup(self, key: str) -> str:
        text = self.trusted.get(key)
        if text is None and key.startswith(SHA256_PREFIX):
            key = key.removeprefix(SHA256_PREFIX)
            text = self.trusted.get(key)
        if text is not None:
            return text
        text = self.stored.get(key.lower())
        if text is None:
            raise DocumentNotFound(supported=self.trusted_only or self.capacity > 0)
        self.stored.move_to_end(key.lower())
        return text

    def _register(self, digest: str, query: str) -> None:
        """A full text with its hash: checked, then kept so the hash alone names it next time."""
        if sha256_hex(query) != digest.lower():
            raise DocumentRefused("provided sha does not match query")
        if query in self.trusted_texts:
            return
        if self.trusted_only:
            raise self._untrusted()
        if self.capacity == 0:
            return
        self.stored[digest.lower()] = query
        self.stored.move_to_end(digest.lower())
        while len(self.stored) > self.capacity:
            self.stored.popitem(last=False)

    def _untrusted(self) -> DocumentRefused:
        return DocumentRefused(
            "this server runs only trusted documents: name one from its manifest by "
            "'documentId' or 'extensions.persistedQuery.sha256Hash'",
            "TRUSTED_DOCUMENT_REQUIRED",
        )


def trusted_only(env: str, manifest: str | None, setting: bool | None) -> bool:
    """Shipping a manifest to production means allow-listing, so that is the default there;
    an explicit setting wins either way."""
    if setting is not None:
        return setting
    return env == "production" and manifest is not None


def persisted_documents(settings: Settings) -> PersistedDocuments:
    """One store per process, shared by `/graphql` over HTTP and WebSocket."""
    manifest = settings.trusted_documents
    return PersistedDocuments(
        load_manifest(manifest) if manifest is not None else None,
        trusted_only=trusted_only(settings.env, manifest, settings.trusted_documents_only),
        capacity=settings.persisted_queries_max,
    )
