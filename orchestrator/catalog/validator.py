"""Catalog validation: files -> YAML -> schema -> semantics -> cross-item checks.

One bad file never stops the others from being checked, and every problem is located.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from orchestrator.catalog.issues import Issue
from orchestrator.catalog.models import CatalogItem, ServiceRequestFile
from orchestrator.catalog.schema import (
    CATALOG_ITEM_SCHEMA,
    SERVICE_REQUEST_SCHEMA,
    fast_check_for,
    schema_issues,
)
from orchestrator.catalog.semantics import ItemChecker, suggest
from orchestrator.catalog.yaml_loader import (
    LoadedDocument,
    YamlLoadError,
    join_pointer,
    load_yaml,
)
from orchestrator.storable import unstorable

YAML_SUFFIXES = (".yaml", ".yml")


class _Checked:
    """A document that passed every check of its own. Checked in a worker process, it arrives
    as its text only: the document (data with the schema's defaults, positions) and the typed
    model are rebuilt from the text on first use, exactly as the worker had them."""

    __slots__ = ("_doc", "_text", "file")
    _schema: str = CATALOG_ITEM_SCHEMA

    def __init__(self, file: str, doc: LoadedDocument | None, text: str) -> None:
        self.file = file
        self._doc = doc
        self._text = text

    @property
    def doc(self) -> LoadedDocument:
        if self._doc is None:
            doc, _ = load_yaml(self._text, self.file)
            fast_check_for(self._schema)(doc.data)  # fills in the schema's defaults, as before
            self._doc = doc
        return self._doc


class ValidatedItem(_Checked):
    """A valid catalog item; ``item`` (the typed model) is built on first use."""

    __slots__ = ("_item", "id", "replacement", "status")

    def __init__(
        self,
        result: DocumentResult,
        *,
        item: CatalogItem | None = None,
    ) -> None:
        super().__init__(result.name, result.doc, result.text)
        self.id = result.key
        self.status = result.status
        self.replacement = result.replacement
        self._item = item

    @property
    def item(self) -> CatalogItem:
        if self._item is None:
            self._item = CatalogItem.model_validate(self.doc.data)
        return self._item


class ValidatedRequest(_Checked):
    """A valid request file; ``request`` (the typed model) is built on first use."""

    __slots__ = ("_request", "catalog_item")
    _schema = SERVICE_REQUEST_SCHEMA

    def __init__(
        self, result: DocumentResult, *, request: ServiceRequestFile | None = None
    ) -> None:
        super().__init__(result.name, result.doc, result.text)
        self.catalog_item = result.key
        self._request = request

    @property
    def request(self) -> ServiceRequestFile:
        if self._request is None:
            self._request = ServiceRequestFile.model_validate(self.doc.data)
        return self._request


@dataclass(slots=True)
class CatalogReport:
    """The outcome of validating a set of files; the JSON form is a documented contract."""

    files: int = 0
    items: dict[str, ValidatedItem] = field(default_factory=dict)
    requests: list[ValidatedRequest] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors

    def invalid_files(self) -> set[str]:
        return {i.file for i in self.errors}

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "summary": {
                "files": self.files,
                "items": len(self.items),
                "requests": len(self.requests),
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "issues": [i.to_dict() for i in sorted(self.issues)],
        }


def discover(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[str]]:
    """YAML files under the given paths (directories recursively, hidden ones skipped).

    Returns the files and the paths that do not exist.
    """
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    Path(root, name)
                    for name in sorted(files)
                    if name.endswith(YAML_SUFFIXES) and not name.startswith(".")
                )
        elif path.is_file():
            found.append(path)
        else:
            missing.append(str(raw))
    return found, missing


@dataclass(slots=True)
class DocumentResult:
    """What checking one document alone found; picklable, so files can be checked in parallel.

    For a valid document, ``key`` is the item's id (or the item a request names) and
    ``status``/``replacement`` its lifecycle: all the cross-file checks need. Workers send
    results back without ``doc`` and ``model`` (pickling them would cost more than checking),
    which the parent rebuilds from ``text`` only when asked for (see ``ValidatedItem``).
    """

    name: str
    issues: list[Issue]
    doc: LoadedDocument | None = None
    kind: str = ""  # "item" | "request" when the document passed every single-file check
    model: CatalogItem | ServiceRequestFile | None = None
    key: str = ""
    status: str = ""
    replacement: str | None = None
    text: str = ""


def check_document(name: str, text: str | bytes) -> DocumentResult:
    """YAML, schema and semantic checks of one document, independent of the rest of the catalog."""
    try:
        doc, issues = load_yaml(text, name)
    except YamlLoadError as exc:
        return DocumentResult(name, exc.issues)
    if issues:
        return DocumentResult(name, issues)  # a document whose keys collide is ambiguous
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__
        message = f"expected a mapping at the top level, got {kind}"
        return DocumentResult(name, [doc.issue("", "not-a-mapping", message)])
    if doc.data.get("kind") == "ServiceRequest":
        found = schema_issues(doc, SERVICE_REQUEST_SCHEMA) or storable_issues(doc)
        if found:
            return DocumentResult(name, found, doc)
        try:
            request = ServiceRequestFile.model_validate(doc.data)
        except PydanticValidationError as exc:  # passed the schema, not the typed model
            return DocumentResult(name, model_issues(doc, exc), doc)
        return DocumentResult(
            name, [], doc, "request", request, request.catalog_item, text=doc.text
        )
    found = schema_issues(doc, CATALOG_ITEM_SCHEMA) or storable_issues(doc)
    found = found or ItemChecker(doc).run()
    if found:
        return DocumentResult(name, found, doc)
    try:
        item = CatalogItem.model_validate(doc.data)
    except PydanticValidationError as exc:  # passed the schema, not the typed model
        return DocumentResult(name, model_issues(doc, exc), doc)
    lifecycle = item.lifecycle
    return DocumentResult(
        name, [], doc, "item", item, item.id, lifecycle.status, lifecycle.replacement, doc.text
    )


def storable_issues(doc: LoadedDocument) -> list[Issue]:
    """Values the database cannot store (NUL, lone surrogates, NaN, ``!!binary`` bytes...),
    located; the schema does not see them (a NUL is a valid JSON string character)."""
    return [
        doc.issue(found.pointer, "unstorable", found.message, key=found.key)
        for found in unstorable(doc.data)
    ]


def model_issues(doc: LoadedDocument, exc: PydanticValidationError) -> list[Issue]:
    """A typed model's refusal as located issues, one per error: the pointer from the error's
    location, the message without the input value (it may be a secret)."""
    issues = []
    for error in exc.errors(include_url=False, include_input=False):
        pointer = ""
        for token in error["loc"]:
            pointer = join_pointer(pointer, token)
        issues.append(doc.issue(pointer, "model", f"does not fit the model: {error['msg']}"))
    return sorted(issues) or [doc.issue("", "model", "does not fit the model")]


def _check_file(path: Path, name: str) -> DocumentResult:
    try:
        text = path.read_bytes()
    except OSError as exc:
        return DocumentResult(
            name, [Issue(name, 1, 1, "unreadable", f"cannot read file: {exc.strerror}")]
        )
    return check_document(name, text)


def _check_files(
    paths: list[Path], root: Path | None, *, slim: bool = False
) -> list[DocumentResult]:
    """Check files in order; ``slim`` (in a worker) keeps only what the parent needs."""
    names = _DisplayNames(root)
    results = []
    for path in paths:
        result = _check_file(path, names(path))
        if slim:
            result.doc = result.model = None
        results.append(result)
    return results


def _check_files_slim(batch: tuple[list[Path], Path | None]) -> list[DocumentResult]:
    return _check_files(batch[0], batch[1], slim=True)


def _worker_init() -> None:
    # Everything inherited from the parent lives as long as the worker: keep the collector from
    # walking (and copying, page by page) it again and again. Checking a document allocates
    # thousands of short-lived containers (freed by reference counting, no cycles); collecting
    # every 700 allocations costs ~5% of a worker's time for nothing. Workers only: in-process
    # callers keep their own collector settings.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


PARALLEL_THRESHOLD = 200  # below this, starting worker processes costs more than it saves


class CatalogValidator:
    """Validates documents; compiled schemas are shared, so one instance serves many runs."""

    def validate_files(
        self, files: Iterable[Path], *, display_root: Path | None = None, jobs: int = 1
    ) -> CatalogReport:
        """Validate files; ``jobs`` > 1 checks them in that many forked processes (CLI only)."""
        paths = list(files)
        if jobs > 1 and len(paths) >= PARALLEL_THRESHOLD:
            fast_check_for(CATALOG_ITEM_SCHEMA)  # compile once, before forking
            fast_check_for(SERVICE_REQUEST_SCHEMA)
            size = max(1, len(paths) // (jobs * 16))  # small batches: workers finish together
            batches = [(paths[i : i + size], display_root) for i in range(0, len(paths), size)]
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(
                max_workers=jobs, mp_context=context, initializer=_worker_init
            ) as pool:
                results = [r for batch in pool.map(_check_files_slim, batches) for r in batch]
        else:
            results = _check_files(paths, display_root)
        return self.assemble(results)

    def validate_texts(self, texts: Iterable[tuple[str, str | bytes]]) -> CatalogReport:
        """Validate in-memory documents given as (file name, text) pairs."""
        return self.assemble([check_document(name, text) for name, text in texts])

    def assemble(self, results: Iterable[DocumentResult]) -> CatalogReport:
        """Combine per-document results, in order, and run the checks that need them all."""
        report = CatalogReport()
        for result in results:
            report.files += 1
            report.issues.extend(result.issues)
            if result.kind == "request":
                request = result.model if isinstance(result.model, ServiceRequestFile) else None
                report.requests.append(ValidatedRequest(result, request=request))
            elif result.kind == "item":
                self._add_item(report, result)
        self.check_catalog(report)
        return report

    def _add_item(self, report: CatalogReport, result: DocumentResult) -> None:
        item = result.model if isinstance(result.model, CatalogItem) else None
        entry = ValidatedItem(result, item=item)
        first = report.items.get(entry.id)
        if first is not None:
            line = first.doc.position("/metadata/id")[0]
            report.issues.append(
                entry.doc.issue(
                    "/metadata/id",
                    "duplicate-item-id",
                    f"item id '{entry.id}' is already defined in {first.doc.file}:{line}",
                )
            )
            return
        report.items[entry.id] = entry

    def check_catalog(self, report: CatalogReport) -> None:
        """Checks that need every item: replacements of deprecated items, request targets."""
        for entry in report.items.values():
            replacement = entry.replacement
            if replacement is None:
                continue
            pointer = "/lifecycle/replacement"
            if replacement == entry.id:
                report.issues.append(
                    entry.doc.issue(pointer, "self-replacement", "an item cannot replace itself")
                )
            elif replacement not in report.items:
                report.issues.append(
                    entry.doc.issue(
                        pointer,
                        "missing-replacement",
                        f"replacement '{replacement}' is not an item of this catalog"
                        f"{suggest(replacement, report.items)}",
                    )
                )
            elif report.items[replacement].status != "active":
                status = report.items[replacement].status
                report.issues.append(
                    Issue(
                        entry.doc.file,
                        *entry.doc.position(pointer),
                        "replacement-not-active",
                        f"replacement '{replacement}' is itself {status}",
                        pointer,
                        "warning",
                    )
                )
        if not report.items:
            return
        for request in report.requests:
            target = request.catalog_item
            if target not in report.items:
                report.issues.append(
                    request.doc.issue(
                        "/catalogItem",
                        "unknown-catalog-item",
                        f"no catalog item '{target}'{suggest(target, report.items)}",
                    )
                )


class _DisplayNames:
    """File names as reports show them: relative to the display root when inside it.

    Same as ``path.resolve().relative_to(root.resolve())``, which costs a system call per path
    component; files of a directory share its resolution, so only the file itself is checked
    (it may be a symlink). One instance per run: directories may change between runs.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root.resolve() if root is not None else None
        self.directories: dict[Path, Path] = {}

    def __call__(self, path: Path) -> str:
        if self.root is not None:
            try:
                return self.resolve(path).relative_to(self.root).as_posix()
            except ValueError:
                pass
        return path.as_posix()

    def resolve(self, path: Path) -> Path:
        if path.name in ("", ".", "..") or os.path.islink(path):
            return path.resolve()
        parent = path.parent
        directory = self.directories.get(parent)
        if directory is None:
            directory = self.directories[parent] = parent.resolve()
        return directory / path.name
