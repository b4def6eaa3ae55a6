"""``notify`` jobs: keep each linked thread's status comment, labels and state current.

The engine enqueues a ``notify`` job in the transaction of every state change of a request
that came from GitHub; the worker hands it to ``Notifications.handle`` (registered as a
notifier listener at start-up). Everything here is idempotent (comments updated in place,
labels set, the issue closed: as ``completed``, or as ``not_planned`` when the request was
rejected or its approval expired, with a comment saying why), and the jobs of one link run one at a time (``_update``), so
races and redelivery produce each comment, label change, summary and close once. The approval
gate's events (``awaiting_approval``, ``approval_recorded``, ``approved``, ``rejected``,
``approvals_reset``) refresh the status comment like any other: it lists the gate.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from githubkit.exception import RequestFailed

from bot.comments import fit, status_marker, unmention
from bot.context import BotContext
from bot.github import repository_gone
from bot.pull_request import post_status
from orchestrator.engine.pg_queue import Job
from orchestrator.github.links import RequestLink

log = logging.getLogger(__name__)

STATE_LABELS = {
    "submitted": "pao:in-progress",
    "validating": "pao:in-progress",
    "awaiting_secret": "pao:awaiting-secret",
    "awaiting_approval": "pao:awaiting-approval",
    "queued": "pao:in-progress",
    "in_progress": "pao:in-progress",
    "completed": "pao:completed",
    "failed": "pao:failed",
    "aborted": "pao:aborted",
    "escalated": "pao:escalated",
    "rejected": "pao:rejected",
}


def summary_comment(detail: Mapping[str, Any]) -> str:
    """The closing summary of a completed issue request: each action's outputs and links."""
    lines = [
        f"{status_marker(str(detail['id'])).replace('status', 'summary')}",
        f"✅ PAO request `{detail['id']}` is **completed**; closing this issue.",
        "",
    ]
    for action in detail.get("actions") or []:
        outputs = action.get("outputs") or {}
        link = f" ({action['external_url']})" if action.get("external_url") else ""
        shown = ", ".join(f"{k}: `{v}`" for k, v in outputs.items())
        lines.append(f"- `{action['id']}`{link}" + (f": {shown}" if shown else ""))
    return fit("\n".join(lines))


def rejected_comment(detail: Mapping[str, Any], *, kind: str, path: str | None = None) -> str:
    """The comment telling a thread its request ended without a yes (rejected, or its approval
    expired): the status comment says so too, but its edit notifies nobody. On a pull request
    the file stays merged: asking again takes a new pull request."""
    context = detail.get("error_context") or {}
    expired = context.get("approval") == "expired"
    why = str(context.get("error") or ("the approval expired" if expired else "rejected"))
    where = f" from `{path}`" if path else ""
    again = (
        "To ask again, change the request file in a new pull request."
        if kind == "pull_request"
        else "To ask again, open a new issue."
    )
    head = "approval **expired**" if expired else "was **rejected**"
    return fit(
        f"{rejected_marker(str(detail['id']))}\n🚫 PAO request `{detail['id']}`{where} "
        f"{head}: {unmention(why)}. Nothing was provisioned. {again}"
    )


def rejected_marker(request_id: str) -> str:
    return status_marker(request_id).replace("status", "rejected")


class Notifications:
    def __init__(self, bot: BotContext) -> None:
        self.bot = bot

    async def handle(self, job: Job) -> None:
        request_id = job.payload.get("request_id")
        if not request_id:
            return
        links = await self.bot.links.for_request(uuid.UUID(str(request_id)))
        for link in links:
            try:
                await self._update(link)
            except RequestFailed as exc:
                if not repository_gone(exc):
                    raise
                log.warning(
                    "GitHub answers %s for repository %s: status of request %s not shown there",
                    exc.response.status_code, link.repository, request_id,
                )  # fmt: skip

    async def _update(self, link: RequestLink) -> None:
        """One job at a time per link: two ``notify`` jobs (two state changes close together,
        or one delivered twice) on different workers each read GitHub's current labels,
        comments and issue state under the lock, so every effect happens once."""
        async with self.bot.links.locked(f"notify:{link.id}"):
            await self._effects(link)

    async def _effects(self, link: RequestLink) -> None:
        bot = self.bot
        repo, number = link.repository, link.number
        await post_status(bot, link, repo=repo, number=number, path=link.path)
        detail = await bot.requests.detail(link.request_id)
        status = str(detail["status"])
        if status == "rejected":
            await self._rejected(link, detail)
        if link.kind != "issue":
            return
        label = STATE_LABELS.get(status)
        if label:
            current = await bot.github.labels(repo, number)
            await bot.github.set_state_label(repo, number, label, family="pao:", current=current)
        if status == "completed":
            marker = status_marker(str(detail["id"])).replace("status", "summary")
            if await bot.github.find_comment(repo, number, marker, bot.settings.bot_login) is None:
                await bot.github.create_comment(repo, number, summary_comment(detail))
            if await bot.github.issue_state(repo, number) == "open":
                await bot.github.close_issue(repo, number)
        if status == "rejected" and await bot.github.issue_state(repo, number) == "open":
            await bot.github.close_issue(repo, number, reason="not_planned")

    async def _rejected(self, link: RequestLink, detail: Mapping[str, Any]) -> None:
        """Tell the thread, once, that its request ended without a yes; a pull request (whose
        thread has no state label otherwise) gets ``pao:rejected``, an issue gets it with the
        other state labels."""
        bot, repo, number = self.bot, link.repository, link.number
        marker = rejected_marker(str(detail["id"]))
        if await bot.github.find_comment(repo, number, marker, bot.settings.bot_login) is None:
            body = rejected_comment(detail, kind=link.kind, path=link.path)
            await bot.github.create_comment(repo, number, body)
        if link.kind != "issue":
            current = await bot.github.labels(repo, number)
            await bot.github.set_state_label(
                repo, number, STATE_LABELS["rejected"], family="pao:", current=current
            )
