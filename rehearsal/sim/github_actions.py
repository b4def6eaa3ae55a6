"""The GitHub Actions area of the fake GitHub: workflows, ``workflow_dispatch``, runs and jobs.

Responses follow GitHub's documented shapes closely enough for githubkit to validate them
against its models (``Workflow``, ``WorkflowRun``, ``Job``, ``WorkflowDispatchResponse``).

Behaviour worth knowing when writing a test:

- a dispatch records its body and creates a run at once; the run's ``display_title`` is the
  workflow's ``run_name`` with ``${{ inputs.X }}`` substituted (as GitHub evaluates ``run-name``);
- ``return_run_details: true`` answers 200 with the run's id and URLs, otherwise 204; with
  ``reject_run_details`` the area behaves like an older server and answers 422 to the key;
- every ``GET`` of a run advances it one step through its ``statuses`` (queued, in_progress,
  completed by default) and it ends with its workflow's scripted ``conclusion``; listing runs
  does not advance them;
- a run that concludes ``failure`` has its workflow's ``failing`` job and step marked failed
  (the steps after it skipped) in its jobs.

    gh = FakeGitHub()
    actions = ActionsArea(gh)
    actions.add_workflow("acme/infra", "deploy.yml", inputs={"environment", "pao_correlation"})
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rehearsal.sim.github import FakeGitHub
from rehearsal.sim.http import Recorded, Reply

REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
WORKFLOW = REPO + r"/actions/workflows/(?P<workflow>[^/]+)"
RUN = REPO + r"/actions/runs/(?P<run_id>\d+)"
DOCS = "https://docs.github.com/rest/actions"
HEAD_SHA = "009b8a3a9ccbb128af87f9b1c0f4c62e8a304f6d"
INPUT = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}")
DEFAULT_STEPS = ("Set up job", "Run actions/checkout@v4", "Run the workflow", "Complete job")


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, message: str, doc: str = DOCS) -> Reply:
    return Reply(status, {"message": message, "documentation_url": doc, "status": str(status)})


@dataclass(slots=True)
class FakeWorkflow:
    id: int
    owner: str
    repo: str
    file: str
    name: str
    inputs: frozenset[str] | None  # declared inputs; None accepts any
    required: frozenset[str]
    run_name: str | None
    dispatchable: bool
    conclusion: str
    statuses: tuple[str, ...]
    jobs: dict[str, tuple[str, ...]]  # job name -> step names
    failing: tuple[str, str] | None  # (job, step) failing when the conclusion is failure
    created_at: datetime

    @property
    def path(self) -> str:
        return f".github/workflows/{self.file}"


@dataclass(slots=True)
class FakeRun:
    id: int
    workflow: FakeWorkflow
    ref: str
    inputs: dict[str, Any]
    display_title: str
    event: str
    created_at: datetime
    statuses: tuple[str, ...]
    conclusion: str
    step: int = 0
    gets: int = 0
    cancelled: bool = False

    @property
    def status(self) -> str:
        return "completed" if self.cancelled else self.statuses[self.step]

    @property
    def current_conclusion(self) -> str | None:
        if self.cancelled:
            return "cancelled"
        return self.conclusion if self.status == "completed" else None


@dataclass(frozen=True, slots=True)
class Dispatch:
    """One accepted ``POST .../dispatches`` (rejected ones are only in ``gh.requests``)."""

    workflow_id: int
    ref: str
    inputs: dict[str, Any]
    return_run_details: bool
    run_id: int


@dataclass(slots=True)
class _Repo:
    owner: str
    name: str
    id: int
    branches: set[str] = field(default_factory=lambda: {"main"})


class ActionsArea:
    """Workflows, dispatches, runs, jobs and cancellation, registered on a ``FakeGitHub``."""

    def __init__(self, gh: FakeGitHub) -> None:
        self.gh = gh
        self.repos: dict[str, _Repo] = {}
        self.workflows: dict[int, FakeWorkflow] = {}
        self.runs: dict[int, FakeRun] = {}
        self.dispatches: list[Dispatch] = []
        self.reject_run_details = False  # an older server: 422 on return_run_details
        self.ignore_run_details = False  # an older server that ignores unknown keys: 204
        self._ids = itertools.count(1001)
        self._run_ids = itertools.count(30433642)
        self._clock = datetime.now(UTC)
        gh.route("GET", REPO + r"/actions/workflows", self._list_workflows)
        gh.route("GET", WORKFLOW, self._get_workflow)
        gh.route("POST", WORKFLOW + r"/dispatches", self._dispatch)
        gh.route("GET", WORKFLOW + r"/runs", self._list_runs)
        gh.route("GET", RUN, self._get_run)
        gh.route("GET", RUN + r"/jobs", self._jobs)
        gh.route("POST", RUN + r"/cancel", self._cancel)

    # -- set-up --------------------------------------------------------------------------------

    def add_workflow(
        self,
        repository: str,
        file: str,
        *,
        name: str | None = None,
        inputs: set[str] | frozenset[str] | None = None,
        required: set[str] | frozenset[str] = frozenset(),
        run_name: str | None = "${{ github.workflow }} [${{ inputs.pao_correlation }}]",
        dispatchable: bool = True,
        conclusion: str = "success",
        statuses: tuple[str, ...] = ("queued", "in_progress", "completed"),
        jobs: dict[str, tuple[str, ...]] | None = None,
        failing: tuple[str, str] | None = None,
        branches: set[str] | None = None,
    ) -> FakeWorkflow:
        owner, _, repo_name = repository.partition("/")
        with self.gh.lock:
            repo = self.repos.get(repository)
            if repo is None:
                repo = self.repos[repository] = _Repo(owner, repo_name, next(self._ids))
            repo.branches |= branches or set()
            workflow = FakeWorkflow(
                id=next(self._ids) + 161335,
                owner=owner,
                repo=repo_name,
                file=file,
                name=name or file.rsplit(".", 1)[0].replace("-", " ").title(),
                inputs=frozenset(inputs) if inputs is not None else None,
                required=frozenset(required),
                run_name=run_name,
                dispatchable=dispatchable,
                conclusion=conclusion,
                statuses=statuses,
                jobs=dict(jobs or {"build": DEFAULT_STEPS}),
                failing=failing,
                created_at=self._clock - timedelta(days=30),
            )
            self.workflows[workflow.id] = workflow
            return workflow

    def start_run(
        self, workflow: FakeWorkflow, inputs: dict[str, Any], ref: str = "main", event: str = "push"
    ) -> FakeRun:
        """A run not started by a dispatch (a push, someone else's dispatch ...)."""
        with self.gh.lock:
            return self._new_run(workflow, ref, inputs, event)

    # -- helpers -------------------------------------------------------------------------------

    def _now(self) -> datetime:
        self._clock = max(self._clock + timedelta(seconds=1), datetime.now(UTC))
        return self._clock

    def _find_workflow(self, owner: str, repo: str, workflow: str) -> FakeWorkflow | None:
        for candidate in self.workflows.values():
            if (candidate.owner, candidate.repo) != (owner, repo):
                continue
            if workflow in (str(candidate.id), candidate.file, candidate.path):
                return candidate
        return None

    def _find_run(self, owner: str, repo: str, run_id: str) -> FakeRun | None:
        run = self.runs.get(int(run_id))
        if run is None or (run.workflow.owner, run.workflow.repo) != (owner, repo):
            return None
        return run

    def _new_run(
        self, workflow: FakeWorkflow, ref: str, inputs: dict[str, Any], event: str
    ) -> FakeRun:
        title = workflow.name
        if workflow.run_name is not None:
            title = INPUT.sub(lambda m: str(inputs.get(m.group(1), "")), workflow.run_name)
            title = title.replace("${{ github.workflow }}", workflow.name)
        run = FakeRun(
            id=next(self._run_ids),
            workflow=workflow,
            ref=ref,
            inputs=dict(inputs),
            display_title=title,
            event=event,
            created_at=self._now(),
            statuses=workflow.statuses,
            conclusion=workflow.conclusion,
        )
        self.runs[run.id] = run
        return run

    def _api(self, path: str) -> str:
        return f"{self.gh.base_url}{path}"

    def _user(self, login: str) -> dict[str, Any]:
        url = self._api(f"/users/{login}")
        return {
            "login": login,
            "id": 9919,
            "node_id": "MDEyOk9yZ2FuaXphdGlvbjk5MTk=",
            "avatar_url": "https://avatars.githubusercontent.com/u/9919?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"https://github.com/{login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": "Organization",
            "site_admin": False,
        }

    def _repository(self, owner: str, name: str) -> dict[str, Any]:
        repo = self.repos[f"{owner}/{name}"]
        url = self._api(f"/repos/{owner}/{name}")
        templated = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
            "hooks_url": "/hooks",
        }
        return {
            "id": repo.id,
            "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
            "name": name,
            "full_name": f"{owner}/{name}",
            "owner": self._user(owner),
            "private": True,
            "html_url": f"https://github.com/{owner}/{name}",
            "description": None,
            "fork": False,
            "url": url,
            **{key: url + suffix for key, suffix in templated.items()},
        }

    def _workflow_json(self, workflow: FakeWorkflow) -> dict[str, Any]:
        slug = f"{workflow.owner}/{workflow.repo}"
        return {
            "id": workflow.id,
            "node_id": "MDg6V29ya2Zsb3cxNjEzMzU=",
            "name": workflow.name,
            "path": workflow.path,
            "state": "active",
            "created_at": timestamp(workflow.created_at),
            "updated_at": timestamp(workflow.created_at),
            "url": self._api(f"/repos/{slug}/actions/workflows/{workflow.id}"),
            "html_url": f"https://github.com/{slug}/blob/main/{workflow.path}",
            "badge_url": f"https://github.com/{slug}/workflows/{workflow.file}/badge.svg",
        }

    def _run_json(self, run: FakeRun) -> dict[str, Any]:
        workflow = run.workflow
        slug = f"{workflow.owner}/{workflow.repo}"
        url = self._api(f"/repos/{slug}/actions/runs/{run.id}")
        repository = self._repository(workflow.owner, workflow.repo)
        updated = run.created_at + timedelta(seconds=5 * run.step)
        return {
            "id": run.id,
            "name": workflow.name,
            "node_id": "MDEyOldvcmtmbG93IFJ1bjI2OTI4OQ==",
            "head_branch": run.ref,
            "head_sha": HEAD_SHA,
            "path": workflow.path,
            "display_title": run.display_title,
            "run_number": run.id % 1000,
            "event": run.event,
            "status": run.status,
            "conclusion": run.current_conclusion,
            "workflow_id": workflow.id,
            "check_suite_id": 42,
            "check_suite_node_id": "MDEwOkNoZWNrU3VpdGU0Mg==",
            "url": url,
            "html_url": f"https://github.com/{slug}/actions/runs/{run.id}",
            "pull_requests": [],
            "created_at": timestamp(run.created_at),
            "updated_at": timestamp(updated),
            "run_attempt": 1,
            "run_started_at": timestamp(run.created_at),
            "actor": self._user(workflow.owner),
            "triggering_actor": self._user(workflow.owner),
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": self._api(f"/repos/{slug}/check-suites/42"),
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "previous_attempt_url": None,
            "workflow_url": self._api(f"/repos/{slug}/actions/workflows/{workflow.id}"),
            "head_commit": {
                "id": HEAD_SHA,
                "tree_id": "d23f6eedb1e1b9610bbc754ddb5197bfe7271223",
                "message": "Initial commit",
                "timestamp": timestamp(workflow.created_at),
                "author": {"name": "Octo Cat", "email": "octocat@github.com"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
            },
            "repository": repository,
            "head_repository": repository,
        }

    def _jobs_json(self, run: FakeRun) -> list[dict[str, Any]]:
        workflow = run.workflow
        slug = f"{workflow.owner}/{workflow.repo}"
        status = run.status
        conclusion = run.current_conclusion
        started = run.created_at + timedelta(seconds=2)
        completed = timestamp(started + timedelta(seconds=30)) if status == "completed" else None
        jobs = []
        for index, (name, steps) in enumerate(workflow.jobs.items()):
            job_id = run.id * 10 + index
            job_conclusion = conclusion
            failing_step: str | None = None
            if conclusion == "failure":
                if workflow.failing is not None and workflow.failing[0] == name:
                    failing_step = workflow.failing[1]
                else:
                    job_conclusion = "success"
            step_rows = []
            after_failure = False
            for number, step in enumerate(steps, start=1):
                if status != "completed":
                    step_status, step_conclusion = ("queued", None)
                elif after_failure:
                    step_status, step_conclusion = ("completed", "skipped")
                elif step == failing_step:
                    step_status, step_conclusion = ("completed", "failure")
                    after_failure = True
                elif conclusion == "cancelled":
                    step_status, step_conclusion = ("completed", "cancelled")
                else:
                    step_status, step_conclusion = ("completed", "success")
                step_rows.append(
                    {
                        "name": step,
                        "status": step_status,
                        "conclusion": step_conclusion,
                        "number": number,
                        "started_at": timestamp(started),
                        "completed_at": completed,
                    }
                )
            jobs.append(
                {
                    "id": job_id,
                    "run_id": run.id,
                    "run_url": self._api(f"/repos/{slug}/actions/runs/{run.id}"),
                    "run_attempt": 1,
                    "node_id": "MDg6Q2hlY2tSdW4zOTk0NDQ0OTY=",
                    "head_sha": HEAD_SHA,
                    "url": self._api(f"/repos/{slug}/actions/jobs/{job_id}"),
                    "html_url": f"https://github.com/{slug}/actions/runs/{run.id}/job/{job_id}",
                    "status": status,
                    "conclusion": job_conclusion,
                    "created_at": timestamp(run.created_at),
                    "started_at": timestamp(started),
                    "completed_at": completed,
                    "name": name,
                    "steps": step_rows,
                    "check_run_url": self._api(f"/repos/{slug}/check-runs/{job_id}"),
                    "labels": ["ubuntu-latest"],
                    "runner_id": 1,
                    "runner_name": "GitHub Actions 1",
                    "runner_group_id": 2,
                    "runner_group_name": "GitHub Actions",
                    "workflow_name": workflow.name,
                    "head_branch": run.ref,
                }
            )
        return jobs

    # -- handlers ------------------------------------------------------------------------------

    def _list_workflows(self, request: Recorded, owner: str, repo: str) -> Reply:
        if f"{owner}/{repo}" not in self.repos:
            return error(404, "Not Found")
        workflows = [
            self._workflow_json(w)
            for w in self.workflows.values()
            if (w.owner, w.repo) == (owner, repo)
        ]
        return Reply(200, {"total_count": len(workflows), "workflows": workflows})

    def _get_workflow(self, request: Recorded, owner: str, repo: str, workflow: str) -> Reply:
        found = self._find_workflow(owner, repo, workflow)
        if found is None:
            return error(404, "Not Found", f"{DOCS}/workflows#get-a-workflow")
        return Reply(200, self._workflow_json(found))

    def _dispatch(self, request: Recorded, owner: str, repo: str, workflow: str) -> Reply:
        found = self._find_workflow(owner, repo, workflow)
        doc = f"{DOCS}/workflows#create-a-workflow-dispatch-event"
        if found is None:
            return error(404, "Not Found", doc)
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            return error(422, 'Invalid request.\n\n"ref" wasn\'t supplied.', doc)
        details = body.get("return_run_details")
        if details is not None and self.reject_run_details:
            return error(422, 'Invalid request.\n\n"return_run_details" is not a permitted key.')
        unknown = set(body) - {"ref", "inputs", "return_run_details"}
        if unknown:
            return error(422, f'Invalid request.\n\n"{sorted(unknown)[0]}" is not a permitted key.')
        if not found.dispatchable:
            return error(422, "Workflow does not have 'workflow_dispatch' trigger", doc)
        ref = body["ref"]
        if ref not in self.repos[f"{owner}/{repo}"].branches:
            return error(422, f"No ref found for: {ref}", doc)
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            return error(422, "Invalid request.\n\nFor 'properties/inputs', it is not an object.")
        if len(inputs) > 25:
            return error(422, "you may only define up to 25 `inputs` for a `workflow_dispatch`")
        if found.inputs is not None:
            unexpected = sorted(set(inputs) - found.inputs)
            if unexpected:
                listed = ", ".join(f'"{name}"' for name in unexpected)
                return error(422, f"Unexpected inputs provided: [{listed}]", doc)
        missing = sorted(found.required - set(inputs))
        if missing:
            return error(422, f"Required input '{missing[0]}' not provided", doc)
        run = self._new_run(found, ref, inputs, "workflow_dispatch")
        wants_details = bool(details) and not self.ignore_run_details
        self.dispatches.append(Dispatch(found.id, ref, dict(inputs), wants_details, run.id))
        if not wants_details:
            return Reply(204, None)
        slug = f"{owner}/{repo}"
        return Reply(
            200,
            {
                "workflow_run_id": run.id,
                "run_url": self._api(f"/repos/{slug}/actions/runs/{run.id}"),
                "html_url": f"https://github.com/{slug}/actions/runs/{run.id}",
            },
        )

    def _list_runs(self, request: Recorded, owner: str, repo: str, workflow: str) -> Reply:
        found = self._find_workflow(owner, repo, workflow)
        if found is None:
            return error(
                404, "Not Found", f"{DOCS}/workflow-runs#list-workflow-runs-for-a-workflow"
            )
        event = request.arg("event")
        branch = request.arg("branch")
        status = request.arg("status")
        created = request.arg("created")
        runs = [
            run
            for run in self.runs.values()
            if run.workflow is found
            and (event is None or run.event == event)
            and (branch is None or run.ref == branch)
            and (status is None or status in (run.status, run.current_conclusion))
            and (created is None or _created_matches(run.created_at, created))
        ]
        runs.sort(key=lambda r: r.created_at, reverse=True)
        per_page = min(100, int(request.arg("per_page") or 30))
        page = max(1, int(request.arg("page") or 1))
        shown = runs[(page - 1) * per_page : page * per_page]
        return Reply(
            200,
            {"total_count": len(runs), "workflow_runs": [self._run_json(r) for r in shown]},
        )

    def _get_run(self, request: Recorded, owner: str, repo: str, run_id: str) -> Reply:
        run = self._find_run(owner, repo, run_id)
        if run is None:
            return error(404, "Not Found", f"{DOCS}/workflow-runs#get-a-workflow-run")
        run.gets += 1
        if run.gets > 1 and not run.cancelled:
            run.step = min(run.step + 1, len(run.statuses) - 1)
        return Reply(200, self._run_json(run))

    def _jobs(self, request: Recorded, owner: str, repo: str, run_id: str) -> Reply:
        run = self._find_run(owner, repo, run_id)
        if run is None:
            return error(404, "Not Found")
        jobs = self._jobs_json(run)
        return Reply(200, {"total_count": len(jobs), "jobs": jobs})

    def _cancel(self, request: Recorded, owner: str, repo: str, run_id: str) -> Reply:
        run = self._find_run(owner, repo, run_id)
        if run is None:
            return error(404, "Not Found", f"{DOCS}/workflow-runs#cancel-a-workflow-run")
        if run.status == "completed":
            return error(409, "Cannot cancel a workflow run that is completed.")
        run.cancelled = True
        return Reply(202, {})


def _created_matches(created_at: datetime, query: str) -> bool:
    """GitHub's ``created`` filter, the forms PAO sends: ``>=TIME`` and ``>TIME``."""
    for prefix in (">=", ">"):
        if query.startswith(prefix):
            bound = datetime.fromisoformat(query[len(prefix) :].replace("Z", "+00:00"))
            return created_at >= bound if prefix == ">=" else created_at > bound
    return True
