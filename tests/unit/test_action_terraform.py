"""TerraformSettings from the environment, variable encoding and the breaker target."""

from __future__ import annotations

import pytest

from actions.rest_api import SecretResolver
from actions.terraform import TerraformExecutor, TerraformSettings, variable_payload
from orchestrator.engine.executor import ActionRun


def test_settings_defaults() -> None:
    settings = TerraformSettings.from_environment({})
    assert settings.address == "https://app.terraform.io"
    assert settings.token_ref is None
    assert settings.organization is None
    assert settings.poll_interval_seconds == 60.0
    assert settings.timeout_seconds == 30.0
    assert settings.vcs_oauth_token_id is None


def test_settings_from_environment() -> None:
    settings = TerraformSettings.from_environment(
        {
            "TFC_ADDRESS": "https://tfe.example.com/",
            "TFC_TOKEN_REF": "env:TFC_TOKEN",
            "TFC_ORGANIZATION": "acme",
            "TFC_POLL_INTERVAL": "2m",
            "TFC_TIMEOUT": "12.5",
            "TFC_VCS_OAUTH_TOKEN_ID": "ot-abc",
        }
    )
    assert settings.address == "https://tfe.example.com"
    assert settings.token_ref == "env:TFC_TOKEN"
    assert settings.organization == "acme"
    assert settings.poll_interval_seconds == 120.0
    assert settings.timeout_seconds == 12.5
    assert settings.vcs_oauth_token_id == "ot-abc"


def test_settings_reject_a_bad_duration_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="TFC_POLL_INTERVAL"):
        TerraformSettings.from_environment({"TFC_POLL_INTERVAL": "soon"})


@pytest.mark.parametrize(
    ("value", "text", "hcl"),
    [
        ("small", "small", False),
        (3, "3", False),
        (True, "true", False),
        (None, "null", False),
        ([1, "a"], '[1, "a"]', True),
        ({"b": 1, "a": {"c": "d"}}, '{"a": {"c": "d"}, "b": 1}', True),
    ],
)
def test_variable_encoding(value: object, text: str, hcl: bool) -> None:
    payload = variable_payload("v", value, sensitive=False)
    assert payload == {
        "key": "v",
        "value": text,
        "category": "terraform",
        "hcl": hcl,
        "sensitive": False,
    }


def test_target_is_the_address_host() -> None:
    executor = TerraformExecutor(
        SecretResolver({}), TerraformSettings(address="https://tfe.example.com:8443")
    )
    action = ActionRun(
        request_id="r",
        action_id="a",
        action_type="terraform",
        config={"workspace": "w"},
        correlation_key="k",
        attempt=1,
    )
    assert executor.target(action) == "terraform:tfe.example.com"
