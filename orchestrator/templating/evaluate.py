"""Evaluate block-free templates without Jinja, with Jinja's exact semantics.

An expression tree from ``translate`` becomes a chain of closures. Lookups go through the
sandbox's own ``getitem`` (same refusals, same chained 'undefined' values), functions and
filters are the very objects registered in the sandbox, operators are Python's (which is
what Jinja compiles them to), and text formatting is the sandbox's ``finalize``. A test
renders every template both ways and compares.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.template_syntax.translate import BinOp, Call, Filter, Literal, Node, Not, Path
from orchestrator.templating import functions
from orchestrator.templating.sandbox import PaoSandbox

# What an evaluator sees: the scopes, and the dict standing in for Jinja's context.
Evaluator = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]

_MISSING = object()
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


def compile_node(node: Node, environment: PaoSandbox) -> Evaluator:
    """A closure computing ``node``'s value from (scopes, context)."""
    if isinstance(node, Literal):
        value = node.value
        return lambda scopes, context: value
    if isinstance(node, Path):
        return _path(node, environment)
    if isinstance(node, Call):
        function = functions.FUNCTIONS[node.name]
        args = [compile_node(a, environment) for a in node.args]
        return lambda scopes, context: function(context, *[a(scopes, context) for a in args])
    if isinstance(node, Filter):
        filter_ = functions.FILTERS[node.name]
        subject = compile_node(node.value, environment)
        extra = [compile_node(a, environment) for a in node.args]
        return lambda scopes, context: filter_(
            context, subject(scopes, context), *[a(scopes, context) for a in extra]
        )
    if isinstance(node, Not):
        operand = compile_node(node.operand, environment)
        return lambda scopes, context: not operand(scopes, context)
    return _binop(node, environment)


def _path(node: Path, environment: PaoSandbox) -> Evaluator:
    root = node.root
    segments = node.segments
    lookup = environment.getitem

    def resolve(scopes: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
        value = scopes[root] if root in scopes else environment.undefined(name=root)
        for segment in segments:
            # Plain dicts are the common case; anything else takes the sandbox's own lookup.
            found = value.get(segment, _MISSING) if type(value) is dict else _MISSING
            value = lookup(value, segment) if found is _MISSING else found
        return value

    return resolve


def _binop(node: BinOp, environment: PaoSandbox) -> Evaluator:
    left = compile_node(node.left, environment)
    right = compile_node(node.right, environment)
    if node.op == "and":
        return lambda scopes, context: left(scopes, context) and right(scopes, context)
    if node.op == "or":
        return lambda scopes, context: left(scopes, context) or right(scopes, context)
    compare = _COMPARE[node.op]
    return lambda scopes, context: compare(left(scopes, context), right(scopes, context))
