"""Compile once, render many: the template engine the fulfillment chain and previews use.

A template is translated and compiled the first time its source is seen and kept in an LRU
cache keyed by the source text. Block-free templates (nearly all: ``"{{fields.x}}"``,
``"db-{{fields.x}}"``, ``"{{upper(fields.x)}}"``) are evaluated by closures built from the
expression tree, using the sandbox's own lookups, functions and formatting; templates with
``#if``/``#each`` blocks run in the Jinja2 sandbox. ``fast_paths=False`` sends everything
through Jinja, and the tests run every case both ways.

``compile_value`` compiles a whole structure (an action config) for repeated renders.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import Undefined
from jinja2.environment import Template

from orchestrator.catalog.yaml_loader import escape_pointer_token
from orchestrator.template_syntax.references import SCOPES
from orchestrator.template_syntax.translate import Node, Path, Translation, translate
from orchestrator.templating import functions
from orchestrator.templating.context import TemplateContext
from orchestrator.templating.errors import (
    TemplateLimitError,
    TemplateRenderError,
    TemplateSecurityError,
    TemplateSyntaxRenderError,
    UndefinedVariableError,
)
from orchestrator.templating.evaluate import Evaluator, compile_node
from orchestrator.templating.limits import RenderState, Runtime, TemplateLimits
from orchestrator.templating.sandbox import PaoSandbox

_MISSING = object()
_UNDEFINED_NAME = re.compile(r"'([^']*)' is (?:not defined|undefined)")


def is_template(value: str) -> bool:
    return "{{" in value or "}}" in value


def copy_data(value: Any) -> Any:
    """A copy of JSON-like data, so a rendered structure never aliases the request's values."""
    if isinstance(value, Mapping):
        return {k: copy_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_data(v) for v in value]
    return value


def _suggest(word: str, candidates: Collection[Any]) -> str | None:
    matches = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return matches[0] if matches else None


def failing_depth(path: Path, scopes: Mapping[str, Any]) -> tuple[int, Any, Any]:
    """(depth, value, container): depth -1 when the path resolves, else the segment that fails
    (0 = the scope itself) and the map or list it was looked up in."""
    container: Any = scopes
    value = scopes.get(path.root, _MISSING)
    if value is _MISSING:
        return 0, None, scopes
    for depth, segment in enumerate(path.segments, start=1):
        container = value
        if isinstance(value, Mapping):
            value = value.get(segment, _MISSING)
        elif (
            isinstance(value, list | tuple | str)
            and isinstance(segment, int)
            and 0 <= segment < len(value)
        ):
            value = value[segment]
        else:
            value = _MISSING
        if value is _MISSING:
            return depth, None, container
    return -1, value, None


def resolve_path(path: Path, scopes: Mapping[str, Any]) -> Any:
    """The value at a scope-rooted path, or UndefinedVariableError naming it (with a guess)."""
    value = scopes.get(path.root, _MISSING)
    for segment in path.segments:
        if value is _MISSING:
            break
        value = value.get(segment, _MISSING) if type(value) is dict else _step(value, segment)
    if value is _MISSING:
        depth, _, container = failing_depth(path, scopes)
        raise _undefined(path, depth, container)
    return value


def _step(value: Any, segment: str | int) -> Any:
    if isinstance(value, Mapping):
        return value.get(segment, _MISSING)
    if (
        isinstance(value, list | tuple | str)
        and isinstance(segment, int)
        and 0 <= segment < len(value)
    ):
        return value[segment]
    return _MISSING


def _prefix(path: Path, depth: int) -> str:
    return Path(path.root, path.segments[:depth], 0).text


def _undefined(path: Path, depth: int, container: Any) -> UndefinedVariableError:
    """Error for ``path`` failing at segment ``depth`` (0 = the scope itself)."""
    failing = _prefix(path, depth)
    suggestion = None
    if isinstance(container, Mapping):
        key = path.root if depth == 0 else str(path.segments[depth - 1])
        guess = _suggest(key, list(container))
        if guess is not None:
            suggestion = guess if depth == 0 else f"{_prefix(path, depth - 1)}.{guess}"
    if isinstance(container, list | tuple) and depth:
        message = f"'{failing}' is out of range (the list has {len(container)} entries)"
    elif depth and not isinstance(container, Mapping):
        message = f"'{failing}' cannot be read: '{_prefix(path, depth - 1)}' is not a map"
    else:
        message = f"'{failing}' is not defined"
    if suggestion:
        message += f" (did you mean '{suggestion}'?)"
    if path.root == "environment" and depth <= 1:
        message += (
            "; templates see only the environment variables listed in "
            "PAO_TEMPLATE_ENV_ALLOWLIST (comma-separated), set where PAO runs"
        )
    if depth < len(path.segments):
        message += f" while reading '{path.text}'"
    return UndefinedVariableError(message, path=failing, suggestion=suggestion)


RESULT = "pao__result"  # no leading _: Jinja exports only such names to a module


@dataclass(slots=True)
class CompiledTemplate:
    """One template, ready to render; shared by every render through the engine's cache.

    Block-free templates are evaluated by closures (``single`` for one plain path, ``raw`` for
    one expression, ``parts`` for text with expressions); templates with blocks, or every
    template when fast paths are off, run in Jinja: ``template`` renders text, ``expression``
    (exactly one ``{{expr}}``) stores the raw value in ``__pao_result`` so its type survives.
    """

    translation: Translation
    single: Path | None = None
    raw: Evaluator | None = None
    parts: tuple[str | Evaluator, ...] | None = None
    template: Template | None = None
    expression: Template | None = None


class _Run:
    """One render call: scopes, limits state, and the Jinja variables built once for it."""

    __slots__ = ("_variables", "context", "globals", "scopes", "state")

    def __init__(
        self, scopes: Mapping[str, Any], state: RenderState, globals_: Mapping[str, Any]
    ) -> None:
        self.scopes = scopes
        self.state = state
        self.globals = globals_
        self.context = {functions.STATE_KEY: state}  # what functions get outside Jinja
        self._variables: dict[str, Any] | None = None

    def variables(self) -> dict[str, Any]:
        """Globals + scopes + state in one dict, passed to Jinja as-is (``shared=True``)."""
        if self._variables is None:
            variables = dict(self.globals)
            variables.update(self.scopes)
            variables[functions.STATE_KEY] = self.state
            self._variables = variables
        return self._variables


_SCALARS = (str, int, float, bool, type(None))


class CompiledValue:
    """A structure whose templates are compiled; ``render`` is ``render_value`` without the
    per-call walk and cache lookups."""

    __slots__ = ("_build", "_engine")

    def __init__(self, engine: TemplateEngine, build: Callable[[_Run], Any]) -> None:
        self._engine = engine
        self._build = build

    def render(
        self,
        context: TemplateContext | Mapping[str, Any],
        *,
        secrets: Collection[str] = (),
        pointer: str = "",
        action_id: str | None = None,
    ) -> Any:
        run = self._engine._run(context)
        try:
            return self._build(run)
        except TemplateRenderError as exc:
            exc.pointer = pointer + exc.pointer
            raise exc.located(action_id=action_id).scrubbed(_secrets(context, secrets)) from None


class TemplateEngine:
    """Renders catalog templates in the sandbox, with bounds; safe to share between threads."""

    def __init__(
        self,
        *,
        limits: TemplateLimits | None = None,
        runtime: Runtime | None = None,
        cache_size: int = 4096,
        fast_paths: bool = True,
    ) -> None:
        self.limits = limits or TemplateLimits()
        self.runtime = runtime or Runtime()
        self.fast_paths = fast_paths
        self.environment = PaoSandbox()
        self._compile_cached = functools.lru_cache(maxsize=cache_size)(self._compile)

    # -- compiling -----------------------------------------------------------------------------

    def compile(self, source: str) -> CompiledTemplate:
        """Translate and compile ``source`` (cached); raises TemplateSyntaxRenderError."""
        try:
            return self._compile_cached(source)
        except TemplateRenderError as exc:
            exc.template = source
            raise

    def _compile(self, source: str) -> CompiledTemplate:
        translation = translate(source)
        compiled = CompiledTemplate(translation)
        plan = translation.plan if self.fast_paths else None
        if plan is None:
            self._compile_jinja(compiled)
        elif translation.raw_expression is not None:
            node = plan[0]
            assert not isinstance(node, str)
            if isinstance(node, Path):
                compiled.single = node
            else:
                compiled.raw = compile_node(node, self.environment)
        else:
            compiled.parts = tuple(
                part if isinstance(part, str) else self._part(part) for part in plan
            )
        return compiled

    def _part(self, node: Node) -> Evaluator:
        if isinstance(node, Path):
            return lambda scopes, context: resolve_path(node, scopes)
        return compile_node(node, self.environment)

    def _compile_jinja(self, compiled: CompiledTemplate) -> None:
        translation = compiled.translation
        try:
            if translation.raw_expression is not None:
                compiled.expression = self.environment.from_string(
                    f"{{% set {RESULT} = ({translation.raw_expression}) %}}"
                )
                compiled.expression.globals = {}  # renders get globals with their variables
            else:
                compiled.template = self.environment.from_string(translation.jinja)
                compiled.template.globals = {}
        except jinja2.TemplateSyntaxError as exc:  # a translator bug, reported, not crashed on
            raise TemplateSyntaxRenderError(
                f"template could not be compiled: {exc.message}"
            ) from None

    # -- rendering -----------------------------------------------------------------------------

    def _run(self, context: TemplateContext | Mapping[str, Any]) -> _Run:
        runtime = context.runtime if isinstance(context, TemplateContext) else self.runtime
        scopes = context.variables if isinstance(context, TemplateContext) else context
        return _Run(scopes, RenderState(self.limits, runtime), self.environment.globals)

    def render(
        self,
        template: str,
        context: TemplateContext | Mapping[str, Any],
        *,
        secrets: Collection[str] = (),
        pointer: str = "",
        action_id: str | None = None,
    ) -> str:
        """``template`` rendered as text (values inside text read JSON-ish: true/false/null)."""
        run = self._run(context)
        try:
            if not is_template(template):
                return template
            return self._text(self.compile(template), template, run)
        except TemplateRenderError as exc:
            located = exc.located(pointer=pointer, action_id=action_id)
            raise located.scrubbed(_secrets(context, secrets)) from None

    def render_value(
        self,
        obj: Any,
        context: TemplateContext | Mapping[str, Any],
        *,
        secrets: Collection[str] = (),
        pointer: str = "",
        action_id: str | None = None,
    ) -> Any:
        """Render every string in a dict/list structure; other values are kept as they are.

        A string that is exactly one ``{{expr}}`` yields the expression's value with its type
        (``"{{fields.port}}"`` gives the number). Limits apply to the whole structure.
        Errors carry ``pointer`` plus the JSON pointer of the failing string inside ``obj``.
        """
        run = self._run(context)
        try:
            return self._walk(obj, run)
        except TemplateRenderError as exc:
            exc.pointer = pointer + exc.pointer
            raise exc.located(action_id=action_id).scrubbed(_secrets(context, secrets)) from None

    def compile_value(self, obj: Any) -> CompiledValue:
        """Compile every template in a structure once, for structures rendered many times
        (an action's config per item version). Raises TemplateSyntaxRenderError with the
        JSON pointer of the bad string."""
        return CompiledValue(self, self._build(obj, ""))

    def _build(self, obj: Any, pointer: str) -> Callable[[_Run], Any]:
        if isinstance(obj, str):
            if not is_template(obj):
                return lambda run: obj
            try:
                compiled = self.compile(obj)
            except TemplateRenderError as exc:
                exc.pointer = pointer
                raise
            return self._build_string(obj, compiled, pointer)
        if isinstance(obj, Mapping):
            entries = [
                (key, self._build(value, f"{pointer}/{escape_pointer_token(str(key))}"))
                for key, value in obj.items()
            ]
            return lambda run: {key: build(run) for key, build in entries}
        if isinstance(obj, list | tuple):
            items = [self._build(value, f"{pointer}/{i}") for i, value in enumerate(obj)]
            return lambda run: [build(run) for build in items]
        return lambda run: obj

    def _build_string(
        self, source: str, compiled: CompiledTemplate, pointer: str
    ) -> Callable[[_Run], Any]:
        single = compiled.single

        def render(run: _Run) -> Any:
            try:
                if single is None:
                    return self._value_of(compiled, source, run)
                value = resolve_path(single, run.scopes)
            except TemplateRenderError as exc:
                exc.pointer = pointer
                raise
            if type(value) is str:
                run.state.emit(len(value))
                return value
            return value if type(value) in _SCALARS else copy_data(value)

        return render

    def _walk(self, obj: Any, run: _Run) -> Any:
        kind = type(obj)
        if kind is str:
            return self._value(obj, run) if "{{" in obj or "}}" in obj else obj
        if kind is dict or isinstance(obj, Mapping):
            out: dict[Any, Any] = {}
            for key, value in obj.items():
                try:
                    out[key] = self._walk(value, run)
                except TemplateRenderError as exc:
                    exc.pointer = f"/{escape_pointer_token(str(key))}{exc.pointer}"
                    raise
            return out
        if kind is list or kind is tuple:
            items: list[Any] = []
            for index, value in enumerate(obj):
                try:
                    items.append(self._walk(value, run))
                except TemplateRenderError as exc:
                    exc.pointer = f"/{index}{exc.pointer}"
                    raise
            return items
        if isinstance(obj, str):
            return self._value(str(obj), run) if is_template(obj) else obj
        return obj

    def _value(self, source: str, run: _Run) -> Any:
        """A templated string's value: raw for exactly one ``{{expr}}``, else its text."""
        return self._value_of(self.compile(source), source, run)

    def _value_of(self, compiled: CompiledTemplate, source: str, run: _Run) -> Any:
        if compiled.single is not None:
            value = resolve_path(compiled.single, run.scopes)
        elif compiled.translation.raw_expression is None:
            return self._text(compiled, source, run)
        else:
            value = self._evaluate(compiled, source, run)
        if type(value) is str:
            run.state.emit(len(value))
            return value
        return value if type(value) in _SCALARS else copy_data(value)

    def _evaluate(self, compiled: CompiledTemplate, source: str, run: _Run) -> Any:
        """The value of a template that is exactly one expression."""
        try:
            if compiled.raw is not None:
                value = compiled.raw(run.scopes, run.context)
            else:
                if compiled.expression is None:
                    self._compile_jinja(compiled)
                template = compiled.expression
                assert template is not None
                # Jinja's public way to run a template and read what it set: its module.
                module = template.make_module(run.variables(), shared=True)
                value = getattr(module, RESULT)
            if isinstance(value, Undefined):
                str(value)  # raises the strict error
        except Exception as exc:
            raise self._translate_error(exc, compiled, run.scopes, source) from None
        return value

    def _text(self, compiled: CompiledTemplate, source: str, run: _Run) -> str:
        state = run.state
        if compiled.parts is not None:
            chunks: list[str] = []
            try:
                for part in compiled.parts:
                    text = (
                        part
                        if type(part) is str
                        else functions.to_text(part(run.scopes, run.context))  # type: ignore[operator]
                    )
                    state.emit(len(text))
                    chunks.append(text)
            except Exception as exc:
                raise self._translate_error(exc, compiled, run.scopes, source) from None
            return "".join(chunks)
        if compiled.translation.raw_expression is not None:
            text = functions.to_text(self._evaluate(compiled, source, run))
            state.emit(len(text))
            return text
        if compiled.template is None:
            self._compile_jinja(compiled)
        template = compiled.template
        assert template is not None
        chunks = []
        try:
            for chunk in template.generate(run.variables()):
                state.emit(len(chunk))
                chunks.append(chunk)
        except Exception as exc:
            raise self._translate_error(exc, compiled, run.scopes, source) from None
        return "".join(chunks)

    def _translate_error(
        self,
        exc: Exception,
        compiled: CompiledTemplate,
        scopes: Mapping[str, Any],
        source: str,
    ) -> TemplateRenderError:
        if isinstance(exc, TemplateRenderError):
            error = exc
        elif isinstance(exc, jinja2.UndefinedError):
            error = _diagnose(compiled.translation, scopes, exc.message or "")
        elif isinstance(exc, jinja2.exceptions.SecurityError):
            error = TemplateSecurityError(f"refused by the sandbox: {exc}")
        elif isinstance(exc, RecursionError | MemoryError | OverflowError):
            error = TemplateLimitError(f"rendering exhausted resources ({type(exc).__name__})")
        elif isinstance(exc, TypeError | ValueError | ArithmeticError | LookupError):
            error = TemplateRenderError(f"cannot evaluate the template: {_type_message(exc)}")
        else:
            error = TemplateRenderError(f"cannot evaluate the template ({type(exc).__name__})")
        error.template = source
        return error


def _type_message(exc: Exception) -> str:
    """A TypeError's text when it only names types; otherwise just its class (no values)."""
    text = str(exc)
    if isinstance(exc, TypeError) and "'" in text and len(text) < 200:
        return text
    return type(exc).__name__


def _diagnose(
    translation: Translation, scopes: Mapping[str, Any], message: str
) -> UndefinedVariableError:
    """Name the variable path behind a Jinja 'undefined' error, with a 'did you mean'."""
    match = _UNDEFINED_NAME.search(message)
    missing = match.group(1) if match else None
    for path in translation.paths:
        if path.root not in SCOPES:
            continue
        depth, _, container = failing_depth(path, scopes)
        if depth < 0:
            continue
        key = path.root if depth == 0 else str(path.segments[depth - 1])
        if missing is None or missing == key:
            return _undefined(path, depth, container)
    if missing:
        return UndefinedVariableError(f"'{missing}' is not defined", path=missing)
    return UndefinedVariableError(message or "a variable is not defined")


def _secrets(
    context: TemplateContext | Mapping[str, Any], secrets: Collection[str]
) -> frozenset[str]:
    if isinstance(context, TemplateContext):
        return context.secrets | frozenset(secrets)
    return frozenset(secrets)


_default_engine: TemplateEngine | None = None


def default_engine() -> TemplateEngine:
    """A process-wide engine with default limits (its cache is the point of sharing it)."""
    global _default_engine
    if _default_engine is None:
        _default_engine = TemplateEngine()
    return _default_engine


def render(template: str, context: TemplateContext | Mapping[str, Any], **kwargs: Any) -> str:
    """Render one template string with the default engine (see TemplateEngine.render)."""
    return default_engine().render(template, context, **kwargs)


def render_value(obj: Any, context: TemplateContext | Mapping[str, Any], **kwargs: Any) -> Any:
    """Render a structure with the default engine (see TemplateEngine.render_value)."""
    return default_engine().render_value(obj, context, **kwargs)
