"""Recorded plans: what lets `plan --offline` and `diff` skip a stack whose inputs did not change.

A stack's plan is a function of what its program can read: its files (the program, its helper
modules, Pulumi.yaml and the environment's Pulumi.<env>.yaml), the environment, the upstream
outputs it reads, crosswalk's own code (the mock runtime makes outputs up) and the versions of
the SDKs that run it. `plan_key` hashes exactly those; a plan recorded under the same key is
the plan the stack would give again. Only plans that succeeded are recorded.

The outputs a stack reads are the exports of the stacks it depends on and reads whose names its
program spells as string literals (`require_output("kubeconfig")`); a program that reads an
output in any other way (a computed name, `StackReference.outputs`) is keyed on every export of
those stacks, so a changed output can never be missed.

Recorded plans live in the compile's cache file, `OUT/crosswalk.cache.json`, one JSON line each
after the compile's own record (see stack_cache.py). A plan keeps the lines it used (read or
written) in the environments it planned, and those of other environments: the file holds the
last plan of each environment. Deleting it only costs time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

from crosswalk.compiler.mock_values import dump_value, load_value
from crosswalk.compiler.mocks import ResourceRecord
from crosswalk.compiler.stack_cache import CACHE_FILE, _code_fingerprint, read_cache, write_plans

# What a program directory may hold that the program never runs.
_NOT_READ = frozenset({"__pycache__", "venv", ".venv", "node_modules"})
_SDKS = (
    "pulumi",
    "pulumi-aws",
    "pulumi-eks",
    "pulumi-gcp",
    "pulumi-azure-native",
    "pulumi-kubernetes",
    "pulumi-random",
    "protobuf",
)
_OUTPUT_CALL = re.compile(r"\.(?:require_|get_)output(?:_details)?\(")
_LITERAL_CALL = re.compile(
    r"\.(?:require_|get_)output(?:_details)?\(\s*(?:\"([^\"\\\n]*)\"|'([^'\\\n]*)')\s*[,)]"
)
_WHOLE_OUTPUTS = re.compile(r"\.outputs\b")


@cache
def _sdk_versions() -> str:
    from importlib import metadata

    versions = []
    for name in _SDKS:
        try:
            versions.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    return ";".join(versions) + f";python {sys.version_info[0]}.{sys.version_info[1]}"


def program_files(program_dir: Path, env: str) -> list[tuple[str, bytes]]:
    """(relative path, bytes) of every file the program can read in `env`, sorted: other
    environments' stack config and what Pulumi or Python leave in the folder excluded."""
    found: list[tuple[str, bytes]] = []
    for folder, dirs, names in os.walk(program_dir):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_READ)
        relative = os.path.relpath(folder, program_dir)
        for name in names:
            other_config = name.startswith("Pulumi.") and name not in (
                "Pulumi.yaml",
                f"Pulumi.{env}.yaml",
            )
            if relative == "." and other_config:
                continue
            if name.endswith(".pyc"):
                continue
            path = name if relative == "." else f"{relative}/{name}".replace(os.sep, "/")
            try:
                with open(os.path.join(folder, name), "rb") as handle:
                    found.append((path, handle.read()))
            except OSError:
                continue
    return sorted(found)


def read_outputs(files: Iterable[tuple[str, bytes]]) -> set[str] | None:
    """The upstream output names a program reads, or None when it may read any."""
    names: set[str] = set()
    for path, data in files:
        if not path.endswith(".py"):
            continue
        text = data.decode("utf-8", errors="replace")
        literal = _LITERAL_CALL.findall(text)
        if len(literal) != len(_OUTPUT_CALL.findall(text)) or _WHOLE_OUTPUTS.search(text):
            return None
        names.update(a or b for a, b in literal)
    return names


def files_digest(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for path, data in files:
        digest.update(f"{path}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def plan_key(
    files: list[tuple[str, bytes]],
    project: str,
    env: str,
    upstream: Mapping[str, Mapping[str, Any]],
) -> str:
    """The content hash a plan is recorded under. `upstream`: project -> exports of the stacks
    the program is given; only the outputs it reads count."""
    names = read_outputs(files)
    digest = hashlib.sha256()
    digest.update(f"crosswalk-plan 1\0{_code_fingerprint()}\0{_sdk_versions()}\0".encode())
    digest.update(json.dumps([project, env]).encode() + b"\0")
    digest.update(files_digest(files).encode())
    read = {
        name: {k: dump_value(v) for k, v in sorted(exports.items()) if names is None or k in names}
        for name, exports in sorted(upstream.items())
    }
    digest.update(json.dumps(read, sort_keys=True, separators=(",", ":")).encode())
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Plans as JSON.

_RECORD_FIELDS = tuple(f.name for f in fields(ResourceRecord))


def plan_data(plan) -> dict[str, Any]:
    """A successful `StackPlan` as JSON data (everything but where and when it ran)."""
    return {
        "resources": [
            {name: dump_value(getattr(record, name)) for name in _RECORD_FIELDS}
            for record in plan.resources
        ],
        "exports": dump_value(plan.exports),
        "logs": [list(entry) for entry in plan.logs],
        "seconds": plan.seconds,
    }


def load_plan(data: Mapping[str, Any], dir_: str, project: str, layer: str):
    from crosswalk.compiler.plan import StackPlan

    resources = [
        ResourceRecord(**{name: load_value(raw[name]) for name in _RECORD_FIELDS})
        for raw in data["resources"]
    ]
    return StackPlan(
        dir=dir_,
        project=project,
        layer=layer,
        resources=resources,
        exports=load_value(data["exports"]),
        logs=[(str(severity), str(message)) for severity, message in data["logs"]],
        seconds=float(data["seconds"]),
        cached=True,
    )


# --------------------------------------------------------------------------------------------
# The cache.


# How a recorded plan's line starts (its keys are sorted): what indexing it needs, read without
# parsing the plan itself, which only a stack that uses it pays for.
_LINE_HEAD = re.compile(
    r'\{"env":("(?:[^"\\]|\\.)*"),"files":"([0-9a-f]{64})","key":"(sha256:[0-9a-f]{64})","plan":'
)


class PlanCache:
    """Recorded plans, read from the cache files of one or more compiled trees (a diff's two
    sides share what either recorded) and written back to each tree's own file."""

    def __init__(self, roots: Iterable[Path]):
        self.roots = [Path(root) for root in roots]
        self._lines: dict[str, str] = {}  # key -> its line, as read or made
        self._env_of: dict[str, str] = {}
        self._kept: dict[Path, dict[str, str]] = {}  # root -> key -> line of other environments
        self._used: dict[Path, dict[str, str]] = {root: {} for root in self.roots}
        self._planned_envs: set[str] = set()
        self._known: set[tuple[str, str]] = set()  # (env, files digest) of the plans recorded
        self.hits = 0
        self.misses = 0
        for root in self.roots:
            self._kept[root] = {}
            _, text = read_cache(root / CACHE_FILE)
            for line in text.splitlines():
                head = _LINE_HEAD.match(line)
                if head is None:
                    continue  # a damaged line only costs its stack's time
                try:
                    env = json.loads(head.group(1))
                except ValueError:
                    continue
                key = head.group(3)
                self._known.add((env, head.group(2)))
                self._lines[key] = line
                self._env_of[key] = env
                self._kept[root][key] = line

    def knows(self, files: list[tuple[str, bytes]], env: str) -> bool:
        """Whether a plan is recorded for these program files (with whatever upstream)."""
        return (env, files_digest(files)) in self._known

    def get(self, key: str, dir_: str, project: str, layer: str, env: str):
        """The plan recorded under `key`, or None."""
        self._planned_envs.add(env)
        line = self._lines.get(key)
        if line is None:
            self.misses += 1
            return None
        try:
            plan = load_plan(json.loads(line)["plan"], dir_, project, layer)
        except (ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return plan

    def use(self, root: Path, key: str, env: str, plan=None, files=None) -> None:
        """Record that the tree at `root` planned `key` (with `plan` and its program's `files`
        when it was just made)."""
        self._planned_envs.add(env)
        if plan is not None and key not in self._lines:
            digest = files_digest(files or [])
            self._known.add((env, digest))
            line = json.dumps(
                {
                    "env": env,
                    "files": digest,
                    "key": key,
                    "plan": plan_data(plan),
                    "stack": plan.dir,
                },
                sort_keys=True,
                separators=(",", ":"),
            )
            self._lines[key] = line
            self._env_of[key] = env
        if key in self._lines and Path(root) in self._used:
            self._used[Path(root)][key] = self._lines[key]

    def save(self) -> None:
        """Write each tree's lines: the ones it used, then those of environments not planned."""
        for root in self.roots:
            lines = dict(sorted(self._used[root].items()))
            for key, line in self._kept[root].items():
                if self._env_of.get(key) not in self._planned_envs and key not in lines:
                    lines[key] = line
            write_plans(root / CACHE_FILE, "".join(line + "\n" for line in lines.values()))
