"""One `pao serve` (token mode, rehearsal on) and one headless Chromium for the whole module.

The browser is Debian's ``chromium``, driven by Playwright for Python through its
``executable_path``: nothing downloads a browser. Without chromium (or Playwright) the tests
skip with the reason on a developer machine and fail under ``CI=true``, where a missing
browser means the portal went untested.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.identity.tokens import TokenStore
from orchestrator.store.database import Database
from tests.integration import conftest as integration
from tests.integration.conftest import TestDatabases
from tests.integration.serve_process import ROOT, Served, serve

# the integration tests' PostgreSQL: one server and migrated template per session
postgres_server = integration.postgres_server
test_databases = integration.test_databases


EXAMPLES = ROOT / "examples" / "catalog"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the portal's browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    assert path is not None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    return path


@dataclass(frozen=True)
class Portal:
    served: Served
    tokens: dict[str, str]  # user -> API token

    @property
    def url(self) -> str:
        return self.served.url


async def _issue(url: str) -> dict[str, str]:
    db = await Database.open(url, min_size=1, max_size=2, name="pao-browser-test")
    try:
        store = TokenStore(db)
        people = {
            "ana": ("ana@example.com", "payments"),
            "ben": ("ben@example.com", "growth"),
            "nora": ("nora@example.com", "network"),  # approves the gated items
        }
        tokens = {}
        for who, (email, team) in people.items():
            issued = await store.create(
                email=email,
                name=who.title(),
                teams=(team,),
                roles=(),
                days=1,
                description="browser test",
                actor="test",
            )
            tokens[who] = issued.token
        return tokens
    finally:
        await db.close()


@pytest.fixture(scope="module")
def portal(
    test_databases: TestDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Portal]:
    name = test_databases.clone()
    url = test_databases.url_for(name)
    try:
        tokens = asyncio.run(_issue(url))
        workdir: Path = tmp_path_factory.mktemp("portal")
        catalog = workdir / "catalog"  # the examples, an item that always fails, a gated one
        shutil.copytree(EXAMPLES, catalog)
        shutil.copy(Path(__file__).with_name("failing-item.yaml"), catalog / "refused.yaml")
        shutil.copy(Path(__file__).with_name("gated-item.yaml"), catalog / "gated.yaml")
        env = {"PAO_AUTH_MODE": "token", "CATALOG_LOCAL_PATH": str(catalog)}
        with serve(url, workdir, env) as served:
            yield Portal(served, tokens)
    finally:
        test_databases.drop(name)


@pytest.fixture(scope="module")
def browser(chromium_path: str, portal: Portal) -> Iterator[Any]:
    """Started after the served app (Playwright's sync API runs an event loop in this thread,
    and the fixtures before it use ``asyncio.run``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield launched
        finally:
            launched.close()
