"""One typed settings object, built once at start-up from the environment and passed in.

Only `Settings.from_env` reads environment variables; nothing deeper in the code does. Every
variable is listed in README.md ("Configuration"), generated from `ENVIRONMENT_VARIABLES`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from orchestrator.github_client import GitHubSettings

# The example catalog shipped inside the package (a link to examples/catalog/ in the repository),
# so `pao serve` has items to serve from any folder.
EXAMPLE_CATALOG = Path(__file__).resolve().parent / "catalog" / "examples"


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
    local_path: Path | None = EXAMPLE_CATALOG
    github_repo: str | None = None
    github_branch: str = "main"
    github_path: str = ""
    sync_interval_seconds: int = 300
    watch_seconds: float = 2.0  # how often the local directory is checked for edits (0: never)
    team: str | None = None  # the catalog team: owns the schema and protected paths
    protected_paths: tuple[str, ...] = ("catalog-schema/",)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    correlation_id_header: str = "X-Correlation-ID"
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 64  # nested arrays/objects in a JSON body (checked before decoding)
    max_string_chars: int = 1_000_000  # longest string or key in a JSON body, or parameter
    public_url: str | None = None
    # signs the portal's CSRF tokens; set the same value on every instance (unset: a random
    # one per process, fine for one `pao serve`)
    portal_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AuthSettings:
    mode: str = "none"  # none | token | aws-iam
    local_user: str = "admin@localhost"
    admin_teams: tuple[str, ...] = ("platform",)
    operator_teams: tuple[str, ...] = ()
    token_ttl_days: int = 90
    write_rate_per_minute: int = 60  # per principal, API write calls; 0: no limit
    iam_source: str = "sts"  # aws-iam: sts (presigned GetCallerIdentity) | gateway
    iam_principals: str = "{}"  # aws-iam: JSON ARN (or prefix*) -> email, name, teams, roles
    iam_server_id: str = "pao"  # aws-iam: signed x-pao-server-id value
    sts_endpoint_url: str = "https://sts.amazonaws.com"  # aws-iam: the only STS called
    retention_request_days: int = 90  # `pao maintenance`: finished requests
    retention_audit_days: int = 365  # `pao maintenance`: audit rows


@dataclass(frozen=True, slots=True)
class EngineSettings:
    queue_backend: str = "postgres"  # postgres | sqs
    sqs_queue_url: str | None = None
    sqs_dead_letter_queue_url: str | None = None
    aws_region: str | None = None
    sqs_endpoint_url: str | None = None  # e.g. a local SQS-compatible server
    sqs_metrics_seconds: int = 15  # SQS's message counts (metrics) are read at most this often
    outbox_retention_hours: int = 24  # sent outbox rows (SQS backend) are deleted after this
    sqs_reconcile_seconds: int = 60  # SQS backend: how often jobs with a lost message are sought
    sqs_resend_after_seconds: int = 120  # ...due this long without a message: sent again
    lease_seconds: int = 300  # visibility timeout
    concurrency: int = 4  # jobs worked on at once by one worker process
    default_action_timeout_seconds: int | None = None  # actions without their own timeout
    retry_after_max_seconds: int = 900  # a longer Retry-After fails the attempt instead
    manual_jira_instance: str | None = None  # where escalations of items without manual go
    manual_jira_project: str | None = None
    metrics_port: int | None = None  # `pao worker` serves /metrics here when set
    serve_worker: bool = True  # `pao serve` runs the worker in-process
    lambda_job_seconds: int = 60  # Lambda request-processor: a record starts with this much left


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Where `pao requests` (and the bot in Actions mode) call PAO's API."""

    api_url: str | None = None  # None: the local `pao serve` (PAO_HOST / PAO_PORT)
    api_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RehearsalSettings:
    """The simulators of JIRA, Terraform Cloud, GitHub Actions and REST targets (rehearsal/)."""

    mode: str = "auto"  # auto: `pao serve` without DATABASE_URL | on: `pao serve` always | off
    auto_progress: bool = True  # simulated tickets and runs move on by themselves


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """OpenTelemetry tracing (orchestrator/tracing.py)."""

    enabled: bool = False
    otlp_endpoint: str | None = None  # OTLP/HTTP collector base URL; spans go to <url>/v1/traces
    service_name: str = "pao"


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    github: GitHubSettings = field(default_factory=GitHubSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    rehearsal: RehearsalSettings = field(default_factory=RehearsalSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    template_environment: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    log_format: str = "text"  # text | json (orchestrator/observability.py)

    def secret_values(self) -> tuple[str, ...]:
        """The credentials these settings hold, registered for redaction from every log line
        and message (``orchestrator.redaction``) when a process starts."""
        from orchestrator.redaction import url_password

        values = (
            url_password(self.database.url),
            url_password(self.cache.redis_url),
            url_password(self.tracing.otlp_endpoint),
            self.github.token,
            self.github.private_key,
            self.client.api_token,
            self.api.portal_secret,
        )
        return tuple(v for v in values if v)

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
                local_path=_optional_path(reader.text("CATALOG_LOCAL_PATH", str(EXAMPLE_CATALOG))),
                github_repo=reader.optional("CATALOG_GITHUB_REPO"),
                github_branch=reader.text("CATALOG_GITHUB_BRANCH", "main"),
                github_path=reader.text("CATALOG_GITHUB_PATH", ""),
                sync_interval_seconds=reader.integer(
                    "CATALOG_SYNC_INTERVAL_SECONDS", 300, minimum=10
                ),
                watch_seconds=reader.integer("CATALOG_LOCAL_WATCH_SECONDS", 2, minimum=0),
                team=reader.optional("CATALOG_TEAM"),
                protected_paths=tuple(
                    p.strip()
                    for p in reader.text("CATALOG_PROTECTED_PATHS", "catalog-schema/").split(",")
                    if p.strip()
                ),
            ),
            api=ApiSettings(
                host=reader.text("PAO_HOST", "127.0.0.1"),
                port=reader.integer("PAO_PORT", 8080, minimum=0),
                correlation_id_header=reader.text("CORRELATION_ID_HEADER", "X-Correlation-ID"),
                max_body_bytes=reader.integer("PAO_MAX_BODY_BYTES", 1_048_576, minimum=1024),
                max_json_depth=reader.integer("PAO_MAX_JSON_DEPTH", 64, minimum=8),
                max_string_chars=reader.integer("PAO_MAX_STRING_CHARS", 1_000_000, minimum=1024),
                public_url=reader.optional("PAO_PUBLIC_URL"),
                portal_secret=reader.optional("PAO_PORTAL_SECRET"),
            ),
            auth=_auth_settings(reader),
            engine=_engine_settings(reader),
            github=GitHubSettings.from_environment(source),
            tracing=_tracing_settings(reader),
            client=ClientSettings(
                api_url=reader.optional("PAO_API_URL"), api_token=reader.optional("PAO_API_TOKEN")
            ),
            rehearsal=RehearsalSettings(
                mode=reader.choice("PAO_REHEARSAL", "auto", ("auto", "on", "off")),
                auto_progress=reader.choice("PAO_REHEARSAL_AUTO", "true", ("true", "false"))
                == "true",
            ),
            template_environment={name: source[name] for name in allow if name and name in source},
            log_level=reader.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            log_format=reader.choice("LOG_FORMAT", "text", ("text", "json")),
        )
        if settings.catalog.github_repo is not None:
            if "/" not in settings.catalog.github_repo.strip("/"):
                raise SettingsError("CATALOG_GITHUB_REPO must be owner/name")
            if not settings.github.configured:
                raise SettingsError(
                    "CATALOG_GITHUB_REPO needs GitHub credentials: GITHUB_TOKEN, or "
                    "GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
                )
        if settings.database.pool_min > settings.database.pool_max:
            raise SettingsError("DATABASE_POOL_MIN must not exceed DATABASE_POOL_MAX")
        return settings


def settings_for_command(prog: str, err: TextIO) -> Settings | None:
    """The settings of a ``pao`` command from the process environment, or None once ``err``
    has been told what is wrong (``prog: message``; the command then exits with status 2)."""
    try:
        return Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=err)
        return None


def _engine_settings(reader: _Reader) -> EngineSettings:
    backend = reader.choice("PAO_QUEUE_BACKEND", "postgres", ("postgres", "sqs"))
    queue_url = reader.optional("SQS_QUEUE_URL")
    if backend == "sqs" and queue_url is None:
        raise SettingsError("PAO_QUEUE_BACKEND=sqs needs SQS_QUEUE_URL")
    timeout = reader.integer("PAO_ACTION_TIMEOUT_SECONDS", 0, minimum=0)
    metrics_port = reader.integer("PAO_WORKER_METRICS_PORT", 0, minimum=0)
    return EngineSettings(
        queue_backend=backend,
        sqs_queue_url=queue_url,
        sqs_dead_letter_queue_url=reader.optional("SQS_DEAD_LETTER_QUEUE_URL"),
        aws_region=reader.optional("AWS_REGION") or reader.optional("AWS_DEFAULT_REGION"),
        sqs_endpoint_url=reader.optional("AWS_ENDPOINT_URL_SQS"),
        sqs_metrics_seconds=reader.integer("PAO_SQS_METRICS_SECONDS", 15, minimum=1),
        outbox_retention_hours=reader.integer("PAO_RETENTION_OUTBOX_HOURS", 24, minimum=1),
        sqs_reconcile_seconds=reader.integer("PAO_SQS_RECONCILE_SECONDS", 60, minimum=1),
        sqs_resend_after_seconds=reader.integer("PAO_SQS_RESEND_AFTER_SECONDS", 120, minimum=10),
        lease_seconds=reader.integer("PAO_JOB_LEASE_SECONDS", 300, minimum=5),
        concurrency=reader.integer("PAO_WORKER_CONCURRENCY", 4, minimum=1),
        default_action_timeout_seconds=timeout or None,
        retry_after_max_seconds=reader.integer("PAO_RETRY_AFTER_MAX_SECONDS", 900, minimum=0),
        manual_jira_instance=reader.optional("PAO_MANUAL_JIRA_INSTANCE"),
        manual_jira_project=reader.optional("PAO_MANUAL_JIRA_PROJECT"),
        metrics_port=metrics_port or None,
        serve_worker=reader.choice("PAO_SERVE_WORKER", "true", ("true", "false")) == "true",
        lambda_job_seconds=reader.integer("PAO_LAMBDA_JOB_SECONDS", 60, minimum=1),
    )


def _tracing_settings(reader: _Reader) -> TracingSettings:
    endpoint = reader.optional("OTEL_EXPORTER_OTLP_ENDPOINT")
    default = "on" if endpoint is not None else "off"
    return TracingSettings(
        enabled=reader.choice("PAO_TRACING", default, ("on", "off")) == "on",
        otlp_endpoint=endpoint,
        service_name=reader.text("OTEL_SERVICE_NAME", "pao") or "pao",
    )


def _auth_settings(reader: _Reader) -> AuthSettings:
    def teams(name: str, default: str) -> tuple[str, ...]:
        return tuple(t.strip() for t in reader.text(name, default).split(",") if t.strip())

    return AuthSettings(
        mode=reader.choice("PAO_AUTH_MODE", "none", ("none", "token", "aws-iam")),
        admin_teams=teams("PAO_ADMIN_TEAMS", "platform"),
        operator_teams=teams("PAO_OPERATOR_TEAMS", ""),
        token_ttl_days=reader.integer("PAO_TOKEN_TTL_DAYS", 90, minimum=1),
        write_rate_per_minute=reader.integer("PAO_WRITE_RATE_PER_MINUTE", 60, minimum=0),
        iam_source=reader.choice("PAO_IAM_SOURCE", "sts", ("sts", "gateway")),
        iam_principals=reader.text("PAO_IAM_PRINCIPALS", "{}") or "{}",
        iam_server_id=reader.text("PAO_IAM_SERVER_ID", "pao") or "pao",
        sts_endpoint_url=reader.text("PAO_STS_ENDPOINT_URL", "https://sts.amazonaws.com"),
        retention_request_days=reader.integer("PAO_RETENTION_REQUEST_DAYS", 90, minimum=1),
        retention_audit_days=reader.integer("PAO_RETENTION_AUDIT_DAYS", 365, minimum=1),
    )


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
    (
        "CATALOG_LOCAL_PATH",
        "the packaged example catalog",
        "local catalog directory (empty to disable); the default is examples/catalog/ as installed with PAO, whatever the working directory",
    ),
    (
        "CATALOG_LOCAL_WATCH_SECONDS",
        "2",
        "how often the worker checks the local directory for edits (0: never)",
    ),
    ("CATALOG_GITHUB_REPO", "", "owner/name of a catalog repository on GitHub"),
    ("CATALOG_GITHUB_BRANCH", "main", "branch of the catalog repository"),
    ("CATALOG_GITHUB_PATH", "", "path prefix of the catalog inside the repository"),
    ("CATALOG_SYNC_INTERVAL_SECONDS", "300", "how often the catalog is synced"),
    (
        "CATALOG_TEAM",
        "",
        "the catalog team (org/team): the only one that may change protected paths",
    ),
    (
        "CATALOG_PROTECTED_PATHS",
        "catalog-schema/",
        "comma-separated path prefixes of the catalog repository only the catalog team may change",
    ),
    ("PAO_HOST / PAO_PORT", "127.0.0.1 / 8080", "where the API listens"),
    ("PAO_PUBLIC_URL", "", "external base URL, used in links"),
    ("CORRELATION_ID_HEADER", "X-Correlation-ID", "request header carrying the correlation id"),
    ("PAO_MAX_BODY_BYTES", "1048576", "largest accepted request body"),
    (
        "PAO_MAX_JSON_DEPTH",
        "64",
        "deepest nesting of arrays/objects accepted in a JSON body (deeper: 400)",
    ),
    (
        "PAO_MAX_STRING_CHARS",
        "1000000",
        "longest string, object key or parameter value accepted (longer: 422 or 400)",
    ),
    ("PAO_AUTH_MODE", "none", "none (loopback only) | token | aws-iam"),
    (
        "PAO_PORTAL_SECRET",
        "(random per process)",
        "key of the portal's CSRF tokens; set the same value on every instance",
    ),
    ("PAO_ADMIN_TEAMS", "platform", "comma-separated teams whose members are PAO admins"),
    ("PAO_OPERATOR_TEAMS", "", "comma-separated teams whose members operate every request"),
    (
        "LOG_FORMAT",
        "text",
        "text, or json: one object a line with correlation id, request id, user",
    ),
    ("PAO_TOKEN_TTL_DAYS", "90", "default lifetime of tokens made by `pao tokens create`"),
    ("PAO_IAM_SOURCE", "sts", "aws-iam: sts (presigned GetCallerIdentity) or gateway"),
    ("PAO_IAM_PRINCIPALS", "{}", "aws-iam: JSON map of ARN (or prefix*) to email, teams, roles"),
    ("PAO_IAM_SERVER_ID", "pao", "aws-iam: the x-pao-server-id value clients sign"),
    ("PAO_STS_ENDPOINT_URL", "https://sts.amazonaws.com", "aws-iam: the only STS PAO calls"),
    ("PAO_WRITE_RATE_PER_MINUTE", "60", "API write calls per caller a minute (429); 0: no limit"),
    ("PAO_RETENTION_REQUEST_DAYS", "90", "`pao maintenance`: keep finished requests this long"),
    ("PAO_RETENTION_AUDIT_DAYS", "365", "`pao maintenance`: keep audit rows this long"),
    (
        "PAO_TEMPLATE_ENV_ALLOWLIST",
        "",
        "comma-separated environment variables templates may read as environment.NAME",
    ),
    ("PAO_QUEUE_BACKEND", "postgres", "job queue: postgres (jobs table) or sqs"),
    ("SQS_QUEUE_URL", "", "the SQS queue (with PAO_QUEUE_BACKEND=sqs)"),
    ("SQS_DEAD_LETTER_QUEUE_URL", "", "its dead-letter queue, drained to fail the requests"),
    ("AWS_REGION / AWS_ENDPOINT_URL_SQS", "", "SQS region and an optional endpoint override"),
    ("PAO_SQS_METRICS_SECONDS", "15", "SQS's message counts (metrics) are read at most this often"),
    (
        "PAO_RETENTION_OUTBOX_HOURS",
        "24",
        "SQS backend: sent outbox rows are deleted after this (relay and `pao maintenance`)",
    ),
    ("PAO_JOB_LEASE_SECONDS", "300", "job lease (visibility timeout); heartbeats extend it"),
    ("PAO_WORKER_CONCURRENCY", "4", "jobs one worker process works on at once"),
    (
        "PAO_LAMBDA_JOB_SECONDS",
        "60",
        "AWS Lambda request-processor: a record starts only with this much of the invocation left; the others go back to the queue",
    ),
    (
        "PAO_SECRETS_ARN",
        "",
        "AWS Lambda: a Secrets Manager secret (a JSON object of these variables, e.g. DATABASE_URL) read at cold start over the environment",
    ),
    ("PAO_ACTION_TIMEOUT_SECONDS", "", "timeout of actions that declare none (unset: none)"),
    (
        "PAO_RETRY_AFTER_MAX_SECONDS",
        "900",
        "longest target Retry-After an action waits; a longer one fails the attempt",
    ),
    (
        "PAO_MANUAL_JIRA_INSTANCE / PAO_MANUAL_JIRA_PROJECT",
        "",
        "where escalation tickets go for items without fulfillment.manual.jira",
    ),
    ("PAO_WORKER_METRICS_PORT", "", "`pao worker` serves Prometheus metrics on this port"),
    ("PAO_SERVE_WORKER", "true", "`pao serve` runs the worker in the same process"),
    (
        "PAO_REHEARSAL",
        "auto",
        "simulate JIRA, Terraform Cloud, GitHub Actions and REST targets not configured for real: auto (`pao serve` without DATABASE_URL), on (`pao serve` always) or off; never `pao api`/`pao worker`",
    ),
    (
        "PAO_REHEARSAL_AUTO",
        "true",
        "simulated tickets and runs move on by themselves; false: they wait for `pao rehearsal resolve|reject|fail`",
    ),
    ("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    (
        "PAO_TRACING",
        "on with an endpoint, else off",
        "OpenTelemetry tracing: on or off (on without an endpoint: trace context is still propagated and logged)",
    ),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "",
        "OTLP/HTTP collector base URL (spans go to <url>/v1/traces); needs `pip install 'pao[otlp]'`",
    ),
    ("OTEL_SERVICE_NAME", "pao", "service.name of the spans (e.g. pao-api, pao-worker)"),
    # Read by the action executors at worker start-up (actions/), listed here for the README.
    (
        "JIRA_INSTANCES",
        "",
        'JSON of named JIRA instances: {"platform": {"url": ..., "auth": {"type": "basic/pat/oauth2", ...}}}; secrets only as env:/aws-sm: references',
    ),
    (
        "JIRA_POLL_INTERVAL / JIRA_TIMEOUT",
        "60 / 30",
        "seconds (or 5m) between ticket polls; per-call timeout",
    ),
    (
        "JIRA_FAILED_RESOLUTIONS",
        "Won't Do, Duplicate, Cannot Reproduce, Declined",
        "comma-separated resolutions that fail a jira-ticket action when its ticket is done (an item's completion.failedResolutions overrides)",
    ),
    ("TFC_ADDRESS", "https://app.terraform.io", "Terraform Cloud / Enterprise address"),
    (
        "TFC_TOKEN_REF / TFC_ORGANIZATION",
        "",
        "API token reference (e.g. env:TFC_TOKEN); default organization",
    ),
    ("TFC_POLL_INTERVAL / TFC_TIMEOUT", "60 / 30", "seconds between run polls; per-call timeout"),
    (
        "TFC_VCS_OAUTH_TOKEN_ID",
        "",
        "VCS connection for workspaces created from a repository template",
    ),
    (
        "GITHUB_TOKEN or GITHUB_APP_ID / GITHUB_APP_PRIVATE_KEY / GITHUB_APP_INSTALLATION_ID",
        "",
        "GitHub auth for workflows, catalog sync and the bot (an App is preferred)",
    ),
    (
        "GITHUB_API_URL / GITHUB_TIMEOUT_SECONDS",
        "https://api.github.com / 10",
        "GitHub Enterprise Server; per-call timeout",
    ),
    (
        "GITHUB_POLL_INTERVAL",
        "30",
        "seconds between polls of a workflow run (an item's pollIntervalSeconds overrides)",
    ),
    (
        "REST_API_ALLOWED_HOSTS / REST_API_DENIED_HOSTS / REST_API_ALLOW_PRIVATE",
        "",
        "rest-api SSRF guard: hosts exempt or refused (comma-separated); allow private addresses (never link-local or metadata)",
    ),
    # Read by the GitHub bot (bot/settings.py).
    (
        "GITHUB_WEBHOOK_SECRETS",
        "",
        "comma-separated webhook secrets (several during a rotation; GITHUB_WEBHOOK_SECRET also read)",
    ),
    (
        "PAO_BOT_LOGIN",
        "pao-bot[bot]",
        "the bot's GitHub login (its own comments are never commands)",
    ),
    (
        "PAO_BOT_OPERATOR_TEAMS",
        "",
        "org/team slugs allowed to /retry, /abort, /escalate any request",
    ),
    (
        "PAO_BOT_REQUESTS_GLOB",
        "requests/**.yaml, requests/**.yml",
        "request files in pull requests (comma-separated globs)",
    ),
    ("PAO_BOT_FORM_LABEL", "pao-request", "label of issues opened from PAO's issue forms"),
    (
        "PAO_BOT_EMAIL_DOMAIN",
        "users.noreply.github.com",
        "requester e-mail domain for GitHub logins",
    ),
    ("PAO_BOT_PERMISSION_CACHE_SECONDS", "60", "how long team and collaborator checks are cached"),
    ("PAO_BOT_CHECK_NAME", "PAO request validation", "name of the bot's check run"),
    (
        "PAO_API_URL / PAO_API_TOKEN",
        "(the local `pao serve`: PAO_HOST / PAO_PORT)",
        "the PAO API `pao requests` and Actions mode (`pao bot handle-event`) call: its base "
        "URL, e.g. `http://127.0.0.1:8080` (`pao requests` also takes the `…/api/v1` URL "
        "`pao serve` prints), and its bearer token",
    ),
    (
        "AWS_ENDPOINT_URL_SECRETSMANAGER / PAO_SECRET_CACHE_SECONDS",
        " / 60",
        "aws-sm: secret references (region from AWS_REGION); cache lifetime",
    ),
)
