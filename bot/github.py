"""The bot's GitHub calls, through the one client factory (``orchestrator.github_client``).

Raw REST calls through githubkit's ``arequest``: the client brings auth (App installation or
token), timeout and the retry policy; responses are read as plain JSON so a field GitHub adds
or drops does not break a typed model. Annotations go out in batches of 50, the API's limit
per request.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from githubkit import GitHub
from githubkit.exception import RequestFailed

from orchestrator.redaction import redact

ANNOTATIONS_PER_CALL = 50
PAGE_SIZE = 100
MAX_PAGES = 30  # GitHub lists at most 3000 files of a pull request
# Every call states the REST version it was written against; githubkit's typed methods do,
# raw ``arequest`` calls do not on their own.
API_VERSION = "2022-11-28"
HEADERS = {"X-GitHub-Api-Version": API_VERSION, "Accept": "application/vnd.github+json"}


def segment(text: str) -> str:
    """One URL path segment: ``#``, ``?``, ``%``, ``/`` and spaces escaped (a label name)."""
    return quote(text, safe="")


def path_segments(path: str) -> str:
    """A repository file path for a URL: each segment escaped, the ``/`` kept."""
    return "/".join(segment(part) for part in path.split("/"))


def _status(exc: RequestFailed) -> int:
    return int(exc.response.status_code)


def repository_gone(exc: RequestFailed) -> bool:
    """GitHub's answer for a repository deleted, transferred away or no longer visible to the
    credentials (404, 410): retrying cannot help."""
    return _status(exc) in (404, 410)


class BotGitHub:
    def __init__(self, client: GitHub[Any]) -> None:
        self.client = client

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**HEADERS, **kwargs.pop("headers", {})}
        response = await self.client.arequest(method, url, headers=headers, **kwargs)
        return response.json() if response.content else None

    async def _pages(self, url: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            batch = await self._json("GET", url, params={"per_page": PAGE_SIZE, "page": page})
            found.extend(batch or [])
            if not batch or len(batch) < PAGE_SIZE:
                break
        return found

    # -- pull requests and contents ------------------------------------------------------------

    async def pull_request(self, repo: str, number: int) -> dict[str, Any]:
        data: dict[str, Any] = await self._json("GET", f"/repos/{repo}/pulls/{number}")
        return data

    async def pr_files(self, repo: str, number: int) -> list[dict[str, Any]]:
        return await self._pages(f"/repos/{repo}/pulls/{number}/files")

    async def pr_reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The pull request's reviews, oldest first (``state`` APPROVED, CHANGES_REQUESTED,
        COMMENTED, DISMISSED; ``commit_id`` the head they reviewed)."""
        return await self._pages(f"/repos/{repo}/pulls/{number}/reviews")

    async def file_text(self, repo: str, path: str, ref: str) -> tuple[str, str] | None:
        """(text, blob sha) of ``path`` at ``ref``; None when it does not exist there."""
        try:
            data = await self._json(
                "GET", f"/repos/{repo}/contents/{path_segments(path)}", params={"ref": ref}
            )
        except RequestFailed as exc:
            if _status(exc) == 404:
                return None
            raise
        if not isinstance(data, dict) or data.get("type", "file") != "file":
            return None
        try:
            raw = base64.b64decode(data.get("content") or "")
        except (binascii.Error, ValueError):
            return None
        return raw.decode("utf-8", errors="replace"), str(data.get("sha") or "")

    # -- check runs ----------------------------------------------------------------------------

    async def publish_check_run(
        self,
        repo: str,
        head_sha: str,
        name: str,
        *,
        conclusion: str,
        title: str,
        summary: str,
        annotations: Sequence[dict[str, Any]],
    ) -> int:
        """One completed check run; annotations beyond the first 50 are added by updates."""
        batches = [
            list(annotations[i : i + ANNOTATIONS_PER_CALL])
            for i in range(0, len(annotations), ANNOTATIONS_PER_CALL)
        ] or [[]]
        output = {"title": title, "summary": summary[:65000]}
        created = await self._json(
            "POST",
            f"/repos/{repo}/check-runs",
            json={
                "name": name,
                "head_sha": head_sha,
                "status": "completed",
                "conclusion": conclusion,
                "output": {**output, "annotations": batches[0]},
            },
        )
        run_id = int(created["id"])
        for batch in batches[1:]:
            await self._json(
                "PATCH",
                f"/repos/{repo}/check-runs/{run_id}",
                json={"output": {**output, "annotations": batch}},
            )
        return run_id

    # -- comments, reactions, labels -----------------------------------------------------------

    async def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return await self._pages(f"/repos/{repo}/issues/{number}/comments")

    async def find_comment(
        self, repo: str, number: int, marker: str, author: str
    ) -> dict[str, Any] | None:
        """The bot's own comment carrying ``marker`` (the sticky one), if any."""
        for comment in await self.comments(repo, number):
            login = (comment.get("user") or {}).get("login")
            if login == author and marker in (comment.get("body") or ""):
                return comment
        return None

    async def comment(self, repo: str, comment_id: int) -> dict[str, Any] | None:
        """One comment; None when it is gone."""
        try:
            data: dict[str, Any] = await self._json(
                "GET", f"/repos/{repo}/issues/comments/{comment_id}"
            )
        except RequestFailed as exc:
            if _status(exc) == 404:
                return None
            raise
        return data

    async def create_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._json(
            "POST", f"/repos/{repo}/issues/{number}/comments", json={"body": redact(body)}
        )
        return data

    async def update_comment(self, repo: str, comment_id: int, body: str) -> dict[str, Any] | None:
        """None when the comment is gone (deleted by someone): the caller posts a new one."""
        try:
            data: dict[str, Any] = await self._json(
                "PATCH",
                f"/repos/{repo}/issues/comments/{comment_id}",
                json={"body": redact(body)},
            )
        except RequestFailed as exc:
            if _status(exc) == 404:
                return None
            raise
        return data

    async def upsert_comment(
        self, repo: str, number: int, body: str, *, comment_id: int | None
    ) -> int:
        """Update comment ``comment_id`` in place, or post it when there is none (or it is gone)."""
        if comment_id is not None:
            updated = await self.update_comment(repo, comment_id, body)
            if updated is not None:
                return int(updated["id"])
        created = await self.create_comment(repo, number, body)
        return int(created["id"])

    async def react(self, repo: str, comment_id: int, content: str) -> None:
        await self._json(
            "POST",
            f"/repos/{repo}/issues/comments/{comment_id}/reactions",
            json={"content": content},
        )

    async def set_state_label(
        self, repo: str, number: int, label: str, *, family: str, current: Sequence[str]
    ) -> None:
        """Make ``label`` the only label starting with ``family`` on the issue."""
        for name in current:
            if name.startswith(family) and name != label:
                try:
                    await self._json(
                        "DELETE", f"/repos/{repo}/issues/{number}/labels/{segment(name)}"
                    )
                except RequestFailed as exc:
                    if _status(exc) != 404:
                        raise
        if label not in current:
            await self._json(
                "POST", f"/repos/{repo}/issues/{number}/labels", json={"labels": [label]}
            )

    async def threads_labelled(self, repo: str, label: str) -> list[dict[str, Any]]:
        """Issues and pull requests (open or closed) carrying ``label``."""
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            batch = await self._json(
                "GET",
                f"/repos/{repo}/issues",
                params={"labels": label, "state": "all", "per_page": PAGE_SIZE, "page": page},
            )
            found.extend(batch or [])
            if not batch or len(batch) < PAGE_SIZE:
                break
        return found

    async def labels(self, repo: str, number: int) -> list[str]:
        data = await self._json("GET", f"/repos/{repo}/issues/{number}/labels")
        return [str(label["name"]) for label in data or []]

    async def issue_state(self, repo: str, number: int) -> str:
        """``open`` or ``closed`` (``gone`` when the issue no longer exists)."""
        try:
            data = await self._json("GET", f"/repos/{repo}/issues/{number}")
        except RequestFailed as exc:
            if _status(exc) in (404, 410):
                return "gone"
            raise
        return str((data or {}).get("state") or "open")

    async def close_issue(self, repo: str, number: int, *, reason: str = "completed") -> None:
        """Close the issue with GitHub's ``state_reason``: ``completed`` (done) or
        ``not_planned`` (a request rejected, or whose approval expired: nothing was done)."""
        await self._json(
            "PATCH",
            f"/repos/{repo}/issues/{number}",
            json={"state": "closed", "state_reason": reason},
        )

    # -- who may do what -----------------------------------------------------------------------

    async def is_team_member(self, org: str, team: str, login: str) -> bool:
        try:
            data = await self._json(
                "GET", f"/orgs/{org}/teams/{segment(team)}/memberships/{segment(login)}"
            )
        except RequestFailed as exc:
            if _status(exc) in (403, 404):
                return False
            raise
        return isinstance(data, dict) and data.get("state") == "active"

    async def permission(self, repo: str, login: str) -> str:
        """The person's role on the repository: ``admin``, ``maintain``, ``write``, ``triage``,
        ``read`` (or a custom role's name), ``none`` for strangers. From ``role_name``: the
        older ``permission`` field maps maintain to write and triage to read."""
        try:
            data = await self._json("GET", f"/repos/{repo}/collaborators/{login}/permission")
        except RequestFailed as exc:
            if _status(exc) in (403, 404):
                return "none"
            raise
        data = data or {}
        return str(data.get("role_name") or data.get("permission") or "none")
