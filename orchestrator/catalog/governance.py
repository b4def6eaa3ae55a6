"""Who may change a catalog file: its CODEOWNERS, and the catalog team for protected paths.

Answers ``POST /api/v1/validate/catalog-item``'s ``permission``: the owners of the file (from
the synced repository's CODEOWNERS), whether the caller is one of them, and why not.
"""

from __future__ import annotations

from typing import Any

from orchestrator.catalog.codeowners import is_owner
from orchestrator.catalog.sync import GitHubCatalogSync
from orchestrator.identity.principal import Principal
from orchestrator.settings import CatalogSettings


async def change_permission(
    sync: GitHubCatalogSync | None,
    settings: CatalogSettings,
    principal: Principal,
    path: str,
) -> dict[str, Any]:
    path = path.lstrip("/")
    admin = "admin" in principal.roles
    if any(path.startswith(prefix) for prefix in settings.protected_paths):
        team = settings.team
        allowed = admin or (
            team is not None
            and is_owner([f"@{team}"], email=principal.email, teams=principal.teams)
        )
        return {
            "path": path,
            "owners": [f"@{team}"] if team else [],
            "may_change": allowed,
            "reason": "a protected path: only the catalog team may change it"
            + ("" if team else " (CATALOG_TEAM is not set)"),
        }
    codeowners = await sync.codeowners() if sync is not None else None
    if codeowners is None:
        return {
            "path": path,
            "owners": [],
            "may_change": None,
            "reason": "no CODEOWNERS known (no synced catalog repository, or it has none)",
        }
    owners = list(codeowners.owners_of(path))
    allowed = admin or is_owner(owners, email=principal.email, teams=principal.teams)
    if allowed:
        reason = "an administrator" if admin and not owners else "a code owner of this path"
    elif owners:
        reason = f"only {', '.join(owners)} may change this path"
    else:
        reason = "nobody owns this path in CODEOWNERS"
    return {"path": path, "owners": owners, "may_change": allowed, "reason": reason}
