"""A posted HTML form read back into typed request fields (portal/fields.py)."""

from __future__ import annotations

from pathlib import Path

import yaml
from litestar.datastructures import FormMultiDict

from orchestrator.catalog.models import CatalogItem
from portal.fields import read_fields, redisplayed

ROOT = Path(__file__).resolve().parents[2]


def item(path: str) -> CatalogItem:
    return CatalogItem.model_validate(
        yaml.safe_load((ROOT / "examples/catalog" / path).read_text())
    )


def test_values_are_typed_and_hidden_fields_left_out() -> None:
    queue = item("messaging/queue-sqs-standard.yaml")
    form = FormMultiDict(
        [
            ("f.queueName", "orders"),
            ("f.visibilityTimeoutSeconds", "45"),
            ("f.retentionDays", "1.5"),
            ("f.contentBasedDeduplication", "true"),  # hidden: FIFO is off
            ("f.consumerRoleArn", ""),  # empty: left out, so "is required" applies
            ("_csrf_token", "x"),
        ]
    )
    fields = read_fields(queue, form)
    assert fields["visibilityTimeoutSeconds"] == 45
    assert fields["retentionDays"] == 1.5
    assert fields["fifo"] is False
    assert fields["deadLetterQueue"] is False
    assert "contentBasedDeduplication" not in fields
    assert "consumerRoleArn" not in fields
    assert "_csrf_token" not in fields
    assert (
        read_fields(queue, FormMultiDict([("f.visibilityTimeoutSeconds", "soon")]))[
            "visibilityTimeoutSeconds"
        ]
        == "soon"
    )  # the core then answers "must be a number"


def test_lists_and_secrets() -> None:
    access = item("access/access-grant-production.yaml")
    form = FormMultiDict(
        [
            ("f.regions", "eu-west-1"),
            ("f.regions", "us-east-1"),
            ("f.accessLevel", "read-only"),
            ("f.changeTicket", "CHG-1"),
        ]
    )
    fields = read_fields(access, form)
    assert fields["regions"] == ["eu-west-1", "us-east-1"]
    assert "changeTicket" not in fields  # only for read-write and admin
    database = item("databases/database-postgresql-standard.yaml")
    secret = [f.id for f in database.fields() if f.sensitive]
    assert secret
    assert not set(secret) & set(redisplayed(database, dict.fromkeys(secret, "s3cret")))
