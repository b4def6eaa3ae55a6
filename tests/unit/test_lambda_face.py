"""The Lambda face's pieces that need no server: `pao package lambda`'s command line and its
refusals, the SQS record conversion, and the embedded metrics lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lambda_handlers.metrics import EmfObserver
from lambda_handlers.package import PackageError, build_lambda_package
from lambda_handlers.request_processor import sqs_message
from orchestrator.cli import build_parser, main


def test_pao_package_lambda_is_a_pao_command(tmp_path: Path) -> None:
    args = build_parser().parse_args(["package", "lambda", "--out", str(tmp_path / "out")])
    assert args.out == tmp_path / "out"
    assert args.python_version == "3.11"
    assert args.platform == "manylinux2014_x86_64"
    assert callable(args.handler)


def test_a_missing_constraints_file_is_refused_before_anything_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-constraints.txt"
    with pytest.raises(PackageError, match="no constraints file"):
        build_lambda_package(tmp_path / "out", constraints=missing)
    assert not (tmp_path / "out").exists()
    status = main(
        ["package", "lambda", "--out", str(tmp_path / "o"), "--constraints", str(missing)]
    )
    assert status == 1
    assert "pao package lambda: no constraints file" in capsys.readouterr().err


def test_a_lambda_sqs_record_becomes_a_received_message() -> None:
    record = {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "body": '{"job_id": 7, "kind": "run-action"}',
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1545082649183"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }
    assert sqs_message(record) == {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        "Body": '{"job_id": 7, "kind": "run-action"}',
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1545082649183"},
    }


def test_finished_requests_are_embedded_metric_lines() -> None:
    out = io.StringIO()
    observer = EmfObserver(out)
    observer.request_finished("db", "failed", 12.5, ["terraform"], user_team="payments")
    observer.request_finished("db", "aborted", 1.0, [])  # not an outcome the alarm counts
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "PAO"
    assert {m["Name"] for m in directive["Metrics"]} == {"RequestsFailed", "RequestDuration"}
    assert line["RequestsFailed"] == 1
    assert line["RequestDuration"] == 12.5
    assert "payments" not in out.getvalue()  # no labels of unbounded cardinality
