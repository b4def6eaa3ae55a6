"""Slash commands in comments on a linked PR or issue (only ``created``, never the bot's own).

Each command is answered: accepted ones get a 👍 reaction at once and a reply quoting the
command with the outcome; refused ones a polite reply naming who may do it; unknown ones the
help text (``bot.slash_runner``, shared with Actions mode). Decisions go to ``RequestService`` (retry /
abort / escalate), whose state checks and row locks make two operators racing produce one
outcome; ``/approve`` and ``/reject`` to ``ApprovalGates.decide`` as the commenter, with the
GitHub teams the gate's current stage names that they are an active member of.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from bot import slash_runner
from bot.approvals import TeamLookup
from bot.context import BotContext
from bot.events import IssueCommentEvent
from bot.router import Event, Router
from bot.slash_commands import Command, parse_commands
from bot.slash_runner import DecisionRefused, GateOutcome, LinkedRequest
from orchestrator.errors import NotFound, PaoError

log = logging.getLogger(__name__)
router = Router()


def is_own(bot: BotContext, login: str, user_type: str) -> bool:
    return login == bot.settings.bot_login or user_type == "Bot"


@router.register("issue_comment", "created")
async def on_comment(event: Event, bot: BotContext) -> None:
    parsed = IssueCommentEvent.model_validate(event.payload)
    comment = parsed.comment
    if is_own(bot, comment.user.login, comment.user.type):
        return
    commands = parse_commands(comment.body)
    if not commands:
        return
    await run_commands(
        bot,
        commands,
        repo=parsed.repository.full_name,
        number=parsed.issue.number,
        login=comment.user.login,
        comment_id=comment.id,
        correlation_id=f"github-{event.delivery_id}",
    )


class ServiceBackend:
    """App mode: the thread's links from the bot's tables, decisions on the core's service.
    One per delivery: team memberships are asked once within it (``TeamLookup``)."""

    def __init__(self, bot: BotContext, correlation_id: str, *, repo: str) -> None:
        self.bot = bot
        self.correlation_id = correlation_id
        self.teams = TeamLookup(bot.github, repo.split("/", 1)[0])

    async def linked(self, repo: str, number: int) -> list[LinkedRequest]:
        return [
            LinkedRequest(
                request_id=str(linked.link.request_id),
                requester_login=self.bot.settings.login_of(linked.requester_email),
                owner_team=await _owner_team(self.bot, linked.catalog_item_id),
                path=linked.link.path,
            )
            for linked in await self.bot.links.on_thread(repo, number)
        ]

    async def detail(self, request_id: str) -> dict[str, Any]:
        return await self.bot.requests.detail(uuid.UUID(request_id))

    async def decide(self, request_id: str, decision: str, *, login: str, reason: str) -> None:
        principal = self.bot.principal(login, "operator")
        requests, rid, cid = self.bot.requests, uuid.UUID(request_id), self.correlation_id
        try:
            if decision == "retry":
                await requests.retry(rid, principal, cid, source="bot")
            elif decision == "abort":
                await requests.abort(rid, principal, reason, cid, source="bot")
            else:
                await requests.escalate(rid, principal, reason, cid, source="bot")
        except PaoError as exc:
            raise DecisionRefused(exc.message) from None

    async def gate_decide(
        self, request_id: str, verdict: str, *, login: str, reason: str | None
    ) -> GateOutcome:
        """Approve or reject as ``login``, with the teams of theirs the current stage names."""
        gates = self.bot.approvals
        if gates is None:
            raise DecisionRefused("approval gates are not available in this deployment")
        rid = uuid.UUID(request_id)
        try:
            teams = await self.teams.for_gate(login, await gates.gate(rid))
            principal = dataclasses.replace(self.bot.principal(login), teams=teams)
            decision = await gates.decide(
                rid,
                principal,
                "reject" if verdict == "reject" else "approve",
                correlation_id=self.correlation_id,
                source="bot",
                reason=reason,
                login=login,
                teams=teams,
            )
        except PaoError as exc:
            raise DecisionRefused(exc.message) from None
        return GateOutcome(decision.recorded, decision.outcome, decision.gate)


async def _owner_team(bot: BotContext, item_id: str) -> str | None:
    try:
        item, _ = await bot.catalog.current(item_id)
    except NotFound:
        return None
    return item.metadata.owner.team


async def run_commands(
    bot: BotContext,
    commands: Sequence[Command],
    *,
    repo: str,
    number: int,
    login: str,
    comment_id: int | None,
    correlation_id: str,
) -> None:
    await slash_runner.run_commands(
        bot.github,
        bot.authorizer,
        ServiceBackend(bot, correlation_id, repo=repo),
        commands,
        repo=repo,
        number=number,
        login=login,
        comment_id=comment_id,
    )
