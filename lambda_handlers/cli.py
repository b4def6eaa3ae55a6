"""``pao package lambda``: registered through the ``pao.commands`` entry point."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lambda_handlers.package import (
    DEFAULT_PLATFORM,
    DEFAULT_PYTHON,
    PackageError,
    build_lambda_package,
)


def register(commands: Any) -> None:
    package = commands.add_parser(
        "package",
        help="build deployment artifacts (the AWS Lambda functions)",
        description="Build PAO's deployment artifacts.",
    )
    kinds = package.add_subparsers(dest="package_command", required=True, metavar="KIND")
    build = kinds.add_parser(
        "lambda",
        help="build the AWS Lambda artifact (deploy/template.yaml's CodeUri)",
        description=(
            "Install PAO with its `lambda` extra and every dependency, as manylinux wheels for "
            "Lambda's Linux runtime and pinned by constraints.txt, into DIR (emptied first), "
            "precompiled, and report its size. Needs pip and access to the package index."
        ),
    )
    build.add_argument("--out", required=True, type=Path, metavar="DIR", help="where to build")
    build.add_argument(
        "--python-version",
        default=DEFAULT_PYTHON,
        help=f"the Lambda runtime's Python (default {DEFAULT_PYTHON})",
    )
    build.add_argument(
        "--platform",
        default=DEFAULT_PLATFORM,
        help=f"wheel platform tag (default {DEFAULT_PLATFORM}; manylinux2014_aarch64 for arm64)",
    )
    build.add_argument(
        "--constraints",
        type=Path,
        help="pins to install with (default: constraints.txt of the source tree)",
    )
    build.add_argument("--zip", type=Path, metavar="FILE", help="also write DIR zipped to FILE")
    build.set_defaults(handler=_package_lambda)


def _package_lambda(args: argparse.Namespace) -> int:
    try:
        report = build_lambda_package(
            args.out,
            python_version=args.python_version,
            platform=args.platform,
            constraints=args.constraints,
            zip_to=args.zip,
            log=sys.stderr,
        )
    except PackageError as exc:
        print(f"pao package lambda: {exc}", file=sys.stderr)
        return 1
    print(report.describe())
    return 0
