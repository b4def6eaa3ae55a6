"""Approval rounds and decisions on real PostgreSQL: the migration, idempotent and concurrent
decisions (two connections racing count once), resets on a new revision, the inbox."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import psycopg
import pytest

from orchestrator.approvals.policy import Approver, Decision, RequestFacts
from orchestrator.approvals.service import ApprovalService
from orchestrator.approvals.store import ApprovalStore
from orchestrator.catalog.approval_stages import ApprovalStage
from orchestrator.store.database import Database
from orchestrator.store.errors import ConstraintViolated

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
REQUESTER = Approver("rita@example.com", ("payments",), login="rita")
SAM = Approver("sam@example.com", ("acme/security",), login="sam")
SUE = Approver("sue@example.com", ("security",), login="sue")
OWEN = Approver("owen@example.com", ("network",), login="owen")
STAGES = [
    ApprovalStage.model_validate({"name": "security", "teams": ["security"], "expiresAfter": "1d"}),
    ApprovalStage.model_validate(
        {"name": "network", "teams": ["network"], "when": "fields.zone == 'example.com'"}
    ),
]


def setup_request(url: str, status: str = "awaiting_approval") -> str:
    """A catalog item, its version and one request in ``status`` (fixtures, not product SQL)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO catalog_items (id, name, description, category, owner_team, version,"
            " definition, content_hash, source_path) VALUES ('gated', 'Gated', 'd', 'access',"
            " 'security', '1.0.0', '{}', 'h', 'gated.yaml') ON CONFLICT DO NOTHING"
        )
        conn.execute(
            "INSERT INTO catalog_item_versions (item_id, version, content_hash, definition,"
            " source_path) VALUES ('gated', '1.0.0', 'h', '{}', 'gated.yaml')"
            " ON CONFLICT DO NOTHING"
        )
        row = conn.execute(
            "INSERT INTO requests (catalog_item_id, catalog_version_id, catalog_item_version,"
            " status, requester_email, correlation_id) SELECT 'gated', id, '1.0.0', %s, %s, 'c'"
            " FROM catalog_item_versions WHERE item_id = 'gated' RETURNING id",
            (status, REQUESTER.email),
        ).fetchone()
    assert row is not None
    return str(row[0])


def facts(revision: str = "r1", zone: str = "example.com") -> RequestFacts:
    return RequestFacts(REQUESTER, revision, {"fields": {"zone": zone}})


def minutes(n: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


async def test_the_requests_table_accepts_awaiting_approval(database_url: str) -> None:
    request_id = setup_request(database_url, "awaiting_approval")
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT status FROM requests WHERE id = %s", (request_id,)).fetchone()
    assert row == ("awaiting_approval",)


async def test_a_gate_passes_stage_by_stage_and_the_inbox_follows(
    db: Database, database_url: str
) -> None:
    request_id = setup_request(database_url)
    service = ApprovalService(db)
    async with db.transaction() as conn:
        started = await service.start(conn, request_id, STAGES, facts(), now=T0)
    assert started.outcome == "pending"
    assert started.current is not None
    assert started.current.name == "security"

    assert [e.request_id for e in await service.inbox(None, SAM)] == [request_id]
    assert [e.request_id for e in await service.inbox(None, SUE)] == [request_id]
    assert await service.inbox(None, OWEN) == []  # network's turn has not come
    requester_in_team = Approver(REQUESTER.email, ("security",))
    assert await service.inbox(None, requester_in_team) == []  # separation of duties
    entry = (await service.inbox(None, SAM))[0]
    assert entry.stage == "security"
    assert entry.expires_at == T0 + dt.timedelta(days=1)

    async with db.transaction(actor=OWEN.email) as conn:
        refused = await service.decide(
            conn, request_id, STAGES, facts(), OWEN, "approve", now=minutes(1)
        )
    assert refused.refusal_code == "not-qualified"

    async with db.transaction(actor=SAM.email) as conn:
        first = await service.decide(
            conn, request_id, STAGES, facts(), SAM, "approve", now=minutes(2)
        )
    assert first.accepted
    assert first.recorded
    assert first.decision is not None
    assert first.decision.via == "team:security"
    assert first.status.current is not None
    assert first.status.current.name == "network"
    assert await service.inbox(None, SUE) == []
    assert [e.stage for e in await service.inbox(None, OWEN)] == ["network"]

    async with db.transaction(actor=OWEN.email) as conn:
        last = await service.decide(
            conn, request_id, STAGES, facts(), OWEN, "approve", now=minutes(3)
        )
    assert last.status.outcome == "approved"
    assert await service.inbox(None, OWEN) == []
    decisions = await service.store.decisions(None, request_id)
    assert [(d.stage, d.approver) for d in decisions] == [
        ("security", SAM.identity),
        ("network", OWEN.identity),
    ]
    with psycopg.connect(database_url) as conn:
        audited = conn.execute(
            "SELECT actor FROM audit_logs WHERE table_name = 'approval_decisions' ORDER BY id"
        ).fetchall()
    assert audited == [(SAM.email,), (OWEN.email,)]


async def test_a_skipped_stage_leaves_one_and_no_stage_means_approved(
    db: Database, database_url: str
) -> None:
    request_id = setup_request(database_url)
    service = ApprovalService(db)
    async with db.transaction() as conn:
        status = await service.start(conn, request_id, STAGES[1:], facts(zone="x.internal"), now=T0)
    assert status.outcome == "approved"
    assert status.stages[0].state == "skipped"
    round_ = await service.store.get_round(None, request_id)
    assert round_ is not None
    assert round_.outcome == "approved"
    assert round_.stage is None


async def test_a_new_revision_restarts_the_round_and_old_decisions_stop_counting(
    db: Database, database_url: str
) -> None:
    request_id = setup_request(database_url)
    service = ApprovalService(db)
    async with db.transaction() as conn:
        await service.start(conn, request_id, STAGES, facts("r1"), now=T0)
        approved = await service.decide(
            conn, request_id, STAGES, facts("r1"), SAM, "approve", now=minutes(1)
        )
    assert approved.status.current is not None
    assert approved.status.current.name == "network"

    async with db.transaction() as conn:
        again = await service.start(conn, request_id, STAGES, facts("r2"), now=minutes(5))
    assert again.current is not None
    assert again.current.name == "security"
    assert [d.revision for d in again.stale] == ["r1"]
    round_ = await service.store.get_round(None, request_id)
    assert round_ is not None
    assert (round_.revision, round_.started_at) == ("r2", minutes(5))
    assert [e.stage for e in await service.inbox(None, SAM)] == ["security"]

    async with db.transaction() as conn:
        same = await service.store.open_round(conn, request_id, "r2", started_at=minutes(9))
    assert not same.reset
    assert same.started_at == minutes(5)


async def test_a_repeated_approval_is_idempotent_and_a_rejection_needs_a_reason(
    db: Database, database_url: str
) -> None:
    request_id = setup_request(database_url)
    service = ApprovalService(db)
    stages = [STAGES[0].model_copy(update={"count": 2})]
    async with db.transaction() as conn:
        await service.start(conn, request_id, stages, facts(), now=T0)
    async with db.transaction() as conn:
        first = await service.decide(conn, request_id, stages, facts(), SAM, "approve", now=T0)
    async with db.transaction() as conn:
        repeat = await service.decide(conn, request_id, stages, facts(), SAM, "approve", now=T0)
    assert first.recorded
    assert repeat.accepted
    assert not repeat.recorded
    assert repeat.decision == first.decision

    store = ApprovalStore(db)
    bad = Decision("security", SUE.identity, "reject", "r1", T0, "team:security", None)
    with pytest.raises(ConstraintViolated):
        await store.record(None, request_id, bad)
    async with db.transaction() as conn:
        rejected = await service.decide(
            conn, request_id, stages, facts(), SUE, "reject", now=T0, reason="no ticket"
        )
    assert rejected.status.outcome == "rejected"
    assert await service.inbox(None, SUE) == []


async def _race(db: Database, action: Any) -> list[Any]:
    """Run ``action(conn)`` in two transactions on two connections at once."""
    gate = asyncio.Event()

    async def one() -> Any:
        async with db.transaction() as conn:
            await gate.wait()
            return await action(conn)

    tasks = [asyncio.create_task(one()), asyncio.create_task(one())]
    await asyncio.sleep(0.05)  # both transactions open; the result does not depend on it
    gate.set()
    return list(await asyncio.gather(*tasks))


async def test_concurrent_identical_approvals_are_counted_once(
    db: Database, database_url: str
) -> None:
    request_id = setup_request(database_url)
    service = ApprovalService(db)
    stages = [STAGES[0].model_copy(update={"count": 2})]
    async with db.transaction() as conn:
        await service.start(conn, request_id, stages, facts(), now=T0)

    results = await _race(
        db,
        lambda conn: service.decide(conn, request_id, stages, facts(), SAM, "approve", now=T0),
    )
    assert sorted(r.recorded for r in results) == [False, True]
    assert all(r.accepted for r in results)
    assert len(await service.store.decisions(None, request_id)) == 1
    status = await service.status(None, request_id, stages, facts(), now=T0)
    assert status is not None
    assert status.outcome == "pending"
    assert status.current is not None
    assert status.current.remaining == 1


async def test_the_unique_key_alone_counts_racing_twins_once(
    db: Database, database_url: str
) -> None:
    """Without the round's lock (two writers going straight to the store), the constraint
    still keeps one row, and both writers get that row back."""
    request_id = setup_request(database_url)
    store = ApprovalStore(db)
    twin = Decision("security", SAM.identity, "approve", "r1", T0, "team:security")

    results = await _race(db, lambda conn: store.record(conn, request_id, twin))
    assert sorted(recorded for _, recorded in results) == [False, True]
    assert results[0][0] == results[1][0]
    assert len(await store.decisions(None, request_id)) == 1


async def test_expired_rounds_are_listed_for_the_sweeper(db: Database, database_url: str) -> None:
    request_id = setup_request(database_url)
    service = ApprovalService(db)
    async with db.transaction() as conn:
        await service.start(conn, request_id, STAGES, facts(), now=T0)
    store = service.store
    assert await store.expired_rounds(None, now=T0 + dt.timedelta(hours=23)) == []
    assert await store.expired_rounds(None, now=T0 + dt.timedelta(days=1, seconds=1)) == [
        (request_id, "r1")
    ]
