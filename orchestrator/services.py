"""The core's services wired together from settings; the faces receive one of these."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from orchestrator.approvals.lifecycle import ApprovalGates
from orchestrator.cache import Cache, CacheStats, create_cache
from orchestrator.catalog.codeowners import CodeOwners
from orchestrator.catalog.service import CatalogService
from orchestrator.catalog.sync import GitHubCatalogSync
from orchestrator.catalog_history import CatalogHistory
from orchestrator.engine.pg_queue import PgQueue
from orchestrator.github.deliveries import WebhookDeliveries
from orchestrator.github.links import RequestLinks
from orchestrator.identity.access_facts import AccessFacts
from orchestrator.identity.audit_trail import AuditTrail
from orchestrator.identity.aws_iam import DatabaseLedger
from orchestrator.identity.tokens import TokenStore
from orchestrator.redaction import redact_url
from orchestrator.requests.events import RequestEvents
from orchestrator.requests.service import RequestService
from orchestrator.settings import Settings
from orchestrator.store.database import Database

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    cache: Cache
    cache_stats: CacheStats
    catalog: CatalogService
    requests: RequestService
    database_url: str
    catalog_sync: GitHubCatalogSync | None = None  # when CATALOG_GITHUB_REPO is set
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    # Stateless readers and writers over ``db``, so the faces never run SQL themselves.
    access_facts: AccessFacts = field(init=False)
    audit_trail: AuditTrail = field(init=False)
    request_links: RequestLinks = field(init=False)  # the GitHub face's threads
    webhook_deliveries: WebhookDeliveries = field(init=False)
    # Approval gates (issue 21): holds gated submissions, decides, expires; every face uses it.
    approval_gates: ApprovalGates = field(init=False)
    events: RequestEvents = field(init=False)  # a request's live events (SSE in API and portal)
    tokens: TokenStore = field(init=False)  # API tokens: issue, authenticate, revoke
    # AWS STS tokens used once (``aws-iam`` mode): a replay is refused by every instance.
    signature_ledger: DatabaseLedger = field(init=False)
    catalog_history: CatalogHistory = field(init=False)  # an item's synced versions
    # The jobs table seen as a queue, for its depth (``/metrics``); the workers build their own.
    job_queue: PgQueue = field(init=False)

    def __post_init__(self) -> None:
        self.approval_gates = ApprovalGates(self.db, self.catalog, codeowners=self._codeowners)
        self.requests.gate = self.approval_gates
        self.access_facts = AccessFacts(self.db)
        self.audit_trail = AuditTrail(self.db)
        self.request_links = RequestLinks(self.db)
        self.webhook_deliveries = WebhookDeliveries(self.db)
        self.events = RequestEvents(self.db)
        self.tokens = TokenStore(self.db)
        self.signature_ledger = DatabaseLedger(self.db)
        self.catalog_history = CatalogHistory(self.db)
        self.job_queue = PgQueue(self.db)

    async def database_answers(self) -> bool:
        """Whether PostgreSQL answers a query within two seconds (readiness)."""
        return await self.db.ping()

    async def check_connections(self) -> None:
        """Replace the pool's idle connections that died meanwhile (a Lambda container thawed
        after a freeze: the server or a NAT may have dropped them)."""
        await self.db.check()

    async def deliver_outbox(self, stop: asyncio.Event) -> None:
        """Relay this process's outbox to SQS (with the reconciler and the dead-letter drain)
        until ``stop`` is set: for a process that enqueues jobs but runs no worker pool."""
        from orchestrator.engine.sqs.relay import run_delivery  # SQS backend only (boto3)

        await run_delivery(self.db, self.settings.engine, stop)

    async def _codeowners(self) -> CodeOwners | None:
        """The synced catalog repository's CODEOWNERS (approvers of ``codeowners`` stages)."""
        return await self.catalog_sync.codeowners() if self.catalog_sync is not None else None

    async def close(self) -> None:
        await self._stack.aclose()


async def open_services(settings: Settings, *, database_url: str | None = None) -> Services:
    """Connect to the database (embedded when none is configured), migrate, sync the local catalog."""
    stack = AsyncExitStack()
    try:
        url = database_url or settings.database.url
        if url is None:
            from orchestrator.store.embedded import EmbeddedPostgres, embedded_data_dir

            data_dir = embedded_data_dir(settings.database.data_dir)
            embedded = stack.enter_context(EmbeddedPostgres(data_dir))
            url = embedded.url
            # No password (trust auth on a unix socket): the URL is safe to show, and `pao tokens`
            # and `pao db` reach this same server when DATABASE_URL is unset.
            log.info("embedded PostgreSQL under %s: DATABASE_URL=%s", data_dir, url)
        else:
            log.info("database: %s", redact_url(url))
        from orchestrator.store.migrator import migrate

        await migrate(url)
        db = await Database.open(
            url,
            min_size=settings.database.pool_min,
            max_size=settings.database.pool_max,
            queue_outbox=settings.engine.queue_backend == "sqs",
        )
        stack.push_async_callback(db.close)
        cache = create_cache(
            settings.cache.redis_url, near_ttl_seconds=settings.cache.near_ttl_seconds
        )
        stack.push_async_callback(cache.close)
        stats = CacheStats()
        catalog = CatalogService(db, cache, settings.cache, stats)
        services = Services(
            settings=settings,
            db=db,
            cache=cache,
            cache_stats=stats,
            catalog=catalog,
            requests=RequestService(db, catalog),
            database_url=url,
            _stack=stack,
        )
        if settings.catalog.github_repo is not None:
            services.catalog_sync = github_catalog_sync(settings, db, catalog)
        elif settings.catalog.local_path is not None:
            result = await catalog.sync_directory(settings.catalog.local_path)
            log.info(
                "catalog synced from %s: %d stored, %d unchanged, %d errors",
                settings.catalog.local_path,
                len(result.stored),
                len(result.unchanged),
                len(result.errors),
            )
            if not result.stored and not result.unchanged:
                log.warning(
                    "the catalog at %s has no valid items, so nothing can be requested: point "
                    "CATALOG_LOCAL_PATH at a catalog directory (or set CATALOG_GITHUB_REPO)",
                    settings.catalog.local_path,
                )
        return services
    except BaseException:
        await stack.aclose()
        raise


def github_catalog_sync(
    settings: Settings, db: Database, catalog: CatalogService
) -> GitHubCatalogSync:
    """The GitHub catalog source of ``settings`` (``CATALOG_GITHUB_REPO``, branch, path)."""
    from orchestrator.catalog.github_source import GitHubCatalogSource
    from orchestrator.github_client import github_client

    assert settings.catalog.github_repo is not None
    source = GitHubCatalogSource(
        github_client(settings.github),
        settings.catalog.github_repo.strip("/"),
        settings.catalog.github_branch,
        settings.catalog.github_path,
    )
    return GitHubCatalogSync(db, catalog, source)
