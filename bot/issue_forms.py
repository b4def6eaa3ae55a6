"""Issue-form bodies back into request fields.

GitHub renders a submitted issue form as ``### <label>`` sections. Labels map back to field
ids through the form PAO generates for the item (``orchestrator.forms.issue_form``), so the
catalog, not the issue, decides what each answer means. ``_No response_`` and ``None`` (an
untouched dropdown) are empty; checkboxes are ``- [x] ...`` lines; multi-select dropdowns join
options with ``, ``; a ``###`` line inside a fenced code block is part of the answer, not a
new section.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.catalog.models import CatalogItem, FormField
from orchestrator.forms import issue_form

EMPTY_ANSWERS = frozenset({"", "_No response_", "None"})
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
_TITLE_ITEM = re.compile(r"^\s*\[([a-z0-9]+(?:-[a-z0-9]+)*)\]")
CATALOG_LABEL_PREFIX = "catalog:"


def parse_sections(body: str | None) -> dict[str, str]:
    """``### Label`` sections of a form-made issue body: label -> answer text (stripped)."""
    answers: dict[str, str] = {}
    label: str | None = None
    lines: list[str] = []
    fence: str | None = None
    for line in (body or "").replace("\r\n", "\n").split("\n"):
        opening = _FENCE.match(line)
        if fence is None and line.startswith("### "):
            if label is not None:
                answers[label] = "\n".join(lines).strip()
            label, lines = line[4:].strip(), []
            continue
        if opening:
            marker = opening.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        if label is not None:
            lines.append(line)
    if label is not None:
        answers[label] = "\n".join(lines).strip()
    return answers


def item_id_of(labels: set[str], title: str) -> str | None:
    """The catalog item an issue asks for: its ``catalog:<id>`` label, else ``[id]`` in the title."""
    for label in sorted(labels):
        if label.startswith(CATALOG_LABEL_PREFIX):
            return label[len(CATALOG_LABEL_PREFIX) :]
    match = _TITLE_ITEM.match(title)
    return match.group(1) if match else None


def _option_value(spec: FormField, label: str) -> Any:
    labels = spec.enum_labels or {}
    for option in spec.enum or ():
        if labels.get(str(option), str(option)) == label or str(option) == label:
            return option
    return label


def _options(spec: FormField, raw: str) -> list[Any]:
    """GitHub joins picked options with ', ', and option labels may contain ', ' themselves."""
    labels = spec.enum_labels or {}
    known = sorted(
        ((labels.get(str(o), str(o)), o) for o in spec.enum or ()),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    picked: list[Any] = []
    rest = raw.strip()
    while rest:
        match = next(((text, value) for text, value in known if rest.startswith(text)), None)
        if match is None:
            head, _, rest = rest.partition(", ")
            picked.append(head.strip())
            continue
        picked.append(match[1])
        rest = rest[len(match[0]) :].removeprefix(",").lstrip()
    return picked


def _number(raw: str) -> Any:
    try:
        number = float(raw)
    except ValueError:
        return raw  # validation reports it with the field's own message
    return int(number) if number.is_integer() and "." not in raw else number


def fields_from_body(item: CatalogItem, body: str | None) -> tuple[dict[str, Any], list[str]]:
    """(fields the body answers, labels found in the body that the form does not know)."""
    answers = parse_sections(body)
    form = issue_form(item)
    by_id = {f.id: f for f in item.fields()}
    fields: dict[str, Any] = {}
    known_labels: set[str] = set()
    for element in form["body"]:
        spec = by_id.get(element.get("id", ""))
        if spec is None:
            continue
        label = element["attributes"]["label"]
        known_labels.add(label)
        raw = answers.get(label)
        if raw is None or raw in EMPTY_ANSWERS:
            continue
        if element["type"] == "checkboxes":
            fields[spec.id] = bool(re.search(r"^\s*- \[[xX]\] ", raw, re.MULTILINE))
        elif spec.type == "boolean":
            fields[spec.id] = raw.strip().lower() in ("yes", "true")
        elif spec.type == "select":
            fields[spec.id] = _option_value(spec, raw)
        elif spec.type == "multiselect":
            fields[spec.id] = _options(spec, raw)
        elif spec.type == "number":
            fields[spec.id] = _number(raw)
        else:
            fields[spec.id] = raw
    unknown = [label for label in answers if label not in known_labels]
    return fields, unknown


def field_labels(item: CatalogItem) -> dict[str, str]:
    """Field id -> the label its question has in the issue form (for error messages)."""
    return {
        element["id"]: element["attributes"]["label"]
        for element in issue_form(item)["body"]
        if element.get("id")
    }
