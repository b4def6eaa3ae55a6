"""Reading a catalog from a GitHub repository as cheaply as GitHub allows.

* The branch head is polled with ``If-None-Match``: an unchanged branch answers 304, which
  costs no rate limit.
* On a new commit the tree is read recursively in one call; when GitHub truncates it (very
  large trees), the tree is walked level by level instead.
* Only blobs whose SHA differs from what is stored are fetched.
* A primary or secondary rate limit stops the sync with ``RateLimited`` (when to try again);
  nothing is half-applied, the next cycle starts over.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from githubkit import GitHub
from githubkit.exception import RequestFailed

YAML_SUFFIXES = (".yaml", ".yml")
CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


class RateLimited(RuntimeError):
    """GitHub refused for rate limiting; ``retry_after`` seconds until it allows again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceError(RuntimeError):
    """The repository, branch or an object could not be read (permission, missing branch)."""


@dataclass(frozen=True, slots=True)
class Head:
    """The branch head: ``sha`` None when the conditional request answered 304."""

    sha: str | None
    etag: str | None
    tree_sha: str | None = None


class GitHubCatalogSource:
    def __init__(self, client: GitHub[Any], repo: str, branch: str, prefix: str = "") -> None:
        self.client = client
        self.repo = repo
        self.branch = branch
        self.prefix = prefix.strip("/")
        self.requests = 0  # GitHub calls made, for the sync report and the bench

    @property
    def name(self) -> str:
        return f"github:{self.repo}@{self.branch}:{self.prefix}"

    def wanted(self, path: str) -> bool:
        """Catalog files under the prefix, and the repository's CODEOWNERS (governance)."""
        if path in CODEOWNERS_LOCATIONS:
            return True
        inside = not self.prefix or path.startswith(self.prefix + "/")
        return inside and path.endswith(YAML_SUFFIXES)

    async def head(self, etag: str | None) -> Head:
        headers = {"If-None-Match": etag} if etag else {}
        response = await self._get(f"/repos/{self.repo}/commits/{self.branch}", headers=headers)
        if response.status_code == 304:
            return Head(None, etag)
        body = response.json()
        return Head(
            str(body["sha"]), response.headers.get("etag"), str(body["commit"]["tree"]["sha"])
        )

    async def files(self, tree_sha: str) -> dict[str, str]:
        """path -> blob SHA of every catalog file in the commit's tree ``tree_sha``."""
        listing = (
            await self._get(f"/repos/{self.repo}/git/trees/{tree_sha}", params={"recursive": "1"})
        ).json()
        if not listing.get("truncated"):
            entries = listing["tree"]
        else:
            entries = await self._walk(tree_sha, "")
        return {
            str(e["path"]): str(e["sha"])
            for e in entries
            if e.get("type") == "blob" and self.wanted(str(e["path"]))
        }

    async def blob(self, sha: str) -> str:
        data = (await self._get(f"/repos/{self.repo}/git/blobs/{sha}")).json()
        raw = base64.b64decode(data.get("content") or "")
        return raw.decode("utf-8", errors="replace")

    async def set_status(self, sha: str, state: str, description: str, context: str) -> None:
        await self._call(
            "POST",
            f"/repos/{self.repo}/statuses/{sha}",
            json={"state": state, "description": description[:140], "context": context},
        )

    async def _walk(self, tree_sha: str, prefix: str) -> list[dict[str, Any]]:
        """A truncated tree read level by level (only into folders that can hold catalog files)."""
        listing = (await self._get(f"/repos/{self.repo}/git/trees/{tree_sha}")).json()
        out: list[dict[str, Any]] = []
        for entry in listing["tree"]:
            path = prefix + str(entry["path"])
            if entry.get("type") == "tree":
                if not self._may_hold(path):
                    continue
                out += await self._walk(str(entry["sha"]), path + "/")
            else:
                out.append({**entry, "path": path})
        return out

    def _may_hold(self, folder: str) -> bool:
        """Whether a folder can hold catalog files or a CODEOWNERS file."""
        if not self.prefix or folder in ("docs", ".github"):
            return True
        return (
            folder == self.prefix
            or folder.startswith(self.prefix + "/")
            or self.prefix.startswith(folder + "/")
        )

    async def _get(self, url: str, **kwargs: Any) -> Any:
        return await self._call("GET", url, **kwargs)

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        self.requests += 1
        try:
            return await self.client.arequest(method, url, **kwargs)
        except RequestFailed as exc:
            raise _translate(exc, method, url) from None


def _translate(exc: RequestFailed, method: str, url: str) -> Exception:
    response = exc.response
    headers: Mapping[str, str] = response.headers
    status = response.status_code
    if status in (403, 429) and (
        headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers
    ):
        if "retry-after" in headers:
            wait = float(headers["retry-after"])
        else:
            wait = max(0.0, float(headers.get("x-ratelimit-reset", "0")) - time.time())
        return RateLimited(f"GitHub rate limit on {method} {url}; retry in {wait:.0f}s", wait)
    return SourceError(f"GitHub answered {status} to {method} {url}")
