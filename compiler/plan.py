"""`crosswalk plan OUT --offline`: every resource each emitted stack would register.

Runs the compiled programs of one environment in `crosswalk.stacks.json` order, each in-process
under the SDK's mock runtime with the real provider SDKs (see `mocks.py`), feeds each stack's
exports to the `StackReference`s of the stacks after it, and reports what was registered. A
stack that fails is reported with the YAML path its program cites nearest above the failing
line (a comment such as `# apps.storefront.ingress`); the stacks that depend on it are skipped, the others still run.

Stages, as elsewhere in crosswalk: `load_tree` -> `Tree`; `plan_tree` -> `PlanResult` (a plain
result object, nothing printed); `plan_render.render_text` / `render_json` (and
`plan_manifests.render_manifests`) turn it into text; `plan_manifests.write_manifests` and the
click command in `plan_cli.py` are the only parts that touch the world.
"""

from __future__ import annotations

import collections
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml

from crosswalk.compiler.mock_run import ProgramRun, run_program
from crosswalk.compiler.mocks import ResourceRecord, check_sdk

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STACKS_FILE = "crosswalk.stacks.json"

# Top-level provider packages -> the crosswalk extra that installs them.
SDK_EXTRAS = {
    "pulumi_aws": "aws",
    "pulumi_eks": "aws",
    "pulumi_gcp": "gcp",
    "pulumi_azure_native": "azure",
    "pulumi_random": "azure",  # MySQL's passwords on Azure
}
SDK_PACKAGES = {*SDK_EXTRAS, "pulumi", "pulumi_kubernetes"}
_REQUIREMENT_EXTRAS = {
    "pulumi-aws": "aws",
    "pulumi-eks": "aws",
    "pulumi-gcp": "gcp",
    "pulumi-azure-native": "azure",
    "pulumi-random": "azure",
}

# A generated program cites the platform.yaml setting a statement comes from in a comment of
# its own line: `# apps.storefront.ingress`, `# identity.teams.web.namespaces[0]`.
_ORIGIN_COMMENT = re.compile(
    r'\s*# ([a-z][A-Za-z]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*)\s*'
)


class PlanInputError(Exception):
    """The tree cannot be planned at all (missing files, bad JSON, unknown environment)."""


# --------------------------------------------------------------------------------------------
# The compiled tree.


@dataclass(frozen=True)
class StackEntry:
    dir: str
    project: str
    layer: str
    depends_on: tuple[str, ...]  # dirs
    reads: tuple[str, ...] = ()  # dirs of the stacks whose outputs it reads

    @property
    def needs(self) -> tuple[str, ...]:
        """The stacks whose exports planning it takes: those it depends on, then those it
        reads (which may lie further upstream)."""
        return self.depends_on + tuple(d for d in self.reads if d not in self.depends_on)


@dataclass(frozen=True)
class Tree:
    root: Path
    platform: str
    environments: tuple[str, ...]
    stacks: tuple[StackEntry, ...]  # topological order

    def entry(self, dir_: str) -> StackEntry:
        for stack in self.stacks:
            if stack.dir == dir_:
                return stack
        raise KeyError(dir_)


def load_tree(out_dir: Path) -> Tree:
    """Read `OUT/crosswalk.stacks.json`; `dependsOn` entries may name dirs or projects."""
    path = Path(out_dir) / STACKS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanInputError(
            f"{path}: not found; is {out_dir} the output of `crosswalk compile`?"
        ) from None
    except (OSError, ValueError) as exc:
        raise PlanInputError(f"{path}: cannot read: {exc}") from None
    try:
        raw_stacks = list(data["stacks"])
        by_key: dict[str, str] = {}
        for raw in raw_stacks:
            by_key[str(raw["project"])] = str(raw["dir"])
            by_key[str(raw["dir"])] = str(raw["dir"])
        stacks = []
        for raw in raw_stacks:
            depends = []
            for name in raw.get("dependsOn") or []:
                if name not in by_key:
                    raise PlanInputError(
                        f"{path}: stack {raw['dir']!r} depends on unknown stack {name!r}"
                    )
                depends.append(by_key[name])
            reads = []
            for name in sorted(raw.get("reads") or {}):
                if name not in by_key:
                    raise PlanInputError(
                        f"{path}: stack {raw['dir']!r} reads unknown stack {name!r}"
                    )
                reads.append(by_key[name])
            stacks.append(
                StackEntry(
                    dir=str(raw["dir"]),
                    project=str(raw["project"]),
                    layer=str(raw.get("layer", "")),
                    depends_on=tuple(depends),
                    reads=tuple(reads),
                )
            )
        return Tree(
            root=Path(out_dir),
            platform=str(data.get("platform", "")),
            environments=tuple(str(e) for e in data.get("environments") or ()),
            stacks=tuple(stacks),
        )
    except (KeyError, TypeError) as exc:
        raise PlanInputError(f"{path}: not a crosswalk stacks file (missing {exc})") from None


def default_environment(tree: Tree) -> str:
    if "dev" in tree.environments or not tree.environments:
        return "dev"
    return tree.environments[0]


def _config_string(value: Any) -> str:
    """A config value as the CLI hands it to a program: strings as-is, objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True)


def load_stack_config(
    program_dir: Path, project: str, env: str
) -> tuple[dict[str, str], list[str]]:
    """`(config, secret_keys)` from the project's `config:` defaults and `Pulumi.<env>.yaml`."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []

    def qualify(key: str) -> str:
        return key if ":" in key else f"{project}:{key}"

    project_file = _read_yaml(program_dir / "Pulumi.yaml") or {}
    for key, spec in (project_file.get("config") or {}).items():
        value = spec.get("default", spec.get("value")) if isinstance(spec, dict) else spec
        if value is not None:
            config[qualify(str(key))] = _config_string(value)
    stack_file = _read_yaml(program_dir / f"Pulumi.{env}.yaml") or {}
    for key, value in (stack_file.get("config") or {}).items():
        name = qualify(str(key))
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Encrypted with a key we do not have: the program still gets a (fake) secret.
            config[name] = f"offline-secret-{name}"
            secret_keys.append(name)
        elif value is not None:
            config[name] = _config_string(value)
    return config, secret_keys


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanInputError(f"{path}: invalid YAML: {exc}") from None


# --------------------------------------------------------------------------------------------
# The plan.


@dataclass
class StackError:
    """Why a stack has no (complete) plan."""

    message: str
    program_line: int | None = None  # in the stack's __main__.py
    origin: str | None = None  # the YAML path cited above that line, e.g. "apps.shop.ingress"
    hint: str | None = None
    skipped: bool = False  # True: not run because a stack it depends on did not plan


@dataclass
class StackPlan:
    dir: str
    project: str
    layer: str
    resources: list[ResourceRecord] = field(default_factory=list)  # sorted by URN
    exports: dict[str, Any] = field(default_factory=dict)  # values may be `Secret`
    error: StackError | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False  # reused from crosswalk.cache.json: its inputs did not change

    @property
    def status(self) -> str:
        if self.error is None:
            return "ok"
        return "skipped" if self.error.skipped else "failed"


@dataclass
class PlanResult:
    platform: str
    environment: str
    stacks: list[StackPlan]
    warnings: list[str] = field(default_factory=list)  # about the plan itself, e.g. the SDK

    @property
    def ok(self) -> bool:
        return all(stack.error is None for stack in self.stacks)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_FAILED

    def stack(self, dir_: str) -> StackPlan:
        for stack in self.stacks:
            if stack.dir == dir_:
                return stack
        raise KeyError(dir_)


Runner = Callable[..., ProgramRun]


def default_jobs() -> int:
    """How many stacks `plan` runs at once by default: one per core it may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_tree(
    out_dir: Path,
    env: str | None = None,
    *,
    only: Iterable[str] = (),
    runner: Runner = run_program,
    jobs: int = 1,
    cache: bool = False,
) -> PlanResult:
    """Plan every stack of `out_dir` for `env` (default: dev, or the tree's first environment).

    `only` restricts the plan to those stack dirs (or projects) plus the stacks they read from.
    `jobs` > 1 plans independent stacks in that many worker processes (a stack starts once the
    stacks it reads are planned; the result is the same). `cache` reuses the plans recorded in
    OUT's crosswalk.cache.json for stacks whose inputs did not change, and records the others.
    Raises `PlanInputError` when the tree itself is unusable; a stack that fails is reported in
    its `StackPlan.error` and never raises.
    """
    tree = load_tree(Path(out_dir))
    env = env or default_environment(tree)
    if tree.environments and env not in tree.environments:
        raise PlanInputError(
            f"environment {env!r} is not one of this tree's: {', '.join(tree.environments)}"
        )
    wanted = _closure(tree, only)
    entries = [entry for entry in tree.stacks if entry.dir in wanted]
    requests = [
        PlanRequest(entry.dir, tree.root, entry, env, tuple(d for d in entry.needs if d in wanted))
        for entry in entries
    ]
    plans: dict[Hashable, StackPlan] = {}
    with StackPlanner(
        jobs=jobs, cache_roots=[tree.root] if cache else (), runner=runner
    ) as planner:
        planner.run(requests, plans)
    warnings = _sdk_warnings() if plans else []
    return PlanResult(tree.platform, env, [plans[entry.dir] for entry in entries], warnings)


def plan_stack(
    tree: Tree,
    dir_: str,
    env: str,
    upstream_exports: Mapping[str, Mapping[str, Any]],
    *,
    runner: Runner = run_program,
) -> StackPlan:
    """One stack of `tree` for `env`, given the exports of the stacks it reads
    (by project name). A failure is reported in the plan's `error`."""
    entry = tree.entry(dir_)
    plan = StackPlan(dir=entry.dir, project=entry.project, layer=entry.layer)
    _plan_stack(tree.root, entry, env, plan, dict(upstream_exports), runner)
    return plan


@dataclass(frozen=True)
class PlanRequest:
    """One stack to plan: `needs` are the keys of the plans whose exports it is given (those of
    the stacks it depends on and reads), planned in the same run or already done."""

    key: Hashable
    root: Path  # the compiled tree
    entry: StackEntry
    env: str
    needs: tuple[Hashable, ...] = ()


# Worker processes pay for themselves from about this many stacks to plan: each starts by
# importing the SDKs (once, in the server they fork from), about 1-2 s of a core, and an app
# stack plans in about 0.05 s. Fewer run here, one after another.
MIN_PARALLEL = 24


class StackPlanner:
    """Plans requests in graph order: in this process, or in `jobs` worker processes (started
    once at least `min_parallel` stacks look like they will run, and kept for later runs until
    the planner is closed); with plans recorded in the cache files of `cache_roots` reused and
    new ones recorded there."""

    def __init__(
        self,
        *,
        jobs: int = 1,
        cache_roots: Iterable[Path] = (),
        runner: Runner = run_program,
        min_parallel: int = MIN_PARALLEL,
    ):
        from crosswalk.compiler.plan_cache import PlanCache

        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        roots = list(cache_roots)
        self.cache = PlanCache(roots) if roots else None
        self.jobs = jobs if runner is run_program else 1  # a custom runner stays in-process
        self.runner = runner
        self.min_parallel = max(2, min_parallel)
        self._parallel = False  # whether this run plans in workers, once two stacks can run
        self._pool: Any = None
        self._read: dict[tuple[Path, str, str], list[tuple[str, bytes]]] = {}

    @property
    def workers_started(self) -> bool:
        return self._pool is not None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.cache is not None:
            self.cache.save()

    def run(self, requests: Iterable[PlanRequest], done: dict[Hashable, StackPlan]) -> None:
        """Plan every request into `done` (by key). A request whose needs failed is skipped;
        one whose needs are neither requested nor in `done` is a bug.

        While one stack at a time can run (the layers' chain), it runs in this process; the
        worker processes start once two can, so they inherit the SDK modules imported so far.
        """
        from concurrent.futures import FIRST_COMPLETED, wait

        waiting = [r for r in requests if r.key not in done]
        queued = {r.key for r in waiting}
        for request in waiting:
            missing = [n for n in request.needs if n not in done and n not in queued]
            if missing:
                raise ValueError(f"{request.key!r} needs {missing!r}, which nobody plans")
        running: dict[Any, tuple[PlanRequest, StackPlan, str | None]] = {}
        # Ready for a worker, in graph order; each worker has at most two stacks queued, so
        # waiting for the next one to finish costs little however many are ready.
        backlog: collections.deque = collections.deque()
        self._parallel = self._pool is not None
        if self.jobs > 1 and self._pool is None:
            self._parallel = self._warm_up(waiting)
        try:
            while waiting or running or backlog:
                runnable = []
                resolved = True
                while resolved:  # skips and cached plans may make more stacks ready
                    resolved = False
                    for request in list(waiting):
                        if any(n not in done for n in request.needs):
                            continue
                        waiting.remove(request)
                        prepared = self._prepare(request, done)
                        if prepared is None:
                            resolved = True
                        else:
                            runnable.append(prepared)
                parallel = self._parallel and (
                    self._pool is not None or len(runnable) + len(running) + len(backlog) >= 2
                )
                if parallel:
                    backlog.extend(runnable)
                    while backlog and len(running) < 2 * self.jobs:
                        request, plan, key, exports = backlog.popleft()
                        future = self._executor().submit(
                            _plan_in_worker, request.root, request.entry, request.env, exports
                        )
                        running[future] = (request, plan, key)
                else:
                    for request, plan, key, exports in runnable:  # one at a time: here
                        _plan_stack(
                            request.root, request.entry, request.env, plan, exports, self.runner
                        )
                        self._record(request, plan, key, done)
                    if runnable:
                        continue
                if running:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in sorted(finished, key=lambda f: str(running[f][0].key)):
                        request, plan, key = running.pop(future)
                        self._finish(request, plan, key, future, done)
                elif waiting:  # needs that never finish: a cycle, impossible in a stacks file
                    for request in waiting:
                        done[request.key] = _skipped(request, "its dependencies form a cycle")
                    waiting.clear()
        except BaseException:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            raise

    def _files(self, request: PlanRequest) -> list[tuple[str, bytes]]:
        from crosswalk.compiler.plan_cache import program_files

        where = (request.root, request.entry.dir, request.env)
        if where not in self._read:
            self._read[where] = program_files(request.root / request.entry.dir, request.env)
        return self._read[where]

    def _warm_up(self, requests: list[PlanRequest]) -> bool:
        """Whether to plan in workers: when at least `min_parallel` stacks look like they will
        run (no plan recorded for their files). Then the workers' server starts now, importing
        the SDK modules their programs use, while the first stacks run here."""
        likely = []
        for request in requests:
            files = self._files(request) if self.cache is not None else None
            if files is None or not self.cache.knows(files, request.env):
                likely.append(request)
        if len(likely) < self.min_parallel:
            return False
        if _start_method() != "forkserver":
            return True
        import multiprocessing
        from multiprocessing import forkserver

        sources = []
        seen: Counter = Counter()
        for request in likely:
            # The apps of a layer use much the same modules: a few dozen show which (a module
            # missing here is imported by each worker when a program first uses it).
            seen[request.entry.layer] += 1
            if seen[request.entry.layer] > 24:
                continue
            if self.cache is not None:
                files = self._files(request)
            else:
                main = request.root / request.entry.dir / "__main__.py"
                try:
                    files = [("__main__.py", main.read_bytes())]
                except OSError:
                    continue
            sources += [data.decode("utf-8", "replace") for p, data in files if p.endswith(".py")]
        multiprocessing.get_context("forkserver").set_forkserver_preload(sdk_modules(sources))
        forkserver.ensure_running()
        return True

    def _prepare(self, request: PlanRequest, done: dict[Hashable, StackPlan]):
        """None when the request is settled without running (skipped, or its plan recorded);
        else what running it takes: (request, plan to fill, cache key, upstream exports)."""
        entry = request.entry
        plan = StackPlan(dir=entry.dir, project=entry.project, layer=entry.layer)
        upstream = {done[n].project: done[n] for n in request.needs}
        blocked = [p for p in upstream.values() if p.error is not None]
        if blocked:
            reason = ", ".join(f"{p.dir} ({p.status})" for p in blocked)
            plan.error = StackError(f"depends on {reason}", skipped=True)
            done[request.key] = plan
            return None
        exports = {project: p.exports for project, p in upstream.items()}
        key = None
        if self.cache is not None:
            from crosswalk.compiler.plan_cache import plan_key

            files = self._files(request)
            key = plan_key(files, entry.project, request.env, exports)
            cached = self.cache.get(key, entry.dir, entry.project, entry.layer, request.env)
            if cached is not None:
                self.cache.use(request.root, key, request.env)
                done[request.key] = cached
                return None
        return request, plan, key, exports

    def _finish(self, request, plan, key, future, done) -> None:
        try:
            plan = future.result()
        except Exception as exc:  # noqa: BLE001 - a worker that died fails its stack, not the run
            from concurrent.futures.process import BrokenProcessPool

            if isinstance(exc, BrokenProcessPool):
                message = "the process planning it stopped unexpectedly (out of memory?)"
                self._pool = None  # a broken pool takes no more work: the next stack starts one
            else:
                message = f"crosswalk could not plan it: {_describe(exc)}"
            plan.error = StackError(message)
        self._record(request, plan, key, done)

    def _record(self, request, plan, key, done) -> None:
        done[request.key] = plan
        if key is not None and plan.error is None and self.cache is not None:
            self.cache.use(request.root, key, request.env, plan, self._files(request))

    def _executor(self) -> Any:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context(_start_method())
            )
        return self._pool


def _start_method() -> str:
    """How worker processes start. Not forked from this process: once a program has run here,
    the SDK's gRPC threads are running, and forking a process with threads is unsafe. On Linux
    they fork from a server process that imported the SDK modules the programs use once
    (see `_warm_up`); elsewhere each starts afresh."""
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


# `import pulumi_aws as aws` and the submodules used through the alias (`aws.ec2.Vpc`).
_SDK_IMPORT = re.compile(r"^import (pulumi_[a-z_]+) as ([A-Za-z_]\w*)$", re.MULTILINE)


def sdk_modules(sources: Iterable[str]) -> list[str]:
    """The SDK modules programs import, submodules (which the SDKs load lazily) included."""
    found = {"pulumi", "pulumi.runtime.mocks", "crosswalk.compiler.plan"}
    for text in sources:
        for module, alias in _SDK_IMPORT.findall(text):
            found.add(module)
            pattern = (
                rf"(?<![\w.]){re.escape(alias)}\.([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?\."
            )
            for first, second in re.findall(pattern, text):
                found.add(f"{module}.{first}")
                if second:
                    found.add(f"{module}.{first}.{second}")
    return sorted(found)


def _plan_in_worker(
    root: Path, entry: StackEntry, env: str, exports: Mapping[str, Mapping[str, Any]]
) -> StackPlan:
    plan = StackPlan(dir=entry.dir, project=entry.project, layer=entry.layer)
    _plan_stack(root, entry, env, plan, exports, run_program)
    return plan


def _skipped(request: PlanRequest, reason: str) -> StackPlan:
    entry = request.entry
    plan = StackPlan(dir=entry.dir, project=entry.project, layer=entry.layer)
    plan.error = StackError(reason, skipped=True)
    return plan


def _sdk_warnings() -> list[str]:
    """The plan leans on pulumi internals pinned in mocks.py: say so when they moved."""
    try:
        problems = check_sdk()
    except ImportError:
        return []  # each stack reports the missing SDK with its install hint
    if any("not installed" in problem for problem in problems):
        return []
    return [f"{problem}; the offline plan may be wrong" for problem in problems]


def _closure(tree: Tree, only: Iterable[str]) -> set[str]:
    selected = list(only)
    if not selected:
        return {stack.dir for stack in tree.stacks}
    by_key = {s.dir: s for s in tree.stacks} | {s.project: s for s in tree.stacks}
    todo = []
    for name in selected:
        key = name.rstrip("/")
        if key not in by_key:
            raise PlanInputError(f"no stack {name!r} in {tree.root / STACKS_FILE}")
        todo.append(by_key[key].dir)
    wanted: set[str] = set()
    while todo:
        current = todo.pop()
        if current not in wanted:
            wanted.add(current)
            todo.extend(tree.entry(current).needs)
    return wanted


def _plan_stack(
    root: Path,
    entry: StackEntry,
    env: str,
    plan: StackPlan,
    exports_by_project: Mapping[str, Mapping[str, Any]],
    runner: Runner,
) -> None:
    program_dir = root / entry.dir
    main = program_dir / "__main__.py"
    if not main.is_file():
        plan.error = StackError(f"{main}: no such program")
        return
    try:
        project_file = _read_yaml(program_dir / "Pulumi.yaml") or {}
        project = str(project_file.get("name") or entry.project)
        config, secret_keys = load_stack_config(program_dir, project, env)
    except (PlanInputError, AttributeError) as exc:  # unreadable YAML, or not a mapping
        plan.error = StackError(f"{entry.dir}: cannot read its Pulumi files: {exc}")
        return
    if project != entry.project:
        plan.error = StackError(
            f"Pulumi.yaml names project {project!r} but {STACKS_FILE} says {entry.project!r}"
        )
        return
    run = runner(
        program_dir,
        project=project,
        stack=env,
        config=config,
        secret_keys=secret_keys,
        stack_outputs=exports_by_project,
    )
    source = _read_lines(main)
    for record in run.resources:
        record.origin = _origin(source, record.source_line)
    plan.resources = run.resources
    plan.exports = run.exports
    plan.logs = run.logs
    plan.seconds = run.seconds
    if run.error is not None:
        message = _describe(run.error)
        if run.error_detail:
            message += "\n" + run.error_detail
        plan.error = StackError(
            message=message,
            program_line=run.error_line,
            origin=_origin(source, run.error_line),
            hint=_hint(run.error, program_dir),
        )


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def _origin(lines: list[str], line: int | None) -> str | None:
    """The YAML path cited nearest above (or on) a program line."""
    if not line:
        return None
    for index in range(min(line, len(lines)) - 1, -1, -1):
        match = _ORIGIN_COMMENT.fullmatch(lines[index])
        if match:
            return match.group(1)
    return None


def _describe(error: BaseException) -> str:
    text = "\n".join(line.strip() for line in str(error).strip().splitlines() if line.strip())
    if isinstance(error, KeyError) and len(error.args) == 1:
        text = repr(error.args[0])
    name = type(error).__name__
    return f"{name}: {text}" if text else name


def _hint(error: BaseException, program_dir: Path) -> str | None:
    if not isinstance(error, ImportError):
        return None
    missing = (error.name or "").split(".")[0]
    if missing not in SDK_PACKAGES:
        return None
    extra = SDK_EXTRAS.get(missing)
    if extra is None:
        requirements = (
            (program_dir / "requirements.txt").read_text(encoding="utf-8", errors="replace")
            if (program_dir / "requirements.txt").is_file()
            else ""
        )
        extras = sorted({e for name, e in _REQUIREMENT_EXTRAS.items() if name in requirements})
        extra = extras[0] if len(extras) == 1 else None
    if extra is None:
        return (
            f"{missing} is not installed: pip install 'crosswalk[aws]' "
            "(or crosswalk[gcp], crosswalk[azure]: the extra for the platform's cloud)"
        )
    return f"{missing} is not installed: pip install 'crosswalk[{extra}]'"
