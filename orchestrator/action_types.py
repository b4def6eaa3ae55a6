"""The action types the installed packages declare: the core names none of them.

An action type is a plugin. Its package declares an entry point in the ``pao.action_types``
group whose object is an ``ActionTypeSpec`` or a sequence of them (``actions`` declares the
four built-in types), and, separately, its executor in ``pao.executors`` (the engine's
dispatch; an executor that implements ``describe`` is what a dry run shows). A spec says what
the rest of the core needs to know before anything runs:

* ``name`` and the JSON Schema of ``config``: the catalog item schema is composed from them
  (``orchestrator.catalog.schema``), so a bad config is a located schema error;
* ``outputs``: the ``outputs.<action>.<key>`` names a later template may read (checked by the
  validator and ``templating.analysis``);
* ``mask_config``: which rendered config values are secrets in previews (``templating.masking``);
* ``check_config``: checks a schema cannot express, located like every catalog issue;
* ``trace_headers``: whether ``config.headers`` reach a target (``traceparent`` is added there).

Types are listed in the order the entry points are named (sorted) and, within one entry
point, in the order it gives: that order is the schema's and the messages' order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "pao.action_types"
NAME_FORM = re.compile(r"[a-z][a-z0-9-]*")  # the database checks the same form


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem a type's own check found in a config: where (a JSON pointer inside the
    catalog item), a stable code, the message, and whether to point at the key itself."""

    pointer: str
    code: str
    message: str
    at_key: bool = False


ConfigCheck = Callable[[Mapping[str, Any], str, str], Iterable[ConfigProblem]]
"""``check(config, pointer of the config, action id)``: the config is schema-valid."""


def _no_problems(
    config: Mapping[str, Any], pointer: str, action_id: str
) -> Iterable[ConfigProblem]:
    return ()


def _nothing_declared(config: Mapping[str, Any]) -> Iterable[str]:
    return ()


def _nothing_secret(config: Mapping[str, Any], mask: str) -> dict[str, Any]:
    return dict(config)


@dataclass(frozen=True, slots=True)
class ActionTypeSpec:
    """What an action type contributes to the core (see the module docstring).

    ``config_schema`` may ``$ref`` the catalog schema's shared definitions (``#/$defs/template``,
    ``secretRef``, ``duration``, ``kebabId``) and the type's own ``schema_defs``; it is stored
    under ``$defs/<schema_name>``. ``outputs`` None means "whatever the target returns" (no
    output name is checked); ``declared_outputs`` adds names a config declares.
    """

    name: str
    schema_name: str
    config_schema: Mapping[str, Any]
    description: str = ""
    schema_defs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    outputs: frozenset[str] | None = None
    declared_outputs: Callable[[Mapping[str, Any]], Iterable[str]] = _nothing_declared
    mask_config: Callable[[Mapping[str, Any], str], dict[str, Any]] = _nothing_secret
    check_config: ConfigCheck = _no_problems
    trace_headers: bool = False

    def output_names(self, config: Mapping[str, Any]) -> frozenset[str] | None:
        """The output keys an action of this type with ``config`` produces, or None (open)."""
        if self.outputs is None:
            return None
        return self.outputs | frozenset(self.declared_outputs(config))


class UnknownActionTypeName(LookupError):
    """No installed package declares this action type."""


class ActionTypes:
    """The declared action types by name, in declaration order."""

    def __init__(self, specs: Iterable[ActionTypeSpec] = ()) -> None:
        self._specs: dict[str, ActionTypeSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: ActionTypeSpec) -> None:
        if not NAME_FORM.fullmatch(spec.name):
            raise ValueError(
                f"action type name {spec.name!r}: lower-case words joined by hyphens, please"
            )
        if spec.name in self._specs:
            raise ValueError(f"action type {spec.name!r} is declared twice")
        self._specs[spec.name] = spec

    def __iter__(self) -> Iterator[ActionTypeSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> ActionTypeSpec | None:
        return self._specs.get(name)

    def require(self, name: str) -> ActionTypeSpec:
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(self._specs) or "none"
            raise UnknownActionTypeName(f"unknown action type {name!r} (installed: {known})")
        return spec


def _as_specs(found: object, source: str) -> Sequence[ActionTypeSpec]:
    specs = [found] if isinstance(found, ActionTypeSpec) else found
    if not isinstance(specs, Sequence) or not all(isinstance(s, ActionTypeSpec) for s in specs):
        raise TypeError(f"entry point {source}: expected an ActionTypeSpec or a list of them")
    return specs


@cache
def installed_action_types() -> ActionTypes:
    """Every action type the installed distributions declare (loaded once per process)."""
    types = ActionTypes()
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        for spec in _as_specs(entry.load(), f"{ENTRY_POINT_GROUP}:{entry.name}"):
            types.add(spec)
    return types


def mask_declared_secrets(action_type: str, config: Mapping[str, Any], mask: str) -> dict[str, Any]:
    """A copy of a rendered config with the values its type declares secret replaced by
    ``mask`` (an unknown type declares none)."""
    spec = installed_action_types().get(action_type)
    return spec.mask_config(config, mask) if spec is not None else dict(config)


def sends_trace_headers(action_type: str) -> bool:
    """Whether an action of this type sends its ``config.headers`` to a target."""
    spec = installed_action_types().get(action_type)
    return spec is not None and spec.trace_headers
