"""A real PostgreSQL for machines without one: the ``pgserver`` wheel, under a data directory.

Used when no ``DATABASE_URL`` is configured, so a newcomer runs the same SQL dialect as
production with nothing installed. The server listens on a unix socket inside its data directory
only (no TCP port to collide with a system PostgreSQL), and accepts local connections without a
password (``initdb --auth=trust``): it is a development server, never a production one.

Running as root (containers, CI): PostgreSQL refuses to run as root, so pgserver 0.1.4 runs
``initdb`` and ``pg_ctl`` as a system user named ``pgserver``, which it creates with ``useradd``
when missing. To let that user reach the data directory it chowns the data directory to it and
adds ``go+rx`` to every parent directory up to ``/`` (and to its own install directory). Keep the
data directory under a path where that is acceptable (the default ``./.pao/pgdata`` in a project
checkout, or a temporary directory). Without ``useradd`` (a minimal image) create the user first:
``useradd --system pgserver``.

Several processes may use the same data directory: the first starts the server, later ones
attach to it, and the last one to stop shuts it down (pgserver keeps a list of handles in the
data directory).
"""

from __future__ import annotations

import logging
import os
import subprocess
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from orchestrator.adapters import pgserver_handles

DEFAULT_DATA_DIR = Path(".pao/pgdata")
SERVER_USER = "postgres"  # the database superuser pgserver's initdb creates


def embedded_data_dir(pao_data_dir: Path) -> Path:
    """The embedded server's data directory under ``PAO_DATA_DIR``: one rule, so ``pao serve``,
    ``pao db`` and ``pao tokens`` reach the same server (a later one attaches to a running one)."""
    return pao_data_dir / "pgdata"


class _ChattyToDebug(logging.Filter):
    """pgserver logs every initdb / pg_ctl command with its whole output at INFO: those records
    become DEBUG (shown with LOG_LEVEL=DEBUG); its warnings and errors keep their level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _quiet_pgserver() -> None:
    pgserver_log = logging.getLogger("pgserver")
    if not any(isinstance(f, _ChattyToDebug) for f in pgserver_log.filters):
        pgserver_log.addFilter(_ChattyToDebug())


class EmbeddedStartError(RuntimeError):
    """The embedded PostgreSQL did not start; the message says why and where its log is."""


class EmbeddedPostgres:
    """Start (or attach to) the embedded server; use as a context manager or call ``stop()``."""

    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR, *, database: str = "pao") -> None:
        self.data_dir = data_dir
        self.database = database
        self._server: Any = None  # pgserver.PostgresServer; pgserver's typing is partial
        self._socket_dir: Path | None = None
        self._port = 5432

    def start(self) -> str:
        """Start the server if needed, create the database if missing; return its URL."""
        if self._server is not None:
            return self.url
        data_dir = self.data_dir.expanduser().resolve()
        _quiet_pgserver()
        try:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedStartError(
                f"cannot create the embedded PostgreSQL directory {data_dir.parent}: {exc}"
            ) from exc
        try:
            # pgserver shares one handle per data directory within a process and counts its
            # users: entering it here and releasing it in stop() keeps a second EmbeddedPostgres
            # on the same directory from stopping the server under the first.
            self._server = pgserver_handles.acquire(data_dir)
        except Exception as exc:
            raise EmbeddedStartError(self._explain(data_dir, exc)) from exc
        info = self._server.get_postmaster_info()
        if info.socket_dir is None:  # pragma: no cover - pgserver uses sockets off Windows
            self.stop()
            raise EmbeddedStartError("the embedded PostgreSQL reported no unix socket directory")
        self._socket_dir = Path(info.socket_dir)
        self._port = int(info.port or 5432)
        try:
            self._create_database()
        except psycopg.Error as exc:
            self.stop()
            raise EmbeddedStartError(
                f"the embedded PostgreSQL started but database {self.database!r} could not be "
                f"created: {exc}"
            ) from exc
        return self.url

    def url_for(self, database: str) -> str:
        """A libpq URL for ``database`` on this server, through its unix socket."""
        if self._socket_dir is None:
            raise EmbeddedStartError("the embedded PostgreSQL is not running; call start() first")
        host = quote(str(self._socket_dir), safe="/")
        return f"postgresql://{SERVER_USER}@/{quote(database)}?host={host}&port={self._port}"

    @property
    def url(self) -> str:
        """The URL of the application database (``pao`` unless told otherwise)."""
        return self.url_for(self.database)

    def stop(self) -> None:
        """Release this process's handle; the server stops when no other process uses it."""
        server, self._server, self._socket_dir = self._server, None, None
        if server is not None:
            pgserver_handles.release(server)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _create_database(self) -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                # Another process may create it between our check and our CREATE.
                with suppress(pg_errors.DuplicateDatabase, pg_errors.UniqueViolation):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database))
                    )

    @staticmethod
    def _explain(data_dir: Path, exc: Exception) -> str:
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, FileNotFoundError) and "useradd" in str(exc):
            reason = (
                "running as root, pgserver must run PostgreSQL as the system user 'pgserver' and "
                "could not create it (no useradd); create it with `useradd --system pgserver`"
            )
        elif isinstance(exc, subprocess.CalledProcessError | subprocess.TimeoutExpired):
            args = exc.cmd if isinstance(exc.cmd, list | tuple) else str(exc.cmd).split()
            command = Path(str(args[0])).name if args else "a PostgreSQL command"
            if isinstance(exc, subprocess.TimeoutExpired):
                reason = f"{command} timed out after {exc.timeout:g} s"
            elif command == "useradd":
                reason = f"could not create the system user 'pgserver': {exc.stderr or exc}"
            else:
                reason = f"{command} exited with status {exc.returncode}"
        log = data_dir / "log"
        tail = ""
        try:
            lines = log.read_text(errors="replace").splitlines()[-15:]
            tail = f"\nlast lines of its log ({log}):\n  " + "\n  ".join(lines) if lines else ""
        except OSError:
            pass
        root = " (running as root: see orchestrator/store/embedded.py)" if os.geteuid() == 0 else ""
        return (
            f"the embedded PostgreSQL under {data_dir} did not start{root}: {reason}. "
            f"Set DATABASE_URL to use another server, or remove a broken data directory.{tail}"
        )
