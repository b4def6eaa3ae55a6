"""The `pao` command line: one entry point, a sub-command per job."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator import __version__

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


def _catalog_validate(args: argparse.Namespace) -> int:
    from orchestrator.catalog.report_format import render
    from orchestrator.catalog.validator import CatalogValidator, discover

    files, missing = discover(args.paths)
    for path in missing:
        print(f"pao catalog validate: no such file or directory: {path}", file=sys.stderr)
    if missing:
        return EXIT_USAGE
    if not files:
        print("pao catalog validate: no .yaml or .yml files found", file=sys.stderr)
        return EXIT_USAGE
    jobs = args.jobs or os.cpu_count() or 1
    report = CatalogValidator().validate_files(files, display_root=Path.cwd(), jobs=jobs)
    if report.requests:  # each request file against its item, as the API would check it
        from orchestrator.requests.file_checks import request_file_issues

        report.issues.extend(request_file_issues(report))
        report.issues.sort()
    if args.codeowners is not None:
        from orchestrator.catalog.codeowners import CodeOwners, codeowners_issues

        try:
            text = Path(args.codeowners).read_text()
        except OSError as exc:
            print(f"pao catalog validate: cannot read {args.codeowners}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        report.issues.extend(
            codeowners_issues(CodeOwners.parse(text), report, source=args.codeowners)
        )
        report.issues.sort()
    print(render(report, args.format))
    return EXIT_OK if report.valid else EXIT_INVALID


def _catalog_issue_forms(args: argparse.Namespace) -> int:
    from orchestrator.catalog.report_format import render
    from orchestrator.catalog.validator import CatalogValidator, discover
    from orchestrator.forms import write_issue_forms

    paths = args.paths
    if not paths:  # the catalog `pao serve` serves (CATALOG_LOCAL_PATH), not the working directory
        from orchestrator.settings import settings_for_command

        settings = settings_for_command("pao catalog issue-forms", sys.stderr)
        if settings is None:
            return EXIT_USAGE
        if settings.catalog.local_path is None:
            print(
                "pao catalog issue-forms: no catalog configured (CATALOG_LOCAL_PATH is empty); "
                "name the catalog directory: pao catalog issue-forms --out DIR PATH",
                file=sys.stderr,
            )
            return EXIT_USAGE
        paths = [str(settings.catalog.local_path)]
    files, missing = discover(paths)
    for path in missing:
        print(f"pao catalog issue-forms: no such file or directory: {path}", file=sys.stderr)
    if missing or not files:
        if not files:
            print("pao catalog issue-forms: no .yaml or .yml files found", file=sys.stderr)
        return EXIT_USAGE
    report = CatalogValidator().validate_files(files, display_root=Path.cwd())
    if not report.valid:  # forms from a broken catalog would mislead requesters
        print(render(report, "text"), file=sys.stderr)
        return EXIT_INVALID
    written = write_issue_forms([entry.item for entry in report.items.values()], Path(args.out))
    for output in written:
        print(output)
    print(f"{len(written) - 1} issue form(s) and config.yml written to {args.out}", file=sys.stderr)
    return EXIT_OK


def _db(args: argparse.Namespace) -> int:
    """Settings are read here, at start-up; the store receives a resolved URL and directory."""
    from orchestrator.settings import settings_for_command
    from orchestrator.store.commands import run_db_command

    settings = settings_for_command(f"pao db {args.db_command}", sys.stderr)
    if settings is None:
        return EXIT_USAGE
    url = args.database_url or settings.database.url
    from orchestrator.store.embedded import embedded_data_dir

    data_dir = embedded_data_dir(settings.database.data_dir)
    return run_db_command(args.db_command, url=url, data_dir=data_dir)


def build_parser(*, service_commands: bool = True) -> argparse.ArgumentParser:
    """The whole command line; without ``service_commands`` (db and the faces' commands, whose
    imports take longer than validating a small catalog) for `pao catalog ...`."""
    parser = argparse.ArgumentParser(
        prog="pao",
        description="Platform Automation Orchestrator: self-service catalog and fulfillment.",
    )
    parser.add_argument("--version", action="version", version=f"pao {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    catalog = commands.add_parser("catalog", help="work with catalog items")
    catalog_commands = catalog.add_subparsers(
        dest="catalog_command", metavar="COMMAND", required=True
    )
    validate = catalog_commands.add_parser(
        "validate",
        help="validate catalog items and request files",
        description=(
            "Validate catalog item and request files (directories are searched for *.yaml and "
            "*.yml). Exit status: 0 valid, 1 invalid, 2 usage error."
        ),
    )
    validate.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="files or directories (default: .)"
    )
    validate.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="text for people, json for tools, github for workflow annotations (default: text)",
    )
    validate.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="processes for large catalogs (default: one per CPU; 1 disables)",
    )
    validate.add_argument(
        "--codeowners",
        metavar="FILE",
        help="also check each item's metadata.owner.team against this CODEOWNERS file "
        "(paths are matched as given, relative to the repository root)",
    )
    validate.set_defaults(handler=_catalog_validate)
    issue_forms = catalog_commands.add_parser(
        "issue-forms",
        help="write GitHub issue forms for the catalog",
        description=(
            "Validate the catalog, then write one GitHub issue form per requestable item "
            "(<id>.yml) and config.yml into DIR (e.g. .github/ISSUE_TEMPLATE). "
            "Exit status: 0 written, 1 invalid catalog, 2 usage error."
        ),
    )
    issue_forms.add_argument("--out", required=True, metavar="DIR", help="output directory")
    issue_forms.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="catalog files or directories (default: the configured catalog, CATALOG_LOCAL_PATH)",
    )
    issue_forms.set_defaults(handler=_catalog_issue_forms)
    if service_commands:
        from orchestrator.store.commands import add_db_parser

        add_db_parser(commands).set_defaults(handler=_db)
        from orchestrator.worker_cli import add_queues_parser, add_worker_parser

        add_worker_parser(commands)
        add_queues_parser(commands)
        from orchestrator.tokens_cli import add_tokens_parser

        add_tokens_parser(commands)
        from orchestrator.maintenance_cli import add_maintenance_parser

        add_maintenance_parser(commands)
        _register_face_commands(commands)
    return parser


def _register_face_commands(commands: Any) -> None:
    """Faces (api, bot) contribute their commands through the `pao.commands` entry points, so
    the core never imports them."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="pao.commands"):
        register = entry.load()
        register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(service_commands=argv[:1] != ["catalog"])
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
