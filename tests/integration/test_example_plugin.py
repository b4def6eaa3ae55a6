"""A third-party action type end to end: ``tests/plugins/pao-example-plugin``, installed with pip
as its own distribution into a directory of its own, adds ``example-note`` to PAO run in a
subprocess with that directory on PYTHONPATH. Nothing of PAO's core names the type: the catalog
schema, the validator's checks, templating's output names, masking and the dry run come from
the plugin's entry points, and the engine runs it to completed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "tests" / "plugins" / "pao-example-plugin"

ITEM = """\
apiVersion: pao/v1
kind: CatalogItem
metadata:
  id: noted-database
  name: Noted database
  description: A database, and a note that it was asked for.
  version: 1.0.0
  category: testing
  owner: {team: platform, contact: platform@example.com}
presentation:
  form:
    groups:
      - id: main
        name: Main
        fields:
          - {id: instanceName, name: Instance, type: string, required: true}
fulfillment:
  actions:
    - id: note
      type: example-note
      config:
        text: "Database {{fields.instanceName}} requested"
        signingKey: s3cr3t-signing-key
    - id: echo
      type: example-note
      config:
        text: "after {{outputs.note.text}} ({{outputs.note.note_id}})"
        level: warning
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin installed by pip (its own in-tree PEP 517 backend, no network) into a
    directory that is on no one's path but the subprocesses'."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    assert (target / "pao_example_plugin-0.1.0.dist-info" / "entry_points.txt").is_file()
    return target


def pao(plugin: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*([str(plugin)] if plugin else []), str(ROOT)])
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def validate(plugin: Path | None, folder: Path) -> dict[str, Any]:
    done = pao(
        plugin, "-m", "orchestrator.cli", "catalog", "validate", "--format", "json", str(folder)
    )
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def write_item(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "noted-database.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_item_of_the_plugins_type_validates_only_with_the_plugin(
    plugin_path: Path, tmp_path: Path
) -> None:
    write_item(tmp_path / "catalog", ITEM)
    assert validate(plugin_path, tmp_path / "catalog")["issues"] == []
    without = validate(None, tmp_path / "catalog")["issues"]
    assert [i["pointer"] for i in without] == [
        "/fulfillment/actions/0/type",
        "/fulfillment/actions/1/type",
    ]
    assert "'example-note' is not one of: jira-ticket, rest-api" in without[0]["message"]


def test_a_bad_config_is_located_by_the_plugins_schema_and_checks(
    plugin_path: Path, tmp_path: Path
) -> None:
    bad = ITEM.replace("signingKey: s3cr3t-signing-key", "copies: 7")
    write_item(tmp_path / "catalog", bad)
    [issue] = validate(plugin_path, tmp_path / "catalog")["issues"]
    assert issue["pointer"] == "/fulfillment/actions/0/config/copies"
    assert (issue["line"], issue["code"]) == (
        bad.splitlines().index("        copies: 7") + 1,
        "schema",
    )
    assert "7 is greater than the maximum of 3" in issue["message"]

    empty = ITEM.replace('"after {{outputs.note.text}} ({{outputs.note.note_id}})"', '" "')
    write_item(tmp_path / "catalog", empty)
    [issue] = validate(plugin_path, tmp_path / "catalog")["issues"]
    assert (issue["pointer"], issue["code"]) == (
        "/fulfillment/actions/1/config/text",
        "example-empty-warning",
    )

    unknown = ITEM.replace("outputs.note.note_id", "outputs.note.noteid")
    write_item(tmp_path / "catalog", unknown)
    [issue] = validate(plugin_path, tmp_path / "catalog")["issues"]
    assert issue["code"] == "unknown-output"
    assert "(it has: note_id, text) (did you mean 'note_id'?)" in issue["message"]


def test_the_preview_masks_the_plugins_secret_and_shows_its_dry_run(
    plugin_path: Path, tmp_path: Path
) -> None:
    item = write_item(tmp_path / "catalog", ITEM)
    done = pao(plugin_path, "-m", "tests.plugins.example_run", "preview", str(item))
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert "s3cr3t-signing-key" not in done.stdout
    assert shown["rendered"]["note"]["config"]["signingKey"] == "****"
    assert shown["plan"]["note"] == {
        "type": "example-note",
        "note": "Database orders requested",
        "level": "info",
        "copies": 1,
        "signingKey": "****",
    }
    assert shown["plan"]["echo"]["level"] == "warning"


def test_the_engine_runs_the_plugins_type_to_completed(
    plugin_path: Path, tmp_path: Path, database_url: str
) -> None:
    item = write_item(tmp_path / "catalog", ITEM)
    done = pao(plugin_path, "-m", "tests.plugins.example_run", "run", str(item), database_url)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    note, echo = result["actions"]["note"], result["actions"]["echo"]
    assert note["status"] == echo["status"] == "completed"
    assert note["outputs"]["text"] == "Database orders requested"
    assert (
        echo["outputs"]["text"] == f"after Database orders requested ({note['outputs']['note_id']})"
    )


@pytest.fixture(autouse=True)
def _no_stray_build_output() -> Iterator[None]:
    """pip builds from a copy: the plugin's source folder stays as committed."""
    before = sorted(p.name for p in PLUGIN.iterdir())
    yield
    assert sorted(p.name for p in PLUGIN.iterdir()) == before
