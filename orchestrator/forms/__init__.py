"""One form definition, every surface: form JSON, request JSON Schema, GitHub issue forms.

From a catalog item's ``presentation.form`` this package derives, one job per module:

* ``rules``: what a field's ``validation`` means (patterns, dates, decimal steps), shared;
* ``conditions``: which fields a set of values shows, conditions in words;
* ``defaults``: the fields once the defaults of shown fields fill the gaps;
* ``portal_form``: the form JSON a portal renders (``form_json``);
* ``json_schema``: the JSON Schema (2020-12) of a request's ``fields``;
* ``compiled``: that schema compiled once per item version (``request_json_schema``,
  ``compiled_schema``);
* ``validation``: a request's fields checked with located messages (``validate_request_fields``);
* ``github_issue_form``: a GitHub issue form per item (``issue_form_yaml``, ``write_issue_forms``);
* ``preview``: the preview catalog authors get (``preview_form``).

The names importers use are re-exported here: ``from orchestrator.forms import X``.
"""

from __future__ import annotations

from orchestrator.forms.compiled import CompiledSchema, compiled_schema, request_json_schema
from orchestrator.forms.conditions import describe_condition, visibility
from orchestrator.forms.defaults import apply_defaults
from orchestrator.forms.github_issue_form import (
    CATALOG_LABEL_PREFIX,
    ISSUE_LABEL,
    LABEL_LIMIT,
    catalog_label,
    issue_form,
    issue_form_yaml,
    issue_forms_config,
    write_issue_forms,
)
from orchestrator.forms.json_schema import JSON_SCHEMA_DIALECT
from orchestrator.forms.portal_form import COMPONENTS, field_json, form_json
from orchestrator.forms.preview import preview_form
from orchestrator.forms.rules import DATE_PATTERN, is_step_multiple, python_pattern
from orchestrator.forms.validation import FieldError, check_fields, validate_request_fields

__all__ = [
    "CATALOG_LABEL_PREFIX",
    "COMPONENTS",
    "DATE_PATTERN",
    "ISSUE_LABEL",
    "JSON_SCHEMA_DIALECT",
    "LABEL_LIMIT",
    "CompiledSchema",
    "FieldError",
    "apply_defaults",
    "catalog_label",
    "check_fields",
    "compiled_schema",
    "describe_condition",
    "field_json",
    "form_json",
    "is_step_multiple",
    "issue_form",
    "issue_form_yaml",
    "issue_forms_config",
    "preview_form",
    "python_pattern",
    "request_json_schema",
    "validate_request_fields",
    "visibility",
    "write_issue_forms",
]
