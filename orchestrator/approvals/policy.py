"""Pure evaluation of an approval gate: which stages apply, which one is current, who may
decide it, and where the request stands.

Nothing here reads the database, GitHub or the clock: the stages come from the catalog item,
the request's facts (requester, revision, template variables, the item file's CODEOWNERS) and
the decisions so far from the caller, and ``now`` is passed in. The API (teams from a token or
IAM) and the bot (GitHub team membership) build an ``Approver`` from what they know and get the
same answer.

Rules:

* stages run in order; a stage whose ``when`` is false is skipped (with the reason); a ``when``
  that cannot be evaluated keeps the stage (an approval is never skipped by accident);
* only decisions on the request's current revision count: a changed request starts over;
* a person counts once per stage (the store's unique key makes that hold under concurrency);
* any rejection on the current revision ends the gate, with its reason;
* the current stage expires when ``now`` is later than its start plus ``expiresAfter``; a stage
  starts when the one before it passed (the first when the revision began waiting);
* the requester may not decide their own request unless the stage says ``allowRequester``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.approvals.conditions import ConditionError, condition_holds
from orchestrator.catalog.approval_stages import ApprovalStage
from orchestrator.catalog.codeowners import is_owner, team_slug
from orchestrator.templating.errors import TemplateRenderError

if TYPE_CHECKING:
    from orchestrator.identity.principal import Principal
    from orchestrator.templating.context import TemplateContext

Verdict = Literal["approve", "reject"]
StageState = Literal["skipped", "approved", "rejected", "expired", "pending", "waiting"]
Outcome = Literal["approved", "pending", "rejected", "expired"]


@dataclass(frozen=True, slots=True)
class Approver:
    """A person as the gate sees them: identity (e-mail), teams (``team`` or ``org/team``) and,
    when known, a GitHub login (for ``@login`` users and CODEOWNERS)."""

    email: str
    teams: tuple[str, ...] = ()
    login: str | None = None
    name: str | None = None

    @classmethod
    def from_principal(cls, principal: Principal, *, login: str | None = None) -> Approver:
        """The faces' principal; the bot passes the GitHub login and the teams it looked up
        (``dataclasses.replace(principal, teams=...)``), the API the token's teams."""
        return cls(principal.email, tuple(principal.teams), login, principal.name)

    @property
    def identity(self) -> str:
        """The key a decision is recorded under: the e-mail, case-folded."""
        return self.email.strip().lower()

    def same_person(self, other: Approver) -> bool:
        if self.identity == other.identity:
            return True
        return bool(self.login and other.login and self.login.lower() == other.login.lower())


@dataclass(frozen=True, slots=True)
class Decision:
    """One person's decision on one stage, made on one revision of the request."""

    stage: str
    approver: str  # Approver.identity
    verdict: Verdict
    revision: str
    decided_at: dt.datetime
    via: str = ""  # how they qualified: team:<t>, user:<u>, codeowner:<owner>, requester
    reason: str | None = None
    approver_name: str | None = None


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the gate needs to know about the request."""

    requester: Approver
    revision: str  # a digest or counter of the request's content; a new one resets decisions
    variables: TemplateContext | Mapping[str, Any]  # the template scopes (``build_context``)
    started_at: dt.datetime | None = None  # when this revision began waiting for approval
    codeowners: tuple[str, ...] = ()  # the owners of the item's file (``CodeOwners.owners_of``)


@dataclass(frozen=True, slots=True)
class Qualification:
    """Whether someone may decide a stage, how (``via``), or why not (``reason``)."""

    allowed: bool
    via: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StageStatus:
    """One stage as it stands."""

    stage: ApprovalStage
    state: StageState
    reason: str = ""
    approvals: tuple[Decision, ...] = ()
    rejection: Decision | None = None
    started_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    codeowners: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def remaining(self) -> int:
        return max(0, self.stage.count - len(self.approvals))


@dataclass(frozen=True, slots=True)
class GateStatus:
    """The whole gate: every stage's status, the current stage and the outcome."""

    stages: tuple[StageStatus, ...]
    outcome: Outcome
    revision: str
    stale: tuple[Decision, ...] = ()  # decisions on earlier revisions, no longer counted
    reason: str = ""

    @property
    def current(self) -> StageStatus | None:
        """The stage waiting for decisions (or the one that ended the gate), None when passed."""
        for status in self.stages:
            if status.state in ("pending", "rejected", "expired"):
                return status
        return None

    @property
    def required(self) -> bool:
        """Whether anyone must approve (some stage applies)."""
        return any(s.state != "skipped" for s in self.stages)

    @property
    def decided(self) -> bool:
        return self.outcome != "pending"

    def stage(self, name: str) -> StageStatus | None:
        return next((s for s in self.stages if s.name == name), None)


def _slug(team: str) -> str:
    return team.rsplit("/", 1)[-1].lower()


def _team_matches(wanted: str, held: str) -> bool:
    """``org/team`` matches ``org/team`` and ``team``; ``team`` matches any org's ``team`` (the
    API's teams often carry no org). Case-insensitive, as GitHub slugs are."""
    w, h = wanted.lower(), held.lower()
    if "/" in w and "/" in h:
        return w == h
    return _slug(w) == _slug(h)


def qualifies(
    stage: ApprovalStage,
    approver: Approver,
    *,
    requester: Approver,
    codeowners: Sequence[str] = (),
) -> Qualification:
    """Whether ``approver`` may decide ``stage`` of ``requester``'s request."""
    if approver.same_person(requester) and not stage.allow_requester:
        return Qualification(
            False,
            reason="the requester may not approve their own request (separation of duties); "
            f"ask another approver of stage '{stage.name}': "
            f"{describe_approvers(stage, codeowners)}",
        )
    for team in stage.teams:
        if any(_team_matches(team, held) for held in approver.teams):
            return Qualification(True, via=f"team:{team}")
    for user in stage.users:
        if user.startswith("@"):
            if approver.login and approver.login.lower() == user[1:].lower():
                return Qualification(True, via=f"user:{user}")
        elif user.strip().lower() == approver.identity:
            return Qualification(True, via=f"user:{user}")
    if stage.codeowners:
        for owner in codeowners:
            if is_owner([owner], email=approver.email, teams=approver.teams, login=approver.login):
                return Qualification(True, via=f"codeowner:{owner}")
    return Qualification(
        False,
        reason=f"not among the approvers of stage '{stage.name}': "
        f"{describe_approvers(stage, codeowners)}",
    )


def describe_approvers(stage: ApprovalStage, codeowners: Sequence[str] = ()) -> str:
    """Who may approve a stage, in words (for refusals, previews and notifications)."""
    parts = [f"team {t}" for t in stage.teams] + list(stage.users)
    if stage.codeowners:
        parts.append(
            f"CODEOWNERS ({', '.join(codeowners)})" if codeowners else "CODEOWNERS (none known)"
        )
    return ", ".join(parts) or "nobody"


def approver_teams(stage: ApprovalStage, codeowners: Sequence[str] = ()) -> tuple[str, ...]:
    """Teams whose members may decide (named, and CODEOWNERS teams), for inbox lookups."""
    teams = list(stage.teams)
    if stage.codeowners:
        teams += [o[1:] for o in codeowners if team_slug(o) is not None]
    return tuple(dict.fromkeys(teams))


def approver_users(stage: ApprovalStage, codeowners: Sequence[str] = ()) -> tuple[str, ...]:
    """People who may decide (named, and CODEOWNERS users / e-mails), for inbox lookups."""
    users = list(stage.users)
    if stage.codeowners:
        users += [o for o in codeowners if team_slug(o) is None]
    return tuple(dict.fromkeys(users))


def applies(stage: ApprovalStage, variables: TemplateContext | Mapping[str, Any]) -> str | None:
    """None when the stage applies, else why it is skipped. A condition that cannot be
    evaluated keeps the stage: the gate fails closed."""
    if stage.when is None:
        return None
    try:
        holds = condition_holds(stage.when, variables)
    except (ConditionError, TemplateRenderError):
        return None
    return None if holds else f"condition `{stage.when}` is false"


def evaluate(
    stages: Sequence[ApprovalStage],
    facts: RequestFacts,
    decisions: Iterable[Decision],
    *,
    now: dt.datetime | None = None,
) -> GateStatus:
    """Where the gate stands. ``now`` None (a preview) checks no expiry."""
    current: list[Decision] = []
    stale: list[Decision] = []
    for decision in sorted(decisions, key=lambda d: d.decided_at):
        (current if decision.revision == facts.revision else stale).append(decision)
    statuses: list[StageStatus] = []
    outcome: Outcome = "approved"
    reason = ""
    started = facts.started_at
    for stage in stages:
        owners = facts.codeowners if stage.codeowners else ()
        if outcome != "approved":  # an earlier stage is open or ended the gate
            skipped = applies(stage, facts.variables)
            state: StageState = "skipped" if skipped else "waiting"
            statuses.append(StageStatus(stage, state, skipped or "", codeowners=owners))
            continue
        skipped = applies(stage, facts.variables)
        if skipped:
            statuses.append(StageStatus(stage, "skipped", skipped, codeowners=owners))
            continue
        seconds = stage.expires_after_seconds
        expires_at = (
            started + dt.timedelta(seconds=seconds) if started and seconds is not None else None
        )
        # Decisions after the stage expired do not count (they are refused when made; this
        # also holds for ones recorded concurrently with the expiry).
        mine = [
            d
            for d in current
            if d.stage == stage.name and (expires_at is None or d.decided_at <= expires_at)
        ]
        rejection = next((d for d in mine if d.verdict == "reject"), None)
        approvals: list[Decision] = []
        for decision in mine:
            if decision.verdict == "approve" and all(
                a.approver != decision.approver for a in approvals
            ):
                approvals.append(decision)
        if rejection is not None:
            outcome = "rejected"
            reason = f"rejected by {rejection.approver}: {rejection.reason or 'no reason given'}"
            statuses.append(
                StageStatus(
                    stage,
                    "rejected",
                    reason,
                    tuple(approvals),
                    rejection,
                    started,
                    expires_at,
                    owners,
                )
            )
            continue
        if len(approvals) >= stage.count:
            passed = approvals[stage.count - 1].decided_at
            statuses.append(
                StageStatus(
                    stage, "approved", "", tuple(approvals), None, started, expires_at, owners
                )
            )
            started = max(started, passed) if started else passed
            continue
        if expires_at is not None and now is not None and now > expires_at:
            outcome = "expired"
            reason = (
                f"stage '{stage.name}' expired at {expires_at.isoformat()} "
                f"({len(approvals)} of {stage.count} approvals)"
            )
            statuses.append(
                StageStatus(
                    stage, "expired", reason, tuple(approvals), None, started, expires_at, owners
                )
            )
            continue
        outcome = "pending"
        waiting = f"{len(approvals)} of {stage.count} approvals"
        statuses.append(
            StageStatus(
                stage, "pending", waiting, tuple(approvals), None, started, expires_at, owners
            )
        )
    return GateStatus(tuple(statuses), outcome, facts.revision, tuple(stale), reason)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a decision is not accepted (the faces show ``message``; ``code`` is stable)."""

    code: Literal["no-gate", "not-awaiting", "not-qualified", "already-decided", "reason-required"]
    message: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """A decision to record: the stage it applies to and how the approver qualified."""

    stage: str
    via: str
    decision: Decision = field(repr=False)


def check_decision(
    status: GateStatus,
    approver: Approver,
    verdict: Verdict,
    *,
    facts: RequestFacts,
    now: dt.datetime,
    reason: str | None = None,
) -> Accepted | Refusal:
    """Whether ``approver`` may ``verdict`` the current stage now; the decision to record if so.

    One decision per person per stage and revision: a second one is refused here, and the
    store's unique key refuses it again if two arrive at once.
    """
    if not status.stages or not status.required:
        return Refusal("no-gate", "this request needs no approval")
    current = status.current
    if status.outcome != "pending" or current is None:
        return Refusal("not-awaiting", f"the approval is already {status.outcome}")
    if verdict == "reject" and not (reason and reason.strip()):
        return Refusal("reason-required", "a rejection needs a reason")
    qualification = qualifies(
        current.stage, approver, requester=facts.requester, codeowners=current.codeowners
    )
    if not qualification.allowed:
        return Refusal("not-qualified", qualification.reason)
    if any(d.approver == approver.identity for d in current.approvals):
        return Refusal(
            "already-decided", f"{approver.email} already approved stage '{current.name}'"
        )
    decision = Decision(
        current.name,
        approver.identity,
        verdict,
        facts.revision,
        now,
        qualification.via,
        reason.strip() if reason else None,
        approver.name,
    )
    return Accepted(current.name, qualification.via, decision)
