"""Rendering: every scope, block, function and filter; strictness; type preservation."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest

from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.validator import CatalogReport, CatalogValidator, discover
from orchestrator.forms import apply_defaults
from orchestrator.template_syntax.references import scan
from orchestrator.template_syntax.translate import translate
from orchestrator.templating.analysis import template_sites
from orchestrator.templating.context import (
    RequestInfo,
    TemplateContext,
    UserInfo,
    build_context,
    environment_scope,
)
from orchestrator.templating.engine import TemplateEngine
from orchestrator.templating.errors import (
    TemplateRenderError,
    TemplateSyntaxRenderError,
    UndefinedVariableError,
)
from orchestrator.templating.limits import Runtime
from orchestrator.templating.playground import placeholder_outputs

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 28, 9, 30, 15, tzinfo=dt.UTC)
RUNTIME = Runtime(now=lambda: NOW, new_uuid=lambda: "11111111-2222-4333-8444-555555555555")
REQUEST = RequestInfo(
    id="req-42",
    correlation_id="corr-42",
    timestamp="2026-11-28T09:00:00Z",
    title="Orders database",
    source="api",
    user=UserInfo(email="jdoe@example.com", name="Jane Doe", teams=("payments", "ledger")),
)


@functools.cache
def example_catalog() -> CatalogReport:
    files, _ = discover([ROOT / "examples"])
    report = CatalogValidator().validate_files(files)
    assert report.valid
    return report


def example_item(item_id: str) -> CatalogItem:
    return example_catalog().items[item_id].item


@pytest.fixture(scope="module", params=[True, False], ids=["evaluator", "jinja-only"])
def engine(request: pytest.FixtureRequest) -> TemplateEngine:
    """Every rendering test runs twice: block-free templates are evaluated without Jinja by
    default, and must behave exactly as when everything goes through the Jinja sandbox."""
    return TemplateEngine(runtime=RUNTIME, fast_paths=request.param)


@pytest.fixture(scope="module")
def context() -> TemplateContext:
    item = example_item("database-postgresql-standard")
    fields = {
        "instanceName": "orders-db",
        "environment": "prod",
        "size": "medium",
        "storageGb": 200,
        "multiAz": True,
        "teams": ["payments", "ledger"],
        "tags": {"cost": "cc-1", "tier": "gold"},
        "empty": [],
        "nothing": None,
    }
    return build_context(
        item,
        fields,
        request=REQUEST,
        outputs={"provision": {"db_endpoint": "orders.db.internal", "port": 5432}},
        allowed_environment=["INVENTORY_URL", "NOT_SET"],
        environ={"INVENTORY_URL": "https://inventory", "DATABASE_URL": "postgres://secret"},
        runtime=RUNTIME,
        hostname="pao-worker-1",
    )


# -- scopes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{fields.instanceName}}", "orders-db"),
        ("{{metadata.id}}@{{metadata.version}}", "database-postgresql-standard@2.3.0"),
        ("{{metadata.owner.team}}/{{metadata.owner.jiraProject}}", "dba/DBA"),
        ("{{metadata.sla.responseTime}}", "4h"),
        ("{{metadata.tags[0]}}", "postgres"),
        ("{{request.id}} {{request.correlation_id}}", "req-42 corr-42"),
        ("{{request.user.email}} {{request.user.teams[1]}}", "jdoe@example.com ledger"),
        ("{{request.title}} via {{request.source}}", "Orders database via api"),
        ("{{system.date}} {{system.timestamp}}", "2026-11-28 2026-11-28T09:30:15Z"),
        (
            "{{system.uuid}} {{system.hostname}}",
            "11111111-2222-4333-8444-555555555555 pao-worker-1",
        ),
        ("{{environment.INVENTORY_URL}}/x", "https://inventory/x"),
        ("{{outputs.provision.db_endpoint}}:{{outputs.provision.port}}", "orders.db.internal:5432"),
        ("{{fields['instanceName']}}", "orders-db"),
    ],
)
def test_each_scope_renders(
    engine: TemplateEngine, context: TemplateContext, template: str, expected: str
) -> None:
    assert engine.render(template, context) == expected


def test_environment_scope_is_only_the_allow_list(context: TemplateContext) -> None:
    assert context.variables["environment"] == {"INVENTORY_URL": "https://inventory"}
    assert environment_scope(["A"], {"A": "1", "B": "2"}) == {"A": "1"}


def test_environment_outside_the_allow_list_is_an_error(
    engine: TemplateEngine, context: TemplateContext
) -> None:
    with pytest.raises(UndefinedVariableError, match=r"environment\.DATABASE_URL"):
        engine.render("{{environment.DATABASE_URL}}", context)


def test_absent_metadata_is_undefined_not_null(engine: TemplateEngine) -> None:
    item = example_item("rabbitmq-vhost")  # no documentation, no Slack channel
    ctx = build_context(item, {}, runtime=RUNTIME, hostname="h")
    assert "documentation" not in ctx.variables["metadata"]
    with pytest.raises(UndefinedVariableError, match=r"metadata\.owner\.slack"):
        engine.render("{{metadata.owner.slack}}", ctx)
    assert engine.render("{{metadata.owner.slack | default('#help')}}", ctx) == "#help"


# -- type preservation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{fields.storageGb}}", 200),
        ("{{fields.multiAz}}", True),
        ("{{fields.teams}}", ["payments", "ledger"]),
        ("{{fields.tags}}", {"cost": "cc-1", "tier": "gold"}),
        ("{{fields.nothing}}", None),
        ("{{fields.missing | default(false)}}", False),
        ("{{fields.missing | default(3)}}", 3),
        ("{{outputs.provision.port}}", 5432),
        ("{{fields.teams | length}}", 2),
        ("{{json(fields.teams)}}", '["payments","ledger"]'),
        ("port {{fields.storageGb}}", "port 200"),
    ],
)
def test_render_value_keeps_the_type_of_a_lone_expression(
    engine: TemplateEngine, context: TemplateContext, template: str, expected: Any
) -> None:
    assert engine.render_value(template, context) == expected
    assert type(engine.render_value(template, context)) is type(expected)


def test_render_value_walks_structures_and_keeps_non_strings(
    engine: TemplateEngine, context: TemplateContext
) -> None:
    config = {
        "name": "db-{{fields.instanceName}}",
        "port": "{{outputs.provision.port}}",
        "flags": [True, 3, None, "{{fields.multiAz}}"],
        "nested": {"teams": "{{fields.teams}}", "static": 1.5},
    }
    out = engine.render_value(config, context)
    assert out == {
        "name": "db-orders-db",
        "port": 5432,
        "flags": [True, 3, None, True],
        "nested": {"teams": ["payments", "ledger"], "static": 1.5},
    }
    out["nested"]["teams"].append("x")  # a copy, never the request's own list
    assert context.variables["fields"]["teams"] == ["payments", "ledger"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("multi_az={{fields.multiAz}}", "multi_az=true"),
        ("x={{fields.missing | default(false)}}", "x=false"),
        ("x={{fields.nothing}}", "x=null"),
        ("teams={{fields.teams}}", 'teams=["payments","ledger"]'),
        ("tags={{fields.tags}}", 'tags={"cost":"cc-1","tier":"gold"}'),
        ("size={{fields.storageGb}}", "size=200"),
    ],
)
def test_values_inside_text_read_json_ish(
    engine: TemplateEngine, context: TemplateContext, template: str, expected: str
) -> None:
    assert engine.render(template, context) == expected


# -- blocks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{#if fields.multiAz}}HA{{/if}}", "HA"),
        ("{{#if fields.empty}}yes{{else}}no{{/if}}", "no"),
        ("{{#unless fields.multiAz}}single{{else}}multi{{/unless}}", "multi"),
        ("{{#unless fields.empty}}none{{/unless}}", "none"),
        ("{{#if fields.environment == 'prod'}}P{{else}}N{{/if}}", "P"),
        ("{{#if fields.size != 'small' and not fields.empty}}big{{/if}}", "big"),
        ("{{#if fields.storageGb > 100 or false}}large{{/if}}", "large"),
        ("{{#each fields.teams}}{{@index}}:{{this}};{{/each}}", "0:payments;1:ledger;"),
        ("{{#each fields.tags}}{{@key}}={{this}} {{/each}}", "cost=cc-1 tier=gold "),
        (
            "{{#each fields.teams}}{{#if @first}}[{{/if}}{{this}}{{#if @last}}]{{else}},{{/if}}{{/each}}",
            "[payments,ledger]",
        ),
        ("{{#each fields.empty}}x{{else}}none{{/each}}", "none"),
        (
            "{{#each fields.teams}}{{#if @index}}, {{/if}}@{{this}}{{/each}}",
            "@payments, @ledger",
        ),
    ],
)
def test_blocks(
    engine: TemplateEngine, context: TemplateContext, template: str, expected: str
) -> None:
    assert engine.render(template, context) == expected


def test_nested_each_this_is_the_innermost_element(
    engine: TemplateEngine, context: TemplateContext
) -> None:
    template = (
        "{{#each fields.teams}}{{this}}:{{#each request.user.teams}}{{@index}}{{this}}"
        "{{/each}}|{{/each}}"
    )
    assert engine.render(template, context) == "payments:0payments1ledger|ledger:0payments1ledger|"


def test_membership_tests_a_value_in_a_list(
    engine: TemplateEngine, context: TemplateContext
) -> None:
    assert engine.render("{{#if 'ledger' in fields.teams}}yes{{/if}}", context) == "yes"
    assert engine.render("{{#if 'x' not in fields.teams}}no{{/if}}", context) == "no"


def test_each_over_maps_gives_this_dot_key(engine: TemplateEngine) -> None:
    ctx = {"fields": {"rules": [{"port": 443, "proto": "tcp"}, {"port": 53, "proto": "udp"}]}}
    template = "{{#each fields.rules}}{{this.proto}}/{{this.port}} {{/each}}"
    assert engine.render(template, ctx) == "tcp/443 udp/53 "


def test_block_tags_alone_on_a_line_take_the_line_with_them(engine: TemplateEngine) -> None:
    ctx = {"fields": {"regions": ["eu", "us"], "on": True}}
    template = "Regions:\n  {{#each fields.regions}}\n  - {{this}}\n  {{/each}}\nEnd\n"
    assert engine.render(template, ctx) == "Regions:\n  - eu\n  - us\nEnd\n"
    inline = "a {{#if fields.on}}b{{/if}} c\n"
    assert engine.render(inline, ctx) == "a b c\n"


def test_text_that_looks_like_jinja_is_text(engine: TemplateEngine) -> None:
    ctx = {"fields": {"a": "x"}}
    template = "{% raw %}{# c #} {{fields.a}} %} {"
    assert engine.render(template, ctx) == "{% raw %}{# c #} x %} {"
    assert engine.render("{{fields.a}}\r\n", ctx) == "x\r\n"


# -- functions and filters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{upper(fields.environment)}}", "PROD"),
        ("{{lower('ABC')}}", "abc"),
        ("{{concat(fields.instanceName, '-', fields.storageGb)}}", "orders-db-200"),
        ("{{concat()}}", ""),
        ("{{replace(fields.instanceName, '-db', '_database')}}", "orders_database"),
        ("{{json(fields.tags)}}", '{"cost":"cc-1","tier":"gold"}'),
        ("{{base64('user:pass')}}", "dXNlcjpwYXNz"),
        ("{{uuid()}}", "11111111-2222-4333-8444-555555555555"),
        ("{{timestamp()}}", "2026-11-28T09:30:15Z"),
        ("{{trim('  x  ')}}", "x"),
        ("{{fields.missing | default('PLATFORM')}}", "PLATFORM"),
        ("{{fields.nothing | default('n/a')}}", "n/a"),
        ("{{fields.empty | default('none', true)}}", "none"),
        ("{{fields.instanceName | default('x')}}", "orders-db"),
        ("{{outputs.absent.key | default('chained')}}", "chained"),
        ("{{fields.environment | upper}}", "PROD"),
        ("{{'ABC' | lower}}", "abc"),
        ("{{' x ' | trim}}", "x"),
        ("{{fields.instanceName | replace('-', '_')}}", "orders_db"),
        ("{{fields.teams | json}}", '["payments","ledger"]'),
        ("{{'a' | base64}}", "YQ=="),
        ("{{fields.teams | join(', ')}}", "payments, ledger"),
        ("{{fields.teams | join}}", "paymentsledger"),
        ("{{fields.instanceName | length}}", "9"),
        ("{{'42' | int}}", "42"),
        ("{{'4.7' | int}}", "4"),
        ("{{'x' | int(7)}}", "7"),
        ("{{'2.5' | float}}", "2.5"),
        ("{{fields.storageGb | string}}", "200"),
        ("{{'hello world' | title}}", "Hello World"),
        ("{{'abcdefghij' | truncate(6)}}", "abc..."),
        ("{{'abcdefghij' | truncate(6, '~')}}", "abcde~"),
        ("{{'short' | truncate(10)}}", "short"),
        ("{{'sub_task' | jiraIssueType}}", "Sub-task"),
        ("{{'access-request' | jiraIssueType}}", "Access Request"),
        ("{{'bug' | jiraIssueType}}", "Bug"),
        ("{{'Orders DB (EU) #1' | slug}}", "orders-db-eu-1"),
        ("{{concat(fields.a | default(''), upper(fields.environment))}}", "PROD"),
        ("{{upper(fields.missing | default('x')) | lower}}", "x"),
    ],
)
def test_functions_and_filters(
    engine: TemplateEngine, context: TemplateContext, template: str, expected: str
) -> None:
    assert engine.render(template, context) == expected


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{{shout(fields.a)}}", "unknown function 'shout'"),
        ("{{fields.a | uper}}", "unknown filter 'uper' (did you mean 'upper'?)"),
        ("{{upper(fields.a, fields.b)}}", "function 'upper' takes 1 argument(s), got 2"),
        ("{{replace(fields.a, 'x')}}", "takes 3 argument(s)"),
        ("{{fields.a | truncate(1, 2, 3)}}", "takes 0 to 2 argument(s)"),
        ("{{feilds.a}}", "'feilds' is not a variable: scopes are fields"),
        ("{{fields.a.}}", "expected a key after '.'"),
        ("{{fields.a[-1]}}", "'[...]' takes a non-negative integer"),
        ("{{fields.a + 1}}", "unexpected character '+'"),
        ("{{@index}}", "only defined inside"),
        ("{{#each fields.a}}{{@nope}}{{/each}}", "unknown block variable '@nope'"),
        ("{{#if fields.a}}a{{else}}b{{else}}c{{/if}}", "at most one '{{else}}'"),
        ("{{#if fields.a}}", "never closed"),
        ("{{fields.a 'b'}}", "unexpected"),
    ],
)
def test_syntax_errors_name_the_problem_and_offset(
    engine: TemplateEngine, template: str, fragment: str
) -> None:
    with pytest.raises(TemplateSyntaxRenderError) as caught:
        engine.render(template, {"fields": {"a": "x"}})
    assert fragment in caught.value.message
    assert caught.value.offset is not None
    assert 0 <= caught.value.offset < len(template)


def test_function_type_errors_are_render_errors(engine: TemplateEngine) -> None:
    with pytest.raises(TemplateRenderError, match="join needs a list"):
        engine.render("{{fields.a | join(',')}}", {"fields": {"a": 5}})
    with pytest.raises(TemplateRenderError, match="#each needs a list or a map"):
        engine.render("{{#each fields.a}}x{{/each}}", {"fields": {"a": 5}})


# -- strictness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "suggestion"),
    [
        ("{{fields.instanceNme}}", "fields.instanceNme", "fields.instanceName"),
        ("db-{{fields.instanceNme}}", "fields.instanceNme", "fields.instanceName"),
        ("{{upper(fields.instanceNme)}}", "fields.instanceNme", "fields.instanceName"),
        ("{{#if fields.multiAs}}x{{/if}}", "fields.multiAs", "fields.multiAz"),
        (
            "{{outputs.provision.db_endpont}}",
            "outputs.provision.db_endpont",
            "outputs.provision.db_endpoint",
        ),
        ("{{request.user.emial}}", "request.user.emial", "request.user.email"),
        ("{{fields.teams[5]}}", "fields.teams[5]", None),
    ],
)
def test_missing_variables_are_errors_naming_path_and_guess(
    engine: TemplateEngine,
    context: TemplateContext,
    template: str,
    path: str,
    suggestion: str | None,
) -> None:
    with pytest.raises(UndefinedVariableError) as caught:
        engine.render_value(
            {"config": {"body": [template]}},
            context,
            pointer="/fulfillment/actions/1",
            action_id="register",
        )
    error = caught.value
    assert error.pointer == "/fulfillment/actions/1/config/body/0"
    assert error.action_id == "register"
    assert error.path == path
    assert error.suggestion == suggestion
    assert "action 'register' at /fulfillment/actions/1/config/body/0" in str(error)


def test_missing_value_inside_a_list_says_out_of_range(
    engine: TemplateEngine, context: TemplateContext
) -> None:
    with pytest.raises(UndefinedVariableError, match=r"out of range \(the list has 2 entries\)"):
        engine.render("{{fields.teams[5]}}", context)


# -- both ways of rendering agree on the whole example catalog ---------------------------------


def test_fast_paths_and_jinja_agree_on_every_example_template() -> None:
    fast = TemplateEngine(runtime=RUNTIME)
    jinja_only = TemplateEngine(runtime=RUNTIME, fast_paths=False)
    report = example_catalog()
    rendered = 0
    for request in report.requests:
        item = report.items[request.request.catalog_item].item
        fields = apply_defaults(item, request.request.fields)
        sites = list(template_sites(item))
        names = {
            str(ref.path[0])
            for site in sites
            for ref in scan(site.text).variables
            if ref.scope == "environment"
        }
        ctx = build_context(
            item,
            fields,
            request=REQUEST,
            outputs=placeholder_outputs([s.text for s in sites]),
            allowed_environment=names,
            environ={name: f"https://{name.lower()}" for name in names},
            runtime=RUNTIME,
            hostname="h",
        )
        for site in sites:
            assert fast.render_value(site.text, ctx) == jinja_only.render_value(site.text, ctx)
            rendered += 1
    assert rendered > 100


def test_every_example_template_translates_and_scans_the_same_paths() -> None:
    for entry in example_catalog().items.values():
        for site in template_sites(entry.item):
            translation = translate(site.text)
            scanned = {ref.text for ref in scan(site.text).variables}
            translated = {p.text for p in translation.paths if not p.root.startswith("@")}
            assert scanned == {t for t in translated if not t.startswith("this")}


def test_templates_are_compiled_once(engine: TemplateEngine, context: TemplateContext) -> None:
    source = "{{#if fields.multiAz}}cached-{{fields.instanceName}}{{/if}}"
    first = engine.compile(source)
    engine.render(source, context)
    assert engine.compile(source) is first
    assert first.template is not None
