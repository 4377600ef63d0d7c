"""What OUT must hold after a compile, and whether it does (`compile --check`).

A compile's files are pure: the same platform.yaml gives the same bytes. OUT
also holds what Pulumi wrote into the stack config files (the passphrase
salt, a key service's encrypted key, `pulumi config set` values), so those
files are merged with the ones already there (see stackconfig.py) before
they are written or compared. Everything else in OUT that crosswalk did not
write is left alone and reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from crosswalk.compiler.stackconfig import OwnedKeys, merge_stack_config
from crosswalk.compiler.writer import CACHE, Listing, stack_of

_STACK_CONFIG = re.compile(r"Pulumi\.(?P<env>[^/]+)\.yaml")


@dataclass
class Output:
    """crosswalk's part of OUT, as it must be."""

    files: dict[str, str]  # path -> text, stack config files merged with OUT's
    preserve: list[str] = field(default_factory=list)  # other stacks' config files: kept
    notes: list[str] = field(default_factory=list)  # what was found and left alone


@dataclass
class Difference:
    """Where OUT is not what the platform compiles to."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # crosswalk's files the platform no longer has

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def lines(self) -> list[str]:
        return [
            f"{kind:>8}  {path}"
            for kind, paths in (
                ("changed", self.changed),
                ("missing", self.missing),
                ("extra", self.extra),
            )
            for path in paths
        ]


def prepare_output(
    files: dict[str, str],
    out: Path,
    listing: Listing,
    *,
    kept: list[str] = (),
    environments: list[str] = (),
    secrets: str | None = None,
) -> Output:
    """The files to write into OUT: `files`, each stack config file merged
    with the one OUT has. Raises StackConfigError (see stackconfig.py).

    `kept`: stacks carried over as they are; `environments`: every
    environment the platform declares; `secrets`: `state.secretsProvider`."""
    result = dict(files)
    for path, fresh in files.items():
        match = _STACK_CONFIG.fullmatch(path.rpartition("/")[2])
        if match is None or path not in listing.files:
            continue
        existing = Path(listing.files[path]).read_text(encoding="utf-8")
        owned_data = yaml.safe_load(fresh) or {}
        owned = OwnedKeys(owned_data.get("config") or {}, owned_data.get("secretsprovider"))
        result[path] = merge_stack_config(
            existing,
            fresh,
            owned,
            previously=_declared_keys(listing, stack_of(path)),
            secrets=secrets,
            where=str(out / path),
        )
    stacks = {stack_of(path) for path in files if "/" in path} | set(kept)
    output = Output(result)
    for path in sorted(listing.files):
        match = _STACK_CONFIG.fullmatch(path.rpartition("/")[2])
        if match is None or path in files or "/" not in path or stack_of(path) not in stacks:
            continue
        output.preserve.append(path)
        if match["env"] not in environments:
            output.notes.append(
                f"{out / path}: config of stack '{match['env']}', an environment platform.yaml "
                "does not declare; left as it is"
            )
    for path in listing.strays:
        output.notes.append(f"{out / path}: not written by crosswalk or Pulumi; left as it is")
    return output


def _declared_keys(listing: Listing, stack: str) -> set[str]:
    """The config keys crosswalk wrote last time: what the stack's current
    Pulumi.yaml declares, qualified with its project's name."""
    path = listing.files.get(f"{stack}/Pulumi.yaml")
    if path is None:
        return set()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return set()
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        return set()
    project = str(data.get("name", ""))
    return {key if ":" in str(key) else f"{project}:{key}" for key in data["config"]}


def compare_output(output: Output, listing: Listing) -> Difference:
    """How OUT's crosswalk part differs from `output` (content, not dates or
    the cache: a hand edit of one character is a difference)."""
    difference = Difference()
    for path, text in sorted(output.files.items()):
        if path == CACHE:
            continue
        if path not in listing.files:
            difference.missing.append(path)
        elif Path(listing.files[path]).read_bytes() != text.encode("utf-8"):
            difference.changed.append(path)
    skip = set(output.files) | set(output.preserve) | {CACHE}
    difference.extra = sorted(path for path in listing.files if path not in skip)
    return difference
