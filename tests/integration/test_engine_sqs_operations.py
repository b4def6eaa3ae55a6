"""Operating the SQS backend, against moto's server over loopback: creating the queues
(`pao queues create`, `pao worker --create-queues`), pruning the sent outbox rows (the relay and
`pao maintenance`), and SQS's message counts in the metrics (cached, never failing a scrape)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from orchestrator.cli import build_parser
from orchestrator.engine.metrics import EngineMetrics
from orchestrator.engine.outbox import prune_outbox
from orchestrator.engine.sqs.client import SqsPolicy, queue_name, sqs_client
from orchestrator.engine.sqs.provisioning import ensure_queues
from orchestrator.engine.sqs.queue import SqsQueue
from orchestrator.engine.sqs.relay import OutboxRelay
from orchestrator.engine.sqs.stats import SqsQueueStats
from orchestrator.maintenance_cli import run_maintenance_command
from orchestrator.services import Services
from orchestrator.settings import EngineSettings, Settings
from orchestrator.worker_cli import run_queues_create_command, run_worker_command
from tests.integration import test_engine_runner as runner
from tests.integration.api_fixtures import app_client
from tests.integration.sqs_harness import (
    ACCESS_KEY_ID,
    REGION,
    ROOT,
    SECRET_ACCESS_KEY,
    SqsQueues,
    dummy_client,
    engine_settings,
    sqs_settings,
)

pytestmark = pytest.mark.anyio

DAY = 86_400.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api_settings(sqs_queues: SqsQueues) -> Settings:
    return sqs_settings(sqs_queues)


def queue_url(endpoint: str, name: str) -> str:
    return f"{endpoint}/123456789012/{name}"


def sqs_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, name: str) -> None:
    monkeypatch.setenv("PAO_QUEUE_BACKEND", "sqs")
    monkeypatch.setenv("SQS_QUEUE_URL", queue_url(endpoint, name))
    monkeypatch.delenv("SQS_DEAD_LETTER_QUEUE_URL", raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", endpoint)


def attributes(client: Any, url: str) -> dict[str, str]:
    reply = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return dict(reply["Attributes"])


# -- creating the queues -------------------------------------------------------------------------


def test_queues_create_makes_both_queues_with_the_spec_attributes_once(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"pao-{uuid.uuid4().hex[:10]}"
    sqs_env(monkeypatch, moto_server, name)
    client = dummy_client(engine_settings(moto_server))
    args = build_parser().parse_args(["queues", "create"])

    def run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run_queues_create_command(args, out, err, client=client)
        return code, out.getvalue(), err.getvalue()

    code, out, err = run()
    assert (code, err) == (0, "")
    dlq_url = queue_url(moto_server, f"{name}-dlq")
    assert f"queue {name}-dlq: created ({dlq_url})" in out
    assert f"queue {name}: created ({queue_url(moto_server, name)})" in out
    assert f"SQS_DEAD_LETTER_QUEUE_URL={dlq_url}" in out  # not configured yet: said how
    main = attributes(client, queue_url(moto_server, name))
    dead = attributes(client, dlq_url)
    assert (main["VisibilityTimeout"], main["MessageRetentionPeriod"]) == ("300", "1209600")
    assert dead["MessageRetentionPeriod"] == "1209600"
    redrive = json.loads(main["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 3

    # Again: both found, nothing differs.
    code, out, err = run()
    assert code == 0
    assert f"queue {name}-dlq: found" in out
    assert f"queue {name}: found" in out
    assert "differs" not in out

    # A queue someone changed is reported, and left as it is.
    client.set_queue_attributes(
        QueueUrl=queue_url(moto_server, name), Attributes={"VisibilityTimeout": "30"}
    )
    code, out, _ = run()
    assert code == 0
    assert "differs from the spec: VisibilityTimeout is 30, expected 300" in out
    assert attributes(client, queue_url(moto_server, name))["VisibilityTimeout"] == "30"


def test_queues_create_uses_the_configured_dead_letter_queue_name(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"pao-{uuid.uuid4().hex[:10]}"
    sqs_env(monkeypatch, moto_server, name)
    monkeypatch.setenv("SQS_DEAD_LETTER_QUEUE_URL", queue_url(moto_server, f"{name}-graveyard"))
    client = dummy_client(engine_settings(moto_server))
    out = io.StringIO()
    args = build_parser().parse_args(["queues", "create"])
    assert run_queues_create_command(args, out, io.StringIO(), client=client) == 0
    assert f"queue {name}-graveyard: created" in out.getvalue()
    assert "SQS_DEAD_LETTER_QUEUE_URL=" not in out.getvalue()
    main = attributes(client, queue_url(moto_server, name))
    assert json.loads(main["RedrivePolicy"])["deadLetterTargetArn"].endswith(f":{name}-graveyard")


def test_creating_queues_is_refused_on_the_postgres_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAO_QUEUE_BACKEND", "postgres")
    parser = build_parser()
    err = io.StringIO()
    args = parser.parse_args(["queues", "create"])
    assert run_queues_create_command(args, io.StringIO(), err) == 2
    assert "the queue backend is postgres, not sqs" in err.getvalue()

    # The worker refuses before it starts anything.
    assert run_worker_command(parser.parse_args(["worker", "--create-queues"])) == 2
    assert "pao worker --create-queues: the queue backend is postgres" in capsys.readouterr().err


def test_queues_create_reports_an_sqs_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sqs_env(monkeypatch, endpoint, "pao-jobs")
    client = sqs_client(
        engine_settings(endpoint),
        policy=SqsPolicy(connect_timeout_seconds=1, max_attempts=1),
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    err = io.StringIO()
    args = build_parser().parse_args(["queues", "create"])
    assert run_queues_create_command(args, io.StringIO(), err, client=client) == 1
    assert err.getvalue().startswith("pao queues create: SQS get_queue_url on pao-jobs-dlq failed")
    assert SECRET_ACCESS_KEY not in err.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lines(stream: Any, into: list[str]) -> threading.Thread:
    def pump() -> None:
        for line in stream:
            into.append(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text: str = reply.read().decode()
    return text


async def test_worker_creates_the_queues_then_runs_and_reports_sqs_counts(
    services: Services, moto_server: str
) -> None:
    """`pao worker --create-queues` as an operator runs it: queues made, the worker started
    (draining the dead-letter queue it made), its metrics endpoint reporting SQS's counts."""
    name = f"pao-{uuid.uuid4().hex[:10]}"
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQS_", "PAO_"))},
        "DATABASE_URL": services.database_url,
        "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"),
        "PAO_QUEUE_BACKEND": "sqs",
        "SQS_QUEUE_URL": queue_url(moto_server, name),
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SQS": moto_server,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,  # boto3's default chain, as in production
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "PAO_WORKER_METRICS_PORT": str(port),
        "PAO_WORKER_CONCURRENCY": "1",
    }
    client = dummy_client(engine_settings(moto_server))
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "worker", "--create-queues"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    threads = [_lines(proc.stdout, out), _lines(proc.stderr, err)]
    try:
        pattern = re.compile(rf'pao_queue_messages\{{queue="{name}",state="visible"\}} (\S+)')
        scraped = ""
        for _ in range(600):  # until the worker's first metrics refresh has read SQS
            assert proc.poll() is None, "".join(err)[-3000:]
            try:
                scraped = await asyncio.to_thread(_scrape, port)
            except OSError:
                scraped = ""
            if pattern.search(scraped) and "pao_queue_depth" in scraped:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no SQS counts on the worker's /metrics: " + "".join(err)[-3000:])
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for thread in threads:
            thread.join(timeout=5)
    text = "".join(out)
    assert f"queue {name}-dlq: created" in text
    assert f"queue {name}: created" in text
    assert f'pao_queue_messages{{queue="{name}",state="dead_letter"}} 0.0' in scraped
    assert f'pao_queue_messages_errors_total{{queue="{name}"}} 0.0' in scraped
    redrive = json.loads(attributes(client, queue_url(moto_server, name))["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3


# -- pruning the outbox --------------------------------------------------------------------------


async def outbox_rows(services: Services) -> list[dict[str, Any]]:
    return await services.db.fetch_all(None, "SELECT id, sent_at FROM outbox ORDER BY id")


async def sent_days_ago(services: Services, ids: list[int], days: float) -> None:
    await services.db.execute(
        None,
        "UPDATE outbox SET sent_at = now() - make_interval(secs => %(s)s) WHERE id = ANY(%(ids)s)",
        {"s": days * DAY, "ids": ids},
    )


async def test_relay_prunes_sent_rows_past_retention_and_keeps_unsent_ones(
    services: Services, sqs_queues: SqsQueues
) -> None:
    for n in range(4):
        await runner.submit(services, instanceName=f"db-prune-{n}")
    clock = Clock()
    relay = OutboxRelay(
        services.db,
        sqs_queues.client,
        sqs_queues.queue_url,
        retention_seconds=DAY,
        prune_interval_seconds=300,
        clock=clock,
    )
    assert await relay.run_once() == 4
    queue = SqsQueue(services.db, sqs_queues.client, sqs_queues.queue_url, wait_seconds=0)
    async with services.db.transaction() as conn:  # a job due in an hour: unsent for now
        await queue.enqueue(conn, "later", {}, delay=3600)
    rows = await outbox_rows(services)
    sent = [r["id"] for r in rows if r["sent_at"] is not None]
    (unsent,) = [r["id"] for r in rows if r["sent_at"] is None]
    await services.db.execute(
        None,
        "UPDATE outbox SET created_at = now() - interval '3 days' WHERE id = %(id)s",
        {"id": unsent},
    )
    await sent_days_ago(services, sent[:2], 2)  # two old, two recent

    assert await relay.prune_if_due() == 2
    assert [r["id"] for r in await outbox_rows(services)] == [*sent[2:], unsent]

    # Not again before the interval, however old the rows.
    await sent_days_ago(services, sent[2:3], 2)
    assert await relay.prune_if_due() == 0
    clock.now += 300
    assert await relay.prune_if_due() == 1
    assert [r["id"] for r in await outbox_rows(services)] == [sent[3], unsent]


async def test_relay_loop_prunes_and_pruning_goes_in_batches(
    services: Services, sqs_queues: SqsQueues
) -> None:
    for n in range(5):
        await runner.submit(services, instanceName=f"db-batch-{n}")
    relay = OutboxRelay(services.db, sqs_queues.client, sqs_queues.queue_url, retention_seconds=DAY)
    assert await relay.run_once() == 5
    ids = [r["id"] for r in await outbox_rows(services)]
    await sent_days_ago(services, ids[:3], 1.5)
    assert await prune_outbox(services.db, DAY, batch=2) == 3  # batches of 2, 2, 0... all gone
    assert [r["id"] for r in await outbox_rows(services)] == ids[3:]

    # The worker pool's loop prunes on its own.
    await sent_days_ago(services, ids[3:], 3)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        for _ in range(500):
            if not await outbox_rows(services):
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
    assert await outbox_rows(services) == []


def test_maintenance_prunes_sent_outbox_rows_past_retention(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PAO_RETENTION_OUTBOX_HOURS", "48")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO outbox (job_id, body, created_at, sent_at) VALUES"
            " (NULL, '{}', now() - interval '5 days', now() - interval '5 days'),"
            " (NULL, '{}', now() - interval '3 days', now() - interval '49 hours'),"
            " (NULL, '{}', now() - interval '2 days', now() - interval '47 hours'),"
            " (NULL, '{}', now() - interval '9 days', NULL)"
        )
    parser = build_parser()

    def run(*argv: str) -> Any:
        out = io.StringIO()
        assert run_maintenance_command(parser.parse_args(["maintenance", *argv]), out) == 0
        return json.loads(out.getvalue())["deleted"]["outbox_rows"]

    assert run("--dry-run") == 2
    assert run() == 2
    assert run() == 0
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT sent_at IS NULL FROM outbox ORDER BY created_at").fetchall()
    assert left == [(True,), (False,)]  # the unsent row and the one within 48 hours


# -- SQS's counts in the metrics -----------------------------------------------------------------


def send(queues: SqsQueues, count: int, url: str | None = None) -> None:
    for n in range(count):
        queues.client.send_message(QueueUrl=url or queues.queue_url, MessageBody=f"m{n}")


async def test_sqs_counts_are_read_at_most_every_max_age(sqs_queues: SqsQueues) -> None:
    clock = Clock()
    stats = SqsQueueStats(
        lambda: sqs_queues.client,
        sqs_queues.queue_url,
        sqs_queues.dead_letter_queue_url,
        max_age_seconds=60,
        wait_seconds=30,
        clock=clock,
    )
    metrics = EngineMetrics(CollectorRegistry())
    metrics.watch_sqs(stats)
    name = queue_name(sqs_queues.queue_url)
    send(sqs_queues, 2)
    send(sqs_queues, 1, sqs_queues.dead_letter_queue_url)
    await metrics.refresh_sqs()
    text = generate_latest(metrics.registry).decode()
    assert f'pao_queue_messages{{queue="{name}",state="visible"}} 2.0' in text
    assert f'pao_queue_messages{{queue="{name}",state="in_flight"}} 0.0' in text
    assert f'pao_queue_messages{{queue="{name}",state="dead_letter"}} 1.0' in text

    send(sqs_queues, 3)
    clock.now += 59  # within max age: the cached counts, SQS not asked
    await metrics.refresh_sqs()
    text = generate_latest(metrics.registry).decode()
    assert f'pao_queue_messages{{queue="{name}",state="visible"}} 2.0' in text
    assert f'pao_queue_messages_age_seconds{{queue="{name}"}} 59.0' in text

    clock.now += 1
    await metrics.refresh_sqs()
    text = generate_latest(metrics.registry).decode()
    assert f'pao_queue_messages{{queue="{name}",state="visible"}} 5.0' in text
    assert f'pao_queue_messages_age_seconds{{queue="{name}"}} 0.0' in text
    assert stats.errors == 0


@pytest.fixture
def own_moto() -> Iterator[Any]:
    """A moto server of this test's own, which the test may stop."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_unreachable_sqs_keeps_the_last_counts_and_counts_errors(own_moto: Any) -> None:
    host, port = own_moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = sqs_client(
        EngineSettings(aws_region=REGION, sqs_endpoint_url=endpoint),
        policy=SqsPolicy(connect_timeout_seconds=1, read_timeout_seconds=5, max_attempts=1),
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    url, dlq_url = ensure_queues(client, "pao-unreachable")
    client.send_message(QueueUrl=url, MessageBody="m")
    clock = Clock()
    stats = SqsQueueStats(
        lambda: client, url, dlq_url, max_age_seconds=10, wait_seconds=30, clock=clock
    )
    metrics = EngineMetrics(CollectorRegistry())
    metrics.watch_sqs(stats)
    await metrics.refresh_sqs()
    assert stats.errors == 0

    own_moto.stop()  # SQS is gone
    clock.now += 120
    await metrics.refresh_sqs()  # does not raise
    clock.now += 5  # within max age: no new attempt
    await metrics.refresh_sqs()
    text = generate_latest(metrics.registry).decode()
    assert 'pao_queue_messages{queue="pao-unreachable",state="visible"} 1.0' in text  # stale
    assert 'pao_queue_messages_age_seconds{queue="pao-unreachable"} 125.0' in text
    assert 'pao_queue_messages_errors_total{queue="pao-unreachable"} 1.0' in text
    assert stats.last_error is not None
    assert "get_queue_attributes" in stats.last_error


async def test_a_hanging_sqs_does_not_hold_the_reader() -> None:
    """SQS accepts the connection and never answers: the reader gets what is known (nothing
    yet) after its wait, and the failure is counted once the read gives up."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nobody ever answers
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = sqs_client(
            EngineSettings(aws_region=REGION, sqs_endpoint_url=endpoint),
            policy=SqsPolicy(connect_timeout_seconds=1, read_timeout_seconds=1, max_attempts=1),
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )
        stats = SqsQueueStats(
            lambda: client, f"{endpoint}/123456789012/pao-silent", wait_seconds=0.05
        )
        metrics = EngineMetrics(CollectorRegistry())
        metrics.watch_sqs(stats)
        await metrics.refresh_sqs()
        text = generate_latest(metrics.registry).decode()
        assert "pao_queue_messages{" not in text  # nothing known: nothing made up
        await stats.settle()
    assert stats.errors == 1
    assert stats.counts is None


async def test_api_metrics_report_sqs_counts(
    services: Services, sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API reads SQS with boto3's default credentials, as in production.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    send(sqs_queues, 2)
    name = queue_name(sqs_queues.queue_url)
    text = ""
    async with app_client(services) as client:
        for _ in range(100):  # the first read may outlast one scrape's wait
            reply = await client.get("/metrics")
            assert reply.status_code == 200
            text = reply.text
            if f'pao_queue_messages{{queue="{name}",state="visible"}}' in text:
                break
            await asyncio.sleep(0.05)
    assert f'pao_queue_messages{{queue="{name}",state="visible"}} 2.0' in text
    assert f'pao_queue_messages{{queue="{name}",state="dead_letter"}} 0.0' in text
    assert f'pao_queue_messages_errors_total{{queue="{name}"}} 0.0' in text
    assert "pao_queue_depth" in text


async def test_api_metrics_survive_sqs_without_credentials(
    services: Services, sqs_queues: SqsQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No credentials anywhere: every scrape still answers, and the failure is counted."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    name = queue_name(sqs_queues.queue_url)
    text = ""
    async with app_client(services) as client:
        for _ in range(100):
            reply = await client.get("/metrics")
            assert reply.status_code == 200
            text = reply.text
            if f'pao_queue_messages_errors_total{{queue="{name}"}} 1.0' in text:
                break
            await asyncio.sleep(0.05)
    assert f'pao_queue_messages_errors_total{{queue="{name}"}} 1.0' in text
    assert "pao_queue_messages{" not in text
    assert "pao_queue_depth" in text
