"""Translate the catalog's Handlebars-style templates into Jinja2 source for the sandbox.

Only the documented grammar gets through: scope-rooted paths (``fields.a.b[0]``,
``x['key']``), literals, the known functions and filters, ``and``/``or``/``not`` and
comparisons. Anything else (attribute names starting with ``_``, method calls, arithmetic,
unknown names) is a syntax error here, before Jinja ever sees it; the sandbox is the second
line of defence, not the first.

Templates without blocks also get a *plan* (text and expression trees) the engine evaluates
without Jinja: most templated strings are ``"{{fields.x}}"``, ``"db-{{fields.x}}"`` or one
function call, and a Jinja render costs more than the work itself. Blocks go through Jinja.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator.template_syntax.errors import TemplateSyntaxRenderError
from orchestrator.template_syntax.references import (
    FILTERS,
    FUNCTIONS,
    SCOPES,
    TemplateSyntaxError,
    scan,
)

# (minimum, maximum) positional arguments, not counting the filtered value.
FUNCTION_ARITY: dict[str, tuple[int, int]] = {
    "upper": (1, 1),
    "lower": (1, 1),
    "trim": (1, 1),
    "concat": (0, 64),
    "replace": (3, 3),
    "json": (1, 1),
    "base64": (1, 1),
    "uuid": (0, 0),
    "timestamp": (0, 0),
}
FILTER_ARITY: dict[str, tuple[int, int]] = {
    "default": (0, 2),
    "upper": (0, 0),
    "lower": (0, 0),
    "trim": (0, 0),
    "replace": (2, 2),
    "json": (0, 0),
    "base64": (0, 0),
    "join": (0, 1),
    "length": (0, 0),
    "int": (0, 1),
    "float": (0, 1),
    "string": (0, 0),
    "title": (0, 0),
    "truncate": (0, 2),
    "jiraIssueType": (0, 0),
    "slug": (0, 0),
}
assert set(FUNCTION_ARITY) == set(FUNCTIONS)
assert set(FILTER_ARITY) == set(FILTERS)

EACH_LOCALS = ("@key", "@index", "@first", "@last")
# Position of each local in the tuples the `__pao_each` helper yields.
_EACH_SLOT = {"@key": 0, "this": 1, "@index": 2, "@first": 3, "@last": 4}
_KEYWORD_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None, "none": None}
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
     |(?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
     |(?P<name>@?[A-Za-z_][A-Za-z0-9_]*)
     |(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|\.|,|\|)
    )""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
# Text that Jinja would read as markup, or whose newlines it would normalise.
_JINJA_MARKERS = ("{%", "%}", "{#", "#}", "{{", "}}", "\r")


# -- expression tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Path:
    """A variable: a scope name, ``this`` or an ``@`` local, then keys and indexes."""

    root: str
    segments: tuple[str | int, ...]
    depth: int  # #each nesting depth at the point of use (for this/@locals)

    @property
    def text(self) -> str:
        out = self.root
        for segment in self.segments:
            out += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
        return out


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    value: Node
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # and, or, ==, !=, <, <=, >, >=, in, not in
    left: Node
    right: Node


Node = Literal | Path | Call | Filter | Not | BinOp


# -- the translated template -------------------------------------------------------------------

PlanPart = str | Node


@dataclass(frozen=True, slots=True)
class Translation:
    """What the engine compiles: Jinja source, and the shortcuts it may take instead."""

    source: str
    jinja: str
    # Jinja expression when the template is exactly one ``{{expr}}`` (its value is kept raw).
    raw_expression: str | None
    # Text and expressions, no blocks: evaluable without Jinja. None when Jinja is needed.
    plan: tuple[PlanPart, ...] | None
    paths: tuple[Path, ...]


def _suggest(word: str, candidates: Any) -> str:
    import difflib

    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


class _Parser:
    """Recursive descent over one ``{{...}}`` expression; builds the tree and checks names."""

    def __init__(self, text: str, offset: int, depth: int, paths: list[Path]) -> None:
        self.text = text
        self.offset = offset
        self.depth = depth
        self.paths = paths
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if not text[position:].strip():
                break
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                bad = text[position:].lstrip()[:1]
                raise self.error(f"unexpected character {bad!r} in '{text.strip()}'")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def error(self, message: str) -> TemplateSyntaxRenderError:
        return TemplateSyntaxRenderError(message, offset=self.offset)

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        index = self.index + ahead
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.index += 1
        return token

    def expect(self, value: str) -> None:
        kind, got = self.take()
        if got != value or kind not in ("op",):
            found = f"'{got}'" if kind != "end" else "the end of the expression"
            raise self.error(f"expected '{value}' but found {found} in '{self.text.strip()}'")

    def is_keyword(self, word: str, ahead: int = 0) -> bool:
        kind, value = self.peek(ahead)
        return kind == "name" and value.lower() == word

    def parse(self) -> Node:
        if not self.tokens:
            raise self.error("empty expression")
        node = self.parse_or()
        kind, value = self.peek()
        if kind != "end":
            raise self.error(f"unexpected '{value}' in '{self.text.strip()}'")
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.is_keyword("or"):
            self.take()
            node = BinOp("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.is_keyword("and"):
            self.take()
            node = BinOp("and", node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        if self.is_keyword("not"):
            self.take()
            return Not(self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        node = self.parse_filtered()
        kind, value = self.peek()
        if kind == "op" and value in _COMPARISONS:
            self.take()
            return BinOp(value, node, self.parse_filtered())
        if self.is_keyword("in"):
            self.take()
            return BinOp("in", node, self.parse_filtered())
        if self.is_keyword("not") and self.is_keyword("in", 1):
            self.take()
            self.take()
            return BinOp("not in", node, self.parse_filtered())
        return node

    def parse_filtered(self) -> Node:
        node = self.parse_primary()
        while self.peek() == ("op", "|"):
            self.take()
            kind, name = self.take()
            if kind != "name":
                raise self.error(f"expected a filter name after '|' in '{self.text.strip()}'")
            if name not in FILTERS:
                raise self.error(f"unknown filter '{name}'{_suggest(name, FILTERS)}")
            args = self.parse_args() if self.peek() == ("op", "(") else ()
            low, high = FILTER_ARITY[name]
            if not low <= len(args) <= high:
                raise self.error(_arity_message(f"filter '{name}'", low, high, len(args)))
            node = Filter(node, name, args)
        return node

    def parse_args(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        if self.peek() == ("op", ")"):
            self.take()
            return ()
        while True:
            args.append(self.parse_or())
            kind, value = self.take()
            if value == ")" and kind == "op":
                return tuple(args)
            if value != "," or kind != "op":
                found = f"'{value}'" if kind != "end" else "the end of the expression"
                raise self.error(f"expected ',' or ')' but found {found}")

    def parse_primary(self) -> Node:
        kind, value = self.take()
        if kind == "string":
            return Literal(_unquote(value))
        if kind == "number":
            number = float(value) if any(c in value for c in ".eE") else int(value)
            if isinstance(number, int) and abs(number) > 10**15:
                raise self.error(f"number literal {value} is too large")
            return Literal(number)
        if kind == "op" and value == "(":
            node = self.parse_or()
            self.expect(")")
            return node
        if kind == "end":
            raise self.error(f"expression ends too early: '{self.text.strip()}'")
        if kind != "name":
            raise self.error(f"unexpected '{value}' in '{self.text.strip()}'")
        if value.lower() in _KEYWORD_LITERALS:
            return Literal(_KEYWORD_LITERALS[value.lower()])
        if value.startswith("_"):
            raise self.error(f"names starting with '_' are not allowed: '{value}'")
        if self.peek() == ("op", "("):
            if value not in FUNCTIONS:
                raise self.error(f"unknown function '{value}'{_suggest(value, FUNCTIONS)}")
            args = self.parse_args()
            low, high = FUNCTION_ARITY[value]
            if not low <= len(args) <= high:
                raise self.error(_arity_message(f"function '{value}'", low, high, len(args)))
            return Call(value, args)
        return self.parse_path(value)

    def parse_path(self, root: str) -> Path:
        if root.startswith("@"):
            if root not in EACH_LOCALS:
                raise self.error(f"unknown block variable '{root}'{_suggest(root, EACH_LOCALS)}")
            if self.depth == 0:
                raise self.error(f"'{root}' is only defined inside '{{{{#each}}}}'")
        elif root == "this":
            if self.depth == 0:
                raise self.error("'this' is only defined inside '{{#each}}'")
        elif root not in SCOPES:
            raise self.error(
                f"'{root}' is not a variable: scopes are {', '.join(SCOPES)}{_suggest(root, SCOPES)}"
            )
        segments: list[str | int] = []
        while True:
            kind, value = self.peek()
            if (kind, value) == ("op", "."):
                self.take()
                kind, key = self.take()
                if kind == "number" and key.isdigit():
                    segments.append(key)
                    continue
                if kind != "name" or key.startswith("@"):
                    raise self.error(f"expected a key after '.' in '{self.text.strip()}'")
                if key.startswith("_"):
                    raise self.error(f"names starting with '_' are not allowed: '{key}'")
                segments.append(key)
            elif (kind, value) == ("op", "["):
                self.take()
                kind, key = self.take()
                if kind == "number" and key.isdigit():
                    segments.append(int(key))
                elif kind == "string":
                    segments.append(_unquote(key))
                else:
                    raise self.error(
                        f"'[...]' takes a non-negative integer or a quoted key in '{self.text.strip()}'"
                    )
                self.expect("]")
            else:
                break
        if root.startswith("@") and segments:
            raise self.error(f"'{root}' has no keys")
        path = Path(root, tuple(segments), self.depth)
        self.paths.append(path)
        return path


def _arity_message(what: str, low: int, high: int, got: int) -> str:
    expected = str(low) if low == high else f"{low} to {high}"
    return f"{what} takes {expected} argument(s), got {got}"


def _unquote(token: str) -> str:
    body = token[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def jinja_string(value: str) -> str:
    """A Jinja string literal for ``value`` that no delimiter or escape can break out of."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in '"\\{}%#' or code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code > 0x7E:
            out.append(f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def emit(node: Node) -> str:
    """Jinja source for an expression tree; fully parenthesised, so precedence is ours."""
    if isinstance(node, Literal):
        value = node.value
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return jinja_string(value)
        return repr(value)
    if isinstance(node, Path):
        out = node.root if node.root in SCOPES else f"__e{node.depth}[{_EACH_SLOT[node.root]}]"
        for segment in node.segments:
            out += f"[{segment}]" if isinstance(segment, int) else f"[{jinja_string(segment)}]"
        return out
    if isinstance(node, Call):
        return f"__pao_{node.name}({', '.join(emit(a) for a in node.args)})"
    if isinstance(node, Filter):
        args = f"({', '.join(emit(a) for a in node.args)})" if node.args else ""
        return f"(({emit(node.value)})|{node.name}{args})"
    if isinstance(node, Not):
        return f"(not ({emit(node.operand)}))"
    return f"(({emit(node.left)}) {node.op} ({emit(node.right)}))"


# -- templates ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Segment:
    text: str | None = None  # plain text
    kind: str = ""  # expr | open | else | close
    body: str = ""
    offset: int = 0


def _segments(template: str) -> list[_Segment]:
    out: list[_Segment] = []
    position = 0
    for match in _TAG.finditer(template):
        if match.start() > position:
            out.append(_Segment(text=template[position : match.start()]))
        body = match.group(1).strip()
        if body.startswith("#"):
            kind = "open"
        elif body.startswith("/"):
            kind = "close"
        elif body == "else":
            kind = "else"
        else:
            kind = "expr"
        out.append(_Segment(kind=kind, body=body, offset=match.start()))
        position = match.end()
    if position < len(template):
        out.append(_Segment(text=template[position:]))
    return out


def _strip_standalone(parts: list[_Segment]) -> None:
    """Handlebars' rule: a block tag alone on its line takes the whole line with it."""
    standalone: list[int] = []
    for index, part in enumerate(parts):
        if part.text is not None or part.kind == "expr":
            continue
        before = parts[index - 1] if index > 0 else None
        after = parts[index + 1] if index + 1 < len(parts) else None
        if before is not None:
            if before.text is None:
                continue
            _, newline, tail = before.text.rpartition("\n")
            if tail.strip(" \t") or (not newline and index - 1 != 0):
                continue
        if after is not None:
            if after.text is None:
                continue
            line, newline, _ = after.text.partition("\n")
            if line.strip(" \t\r") or (not newline and index + 1 != len(parts) - 1):
                continue
        standalone.append(index)
    for index in standalone:
        if index > 0 and parts[index - 1].text is not None:
            text = parts[index - 1].text or ""
            parts[index - 1].text = text[: text.rfind("\n") + 1]
        if index + 1 < len(parts) and parts[index + 1].text is not None:
            text = parts[index + 1].text or ""
            end = text.find("\n")
            parts[index + 1].text = text[end + 1 :] if end != -1 else ""


def _text_to_jinja(text: str) -> str:
    if not text:
        return ""
    if any(marker in text for marker in _JINJA_MARKERS) or text.endswith("{"):
        return "{{ " + jinja_string(text) + " }}"
    return text


def translate(template: str) -> Translation:
    """Jinja source (and shortcuts) for a catalog template; raises TemplateSyntaxRenderError."""
    try:
        scan(template)  # the structural checks the catalog validator also runs
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxRenderError(exc.message, offset=exc.offset) from None
    parts = _segments(template)
    _strip_standalone(parts)
    paths: list[Path] = []
    out: list[str] = []
    plan: list[PlanPart] | None = []
    stack: list[str] = []
    raw: str | None = None
    only_expression = len(parts) == 1 and parts[0].kind == "expr"
    for part in parts:
        if part.text is not None:
            out.append(_text_to_jinja(part.text))
            if plan is not None and part.text:
                plan.append(part.text)
            continue
        depth = sum(1 for opened in stack if opened.startswith("each"))
        if part.kind == "expr":
            node = _Parser(part.body, part.offset, depth, paths).parse()
            jinja = emit(node)
            out.append("{{ " + jinja + " }}")
            if only_expression:
                raw = jinja
            if plan is not None:
                plan.append(node)
            continue
        plan = None
        if part.kind == "open":
            keyword, _, expression = part.body[1:].partition(" ")
            node = _Parser(expression, part.offset, depth, paths).parse()
            if keyword == "if":
                out.append("{% if " + emit(node) + " %}")
            elif keyword == "unless":
                out.append("{% if not (" + emit(node) + ") %}")
            else:
                out.append(f"{{% for __e{depth + 1} in __pao_each({emit(node)}) %}}")
            stack.append(keyword)
        elif part.kind == "else":
            if stack[-1].endswith(":else"):
                raise TemplateSyntaxRenderError(
                    "a block takes at most one '{{else}}'", offset=part.offset
                )
            stack[-1] += ":else"
            out.append("{% else %}")
        else:
            keyword = stack.pop().partition(":")[0]
            out.append("{% endfor %}" if keyword == "each" else "{% endif %}")
    return Translation(
        source=template,
        jinja="".join(out),
        raw_expression=raw,
        plan=tuple(plan) if plan is not None else None,
        paths=tuple(paths),
    )
