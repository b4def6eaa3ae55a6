"""``pao bot setup`` against the loopback fake GitHub: labels created within GitHub's limits (an
issue form's labels apply only when they exist), the App's permissions and events checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.setup import REQUIRED_EVENTS, REQUIRED_PERMISSIONS, setup
from orchestrator import forms
from orchestrator.github_client import GitHubSettings, github_client
from tests.fakes.github.conversations import ConversationArea
from tests.fakes.github.core import FakeGitHub
from tests.fakes.github.issue_forms import Answer
from tests.fakes.github.setup import SetupArea
from tests.unit.test_templating_engine import ROOT, example_item

pytestmark = pytest.mark.anyio
REPO = "acme/requests"
TOKEN = "ghs_setup_token"
CATALOG = ROOT / "examples" / "catalog"


@pytest.fixture
def fake() -> Iterator[tuple[FakeGitHub, SetupArea, ConversationArea, str]]:
    gh = FakeGitHub()
    area = SetupArea(gh)
    talk = ConversationArea(gh)
    with gh.serve() as url:
        yield gh, area, talk, url


def token_env(url: str) -> dict[str, str]:
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": url}


async def test_labels_are_created_once_and_make_issue_form_labels_apply(
    fake: tuple[FakeGitHub, SetupArea, ConversationArea, str],
) -> None:
    gh, area, talk, url = fake
    item = example_item("kubernetes-namespace")
    form = forms.issue_form(item)
    answers: dict[str, Answer] = {
        "namespace": "payments-ledger",
        "costCenter": "CC-4711",
        "adminGroups": [0],
    }
    area.open_from_form(talk, REPO, 1, form, answers, user="octocat")
    assert talk.issues[(REPO, 1)].labels == []  # GitHub drops form labels that do not exist

    env = token_env(url)
    report = await setup(
        env, REPO, CATALOG, client=github_client(GitHubSettings.from_environment(env))
    )
    assert report.failed == []
    names = area.names(REPO)
    assert "pao-request" in names
    assert "catalog:kubernetes-namespace" in names
    assert {"pao:valid", "pao:invalid", "pao:completed", "pao:awaiting-secret"} <= set(names)
    assert all(len(name) <= 50 for name in names)
    assert any("token mode" in note for note in report.notes)

    area.open_from_form(talk, REPO, 2, form, answers, user="octocat")
    assert talk.issues[(REPO, 2)].labels == ["pao-request", "catalog:kubernetes-namespace"]

    posts = len(gh.seen(f"/repos/{REPO}/labels", "POST"))
    again = await setup(
        env, REPO, CATALOG, client=github_client(GitHubSettings.from_environment(env))
    )
    assert again.created == []
    assert len(gh.seen(f"/repos/{REPO}/labels", "POST")) == posts
    assert all(r.headers.get("x-github-api-version") for r in gh.seen())


async def test_a_long_item_id_gets_a_label_github_accepts(
    fake: tuple[FakeGitHub, SetupArea, ConversationArea, str], tmp_path: Path
) -> None:
    _, area, _, url = fake
    source = (CATALOG / "storage" / "s3-bucket.yaml").read_text(encoding="utf-8")
    long_id = "s3-bucket-with-cross-region-replication-and-object-lock"
    (tmp_path / "item.yaml").write_text(
        source.replace("id: s3-bucket\n", f"id: {long_id}\n", 1), encoding="utf-8"
    )
    env = token_env(url)
    report = await setup(
        env, REPO, tmp_path, client=github_client(GitHubSettings.from_environment(env))
    )
    assert report.failed == []
    assert forms.catalog_label(long_id) in area.names(REPO)
    assert len(forms.catalog_label(long_id)) == 50


async def test_the_app_installation_is_checked_for_permissions_and_events(
    fake: tuple[FakeGitHub, SetupArea, ConversationArea, str],
) -> None:
    _, area, _, url = fake
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    env = {
        "GITHUB_API_URL": url,
        "GITHUB_APP_ID": "4242",
        "GITHUB_APP_PRIVATE_KEY": pem,
        "GITHUB_APP_INSTALLATION_ID": "77",
    }
    granted = {name: level for name, (level, _) in REQUIRED_PERMISSIONS.items()}
    area.install(77, {**granted, "issues": "read"}, sorted(REQUIRED_EVENTS - {"issue_comment"}))
    report = await setup(env, REPO, CATALOG)
    assert not report.ok
    assert [p.split(":")[0] for p in report.missing_permissions] == ["issues"]
    assert [e.split(" ")[0] for e in report.missing_events] == ["issue_comment"]
    lines = report.lines()
    assert lines[-1] == "setup incomplete: see the lines above"

    area.install(77, granted, sorted(REQUIRED_EVENTS | {"installation"}))
    assert (await setup(env, REPO, CATALOG)).ok
