"""`pao rehearse ITEM.yaml`: run a catalog item's whole chain against the simulators, in a
throw-away embedded PostgreSQL, and show per action what was sent (secrets masked), what the
simulated system answered, the outputs, and (when a step fails) the cleanup the earlier steps
leave. Exit status 0 when the request completed, 1 when it failed or the item is invalid, 2 on
a usage error.

``--fail ACTION`` makes the simulated system refuse that action (the request then fails there,
as it would in production, and the error context lists the cleanup of what came before).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from orchestrator.catalog.models import CatalogItem
from orchestrator.catalog.report_format import render
from orchestrator.catalog.validator import CatalogValidator
from orchestrator.engine.executor import correlation_key
from orchestrator.engine.process import WorkerPool, load_registry
from orchestrator.errors import ValidationFailed
from orchestrator.identity.principal import Principal
from orchestrator.redaction import scrub
from orchestrator.requests.service import RequestDraft
from orchestrator.services import open_services
from orchestrator.settings import CatalogSettings, Settings
from rehearsal.systems import CatalogFacts, Simulators

TERMINAL = frozenset({"completed", "failed", "aborted", "escalated"})
RETRY_GENERATIONS = 10  # correlation keys of the first attempts and retries of a forced failure
MARK = "[rehearsal]"
ONLY_IN_A_CATALOG = frozenset({"missing-replacement", "replacement-not-active"})


class UsageError(Exception):
    pass


def parse_fields(pairs: Sequence[str]) -> dict[str, Any]:
    """``k=v`` pairs; values read as YAML scalars (``3`` a number, ``true`` a boolean,
    ``[a, b]`` a list), so they match the form's field types."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--fields takes NAME=VALUE, got {pair!r}")
        try:
            fields[name] = yaml.load(raw, Loader=yaml.CSafeLoader) if raw else ""
        except yaml.YAMLError:
            fields[name] = raw
    return fields


def sample_fields(item: CatalogItem, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given``, plus a value for every required field without one and without a default
    (``rehearsal`` for text, the first choice of a select ...), so an item rehearses as is."""
    fields = dict(given)
    form = item.presentation.form if item.presentation is not None else None
    for group in form.groups if form is not None else []:
        for field in group.fields:
            if field.id in fields or not field.required or field.default is not None:
                continue
            options = list(field.enum or [])
            if field.type == "select" and options:
                fields[field.id] = options[0]
            elif field.type == "multiselect" and options:
                fields[field.id] = options[:1]
            elif field.type == "number":
                fields[field.id] = 1
            elif field.type == "boolean":
                fields[field.id] = True
            elif field.type == "date":
                fields[field.id] = "2030-01-01"
    return fields


async def rehearse(
    item_path: Path,
    given: Mapping[str, Any],
    *,
    fail: str | None,
    out: TextIO,
    database_url: str | None = None,
    data_dir: Path | None = None,
    timeout_seconds: float = 600.0,
) -> int:
    text = item_path.read_text()
    report = CatalogValidator().validate_texts([(str(item_path), text)])
    # Alone, an item cannot find the others it names (`pao catalog validate` checks those).
    report.issues[:] = [i for i in report.issues if i.code not in ONLY_IN_A_CATALOG]
    if not report.valid or not report.items:
        print(render(report, "text"), file=out)
        return 1
    entry = next(iter(report.items.values()))
    item = entry.item
    actions = {a.id: a for a in item.fulfillment.actions}
    if fail is not None and fail not in actions:
        raise UsageError(f"--fail {fail}: the item has no action {fail!r} ({', '.join(actions)})")
    facts = CatalogFacts()
    facts.add(yaml.load(text, Loader=yaml.CSafeLoader))
    simulators = Simulators(facts, auto_progress=True)
    with contextlib.ExitStack() as stack:
        stack.enter_context(simulators.serve())
        url = database_url
        if url is None:
            from orchestrator.store.embedded import EmbeddedPostgres

            scratch = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = stack.enter_context(EmbeddedPostgres(scratch / "pgdata")).url
        env = simulators.environment({})
        settings = dataclasses.replace(
            Settings(),
            catalog=CatalogSettings(local_path=None, watch_seconds=0),
            template_environment=simulators.template_environment(),
        )
        services = await open_services(settings, database_url=url)
        try:
            await services.catalog.store_report(report, git_sha=None, actor="pao rehearse")
            principal = Principal(
                email="rehearsal@localhost", name="Rehearsal", teams=(item.metadata.owner.team,)
            )
            fields = sample_fields(item, given)
            try:
                created = await services.requests.submit(
                    RequestDraft(item.metadata.id, fields, title="pao rehearse", source="cli"),
                    principal,
                    f"rehearse-{uuid.uuid4()}",
                )
            except ValidationFailed as exc:
                for error in exc.errors:
                    print(f"error: {error.get('pointer', '')}: {error.get('message')}", file=out)
                print("give field values with --fields NAME=VALUE ...", file=out)
                return 1
            request_id = uuid.UUID(str(created["id"]))
            if fail is not None:
                keys = [correlation_key(str(request_id), fail, g) for g in range(RETRY_GENERATIONS)]
                simulators.force_failure(actions[fail].type, fail, keys)
            print(
                f"{MARK} {item.metadata.id} {item.metadata.version}: request {request_id}, "
                f"simulated {simulators.describe()}"
                + (f", forced failure of {fail}" if fail else ""),
                file=out,
            )
            pool = WorkerPool(services, load_registry(env))
            stop = asyncio.Event()
            running = asyncio.create_task(pool.run(stop))
            try:
                detail = await _settled(services, request_id, timeout_seconds)
            finally:
                stop.set()
                await running
            events, _ = await services.requests.logs(request_id, after_id=0, limit=10_000)
        finally:
            await services.close()
    secrets = simulators.secret_values()
    print(scrub(_report(detail, events), list(secrets)), file=out)
    return 0 if detail["status"] == "completed" else 1


async def _settled(services: Any, request_id: uuid.UUID, timeout: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        detail: dict[str, Any] = await services.requests.detail(request_id)
        if detail["status"] in TERMINAL or loop.time() > deadline:
            return detail
        await asyncio.sleep(0.2)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _report(detail: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for action in detail.get("actions") or []:
        mine = [e for e in events if e.get("action_id") == action["id"]]
        lines.append(f"\n== {action['id']} ({action['type']}): {action['status']}")
        started = [e for e in mine if isinstance((e.get("details") or {}).get("config"), Mapping)]
        if started:
            lines.append("  request (rendered, secrets masked):")
            lines.append(_indent(_json(started[-1]["details"]["config"])))
        answers = [e for e in mine if e not in started]
        if answers:
            lines.append("  simulated response:")
            for event in answers:
                details = {k: v for k, v in (event.get("details") or {}).items() if k != "config"}
                lines.append(f"    {event['event']}: {event['message']}")
                if details:
                    lines.append(_indent(_json(details), "      "))
        if action.get("outputs"):
            lines.append("  outputs:")
            lines.append(_indent(_json(action["outputs"])))
        if action.get("error"):
            lines.append(f"  error: {_json(action['error'])}")
    context = detail.get("error_context") or {}
    cleanup = context.get("cleanup") or []
    if detail["status"] != "completed":
        lines.append(f"\n{MARK} {detail['status']}: {context.get('error') or ''}".rstrip())
        lines.append("cleanup the earlier actions leave (nothing is rolled back):")
        lines += [f"  - {c['action_id']}: {c['instructions']}" for c in cleanup] or ["  (none)"]
    else:
        lines.append(f"\n{MARK} completed: every action ran against the simulators")
    return "\n".join(lines)


def main(args: Any, out: TextIO | None = None) -> int:
    from orchestrator.observability import configure_logging

    configure_logging("WARNING", "text", secrets=())  # the report is the output
    try:
        fields = parse_fields(args.fields or [])
        return asyncio.run(
            rehearse(
                Path(args.item),
                fields,
                fail=args.fail,
                out=out or sys.stdout,
                database_url=args.database_url,
            )
        )
    except UsageError as exc:
        print(f"pao rehearse: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"pao rehearse: {exc}", file=sys.stderr)
        return 2
