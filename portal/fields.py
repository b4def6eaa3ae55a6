"""A posted HTML form, read back into the typed ``fields`` of a request.

HTML forms send text: this turns each input of the item's form into the JSON value the core
validates (numbers, booleans, lists), leaves empty inputs out (so the core's own "is required"
and defaults apply, exactly as for a JSON body without the key), and drops the fields the
values hide (a conditional field whose condition does not hold must be left out). The core
then judges the result: the page shows its messages, so page and API never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.datastructures import FormMultiDict

from orchestrator.catalog.models import CatalogItem
from orchestrator.forms import visibility

PREFIX = "f."  # input names: f.<field id>, apart from the form's own inputs (_csrf_token ...)


def input_name(field_id: str) -> str:
    return PREFIX + field_id


def _number(text: str) -> int | float | str:
    """The number written, or the text itself (the core answers "must be a number")."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if value == value and value not in (float("inf"), float("-inf")) else text


def read_fields(item: CatalogItem, form: FormMultiDict) -> dict[str, Any]:
    """The request fields a form post means, hidden fields left out."""
    values: dict[str, Any] = {}
    for spec in item.fields():
        name = input_name(spec.id)
        if spec.type == "boolean":
            values[spec.id] = form.get(name) in ("true", "on")
            continue
        if spec.type == "multiselect":
            chosen = [str(v) for v in form.getall(name, []) if str(v) != ""]
            if chosen:
                values[spec.id] = [_option(spec.enum, v) for v in chosen]
            continue
        raw = form.get(name)
        if not isinstance(raw, str) or raw == "":
            continue
        if spec.type == "number":
            values[spec.id] = _number(raw.strip())
        elif spec.type == "select":
            values[spec.id] = _option(spec.enum, raw)
        else:
            values[spec.id] = raw
    shown = visibility(item, values)
    return {k: v for k, v in values.items() if shown.get(k, False)}


def _option(options: tuple[str | int | float, ...] | None, text: str) -> Any:
    """The option whose text an HTML form sent (options may be numbers in the catalog)."""
    for option in options or ():
        if str(option) == text:
            return option
    return text


def redisplayed(item: CatalogItem, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The values to show again in a re-rendered form: never a secret's."""
    secret = {f.id for f in item.fields() if f.sensitive}
    return {k: v for k, v in fields.items() if k not in secret}
