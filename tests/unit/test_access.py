"""The authorisation policy as pure functions: roles from teams, who reads and decides."""

from __future__ import annotations

from orchestrator.access import (
    AccessPolicy,
    can_administer,
    can_decide,
    can_read_request,
    can_use_platform_tools,
    request_scope,
)
from orchestrator.identity.principal import Principal
from orchestrator.settings import Settings

POLICY = AccessPolicy.from_settings(
    Settings.from_env({"PAO_ADMIN_TEAMS": "admins, sre", "PAO_OPERATOR_TEAMS": "oncall"}).auth
)
ROW = {"requester_email": "alice@example.com", "requester_teams": ["payments"]}


def who(email: str, *teams: str, roles: tuple[str, ...] = ()) -> Principal:
    return Principal(email=email, teams=teams, roles=roles)


def test_roles_come_from_teams_and_tokens() -> None:
    assert POLICY.roles(who("a@x", "sre")) == {"admin"}
    assert POLICY.roles(who("o@x", "oncall")) == {"operator"}
    assert POLICY.roles(who("t@x", "payments", roles=("operator",))) == {"operator"}
    assert POLICY.roles(who("n@x", "payments")) == frozenset()


def test_requests_are_read_by_requester_team_owner_and_operators_only() -> None:
    allowed = [
        who("alice@example.com"),  # the requester, even without teams
        who("carol@example.com", "payments"),  # the requester's team
        who("dana@example.com", "dba"),  # owns the item
        who("oscar@example.com", "oncall"),
        who("ada@example.com", "admins"),
    ]
    for principal in allowed:
        assert can_read_request(POLICY, principal, ROW, "dba"), principal
        assert can_decide(POLICY, principal, ROW, "dba", "abort"), principal
    bob = who("bob@example.com", "search")
    assert not can_read_request(POLICY, bob, ROW, "dba")
    assert not can_decide(POLICY, bob, ROW, "dba", "retry")
    assert not can_read_request(POLICY, bob, ROW, None)


def test_list_scope_and_admin_only_capabilities() -> None:
    bob = who("bob@example.com", "search")
    assert request_scope(POLICY, bob).params() == {
        "see_all": False,
        "viewer_email": "bob@example.com",
        "viewer_teams": ["search"],
    }
    assert request_scope(POLICY, who("o@x", "oncall")).see_all
    assert not can_administer(POLICY, who("o@x", "oncall"))
    assert can_administer(POLICY, who("a@x", roles=("admin",)))
    assert can_use_platform_tools(POLICY, bob, ["search"])
    assert not can_use_platform_tools(POLICY, bob, [])
    assert can_use_platform_tools(POLICY, who("o@x", "oncall"), [])


def test_json_logs_carry_context_and_redact_secrets() -> None:
    import io
    import json
    import logging

    from orchestrator.observability import JsonFormatter, log_context

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("pao.test.json")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    token = "pao_" + "A" * 43
    try:
        with log_context(correlation_id="corr-1", request_id="req-1", user="alice@example.com"):
            log.info("called with %s and Authorization: Bearer xyz123 password=hunter2", token)
        log.info("outside")
    finally:
        log.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["correlation_id"] == "corr-1"
    assert inside["request_id"] == "req-1"
    assert inside["user"] == "alice@example.com"
    for secret in (token, "xyz123", "hunter2"):
        assert secret not in inside["message"]
    assert "pao_****" in inside["message"]
    assert "correlation_id" not in outside
