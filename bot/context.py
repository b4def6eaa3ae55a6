"""What every handler receives: the bot's settings and its dependencies, injected once.

The bot gets the core's services passed in (it never builds them, and runs no SQL: what it keeps
in the database goes through ``links``), and a GitHub client made by
``orchestrator.github_client``; tests build the same object around a loopback fake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.github import BotGitHub
from bot.settings import BotSettings
from bot.slash_permissions import Authorizer
from orchestrator.approvals.lifecycle import ApprovalGates
from orchestrator.catalog.service import CatalogService
from orchestrator.github.links import RequestLinks
from orchestrator.identity.principal import Principal
from orchestrator.requests.service import RequestService


@dataclass(slots=True)
class BotContext:
    settings: BotSettings
    github: BotGitHub
    catalog: CatalogService
    requests: RequestService
    links: RequestLinks
    authorizer: Authorizer
    template_environment: Mapping[str, str] = field(default_factory=dict)
    # The approval gates (issue 21): decisions, the gate of a request, revising a request.
    approvals: ApprovalGates | None = None

    def principal(self, login: str, *roles: str) -> Principal:
        """A GitHub user as the core sees them (GitHub does not tell us their teams here)."""
        return Principal(email=self.settings.email_of(login), name=login, roles=tuple(roles))
