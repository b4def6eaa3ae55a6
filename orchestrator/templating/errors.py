"""Errors raised while compiling or rendering templates, each naming where and what failed.

One family for every rendering failure (syntax, missing variable, sandbox refusal, resource
bound), so callers need a single ``except TemplateRenderError`` and still get the location
(action id and JSON pointer of the templated value) and the failing variable path.
"""

from __future__ import annotations

from orchestrator.redaction import MASK, scrub
from orchestrator.template_syntax.errors import TemplateRenderError, TemplateSyntaxRenderError

# The base and the syntax case are the grammar's (``orchestrator.template_syntax.errors``);
# the rendering-time cases below extend them.
__all__ = ["MASK", "TemplateRenderError", "TemplateSyntaxRenderError", "scrub"]


class UndefinedVariableError(TemplateRenderError):
    """A variable path does not resolve (and is not guarded by ``| default(...)``)."""

    code = "undefined-variable"


class TemplateSecurityError(TemplateRenderError):
    """The sandbox refused an operation (attribute walk, unsafe call, format-string trick)."""

    code = "sandbox"


class TemplateLimitError(TemplateRenderError):
    """Rendering exceeded a bound: output size, loop iterations, time or value size."""

    code = "limit"
