"""The form JSON a portal renders for a catalog item (the Form Generation API's body): groups,
fields with their component per type, validation, options and conditional logic."""

from __future__ import annotations

from typing import Any

from orchestrator.catalog.models import CatalogItem, FormField

COMPONENTS: dict[str, str] = {
    "string": "text-input",
    "number": "number-input",
    "boolean": "checkbox",
    "select": "dropdown",
    "multiselect": "multi-select",
    "date": "date-picker",
    "textarea": "textarea",
    "password": "password-input",
}


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def field_json(spec: FormField) -> dict[str, Any]:
    """One field of the form JSON."""
    validation = (
        spec.validation.model_dump(by_alias=True, exclude_none=True) if spec.validation else None
    )
    options = None
    if spec.enum is not None:
        labels = spec.enum_labels or {}
        options = [{"value": v, "label": labels.get(str(v), str(v))} for v in spec.enum]
    conditional = (
        {
            "dependsOn": spec.conditional.depends_on,
            "condition": spec.conditional.condition,
            "value": spec.conditional.value,
        }
        if spec.conditional
        else None
    )
    return _drop_none(
        {
            "id": spec.id,
            "name": spec.name,
            "type": spec.type,
            "component": COMPONENTS[spec.type],
            "required": spec.required,
            "sensitive": spec.sensitive,
            "default": spec.default,
            "placeholder": spec.placeholder,
            "helpText": spec.help_text,
            "description": spec.description,
            "validation": validation or None,
            "options": options,
            "conditional": conditional,
        }
    )


def form_json(item: CatalogItem) -> dict[str, Any]:
    """The form a portal renders for ``item`` (the Form Generation API response body)."""
    meta = item.metadata
    groups = item.presentation.form.groups if item.presentation.form else ()
    return _drop_none(
        {
            "itemId": meta.id,
            "name": meta.name,
            "version": meta.version,
            "description": meta.description,
            "category": meta.category,
            "intro": item.presentation.intro,
            "lifecycle": item.lifecycle.model_dump(by_alias=True, exclude_none=True),
            "groups": [
                _drop_none(
                    {
                        "id": group.id,
                        "name": group.name,
                        "description": group.description,
                        "fields": [field_json(f) for f in group.fields],
                    }
                )
                for group in groups
            ],
        }
    )
