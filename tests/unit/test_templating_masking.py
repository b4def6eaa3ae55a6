"""Secrets (password fields, declared secrets) never appear in previews, tables or errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from orchestrator.forms import apply_defaults
from orchestrator.templating.context import TemplateContext, build_context
from orchestrator.templating.engine import TemplateEngine
from orchestrator.templating.errors import MASK, TemplateRenderError
from orchestrator.templating.masking import mask, render_action, render_preview
from orchestrator.templating.playground import test_variables as run_variables_test
from tests.unit.test_templating_engine import REQUEST, RUNTIME, example_item

PASSWORD = "Tr0ub4dor&3-horse-battery"


@pytest.fixture(scope="module")
def context() -> TemplateContext:
    item = example_item("database-postgresql-standard")
    fields = apply_defaults(
        item,
        {
            "instanceName": "orders-db",
            "environment": "prod",
            "credentialMode": "provided",
            "adminPassword": PASSWORD,
        },
    )
    return build_context(
        item,
        fields,
        request=REQUEST,
        outputs={"provision": {"db_endpoint": "e", "db_arn": "a", "master_secret_arn": "s"}},
        allowed_environment=["INVENTORY_URL"],
        environ={"INVENTORY_URL": "https://inventory"},
        runtime=RUNTIME,
        hostname="h",
    )


def test_password_values_are_recorded_as_secrets(context: TemplateContext) -> None:
    assert PASSWORD in context.secrets
    assert context.sensitive_fields == {"adminPassword"}


def test_preview_masks_the_password_and_what_is_derived_from_it(
    context: TemplateContext,
) -> None:
    templates = {
        "plain": "{{fields.adminPassword}}",
        "inline": "pw={{fields.adminPassword}};",
        "encoded": "{{base64(fields.adminPassword)}}",
        "upper": "{{upper(fields.adminPassword)}}",
        "name": "{{fields.instanceName}}",
    }
    preview = render_preview(templates, context)
    assert preview == {
        "plain": MASK,
        "inline": f"pw={MASK};",
        "encoded": base64.b64encode(MASK.encode()).decode(),
        "upper": MASK,
        "name": "orders-db",
    }
    real = TemplateEngine(runtime=RUNTIME).render_value(templates, context)
    assert real["plain"] == PASSWORD
    assert real["encoded"] == base64.b64encode(PASSWORD.encode()).decode()


def test_preview_masks_secrets_that_reach_the_output_another_way(
    context: TemplateContext,
) -> None:
    leaked = context.with_outputs({"provision": {"db_endpoint": f"host?pw={PASSWORD}"}})
    preview = render_preview("{{outputs.provision.db_endpoint}}", leaked)
    assert preview == f"host?pw={MASK}"


def test_rendered_action_masks_password_and_sensitive_variables(
    context: TemplateContext,
) -> None:
    item = example_item("database-postgresql-standard")
    rendered = render_action(item.fulfillment.actions[0], context, index=0)
    assert rendered.real["config"]["variables"]["master_password"] == PASSWORD
    assert rendered.preview["config"]["variables"]["master_password"] == MASK
    assert rendered.preview["config"]["variables"]["identifier"] == "orders-db"
    assert PASSWORD not in json.dumps(rendered.preview)
    assert rendered.preview["cleanup"]["instructions"].startswith("Queue a destroy run")


def test_sensitive_variables_are_masked_even_when_not_a_password() -> None:
    item = example_item("database-postgresql-standard")
    ctx = build_context(
        item,
        apply_defaults(item, {"instanceName": "orders-db"}),
        request=REQUEST,
        runtime=RUNTIME,
        hostname="h",
    )
    rendered = render_action(item.fulfillment.actions[0], ctx, index=0)
    assert rendered.real["config"]["variables"]["master_password"] == ""
    assert rendered.preview["config"]["variables"]["master_password"] == MASK


@pytest.mark.parametrize(
    "template",
    [
        "{{fields.adminPassword | join(',')}}",
        "{{#each fields.adminPassword}}{{/each}}",
        f"{PASSWORD} {{{{fields.missing}}}}",
        "{{fields.adminPasword}}",
    ],
)
def test_errors_never_contain_the_password(context: TemplateContext, template: str) -> None:
    renders: list[Callable[[], object]] = [
        lambda: render_preview(template, context),
        lambda: TemplateEngine().render_value(template, context),
    ]
    for render in renders:
        with pytest.raises(TemplateRenderError) as caught:
            render()
        error = caught.value
        assert PASSWORD not in str(error)
        assert PASSWORD not in json.dumps(error.to_dict())
        assert PASSWORD not in (error.template or "")


def test_mask_replaces_secrets_in_nested_structures() -> None:
    data = {"a": [f"x{PASSWORD}y", 1, None], "b": {"c": PASSWORD}}
    assert mask(data, {PASSWORD}) == {"a": [f"x{MASK}y", 1, None], "b": {"c": MASK}}
    assert mask(data, set()) is data


def test_variable_test_renders_a_whole_item_masked() -> None:
    item = example_item("database-postgresql-standard")
    result = run_variables_test(
        item,
        {"instanceName": "orders-db", "credentialMode": "provided", "adminPassword": PASSWORD},
        environment={"INVENTORY_URL": "https://inventory"},
        runtime=RUNTIME,
    )
    assert PASSWORD not in json.dumps(result)
    assert result["valid"] is True
    assert result["errors"] == []
    provision = result["rendered"]["actions"]["provision"]
    assert provision["config"]["variables"]["master_password"] == MASK
    assert provision["config"]["workspace"] == "rds-dev-orders-db"
    register = result["rendered"]["actions"]["register"]
    assert register["config"]["body"]["endpoint"] == "<outputs.provision.db_endpoint>"
    rows = {row["path"]: row for row in result["variables"]}
    assert rows["fields.adminPassword"] == {
        "path": "fields.adminPassword",
        "scope": "fields",
        "resolved": True,
        "value": MASK,
        "sensitive": True,
    }
    assert rows["fields.instanceName"]["value"] == "orders-db"
    assert rows["environment.INVENTORY_URL"]["value"] == "https://inventory"


def test_variable_test_reports_each_broken_template_and_bad_sample() -> None:
    item = example_item("database-postgresql-standard")
    result = run_variables_test(
        item,
        {"instanceName": "X", "adminPassword": PASSWORD},
        {"ok": "{{fields.instanceName}}", "bad": ["{{fields.instanceNme}}", "{{#if x}}"]},
        runtime=RUNTIME,
    )
    assert result["valid"] is False
    assert result["rendered"]["ok"] == "X"
    assert [e["pointer"] for e in result["errors"]] == ["/bad/0", "/bad/1"]
    assert result["errors"][0]["suggestion"] == "fields.instanceName"
    assert result["errors"][1]["code"] == "template-syntax"
    assert {e["field"] for e in result["fieldErrors"]} == {"instanceName", "adminPassword"}
    assert PASSWORD not in json.dumps(result)
    rows = {row["path"]: row for row in result["variables"]}
    assert rows["fields.instanceNme"]["resolved"] is False
