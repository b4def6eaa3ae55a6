"""Webhook signatures (GitHub's documented test vector), rotation and the settings."""

from __future__ import annotations

from bot.settings import BotSettings
from bot.webhook import sign, verify_signature

# From GitHub's "Validating webhook deliveries" documentation.
DOC_SECRET = "It's a Secret to Everybody"
DOC_BODY = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_signature_matches_githubs_documented_example() -> None:
    assert sign(DOC_SECRET, DOC_BODY) == DOC_SIGNATURE
    assert verify_signature([DOC_SECRET], DOC_BODY, DOC_SIGNATURE)


def test_any_configured_secret_verifies_and_nothing_else_does() -> None:
    assert verify_signature(["new", DOC_SECRET], DOC_BODY, DOC_SIGNATURE)
    assert not verify_signature(["new"], DOC_BODY, DOC_SIGNATURE)
    assert not verify_signature([DOC_SECRET], DOC_BODY + b" ", DOC_SIGNATURE)
    assert not verify_signature([DOC_SECRET], DOC_BODY, DOC_SIGNATURE.replace("sha256=", "sha1="))
    assert not verify_signature([DOC_SECRET], DOC_BODY, None)
    assert not verify_signature([], DOC_BODY, DOC_SIGNATURE)


def test_settings_from_environment_never_show_secrets() -> None:
    settings = BotSettings.from_environment(
        {
            "GITHUB_WEBHOOK_SECRETS": "s3cret-new, s3cret-old",
            "GITHUB_WEBHOOK_SECRET": "s3cret-new",
            "PAO_BOT_OPERATOR_TEAMS": "acme/ops, sre",
            "PAO_BOT_REQUESTS_GLOB": "reqs/**.yaml",
        }
    )
    assert settings.webhook_secrets == ("s3cret-new", "s3cret-old")
    assert settings.operator_teams == ("acme/ops", "sre")
    assert settings.request_globs == ("reqs/**.yaml",)
    assert "s3cret" not in repr(settings)
    assert settings.login_of(settings.email_of("octocat")) == "octocat"
    assert settings.login_of("someone@example.com") is None
