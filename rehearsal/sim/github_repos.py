"""The fake GitHub's repository area: git data (commits, trees, blobs), branches, contents and
commit statuses, with ETags on the reads a poller repeats.

Tests build history with a small API instead of pushing:

    git = RepoArea(gh)
    git.create_repo("acme/catalog", default_branch="main")
    sha = git.commit("acme/catalog", "main", {"items/db.yaml": text, "old.yaml": None}, "msg")

``commit`` works on any branch (a new branch starts from the default branch's head); a file
given as None is deleted. Blob and tree SHAs are computed the way git computes them, so equal
content has equal SHAs across commits, as a syncing client expects. ``truncate_trees`` makes
recursive tree reads answer ``truncated: true`` with only the top level, as GitHub does for
very large trees.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from rehearsal.sim.github import FakeGitHub
from rehearsal.sim.http import Recorded, Reply

REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


def git_sha(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class FakeCommit:
    sha: str
    tree: str
    parents: list[str]
    message: str
    files: dict[str, str]  # path -> blob sha
    date: str


@dataclass(slots=True)
class FakeRepo:
    owner: str
    name: str
    id: int
    default_branch: str
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class RepoArea:
    def __init__(self, gh: FakeGitHub) -> None:
        self.gh = gh
        self.repos: dict[str, FakeRepo] = {}
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, list[dict[str, Any]]] = {}  # tree sha -> entries (one level)
        self.truncate_trees = False
        self._ids = itertools.count(1000)
        gh.route("GET", REPO, self._get_repo)
        gh.route("GET", REPO + r"/branches/(?P<branch>[^/]+)", self._get_branch)
        gh.route("GET", REPO + r"/commits/(?P<ref>[^/]+)", self._get_commit)
        gh.route("GET", REPO + r"/git/trees/(?P<sha>[0-9a-f]{40})", self._get_tree)
        gh.route("GET", REPO + r"/git/blobs/(?P<sha>[0-9a-f]{40})", self._get_blob)
        gh.route("GET", REPO + r"/contents/(?P<path>.+)", self._get_contents)
        gh.route("POST", REPO + r"/statuses/(?P<sha>[0-9a-f]{40})", self._create_status)
        gh.route("GET", REPO + r"/commits/(?P<ref>[^/]+)/statuses", self._list_statuses)

    # -- the test's API ------------------------------------------------------------------------

    def create_repo(self, full_name: str, default_branch: str = "main") -> FakeRepo:
        owner, _, name = full_name.partition("/")
        with self.gh.lock:
            repo = FakeRepo(owner, name, next(self._ids), default_branch)
            self.repos[full_name] = repo
            return repo

    def commit(
        self, full_name: str, branch: str, files: dict[str, str | None], message: str
    ) -> str:
        """Commit ``files`` (None deletes) on ``branch``; the new commit's sha."""
        with self.gh.lock:
            repo = self.repos[full_name]
            head = repo.branches.get(branch) or repo.branches.get(repo.default_branch)
            current = dict(repo.commits[head].files) if head else {}
            for path, text in files.items():
                if text is None:
                    current.pop(path, None)
                    continue
                data = text.encode()
                sha = git_sha("blob", data)
                self.blobs[sha] = data
                current[path] = sha
            tree = self._build_tree(current)
            date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            seed = f"{tree}:{head}:{message}:{next(self._ids)}".encode()
            sha = git_sha("commit", seed)
            repo.commits[sha] = FakeCommit(
                sha, tree, [head] if head else [], message, current, date
            )
            repo.branches[branch] = sha
            return sha

    def statuses_of(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        with self.gh.lock:
            return list(self.repos[full_name].statuses.get(sha, []))

    # -- git objects ---------------------------------------------------------------------------

    def _build_tree(self, files: dict[str, str]) -> str:
        """Store the nested trees of ``files`` (path -> blob sha); the root tree's sha."""
        children: dict[str, dict[str, str]] = {}
        blobs: dict[str, str] = {}
        for path, sha in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                children.setdefault(head, {})[rest] = sha
            else:
                blobs[head] = sha
        entries: list[dict[str, Any]] = [
            {"path": n, "mode": "100644", "type": "blob", "sha": s, "size": len(self.blobs[s])}
            for n, s in blobs.items()
        ]
        entries += [
            {"path": n, "mode": "040000", "type": "tree", "sha": self._build_tree(sub)}
            for n, sub in children.items()
        ]
        entries.sort(key=lambda e: str(e["path"]))
        listing = "\n".join(f"{e['mode']} {e['path']} {e['sha']}" for e in entries)
        sha = git_sha("tree", listing.encode())
        self.trees[sha] = entries
        return sha

    def _walk(self, sha: str, prefix: str = "") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for entry in self.trees[sha]:
            item = {**entry, "path": prefix + entry["path"]}
            out.append(item)
            if entry["type"] == "tree":
                out += self._walk(entry["sha"], item["path"] + "/")
        return out

    def _resolve(self, repo: FakeRepo, ref: str | None) -> FakeCommit | None:
        ref = ref or repo.default_branch
        sha = repo.branches.get(ref, ref)
        return repo.commits.get(sha)

    def _repo(self, owner: str, name: str) -> FakeRepo | None:
        return self.repos.get(f"{owner}/{name}")

    def _url(self, repo: FakeRepo, tail: str) -> str:
        return f"{self.gh.base_url}/repos/{repo.full_name}/{tail}"

    def _commit_body(self, repo: FakeRepo, commit: FakeCommit) -> dict[str, Any]:
        person = {"name": "Catalog Bot", "email": "bot@example.com", "date": commit.date}
        return {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:12]}",
            "url": self._url(repo, f"commits/{commit.sha}"),
            "html_url": f"https://github.com/{repo.full_name}/commit/{commit.sha}",
            "comments_url": self._url(repo, f"commits/{commit.sha}/comments"),
            "commit": {
                "url": self._url(repo, f"git/commits/{commit.sha}"),
                "author": person,
                "committer": person,
                "message": commit.message,
                "tree": {"sha": commit.tree, "url": self._url(repo, f"git/trees/{commit.tree}")},
                "comment_count": 0,
            },
            "author": None,
            "committer": None,
            "parents": [{"sha": p, "url": self._url(repo, f"commits/{p}")} for p in commit.parents],
        }

    # -- routes --------------------------------------------------------------------------------

    def _get_repo(self, request: Recorded, owner: str, name: str) -> Reply:
        repo = self._repo(owner, name)
        if repo is None:
            return Reply(404, {"message": "Not Found"})
        return Reply(
            200,
            {
                "id": repo.id,
                "node_id": f"R_{repo.id}",
                "name": repo.name,
                "full_name": repo.full_name,
                "private": False,
                "default_branch": repo.default_branch,
                "owner": {"login": repo.owner, "id": 1, "type": "Organization"},
                "html_url": f"https://github.com/{repo.full_name}",
                "url": f"{self.gh.base_url}/repos/{repo.full_name}",
            },
        )

    def _get_branch(self, request: Recorded, owner: str, name: str, branch: str) -> Reply:
        repo = self._repo(owner, name)
        commit = self._resolve(repo, branch) if repo else None
        if repo is None or commit is None or branch not in repo.branches:
            return Reply(404, {"message": "Branch not found"})
        body = {
            "name": branch,
            "commit": self._commit_body(repo, commit),
            "protected": False,
            "_links": {"self": self._url(repo, f"branches/{branch}"), "html": ""},
        }
        return self.gh.etagged(request, body)

    def _get_commit(self, request: Recorded, owner: str, name: str, ref: str) -> Reply:
        repo = self._repo(owner, name)
        commit = self._resolve(repo, ref) if repo else None
        if repo is None or commit is None:
            return Reply(422, {"message": f"No commit found for SHA: {ref}"})
        return self.gh.etagged(request, self._commit_body(repo, commit))

    def _get_tree(self, request: Recorded, owner: str, name: str, sha: str) -> Reply:
        repo = self._repo(owner, name)
        if repo is None or sha not in self.trees:
            return Reply(404, {"message": "Not Found"})
        recursive = request.arg("recursive") not in (None, "", "0", "false")
        truncated = recursive and self.truncate_trees
        entries = self._walk(sha) if recursive and not truncated else list(self.trees[sha])
        for entry in entries:
            kind = "blobs" if entry["type"] == "blob" else "trees"
            entry["url"] = self._url(repo, f"git/{kind}/{entry['sha']}")
        return Reply(
            200,
            {
                "sha": sha,
                "url": self._url(repo, f"git/trees/{sha}"),
                "tree": entries,
                "truncated": truncated,
            },
        )

    def _get_blob(self, request: Recorded, owner: str, name: str, sha: str) -> Reply:
        repo = self._repo(owner, name)
        data = self.blobs.get(sha)
        if repo is None or data is None:
            return Reply(404, {"message": "Not Found"})
        return Reply(
            200,
            {
                "sha": sha,
                "node_id": f"B_{sha[:12]}",
                "size": len(data),
                "url": self._url(repo, f"git/blobs/{sha}"),
                "content": base64.encodebytes(data).decode(),
                "encoding": "base64",
            },
        )

    def _get_contents(self, request: Recorded, owner: str, name: str, path: str) -> Reply:
        repo = self._repo(owner, name)
        commit = self._resolve(repo, request.arg("ref")) if repo else None
        sha = commit.files.get(path) if commit else None
        if repo is None or commit is None or sha is None:
            return Reply(404, {"message": "Not Found"})
        data = self.blobs[sha]
        url = self._url(repo, f"contents/{path}?ref={commit.sha}")
        html = f"https://github.com/{repo.full_name}/blob/{commit.sha}/{path}"
        return Reply(
            200,
            {
                "type": "file",
                "encoding": "base64",
                "size": len(data),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "content": base64.encodebytes(data).decode(),
                "sha": sha,
                "url": url,
                "git_url": self._url(repo, f"git/blobs/{sha}"),
                "html_url": html,
                "download_url": None,
                "_links": {"self": url, "git": self._url(repo, f"git/blobs/{sha}"), "html": html},
            },
        )

    def _create_status(self, request: Recorded, owner: str, name: str, sha: str) -> Reply:
        repo = self._repo(owner, name)
        if repo is None or sha not in repo.commits:
            return Reply(422, {"message": "No commit found for SHA"})
        data = request.json() or {}
        if data.get("state") not in ("error", "failure", "pending", "success"):
            return Reply(422, {"message": "Validation Failed"})
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = {
            "id": next(self._ids),
            "node_id": "SC_fake",
            "url": self._url(repo, f"statuses/{sha}"),
            "avatar_url": None,
            "state": data["state"],
            "description": data.get("description"),
            "target_url": data.get("target_url"),
            "context": data.get("context") or "default",
            "created_at": stamp,
            "updated_at": stamp,
            "creator": None,
        }
        repo.statuses.setdefault(sha, []).insert(0, status)
        return Reply(201, status)

    def _list_statuses(self, request: Recorded, owner: str, name: str, ref: str) -> Reply:
        repo = self._repo(owner, name)
        commit = self._resolve(repo, ref) if repo else None
        if repo is None or commit is None:
            return Reply(404, {"message": "Not Found"})
        return Reply(200, list(repo.statuses.get(commit.sha, [])))
