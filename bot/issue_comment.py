"""Slash commands in comments on a linked PR or issue (only ``created``, never the bot's own).

Each command is answered: accepted ones get a 👍 reaction at once and a reply quoting the
command with the outcome; refused ones a polite reply naming who may do it; unknown ones the
help text. Decisions go to ``RequestService`` (retry / abort / escalate), whose state checks
and row locks make two operators racing produce one outcome.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bot.commands import DECISIONS, Command, parse_commands
from bot.comments import HELP, STATUS_ICONS, command_reply
from bot.context import BotContext
from bot.events import IssueCommentEvent
from bot.router import Event, Router
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
    links = await bot.fetch_all(QUERIES.bot_links_for_thread, repository=repo, number=number)
    reacted = False
    for command in commands:
        if not command.known or command.name == "help":
            await bot.github.create_comment(repo, number, command_reply(command.line, HELP))
            continue
        if not links:
            await bot.github.create_comment(
                repo,
                number,
                command_reply(command.line, "No PAO request is linked to this thread yet."),
            )
            continue
        if command.name == "status":
            message = await _status(bot, links)
        else:
            refusal = await _refusal(bot, links, repo=repo, login=login)
            if refusal is not None:
                await bot.github.create_comment(repo, number, command_reply(command.line, refusal))
                continue
            if comment_id is not None and not reacted:
                await bot.github.react(repo, comment_id, "+1")
                reacted = True
            message = await _decide(bot, command, links, login, correlation_id)
        await bot.github.create_comment(repo, number, command_reply(command.line, message))


async def _status(bot: BotContext, links: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for link in links:
        status = await bot.requests.status(uuid.UUID(str(link["request_id"])))
        icon = STATUS_ICONS.get(status["status"], "•")
        progress = status["progress"]
        where = f" (`{link['path']}`)" if link.get("path") else ""
        current = (
            f", current action `{status['current_action']}`" if status["current_action"] else ""
        )
        lines.append(
            f"- {icon} `{status['id']}`{where}: **{status['status']}**, "
            f"{progress['completed_actions']}/{progress['total_actions']} actions done{current}"
        )
    return "\n".join(lines)


async def _owner_team(bot: BotContext, item_id: str) -> str | None:
    try:
        item, _ = await bot.catalog.current(item_id)
    except NotFound:
        return None
    return item.metadata.owner.team


async def _refusal(
    bot: BotContext, links: Sequence[Mapping[str, Any]], *, repo: str, login: str
) -> str | None:
    """None when ``login`` may decide on every linked request, else the polite refusal."""
    for link in links:
        decision = await bot.authorizer.authorise(
            login=login,
            repo=repo,
            requester_login=bot.settings.login_of(str(link["requester_email"])),
            owner_team=await _owner_team(bot, str(link["catalog_item_id"])),
        )
        if not decision.allowed:
            return (
                f"Sorry @{login}, you may not do this on request `{link['request_id']}`. "
                f"It may be done by {decision.reason}."
            )
    return None


async def _decide(
    bot: BotContext,
    command: Command,
    links: Sequence[Mapping[str, Any]],
    login: str,
    correlation_id: str,
) -> str:
    principal = bot.principal(login, "operator")
    reason = command.argument or f"requested by @{login} with /{command.name}"
    lines = []
    for link in links:
        request_id = uuid.UUID(str(link["request_id"]))
        try:
            if command.name == "retry":
                if command.argument:
                    detail = await bot.requests.detail(request_id)
                    failed = [a["id"] for a in detail["actions"] if a["status"] == "failed"]
                    if command.argument not in failed:
                        shown = ", ".join(f"`{a}`" for a in failed) or "none"
                        lines.append(
                            f"- `{request_id}`: `{command.argument}` is not a failed action "
                            f"(failed: {shown})"
                        )
                        continue
                await bot.requests.retry(request_id, principal, correlation_id, source="bot")
                outcome = "retry started; this thread's status comment follows it"
            elif command.name == "abort":
                await bot.requests.abort(
                    request_id, principal, reason, correlation_id, source="bot"
                )
                outcome = f"aborted ({reason})"
            else:
                await bot.requests.escalate(
                    request_id, principal, reason, correlation_id, source="bot"
                )
                outcome = "escalated to the owning team; the manual ticket is being opened"
        except PaoError as exc:
            outcome = f"not done: {exc.message}"
        lines.append(f"- `{request_id}`: {outcome}")
    assert command.name in DECISIONS
    return "\n".join(lines)
