"""The built-in action types (the ``pao.action_types`` entry point ``actions``).

Each module describes one type for the core (``orchestrator.action_types``); the executors
that run them are declared separately (``pao.executors``: ``actions.registry``).
"""

from __future__ import annotations

from actions.specs import github_workflow, jira_ticket, rest_api, terraform
from orchestrator.action_types import ActionTypeSpec

BUILTIN_ACTION_TYPES: tuple[ActionTypeSpec, ...] = (
    jira_ticket.SPEC,
    rest_api.SPEC,
    terraform.SPEC,
    github_workflow.SPEC,
)
