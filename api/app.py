"""The Litestar application: `create_app(settings)` wires controllers, DI, errors and OpenAPI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig

from api.auth import PUBLIC_PATHS, AuthMiddleware
from api.controllers import approvals
from api.controllers.audit import AuditController
from api.controllers.catalog import CatalogController
from api.controllers.github import GitHubWebhookController
from api.controllers.request_secrets import RequestSecretsController
from api.controllers.requests import RequestsController, validate_request
from api.controllers.system import SystemController
from api.controllers.tools import ToolsController
from api.deps import provide_correlation_id, provide_principal, provide_services
from api.docs import docs_assets_router, docs_render_plugin
from api.input_guard import InputGuardMiddleware
from api.metrics import Metrics
from api.models import refine_openapi
from api.problems import (
    EXCEPTION_HANDLERS,
    docs_router,
    document_access,
    document_input_checks,
    security_components,
)
from api.request_context import RequestContextMiddleware
from api.tracing import TracingMiddleware
from orchestrator import __version__
from orchestrator.engine.executor import Registry
from orchestrator.runtime import freeze_startup_heap
from orchestrator.services import Services, open_services
from orchestrator.settings import Settings
from portal.app import portal_routes

Background = Callable[[Services, Metrics, asyncio.Event], Coroutine[Any, Any, None]]


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    background: Background | None = None,
    executors: Registry | None = None,
) -> Litestar:
    """Build the app. Without ``services`` it opens them at start-up and closes them at exit.
    ``background`` (``pao serve``'s worker pool) runs beside the API until shutdown."""
    metrics = Metrics()
    sqs_stats = None
    if settings.engine.queue_backend == "sqs":  # /metrics reports SQS's own counts too
        from orchestrator.engine.sqs.stats import SqsQueueStats

        sqs_stats = SqsQueueStats.from_settings(settings.engine)
        metrics.engine.watch_sqs(sqs_stats)  # and readiness whether SQS answers
        if background is None:  # no worker pool in this process: it relays its own outbox

            async def relay_only(opened: Services, _: Metrics, stop: asyncio.Event) -> None:
                await opened.deliver_outbox(stop)

            background = relay_only

    if services is not None:  # counted from now on, also without a lifespan (ASGI test clients)
        metrics.engine.observe(services)

    @asynccontextmanager
    async def run_background(opened: Services) -> AsyncIterator[None]:
        if background is None:
            yield
            return
        stop = asyncio.Event()
        task = asyncio.create_task(background(opened, metrics, stop))
        try:
            yield
        finally:
            stop.set()
            await task

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            async with run_background(services):
                yield
            return
        opened = await open_services(settings)
        metrics.engine.observe(opened)
        app.state.services = opened
        freeze_startup_heap()
        try:
            async with run_background(opened):
                yield
        finally:
            await opened.close()

    app = Litestar(
        route_handlers=[
            AuditController,
            CatalogController,
            GitHubWebhookController,
            RequestsController,
            validate_request,  # the spec's POST /api/v1/validate/request
            RequestSecretsController,
            approvals.approve,  # approval gates (issue 21)
            approvals.reject,
            approvals.inbox,
            SystemController,
            ToolsController,
            docs_assets_router(),  # Swagger UI's files, served here: the docs work offline
            *portal_routes(settings),  # the self-service portal (HTML pages) under /portal
        ],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
            "correlation_id": Provide(provide_correlation_id, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(
                RequestContextMiddleware,
                header=settings.api.correlation_id_header,
                metrics=metrics,
            ),
            *([DefineMiddleware(TracingMiddleware)] if settings.tracing.enabled else []),
            DefineMiddleware(AuthMiddleware, exclude=PUBLIC_PATHS),
            # after authentication: a caller without credentials gets 401 whatever it sent
            DefineMiddleware(
                InputGuardMiddleware,
                max_body_bytes=settings.api.max_body_bytes,
                max_json_depth=settings.api.max_json_depth,
                max_string_chars=settings.api.max_string_chars,
            ),
        ],
        lifespan=[lifespan],
        state=State(
            {
                "metrics": metrics,
                "settings": settings,
                "executors": executors,
                "sqs_stats": sqs_stats,
            }
            | ({"services": services} if services is not None else {})
        ),
        request_max_body_size=settings.api.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="PAO: Platform Automation Orchestrator",
            version=__version__,
            description="Self-service catalog, requests and their fulfillment.",
            path="/api/v1",
            openapi_router=docs_router("/api/v1"),  # unknown paths under it: problem documents
            render_plugins=[docs_render_plugin()],
            components=security_components(settings.auth),
        ),
    )
    document_input_checks(app)
    document_access(app, settings.auth, PUBLIC_PATHS)
    refine_openapi(app.openapi_schema)  # generated once, here, after the handlers are final
    return app


def app_from_env() -> Litestar:
    """uvicorn factory (``uvicorn --factory api.app:app_from_env``): settings from the environment."""
    import os

    return create_app(Settings.from_env(os.environ))
