"""What every handler receives: the bot's settings and its dependencies, injected once.

The bot gets the core's services passed in (it never builds them), and a GitHub client made by
``orchestrator.github_client``; tests build the same object around a loopback fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.commands import Authorizer
from bot.github import BotGitHub
from bot.settings import BotSettings
from orchestrator.catalog.service import CatalogService
from orchestrator.requests.service import Principal, RequestService
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES


@dataclass(slots=True)
class BotContext:
    settings: BotSettings
    github: BotGitHub
    db: Database
    catalog: CatalogService
    requests: RequestService
    authorizer: Authorizer
    template_environment: Mapping[str, str] = field(default_factory=dict)

    def principal(self, login: str, *roles: str) -> Principal:
        """A GitHub user as the core sees them (GitHub does not tell us their teams here)."""
        return Principal(email=self.settings.email_of(login), name=login, roles=tuple(roles))

    @asynccontextmanager
    async def locked(self, key: str) -> AsyncIterator[None]:
        """Serialise work on ``key`` across workers (a PostgreSQL session advisory lock), so
        two deliveries of one merge cannot both submit the same request file."""
        async with self.db.connection() as conn:
            await conn.execute(QUERIES.bot_lock_key, {"key": key})
            try:
                yield
            finally:
                await conn.execute(QUERIES.bot_unlock_key, {"key": key})

    async def fetch_one(self, query: Any, **params: Any) -> dict[str, Any] | None:
        return await self.db.fetch_one(None, query, params)

    async def fetch_all(self, query: Any, **params: Any) -> list[dict[str, Any]]:
        return await self.db.fetch_all(None, query, params)
