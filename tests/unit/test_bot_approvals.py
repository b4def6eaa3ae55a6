"""The bot's side of approval gates without GitHub or a database: the commands, the team
lookup (active members only, asked once per delivery), the gate in words (status comment,
what remains, whom to mention) and the runner's replies (a repeat is quiet)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot.approvals import (
    TeamLookup,
    announce_stage,
    announcement,
    mentions,
    preview_gate,
    remaining,
    status_body,
    team_stage_elsewhere,
)
from bot.comments import notes_of, unmention
from bot.slash_commands import GATE_DECISIONS, parse_commands
from bot.slash_runner import DecisionRefused, GateOutcome, LinkedRequest, gate_decision
from orchestrator.approvals.policy import Approver, Decision, RequestFacts, evaluate
from orchestrator.approvals.preview import describe
from orchestrator.catalog.approval_stages import ApprovalStage
from orchestrator.catalog.models import CatalogItem
from tests.integration.bot_harness import database_item

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
STAGES = [
    ApprovalStage.model_validate({"name": "security", "teams": ["security"], "count": 2}),
    ApprovalStage.model_validate(
        {"name": "owners", "teams": ["other-org/dba"], "users": ["@lead", "ann@example.com"]}
    ),
]
REQUESTER = Approver("rita@users.noreply.github.com", login="rita")


def gate(*decisions: Decision) -> dict[str, Any]:
    facts = RequestFacts(REQUESTER, "r1", {"fields": {}}, started_at=T0)
    return describe(evaluate(STAGES, facts, decisions, now=T0))


def approval(who: str, stage: str = "security") -> Decision:
    return Decision(
        stage, f"{who}@users.noreply.github.com", "approve", "r1", T0, "team", None, who
    )


def test_approve_and_reject_are_commands_with_their_argument() -> None:
    found = [(c.name, c.argument, c.known) for c in parse_commands("/approve\n/Reject too big")]
    assert found == [("approve", "", True), ("reject", "too big", True)]
    assert {"approve", "reject"} == GATE_DECISIONS


class Members:
    """Stands in for GitHub's membership answers; counts the probes."""

    def __init__(self, active: set[tuple[str, str, str]]) -> None:
        self.active = active
        self.probes: list[tuple[str, str, str]] = []

    async def is_team_member(self, org: str, team: str, login: str) -> bool:
        self.probes.append((org, team, login))
        return (org, team, login) in self.active


async def test_teams_are_the_active_memberships_of_the_current_stage_asked_once() -> None:
    github = Members({("acme", "security", "sam")})
    lookup = TeamLookup(github, "acme")  # type: ignore[arg-type]
    assert await lookup.for_gate("sam", gate()) == ("acme/security",)
    assert await lookup.for_gate("sam", gate()) == ("acme/security",)
    assert github.probes == [("acme", "security", "sam")]  # cached within the delivery
    assert await lookup.for_gate("eve", gate()) == ()
    # The second stage names another org's team and a CODEOWNERS-style ``@org/team``.
    assert await lookup.teams_of("sam", ["other-org/dba", "@acme/security"]) == ("acme/security",)
    assert ("other-org", "dba", "sam") in github.probes
    assert await lookup.for_gate("sam", None) == ()  # no gate: nothing to ask


def test_what_remains_and_whom_to_mention() -> None:
    open_gate = gate(approval("sam"))
    assert remaining(open_gate) == (
        "Stage `security` needs 1 more approval from team `security` (not the requester); "
        "then `owners`."
    )
    assert mentions(open_gate, org="acme") == ["@acme/security"]
    second = gate(approval("sam"), approval("sue"))
    assert mentions(
        second, org="acme", login_of=lambda e: e.split("@")[0] if "noreply" in e else None
    ) == ["@other-org/dba", "@lead", "ann@example.com"]
    done = gate(approval("sam"), approval("sue"), approval("lee", "owners"))
    assert remaining(done) == "All approvals are in; the request goes ahead."
    assert mentions(done, org="acme") == []


def detail(status: str) -> dict[str, Any]:
    return {
        "id": "0b6f3c2e-1111-4222-8333-444455556666",
        "status": status,
        "catalog_item": "db",
        "catalog_item_version": "1.0.0",
        "requester": {"email": "rita@users.noreply.github.com"},
        "correlation_id": "c-1",
        "actions": [],
    }


def test_the_status_comment_lists_the_gate_and_mentions_the_approvers_while_waiting() -> None:
    waiting = gate(approval("sam"))
    body = status_body(detail("awaiting_approval"), waiting, path=None, org="acme", notes=["x | y"])
    assert "| security | team security (not the requester) | 2 | ⏳ waiting (1 of 2: sam) |" in body
    assert "| owners | team other-org/dba, `@lead`, ann@example.com" in body  # listed, not paged
    assert "🔔 Approval requested from @acme/security." in body
    assert notes_of(body) == ["x | y"]  # kept for the next update
    done = gate(approval("sam"), approval("sue"), approval("lee", "owners"))
    queued = status_body(detail("queued"), done, path=None, org="acme")
    assert "🔔" not in queued
    assert "✅ approved (2 of 2: sam, sue)" in queued
    assert notes_of(queued) == []


class Backend:
    """A command backend whose gate answers as scripted."""

    def __init__(self, answers: dict[str, GateOutcome | str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, str | None]] = []

    async def linked(self, repo: str, number: int) -> list[LinkedRequest]:
        return [LinkedRequest(rid, "rita", None) for rid in self.answers]

    async def detail(self, request_id: str) -> dict[str, Any]:
        return {"status": "awaiting_approval"}

    async def decide(self, request_id: str, decision: str, *, login: str, reason: str) -> None:
        raise AssertionError("not a gate decision")

    async def gate_decide(
        self, request_id: str, verdict: str, *, login: str, reason: str | None
    ) -> GateOutcome:
        self.calls.append((request_id, verdict, reason))
        answer = self.answers[request_id]
        if isinstance(answer, str):
            raise DecisionRefused(answer)
        return answer


async def test_replies_accepted_refused_repeated_and_a_rejection_without_reason() -> None:
    links = [LinkedRequest("r-1", "rita", None), LinkedRequest("r-2", "rita", None)]
    [approve] = parse_commands("/approve")
    backend = Backend(
        {"r-1": GateOutcome(True, "pending", gate(approval("sam"))), "r-2": "not qualified"}
    )
    accepted, text = await gate_decision(backend, approve, links, "sam")
    assert accepted
    assert text is not None
    assert "- `r-1`: ✅ approved by @sam. Stage `security` needs 1 more approval" in text
    assert "- `r-2`: not recorded, @sam: not qualified" in text

    repeat = Backend({"r-1": GateOutcome(False, "pending", gate(approval("sam")))})
    assert await gate_decision(repeat, approve, links[:1], "sam") == (True, None)

    [bare] = parse_commands("/reject")
    asked = Backend({"r-1": GateOutcome(True, "rejected", None)})
    assert await gate_decision(asked, bare, links[:1], "sam") == (
        False,
        "A rejection needs a reason: comment `/reject <reason>`.",
    )
    assert asked.calls == []


def test_the_preview_gate_skips_a_stage_whose_condition_is_false() -> None:
    document = database_item()
    document["approvals"] = [
        {"name": "big", "teams": ["dba"], "when": "fields.size == 'large'"},
        {"name": "always", "users": ["@lead"]},
    ]
    item = CatalogItem.model_validate(document)
    status = preview_gate(
        item, {"instanceName": "x-db", "size": "small"}, requester="r@x", source="github-pr"
    )
    assert status is not None
    assert [(s.name, s.state) for s in status.stages] == [("big", "skipped"), ("always", "pending")]
    assert (
        preview_gate(CatalogItem.model_validate(database_item()), {}, requester="r", source="x")
        is None
    )


def test_notes_and_the_gate_table_name_people_without_paging_them() -> None:
    body = status_body(
        detail("awaiting_approval"),
        gate(),
        path=None,
        org="acme",
        notes=["The approving review by @sec-old was given on an earlier push"],
    )
    assert "The approving review by `@sec-old` was given" in body
    live = body.replace("`@", "")
    assert [w for w in live.split() if w.startswith("@")] == ["@acme/security."]  # one line asks
    assert unmention("@a, team @o/t-1, x@example.com, `@b`") == (
        "`@a`, team `@o/t-1`, x@example.com, `@b`"
    )


class Thread:
    """Stands in for a thread's comments: what the bot posted, found by marker."""

    def __init__(self) -> None:
        self.posted: list[str] = []

    async def find_comment(
        self, repo: str, number: int, marker: str, author: str
    ) -> dict[str, Any] | None:
        return next(({"body": b} for b in self.posted if marker in b), None)

    async def create_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        self.posted.append(body)
        return {"id": len(self.posted), "body": body}


async def test_a_later_stage_is_announced_once_per_revision() -> None:
    first = gate()
    assert announcement(detail("queued"), first, org="acme") is None  # nobody to ask
    thread: Any = Thread()
    thread.posted.append(status_body(detail("awaiting_approval"), first, path=None, org="acme"))
    asked = await announce_stage(
        thread, "acme/x", 1, detail("awaiting_approval"), first, author="b"
    )
    assert not asked  # the status comment, when posted, asked the first stage
    second = gate(approval("sam"), approval("sue"))
    for _ in range(2):  # a redelivered notify job posts nothing more
        await announce_stage(thread, "acme/x", 1, detail("awaiting_approval"), second, author="b")
    [ask] = thread.posted[1:]
    assert "stage=owners revision=r1" in ask.partition("\n")[0]
    assert "@other-org/dba, @lead" in ask
    assert "@acme/security" not in ask


def test_a_team_stage_in_actions_mode_names_where_its_members_decide() -> None:
    text = team_stage_elsewhere(gate(), org="acme", request_id="R")
    assert text is not None
    assert "stage `security` is decided by members of `acme/security`" in text
    assert "pao requests approve R" in text
    users_only = describe(
        evaluate(
            [ApprovalStage.model_validate({"name": "lead", "users": ["@lead"]})],
            RequestFacts(REQUESTER, "r1", {"fields": {}}, started_at=T0),
            (),
            now=T0,
        )
    )
    assert team_stage_elsewhere(users_only, org="acme", request_id="R") is None
