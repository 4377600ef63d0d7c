"""Loading platform.yaml: bytes -> Document (plain data plus source positions).

PyYAML's C parser (libyaml) reads the text into events, once; this module
builds plain Python data from them itself, so that it can

* resolve plain scalars by the YAML 1.2 core schema (``no`` stays a string,
  ``0777`` is a decimal, ``1_000`` and ``2024-01-01`` are strings),
* refuse duplicate keys, non-string keys and unknown tags instead of silently
  keeping the last value,
* cap how far aliases expand (a "billion laughs" file stops early),
* read U+0085, U+2028 and U+2029 as YAML 1.2 does (as text, not as line
  breaks), so values keep them and positions are the ones editors show,
* remember the line and column of every key and value,
* refuse numbers too long to read (Python will not turn an integer of more
  than 4,300 digits into text, and nothing in a platform needs a hundred).

The YAML library is used only here.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import yaml

from crosswalk.compiler.diagnostics import ERROR, Diagnostic, Span, format_path, source_lines

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 100

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


# YAML 1.2 core schema, for plain (unquoted) scalars.
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


# tuple.__new__ makes a named tuple without the Python-level __new__ call;
# the builder makes two for every value of the file.
_new = tuple.__new__


def _span(mark) -> Span:
    return _new(Span, (mark.line + 1, mark.column + 1))


# YAML 1.1 (libyaml's) also breaks lines at NEL, LINE SEPARATOR and PARAGRAPH
# SEPARATOR; YAML 1.2 and editors read them as ordinary characters.
_YAML11_BREAKS = ("\x85", "\u2028", "\u2029")


class _StandIns:
    """libyaml reads each U+0085, U+2028 or U+2029 of the text as a stand-in
    from the Private Use Area (one character for one, so every position
    stays), and the data gets the characters back: lines are counted as
    editors count them and values keep what was written, as YAML 1.2 says."""

    def __init__(self, text: str):
        present = [c for c in _YAML11_BREAKS if c in text]
        free = (chr(code) for code in range(0xE000, 0xF900) if chr(code) not in text)
        pairs = dict(zip(present, free))
        self.active = bool(pairs)
        self.text = text.translate(str.maketrans(pairs)) if pairs else text
        self.back = str.maketrans({stand_in: c for c, stand_in in pairs.items()})

    def restore_diagnostic(self, diagnostic: Diagnostic) -> Diagnostic:
        if not self.active:
            return diagnostic
        return replace(
            diagnostic,
            message=self.restore(diagnostic.message),
            help=self.restore(diagnostic.help),
            path=self.restore(diagnostic.path),
        )

    def restore(self, value: object) -> object:
        if isinstance(value, str):
            return value.translate(self.back)
        if isinstance(value, dict):
            return {self.restore(k): self.restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.restore(item) for item in value]
        return value


def _within(span: Span, text: str) -> Span:
    """`span`, or just after the last character when it lies past the last
    line (libyaml reports the end of the file on the line after a final break)."""
    lines = source_lines(text)
    if lines and span.line > len(lines):
        return Span(len(lines), len(lines[-1]) + 1)
    return span


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


# Plain words the YAML 1.2 core schema reads as null or a boolean.
_WORDS = {word: None for word in ("~", "null", "Null", "NULL")}
_WORDS |= {word: True for word in ("true", "True", "TRUE")}
_WORDS |= {word: False for word in ("false", "False", "FALSE")}
# The first characters a number can start with; other plain scalars are words or text.
_NUMBER_STARTS = frozenset("0123456789+-.")


class NumberTooLong(Exception):
    """A plain scalar reads as a number of more than MAX_NUMBER_CHARS characters."""


def _resolve_plain(text: str) -> object:
    if not text:
        return None
    if text[0] not in _NUMBER_STARTS:
        return _WORDS.get(text, text)
    if len(text) > MAX_NUMBER_CHARS and _looks_like_number(text):
        raise NumberTooLong(text)
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


def _looks_like_number(text: str) -> bool:
    return any(pattern.match(text) for pattern in (_INT10, _INT8, _INT16, _FLOAT))


_SCALAR, _ALIAS = yaml.ScalarEvent, yaml.AliasEvent
_MAPPING_START, _SEQUENCE_START = yaml.MappingStartEvent, yaml.SequenceStartEvent
_MAPPING_END, _SEQUENCE_END = yaml.MappingEndEvent, yaml.SequenceEndEvent


class _Events:
    """The parser's events for one file, read once, with what the builder needs
    to walk them as a tree: where each collection ends, which node each alias
    names, and how many values the document holds once aliases are expanded.

    Reading stops at the first value nested deeper than MAX_DEPTH (so nothing
    ever recurses that deep) and at the first syntax error (raised). Problems
    a composer would report are kept, the first of each kind: `problem` (an
    undefined alias, a duplicate anchor, a second document) and `recursive`
    (an anchor that contains an alias to itself, never expanded).
    """

    def __init__(self, text: str):
        self.events: list = []
        self.ends: list[int] = []  # index of the end event of each collection start
        self.targets: dict[int, int] = {}  # alias event index -> its anchored node
        self.root: int | None = None  # index of the first document's root node
        self.too_deep = None  # the first event nested deeper than MAX_DEPTH
        self.problem: yaml.YAMLError | None = None
        self.recursive = None  # the mark of an anchor that contains an alias to itself
        self.size = 0  # values in the first document, aliases expanded
        self.root_children: list[tuple[int, int]] = []  # (node, size) of the root's parts
        self._read(text)

    def _read(self, text: str) -> None:
        events, ends, targets = self.events, self.ends, self.targets
        root_children = self.root_children
        anchors: dict[str, int] = {}
        sizes: dict[int, int] = {}  # expanded size of each anchored node
        open_nodes: list[int] = []  # collections started and not yet ended
        counts: list[int] = []  # their expanded sizes so far
        documents = 0
        # One pass, one branch per kind of event: this loop sees every value.
        for event in yaml.parse(text, Loader=_BaseLoader):
            index = len(events)
            events.append(event)
            ends.append(index)
            kind = type(event)
            if kind is _SCALAR:
                if len(open_nodes) > MAX_DEPTH:
                    self.too_deep = event
                    return
                if event.anchor is not None:
                    self._anchor(anchors, event, index)
                    sizes[index] = 1
                node, size = index, 1
            elif kind is _MAPPING_START or kind is _SEQUENCE_START:
                if len(open_nodes) > MAX_DEPTH:
                    self.too_deep = event
                    return
                if event.anchor is not None:
                    self._anchor(anchors, event, index)
                open_nodes.append(index)
                counts.append(1)
                continue
            elif kind is _MAPPING_END or kind is _SEQUENCE_END:
                node, size = open_nodes.pop(), counts.pop()
                ends[node] = index
                if events[node].anchor is not None:
                    sizes[node] = size
            elif kind is _ALIAS:
                if len(open_nodes) > MAX_DEPTH:
                    self.too_deep = event
                    return
                target = anchors.get(event.anchor)
                node, size = index, 0
                if target is None:
                    self._problem(None, None, "found undefined alias", event.start_mark)
                elif target in open_nodes:
                    self.recursive = self.recursive or events[target].start_mark
                else:
                    targets[index] = target
                    size = sizes[target]
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents == 2:
                    self._problem(
                        "expected a single document in the stream",
                        events[1].start_mark,
                        "but found another document",
                        event.start_mark,
                    )
                continue
            else:
                continue  # the stream's start and end, a document's end
            # A value is read: it counts toward the collection that holds it.
            if counts:
                counts[-1] += size
                if len(open_nodes) == 1:
                    root_children.append((node, size))
            elif documents == 1:
                self.root, self.size = node, size

    def _anchor(self, anchors: dict[str, int], event, index: int) -> None:
        if event.anchor in anchors:
            self._problem(
                "found duplicate anchor; first occurrence",
                self.events[anchors[event.anchor]].start_mark,
                "second occurrence",
                event.start_mark,
            )
        else:
            anchors[event.anchor] = index

    def _problem(self, context, context_mark, problem, problem_mark) -> None:
        if self.problem is None:
            self.problem = yaml.composer.ComposerError(context, context_mark, problem, problem_mark)

    def node(self, index: int) -> int:
        """The node an event stands for: an alias stands for its anchor's."""
        return self.targets.get(index, index) if type(self.events[index]) is _ALIAS else index

    def children(self, index: int) -> list[int]:
        """The events that start each item of a collection (keys and values alternate)."""
        ends, end = self.ends, self.ends[index]
        found, at = [], index + 1
        while at < end:
            found.append(at)
            at = ends[at] + 1
        return found

    def first_oversized(self):
        """(the event to blame, what it names) when aliases blow the document up,
        else None: the first top-level value that alone passes the limit, or else
        the top-level key at which the running total passes it."""
        if self.size <= MAX_EXPANDED_NODES:
            return None
        parts = self.root_children
        pairs = list(zip(parts[::2], parts[1::2]))
        for (key, _), (_, value_size) in pairs:
            if value_size > MAX_EXPANDED_NODES:
                key_event = self.events[self.node(key)]
                return key_event, f"'{key_event.value}'"
        total = 1
        for (key, key_size), (_, value_size) in pairs:
            total += key_size + value_size
            if total > MAX_EXPANDED_NODES:
                return self.events[self.node(key)], "the document"
        return self.events[self.root], "the document"  # pragma: no cover - sizes add up


def _tag(event) -> str:
    """The event's tag as a composer resolves it: untagged plain scalars get
    our own tag (resolved later by the YAML 1.2 core schema)."""
    tag = event.tag
    if tag is None or tag == "!":
        kind = type(event)
        if kind is _SCALAR:
            return _PLAIN if event.implicit[0] else _STR
        return _SEQ if kind is _SEQUENCE_START else _MAP
    return tag


class _Builder:
    """Turns the events into data, recording locations and problems."""

    def __init__(self, file: str, stream: _Events):
        self.file = file
        self.stream = stream
        self.events = stream.events
        self.locations: dict[tuple, Location] = {}
        self.diagnostics: list[Diagnostic] = []
        self.expanded = 0
        self.too_big = False
        self.too_deep = False

    def error(self, code: str, message: str, span: Span, path: tuple = (), help=None):
        self.diagnostics.append(
            Diagnostic(ERROR, code, message, span, format_path(path), help, self.file)
        )

    def build(self, index: int, path: tuple, key_span: Span | None, depth: int = 0) -> object:
        event = self.events[index]
        if type(event) is _ALIAS:
            index = self.stream.targets[index]
            event = self.events[index]
        self.expanded += 1
        if self.expanded > MAX_EXPANDED_NODES:
            if not self.too_big:
                self.too_big = True
                self.error(
                    "CW009",
                    f"aliases expand the document beyond {MAX_EXPANDED_NODES:,} values",
                    _span(event.start_mark),
                    path,
                    "anchors and aliases that refer to each other multiply; write the values out",
                )
            return None
        if depth > MAX_DEPTH:
            # The text was checked while reading; only aliases get here.
            if not self.too_deep:
                self.too_deep = True
                self.error(
                    "CW003",
                    f"aliases nest values deeper than {MAX_DEPTH} levels",
                    _span(event.start_mark),
                    path[:1],
                    "an alias inside a deeply nested value adds the anchor's depth to it",
                )
            return None
        self.locations[path] = _new(Location, (key_span, _span(event.start_mark)))
        kind = type(event)
        if kind is _SCALAR:
            if event.tag is not None or not event.implicit[0]:
                return self.scalar(event, path)
            try:  # most values: plain, no tag
                return _resolve_plain(event.value)
            except NumberTooLong:
                return self.number_too_long(event, path)
        if kind is _SEQUENCE_START:
            self.check_tag(event, _SEQ, path)
            return [
                self.build(item, path + (number,), None, depth + 1)
                for number, item in enumerate(self.stream.children(index))
            ]
        self.check_tag(event, _MAP, path)
        return self.mapping(index, path, depth)

    def check_tag(self, event, expected: str, path: tuple) -> bool:
        tag = _tag(event)
        if tag == expected:
            return True
        self.error(
            "CW011",
            f"unsupported tag '{_short_tag(tag)}'",
            _span(event.start_mark),
            path,
            "platform.yaml uses plain YAML values; remove the tag",
        )
        return False

    def number_too_long(self, event, path: tuple) -> None:
        self.error(
            "CW012",
            f"the number is {len(event.value):,} characters long; crosswalk reads numbers of at"
            f" most {MAX_NUMBER_CHARS}",
            _span(event.start_mark),
            path,
            "platform.yaml's numbers are counts and sizes; quote the value if it is text",
        )

    def scalar(self, event, path: tuple) -> object:
        """The value of a scalar: plain ones by the YAML 1.2 core schema, quoted
        ones and `!!str` as strings, `!!int` and friends only when the text fits."""
        if event.tag is None and not event.implicit[0]:
            return event.value  # quoted, no tag
        tag = _tag(event)
        try:
            value = _resolve_plain(event.value) if tag == _PLAIN or tag in _CORE_TAGS else None
        except NumberTooLong:
            return self.number_too_long(event, path)
        if tag == _PLAIN:
            return value
        if tag in _CORE_TAGS:
            wanted = _CORE_TAGS[tag]
            if wanted is float and type(value) is int:
                return float(value)
            if type(value) is wanted:
                return value
            self.error(
                "CW011",
                f"{event.value!r} is not a valid '{_short_tag(tag)}' value",
                _span(event.start_mark),
                path,
                "remove the tag and write the value plainly",
            )
            return None
        self.check_tag(event, _STR, path)
        return event.value

    def mapping(self, index: int, path: tuple, depth: int) -> dict:
        result: dict = {}
        first_seen: dict[str, Span] = {}
        merged = None  # made at the first `<<`
        events = self.events
        parts = self.stream.children(index)
        for key_index, value_index in zip(parts[::2], parts[1::2]):
            key_event = events[key_index]
            if type(key_event) is _ALIAS:
                key_event = events[self.stream.targets[key_index]]
            key_span = _span(key_event.start_mark)
            if type(key_event) is _SCALAR and key_event.tag is None and key_event.value != "<<":
                # Most keys: plain or quoted text, no tag.
                try:
                    key = (
                        _resolve_plain(key_event.value)
                        if key_event.implicit[0]
                        else key_event.value
                    )
                except NumberTooLong:
                    self.number_too_long(key_event, path)
                    continue
            elif _is_merge_key(key_event):
                merged = merged or _Merged()
                self.merge_sources(value_index, key_span, path, depth, merged)
                continue
            elif type(key_event) is not _SCALAR:
                self.error("CW006", "keys must be plain strings, not collections", key_span, path)
                continue
            else:
                errors_before = len(self.diagnostics)
                key = self.scalar(key_event, path)
                if len(self.diagnostics) > errors_before:
                    continue
            if not isinstance(key, str):
                self.error(
                    "CW006",
                    f"key '{key_event.value}' is {_KIND_WORDS.get(type(key), 'not a string')},"
                    " not a string",
                    key_span,
                    path,
                    f'quote it: "{key_event.value}"',
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
            result[key] = self.build(value_index, path + (key,), key_span, depth + 1)
        if merged is None:
            return result
        # Keys set here win over merged ones, and so do their positions.
        for key, value in merged.data.items():
            if key not in result:
                result[key] = value
                self.locations.update(merged.locations.get(key, {}))
        return result

    def merge_sources(
        self, value_index: int, key_span: Span, path: tuple, depth: int, merged: _Merged
    ) -> None:
        """`<<: *base` or `<<: [*a, *b]`: earlier sources win, explicit keys win over all.
        Values are built aside with their positions (at the anchor they come from)
        so that a later `<<` or explicit key can still take their place."""
        value = self.stream.node(value_index)
        if type(self.events[value]) is _SEQUENCE_START:
            sources = [self.stream.node(item) for item in self.stream.children(value)]
        else:
            sources = [value]
        for source in sources:
            if type(self.events[source]) is not _MAPPING_START:
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


def _is_merge_key(event) -> bool:
    if type(event) is not _SCALAR:
        return False
    tag = _tag(event)
    return tag == _MERGE or (tag == _PLAIN and event.value == "<<")


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

    stand_ins = _StandIns(text)
    try:
        stream = _Events(stand_ins.text)
    except yaml.MarkedYAMLError as exc:
        return None, [stand_ins.restore_diagnostic(_syntax_diagnostic(exc, stand_ins.text, file))]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        read = stand_ins.text
        before = read[: exc.position]
        if _BaseLoader is not yaml.SafeLoader:  # libyaml counts bytes, PyYAML characters
            before = read.encode("utf-8")[: exc.position].decode("utf-8", errors="replace")
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
    if stream.too_deep is not None:
        return fail(
            "CW003",
            f"values nest deeper than {MAX_DEPTH} levels",
            _span(stream.too_deep.start_mark),
            "flatten the structure; platform.yaml needs only a few levels",
        )
    if stream.problem is not None:
        problem = _syntax_diagnostic(stream.problem, stand_ins.text, file)
        return None, [stand_ins.restore_diagnostic(problem)]

    root = None if stream.root is None else stream.events[stream.root]
    if root is None or (type(root) is _SCALAR and _tag(root) == _PLAIN and not root.value):
        return fail("CW008", "file is empty", Span(1, 1), "run 'crosswalk init' for a starter file")
    if type(root) is not _MAPPING_START:
        kind = "a list" if type(root) is _SEQUENCE_START else "a single value"
        return fail(
            "CW007",
            f"the document is {kind}; platform.yaml must be a mapping of keys",
            _span(root.start_mark),
            "start with 'apiVersion: crosswalk/v1'",
        )
    if stream.recursive is not None:
        return fail(
            "CW009",
            "an anchor contains an alias to itself, so it never ends",
            _span(stream.recursive),
            "aliases may only refer to values defined before and outside them",
        )
    oversized = stream.first_oversized()
    if oversized is not None:
        blamed, subject = oversized
        return fail(
            "CW009",
            f"aliases expand {subject} to more than {MAX_EXPANDED_NODES:,} values",
            _span(blamed.start_mark),
            "anchors and aliases that refer to each other multiply; write the values out",
        )
    builder = _Builder(file, stream)
    data = builder.build(stream.root, (), None)
    locations = builder.locations
    if stand_ins.active:
        data = stand_ins.restore(data)
        locations = {
            tuple(stand_ins.restore(part) for part in path): where
            for path, where in locations.items()
        }
        builder.diagnostics = [stand_ins.restore_diagnostic(d) for d in builder.diagnostics]
    if builder.diagnostics:
        return None, builder.diagnostics
    return Document(file, text, data, locations), []


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, text: str, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    span = _within(_span(mark), text) if mark is not None else Span(1, 1)
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
    lines = source_lines(text)
    if mark is not None and mark.line < len(lines):
        line = lines[mark.line]
        if "\t" in line[: len(line) - len(line.lstrip(" \t"))] or "'\\t'" in problem:
            if "\t" in line:
                span = Span(mark.line + 1, line.index("\t") + 1)
            return Diagnostic(
                ERROR,
                "CW004",
                "tab character used for indentation",
                span,
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
