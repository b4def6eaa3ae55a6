"""The ``request`` scope is whole for every requester: a requester without a display name, teams
or a title (a request the Actions bot submitted on someone's behalf, a token without a name)
still renders every template of every example item, and every documented key is defined."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Any

import pytest

from orchestrator.catalog.validator import CatalogReport, CatalogValidator, discover
from orchestrator.forms import apply_defaults
from orchestrator.template_syntax.references import scan
from orchestrator.templating.analysis import template_sites
from orchestrator.templating.context import RequestInfo, UserInfo, build_context, request_scope
from orchestrator.templating.engine import TemplateEngine
from orchestrator.templating.limits import Runtime
from orchestrator.templating.playground import placeholder_outputs

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 28, 9, 30, 15, tzinfo=dt.UTC)
RUNTIME = Runtime(now=lambda: NOW, new_uuid=lambda: "11111111-2222-4333-8444-555555555555")

#: A stored request as the Actions bot leaves it for ``X-PAO-On-Behalf-Of: jdoe@example.com``.
NAMELESS_ROW: dict[str, Any] = {
    "id": "0b6c2d1e-0000-4000-8000-000000000001",
    "requester_email": "jdoe@example.com",
    "requester_name": None,
    "requester_teams": [],
    "title": None,
    "source": "bot",
    "correlation_id": "corr-1",
    "created_at": NOW,
}


@functools.cache
def example_catalog() -> CatalogReport:
    files, _ = discover([ROOT / "examples"])
    report = CatalogValidator().validate_files(files)
    assert report.valid
    return report


def documented_request_keys() -> list[str]:
    """The keys the catalog-schema README promises in its ``request.<key>`` scope row."""
    text = (ROOT / "catalog-schema" / "README.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `request.<key>` |"))
    return re.findall(r"`([a-z_.]+)`", row.split("|")[2])


def lookup(scope: dict[str, Any], dotted: str) -> Any:
    value: Any = scope
    for part in dotted.split("."):
        assert isinstance(value, dict), f"request.{dotted} is not defined"
        assert part in value, f"request.{dotted} is not defined"
        value = value[part]
    return value


def test_the_readme_row_lists_the_user_keys() -> None:
    keys = documented_request_keys()
    assert {"id", "title", "user.email", "user.name", "user.teams"} <= set(keys)


@pytest.mark.parametrize(
    "row",
    [
        NAMELESS_ROW,
        {"id": "r", "requester_email": "svc@example.com"},  # nothing optional at all
        {**NAMELESS_ROW, "requester_name": "   "},  # a blank name is no name
    ],
)
def test_every_documented_request_key_is_defined(row: dict[str, Any]) -> None:
    scope = request_scope(RequestInfo.from_row(row))
    for key in documented_request_keys():
        assert lookup(scope, key) is not None, key
    assert scope["user"]["teams"] == []


@pytest.mark.parametrize(
    ("email", "name", "expected"),
    [
        ("jdoe@example.com", None, "jdoe"),
        ("jdoe@example.com", "", "jdoe"),
        ("jdoe@example.com", "Jane Doe", "Jane Doe"),
        ("no-at-sign", None, "no-at-sign"),
        ("@example.com", None, "@example.com"),
    ],
)
def test_name_falls_back_to_the_local_part(email: str, name: str | None, expected: str) -> None:
    assert UserInfo(email=email, name=name).display_name == expected


def test_from_row_keeps_what_the_row_has() -> None:
    row = {
        **NAMELESS_ROW,
        "requester_name": "Jane Doe",
        "requester_teams": ["payments"],
        "title": "Orders database",
    }
    scope = request_scope(RequestInfo.from_row(row))
    assert scope["user"] == {
        "email": "jdoe@example.com",
        "name": "Jane Doe",
        "teams": ["payments"],
    }
    assert scope["title"] == "Orders database"
    assert scope["timestamp"] == NOW.isoformat()
    assert scope["source"] == "bot"


def test_a_nameless_teamless_requester_renders_every_example_template() -> None:
    engine = TemplateEngine(runtime=RUNTIME)
    report = example_catalog()
    request = RequestInfo.from_row(NAMELESS_ROW)
    rendered: dict[str, int] = {}
    for example in report.requests:
        item = report.items[example.request.catalog_item].item
        fields = apply_defaults(item, example.request.fields)
        sites = list(template_sites(item))
        names = {
            str(ref.path[0])
            for site in sites
            for ref in scan(site.text).variables
            if ref.scope == "environment"
        }
        context = build_context(
            item,
            fields,
            request=request,
            outputs=placeholder_outputs([s.text for s in sites]),
            allowed_environment=names,
            environ={name: f"https://{name.lower()}" for name in names},
            runtime=RUNTIME,
            hostname="h",
        )
        for site in sites:
            engine.render_value(site.text, context)  # raises on an undefined variable
            rendered[item.id] = rendered.get(item.id, 0) + 1
    assert set(rendered) == set(report.items)
    description = engine.render(
        "{{request.user.name}} ({{request.user.email}}), teams {{json(request.user.teams)}}",
        build_context(report.items["access-grant-production"].item, {}, request=request),
    )
    assert description == "jdoe (jdoe@example.com), teams []"
