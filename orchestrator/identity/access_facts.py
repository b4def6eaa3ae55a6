"""The facts about a request or a team that ``orchestrator.access`` decides on, read from the
database: the policy stays pure functions, the faces ask this service for their inputs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES


class AccessFacts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def request(self, request_id: uuid.UUID) -> dict[str, Any] | None:
        """The request's requester (email, teams) and its item's ``owner_team``; None when the
        request does not exist."""
        return await self.db.fetch_one(None, QUERIES.identity_request_facts, {"id": request_id})

    async def owned_teams(self, teams: Iterable[str]) -> list[str]:
        """Which of ``teams`` own at least one catalog item."""
        rows = await self.db.fetch_all(None, QUERIES.identity_owner_teams, {"teams": list(teams)})
        return [str(row["owner_team"]) for row in rows]
