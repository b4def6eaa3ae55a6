"""Forms: form JSON, request JSON Schema and validation, defaults, GitHub issue forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import check_jsonschema
import jsonschema
import pytest
import yaml

from orchestrator import forms
from orchestrator.catalog.models import CatalogItem
from orchestrator.cli import main
from orchestrator.issue_forms import parse_issue_form
from tests.unit.test_templating_analysis import item_document
from tests.unit.test_templating_engine import ROOT, example_catalog, example_item

VENDOR = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"
PASSWORD = "correct-horse-battery-staple"


def load_vendor_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((VENDOR / f"{name}.json").read_text(encoding="utf-8"))
    return schema


def postgres() -> CatalogItem:
    return example_item("database-postgresql-standard")


# -- (a) form JSON -----------------------------------------------------------------------------


def test_form_json_of_an_example_item() -> None:
    form = forms.form_json(postgres())
    assert (form["itemId"], form["name"], form["version"]) == (
        "database-postgresql-standard",
        "PostgreSQL Database (RDS)",
        "2.3.0",
    )
    assert [g["id"] for g in form["groups"]] == ["basic", "storage", "security"]
    fields = {f["id"]: f for g in form["groups"] for f in g["fields"]}
    assert fields["instanceName"] == {
        "id": "instanceName",
        "name": "Instance Name",
        "type": "string",
        "component": "text-input",
        "required": True,
        "sensitive": False,
        "placeholder": "orders-db",
        "helpText": "Becomes the RDS identifier and the DNS name <name>.db.example.internal.",
        "validation": {
            "pattern": "^[a-z][a-z0-9-]{1,28}[a-z0-9]$",
            "message": "3-30 characters; lowercase letters, digits and hyphens; starts with a letter.",
        },
    }
    assert fields["size"]["component"] == "dropdown"
    assert fields["size"]["options"][1] == {
        "value": "medium",
        "label": "medium (db.m7g.large, 2 vCPU / 8 GiB)",
    }
    assert fields["storageGb"]["component"] == "number-input"
    assert fields["storageGb"]["validation"] == {"min": 20, "max": 2000, "step": 10}
    assert fields["multiAz"]["component"] == "checkbox"
    assert fields["multiAz"]["conditional"] == {
        "dependsOn": "environment",
        "condition": "in",
        "value": ["staging", "prod"],
    }
    assert fields["adminPassword"]["component"] == "password-input"
    assert fields["adminPassword"]["sensitive"] is True


def test_every_field_type_has_its_component() -> None:
    seen = {
        f["type"]: f["component"]
        for entry in example_catalog().items.values()
        for g in forms.form_json(entry.item)["groups"]
        for f in g["fields"]
    }
    assert seen == forms.COMPONENTS


# -- (b) JSON Schema and validation ------------------------------------------------------------


def test_the_request_schema_is_a_valid_2020_12_schema() -> None:
    for entry in example_catalog().items.values():
        schema = forms.request_json_schema(entry.item)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["additionalProperties"] is False


def test_example_requests_are_valid() -> None:
    report = example_catalog()
    for request in report.requests:
        item = report.items[request.request.catalog_item].item
        fields = forms.apply_defaults(item, request.request.fields)
        assert forms.validate_request_fields(item, fields) == []
        assert forms.compiled_schema(item).validator.is_valid(fields)


def valid_postgres() -> dict[str, Any]:
    fields: dict[str, Any] = forms.apply_defaults(
        postgres(), {"instanceName": "orders-db", "environment": "prod"}
    )
    return fields


@pytest.mark.parametrize(
    ("change", "field", "pointer", "fragment"),
    [
        ({"instanceName": "Orders_DB"}, "instanceName", "/fields/instanceName", "3-30 characters"),
        ({"instanceName": "orders-db\n"}, "instanceName", "/fields/instanceName", "3-30"),
        ({"instanceName": 5}, "instanceName", "/fields/instanceName", "must be text"),
        ({"size": "huge"}, "size", "/fields/size", "must be one of: small, medium"),
        ({"storageGb": 15}, "storageGb", "/fields/storageGb", "at least 20"),
        ({"storageGb": 2010}, "storageGb", "/fields/storageGb", "at most 2000"),
        ({"storageGb": 55}, "storageGb", "/fields/storageGb", "multiple of 10"),
        ({"storageGb": True}, "storageGb", "/fields/storageGb", "must be a number"),
        ({"multiAz": "yes"}, "multiAz", "/fields/multiAz", "true or false"),
        ({"instanceNmae": "x"}, None, "/fields/instanceNmae", "did you mean 'instanceName'?"),
        ({"adminPassword": PASSWORD}, "adminPassword", "/fields/adminPassword", "left out"),
    ],
)
def test_invalid_fields_are_reported_with_pointer_and_message(
    change: dict[str, Any], field: str | None, pointer: str, fragment: str
) -> None:
    fields = {**valid_postgres(), **change}
    [error] = forms.validate_request_fields(postgres(), fields)
    assert (error.field_id, error.pointer) == (field, pointer)
    assert fragment in error.message
    assert not forms.compiled_schema(postgres()).validator.is_valid(fields)


def test_required_fields_and_conditional_requirements() -> None:
    item = postgres()
    errors = forms.validate_request_fields(item, forms.apply_defaults(item, {}))
    assert [(e.field_id, e.code) for e in errors] == [("instanceName", "required")]
    provided = forms.apply_defaults(
        item, {"instanceName": "orders-db", "credentialMode": "provided"}
    )
    [error] = forms.validate_request_fields(item, provided)
    assert (error.field_id, error.code) == ("adminPassword", "required")


def test_password_values_are_never_echoed() -> None:
    fields = {**valid_postgres(), "credentialMode": "provided", "adminPassword": "short-pw"}
    [error] = forms.validate_request_fields(postgres(), fields)
    assert error.field_id == "adminPassword"
    assert "at least 16 characters" in error.message
    assert "short-pw" not in json.dumps(error.to_dict())


def test_hidden_conditional_fields_must_be_absent() -> None:
    item = postgres()
    dev = forms.apply_defaults(item, {"instanceName": "orders-db"})
    assert "multiAz" not in dev  # hidden (dev), so its default is not applied
    [error] = forms.validate_request_fields(item, {**dev, "multiAz": True})
    assert error.code == "hidden-field"
    assert "'Environment' is staging or prod" in error.message
    assert forms.apply_defaults(item, {"instanceName": "x", "environment": "prod"})["multiAz"]


def test_apply_defaults_keeps_given_values_and_copies_lists() -> None:
    item = example_item("access-grant-production")
    form_defaults = {f.id: f.default for f in item.fields() if isinstance(f.default, list)}
    fields = forms.apply_defaults(item, {})
    for field_id, default in form_defaults.items():
        assert fields[field_id] == default
        assert fields[field_id] is not default
    assert forms.apply_defaults(item, "not a map") == "not a map"


def test_dates_are_calendar_dates_within_range() -> None:
    item = example_item("access-grant-production")
    dates = [f for f in item.fields() if f.type == "date"]
    assert dates, "the example has date fields"
    schema = forms.request_json_schema(item)
    spec = dates[0]
    rule = schema["properties"][spec.id]
    assert rule["format"] == "date"
    check = jsonschema.Draft202012Validator({"type": "string", **rule})
    assert not check.is_valid("2027-02-30")
    assert not check.is_valid("2027-2-3")
    if spec.validation and spec.validation.min_date:
        low = spec.validation.min_date
        assert check.is_valid(low)
        assert not check.is_valid("1999-12-31")


def test_compiled_once_per_item_version() -> None:
    item = postgres()
    first = forms.compiled_schema(item)
    assert forms.compiled_schema(item) is first
    assert forms.compiled_schema(item.model_copy()) is first  # an equal item: same entry
    changed = CatalogItem.model_validate(
        {**item.model_dump(by_alias=True, exclude_none=True), "presentation": {}}
    )
    assert forms.compiled_schema(changed) is not first  # same id and version, other rules


# -- (c) GitHub issue forms --------------------------------------------------------------------


def test_issue_forms_validate_against_githubs_schema() -> None:
    validator = jsonschema.Draft7Validator(load_vendor_schema("github-issue-forms"))
    for entry in example_catalog().items.values():
        form = yaml.safe_load(forms.issue_form_yaml(entry.item))
        errors = [e.message for e in validator.iter_errors(form)]
        assert errors == [], entry.item.id
        ids = [e["id"] for e in form["body"] if "id" in e]
        labels = [e["attributes"]["label"] for e in form["body"] if e["type"] != "markdown"]
        assert len(ids) == len(set(ids))
        assert len(labels) == len(set(labels))
        assert form["labels"] == ["pao-request", f"catalog:{entry.item.id}"]
    config = jsonschema.Draft7Validator(load_vendor_schema("github-issue-config"))
    assert config.is_valid(forms.issue_forms_config())


def test_issue_form_of_an_example_item() -> None:
    form = forms.issue_form(postgres())
    intro = form["body"][0]["attributes"]["value"]
    assert "team `dba`" in intro
    assert "dba@example.com" in intro
    assert "response within 4h" in intro
    assert "fulfilled within 1d" in intro
    elements = {e.get("id"): e for e in form["body"]}
    assert "adminPassword" not in elements  # issues are public
    assert any(
        "Initial Master Password" in e["attributes"]["value"]
        and "secret" in e["attributes"]["value"]
        for e in form["body"]
        if e["type"] == "markdown"
    )
    assert elements["instanceName"]["validations"] == {"required": True}
    assert elements["instanceName"]["type"] == "input"
    assert elements["size"]["type"] == "dropdown"
    assert elements["size"]["attributes"]["default"] == 0
    assert "default" not in elements["multiAz"]["attributes"]  # conditional: never pre-filled
    namespace = forms.issue_form(example_item("kubernetes-namespace"))
    groups = {e.get("id"): e for e in namespace["body"]}["adminGroups"]
    assert groups["type"] == "dropdown"
    assert groups["attributes"]["multiple"] is True
    pci = {e.get("id"): e for e in namespace["body"]}["pciScope"]
    assert pci["type"] == "checkboxes"


def test_issue_answers_map_back_to_valid_fields() -> None:
    item = example_item("kubernetes-namespace")
    body = (
        "### Namespace\n\ndata-clickstream\n\n### Cluster\n\neks-prod-euw1\n\n"
        "### Cost Center\n\nCC-4711\n\n### In PCI-DSS Scope\n\n- [X] In PCI-DSS Scope\n\n"
        "### CPU Quota (cores)\n\n2.5\n\n### Memory Quota (GiB)\n\n_No response_\n\n"
        "### Admin Groups\n\ndata-eng, sre\n"
    )
    fields = parse_issue_form(item, body).fields
    assert fields == {
        "namespace": "data-clickstream",
        "cluster": "eks-prod-euw1",
        "costCenter": "CC-4711",
        "pciScope": True,
        "cpuQuota": 2.5,
        "adminGroups": ["data-eng", "sre"],
    }
    assert forms.validate_request_fields(item, forms.apply_defaults(item, fields)) == []


def test_cli_writes_one_issue_form_per_item_and_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ISSUE_TEMPLATE"
    assert main(["catalog", "issue-forms", "--out", str(out), str(ROOT / "examples")]) == 0
    written = sorted(p.name for p in out.iterdir())
    expected = [*sorted(f"{i}.yml" for i in example_catalog().items), "config.yml"]
    assert written == sorted(expected)
    assert yaml.safe_load((out / "config.yml").read_text()) == {"blank_issues_enabled": False}
    assert "10 issue form(s)" in capsys.readouterr().err


def test_cli_refuses_an_invalid_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: pao/v1\nkind: CatalogItem\nmetadata: {}\n")
    assert main(["catalog", "issue-forms", "--out", str(tmp_path / "o"), str(broken)]) == 1
    assert not (tmp_path / "o").exists()
    assert "broken.yaml" in capsys.readouterr().err
    assert main(["catalog", "issue-forms", "--out", str(tmp_path), str(tmp_path / "no")]) == 2


# -- preview -----------------------------------------------------------------------------------


def test_preview_form_returns_form_and_schema_or_located_errors() -> None:
    text = (ROOT / "examples/catalog/databases/database-postgresql-standard.yaml").read_text()
    ok = forms.preview_form(text)
    assert ok["valid"] is True
    assert ok["form"] == forms.form_json(postgres())
    assert ok["schema"]["properties"]["instanceName"]["pattern"] == "^[a-z][a-z0-9-]{1,28}[a-z0-9]$"
    broken = text.replace("type: select, required: true", "type: selekt, required: true", 1)
    bad = forms.preview_form(broken)
    assert bad["valid"] is False
    assert bad["form"] is None
    issue = next(i for i in bad["issues"] if i["pointer"].endswith("/fields/1/type"))
    assert issue["code"] == "schema"
    assert issue["line"] == 33
    assert "did you mean 'select'?" in issue["message"]
    as_data = forms.preview_form(item_document([]) | {"fulfillment": {"manual": None}})
    assert as_data["valid"] is False
    assert as_data["issues"][0]["pointer"].startswith("/fulfillment")
