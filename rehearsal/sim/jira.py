"""A stateful fake JIRA (REST API v2) on ``HttpFake``, covering what the ``jira`` client calls for
the ``jira-ticket`` action: server info, fields, create issue, get issue, search (Server's
``/search`` and Cloud's ``/search/jql``, with a JQL subset: ``field = value`` clauses on
``project``, ``labels``, ``status`` and ``key`` joined by ``AND``), transitions (list, do) and
comments (list, add). Plus an OAuth 2.0 client-credentials token endpoint (``/oauth/token``).

Authentication: ``basic`` (user, API token) pairs and bearer ``tokens`` (personal access tokens
and issued OAuth tokens); anything else gets JIRA's 401. Shapes follow the documented
responses (``errorMessages`` / ``errors`` on failures, ``statusCategory`` on statuses).

What the real products do and a forgiving fake would hide:
- search is eventually consistent: an issue shows in ``/search`` and ``/search/jql`` results
  ``search_lag`` seconds (on the fake's ``clock``, simulated in tests) after it was created,
  unless its id is in ``/search/jql``'s ``reconcileIssues``; ``GET /issue/{key}`` sees it at once;
- Cloud (``deployment="Cloud"``) has removed ``GET /search`` (410) and serves the API under the
  OAuth 2.0 gateway path ``/ex/jira/{cloud_id}`` too; ``serverInfo.baseUrl`` is the site
  (``site_url``), not the API address;
- Won't Do, Duplicate, Cannot Reproduce and Declined are resolutions on the done status
  (``move(key, "Done", resolution="Duplicate")``), not statuses.

    fake = FakeJira(basic={("bot@example.com", "api-token")})
    fake.add_project("DBA")
    with fake.serve() as base_url: ...
    fake.move("DBA-1", "Done")
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rehearsal.sim.http import HttpFake, Recorded, Reply

API = "/rest/api/2"
KEY = r"(?P<key>[A-Z][A-Z0-9_]*-\d+|\d+)"
CREATED_AT = "2026-11-28T09:00:00.000+0000"
# name -> (status id, category key); Won't Do is done-category, as in JIRA's default workflows.
WORKFLOW: dict[str, tuple[str, str]] = {
    "To Do": ("10000", "new"),
    "In Progress": ("3", "indeterminate"),
    "In Review": ("10002", "indeterminate"),
    "Done": ("10001", "done"),
    "Won't Do": ("10003", "done"),
    "Provisioned": ("10004", "indeterminate"),
}
CATEGORIES = {
    "new": ("2", "To Do", "blue-gray"),
    "indeterminate": ("4", "In Progress", "yellow"),
    "done": ("3", "Done", "green"),
}
BUILT_IN_FIELDS = (
    "summary",
    "description",
    "project",
    "issuetype",
    "status",
    "resolution",
    "labels",
    "priority",
    "components",
)
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
RESOLUTIONS = {
    "Done": "1",
    "Won't Do": "10000",
    "Duplicate": "3",
    "Cannot Reproduce": "5",
    "Declined": "10001",
}
_ORDER = re.compile(r"\s+ORDER\s+BY\s+(?P<field>key|created|id)(?:\s+(?P<dir>ASC|DESC))?\s*$", re.I)
_CLAUSE = re.compile(r'\s*(?P<field>[A-Za-z]+)\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]+)\s*')


def _jira_error(status: int, *messages: str, **errors: str) -> Reply:
    return Reply(status, {"errorMessages": list(messages), "errors": errors})


@dataclass(slots=True)
class FakeIssue:
    id: str
    key: str
    project: str
    fields: dict[str, Any]
    status: str = "To Do"
    resolution: str | None = None
    created_at: float = 0.0  # on the fake's clock
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class FakeProject:
    key: str
    id: str
    issue_types: tuple[str, ...] = ("Task", "Bug", "Story")
    components: tuple[str, ...] = ()
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class FakeJira(HttpFake):
    def __init__(
        self,
        *,
        basic: Iterable[tuple[str, str]] = (),
        tokens: Iterable[str] = (),
        clients: dict[str, str] | None = None,  # OAuth client id -> secret
        deployment: str = "Server",
        token_lifetime: int = 3600,
        custom_fields: Iterable[str] = ("customfield_10010",),
        search_lag: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        cloud_id: str | None = None,
        site_url: str | None = None,
    ) -> None:
        super().__init__("fake JIRA")
        self.workflow: dict[str, tuple[str, str]] = WORKFLOW  # status -> (id, category)
        self.exchanges: list[tuple[Recorded, Reply]] = []
        self.search_lag = search_lag
        self.clock = clock
        self.cloud_id = cloud_id
        self.site_url = site_url
        self.basic = set(basic)
        self.tokens = set(tokens)
        self.clients = dict(clients or {})
        self.deployment = deployment
        self.token_lifetime = token_lifetime
        self.custom_fields = set(custom_fields)
        self.projects: dict[str, FakeProject] = {}
        self.issues: dict[str, FakeIssue] = {}
        self.token_requests: list[Recorded] = []
        self._ids = itertools.count(10001)
        self._comment_ids = itertools.count(20001)
        self.route("GET", rf"{API}/serverInfo", self._server_info)
        self.route("GET", rf"{API}/field", self._fields)
        self.route("POST", rf"{API}/issue", self._create)
        self.route("GET", rf"{API}/issue/{KEY}", self._get)
        self.route("GET", rf"{API}/search", self._search)
        self.route("GET", rf"{API}/search/jql", self._search_jql)
        self.route("GET", rf"{API}/issue/{KEY}/transitions", self._transitions)
        self.route("POST", rf"{API}/issue/{KEY}/transitions", self._transition)
        self.route("GET", rf"{API}/issue/{KEY}/comment", self._comments)
        self.route("POST", rf"{API}/issue/{KEY}/comment", self._add_comment)
        self.route("POST", r"/oauth/token", self._token)

    def route(self, method: str, pattern: str, handler: Any) -> None:
        """Every route also answers under the OAuth 2.0 gateway path ``/ex/jira/{cloudId}``."""
        super().route(method, r"(?:/ex/jira/[^/]+)?" + pattern, handler)

    @property
    def gateway_url(self) -> str:
        """The API address an OAuth 2.0 client uses: ``…/ex/jira/{cloud_id}``."""
        return f"{self.base_url}/ex/jira/{self.cloud_id or 'fake-cloud-id'}"

    def after(self, request: Recorded, reply: Reply) -> Reply:
        """Keep every (request, reply) pair for the contract tests."""
        self.exchanges.append((request, reply))
        return reply

    # -- test helpers --------------------------------------------------------------------------

    def add_project(self, key: str, **kwargs: Any) -> FakeProject:
        with self.lock:
            project = FakeProject(key=key, id=str(10000 + len(self.projects)), **kwargs)
            self.projects[key] = project
            return project

    def move(self, key: str, status: str, resolution: str | None = None) -> None:
        """Put an issue in ``status`` (as a person working the ticket would); a done-category
        status gets ``resolution`` (default: Done, or the status's own name if it is one)."""
        if status not in WORKFLOW:
            raise KeyError(f"unknown status {status!r} (known: {', '.join(WORKFLOW)})")
        if resolution is not None and resolution not in RESOLUTIONS:
            raise KeyError(f"unknown resolution {resolution!r} (known: {', '.join(RESOLUTIONS)})")
        with self.lock:
            issue = self.issues[key]
            issue.status = status
            if WORKFLOW[status][1] == "done":
                issue.resolution = resolution or (status if status in RESOLUTIONS else "Done")
            else:
                issue.resolution = None

    @property
    def created(self) -> int:
        with self.lock:
            return len(self.issues)

    def comment_bodies(self, key: str) -> list[str]:
        with self.lock:
            return [c["body"] for c in self.issues[key].comments]

    # -- auth ----------------------------------------------------------------------------------

    def before(self, request: Recorded) -> Reply | None:
        if request.path == "/oauth/token":
            return None
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme == "Basic":
            try:
                user, _, token = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                user, token = "", ""
            if (user, token) in self.basic:
                return None
        elif scheme == "Bearer" and credentials in self.tokens:
            return None
        return Reply(
            401,
            {
                "errorMessages": [
                    "You are not authenticated. Authentication required to perform this operation."
                ],
                "errors": {},
            },
            headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
        )

    def _token(self, request: Recorded) -> Reply:
        self.token_requests.append(request)
        form = {k: v[0] for k, v in request.form().items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if client_id is None or self.clients.get(client_id) != secret:
            return Reply(401, {"error": "invalid_client"})
        token = f"oauth-{secrets.token_hex(12)}"
        self.tokens.add(token)
        return Reply(
            200,
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime},
        )

    # -- resources -----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{API}/{path}"

    def _server_info(self, request: Recorded) -> Reply:
        return Reply(
            200,
            {
                "baseUrl": self.site_url or self.base_url,
                "version": "9.12.0" if self.deployment == "Server" else "1001.0.0-SNAPSHOT",
                "versionNumbers": [9, 12, 0] if self.deployment == "Server" else [1001, 0, 0],
                "deploymentType": self.deployment,
                "buildNumber": 9120000,
                "serverTitle": "Fake JIRA",
            },
        )

    def _fields(self, request: Recorded) -> Reply:
        fields = [
            {
                "id": name,
                "key": name,
                "name": name.capitalize(),
                "custom": False,
                "navigable": True,
                "searchable": True,
                "clauseNames": [name],
            }
            for name in BUILT_IN_FIELDS
        ]
        fields += [
            {
                "id": name,
                "key": name,
                "name": f"Custom {name[12:]}",
                "custom": True,
                "clauseNames": [f"cf[{name[12:]}]"],
            }
            for name in sorted(self.custom_fields)
        ]
        return Reply(200, fields)

    def _status(self, name: str) -> dict[str, Any]:
        status_id, category = self.workflow[name]
        category_id, category_name, colour = CATEGORIES[category]
        return {
            "self": self._url(f"status/{status_id}"),
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/status_generic.gif",
            "name": name,
            "id": status_id,
            "statusCategory": {
                "self": self._url(f"statuscategory/{category_id}"),
                "id": int(category_id),
                "key": category,
                "colorName": colour,
                "name": category_name,
            },
        }

    def _issue_json(self, issue: FakeIssue, wanted: set[str] | None = None) -> dict[str, Any]:
        project = self.projects[issue.project]
        fields: dict[str, Any] = {
            **issue.fields,
            "project": {
                "self": self._url(f"project/{project.id}"),
                "id": project.id,
                "key": project.key,
                "name": project.key,
            },
            "status": self._status(issue.status),
            "resolution": None,
            "created": CREATED_AT,
            "updated": CREATED_AT,
        }
        if issue.resolution is not None:
            resolution_id = RESOLUTIONS[issue.resolution]
            fields["resolution"] = {
                "self": self._url(f"resolution/{resolution_id}"),
                "id": resolution_id,
                "name": issue.resolution,
                "description": "",
            }
        if wanted is not None and "*all" not in wanted:
            fields = {k: v for k, v in fields.items() if k in wanted}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id,
            "self": self._url(f"issue/{issue.id}"),
            "key": issue.key,
            "fields": fields,
        }

    def _find(self, key: str) -> FakeIssue | None:
        issue = self.issues.get(key)
        if issue is None:
            issue = next((i for i in self.issues.values() if i.id == key), None)
        return issue

    @staticmethod
    def _wanted(request: Recorded) -> set[str] | None:
        values = request.query.get("fields")
        if not values:
            return None
        return {f.strip() for v in values for f in v.split(",") if f.strip()}

    def _create(self, request: Recorded) -> Reply:
        body = request.json() or {}
        fields = dict(body.get("fields") or {})
        errors: dict[str, str] = {}
        project_ref = fields.pop("project", None) or {}
        project = self.projects.get(str(project_ref.get("key", "")))
        if project is None:
            project = next(
                (p for p in self.projects.values() if p.id == str(project_ref.get("id"))), None
            )
        if project is None:
            errors["project"] = "valid project is required"
        issuetype = fields.pop("issuetype", None) or {}
        if project is not None and issuetype.get("name") not in project.issue_types:
            errors["issuetype"] = "valid issue type is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        elif len(str(fields["summary"])) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        priority = fields.get("priority")
        if priority is not None and priority.get("name") not in PRIORITIES:
            errors["priority"] = f"Priority name '{priority.get('name')}' is not valid"
        labels = fields.get("labels") or []
        if any(" " in str(label) for label in labels):
            errors["labels"] = "Labels cannot contain spaces."
        for component in fields.get("components") or []:
            if project is not None and component.get("name") not in project.components:
                errors["components"] = f"Component name '{component.get('name')}' is not valid"
        for name in fields:
            if name.startswith("customfield_") and name not in self.custom_fields:
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                )
        if errors or project is None:
            return _jira_error(400, **errors)
        issue_id = str(next(self._ids))
        key = f"{project.key}-{next(project.counter)}"
        fields["issuetype"] = {"id": "10002", "name": issuetype["name"], "subtask": False}
        fields.setdefault("labels", [])
        fields.setdefault("description", None)
        self.issues[key] = FakeIssue(issue_id, key, project.key, fields, created_at=self.clock())
        return Reply(201, {"id": issue_id, "key": key, "self": self._url(f"issue/{issue_id}")})

    def _get(self, request: Recorded, key: str) -> Reply:
        issue = self._find(key)
        if issue is None:
            return _jira_error(404, "Issue does not exist or you do not have permission to see it.")
        return Reply(200, self._issue_json(issue, self._wanted(request)))

    def _matching(
        self, request: Recorded, reconcile: Iterable[str] = ()
    ) -> list[FakeIssue] | Reply:
        jql = request.arg("jql") or ""
        order = _ORDER.search(jql)
        if order is not None:
            jql = jql[: order.start()]
        clauses = re.split(r"\s+AND\s+", jql.strip(), flags=re.IGNORECASE) if jql.strip() else []
        conditions: list[tuple[str, str]] = []
        for clause in clauses:
            match = _CLAUSE.fullmatch(clause)
            if match is None or match.group("field").lower() not in (
                "project",
                "labels",
                "status",
                "key",
            ):
                return _jira_error(
                    400, f"Error in the JQL Query: unsupported clause '{clause}' (fake JIRA)."
                )
            value = match.group("value")
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            conditions.append((match.group("field").lower(), value))
        found = []
        for issue in self.issues.values():
            values = {
                "project": [issue.project],
                "labels": list(issue.fields.get("labels") or []),
                "status": [issue.status],
                "key": [issue.key],
            }
            if all(v in values[f] for f, v in conditions):
                found.append(issue)
        now, visible = self.clock(), set(reconcile)
        found = [i for i in found if i.created_at + self.search_lag <= now or i.id in visible]
        if order is not None:
            found.sort(
                key=lambda i: int(i.id), reverse=(order.group("dir") or "").upper() == "DESC"
            )
        return found

    def _search(self, request: Recorded) -> Reply:
        if self.deployment == "Cloud":
            return _jira_error(
                410,
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
                "API. A full migration guideline is available at "
                "https://developer.atlassian.com/changelog/#CHANGE-2046",
            )
        found = self._matching(request)
        if isinstance(found, Reply):
            return found
        start = int(request.arg("startAt", "0") or 0)
        limit = int(request.arg("maxResults", "50") or 50)
        page = found[start : start + limit]
        wanted = self._wanted(request)
        return Reply(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(found),
                "issues": [self._issue_json(i, wanted) for i in page],
            },
        )

    def _search_jql(self, request: Recorded) -> Reply:
        reconcile = [r for v in request.query.get("reconcileIssues", []) for r in v.split(",")]
        found = self._matching(request, reconcile)
        if isinstance(found, Reply):
            return found
        limit = int(request.arg("maxResults", "50") or 50)
        wanted = self._wanted(request)
        return Reply(
            200,
            {
                "issues": [self._issue_json(i, wanted) for i in found[:limit]],
                "isLast": len(found) <= limit,
            },
        )

    def _transitions(self, request: Recorded, key: str) -> Reply:
        issue = self._find(key)
        if issue is None:
            return _jira_error(404, "Issue does not exist or you do not have permission to see it.")
        transitions = [
            {
                "id": status_id,
                "name": name,
                "to": self._status(name),
                "hasScreen": False,
                "isGlobal": True,
            }
            for name, (status_id, _) in WORKFLOW.items()
            if name != issue.status
        ]
        return Reply(200, {"expand": "transitions", "transitions": transitions})

    def _transition(self, request: Recorded, key: str) -> Reply:
        issue = self._find(key)
        if issue is None:
            return _jira_error(404, "Issue does not exist or you do not have permission to see it.")
        wanted = str(((request.json() or {}).get("transition") or {}).get("id", ""))
        target = next(
            (n for n, (i, _) in WORKFLOW.items() if i == wanted and n != issue.status), None
        )
        if target is None:
            return _jira_error(400, f"Transition id '{wanted}' is not valid for this issue.")
        issue.status = target
        return Reply(204)

    def _comment_json(
        self, issue: FakeIssue, comment_id: str, body: str, author: str
    ) -> dict[str, Any]:
        return {
            "self": self._url(f"issue/{issue.id}/comment/{comment_id}"),
            "id": comment_id,
            "author": {"name": author, "displayName": author, "active": True},
            "body": body,
            "updateAuthor": {"name": author, "displayName": author, "active": True},
            "created": CREATED_AT,
            "updated": CREATED_AT,
        }

    def _comments(self, request: Recorded, key: str) -> Reply:
        issue = self._find(key)
        if issue is None:
            return _jira_error(404, "Issue does not exist or you do not have permission to see it.")
        return Reply(
            200,
            {
                "startAt": 0,
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "comments": issue.comments,
            },
        )

    def _add_comment(self, request: Recorded, key: str) -> Reply:
        issue = self._find(key)
        if issue is None:
            return _jira_error(404, "Issue does not exist or you do not have permission to see it.")
        body = (request.json() or {}).get("body")
        if not isinstance(body, str) or not body.strip():
            return _jira_error(400, body="Comment body can not be empty!")
        comment = self._comment_json(issue, str(next(self._comment_ids)), body, "pao-bot")
        issue.comments.append(comment)
        return Reply(201, comment)
