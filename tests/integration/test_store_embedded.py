"""The embedded PostgreSQL (pgserver): start, attach, stop, restart on existing data, failure."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from orchestrator.store.embedded import EmbeddedPostgres, EmbeddedStartError
from tests.integration.conftest import remove_later


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: as root, pgserver opens every parent directory to its
    # 'pgserver' user, and pytest keeps its own base directory private (0700).
    base = Path(tempfile.mkdtemp(prefix="pao-embedded-test-"))
    try:
        yield base / "pgdata"
    finally:
        remove_later(base)


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def test_start_attach_stop_and_restart_on_existing_data(data_dir: Path) -> None:
    with EmbeddedPostgres(data_dir) as server:
        url = server.url
        query = parse_qs(urlsplit(url).query)
        assert query["host"] == [str(data_dir.resolve())]  # a unix socket in the data dir
        assert urlsplit(url).path == "/pao"
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("pao",)
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('survives a restart')")
        if os.geteuid() == 0:  # PostgreSQL never runs as root: pgserver's own user does
            assert data_dir.stat().st_uid != 0

        second = EmbeddedPostgres(data_dir)
        assert second.start() == url  # attaches to the running server
        second.stop()
        assert answers(url), "stopping the second handle stopped the server under the first"

    assert not answers(url), "the server still runs after its last handle stopped"

    with EmbeddedPostgres(data_dir) as restarted, psycopg.connect(restarted.url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("survives a restart",)]


def test_a_server_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory's parent should be")

    with pytest.raises(EmbeddedStartError, match="embedded PostgreSQL directory"):
        EmbeddedPostgres(blocker / "pgdata").start()


def test_a_broken_data_directory_is_a_clear_error(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "PG_VERSION").write_text("9\n")  # looks initialised, is not

    with pytest.raises(
        EmbeddedStartError,
        match=r"(?s)did not start.*: pg_ctl exited with status 1.*Set DATABASE_URL.*its log",
    ):
        EmbeddedPostgres(data_dir).start()


def test_url_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedStartError, match="not running"):
        _ = EmbeddedPostgres(tmp_path / "pgdata").url
