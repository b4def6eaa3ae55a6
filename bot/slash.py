"""Slash commands, one implementation for both modes (GitHub App webhooks and GitHub Actions).

The modes differ only in where requests live: App mode calls the core's ``RequestService``
directly, Actions mode calls the PAO API. Each gives a ``CommandBackend``; everything else is
here, once: which requests the thread is linked to, who may decide (``bot.commands.Authorizer``:
the requester = the GitHub author, the item's owning team, the operator teams, repository admins
and maintainers), ``/retry <action-id>`` checked against the failed actions, the replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.commands import DECISIONS, Authorizer, Command
from bot.comments import HELP, STATUS_ICONS, command_reply, fit
from bot.github import BotGitHub


@dataclass(frozen=True, slots=True)
class LinkedRequest:
    """A request the thread is linked to, with what the permission rule needs."""

    request_id: str
    requester_login: str | None
    owner_team: str | None
    path: str | None = None


class DecisionRefused(Exception):
    """The backend refused the decision (wrong state, not found): the message is for people."""


class CommandBackend(Protocol):
    async def linked(self, repo: str, number: int) -> list[LinkedRequest]: ...

    async def detail(self, request_id: str) -> dict[str, Any]: ...

    async def decide(
        self, request_id: str, decision: str, *, login: str, reason: str
    ) -> None: ...  # raises DecisionRefused


async def run_commands(
    github: BotGitHub,
    authorizer: Authorizer,
    backend: CommandBackend,
    commands: Sequence[Command],
    *,
    repo: str,
    number: int,
    login: str,
    comment_id: int | None,
) -> int:
    """Answer every command of one comment; how many were answered."""
    links = await backend.linked(repo, number)
    reacted = False
    for command in commands:
        if not command.known or command.name == "help":
            await github.create_comment(repo, number, command_reply(command.line, HELP))
            continue
        if not links:
            message = "No PAO request is linked to this thread yet."
            await github.create_comment(repo, number, command_reply(command.line, message))
            continue
        if command.name == "status":
            message = await _status(backend, links)
        else:
            refusal = await _refusal(authorizer, links, repo=repo, login=login)
            if refusal is not None:
                await github.create_comment(repo, number, command_reply(command.line, refusal))
                continue
            if comment_id is not None and not reacted:
                await github.react(repo, comment_id, "+1")
                reacted = True
            message = await _decide(backend, command, links, login)
        await github.create_comment(repo, number, command_reply(command.line, fit(message)))
    return len(commands)


async def _status(backend: CommandBackend, links: Sequence[LinkedRequest]) -> str:
    lines = []
    for link in links:
        detail = await backend.detail(link.request_id)
        actions = detail.get("actions") or []
        done = sum(1 for a in actions if a.get("status") == "completed")
        current = next((a["id"] for a in actions if a.get("status") == "in_progress"), None)
        icon = STATUS_ICONS.get(str(detail["status"]), "•")
        where = f" (`{link.path}`)" if link.path else ""
        lines.append(
            f"- {icon} `{link.request_id}`{where}: **{detail['status']}**, "
            f"{done}/{len(actions)} actions done"
            + (f", current action `{current}`" if current else "")
        )
    return "\n".join(lines)


async def _refusal(
    authorizer: Authorizer, links: Sequence[LinkedRequest], *, repo: str, login: str
) -> str | None:
    """None when ``login`` may decide on every linked request, else the polite refusal."""
    for link in links:
        decision = await authorizer.authorise(
            login=login, repo=repo, requester_login=link.requester_login, owner_team=link.owner_team
        )
        if not decision.allowed:
            return (
                f"Sorry @{login}, you may not do this on request `{link.request_id}`. "
                f"It may be done by {decision.reason}."
            )
    return None


async def _decide(
    backend: CommandBackend, command: Command, links: Sequence[LinkedRequest], login: str
) -> str:
    assert command.name in DECISIONS
    reason = command.argument or f"requested by @{login} with /{command.name}"
    lines = []
    for link in links:
        request_id = link.request_id
        if command.name == "retry" and command.argument:
            detail = await backend.detail(request_id)
            failed = [a["id"] for a in detail.get("actions") or [] if a.get("status") == "failed"]
            if command.argument not in failed:
                shown = ", ".join(f"`{a}`" for a in failed) or "none"
                lines.append(
                    f"- `{request_id}`: `{command.argument}` is not a failed action "
                    f"(failed: {shown})"
                )
                continue
        try:
            await backend.decide(request_id, command.name, login=login, reason=reason)
        except DecisionRefused as exc:
            lines.append(f"- `{request_id}`: not done: {exc}")
            continue
        outcome = {
            "retry": "retry started; this thread's status comment follows it",
            "abort": f"aborted ({reason})",
            "escalate": "escalated to the owning team; the manual ticket is being opened",
        }[command.name]
        lines.append(f"- `{request_id}`: {outcome}")
    return "\n".join(lines)
