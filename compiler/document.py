"""Loading platform.yaml: bytes -> Document (plain data plus source positions).

PyYAML's C parser composes the node tree (every node carries its marks); this
module turns nodes into plain Python data itself, so that it can

* resolve plain scalars by the YAML 1.2 core schema (``no`` stays a string,
  ``0777`` is a decimal, ``1_000`` and ``2024-01-01`` are strings),
* refuse duplicate keys, non-string keys and unknown tags instead of silently
  keeping the last value,
* cap how far aliases expand (a "billion laughs" file stops early),
* remember the line and column of every key and value.

The YAML library is used only here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from crosswalk.compiler.diagnostics import ERROR, Diagnostic, Span, format_path

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000
MAX_DEPTH = 64

try:  # the C parser is 10x faster; fall back where libyaml is missing
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_KNOWN_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:binary",
    _MERGE,
    "tag:yaml.org,2002:value",
}

# YAML 1.2 core schema, for plain (unquoted) scalars.
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?(?:\.inf|\.Inf|\.INF)$")
_NAN = re.compile(r"^(?:\.nan|\.NaN|\.NAN)$")


@dataclass(frozen=True)
class Location:
    """Where a value sits: the span of its key (if it has one) and of the value."""

    key: Span | None
    value: Span


@dataclass
class Document:
    """A loaded platform.yaml: its data and where every part of it was written."""

    file: str
    text: str
    data: object
    locations: dict[tuple, Location] = field(default_factory=dict)

    def span(self, path: tuple, *, key: bool = False) -> Span:
        """The position of the value at `path` (or of its key), falling back to
        the nearest ancestor that exists, so every diagnostic has a place."""
        probe = tuple(path)
        while probe:
            location = self.locations.get(probe)
            if location is not None:
                if key and location.key is not None:
                    return location.key
                return location.value
            probe = probe[:-1]
        root = self.locations.get(())
        return root.value if root else Span(1, 1)


class LoadError(Exception):
    """A file that cannot be read at all (missing, a directory, no permission)."""


def _span(mark) -> Span:
    return Span(mark.line + 1, mark.column + 1)


def _resolve_plain(text: str) -> object:
    if _NULL.match(text):
        return None
    if _TRUE.match(text):
        return True
    if _FALSE.match(text):
        return False
    if _INT10.match(text):
        return int(text, 10)
    if _INT8.match(text):
        return int(text[2:], 8)
    if _INT16.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


class _Builder:
    """Turns a composed node tree into data, recording locations and problems."""

    def __init__(self, file: str):
        self.file = file
        self.locations: dict[tuple, Location] = {}
        self.diagnostics: list[Diagnostic] = []
        self.expanded = 0
        self.too_big = False

    def error(self, code: str, message: str, span: Span, path: tuple = (), help=None):
        self.diagnostics.append(
            Diagnostic(ERROR, code, message, span, format_path(path), help, self.file)
        )

    def build(self, node, path: tuple, key_span: Span | None, depth: int = 0) -> object:
        self.expanded += 1
        if self.expanded > MAX_EXPANDED_NODES:
            if not self.too_big:
                self.too_big = True
                self.error(
                    "CW009",
                    f"aliases expand the document beyond {MAX_EXPANDED_NODES:,} values",
                    _span(node.start_mark),
                    path,
                    "anchors and aliases that refer to each other multiply; write the values out",
                )
            return None
        if depth > MAX_DEPTH:
            self.error(
                "CW003", f"values nest deeper than {MAX_DEPTH} levels", _span(node.start_mark), path
            )
            return None
        self.locations[path] = Location(key_span, _span(node.start_mark))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            self.check_tag(node, _SEQ, path)
            return [
                self.build(item, path + (index,), None, depth + 1)
                for index, item in enumerate(node.value)
            ]
        self.check_tag(node, _MAP, path)
        return self.mapping(node, path, depth)

    def check_tag(self, node, expected: str, path: tuple) -> None:
        if node.tag != expected:
            self.error(
                "CW011",
                f"unsupported tag '{node.tag}'",
                _span(node.start_mark),
                path,
                "platform.yaml uses plain YAML values; remove the tag",
            )

    def scalar(self, node, path: tuple) -> object:
        if node.tag not in _KNOWN_SCALAR_TAGS:
            self.check_tag(node, _STR, path)
            return node.value
        if not node.style:  # plain: None from the Python parser, '' from the C one
            return _resolve_plain(node.value)
        return node.value

    def mapping(self, node, path: tuple, depth: int) -> dict:
        result: dict = {}
        first_seen: dict[str, Span] = {}
        merged: dict = {}
        for key_node, value_node in node.value:
            key_span = _span(key_node.start_mark)
            if key_node.tag == _MERGE:
                merged.update(self.merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error("CW006", "keys must be plain strings, not collections", key_span, path)
                continue
            key = key_node.value if key_node.style else _resolve_plain(key_node.value)
            if not isinstance(key, str):
                self.error(
                    "CW006",
                    f"key {key_node.value!r} is a {type(key).__name__ if key is not None else 'null'},"
                    " not a string",
                    key_span,
                    path,
                    f"quote it: \"{key_node.value}\"",
                )
                continue
            if key in first_seen:
                first = first_seen[key]
                self.error(
                    "CW005",
                    f"duplicate key '{key}'",
                    key_span,
                    path + (key,),
                    f"'{key}' is first set at line {first.line}; keep one",
                )
                continue
            first_seen[key] = key_span
            result[key] = self.build(value_node, path + (key,), key_span, depth + 1)
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def merge_sources(self, value_node, path: tuple, depth: int) -> dict:
        """`<<: *base` or `<<: [*a, *b]`: earlier sources win, explicit keys win over all."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        merged: dict = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.error(
                    "CW003",
                    "'<<' merges only mappings",
                    _span(source.start_mark),
                    path,
                )
                continue
            # Record positions under the merging mapping's own path.
            data = self.mapping(source, path, depth + 1)
            for key, value in data.items():
                merged.setdefault(key, value)
        return merged


class _RecursiveAlias(Exception):
    def __init__(self, node):
        self.node = node


def _expanded_sizes(root) -> dict[int, int]:
    """How many values each node stands for once aliases are expanded, counted
    once per distinct node (aliases share their anchor's node). Raises
    _RecursiveAlias for an anchor that contains an alias to itself."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = (
            node.value
            if isinstance(node, yaml.SequenceNode)
            else [part for pair in node.value for part in pair]
        )
        if children_done:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            open_nodes.discard(id(node))
            continue
        if id(node) in open_nodes:
            raise _RecursiveAlias(node)
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise _RecursiveAlias(child)
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes


def _first_oversized(root):
    """(the top-level key, size) of the first value aliases blow up, or None."""
    sizes = _expanded_sizes(root)
    if sizes[id(root)] <= MAX_EXPANDED_NODES:
        return None
    for key_node, value_node in root.value:
        if sizes[id(value_node)] > MAX_EXPANDED_NODES // 2:
            return key_node, sizes[id(value_node)]
    return None, sizes[id(root)]


def read_source(file: str) -> bytes:
    """Read the raw bytes; a missing or unreadable file is a usage error."""
    try:
        with open(file, "rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise LoadError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{file}: is a directory, not a file") from None
    except OSError as exc:
        raise LoadError(f"{file}: cannot read: {exc.strerror or exc}") from None


def _position_of_offset(raw: bytes, offset: int) -> Span:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return Span(line, column)


def parse_document(raw: bytes, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Bytes -> Document. Problems come back as diagnostics, never as exceptions."""

    def fail(code, message, span, help=None):
        return None, [Diagnostic(ERROR, code, message, span, "", help, file)]

    if len(raw) > MAX_FILE_BYTES:
        return fail(
            "CW001",
            f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
            Span(1, 1),
            "split the platform or remove generated content",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return fail(
            "CW002",
            f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
            _position_of_offset(raw, exc.start),
            "save the file as UTF-8",
        )
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        return fail("CW008", "file is empty", Span(1, 1), "run 'crosswalk init' for a starter file")

    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_diagnostic(exc, text, file)]
    except yaml.YAMLError as exc:  # errors without a mark (rare: reader errors)
        return fail("CW003", str(exc).splitlines()[0], Span(1, 1))
    except RecursionError:
        return fail("CW003", f"values nest deeper than {MAX_DEPTH} levels", Span(1, 1))

    if node is None:
        return fail("CW008", "file is empty", Span(1, 1), "run 'crosswalk init' for a starter file")
    builder = _Builder(file)
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        return fail(
            "CW007",
            f"the document is {kind}; platform.yaml must be a mapping of keys",
            _span(node.start_mark),
            "start with 'apiVersion: crosswalk/v1'",
        )
    try:
        oversized = _first_oversized(node)
    except _RecursiveAlias as exc:
        return fail(
            "CW009",
            "an anchor contains an alias to itself, so it never ends",
            _span(exc.node.start_mark),
            "aliases may only refer to values defined before and outside them",
        )
    if oversized is not None:
        key_node, size = oversized
        where = _span(key_node.start_mark) if key_node is not None else _span(node.start_mark)
        subject = f"'{key_node.value}'" if key_node is not None else "the document"
        return fail(
            "CW009",
            f"aliases expand {subject} to more than {MAX_EXPANDED_NODES:,} values",
            where,
            "anchors and aliases that refer to each other multiply; write the values out",
        )
    try:
        data = builder.build(node, (), None)
    except RecursionError:
        return fail("CW003", f"values nest deeper than {MAX_DEPTH} levels", Span(1, 1))
    if builder.diagnostics:
        return None, builder.diagnostics
    return Document(file, text, data, builder.locations), []


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, text: str, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    span = _span(mark) if mark is not None else Span(1, 1)
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    if "expected a single document" in str(exc):
        return Diagnostic(
            ERROR,
            "CW010",
            "the file holds more than one YAML document",
            span,
            "",
            "platform.yaml is one document; remove the '---' separator",
            file,
        )
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines):
        line = lines[mark.line]
        if "\t" in line[: len(line) - len(line.lstrip(" \t"))] or "'\\t'" in problem:
            column = line.index("\t") + 1 if "\t" in line else span.column
            return Diagnostic(
                ERROR,
                "CW004",
                "tab character used for indentation",
                Span(span.line, column),
                "",
                "YAML indents with spaces only; replace the tab with spaces",
                file,
            )
    context = f" {exc.context}" if exc.context and exc.problem else ""
    return Diagnostic(ERROR, "CW003", f"{problem}{context}", span, "", None, file)


def load_document(file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Read and parse one file. Raises LoadError only when the file cannot be read."""
    return parse_document(read_source(file), file)
