"""Pulumi's stack config files (`Pulumi.<env>.yaml`): the part crosswalk owns.

A stack's file is shared. crosswalk writes the config values that differ
between environments (the keys its Pulumi.yaml declares) and, when
`state.secretsProvider` names a key service, `secretsprovider`. Pulumi writes
`encryptionsalt` (passphrase), `encryptedkey` (a key service) and whatever
`pulumi config set` adds, and a recompile must keep every byte of that: a lost
salt makes every secret in the stack's state unreadable.

`render_stack_config` gives the file crosswalk writes for a new stack (YAML as
Pulumi writes it: block style, two-space indent, keys sorted). `merge_stack_config`
brings an existing file up to date by editing only the entries crosswalk owns,
line by line, so neither side rewrites the other's formatting; a file whose
owned values already hold is returned as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import yaml

# What `state.secretsProvider` may say besides a key URL.
PASSPHRASE, SERVICE = "passphrase", "default"
KEY_SERVICES = ("awskms://", "gcpkms://", "azurekeyvault://")
PULUMI_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt")


class StackConfigError(Exception):
    """An existing stack file cannot be brought up to date without losing something."""


@dataclass(frozen=True)
class OwnedKeys:
    """What crosswalk writes into one stack's file."""

    config: Mapping[str, object]  # "<project>:<key>" -> value
    secrets_provider: str | None = None  # written as `secretsprovider:` (key services only)


# --- rendering --------------------------------------------------------------------------


class _StackDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):
        # Lists indented under their key, as Pulumi writes them.
        return super().increase_indent(flow, False)


_PLAIN = re.compile(r"[A-Za-z0-9_./@+-][A-Za-z0-9_ ./:@+=,?&%~-]*")
_RESOLVER = yaml.resolver.Resolver()


def _plain(text: str) -> bool:
    """Whether `text` reads back as the same string written without quotes."""
    return (
        bool(_PLAIN.fullmatch(text))
        and text == text.strip()
        and ": " not in text
        and not text.endswith(":")
        and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"
    )


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = None if _plain(text) else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_StackDumper.add_representer(str, _represent_str)


def _dump(data: Mapping[str, object]) -> str:
    return yaml.dump(
        dict(data),
        Dumper=_StackDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
        indent=2,
    )


def scalar(text: str) -> str:
    """`text` as a YAML scalar: plain when that reads back as the same string,
    else double-quoted (JSON's escapes are YAML's too)."""
    return text if _plain(text) else json.dumps(text)


_HEADER_END = "# written by Pulumi"  # how the header's last sentence starts


def header(env: str, project: str, owned: OwnedKeys, secrets: str | None) -> str:
    """The comment that opens the file: which keys crosswalk owns."""
    lines = [f"# Stack '{env}' of {project}, written by crosswalk from platform.yaml."]
    names = [f"config {scalar(key)}" for key in sorted(owned.config)]
    if owned.secrets_provider:
        names.insert(0, "secretsprovider")
    if names:
        lines.append("# crosswalk owns these keys and sets them again on every compile:")
        lines += [f"#   {name}" for name in names]
    else:
        lines.append("# crosswalk owns no key in this file.")
    pulumis = [k for k in PULUMI_KEYS if not (k == "secretsprovider" and owned.secrets_provider)]
    lines.append(
        f"# It keeps everything else as it is: {', '.join(pulumis[:-1])} and {pulumis[-1]}"
    )
    lines.append(f"{_HEADER_END}, and values set with `pulumi config set`.")
    if secrets == PASSPHRASE:
        lines.append(
            "# Secrets: passphrase (PULUMI_CONFIG_PASSPHRASE); Pulumi adds encryptionsalt."
        )
    elif secrets == SERVICE:
        lines.append("# Secrets: Pulumi Cloud's own keys.")
    return "\n".join(lines) + "\n"


def render_stack_config(env: str, project: str, owned: OwnedKeys, secrets: str | None) -> str:
    """The file of a stack that has none yet."""
    body: dict[str, object] = {}
    if owned.secrets_provider:
        body["secretsprovider"] = owned.secrets_provider
    text = header(env, project, owned, secrets)
    if body:
        text += _dump(body)
    if owned.config:
        text += _dump({"config": dict(owned.config)})
    return text


# --- reading and merging ----------------------------------------------------------------


def _same(a: object, b: object) -> bool:
    """Equal as config values (True is not 1, 2 is not "2")."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def read_stack_config(text: str, where: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StackConfigError(f"{where}: not valid YAML ({_problem(exc)}); fix or delete it")
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("config") or {}, dict):
        raise StackConfigError(f"{where}: not a Pulumi stack config file; fix or delete it")
    return data


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


def secrets_in_use(data: Mapping) -> str | None:
    """The secrets provider an initialised stack's file says its secrets use."""
    provider = data.get("secretsprovider")
    if isinstance(provider, str) and provider not in ("", SERVICE, PASSPHRASE):
        return provider if data.get("encryptedkey") else None
    if data.get("encryptionsalt"):
        return PASSPHRASE
    return None


def check_secrets_provider(data: Mapping, wanted: str | None, where: str) -> None:
    """Refuse to point a stack whose secrets are already encrypted at another
    provider: the secrets in its state would no longer decrypt."""
    if wanted is None:
        return
    found = secrets_in_use(data)
    if found is None or found == wanted:
        return
    raise StackConfigError(
        f"{where}: this stack's secrets are encrypted with {_provider_words(found)}, but "
        f"state.secretsProvider is {_provider_words(wanted)}; move the stack over first with "
        f"`pulumi stack change-secrets-provider {wanted!s}` in its directory (or set "
        "state.secretsProvider back), then compile again"
    )


def _provider_words(provider: str) -> str:
    if provider == PASSPHRASE:
        return "a passphrase"
    if provider == SERVICE:
        return "Pulumi Cloud's keys"
    return f"'{provider}'"


def up_to_date(data: Mapping, owned: OwnedKeys, previously: Collection[str]) -> bool:
    config = data.get("config") or {}
    if any(key not in config or not _same(config[key], v) for key, v in owned.config.items()):
        return False
    if any(key in config for key in previously if key not in owned.config):
        return False
    return not owned.secrets_provider or data.get("secretsprovider") == owned.secrets_provider


def merge_stack_config(
    existing: str,
    fresh: str,
    owned: OwnedKeys,
    *,
    previously: Collection[str] = (),
    secrets: str | None = None,
    where: str = "Pulumi.<env>.yaml",
) -> str:
    """`existing` with crosswalk's keys set as `owned` says.

    `previously`: config keys crosswalk owned before (the old Pulumi.yaml's
    declarations); those it no longer writes are removed. Everything else,
    comments included, stays byte for byte. `fresh` is the file crosswalk
    would write for a new stack; its header replaces crosswalk's old one.
    Raises StackConfigError when the file cannot be read, or when its secrets
    are encrypted with another provider than `secrets`."""
    data = read_stack_config(existing, where)
    check_secrets_provider(data, secrets, where)
    if up_to_date(data, owned, previously):
        return existing
    root = yaml.compose(existing)
    fresh_header = _leading_comments(fresh.splitlines(keepends=True))
    lines = existing.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if root is None:  # comments only: they stay, under crosswalk's header
        return "".join(_replace_header(lines, fresh_header)) + fresh[len("".join(fresh_header)) :]
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        return _rewritten(data, owned, previously, fresh_header)
    starts = [key.start_mark.line for key, _ in root.value]
    head, segments = lines[: starts[0]], _segments(lines, starts)
    keys = [key.value for key, _ in root.value]
    values = [value for _, value in root.value]
    out: list[str] = _replace_header(head, fresh_header)
    if owned.secrets_provider and "secretsprovider" not in keys:
        out += _dump({"secretsprovider": owned.secrets_provider}).splitlines(keepends=True)
    config_written = False
    for key, value, segment, start in zip(keys, values, segments, starts, strict=True):
        if key == "secretsprovider" and owned.secrets_provider:
            if data.get("secretsprovider") != owned.secrets_provider:
                segment = _dump({"secretsprovider": owned.secrets_provider}).splitlines(True)
        elif key == "config":
            merged = _merged_config(segment, start, value, data, owned, previously)
            if merged is None:
                return _rewritten(data, owned, previously, fresh_header)
            segment, config_written = merged, True
        out += segment
    if not config_written and owned.config:
        out += _dump({"config": dict(owned.config)}).splitlines(keepends=True)
    return "".join(out)


def _leading_comments(lines: list[str]) -> list[str]:
    taken = []
    for line in lines:
        if not line.startswith("#"):
            break
        taken.append(line)
    return taken


def _replace_header(head: list[str], fresh_header: list[str]) -> list[str]:
    """crosswalk's header in place of its old one (found by its first line),
    or on top when Pulumi or a user dropped it; other comments stay."""
    marker = fresh_header[0].split(",", 1)[0] if fresh_header else None
    if not (marker and head and head[0].startswith(marker)):
        return fresh_header + head
    old = _leading_comments(head)
    end = next((i + 1 for i, line in enumerate(old) if line.startswith(_HEADER_END)), 1)
    if end < len(old) and old[end].startswith("# Secrets:"):
        end += 1
    return fresh_header + head[end:]


def _segments(lines: list[str], starts: list[int]) -> list[list[str]]:
    """The lines of each entry: from its key to the next entry's key."""
    ends = starts[1:] + [len(lines)]
    return [lines[start:end] for start, end in zip(starts, ends, strict=True)]


def _merged_config(
    segment: list[str],
    first_line: int,
    node: yaml.Node,
    data: Mapping,
    owned: OwnedKeys,
    previously: Collection[str],
) -> list[str] | None:
    """The `config:` entry (its lines, from file line `first_line`) with the
    owned keys set, added or removed in place; None when it is not a block
    mapping this can edit line by line."""
    config = data.get("config") or {}
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        starts = [key.start_mark.line - first_line for key, _ in node.value]
        opening = segment[: starts[0]]
        entries = [
            (key.value, lines)
            for (key, _), lines in zip(node.value, _segments(segment, starts), strict=True)
        ]
        indent = node.value[0][0].start_mark.column
    elif not config and isinstance(node, (yaml.ScalarNode, yaml.MappingNode)):
        entries, opening, indent = [], ["config:\n"], 2  # `config:` or `config: {}`
    else:
        return None

    def rendered(key: str) -> list[str]:
        text = _dump({key: owned.config[key]})
        return [" " * indent + line for line in text.splitlines(keepends=True)]

    pending = sorted(key for key in owned.config if key not in config)
    out, written = list(opening), 0
    for key, lines in entries:
        while pending and pending[0] < key:
            out += rendered(pending.pop(0))
            written += 1
        if key in owned.config:
            out += lines if _same(config.get(key), owned.config[key]) else rendered(key)
        elif key in previously:
            continue  # crosswalk wrote it, and no longer does
        else:
            out += lines
        written += 1
    for key in pending:
        out += rendered(key)
        written += 1
    return out if written else []


def _rewritten(
    data: Mapping, owned: OwnedKeys, previously: Collection[str], fresh_header: list[str]
) -> str:
    """The file written anew (its comments lost): only for a shape the line
    editor does not handle, such as a flow-style mapping. Pulumi's keys first,
    in the order Pulumi writes them."""
    body = {k: v for k, v in data.items() if k != "config"}
    if owned.secrets_provider:
        body["secretsprovider"] = owned.secrets_provider
    config = {
        k: v
        for k, v in (data.get("config") or {}).items()
        if k in owned.config or k not in previously
    }
    config.update(owned.config)
    text = "".join(fresh_header)
    for key in PULUMI_KEYS:
        if key in body:
            text += _dump({key: body[key]})
    rest = {k: v for k, v in body.items() if k not in PULUMI_KEYS}
    if rest:
        text += _dump(rest)
    if config:
        text += _dump({"config": config})
    return text
