"""Templates cannot run code, read internals, or exhaust memory and time.

Two layers are tested: the catalog grammar (what authors write) refuses the payloads before
Jinja sees them, and the sandbox itself refuses them when given raw Jinja (defence in depth).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from orchestrator.templating.engine import TemplateEngine
from orchestrator.templating.errors import (
    TemplateLimitError,
    TemplateRenderError,
    TemplateSecurityError,
    TemplateSyntaxRenderError,
)
from orchestrator.templating.functions import STATE_KEY
from orchestrator.templating.limits import RenderState, Runtime, TemplateLimits
from orchestrator.templating.sandbox import PaoSandbox

SECRET = "s3cr3t-database-password"
CONTEXT: dict[str, Any] = {
    "fields": {"name": "orders", "items": ["a", "b"], "big": list(range(1000))},
    "request": {"user": {"email": "jdoe@example.com"}},
    "environment": {"TOKEN": SECRET},
}

PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ fields.__class__.__mro__ }}",
    "{{ request.__class__ }}",
    "{{ fields.name.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ '{0.__class__}'.format(fields) }}",
    "{{ '{0}'.format_map(fields) }}",
    "{{ fields.name.format(fields) }}",
    "{{ self._TemplateReference__context }}",
    "{{ fields | attr('__class__') }}",
    "{{ fields['__class__']['__init__'] }}",
    "{{ range(1000000000) }}",
    "{{ 'x' * 1000000000 }}",
    "{{ 'x' * 10**9 }}",
    "{{ fields.items.pop() }}",
    "{{ config }}",
    "{{ fields.name|upper }}{{ ().__class__ }}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_grammar_refuses_payloads(payload: str) -> None:
    engine = TemplateEngine()
    with pytest.raises(TemplateRenderError) as caught:
        engine.render(payload, CONTEXT)
    assert isinstance(caught.value, TemplateSyntaxRenderError) or "__class__" in payload
    assert SECRET not in str(caught.value)
    assert "class 'object'" not in str(caught.value)


def test_jinja_statement_syntax_is_plain_text() -> None:
    engine = TemplateEngine()
    payload = "{% for x in fields.big %}{% endfor %}{{ fields.name }}"
    assert engine.render(payload, CONTEXT) == "{% for x in fields.big %}{% endfor %}orders"


def _raw(source: str, variables: dict[str, Any] | None = None, **limits: Any) -> str:
    """Render raw Jinja on the sandbox itself, bypassing the catalog grammar."""
    env = PaoSandbox()
    template = env.from_string(source)
    state = RenderState(TemplateLimits(**limits))
    context = template.new_context({**CONTEXT, **(variables or {}), STATE_KEY: state})
    return "".join(template.root_render_func(context))


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", TemplateSecurityError),
        ("{{ fields.__class__ }}", TemplateSecurityError),
        ("{{ request.__class__ }}", TemplateSecurityError),
        ("{{ x.__init__.__globals__ }}", TemplateSecurityError),
        ("{{ cycler.__init__.__globals__ }}", TemplateSecurityError),
        ("{{ lipsum.__globals__ }}", TemplateSecurityError),
        ("{{ '{0.__class__}'.format(fields) }}", TemplateSecurityError),
        ("{{ '{0}'.format_map(fields) }}", TemplateSecurityError),
        ("{{ self._TemplateReference__context }}", TemplateSecurityError),
        ("{{ fields.items.pop() }}", TemplateSecurityError),
        ("{{ range(10) }}", TemplateSecurityError),
        ("{{ namespace() }}", TemplateSecurityError),
        ("{{ '%s%s' % (fields, fields) }}", TemplateSecurityError),
        ("{{ 'x' * 10**9 }}", TemplateLimitError),
        ("{{ [0] * 100000000 }}", TemplateLimitError),
        ("{{ 10 ** 100000 }}", TemplateLimitError),
        ("{% set s = 'x' * 900000 %}{{ s + s }}", TemplateLimitError),
    ],
)
def test_the_sandbox_refuses_raw_jinja_payloads(
    payload: str, error: type[TemplateRenderError]
) -> None:
    with pytest.raises(error) as caught:
        _raw(payload)
    assert SECRET not in str(caught.value)


def test_the_sandbox_has_only_the_catalog_filters() -> None:
    import jinja2

    for payload in ("{{ fields|attr('__class__') }}", "{{ range(9)|list }}", "{{ x|map('y') }}"):
        with pytest.raises(jinja2.TemplateAssertionError, match="No filter named"):
            _raw(payload)


def test_loops_are_bounded_by_iterations_even_without_output() -> None:
    nested = "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateLimitError, match="iterations"):
        _raw(nested, {"s": "x" * 1000}, max_iterations=10_000)
    assert _raw(nested, {"s": "x" * 10}, max_iterations=10_000) == ""


def test_each_is_bounded_by_iterations() -> None:
    engine = TemplateEngine(limits=TemplateLimits(max_iterations=500))
    template = "{{#each fields.big}}{{#each fields.big}}{{/each}}{{/each}}"
    with pytest.raises(TemplateLimitError, match="more than 500 iterations"):
        engine.render(template, CONTEXT)


def test_rendering_is_bounded_in_time_with_an_injected_clock() -> None:
    ticks = itertools.count()
    engine = TemplateEngine(
        limits=TemplateLimits(max_seconds=50, max_iterations=10**9),
        runtime=Runtime(clock=lambda: float(next(ticks))),  # one "second" per look at the clock
    )
    template = "{{#each fields.big}}{{this}}{{/each}}"
    with pytest.raises(TemplateLimitError, match="longer than 50 s"):
        engine.render(template, CONTEXT)
    small = {"fields": {"big": [1, 2, 3]}}
    assert engine.render(template, small) == "123"


def test_output_size_is_bounded() -> None:
    engine = TemplateEngine(limits=TemplateLimits(max_output_chars=1000))
    many = {"fields": {"big": ["x" * 100] * 20}}
    with pytest.raises(TemplateLimitError, match="exceeds 1000 characters"):
        engine.render("{{#each fields.big}}{{this}}{{/each}}", many)
    with pytest.raises(TemplateLimitError, match="exceeds 1000 characters"):
        engine.render_value(["{{fields.big[0]}}"] * 11, many)  # the limit spans a structure
    assert len(engine.render_value(["{{fields.big[0]}}"] * 9, many)) == 9


@pytest.mark.parametrize(
    "template",
    [
        "{{replace(fields.s, 'a', fields.s)}}",
        "{{concat(fields.s, fields.s, fields.s)}}",
        "{{fields.list | join(fields.s)}}",
        "{{json(fields.list)}}",
    ],
)
def test_functions_refuse_to_build_huge_values(template: str) -> None:
    engine = TemplateEngine(limits=TemplateLimits(max_value_chars=10_000))
    ctx = {"fields": {"s": "a" * 5000, "list": ["a" * 10] * 2000}}
    with pytest.raises(TemplateLimitError, match="limit 10000"):
        engine.render(template, ctx)


def test_errors_do_not_echo_values_of_the_context() -> None:
    engine = TemplateEngine()
    ctx = {"fields": {"pw": SECRET}}
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("{{fields.pw | join(',')}}", ctx)
    assert SECRET not in str(caught.value)
    with pytest.raises(TemplateRenderError) as caught:
        engine.render(f"{{{{fields.x}}}} {SECRET}", ctx, secrets=[SECRET])
    assert SECRET not in str(caught.value)
    assert SECRET not in (caught.value.template or "")
