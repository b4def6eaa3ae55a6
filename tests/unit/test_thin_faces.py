"""The faces hold no database handle: what the import-linter contract "Thin faces" cannot see.

import-linter proves that no face imports a store module, but a face could still reach the pool
through an attribute (``services.db``) and hand it to a store-level object. This reads every
face module's syntax tree and refuses any attribute named ``db``: a face asks the core's
services (``services.events``, ``services.tokens``, ...) instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACES = ("api", "bot", "portal")


def db_attributes(source: str) -> list[int]:
    """The lines of ``source`` that read or write an attribute named ``db``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr == "db"
    ]


def test_the_check_finds_a_database_handle() -> None:
    source = "async def f(services):\n    return await TokenStore(services.db).authenticate('t')\n"
    assert db_attributes(source) == [2]
    assert db_attributes("async def f(services):\n    return services.tokens\n") == []


@pytest.mark.parametrize("face", FACES)
def test_no_face_touches_the_database_handle(face: str) -> None:
    modules = sorted((ROOT / face).rglob("*.py"))
    assert modules, f"no modules under {face}/"
    found = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if (lines := db_attributes(path.read_text(encoding="utf-8")))
    }
    assert found == {}, "faces reach the database through orchestrator.services, not .db"
