"""Every third-party module the shipped packages import comes from a distribution that
pyproject.toml declares (in ``dependencies`` or a runtime extra), so an install from the package
index gets it on purpose and not as some other dependency's dependency, which may drop it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The packages a wheel ships: setuptools' include patterns ("orchestrator*", ...).
SHIPPED = tuple(
    pattern.rstrip("*")
    for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
)
RUNTIME_EXTRAS = ("otlp", "lambda")  # not test/dev: the shipped code never needs those


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        requirements += project["optional-dependencies"][extra]
    return {_normalise(re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0]) for req in requirements}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the files importing it, for modules outside the stdlib and us."""
    users: dict[str, set[str]] = {}
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in _imports(path):
                if module in sys.stdlib_module_names or module in SHIPPED:
                    continue
                users.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return users


def test_every_third_party_import_is_declared() -> None:
    declared = _declared()
    providers = packages_distributions()
    undeclared = {
        module: sorted(files)
        for module, files in _third_party_imports().items()
        if not {_normalise(dist) for dist in providers.get(module, [])} & declared
    }
    assert not undeclared, (
        "imported but not declared in pyproject.toml (add the distribution that provides it): "
        f"{undeclared}"
    )


def test_the_check_sees_the_imports_it_guards() -> None:
    """The scan finds what the shipped code does import (so an empty scan cannot pass)."""
    assert {"orchestrator", "api", "bot", "actions"} <= set(SHIPPED)
    imports = _third_party_imports()
    for module in ("msgspec", "requests", "githubkit_schemas", "botocore", "psycopg"):
        assert module in imports
    assert "githubkit-schemas" in _declared()
