"""Fault run: requests through real `pao worker` processes killed at random, against a target
that answers 500s, 429s and hangs. Not a speed benchmark: it reports how requests end.

    python3 -m bench.fault_run [--requests 300] [--workers 2] [--kill-every 3]

Submits ``--requests`` requests for a three-action ``rest-api`` chain (each action with a
timeout shorter than the job lease and a declared retry policy) to a fresh database, starts
``--workers`` ``pao worker`` processes and SIGKILLs one of them, chosen at random, every
``--kill-every`` seconds (on average), restarting it at once; the target is
``bench/chaos_target.py``. When every request has ended (or ``--limit`` seconds passed) it
prints: requests by status, the failures by reason, requests stuck (not ended), failures caused
by the circuit breaker or by worker crashes (there should be none: a crash is redelivered and an
open circuit delays, neither is a reason to fail), and side effects the target saw twice.

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres; a
scratch database pao_bench_faults is created there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import psycopg

from bench.api_throughput import free_port, start
from orchestrator.identity.principal import Principal
from orchestrator.requests.service import RequestDraft
from orchestrator.services import open_services
from orchestrator.settings import Settings
from rehearsal.samples import item_document

ACTIONS = ["network", "database", "register"]
ENDED = ("completed", "failed", "aborted", "escalated")


def fresh_database(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS pao_bench_faults WITH (FORCE)")
        conn.execute("CREATE DATABASE pao_bench_faults")
    return psycopg.conninfo.make_conninfo(admin_url, dbname="pao_bench_faults")


def chain() -> list[dict[str, Any]]:
    return [
        {
            "id": action_id,
            "type": "rest-api",
            "timeout": "3s",
            "retry": {"maxAttempts": 5, "initialDelay": "1s", "maxDelay": "4s"},
            "config": {
                "method": "POST",
                "url": "{{environment.TARGET_URL}}/api/v2/resources",
                "body": {"name": f"{{{{fields.instanceName}}}}-{action_id}"},
                "outputs": {"resource_id": "id"},
            },
        }
        for action_id in ACTIONS
    ]


async def submit(database_url: str, target_url: str, requests: int) -> None:
    settings = Settings.from_env({"CATALOG_LOCAL_PATH": ""})
    services = await open_services(settings, database_url=database_url)
    try:
        document = item_document("fault-chain", chain())
        report = services.catalog.validator.validate_texts([("fault.yaml", json.dumps(document))])
        if report.issues:
            sys.exit(f"the fault-run item is invalid: {report.issues}")
        await services.catalog.store_report(report, git_sha=None)
        principal = Principal(email="faults@example.com", teams=("bench",))
        for n in range(requests):
            await services.requests.submit(
                RequestDraft(catalog_item="fault-chain", fields={"instanceName": f"db{n}"}),
                principal,
                correlation_id=f"fault-{n}",
            )
    finally:
        await services.close()


def worker(database_url: str, target_url: str, log: Any) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CATALOG_LOCAL_PATH": "",
        "TARGET_URL": target_url,
        "PAO_TEMPLATE_ENV_ALLOWLIST": "TARGET_URL",
        "REST_API_ALLOWED_HOSTS": "127.0.0.1",
        "PAO_JOB_LEASE_SECONDS": "5",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "worker"], env=env, stdout=log, stderr=log
    )


def statuses(database_url: str) -> Counter[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM requests GROUP BY status").fetchall()
    return Counter({str(status): int(n) for status, n in rows})


def failure_reasons(database_url: str) -> Counter[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT a.error->>'message' FROM request_actions a JOIN requests r"
            " ON r.id = a.request_id WHERE r.status = 'failed' AND a.status = 'failed'"
        ).fetchall()
    reasons: Counter[str] = Counter()
    for (message,) in rows:
        text = str(message or "?")
        for digit in "0123456789":  # group "attempt 3", "res-12", ... under one reason
            text = text.replace(digit, "#")
        reasons[text[:140]] += 1
    return reasons


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds, on average")
    parser.add_argument("--limit", type=float, default=900.0, help="give up after (seconds)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)  # which worker dies when, not crypto
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    database_url = fresh_database(admin)
    port = free_port()
    target_url = f"http://127.0.0.1:{port}"
    target = start("bench.chaos_target:app", port, {"CHAOS_SEED": str(args.seed)})
    kills = 0
    log_path = "/tmp/pao-fault-run-workers.log"
    with open(log_path, "wb") as log:
        try:
            asyncio.run(submit(database_url, target_url, args.requests))
            workers = [worker(database_url, target_url, log) for _ in range(args.workers)]
            started = time.monotonic()
            while time.monotonic() - started < args.limit:
                time.sleep(rng.uniform(0.3, 1.7) * args.kill_every)
                counts = statuses(database_url)
                ended = sum(counts[s] for s in ENDED)
                print(f"  {time.monotonic() - started:5.0f}s  {dict(counts)}  kills {kills}")
                if ended == args.requests:
                    break
                for process in workers:
                    if process.poll() is not None:  # it died on its own: not a fault run
                        sys.exit(f"a worker exited with {process.returncode}; see {log_path}")
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                kills += 1
                workers[victim] = worker(database_url, target_url, log)
            elapsed = time.monotonic() - started
            for process in workers:
                process.send_signal(signal.SIGTERM)
            for process in workers:
                process.wait(timeout=30)
            report = httpx.get(f"{target_url}/report").json()
        finally:
            target.terminate()
            target.wait()
    counts = statuses(database_url)
    reasons = failure_reasons(database_url)
    stuck = args.requests - sum(counts[s] for s in ENDED)
    breaker = sum(n for reason, n in reasons.items() if "circuit" in reason.lower())
    crashed = sum(n for reason, n in reasons.items() if "crash" in reason.lower())
    print(
        f"fault run: {args.requests} requests, {len(ACTIONS)} actions each, "
        f"{args.workers} workers, {kills} SIGKILLs, {elapsed:.0f} s"
    )
    print(f"  requests by status: {dict(counts)}")
    print(f"  stuck (not ended): {stuck}")
    print(f"  failed by the circuit breaker: {breaker}; by worker crashes: {crashed}")
    for reason, n in reasons.most_common():
        print(f"  failure x{n}: {reason}")
    print(f"  target answers: {report['answers']}")
    print(
        f"  side effects: {report['created']} created, "
        f"{len(report['duplicated'])} done twice {report['duplicated'] or ''}"
    )
    print(f"  worker logs: {log_path}")


if __name__ == "__main__":
    main()
