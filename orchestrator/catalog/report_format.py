"""Rendering a catalog report for people (text), machines (json) and GitHub Actions (github)."""

from __future__ import annotations

import json

from orchestrator.catalog.validator import CatalogReport

FORMATS = ("text", "json", "github")


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(report: CatalogReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, sort_keys=False)
    summary = report.to_dict()["summary"]
    tail = (
        f"{summary['files']} files, {summary['items']} items, {summary['requests']} requests: "
        f"{summary['errors']} errors, {summary['warnings']} warnings"
    )
    lines: list[str] = []
    if fmt == "github":
        for issue in sorted(report.issues):
            command = "error" if issue.severity == "error" else "warning"
            props = ",".join(
                [
                    f"file={_escape_property(issue.file)}",
                    f"line={issue.line}",
                    f"col={issue.column}",
                    f"title={_escape_property('pao ' + issue.code)}",
                ]
            )
            where = f" (at {issue.pointer})" if issue.pointer else ""
            lines.append(f"::{command} {props}::{_escape_data(issue.message + where)}")
        lines.append(("catalog valid: " if report.valid else "catalog invalid: ") + tail)
        return "\n".join(lines)
    lines.extend(str(issue) for issue in sorted(report.issues))
    lines.append(("OK " if report.valid else "FAILED ") + tail)
    return "\n".join(lines)
