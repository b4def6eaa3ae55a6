"""The bot's side of approval gates (issue 21): who a GitHub user is for the gate, and how the
gate reads on a thread.

The core decides (``ApprovalGates.decide``: qualification, separation of duties, counting);
the bot only says who is deciding. GitHub does not tell a webhook which teams someone is in,
so the bot asks, for the teams the gate's current stage names (and its CODEOWNERS teams), with
one answer per team and person reused for the rest of the delivery (``TeamLookup``): an
``/approve`` and an approving review in one delivery probe GitHub once. Only ``active``
memberships count (an invitation still ``pending`` does not make anyone an approver).

The rest turns the gate's JSON (``preview.describe``, as the core and the API hand it out)
into words for comments: what remains, whom to mention when the request starts waiting, and
the gate for a pull request's preview, evaluated before any request exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bot.comments import fit, status_comment
from bot.github import BotGitHub
from bot.plan import preview_request
from orchestrator.approvals.policy import Approver, GateStatus, RequestFacts, evaluate
from orchestrator.catalog.models import CatalogItem
from orchestrator.templating.context import build_context

AWAITING = "awaiting_approval"
PREVIEW_REVISION = "preview"  # no request yet: no decisions, nothing to reset


def split_team(team: str, org: str) -> tuple[str, str]:
    """(org, slug) of a gate's team: ``team``, ``org/team`` or a CODEOWNERS ``@org/team``."""
    owner, _, slug = team.lstrip("@").rpartition("/")
    return (owner or org, slug)


def current_stage(gate: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The stage waiting for decisions, from the gate's JSON."""
    if not gate or gate.get("outcome") != "pending":
        return None
    name = gate.get("current_stage")
    return next((s for s in gate.get("stages") or [] if s.get("name") == name), None)


def stage_teams(stage: Mapping[str, Any]) -> list[str]:
    """The teams whose members may decide ``stage``: named ones and CODEOWNERS teams."""
    approvers = stage.get("approvers") or {}
    teams = [str(t) for t in approvers.get("teams") or []]
    teams += [str(o) for o in approvers.get("codeowners") or [] if "/" in str(o)]
    return list(dict.fromkeys(teams))


def stage_users(stage: Mapping[str, Any]) -> list[str]:
    """The people who may decide ``stage``: named ones and CODEOWNERS users."""
    approvers = stage.get("approvers") or {}
    users = [str(u) for u in approvers.get("users") or []]
    users += [str(o) for o in approvers.get("codeowners") or [] if "/" not in str(o)]
    return list(dict.fromkeys(users))


class TeamLookup:
    """A person's GitHub teams among those a gate names, asked once per delivery (one
    instance per delivery: a removed member loses the right with the next one)."""

    def __init__(self, github: BotGitHub, org: str) -> None:
        self.github = github
        self.org = org
        self._answers: dict[tuple[str, str, str], bool] = {}

    async def member(self, org: str, slug: str, login: str) -> bool:
        key = (org.lower(), slug.lower(), login.lower())
        if key not in self._answers:
            self._answers[key] = await self.github.is_team_member(org, slug, login)
        return self._answers[key]

    async def teams_of(self, login: str, candidates: Iterable[str]) -> tuple[str, ...]:
        """``org/slug`` of each candidate team ``login`` is an active member of."""
        held: list[str] = []
        for team in candidates:
            org, slug = split_team(team, self.org)
            if slug and await self.member(org, slug, login):
                held.append(f"{org}/{slug}")
        return tuple(dict.fromkeys(held))

    async def for_gate(self, login: str, gate: Mapping[str, Any] | None) -> tuple[str, ...]:
        """The teams that matter for deciding ``gate`` now: those of its current stage."""
        stage = current_stage(gate)
        return await self.teams_of(login, stage_teams(stage)) if stage else ()


def _who(stage: Mapping[str, Any]) -> str:
    """Who may decide a stage, in words, teams named (never @-mentioned: replies must not
    page a whole team)."""
    parts = [f"team `{t}`" for t in stage_teams(stage)] + [f"`{u}`" for u in stage_users(stage)]
    return ", ".join(parts) or "nobody"


def remaining(gate: Mapping[str, Any] | None) -> str:
    """What the gate still needs, in one sentence."""
    if not gate:
        return "No approval is needed."
    outcome = gate.get("outcome")
    if outcome == "approved":
        return "All approvals are in; the request goes ahead."
    if outcome in ("rejected", "expired"):
        return f"Nothing will be provisioned: {gate.get('reason') or outcome}."
    stage = current_stage(gate)
    if stage is None:
        return "Waiting for approval."
    missing = max(0, int(stage.get("count") or 1) - len(stage.get("approved_by") or []))
    later = [
        str(s["name"])
        for s in gate.get("stages") or []
        if s.get("state") == "waiting" and s.get("name") != stage.get("name")
    ]
    text = (
        f"Stage `{stage['name']}` needs {missing} more approval{'s' if missing != 1 else ''} "
        f"from {_who(stage)}"
    )
    if not stage.get("allow_requester"):
        text += " (not the requester)"
    if later:
        text += "; then " + ", ".join(f"`{name}`" for name in later)
    return text + "."


def mentions(
    gate: Mapping[str, Any] | None,
    *,
    org: str,
    login_of: Callable[[str], str | None] | None = None,
) -> list[str]:
    """@-mentions of whoever may decide the current stage, for the one comment that tells them
    (teams as ``@org/slug``, ``@login`` users as they are, e-mail users by their login when
    the bot's e-mail scheme gives one, else by address)."""
    stage = current_stage(gate)
    if stage is None:
        return []
    found = []
    for team in stage_teams(stage):
        owner, slug = split_team(team, org)
        found.append(f"@{owner}/{slug}")
    for user in stage_users(stage):
        login = login_of(user) if login_of and not user.startswith("@") else None
        found.append(f"@{login}" if login else user)
    return list(dict.fromkeys(found))


def announce_marker(request_id: str, stage: str, revision: str) -> str:
    """The hidden marker of the comment that asked a stage's approvers, for one revision of the
    request (a changed request resets the approvals: its approvers are asked again)."""
    safe = stage.replace("--", "-").replace(">", "")
    return f"<!-- pao:approvers request={request_id} stage={safe} revision={revision} -->"


def current_announcement(detail: Mapping[str, Any], gate: Mapping[str, Any] | None) -> str | None:
    """The marker of the stage the request waits for now; None when it waits for nobody."""
    stage = current_stage(gate) if str(detail.get("status")) == AWAITING else None
    if stage is None or gate is None:
        return None
    return announce_marker(str(detail["id"]), str(stage["name"]), str(gate.get("revision")))


def announcement(
    detail: Mapping[str, Any],
    gate: Mapping[str, Any] | None,
    *,
    org: str,
    login_of: Callable[[str], str | None] | None = None,
) -> str | None:
    """The short comment asking the current stage's approvers for their decision (GitHub
    notifies the mentions of a new comment, never those of an edit); None when nobody waits
    to be asked."""
    marker = current_announcement(detail, gate)
    stage = current_stage(gate)
    who = mentions(gate, org=org, login_of=login_of)
    if marker is None or stage is None or not who:
        return None
    return (
        f"{marker}\n🔔 {', '.join(who)}: PAO request `{detail['id']}` now waits for your "
        f"decision on stage `{stage['name']}`. {remaining(gate)}\n\n"
        "Comment `/approve [comment]` or `/reject <reason>` here; the request's status "
        "comment follows it."
    )


async def announce_stage(
    github: BotGitHub,
    repo: str,
    number: int,
    detail: Mapping[str, Any],
    gate: Mapping[str, Any] | None,
    *,
    author: str,
    login_of: Callable[[str], str | None] | None = None,
) -> bool:
    """Ask the approvers of the stage the request waits for now in a NEW comment, unless a
    comment of the bot's (``author``) already asked them for this revision: the status comment
    posted when the request started waiting carries the marker of the stage it asked, so only
    a later stage (or the first one again after a reset) is announced here. Call it before the
    status comment is updated, as that update writes the new stage's marker into it too.
    Idempotent (a ``notify`` job delivered twice posts once): whether it posted."""
    body = announcement(detail, gate, org=repo.split("/", 1)[0], login_of=login_of)
    marker = current_announcement(detail, gate)
    if body is None or marker is None:
        return False
    if await github.find_comment(repo, number, marker, author) is not None:
        return False
    await github.create_comment(repo, number, body)
    return True


def team_stage_elsewhere(
    gate: Mapping[str, Any] | None, *, org: str, request_id: str
) -> str | None:
    """Actions mode's answer to an approver the API refused on a stage naming teams; None when
    the current stage names none (the API's refusal then says it all).

    In Actions mode the bot calls the PAO API for the commenter with a ``bot``-role token, and
    the API knows that person by e-mail only: the workflow's ``GITHUB_TOKEN`` cannot read org
    team membership, and the API takes no team membership a bot token asserts (a token that
    could name anyone's teams could approve any stage: a privilege escalation). So a team's
    member decides the stage where PAO knows their teams: the CLI, the portal, the API with
    their own token, or the bot running as a GitHub App (which reads the membership)."""
    stage = current_stage(gate)
    teams = stage_teams(stage) if stage is not None else []
    if stage is None or not teams:
        return None
    named = ", ".join("`{}`".format("/".join(filter(None, split_team(t, org)))) for t in teams)
    return (
        f"stage `{stage['name']}` is decided by members of {named}, and in GitHub Actions mode "
        "PAO cannot check team membership (the workflow's token cannot read it). Members "
        f"approve it with `pao requests approve {request_id}`, in the PAO portal, or with "
        f"`POST /api/v1/requests/{request_id}/approve` (their own token); or run the bot as a "
        "GitHub App, which checks the membership."
    )


def preview_gate(
    item: CatalogItem,
    fields: Mapping[str, Any],
    *,
    requester: str,
    login: str | None = None,
    environment: Mapping[str, str] | None = None,
    source: str,
    codeowners: Sequence[str] = (),
) -> GateStatus | None:
    """The gate of a request not submitted yet (a pull request's preview): no decisions and
    no clock, so it says who must approve and which conditional stages are skipped."""
    if not item.approvals:
        return None
    env = dict(environment or {})
    variables = build_context(
        item,
        fields,
        request=preview_request(requester, login=login, source=source),
        allowed_environment=sorted(env),
        environ=env,
    )
    facts = RequestFacts(
        Approver(requester, login=login),
        PREVIEW_REVISION,
        variables,
        codeowners=tuple(codeowners),
    )
    return evaluate(item.approvals, facts, [], now=None)


def gate_of(detail: Mapping[str, Any]) -> dict[str, Any] | None:
    """The approval gate a request's view carries (``approval``), if it does."""
    for key in ("approval", "approvals"):
        if isinstance(detail.get(key), dict):
            return dict(detail[key])
    return None


def status_body(
    detail: Mapping[str, Any],
    gate: Mapping[str, Any] | None,
    *,
    path: str | None,
    org: str,
    login_of: Callable[[str], str | None] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The status comment of a request, both modes: the gate listed and, while the request
    waits, its current approvers @-mentioned. GitHub notifies a mention when the comment is
    posted and never for an edit, so they are told once, when the request starts waiting
    (the comment is posted then), not on each update: a later stage is asked in a new
    comment (``announce_stage``)."""
    mention: list[str] = []
    marker = current_announcement(detail, gate)
    if marker is not None:
        mention = mentions(gate, org=org, login_of=login_of)
    body = status_comment(
        detail,
        path=path,
        gate=gate,
        mention=mention,
        remaining=remaining(gate) if gate is not None else None,
        notes=notes,
    )
    # The stage asked by this comment (when it is posted; see ``announce_stage``).
    return fit(f"{marker}\n{body}") if marker is not None and mention else body
