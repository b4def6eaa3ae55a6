"""One scrubber (orchestrator.redaction) keeps secrets out of every log format and message."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.observability import configure_logging
from orchestrator.redaction import MASK, MIN_SECRET_LENGTH, redact, redact_url, scrub, scrub_value
from orchestrator.settings import Settings
from orchestrator.templating.errors import TemplateRenderError

DB_PASSWORD = "s3cr3t-Db/pass?word"
GITHUB_TOKEN = "ghp_" + "A1b2" * 9
FIELD_SECRET = 'pa"ss\\wo rd%42'  # a password field value: quotes, backslash, space, percent


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _settings() -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": f"postgresql://pao:{quote(DB_PASSWORD, safe='')}@db:5432/pao",
            "GITHUB_TOKEN": GITHUB_TOKEN,
        }
    )


def test_settings_name_their_secrets() -> None:
    assert set(_settings().secret_values()) == {DB_PASSWORD, GITHUB_TOKEN}


@pytest.mark.parametrize("log_format", ["text", "json", "something-else"])
def test_no_log_format_writes_a_secret(log_format: str, root_logging: None) -> None:
    settings = _settings()
    stream = io.StringIO()
    configure_logging("INFO", log_format, stream, secrets=settings.secret_values())
    log = logging.getLogger("pao.test")
    log.info("connecting to %s", settings.database.url)
    log.info("calling GitHub with token %s", GITHUB_TOKEN)
    log.info("headers: %s", {"Authorization": "Bearer abc.def-ghi_jkl"})
    log.warning("request body %s", json.dumps({"password": FIELD_SECRET}))
    try:
        raise RuntimeError(f"login failed for {DB_PASSWORD!r} with Authorization: Basic dXNlcjpw")
    except RuntimeError:
        log.exception("failed")
    log.info("stack", stack_info=True)
    output = stream.getvalue()
    for secret in (DB_PASSWORD, quote(DB_PASSWORD, safe=""), GITHUB_TOKEN, "abc.def-ghi_jkl"):
        assert secret not in output
    assert "dXNlcjpw" not in output
    assert 'pa\\\\"ss' not in output
    assert "ss\\\\wo" not in output
    assert MASK in output
    assert "RuntimeError" in output  # the exception is still there, only its secret is gone
    if log_format == "json":
        for line in output.splitlines():
            json.loads(line)  # redaction never breaks a JSON line


def test_exception_messages_are_scrubbed() -> None:
    error = TemplateRenderError(f"cannot render {FIELD_SECRET}", template=f"x{FIELD_SECRET}")
    error.scrubbed([FIELD_SECRET])
    assert FIELD_SECRET not in str(error)
    assert FIELD_SECRET not in (error.template or "")


@given(st.text(min_size=MIN_SECRET_LENGTH, max_size=24).filter(lambda s: s.strip() == s and s))
@example(FIELD_SECRET)
@example("p@ss:w/rd")
def test_embedded_forms_of_a_secret_are_removed(secret: str) -> None:
    forms = {
        "url": f"https://user:{quote(secret, safe='')}@host/x?token={quote(secret)}",
        "json": json.dumps({"value": secret}),
        "repr": repr({"value": secret}),
        "quoted": f"value \"{secret}\" and '{secret}'",
    }
    for where, text in forms.items():
        scrubbed = scrub(text, [secret])
        assert secret not in scrubbed or secret in MASK, (where, scrubbed)
        assert MASK in scrubbed, where


def test_short_and_empty_secrets_do_not_redact_everything() -> None:
    text = "a request for a cat in namespace a-b"
    assert scrub(text, ["", "a", "ab", "cat"]) == text
    assert redact(text, ["", "a"]) == text
    assert scrub_value({"k": ["a cat"]}, ["a"]) == {"k": ["a cat"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123", "Authorization: Bearer ****"),
        ("authorization=Basic dXNlcjpw", "authorization=Basic ****"),
        ('{"password": "hunter22", "user": "u"}', '{"password": "****", "user": "u"}'),
        ("token=pao_" + "x" * 30, "token=****"),
        ("pao_" + "x" * 30, "pao_****"),
        ("redis://:pw1234@cache:6379/0", "redis://:****@cache:6379/0"),
        ("https://host:8080/path@ref", "https://host:8080/path@ref"),
        ("password=**** already", "password=**** already"),
    ],
)
def test_credential_shapes(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_connection_urls_for_messages() -> None:
    assert redact_url("postgresql://pao:pw@db/x") == f"postgresql://pao:{MASK}@db/x"
    assert redact_url("host=db password=x") == "(connection string)"
    for query in ("password=s3cr3t-q", "sslmode=require&password=s3cr3t-q"):  # libpq's query form
        shown = redact_url(f"postgresql://pao@db/x?{query}")
        assert "s3cr3t-q" not in shown
        assert shown.startswith("postgresql://pao@db/x?")
