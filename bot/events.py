"""Lenient views of webhook payloads: only the fields the bot uses, extra fields ignored.

githubkit's typed webhook models reject many of GitHub's own example payloads (missing
``repository.topics`` and the like), so the bot reads what it needs through these small
models instead; an older or newer payload still routes as long as these fields are there.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Lenient):
    login: str
    type: str = "User"


class Owner(_Lenient):
    login: str


class Repository(_Lenient):
    full_name: str
    name: str
    owner: Owner
    default_branch: str = "main"


class Ref(_Lenient):
    sha: str
    ref: str = ""


class Label(_Lenient):
    name: str


class PullRequest(_Lenient):
    number: int
    state: str = "open"
    title: str = ""
    body: str | None = None
    user: User
    head: Ref
    base: Ref
    merged: bool | None = False
    merge_commit_sha: str | None = None
    html_url: str = ""


class Issue(_Lenient):
    number: int
    title: str = ""
    body: str | None = None
    state: str = "open"
    user: User
    labels: list[Label] = Field(default_factory=list)
    pull_request: dict[str, Any] | None = None

    @property
    def label_names(self) -> set[str]:
        return {label.name for label in self.labels}


class Comment(_Lenient):
    id: int
    body: str | None = ""
    user: User
    html_url: str = ""


class Review(_Lenient):
    id: int
    body: str | None = ""
    user: User
    state: str = "commented"  # approved, changes_requested, commented (lower case in webhooks)
    commit_id: str | None = None  # the head the review was given on


class PullRequestEvent(_Lenient):
    action: str
    number: int
    pull_request: PullRequest
    repository: Repository
    sender: User


class IssuesEvent(_Lenient):
    action: str
    issue: Issue
    repository: Repository
    sender: User


class IssueCommentEvent(_Lenient):
    action: str
    issue: Issue
    comment: Comment
    repository: Repository
    sender: User


class ReviewEvent(_Lenient):
    action: str
    review: Review
    pull_request: PullRequest
    repository: Repository
    sender: User


class CheckSuitePR(_Lenient):
    number: int


class CheckSuite(_Lenient):
    head_sha: str
    pull_requests: list[CheckSuitePR] = Field(default_factory=list)


class CheckSuiteEvent(_Lenient):
    action: str
    check_suite: CheckSuite
    repository: Repository
