"""The setup area of the fake GitHub: repository labels and the App's installation.

Behaviour from GitHub's documentation:

- ``GET/POST /repos/{owner}/{repo}/labels``: names are unique case-insensitively (422
  ``already_exists``) and at most 50 characters (422); colours are 6 hex digits without ``#``;
- an issue created from an issue form gets only the form's labels that already exist in the
  repository (``open_from_form``), the others are silently dropped;
- ``GET /app/installations/{id}`` (JWT-authenticated) answers the installation's granted
  ``permissions`` and subscribed ``events``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tests.fakes.github.conversations import ConversationArea
from tests.fakes.github.core import FakeGitHub
from tests.fakes.github.issue_forms import Answer, render_issue_body
from tests.fakes.http_fake import Recorded, Reply

REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_COLOUR = re.compile(r"^[0-9a-fA-F]{6}$")


class SetupArea:
    def __init__(self, gh: FakeGitHub) -> None:
        self.gh = gh
        self.labels: dict[str, dict[str, dict[str, Any]]] = {}  # repo -> lower name -> label
        self.installations: dict[int, dict[str, Any]] = {}
        gh.route("GET", REPO + r"/labels", self._list)
        gh.route("POST", REPO + r"/labels", self._create)
        gh.route("GET", r"/app/installations/(?P<installation_id>\d+)", self._installation)

    def install(
        self, installation_id: int, permissions: Mapping[str, str], events: list[str]
    ) -> None:
        with self.gh.lock:
            self.installations[installation_id] = {
                "id": installation_id,
                "permissions": dict(permissions),
                "events": list(events),
            }

    def names(self, repo: str) -> list[str]:
        with self.gh.lock:
            return [label["name"] for label in self.labels.get(repo, {}).values()]

    def open_from_form(
        self,
        talk: ConversationArea,
        repo: str,
        number: int,
        form: Mapping[str, Any],
        answers: Mapping[str, Answer],
        *,
        user: str,
    ) -> str:
        """An issue submitted through ``form``: the rendered body; only existing labels kept."""
        body = render_issue_body(form, answers)
        existing = {name.lower() for name in self.names(repo)}
        labels = [name for name in form.get("labels", []) if name.lower() in existing]
        talk.add_issue(repo, number, title=str(form.get("title", "")), body=body, user=user,
                       labels=labels)  # fmt: skip
        return body

    def _list(self, request: Recorded, owner: str, repo: str) -> Reply:
        with self.gh.lock:
            found = list(self.labels.get(f"{owner}/{repo}", {}).values())
        page = int(request.arg("page", "1") or 1)
        size = int(request.arg("per_page", "30") or 30)
        return Reply(200, found[(page - 1) * size : page * size])

    def _create(self, request: Recorded, owner: str, repo: str) -> Reply:
        data = request.json() or {}
        name = str(data.get("name") or "")
        colour = str(data.get("color") or "ededed").removeprefix("#")
        if not name or len(name) > 50:
            return Reply(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Label", "code": "invalid", "field": "name"}],
                },
            )
        if not _COLOUR.match(colour):
            return Reply(422, {"message": "Validation Failed"})
        with self.gh.lock:
            table = self.labels.setdefault(f"{owner}/{repo}", {})
            if name.lower() in table:
                return Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {"resource": "Label", "code": "already_exists", "field": "name"}
                        ],
                    },
                )
            label = {"name": name, "color": colour, "description": data.get("description")}
            table[name.lower()] = label
        return Reply(201, label)

    def _installation(self, request: Recorded, installation_id: str) -> Reply:
        scheme, _, jwt = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or jwt.count(".") != 2:
            return Reply(401, {"message": "A JSON web token could not be decoded"})
        with self.gh.lock:
            found = self.installations.get(int(installation_id))
        if found is None:
            return Reply(404, {"message": "Not Found"})
        return Reply(200, found)
