"""Slash commands, one implementation for both modes (GitHub App webhooks and GitHub Actions).

The modes differ only in where requests live: App mode calls the core's ``RequestService``
directly, Actions mode calls the PAO API. Each gives a ``CommandBackend``; everything else is
here, once: which requests the thread is linked to, who may decide (``bot.slash_permissions``:
the requester = the GitHub author, the item's owning team, the operator teams, repository admins
and maintainers), ``/retry <action-id>`` checked against the failed actions, the replies.

``/approve [comment]`` and ``/reject <reason>`` go to the request's approval gate as the
commenter: the core says whether they qualify (its refusal is the reply), a repeat of one's own
decision is acknowledged quietly (a reaction, no reply), an accepted one is answered with who
decided and what remains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.approvals import AWAITING, remaining
from bot.comments import HELP, STATUS_ICONS, command_reply, fit
from bot.github import BotGitHub
from bot.slash_commands import DECISIONS, GATE_DECISIONS, Command
from bot.slash_permissions import Authorizer


@dataclass(frozen=True, slots=True)
class LinkedRequest:
    """A request the thread is linked to, with what the permission rule needs."""

    request_id: str
    requester_login: str | None
    owner_team: str | None
    path: str | None = None


class DecisionRefused(Exception):
    """The backend refused the decision (wrong state, not found): the message is for people."""


@dataclass(frozen=True, slots=True)
class GateOutcome:
    """What an approval decision did: stored (``recorded``; false for a repeat), where the
    gate stands (``outcome``: approved, pending, rejected, expired) and the gate's JSON."""

    recorded: bool
    outcome: str
    gate: dict[str, Any] | None


class CommandBackend(Protocol):
    async def linked(self, repo: str, number: int) -> list[LinkedRequest]: ...

    async def detail(self, request_id: str) -> dict[str, Any]: ...

    async def decide(
        self, request_id: str, decision: str, *, login: str, reason: str
    ) -> None: ...  # raises DecisionRefused

    async def gate_decide(
        self, request_id: str, verdict: str, *, login: str, reason: str | None
    ) -> GateOutcome: ...  # raises DecisionRefused


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
        elif command.name in GATE_DECISIONS:
            answered, text = await gate_decision(backend, command, links, login)
            if answered and comment_id is not None and not reacted:
                await github.react(repo, comment_id, "+1")
                reacted = True
            if text is None:  # only repeats: the reaction says it was seen
                continue
            message = text
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


async def _awaiting(backend: CommandBackend, links: Sequence[LinkedRequest]) -> list[LinkedRequest]:
    """The linked requests waiting for approval; all of them when none is (the core then says
    why nothing can be decided)."""
    waiting = [
        link
        for link in links
        if str((await backend.detail(link.request_id)).get("status")) == AWAITING
    ]
    return waiting or list(links)


async def gate_decision(
    backend: CommandBackend, command: Command, links: Sequence[LinkedRequest], login: str
) -> tuple[bool, str | None]:
    """``/approve`` or ``/reject`` on the thread's requests: (whether any was accepted, the
    reply; None when every one was a repeat)."""
    assert command.name in GATE_DECISIONS
    if command.name == "reject" and not command.argument:
        return False, "A rejection needs a reason: comment `/reject <reason>`."
    lines: list[str] = []
    accepted = False
    for link in await _awaiting(backend, links):
        try:
            outcome = await backend.gate_decide(
                link.request_id, command.name, login=login, reason=command.argument or None
            )
        except DecisionRefused as exc:
            lines.append(f"- `{link.request_id}`: not recorded, @{login}: {exc}")
            continue
        accepted = True
        if not outcome.recorded:
            continue
        if command.name == "reject":
            lines.append(
                f"- `{link.request_id}`: 🚫 rejected by @{login} ({command.argument}); "
                "nothing will be provisioned."
            )
        else:
            lines.append(
                f"- `{link.request_id}`: ✅ approved by @{login}. {remaining(outcome.gate)}"
            )
    return accepted, ("\n".join(lines) if lines else None)
