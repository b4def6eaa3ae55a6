"""Request links: which pull request file or issue a request came from, and its status comment.

The bot reads them to answer slash commands on a thread and to refresh a request's status on
GitHub; ``locked`` serialises the work on one file, issue or link across workers (two
deliveries of one merge, or two ``notify`` jobs, must not both submit or both post).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

LinkKind = Literal["pull_request", "issue"]


@dataclass(frozen=True, slots=True)
class RequestLink:
    """A request linked to a GitHub thread (a merged request file, or an issue form)."""

    id: int
    request_id: uuid.UUID
    kind: str
    repository: str
    number: int
    path: str | None  # the request file, for a pull request
    status_comment_id: int | None  # the comment showing the request's status, once posted

    @classmethod
    def of(cls, row: dict[str, Any]) -> RequestLink:
        return cls(
            id=int(row["id"]),
            request_id=uuid.UUID(str(row["request_id"])),
            kind=str(row["kind"]),
            repository=str(row["repository"]),
            number=int(row["number"]),
            path=row["path"],
            status_comment_id=row["status_comment_id"],
        )


@dataclass(frozen=True, slots=True)
class ThreadRequest:
    """A request linked to a thread, with what deciding on it needs."""

    link: RequestLink
    status: str
    requester_email: str
    catalog_item_id: str


class RequestLinks:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def locked(self, key: str) -> AsyncIterator[None]:
        """Serialise work on ``key`` across workers (a PostgreSQL session advisory lock held
        on one pooled connection until the block ends)."""
        async with self.db.connection() as conn:
            await conn.execute(QUERIES.bot_lock_key, {"key": key})
            try:
                yield
            finally:
                await conn.execute(QUERIES.bot_unlock_key, {"key": key})

    async def for_file(self, repository: str, path: str, blob_sha: str) -> RequestLink | None:
        """The request submitted from this version of a merged request file."""
        row = await self.db.fetch_one(
            None,
            QUERIES.bot_link_for_file,
            {"repository": repository, "path": path, "blob_sha": blob_sha},
        )
        return RequestLink.of(row) if row else None

    async def for_issue(self, repository: str, number: int) -> RequestLink | None:
        """The (latest) request submitted from an issue form."""
        row = await self.db.fetch_one(
            None, QUERIES.bot_link_for_issue, {"repository": repository, "number": number}
        )
        return RequestLink.of(row) if row else None

    async def by_id(self, link_id: int) -> RequestLink | None:
        row = await self.db.fetch_one(None, QUERIES.bot_link_by_id, {"id": link_id})
        return RequestLink.of(row) if row else None

    async def for_request(self, request_id: uuid.UUID) -> list[RequestLink]:
        """The threads showing a request's status."""
        rows = await self.db.fetch_all(
            None, QUERIES.bot_links_for_request, {"request_id": request_id}
        )
        return [RequestLink.of(row) for row in rows]

    async def on_thread(self, repository: str, number: int) -> list[ThreadRequest]:
        """The requests linked to one pull request or issue, oldest first."""
        rows = await self.db.fetch_all(
            None, QUERIES.bot_links_for_thread, {"repository": repository, "number": number}
        )
        return [
            ThreadRequest(
                RequestLink.of(row),
                str(row["status"]),
                str(row["requester_email"]),
                str(row["catalog_item_id"]),
            )
            for row in rows
        ]

    async def add(
        self,
        request_id: uuid.UUID,
        kind: LinkKind,
        repository: str,
        number: int,
        *,
        path: str | None = None,
        blob_sha: str | None = None,
    ) -> RequestLink:
        """Link a request just submitted to the thread it came from."""
        row = await self.db.fetch_one(
            None,
            QUERIES.bot_insert_link,
            {
                "request_id": request_id,
                "kind": kind,
                "repository": repository,
                "number": number,
                "path": path,
                "blob_sha": blob_sha,
            },
        )
        assert row is not None  # INSERT ... RETURNING
        return RequestLink.of(row)

    async def set_status_comment(self, link_id: int, comment_id: int) -> None:
        """Remember the comment that shows the request's status on the thread."""
        await self.db.execute(
            None, QUERIES.bot_set_status_comment, {"id": link_id, "comment_id": comment_id}
        )
