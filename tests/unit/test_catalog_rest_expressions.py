"""The rest-api expression grammar (``orchestrator.expressions``): the catalog validator refuses,
located, every expression the executor could not evaluate (``unsupported-expression``), and
accepts every one it can; the example catalog stays valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from actions.extract import search
from orchestrator.catalog.validator import CatalogValidator, check_document
from orchestrator.expressions import SUPPORTED, ExpressionError, compile_expression

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "catalog"
ITEM = EXAMPLES / "databases" / "database-postgresql-standard.yaml"

UNSUPPORTED = [
    "partitions_count > `0`",
    "partitions_count >= `1`",
    "count < `3`",
    "count <= `3`",
    "state == 'done' || state == 'ok'",
    "ready && done",
    "!failed",
    "items[*].name",
    "items[].name",
    "items[?state == 'done']",
    "length(items)",
    "state | upper",
    "{id: id}",
    "[id, name]",
    "items[0:2]",
    "state == other",
    "a.",
    "@.x",
]


def with_rest_action(
    *, outputs: dict[str, str] | None = None, checks: dict[str, str] | None = None
) -> str:
    data = yaml.safe_load(ITEM.read_text())
    config: dict[str, Any] = {"method": "POST", "url": "https://inventory.example.com/dbs"}
    if outputs is not None:
        config["outputs"] = outputs
    if checks is not None:
        config["async"] = {"statusUrl": "https://inventory.example.com/status", **checks}
    data["fulfillment"]["actions"].append({"id": "call", "type": "rest-api", "config": config})
    return yaml.safe_dump(data, sort_keys=False, width=1000)


def expression_issues(text: str) -> list[Any]:
    return [
        i for i in check_document("item.yaml", text).issues if i.code == "unsupported-expression"
    ]


@pytest.mark.parametrize("expression", UNSUPPORTED)
@pytest.mark.parametrize("where", ["outputs", "successWhen", "failureWhen"])
def test_unsupported_expressions_are_refused_where_they_are(expression: str, where: str) -> None:
    if where == "outputs":
        text = with_rest_action(outputs={"id": "id", "result": expression})
        tail = "/config/outputs/result"
    else:
        checks = {"successWhen": "state == 'done'", where: expression}
        text = with_rest_action(checks=checks)
        tail = f"/config/async/{where}"
    (issue,) = expression_issues(text)
    index = len(yaml.safe_load(text)["fulfillment"]["actions"]) - 1
    assert issue.pointer == f"/fulfillment/actions/{index}{tail}"
    key = "result:" if where == "outputs" else f"{where}:"
    assert issue.line == next(
        n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith(key)
    )
    assert issue.severity == "error"
    assert SUPPORTED in issue.message
    with pytest.raises(ExpressionError):  # the executor would refuse it at run time
        compile_expression(expression)


def test_supported_expressions_pass() -> None:
    text = with_rest_action(
        outputs={"id": "id", "url": "links.self", "first": "items[0].name", "odd": '"odd-key".v'},
        checks={"successWhen": "status == 'INSYNC'", "failureWhen": "count != `0`"},
    )
    assert expression_issues(text) == []


def test_an_empty_success_condition_is_refused_an_empty_failure_condition_is_none() -> None:
    (issue,) = expression_issues(with_rest_action(checks={"successWhen": ""}))
    assert issue.pointer.endswith("/config/async/successWhen")
    assert (
        expression_issues(with_rest_action(checks={"successWhen": "ok", "failureWhen": ""})) == []
    )


def test_template_blocks_in_an_expression_are_read_as_a_name() -> None:
    ok = with_rest_action(checks={"successWhen": "state == '{{fields.instanceName}}'"})
    assert expression_issues(ok) == []
    bad = with_rest_action(checks={"successWhen": "count > `{{fields.instanceName}}`"})
    (issue,) = expression_issues(bad)
    assert "{{fields.instanceName}}" in issue.message


def test_every_example_item_still_validates() -> None:
    report = CatalogValidator().validate_files(sorted(EXAMPLES.rglob("*.yaml")))
    assert report.items
    assert [str(i) for i in report.issues if i.severity == "error"] == []


# -- the class of input ------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
PATHS = st.lists(NAMES, min_size=1, max_size=4).map(".".join)
LITERALS = st.one_of(
    st.text(alphabet="abcXYZ -_0", max_size=6).map(lambda s: f"'{s}'"),
    st.one_of(st.integers(-5, 5), st.booleans(), st.none()).map(lambda v: f"`{json.dumps(v)}`"),
)
OPERATORS = st.sampled_from(["<", "<=", ">", ">=", "||", "&&", "|"])


@given(PATHS, OPERATORS, st.one_of(LITERALS, PATHS))
def test_every_other_operator_is_refused(path: str, op: str, right: str) -> None:
    with pytest.raises(ExpressionError, match="only a path"):
        compile_expression(f"{path} {op} {right}")


@given(PATHS, st.sampled_from(["==", "!="]), LITERALS)
def test_comparisons_with_a_literal_parse_and_evaluate(path: str, op: str, literal: str) -> None:
    expression = f"{path} {op} {literal}"
    compile_expression(expression)
    assert search(expression, {}) in (True, False)  # a missing path is null, compared
