"""A GitHub issue form per catalog item (``.github/ISSUE_TEMPLATE/<id>.yml``), with its labels.

Password fields are left out (issues are public); conditional fields cannot be hidden there, so
they are described and never pre-filled. ``orchestrator.issue_forms`` reads the answers back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from orchestrator.catalog.models import CatalogItem, FormField
from orchestrator.forms.conditions import describe_condition
from orchestrator.forms.rules import required_now

ISSUE_LABEL = "pao-request"
CATALOG_LABEL_PREFIX = "catalog:"
LABEL_LIMIT = 50  # GitHub refuses longer label names


def catalog_label(item_id: str) -> str:
    """The ``catalog:<id>`` label of an item, within GitHub's 50 characters: a longer id is cut
    and ends in ``~`` and 8 hex digits of its SHA-256, the same for the same id everywhere."""
    label = CATALOG_LABEL_PREFIX + item_id
    if len(label) <= LABEL_LIMIT:
        return label
    digest = hashlib.sha256(item_id.encode()).hexdigest()[:8]
    keep = LABEL_LIMIT - len(CATALOG_LABEL_PREFIX) - len(digest) - 1
    return f"{CATALOG_LABEL_PREFIX}{item_id[:keep]}~{digest}"


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _field_notes(spec: FormField, by_id: Mapping[str, FormField]) -> list[str]:
    notes: list[str] = []
    for text in (spec.description, spec.help_text):
        if text:
            notes.append(text.strip())
    rules = spec.validation
    if spec.type == "number" and rules:
        bounds = []
        if rules.min is not None:
            bounds.append(f"at least {rules.min:g}")
        if rules.max is not None:
            bounds.append(f"at most {rules.max:g}")
        if rules.step is not None:
            bounds.append(f"in steps of {rules.step:g}")
        if bounds:
            notes.append("A number " + ", ".join(bounds) + ".")
    if spec.type == "date":
        span = "A date written YYYY-MM-DD"
        if rules and rules.min_date:
            span += f", on or after {rules.min_date}"
        if rules and rules.max_date:
            span += f", on or before {rules.max_date}"
        notes.append(span + ".")
    if spec.type in ("string", "textarea") and rules and rules.message:
        notes.append(rules.message)
    if spec.type == "multiselect" and rules and (rules.min_items or rules.max_items):
        notes.append(
            f"Pick {rules.min_items or 0} to {rules.max_items or len(spec.enum or ())} options."
        )
    if spec.conditional is not None:
        notes.append(
            f"Only when {describe_condition(spec.conditional, by_id)}; leave empty otherwise."
        )
    if spec.default is not None:
        if isinstance(spec.default, list):
            shown = ", ".join(_option_label(spec, v) for v in spec.default) or "none"
        elif spec.type == "boolean":
            shown = "yes" if spec.default else "no"
        else:
            shown = _option_label(spec, spec.default)
        notes.append(f"Default when left empty: {shown}.")
    return notes


def _option_label(spec: FormField, option: Any) -> str:
    labels = spec.enum_labels or {}
    return labels.get(str(option), str(option))


def _issue_element(spec: FormField, label: str, by_id: Mapping[str, FormField]) -> dict[str, Any]:
    """One body element. A conditional field gets no pre-filled value: issue forms cannot hide
    it, and a pre-filled answer to a hidden field would make the request invalid."""
    attributes: dict[str, Any] = {"label": label}
    notes = _field_notes(spec, by_id)
    prefill = spec.conditional is None
    if notes:
        attributes["description"] = " ".join(notes)
    element: dict[str, Any]
    if spec.type in ("select", "multiselect"):
        options = [_option_label(spec, o) for o in spec.enum or ()]
        attributes["options"] = options
        if spec.type == "multiselect":
            attributes["multiple"] = True
        defaults = spec.default if isinstance(spec.default, list) else [spec.default]
        if prefill and len(defaults) == 1 and defaults[0] in (spec.enum or ()):
            attributes["default"] = list(spec.enum or ()).index(defaults[0])
        element = {"type": "dropdown", "id": spec.id, "attributes": attributes}
    elif spec.type == "boolean" and spec.default is True:
        # A checkbox cannot start ticked, so a 'yes by default' answer is a Yes/No dropdown.
        attributes["options"] = ["Yes", "No"]
        if prefill:
            attributes["default"] = 0
        element = {"type": "dropdown", "id": spec.id, "attributes": attributes}
    elif spec.type == "boolean":
        attributes["options"] = [{"label": spec.name, "required": False}]
        element = {"type": "checkboxes", "id": spec.id, "attributes": attributes}
    else:
        kind = "textarea" if spec.type == "textarea" else "input"
        placeholder = spec.placeholder or ("YYYY-MM-DD" if spec.type == "date" else None)
        if placeholder:
            attributes["placeholder"] = placeholder
        if prefill and spec.default is not None and str(spec.default):
            attributes["value"] = str(spec.default)
        element = {"type": kind, "id": spec.id, "attributes": attributes}
    required = required_now(spec) and spec.conditional is None and spec.type != "boolean"
    if element["type"] != "checkboxes" and required:
        element["validations"] = {"required": True}
    return element


def _intro(item: CatalogItem) -> str:
    meta = item.metadata
    owner = meta.owner
    contact = [f"[{owner.contact}](mailto:{owner.contact})"]
    if owner.slack:
        contact.append(f"Slack {owner.slack}")
    lines = [
        f"## {meta.name}",
        "",
        meta.description.strip(),
        "",
        f"- **Owner:** team `{owner.team}` ({', '.join(contact)})",
    ]
    if meta.sla and (meta.sla.response_time or meta.sla.fulfillment_time):
        sla = []
        if meta.sla.response_time:
            sla.append(f"response within {meta.sla.response_time}")
        if meta.sla.fulfillment_time:
            sla.append(f"fulfilled within {meta.sla.fulfillment_time}")
        lines.append(f"- **SLA:** {', '.join(sla)}")
    lines.append(f"- **Catalog item:** `{meta.id}` version {meta.version}")
    if meta.documentation:
        lines.append(f"- **Documentation:** {meta.documentation}")
    if item.lifecycle.status == "deprecated":
        lines += [
            "",
            f"> [!WARNING]\n> This item is deprecated; use `{item.lifecycle.replacement}` instead."
            + (f" {item.lifecycle.message}" if item.lifecycle.message else ""),
        ]
    if item.presentation.intro:
        lines += ["", item.presentation.intro.strip()]
    return "\n".join(lines)


def issue_form(item: CatalogItem) -> dict[str, Any]:
    """The GitHub issue form (as data) for requesting ``item``.

    Password fields are not part of it: issues are public. A note says how to supply them.
    """
    body: list[dict[str, Any]] = [{"type": "markdown", "attributes": {"value": _intro(item)}}]
    labels_used: set[str] = set()
    by_id = {f.id: f for f in item.fields()}
    groups = item.presentation.form.groups if item.presentation.form else ()
    for group in groups:
        heading = f"### {group.name}"
        if group.description:
            heading += f"\n\n{group.description.strip()}"
        body.append({"type": "markdown", "attributes": {"value": heading}})
        for spec in group.fields:
            if spec.sensitive:
                body.append(
                    {
                        "type": "markdown",
                        "attributes": {
                            "value": (
                                f"**{spec.name}** is a secret and is not asked for here, because "
                                "issues are public. Never paste it into this issue: PAO asks for "
                                "it through the PAO API or portal once the request is opened, or "
                                f"contact {item.metadata.owner.contact}."
                            )
                        },
                    }
                )
                continue
            name = spec.name.strip()  # GitHub shows the label trimmed; the parser compares so
            label = name if name not in labels_used else f"{name} ({spec.id})"
            labels_used.add(label)
            body.append(_issue_element(spec, label, by_id))
    if not item.fields():
        body.append(
            {
                "type": "markdown",
                "attributes": {
                    "value": "This item takes no input: submit the issue to request it."
                },
            }
        )
    return {
        "name": item.metadata.name,
        "description": _one_line(item.metadata.description),
        "title": f"[{item.id}] ",
        "labels": [ISSUE_LABEL, catalog_label(item.id)],
        "body": body,
    }


def issue_form_yaml(item: CatalogItem) -> str:
    """``issue_form`` as the YAML file GitHub reads from ``.github/ISSUE_TEMPLATE/``."""
    header = (
        f"# Generated by `pao catalog issue-forms` from catalog item {item.id} "
        f"{item.metadata.version}. Do not edit: change the catalog item instead.\n"
    )
    return header + yaml.dump(
        issue_form(item), Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100
    )


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (the Markdown) as literal blocks, readable in review."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def issue_forms_config() -> dict[str, Any]:
    """The template chooser config: requests only through the generated forms."""
    return {"blank_issues_enabled": False}


def write_issue_forms(items: Iterable[CatalogItem], out_dir: Path) -> list[Path]:
    """Write ``<id>.yml`` for every requestable item plus ``config.yml``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for item in sorted(items, key=lambda i: i.id):
        if item.lifecycle.status == "retired":
            continue
        path = out_dir / f"{item.id}.yml"
        path.write_text(issue_form_yaml(item), encoding="utf-8")
        written.append(path)
    config = out_dir / "config.yml"
    config.write_text(yaml.safe_dump(issue_forms_config(), sort_keys=False), encoding="utf-8")
    written.append(config)
    return written
