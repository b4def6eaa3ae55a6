"""Health, readiness, version and metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Controller, MediaType, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from api.auth import admin_only
from api.metrics import Metrics
from api.models import Liveness, Readiness, VersionInfo, to_model
from orchestrator import __version__
from orchestrator.services import Services

if TYPE_CHECKING:
    from orchestrator.engine.sqs.stats import SqsQueueStats


class SystemController(Controller):
    tags = ("system",)

    @get("/api/v1/health", summary="Liveness: the process answers")
    async def liveness(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/api/v1/health/ready",
        summary="Readiness: PostgreSQL, the cache and the queue",
        description=(
            "503 `not-ready` only when PostgreSQL does not answer (nothing can be served). A "
            "cache or SQS outage answers 200 with status `degraded` and the check that is: "
            "requests are still accepted (jobs wait in the outbox), and failing readiness on a "
            "dependency every replica shares would take them all out of service at once."
        ),
        responses={503: ResponseSpec(data_container=Readiness, description="not ready")},
    )
    async def readiness(self, services: Services, state: State) -> Response[Readiness]:
        database = await services.database_answers()
        cache = await services.cache.ping()
        queue = await _queue_check(services, state, database)
        checks: dict[str, dict[str, Any]] = {
            "database": {"status": "ok" if database else "down"},
            "cache": {
                "status": "ok" if cache else "degraded",
                "backend": services.cache.backend,
                "detail": None if cache else "cache unreachable: serving from PostgreSQL",
            },
        }
        checks["queue"] = queue
        ready = database  # a cache or SQS outage degrades service, it does not stop it
        degraded = any(check["status"] == "degraded" for check in checks.values())
        status = "not-ready" if not ready else "degraded" if degraded else "ready"
        body = to_model({"status": status, "checks": checks}, Readiness)
        return Response(body, status_code=200 if ready else 503)

    @get("/api/v1/version", summary="Version of this PAO")
    async def version(self) -> VersionInfo:
        return VersionInfo(name="pao", version=__version__, api="v1")

    @get(
        ["/api/v1/metrics", "/metrics"],
        summary="Prometheus metrics",
        description="The spec's path is `/api/v1/metrics`; `/metrics` is the same document at "
        "the path Prometheus scrapes by default.",
        media_type=MediaType.TEXT,
        guards=[admin_only],
    )
    async def metrics(self, state: State, services: Services) -> Response[bytes]:
        metrics: Metrics = state.metrics
        await metrics.engine.refresh_queue(services.job_queue)
        return Response(metrics.render(), media_type=MediaType.TEXT)


async def _queue_check(services: Services, state: State, database: bool) -> dict[str, Any]:
    """The queue's check: PostgreSQL's for the default backend; for SQS, whether SQS answered
    the last read of its message counts (re-read in the background, never waited for here)."""
    backend = services.settings.engine.queue_backend
    stats: SqsQueueStats | None = state.get("sqs_stats")
    if backend != "sqs" or stats is None:
        return {"status": "ok" if database else "down", "backend": backend}
    await stats.read(wait=False)
    if stats.reachable:
        return {"status": "ok", "backend": backend}
    return {
        "status": "degraded",
        "backend": backend,
        "detail": "SQS unreachable: requests are accepted, their jobs wait in the outbox",
    }
