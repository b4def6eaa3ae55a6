"""Slash commands in comments on a linked PR or issue (only ``created``, never the bot's own).

Each command is answered: accepted ones get a 👍 reaction at once and a reply quoting the
command with the outcome; refused ones a polite reply naming who may do it; unknown ones the
help text (``bot.slash``, shared with Actions mode). Decisions go to ``RequestService`` (retry /
abort / escalate), whose state checks and row locks make two operators racing produce one
outcome.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from bot import slash
from bot.commands import Command, parse_commands
from bot.context import BotContext
from bot.events import IssueCommentEvent
from bot.router import Event, Router
from bot.slash import DecisionRefused, LinkedRequest
from orchestrator.errors import NotFound, PaoError
from orchestrator.store.queries import QUERIES

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
    """App mode: the thread's links from the bot's tables, decisions on the core's service."""

    def __init__(self, bot: BotContext, correlation_id: str) -> None:
        self.bot = bot
        self.correlation_id = correlation_id

    async def linked(self, repo: str, number: int) -> list[LinkedRequest]:
        rows = await self.bot.fetch_all(
            QUERIES.bot_links_for_thread, repository=repo, number=number
        )
        return [
            LinkedRequest(
                request_id=str(row["request_id"]),
                requester_login=self.bot.settings.login_of(str(row["requester_email"])),
                owner_team=await _owner_team(self.bot, str(row["catalog_item_id"])),
                path=row.get("path"),
            )
            for row in rows
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
    await slash.run_commands(
        bot.github,
        bot.authorizer,
        ServiceBackend(bot, correlation_id),
        commands,
        repo=repo,
        number=number,
        login=login,
        comment_id=comment_id,
    )
