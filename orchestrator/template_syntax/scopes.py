"""What each variable scope offers, as far as it can be known before a request exists.

The outputs of an action are its type's to say (``ActionTypeSpec.output_names``).
"""

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
