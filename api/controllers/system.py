"""Health, readiness, version and metrics."""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from api.auth import admin_only
from api.metrics import Metrics
from orchestrator import __version__
from orchestrator.engine.pg_queue import PgQueue
from orchestrator.services import Services


class SystemController(Controller):
    tags = ("system",)

    @get("/api/v1/health", summary="Liveness: the process answers")
    async def liveness(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/api/v1/health/ready",
        summary="Readiness: PostgreSQL and the cache",
        responses={503: ResponseSpec(data_container=dict[str, Any], description="not ready")},
    )
    async def readiness(self, services: Services) -> Response[dict[str, Any]]:
        database = await services.db.ping()
        cache = await services.cache.ping()
        checks = {
            "database": {"status": "ok" if database else "down"},
            "cache": {
                "status": "ok" if cache else "degraded",
                "backend": services.cache.backend,
                "detail": None if cache else "cache unreachable: serving from PostgreSQL",
            },
        }
        ready = database  # a cache outage degrades speed, not correctness
        body = {"status": "ready" if ready else "not-ready", "checks": checks}
        return Response(body, status_code=200 if ready else 503)

    @get("/api/v1/version", summary="Version of this PAO")
    async def version(self) -> dict[str, str]:
        return {"name": "pao", "version": __version__, "api": "v1"}

    @get("/metrics", summary="Prometheus metrics", media_type=MediaType.TEXT, guards=[admin_only])
    async def metrics(self, state: State, services: Services) -> Response[bytes]:
        metrics: Metrics = state.metrics
        await metrics.engine.refresh_queue(PgQueue(services.db))
        return Response(metrics.render(), media_type=MediaType.TEXT)
