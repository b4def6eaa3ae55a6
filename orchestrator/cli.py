"""The `pao` command line: one entry point, a sub-command per job."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

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
    print(render(report, args.format))
    return EXIT_OK if report.valid else EXIT_INVALID


def build_parser() -> argparse.ArgumentParser:
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
    validate.set_defaults(handler=_catalog_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
