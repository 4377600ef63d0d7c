"""`crosswalk diff OLD NEW`: what a change to platform.yaml does, resource by
resource, in every environment.

Both versions are compiled in memory and planned offline (plan.py's mock
runtime: no cloud, no Pulumi CLI). In each environment a stack is *changed*
when the files it runs differ (its program, Pulumi.yaml, requirements or
Pulumi.<env>.yaml), *added* or *removed* when only one side has it (stacks
are matched by Pulumi project, the name their state lives under), and
*affected* when its files are the same but an output it reads changed value.
Only those stacks are planned on both sides; an unchanged stack another one
reads is planned once and its exports shared (`_Planner.plan_many` is the one
place stacks are planned: side by side in worker processes, and, when the
diff keeps its compiled versions in a cache directory, reusing the plans
recorded there for stacks whose inputs did not change; see plan_cache.py).

Resources are matched by URN, or through an alias to the URN they had
(`renamedFrom`). A matched resource whose inputs differ is *updated*, or
*replaced* when an input its provider cannot change in place differs (the
tables in `crosswalk.providers.<cloud>.changes`), or when its provider is
replaced. Resources only in the old plan are *deleted*, only in the new one
*created*; a deleted and a created resource of one type whose inputs are
mostly the same are one resource that was renamed without an alias, so it is
*replaced* (an inferred replacement, and said so). Deleting or replacing a
stateful resource (databases, caches, queues, buckets, keys, DNS zones,
namespaces, registries: each table's `STATEFUL`) is *destructive*.

Stages: `read_file` / `read_revision` / `read_base` -> `Source`;
`diff_sources` -> `DiffResult` (plain data, nothing printed); `diff_render`'s
`render_text`, `render_json`, `render_markdown`. The exit code comes from the result: 0 no
change, 1 changes, 3 destructive changes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from crosswalk.compiler.git import GitMissing, run_git
from crosswalk.compiler.plan import (
    STACKS_FILE,
    PlanRequest,
    Runner,
    StackPlan,
    StackPlanner,
    Tree,
    load_tree,
)
from crosswalk.compiler.plan_cache import program_files

EXIT_NONE, EXIT_CHANGES, EXIT_USAGE, EXIT_DESTRUCTIVE = 0, 1, 2, 3

# Where each cloud's knowledge of how its resources change lives.
CHANGE_MODULES = (
    "crosswalk.providers.aws.changes",
    "crosswalk.providers.gcp.changes",
    "crosswalk.providers.azure.changes",
    "crosswalk.providers.kubernetes.changes",
)

CHANGES = ("create", "update", "replace", "delete")


class DiffInputError(Exception):
    """A side cannot be read, compiled or planned; `diagnostics` say why when it does not compile."""

    def __init__(self, message: str, diagnostics: Iterable = (), text: str | None = None):
        super().__init__(message)
        self.diagnostics = list(diagnostics)
        self.text = text


# --------------------------------------------------------------------------------------------
# The two versions.


@dataclass(frozen=True)
class Source:
    """One version of the platform file: `label` says where it came from."""

    label: str
    data: bytes


def read_file(path: str) -> Source:
    try:
        return Source(path, Path(path).read_bytes())
    except FileNotFoundError:
        raise DiffInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise DiffInputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return run_git(directory, *args)
    except GitMissing:
        raise DiffInputError("git is not installed, so revisions cannot be read") from None


def _repository(file: str) -> Path:
    directory = Path(file).parent
    if not directory.is_dir():
        raise DiffInputError(f"{file}: its directory does not exist")
    done = _git(directory, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise DiffInputError(
            f"{file} is not in a git repository, so a revision of it cannot be read; "
            "compare two files instead: crosswalk diff OLD.yaml NEW.yaml"
        )
    return directory


def _commit(directory: Path, revision: str) -> str:
    done = _git(
        directory, "rev-parse", "--verify", "--quiet", "--end-of-options", revision + "^{commit}"
    )
    if done.returncode != 0 or not revision or revision.startswith("-"):
        raise DiffInputError(
            f"'{revision}' is not a revision of this repository (a branch, tag or commit; "
            "in CI, fetch it first: git fetch origin main)"
        )
    return done.stdout.decode().strip()


def read_revision(revision: str, file: str) -> Source:
    """FILE as it is at REVISION, read with git itself (`git show REV:./FILE`)."""
    directory = _repository(file)
    commit = _commit(directory, revision)
    done = _git(directory, "show", f"{commit}:./{Path(file).name}")
    if done.returncode != 0:
        raise DiffInputError(f"{file} does not exist at revision '{revision}'")
    return Source(f"{file} at {revision} ({commit[:12]})", done.stdout)


def read_base(revision: str, file: str) -> Source:
    """FILE where the current branch left REVISION (their merge base), as a
    pull request's diff compares."""
    directory = _repository(file)
    commit = _commit(directory, revision)
    head = _commit(directory, "HEAD")
    done = _git(directory, "merge-base", commit, head)
    if done.returncode != 0:
        raise DiffInputError(f"'{revision}' and HEAD have no common ancestor")
    base = done.stdout.decode().strip()
    shown = _git(directory, "show", f"{base}:./{Path(file).name}")
    if shown.returncode != 0:
        raise DiffInputError(f"{file} does not exist at the merge base of '{revision}' and HEAD")
    return Source(f"{file} at the merge base of {revision} ({base[:12]})", shown.stdout)


# --------------------------------------------------------------------------------------------
# The result.


@dataclass
class ResourceChange:
    type: str
    name: str
    change: str  # create | update | replace | delete
    destructive: bool
    paths: list[str]  # changed inputs (wire names), and "opts.protect" / "opts.aliases"
    renamed_from: str | None = None  # the name it had, when matched through an alias or inferred
    reasons: list[str] = field(default_factory=list)  # why it is replaced, said when inferred
    loses: str | None = None  # for a destructive change: what is lost

    def sort_key(self) -> tuple:
        rank = {"replace": 0, "delete": 1, "update": 2, "create": 3}[self.change]
        return (not self.destructive, rank, self.type, self.name)


@dataclass
class StackChange:
    dir: str
    project: str
    status: str  # changed | affected | added | removed
    resources: list[ResourceChange]
    reads_changed: list[str] = field(default_factory=list)  # affected: "<upstream>.<output>"

    @property
    def destructive(self) -> bool:
        return any(r.destructive for r in self.resources)

    def count(self, change: str) -> int:
        return sum(r.change == change for r in self.resources)


@dataclass
class EnvironmentDiff:
    name: str
    stacks: list[StackChange]

    @property
    def destructive(self) -> int:
        return sum(r.destructive for s in self.stacks for r in s.resources)


@dataclass
class DiffResult:
    old: str
    new: str
    environments: list[EnvironmentDiff]

    @property
    def changed(self) -> bool:
        return any(e.stacks for e in self.environments)

    @property
    def destructive(self) -> int:
        return sum(e.destructive for e in self.environments)

    @property
    def exit_code(self) -> int:
        if self.destructive:
            return EXIT_DESTRUCTIVE
        return EXIT_CHANGES if self.changed else EXIT_NONE


# --------------------------------------------------------------------------------------------
# How resources change, by type (each cloud's tables, merged).


@dataclass(frozen=True)
class ChangeTables:
    replaced_on_change: dict[str, tuple[str, ...]]
    stateful: dict[str, str]
    every_object: tuple[str, ...]  # replace-forcing fields of every Kubernetes object

    def forcing(self, type_: str, paths: Iterable[str]) -> list[str]:
        """The changed paths that replace a resource of `type_`."""
        fields = self.replaced_on_change.get(type_, ())
        if type_.startswith("kubernetes:") and not type_.startswith("kubernetes:helm.sh/"):
            fields = self.every_object + tuple(fields)
        return [p for p in paths if any(_within(p, f) for f in fields)]


def _within(path: str, field_path: str) -> bool:
    return path == field_path or path.startswith((field_path + ".", field_path + "["))


@cache
def change_tables() -> ChangeTables:
    replaced: dict[str, tuple[str, ...]] = {}
    stateful: dict[str, str] = {}
    every_object: tuple[str, ...] = ()
    for name in CHANGE_MODULES:
        module = importlib.import_module(name)
        replaced.update(module.REPLACED_ON_CHANGE)
        stateful.update(module.STATEFUL)
        every_object += getattr(module, "EVERY_OBJECT", ())
    return ChangeTables(replaced, stateful, every_object)


# --------------------------------------------------------------------------------------------
# One compiled side.


@dataclass
class _Side:
    label: str
    tree: Tree
    entries: dict[str, dict]  # project -> its crosswalk.stacks.json entry
    order: list[str]  # projects, topological
    environments: tuple[str, ...]
    projects: dict[str, str]  # stack dir -> project

    def dir_of(self, project: str) -> str:
        return self.entries[project]["dir"]

    def project_of(self, directory: str) -> str:
        return self.projects[directory]

    def same_files(self, other: _Side, project: str, env: str) -> bool:
        """Whether the stack runs the same files in `env` on both sides: the
        manifest's content hashes first (they cover every environment's
        config), then the files this environment reads."""
        if self.entries[project]["hash"] == other.entries[project]["hash"]:
            return True
        return self.stack_files(project, env) == other.stack_files(project, env)

    def stack_files(self, project: str, env: str) -> list[tuple[str, bytes]]:
        """What the stack runs in `env`: its files but other environments' config."""
        return program_files(self.tree.root / self.dir_of(project), env)

    def reads(self, project: str) -> dict[str, list[str]]:
        """Upstream project -> the outputs this stack reads of it."""
        return {
            self.project_of(upstream): list(outputs)
            for upstream, outputs in (self.entries[project].get("reads") or {}).items()
        }

    def needs(self, project: str) -> list[str]:
        """The stacks whose exports planning this one takes: those it depends on
        and those it reads (which may lie further upstream)."""
        entry = self.entries[project]
        dirs = set(entry.get("dependsOn") or ()) | set(entry.get("reads") or {})
        return [self.project_of(d) for d in sorted(dirs)]


def _compile(source: Source, directory: Path, today, *, incremental: bool = False) -> _Side:
    """One side compiled into `directory`: afresh, or (`incremental`) over what an earlier
    diff left there, re-emitting only the stacks whose inputs changed."""
    from crosswalk.compiler.document import parse_document
    from crosswalk.compiler.emit import CACHE_FILE, compile_document, compile_into

    document, problems = parse_document(source.data, source.label)
    if document is None:
        raise DiffInputError(f"{source.label} cannot be read as a platform", problems)
    # Both sides under one name: where the file lives is not a change.
    if incremental:
        from crosswalk.compiler.writer import WriteError

        try:
            result = compile_into(document, directory, None, today=today, source="platform.yaml")
        except (WriteError, OSError) as exc:
            raise DiffInputError(
                f"{directory}: cannot keep a compiled version there ({exc}); it only saves "
                "time: delete it, or diff with --no-cache"
            ) from None
    else:
        result = compile_document(document, None, source="platform.yaml", today=today)
    if not result.files:
        raise DiffInputError(
            f"{source.label} does not compile; fix it first", result.report.sorted(), document.text
        )
    if not incremental:
        for path, text in result.files.items():
            if path == CACHE_FILE:
                continue
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    manifest = json.loads((directory / STACKS_FILE).read_text(encoding="utf-8"))
    entries = {entry["project"]: entry for entry in manifest["stacks"]}
    return _Side(
        label=source.label,
        tree=load_tree(directory),
        entries=entries,
        order=list(entries),
        environments=tuple(manifest.get("environments") or ()),
        projects={entry["dir"]: project for project, entry in entries.items()},
    )


# --------------------------------------------------------------------------------------------
# Planning, only what the comparison needs.


class _Planner:
    """Plans stacks of either side for one environment, each at most once; a
    stack that is the same on both sides is planned once for both."""

    def __init__(self, old: _Side, new: _Side, env: str, planner: StackPlanner):
        self.sides = {"old": old, "new": new}
        self.env = env
        self.planner = planner
        self.same: set[str] = set()  # projects whose plan is the same on both sides
        self._plans: dict[tuple[str, str], StackPlan] = {}

    def _key(self, side: str, project: str) -> tuple[str, str]:
        return ("same" if project in self.same else side, project)

    def planned(self, side: str, project: str) -> bool:
        return self._key(side, project) in self._plans

    def plan_many(self, wanted: Iterable[tuple[str, str]]) -> None:
        """Plan these (side, project) pairs and what they read, side by side where the
        planner may (the one place a stack is planned)."""
        requests: dict[tuple[str, str], PlanRequest] = {}

        def add(side: str, project: str) -> tuple[str, str]:
            key = self._key(side, project)
            if key in self._plans or key in requests:
                return key
            where = "new" if key[0] == "same" else side
            tree_side = self.sides[where]
            needs = tuple(add(where, dep) for dep in tree_side.needs(project))
            entry = tree_side.tree.entry(tree_side.dir_of(project))
            requests[key] = PlanRequest(key, tree_side.tree.root, entry, self.env, needs)
            return key

        for side, project in wanted:
            add(side, project)
        self.planner.run(list(requests.values()), self._plans)
        failed = [self._plans[k] for k in requests if self._plans[k].error is not None]
        for plan in sorted(failed, key=lambda p: p.error.skipped):
            key = next(k for k in requests if self._plans[k] is plan)
            label = self.sides["new" if key[0] == "same" else key[0]].label
            first = plan.error.message.splitlines()[0]
            raise DiffInputError(
                f"{label}: stack {plan.dir} does not plan offline in environment "
                f"'{self.env}': {first} (crosswalk plan FILE --offline --env {self.env} "
                "says more)"
            )

    def plan(self, side: str, project: str) -> StackPlan:
        if not self.planned(side, project):
            self.plan_many([(side, project)])
        return self._plans[self._key(side, project)]


_MISSING = object()


def _environment_diff(
    old: _Side, new: _Side, env: str, stack_planner: StackPlanner, tables: ChangeTables
) -> EnvironmentDiff:
    has_old, has_new = env in old.environments, env in new.environments
    old_projects = set(old.entries) if has_old else set()
    new_projects = set(new.entries) if has_new else set()
    planner = _Planner(old, new, env, stack_planner)
    order = [p for p in new.order if p in new_projects] + [
        p for p in old.order if p in old_projects - new_projects
    ]
    status: dict[str, str] = {}
    reads_changed: dict[str, list[str]] = {}
    for project in order:
        if project not in old_projects:
            status[project] = "added"
        elif project not in new_projects:
            status[project] = "removed"
        elif not old.same_files(new, project, env):
            status[project] = "changed"
    # A stack whose files are the same is affected when an output it reads changed. One that
    # reads no changed stack is the same on both sides (and planned once for both, as what the
    # changed ones read); the others are decided once what they read is planned, the affected
    # ones of each round planned together.
    for project in order:
        if project not in status and all(
            upstream in planner.same or status.get(upstream) in ("added", "removed")
            for upstream in new.reads(project)
        ):
            planner.same.add(project)
    sides = {"added": ("new",), "removed": ("old",), "changed": ("old", "new")}
    planner.plan_many([(s, p) for p in order if p in status for s in sides[status[p]]])
    undecided = [p for p in order if p not in status and p not in planner.same]
    while undecided:
        waiting = set(undecided)
        affected = []
        for project in list(undecided):
            upstream = sorted(new.reads(project).items())
            if any(u in waiting for u, _ in upstream):
                continue
            relevant = [(u, o) for u, o in upstream if status.get(u) in ("changed", "affected")]
            if not all(planner.planned(s, u) for u, _ in relevant for s in ("old", "new")):
                continue
            changed = []
            for u, outputs in relevant:
                before = planner.plan("old", u).exports
                after = planner.plan("new", u).exports
                changed += [
                    f"{new.dir_of(u)}.{output}"
                    for output in outputs
                    if before.get(output, _MISSING) != after.get(output, _MISSING)
                ]
            if changed:
                status[project], reads_changed[project] = "affected", changed
                affected.append(project)
            else:
                planner.same.add(project)
            undecided.remove(project)
        if affected:
            planner.plan_many([(s, p) for p in affected for s in ("old", "new")])
        elif len(waiting) == len(undecided):  # unreachable: the graph has no cycle
            break
    stacks = []
    for project in order:
        if project not in status or project in planner.same:
            continue
        before = planner.plan("old", project) if project in old_projects else None
        after = planner.plan("new", project) if project in new_projects else None
        resources = resource_changes(before, after, tables)
        side = new if after is not None else old
        stacks.append(
            StackChange(
                side.dir_of(project),
                project,
                status[project],
                resources,
                reads_changed.get(project, []),
            )
        )
    return EnvironmentDiff(env, stacks)


def diff_sources(
    old: Source,
    new: Source,
    env: str | None = None,
    *,
    runner: Runner | None = None,
    today=None,
    jobs: int = 1,
    cache_dir: Path | None = None,
) -> DiffResult:
    """Compile and plan both versions and compare them, in `env` or in every
    environment either declares (`today`: the date version support is judged
    on, as compile does). `jobs`: how many stacks may plan at once. `cache_dir`:
    where both compiled versions are kept between diffs, so the next one compiles
    only what changed and reuses the plans recorded there (without it, or while
    another diff uses it, everything is compiled and planned afresh). Raises
    DiffInputError."""
    tables = change_tables()
    with contextlib.ExitStack() as stack:
        directory = _cache_lock(stack, cache_dir) if cache_dir is not None else None
        incremental = directory is not None
        if directory is None:
            directory = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="crosswalk-diff-"))
            )
        sides = []
        for name, source in (("old", old), ("new", new)):
            side_dir = directory / name
            side_dir.mkdir(exist_ok=True)
            sides.append(_compile(source, side_dir, today, incremental=incremental))
        old_side, new_side = sides
        declared = sorted(set(old_side.environments) | set(new_side.environments))
        if env is not None and env not in declared:
            raise DiffInputError(
                f"environment '{env}' is declared by neither version; declared: "
                + ", ".join(declared)
            )
        chosen = [env] if env is not None else declared
        options = {"runner": runner} if runner is not None else {}
        roots = [old_side.tree.root, new_side.tree.root] if incremental else []
        planner = stack.enter_context(StackPlanner(jobs=jobs, cache_roots=roots, **options))
        return DiffResult(
            old.label,
            new.label,
            [_environment_diff(old_side, new_side, e, planner, tables) for e in chosen],
        )


def _cache_lock(stack: contextlib.ExitStack, cache_dir: Path) -> Path | None:
    """`cache_dir`, held for this diff; None when it cannot be used (another diff holds it,
    or it cannot be created): the diff then works in a temporary directory."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock, no shared directory
        return None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle = stack.enter_context(open(cache_dir / ".lock", "a"))  # noqa: SIM115
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return None
    stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
    return cache_dir


# --------------------------------------------------------------------------------------------
# Resources.


def _key(urn: str) -> str:
    """A resource's URN without its stack and project: `<type chain>::<name>`."""
    return urn.split("::", 2)[2] if urn.count("::") >= 2 else urn


def _alias_keys(record) -> list[str]:
    chain = _key(record.urn).rsplit("::", 1)[0]
    keys = []
    for alias in record.aliases:
        if "urn" in alias:
            keys.append(_key(alias["urn"]))
            continue
        alias_chain = chain
        if "type" in alias:
            alias_chain = (
                chain.rsplit("$", 1)[0] + "$" + alias["type"] if "$" in chain else alias["type"]
            )
        if "parentUrn" in alias:
            parent_chain = _key(alias["parentUrn"]).rsplit("::", 1)[0]
            alias_chain = parent_chain + "$" + alias_chain.rsplit("$", 1)[-1]
        elif alias.get("noParent"):
            alias_chain = alias_chain.rsplit("$", 1)[-1]
        keys.append(alias_chain + "::" + alias.get("name", record.name))
    return keys


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        found: dict[str, Any] = {}
        for key in value:
            found.update(_leaves(value[key], _join(path, key)))
        return found
    if isinstance(value, list) and value:
        found = {}
        for index, item in enumerate(value):
            found.update(_leaves(item, f"{path}[{index}]"))
        return found
    return {path: value}


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _join(path: str, key: Any) -> str:
    key = str(key)
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """The input paths whose values differ (values are never shown: they may be secret)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += changed_paths(old.get(key, _MISSING), new.get(key, _MISSING), _join(path, key))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = []
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            found += changed_paths(before, after, f"{path}[{index}]")
        return found
    return [] if old == new else [path or "(inputs)"]


def _similarity(old, new) -> float:
    before, after = _leaves(old.inputs), _leaves(new.inputs)
    same = sum(1 for path, value in before.items() if after.get(path, _MISSING) == value)
    return same / max(len(before), len(after), 1)


def resource_changes(
    old: StackPlan | None, new: StackPlan | None, tables: ChangeTables
) -> list[ResourceChange]:
    """What changes in one stack between two plans (either may be absent)."""
    before = {_key(r.urn): r for r in (old.resources if old else []) if r.operation == "register"}
    after = {_key(r.urn): r for r in (new.resources if new else []) if r.operation == "register"}
    pairs: list[tuple[Any, Any, str | None]] = []  # (old, new, how matched when renamed)
    matched_old: set[str] = set()
    for key, record in sorted(after.items()):
        if key in before:
            pairs.append((before[key], record, None))
            matched_old.add(key)
            continue
        for alias in _alias_keys(record):
            if alias in before and alias not in after and alias not in matched_old:
                pairs.append((before[alias], record, "alias"))
                matched_old.add(alias)
                break
    matched_new = {_key(n.urn) for _, n, _ in pairs}
    deleted = [r for k, r in sorted(before.items()) if k not in matched_old]
    created = [r for k, r in sorted(after.items()) if k not in matched_new]
    # A deleted and a created resource of one type that are mostly the same:
    # one resource renamed without an alias.
    candidates = sorted(
        (
            (-_similarity(d, c), d.name, c.name, index_d, index_c)
            for index_d, d in enumerate(deleted)
            for index_c, c in enumerate(created)
            if d.type == c.type
        )
    )
    used_d: set[int] = set()
    used_c: set[int] = set()
    for score, _, _, index_d, index_c in candidates:
        if -score < 0.5 or index_d in used_d or index_c in used_c:
            continue
        used_d.add(index_d)
        used_c.add(index_c)
        pairs.append((deleted[index_d], created[index_c], "inferred"))
    replaced_providers = set()
    changes: list[ResourceChange] = []
    for before_record, after_record, how in sorted(
        pairs, key=lambda p: p[1].type.startswith("pulumi:providers:"), reverse=True
    ):
        paths = changed_paths(before_record.inputs, after_record.inputs)
        if before_record.protect != after_record.protect:
            paths.append("opts.protect")
        reasons = []
        renamed_from = before_record.name if how else None
        if how == "alias":
            paths.append("opts.aliases")
        forcing = tables.forcing(after_record.type, paths)
        if how == "inferred":
            change = "replace"
            reasons.append("its name changed, and no alias names the old one")
            if forcing:
                reasons.append(f"{', '.join(forcing)} cannot change in place")
        elif forcing:
            change = "replace"
            reasons.append(f"{', '.join(forcing)} cannot change in place")
        elif before_record.provider and _key(before_record.provider) in replaced_providers:
            change = "replace"
            reasons.append("its provider is replaced")
        elif paths:
            change = "update"
        else:
            continue
        if change == "replace" and after_record.type.startswith("pulumi:providers:"):
            replaced_providers.add(_key(before_record.urn))
        changes.append(_change(after_record, change, paths, tables, renamed_from, reasons))
    for index, record in enumerate(deleted):
        if index not in used_d:
            changes.append(_change(record, "delete", [], tables))
    for index, record in enumerate(created):
        if index not in used_c:
            changes.append(_change(record, "create", [], tables))
    return sorted(changes, key=ResourceChange.sort_key)


def _change(record, change: str, paths, tables: ChangeTables, renamed_from=None, reasons=()):
    loses = tables.stateful.get(record.type) if change in ("delete", "replace") else None
    return ResourceChange(
        record.type,
        record.name,
        change,
        loses is not None,
        list(paths),
        renamed_from,
        list(reasons),
        loses,
    )


# --------------------------------------------------------------------------------------------
# Rendering.
