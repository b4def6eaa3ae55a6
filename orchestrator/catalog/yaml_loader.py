"""YAML documents loaded with the C safe loader, with the line/column of every node on demand.

Valid documents, the common case, are loaded once at full speed; the position index (JSON
pointer -> line/column) is built from a second, marked pass only when a problem must be located.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from orchestrator.catalog.issues import Issue
from orchestrator.editor_lines import LineIndex, Position, split_lines

try:
    _CBase: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing; same behaviour, slower
    _CBase = yaml.SafeLoader

MAX_DOCUMENT_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 200_000  # bounds alias expansion ("billion laughs")
_MERGE_TAG = "tag:yaml.org,2002:merge"


def escape_pointer_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def join_pointer(base: str, token: str | int) -> str:
    return f"{base}/{escape_pointer_token(token)}"


def key_text(key: Any) -> str:
    """Mapping keys as JSON sees them: documents are checked against JSON Schemas."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


class _SuspiciousMapping(Exception):
    """A mapping lost keys while loading: a duplicate key, to be located by the marked pass."""


_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Tags whose constructed values are immutable and depend only on the text: cached by value.
_CACHED_SCALAR_TAGS = frozenset(
    {
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    }
)
_CACHE_LIMIT = 50_000
_CACHED_VALUE_LENGTH = 100  # long scalars rarely repeat; do not keep them alive

_ScalarNode = yaml.ScalarNode
_SequenceNode = yaml.SequenceNode
_MappingNode = yaml.MappingNode


class _Base(_CBase):  # type: ignore[misc]
    """The C safe loader with JSON-like scalars: dates stay strings, as JSON Schema expects.

    The C composer calls back into Python for every node (tag resolution, path resolvers), a
    large part of the loading time; the callbacks are kept to a dictionary look-up: catalogs
    repeat the same plain scalars (keys, types, booleans) endlessly, and no path resolvers are
    registered, so collections always get the default tags.
    """

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in _CBase.yaml_implicit_resolvers.items()
    }
    yaml_path_resolvers: ClassVar[dict[Any, Any]] = {}
    _plain_tags: ClassVar[dict[str, str]] = {}

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers: nothing to track while descending."""

    def ascend_resolver(self) -> None:
        """No path resolvers: nothing to track while ascending."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is _ScalarNode:
            if not implicit[0]:  # quoted, or the non-specific tag "!": always a string
                return _STR_TAG
            tag = self._plain_tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= _CACHED_VALUE_LENGTH and len(self._plain_tags) < _CACHE_LIMIT:
                    self._plain_tags[value] = tag
            return tag
        return _SEQ_TAG if kind is _SequenceNode else _MAP_TAG


_scalar_values: dict[tuple[str, str], Any] = {}


class _FastLoader(_Base):
    """Composes in C, then builds plain data in one tight pass; gives up on anything unusual."""

    def fast_data(self, node: yaml.Node) -> Any:
        kind = type(node)
        if kind is _ScalarNode:
            tag = node.tag
            if tag == _STR_TAG:
                return node.value
            if tag in _CACHED_SCALAR_TAGS:
                cache_key = (tag, node.value)
                try:
                    return _scalar_values[cache_key]
                except KeyError:
                    value = self.construct_object(node, deep=True)
                    if (
                        len(node.value) <= _CACHED_VALUE_LENGTH
                        and len(_scalar_values) < _CACHE_LIMIT
                    ):
                        _scalar_values[cache_key] = value
                    return value
            return self.construct_object(node, deep=True)
        if kind is _MappingNode:
            mapping: dict[str, Any] = {}
            fast_data = self.fast_data
            for key_node, value_node in node.value:
                if type(key_node) is not _ScalarNode:
                    raise _SuspiciousMapping
                key_tag = key_node.tag
                if key_tag == _STR_TAG:
                    key = key_node.value
                elif key_tag == _MERGE_TAG:
                    raise _SuspiciousMapping
                else:
                    key = key_text(fast_data(key_node))
                if type(value_node) is _ScalarNode and value_node.tag == _STR_TAG:
                    mapping[key] = value_node.value  # most values: no call needed
                else:
                    mapping[key] = fast_data(value_node)
            if len(mapping) < len(node.value):
                raise _SuspiciousMapping
            return mapping
        if kind is _SequenceNode:
            fast_data = self.fast_data
            return [
                item.value
                if type(item) is _ScalarNode and item.tag == _STR_TAG
                else fast_data(item)
                for item in node.value
            ]
        raise _SuspiciousMapping  # anything unusual: the marked pass decides


@dataclass(slots=True)
class LoadedDocument:
    """A parsed document, its source file and text; positions are 1-based (line, column),
    numbered as editors number lines (``orchestrator.editor_lines``), not as PyYAML does."""

    file: str
    data: Any
    text: str = ""
    _positions: dict[str, Position] | None = None
    _key_positions: dict[str, Position] = field(default_factory=dict)
    _lines: LineIndex | None = None

    @property
    def lines(self) -> LineIndex:
        """Offset -> editor (line, column) for this text, built once on first use."""
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines

    @property
    def positions(self) -> dict[str, Position]:
        if self._positions is None:
            self._positions = {}
            builder = _Builder(_Base(self.text), self)
            try:
                node = builder.loader.get_single_node()
                if node is not None:
                    builder.build(node, "", 0)
            finally:
                builder.loader.dispose()
        return self._positions

    def position(self, pointer: str, *, key: bool = False) -> Position:
        """Position of ``pointer``, or of its nearest ancestor that has one."""
        positions = self.positions
        table = self._key_positions if key else positions
        probe = pointer
        while True:
            if probe in table:
                return table[probe]
            if probe in positions:
                return positions[probe]
            if not probe:
                return (1, 1)
            probe = probe.rsplit("/", 1)[0]

    def issue(self, pointer: str, code: str, message: str, *, key: bool = False) -> Issue:
        line, column = self.position(pointer, key=key)
        return Issue(self.file, line, column, code, message, pointer)


class YamlLoadError(Exception):
    """The text is not a single loadable YAML document; carries located issues."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues


class _Builder:
    """Turns a composed node tree into plain data while recording positions (the marked pass)."""

    def __init__(self, loader: yaml.SafeLoader, doc: LoadedDocument) -> None:
        self.loader = loader
        self.doc = doc
        self.positions: dict[str, Position] = {} if doc._positions is None else doc._positions
        self.duplicates: list[Issue] = []
        self.nodes = 0
        self.lines = doc.lines

    def _mark(self, node: yaml.Node) -> Position:
        return self.lines.mark(node.start_mark)

    def fail(self, node: yaml.Node, message: str) -> YamlLoadError:
        line, column = self._mark(node)
        return YamlLoadError([Issue(self.doc.file, line, column, "yaml-syntax", message)])

    def build(self, node: yaml.Node, pointer: str, depth: int) -> Any:
        self.positions[pointer] = self._mark(node)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(node, f"document expands to over {MAX_NODES} nodes (alias bomb?)")
        if depth > MAX_DEPTH:
            raise self.fail(node, f"document nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            own_keys = [k for k, _ in node.value if k.tag != _MERGE_TAG]
            seen_own: set[Any] = set()
            self.loader.flatten_mapping(node)
            merged = len(node.value) - len(own_keys)
            result: dict[Any, Any] = {}
            for index, (key_node, value_node) in enumerate(node.value):
                key = self.loader.construct_object(key_node, deep=True)
                if key is not None and not isinstance(key, str | int | float | bool):
                    raise self.fail(key_node, "mapping keys must be plain scalars")
                key = key_text(key)
                child = join_pointer(pointer, key)
                if index >= merged:
                    if key in seen_own:
                        line, column = self._mark(key_node)
                        message = f"duplicate key {key!r}: the later value would silently win"
                        self.duplicates.append(
                            Issue(self.doc.file, line, column, "yaml-duplicate-key", message, child)
                        )
                    seen_own.add(key)
                self.doc._key_positions[child] = self._mark(key_node)
                result[key] = self.build(value_node, child, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, join_pointer(pointer, index), depth + 1)
                for index, item in enumerate(node.value)
            ]
        return self.loader.construct_object(node, deep=True)


def _syntax_error(file: str, text: str, exc: yaml.YAMLError) -> YamlLoadError:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return YamlLoadError([Issue(file, 1, 1, "yaml-syntax", str(exc))])
    mark = exc.problem_mark or exc.context_mark
    line, column = LineIndex(text).mark(mark)
    problem = exc.problem or str(exc)
    context = f" ({exc.context})" if exc.context else ""
    source_line = "".join(split_lines(text)[line - 1 : line])
    if "\t" in source_line[:column]:
        problem += "; tab characters cannot indent YAML, use spaces"
    return YamlLoadError([Issue(file, line, column, "yaml-syntax", f"{problem}{context}")])


def _marked_load(text: str, doc: LoadedDocument) -> list[Issue]:
    """The slow, exact pass: data, positions and located duplicate keys."""
    doc._positions = {}
    builder = _Builder(_Base(text), doc)
    try:
        node = builder.loader.get_single_node()
        if node is None:
            raise YamlLoadError([Issue(doc.file, 1, 1, "yaml-syntax", "file is empty")])
        doc.data = builder.build(node, "", 0)
    finally:
        builder.loader.dispose()
    return builder.duplicates


def load_yaml(text: str | bytes, file: str) -> tuple[LoadedDocument, list[Issue]]:
    """Parse one YAML document. Raises YamlLoadError for unusable text.

    Returns the document and non-fatal issues (duplicate keys).
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        message = f"file is larger than {MAX_DOCUMENT_BYTES} bytes"
        raise YamlLoadError([Issue(file, 1, 1, "yaml-syntax", message)])
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"file is not valid UTF-8: {exc.reason} at byte {exc.start}"
            raise YamlLoadError([Issue(file, 1, 1, "yaml-syntax", message)]) from None
    doc = LoadedDocument(file=file, data=None, text=text)
    loader = _FastLoader(text)
    try:
        try:
            if "*" in text:  # aliases: expand in the marked pass, which bounds the expansion
                raise _SuspiciousMapping
            node = loader.get_single_node()
            if node is None:
                raise YamlLoadError([Issue(file, 1, 1, "yaml-syntax", "file is empty")])
            doc.data = loader.fast_data(node)
            return doc, []
        except _SuspiciousMapping:
            return doc, _marked_load(text, doc)
    except yaml.YAMLError as exc:
        raise _syntax_error(file, text, exc) from None
    except RecursionError:
        message = f"document nests deeper than {MAX_DEPTH} levels"
        raise YamlLoadError([Issue(file, 1, 1, "yaml-syntax", message)]) from None
    finally:
        loader.dispose()
