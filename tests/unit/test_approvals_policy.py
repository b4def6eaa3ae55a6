"""The approval gate's policy, pure: stages, conditions, who qualifies, outcomes (issue 21)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.approvals.policy import (
    Accepted,
    Approver,
    Decision,
    Refusal,
    RequestFacts,
    check_decision,
    evaluate,
    qualifies,
)
from orchestrator.catalog.approval_stages import ApprovalStage
from orchestrator.identity.principal import Principal

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
REQUESTER = Approver("rita@example.com", ("payments",), login="rita")
SAM = Approver("sam@example.com", ("security",), login="sam")
SUE = Approver("sue@example.com", ("acme/security",), login="sue")
OWEN = Approver("owen@example.com", ("network",), login="owen")
NOBODY = Approver("nora@example.com", ("marketing",), login="nora")


def stage(**spec: Any) -> ApprovalStage:
    spec.setdefault("name", "security")
    return ApprovalStage.model_validate(spec)


def facts(revision: str = "r1", **fields: Any) -> RequestFacts:
    variables = {
        "fields": fields or {"environment": "prod"},
        "request": {"user": {"email": REQUESTER.email, "teams": list(REQUESTER.teams)}},
    }
    return RequestFacts(
        REQUESTER, revision, variables, started_at=T0, codeowners=("@acme/network",)
    )


def approve(
    who: Approver, at_minutes: int, stage_name: str = "security", revision: str = "r1"
) -> Decision:
    return Decision(
        stage_name,
        who.identity,
        "approve",
        revision,
        T0 + dt.timedelta(minutes=at_minutes),
        "team:x",
    )


def decide(
    stages: list[ApprovalStage],
    decisions: list[Decision],
    who: Approver,
    verdict: str = "approve",
    *,
    minutes: int = 1,
    reason: str | None = None,
    revision: str = "r1",
) -> Accepted | Refusal:
    f = facts(revision)
    now = T0 + dt.timedelta(minutes=minutes)
    status = evaluate(stages, f, decisions, now=now)
    return check_decision(status, who, verdict, facts=f, now=now, reason=reason)  # type: ignore[arg-type]


def test_a_single_stage_waits_then_passes_on_one_team_member() -> None:
    stages = [stage(teams=["security"])]

    waiting = evaluate(stages, facts(), [], now=T0)
    assert waiting.outcome == "pending"
    assert waiting.current is not None
    assert waiting.current.name == "security"
    assert waiting.current.remaining == 1

    accepted = decide(stages, [], SAM)
    assert isinstance(accepted, Accepted)
    assert accepted.via == "team:security"
    done = evaluate(stages, facts(), [accepted.decision], now=T0)
    assert done.outcome == "approved"
    assert done.current is None
    assert [s.state for s in done.stages] == ["approved"]


def test_no_stages_means_approved_and_not_required() -> None:
    status = evaluate([], facts(), [], now=T0)
    assert status.outcome == "approved"
    assert not status.required


def test_multi_stage_runs_in_order_and_the_second_starts_when_the_first_passed() -> None:
    stages = [
        stage(teams=["security"]),
        stage(name="network", teams=["network"], expiresAfter="1h"),
    ]

    refused = decide(stages, [], OWEN)  # network's turn has not come
    assert isinstance(refused, Refusal)
    assert refused.code == "not-qualified"
    status = evaluate(stages, facts(), [approve(SAM, 30)], now=T0 + dt.timedelta(minutes=31))
    assert [s.state for s in status.stages] == ["approved", "pending"]
    network = status.stages[1]
    assert network.started_at == T0 + dt.timedelta(minutes=30)
    assert network.expires_at == T0 + dt.timedelta(minutes=90)

    accepted = decide(stages, [approve(SAM, 30)], OWEN, minutes=40)
    assert isinstance(accepted, Accepted)
    assert accepted.stage == "network"
    final = evaluate(stages, facts(), [approve(SAM, 30), accepted.decision], now=T0)
    assert final.outcome == "approved"


def test_a_stage_whose_condition_is_false_is_skipped_with_the_reason() -> None:
    stages = [stage(teams=["security"], when="fields.environment == 'prod'")]

    skipped = evaluate(stages, facts(environment="dev"), [], now=T0)
    assert skipped.outcome == "approved"
    assert not skipped.required
    assert skipped.stages[0].state == "skipped"
    assert skipped.stages[0].reason == "condition `fields.environment == 'prod'` is false"

    applies = evaluate(stages, facts(environment="prod"), [], now=T0)
    assert applies.outcome == "pending"


def test_a_condition_that_cannot_be_evaluated_keeps_the_stage() -> None:
    stages = [stage(teams=["security"], when="fields.zone == 'example.com'")]  # no zone given

    status = evaluate(stages, facts(environment="prod"), [], now=T0)
    assert status.stages[0].state == "pending"


def test_conditions_may_read_the_requesters_teams_in_template_syntax() -> None:
    stages = [stage(teams=["security"], when="{{'payments' in request.user.teams}}")]
    assert evaluate(stages, facts(), [], now=T0).outcome == "pending"
    stages = [stage(teams=["security"], when="'contractors' in request.user.teams")]
    assert evaluate(stages, facts(), [], now=T0).outcome == "approved"


def test_the_requester_may_not_approve_their_own_request_unless_allowed() -> None:
    requester_in_team = Approver(REQUESTER.email.upper(), ("security",), login="other")

    refused = decide([stage(teams=["security"])], [], requester_in_team)
    assert isinstance(refused, Refusal)
    assert refused.code == "not-qualified"
    assert refused.message == (
        "the requester may not approve their own request (separation of duties); "
        "ask another approver of stage 'security': team security"
    )
    by_login = Approver("rita@elsewhere.example", ("security",), login="RITA")
    assert not qualifies(stage(teams=["security"]), by_login, requester=REQUESTER).allowed

    allowed = decide([stage(teams=["security"], allowRequester=True)], [], requester_in_team)
    assert isinstance(allowed, Accepted)


def test_a_rejection_ends_the_gate_with_its_reason_and_needs_one() -> None:
    stages = [stage(teams=["security"]), stage(name="network", teams=["network"])]

    no_reason = decide(stages, [], SAM, "reject", reason="  ")
    assert isinstance(no_reason, Refusal)
    assert no_reason.code == "reason-required"
    rejected = decide(stages, [], SAM, "reject", reason="no change ticket")
    assert isinstance(rejected, Accepted)

    status = evaluate(stages, facts(), [rejected.decision], now=T0)
    assert status.outcome == "rejected"
    assert status.reason == "rejected by sam@example.com: no change ticket"
    assert [s.state for s in status.stages] == ["rejected", "waiting"]
    late = decide(stages, [rejected.decision], SUE)
    assert isinstance(late, Refusal)
    assert late.code == "not-awaiting"


def test_a_stage_expires_after_its_duration_and_late_decisions_are_refused() -> None:
    stages = [stage(teams=["security"], expiresAfter="2h")]

    at_deadline = evaluate(stages, facts(), [], now=T0 + dt.timedelta(hours=2))
    assert at_deadline.outcome == "pending"
    expired = evaluate(stages, facts(), [], now=T0 + dt.timedelta(hours=2, seconds=1))
    assert expired.outcome == "expired"
    assert expired.stages[0].state == "expired"
    assert "expired at 2026-12-01T11:00:00+00:00" in expired.reason

    late = decide(stages, [], SAM, minutes=121)
    assert isinstance(late, Refusal)
    assert late.code == "not-awaiting"
    # An approval stamped after the deadline (recorded concurrently with it) does not count.
    assert evaluate(stages, facts(), [approve(SAM, 121)], now=T0).outcome == "pending"
    # A preview (no ``now``) never expires.
    assert evaluate(stages, facts(), [], now=None).outcome == "pending"


def test_a_new_revision_resets_the_decisions() -> None:
    stages = [stage(teams=["security"])]
    old = approve(SAM, 5, revision="r1")

    status = evaluate(stages, facts("r2"), [old], now=T0)
    assert status.outcome == "pending"
    assert status.stale == (old,)
    again = decide(stages, [old], SAM, revision="r2")
    assert isinstance(again, Accepted)
    assert again.decision.revision == "r2"


def test_count_needs_distinct_people_and_a_person_counts_once() -> None:
    stages = [stage(teams=["security"], count=2)]

    twice = evaluate(stages, facts(), [approve(SAM, 1), approve(SAM, 2)], now=T0)
    assert twice.outcome == "pending"
    assert twice.current is not None
    assert twice.current.remaining == 1
    repeat = decide(stages, [approve(SAM, 1)], SAM)
    assert isinstance(repeat, Refusal)
    assert repeat.code == "already-decided"

    both = evaluate(stages, facts(), [approve(SAM, 1), approve(SUE, 2)], now=T0)
    assert both.outcome == "approved"


def test_people_outside_the_approvers_are_refused_naming_who_may() -> None:
    refused = decide([stage(teams=["security"], users=["@lead"])], [], NOBODY)
    assert isinstance(refused, Refusal)
    assert refused.code == "not-qualified"
    assert refused.message == ("not among the approvers of stage 'security': team security, @lead")


@pytest.mark.parametrize(
    ("wanted", "held", "allowed"),
    [
        ("security", "acme/security", True),
        ("acme/security", "security", True),
        ("acme/security", "acme/security", True),
        ("acme/security", "other/security", False),
        ("Security", "security", True),
        ("security", "security-leads", False),
    ],
)
def test_team_names_match_by_slug_unless_both_name_an_org(
    wanted: str, held: str, allowed: bool
) -> None:
    person = Approver("p@example.com", (held,))
    assert qualifies(stage(teams=[wanted]), person, requester=REQUESTER).allowed is allowed


def test_codeowners_and_named_users_qualify() -> None:
    owners = stage(codeowners=True)
    via_team = qualifies(owners, OWEN, requester=REQUESTER, codeowners=("@acme/network",))
    assert via_team.allowed
    assert via_team.via == "codeowner:@acme/network"
    assert not qualifies(owners, OWEN, requester=REQUESTER, codeowners=()).allowed
    by_login = qualifies(stage(users=["@Nora"]), NOBODY, requester=REQUESTER)
    assert by_login.allowed
    assert by_login.via == "user:@Nora"
    by_mail = qualifies(stage(users=["NORA@example.com"]), NOBODY, requester=REQUESTER)
    assert by_mail.allowed


def test_an_approver_is_built_from_the_faces_principal() -> None:
    principal = Principal(email="Sam@Example.com", name="Sam", teams=("security",))
    approver = Approver.from_principal(principal, login="sam")
    assert approver.identity == "sam@example.com"
    assert approver.login == "sam"
    assert qualifies(stage(teams=["security"]), approver, requester=REQUESTER).allowed


PEOPLE = [Approver(f"p{i}@example.com", ("security",)) for i in range(5)]


@given(
    count=st.integers(min_value=1, max_value=4),
    order=st.lists(st.integers(min_value=0, max_value=4), max_size=10),
)
@example(count=2, order=[0, 0])
@example(count=1, order=[])
def test_a_stage_passes_exactly_when_count_distinct_people_approved(
    count: int, order: list[int]
) -> None:
    stages = [stage(teams=["security"], count=count)]
    decisions: list[Decision] = []
    for minute, index in enumerate(order):
        checked = decide(stages, decisions, PEOPLE[index], minutes=minute)
        if isinstance(checked, Accepted):
            decisions.append(checked.decision)
    status = evaluate(stages, facts(), decisions, now=T0)
    distinct = len(set(order))
    assert (status.outcome == "approved") is (distinct >= count)
    # Each person is accepted once, and nobody once the stage passed.
    assert len({d.approver for d in decisions}) == len(decisions)
    assert len(decisions) == min(distinct, count)
