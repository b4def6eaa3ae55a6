"""The embedded default's local catalog directory, watched for edits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.catalog.local_source import LocalCatalogWatcher
from orchestrator.services import Services

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"


async def test_edits_in_the_directory_are_synced(services: Services, tmp_path: Path) -> None:
    (tmp_path / "dns.yaml").write_text((EXAMPLES / "networking" / "dns-record.yaml").read_text())
    await services.catalog.sync_directory(tmp_path)
    watcher = LocalCatalogWatcher(services.catalog, tmp_path, interval_seconds=0.01)
    assert await watcher.check_once() is False  # the first look only records the state
    assert await watcher.check_once() is False  # nothing changed

    kafka = tmp_path / "nested" / "kafka.yaml"
    kafka.parent.mkdir()
    kafka.write_text((EXAMPLES / "messaging" / "kafka-topic.yaml").read_text())
    assert await watcher.check_once() is True
    item, _ = await services.catalog.current("kafka-topic")
    assert item.id == "kafka-topic"

    text = kafka.read_text().replace("description:", "description: Edited.", 1)
    kafka.write_text(text)
    stat = kafka.stat()
    os.utime(kafka, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a coarse clock
    assert await watcher.check_once() is True
    item, _ = await services.catalog.current("kafka-topic")
    assert item.metadata.description.startswith("Edited.")

    (tmp_path / "dns.yaml").unlink()
    assert await watcher.check_once() is True
    row = await services.db.fetch_one(
        None, "SELECT active FROM catalog_items WHERE id = 'dns-record'"
    )
    assert row is not None
    assert row["active"] is False
