"""Real PostgreSQL and Redis for integration tests, a fresh database per test.

PostgreSQL: the server at ``TEST_DATABASE_URL`` when set (CI), otherwise an embedded pgserver
started once per session, so the suite passes on a machine without a database server. The
migrations run once, into a template database unique to this session; each test gets
``CREATE DATABASE ... TEMPLATE`` of it (about a tenth of a second, versus re-running every
migration). Clones are made one test ahead and dropped behind the tests on worker threads: on a
server with fsync on, ``DROP DATABASE`` waits for a checkpoint, and concurrent drops share one.

Redis: ``REDIS_URL`` when set, otherwise Redis tests skip with the reason. Each session claims
one database index (1-15, never the URL's own) and flushes it around every test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from orchestrator.store.database import Database
from orchestrator.store.embedded import EmbeddedPostgres
from orchestrator.store.migrator import migrate

# The API tests' fixtures (owned by the API work), registered here so pytest finds them.
from tests.integration.api_fixtures import (  # noqa: F401
    api_settings,
    client,
    services,
    token_services,
)

# moto's server (SQS) and fresh queues per test, for the SQS queue backend's tests.
from tests.integration.sqs_harness import moto_server, sqs_queues  # noqa: F401


def remove_later(path: Path) -> None:
    """Delete a directory tree in a detached process: removing a PostgreSQL data directory
    takes seconds on some disks (ext4 with online discard), and nothing waits for it."""
    rm = shutil.which("rm")
    if rm is None:
        shutil.rmtree(path, ignore_errors=True)
        return
    subprocess.Popen(
        [rm, "-rf", "--", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead (URL or key=value form)."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{name}"))
    return make_conninfo(url, dbname=name)


class TestDatabases:
    """Creates the session's template and hands out clones of it; drops them in the background."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, admin_url: str, url_for: Callable[[str], str]) -> None:
        self.admin_url = admin_url
        self.url_for = url_for
        self.prefix = f"pao_test_{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.prefix}_tpl"
        self._counter = 0
        self._lock = threading.Lock()
        self._creator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-clone")
        self._dropper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pg-drop")
        self._next: Future[str] | None = None
        self._drops: list[Future[None]] = []

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.admin_url, autocommit=True)

    def create_template(self) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        asyncio.run(migrate(self.url_for(self.template)))

    def _name(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{self.prefix}_{self._counter}"

    def _create(self, template: str) -> str:
        name = self._name()
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return name

    def clone(self) -> str:
        """A new database with the migrated schema; the next one starts being made now."""
        future = self._next or self._creator.submit(self._create, self.template)
        self._next = self._creator.submit(self._create, self.template)
        return future.result()

    def empty(self) -> str:
        """A new database with nothing in it (for migration tests)."""
        return self._create("template0")

    def drop(self, name: str) -> None:
        self._drops.append(self._dropper.submit(self._drop, name))

    def _drop(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def close(self) -> None:
        if self._next is not None:
            self.drop(self._next.result())
        self._creator.shutdown(wait=True)  # nothing is being cloned from the template now
        self.drop(self.template)
        self._dropper.shutdown(wait=True)
        failures = [f.exception() for f in self._drops if f.exception() is not None]
        if failures:
            warnings.warn(f"could not drop test databases: {failures}", stacklevel=1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, Callable[[str], str]]]:
    """(admin URL, database name -> URL) of the session's PostgreSQL server."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        yield url, lambda name: with_database(url, name)
        return
    base = Path(tempfile.mkdtemp(prefix="pao-test-pg-"))
    server = EmbeddedPostgres(base / "pgdata", database="postgres")
    try:
        server.start()
        with psycopg.connect(server.url, autocommit=True) as conn:
            # A throwaway server: durability only costs time here.
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
            conn.execute("SELECT pg_reload_conf()")
        yield server.url, server.url_for
    finally:
        server.stop()
        remove_later(base)


@pytest.fixture(scope="session")
def test_databases(
    postgres_server: tuple[str, Callable[[str], str]],
) -> Iterator[TestDatabases]:
    admin_url, url_for = postgres_server
    databases = TestDatabases(admin_url, url_for)
    try:
        databases.create_template()
        yield databases
    finally:
        databases.close()


@pytest.fixture
def database_url(test_databases: TestDatabases) -> Iterator[str]:
    """URL of a fresh, migrated database of this test's own."""
    name = test_databases.clone()
    try:
        yield test_databases.url_for(name)
    finally:
        test_databases.drop(name)


@pytest.fixture
def empty_database_url(test_databases: TestDatabases) -> Iterator[str]:
    """URL of a fresh database with no schema at all (migrations not applied)."""
    name = test_databases.empty()
    try:
        yield test_databases.url_for(name)
    finally:
        test_databases.drop(name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open ``Database`` on this test's fresh database."""
    database = await Database.open(database_url, min_size=1, max_size=4, name="pao-test")
    try:
        yield database
    finally:
        await database.close()


# --- Redis -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_session_url() -> Iterator[str]:
    """``REDIS_URL`` moved to a database index this session claimed: concurrent sessions on one
    Redis each get their own index, and the URL's own index is never flushed. Claims are
    expiring keys ``pao:test-claim:<index>`` in the URL's own database, so the test database
    itself starts truly empty."""
    base = os.environ.get("REDIS_URL", "").strip()
    if not base:
        pytest.skip("REDIS_URL not set: Redis tests need a Redis server")
    import redis

    parts = urlsplit(base)
    own = parts.path.strip("/") or "0"
    token = f"{os.getpid()}-{secrets.token_hex(4)}".encode()
    claims = redis.Redis.from_url(base)
    try:
        for index in range(15, 0, -1):
            key = f"pao:test-claim:{index}"
            if str(index) == own or not claims.set(key, token, nx=True, ex=_CLAIM_SECONDS):
                continue
            url = urlunsplit(parts._replace(path=f"/{index}"))
            try:
                yield url
            finally:
                with redis.Redis.from_url(url) as client:
                    client.flushdb()
                if claims.get(key) == token:
                    claims.delete(key)
            return
        pytest.skip("REDIS_URL: database indexes 1-15 are all claimed by other test sessions")
    finally:
        claims.close()


_CLAIM_SECONDS = 6 * 3600


@pytest.fixture
def redis_url(redis_session_url: str) -> Iterator[str]:
    """URL of an empty Redis database for this test (flushed before and after)."""
    import redis

    with redis.Redis.from_url(redis_session_url) as redis_client:
        redis_client.flushdb()
        yield redis_session_url
        redis_client.flushdb()
