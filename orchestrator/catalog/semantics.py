"""Checks the JSON Schema cannot express, on one schema-valid catalog item document."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterator
from typing import Any

from orchestrator.action_types import installed_action_types
from orchestrator.catalog.approval_checks import check_approvals
from orchestrator.catalog.issues import Issue
from orchestrator.catalog.yaml_loader import LoadedDocument, join_pointer
from orchestrator.template_syntax.references import (
    FILTERS,
    FUNCTIONS,
    SCOPES,
    TemplateReferences,
    TemplateSyntaxError,
    VariableRef,
    scan,
)
from orchestrator.template_syntax.scopes import (
    METADATA_PATHS,
    REQUEST_PATHS,
    SYSTEM_PATHS,
)


def suggest(word: str, candidates: Any) -> str:
    """A ' (did you mean 'x'?)' suffix for a near-miss, or ''."""
    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


class ItemChecker:
    """Semantic checks of one catalog item; collects located issues."""

    def __init__(self, doc: LoadedDocument) -> None:
        self.doc = doc
        self.item: dict[str, Any] = doc.data
        self.issues: list[Issue] = []
        self.fields: dict[str, tuple[dict[str, Any], str]] = {}
        self.patterns: dict[str, re.Pattern[str]] = {}

    def error(self, pointer: str, code: str, message: str, *, key: bool = False) -> None:
        self.issues.append(self.doc.issue(pointer, code, message, key=key))

    def run(self) -> list[Issue]:
        self.check_form()
        self.check_actions()
        check_approvals(self)
        return self.issues

    # -- form ---------------------------------------------------------------------------------

    def check_form(self) -> None:
        groups = self.item.get("presentation", {}).get("form", {}).get("groups", [])
        group_ids: dict[str, str] = {}
        for g_index, group in enumerate(groups):
            g_ptr = f"/presentation/form/groups/{g_index}"
            if group["id"] in group_ids:
                self.error(
                    f"{g_ptr}/id",
                    "duplicate-group-id",
                    f"group id '{group['id']}' is already used by {group_ids[group['id']]}",
                )
            group_ids.setdefault(group["id"], g_ptr)
            for f_index, spec in enumerate(group["fields"]):
                f_ptr = f"{g_ptr}/fields/{f_index}"
                if spec["id"] in self.fields:
                    first = self.doc.position(self.fields[spec["id"]][1])
                    self.error(
                        f"{f_ptr}/id",
                        "duplicate-field-id",
                        f"field id '{spec['id']}' is already defined at line {first[0]}",
                    )
                    continue
                self.fields[spec["id"]] = (spec, f_ptr)
        for spec, f_ptr in self.fields.values():
            self.check_field(spec, f_ptr)
        self.check_conditionals()

    def check_field(self, spec: dict[str, Any], ptr: str) -> None:
        validation = spec.get("validation", {})
        pattern = validation.get("pattern")
        if pattern is not None:
            try:
                self.patterns[spec["id"]] = re.compile(pattern)
            except re.error as exc:
                self.error(
                    f"{ptr}/validation/pattern",
                    "invalid-regex",
                    f"field '{spec['id']}': pattern {pattern!r} is not a valid regular expression: "
                    f"{exc.msg} at position {exc.pos}",
                )
        for low, high in (
            ("minLength", "maxLength"),
            ("min", "max"),
            ("minItems", "maxItems"),
            ("minDate", "maxDate"),
        ):
            if low in validation and high in validation:
                a, b = validation[low], validation[high]
                if low == "minDate":
                    a, b = _parse_date(a), _parse_date(b)
                if a is not None and b is not None and a > b:
                    self.error(
                        f"{ptr}/validation/{low}",
                        "invalid-range",
                        f"field '{spec['id']}': {low} ({validation[low]}) is greater than "
                        f"{high} ({validation[high]})",
                    )
        for index, option in enumerate(spec.get("enum", [])):
            problem = self.value_problem(spec, option, as_option=True)
            if problem:
                self.error(
                    f"{ptr}/enum/{index}",
                    "invalid-enum-value",
                    f"field '{spec['id']}': option {option!r} {problem}",
                )
        if "default" in spec:
            problem = self.value_problem(spec, spec["default"])
            if problem:
                self.error(
                    f"{ptr}/default",
                    "invalid-default",
                    f"field '{spec['id']}': default {spec['default']!r} {problem}",
                )

    def value_problem(self, spec: dict[str, Any], value: Any, *, as_option: bool = False) -> str:
        """Why ``value`` is not acceptable for the field, or '' (used for defaults and options)."""
        kind = spec["type"]
        validation = spec.get("validation", {})
        if kind == "multiselect" and not as_option:
            if not isinstance(value, list):
                return "is not a list of options"
            for entry in value:
                if entry not in spec.get("enum", []):
                    return f"contains {entry!r}, which is not one of the options{suggest(str(entry), spec.get('enum', []))}"
            if "minItems" in validation and len(value) < validation["minItems"]:
                return f"has fewer than {validation['minItems']} options"
            if "maxItems" in validation and len(value) > validation["maxItems"]:
                return f"has more than {validation['maxItems']} options"
            return ""
        if kind in ("select", "multiselect") and not as_option:
            if value not in spec.get("enum", []):
                return f"is not one of the options{suggest(str(value), spec.get('enum', []))}"
            return ""
        if kind == "boolean":
            return "" if isinstance(value, bool) else "is not a boolean"
        if kind == "number":
            if not _is_number(value):
                return "is not a number"
            if "min" in validation and value < validation["min"]:
                return f"is below the minimum {validation['min']}"
            if "max" in validation and value > validation["max"]:
                return f"is above the maximum {validation['max']}"
            return ""
        if kind == "date":
            parsed = _parse_date(value)
            if parsed is None:
                return "is not a date (YYYY-MM-DD)"
            low, high = (
                _parse_date(validation.get("minDate")),
                _parse_date(validation.get("maxDate")),
            )
            if low and parsed < low:
                return f"is before minDate {low.isoformat()}"
            if high and parsed > high:
                return f"is after maxDate {high.isoformat()}"
            return ""
        if kind in ("string", "textarea", "password", "select", "multiselect"):
            if not isinstance(value, str):
                return "" if as_option and _is_number(value) else "is not a string"
            if "minLength" in validation and len(value) < validation["minLength"]:
                return f"is shorter than minLength {validation['minLength']}"
            if "maxLength" in validation and len(value) > validation["maxLength"]:
                return f"is longer than maxLength {validation['maxLength']}"
            compiled = self.patterns.get(spec["id"])
            if compiled is not None and not compiled.search(value):
                return f"does not match the pattern {compiled.pattern!r}"
        return ""

    def check_conditionals(self) -> None:
        for field_id, (spec, ptr) in self.fields.items():
            cond = spec.get("conditional")
            if cond is None:
                continue
            target = cond["dependsOn"]
            where = f"{ptr}/conditional/dependsOn"
            if target == field_id:
                self.error(where, "dangling-depends-on", f"field '{field_id}' depends on itself")
                continue
            if target not in self.fields:
                self.error(
                    where,
                    "dangling-depends-on",
                    f"field '{field_id}' depends on '{target}', which is not a field of this item"
                    f"{suggest(target, self.fields)}",
                )
                continue
            controller = self.fields[target][0]
            if controller["type"] in ("password", "textarea"):
                self.error(
                    where,
                    "incompatible-depends-on",
                    f"field '{field_id}' depends on '{target}', a {controller['type']} field; "
                    "conditions may only test string, number, boolean, select, multiselect "
                    "or date fields",
                )
                continue
            values = cond["value"] if cond["condition"] in ("in", "notIn") else [cond["value"]]
            probe = (
                dict(controller, type="select")
                if controller["type"] == "multiselect"
                else controller
            )
            for value in values:
                problem = self.value_problem(probe, value)
                if problem:
                    self.error(
                        f"{ptr}/conditional/value",
                        "incompatible-depends-on",
                        f"field '{field_id}': condition value {value!r} can never match "
                        f"{controller['type']} field '{target}': it {problem}",
                    )
                    break
        self.check_conditional_cycles()

    def check_conditional_cycles(self) -> None:
        for start in self.fields:
            seen = [start]
            current = start
            while True:
                cond = self.fields[current][0].get("conditional")
                if cond is None or cond["dependsOn"] not in self.fields:
                    break
                current = cond["dependsOn"]
                if current == start and len(seen) > 1:
                    chain = " -> ".join([*seen, start])
                    self.error(
                        f"{self.fields[start][1]}/conditional/dependsOn",
                        "dangling-depends-on",
                        f"conditional fields depend on each other in a cycle: {chain}",
                    )
                    break
                if current in seen:
                    break
                seen.append(current)

    # -- actions and templates ----------------------------------------------------------------

    def check_actions(self) -> None:
        fulfillment = self.item["fulfillment"]
        actions = fulfillment.get("actions", [])
        order: dict[str, int] = {}
        for index, action in enumerate(actions):
            if action["id"] in order:
                line = self.doc.position(f"/fulfillment/actions/{order[action['id']]}")[0]
                self.error(
                    f"/fulfillment/actions/{index}/id",
                    "duplicate-action-id",
                    f"action id '{action['id']}' is already used by the action at line {line}",
                )
                continue
            order[action["id"]] = index
        self.check_configs(actions)
        depends: dict[str, set[str]] = {action_id: set() for action_id in order}
        forward: list[tuple[str, str, str, VariableRef]] = []
        for index, action in enumerate(actions):
            a_ptr = f"/fulfillment/actions/{index}"
            if order.get(action["id"]) != index:
                continue
            for pointer, ref in self.template_refs(action, a_ptr):
                if ref.scope != "outputs":
                    continue
                target = ref.path[0] if ref.path else None
                if not isinstance(target, str) or target not in order:
                    self.error(
                        pointer,
                        "unknown-reference",
                        f"'{ref.text}' names no action of this item"
                        f"{suggest(str(target), order) if target is not None else ''}",
                    )
                    continue
                if target == action["id"] and pointer.endswith("/cleanup/instructions"):
                    # Cleanup renders after its action completed: its own outputs exist.
                    self.check_output_key(pointer, action, ref)
                    continue
                depends[action["id"]].add(target)
                if order[target] >= index:
                    forward.append((pointer, action["id"], target, ref))
                    continue
                self.check_output_key(pointer, actions[order[target]], ref)
        for pointer, source, target, ref in forward:
            cycle = self.find_cycle(depends, source, target)
            if cycle:
                self.error(
                    pointer,
                    "cyclic-reference",
                    f"'{ref.text}' makes actions depend on each other: {' -> '.join(cycle)}",
                )
            else:
                self.error(
                    pointer,
                    "forward-reference",
                    f"'{ref.text}' refers to action '{target}', which runs after "
                    f"'{source}'; outputs are only available from earlier actions",
                )
        manual = fulfillment.get("manual")
        if manual:
            # Consumed for its checks: the manual fallback has no outputs to yield.
            list(self.template_refs(manual, "/fulfillment/manual", outputs_allowed=False))

    def check_configs(self, actions: list[dict[str, Any]]) -> None:
        """Each action type's own checks of its (schema-valid) configs, located; type by type
        in the installed order, then in the order of the actions."""
        types = installed_action_types()
        for spec in types:
            for index, action in enumerate(actions):
                if action.get("type") != spec.name:
                    continue
                pointer = f"/fulfillment/actions/{index}/config"
                config = action.get("config") or {}
                for found in spec.check_config(config, pointer, str(action["id"])):
                    self.error(found.pointer, found.code, found.message, key=found.at_key)

    @staticmethod
    def find_cycle(depends: dict[str, set[str]], source: str, target: str) -> list[str]:
        """A path target -> ... -> source, closing the loop source -> target, or []."""
        stack: list[tuple[str, list[str]]] = [(target, [source, target])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            if node == source:
                return path
            if node in seen:
                continue
            seen.add(node)
            for nxt in sorted(depends.get(node, ())):
                stack.append((nxt, [*path, nxt] if nxt != source else [*path, source]))
        return []

    def check_output_key(self, pointer: str, target: dict[str, Any], ref: VariableRef) -> None:
        if len(ref.path) < 2:
            return
        key = ref.path[1]
        spec = installed_action_types().get(target["type"])
        known = spec.output_names(target["config"]) if spec is not None else None
        if known is None:
            return
        allowed = set(known)
        if key not in allowed:
            self.error(
                pointer,
                "unknown-output",
                f"'{ref.text}': a {target['type']} action named '{target['id']}' has no output "
                f"'{key}' (it has: {', '.join(sorted(allowed))}){suggest(str(key), allowed)}",
            )

    def template_refs(
        self, node: Any, pointer: str, *, outputs_allowed: bool = True
    ) -> Iterator[tuple[str, VariableRef]]:
        """Every variable reference in the strings under ``node``, after checking the others."""
        for ptr, text in _strings(node, pointer):
            refs = _scan(text)
            if isinstance(refs, tuple):
                message, offset = refs
                self.error(
                    ptr,
                    "template-syntax",
                    f"template error at character {offset + 1}: {message}",
                )
                continue
            for call in refs.calls:
                known = FUNCTIONS if call.kind == "function" else FILTERS
                if call.name not in known:
                    self.error(
                        ptr,
                        "template-syntax",
                        f"unknown {call.kind} '{call.name}'{suggest(call.name, known)}",
                    )
            for ref in refs.unknown_roots:
                self.error(
                    ptr,
                    "unknown-reference",
                    f"'{ref.text}' is not a variable: scopes are {', '.join(SCOPES)}"
                    f"{suggest(ref.scope, SCOPES)}",
                )
            for ref in refs.variables:
                if ref.scope == "outputs" and not outputs_allowed:
                    self.error(
                        ptr,
                        "unknown-reference",
                        f"'{ref.text}': action outputs are not available here",
                    )
                elif ref.scope != "outputs":
                    self.check_variable(ptr, ref)
                if ref.scope == "outputs":
                    yield ptr, ref

    def check_variable(self, pointer: str, ref: VariableRef) -> None:
        if not ref.path:
            if ref.scope != "fields":
                self.error(
                    pointer,
                    "unknown-reference",
                    f"'{ref.text}' needs a key, e.g. {ref.scope}.<name>",
                )
            return
        if ref.scope == "fields":
            name = ref.path[0]
            if name not in self.fields:
                self.error(
                    pointer,
                    "unknown-reference",
                    f"'{ref.text}' names no field of this item's form{suggest(str(name), self.fields)}",
                )
            return
        if ref.scope == "environment":
            return
        table = {"metadata": METADATA_PATHS, "request": REQUEST_PATHS, "system": SYSTEM_PATHS}[
            ref.scope
        ]
        path = tuple(p for p in ref.path if isinstance(p, str))  # list indexes are free
        if path not in table:
            names = sorted(".".join(k) for k in table)
            self.error(
                pointer,
                "unknown-reference",
                f"'{ref.text}' is not a known {ref.scope} variable{suggest('.'.join(path), names)}",
            )


_SCAN_CACHE_LIMIT = 10_000  # with texts of at most 500 characters: a few MB at most
_scans: dict[str, TemplateReferences | tuple[str, int]] = {}


def _scan(text: str) -> TemplateReferences | tuple[str, int]:
    """``scan`` memoized: its result is immutable and catalogs repeat the same templates.

    A syntax error is returned as (message, offset).
    """
    found = _scans.get(text)
    if found is None:
        try:
            found = scan(text)
        except TemplateSyntaxError as exc:
            found = (exc.message, exc.offset)
        if len(_scans) < _SCAN_CACHE_LIMIT and len(text) <= 500:
            _scans[text] = found
    return found


def _strings(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """(pointer, text) of every string under ``node`` that contains template markers."""
    if isinstance(node, str):
        if "{{" in node or "}}" in node:
            yield pointer, node
        return
    if isinstance(node, dict):
        entries: Any = node.items()
    elif isinstance(node, list):
        entries = enumerate(node)
    else:
        return
    for key, value in entries:
        if isinstance(value, str):  # most strings are plain: no pointer to build for them
            if "{{" in value or "}}" in value:
                yield join_pointer(pointer, key), value
        elif isinstance(value, dict | list):
            yield from _strings(value, join_pointer(pointer, key))
