"""`pao package lambda`: the artifact builds from manylinux wheels and imports on a clean Python.

It downloads every dependency from the package index (about a minute on CI), so it is marked
``package_index`` and skipped, with the reason, when the index cannot be reached. The clean
interpreter is this one started with ``-I -S``: no site-packages, no user site, no environment,
only the artifact on the path, as Lambda's python3.11 runtime has it in /var/task.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from lambda_handlers.package import DEFAULT_PYTHON, build_lambda_package

pytestmark = pytest.mark.package_index

INDEX = "https://pypi.org/simple/"


def _index_reachable() -> bool:
    host = urllib.parse.urlsplit(INDEX).hostname or "pypi.org"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError:
        return False
    return True


@pytest.mark.timeout(900)  # downloads and installs every wheel: about 100 s on a 2-core machine
@pytest.mark.skipif(
    f"{sys.version_info.major}.{sys.version_info.minor}" != DEFAULT_PYTHON,
    reason=f"the artifact is for Python {DEFAULT_PYTHON}; importing it needs that version",
)
def test_the_artifact_builds_and_imports_on_a_clean_python(tmp_path: Path) -> None:
    if not _index_reachable():
        pytest.skip(f"the package index ({INDEX}) cannot be reached")
    out = tmp_path / "lambda"
    report = build_lambda_package(out, zip_to=tmp_path / "lambda.zip", log=sys.stderr)
    print(report.describe())
    assert report.size_bytes > 0
    assert report.zip_bytes is not None
    assert report.zip_bytes < report.size_bytes
    # psycopg's binary for Lambda's Linux, whatever machine built the artifact
    assert list(out.glob("psycopg_binary/*.so")) or list(out.glob("psycopg_binary/**/*.so"))
    probe = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(out)!r})\n"
        "started = time.perf_counter()\n"
        "import lambda_handlers.api, lambda_handlers.request_processor, "
        "lambda_handlers.catalog_processor\n"
        "from orchestrator.engine.process import load_registry\n"
        "assert 'rest-api' in load_registry({})  # entry points work from the artifact\n"
        "assert all(not p.endswith('site-packages') for p in sys.path)\n"
        "print(f'imports {time.perf_counter() - started:.2f}s')\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    print(done.stdout.strip())
