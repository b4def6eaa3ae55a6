"""Handlebars-style templates over request variables: parsing, static analysis, rendering.

Modules, from the bottom up:

* ``orchestrator.template_syntax`` (outside this package: catalog validation uses it too): the
  scopes, functions and filters, and the static scan of a template;
* ``translate``: the catalog grammar -> Jinja2 source (only the documented grammar passes);
* ``sandbox``, ``functions``, ``limits``: the bounded, immutable Jinja2 sandbox;
* ``engine``: compile once (LRU), ``render`` / ``render_value`` with type preservation;
* ``context``: the six scopes (``build_context``);
* ``analysis``: located static checks and the action dependency graph;
* ``masking``: previews and errors with secrets shown as ``****``;
* ``playground``: ``test_variables`` for catalog authors.

The names below are the public surface the engine and the API use. They load lazily, so
importing the package does not import Jinja2.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.templating.analysis import (
        TemplateAnalysisError,
        TemplateProblem,
        action_dependencies,
        check_templates,
        execution_order,
        template_sites,
    )
    from orchestrator.templating.context import (
        RequestInfo,
        TemplateContext,
        UserInfo,
        build_context,
    )
    from orchestrator.templating.engine import TemplateEngine, default_engine, render, render_value
    from orchestrator.templating.errors import (
        MASK,
        TemplateLimitError,
        TemplateRenderError,
        TemplateSecurityError,
        TemplateSyntaxRenderError,
        UndefinedVariableError,
    )
    from orchestrator.templating.limits import Runtime, TemplateLimits
    from orchestrator.templating.masking import (
        RenderedAction,
        mask,
        mask_declared_secrets,
        render_action,
        render_preview,
    )
    from orchestrator.templating.playground import placeholder_outputs, test_variables

_EXPORTS = {
    "MASK": "orchestrator.templating.errors",
    "RenderedAction": "orchestrator.templating.masking",
    "RequestInfo": "orchestrator.templating.context",
    "Runtime": "orchestrator.templating.limits",
    "TemplateAnalysisError": "orchestrator.templating.analysis",
    "TemplateContext": "orchestrator.templating.context",
    "TemplateEngine": "orchestrator.templating.engine",
    "TemplateLimitError": "orchestrator.templating.errors",
    "TemplateLimits": "orchestrator.templating.limits",
    "TemplateProblem": "orchestrator.templating.analysis",
    "TemplateRenderError": "orchestrator.templating.errors",
    "TemplateSecurityError": "orchestrator.templating.errors",
    "TemplateSyntaxRenderError": "orchestrator.templating.errors",
    "UndefinedVariableError": "orchestrator.templating.errors",
    "UserInfo": "orchestrator.templating.context",
    "action_dependencies": "orchestrator.templating.analysis",
    "build_context": "orchestrator.templating.context",
    "check_templates": "orchestrator.templating.analysis",
    "default_engine": "orchestrator.templating.engine",
    "execution_order": "orchestrator.templating.analysis",
    "mask": "orchestrator.templating.masking",
    "placeholder_outputs": "orchestrator.templating.playground",
    "test_variables": "orchestrator.templating.playground",
    "mask_declared_secrets": "orchestrator.templating.masking",
    "render": "orchestrator.templating.engine",
    "render_action": "orchestrator.templating.masking",
    "render_preview": "orchestrator.templating.masking",
    "render_value": "orchestrator.templating.engine",
    "template_sites": "orchestrator.templating.analysis",
}
__all__ = [
    "MASK",
    "RenderedAction",
    "RequestInfo",
    "Runtime",
    "TemplateAnalysisError",
    "TemplateContext",
    "TemplateEngine",
    "TemplateLimitError",
    "TemplateLimits",
    "TemplateProblem",
    "TemplateRenderError",
    "TemplateSecurityError",
    "TemplateSyntaxRenderError",
    "UndefinedVariableError",
    "UserInfo",
    "action_dependencies",
    "build_context",
    "check_templates",
    "default_engine",
    "execution_order",
    "mask",
    "mask_declared_secrets",
    "placeholder_outputs",
    "render",
    "render_action",
    "render_preview",
    "render_value",
    "template_sites",
    "test_variables",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
