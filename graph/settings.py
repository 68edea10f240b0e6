"""Every knob, read once from `SESSIONGRAPH_*` environment variables into one object."""

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from db.live.bus import bus_kind
from db.store.engine import DEFAULT_MAX_CONNECTIONS
from graph.plan.persisted import load_manifest

# The largest /graphql body (413 above) and WebSocket message (the socket closes with 1009)
MAX_BODY_BYTES = 4 * 1024 * 1024

Seconds = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """README.md's configuration table documents each knob; names are part of the contract."""

    model_config = SettingsConfigDict(env_prefix="SESSIONGRAPH_", extra="ignore")

    database_url: str = "sqlite:///./sessiongraph.db"  # or postgresql://user@host/db
    host: str = "127.0.0.1"  # interface `serve` binds to
    port: int = Field(8000, ge=0, le=65535)  # port `serve` listens on
    env: Literal["development", "production"] = "development"  # production: no GraphiQL
    session_ttl_seconds: int = Field(7 * 24 * 3600, gt=0)  # default lifetime (expiresAt)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    auto_migrate: bool = True  # apply pending migrations when `serve` starts
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"  # PRAGMA synchronous
    # All of a process's PostgreSQL connections (split in db.store.engine.ConnectionBudget)
    db_max_connections: int | None = Field(None, ge=2)
    db_pool_size: int | None = Field(None, ge=1)  # deprecated: a budget of 2 * size + 1
    listen_database_url: str | None = None  # the LISTEN connection's URL; default DATABASE_URL
    bus_url: str | None = None  # memory, postgres, redis://… or nats://…; default by database
    bus_poll_seconds: float = Field(1.0, gt=0, le=60)  # live streams' polling while bus is down
    graphql_max_depth: int = Field(10, ge=1, le=64)  # deepest field nesting
    graphql_max_aliases: int = Field(15, ge=0)  # aliases per document
    graphql_max_tokens: Count = 2_000  # tokens per document
    graphql_max_document_bytes: int = Field(128 * 1024, ge=1024)  # bytes per document
    graphql_max_fields: Count = 10_000  # fields per operation once fragments are expanded
    graphql_max_nodes: Count = 10_000  # nodes an operation may return (connection sizes)
    graphql_max_operations: Count = 1  # operations per HTTP request; above 1 enables batching
    graphql_timeout_seconds: Seconds = 10.0  # longest a query or mutation may run
    federation: bool = False  # serve /graphql as an Apollo Federation 2 subgraph
    persisted_queries_max: int = Field(1000, ge=0)  # APQ kept per process (LRU); 0: off
    trusted_documents: str | None = None  # path of a {"<id>": "<document>"} manifest
    # Run only the manifest's documents; unset: on in `production` when a manifest is set
    trusted_documents_only: bool | None = None
    access_log: bool = True  # one `sessiongraph.access` line per HTTP request (`info` level)
    log_format: Literal["json", "text"] = "json"  # `json` (one object per line) or `text`
    graphiql_assets: Literal["local", "cdn"] = "local"  # shipped files, or unpkg.com
    graphiql_assets_dir: str | None = None  # with `local`: a folder instead of the shipped one
    rest_max_body_bytes: Count = 1_048_576  # largest REST request body; larger ones are 413
    idempotency_retention_seconds: int = Field(24 * 3600, gt=0)  # Idempotency-Key kept this long
    ws_init_timeout_seconds: Seconds = 5.0  # WebSocket: 4408 when no connection_init by then
    ws_max_subscriptions: Count = 100  # WebSocket: operations one connection may run at once
    ws_keepalive_seconds: Seconds = 15.0  # legacy graphql-ws `ka` and SSE comment interval
    ws_revocation_check_seconds: Seconds = 5.0  # a revoked key's streams end within this
    ws_shared_writes: bool = True  # one execution and encoding per event and selection
    expiry_sweep_seconds: Seconds = 10.0  # how often expired sessions are marked and announced
    expired_retention_seconds: int = Field(30 * 24 * 3600, ge=0)  # how long they are kept
    graphql_max_body_bytes: int = Field(MAX_BODY_BYTES, ge=1024)
    http_header_timeout_seconds: Seconds = 10.0  # close a connection whose headers lag longer
    http_keepalive_seconds: Count = 5  # idle kept-alive connections; above a proxy's timeout

    @property
    def db_connection_budget(self) -> int:
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
