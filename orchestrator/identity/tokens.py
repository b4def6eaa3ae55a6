"""API tokens: random secrets shown once, stored only as a SHA-256 hash (user_sessions).

A token is 32 random bytes, URL-safe, prefixed ``pao_`` so leaked tokens are easy to spot by
secret scanners. Expiry and revocation are checked on every call; ``last_used_at`` is written at
most once a minute per token, so authentication stays a read on the hot path.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from orchestrator.errors import NotFound
from orchestrator.identity.principal import Principal
from orchestrator.store.database import Database
from orchestrator.store.queries import QUERIES

PREFIX = "pao_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The secret (shown once, never stored) and the stored record."""

    token: str
    record: dict[str, Any]

    def __repr__(self) -> str:  # the secret never reaches a log or a traceback
        return f"IssuedToken(id={self.record.get('id')!s}, token='****')"


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        *,
        email: str,
        name: str | None,
        teams: tuple[str, ...],
        roles: tuple[str, ...],
        days: int,
        description: str | None,
        actor: str,
    ) -> IssuedToken:
        token = new_token()
        async with self.db.transaction(actor=actor, source="cli") as conn:
            cur = await conn.execute(
                QUERIES.identity_insert_token,
                {
                    "token_hash": hash_token(token),
                    "user_email": email,
                    "user_name": name,
                    "teams": list(teams),
                    "roles": list(roles),
                    "description": description,
                    "days": days,
                },
            )
            row = await cur.fetchone()
            assert row is not None
            record = _plain(dict(row))
            await conn.execute(
                QUERIES.identity_audit_event,
                {
                    "row_id": record["id"],
                    "operation": "token_created",
                    "actor": actor,
                    "correlation_id": None,
                    "source": "cli",
                    "new_data": Jsonb(record),
                },
            )
        return IssuedToken(token, record)

    async def authenticate(self, token: str) -> Principal | None:
        """The principal of a live token, or None (unknown, expired or revoked)."""
        return await self.authenticate_hash(hash_token(token))

    async def authenticate_hash(self, token_hash: str) -> Principal | None:
        """``authenticate`` by the token's hash (``hash_token``): a browser session of the
        portal keeps only the hash, and still ends when the token is revoked or expires."""
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.identity_find_token, {"token_hash": token_hash})
            row = await cur.fetchone()
            if row is None:
                return None
            if row["stale"]:
                await conn.execute(QUERIES.identity_touch_token, {"id": row["id"]})
        return Principal(
            email=row["user_email"],
            name=row["user_name"],
            teams=tuple(row["teams"]),
            roles=tuple(row["roles"]),
        )

    async def list(self, email: str | None = None) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            cur = await conn.execute(QUERIES.identity_list_tokens, {"user_email": email})
            return [_plain(dict(r)) for r in await cur.fetchall()]

    async def revoke(self, token_id: uuid.UUID, *, actor: str) -> dict[str, Any]:
        async with self.db.transaction(actor=actor, source="cli") as conn:
            cur = await conn.execute(QUERIES.identity_revoke_token, {"id": token_id})
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no live token with id {token_id}")
            await conn.execute(
                QUERIES.identity_audit_event,
                {
                    "row_id": str(token_id),
                    "operation": "token_revoked",
                    "actor": actor,
                    "correlation_id": None,
                    "source": "cli",
                    "new_data": Jsonb({"user_email": row["user_email"]}),
                },
            )
        return _plain(dict(row))


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-friendly values (ids and timestamps as strings, arrays as lists)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out
