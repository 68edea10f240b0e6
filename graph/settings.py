"""Every knob, read once from `SESSIONGRAPH_*` environment variables into one object."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    db_pool_size: int = Field(default=10, ge=1, description="PostgreSQL connections per process")
    graphql_max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest /graphql request body (413 above)"
    )
