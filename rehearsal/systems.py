"""The rehearsal: simulators of JIRA, Terraform Cloud, GitHub Actions, AWS Secrets Manager (for
``aws-sm:`` references) and the catalog's REST targets, served in-process on one loopback port,
and the configuration that points PAO's real executors (and their real client libraries) at them.

The simulators are the stateful fakes the tests use (``rehearsal.sim``), made lenient where a
rehearsal needs it (any project, issue type, organization, workspace or workflow exists) and
moving by themselves: a ticket goes To Do → In Progress → Done, a run plans and applies, a
workflow run completes, one step per poll. With ``auto_progress`` off they stop short of the end
and wait for a person (``pao rehearsal resolve|reject|fail REF``, or
``POST /rehearsal/control/{system}/{ref}/{verb}``). Every simulated object and answer says it
is a rehearsal. The links a person opens (a ticket's browse link, a run's page) answer a small
HTML page without a token (``rehearsal.pages``); the APIs keep requiring theirs.

    sims = Simulators(CatalogFacts.scan([Path("examples/catalog")]))
    with sims.serve():
        env = {**os.environ, **sims.environment(os.environ)}
        template_environment = sims.template_environment()

About 700 lines: each simulated system is a small subclass of its test fake adding what a
rehearsal needs (the catalog's facts, a person's decision); they are composed by
``Simulators``, and one file shows the whole rehearsal's wiring.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.catalog.local_source import fingerprint
from rehearsal.pages import missing_page, object_page
from rehearsal.sim.github import FakeGitHub
from rehearsal.sim.github_actions import ActionsArea, FakeRun, FakeWorkflow
from rehearsal.sim.http import HttpFake, Recorded, Reply
from rehearsal.sim.jira import KEY, RESOLUTIONS, WORKFLOW, FakeJira
from rehearsal.sim.loopback import serve_asgi
from rehearsal.sim.rest import CatalogFeedFn, RestSimulator, placeholder
from rehearsal.sim.terraform_cloud import FINAL, FakeTerraformCloud

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SYSTEMS = ("jira", "terraform", "github", "rest")
SYSTEM_NAMES = {
    "jira": "JIRA",
    "terraform": "Terraform Cloud",
    "github": "GitHub Actions",
    "rest": "REST targets",
}
VERBS = ("resolve", "reject", "fail")
MOUNT = "/rehearsal"  # where `pao serve` exposes the simulators on its own port
JIRA_USER = "pao-rehearsal"
_ENV_NAME = re.compile(r"environment\.([A-Za-z_][A-Za-z0-9_]*)")
_ENV_REF = re.compile(r"\benv:([A-Za-z_][A-Za-z0-9_]*)")
_OUTPUT = re.compile(r"outputs\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")
# The links a person opens (the products' web UI, not their APIs): answered with a page, no token.
JIRA_PAGE = re.compile(rf"/browse/{KEY}")
TFC_PAGE = re.compile(r"/app/(?P<org>[^/]+)/workspaces/(?P<name>[^/]+)/runs/(?P<run_id>run-[^/]+)")
ACTIONS_PAGE = re.compile(r"/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run_id>\d+)")


# -- what the catalog needs ----------------------------------------------------------------------


@dataclass(slots=True)
class CatalogFacts:
    """What the simulators must know of the catalog: its items' documents."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> document

    @classmethod
    def scan(cls, paths: Iterable[Path]) -> CatalogFacts:
        """Catalog items under ``paths`` (files or directories); unreadable files are skipped
        (the catalog validator reports them)."""
        facts = cls()
        for path in paths:
            files = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
            for file in files:
                try:
                    document = yaml.load(file.read_text(), Loader=yaml.CSafeLoader)
                except (OSError, yaml.YAMLError, UnicodeDecodeError):
                    continue
                facts.add(document)
        return facts

    def add(self, document: Any) -> None:
        if isinstance(document, dict) and document.get("kind") == "CatalogItem":
            item_id = str((document.get("metadata") or {}).get("id", ""))
            if item_id:
                self.items[item_id] = document

    def actions(self, item_id: str) -> list[dict[str, Any]]:
        fulfillment = self.items[item_id].get("fulfillment") or {}
        return [a for a in fulfillment.get("actions") or [] if isinstance(a, dict)]

    def all_actions(self) -> dict[str, list[dict[str, Any]]]:
        return {item_id: self.actions(item_id) for item_id in self.items}

    def _text(self) -> str:
        return json.dumps(list(self.items.values()), default=str)

    def environment_names(self) -> set[str]:
        return set(_ENV_NAME.findall(self._text()))

    def secret_names(self) -> set[str]:
        return set(_ENV_REF.findall(self._text()))

    def jira_instances(self) -> set[str]:
        found: set[str] = set()
        for item_id, document in self.items.items():
            for action in self.actions(item_id):
                if action.get("type") == "jira-ticket":
                    found.add(str((action.get("config") or {}).get("instance", "")))
            manual = ((document.get("fulfillment") or {}).get("manual") or {}).get("jira") or {}
            found.add(str(manual.get("instance", "")))
        return {name for name in found if name and "{{" not in name}

    def jira_outcomes(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(project, issue type) -> (completed status, failed status) of waiting jira-ticket
        actions that name their own statuses (``completion``), where the pair is static."""
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for item_id in self.items:
            for action in self.actions(item_id):
                config = action.get("config") or {}
                completion = config.get("completion") or {}
                if action.get("type") != "jira-ticket" or not isinstance(completion, dict):
                    continue
                done = [str(s) for s in completion.get("completedStatuses") or []]
                failed = [str(s) for s in completion.get("failedStatuses") or []]
                key = (str(config.get("project", "")), str(config.get("issueType", "Task")))
                if done or failed:
                    found[key] = (done[0] if done else "Done", failed[0] if failed else "Won't Do")
        return found

    def terraform_outputs(self) -> set[str]:
        """Names of the outputs later actions read from terraform actions."""
        names: set[str] = set()
        for item_id, document in self.items.items():
            terraform = {a.get("id") for a in self.actions(item_id) if a.get("type") == "terraform"}
            for action_id, name in _OUTPUT.findall(json.dumps(document, default=str)):
                if action_id in terraform:
                    names.add(name)
        return names


class CatalogFeed:
    """The catalog files under ``paths`` as they change: each call compares a cheap fingerprint
    (every ``*.yaml``/``*.yml`` file's path, size and modification time, as the catalog watcher
    of ``pao serve`` does) with the last call's, and reads the items again only when it differs.
    The REST simulator calls it before each answer, so an item added or edited while PAO runs is
    answered at once (``RestSimulator.follow``)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = list(paths)
        self._seen = self._fingerprint()

    def _fingerprint(self) -> frozenset[tuple[str, str, int, int]]:
        entries: set[tuple[str, str, int, int]] = set()
        for path in self.paths:
            if path.is_dir():
                entries |= {(str(path), *entry) for entry in fingerprint(path)}
                continue
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.add((str(path), "", stat.st_size, stat.st_mtime_ns))
        return frozenset(entries)

    def __call__(self) -> dict[str, list[dict[str, Any]]] | None:
        """Every item's actions when the files changed since the last call, else None."""
        current = self._fingerprint()
        if current == self._seen:
            return None
        self._seen = current
        return CatalogFacts.scan(self.paths).all_actions()


# -- lenient, self-moving simulators -------------------------------------------------------------


def _carries(request: Recorded, keys: set[str]) -> bool:
    """Whether the request carries one of PAO's correlation keys (label, message, input)."""
    if not keys:
        return False
    text = request.body.decode("utf-8", errors="replace")
    return any(key in text for key in keys)


class RehearsalJira(FakeJira):
    """Every project and issue type exists; each poll moves a ticket on one status."""

    def __init__(
        self,
        token: str,
        *,
        auto: bool,
        outcomes: Mapping[tuple[str, str], tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(basic={(JIRA_USER, token)})
        self.name = "rehearsal JIRA"
        self.auto = auto
        self.held: set[str] = set()  # moved by a person: no longer moves by itself
        self.fail_keys: set[str] = set()
        # The catalog's own completion statuses (e.g. Approved / Rejected) join the workflow.
        self.outcomes = dict(outcomes or {})
        self.workflow = dict(WORKFLOW)
        for done, failed in self.outcomes.values():
            for name in (done, failed):
                self.workflow.setdefault(name, (str(10100 + len(self.workflow)), "done"))
        self.targets: dict[str, tuple[str, str]] = {}  # issue key -> (completed, failed)
        self.route("GET", JIRA_PAGE.pattern, self._page)

    def before(self, request: Recorded) -> Reply | None:
        if request.method == "GET" and JIRA_PAGE.fullmatch(request.path):
            return None  # a person's browse link: a page, like JIRA's own (signed in there)
        return super().before(request)

    def _page(self, request: Recorded, key: str) -> Reply:
        issue = self._find(key)
        if issue is None:
            return missing_page("JIRA", f"ticket {key}")
        fields = issue.fields
        return object_page(
            product="JIRA",
            title=f"{issue.key}: {fields.get('summary') or ''}",
            system="jira",
            ref=issue.key,
            rows=[
                ("Status", issue.status),
                ("Resolution", issue.resolution or "Unresolved"),
                ("Project", issue.project),
                ("Issue type", (fields.get("issuetype") or {}).get("name")),
                ("Labels", ", ".join(str(x) for x in fields.get("labels") or [])),
                ("Description", fields.get("description")),
            ],
            settled=self.workflow.get(issue.status, ("", ""))[1] == "done",
        )

    def move(self, key: str, status: str, resolution: str | None = None) -> None:
        with self.lock:
            issue = self.issues[key]
            issue.status = status
            if self.workflow[status][1] == "done":
                issue.resolution = resolution or (status if status in RESOLUTIONS else "Done")
            else:
                issue.resolution = None

    def _create(self, request: Recorded) -> Reply:
        if _carries(request, self.fail_keys):
            return Reply(
                400,
                {
                    "errorMessages": ["rehearsal: forced failure (pao rehearse --fail)"],
                    "errors": {},
                },
            )
        fields = dict(((request.json() or {}).get("fields")) or {})
        key = str((fields.get("project") or {}).get("key", ""))
        if key and key not in self.projects:
            self.add_project(key)
        project = self.projects.get(key)
        if project is not None:
            issue_type = str((fields.get("issuetype") or {}).get("name", ""))
            if issue_type and issue_type not in project.issue_types:
                project.issue_types = (*project.issue_types, issue_type)
            for component in fields.get("components") or []:
                name = str((component or {}).get("name", ""))
                if name and name not in project.components:
                    project.components = (*project.components, name)
        self.custom_fields |= {name for name in fields if name.startswith("customfield_")}
        reply = super()._create(request)
        if reply.status == 201 and isinstance(reply.body, dict):
            issue_type = str((fields.get("issuetype") or {}).get("name", ""))
            outcome = self.outcomes.get((key, issue_type))
            if outcome is not None:
                self.targets[str(reply.body["key"])] = outcome
        return reply

    def _get(self, request: Recorded, key: str) -> Reply:
        issue = self._find(key)
        if issue is not None and self.auto and issue.key not in self.held:
            done = self.targets.get(issue.key, ("Done", ""))[0]
            following = {"To Do": "In Progress", "In Progress": done}.get(issue.status)
            if following is not None:
                self.move(issue.key, following)
        return super()._get(request, key)

    def control(self, ref: str, verb: str) -> str:
        issue = self._find(ref)
        if issue is None:
            raise LookupError(f"no simulated JIRA ticket {ref}")
        self.held.add(issue.key)
        done, failed = self.targets.get(issue.key, ("Done", ""))
        if verb == "resolve":
            self.move(issue.key, done)
        elif failed:
            self.move(issue.key, failed)
        else:
            self.move(issue.key, "Done", resolution="Won't Do" if verb == "reject" else "Declined")
        return f"{issue.key}: {issue.status} ({issue.resolution})"

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "ref": i.key,
                "status": i.status,
                "resolution": i.resolution,
                "summary": i.fields.get("summary"),
                "url": f"{self.base_url}/browse/{i.key}",
            }
            for i in self.issues.values()
        ]


class _AnyOrganization(set[str]):
    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and bool(item)


class RehearsalTerraformCloud(FakeTerraformCloud):
    """Every organization and workspace exists; applied runs publish the outputs the catalog's
    later actions read (placeholders marked rehearsal)."""

    def __init__(self, token: str, *, auto: bool, outputs: Iterable[str]) -> None:
        super().__init__(token, ())
        self.name = "rehearsal Terraform Cloud"
        self.organizations = _AnyOrganization()
        self.auto = auto
        self.released: set[str] = set()
        self.fail_keys: set[str] = set()
        self.output_names = set(outputs)
        self._runs_seen = 0
        self.route("GET", TFC_PAGE.pattern, self._page)

    def before(self, request: Recorded) -> Reply | None:
        if request.method == "GET" and TFC_PAGE.fullmatch(request.path):
            return None  # a person's link to the run: a page, like the product's web UI
        return super().before(request)

    def _page(self, request: Recorded, org: str, name: str, run_id: str) -> Reply:
        run = self.runs.get(run_id)  # read only: showing a run must not move it on
        if run is None:
            return missing_page("Terraform Cloud", f"run {run_id}")
        workspace = self.workspaces[run.workspace_id]
        settled = run.status in FINAL
        waiting = "" if settled or self.auto else " (waits for a person before it applies)"
        return object_page(
            product="Terraform Cloud",
            title=f"Run {run.id}",
            system="terraform",
            ref=run.id,
            rows=[
                ("Status", run.status + waiting),
                ("Organization", workspace.organization),
                ("Workspace", workspace.name),
                ("Message", run.message),
            ],
            settled=settled,
        )

    def _show_workspace(self, request: Recorded, org: str, name: str) -> Reply:
        if self.workspace(org, name) is None:
            self.add_workspace(org, name, **{"auto-apply": False})
        return super()._show_workspace(request, org, name)

    def _create_run(self, request: Recorded) -> Reply:
        if _carries(request, self.fail_keys):
            return Reply(
                422,
                {
                    "errors": [
                        {
                            "status": "422",
                            "title": "invalid attribute",
                            "detail": "rehearsal: forced failure (pao rehearse --fail)",
                        }
                    ]
                },
                content_type="application/vnd.api+json",
            )
        return super()._create_run(request)

    def _show_run(self, request: Recorded, run_id: str) -> Reply:
        run = self.runs.get(run_id)
        if run is not None:
            following = run.script[run.step + 1] if run.step + 1 < len(run.script) else None
            if not self.auto and run_id not in self.released and following in FINAL:
                return Reply(
                    200, {"data": self._run_doc(run)}, content_type="application/vnd.api+json"
                )
            self._runs_seen += 1
            self.state_outputs = [
                {
                    "name": name,
                    "sensitive": any(w in name.lower() for w in ("password", "secret", "token")),
                    "type": "string",
                    "value": placeholder(name, int(run_id.split("-")[1][:4])),
                }
                for name in sorted(self.output_names)
            ]
        return super()._show_run(request, run_id)

    def control(self, ref: str, verb: str) -> str:
        run = self.runs.get(ref)
        if run is None:
            raise LookupError(f"no simulated Terraform run {ref}")
        if run.status in FINAL:
            return f"{ref}: already {run.status}"
        if verb == "resolve":
            self.released.add(ref)
            run.confirmed = True
        else:
            run.script = [
                *run.script[: run.step + 1],
                "discarded" if verb == "reject" else "errored",
            ]
        return f"{ref}: {verb} ({run.status} now)"

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "ref": r.id,
                "status": r.status,
                "workspace": self.workspaces[r.workspace_id].name,
                "message": r.message,
            }
            for r in self.runs.values()
        ]


class RehearsalActions(ActionsArea):
    """Every repository, branch and workflow exists and accepts any inputs."""

    def __init__(self, gh: FakeGitHub, *, auto: bool) -> None:
        super().__init__(gh)
        self.auto = auto
        self.released: set[int] = set()
        self.fail_keys: set[str] = set()
        gh.route("GET", ACTIONS_PAGE.pattern, self._page)

    def page_url(self, owner: str, repo: str, run_id: int) -> str:
        """Where a person sees the run: the rehearsal's page, not github.com (no such run)."""
        return f"{self.gh.base_url}/{owner}/{repo}/actions/runs/{run_id}"

    def _run_json(self, run: FakeRun) -> dict[str, Any]:
        document = super()._run_json(run)
        document["html_url"] = self.page_url(run.workflow.owner, run.workflow.repo, run.id)
        return document

    def _page(self, request: Recorded, owner: str, repo: str, run_id: str) -> Reply:
        run = self._find_run(owner, repo, run_id)
        if run is None:
            return missing_page("GitHub Actions", f"workflow run {run_id}")
        settled = run.status == "completed"
        return object_page(
            product="GitHub Actions",
            title=f"{run.display_title} (run {run.id})",
            system="github",
            ref=str(run.id),
            rows=[
                ("Status", run.status),
                ("Conclusion", run.current_conclusion or "none yet"),
                ("Workflow", f"{owner}/{repo}/{run.workflow.path}"),
                ("Branch", run.ref),
                ("Inputs", ", ".join(f"{k}={v}" for k, v in sorted(run.inputs.items()))),
            ],
            settled=settled,
        )

    def _find_workflow(self, owner: str, repo: str, workflow: str) -> FakeWorkflow | None:
        found = super()._find_workflow(owner, repo, workflow)
        if found is None and workflow.endswith((".yml", ".yaml")):
            found = self.add_workflow(f"{owner}/{repo}", workflow, inputs=None)
        return found

    def _dispatch(self, request: Recorded, owner: str, repo: str, workflow: str) -> Reply:
        if _carries(request, self.fail_keys):
            return Reply(422, {"message": "rehearsal: forced failure (pao rehearse --fail)"})
        self._find_workflow(owner, repo, workflow)
        body = request.json()
        repository = self.repos.get(f"{owner}/{repo}")
        if repository is not None and isinstance(body, dict) and isinstance(body.get("ref"), str):
            repository.branches.add(body["ref"])
        reply = super()._dispatch(request, owner, repo, workflow)
        if isinstance(reply.body, dict) and "html_url" in reply.body:
            run_id = int(reply.body["workflow_run_id"])
            reply.body["html_url"] = self.page_url(owner, repo, run_id)
        return reply

    def _get_run(self, request: Recorded, owner: str, repo: str, run_id: str) -> Reply:
        run = self._find_run(owner, repo, run_id)
        if (
            run is not None
            and not self.auto
            and run.id not in self.released
            and run.step + 1 >= len(run.statuses) - 1
        ):
            run.gets = 0  # stays in progress until a person decides
        return super()._get_run(request, owner, repo, run_id)

    def control(self, ref: str, verb: str) -> str:
        run = self.runs.get(int(ref)) if ref.isdigit() else None
        if run is None:
            raise LookupError(f"no simulated workflow run {ref}")
        self.released.add(run.id)
        if verb == "reject":
            run.cancelled = True
        elif verb == "fail":
            run.conclusion = "failure"
        return f"{ref}: {verb}"

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "ref": str(r.id),
                "status": r.status,
                "conclusion": r.current_conclusion,
                "workflow": f"{r.workflow.owner}/{r.workflow.repo}/{r.workflow.file}",
                "title": r.display_title,
            }
            for r in self.runs.values()
        ]


class RehearsalGitHub(FakeGitHub):
    """GitHub whose workflow-run links open the rehearsal's page without a token."""

    def before(self, request: Recorded) -> Reply | None:
        if request.method == "GET" and ACTIONS_PAGE.fullmatch(request.path):
            return None
        return super().before(request)

    def after(self, request: Recorded, reply: Reply) -> Reply:
        if request.method == "GET" and ACTIONS_PAGE.fullmatch(request.path):
            return reply  # a person's page views do not spend the API's rate limit
        return super().after(request, reply)


class SecretsManagerSimulator(HttpFake):
    """``GetSecretValue`` for every ``aws-sm:`` reference: a value derived from its name."""

    def __init__(self) -> None:
        super().__init__("rehearsal Secrets Manager")
        self.route("POST", r"/?", self._call)

    def _call(self, request: Recorded) -> Reply:
        target = request.headers.get("x-amz-target", "")
        body = request.json() or {}
        if target != "secretsmanager.GetSecretValue":
            return Reply(400, {"__type": "InvalidRequestException", "message": target})
        name = str(body.get("SecretId", ""))
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        return Reply(
            200,
            {
                "ARN": name
                if name.startswith("arn:")
                else f"arn:aws:secretsmanager:eu-west-1:000000000000:secret:{name}",
                "Name": name,
                "SecretString": f"rehearsal-secret-{digest}",
                "VersionId": "rehearsal",
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1764320400,
            },
            content_type="application/x-amz-json-1.1",
        )


# -- the whole set -------------------------------------------------------------------------------


class Simulators:
    """The simulators of ``systems`` (all four by default) behind one ASGI app."""

    def __init__(
        self,
        facts: CatalogFacts,
        *,
        systems: Iterable[str] = SYSTEMS,
        auto_progress: bool = True,
        catalog: CatalogFeedFn | None = None,
    ) -> None:
        """``catalog``: a feed of the catalog as it changes (``CatalogFeed``), which the REST
        simulator follows; without it, it knows the items of ``facts`` only."""
        self.facts = facts
        self.systems = tuple(s for s in SYSTEMS if s in set(systems))
        self.auto_progress = auto_progress
        self.base_url = ""
        self._jira_token = secrets.token_urlsafe(18)
        self._tfc_token = secrets.token_urlsafe(18)
        self._github_token = f"ghp_rehearsal{secrets.token_hex(12)}"
        self._aws_secret = secrets.token_hex(16)
        self.jira = RehearsalJira(
            self._jira_token, auto=auto_progress, outcomes=facts.jira_outcomes()
        )
        self.terraform = RehearsalTerraformCloud(
            self._tfc_token, auto=auto_progress, outputs=facts.terraform_outputs()
        )
        self.github = RehearsalGitHub()
        self.github.name = "rehearsal GitHub"
        self.actions = RehearsalActions(self.github, auto=auto_progress)
        self.rest = RestSimulator(catalog)
        self.secrets_manager = SecretsManagerSimulator()
        for item_id in facts.items:
            self.rest.prime(item_id, facts.actions(item_id))
        self.control_app = HttpFake("rehearsal control")
        self.control_app.route("GET", r"/?", self._list)
        self.control_app.route(
            "POST", r"/(?P<system>[a-z]+)/(?P<ref>[^/]+)/(?P<verb>[a-z]+)", self._control
        )
        self._apps: dict[str, Any] = {
            "/jira": self.jira,
            "/tfc": self.terraform,
            "/github": self.github,
            "/rest": self.rest,
            "/aws-secretsmanager": self.secrets_manager,
            "/control": self.control_app,
        }
        self._lock = threading.Lock()

    # -- serving -------------------------------------------------------------------------------

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve every simulator on one loopback port (a thread of its own, so a synchronous
        client called from PAO's event loop never waits on that loop); yields the base URL."""
        with serve_asgi(self, "rehearsal") as root:
            self.base_url = root + MOUNT  # every URL the executors log says "rehearsal"
            for prefix, app in self._apps.items():
                if isinstance(app, HttpFake):
                    app.base_url = self.base_url + prefix
            yield self.base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._dispatch(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route ``/rehearsal/<system>/…`` to the system's simulator; every answer carries
        ``X-PAO-Rehearsal: true``."""
        if scope["type"] != "http":
            return

        async def marked(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                message = {**message, "headers": [*headers, (b"x-pao-rehearsal", b"true")]}
            await send(message)

        full: str = scope["path"]
        path = full[len(MOUNT) :] if full.startswith(MOUNT + "/") else ""
        for prefix, app in self._apps.items():
            if path == prefix or path.startswith(prefix + "/"):
                inner = dict(scope)
                inner["path"] = path[len(prefix) :] or "/"
                inner["root_path"] = scope.get("root_path", "") + MOUNT + prefix
                await app(inner, receive, marked)
                return
        reply = Reply(404, {"rehearsal": True, "error": f"no simulator at {full}"})
        await HttpFake._send(marked, reply)

    def mount(self, app: ASGIApp) -> ASGIApp:
        """``app`` with the simulators also answering under ``/rehearsal`` (how a person reaches
        them on PAO's own port: ``/rehearsal/control``)."""

        async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and str(scope.get("path", "")).startswith(MOUNT + "/"):
                await self._dispatch(scope, receive, send)
            else:
                await app(scope, receive, send)

        return mounted

    # -- configuration for PAO -----------------------------------------------------------------

    def describe(self) -> str:
        """The start-up line's list: which systems are simulated."""
        return ", ".join(SYSTEM_NAMES[s] for s in self.systems)

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """Variables to lay over the executors' environment (``env``: the real one) so they call
        the simulators: instances, addresses, credentials and fast polling."""
        base = self.base_url
        overlay: dict[str, str] = {}
        if "jira" in self.systems:
            names = self.facts.jira_instances() | {"platform"}
            if env.get("PAO_MANUAL_JIRA_INSTANCE"):
                names.add(env["PAO_MANUAL_JIRA_INSTANCE"])
            instance = {
                "url": f"{base}/jira",
                "auth": {
                    "type": "basic",
                    "user": JIRA_USER,
                    "tokenRef": "env:PAO_REHEARSAL_JIRA_TOKEN",
                },
            }
            overlay.update(
                JIRA_INSTANCES=json.dumps(dict.fromkeys(sorted(names), instance)),
                PAO_REHEARSAL_JIRA_TOKEN=self._jira_token,
                JIRA_POLL_INTERVAL="1",
                JIRA_TIMEOUT="10",
            )
        if "terraform" in self.systems:
            overlay.update(
                TFC_ADDRESS=f"{base}/tfc",
                TFC_TOKEN_REF="env:PAO_REHEARSAL_TFC_TOKEN",  # noqa: S106 (a reference)
                PAO_REHEARSAL_TFC_TOKEN=self._tfc_token,
                TFC_ORGANIZATION=env.get("TFC_ORGANIZATION") or "rehearsal",
                TFC_POLL_INTERVAL="1",
                TFC_TIMEOUT="10",
                TFC_VCS_OAUTH_TOKEN_ID=env.get("TFC_VCS_OAUTH_TOKEN_ID") or "ot-rehearsal",
            )
        if "github" in self.systems:
            overlay.update(
                GITHUB_API_URL=f"{base}/github",
                GITHUB_TOKEN=self._github_token,
                GITHUB_POLL_INTERVAL="1",
            )
        if "rest" in self.systems:
            allowed = [h for h in env.get("REST_API_ALLOWED_HOSTS", "").split(",") if h.strip()]
            overlay.update(
                REST_API_ALLOWED_HOSTS=",".join([*allowed, "127.0.0.1"]),
                AWS_ENDPOINT_URL_SECRETSMANAGER=f"{base}/aws-secretsmanager",
                AWS_ACCESS_KEY_ID="rehearsal",
                AWS_SECRET_ACCESS_KEY=self._aws_secret,
                AWS_REGION=env.get("AWS_REGION") or "eu-west-1",
            )
            for name in sorted(self.facts.secret_names()):
                if name not in env:
                    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
                    overlay[name] = f"rehearsal-secret-{digest}"
        return overlay

    def template_environment(self, configured: Mapping[str, str] | None = None) -> dict[str, str]:
        """``environment.NAME`` values for the REST targets the catalog names (not those
        ``configured`` through PAO_TEMPLATE_ENV_ALLOWLIST)."""
        configured = configured or {}
        if "rest" not in self.systems:
            return dict(configured)
        simulated = {
            name: f"{self.base_url}/rest/{name}"
            for name in sorted(self.facts.environment_names())
            if name not in configured
        }
        return {**simulated, **configured}

    def secret_values(self) -> tuple[str, ...]:
        """The simulators' own credentials, for redaction."""
        return (self._jira_token, self._tfc_token, self._github_token, self._aws_secret)

    # -- forced failures and people's moves ----------------------------------------------------

    def force_failure(self, action_type: str, action_id: str, keys: Iterable[str]) -> None:
        """Make the simulated system refuse one action (``keys``: its correlation keys)."""
        wanted = set(keys)
        if action_type == "jira-ticket":
            with self.jira.lock:
                self.jira.fail_keys |= wanted
        elif action_type == "terraform":
            with self.terraform.lock:
                self.terraform.fail_keys |= wanted
        elif action_type == "github-workflow":
            with self.github.lock:
                self.actions.fail_keys |= wanted
        elif action_type == "rest-api":
            self.rest.fail(action_id)

    def move(self, system: str, ref: str, verb: str) -> str:
        if verb not in VERBS:
            raise ValueError(f"unknown verb {verb!r} (one of {', '.join(VERBS)})")
        if system == "jira":
            with self.jira.lock:
                return self.jira.control(ref, verb)
        if system == "terraform":
            with self.terraform.lock:
                return self.terraform.control(ref, verb)
        if system == "github":
            with self.github.lock:
                return self.actions.control(ref, verb)
        raise ValueError(f"unknown system {system!r} (jira, terraform or github)")

    def listing(self) -> dict[str, Any]:
        with self.jira.lock, self.terraform.lock, self.github.lock, self.rest.lock:
            return {
                "rehearsal": True,
                "simulated": list(self.systems),
                "auto_progress": self.auto_progress,
                "jira": self.jira.listing(),
                "terraform": self.terraform.listing(),
                "github": self.actions.listing(),
                "rest": [
                    {"method": c.method, "path": c.path, "status": c.status, "action": c.action}
                    for c in self.rest.calls
                ],
            }

    def _list(self, request: Recorded) -> Reply:
        return Reply(200, self.listing())

    def _control(self, request: Recorded, system: str, ref: str, verb: str) -> Reply:
        try:
            message = self.move(system, ref, verb)
        except LookupError as exc:
            return Reply(404, {"rehearsal": True, "error": str(exc.args[0])})
        except ValueError as exc:
            return Reply(400, {"rehearsal": True, "error": str(exc)})
        return Reply(200, {"rehearsal": True, "result": message})
