"""Issue 18: every refusal names the setting (or field) that changes it: the SSRF guard, the
template environment allow-list, an unknown JIRA instance, Terraform Cloud without a token; and
the executors' dry-run descriptions report the refusals they can foresee."""

from __future__ import annotations

import pytest

from actions.jira.executor import JiraTicketExecutor
from actions.jira.settings import JiraSettings
from actions.rest_api import RestApiExecutor, RestApiSettings, SecretResolver
from actions.terraform import TerraformExecutor, TerraformSettings
from orchestrator.engine.dry_run import plan_refusals
from orchestrator.engine.executor import ActionRun, Failed
from orchestrator.templating.context import build_context
from orchestrator.templating.engine import TemplateEngine
from orchestrator.templating.errors import UndefinedVariableError
from tests.unit.test_templating_engine import RUNTIME, example_item

pytestmark = pytest.mark.anyio


def run(action_type: str, config: dict[str, object]) -> ActionRun:
    return ActionRun("r-1", "act", action_type, config, "pao-key", 1)


@pytest.mark.parametrize("fast_paths", [True, False])
def test_environment_outside_the_allow_list_names_the_setting(fast_paths: bool) -> None:
    item = example_item("database-postgresql-standard")
    context = build_context(
        item, {}, allowed_environment=[], environ={"INVENTORY_URL": "x"}, runtime=RUNTIME
    )
    engine = TemplateEngine(runtime=RUNTIME, fast_paths=fast_paths)
    with pytest.raises(UndefinedVariableError, match="PAO_TEMPLATE_ENV_ALLOWLIST"):
        engine.render("{{environment.INVENTORY_URL}}/x", context)


async def test_the_ssrf_guard_names_the_allow_list() -> None:
    executor = RestApiExecutor(SecretResolver({}), RestApiSettings())
    result = await executor.execute(
        run("rest-api", {"method": "GET", "url": "http://127.0.0.1:9/"})
    )
    assert isinstance(result, Failed)
    assert "REST_API_ALLOWED_HOSTS" in result.error
    assert "REST_API_ALLOW_PRIVATE" in result.error


def test_the_dry_run_foresees_the_ssrf_refusal() -> None:
    executor = RestApiExecutor(SecretResolver({}), RestApiSettings())
    described = executor.describe(run("rest-api", {"url": "http://localhost:8080/hook"}))
    assert "REST_API_ALLOWED_HOSTS" in described["error"]
    allowed = RestApiExecutor(
        SecretResolver({}), RestApiSettings(allowed_hosts=frozenset({"localhost"}))
    )
    assert "error" not in allowed.describe(run("rest-api", {"url": "http://localhost:8080/hook"}))
    public = executor.describe(run("rest-api", {"url": "https://inventory.example.com/x"}))
    assert "error" not in public  # a name is resolved when the call is made, not in a preview


def test_unknown_jira_instance_and_missing_tfc_token_are_reported_with_their_settings() -> None:
    jira = JiraTicketExecutor(JiraSettings(), SecretResolver({}))
    terraform = TerraformExecutor(SecretResolver({}), TerraformSettings())
    plan = {
        "ticket": {"type": "jira-ticket", **jira.describe(run("jira-ticket", {"instance": "ops"}))},
        "infra": {
            "type": "terraform",
            **terraform.describe(run("terraform", {"organization": "o", "workspace": "w"})),
        },
    }
    refusals = {r["action"]: r["message"] for r in plan_refusals(plan)}
    assert "JIRA_INSTANCES" in refusals["ticket"]
    assert "TFC_TOKEN_REF" in refusals["infra"]
