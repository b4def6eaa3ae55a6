"""The variables a template sees: six scopes built from the item, the request and the run.

``environment`` is built from an explicit allow-list of names only: the process environment is
never exposed as a whole (it holds database URLs and tokens). Values that are absent are left
out rather than set to null, so a template reading them fails loudly unless it says
``| default(...)``. The ``request`` scope is the exception: every documented key is always
defined, because whether the requester has a display name or teams, or gave a title, is not the
catalog author's to know, and a request must not fail after approval on an absent optional
identity attribute (``user.name`` falls back to the e-mail's local part, ``user.teams`` to ``[]``,
``title``/``correlation_id``/``timestamp`` to ``""``, ``source`` to ``api``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.templating.limits import Runtime


@dataclass(frozen=True, slots=True)
class UserInfo:
    email: str
    name: str | None = None
    teams: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        """The name, else the e-mail's local part (``jdoe`` for ``jdoe@example.com``)."""
        if self.name and self.name.strip():
            return self.name
        return self.email.split("@", 1)[0] or self.email


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What templates may know about the request being fulfilled."""

    id: str
    user: UserInfo
    correlation_id: str | None = None
    timestamp: str | None = None  # ISO 8601, when the request was submitted
    title: str | None = None
    source: str | None = None  # api | pull_request | issue | cli

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RequestInfo:
        """From a ``requests`` row (or a row-shaped dict): the one place the engine and the
        approval gates turn a stored request into what templates see."""
        created = row.get("created_at")
        timestamp = created.isoformat() if isinstance(created, dt.datetime) else created
        return cls(
            id=str(row["id"]),
            user=UserInfo(
                email=str(row["requester_email"]),
                name=row.get("requester_name"),
                teams=tuple(row.get("requester_teams") or ()),
            ),
            correlation_id=row.get("correlation_id"),
            timestamp=timestamp,
            title=row.get("title"),
            source=row.get("source"),
        )


@dataclass(frozen=True, slots=True)
class TemplateContext:
    """Scopes plus where ``uuid()``/``timestamp()`` come from, plus the values to mask."""

    variables: Mapping[str, Any]
    runtime: Runtime = field(default_factory=Runtime)
    secrets: frozenset[str] = frozenset()
    sensitive_fields: frozenset[str] = frozenset()  # ids of password fields

    def with_outputs(self, outputs: Mapping[str, Mapping[str, Any]]) -> TemplateContext:
        """The same context with the outputs of the actions that have run so far."""
        variables = dict(self.variables)
        variables["outputs"] = {k: dict(v) for k, v in outputs.items()}
        return TemplateContext(variables, self.runtime, self.secrets, self.sensitive_fields)

    def with_fields(self, fields: Mapping[str, Any]) -> TemplateContext:
        variables = dict(self.variables)
        variables["fields"] = dict(fields)
        hidden = {str(fields[k]) for k in self.sensitive_fields if fields.get(k) not in (None, "")}
        return TemplateContext(
            variables, self.runtime, self.secrets | hidden, self.sensitive_fields
        )


def _prune(data: Mapping[str, Any]) -> dict[str, Any]:
    """Drop null values (recursively in maps), so reading them is an 'undefined' error."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        out[key] = _prune(value) if isinstance(value, Mapping) else value
    return out


def metadata_scope(item: CatalogItem) -> dict[str, Any]:
    meta = item.metadata
    data = {
        "id": meta.id,
        "name": meta.name,
        "description": meta.description,
        "version": meta.version,
        "category": meta.category,
        "tags": list(meta.tags),
        "owner": meta.owner.model_dump(by_alias=True),
        "sla": meta.sla.model_dump(by_alias=True) if meta.sla else None,
        "documentation": meta.documentation,
    }
    return _prune(data)


def request_scope(request: RequestInfo | Mapping[str, Any] | None) -> dict[str, Any]:
    """Every documented ``request`` key, always defined (see the module docstring)."""
    if request is None:
        return {}
    if isinstance(request, RequestInfo):
        return {
            "id": request.id,
            "correlation_id": request.correlation_id or "",
            "timestamp": request.timestamp or "",
            "title": request.title or "",
            "source": request.source or "api",
            "user": {
                "email": request.user.email,
                "name": request.user.display_name,
                "teams": list(request.user.teams),
            },
        }
    return _prune(dict(request))


def system_scope(runtime: Runtime, hostname: str | None = None) -> dict[str, Any]:
    """Values fixed when the context is built (one request run sees one ``system.uuid``)."""
    now = runtime.now().astimezone(dt.UTC)
    return {
        "date": now.date().isoformat(),
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "uuid": runtime.new_uuid(),
        "hostname": hostname if hostname is not None else socket.gethostname(),
    }


def environment_scope(
    allowed: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Only the allow-listed names that are set; ``environ`` defaults to the process environment."""
    source = os.environ if environ is None else environ
    return {name: source[name] for name in allowed if name in source}


def build_context(
    item: CatalogItem,
    fields: Mapping[str, Any],
    *,
    request: RequestInfo | Mapping[str, Any] | None = None,
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
    allowed_environment: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    runtime: Runtime | None = None,
    hostname: str | None = None,
    secrets: Collection[str] = (),
) -> TemplateContext:
    """Every scope for rendering ``item``'s templates for one request.

    ``fields`` should already carry the defaults (``orchestrator.forms.apply_defaults``).
    Values of the item's ``password`` fields, and ``secrets``, are recorded so that previews,
    logs and errors mask them.
    """
    runtime = runtime or Runtime()
    sensitive = {f.id for f in item.fields() if f.sensitive}
    hidden = {
        str(value) for key, value in fields.items() if key in sensitive and value not in (None, "")
    }
    variables = {
        "fields": dict(fields),
        "metadata": metadata_scope(item),
        "request": request_scope(request),
        "system": system_scope(runtime, hostname),
        "environment": environment_scope(allowed_environment, environ),
        "outputs": {k: dict(v) for k, v in (outputs or {}).items()},
    }
    return TemplateContext(
        variables, runtime, frozenset(hidden) | frozenset(secrets), frozenset(sensitive)
    )
