"""Schema validation: Document -> diagnostics, each at the offending key or value.

jsonschema is used only here. Every error is reported (not just the first);
for `oneOf` the best-matching branch is reported instead of one error per
branch.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

import jsonschema
from jsonschema.exceptions import best_match

from crosswalk.compiler.diagnostics import ERROR, Diagnostic, format_path
from crosswalk.compiler.document import Document
from crosswalk.schema import load_schema

# Human words for the schema's patterns, so errors say what is expected.
PATTERN_WORDS = {
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": (
        "a DNS-1123 label: lower-case letters, digits and '-', starting and ending"
        " with a letter or digit"
    ),
    "^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$": "an IPv4 CIDR such as 10.0.0.0/16",
    "^1\\.[0-9]{2}$": "a Kubernetes minor version such as \"1.31\"",
    "^([0-9]+m|[0-9]+(\\.[0-9]+)?)$": "a CPU quantity such as 250m or 2",
    "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$": "a memory quantity such as 256Mi or 4Gi",
}

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


@lru_cache(maxsize=1)
def schema_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(load_schema())


def describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value:g})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) <= 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def did_you_mean(word: str, choices) -> str | None:
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def quoted_list(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def validate_document(document: Document) -> list[Diagnostic]:
    """Check the data against the JSON Schema; report every error at its place."""
    diagnostics: list[Diagnostic] = []
    for error in schema_validator().iter_errors(document.data):
        diagnostics.extend(_diagnose(error, document))
    return diagnostics


def _diagnose(error: jsonschema.ValidationError, document: Document) -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance

    def at(code, message, where=path, *, key=False, help=None):
        return Diagnostic(
            ERROR,
            code,
            message,
            document.span(where, key=key),
            format_path(where),
            help,
            document.file,
        )

    if kind == "oneOf" or kind == "anyOf":
        # Report the branch meant for this kind of value; else jsonschema's best match.
        branches = error.validator_value
        meant = [i for i, b in enumerate(branches) if _fits_type(instance, b.get("type"))]
        context = error.context or []
        if len(meant) == 1:
            context = [e for e in context if e.schema_path and e.schema_path[0] == meant[0]]
        best = best_match(context) if context else None
        if best is not None:
            return _diagnose(best, document)
        return [at("CW107", "value matches none of the allowed forms")]

    if kind == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {})
        found = []
        for key in sorted(k for k in instance if k not in known):
            help = did_you_mean(key, known) if known else None
            if help is None and known:
                help = f"allowed keys: {', '.join(sorted(known))}"
            found.append(at("CW101", f"unknown key '{key}'", path + (key,), key=True, help=help))
        return found or [at("CW107", error.message)]

    if kind == "required" and isinstance(instance, dict):
        # jsonschema reports one error per missing key, naming it in the message.
        missing = [name for name in error.validator_value if name not in instance]
        name = next((n for n in missing if repr(n) in error.message), missing[0])
        return [at("CW103", f"missing required key '{name}'", key=True)]

    if kind == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        help = None
        if "string" in expected and isinstance(instance, (int, float, bool)):
            help = "quote the value so YAML reads it as a string"
        return [at("CW102", f"expected {words}, found {describe(instance)}", help=help)]

    if kind == "enum":
        allowed = error.validator_value
        help = did_you_mean(instance, [str(v) for v in allowed])
        return [
            at(
                "CW104",
                f"{describe(instance)} is not one of {quoted_list(allowed)}",
                help=help,
            )
        ]

    if kind == "const":
        return [at("CW108", f"expected '{error.validator_value}', found {describe(instance)}")]

    if kind == "propertyNames":
        # The error sits on the mapping; the offending key is the instance.
        return [
            at(
                "CW105",
                f"key {instance!r} is not {_pattern_words(schema.get('pattern', ''))}",
                path + (instance,),
                key=True,
            )
        ]

    if kind == "pattern":
        return [at("CW105", f"{describe(instance)} is not {_pattern_words(error.validator_value)}")]

    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = "at least" if "inimum" in kind else "at most"
        return [at("CW106", f"{describe(instance)} must be {bound} {error.validator_value}")]

    if kind in ("minLength", "maxLength"):
        bound = "at least" if kind == "minLength" else "at most"
        return [
            at(
                "CW106",
                f"{describe(instance)} must be {bound} {error.validator_value} characters long",
            )
        ]

    if kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        return [at("CW106", f"the list must have {bound} {error.validator_value} item(s)")]

    if kind == "uniqueItems" and isinstance(instance, list):
        seen = set()
        for index, item in enumerate(instance):
            marker = repr(item)
            if marker in seen:
                return [at("CW201", f"{describe(item)} is listed twice", path + (index,))]
            seen.add(marker)

    return [at("CW107", error.message)]


def _pattern_words(pattern: str) -> str:
    return PATTERN_WORDS.get(pattern, f"in the expected format (pattern {pattern})")


_PYTHON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def _fits_type(value: object, schema_type) -> bool:
    if schema_type is None:
        return True
    expected = _PYTHON_TYPES.get(schema_type, object)
    if isinstance(value, bool) and schema_type in ("integer", "number"):
        return False
    return isinstance(value, expected)
