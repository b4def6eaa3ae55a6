"""The private pieces of pgserver that ``orchestrator.adapters.pgserver_handles`` relies on are
still there with the shape it uses: an upgrade that moves them fails here, loudly, not at the
first failed start of a newcomer's embedded PostgreSQL."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from orchestrator.adapters import pgserver_handles


def test_the_installed_pgserver_is_a_checked_version() -> None:
    installed = version("pgserver")
    assert installed in pgserver_handles.CHECKED_VERSIONS, (
        f"pgserver {installed} is not among the versions whose private handles were checked "
        f"({sorted(pgserver_handles.CHECKED_VERSIONS)}): re-read postgres_server.py, adjust "
        "orchestrator/adapters/pgserver_handles.py and add the version"
    )


def test_handles_are_cached_per_directory_in_a_class_dict() -> None:
    server_class = pgserver_handles.postgres_server_module().PostgresServer
    assert isinstance(server_class.__dict__.get("_instances"), dict)
    # get_server hands back the cached handle: the cache is what a failed start must leave.
    assert "PostgresServer._instances[pgdata]" in inspect.getsource(
        pgserver_handles.postgres_server_module().get_server
    )


def test_the_exit_hook_is_the_registered_cleanup_method() -> None:
    server_class = pgserver_handles.postgres_server_module().PostgresServer
    assert callable(server_class.__dict__.get("_cleanup"))
    assert "atexit.register(self._cleanup)" in inspect.getsource(server_class.__init__)


def test_with_blocks_are_counted_in_count() -> None:
    server_class = pgserver_handles.postgres_server_module().PostgresServer
    handle = object.__new__(server_class)  # no server started: only the counter is exercised
    handle._count = 0
    assert handle.__enter__() is handle
    assert handle._count == 1
    handle._count = 2  # another user still holds it: leaving must not clean up
    handle.__exit__(None, None, None)
    assert handle._count == 1
