"""``POST /api/v1/github/webhook``: hands the raw body and headers to the bot's intake.

The API does not import the bot: the intake is any callable of the ``WebhookIntake`` shape,
found in the app state under ``github_webhook`` (tests and embedders put one there) or built
once from the ``pao.webhooks`` entry point named ``github`` (the bot's
``intake_from_services``); without either the route answers 404 (a deployment without the bot
has no webhook endpoint, and that is not a server fault). Signature checks, storage and queueing are the intake's; this route
only reads the bytes (GitHub's 25 MB cap is the route's body limit) and shapes the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from api.models import WebhookAck, to_model
from api.problems import MEDIA_TYPE, PROBLEM_BASE, ProblemDetails
from orchestrator.services import Services

STATE_KEY = "github_webhook"
ENTRY_POINT_GROUP = "pao.webhooks"
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024


class WebhookReply(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def body(self) -> Mapping[str, Any]: ...


class WebhookIntake(Protocol):
    def __call__(self, body: bytes, headers: Mapping[str, str]) -> Awaitable[WebhookReply]: ...


def _problem_spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDetails, description=description, media_type=MEDIA_TYPE
    )


def find_intake(state: State, services: Services) -> WebhookIntake | None:
    intake: WebhookIntake | None = state.get(STATE_KEY)
    if intake is None:
        for entry in entry_points(group=ENTRY_POINT_GROUP, name="github"):
            intake = entry.load()(services)
            state[STATE_KEY] = intake
            break
    return intake


class GitHubWebhookController(Controller):
    tags = ("github",)

    @post(
        "/api/v1/github/webhook",
        summary="Receive a GitHub webhook delivery (signed with X-Hub-Signature-256)",
        status_code=202,
        request_max_body_size=MAX_WEBHOOK_BYTES,
        responses={
            200: ResponseSpec(data_container=WebhookAck, description="ping, ignored or duplicate"),
            400: _problem_spec("missing headers, unknown event or malformed JSON"),
            401: _problem_spec("the signature does not match"),
            413: _problem_spec("payload over 25 MB"),
            404: _problem_spec("GitHub webhooks are not enabled in this deployment"),
        },
    )
    async def receive(
        self, request: Request[Any, Any, Any], state: State, services: Services
    ) -> Response[WebhookAck]:
        intake = find_intake(state, services)
        if intake is None:
            return _problem(
                404,
                "Not enabled",
                "GitHub webhooks are not enabled here: the bot (entry point pao.webhooks "
                "'github') is not installed",
            )
        reply = await intake(await request.body(), dict(request.headers))
        if reply.status >= 400:
            body = dict(reply.body)
            return _problem(reply.status, str(body.get("title")), str(body.get("detail")))
        return Response(to_model(dict(reply.body), WebhookAck), status_code=reply.status)


def _problem(status: int, title: str, detail: str) -> Response[Any]:
    slug = title.lower().replace(" ", "-")
    return Response(
        {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type=MEDIA_TYPE,
    )
