"""`pao requests` client plumbing: the base URL a person pastes, short ids resolved like git's,
the bare 404 of a wrong base URL, the empty list, and options after the subcommand."""

from __future__ import annotations

import httpx
import pytest

from api.requests_cli import (
    ApiError,
    _call,
    api_base,
    empty_list_line,
    normalize_api_url,
    resolve_id,
)
from orchestrator.cli import build_parser
from orchestrator.settings import Settings

FIRST = "150c099f-0000-4000-8000-000000000001"
TWIN = "150c099f-1111-4000-8000-000000000002"
OTHER = "2434042d-8ffa-45ab-8004-6843b46a8621"
WAITING = "150c0aaa-2222-4000-8000-000000000003"


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8080/api/v1",
        "http://127.0.0.1:8080/api/v1/",
        " http://127.0.0.1:8080/api/v1 ",
    ],
)
def test_the_server_root_and_the_api_root_give_the_same_base(given: str) -> None:
    assert normalize_api_url(given) == "http://127.0.0.1:8080"


def test_a_path_prefix_before_the_api_is_kept() -> None:
    assert normalize_api_url("https://pao.example.com/pao/api/v1") == "https://pao.example.com/pao"


def test_api_base_normalizes_pao_api_url_and_falls_back_to_host_and_port() -> None:
    pasted = Settings.from_env({"PAO_API_URL": "http://127.0.0.1:8081/api/v1/"})
    assert api_base(pasted) == "http://127.0.0.1:8081"
    assert api_base(pasted, "http://h:1/api/v1") == "http://h:1"
    local = Settings.from_env({"PAO_PORT": "8082", "PAO_HOST": "0.0.0.0"})
    assert api_base(local) == "http://127.0.0.1:8082"


def fake_api(
    requests: list[str], inbox: list[str] | None = None, page_size: int = 2
) -> tuple[httpx.Client, list[str]]:
    """A client on a fake PAO listing ``requests`` in pages of ``page_size`` (with cursors) and
    ``inbox`` as the approvals inbox; also returns the paths it was asked for."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/api/v1/approvals":
            return httpx.Response(200, json={"items": [{"request_id": i} for i in inbox or []]})
        if request.url.path == "/api/v1/requests":
            start = int(request.url.params.get("cursor") or 0)
            items = [{"id": i} for i in requests[start : start + page_size]]
            more = start + page_size < len(requests)
            cursor = str(start + page_size) if more else None
            return httpx.Response(200, json={"items": items, "pagination": {"next_cursor": cursor}})
        return httpx.Response(404, json={"title": "Not Found", "detail": "Not Found"})

    client = httpx.Client(base_url="http://pao.test", transport=httpx.MockTransport(answer))
    return client, seen


def test_a_unique_prefix_resolves_across_pages() -> None:
    client, seen = fake_api([FIRST, OTHER, "aaaaaaaa-0000-4000-8000-000000000009", TWIN])
    assert resolve_id(client, "2434") == OTHER
    assert resolve_id(client, "2434042D-8FFA") == OTHER  # case and dashes as typed
    assert seen.count("/api/v1/requests") >= 2  # the second page was read


def test_a_full_id_is_used_as_is_without_a_call() -> None:
    client, seen = fake_api([])
    assert resolve_id(client, OTHER.upper()) == OTHER
    assert seen == []


def test_an_ambiguous_prefix_is_refused_with_the_candidates() -> None:
    client, _ = fake_api([FIRST, OTHER, TWIN])
    with pytest.raises(ApiError) as refused:
        resolve_id(client, "150c099f")
    message = str(refused.value)
    assert "ambiguous" in message
    assert FIRST in message
    assert TWIN in message
    assert OTHER not in message
    assert refused.value.code == 2


def test_approvers_resolve_among_their_inbox_too() -> None:
    client, _ = fake_api([OTHER], inbox=[WAITING])
    with pytest.raises(ApiError, match="no request you may see"):
        resolve_id(client, "150c0a")
    assert resolve_id(client, "150c0a", inbox=True) == WAITING


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("150", "too short"),
        ("zzzz", "not a request id"),
        ("1-2-", "too short"),
        ("150c%", "not a request id"),  # SQL LIKE wildcards are no part of an id
        ("150c_", "not a request id"),
        ("%%%%", "not a request id"),
        ("150c/../x", "not a request id"),
        ("150c\x00", "not a request id"),
    ],
)
def test_what_cannot_be_an_id_prefix_is_refused_locally(given: str, reason: str) -> None:
    client, seen = fake_api([FIRST])
    with pytest.raises(ApiError, match=reason):
        resolve_id(client, given)
    assert seen == []


def test_a_bare_404_names_the_url_called_and_the_base_url_form() -> None:
    client, _ = fake_api([])
    with pytest.raises(ApiError) as refused:
        _call(client, "GET", "/nowhere")
    message = str(refused.value)
    assert "HTTP 404" in message
    assert "GET http://pao.test/api/v1/nowhere" in message
    assert "base URL, e.g. http://127.0.0.1:8080" in message


def test_a_404_with_a_reason_is_shown_as_the_api_said() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": f"request {OTHER} does not exist"})

    client = httpx.Client(base_url="http://pao.test", transport=httpx.MockTransport(answer))
    with pytest.raises(ApiError) as refused:
        _call(client, "GET", f"/requests/{OTHER}")
    assert str(refused.value) == f"HTTP 404: request {OTHER} does not exist"


def test_the_empty_list_says_so_with_its_filters() -> None:
    assert empty_list_line(None, None) == "no requests you may see"
    assert (
        empty_list_line("failed", "dns-record")
        == "no requests you may see with status failed and item dns-record"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["requests", "--api-url", "http://h:1", "list"],
        ["requests", "list", "--api-url", "http://h:1"],
        ["requests", "approve", "150c099f", "--api-url", "http://h:1"],
    ],
)
def test_api_url_is_accepted_before_and_after_the_subcommand(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).api_url == "http://h:1"


def test_api_url_defaults_to_none_in_every_position() -> None:
    assert build_parser().parse_args(["requests", "list"]).api_url is None


@pytest.mark.parametrize(
    "argv",
    [
        ["tokens", "--database-url", "postgresql://x/y", "list"],
        ["tokens", "list", "--database-url", "postgresql://x/y"],
        ["tokens", "create", "--user", "a@b", "--database-url", "postgresql://x/y"],
    ],
)
def test_database_url_is_accepted_before_and_after_the_tokens_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.database_url == "postgresql://x/y"
    assert args.actor is None


def test_the_approval_commands_explain_who_may_decide(capsys: pytest.CaptureFixture[str]) -> None:
    for command, expected in (
        ("approve", "separation of duties"),
        ("reject", "never the"),
        ("approvals", "PAO_API_TOKEN"),
    ):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["requests", command, "--help"])
        assert expected in " ".join(capsys.readouterr().out.split()), command
