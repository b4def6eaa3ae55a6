"""Static reading of templates: which variables does a template reference?

Catalog validation runs this on every templated string so that a typo fails CI, not a request.
The grammar is the catalog's: ``{{scope.path}}``, ``[n]`` indexing, ``{{#if}}``/``{{#unless}}``/
``{{#each}}`` blocks with ``{{else}}``, ``this``/``@key``/``@index`` inside ``#each``, function
calls such as ``upper(x)`` and Jinja-style filters such as ``x | default('y')``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCOPES = ("fields", "metadata", "request", "system", "environment", "outputs")
FUNCTIONS = frozenset(
    {"upper", "lower", "concat", "replace", "json", "base64", "uuid", "timestamp", "trim"}
)
FILTERS = frozenset(
    {
        "default",
        "upper",
        "lower",
        "trim",
        "replace",
        "json",
        "base64",
        "join",
        "length",
        "int",
        "float",
        "string",
        "title",
        "truncate",
        "jiraIssueType",
        "slug",
    }
)
BLOCKS = frozenset({"if", "unless", "each"})
_KEYWORDS = frozenset({"true", "false", "null", "none", "and", "or", "not", "in", "is"})
_LOCALS = frozenset({"this", "@key", "@index", "@first", "@last"})

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NAME = re.compile(
    r"(?<![\w.@\]])(@?[A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+|\[\d+\]|\['[^']*'\])*)"
)
_SEGMENT = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]|\['([^']*)'\]")


class TemplateSyntaxError(ValueError):
    """Malformed template; ``offset`` is the character index where the problem starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class VariableRef:
    """One variable path as written, e.g. ``outputs.provision.db_id``."""

    scope: str
    path: tuple[str | int, ...]
    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class CallRef:
    """A function or filter name used by the template."""

    name: str
    kind: str  # "function" | "filter"
    offset: int


@dataclass(frozen=True, slots=True)
class TemplateReferences:
    variables: tuple[VariableRef, ...]
    calls: tuple[CallRef, ...]
    unknown_roots: tuple[VariableRef, ...]


def _split_path(rest: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for attr, index, quoted in _SEGMENT.findall(rest):
        if attr:
            parts.append(attr)
        elif index:
            parts.append(int(index))
        else:
            parts.append(quoted)
    return tuple(parts)


def is_template(text: str) -> bool:
    return "{{" in text


def scan(template: str) -> TemplateReferences:
    """Every variable, function and filter a template uses. Raises TemplateSyntaxError."""
    variables: list[VariableRef] = []
    calls: list[CallRef] = []
    unknown: list[VariableRef] = []
    stack: list[tuple[str, int]] = []
    position = 0
    for match in _TAG.finditer(template):
        stray = template.find("}}", position, match.start())
        if stray != -1:
            raise TemplateSyntaxError("'}}' without a matching '{{'", stray)
        position = match.end()
        body = match.group(1).strip()
        start = match.start()
        in_each = any(keyword == "each" for keyword, _ in stack)
        if "{{" in match.group(1):
            raise TemplateSyntaxError("'{{' opened inside another '{{'", start)
        if not body:
            raise TemplateSyntaxError("empty expression '{{}}'", start)
        expression = body
        if body.startswith("#"):
            keyword, _, expression = body[1:].partition(" ")
            if keyword not in BLOCKS:
                raise TemplateSyntaxError(
                    f"unknown block '#{keyword}' (known: #if, #unless, #each)", start
                )
            if not expression.strip():
                raise TemplateSyntaxError(f"'#{keyword}' needs an expression", start)
            stack.append((keyword, start))
        elif body.startswith("/"):
            keyword = body[1:].strip()
            if not stack:
                raise TemplateSyntaxError(f"'{{{{/{keyword}}}}}' closes no open block", start)
            opened, _ = stack.pop()
            if opened != keyword:
                closing = f"'{{{{/{keyword}}}}}' closes '{{{{#{opened}}}}}'"
                raise TemplateSyntaxError(f"{closing}; expected '{{{{/{opened}}}}}'", start)
            continue
        elif body == "else":
            if not stack:
                raise TemplateSyntaxError("'{{else}}' outside a block", start)
            continue
        _scan_expression(expression, start, in_each, variables, calls, unknown)
    stray = template.find("}}", position)
    if stray != -1:
        raise TemplateSyntaxError("'}}' without a matching '{{'", stray)
    dangling = template.find("{{", position)
    if dangling != -1:
        raise TemplateSyntaxError("'{{' is never closed with '}}'", dangling)
    if stack:
        keyword, start = stack[-1]
        raise TemplateSyntaxError(
            f"'{{{{#{keyword}}}}}' is never closed with '{{{{/{keyword}}}}}'", start
        )
    return TemplateReferences(tuple(variables), tuple(calls), tuple(unknown))


def _scan_expression(
    expression: str,
    offset: int,
    in_each: bool,
    variables: list[VariableRef],
    calls: list[CallRef],
    unknown: list[VariableRef],
) -> None:
    if expression.count("(") != expression.count(")"):
        raise TemplateSyntaxError(f"unbalanced parentheses in '{expression.strip()}'", offset)
    masked = _STRING.sub(lambda m: " " * len(m.group(0)), expression)
    if "'" in masked or '"' in masked:
        raise TemplateSyntaxError(f"unterminated string in '{expression.strip()}'", offset)
    for match in _NAME.finditer(masked):
        root, rest = match.group(1), match.group(2)
        following = masked[match.end() :].lstrip()
        preceding = masked[: match.start()].rstrip()
        if following.startswith("(") and not rest:
            kind = "filter" if preceding.endswith("|") else "function"
            calls.append(CallRef(root, kind, offset))
            continue
        if preceding.endswith("|"):
            calls.append(CallRef(root, "filter", offset))
            continue
        if root.lower() in _KEYWORDS:
            continue
        ref = VariableRef(root, _split_path(rest), root + rest, offset)
        if root in _LOCALS:
            if not in_each:
                raise TemplateSyntaxError(
                    f"'{root}' is only defined inside '{{{{#each}}}}'", offset
                )
            continue
        if root.startswith("@"):
            raise TemplateSyntaxError(f"unknown block variable '{root}'", offset)
        if root in SCOPES:
            variables.append(ref)
        else:
            unknown.append(ref)
