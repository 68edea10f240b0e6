"""Every knob, read once from `SESSIONGRAPH_*` environment variables into one object."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from db.live.bus import bus_kind
from db.store.engine import DEFAULT_MAX_CONNECTIONS
from graph.plan.persisted import load_manifest

# The largest request the server reads, whichever way it arrives: a /graphql body (413
# above) or one WebSocket message (the socket closes with 1009 above).
MAX_BODY_BYTES = 4 * 1024 * 1024


class Settings(BaseSettings):
    """Documented in README.md's configuration table; names are part of the contract."""

    model_config = SettingsConfigDict(env_prefix="SESSIONGRAPH_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./sessiongraph.db",
        description="sqlite:///path.db (embedded default) or postgresql://user@host/db",
    )
    host: str = Field(default="127.0.0.1", description="Interface `serve` binds to")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `serve` listens on")
    env: Literal["development", "production"] = Field(
        default="development", description="`production` hides GraphiQL and error details"
    )
    session_ttl_seconds: int = Field(
        default=7 * 24 * 3600, gt=0, description="Default lifetime of a session (expiresAt)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log verbosity"
    )
    auto_migrate: bool = Field(
        default=True, description="Apply pending migrations when `serve` starts"
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        default="FULL", description="SQLite `PRAGMA synchronous` (durability vs. speed)"
    )
    db_max_connections: int | None = Field(
        default=None,
        ge=2,
        description="PostgreSQL connections a process opens at most, all pools and LISTEN "
        "together (default 20; split in db.store.engine.ConnectionBudget)",
    )
    db_pool_size: int | None = Field(
        default=None,
        ge=1,
        description="Deprecated: when DB_MAX_CONNECTIONS is unset, a budget of "
        "2 * DB_POOL_SIZE + 1",
    )
    listen_database_url: str | None = Field(
        default=None,
        description="Where the LISTEN connection goes (a direct PostgreSQL URL when "
        "DATABASE_URL is PgBouncer in transaction mode); default DATABASE_URL",
    )
    bus_url: str | None = Field(
        default=None,
        description="Where live-stream hints travel between processes: `memory` (one "
        "process), `postgres` (LISTEN/NOTIFY), `redis://host:port/db` or `nats://host:port`; "
        "default `postgres` on PostgreSQL, `memory` on SQLite",
    )
    bus_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="While the bus's broker is unreachable, live streams read the database "
        "this often (and /readyz says `degraded (polling)`)",
    )
    graphql_max_depth: int = Field(default=10, ge=1, le=64, description="Deepest field nesting")
    graphql_max_aliases: int = Field(default=15, ge=0, description="Aliases per document")
    graphql_max_tokens: int = Field(default=2_000, ge=1, description="Tokens per document")
    graphql_max_document_bytes: int = Field(
        default=128 * 1024, ge=1024, description="Bytes per document (large values go in variables)"
    )
    graphql_max_fields: int = Field(
        default=10_000, ge=1, description="Fields per operation once fragments are expanded"
    )
    graphql_max_nodes: int = Field(
        default=10_000, ge=1, description="Nodes an operation may return (connection sizes)"
    )
    graphql_max_operations: int = Field(
        default=1, ge=1, description="Operations per HTTP request; above 1 enables batching"
    )
    graphql_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest a query or mutation may run"
    )
    federation: bool = Field(
        default=False,
        description="Serve /graphql as an Apollo Federation 2 subgraph (`Session` and `Event` "
        "keyed by `id`, `_service`, `_entities`)",
    )
    persisted_queries_max: int = Field(
        default=1000,
        ge=0,
        description="Automatic persisted queries kept per process (least recently used go "
        "first); 0 turns registration off",
    )
    trusted_documents: str | None = Field(
        default=None,
        description='Manifest of trusted documents, {"<id>": "<document>"} (GraphQL Code '
        "Generator's persisted-documents.json, Relay's); read at start",
    )
    trusted_documents_only: bool | None = Field(
        default=None,
        description="Run only the manifest's documents; unset: on in `production` when a "
        "manifest is set",
    )

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

    access_log: bool = Field(
        default=True,
        description="One `sessiongraph.access` line per HTTP request (at `info` level)",
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="`json` (one object per line) or `text` for people"
    )
    graphiql_assets: Literal["local", "cdn"] = Field(
        default="local",
        description="`local` serves GraphiQL's files shipped with sessiongraph (works "
        "offline); `cdn` loads them from unpkg.com",
    )
    graphiql_assets_dir: str | None = Field(
        default=None,
        description="With `local`, serve GraphiQL's files from this folder instead of the "
        "shipped copies (`sessiongraph graphiql-assets DIR` fills it)",
    )
    rest_max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Largest REST request body; larger ones are 413"
    )
    idempotency_retention_seconds: int = Field(
        default=24 * 3600, gt=0, description="How long an Idempotency-Key's response is kept"
    )
    ws_init_timeout_seconds: float = Field(
        default=5.0, gt=0, description="WebSocket: close with 4408 when no connection_init by then"
    )
    ws_max_subscriptions: int = Field(
        default=100, ge=1, description="WebSocket: operations one connection may run at once"
    )
    ws_keepalive_seconds: float = Field(
        default=15.0, gt=0, description="Legacy graphql-ws `ka` and SSE comment interval"
    )
    ws_revocation_check_seconds: float = Field(
        default=5.0, gt=0, description="How soon a revoked key's WebSockets and SSE streams end"
    )
    ws_shared_writes: bool = Field(
        default=True,
        description="WebSocket: execute and encode each event once per selection and write "
        "the same message to every subscriber (false: Strawberry's path per subscriber)",
    )
    expiry_sweep_seconds: float = Field(
        default=10.0, gt=0, description="How often expired sessions are marked and announced"
    )
    expired_retention_seconds: int = Field(
        default=30 * 24 * 3600, ge=0, description="How long expired sessions are kept"
    )
    graphql_max_body_bytes: int = Field(
        default=MAX_BODY_BYTES,
        ge=1024,
        description="Largest /graphql request body (413 above) and WebSocket message "
        "(close 1009 above)",
    )
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection whose request headers are not complete this long after it "
        "opened (or its request began) is closed",
    )
    http_keepalive_seconds: int = Field(
        default=5,
        ge=1,
        description="How long an idle kept-alive connection stays open; behind a proxy, "
        "set it above the proxy's idle timeout",
    )
