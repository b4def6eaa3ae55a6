"""The catalog contract of an approval gate: ``approvals`` on a catalog item.

```yaml
approvals:
  - name: security                      # unique within the item, kebab-case
    teams: [security]                   # ``team`` or ``org/team`` slugs
    users: [alice@example.com, "@bob"]  # e-mail addresses or GitHub logins
    codeowners: true                    # the CODEOWNERS of the item's file
    count: 1                            # distinct approvals needed (default 1)
    when: "fields.environment == 'prod'"  # a template expression; the stage applies when true
    expiresAfter: 3d                    # the stage expires when nobody decided in time
    allowRequester: false               # separation of duties (default)
```

Stages run in order. The model holds what the schema accepted; ``approval_checks`` says, with a
location, what the schema cannot (duplicate names, team formats, counts nobody can reach,
conditions).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.durations import duration_seconds


class ApprovalStage(BaseModel):
    """One stage of an item's approval gate."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    name: str
    description: str | None = None
    teams: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    codeowners: bool = False
    count: int = Field(default=1, ge=1)
    when: str | None = None
    expires_after: str | None = Field(default=None, alias="expiresAfter")
    allow_requester: bool = Field(default=False, alias="allowRequester")

    @field_validator("expires_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)  # ValueError names the accepted forms
        return value

    @property
    def expires_after_seconds(self) -> float | None:
        return duration_seconds(self.expires_after) if self.expires_after else None
