"""`pao serve` as a person runs it: a child process on a free loopback port, against the test's
fresh database (PAO_REHEARSAL=on, since DATABASE_URL alone turns the rehearsal off)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    database_url: str, workdir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[Served]:
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PAO_", "CATALOG_"))}
    keep.pop("REDIS_URL", None)
    env = {**keep, "DATABASE_URL": database_url, "PAO_REHEARSAL": "on", **(extra_env or {})}
    log = workdir / "pao-serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    served = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"pao serve exited:\n{served.output()}")
            try:
                if httpx.get(f"{served.url}/api/v1/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"pao serve did not become ready:\n{served.output()}")
            time.sleep(0.2)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Approvers of the example catalog's gates (issue 21): `pao serve`'s local admin is the
# requester there and may not approve its own request (separation of duties).
EXAMPLE_APPROVER_TEAMS = ("security", "platform", "network")


def approve_as_approvers(database_url: str, request_id: str) -> str:
    """Approve every stage of ``request_id``'s gate as a qualified person (through the core,
    on the served database, as the API would); the outcome (``approved``)."""
    import asyncio
    import uuid

    from orchestrator.identity.principal import Principal
    from orchestrator.services import open_services
    from orchestrator.settings import Settings

    approver = Principal(email="approver@example.com", teams=EXAMPLE_APPROVER_TEAMS)

    async def approve() -> str:
        services = await open_services(Settings.from_env({}), database_url=database_url)
        try:
            outcome = "pending"
            for _stage in range(10):
                decided = await services.approval_gates.decide(
                    uuid.UUID(request_id),
                    approver,
                    "approve",
                    correlation_id="test-approval",
                    source="api",
                )
                outcome = decided.outcome
                if outcome != "pending":
                    break
            return outcome
        finally:
            await services.close()

    return asyncio.run(approve())
