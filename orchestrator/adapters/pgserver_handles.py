"""pgserver's per-process server handles, including the private pieces it offers no API for.

pgserver 0.1.x shares one ``PostgresServer`` per data directory within a process
(``PostgresServer._instances``), counts the ``with`` blocks using it (``_count``) and registers
its ``_cleanup`` with ``atexit``. Two situations need those internals and have no public way:

- a start that failed leaves its half-made handle cached (a retry in this process would get it
  back without starting anything) and its exit hook registered: both must go;
- once this process's last handle is released, the exit hook only logs, possibly into closed
  streams at interpreter exit: it is unregistered.

``tests/unit/test_adapters_pgserver.py`` checks the installed version is one of
``CHECKED_VERSIONS`` and that the pieces still have the shape used here.
"""

from __future__ import annotations

import atexit
import warnings
from pathlib import Path
from typing import Any

CHECKED_VERSIONS = frozenset({"0.1.4"})
"""pgserver versions whose private ``_instances``, ``_count`` and ``_cleanup`` were read."""


def postgres_server_module() -> Any:
    """``pgserver.postgres_server``, imported quietly (platformdirs warns at import when
    XDG_RUNTIME_DIR is unset, in containers and CI; pgserver only keeps a lock file there and
    the fallback under /tmp works)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import postgres_server
    return postgres_server


def acquire(data_dir: Path) -> Any:
    """Enter this process's shared handle on the server of ``data_dir`` (starting it when no
    process runs it); every ``acquire`` is matched by one ``release``. On failure, the handle
    pgserver cached and its exit hook are dropped, and the error is raised."""
    module = postgres_server_module()
    try:
        server = module.get_server(data_dir, cleanup_mode="stop")
        return server.__enter__()
    except Exception:
        stale = module.PostgresServer._instances.pop(data_dir, None)
        if stale is not None:
            atexit.unregister(stale._cleanup)
        raise


def release(server: Any) -> None:
    """Leave a handle ``acquire`` gave; the server stops when no process uses it any more."""
    server.__exit__(None, None, None)
    if getattr(server, "_count", 0) <= 0:
        atexit.unregister(server._cleanup)
