"""Every knob, read once from `SESSIONGRAPH_*` environment variables into one object."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from db.live.bus import bus_kind
from db.store.engine import DEFAULT_MAX_CONNECTIONS
from graph.plan.persisted import load_manifest

# The largest request the server reads, whichever way it arrives: a /graphql body (413
# above) or one WebSocket message (the socket closes with 1009 above).
MAX_BODY_BYTES = 4 * 1024 * 1024

Seconds = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """README.md's configuration table documents each knob; names are part of the contract."""

    model_config = SettingsConfigDict(env_prefix="SESSIONGRAPH_", extra="ignore")

    # sqlite:///path.db (embedded default) or postgresql://user@host/db
    database_url: str = "sqlite:///./sessiongraph.db"
    host: str = "127.0.0.1"  # interface `serve` binds to
    port: int = Field(8000, ge=0, le=65535)  # port `serve` listens on
    # `production` hides GraphiQL and error details
    env: Literal["development", "production"] = "development"
    session_ttl_seconds: int = Field(7 * 24 * 3600, gt=0)  # default lifetime (expiresAt)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    auto_migrate: bool = True  # apply pending migrations when `serve` starts
    # SQLite `PRAGMA synchronous` (durability vs. speed)
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    # PostgreSQL connections a process opens at most, all pools and LISTEN together
    # (default 20; split in db.store.engine.ConnectionBudget)
    db_max_connections: int | None = Field(None, ge=2)
    # Deprecated: when DB_MAX_CONNECTIONS is unset, a budget of 2 * DB_POOL_SIZE + 1
    db_pool_size: int | None = Field(None, ge=1)
    # Where the LISTEN connection goes (a direct PostgreSQL URL when DATABASE_URL is
    # PgBouncer in transaction mode); default DATABASE_URL
    listen_database_url: str | None = None
    # Where live-stream hints travel between processes: `memory` (one process), `postgres`
    # (LISTEN/NOTIFY), `redis://host:port/db` or `nats://host:port`; default `postgres` on
    # PostgreSQL, `memory` on SQLite
    bus_url: str | None = None
    # While the bus's broker is unreachable, live streams read the database this often
    # (and /readyz says `degraded (polling)`)
    bus_poll_seconds: float = Field(1.0, gt=0, le=60)
    graphql_max_depth: int = Field(10, ge=1, le=64)  # deepest field nesting
    graphql_max_aliases: int = Field(15, ge=0)  # aliases per document
    graphql_max_tokens: Count = 2_000  # tokens per document
    # bytes per document (large values go in variables)
    graphql_max_document_bytes: int = Field(128 * 1024, ge=1024)
    graphql_max_fields: Count = 10_000  # fields per operation once fragments are expanded
    graphql_max_nodes: Count = 10_000  # nodes an operation may return (connection sizes)
    graphql_max_operations: Count = 1  # operations per HTTP request; above 1 enables batching
    graphql_timeout_seconds: Seconds = 10.0  # longest a query or mutation may run
    # Serve /graphql as an Apollo Federation 2 subgraph (`Session` and `Event` keyed by
    # `id`, `_service`, `_entities`)
    federation: bool = False
    # Automatic persisted queries kept per process (least recently used go first); 0 turns
    # registration off
    persisted_queries_max: int = Field(1000, ge=0)
    # Manifest of trusted documents, {"<id>": "<document>"} (GraphQL Code Generator's
    # persisted-documents.json, Relay's); read at start
    trusted_documents: str | None = None
    # Run only the manifest's documents; unset: on in `production` when a manifest is set
    trusted_documents_only: bool | None = None
    access_log: bool = True  # one `sessiongraph.access` line per HTTP request (`info` level)
    log_format: Literal["json", "text"] = "json"  # `json` (one object per line) or `text`
    # `local` serves GraphiQL's files shipped with sessiongraph (works offline); `cdn`
    # loads them from unpkg.com
    graphiql_assets: Literal["local", "cdn"] = "local"
    # With `local`, serve GraphiQL's files from this folder instead of the shipped copies
    # (`sessiongraph graphiql-assets DIR` fills it)
    graphiql_assets_dir: str | None = None
    rest_max_body_bytes: Count = 1_048_576  # largest REST request body; larger ones are 413
    # How long an Idempotency-Key's response is kept
    idempotency_retention_seconds: int = Field(24 * 3600, gt=0)
    # WebSocket: close with 4408 when no connection_init by then
    ws_init_timeout_seconds: Seconds = 5.0
    ws_max_subscriptions: Count = 100  # WebSocket: operations one connection may run at once
    ws_keepalive_seconds: Seconds = 15.0  # legacy graphql-ws `ka` and SSE comment interval
    # How soon a revoked key's WebSockets and SSE streams end
    ws_revocation_check_seconds: Seconds = 5.0
    # WebSocket: execute and encode each event once per selection and write the same
    # message to every subscriber (false: Strawberry's path per subscriber)
    ws_shared_writes: bool = True
    # How often expired sessions are marked and announced
    expiry_sweep_seconds: Seconds = 10.0
    expired_retention_seconds: int = Field(30 * 24 * 3600, ge=0)  # how long they are kept
    # Largest /graphql request body (413 above) and WebSocket message (close 1009 above)
    graphql_max_body_bytes: int = Field(MAX_BODY_BYTES, ge=1024)
    # A connection whose request headers are not complete this long after it opened (or
    # its request began) is closed
    http_header_timeout_seconds: Seconds = 10.0
    # How long an idle kept-alive connection stays open; behind a proxy, set it above the
    # proxy's idle timeout
    http_keepalive_seconds: Count = 5

    @property
    def db_connection_budget(self) -> int:
        """`db_max_connections`, else what the deprecated `db_pool_size` used to open."""
        if self.db_max_connections is not None:
            return self.db_max_connections
        if self.db_pool_size is not None:
            return 2 * self.db_pool_size + 1
        return DEFAULT_MAX_CONNECTIONS

    @field_validator("bus_url")
    @classmethod
    def _known_bus(cls, url: str | None) -> str | None:
        """A bus URL of an unknown kind stops start-up here, with the kinds there are."""
        if url is not None and url.strip():
            bus_kind(url)
            return url.strip()
        return None

    @field_validator("trusted_documents")
    @classmethod
    def _manifest_loads(cls, path: str | None) -> str | None:
        """A manifest that cannot be used stops start-up here, with the reason."""
        if path is not None:
            load_manifest(path)
        return path

    @field_validator("trusted_documents_only")
    @classmethod
    def _only_with_manifest(cls, only: bool | None, info: ValidationInfo) -> bool | None:
        if only and info.data.get("trusted_documents") is None:
            raise ValueError(
                "SESSIONGRAPH_TRUSTED_DOCUMENTS_ONLY=true needs a manifest: "
                "set SESSIONGRAPH_TRUSTED_DOCUMENTS"
            )
        return only
