"""The bot's settings, read once at start-up from the environment.

Variables:

- ``GITHUB_WEBHOOK_SECRETS``: comma-separated webhook secrets; a delivery signed with any of
  them is accepted, so a secret is rotated by adding the new one, switching GitHub, then
  removing the old one (``GITHUB_WEBHOOK_SECRET``, singular, is read too).
- ``PAO_BOT_LOGIN``: the bot's own login (default ``pao-bot[bot]``); its comments never trigger
  commands.
- ``PAO_BOT_OPERATOR_TEAMS``: comma-separated ``org/team-slug`` (or ``team-slug``, in the
  repository's organisation) whose members may run slash commands on any request.
- ``PAO_BOT_REQUESTS_GLOB``: comma-separated globs of request files (default
  ``requests/**.yaml,requests/**.yml``).
- ``PAO_BOT_FORM_LABEL``: the label issue forms carry (default ``pao-request``).
- ``PAO_BOT_EMAIL_DOMAIN``: requester e-mail is ``<login>@<domain>`` (default
  ``users.noreply.github.com``).
- ``PAO_BOT_PERMISSION_CACHE_SECONDS``: how long a team/permission answer is reused (60).
- ``PAO_BOT_CHECK_NAME``: name of the check run (default ``PAO request validation``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_WEBHOOK_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
DEFAULT_GLOBS = ("requests/**.yaml", "requests/**.yml")


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class BotSettings:
    webhook_secrets: tuple[str, ...] = ()
    bot_login: str = "pao-bot[bot]"
    operator_teams: tuple[str, ...] = ()
    request_globs: tuple[str, ...] = DEFAULT_GLOBS
    form_label: str = "pao-request"
    email_domain: str = "users.noreply.github.com"
    permission_cache_seconds: float = 60.0
    check_name: str = "PAO request validation"
    max_body_bytes: int = MAX_WEBHOOK_BYTES

    def __repr__(self) -> str:  # never print the secrets
        return (
            f"BotSettings(webhook_secrets=<{len(self.webhook_secrets)} configured>, "
            f"bot_login={self.bot_login!r}, operator_teams={self.operator_teams!r}, "
            f"request_globs={self.request_globs!r}, form_label={self.form_label!r})"
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> BotSettings:
        secrets = _csv(env.get("GITHUB_WEBHOOK_SECRETS")) + _csv(env.get("GITHUB_WEBHOOK_SECRET"))
        return cls(
            webhook_secrets=tuple(dict.fromkeys(secrets)),
            bot_login=env.get("PAO_BOT_LOGIN") or "pao-bot[bot]",
            operator_teams=_csv(env.get("PAO_BOT_OPERATOR_TEAMS")),
            request_globs=_csv(env.get("PAO_BOT_REQUESTS_GLOB")) or DEFAULT_GLOBS,
            form_label=env.get("PAO_BOT_FORM_LABEL") or "pao-request",
            email_domain=env.get("PAO_BOT_EMAIL_DOMAIN") or "users.noreply.github.com",
            permission_cache_seconds=float(env.get("PAO_BOT_PERMISSION_CACHE_SECONDS") or 60.0),
            check_name=env.get("PAO_BOT_CHECK_NAME") or "PAO request validation",
        )

    def email_of(self, login: str) -> str:
        return f"{login}@{self.email_domain}"

    def login_of(self, email: str) -> str | None:
        suffix = f"@{self.email_domain}"
        return email[: -len(suffix)] if email.endswith(suffix) else None
