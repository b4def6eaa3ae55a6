from __future__ import annotations

import pytest

from orchestrator.template_syntax.references import TemplateSyntaxError, scan


def test_variables_functions_and_filters_are_found() -> None:
    refs = scan(
        "db-{{fields.name}} {{upper(outputs.provision.hosts[0])}} "
        "{{fields.team | default('PLATFORM')}} "
        "{{concat(metadata.owner.team, '-', request.user.email)}}"
    )
    assert [v.text for v in refs.variables] == [
        "fields.name",
        "outputs.provision.hosts[0]",
        "fields.team",
        "metadata.owner.team",
        "request.user.email",
    ]
    assert refs.variables[1].path == ("provision", "hosts", 0)
    assert [(c.name, c.kind) for c in refs.calls] == [
        ("upper", "function"),
        ("default", "filter"),
        ("concat", "function"),
    ]
    assert not refs.unknown_roots


def test_strings_inside_expressions_are_not_variables() -> None:
    refs = scan("{{replace(fields.name, 'fields.secret', \"x.y\")}}")
    assert [v.text for v in refs.variables] == ["fields.name"]


def test_blocks_and_each_locals() -> None:
    refs = scan(
        "{{#if fields.enabled}}on{{else}}off{{/if}}"
        "{{#each fields.tags}}{{@index}}={{this}} {{this.name}} {{@key}}{{/each}}"
        "{{#unless fields.quiet}}loud{{/unless}}"
    )
    assert [v.text for v in refs.variables] == ["fields.enabled", "fields.tags", "fields.quiet"]


def test_unknown_roots_are_reported_separately() -> None:
    refs = scan("{{feilds.name}} {{fields.ok}}")
    assert [v.text for v in refs.unknown_roots] == ["feilds.name"]


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{{#if fields.a}}x", "never closed"),
        ("{{/if}}", "closes no open block"),
        ("{{#if fields.a}}{{/each}}", "expected '{{/if}}'"),
        ("{{fields.a", "never closed with '}}'"),
        ("fields.a}}", "without a matching '{{'"),
        ("{{}}", "empty expression"),
        ("{{#with fields.a}}{{/with}}", "unknown block"),
        ("{{this}}", "only defined inside"),
        ("{{upper(fields.a}}", "unbalanced parentheses"),
        ("{{replace(fields.a, 'x)}}", "unterminated string"),
        ("{{else}}", "outside a block"),
        ("{{#if}}{{/if}}", "needs an expression"),
    ],
)
def test_syntax_errors_are_reported_with_offsets(template: str, fragment: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        scan(template)
    assert fragment in caught.value.message
    assert 0 <= caught.value.offset < len(template)
