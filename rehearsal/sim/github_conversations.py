"""The conversations area of the fake GitHub: issues, pull requests and their changed files and
reviews, comments, reactions, labels, check runs, team membership and collaborator permissions.

Behaviour worth knowing when writing a test:

- comments are authored by ``actor`` (the bot's login by default) unless a test adds one with
  ``add_comment(..., user=...)``; a body over 65,536 characters is refused with 422, as GitHub
  does, and so is a check-run request with more than 50 annotations;
- a check-run update with ``output.annotations`` appends them (GitHub's behaviour), so
  ``check_runs[id].annotations`` holds every batch;
- team membership answers 404 for non-members (GitHub's answer) and ``state`` ``active`` or
  ``pending`` (an invitation not yet accepted) for members; permissions ``none`` for
  strangers; every probe is recorded, so tests can check caching;
- reviews are listed oldest first with GitHub's upper-case ``state`` (APPROVED,
  CHANGES_REQUESTED, COMMENTED, DISMISSED) and the ``commit_id`` they were given on.

    gh = FakeGitHub()
    talk = ConversationArea(gh)
    talk.add_pull("acme/requests", 7, head_sha="abc...", user="octocat", files=[...])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rehearsal.sim.github import FakeGitHub
from rehearsal.sim.http import Recorded, Reply

REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ISSUE = REPO + r"/issues/(?P<number>\d+)"
COMMENT = REPO + r"/issues/comments/(?P<comment_id>\d+)"
CHECK_RUN = REPO + r"/check-runs/(?P<run_id>\d+)"
DOCS = "https://docs.github.com/rest"
COMMENT_LIMIT = 65_536
REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, message: str) -> Reply:
    return Reply(status, {"message": message, "documentation_url": DOCS, "status": str(status)})


def user(login: str, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10**8, "type": kind}


@dataclass(slots=True)
class FakeIssue:
    repo: str
    number: int
    title: str
    body: str
    user: str
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    is_pull: bool = False


@dataclass(slots=True)
class FakePull:
    repo: str
    number: int
    head_sha: str
    user: str
    files: list[dict[str, Any]]
    base_ref: str = "main"
    head_ref: str = "request"
    merged: bool = False
    merge_commit_sha: str | None = None


@dataclass(slots=True)
class FakeReview:
    id: int
    repo: str
    number: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    commit_id: str
    body: str
    submitted_at: str


@dataclass(slots=True)
class FakeComment:
    id: int
    repo: str
    number: int
    body: str
    user: str
    created_at: str
    updated_at: str
    user_type: str = "Bot"


@dataclass(slots=True)
class FakeCheckRun:
    id: int
    repo: str
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    title: str | None
    summary: str | None
    annotations: list[dict[str, Any]] = field(default_factory=list)


class ConversationArea:
    def __init__(self, gh: FakeGitHub, *, actor: str = "pao-bot[bot]") -> None:
        self.gh = gh
        self.actor = actor
        self.issues: dict[tuple[str, int], FakeIssue] = {}
        self.pulls: dict[tuple[str, int], FakePull] = {}
        self.comments: dict[int, FakeComment] = {}
        self.reactions: list[tuple[int, str, str]] = []  # (comment id, content, login)
        self.check_runs: dict[int, FakeCheckRun] = {}
        self.teams: dict[tuple[str, str], set[str]] = {}
        self.pending_members: dict[tuple[str, str], set[str]] = {}
        self.reviews: list[FakeReview] = []
        self._review_ids = itertools.count(80_000_001)
        self.permissions: dict[tuple[str, str], str] = {}
        self._comment_ids = itertools.count(1_100_000_001)
        self._run_ids = itertools.count(4_000_001)
        gh.route("GET", REPO + r"/pulls/(?P<number>\d+)", self._get_pull)
        gh.route("GET", REPO + r"/pulls/(?P<number>\d+)/files", self._pull_files)
        gh.route("GET", REPO + r"/pulls/(?P<number>\d+)/reviews", self._pull_reviews)
        gh.route("GET", REPO + r"/issues", self._list_issues)
        gh.route("GET", ISSUE, self._get_issue)
        gh.route("PATCH", ISSUE, self._patch_issue)
        gh.route("GET", ISSUE + r"/comments", self._list_comments)
        gh.route("POST", ISSUE + r"/comments", self._create_comment)
        gh.route("GET", COMMENT, self._get_comment)
        gh.route("PATCH", COMMENT, self._update_comment)
        gh.route("DELETE", COMMENT, self._delete_comment)
        gh.route("POST", COMMENT + r"/reactions", self._react)
        gh.route("GET", ISSUE + r"/labels", self._labels)
        gh.route("POST", ISSUE + r"/labels", self._add_labels)
        gh.route("DELETE", ISSUE + r"/labels/(?P<name>[^/]+)", self._remove_label)
        gh.route("POST", REPO + r"/check-runs", self._create_check_run)
        gh.route("PATCH", CHECK_RUN, self._update_check_run)
        gh.route("GET", CHECK_RUN + r"/annotations", self._annotations)
        gh.route(
            "GET",
            r"/orgs/(?P<org>[^/]+)/teams/(?P<team>[^/]+)/memberships/(?P<login>[^/]+)",
            self._membership,
        )
        gh.route("GET", REPO + r"/collaborators/(?P<login>[^/]+)/permission", self._permission)

    # -- set-up and inspection -----------------------------------------------------------------

    def add_pull(
        self,
        repo: str,
        number: int,
        *,
        head_sha: str,
        user: str,
        files: list[dict[str, Any]],
        title: str = "Request a service",
    ) -> FakePull:
        with self.gh.lock:
            pull = FakePull(repo, number, head_sha, user, [dict(f) for f in files])
            self.pulls[(repo, number)] = pull
            self.issues[(repo, number)] = FakeIssue(repo, number, title, "", user, is_pull=True)
            return pull

    def add_issue(
        self, repo: str, number: int, *, title: str, body: str, user: str, labels: list[str]
    ) -> FakeIssue:
        with self.gh.lock:
            issue = FakeIssue(repo, number, title, body, user, list(labels))
            self.issues[(repo, number)] = issue
            return issue

    def add_comment(self, repo: str, number: int, body: str, *, user: str) -> FakeComment:
        with self.gh.lock:
            return self._new_comment(repo, number, body, user, "User")

    def add_team_member(self, org: str, team: str, login: str, *, pending: bool = False) -> None:
        """``login`` in the team; ``pending``: invited, not accepted yet (GitHub answers the
        membership with ``state: pending``)."""
        with self.gh.lock:
            held = self.pending_members if pending else self.teams
            held.setdefault((org.lower(), team.lower()), set()).add(login.lower())

    def add_review(
        self, repo: str, number: int, *, user: str, state: str, commit_id: str, body: str = ""
    ) -> FakeReview:
        """A review of pull request ``number`` (``state`` as the REST API spells it)."""
        with self.gh.lock:
            review = FakeReview(
                next(self._review_ids), repo, number, user, state.upper(), commit_id, body, now()
            )
            self.reviews.append(review)
            return review

    def set_permission(self, repo: str, login: str, permission: str) -> None:
        with self.gh.lock:
            self.permissions[(repo, login.lower())] = permission

    def thread(self, repo: str, number: int) -> list[FakeComment]:
        with self.gh.lock:
            return [c for c in self.comments.values() if c.repo == repo and c.number == number]

    def bot_comments(self, repo: str, number: int) -> list[FakeComment]:
        return [c for c in self.thread(repo, number) if c.user == self.actor]

    def runs_for(self, repo: str, head_sha: str) -> list[FakeCheckRun]:
        with self.gh.lock:
            return [
                r for r in self.check_runs.values() if r.repo == repo and r.head_sha == head_sha
            ]

    # -- pull requests -------------------------------------------------------------------------

    def _pull(self, owner: str, repo: str, number: str) -> FakePull | None:
        return self.pulls.get((f"{owner}/{repo}", int(number)))

    def _get_pull(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        pull = self._pull(owner, repo, number)
        if pull is None:
            return error(404, "Not Found")
        return Reply(
            200,
            {
                "number": pull.number,
                "state": "closed" if pull.merged else "open",
                "user": user(pull.user),
                "head": {"sha": pull.head_sha, "ref": pull.head_ref},
                "base": {"sha": "0" * 40, "ref": pull.base_ref},
                "merged": pull.merged,
                "merge_commit_sha": pull.merge_commit_sha,
            },
        )

    def _pull_files(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        pull = self._pull(owner, repo, number)
        if pull is None:
            return error(404, "Not Found")
        return Reply(200, self._page(request, pull.files))

    def _pull_reviews(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        """``GET /repos/{owner}/{repo}/pulls/{number}/reviews``: oldest first, paginated."""
        if self._pull(owner, repo, number) is None:
            return error(404, "Not Found")
        with self.gh.lock:
            rows = [
                {
                    "id": r.id,
                    "node_id": f"PRR_{r.id}",
                    "user": user(r.user),
                    "body": r.body,
                    "state": r.state,
                    "html_url": f"https://github.com/{r.repo}/pull/{r.number}"
                    f"#pullrequestreview-{r.id}",
                    "pull_request_url": f"https://api.github.com/repos/{r.repo}/pulls/{r.number}",
                    "_links": {
                        "html": {"href": f"https://github.com/{r.repo}/pull/{r.number}"},
                        "pull_request": {
                            "href": f"https://api.github.com/repos/{r.repo}/pulls/{r.number}"
                        },
                    },
                    "submitted_at": r.submitted_at,
                    "commit_id": r.commit_id,
                    "author_association": "MEMBER",
                }
                for r in self.reviews
                if r.repo == f"{owner}/{repo}" and r.number == int(number)
            ]
        return Reply(200, self._page(request, rows))

    @staticmethod
    def _page(request: Recorded, rows: list[Any]) -> list[Any]:
        per_page = min(int(request.arg("per_page", "30") or 30), 100)
        page = max(int(request.arg("page", "1") or 1), 1)
        return rows[(page - 1) * per_page : page * per_page]

    # -- issues and labels ---------------------------------------------------------------------

    def _issue(self, owner: str, repo: str, number: str) -> FakeIssue | None:
        return self.issues.get((f"{owner}/{repo}", int(number)))

    def _issue_json(self, issue: FakeIssue) -> dict[str, Any]:
        return {
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "user": user(issue.user),
            "labels": [{"name": name} for name in issue.labels],
        }

    def _list_issues(self, request: Recorded, owner: str, repo: str) -> Reply:
        """``GET /repos/{owner}/{repo}/issues``: pull requests included (they carry a
        ``pull_request`` key), ``labels`` a comma-separated list all of which must be present,
        ``state`` open (default), closed or all; 30 per page unless ``per_page``."""
        wanted = [n for n in (request.arg("labels") or "").split(",") if n]
        state = request.arg("state") or "open"
        page, size = int(request.arg("page") or 1), int(request.arg("per_page") or 30)
        with self.gh.lock:
            found = [
                issue
                for (name, _), issue in sorted(self.issues.items(), key=lambda kv: -kv[0][1])
                if name == f"{owner}/{repo}"
                and (state == "all" or issue.state == state)
                and all(label in issue.labels for label in wanted)
            ]
            rows = []
            for issue in found[(page - 1) * size : page * size]:
                row = self._issue_json(issue)
                if issue.is_pull:
                    row["pull_request"] = {
                        "url": f"https://api.github.com/repos/{owner}/{repo}/pulls/{issue.number}"
                    }
                rows.append(row)
        return Reply(200, rows)

    def _get_issue(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        issue = self._issue(owner, repo, number)
        return error(404, "Not Found") if issue is None else Reply(200, self._issue_json(issue))

    def _patch_issue(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        issue = self._issue(owner, repo, number)
        if issue is None:
            return error(404, "Not Found")
        data = request.json() or {}
        if data.get("state") in ("open", "closed"):
            issue.state = data["state"]
            issue.state_reason = data.get("state_reason")
        for key in ("title", "body"):
            if isinstance(data.get(key), str):
                setattr(issue, key, data[key])
        return Reply(200, self._issue_json(issue))

    def _labels(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        issue = self._issue(owner, repo, number)
        if issue is None:
            return error(404, "Not Found")
        return Reply(200, [{"name": name} for name in issue.labels])

    def _add_labels(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        issue = self._issue(owner, repo, number)
        if issue is None:
            return error(404, "Not Found")
        for name in (request.json() or {}).get("labels", []):
            if name not in issue.labels:
                issue.labels.append(name)
        return Reply(200, [{"name": name} for name in issue.labels])

    def _remove_label(
        self, request: Recorded, owner: str, repo: str, number: str, name: str
    ) -> Reply:
        issue = self._issue(owner, repo, number)
        if issue is None or name not in issue.labels:
            return error(404, "Label does not exist")
        issue.labels.remove(name)
        return Reply(200, [{"name": label} for label in issue.labels])

    # -- comments and reactions ----------------------------------------------------------------

    def _new_comment(self, repo: str, number: int, body: str, login: str, kind: str) -> FakeComment:
        stamp = now()
        comment = FakeComment(
            next(self._comment_ids), repo, number, body, login, stamp, stamp, kind
        )
        self.comments[comment.id] = comment
        return comment

    @staticmethod
    def _comment_json(comment: FakeComment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "body": comment.body,
            "user": user(comment.user, comment.user_type),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "html_url": f"https://github.com/{comment.repo}/issues/{comment.number}#issuecomment-{comment.id}",
        }

    def _list_comments(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        if self._issue(owner, repo, number) is None:
            return error(404, "Not Found")
        rows = [self._comment_json(c) for c in self.thread(f"{owner}/{repo}", int(number))]
        return Reply(200, self._page(request, rows))

    def _create_comment(self, request: Recorded, owner: str, repo: str, number: str) -> Reply:
        if self._issue(owner, repo, number) is None:
            return error(404, "Not Found")
        body = str((request.json() or {}).get("body") or "")
        if len(body) > COMMENT_LIMIT:
            return error(422, "Validation Failed: body is too long (maximum is 65536 characters)")
        comment = self._new_comment(f"{owner}/{repo}", int(number), body, self.actor, "Bot")
        return Reply(201, self._comment_json(comment))

    def _get_comment(self, request: Recorded, owner: str, repo: str, comment_id: str) -> Reply:
        comment = self.comments.get(int(comment_id))
        if comment is None:
            return error(404, "Not Found")
        return Reply(200, self._comment_json(comment))

    def _update_comment(self, request: Recorded, owner: str, repo: str, comment_id: str) -> Reply:
        comment = self.comments.get(int(comment_id))
        if comment is None or comment.repo != f"{owner}/{repo}":
            return error(404, "Not Found")
        body = str((request.json() or {}).get("body") or "")
        if len(body) > COMMENT_LIMIT:
            return error(422, "Validation Failed: body is too long (maximum is 65536 characters)")
        comment.body = body
        comment.updated_at = now()
        return Reply(200, self._comment_json(comment))

    def _delete_comment(self, request: Recorded, owner: str, repo: str, comment_id: str) -> Reply:
        if self.comments.pop(int(comment_id), None) is None:
            return error(404, "Not Found")
        return Reply(204)

    def _react(self, request: Recorded, owner: str, repo: str, comment_id: str) -> Reply:
        if int(comment_id) not in self.comments:
            return error(404, "Not Found")
        content = (request.json() or {}).get("content")
        if content not in REACTIONS:
            return error(422, "Validation Failed: content is not a valid reaction")
        self.reactions.append((int(comment_id), str(content), self.actor))
        return Reply(201, {"id": len(self.reactions), "content": content, "user": user(self.actor)})

    # -- check runs ----------------------------------------------------------------------------

    @staticmethod
    def _check_annotations(output: dict[str, Any]) -> Reply | None:
        annotations = output.get("annotations") or []
        if len(annotations) > 50:
            return error(422, "Validation Failed: at most 50 annotations per request")
        for a in annotations:
            missing = {"path", "start_line", "end_line", "annotation_level", "message"} - set(a)
            if missing or a["annotation_level"] not in ("notice", "warning", "failure"):
                return error(422, f"Validation Failed: invalid annotation {a!r}")
        return None

    def _run_json(self, run: FakeCheckRun) -> dict[str, Any]:
        return {
            "id": run.id,
            "name": run.name,
            "head_sha": run.head_sha,
            "status": run.status,
            "conclusion": run.conclusion,
            "output": {
                "title": run.title,
                "summary": run.summary,
                "annotations_count": len(run.annotations),
            },
        }

    def _create_check_run(self, request: Recorded, owner: str, repo: str) -> Reply:
        data = request.json() or {}
        if not data.get("name") or not data.get("head_sha"):
            return error(422, "Validation Failed: name and head_sha are required")
        output = data.get("output") or {}
        invalid = self._check_annotations(output)
        if invalid is not None:
            return invalid
        run = FakeCheckRun(
            next(self._run_ids),
            f"{owner}/{repo}",
            data["name"],
            data["head_sha"],
            data.get("status", "queued"),
            data.get("conclusion"),
            output.get("title"),
            output.get("summary"),
            list(output.get("annotations") or []),
        )
        self.check_runs[run.id] = run
        return Reply(201, self._run_json(run))

    def _update_check_run(self, request: Recorded, owner: str, repo: str, run_id: str) -> Reply:
        run = self.check_runs.get(int(run_id))
        if run is None:
            return error(404, "Not Found")
        data = request.json() or {}
        output = data.get("output") or {}
        invalid = self._check_annotations(output)
        if invalid is not None:
            return invalid
        run.annotations.extend(output.get("annotations") or [])
        run.title = output.get("title", run.title)
        run.summary = output.get("summary", run.summary)
        run.status = data.get("status", run.status)
        run.conclusion = data.get("conclusion", run.conclusion)
        return Reply(200, self._run_json(run))

    def _annotations(self, request: Recorded, owner: str, repo: str, run_id: str) -> Reply:
        run = self.check_runs.get(int(run_id))
        if run is None:
            return error(404, "Not Found")
        return Reply(200, self._page(request, run.annotations))

    # -- teams and permissions -----------------------------------------------------------------

    def _membership(self, request: Recorded, org: str, team: str, login: str) -> Reply:
        """``GET /orgs/{org}/teams/{team_slug}/memberships/{username}``: 404 for non-members,
        else the role and ``state`` (``active``, or ``pending`` for an open invitation)."""
        key = (org.lower(), team.lower())
        if login.lower() in self.teams.get(key, set()):
            state = "active"
        elif login.lower() in self.pending_members.get(key, set()):
            state = "pending"
        else:
            return error(404, "Not Found")
        url = f"https://api.github.com/organizations/1/team/1/memberships/{login}"
        return Reply(200, {"state": state, "role": "member", "url": url})

    def _permission(self, request: Recorded, owner: str, repo: str, login: str) -> Reply:
        role = self.permissions.get((f"{owner}/{repo}", login.lower()), "none")
        # GitHub's documented mapping: ``permission`` is the legacy field (maintain -> write,
        # triage -> read, custom roles -> their base); ``role_name`` is the role itself.
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        return Reply(200, {"permission": legacy, "role_name": role, "user": user(login)})
