"""Run in a subprocess by test_example_plugin.py, with the installed plugin on PYTHONPATH: the
preview (rendered, masked, and the executors' dry run) and an engine run of an item using the
plugin's ``example-note`` type. Prints one JSON document."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import yaml

from orchestrator.catalog.validator import CatalogValidator
from orchestrator.engine.dry_run import describe_plan
from orchestrator.engine.process import load_registry
from orchestrator.services import open_services
from orchestrator.settings import Settings
from orchestrator.templating.context import build_context
from orchestrator.templating.masking import render_action
from tests.integration.engine_harness import (
    action_rows,
    drain,
    make_worker,
    request_row,
    store_item,
    submit,
)


def preview(item_text: str) -> dict[str, Any]:
    report = CatalogValidator().validate_texts([("item.yaml", item_text)])
    assert report.valid, [str(i) for i in report.issues]
    item = next(iter(report.items.values())).item
    context = build_context(
        item, {"instanceName": "orders"}, outputs={"note": {"text": "x", "note_id": "n-1"}}
    )
    rendered = {
        action.id: render_action(action, context, index=index).preview
        for index, action in enumerate(item.fulfillment.actions)
    }
    return {"rendered": rendered, "plan": describe_plan(load_registry({}), item, rendered)}


async def run(item_text: str, database_url: str) -> dict[str, Any]:
    services = await open_services(Settings.from_env({}), database_url=database_url)
    try:
        document = yaml.safe_load(item_text)
        await store_item(services, document)
        request_id = await submit(services, document["metadata"]["id"], {"instanceName": "orders"})
        await drain(make_worker(services, load_registry({})))
        request = await request_row(services, request_id)
        actions = await action_rows(services, request_id)
        return {
            "status": request["status"],
            "actions": {
                key: {"status": row["status"], "outputs": row["outputs"]}
                for key, row in actions.items()
            },
        }
    finally:
        await services.close()


def main(argv: list[str]) -> int:
    command, item_path, *rest = argv
    with open(item_path, encoding="utf-8") as handle:
        text = handle.read()
    result = preview(text) if command == "preview" else asyncio.run(run(text, rest[0]))
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
