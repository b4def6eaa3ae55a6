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
