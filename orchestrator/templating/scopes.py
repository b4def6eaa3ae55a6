"""What each variable scope offers, as far as it can be known before a request exists."""

from __future__ import annotations

# Nested keys a template may name under `metadata`, `request` and `system`.
METADATA_PATHS = frozenset(
    {
        ("id",),
        ("name",),
        ("description",),
        ("version",),
        ("category",),
        ("tags",),
        ("owner",),
        ("owner", "team"),
        ("owner", "contact"),
        ("owner", "jiraProject"),
        ("owner", "slack"),
        ("sla",),
        ("sla", "responseTime"),
        ("sla", "fulfillmentTime"),
        ("documentation",),
    }
)
REQUEST_PATHS = frozenset(
    {
        ("id",),
        ("correlation_id",),
        ("timestamp",),
        ("title",),
        ("source",),
        ("user",),
        ("user", "email"),
        ("user", "name"),
        ("user", "teams"),
    }
)
SYSTEM_PATHS = frozenset({("date",), ("timestamp",), ("uuid",), ("hostname",)})

# Output keys each action type is known to produce; None means "whatever the target returns".
ACTION_OUTPUTS: dict[str, frozenset[str] | None] = {
    "jira-ticket": frozenset({"key", "id", "url", "status"}),
    "github-workflow": frozenset({"run_id", "run_url", "conclusion"}),
    "rest-api": frozenset({"status_code"}),  # plus the names declared in config.outputs
    "terraform": None,
}
