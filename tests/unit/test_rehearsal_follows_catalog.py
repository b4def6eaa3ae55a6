"""The rehearsal's REST target follows the catalog while `pao serve` runs (issue 18): an item
added, edited or removed after start-up is answered (or forgotten) at once, no restart."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import yaml

from orchestrator.settings import Settings
from rehearsal.wiring import start


def write_item(root: Path, item_id: str, path: str, outputs: dict[str, str]) -> Path:
    document = {
        "apiVersion": "pao/v1",
        "kind": "CatalogItem",
        "metadata": {"id": item_id},
        "fulfillment": {
            "actions": [
                {
                    "id": "call",
                    "type": "rest-api",
                    "config": {
                        "method": "POST",
                        "url": "{{environment.INVENTORY_URL}}" + path,
                        "expectedStatus": [201],
                        "outputs": outputs,
                    },
                }
            ]
        },
    }
    file = root / f"{item_id}.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False))
    return file


def test_items_added_edited_and_removed_while_running_are_followed(tmp_path: Path) -> None:
    write_item(tmp_path, "things", "/things", {"thing_id": "id"})
    env = {"CATALOG_LOCAL_PATH": str(tmp_path)}
    with contextlib.ExitStack() as stack:
        rehearsal = start(Settings.from_env(env), env, ("rest",), stack)
        target = rehearsal.settings.template_environment["INVENTORY_URL"]
        with httpx.Client(base_url=target, timeout=10) as client:
            assert client.post("/things").status_code == 201

            widgets = write_item(tmp_path, "widgets", "/widgets", {"widget_arn": "meta.arn"})
            answer = client.post("/widgets", json={"name": "w"})
            assert answer.status_code == 201  # added while running: no restart, no 404
            assert answer.json()["meta"]["arn"].startswith("arn:aws:rehearsal:")

            write_item(tmp_path, "things", "/gadgets", {"thing_id": "id", "thing_url": "self"})
            edited = client.post("/gadgets")
            assert edited.status_code == 201  # the edited URL
            assert {"id", "self"} <= set(edited.json())  # and the edited outputs
            gone = client.post("/things")
            assert gone.status_code == 404  # the old URL is no item's any more
            assert "/INVENTORY_URL/gadgets/?" in " ".join(gone.json()["known"])

            widgets.unlink()
            assert client.post("/widgets").status_code == 404  # removed: forgotten


def test_a_forced_failure_survives_a_catalog_change(tmp_path: Path) -> None:
    """`pao rehearse --fail` marks an action's route; following an edit keeps the mark."""
    write_item(tmp_path, "things", "/things", {"thing_id": "id"})
    env = {"CATALOG_LOCAL_PATH": str(tmp_path)}
    with contextlib.ExitStack() as stack:
        rehearsal = start(Settings.from_env(env), env, ("rest",), stack)
        rehearsal.simulators.rest.fail("call")
        write_item(tmp_path, "things", "/things", {"thing_id": "id", "other": "x"})
        target = rehearsal.settings.template_environment["INVENTORY_URL"]
        with httpx.Client(base_url=target, timeout=10) as client:
            assert client.post("/things").status_code == 422
