"""`pao catalog validate` checks request files against their item exactly as the API does.

The verdict is the API's own (``check_draft``, which ``RequestService.validate`` -- validate,
preview, submit -- calls): a table over the field types pins the cases a newcomer trial found
(a number written as a word, a required field left out, a value below its minimum), a property
compares the command's issues with the API core's errors for arbitrary values, and every problem
must sit on the line of its field (or of ``fields:`` when the field is missing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.validator import CatalogReport, CatalogValidator
from orchestrator.cli import main
from orchestrator.requests.drafts import RequestDraft, check_draft
from orchestrator.requests.file_checks import REQUEST_FILE_SOURCE, request_file_issues

ITEM = """\
apiVersion: pao/v1
kind: CatalogItem
metadata:
  id: every-type
  name: Every type
  description: One field of each type
  version: 1.0.0
  category: testing
  owner: {team: qa, contact: qa@example.com}
presentation:
  form:
    groups:
      - id: basic
        name: Basic
        fields:
          - id: name
            name: Name
            type: string
            required: true
            validation: {pattern: "^[a-z]+$", maxLength: 10}
          - {id: count, name: Count, type: number, validation: {min: 1, max: 10, step: 1}}
          - {id: enabled, name: Enabled, type: boolean}
          - {id: size, name: Size, type: select, required: true, enum: [small, large]}
          - {id: zones, name: Zones, type: multiselect, enum: [a, b, c], validation: {maxItems: 2}}
          - {id: until, name: Until, type: date}
          - {id: notes, name: Notes, type: textarea, validation: {maxLength: 20}}
          - {id: secret, name: Secret, type: password}
          - id: reason
            name: Reason
            type: string
            required: true
            conditional: {dependsOn: enabled, condition: equals, value: true}
fulfillment:
  actions:
    - id: create
      type: rest-api
      config: {url: "https://inventory.example.com/{{fields.name}}"}
"""

VALID: dict[str, Any] = {
    "name": "web",
    "count": 3,
    "enabled": True,
    "size": "small",
    "zones": ["a", "b"],
    "until": "2030-01-31",
    "notes": "short",
    "reason": "because",
}
FIELDS_LINE = 5  # the line of ``fields:`` in request_text's output


def request_text(fields: dict[str, Any]) -> str:
    """A request file with one field per line (JSON values are YAML flow values)."""
    lines = [
        "apiVersion: pao/v1",
        "kind: ServiceRequest",
        "catalogItem: every-type",
        "title: A test",
        "fields:" if fields else "fields: {}",
    ]
    lines += [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def field_line(fields: dict[str, Any], field_id: str) -> int:
    return FIELDS_LINE + 1 + list(fields).index(field_id)


def validate(fields: dict[str, Any]) -> CatalogReport:
    report = CatalogValidator().validate_texts(
        [("catalog/every-type.yaml", ITEM), ("requests/r.yaml", request_text(fields))]
    )
    assert report.valid, report.issues  # the documents themselves are fine
    report.issues.extend(request_file_issues(report))
    return report


def api_errors(fields: dict[str, Any]) -> set[tuple[str, str]]:
    """What the API's core says about the same fields, for a request file (from a PR)."""
    item = CatalogItem.model_validate(
        CatalogValidator().validate_texts([("i.yaml", ITEM)]).items["every-type"].doc.data
    )
    draft = RequestDraft("every-type", fields, source=REQUEST_FILE_SOURCE)
    return {(e["pointer"], e["message"]) for e in check_draft(item, None, draft).errors}


def assert_located(fields: dict[str, Any], report: CatalogReport) -> None:
    for issue in report.errors:
        assert issue.file == "requests/r.yaml"
        field_id = issue.pointer.split("/")[2]
        expected = field_line(fields, field_id) if field_id in fields else FIELDS_LINE
        assert issue.line == expected, issue


def test_the_valid_request_has_no_issue() -> None:
    report = validate(VALID)
    assert report.issues == []
    assert api_errors(VALID) == set()


CASES = [
    # (field type, field, value or None to leave it out, words of the message)
    ("string required", "name", None, "'Name' is required"),
    ("string type", "name", 5, "must be text"),
    ("string pattern", "name", "Web", "Name"),
    ("string maxLength", "name", "abcdefghijk", "Name"),
    ("number type", "count", "five", "must be a number"),
    ("number minimum", "count", 0, "must be at least 1"),
    ("number maximum", "count", 11, "must be at most 10"),
    ("number step", "count", 2.5, "Count"),
    ("boolean type", "enabled", "yes", "Enabled"),
    ("select enum", "size", "huge", "must be one of: small, large"),
    ("select required", "size", None, "'Size' is required"),
    ("multiselect type", "zones", "a", "must be a list"),
    ("multiselect enum", "zones", ["d"], "not one of"),
    ("multiselect maxItems", "zones", ["a", "b", "c"], "at most 2"),
    ("date format", "until", "31/01/2030", "YYYY-MM-DD"),
    ("textarea maxLength", "notes", "x" * 21, "Notes"),
    ("password written in the file", "secret", "hunter2", "is a secret"),
    ("conditional required", "reason", None, "'Reason' is required"),
    ("unknown field", "colour", "red", "'colour' is not a field of this item"),
]


@pytest.mark.parametrize(
    ("field_id", "value", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_field_type_is_refused_where_it_is_written(
    field_id: str, value: Any, words: str
) -> None:
    fields = dict(VALID)
    if value is None:
        del fields[field_id]
    else:
        fields[field_id] = value
    report = validate(fields)
    pointer = f"/fields/{field_id}"
    found = [(i.pointer, i.message) for i in report.errors]
    at_field = [m for p, m in found if p == pointer or p.startswith(pointer + "/")]
    assert any(words in m for m in at_field), found  # at the field (or an entry of it)
    assert set(found) == api_errors(fields)  # the API's verdict, word for word
    assert_located(fields, report)


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 20),
    st.floats(-5, 20, allow_nan=False),
    st.sampled_from(["", "web", "Web", "small", "huge", "a", "2030-01-31", "x" * 25, "five"]),
)
_values = st.one_of(_scalars, st.lists(st.sampled_from(["a", "b", "c", "d", 1]), max_size=4))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.dictionaries(st.sampled_from([*VALID, "secret", "colour"]), _values, max_size=4),
    removed=st.sets(st.sampled_from(list(VALID)), max_size=3),
)
@example(changes={"size": 1e-05}, removed=set())  # a YAML 1.1 string, not a number
def test_the_command_says_what_the_api_says(changes: dict[str, Any], removed: set[str]) -> None:
    fields = {k: v for k, v in {**VALID, **changes}.items() if k not in removed or k in changes}
    report = validate(fields)
    # The API gets the values the file's YAML holds: PyYAML reads YAML 1.1, where ``1e-05`` (no
    # dot) is a string, as the bot reading the same file from a pull request does.
    as_read = yaml.safe_load(request_text(fields))["fields"] or {}
    assert {(i.pointer, i.message) for i in report.errors} == api_errors(as_read)
    assert_located(fields, report)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


DNS_REQUEST = """\
apiVersion: pao/v1
kind: ServiceRequest
catalogItem: dns-record
fields:
  recordName: api.checkout
  recordType: CNAME
  ttl: {ttl}
  target: internal-checkout-alb.eu-west-1.elb.amazonaws.com
"""


@pytest.mark.parametrize(
    ("ttl", "message"), [("five", "must be a number"), ("5", "must be at least 60")]
)
def test_the_newcomer_request_fails_in_every_format(
    ttl: str,
    message: str,
    tmp_path: Path,
    repo_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DNS_REQUEST.format(ttl=ttl))
    catalog = str(repo_root / "examples" / "catalog")

    code, out = run(capsys, "catalog", "validate", catalog, str(bad))
    assert code == 1
    assert f"bad.yaml:7:8: error: [request] 'TTL (seconds)' {message} at /fields/ttl" in out
    assert "bad.yaml:4:1: error: [request] 'Zone' is required at /fields/zone" in out
    assert out.splitlines()[-1].startswith("FAILED")

    code, out = run(capsys, "catalog", "validate", catalog, str(bad), "--format", "json")
    issues = {(i["line"], i["pointer"], i["code"]) for i in json.loads(out)["issues"]}
    assert issues == {(7, "/fields/ttl", "request"), (4, "/fields/zone", "request")}

    code, out = run(capsys, "catalog", "validate", catalog, str(bad), "--format", "github")
    assert code == 1
    assert ",line=7,col=8,title=pao request::" in out
    assert f"{message} (at /fields/ttl)" in out


def test_an_unknown_item_is_located(
    tmp_path: Path, repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DNS_REQUEST.format(ttl=300).replace("dns-record", "dns-recrod"))
    code, out = run(
        capsys, "catalog", "validate", str(repo_root / "examples" / "catalog"), str(bad)
    )
    assert code == 1
    assert "bad.yaml:3:14: error: [unknown-catalog-item] no catalog item 'dns-recrod'" in out
    assert "did you mean 'dns-record'?" in out


def test_every_example_request_passes(repo_root: Path) -> None:
    from orchestrator.catalog.validator import discover

    files, _ = discover([repo_root / "examples"])
    report = CatalogValidator().validate_files(files, display_root=repo_root)
    found = request_file_issues(report)
    requests = {r.file for r in report.requests}
    assert {
        p.relative_to(repo_root).as_posix()
        for p in (repo_root / "examples/requests").rglob("*.yaml")
    } <= requests
    assert [i for i in found if i.severity == "error"] == []
