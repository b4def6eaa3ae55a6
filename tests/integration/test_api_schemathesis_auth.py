"""schemathesis with authentication (token mode): no 5xx, no response outside the document, no
way for one team to reach another team's requests, and 401 for every guarded operation.

The app runs under uvicorn on a loopback port with its real lifespan on a fresh database. Tokens
are issued by the real token store for a requester of team payments (A), one of team search (B)
and an admin; B's requests are submitted through the API with B's token, then put in the states
the engine would leave them in (failed, escalated) so that every read of them has something to
show its owner. Examples per operation are bounded to keep the module fast.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api.app import create_app
from orchestrator.settings import Settings
from orchestrator.store.database import Database
from tests.fakes.loopback import serve_asgi
from tests.integration.api_fixtures import issue_token
from tests.samples import FIELDS, ITEM

ROOT = Path(__file__).resolve().parents[2]
PERSONAS = {  # name -> (email, team)
    "A": ("alice@example.com", "payments"),
    "B": ("bob@example.com", "search"),
    "admin": ("ada@example.com", "platform-admins"),
}
BAD_TOKENS = ["pao_" + "x" * 43, "not-a-pao-token", ""]
PROBLEM = "application/problem+json"
NEVER_EXISTED = "00000000-0000-4000-8000-000000000000"
# As in test_api_schemathesis.py: schema-valid bodies may break rules a static schema cannot
# carry (per-item field rules, cursors this API issued).
EXCLUDED = [checks.positive_data_acceptance]
# The event stream of a request stays open until the request ends (test_api_events.py).
STREAMS = r"/events$"
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class World:
    url: str
    database_url: str
    tokens: dict[str, str]
    requests: dict[str, list[str]] = field(default_factory=dict)  # persona -> request ids
    states: dict[str, str] = field(default_factory=dict)  # B's request id -> seeded status
    refused: set[str] = field(default_factory=set)  # operations tried with every bad credential
    _turns: dict[str, Iterator[str]] = field(default_factory=dict)

    def auth(self, persona: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[persona]}"}

    def next_request(self, persona: str) -> str:
        """Cycle through a persona's requests so that examples meet every seeded state."""
        if persona not in self._turns:
            self._turns[persona] = itertools.cycle(self.requests[persona])
        return next(self._turns[persona])

    def status_as_owner(self, request_id: str) -> str:
        response = httpx.get(
            f"{self.url}/api/v1/requests/{request_id}/status", headers=self.auth("B")
        )
        assert response.status_code == 200, response.text
        status: str = response.json()["status"]
        return status


@pytest.fixture
def live_url(database_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    rate = getattr(request, "param", "0")  # writes a minute; 0: fuzzing is not throttled
    app_settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "CATALOG_LOCAL_PATH": str(ROOT / "examples" / "catalog"),
            "PAO_AUTH_MODE": "token",
            "PAO_ADMIN_TEAMS": "platform-admins",
            "PAO_WRITE_RATE_PER_MINUTE": rate,
        }
    )
    with serve_asgi(create_app(app_settings), "pao-api", lifespan="on") as url:
        yield url


async def _issue_tokens(database_url: str) -> dict[str, str]:
    db = await Database.open(database_url, max_size=2)
    try:
        return {
            persona: await issue_token(db, email, team, description="schemathesis")
            for persona, (email, team) in PERSONAS.items()
        }
    finally:
        await db.close()


def _seed(world: World, persona: str) -> None:
    """Three requests of ``persona``'s team, submitted through the API: one as submitted, one
    failed and one escalated with its ticket (the states the engine leaves them in)."""
    ids = []
    for _ in range(3):
        response = httpx.post(
            f"{world.url}/api/v1/requests",
            json={"catalog_item": ITEM, "fields": FIELDS},
            headers=world.auth(persona),
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        conn.execute("UPDATE requests SET status = 'failed' WHERE id = %s", [ids[1]])
        conn.execute(
            "UPDATE requests SET status = 'escalated', escalation_ticket = 'DBA-7',"
            " escalated_at = now() WHERE id = %s",
            [ids[2]],
        )
    world.requests[persona] = ids
    if persona == "B":
        world.states.update({request_id: world.status_as_owner(request_id) for request_id in ids})


@pytest.fixture
def world(live_url: str, database_url: str) -> World:
    world = World(live_url, database_url, asyncio.run(_issue_tokens(database_url)))
    _seed(world, "A")
    _seed(world, "B")
    return world


@pytest.fixture
def api_schema(world: World) -> Any:
    loaded = schemathesis.openapi.from_url(f"{world.url}/api/v1/openapi.json")
    # Credentials are the tests' to choose (a persona's token, none, a bad one): schemathesis
    # must not generate or mutate an Authorization header of its own.
    loaded.config.generation.update(with_security_parameters=False)
    # A body over PAO_MAX_BODY_BYTES is refused with 413 before it is parsed: a rejection too.
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


def _declares_security(case: Any) -> bool:
    return bool(case.operation.definition.raw.get("security"))


def _other_method(case: Any) -> bool:
    """schemathesis also tries methods an operation does not have (405 before authentication)."""
    return bool(case.method.upper() != case.operation.method.upper())


def _header(response: Any, name: str) -> str:
    values = {k.lower(): v for k, v in response.headers.items()}[name.lower()]
    return str(values[0] if isinstance(values, list) else values)


def test_the_document_declares_the_scheme_and_its_answers(world: World) -> None:
    document = httpx.get(f"{world.url}/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    scheme = document["components"]["securitySchemes"]["pao"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    public = {"/api/v1/health", "/api/v1/health/ready", "/api/v1/version", "/api/v1/github/webhook"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path in public:
                assert "security" not in operation, f"{method} {path} is public"
                continue
            assert operation["security"] == [{"pao": []}], f"{method} {path}"
            for status in ("401", *(["429"] if method == "post" else [])):
                content = responses[status]["content"]
                assert list(content) == [PROBLEM], f"{method} {path} {status}"
    guarded = ["/api/v1/audit", "/metrics", "/api/v1/catalog/refresh", "/api/v1/preview/form"]
    for path in guarded:
        assert all("403" in op["responses"] for op in document["paths"][path].values())


@schema.exclude(path_regex=STREAMS).parametrize()
@EXAMPLES
def test_team_a_and_an_admin_get_only_documented_answers(case: Any, world: World) -> None:
    """Team A's token (and an admin's, which reaches the admin-only operations): no 5xx,
    every answer documented; path ids are A's own requests, so reads and decisions meet real
    objects. ``ignored_auth`` (on by default) replays each success without credentials and
    with made-up ones and fails unless those are refused."""
    for persona in ("A", "admin"):
        if case.path_parameters and "request_id" in case.path_parameters:
            case.path_parameters["request_id"] = world.next_request("A")
        response = case.call_and_validate(headers=world.auth(persona), excluded_checks=EXCLUDED)
        assert response.status_code < 500


@schema.include(path_regex=r"^/api/v1/requests(/\{request_id\}.*)?$").parametrize()
@EXAMPLES
def test_team_a_cannot_reach_team_b_requests(case: Any, world: World) -> None:
    """Every operation on a request, with schemathesis' generated parameters and bodies but B's
    request ids, answers A exactly as for an id that never existed (404, or the same 400/422
    for invalid input) and leaves B's requests as they were; lists and their filters never show
    A one of B's requests."""
    theirs = world.requests["B"]
    if _other_method(case):
        return
    if not case.path_parameters or "request_id" not in case.path_parameters:
        if case.method == "POST":  # submit or validate: A's own business
            response = case.call_and_validate(headers=world.auth("A"), excluded_checks=EXCLUDED)
            assert response.status_code < 500
            return
        response = case.call_and_validate(headers=world.auth("A"), excluded_checks=EXCLUDED)
        if response.status_code == 200:
            listed = {item["id"] for item in response.json()["items"]}
            assert not listed & set(theirs), "A sees B's requests in a list"
        else:
            assert response.status_code in (400, 422), response.text
        return
    # The oracle: B's request must be indistinguishable from one that never existed. Invalid
    # parameters or bodies may be refused first (400/422), the same way for both.
    case.path_parameters["request_id"] = NEVER_EXISTED
    absent = case.call(headers=world.auth("A"))
    for request_id in theirs:
        case.path_parameters["request_id"] = request_id
        response = case.call_and_validate(headers=world.auth("A"), excluded_checks=EXCLUDED)
        where = f"{case.method} {case.formatted_path}"
        assert response.status_code in (400, 404, 422), f"A got {response.status_code} on {where}"
        assert response.status_code == absent.status_code, where
        assert response.json()["type"] == absent.json()["type"], where
        assert "bob@example.com" not in response.text
        if case.method != "GET":
            assert world.status_as_owner(request_id) == world.states[request_id], where


def test_b_and_the_admin_do_reach_b_requests(world: World) -> None:
    """The control for the bypass test: the ids it uses are real and readable by their owner,
    so A's 404s are refusals, not misses."""
    failed, escalated = world.requests["B"][1], world.requests["B"][2]
    for persona in ("B", "admin"):
        for path in ("", "/status", "/logs"):
            response = httpx.get(
                f"{world.url}/api/v1/requests/{failed}{path}", headers=world.auth(persona)
            )
            assert response.status_code == 200, response.text
        escalation = httpx.get(
            f"{world.url}/api/v1/requests/{escalated}/escalation", headers=world.auth(persona)
        )
        assert escalation.status_code == 200, escalation.text
        assert "DBA-7" in escalation.text
        hidden = httpx.get(f"{world.url}/api/v1/requests/{failed}", headers=world.auth("A"))
        assert hidden.status_code == 404


@schema.parametrize()
@EXAMPLES
def test_no_or_bad_credentials_get_the_documented_401(case: Any, world: World) -> None:
    """Every operation that declares the scheme refuses a call without credentials, with an
    unknown token and with a malformed one: 401, WWW-Authenticate, a documented problem body."""
    if not _declares_security(case) or _other_method(case):
        return
    if case.path_parameters and "request_id" in case.path_parameters:
        case.path_parameters["request_id"] = world.requests["A"][0]
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    attempts: list[dict[str, str]] = [{}]
    if case.operation.label not in world.refused:  # every bad credential once per operation
        world.refused.add(case.operation.label)
        attempts += [{"Authorization": f"Bearer {token}"} for token in BAD_TOKENS]
        attempts.append(
            {"Authorization": f"Basic {world.tokens['A']}"}
        )  # right token, wrong scheme
    for headers in attempts:
        response = case.call(headers=headers)
        assert response.status_code == 401, (headers, response.status_code, response.text)
        assert _header(response, "WWW-Authenticate").startswith("Bearer")
        assert _header(response, "Content-Type").startswith(PROBLEM)
        assert response.json()["status"] == 401
        assert world.tokens["A"] not in response.text
        case.validate_response(response, excluded_checks=EXCLUDED, headers=headers)


@pytest.mark.parametrize("live_url", ["3"], indirect=True)
def test_the_write_limit_answers_the_documented_429(world: World) -> None:
    """Seeding used up A's three writes this minute: the next write is refused with a documented
    problem and Retry-After; reads go on, and another principal has its own allowance."""
    document = schemathesis.openapi.from_url(f"{world.url}/api/v1/openapi.json")
    operation = document["/api/v1/requests/validate"]["POST"]
    case = operation.Case(body={"catalog_item": ITEM, "fields": FIELDS})
    response = case.call(headers=world.auth("A"))
    assert response.status_code == 429, response.text
    assert int(_header(response, "Retry-After")) >= 1
    case.validate_response(response, excluded_checks=EXCLUDED, headers=world.auth("A"))
    listing = httpx.get(f"{world.url}/api/v1/requests", headers=world.auth("A"))
    assert listing.status_code == 200
    admin = case.call(headers=world.auth("admin"))
    assert admin.status_code == 200, admin.text
