"""The bot composed: the routers of every event family, the webhook job, the notify listener.

Start-up code builds a ``Bot`` from the core's services (``bot_from_services``) and registers
it on the worker (``worker_plugin``, the ``pao.worker_plugins`` entry point); the API's webhook
route gets only the intake (``intake_from_services``, the ``pao.webhooks`` entry point), which
needs the core's webhook deliveries and the secrets but no GitHub client.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

from bot import check_suite, issue_comment, issues, pull_request, pull_request_review, push
from bot.context import BotContext
from bot.github import BotGitHub, repository_gone
from bot.notify import Notifications
from bot.router import Event, Router
from bot.settings import BotSettings
from bot.slash_permissions import Authorizer
from bot.webhook import WEBHOOK_JOB, WebhookIntake
from orchestrator.engine.pg_queue import Job
from orchestrator.engine.worker import Worker
from orchestrator.github.deliveries import WebhookDeliveries
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.redaction import redact
from orchestrator.services import Services

log = logging.getLogger(__name__)

ROUTER = Router(
    pull_request.router,
    issues.router,
    issue_comment.router,
    pull_request_review.router,
    check_suite.router,
    push.router,
)


def make_intake(
    services: Services, settings: BotSettings, router: Router = ROUTER
) -> WebhookIntake:
    return WebhookIntake(
        services.webhook_deliveries,
        settings.webhook_secrets,
        router.events,
        max_body_bytes=settings.max_body_bytes,
    )


class Bot:
    def __init__(
        self, context: BotContext, deliveries: WebhookDeliveries, router: Router = ROUTER
    ) -> None:
        self.context = context
        self.deliveries = deliveries
        self.router = router
        self.notifications = Notifications(context)

    def intake(self) -> WebhookIntake:
        return WebhookIntake(
            self.deliveries,
            self.context.settings.webhook_secrets,
            self.router.events,
            max_body_bytes=self.context.settings.max_body_bytes,
        )

    def register(self, worker: Worker) -> None:
        """Process ``github-webhook`` jobs in ``worker`` and follow its ``notify`` jobs."""
        self.attach(worker.register, worker.notifier.listen)

    def attach(
        self,
        register: Callable[[str, Callable[[Job], Awaitable[None]]], None],
        listen: Callable[[Callable[[Job], Awaitable[None]]], None],
    ) -> None:
        """The same on anything that takes handlers and listeners (a ``WorkerPool``)."""
        register(WEBHOOK_JOB, self.process)
        listen(self.notifications.handle)

    async def process(self, job: Job) -> None:
        """Route one stored delivery; a delivery already processed is not processed again."""
        delivery_id = str(job.payload["delivery_id"])
        claimed = await self.deliveries.claim(delivery_id)
        if claimed is None:
            return
        event = Event(claimed.event, claimed.payload, delivery_id)
        try:
            handled = await self.router.dispatch(event, self.context)
        except RequestFailed as exc:
            if not repository_gone(exc):
                await self._failed(delivery_id, exc)
                raise
            # Deleted, transferred or no longer visible to the App: retrying cannot help.
            repo = (event.payload.get("repository") or {}).get("full_name", "?")
            log.warning(
                "GitHub answers %s for repository %s: delivery %s (%s) dropped",
                exc.response.status_code, repo, delivery_id, event.name,
            )  # fmt: skip
            await self.deliveries.finish(
                delivery_id, "ignored", f"repository {repo} gone ({exc.response.status_code})"
            )
            return
        except Exception as exc:
            await self._failed(delivery_id, exc)
            raise
        await self.deliveries.finish(delivery_id, "processed" if handled else "ignored")

    async def _failed(self, delivery_id: str, exc: Exception) -> None:
        error = redact(f"{type(exc).__name__}: {exc}")[:500]
        await self.deliveries.finish(delivery_id, "failed", error)


def bot_from_services(
    services: Services,
    settings: BotSettings,
    client: GitHub[Any],
    *,
    template_environment: Mapping[str, str] | None = None,
) -> Bot:
    github = BotGitHub(client)
    context = BotContext(
        settings=settings,
        github=github,
        catalog=services.catalog,
        requests=services.requests,
        links=services.request_links,
        authorizer=Authorizer(
            github, settings.operator_teams, cache_seconds=settings.permission_cache_seconds
        ),
        template_environment=dict(template_environment or {}),
        approvals=services.approval_gates,
    )
    return Bot(context, services.webhook_deliveries)


def bot_from_environment(services: Services, env: Mapping[str, str]) -> Bot:
    """Start-up wiring for a worker process: settings and the GitHub client from ``env``."""
    return bot_from_services(
        services,
        BotSettings.from_environment(env),
        github_client(GitHubSettings.from_environment(env)),
    )


def worker_plugin(pool: Any, services: Services, env: Mapping[str, str]) -> None:
    """The ``pao.worker_plugins`` entry point: the bot's job handler and notify listener on the
    worker pool (``orchestrator.engine.process.WorkerPool``), when GitHub is configured."""
    github = GitHubSettings.from_environment(env)
    if not github.configured:
        log.info("GitHub bot off: neither GITHUB_TOKEN nor a GitHub App is configured")
        return
    bot = bot_from_services(
        services,
        BotSettings.from_environment(env),
        github_client(github),
        template_environment=services.settings.template_environment,
    )
    bot.attach(pool.register, pool.listen)


def intake_from_services(services: Services) -> WebhookIntake:
    """The ``pao.webhooks`` entry point the API's route loads at start-up (reads the
    environment once, here, for the webhook secrets)."""
    settings = BotSettings.from_environment(os.environ)
    if not settings.webhook_secrets:
        log.warning("GITHUB_WEBHOOK_SECRETS is not set: every webhook delivery will be refused")
    return make_intake(services, settings)
