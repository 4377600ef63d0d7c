"""Property-based robustness: whatever bytes arrive, crosswalk answers with a
clean result (exit 0, warnings allowed) or with diagnostics (exit 1), never with
an exception, and every diagnostic points inside the file.

The inputs are the bundled samples (every samples/*/platform.yaml) bent out of
shape: structurally (the loaded data mutated, then dumped back with PyYAML) and
textually (the bytes cut, spliced and rearranged), plus pure random input. The
pipeline runs in-process for speed; a few examples go through the real CLI.

Runs are derandomized and use no example database, so CI sees the same
examples every time; a failure reproduces with a plain re-run.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from crosswalk.compiler.cli import main
from crosswalk.compiler.diagnostics import CODES, ERROR, WARNING
from crosswalk.compiler.document import parse_document
from crosswalk.compiler.pipeline import check_document

REPO = Path(__file__).resolve().parents[1]
FILE = "platform.yaml"

# The smallest valid platform: the fallback while samples are being written,
# and a second, differently shaped seed for the mutations.
MINIMAL = b"""\
apiVersion: crosswalk/v1
kind: Platform
name: tiny
cloud: {provider: aws, region: us-west-2}
cluster:
  nodePools: [{name: general}]
"""

PROFILE = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def _seeds() -> list[bytes]:
    texts = [path.read_bytes() for path in sorted(REPO.glob("samples/*/platform.yaml"))]
    return [MINIMAL] + [text for text in texts if text.strip()]


SEED_TEXTS = _seeds()
# Seeds that load, as the data the loader builds (YAML 1.2 core types).
SEED_DATA = [
    document.data
    for document, _ in (parse_document(text, FILE) for text in SEED_TEXTS)
    if document is not None
]


# --- the property ------------------------------------------------------------


def _line_count(raw: bytes) -> int:
    text = raw.decode("utf-8-sig", errors="replace")
    return max(1, len(text.splitlines()), raw.count(b"\n") + 1)


def run_pipeline(raw: bytes) -> tuple[int, str]:
    """Load and check `raw` as `crosswalk validate` does, assert the contract,
    and return the exit code validate would give and the stage it got to."""
    document, diagnostics = parse_document(raw, FILE)
    if document is None:
        found = list(diagnostics)
        assert any(d.severity == ERROR for d in found), "a file that does not load must say why"
        stage = "load"
    else:
        result = check_document(document)
        found = result.report.sorted()
        if not result.report.errors:
            assert result.platform is not None, "a clean check must produce a platform"
        stage = "checks" if result.platform is not None else "schema"

    limit = _line_count(raw) + 1
    for d in found:
        assert d.severity in (ERROR, WARNING), d
        assert d.code in CODES, d
        assert isinstance(d.message, str) and d.message, d
        assert d.file == FILE, d
        assert d.span is not None, f"no position: {d}"
        assert 1 <= d.span.line <= limit, f"line outside the file ({limit - 1} lines): {d}"
        assert d.span.column >= 1, d
        d.render().encode("utf-8")  # printable as the CLI prints it
        json.dumps(d.as_json(), ensure_ascii=False).encode("utf-8")
    code = 1 if any(d.severity == ERROR for d in found) else 0
    return code, (f"errors from {stage}" if code else "clean")


def check(raw: bytes) -> int:
    code, outcome = run_pipeline(raw)
    event(outcome)  # --hypothesis-show-statistics shows how deep the examples get
    return code


# --- structural mutations: data -> mutated data -> PyYAML dump ------------------

HOSTILE = [
    "",
    " ",
    "\x00",
    "\t",
    "\n\n",
    "\\",
    '"',
    "'",
    "~",
    "null",
    "yes",
    "no",
    "0x1F",
    "0o777",
    "1e999",
    "-.inf",
    ".nan",
    "1.310",
    "*alias",
    "&anchor",
    "!!python/object/apply:os.system ['id']",
    "<<",
    "${jndi:ldap://x/a}",
    "{{ 7 * 7 }}",
    "__import__('os').system('id')",
    "'); import os; os.system('id') #",
    '"""\nprint(1)\n"""',
    "../../../etc/passwd",
    "C:\\Windows\\system32",
    "%s%n%x{0}",
    "\u202eevil",
    "\u200b",
    "\u2028\u2029",
    "\x85",
    "\ufeff",
    "na\u00efve-\u00fc\u00df",
    "\U0001f600",
    "a" * 64,
    "a" * 254,
    "x" * 300,
    "-leading",
    "trailing-",
    "UPPER",
    "10.0.0.0/33",
    "999.999.999.999/8",
    "10.0.0.1/16",
    "0.0.0.0/0",
    "::/0",
    "us-west-2 ",
    "1.31",
    "-1",
    "99999999999999999999999",
]

_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(HOSTILE)
)
_key = st.text(max_size=12) | st.sampled_from(HOSTILE[:30]) | st.sampled_from([0, -1, True, None])
# Values that keep the schema happy more often, so the semantic checks run.
_label = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
junk = st.recursive(
    _leaf,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_key, children, max_size=3),
    max_leaves=8,
)


def _paths(node, prefix: tuple = ()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _get(node, path: tuple):
    for part in path:
        node = node[part]
    return node


def _override_for(data, path: tuple, leaf):
    """The environment override that reaches `path` of the base data: list
    items become one-item lists matched by the base item's name."""
    if not path:
        return leaf
    head, rest = path[0], path[1:]
    child = data[head]
    inner = _override_for(child, rest, leaf)
    if isinstance(head, int):
        if isinstance(child, dict) and "name" in child and isinstance(inner, dict):
            inner = {"name": child["name"], **inner}
        return [inner]
    return {head: inner}


@st.composite
def structural_mutants(draw) -> bytes:
    data = copy.deepcopy(draw(st.sampled_from(SEED_DATA)))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        op = draw(
            st.sampled_from(
                [
                    "delete",
                    "retype",
                    "hostile",
                    "junk-key",
                    "graft",
                    "duplicate",
                    "override",
                    "rename",
                    "renumber",
                ]
            )
        )
        parent = _get(data, path[:-1]) if path else None
        if op == "delete":
            if path:
                del parent[path[-1]]
            else:
                data = {}
        elif op in ("retype", "hostile", "graft"):
            if op == "retype":
                value = draw(junk)
            elif op == "hostile":
                value = draw(st.sampled_from(HOSTILE))
            else:
                value = copy.deepcopy(_get(data, draw(st.sampled_from(paths))))
            if path:
                parent[path[-1]] = value
            else:
                data = value
        elif op == "junk-key":
            target = _get(data, path)
            if isinstance(target, dict):
                target[draw(_key)] = draw(junk)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(junk))
            elif path:
                parent[path[-1]] = {draw(_key): target}
        elif op == "rename" and path and isinstance(parent[path[-1]], str):
            # Another string from the document (a name, a reference) or a fresh label.
            strings = [_get(data, p) for p in paths if isinstance(_get(data, p), str)]
            parent[path[-1]] = draw(st.sampled_from(strings) | _label)
        elif op == "renumber" and path and type(parent[path[-1]]) is int:
            parent[path[-1]] = draw(st.integers(-1, 70_000))
        elif op == "duplicate" and path and isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        elif op == "override" and isinstance(data, dict):
            base_paths = [p for p in paths if p and p[0] != "environments"]
            if base_paths:
                where = draw(st.sampled_from(base_paths))
                leaf = draw(junk | st.just(copy.deepcopy(_get(data, where))))
                envs = data.get("environments")
                if not isinstance(envs, dict):
                    envs = data["environments"] = {}
                name = draw(st.sampled_from(sorted(envs, key=str) + ["prod", "dev"]))
                envs[name] = {"overrides": _override_for(data, where, leaf)}
    text = yaml.safe_dump(
        data,
        sort_keys=False,
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, None])),
    )
    return text.encode("utf-8")


# --- textual mutations: the bytes themselves -----------------------------------

TOKENS = [
    b"&a ",
    b"*a",
    b"*undefined",
    b"<<: *a\n",
    b"!!binary ",
    b"!!python/object:os.system ",
    b"!custom ",
    b"---\n",
    b"...\n",
    b"%YAML 1.1\n",
    b"%TAG ! tag:x,2000:\n",
    b"? ",
    b"- ",
    b"[",
    b"]",
    b"{",
    b"}",
    b": ",
    b"|\n",
    b">-\n",
    b"#",
    b"\t",
    b"\r",
    b"\r\n",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xa8",
    b"'",
    b'"',
    b"\\",
    b"`",
    b"@",
    b"%",
]

_KEY_LINE = re.compile(rb"^(\s*(?:- )?[A-Za-z][\w-]*:[ ]*)(\S.*)$")
_FLOW_PAIR = re.compile(rb"([A-Za-z][\w-]*): ([^,{}\[\]]+)")


@st.composite
def textual_mutants(draw) -> bytes:
    raw = draw(st.sampled_from(SEED_TEXTS))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                [
                    "truncate",
                    "splice",
                    "token",
                    "dup-line",
                    "dup-flow-key",
                    "delete-line",
                    "move-line",
                    "indent",
                    "hostile-value",
                ]
            )
        )
        lines = raw.splitlines(keepends=True) or [b""]
        if op == "truncate":
            raw = raw[: draw(st.integers(0, len(raw)))]
        elif op == "splice":
            start = draw(st.integers(0, len(raw)))
            end = draw(st.integers(start, min(len(raw), start + 16)))
            raw = raw[:start] + draw(st.binary(max_size=16)) + raw[end:]
        elif op == "token":
            at = draw(st.integers(0, len(raw)))
            raw = raw[:at] + draw(st.sampled_from(TOKENS)) + raw[at:]
        elif op == "dup-line":  # a duplicate key when the line holds one
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i + draw(st.integers(0, 3)), lines[i])
            raw = b"".join(lines)
        elif op == "dup-flow-key":  # `{name: a, min: 1}` -> `{min: 1, name: a, min: 1}`
            flow = [i for i, line in enumerate(lines) if b"{" in line and _FLOW_PAIR.search(line)]
            if flow:
                i = draw(st.sampled_from(flow))
                pairs = list(_FLOW_PAIR.finditer(lines[i]))
                pair = draw(st.sampled_from(pairs)).group(0).strip()
                lines[i] = lines[i].replace(b"{", b"{" + pair + b", ", 1)
                raw = b"".join(lines)
        elif op == "delete-line":
            del lines[draw(st.integers(0, len(lines) - 1))]
            raw = b"".join(lines)
        elif op == "move-line":
            line = lines.pop(draw(st.integers(0, len(lines) - 1)))
            lines.insert(draw(st.integers(0, len(lines))), line)
            raw = b"".join(lines)
        elif op == "indent":
            i = draw(st.integers(0, len(lines) - 1))
            change = draw(st.sampled_from([b" ", b"  ", b"\t", b"-"]))
            if change == b"-":
                lines[i] = lines[i][1:] if lines[i][:1] == b" " else lines[i]
            else:
                lines[i] = change + lines[i]
            raw = b"".join(lines)
        elif op == "hostile-value":
            keyed = [i for i, line in enumerate(lines) if _KEY_LINE.match(line.rstrip(b"\r\n"))]
            if keyed:
                i = draw(st.sampled_from(keyed))
                head = _KEY_LINE.match(lines[i].rstrip(b"\r\n")).group(1)
                value = draw(st.sampled_from(HOSTILE)).encode("utf-8")
                quote = draw(st.sampled_from([b"", b"'", b'"']))
                lines[i] = head + quote + value + quote + b"\n"
                raw = b"".join(lines)
    return raw


YAMLISH = st.text(
    alphabet=st.sampled_from(list(":-{}[],&*!|>'\"#%@`?~<. \n\t\rabcnN019")),
    max_size=300,
)


# --- the tests ------------------------------------------------------------------


def test_seeds_load():
    """The mutations start from real samples; if none load, this suite tests little."""
    assert SEED_DATA, "no sample loads"
    for raw in SEED_TEXTS:
        run_pipeline(raw)


@settings(max_examples=1500, **PROFILE)
@given(structural_mutants())
def test_structural_mutations_never_crash(raw):
    check(raw)


@settings(max_examples=1500, **PROFILE)
@given(textual_mutants())
def test_textual_mutations_never_crash(raw):
    check(raw)


@settings(max_examples=3000, **PROFILE)
@given(st.binary(max_size=2000) | st.text(max_size=1000).map(str.encode) | YAMLISH.map(str.encode))
@example(b"")
@example(b"\xef\xbb\xbf")
@example(b"\xff\xfe\x00a")
@example(b"[" * 100_000)
@example(b"a:\n" + b"  " * 3000 + b"b: 1\n")
@example(b"- " * 5000 + b"x\n")
@example(b"a: &a [*a]\n")
@example(b"a: &a {b: *a}\n")
@example(b"a: *nothing\n")
@example(
    b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        b"%c: &%c [%s]\n" % (new, new, b", ".join([b"*" + bytes([old])] * 10))
        for old, new in zip(b"abcdef", b"bcdefg")
    )
)
@example(b"<<: 5\n")
@example(b"<<: [*a]\n")
@example(b"? [a, b]\n: c\n")
@example(b"a: 1\n---\nb: 2\n")
@example(b"%YAML 1.1\n---\na: 1\n")
@example(b"a:\r  b: 1\r")
@example(b"x" * (5 * 1024 * 1024 + 1))
@example(MINIMAL.replace(b"\n", b"\r\n"))
@example(MINIMAL + b"\x00")
@example(MINIMAL.replace(b"  nodePools", b"\tnodePools"))
def test_random_input_never_crashes(raw):
    check(raw)


def _cli(raw: bytes, *options: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / FILE
        path.write_bytes(raw)
        result = CliRunner().invoke(main, ["validate", str(path), *options])
    return result, path


@settings(max_examples=30, **PROFILE)
@given(
    structural_mutants() | textual_mutants(),
    st.sampled_from([(), ("--format", "json"), ("--verbose",), ("--strict",)]),
)
@example(b"\xff\xfe", ())
@example(b"apiVersion: crosswalk/v1\n\tkind: Platform\n", ("--verbose",))
@example(b"[" * 10_000, ("--format", "json"))
def test_cli_answers_with_exit_0_or_1(raw, options):
    result, path = _cli(raw, *options)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1), result.output
    expected = check(raw)
    if "--strict" not in options:
        assert result.exit_code == expected, result.output
    if options == ("--format", "json"):
        assert isinstance(json.loads(result.stdout), list)
    elif result.exit_code == 1:
        assert f"{path}:" in result.output
