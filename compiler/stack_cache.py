"""The stack cache: what lets a recompile skip the stacks whose inputs did
not change (crosswalk.cache.json in OUT; deleting it only costs time).

The file's first line is the compile's record (one JSON object); each line
after it is a plan `crosswalk plan --offline` recorded (see plan_cache.py). A
compile reads the first line alone and carries the others over untouched, so
recorded plans cost a recompile nothing."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection
from pathlib import Path

from crosswalk.compiler.graph import LAYER_DIRS

CACHE_FILE = "crosswalk.cache.json"
CACHE_VERSION = 7


class StackCache:
    """Lets a recompile skip stacks whose inputs did not change.

    A stack's fingerprint covers everything its program can read, the
    environment chosen and crosswalk's own code. An app stack reads the whole
    platform but the other apps: the app itself and the apps it depends on. A
    layer stack reads the platform but the apps, unless its emitter looked at
    them last time (the apps it is shown note that; see emit_programs), and
    then the apps too. Its consumers must read the same outputs it exported.
    When that holds, the stack's files are carried over unread. The cache lives in
    OUT as crosswalk.cache.json; deleting it only costs time.
    """

    @staticmethod
    def fingerprints(data: dict, env: str | None, source: str) -> dict[str, str | tuple]:
        """Stack -> fingerprint; a layer's is (without the apps, with them)."""
        apps = data.get("apps", []) if isinstance(data.get("apps"), list) else []
        base = hashlib.sha256()
        base.update(_code_fingerprint().encode())
        shared = {k: v for k, v in data.items() if k != "apps"}
        # The layers read the apps built from their own repositories (their
        # registry repositories, identities and access), never looking at the
        # other apps: those are in every layer's fingerprint (Platform.builds).
        shared["builds"] = [a for a in apps if isinstance(a, dict) and "build" in a]
        base.update(json.dumps([env, source, shared], sort_keys=True, default=str).encode())
        result: dict[str, str | tuple] = {}
        apps_text = json.dumps(apps, sort_keys=True, default=str).encode()
        for layer in LAYER_DIRS.values():
            without = base.copy()
            without.update(json.dumps(["layer", layer]).encode())
            with_apps = without.copy()
            with_apps.update(apps_text)
            result[layer] = ("sha256:" + without.hexdigest(), "sha256:" + with_apps.hexdigest())
        by_name = {a.get("name"): a for a in apps if isinstance(a, dict)}
        for index, app in enumerate(apps):
            if not isinstance(app, dict) or not isinstance(app.get("name"), str):
                continue
            targets = [by_name.get(name) for name in app.get("dependsOn", [])]
            digest = base.copy()
            digest.update(json.dumps([index, app, targets], sort_keys=True, default=str).encode())
            result[f"06-apps/{app['name']}"] = "sha256:" + digest.hexdigest()
        return result

    @staticmethod
    def render(
        stacks_meta: list[dict],
        contexts: dict,
        kept: dict,
        inputs: dict,
        valid: Collection[str],
        wanted: dict[str, set],
    ) -> str:
        entries = {}
        for meta in stacks_meta:
            stack = meta["dir"]
            if stack not in inputs:
                continue
            if stack in kept:
                entries[stack] = kept[stack]
                continue
            ctx = contexts[stack]
            entries[stack] = {
                "inputs": StackCache._chosen(inputs[stack], ctx.reads_apps),
                "readsApps": ctx.reads_apps,
                "reads": {u: sorted(o) for u, o in sorted(ctx.reads.items())},
                "exports": sorted(wanted.get(stack, ())),
                "meta": {k: v for k, v in meta.items() if k in ("hash", "oneAtATime")},
            }
        cache = {
            "version": CACHE_VERSION,
            "code": _code_fingerprint(),
            "stacks": entries,
            "validated": sorted(valid),
        }
        # Compact: the file is read by crosswalk only, and JSON without indent
        # is written by json's C encoder (with indent, by its Python one).
        return json.dumps(cache, sort_keys=True, separators=(",", ":")) + "\n"

    @staticmethod
    def _chosen(fingerprint, reads_apps: bool):
        """A layer's fingerprint (a pair) as its program read the apps or not."""
        if isinstance(fingerprint, tuple):
            return fingerprint[1 if reads_apps else 0]
        return fingerprint

    @staticmethod
    def known_valid(previous: dict | None) -> list[str]:
        """Digests of document parts the previous compile found valid, when
        it ran the same crosswalk (and so the same schema)."""
        if not isinstance(previous, dict) or previous.get("version") != CACHE_VERSION:
            return []
        validated = previous.get("validated")
        if previous.get("code") != _code_fingerprint() or not isinstance(validated, list):
            return []
        return [digest for digest in validated if isinstance(digest, str)]

    @staticmethod
    def reusable(previous: dict | None, inputs: dict) -> dict[str, dict]:
        """Entries of the previous cache whose stack inputs are unchanged
        (whether consumers still read what a stack exports is checked once the
        others are emitted)."""
        if not isinstance(previous, dict) or previous.get("version") != CACHE_VERSION:
            return {}
        found = {}
        for stack, entry in previous.get("stacks", {}).items():
            try:
                fingerprint = StackCache._chosen(inputs.get(stack), entry["readsApps"] is True)
                same = fingerprint == entry["inputs"]
                usable = (
                    isinstance(entry["reads"], dict)
                    and isinstance(entry["exports"], list)
                    and entry["meta"]["hash"]
                )
                if same and usable:
                    found[stack] = entry
            except (KeyError, TypeError):
                continue
        return found


def _current(record: str) -> bool:
    """Whether a compile record line is of this cache version, without parsing it: its keys
    are sorted, so "version" comes last."""
    return record.endswith(f'"version":{CACHE_VERSION}}}\n')


_CODE_FINGERPRINT: str | None = None


def _code_fingerprint() -> str:
    """A hash of crosswalk's own code: a new version never reuses old output."""
    global _CODE_FINGERPRINT
    if _CODE_FINGERPRINT is None:
        import crosswalk.compiler
        import crosswalk.providers
        import crosswalk.schema

        digest = hashlib.sha256()
        for package in (crosswalk.compiler, crosswalk.providers, crosswalk.schema):
            for folder in package.__path__:
                for path in sorted(Path(folder).rglob("*")):
                    if path.suffix in (".py", ".json"):
                        digest.update(path.name.encode() + path.read_bytes())
        _CODE_FINGERPRINT = digest.hexdigest()
    return _CODE_FINGERPRINT


def _previous_cache(out: Path, existing: dict[str, str]) -> dict | None:
    """The previous compile's cache, with only the stacks whose files are all
    still there as that compile left them (same size and modification time:
    a hand edit, or Pulumi writing into a stack's config, re-emits the stack).
    `existing`: OUT's files, see writer.list_tree."""
    if CACHE_FILE not in existing:
        return None
    try:
        cache = json.loads(read_cache(out / CACHE_FILE)[0])
        stacks = cache["stacks"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(stacks, dict):
        return None
    cache["stacks"] = {
        stack: entry
        for stack, entry in stacks.items()
        if isinstance(stack, str)
        and f"{stack}/__main__.py" in existing
        and f"{stack}/Pulumi.yaml" in existing
        and isinstance(entry, dict)
        and _unchanged_since(existing, stack, entry.get("files"))
    }
    return cache


def _unchanged_since(existing: dict[str, str], stack: str, recorded) -> bool:
    if not isinstance(recorded, dict) or not recorded:
        return False
    for name, seen in recorded.items():
        path = existing.get(f"{stack}/{name}")
        if path is None:
            return False
        try:
            stat = os.stat(path)
        except OSError:
            return False
        if [stat.st_size, stat.st_mtime_ns] != seen:
            return False
    return True


def _write_cache(out: Path, text: str, files: dict[str, str], kept: list[str]) -> bool:
    """Write the cache with the size and modification time of every stack's
    files as they are now in OUT; whether its bytes changed. Written after
    the tree: a crash in between leaves a cache whose sizes and times do not
    match, which only costs the next compile time."""
    from crosswalk.compiler.writer import TEMPORARY

    cache = json.loads(text)
    names: dict[str, list[str]] = {}
    for path in files:
        if "/" in path:
            stack, _, name = path.rpartition("/")
            names.setdefault(stack, []).append(name)
    for stack, entry in cache["stacks"].items():
        if stack in kept:
            listed = [n for n in os.listdir(out / stack) if n.endswith((".py", ".yaml", ".txt"))]
        else:
            listed = names.get(stack, [])
        recorded = {}
        for name in sorted(listed):
            try:
                stat = os.stat(out / stack / name)
            except OSError:
                continue
            recorded[name] = [stat.st_size, stat.st_mtime_ns]
        entry["files"] = recorded
    rendered = json.dumps(cache, sort_keys=True, separators=(",", ":")) + "\n"
    target = out / CACHE_FILE
    if read_cache(target, plans=False)[0] == rendered:
        return False  # the recorded plans after it are not even read
    plans = read_cache(target)[1]
    temporary = target.with_name(target.name + TEMPORARY)
    temporary.write_text(rendered + plans, encoding="utf-8")
    os.replace(temporary, target)
    return True


def read_cache(path: Path, plans: bool = True) -> tuple[str, str]:
    """(the compile's record line, the recorded plans' lines, unless `plans` is
    False) of a cache file; empty strings where it is missing. Plans of another
    cache version are dropped."""
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
            if not plans or not _current(first):
                return first, ""
            return first, handle.read()
    except (OSError, UnicodeDecodeError):
        return "", ""


def write_plans(path: Path, plans: str) -> bool:
    """Replace the recorded plans of an existing cache file, its compile record
    kept; whether the file changed (it is never created: OUT must be compiled)."""
    from crosswalk.compiler.writer import TEMPORARY

    first, old = read_cache(path)
    if not _current(first) or old == plans:
        return False
    temporary = path.with_name(path.name + TEMPORARY)
    try:
        temporary.write_text(first + plans, encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        return False  # a read-only OUT: the next plan only takes longer
    return True
