"""Manual support tickets: the fallback of items without automation, and escalations.

Both are ``jira-ticket`` actions built here rather than written in the catalog: an item's
``fulfillment.manual.jira`` names the instance, project and issue type (else the engine's
configured default), and the ticket text follows one manual-support template, so every team's
on-call reads the same layout. Field values are the stored, masked ones: a password never
reaches a ticket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.catalog.models import CatalogItem
from orchestrator.templating.context import TemplateContext
from orchestrator.templating.engine import TemplateEngine
from orchestrator.templating.errors import TemplateRenderError
from orchestrator.templating.masking import render_preview

MANUAL_ACTION_TYPE = "manual"
TICKET_ACTION_TYPE = "jira-ticket"
ESCALATION_ACTION_ID = "escalation"


class NoManualSupport(LookupError):
    """Neither the item nor the engine settings name where manual tickets go."""


@dataclass(frozen=True, slots=True)
class ManualDefaults:
    """Where manual tickets go for items without ``fulfillment.manual.jira``."""

    jira_instance: str | None = None
    jira_project: str | None = None
    issue_type: str = "Task"
    escalation_labels: tuple[str, ...] = ("pao-escalation",)


def _target(item: CatalogItem, defaults: ManualDefaults) -> dict[str, Any]:
    manual = item.fulfillment.manual
    if manual is not None:
        jira = manual.jira
        target: dict[str, Any] = {
            "instance": jira.instance,
            "project": jira.project,
            "issueType": jira.issue_type,
            "labels": list(jira.labels),
        }
        if jira.priority:
            target["priority"] = jira.priority
        return target
    if defaults.jira_instance and defaults.jira_project:
        return {
            "instance": defaults.jira_instance,
            "project": defaults.jira_project,
            "issueType": defaults.issue_type,
            "labels": [],
        }
    raise NoManualSupport(
        f"catalog item '{item.id}' has no fulfillment.manual.jira and no default manual-support "
        "JIRA project is configured (PAO_MANUAL_JIRA_INSTANCE, PAO_MANUAL_JIRA_PROJECT)"
    )


def _fields_block(fields: Mapping[str, Any]) -> str:
    if not fields:
        return "(no fields)"
    return "\n".join(f"* *{key}*: {_text(value)}" for key, value in sorted(fields.items()))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _header(item: CatalogItem, request: Mapping[str, Any]) -> list[str]:
    owner = item.metadata.owner
    sla = item.metadata.sla
    lines = [
        f"h2. {item.metadata.name} ({item.id} v{request.get('catalog_item_version') or item.metadata.version})",
        f"*Request*: {request['id']} (correlation id {request.get('correlation_id')})",
        f"*Requested by*: {request.get('requester_email')}"
        + (
            f" (teams: {', '.join(request.get('requester_teams') or [])})"
            if request.get("requester_teams")
            else ""
        ),
        f"*Owner*: {owner.team}" + (f" <{owner.contact}>" if owner.contact else ""),
    ]
    if sla is not None and sla.fulfillment_time:
        lines.append(f"*Fulfillment SLA*: {sla.fulfillment_time}")
    if request.get("title"):
        lines.append(f"*Title*: {request['title']}")
    if request.get("justification"):
        lines.append(f"*Justification*: {request['justification']}")
    return lines


def fulfilment_ticket(
    item: CatalogItem,
    request: Mapping[str, Any],
    context: TemplateContext,
    defaults: ManualDefaults,
    engine: TemplateEngine | None = None,
) -> dict[str, Any]:
    """The ticket that fulfils a manual-only item; the request completes when it is done."""
    config = _target(item, defaults)
    manual = item.fulfillment.manual
    summary = f"[PAO] {item.metadata.name} for {request.get('requester_email')}"
    description = "\n".join(
        [
            *_header(item, request),
            "",
            "h3. Requested fields",
            _fields_block(dict(request.get("fields") or {})),
        ]
    )
    if manual is not None:
        if manual.jira.summary:
            summary = _render(manual.jira.summary, context, engine, summary)
        if manual.jira.description:
            description = _render(manual.jira.description, context, engine, description)
        if manual.instructions:
            description += "\n\nh3. Instructions\n" + _render(
                manual.instructions, context, engine, manual.instructions
            )
    config.update(summary=summary[:250], description=description, waitForCompletion=True)
    return config


def escalation_ticket(
    item: CatalogItem,
    request: Mapping[str, Any],
    reason: str,
    escalated_by: str,
    defaults: ManualDefaults,
) -> dict[str, Any]:
    """The manual-support ticket of an escalation, carrying the preserved failure context."""
    config = _target(item, defaults)
    error_context = dict(request.get("error_context") or {})
    error = dict(error_context.get("error") or {})
    lines = [
        *_header(item, request),
        f"*Escalated by*: {escalated_by}",
        f"*Reason*: {reason}",
        "",
        "h3. Failure",
        f"*Failed action*: {error_context.get('failed_action') or '(planning)'}",
        f"*Error*: {error.get('message') or error_context.get('error') or '(none recorded)'}",
    ]
    if error.get("attempt"):
        lines.append(f"*Attempts*: {error['attempt']}")
    partial = dict(error_context.get("partial_resources") or {})
    lines += ["", "h3. Resources already created"]
    if partial:
        for action_id, resource in partial.items():
            ref = resource.get("external_url") or resource.get("external_ref") or ""
            outputs = resource.get("outputs") or {}
            lines.append(
                f"* *{action_id}* ({resource.get('type')}) {ref} outputs: {_text(outputs)}"
            )
    else:
        lines.append("(none)")
    cleanup = list(error_context.get("cleanup") or [])
    lines += ["", "h3. Cleanup instructions"]
    lines += [f"* *{c['action_id']}*: {c['instructions']}" for c in cleanup] or ["(none)"]
    lines += ["", "h3. Requested fields", _fields_block(dict(request.get("fields") or {}))]
    config.update(
        summary=f"[PAO escalation] {item.metadata.name} request {str(request['id'])[:8]}: {reason}"[
            :250
        ],
        description="\n".join(lines),
        waitForCompletion=False,
        labels=sorted({*config.get("labels", []), *defaults.escalation_labels}),
    )
    return config


def _render(
    template: str, context: TemplateContext, engine: TemplateEngine | None, fallback: str
) -> str:
    try:
        return str(render_preview(template, context, engine=engine))
    except TemplateRenderError:
        return fallback
