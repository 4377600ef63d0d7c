"""The loader: bytes -> Document (YAML 1.2 core data plus the position of
every key and value), or diagnostics. Never an exception."""

from __future__ import annotations

import math

import pytest

from crosswalk.compiler.diagnostics import Span
from crosswalk.compiler.document import (
    MAX_DEPTH,
    LoadError,
    load_document,
    parse_document,
)


def load(text: str | bytes):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    document, diagnostics = parse_document(raw, "platform.yaml")
    assert document is not None, [d.render() for d in diagnostics]
    assert diagnostics == []
    return document


def value(text: str) -> object:
    return load(f"v: {text}\n").data["v"]


def problems(text: str | bytes) -> list[tuple[str, int, int, str]]:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    document, diagnostics = parse_document(raw, "platform.yaml")
    assert document is None
    return [(d.code, d.span.line, d.span.column, d.message) for d in diagnostics]


# --- YAML 1.2 core schema --------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["no", "yes", "on", "off", "No", "YES", "On", "OFF", "y", "n", "Y", "N"],
)
def test_yaml11_booleans_are_strings(text: str) -> None:
    assert value(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("False", False),
        ("FALSE", False),
    ],
)
def test_core_booleans(text: str, expected: bool) -> None:
    assert value(text) is expected


@pytest.mark.parametrize("text", ["~", "null", "Null", "NULL", ""])
def test_nulls(text: str) -> None:
    assert value(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("0777", 777),  # YAML 1.1 read this as octal 511
        ("0o17", 15),
        ("0x1F", 31),
        ("0xff", 255),
    ],
)
def test_integers(text: str, expected: int) -> None:
    result = value(text)
    assert type(result) is int
    assert result == expected


@pytest.mark.parametrize(
    "text",
    ["1_000", "2024-01-01", "2024-01-01T10:00:00Z", "0b101", "0o8", "0x", "1:30", "12e", "0xG1"],
)
def test_yaml11_only_forms_are_strings(text: str) -> None:
    assert value(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5", 1.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("1.", 1.0),
        ("1e3", 1000.0),
        ("6.02E+23", 6.02e23),
        (".inf", math.inf),
        (".Inf", math.inf),
        ("+.INF", math.inf),
        ("-.inf", -math.inf),
    ],
)
def test_floats(text: str, expected: float) -> None:
    result = value(text)
    assert type(result) is float
    assert result == expected


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_not_a_number(text: str) -> None:
    assert math.isnan(value(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"no"', "no"),
        ("'42'", "42"),
        ('"~"', "~"),
        ("''", ""),
        ('"0x1F"', "0x1F"),
        ("|\n  yes\n", "yes\n"),
        (">-\n  on\n  off\n", "on off"),
    ],
)
def test_quoted_and_block_scalars_are_strings(text: str, expected: str) -> None:
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!!str 5", "5"),
        ("!!str no", "no"),
        ("!!int '3'", 3),
        ("!!float 1", 1.0),
        ("!!bool true", True),
        ("!!null ''", None),
        ("! 12", 12),  # libyaml treats the non-specific tag on a plain scalar as plain
    ],
)
def test_explicit_core_tags(text: str, expected: object) -> None:
    result = value(text)
    assert result == expected
    assert type(result) is type(expected)


def test_keys_resolve_like_values() -> None:
    document = load('"1": a\nno: b\n!!str 2: c\n')
    assert document.data == {"1": "a", "no": "b", "2": "c"}


def test_collections() -> None:
    document = load("a: [1, two, {three: 3}]\nb: {}\nc: []\n")
    assert document.data == {"a": [1, "two", {"three": 3}], "b": {}, "c": []}


# --- positions ---------------------------------------------------------------------

POSITIONS = """\
apiVersion: crosswalk/v1
cluster:
  nodePools:
    - name: general
      max: 10
    - {name: batch, spot: true}
tags: {owner: ops}
"""


@pytest.mark.parametrize(
    ("path", "key", "value_"),
    [
        (("apiVersion",), Span(1, 1), Span(1, 13)),
        (("cluster",), Span(2, 1), Span(3, 3)),
        (("cluster", "nodePools"), Span(3, 3), Span(4, 5)),
        (("cluster", "nodePools", 0, "max"), Span(5, 7), Span(5, 12)),
        (("cluster", "nodePools", 1, "spot"), Span(6, 21), Span(6, 27)),
        (("tags", "owner"), Span(7, 8), Span(7, 15)),
    ],
)
def test_locations_of_keys_and_values(path: tuple, key: Span, value_: Span) -> None:
    document = load(POSITIONS)
    location = document.locations[path]
    assert (location.key, location.value) == (key, value_)
    assert document.span(path) == value_
    assert document.span(path, key=True) == key


def test_list_items_have_no_key() -> None:
    document = load(POSITIONS)
    item = document.locations[("cluster", "nodePools", 0)]
    assert item.key is None
    assert item.value == Span(4, 7)
    assert document.span(("cluster", "nodePools", 0), key=True) == Span(4, 7)


def test_span_falls_back_to_the_nearest_ancestor() -> None:
    document = load(POSITIONS)
    assert document.span(("cluster", "nodePools", 0, "min")) == Span(4, 7)
    assert document.span(("nothing", "here")) == Span(1, 1)
    assert document.overridden(("cluster",)) is False


def test_columns_count_characters_not_bytes() -> None:
    document = load("tags: {team: équipe, owner: ops}\n")
    assert document.span(("tags", "owner")) == Span(1, 29)


# --- merge keys, anchors and aliases ---------------------------------------------------

MERGES = """\
base: &base
  replicas: 2
  port: 8080
one:
  <<: *base
  port: 9090
two:
  port: 7070
  <<: *base
three:
  <<: [{port: 1, extra: x}, *base]
four:
  <<: {replicas: 5}
  <<: *base
"""


def test_merge_keys() -> None:
    data = load(MERGES).data
    assert data["one"] == {"replicas": 2, "port": 9090}
    assert data["two"] == {"replicas": 2, "port": 7070}
    assert data["three"] == {"port": 1, "extra": "x", "replicas": 2}
    assert data["four"] == {"replicas": 5, "port": 8080}


def test_merged_values_point_at_the_anchor_and_explicit_keys_at_themselves() -> None:
    document = load(MERGES)
    assert document.span(("one", "replicas")) == Span(2, 13)
    assert document.span(("one", "port")) == Span(6, 9)
    # `<<` after the explicit key must not move the explicit key's position
    assert document.span(("two", "port")) == Span(8, 9)
    assert document.span(("two", "replicas")) == Span(2, 13)
    # earlier sources win, and so do their positions
    assert document.span(("three", "port")) == Span(11, 15)


def test_quoted_merge_key_is_an_ordinary_key() -> None:
    assert load('a: {"<<": 1}\n').data == {"a": {"<<": 1}}


def test_aliases_share_the_value() -> None:
    data = load("a: &x [1, 2]\nb: *x\n").data
    assert data == {"a": [1, 2], "b": [1, 2]}


def test_merging_a_scalar_is_an_error() -> None:
    assert problems("a: &x 1\nb:\n  <<: *x\n") == [("CW003", 3, 3, "'<<' merges only mappings")]


def test_alias_bomb_stops_before_building() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    found = problems("\n".join(lines) + "\n")
    # a5 stands for 1,111,111 values, a4 for 111,111
    assert found == [("CW009", 6, 1, "aliases expand 'a5' to more than 1,000,000 values")]


def test_many_small_values_that_add_up_are_blamed_where_they_pass_the_limit() -> None:
    # a: 11 values, b: 1,101, c: 110,101, and d, e, f 330,304 each: f passes the million
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += ["b: &b [" + ", ".join(["*a"] * 100) + "]"]
    lines += ["c: &c [" + ", ".join(["*b"] * 100) + "]"]
    lines += ["d: [*c, *c, *c]", "e: [*c, *c, *c]", "f: [*c, *c, *c]"]
    assert problems("\n".join(lines) + "\n") == [
        ("CW009", 6, 1, "aliases expand the document to more than 1,000,000 values")
    ]


@pytest.mark.parametrize(
    "text",
    ["a: &x [*x]\n", "a: &x {b: *x}\n", "a: &x\n  b:\n    - c: *x\n"],
)
def test_recursive_anchors_are_refused(text: str) -> None:
    ((code, *_),) = problems(text)
    assert code == "CW009"


# --- encodings and line endings -----------------------------------------------------------


def test_byte_order_mark_is_skipped() -> None:
    document = load(b"\xef\xbb\xbfname: acme\nkind: Platform\n")
    assert document.data == {"name": "acme", "kind": "Platform"}
    assert document.span(("name",), key=True) == Span(1, 1)
    assert document.span(("name",)) == Span(1, 7)
    assert not document.text.startswith("\ufeff")


def test_crlf_line_endings() -> None:
    document = load(b"name: acme\r\ncluster:\r\n  version: '1.31'\r\n")
    assert document.data == {"name": "acme", "cluster": {"version": "1.31"}}
    assert document.span(("cluster", "version")) == Span(3, 12)


def test_crlf_inside_block_scalars_becomes_newlines() -> None:
    assert load(b"a: |\r\n  one\r\n  two\r\n").data == {"a": "one\ntwo\n"}


def test_invalid_utf8_is_located_in_characters() -> None:
    assert problems(b"a: \xc3\xa9\xc3\xa9\nb: caf\xe9\n") == [
        ("CW002", 2, 7, "byte 0xe9 is not valid UTF-8")
    ]


def test_invalid_utf8_after_a_byte_order_mark() -> None:
    assert problems(b"\xef\xbb\xbfa: \xff\n") == [("CW002", 1, 4, "byte 0xff is not valid UTF-8")]


def test_control_characters_are_located() -> None:
    assert problems("a: ü\nb: x\x07\n") == [
        ("CW003", 2, 5, "character U+0007 is not allowed in YAML")
    ]


# --- load errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["", "\n\n", "   \n", "# only\n# comments\n", "---\n", "--- # x\n...\n"]
)
def test_empty_files(text: str) -> None:
    assert problems(text) == [("CW008", 1, 1, "file is empty")]


def test_duplicate_keys_at_depth() -> None:
    found = problems("a:\n  - b: 1\n    c:\n      d: 1\n      d: 2\n")
    assert found == [("CW005", 5, 7, "duplicate key 'd'")]


def test_every_duplicate_and_bad_key_is_reported() -> None:
    found = problems("a: 1\na: 2\n3: x\nb: {a: 1, a: 2}\n")
    assert [(code, line) for code, line, *_ in found] == [
        ("CW005", 2),
        ("CW006", 3),
        ("CW005", 4),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1: a\n", "key '1' is an integer, not a string"),
        ("1.5: a\n", "key '1.5' is a number, not a string"),
        ("true: a\n", "key 'true' is a boolean, not a string"),
        ("~: a\n", "key '~' is null, not a string"),
        ("? [a]\n: b\n", "keys must be plain strings, not collections"),
    ],
)
def test_non_string_keys(text: str, message: str) -> None:
    ((code, _, _, found),) = problems(text)
    assert (code, found) == ("CW006", message)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- a\n", "a list"), ("just text\n", "a single value"), ("42\n", "a single value")],
)
def test_root_must_be_a_mapping(text: str, kind: str) -> None:
    ((code, _, _, message),) = problems(text)
    assert code == "CW007"
    assert kind in message


def test_tab_indentation() -> None:
    assert problems("a:\n\tb: 1\n") == [("CW004", 2, 1, "tab character used for indentation")]


def test_tab_inside_a_value_is_fine() -> None:
    assert load("a: 'x\ty'\n").data == {"a": "x\ty"}


def test_multiple_documents() -> None:
    assert problems("a: 1\n---\nb: 2\n") == [
        ("CW010", 2, 1, "the file holds more than one YAML document")
    ]


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("a: !vault x\n", 4, "unsupported tag '!vault'"),
        ("a: !!binary aGk=\n", 4, "unsupported tag '!!binary'"),
        ("a: !!timestamp 2024-01-01\n", 4, "unsupported tag '!!timestamp'"),
        ("a: !!set {x}\n", 4, "unsupported tag '!!set'"),
        ("a: !!python/object:os.system {}\n", 4, "unsupported tag '!!python/object:os.system'"),
        ("a: !!int ten\n", 4, "'ten' is not a valid '!!int' value"),
        ("a: !!bool yes\n", 4, "'yes' is not a valid '!!bool' value"),
    ],
)
def test_tags(text: str, column: int, message: str) -> None:
    assert problems(text) == [("CW011", 1, column, message)]


def test_nesting_limit() -> None:
    # the root mapping is level 0, so `a`'s value is level 1
    ok = "a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    assert load(ok).data["a"] is not None
    too_deep = "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    assert problems(too_deep) == [
        ("CW003", 1, 4 + MAX_DEPTH, f"values nest deeper than {MAX_DEPTH} levels")
    ]


def test_very_deep_nesting_does_not_crash() -> None:
    # libyaml's composer recursed in C on this and took the interpreter down
    text = "a: " + "[" * 200_000 + "]" * 200_000 + "\n"
    ((code, *_),) = problems(text)
    assert code == "CW003"


def test_undefined_alias() -> None:
    assert problems("a: [*nowhere]\n") == [("CW003", 1, 5, "alias '*nowhere' refers to no anchor")]


def test_an_anchor_defined_twice_is_refused_at_the_second() -> None:
    ((code, line, column, message),) = problems("a: &x 1\nb: &x 2\nc: *x\n")
    assert (code, line, column) == ("CW003", 2, 4)
    assert "duplicate anchor" in message


def test_an_alias_can_be_a_key_and_an_anchored_collection_expands_everywhere() -> None:
    assert load("k: &k name\nv: &v [1, {a: 2}]\nm: {*k : *v, other: *v}\n").data == {
        "k": "name",
        "v": [1, {"a": 2}],
        "m": {"name": [1, {"a": 2}], "other": [1, {"a": 2}]},
    }


def test_aliases_inside_an_anchor_count_toward_the_expansion_cap() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 6)]
    found = problems("\n".join(levels) + "\n")
    assert [(code, line) for code, line, *_ in found] == [("CW009", 6)]


def test_syntax_error_says_where_the_collection_began() -> None:
    raw = b"a: [1, 2\nb: 3\n"
    _, (diagnostic,) = parse_document(raw, "platform.yaml")
    assert diagnostic.code == "CW003"
    assert diagnostic.help == "a flow sequence started at line 1, column 4"


def test_file_size_limit(tmp_path) -> None:
    from crosswalk.compiler.document import MAX_FILE_BYTES

    big = tmp_path / "platform.yaml"
    big.write_bytes(b"a: 1\n" + b"#" * MAX_FILE_BYTES)
    document, diagnostics = load_document(str(big))
    assert document is None
    assert [(d.code, d.message) for d in diagnostics] == [("CW001", "file is larger than 5 MiB")]


def test_unreadable_files_raise_load_error(tmp_path) -> None:
    with pytest.raises(LoadError, match="no such file"):
        load_document(str(tmp_path / "missing.yaml"))
    with pytest.raises(LoadError, match="is a directory"):
        load_document(str(tmp_path))


def test_diagnostics_carry_the_file_name() -> None:
    _, (diagnostic,) = parse_document(b"a: 1\na: 2\n", "dir/platform.yaml")
    assert diagnostic.file == "dir/platform.yaml"
    assert diagnostic.path == "a"


@pytest.mark.parametrize("inner", ["{k: v}", "[v]"])
def test_a_plain_value_one_level_past_the_limit_through_an_alias(inner: str) -> None:
    # the anchored collection lands at level MAX_DEPTH, so its plain value is one past
    anchored = "[" * (MAX_DEPTH - 3) + inner + "]" * (MAX_DEPTH - 3)
    text = f"a: &x {anchored}\nb: [[*x]]\n"
    assert load(f"a: &x {anchored}\nb: [*x]\n").data["b"] is not None
    ((code, line, _, message),) = problems(text)
    assert (code, line, message) == (
        "CW003",
        1,
        f"aliases nest values deeper than {MAX_DEPTH} levels",
    )


def test_aliases_cannot_nest_past_the_limit() -> None:
    anchored = "[" * 60 + "]" * 60
    text = f"a: &x {anchored}\nb: [[[[[[[[[[*x]]]]]]]]]]\n"
    ((code, line, _, message),) = problems(text)
    assert (code, line) == ("CW003", 1)
    assert message == f"aliases nest values deeper than {MAX_DEPTH} levels"


# --- numbers too long to read -------------------------------------------------------------

LONG = "9" * 4400  # past Python's 4,300-digit limit for turning an integer into text


@pytest.mark.parametrize(
    ("text", "column"),
    [
        (f"v: {LONG}\n", 4),
        (f"v: -{LONG}\n", 4),
        (f"v: 0x{'f' * 4000}\n", 4),  # read fine, but it would not turn into text
        (f"v: 0o{'7' * 200}\n", 4),
        (f"v: {'1' * 150}.5e3\n", 4),
        (f"v: [1, {LONG}]\n", 8),
        (f"v: !!int {LONG}\n", 4),
        (f"v: !!float {LONG}\n", 4),
        (f"{'1' * 150}: v\n", 1),  # as a key
    ],
)
def test_numbers_too_long_are_refused_where_they_are(text: str, column: int) -> None:
    ((code, line, at, message),) = problems(text)
    assert (code, line, at) == ("CW012", 1, column)
    assert "crosswalk reads numbers of at most 100" in message


def test_long_text_that_is_no_number_is_text() -> None:
    assert value(f'"{LONG}"') == LONG
    assert value("9" * 99 + "x" * 5000) == "9" * 99 + "x" * 5000
    assert value("1" * 100) == int("1" * 100)


# --- lines as editors count them -----------------------------------------------------------


@pytest.mark.parametrize("separator", ["\x85", "\u2028", "\u2029"])
def test_yaml11_line_breaks_are_text_and_do_not_shift_positions(separator: str) -> None:
    text = f"a: x{separator}y\nb: 'p{separator}q'\n# note{separator}c: 1\nd: 2\n"
    document = load(text)
    assert document.data == {"a": f"x{separator}y", "b": f"p{separator}q", "d": 2}
    assert document.span(("d",)) == Span(4, 4)
    assert problems(text + "e: [\n")[0][1:3] == (5, 5)


def test_a_syntax_error_at_the_end_points_at_the_last_line() -> None:
    assert problems("a: 1\nb: [x, y\n")[0][1:3] == (2, 9)  # just after the last character
    assert problems("a: 1\nb: [x, y\n\n\n")[0][1:3] == (4, 1)
    assert problems("a: 1\nb: [x, y")[0][1:3] == (2, 9)
