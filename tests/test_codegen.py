"""Names become Python identifiers through one function, `codegen.identifier`,
and a program's variables through `Program.name`: tested with hostile input
(a leading digit, a keyword, a builtin, the length limit, collisions)."""

from __future__ import annotations

import builtins
import keyword

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosswalk.compiler.codegen import MAX_IDENTIFIER, RESERVED_NAMES, Code, Program, identifier


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("41", "auth"), "r_41_auth"),  # a datastore named 41 (a valid DNS label)
        (("0",), "r_0"),
        (("class",), "class_"),
        (("None",), "none"),  # lower case: no longer the keyword
        (("import",), "import_"),
        (("str",), "str_"),  # a builtin the programs call (`.apply(str)`)
        (("print",), "print_"),
        (("config",), "config_"),  # the prelude's names
        (("aws",), "aws_"),  # a module the programs import
        (("order-worker", "sa"), "order_worker_sa"),
        (("a--b", "", "-c-"), "a_b_c"),
        (("-", "x"), "x"),
        (("", "-", "ü"), "resource"),
        (("Ünïcode", "名前"), "n_code"),
    ],
)
def test_identifier_of_hostile_names(parts: tuple, expected: str) -> None:
    assert identifier(*parts) == expected


def test_long_names_keep_a_head_and_a_hash() -> None:
    long_a, long_b = "a" * 63, "a" * 62 + "b"
    first, second = identifier(long_a, "namespace"), identifier(long_b, "namespace")
    assert len(first) == len(second) == MAX_IDENTIFIER
    assert first != second
    assert first.startswith("a" * 20)


@settings(max_examples=500, derandomize=True, database=None)
@given(st.lists(st.text(max_size=70), max_size=4))
def test_identifier_is_always_a_usable_name(parts: list[str]) -> None:
    name = identifier(*parts)
    assert name.isidentifier() and name.isascii()
    assert not keyword.iskeyword(name)
    assert name not in RESERVED_NAMES and name not in dir(builtins)
    assert len(name) <= MAX_IDENTIFIER
    assert identifier(*parts) == name  # stable


def test_program_names_never_collide() -> None:
    program = Program("t", "platform.yaml")
    names = [program.name(part) for part in ("a-b", "a_b", "A B", "a.b", "a--b")]
    assert names == ["a_b", "a_b_2", "a_b_3", "a_b_4", "a_b_5"]
    fixed = Program("t", "platform.yaml")
    assert fixed.fixed("client") == "client"
    assert fixed.name("client") == "client_2"
    with pytest.raises(ValueError):
        fixed.fixed("client")


def test_assign_takes_only_names_the_program_made() -> None:
    program = Program("t", "platform.yaml")
    with pytest.raises(ValueError, match="not made by Program.name"):
        program.assign("41_auth", 1)
    assert program.assign(program.name("41", "auth"), 1) == "r_41_auth"


def test_a_variable_that_would_shadow_an_import_is_refused() -> None:
    program = Program("t", "platform.yaml")
    program.imports.add("from pulumi_azure_native import network")
    program.assign(program.fixed("network"), 1)
    with pytest.raises(RuntimeError, match="shadow"):
        program.render()


def test_every_name_compiles_as_a_variable() -> None:
    program = Program("t", "platform.yaml")
    for parts in [("41",), ("class",), ("x" * 80,), ("",), ("yield", "from")]:
        program.assign(program.name(*parts), Code("1"))
    compile(program.render(), "__main__.py", "exec")


QUOTED = [
    'he said "hi"',
    "it's",
    "both ' and \"",
    'more "double" than \'single\' "quotes"',
    "more 'single' than \"double\" 'quotes'",
    'GRANT CONNECT ON DATABASE "orders" TO "app";\nSELECT \'x\';',
    'a backslash \\ and a "quote"',
]


def test_string_literals_are_quoted_as_ruff_format_quotes_them(tmp_path) -> None:
    """Generated programs must pass `ruff format --check` as written: a
    string holding both kinds of quote takes the kind that needs fewer escapes."""
    import subprocess
    import sys

    from crosswalk.compiler.codegen import py_string

    source = "".join(f"x{i} = {py_string(text)}\n" for i, text in enumerate(QUOTED))
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - the literals just generated
    assert [namespace[f"x{i}"] for i in range(len(QUOTED))] == QUOTED
    path = tmp_path / "literals.py"
    path.write_text(source)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--isolated", "--diff", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_helper_that_calls_json_imports_it() -> None:
    program = Program("t", "platform.yaml")
    program.helpers["parse"] = "def parse(text):\n    return json.loads(text)\n"
    program.assign(program.name("value"), Code('parse("1")'))
    assert "import json" in program.render().splitlines()


def test_an_exported_plain_value_is_data_not_code() -> None:
    """A string export (from platform.yaml, say) is a string literal; only a
    Code value is an expression."""
    program = Program("t", "platform.yaml")
    program.export("zone", 'x" + __import__("os").system("id") + "')
    program.export("arn", Code("role.arn"))
    text = program.render()
    namespace: dict = {}
    exported = {}
    namespace["pulumi"] = type("P", (), {"export": staticmethod(exported.__setitem__)})
    namespace["role"] = type("R", (), {"arn": "arn:aws:iam::1:role/r"})
    body = text.split('"""', 2)[2]
    exec(compile(body, "program", "exec"), namespace)  # noqa: S102 - the rendered program itself
    assert exported == {
        "arn": "arn:aws:iam::1:role/r",
        "zone": 'x" + __import__("os").system("id") + "',
    }
