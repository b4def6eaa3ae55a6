"""Build the AWS Lambda deployment artifact (``pao package lambda --out DIR``).

1. ``pip wheel --no-deps`` builds PAO's own wheel from the source tree;
2. ``pip install --target DIR --platform manylinux2014_x86_64 --implementation cp
   --python-version 3.11 --only-binary=:all: -c constraints.txt 'pao[lambda]'`` installs it
   with every dependency as wheels for Lambda's Linux runtime (psycopg's binary, pydantic-core,
   …), whatever machine builds it, pinned exactly as CI was green;
3. the tree is precompiled (``__pycache__``, checked by hash, not by the files' times), when the
   building Python is the runtime's version: Lambda's code directory is read-only, so modules not
   compiled here would be compiled again at every cold start.

DIR is what the template's ``CodeUri`` points to (``sam build``/``sam deploy`` zip it), and
``--zip FILE`` writes the zip as well.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

DEFAULT_PYTHON = "3.11"  # deploy/template.yaml's Runtime: python3.11
DEFAULT_PLATFORM = "manylinux2014_x86_64"  # the template's Architectures: x86_64
SOURCE_ROOT = Path(__file__).resolve().parents[1]
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # Lambda's limit on a function's unzipped code


class PackageError(RuntimeError):
    """The artifact could not be built; the message says which step failed."""


@dataclass(frozen=True, slots=True)
class PackageReport:
    directory: Path
    size_bytes: int
    files: int
    zip_path: Path | None = None
    zip_bytes: int | None = None

    def describe(self) -> str:
        line = f"Lambda artifact: {self.directory} ({_mib(self.size_bytes)} unzipped, {self.files} files"
        if self.zip_path is not None and self.zip_bytes is not None:
            line += f"; {self.zip_path}: {_mib(self.zip_bytes)}"
        line += ")"
        if self.size_bytes > UNZIPPED_LIMIT_BYTES:
            line += f"; over Lambda's {_mib(UNZIPPED_LIMIT_BYTES)} limit: use a container image"
        return line


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _pip(args: list[str], what: str, log: TextIO | None) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise PackageError(f"{what} failed (pip exit {done.returncode}):\n" + "\n".join(detail))
    if log is not None:
        print(f"pao package lambda: {what}: done", file=log)


def build_lambda_package(
    out: Path,
    *,
    python_version: str = DEFAULT_PYTHON,
    platform: str = DEFAULT_PLATFORM,
    constraints: Path | None = None,
    source: Path = SOURCE_ROOT,
    zip_to: Path | None = None,
    log: TextIO | None = None,
) -> PackageReport:
    """Build the artifact into ``out`` (emptied first); its size. See the module docstring."""
    if not (source / "pyproject.toml").is_file():
        raise PackageError(f"{source} is not PAO's source tree (no pyproject.toml)")
    pins = constraints if constraints is not None else source / "constraints.txt"
    if not pins.is_file():
        raise PackageError(f"no constraints file at {pins} (give one with --constraints)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="pao-wheel-") as wheels:
        _pip(
            ["wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, str(source)],
            "building PAO's wheel",
            log,
        )
        built = sorted(Path(wheels).glob("pao-*.whl"))
        if not built:
            raise PackageError("pip built no wheel of PAO")
        _pip(
            [
                "install",
                "--quiet",
                "--target",
                str(out),
                "--platform",
                platform,
                "--implementation",
                "cp",
                "--python-version",
                python_version,
                "--only-binary=:all:",
                "--constraint",
                str(pins),
                f"{built[0]}[lambda]",
            ],
            f"installing for {platform}, Python {python_version}",
            log,
        )
    if python_version == f"{sys.version_info.major}.{sys.version_info.minor}":
        compileall.compile_dir(
            out,
            quiet=1,
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    elif log is not None:
        print(
            f"pao package lambda: not precompiled (this is Python "
            f"{sys.version_info.major}.{sys.version_info.minor}, the runtime {python_version})",
            file=log,
        )
    size, files = _size(out)
    zip_bytes = None
    if zip_to is not None:
        zip_bytes = _zip(out, zip_to)
    return PackageReport(out, size, files, zip_to, zip_bytes)


def _size(directory: Path) -> tuple[int, int]:
    total = files = 0
    for root, _, names in os.walk(directory):
        for name in names:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_size
                files += 1
    return total, files


def _zip(directory: Path, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for root, _, names in sorted(os.walk(directory)):
            for name in sorted(names):
                path = Path(root) / name
                archive.write(path, path.relative_to(directory))
    return target.stat().st_size
