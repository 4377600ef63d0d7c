"""Python source for generated Pulumi programs, built from data, never pasted.

Every value that came from platform.yaml enters a program through `literal`,
which serializes str/int/float/bool/None/list/dict into a Python literal, so
quotes, backslashes, newlines, braces and unicode round-trip exactly. Code
fragments the emitter writes itself are `Code` objects (identifiers and calls
built from them); user text never becomes `Code`.

The layout follows `ruff format` (double quotes, exploded collections and calls
with magic trailing commas), so generated files pass `ruff format --check`
at any line length.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import keyword
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

INDENT = "    "
MAX_IDENTIFIER = 36


class Code(str):
    """A fragment of Python the emitter wrote itself (never user text)."""


_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without quotes or backslashes


@lru_cache(maxsize=65536)
def py_string(text: str) -> str:
    """A Python string literal for `text`, quoted the way ruff format quotes it."""
    if _PLAIN.fullmatch(text):
        return '"' + text + '"'
    body = json.dumps(text, ensure_ascii=False)[1:-1]
    # json.dumps leaves these as they are; Python source must not carry them raw.
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    body = re.sub(r"[\x7f\x80-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", body)
    # ruff format keeps double quotes unless single ones need fewer escapes.
    if text.count('"') > text.count("'"):
        return "'" + body.replace('\\"', '"').replace("'", "\\'") + "'"
    return '"' + body + '"'


def literal(value: object, depth: int = 0) -> str:
    """Render data as a Python expression; collections exploded, one item a line."""
    if isinstance(value, Code):
        return str(value)
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f'float("{value}")'
        return repr(value)
    if isinstance(value, str):
        return py_string(value)
    inner = INDENT * (depth + 1)
    outer = INDENT * depth
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{literal(k, depth + 1)}: {literal(v, depth + 1)}," for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + "\n" + outer + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [f"{inner}{literal(v, depth + 1)}," for v in value]
        return "[\n" + "\n".join(items) + "\n" + outer + "]"
    if isinstance(value, Call):
        return value.render(depth)
    raise TypeError(f"cannot render {type(value).__name__} as a literal")


@dataclass
class Call:
    """`func(positional..., keyword=value, ...)`, exploded one argument a line."""

    func: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)

    def render(self, depth: int = 0) -> str:
        if not self.args and not self.kwargs:
            return f"{self.func}()"
        inner = INDENT * (depth + 1)
        lines = [f"{inner}{literal(a, depth + 1)}," for a in self.args]
        lines += [
            f"{inner}{k}={literal(v, depth + 1)}," for k, v in self.kwargs.items() if v is not None
        ]
        return f"{self.func}(\n" + "\n".join(lines) + "\n" + INDENT * depth + ")"


# Names a generated program binds at module level besides its variables (the
# prelude's, the modules it imports) and the builtins it may call.
RESERVED_NAMES = frozenset(
    {"pulumi", "config", "json", "stack", "org", "aws", "gcp", "kubernetes"} | set(dir(builtins))
)


def identifier(*parts: str) -> str:
    """A snake_case Python identifier from name parts ('order-worker', 'sa'):
    the one way a name becomes a variable. Never a keyword, a reserved name,
    empty, or starting with a digit; long ones keep a head and a hash of the
    whole. Program.name makes it unique in its program."""
    words = (re.sub(r"[^0-9a-zA-Z]+", "_", p).strip("_").lower() for p in parts if p)
    text = re.sub(r"_+", "_", "_".join(word for word in words if word)) or "resource"
    if text[0].isdigit():
        text = "r_" + text
    if keyword.iskeyword(text) or text in RESERVED_NAMES:
        text += "_"
    if len(text) > MAX_IDENTIFIER:
        # Long names (63-character namespaces, say) would push statements past
        # any line length; keep a readable head and a stable hash of the whole.
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        text = text[: MAX_IDENTIFIER - 7].rstrip("_") + "_" + digest
    return text


def joined(*parts: str) -> str | Code | Call:
    """Text of literal pieces and values a program reads (`Code`, e.g. a config
    read): the text itself when every piece is literal, else an expression
    that joins them at run time (an f-string when the pieces are plain, so
    it formats on one line)."""
    if not any(isinstance(part, Code) for part in parts):
        return "".join(parts)
    literals = [part for part in parts if not isinstance(part, Code)]
    if all(_PLAIN.fullmatch(part) and "{" not in part and "}" not in part for part in literals):
        body = "".join("{" + part + "}" if isinstance(part, Code) else part for part in parts)
        return Code('f"' + body + '"')
    return Call(py_string("") + ".join", [list(parts)])


def call_statement(prefix: str, func: str, args: list[str], width: int = 88) -> str:
    """`prefix func(a, b)` on one line when it fits, else exploded with a magic
    trailing comma (which ruff keeps exploded at any line length)."""
    one_line = f"{prefix}{func}({', '.join(args)})"
    if len(one_line) <= width:
        return one_line
    inner = "".join(f"{INDENT}{a},\n" for a in args)
    return f"{prefix}{func}(\n{inner})"


def _member_key(name: str) -> tuple:
    # isort's order-by-type: CONSTANTS, then Classes, then modules and functions.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return (kind, name)


def import_block(lines) -> str:
    """Import statements as ruff's isort orders them: plain imports by module,
    then from-imports by module, aliased names on lines of their own."""
    plain: set[tuple[str, str | None]] = set()
    members: dict[str, set[tuple[str, str | None]]] = {}
    for statement in ast.parse("\n".join(lines)).body:
        if isinstance(statement, ast.Import):
            plain.update((alias.name, alias.asname) for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom):
            members.setdefault(statement.module, set()).update(
                (alias.name, alias.asname) for alias in statement.names
            )
    out = [
        f"import {m}" + (f" as {a}" if a else "")
        for m, a in sorted(plain, key=lambda x: (x[0], x[1] or ""))
    ]
    for module in sorted(members):
        names = members[module]
        groups = [[f"{n} as {a}"] for n, a in names if a]
        bare = sorted((n for n, a in names if not a), key=_member_key)
        if bare:
            groups.append(bare)
        for group in sorted(groups, key=lambda g: _member_key(g[0])):
            line = f"from {module} import {', '.join(group)}"
            if len(line) > 88:
                line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in group) + ")"
            out.append(line)
    return "\n".join(out)


def _bound_by(import_lines) -> set[str]:
    """The names import statements bind."""
    bound = set()
    for statement in ast.parse("\n".join(import_lines)).body:
        for alias in getattr(statement, "names", ()):
            bound.add(alias.asname or alias.name.split(".")[0])
    return bound


@dataclass
class Program:
    """One `__main__.py`: header, imports, statements, exports."""

    title: str
    source: str
    imports: set[str] = field(default_factory=set)
    statements: list[str] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    helpers: dict[str, str] = field(default_factory=dict)  # name -> function source
    # Exports read outside the stack graph (`crosswalk ci --bootstrap` reads the
    # CI identities'): kept whether or not a downstream stack reads them.
    public: set[str] = field(default_factory=set)

    def name(self, *parts: str) -> Code:
        """A fresh variable name, unique in this program."""
        base = identifier(*parts)
        candidate, n = base, 2
        while candidate in self.names:
            candidate, n = f"{base}_{n}", n + 1
        self.names.add(candidate)
        return Code(candidate)

    def fixed(self, name: str) -> Code:
        """A variable the program's own helpers refer to by this very name;
        taken before any other name, so nothing else gets it."""
        if name in self.names or name != identifier(name):
            raise ValueError(f"{name!r} cannot be a fixed name: taken, or not an identifier")
        self.names.add(name)
        return Code(name)

    def comment(self, text: str) -> None:
        self.statements.append(f"# {text}")

    def assign(self, var: str, value, source: str | None = None) -> Code:
        """`var = value`, under a comment citing the YAML path it comes from;
        `var` comes from `name` (or `fixed`), never from text."""
        if var not in self.names:
            raise ValueError(f"{var!r} was not made by Program.name")
        prefix = f"# {source}\n" if source else ""
        self.statements.append(f"{prefix}{var} = {literal(value)}")
        return Code(var)

    def resource(
        self, var_parts, cls: str, name: str, kwargs: dict, source: str | None, opts=None
    ) -> Code:
        var = self.name(*var_parts) if isinstance(var_parts, tuple) else self.name(var_parts)
        call_kwargs = dict(kwargs)
        if opts:
            call_kwargs["opts"] = Call("pulumi.ResourceOptions", kwargs=opts)
        return self.assign(var, Call(cls, [name], call_kwargs), source)

    def statement(self, code: str) -> None:
        self.statements.append(code)

    def block(self, header: str, start: int) -> None:
        """Make the statements written since `start` the body of `header`
        (`if ...:`, `elif ...:`, `else:`): what only some environments do."""
        body = "\n".join(self.statements[start:])
        del self.statements[start:]
        indented = "\n".join(INDENT + line if line else line for line in body.split("\n"))
        if header.startswith(("elif ", "else")) and self.statements:
            self.statements[-1] += f"\n{header}\n{indented}"
        else:
            self.statements.append(f"{header}\n{indented}")

    def export(self, name: str, value: object, public: bool = False) -> None:
        self.exports[name] = value
        if public:
            self.public.add(name)

    def render(self) -> str:
        header = (
            f'"""{self.title}\n\nGenerated by crosswalk from {self.source}; edit the platform file,'
            ' not this one.\n"""'
        )
        body = "\n\n".join(self.statements)
        imports = set(self.imports)
        shadowed = self.names & (_bound_by(imports) | set(self.helpers))
        if shadowed:
            raise RuntimeError(f"variables would shadow imports or helpers: {sorted(shadowed)}")
        used = body + "\n".join(self.helpers.values())  # helpers may call json too
        if "json." in used and re.search(r"(?<![\w.\"'])json\.", used):  # json.dumps(...) calls
            imports.add("import json")
        else:
            imports.discard("import json")
        stdlib = [i for i in imports if not i.split()[1].startswith("pulumi")]
        third = [i for i in imports if i.split()[1].startswith("pulumi")]
        blocks = [header]
        if stdlib:
            blocks.append(import_block(stdlib))
        if third:
            blocks.append(import_block(third))
        if self.helpers:  # top-level definitions: two blank lines between them, as ruff wants
            sources = [source.strip("\n") for _, source in sorted(self.helpers.items())]
            # Two blank lines before a def after the imports, one before a plain assignment.
            lead = "\n" if sources[0].startswith(("def ", "class ")) else ""
            blocks.append(lead + "\n\n\n".join(sources) + "\n")
        blocks.append(body)
        if self.exports:
            blocks.append(
                "\n".join(
                    # A plain value is data (a string stays a string), never code.
                    call_statement("", "pulumi.export", [py_string(k), literal(v)])
                    for k, v in sorted(self.exports.items())
                )
            )
        return "\n\n".join(b for b in blocks if b) + "\n"
