"""The Jinja2 environment templates run in: immutable sandbox, strict, and bounded.

The translator only emits a tiny subset of Jinja, but the environment does not rely on that:

* no attribute access at all: ``a.b`` and ``a[b]`` only look up keys of maps and indexes of
  lists, and any name starting with ``_`` outside a map is refused (no ``__class__`` walks);
* only the registered template functions may be called (no ``str.format``, no ``range``);
* ``*``, ``+`` and ``**`` refuse to build huge values, ``%`` string formatting is refused;
* every ``for`` loop is wrapped in a guard that counts iterations and checks the deadline;
* globals and filters are exactly the catalog's, tests are empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from jinja2 import StrictUndefined, Undefined, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from orchestrator.templating import functions
from orchestrator.templating.errors import TemplateLimitError, TemplateSecurityError

LOOP_GUARD = "__pao_loop"
EACH = "__pao_each"


class PaoUndefined(StrictUndefined):
    """Strict: rendering, testing or iterating a missing value is an error."""

    __slots__ = ()


class GuardedCodeGenerator(CodeGenerator):
    """Compiles every ``for`` loop as ``for x in __pao_loop(iterable)``."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.Name(LOOP_GUARD, "load", lineno=loop.lineno),
                [loop.iter],
                [],
                None,
                None,
                lineno=loop.lineno,
            )
        super().visit_Template(node, frame)


@pass_context
def _finalize(context: Context, value: Any) -> str:
    state = functions.state_of(context)
    state.tick()
    text = functions.to_text(value)
    state.emit(len(text))
    return text


class PaoSandbox(ImmutableSandboxedEnvironment):
    """The one environment class for catalog templates (see the module docstring)."""

    code_generator_class = GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "/", "-"})
    # Exponents larger than this are refused outright (10 ** 64 is already absurd in a template).
    MAX_EXPONENT: ClassVar[int] = 64

    def __init__(self) -> None:
        super().__init__(
            undefined=PaoUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            finalize=_finalize,
            cache_size=0,
            auto_reload=False,
        )
        self.filters = dict(functions.FILTERS)
        self.tests = {}
        self.globals = {f"__pao_{name}": fn for name, fn in functions.FUNCTIONS.items()}
        self.globals[EACH] = functions.each
        self.globals[LOOP_GUARD] = functions.loop_guard
        self._callable_ids = {id(fn): fn for fn in self.globals.values()}

    # -- lookups: keys and indexes of plain data, nothing else ---------------------------------

    def _lookup(self, obj: Any, key: Any, *, dotted: bool) -> Any:
        if (
            isinstance(key, str)
            and key.startswith("_")
            and (dotted or not isinstance(obj, Mapping))
        ):
            raise TemplateSecurityError(f"access to '{key}' is not allowed in templates")
        if isinstance(obj, Undefined):
            return obj  # chain: `a.b.c | default(x)` works when `a` is missing
        if isinstance(obj, Mapping):
            try:
                return obj[key]
            except (KeyError, TypeError):
                return self.undefined(hint=f"'{key}' is not defined", obj=obj, name=str(key))
        if (
            isinstance(obj, list | tuple | str)
            and isinstance(key, int)
            and not isinstance(key, bool)
            and 0 <= key < len(obj)
        ):
            return obj[key]
        return self.undefined(hint=f"'{key}' is not defined", obj=obj, name=str(key))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._lookup(obj, argument, dotted=False)

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._lookup(obj, attribute, dotted=True)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False

    def is_safe_callable(self, obj: Any) -> bool:
        return self._callable_ids.get(id(obj)) is obj

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if not __self.is_safe_callable(__obj):
            raise TemplateSecurityError("only the template functions may be called")
        return __context.call(__obj, *args, **kwargs)

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "%" and isinstance(left, str):
            raise TemplateSecurityError("'%' string formatting is not allowed in templates")
        limit = functions.state_of(context).limits.max_value_chars
        if operator_ == "**" and isinstance(right, int | float) and abs(right) > self.MAX_EXPONENT:
            raise TemplateLimitError(f"exponent above {self.MAX_EXPONENT} refused")
        if operator_ == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > limit
                ):
                    raise TemplateLimitError(
                        f"repeating a value {count} times exceeds the {limit} limit"
                    )
        if (
            operator_ == "+"
            and isinstance(left, str | list | tuple)
            and isinstance(right, str | list | tuple)
            and len(left) + len(right) > limit
        ):
            raise TemplateLimitError(f"joining values exceeds the {limit} limit")
        return self.binop_table.get(operator_, _refuse)(left, right)


def _refuse(left: Any, right: Any) -> Any:
    raise TemplateSecurityError("operator not allowed")
