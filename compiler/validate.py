"""Schema validation: Document -> diagnostics, each at the offending key or value.

jsonschema is used only here. Every error is reported (not just the first);
for `oneOf` the best-matching branch is reported instead of one error per
branch.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Collection
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from crosswalk.compiler.diagnostics import ERROR, Diagnostic, format_path
from crosswalk.compiler.document import Document
from crosswalk.schema import load_schema

if TYPE_CHECKING:
    import jsonschema

# Human words for the schema's patterns, so errors say what is expected.
# tests check that every pattern in the schema has words here.
_LABEL_KEY = "^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
PATTERN_WORDS = {
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": (
        "a DNS-1123 label: lower-case letters, digits and '-', starting and ending"
        " with a letter or digit"
    ),
    "^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$": "an IPv4 CIDR such as 10.0.0.0/16",
    "^1\\.[0-9]{2}$": 'a Kubernetes minor version such as "1.35"',
    "^([0-9]+m|[0-9]+(\\.[0-9]+)?)$": "a CPU quantity such as 250m or 2",
    "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$": "a memory quantity such as 256Mi or 4Gi",
    "^[a-z0-9-]+$": "a region name: lower-case letters, digits and '-'",
    "^[a-z][-a-z0-9]{4,28}[a-z0-9]$": (
        "a GCP project id: 6 to 30 lower-case letters, digits and '-', starting with a letter"
    ),
    "^[0-9]{12}$": "an AWS account id: 12 digits",
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$": (
        "an Azure subscription id such as 00000000-0000-0000-0000-000000000000"
    ),
    "^arn:aws(-[a-z]+)*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$": (
        "the ARN of an account's GitHub OIDC provider, such as "
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    ),
    "^(s3|gs|azblob|file|https)://\\S+$": (
        "a Pulumi backend URL starting with s3://, gs://, azblob://, file:// or https://"
    ),
    "^(passphrase|default|(awskms|gcpkms|azurekeyvault)://\\S+)$": (
        "a secrets provider: passphrase, default (Pulumi Cloud's keys), or a key URL starting"
        " with awskms://, gcpkms:// or azurekeyvault://"
    ),
    "^awskms://(/?arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+"
    "|alias/[A-Za-z0-9/_-]+|(mrk-)?[0-9a-f-]{32,36})(\\?[A-Za-z0-9_=&.-]+)?$": (
        "an AWS KMS key URL: awskms://alias/NAME?region=REGION, awskms://KEY-ID?region=REGION"
        " or awskms:///arn:aws:kms:REGION:ACCOUNT:key/KEY-ID"
    ),
    "^gcpkms://projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/locations/[a-z0-9-]+"
    "/keyRings/[A-Za-z0-9_-]+/cryptoKeys/[A-Za-z0-9_-]+$": (
        "a Cloud KMS key URL: gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING"
        "/cryptoKeys/KEY"
    ),
    "^azurekeyvault://[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]\\.vault\\.azure\\.net"
    "/keys/[A-Za-z0-9-]+(/[0-9a-f]{32})?$": (
        "an Azure Key Vault key URL: azurekeyvault://VAULT.vault.azure.net/keys/KEY"
    ),
    "^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\\w.()]{1,90}$": (
        "an Azure resource group id: /subscriptions/SUBSCRIPTION-ID/resourceGroups/NAME"
    ),
    "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$": "a GitHub repository such as acme/apps",
    "^refs/(heads|tags)/\\S+$": "a git ref such as refs/heads/main or refs/tags/v1",
    "^[A-Za-z0-9_.-]+$": "a GitHub environment name: letters, digits, '_', '.' and '-'",
    "^[A-Za-z0-9][A-Za-z0-9._-]*$": "a machine or instance type such as m6i.large",
    _LABEL_KEY: "a Kubernetes label key such as workload or example.com/tier",
    "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$": (
        "a Kubernetes label value: letters, digits, '-', '_' and '.',"
        " starting and ending with a letter or digit"
    ),
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,63}$": "a DNS zone such as example.com",
    "^(\\*\\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,63}$": (
        "a host name such as shop.example.com"
    ),
    "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$": "an email address",
    "^[0-9]+(\\.[0-9]+)*$": 'a version number such as "16" or "8.0"',
    "^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    "(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[a-f0-9]{64})?|@sha256:[a-f0-9]{64})$": (
        "an image reference with a tag or digest, such as ghcr.io/acme/app:1.0"
    ),
    "^/\\S*$": "a path starting with '/'",
    "^[A-Za-z_][A-Za-z0-9_]*$": (
        "an environment variable name: letters, digits and '_', not starting with a digit"
    ),
}

# Plain words YAML 1.1 read as booleans; YAML 1.2 (and crosswalk) reads them as text.
_YAML11_BOOLEANS = {
    word: value
    for words, value in (("yes y on", True), ("no n off", False))
    for word in words.split()
    + [w.capitalize() for w in words.split()]
    + [w.upper() for w in words.split()]
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


@cache
def _ecma_pattern(pattern: str) -> re.Pattern:
    # Python's `$` also matches before a final newline; ECMA-262's does not.
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


def _pattern(validator, pattern, instance, schema):
    """JSON Schema `pattern` as editors (ECMA-262) read it, so "acme\n" is not
    a DNS name here either."""
    if validator.is_type(instance, "string") and not _ecma_pattern(pattern).search(instance):
        from jsonschema import ValidationError

        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=1)
def schema_validator() -> jsonschema.Draft7Validator:
    # jsonschema loads on first use: a recompile whose every part validated
    # clean before never needs it.
    import jsonschema

    validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _pattern})
    return validator(load_schema())


def describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        shown = repr(value) if math.isfinite(value) else f"{value:g}".replace("inf", ".inf")
        shown = ".nan" if math.isnan(value) else shown
        return f"a number ({shown})"
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


# Keywords of the root and of list sections whose outcome depends only on the
# mapping's keys or on the value being a list; anything else turns caching off.
_KEY_ONLY_KEYWORDS = {"$schema", "$id", "title", "description", "examples", "default", "type"}
_KEY_ONLY_KEYWORDS |= {"required", "properties", "additionalProperties", "items"}


def validate_document(
    document: Document,
    sections: Collection[str] | None = None,
    *,
    known: Collection[str] = (),
    valid: set[str] | None = None,
) -> list[Diagnostic]:
    """Check the data against the JSON Schema; report every error at its place.

    The document is checked in parts: the top-level keys, each section, and
    each item of a list section (an app, say). Every part that checks clean
    adds its digest (the part's place and content) to `valid`; a part whose
    digest is already in `valid` or in `known` (the previous compile's
    `valid`) is not checked again. `sections` limits the check to those
    top-level keys (an environment's overrides change only what they name;
    the rest was checked with the base).
    """
    diagnostics: list[Diagnostic] = []
    valid = set() if valid is None else valid
    schema = load_schema()
    data = document.data
    if not isinstance(data, dict) or not set(schema) <= _KEY_ONLY_KEYWORDS:
        for error in schema_validator().iter_errors(data):
            diagnostics.extend(_diagnose(error, document))
        return diagnostics

    def check(part_schema: dict, value: object, where: tuple, digest: str | None) -> None:
        if digest is not None and (digest in valid or digest in known):
            valid.add(digest)
            return
        found = [
            diagnostic
            for error in schema_validator().evolve(schema=part_schema).iter_errors(value)
            for diagnostic in _diagnose(error, document, where)
        ]
        diagnostics.extend(found)
        if not found and digest is not None:
            valid.add(digest)

    properties = schema.get("properties", {})
    if sections is None:
        # The top level: which keys there are (each section is checked below).
        keys_only = {**schema, "properties": {key: {} for key in properties}}
        check(keys_only, {key: None for key in data}, (), _digest("", sorted(data)))
    for key in sorted(data if sections is None else set(sections) & set(data)):
        section, value = properties.get(key), data[key]
        if not isinstance(section, dict):
            continue  # an unknown key, reported at the top level
        items = section.get("items")
        if (
            isinstance(value, list)
            and isinstance(items, dict)
            and set(section) <= _KEY_ONLY_KEYWORDS
        ):
            for index, item in enumerate(value):
                check(items, item, (key, index), _digest(f"{key}[]", item))
        else:
            check(section, value, (key,), _digest(key, value))
    return diagnostics


def _digest(place: str, value: object) -> str:
    """What a part of the document is and where: equal digests, equal verdicts."""
    text = json.dumps([place, value], sort_keys=True, ensure_ascii=False, allow_nan=True)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _diagnose(
    error: jsonschema.ValidationError, document: Document, prefix: tuple = ()
) -> list[Diagnostic]:
    path = prefix + tuple(error.absolute_path)
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
        meant = [i for i, b in enumerate(branches) if fits_type(instance, b.get("type"))]
        context = error.context or []
        if len(meant) == 1:
            context = [e for e in context if e.schema_path and e.schema_path[0] == meant[0]]
        from jsonschema.exceptions import best_match

        best = best_match(context) if context else None
        if best is not None:
            return _diagnose(best, document, prefix)
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

    if "propertyNames" in error.relative_schema_path:
        # jsonschema checks a key as if it were a value and reports it at the
        # mapping; report it at the key itself.
        where = path + (instance,)
        if kind == "pattern":
            words = _pattern_words(error.validator_value)
            return [at("CW105", f"key '{instance}' is not {words}", where, key=True)]
        if kind == "maxLength":
            limit = error.validator_value
            message = f"key '{instance}' is longer than {limit} characters"
            return [at("CW106", message, where, key=True)]
        return [at("CW107", f"key '{instance}': {error.message}", where, key=True)]

    if kind == "type":
        expected = error.validator_value
        expected = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        help = None
        if "string" in expected and isinstance(instance, (int, float, bool)):
            help = "quote the value so YAML reads it as a string"
        elif "boolean" in expected and isinstance(instance, str) and instance in _YAML11_BOOLEANS:
            help = (
                f"write {'true' if _YAML11_BOOLEANS[instance] else 'false'}:"
                f" YAML 1.2 reads '{instance}' as text"
            )
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
        expected = _literal(error.validator_value)
        return [at("CW108", f"expected {expected}, found {describe(instance)}")]

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
        count = error.validator_value
        items = "item" if count == 1 else "items"
        return [at("CW106", f"the list must have {bound} {count} {items}")]

    if kind in ("minProperties", "maxProperties"):
        bound = "at least" if kind == "minProperties" else "at most"
        count = error.validator_value
        entries = "entry" if count == 1 else "entries"
        help = None
        if "default" in schema and path:
            help = f"remove '{path[-1]}' to take its default, or add an entry"
        return [
            at("CW106", f"the mapping must have {bound} {count} {entries}", key=True, help=help)
        ]

    if kind == "uniqueItems" and isinstance(instance, list):
        # Equal as jsonschema sees it (1 == 1.0), so every such error lands here.
        for index, item in enumerate(instance):
            if any(same_value(item, earlier) for earlier in instance[:index]):
                return [
                    at(
                        "CW201",
                        f"{describe(item)} is listed twice",
                        path + (index,),
                        help="list each value once",
                    )
                ]

    return [at("CW107", error.message)]


def _literal(value: object) -> str:
    """A schema value as the user would write it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def same_value(a: object, b: object) -> bool:
    """Equality as JSON Schema means it: 1 equals 1.0, true does not equal 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_value, a, b))
    return a == b


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


def fits_type(value: object, schema_type) -> bool:
    if schema_type is None:
        return True
    expected = _PYTHON_TYPES.get(schema_type, object)
    if isinstance(value, bool) and schema_type in ("integer", "number"):
        return False
    return isinstance(value, expected)
