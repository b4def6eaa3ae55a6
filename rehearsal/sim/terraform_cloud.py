"""A stateful fake of the Terraform Cloud API v2 (JSON:API) on ``HttpFake``: organizations,
workspaces (show by name, create), workspace variables (list, create, update), runs (create,
show, list per workspace, apply / cancel / discard actions) and a workspace's current state
version outputs, with bearer-token auth. Shapes follow the documented responses.

Runs follow a per-run script of statuses; every ``GET /runs/:id`` moves the run one step on.
A run of a non-auto-apply workspace stops at a confirmable status (``planned``,
``cost_estimated``, ``policy_checked``, ``post_plan_completed`` after run tasks or OPA policies
...) until the apply action; a run at a decision status (``post_plan_awaiting_decision``,
``policy_override`` ...) stops, not confirmable, until ``decide``; ``applied`` publishes
``state_outputs`` as the workspace's current outputs.

    fake = FakeTerraformCloud(token="tfc-token", organizations={"acme"})
    fake.add_workspace("acme", "db-orders")
    fake.next_scripts.append(["pending", "planning", "errored"])
    with fake.serve() as address: ...
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rehearsal.sim.http import HttpFake, Recorded, Reply

JSON_API = "application/vnd.api+json"
DEFAULT_SCRIPT = ("pending", "planning", "planned", "applying", "applied")
# Paused after the plan, confirmable (the apply action moves the run on).
GATES = frozenset(
    {
        "planned",
        "cost_estimated",
        "policy_checked",
        "tf_policy_checked",
        "post_plan_completed",
        "planned_and_saved",
    }
)
# Paused for a person's decision on a run task or policy (``decide`` moves the run on).
DECISIONS = frozenset(
    {
        "pre_plan_awaiting_decision",
        "post_plan_awaiting_decision",
        "policy_override",
        "tf_policy_override",
    }
)
FINAL = frozenset(
    {
        "applied",
        "planned_and_finished",
        "errored",
        "discarded",
        "canceled",
        "force_canceled",
        "policy_soft_failed",
    }
)
# Checks after the plan: a gate followed by one of these goes on by itself (not confirmable).
PLAN_CHECKS = frozenset(
    {"cost_estimating", "policy_checking", "post_plan_running"} | DECISIONS
) | frozenset({"policy_soft_failed"})
CANCELABLE = frozenset(
    {
        "pending",
        "plan_queued",
        "planning",
        "apply_queued",
        "applying",
        "pre_plan_running",
        "post_plan_running",
        "pre_plan_awaiting_decision",
        "post_plan_awaiting_decision",
    }
)
DISCARDABLE = frozenset({"pending"} | GATES | {"policy_override", "tf_policy_override"})
CREATED_AT = "2026-11-28T09:00:00.000Z"


def _error(status: int, title: str, detail: str) -> Reply:
    return Reply(
        status,
        {"errors": [{"status": str(status), "title": title, "detail": detail}]},
        content_type=JSON_API,
    )


def _ok(body: Any, status: int = 200) -> Reply:
    return Reply(status, body, content_type=JSON_API)


@dataclass(slots=True)
class FakeWorkspace:
    id: str
    organization: str
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, dict[str, Any]] = field(default_factory=dict)  # var id -> attributes
    outputs: list[dict[str, Any]] | None = None  # None: no state yet


@dataclass(slots=True)
class FakeRun:
    id: str
    workspace_id: str
    message: str
    auto_apply: bool
    script: list[str]
    step: int = 0
    confirmed: bool = False
    actions: list[str] = field(default_factory=list)  # apply / cancel / discard received

    @property
    def status(self) -> str:
        return self.script[self.step]

    @property
    def waiting(self) -> bool:
        """Paused for confirmation: at a gate that the run's checks do not move on from."""
        following = self.script[self.step + 1] if self.step + 1 < len(self.script) else None
        return (
            self.status in GATES
            and following not in PLAN_CHECKS
            and not self.auto_apply
            and not self.confirmed
        )

    def advance(self) -> None:
        if self.status in FINAL:
            return
        if self.waiting:
            return
        if self.status in DECISIONS:
            return  # until ``FakeTerraformCloud.decide``
        if self.step + 1 < len(self.script):
            self.step += 1


class FakeTerraformCloud(HttpFake):
    def __init__(
        self,
        token: str = "tfc-fake-token",  # noqa: S107 (a simulator's own token)
        organizations: Iterable[str] = ("acme",),
    ) -> None:
        super().__init__("fake Terraform Cloud")
        self.exchanges: list[tuple[Recorded, Reply]] = []
        self.token = token
        self.organizations = set(organizations)
        self.workspaces: dict[str, FakeWorkspace] = {}
        self.runs: dict[str, FakeRun] = {}
        self.next_scripts: list[list[str]] = []  # scripts for the next runs created, in order
        self.state_outputs: list[dict[str, Any]] = [
            {"name": "db_endpoint", "sensitive": False, "type": "string", "value": "db.internal"},
            {"name": "db_port", "sensitive": False, "type": "number", "value": 5432},
            {"name": "db_password", "sensitive": True, "type": "string", "value": "s3cr3t-pw"},
        ]
        self._ids = itertools.count(1)
        org = r"/api/v2/organizations/(?P<org>[^/]+)"
        ws = r"/api/v2/workspaces/(?P<ws_id>ws-[^/]+)"
        self.route("GET", org + r"/workspaces/(?P<name>[^/]+)", self._show_workspace)
        self.route("POST", org + r"/workspaces", self._create_workspace)
        self.route("GET", ws + r"/vars", self._list_vars)
        self.route("POST", ws + r"/vars", self._create_var)
        self.route("PATCH", ws + r"/vars/(?P<var_id>var-[^/]+)", self._update_var)
        self.route("GET", ws + r"/runs", self._list_runs)
        self.route("GET", ws + r"/current-state-version-outputs", self._outputs)
        self.route("POST", r"/api/v2/runs", self._create_run)
        self.route("GET", r"/api/v2/runs/(?P<run_id>run-[^/]+)", self._show_run)
        self.route(
            "POST",
            r"/api/v2/runs/(?P<run_id>run-[^/]+)/actions/(?P<verb>apply|cancel|discard)",
            self._run_action,
        )

    def after(self, request: Recorded, reply: Reply) -> Reply:
        """Keep every (request, reply) pair for the contract tests."""
        self.exchanges.append((request, reply))
        return reply

    # -- set-up and inspection -----------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):04d}Fake"

    def add_workspace(self, organization: str, name: str, **attributes: Any) -> FakeWorkspace:
        with self.lock:
            workspace = FakeWorkspace(self._new_id("ws"), organization, name, dict(attributes))
            self.workspaces[workspace.id] = workspace
            return workspace

    def workspace(self, organization: str, name: str) -> FakeWorkspace | None:
        with self.lock:
            return next(
                (
                    w
                    for w in self.workspaces.values()
                    if w.organization == organization and w.name == name
                ),
                None,
            )

    def variables(self, workspace: FakeWorkspace) -> dict[str, dict[str, Any]]:
        """key -> attributes as stored (real values, sensitive ones included)."""
        with self.lock:
            return {a["key"]: dict(a) for a in workspace.vars.values()}

    def decide(self, run_id: str) -> None:
        """A person overrides the run task or policy a run waits on: the run goes on."""
        with self.lock:
            run = self.runs[run_id]
            if run.status not in DECISIONS:
                raise ValueError(f"run {run_id} is {run.status}, not waiting for a decision")
            run.step += 1

    @property
    def runs_created(self) -> int:
        with self.lock:
            return len(self.runs)

    # -- auth ----------------------------------------------------------------------------------

    def before(self, request: Recorded) -> Reply | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "invalid or missing API token")
        return None

    # -- workspaces ----------------------------------------------------------------------------

    def _workspace_doc(self, workspace: FakeWorkspace) -> dict[str, Any]:
        attributes = {
            "name": workspace.name,
            "auto-apply": False,
            "created-at": CREATED_AT,
            "execution-mode": "remote",
            "locked": False,
            "terraform-version": "1.9.8",
            "working-directory": None,
            "vcs-repo": None,
            **workspace.attributes,
        }
        return {
            "id": workspace.id,
            "type": "workspaces",
            "attributes": attributes,
            "relationships": {
                "organization": {"data": {"id": workspace.organization, "type": "organizations"}}
            },
            "links": {
                "self": f"/api/v2/organizations/{workspace.organization}/workspaces/"
                f"{workspace.name}"
            },
        }

    def _show_workspace(self, request: Recorded, org: str, name: str) -> Reply:
        workspace = self.workspace(org, name) if org in self.organizations else None
        if workspace is None:
            return _error(404, "not found", "Workspace not found or user unauthorized")
        return _ok({"data": self._workspace_doc(workspace)})

    def _create_workspace(self, request: Recorded, org: str) -> Reply:
        if org not in self.organizations:
            return _error(404, "not found", "Organization not found or user unauthorized")
        data = (request.json() or {}).get("data") or {}
        attributes = dict(data.get("attributes") or {})
        name = attributes.pop("name", None)
        if data.get("type") != "workspaces" or not name:
            return _error(422, "invalid attribute", "Name can't be blank")
        if self.workspace(org, name) is not None:
            return _error(422, "invalid attribute", "Name has already been taken")
        vcs = attributes.get("vcs-repo")
        if vcs is not None and not (vcs.get("identifier") and vcs.get("oauth-token-id")):
            return _error(422, "invalid attribute", "VCS repo needs identifier and oauth-token-id")
        workspace = self.add_workspace(org, name, **attributes)
        return _ok({"data": self._workspace_doc(workspace)}, 201)

    # -- variables -----------------------------------------------------------------------------

    def _var_doc(self, workspace: FakeWorkspace, var_id: str) -> dict[str, Any]:
        attributes = dict(workspace.vars[var_id])
        if attributes.get("sensitive"):
            attributes["value"] = None  # write-only once sensitive
        return {
            "id": var_id,
            "type": "vars",
            "attributes": {"description": None, "version-id": f"v-{var_id}", **attributes},
            "relationships": {"configurable": {"data": {"id": workspace.id, "type": "workspaces"}}},
            "links": {"self": f"/api/v2/workspaces/{workspace.id}/vars/{var_id}"},
        }

    def _list_vars(self, request: Recorded, ws_id: str) -> Reply:
        workspace = self.workspaces.get(ws_id)
        if workspace is None:
            return _error(404, "not found", "Workspace not found")
        return _ok({"data": [self._var_doc(workspace, v) for v in workspace.vars]})

    @staticmethod
    def _var_problem(attributes: dict[str, Any]) -> str | None:
        if attributes.get("category") not in ("terraform", "env"):
            return "Category must be terraform or env"
        if not isinstance(attributes.get("value", ""), str):
            return "Value must be a string"
        return None

    def _create_var(self, request: Recorded, ws_id: str) -> Reply:
        workspace = self.workspaces.get(ws_id)
        if workspace is None:
            return _error(404, "not found", "Workspace not found")
        data = (request.json() or {}).get("data") or {}
        attributes = {
            "value": "",
            "hcl": False,
            "sensitive": False,
            **(data.get("attributes") or {}),
        }
        if data.get("type") != "vars" or not attributes.get("key"):
            return _error(422, "invalid attribute", "Key can't be blank")
        problem = self._var_problem(attributes)
        if problem:
            return _error(422, "invalid attribute", problem)
        taken = any(
            v["key"] == attributes["key"] and v["category"] == attributes["category"]
            for v in workspace.vars.values()
        )
        if taken:
            return _error(422, "invalid attribute", "Key has already been taken")
        var_id = self._new_id("var")
        workspace.vars[var_id] = attributes
        return _ok({"data": self._var_doc(workspace, var_id)}, 201)

    def _update_var(self, request: Recorded, ws_id: str, var_id: str) -> Reply:
        workspace = self.workspaces.get(ws_id)
        if workspace is None or var_id not in workspace.vars:
            return _error(404, "not found", "Variable not found")
        data = (request.json() or {}).get("data") or {}
        if data.get("type") != "vars" or data.get("id") != var_id:
            return _error(422, "invalid attribute", "type must be vars and id must match")
        merged = {**workspace.vars[var_id], **(data.get("attributes") or {})}
        problem = self._var_problem(merged)
        if problem:
            return _error(422, "invalid attribute", problem)
        if workspace.vars[var_id].get("sensitive") and not merged.get("sensitive"):
            return _error(422, "invalid attribute", "Sensitive variables can't be made public")
        workspace.vars[var_id] = merged
        return _ok({"data": self._var_doc(workspace, var_id)})

    # -- runs ----------------------------------------------------------------------------------

    def _run_doc(self, run: FakeRun) -> dict[str, Any]:
        status = run.status
        waiting = run.waiting
        return {
            "id": run.id,
            "type": "runs",
            "attributes": {
                "actions": {
                    "is-cancelable": status in CANCELABLE,
                    "is-confirmable": waiting,
                    "is-discardable": status in DISCARDABLE and not run.confirmed,
                    "is-force-cancelable": False,
                },
                "auto-apply": run.auto_apply,
                "canceled-at": None,
                "created-at": CREATED_AT,
                "has-changes": status != "planned_and_finished",
                "is-destroy": False,
                "message": run.message,
                "plan-only": False,
                "source": "tfe-api",
                "status": status,
                "status-timestamps": {"plan-queueable-at": "2026-11-28T09:00:00+00:00"},
                "trigger-reason": "manual",
                "variables": [],
            },
            "relationships": {
                "workspace": {"data": {"id": run.workspace_id, "type": "workspaces"}},
                "plan": {"data": {"id": f"plan-{run.id}", "type": "plans"}},
            },
            "links": {"self": f"/api/v2/runs/{run.id}"},
        }

    def _create_run(self, request: Recorded) -> Reply:
        data = (request.json() or {}).get("data") or {}
        ws_ref = (((data.get("relationships") or {}).get("workspace") or {}).get("data")) or {}
        workspace = self.workspaces.get(str(ws_ref.get("id")))
        if data.get("type") != "runs":
            return _error(422, "invalid attribute", "type must be runs")
        if workspace is None:
            return _error(404, "not found", "Workspace not found or user unauthorized")
        attributes = data.get("attributes") or {}
        auto_apply = attributes.get("auto-apply")
        if auto_apply is None:
            auto_apply = bool(workspace.attributes.get("auto-apply", False))
        script = list(self.next_scripts.pop(0) if self.next_scripts else DEFAULT_SCRIPT)
        run = FakeRun(
            id=self._new_id("run"),
            workspace_id=workspace.id,
            message=str(attributes.get("message") or "Queued manually via the Terraform API"),
            auto_apply=bool(auto_apply),
            script=script,
        )
        self.runs[run.id] = run
        return _ok({"data": self._run_doc(run)}, 201)

    def _show_run(self, request: Recorded, run_id: str) -> Reply:
        run = self.runs.get(run_id)
        if run is None:
            return _error(404, "not found", "Run not found or user unauthorized")
        run.advance()
        if run.status == "applied":
            workspace = self.workspaces[run.workspace_id]
            workspace.outputs = [dict(o) for o in self.state_outputs]
        return _ok({"data": self._run_doc(run)})

    def _list_runs(self, request: Recorded, ws_id: str) -> Reply:
        if ws_id not in self.workspaces:
            return _error(404, "not found", "Workspace not found")
        runs = [r for r in reversed(self.runs.values()) if r.workspace_id == ws_id]
        size = max(1, min(100, int(request.arg("page[size]", "20") or 20)))
        number = max(1, int(request.arg("page[number]", "1") or 1))
        total_pages = max(1, -(-len(runs) // size))
        page = runs[(number - 1) * size : number * size]
        return _ok(
            {
                "data": [self._run_doc(r) for r in page],
                "meta": {
                    "pagination": {
                        "current-page": number,
                        "page-size": size,
                        "prev-page": number - 1 if number > 1 else None,
                        "next-page": number + 1 if number < total_pages else None,
                        "total-pages": total_pages,
                        "total-count": len(runs),
                    }
                },
            }
        )

    def _run_action(self, request: Recorded, run_id: str, verb: str) -> Reply:
        run = self.runs.get(run_id)
        if run is None:
            return _error(404, "not found", "Run not found or user unauthorized")
        status = run.status
        if verb == "apply":
            if not run.waiting:
                return _error(409, "conflict", "Run was not paused for confirmation")
            run.confirmed = True
        elif verb == "cancel":
            if status not in CANCELABLE:
                return _error(409, "conflict", "Run was not planning or applying")
            run.script = [*run.script[: run.step], "canceled"]
            run.step = len(run.script) - 1
        else:
            if status not in DISCARDABLE or run.confirmed:
                return _error(409, "conflict", "Run was not paused for confirmation or priority")
            run.script = [*run.script[: run.step], "discarded"]
            run.step = len(run.script) - 1
        run.actions.append(verb)
        return Reply(202, None, content_type=JSON_API)

    # -- state outputs -------------------------------------------------------------------------

    def _outputs(self, request: Recorded, ws_id: str) -> Reply:
        workspace = self.workspaces.get(ws_id)
        if workspace is None or workspace.outputs is None:
            return _error(404, "not found", "State version outputs not found")
        data = []
        for output in workspace.outputs:
            name = output["name"]
            data.append(
                {
                    "id": f"wsout-{ws_id}-{name}",
                    "type": "state-version-outputs",
                    # The documented sample shows sensitive values too: the executor must mask.
                    "attributes": {**output, "detailed-type": output.get("type", "string")},
                    "links": {"self": f"/api/v2/state-version-outputs/wsout-{ws_id}-{name}"},
                }
            )
        return _ok({"data": data})


@contextmanager
def serve_terraform_cloud(
    token: str = "tfc-fake-token",  # noqa: S107 (a simulator's own token)
    organizations: Iterable[str] = ("acme",),
) -> Iterator[FakeTerraformCloud]:
    fake = FakeTerraformCloud(token, organizations)
    with fake.serve():
        yield fake
