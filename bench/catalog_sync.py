"""Benchmark: catalog sync from GitHub against the loopback fake GitHub, with githubkit.

    python3 -m bench.catalog_sync [--files 1000]

Generates ``--files`` catalog items (bench.catalog_validate's generator) committed to a fake
repository, then measures, each with the number of GitHub requests it made:

1. the first sync (goal: under 10 s for 1,000 files);
2. a no-change poll (goal: under 50 ms; one conditional request, answered 304);
3. a commit changing one file (one blob fetched, the whole catalog validated again).

Baseline, same run: the same files synced from a local directory (``CatalogService.
sync_directory`` into a fresh database), i.e. validation and storage without GitHub.

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres;
scratch databases pao_bench_sync and pao_bench_sync_local are created there).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from bench.catalog_validate import generate
from orchestrator.catalog.github_source import GitHubCatalogSource
from orchestrator.catalog.sync import GitHubCatalogSync
from orchestrator.github_client import GitHubSettings, github_client
from orchestrator.services import open_services
from orchestrator.settings import Settings
from rehearsal.sim.github import FakeGitHub
from rehearsal.sim.github_repos import RepoArea

TOKEN = "ghs_benchToken"
REPO = "acme/catalog"


def fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


async def github_sync(database_url: str, files: dict[str, str]) -> float:
    """Run the three syncs, print their figures; the first sync's seconds."""
    gh = FakeGitHub()
    gh.tokens = {TOKEN}
    area = RepoArea(gh)
    area.create_repo(REPO)
    area.commit(REPO, "main", dict(files), "catalog")
    settings = Settings.from_env({"CATALOG_LOCAL_PATH": ""})
    services = await open_services(settings, database_url=database_url)
    try:
        with gh.serve() as url:
            client = github_client(GitHubSettings(api_url=url, token=TOKEN, timeout_seconds=30))
            sync = GitHubCatalogSync(
                services.db, services.catalog, GitHubCatalogSource(client, REPO, "main", "catalog")
            )
            started = time.perf_counter()
            first = await sync.sync()
            first_s = time.perf_counter() - started
            assert first.error is None, first.error
            assert first.result is not None
            stored = len(first.result.stored)
            polls = []
            for _ in range(20):
                started = time.perf_counter()
                again = await sync.sync()
                polls.append(time.perf_counter() - started)
                assert not again.changed
            path = sorted(files)[0]
            area.commit(
                REPO,
                "main",
                {path: files[path].replace("description:", "description: v2.", 1)},
                "one",
            )
            started = time.perf_counter()
            one = await sync.sync()
            one_s = time.perf_counter() - started
    finally:
        await services.close()
    print(f"GitHub source, {len(files)} files:")
    print(
        f"  first sync        : {first_s:6.2f} s   {first.requests} GitHub requests, {stored} items stored"
    )
    print(
        f"  no-change poll    : median {statistics.median(polls) * 1000:.1f} ms, "
        f"max {max(polls) * 1000:.1f} ms   {again.requests} GitHub request (304)"
    )
    print(
        f"  one file changed  : {one_s:6.2f} s   {one.requests} GitHub requests, "
        f"{len(one.fetched)} blob fetched"
    )
    return first_s


async def local_sync(database_url: str, directory: Path) -> float:
    services = await open_services(
        Settings.from_env({"CATALOG_LOCAL_PATH": ""}), database_url=database_url
    )
    try:
        started = time.perf_counter()
        result = await services.catalog.sync_directory(directory)
        elapsed = time.perf_counter() - started
        assert not result.errors
        return elapsed
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        generate(directory, args.files)
        files = {f"catalog/{p.name}": p.read_text() for p in sorted(directory.glob("*.yaml"))}
        first = asyncio.run(github_sync(fresh_database(admin, "pao_bench_sync"), files))
        local = asyncio.run(local_sync(fresh_database(admin, "pao_bench_sync_local"), directory))
    print(f"baseline: the same files synced from a local directory: {local:6.2f} s")
    print(f"  ratio GitHub first sync / local sync: {first / local:.2f}")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
