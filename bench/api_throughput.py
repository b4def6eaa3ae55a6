"""Benchmark: API throughput on this machine, against a trivial Litestar baseline in the same run.

1. GET /api/v1/catalog/items/{id} with the Redis cache warm vs. a trivial Litestar endpoint
   returning the same bytes from memory; same uvicorn settings (one worker, no access log).
   Goal: PAO reaches at least 70% of the baseline's throughput.
2. POST /api/v1/requests (validation, one transaction with audit and job): throughput and p99.
   Goal: at least 300 requests/s with p99 under 100 ms.

    python3 -m bench.api_throughput [--seconds 10] [--connections 16]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres; a
scratch database pao_bench is created there) and Redis (REDIS_URL, default db 15 on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

from bench.loadgen import LoadResult, build_request, run_load
from rehearsal.samples import FIELDS, ITEM

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                sys.exit(f"{factory} exited with {process.returncode}")
            time.sleep(0.1)
    process.kill()
    sys.exit(f"{factory} did not start")


def fresh_database(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS pao_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE pao_bench")
    return psycopg.conninfo.make_conninfo(admin_url, dbname="pao_bench")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    database_url = fresh_database(admin)
    pao_port, base_port = free_port(), free_port()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"),
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_MAX": "20",
    }
    pao = start("api.app:app_from_env", pao_port, env)
    try:
        url = f"http://127.0.0.1:{pao_port}/api/v1/catalog/items/{ITEM}"
        body = urllib.request.urlopen(url).read()
        urllib.request.urlopen(url).read()
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            handle.write(body)
        base = start(
            "bench.trivial_app:app_factory", base_port, {"PAO_BENCH_BODY_FILE": handle.name}
        )
        try:
            get_request = build_request("GET", f"/api/v1/catalog/items/{ITEM}")
            results: dict[str, LoadResult] = {}
            for name, port in (
                ("baseline", base_port),
                ("pao", pao_port),
                ("baseline-2", base_port),
                ("pao-2", pao_port),
            ):
                results[name] = asyncio.run(
                    run_load(
                        port,
                        lambda i, n: get_request,
                        connections=args.connections,
                        seconds=args.seconds / 2,
                    )
                )
        finally:
            base.terminate()
            base.wait()
        pao_rps = (results["pao"].requests + results["pao-2"].requests) / (
            results["pao"].seconds + results["pao-2"].seconds
        )
        base_rps = (results["baseline"].requests + results["baseline-2"].requests) / (
            results["baseline"].seconds + results["baseline-2"].seconds
        )
        print(f"GET item, {len(body)} bytes, {args.connections} connections:")
        print(f"  trivial Litestar baseline: {results['baseline'].summary()}")
        print(f"  PAO (cache warm)         : {results['pao'].summary()}")
        print(
            f"  ratio PAO / baseline     : {pao_rps / base_rps:.2f} ({pao_rps:.0f} / {base_rps:.0f} req/s)"
        )

        def submit(i: int, n: int) -> bytes:
            payload = {
                "catalog_item": ITEM,
                "fields": {**FIELDS, "instanceName": f"db-{i}-{n % 1000:03d}"},
            }
            return build_request("POST", "/api/v1/requests", json.dumps(payload).encode())

        post = asyncio.run(run_load(pao_port, submit, connections=8, seconds=args.seconds))
        print("POST /api/v1/requests, 8 connections:")
        print(f"  {post.summary()}")
    finally:
        pao.terminate()
        pao.wait()


if __name__ == "__main__":
    main()
