"""A stage's ``when``: a template expression over the request, read by the catalog's engine.

Authors write the expression bare (``fields.environment == 'prod'``) or as one template block
(``{{fields.environment == 'prod'}}``); both mean the same. The grammar, the sandbox and the
variable scopes are the templates' own (``orchestrator.templating``): one language in the
catalog, and the validator's static checks apply unchanged. The static half (``as_template``,
``condition_problem``) is the catalog's (``orchestrator.catalog.approval_checks``): the catalog
validates its own contract; evaluating is the runtime's, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.catalog.approval_checks import as_template, condition_problem

if TYPE_CHECKING:
    from orchestrator.templating.context import TemplateContext


class ConditionError(ValueError):
    """A ``when`` that is not one template expression; the message says why."""


def condition_holds(when: str, variables: TemplateContext | Mapping[str, Any]) -> bool:
    """Whether the stage applies: the expression's truth value (Jinja's: empty, 0, null and
    false are false). Raises ``ConditionError`` for a malformed condition and the engine's
    ``TemplateRenderError`` for one that cannot be evaluated (an undefined variable)."""
    problem = condition_problem(when)
    if problem is not None:
        raise ConditionError(problem)
    from orchestrator.templating.engine import default_engine  # Jinja only when evaluating

    return bool(default_engine().render_value(as_template(when), variables))
