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

import codecs
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import yaml

from crosswalk.compiler.diagnostics import ERROR, Diagnostic, Span, format_path

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000
MAX_DEPTH = 64

try:  # the C parser is 10x faster; fall back where libyaml is missing
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _BaseLoader = yaml.SafeLoader

_YAML_TAG = "tag:yaml.org,2002:"
_STR = _YAML_TAG + "str"
_MAP = _YAML_TAG + "map"
_SEQ = _YAML_TAG + "seq"
_MERGE = _YAML_TAG + "merge"
# Our own tag for an untagged plain scalar, resolved later by the YAML 1.2 core
# schema. PyYAML's resolver applies YAML 1.1 rules and forgets whether a tag
# was written, so `!!str 5` and `5` would look alike.
_PLAIN = "tag:crosswalk.dev,2024:plain"
# Explicit tags of the core schema that are accepted, with the type they demand.
_CORE_TAGS = {
    _YAML_TAG + "null": type(None),
    _YAML_TAG + "bool": bool,
    _YAML_TAG + "int": int,
    _YAML_TAG + "float": float,
}


class _Loader(_BaseLoader):
    """Composes nodes like PyYAML, but leaves untagged scalars unresolved."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return super().resolve(kind, value, implicit)


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


class Location(NamedTuple):
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

    def overridden(self, path: tuple) -> bool:
        """Whether an environment's override set the value at `path`: never in
        the document itself (environment views answer for their overrides)."""
        return False


class LoadError(Exception):
    """A file that cannot be read at all (missing, a directory, no permission)."""


def _span(mark) -> Span:
    return Span(mark.line + 1, mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


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
        return int(text, 0)
    if _INT16.match(text):
        return int(text, 0)
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
        self.too_deep = False

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
            # The text was checked before composing; only aliases get here.
            if not self.too_deep:
                self.too_deep = True
                self.error(
                    "CW003",
                    f"aliases nest values deeper than {MAX_DEPTH} levels",
                    _span(node.start_mark),
                    path[:1],
                    "an alias inside a deeply nested value adds the anchor's depth to it",
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

    def check_tag(self, node, expected: str, path: tuple) -> bool:
        if node.tag == expected:
            return True
        self.error(
            "CW011",
            f"unsupported tag '{_short_tag(node.tag)}'",
            _span(node.start_mark),
            path,
            "platform.yaml uses plain YAML values; remove the tag",
        )
        return False

    def scalar(self, node, path: tuple) -> object:
        """The value of a scalar: plain ones by the YAML 1.2 core schema, quoted
        ones and `!!str` as strings, `!!int` and friends only when the text fits."""
        if node.tag == _PLAIN:
            return _resolve_plain(node.value)
        if node.tag in _CORE_TAGS:
            value = _resolve_plain(node.value)
            wanted = _CORE_TAGS[node.tag]
            if wanted is float and type(value) is int:
                return float(value)
            if type(value) is wanted:
                return value
            self.error(
                "CW011",
                f"{node.value!r} is not a valid '{_short_tag(node.tag)}' value",
                _span(node.start_mark),
                path,
                "remove the tag and write the value plainly",
            )
            return None
        self.check_tag(node, _STR, path)
        return node.value

    def mapping(self, node, path: tuple, depth: int) -> dict:
        result: dict = {}
        first_seen: dict[str, Span] = {}
        merged = _Merged()
        for key_node, value_node in node.value:
            key_span = _span(key_node.start_mark)
            if _is_merge_key(key_node):
                self.merge_sources(value_node, key_span, path, depth, merged)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error("CW006", "keys must be plain strings, not collections", key_span, path)
                continue
            errors_before = len(self.diagnostics)
            key = self.scalar(key_node, path)
            if len(self.diagnostics) > errors_before:
                continue
            if not isinstance(key, str):
                self.error(
                    "CW006",
                    f"key '{key_node.value}' is {_KIND_WORDS.get(type(key), 'not a string')},"
                    " not a string",
                    key_span,
                    path,
                    f'quote it: "{key_node.value}"',
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
        # Keys set here win over merged ones, and so do their positions.
        for key, value in merged.data.items():
            if key not in result:
                result[key] = value
                self.locations.update(merged.locations.get(key, {}))
        return result

    def merge_sources(
        self, value_node, key_span: Span, path: tuple, depth: int, merged: _Merged
    ) -> None:
        """`<<: *base` or `<<: [*a, *b]`: earlier sources win, explicit keys win over all.
        Values are built aside with their positions (at the anchor they come from)
        so that a later `<<` or explicit key can still take their place."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                # An alias's node carries its anchor's position; blame the merge.
                self.error(
                    "CW003",
                    "'<<' merges only mappings",
                    key_span,
                    path,
                    "write '<<: *anchor' where the anchor names a mapping",
                )
                continue
            outer, self.locations = self.locations, {}
            try:
                data = self.mapping(source, path, depth + 1)
            finally:
                built, self.locations = self.locations, outer
            by_key: dict[str, dict[tuple, Location]] = {}
            for where, location in built.items():
                by_key.setdefault(where[len(path)], {})[where] = location
            for key, value in data.items():
                if key not in merged.data:
                    merged.data[key] = value
                    merged.locations[key] = by_key.get(key, {})


@dataclass
class _Merged:
    """Values a mapping takes from `<<` merges, with their positions by key."""

    data: dict = field(default_factory=dict)
    locations: dict[str, dict[tuple, Location]] = field(default_factory=dict)


_KIND_WORDS = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number"}


def _is_merge_key(node) -> bool:
    return isinstance(node, yaml.ScalarNode) and (
        node.tag == _MERGE or (node.tag == _PLAIN and node.value == "<<")
    )


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
    """(the key to blame, what it names) when aliases blow the document up, else
    None: the first top-level value that alone passes the limit, or else the
    top-level key at which the running total passes it."""
    sizes = _expanded_sizes(root)
    if sizes[id(root)] <= MAX_EXPANDED_NODES:
        return None
    for key_node, value_node in root.value:
        if sizes[id(value_node)] > MAX_EXPANDED_NODES:
            return key_node, f"'{key_node.value}'"
    total = 1
    for key_node, value_node in root.value:
        total += sizes[id(key_node)] + sizes[id(value_node)]
        if total > MAX_EXPANDED_NODES:
            return key_node, "the document"
    return root, "the document"  # pragma: no cover - the sizes add up to the total


def _first_too_deep(text: str):
    """The parser event of the first value nested deeper than MAX_DEPTH, or None.

    Walks the event stream (libyaml's parser keeps its own stack) before any
    node is composed: composing a deeply nested file recurses in C and crashes
    the interpreter instead of raising RecursionError."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        is_value = isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent))
        if is_value and depth > MAX_DEPTH:
            return event
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


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


def _position_in_text(before: str) -> Span:
    """The line and column (in characters, as YAML marks count them) just after
    `before`, the text that precedes a position."""
    line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
    line = before.count("\n") + before.count("\r") - before.count("\r\n") + 1
    return Span(line, len(before) - line_start + 1)


def _position_of_offset(raw: bytes, offset: int) -> Span:
    """The position of a byte offset; the bytes before it are valid UTF-8."""
    return _position_in_text(raw[:offset].decode("utf-8-sig"))


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
        # utf-8-sig reports offsets into the bytes after the byte order mark.
        offset = exc.start + (len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0)
        return fail(
            "CW002",
            f"byte 0x{raw[offset]:02x} is not valid UTF-8",
            _position_of_offset(raw, offset),
            "save the file as UTF-8",
        )
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        return fail("CW008", "file is empty", Span(1, 1), "run 'crosswalk init' for a starter file")

    try:
        too_deep = _first_too_deep(text)
        node = None if too_deep is not None else yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_diagnostic(exc, text, file)]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        before = text[: exc.position]
        if _BaseLoader is not yaml.SafeLoader:  # libyaml counts bytes, PyYAML characters
            before = text.encode("utf-8")[: exc.position].decode("utf-8", errors="replace")
        character = exc.character
        return fail(
            "CW003",
            f"character U+{character:04X} is not allowed in YAML"
            if isinstance(character, int)
            else "the file holds a character YAML does not allow",
            _position_in_text(before),
            f"remove it, or write it as the escape \\u{character:04X} inside double quotes"
            if isinstance(character, int)
            else "remove it",
        )
    except yaml.YAMLError as exc:  # errors without a mark (rare)
        return fail("CW003", str(exc).splitlines()[0], Span(1, 1))
    if too_deep is not None:
        return fail(
            "CW003",
            f"values nest deeper than {MAX_DEPTH} levels",
            _span(too_deep.start_mark),
            "flatten the structure; platform.yaml needs only a few levels",
        )

    if node is None or (
        isinstance(node, yaml.ScalarNode) and node.tag == _PLAIN and not node.value
    ):
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
        blamed, subject = oversized
        where = _span(blamed.start_mark)
        return fail(
            "CW009",
            f"aliases expand {subject} to more than {MAX_EXPANDED_NODES:,} values",
            where,
            "anchors and aliases that refer to each other multiply; write the values out",
        )
    data = builder.build(node, (), None)
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
    if problem.startswith("found undefined alias") and mark is not None:
        name = re.match(r"\*([^\s,\[\]{}]+)", lines[mark.line][mark.column :] if lines else "")
        if name:
            return Diagnostic(
                ERROR,
                "CW003",
                f"alias '*{name.group(1)}' refers to no anchor",
                span,
                "",
                f"define '&{name.group(1)}' on a value before this alias",
                file,
            )
    context = f" {exc.context}" if exc.context and exc.problem else ""
    help = None
    opened = exc.context_mark
    if exc.context and exc.problem and opened is not None and _span(opened) != span:
        # "while parsing a flow sequence": say where that sequence began.
        what = exc.context.removeprefix("while parsing ").removeprefix("while scanning ")
        help = f"{what} started at line {opened.line + 1}, column {opened.column + 1}"
    elif problem.startswith("mapping values are not allowed"):
        help = "quote a value that contains ': ', or indent a nested key under its parent"
    return Diagnostic(ERROR, "CW003", f"{problem}{context}", span, "", help, file)


def load_document(file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Read and parse one file. Raises LoadError only when the file cannot be read."""
    return parse_document(read_source(file), file)
