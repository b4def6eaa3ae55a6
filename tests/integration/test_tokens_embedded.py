"""`pao tokens` with no DATABASE_URL: the embedded PostgreSQL `pao serve` uses, attached to while
it runs (never stopped under it), started (and migrated) when nothing runs it."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orchestrator.cli import build_parser
from orchestrator.store.embedded import EmbeddedPostgres, embedded_data_dir
from orchestrator.tokens_cli import run_tokens_command
from tests.integration.conftest import remove_later


@pytest.fixture
def pao_data_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Not under pytest's tmp_path (private to root): pgserver's own user must reach it.
    base = Path(tempfile.mkdtemp(prefix="pao-tokens-test-"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PAO_DATA_DIR", str(base))
    try:
        yield base
    finally:
        remove_later(base)


def tokens(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_tokens_command(build_parser().parse_args(["tokens", *argv]), out, err)
    return code, out.getvalue(), err.getvalue()


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def test_tokens_use_the_embedded_database_of_pao_serve(pao_data_dir: Path) -> None:
    with EmbeddedPostgres(embedded_data_dir(pao_data_dir)) as served:  # as `pao serve` holds it
        code, out, err = tokens(
            "create", "--user", "sam@example.com", "--teams", "security", "--actor", "me@cli"
        )
        assert code == 0, err
        assert f"embedded PostgreSQL under {embedded_data_dir(pao_data_dir)}" in err
        created = json.loads(out)
        assert answers(served.url), "pao tokens stopped the server pao serve was using"
        with psycopg.connect(served.url) as conn:
            stored = conn.execute(
                "SELECT user_email, teams FROM user_sessions WHERE id = %s", (created["id"],)
            ).fetchone()
        assert stored == ("sam@example.com", ["security"])
        url = served.url

    assert not answers(url)
    code, out, err = tokens("list")  # nothing runs it now: started, used, stopped again
    assert code == 0, err
    assert [t["id"] for t in json.loads(out)] == [created["id"]]
    assert not answers(url), "pao tokens left the embedded server it started running"
