"""One typed settings object, built once at start-up from the environment and passed in.

Only `Settings.from_env` reads environment variables; nothing deeper in the code does. Every
variable is listed in README.md ("Configuration"), generated from `ENVIRONMENT_VARIABLES`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A setting has a value PAO cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str | None = None  # None: start the embedded PostgreSQL
    data_dir: Path = Path(".pao")
    pool_min: int = 1
    pool_max: int = 10


@dataclass(frozen=True, slots=True)
class CacheSettings:
    redis_url: str | None = None  # None: in-process TTL cache
    item_ttl_seconds: int = 3600  # L1: catalog items
    listing_ttl_seconds: int = 21600  # L2: listings and search results
    near_ttl_seconds: float = 2.0  # in-process copy in front of Redis; 0 disables


@dataclass(frozen=True, slots=True)
class CatalogSettings:
    local_path: Path | None = Path("examples/catalog")
    github_repo: str | None = None
    github_branch: str = "main"
    github_path: str = ""
    sync_interval_seconds: int = 300


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    correlation_id_header: str = "X-Correlation-ID"
    max_body_bytes: int = 1_048_576
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class AuthSettings:
    mode: str = "none"  # none | token | aws-iam
    local_user: str = "admin@localhost"


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    template_environment: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (``os.environ`` by default)."""
        source = os.environ if env is None else env
        reader = _Reader(source)
        allow = [n.strip() for n in reader.text("PAO_TEMPLATE_ENV_ALLOWLIST", "").split(",")]
        settings = cls(
            database=DatabaseSettings(
                url=reader.optional("DATABASE_URL"),
                data_dir=Path(reader.text("PAO_DATA_DIR", ".pao")),
                pool_min=reader.integer("DATABASE_POOL_MIN", 1, minimum=0),
                pool_max=reader.integer("DATABASE_POOL_MAX", 10, minimum=1),
            ),
            cache=CacheSettings(
                redis_url=reader.optional("REDIS_URL") or _cluster_url(reader),
                item_ttl_seconds=reader.integer("CACHE_ITEM_TTL_SECONDS", 3600, minimum=1),
                listing_ttl_seconds=reader.integer("CACHE_LISTING_TTL_SECONDS", 21600, minimum=1),
                near_ttl_seconds=reader.integer("CACHE_NEAR_TTL_SECONDS", 2, minimum=0),
            ),
            catalog=CatalogSettings(
                local_path=_optional_path(reader.text("CATALOG_LOCAL_PATH", "examples/catalog")),
                github_repo=reader.optional("CATALOG_GITHUB_REPO"),
                github_branch=reader.text("CATALOG_GITHUB_BRANCH", "main"),
                github_path=reader.text("CATALOG_GITHUB_PATH", ""),
                sync_interval_seconds=reader.integer(
                    "CATALOG_SYNC_INTERVAL_SECONDS", 300, minimum=10
                ),
            ),
            api=ApiSettings(
                host=reader.text("PAO_HOST", "127.0.0.1"),
                port=reader.integer("PAO_PORT", 8080, minimum=0),
                correlation_id_header=reader.text("CORRELATION_ID_HEADER", "X-Correlation-ID"),
                max_body_bytes=reader.integer("PAO_MAX_BODY_BYTES", 1_048_576, minimum=1024),
                public_url=reader.optional("PAO_PUBLIC_URL"),
            ),
            auth=AuthSettings(
                mode=reader.choice("PAO_AUTH_MODE", "none", ("none", "token", "aws-iam"))
            ),
            template_environment={name: source[name] for name in allow if name and name in source},
            log_level=reader.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        )
        if settings.database.pool_min > settings.database.pool_max:
            raise SettingsError("DATABASE_POOL_MIN must not exceed DATABASE_POOL_MAX")
        return settings


def _optional_path(value: str) -> Path | None:
    return Path(value) if value else None


def _cluster_url(reader: _Reader) -> str | None:
    endpoint = reader.optional("REDIS_CLUSTER_ENDPOINT")
    if endpoint is None:
        return None
    return endpoint if "://" in endpoint else f"rediss://{endpoint}"


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        value = self.env.get(name)
        return default if value is None else value.strip()

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, got {value}")
        return value

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        raw = self.optional(name) or default
        if raw not in options:
            raise SettingsError(f"{name} must be one of {', '.join(options)}, got {raw!r}")
        return raw


# (variable, default, meaning): the README's configuration table is this list.
ENVIRONMENT_VARIABLES: tuple[tuple[str, str, str], ...] = (
    (
        "DATABASE_URL",
        "(embedded)",
        "PostgreSQL URL; unset starts an embedded PostgreSQL under PAO_DATA_DIR",
    ),
    ("PAO_DATA_DIR", ".pao", "where the embedded PostgreSQL keeps its data"),
    ("DATABASE_POOL_MIN / DATABASE_POOL_MAX", "1 / 10", "connection pool size"),
    (
        "REDIS_URL",
        "(in-process cache)",
        "Redis for the catalog cache; unset uses an in-process TTL cache",
    ),
    ("REDIS_CLUSTER_ENDPOINT", "", "alternative to REDIS_URL (host:port, TLS)"),
    ("CACHE_ITEM_TTL_SECONDS", "3600", "L1 cache TTL for catalog items"),
    ("CACHE_LISTING_TTL_SECONDS", "21600", "L2 cache TTL for listings and searches"),
    (
        "CACHE_NEAR_TTL_SECONDS",
        "2",
        "in-process copy of hot cache entries in front of Redis (0 disables); other instances' invalidations are seen within this bound",
    ),
    ("CATALOG_LOCAL_PATH", "examples/catalog", "local catalog directory (empty to disable)"),
    ("CATALOG_GITHUB_REPO", "", "owner/name of a catalog repository on GitHub"),
    ("CATALOG_GITHUB_BRANCH", "main", "branch of the catalog repository"),
    ("CATALOG_GITHUB_PATH", "", "path prefix of the catalog inside the repository"),
    ("CATALOG_SYNC_INTERVAL_SECONDS", "300", "how often the catalog is synced"),
    ("PAO_HOST / PAO_PORT", "127.0.0.1 / 8080", "where the API listens"),
    ("PAO_PUBLIC_URL", "", "external base URL, used in links"),
    ("CORRELATION_ID_HEADER", "X-Correlation-ID", "request header carrying the correlation id"),
    ("PAO_MAX_BODY_BYTES", "1048576", "largest accepted request body"),
    ("PAO_AUTH_MODE", "none", "none (loopback only) | token | aws-iam"),
    (
        "PAO_TEMPLATE_ENV_ALLOWLIST",
        "",
        "comma-separated environment variables templates may read as environment.NAME",
    ),
    ("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
)
