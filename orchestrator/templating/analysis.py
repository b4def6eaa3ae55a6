"""Static analysis of an item's templates: what they reference, and in which order actions run.

The catalog validator checks YAML documents (with line numbers); this module works on a loaded
``CatalogItem`` for the engine and the API: it finds every templated string with its JSON
pointer, checks each referenced path against what the item can provide (with a "did you
mean"), and derives the action dependency graph from ``outputs.<action>.<key>`` references,
rejecting forward references and cycles before anything runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from orchestrator.action_types import installed_action_types
from orchestrator.catalog.models import Action, CatalogItem
from orchestrator.catalog.yaml_loader import join_pointer
from orchestrator.template_syntax.references import SCOPES, VariableRef, scan
from orchestrator.template_syntax.scopes import (
    METADATA_PATHS,
    REQUEST_PATHS,
    SYSTEM_PATHS,
)
from orchestrator.template_syntax.translate import translate
from orchestrator.templating.errors import TemplateRenderError


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One static problem: stable code, message, where (pointer, action) and which path."""

    code: str  # template-syntax | unknown-reference | forward-reference | cyclic-reference | unknown-output
    message: str
    pointer: str
    action_id: str | None = None
    path: str | None = None
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"action '{self.action_id}' " if self.action_id else ""
        return f"{where}at {self.pointer}: [{self.code}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "pointer": self.pointer,
            "actionId": self.action_id,
            "path": self.path,
            "suggestion": self.suggestion,
        }


class TemplateAnalysisError(ValueError):
    """The item's templates cannot run as written; ``problems`` lists every reason."""

    def __init__(self, problems: list[TemplateProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class TemplateSite:
    """A templated string of the item: where it is and who owns it."""

    pointer: str
    text: str
    action_id: str | None  # None for fulfillment.manual

    @property
    def is_cleanup(self) -> bool:
        """Cleanup instructions render after their action completed: they may read its own
        outputs (``Delete {{outputs.provision.db_arn}}`` on the provision action)."""
        return self.pointer.endswith("/cleanup/instructions")


def _suggest(word: str, candidates: Collection[Any]) -> str | None:
    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


def _did_you_mean(guess: str | None) -> str:
    return f" (did you mean '{guess}'?)" if guess else ""


def _strings(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        if "{{" in node or "}}" in node:
            yield pointer, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, join_pointer(pointer, key))
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _strings(value, join_pointer(pointer, index))


def _action_document(action: Action) -> dict[str, Any]:
    """The templated parts of an action, keyed as in the catalog file."""
    doc: dict[str, Any] = {"config": action.config}
    if action.name is not None:
        doc["name"] = action.name
    if action.description is not None:
        doc["description"] = action.description
    if action.cleanup is not None:
        doc["cleanup"] = {"instructions": action.cleanup.instructions}
    return doc


def template_sites(item: CatalogItem) -> Iterator[TemplateSite]:
    """Every string of the item that is a template, with its JSON pointer in the item."""
    for index, action in enumerate(item.fulfillment.actions):
        base = f"/fulfillment/actions/{index}"
        for pointer, text in _strings(_action_document(action), base):
            yield TemplateSite(pointer, text, action.id)
    manual = item.fulfillment.manual
    if manual is not None:
        doc = manual.model_dump(by_alias=True, exclude_none=True)
        for pointer, text in _strings(doc, "/fulfillment/manual"):
            yield TemplateSite(pointer, text, None)


def action_dependencies(item: CatalogItem) -> dict[str, set[str]]:
    """For each action id, the ids of the actions whose outputs its templates read.

    Unknown action ids and unparsable templates are left out here; ``check_templates``
    reports them.
    """
    ids = {a.id for a in item.fulfillment.actions}
    graph: dict[str, set[str]] = {a.id: set() for a in item.fulfillment.actions}
    for site in template_sites(item):
        if site.action_id is None:
            continue
        try:
            refs = scan(site.text)
        except ValueError:
            continue
        for ref in refs.variables:
            if ref.scope == "outputs" and ref.path and ref.path[0] in ids:
                if site.is_cleanup and ref.path[0] == site.action_id:
                    continue  # its own outputs: available once it completed
                graph[site.action_id].add(str(ref.path[0]))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as ``[a, b, ..., a]``, or [] when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(child) == 1:
                return [*path[path.index(child) :], child]
            if not state.get(child) and child in graph:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return []


def execution_order(item: CatalogItem) -> list[str]:
    """The action ids in run order, after proving every ``outputs`` reference is satisfiable.

    Actions run in list order; an action may only read outputs of actions before it. Raises
    TemplateAnalysisError listing forward references, cycles and unknown actions.
    """
    problems = [
        p
        for p in check_templates(item)
        if p.code in ("forward-reference", "cyclic-reference")
        or (p.code == "unknown-reference" and p.path and p.path.startswith("outputs."))
    ]
    if problems:
        raise TemplateAnalysisError(problems)
    return [a.id for a in item.fulfillment.actions]


def check_templates(
    item: CatalogItem, *, environment_names: Collection[str] | None = None
) -> list[TemplateProblem]:
    """Every static problem of the item's templates, each located and with a 'did you mean'.

    ``environment_names`` is the server's allow-list; when given, ``environment.X`` must name
    one of them.
    """
    actions = list(item.fulfillment.actions)
    order = {a.id: i for i, a in enumerate(actions)}
    by_id = {a.id: a for a in actions}
    fields = {f.id for f in item.fields()}
    graph = action_dependencies(item)
    cycle = find_cycle(graph)
    problems: list[TemplateProblem] = []
    for site in template_sites(item):
        try:
            translate(site.text)
            refs = scan(site.text)
        except TemplateRenderError as exc:
            problems.append(
                TemplateProblem(
                    "template-syntax",
                    f"template error at character {(exc.offset or 0) + 1}: {exc.message}",
                    site.pointer,
                    site.action_id,
                )
            )
            continue
        for ref in refs.variables:
            problem = _check_ref(ref, site, fields, order, by_id, cycle, environment_names)
            if problem is not None:
                problems.append(problem)
    return problems


def _check_ref(
    ref: VariableRef,
    site: TemplateSite,
    fields: set[str],
    order: dict[str, int],
    by_id: dict[str, Action],
    cycle: list[str],
    environment_names: Collection[str] | None,
) -> TemplateProblem | None:
    def problem(code: str, message: str, guess: str | None = None) -> TemplateProblem:
        return TemplateProblem(
            code, message + _did_you_mean(guess), site.pointer, site.action_id, ref.text, guess
        )

    if ref.scope not in SCOPES:
        return problem("unknown-reference", f"'{ref.text}' is not a variable")
    if not ref.path:
        if ref.scope == "fields":
            return None
        return problem("unknown-reference", f"'{ref.text}' needs a key, e.g. {ref.scope}.<name>")
    head = str(ref.path[0])
    if ref.scope == "fields":
        if head in fields:
            return None
        guess = _suggest(head, fields)
        return problem(
            "unknown-reference",
            f"'{ref.text}' names no field of this item's form",
            f"fields.{guess}" if guess else None,
        )
    if ref.scope == "environment":
        if environment_names is None or head in environment_names:
            return None
        guess = _suggest(head, environment_names)
        return problem(
            "unknown-reference",
            f"'{ref.text}' is not in the server's environment allow-list "
            "(PAO_TEMPLATE_ENV_ALLOWLIST)",
            f"environment.{guess}" if guess else None,
        )
    if ref.scope == "outputs":
        return _check_output(ref, site, order, by_id, cycle, problem)
    table = {"metadata": METADATA_PATHS, "request": REQUEST_PATHS, "system": SYSTEM_PATHS}[
        ref.scope
    ]
    keys = tuple(p for p in ref.path if isinstance(p, str))
    if keys in table:
        return None
    guess = _suggest(".".join(keys), sorted(".".join(k) for k in table))
    return problem(
        "unknown-reference",
        f"'{ref.text}' is not a known {ref.scope} variable",
        f"{ref.scope}.{guess}" if guess else None,
    )


def _check_output(
    ref: VariableRef,
    site: TemplateSite,
    order: dict[str, int],
    by_id: dict[str, Action],
    cycle: list[str],
    problem: Callable[..., TemplateProblem],
) -> TemplateProblem | None:
    target = str(ref.path[0])
    if site.action_id is None:
        return problem("unknown-reference", f"'{ref.text}': action outputs are not available here")
    if target not in order:
        guess = _suggest(target, order)
        return problem(
            "unknown-reference",
            f"'{ref.text}' names no action of this item",
            f"outputs.{guess}" if guess else None,
        )
    own_cleanup = site.is_cleanup and target == site.action_id
    if order[target] >= order[site.action_id] and not own_cleanup:
        if target == site.action_id or (site.action_id in cycle and target in cycle):
            loop = cycle if target != site.action_id else [target, target]
            return problem(
                "cyclic-reference",
                f"'{ref.text}' makes actions depend on each other: {' -> '.join(loop)}",
            )
        return problem(
            "forward-reference",
            f"'{ref.text}' refers to action '{target}', which runs after "
            f"'{site.action_id}'; outputs are only available from earlier actions",
        )
    if len(ref.path) < 2:
        return None
    action = by_id[target]
    spec = installed_action_types().get(action.type)
    known = spec.output_names(action.config) if spec is not None else None
    if known is None:
        return None
    allowed = set(known)
    key = str(ref.path[1])
    if key in allowed:
        return None
    guess = _suggest(key, allowed)
    return problem(
        "unknown-output",
        f"'{ref.text}': a {action.type} action named '{target}' has no output '{key}' "
        f"(it has: {', '.join(sorted(allowed))})",
        f"outputs.{target}.{guess}" if guess else None,
    )
