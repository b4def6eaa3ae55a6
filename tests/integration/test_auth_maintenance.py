"""`pao maintenance`: retention of finished requests, audit rows and dead tokens."""

from __future__ import annotations

import io
import json

import psycopg
import pytest

from orchestrator.cli import build_parser
from orchestrator.maintenance_cli import run_maintenance_command


def seed(conn: psycopg.Connection) -> None:
    """Two finished requests (one old), one old failed request, old and new audit rows, a live,
    an expired and a revoked token."""
    conn.execute(
        "INSERT INTO requests (id, catalog_item_id, catalog_version_id, catalog_item_version,"
        " fields, requester_email, source, correlation_id, status, completed_at) "
        "SELECT gen_random_uuid(), i.id, v.id, i.version, '{}', 'a@example.com', 'api', 'c', s, d"
        " FROM catalog_items i JOIN catalog_item_versions v ON v.item_id = i.id, (VALUES ('completed', now() - interval '100 days'),"
        " ('completed', now() - interval '5 days'), ('failed', now() - interval '200 days'),"
        " ('aborted', now() - interval '91 days')) AS t(s, d) LIMIT 4"
    )
    conn.execute(
        "INSERT INTO audit_logs (table_name, row_id, operation, created_at) VALUES"
        " ('requests', 'x', 'UPDATE', now() - interval '400 days'),"
        " ('requests', 'y', 'UPDATE', now() - interval '10 days')"
    )
    conn.execute(
        "INSERT INTO user_sessions (token_hash, user_email, expires_at, revoked_at) VALUES"
        " ('h1', 'a@example.com', now() + interval '1 day', NULL),"
        " ('h2', 'a@example.com', now() - interval '1 day', NULL),"
        " ('h3', 'a@example.com', now() + interval '1 day', now())"
    )
    conn.execute(
        "INSERT INTO used_signatures (signature, expires_at) VALUES"
        " ('s1', now() - interval '1 minute'), ('s2', now() + interval '5 minutes')"
    )


def test_maintenance_deletes_only_what_is_past_retention(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO catalog_item_versions (item_id, version, content_hash, definition,"
            " source_path) VALUES ('db', '1.0.0', 'h', '{}', 'db.yaml')"
        )
        conn.execute(
            "INSERT INTO catalog_items (id, name, description, category, owner_team, version,"
            " definition, content_hash, source_path) VALUES ('db', 'DB', 'd', 'c', 'dba', '1.0.0',"
            " '{}', 'h', 'db.yaml')"
        )
        seed(conn)
    parser = build_parser()

    def run(*argv: str) -> dict[str, object]:
        out = io.StringIO()
        assert run_maintenance_command(parser.parse_args(["maintenance", *argv]), out) == 0
        result: dict[str, object] = json.loads(out.getvalue())
        return result

    expected = {
        "audit_rows": 1,
        "requests": 2,
        "tokens": 2,
        "aws_signatures": 1,
        "outbox_rows": 0,
    }
    assert run("--dry-run") == {"dry_run": True, "deleted": expected}
    assert run() == {"dry_run": False, "deleted": expected}
    assert run()["deleted"] == dict.fromkeys(expected, 0)
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT status FROM requests ORDER BY status").fetchall()
        tokens = conn.execute("SELECT token_hash FROM user_sessions").fetchall()
        audit = conn.execute(
            "SELECT actor, source FROM audit_logs WHERE operation = 'DELETE'"
        ).fetchall()
        old = conn.execute("SELECT count(*) FROM audit_logs WHERE row_id = 'x'").fetchone()
    assert left == [("completed",), ("failed",)]
    assert tokens == [("h1",)]
    assert old == (0,)
    # The deletions are audited, by maintenance.
    assert ("pao-maintenance", "maintenance") in audit
