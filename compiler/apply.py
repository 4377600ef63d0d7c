"""Running compiled stacks in graph order: the scheduler, behind a `Runner`.

`crosswalk.stacks.json` lists the stacks of a compiled tree in topological
order with their edges. `run_stacks` starts a stack as soon as every stack it
depends on (within the run) has succeeded, runs independent stacks side by
side on at most `parallel` threads (each stack is a Pulumi CLI subprocess, so
threads are enough), skips the dependents of a failed stack while independent
ones carry on, and runs the graph backwards for destroy.

What running one stack means is the `Runner`'s business: `automation.py` drives
the Pulumi Automation API; tests use a recording fake. The scheduler only sees
`StackOutcome`s and exceptions. Nothing here imports Pulumi or rich.
"""

from __future__ import annotations

import difflib
import getpass
import heapq
import json
import os
import queue
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol, Self

from crosswalk.compiler.graph import StackDependencies

MANIFEST = "crosswalk.stacks.json"
OPERATIONS = ("preview", "up", "destroy", "refresh")

# Stack states, as the progress view shows them.
WAITING, RUNNING, DONE, FAILED, SKIPPED = "waiting", "running", "done", "failed", "skipped"

# Step operations that change nothing (Pulumi's "same", reads, refresh steps
# that found no difference).
UNCHANGED_OPS = frozenset({"same", "read", "refresh"})


# --- the compiled tree -------------------------------------------------------


@dataclass(frozen=True)
class StackSpec:
    """One compiled stack, as crosswalk.stacks.json describes it."""

    dir: str
    project: str
    layer: str
    depends_on: tuple[str, ...] = ()
    hash: str = ""
    exports: tuple[str, ...] = ()  # the outputs it exports
    reads: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (upstream dir, outputs it reads)
    removed: bool = False  # in the backend, no longer in the tree: only destroyed
    # What it changes that the cloud changes one change at a time: two stacks
    # sharing one of these never run at once.
    one_at_a_time: tuple[str, ...] = ()

    def reads_of(self, upstream: str) -> tuple[str, ...]:
        return dict(self.reads).get(upstream, ())

    @property
    def log_name(self) -> str:
        return self.dir.replace("/", "_") + ".log"


@dataclass(frozen=True)
class Manifest:
    platform: str
    cloud: str
    environments: tuple[str, ...]
    stacks: tuple[StackSpec, ...]
    root: Path
    state_backend: str | None = None  # as platform.yaml's state section says
    secrets_provider: str | None = None

    def stack(self, directory: str) -> StackSpec:
        return next(s for s in self.stacks if s.dir == directory)


class ManifestError(Exception):
    """crosswalk.stacks.json is missing or not what compile writes."""


def load_manifest(build_dir: Path | str) -> Manifest:
    root = Path(build_dir)
    path = root / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        stacks = tuple(
            StackSpec(
                entry["dir"],
                entry["project"],
                entry["layer"],
                tuple(entry.get("dependsOn", ())),
                entry.get("hash", ""),
                tuple(entry.get("exports", ())),
                tuple(
                    (upstream, tuple(outputs))
                    for upstream, outputs in sorted((entry.get("reads") or {}).items())
                ),
                one_at_a_time=tuple(entry.get("oneAtATime", ())),
            )
            for entry in data["stacks"]
        )
        state = data.get("state") or {}
        manifest = Manifest(
            data["platform"],
            data["cloud"],
            tuple(data["environments"]),
            stacks,
            root,
            state.get("backend"),
            state.get("secretsProvider"),
        )
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: not a crosswalk stack manifest ({exc})") from None
    seen: set[str] = set()
    for spec in stacks:
        for dependency in spec.depends_on:
            if dependency not in seen:
                raise ManifestError(
                    f"{path}: stack '{spec.dir}' depends on '{dependency}', "
                    "which is not listed before it"
                )
        seen.add(spec.dir)
    return manifest


# --- choosing stacks ---------------------------------------------------------


class SelectionError(Exception):
    """--stack names a stack the platform does not have."""


def _dependencies(stacks: Iterable[StackSpec]) -> StackDependencies:
    return StackDependencies({spec.dir: spec.depends_on for spec in stacks})


def select_stacks(
    stacks: Iterable[StackSpec],
    names: Iterable[str] = (),
    *,
    with_dependencies: bool = False,
    with_dependents: bool = False,
) -> list[StackSpec]:
    """The stacks a run covers, in manifest (topological) order.

    No names: every stack. Names (a stack's directory such as `03-cluster` or
    `06-apps/storefront`, or its project name) narrow the run to those stacks;
    the flags widen it along the graph to everything they need / everything
    that needs them. Stacks left out are taken as they are (already deployed).
    """
    ordered = list(stacks)
    names = list(names)
    if not names:
        return ordered
    by_dir = {s.dir: s for s in ordered}
    by_project = {s.project: s.dir for s in ordered}
    chosen: set[str] = set()
    for name in names:
        key = name.strip().rstrip("/")
        if key in by_dir:
            chosen.add(key)
        elif key in by_project:
            chosen.add(by_project[key])
        else:
            known = list(by_dir) + list(by_project)
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SelectionError(
                f"--stack '{name}' is not a stack of this platform{hint}; "
                f"stacks: {', '.join(by_dir)}"
            )
    if with_dependencies or with_dependents:
        dependencies = _dependencies(ordered)
        for name in set(chosen):
            if with_dependencies:
                chosen |= dependencies.needed_by(name)
            if with_dependents:
                chosen |= dependencies.needing(name)
    return [s for s in ordered if s.dir in chosen]


# --- what a runner reports -----------------------------------------------------


@dataclass
class StackOutcome:
    """What one operation on one stack found or did.

    `changes` counts resources per step operation (Pulumi's summary: create,
    update, delete, replace, same, ...); `resources` lists the (operation, URN)
    of each changed resource - for a drift check, the resources whose real
    state differs from the last deployment.
    """

    changes: dict[str, int] = field(default_factory=dict)
    resources: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.resources) or any(
            count for op, count in self.changes.items() if op not in UNCHANGED_OPS
        )


class StackFailed(Exception):
    """An operation on a stack failed; the message is one line for the summary
    (the full output is in the stack's log)."""


class StackIO:
    """The channel from a runner back to the scheduler while one stack runs:
    every line of Pulumi's output goes to the stack's log, and resource steps
    drive the progress counter."""

    def __init__(
        self,
        spec: StackSpec,
        log: IO[str] | None = None,
        on_progress: Callable[[StackIO], None] | None = None,
    ):
        self.spec = spec
        self._log = log
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.failed: set[str] = set()

    def output(self, line: str) -> None:
        if self._log is None:
            return
        with self._lock:
            self._log.write(line.rstrip("\n") + "\n")
            self._log.flush()

    def resource_started(self, urn: str) -> None:
        with self._lock:
            self.started.add(urn)
        self._progress()

    def resource_finished(self, urn: str, *, failed: bool = False) -> None:
        with self._lock:
            self.started.add(urn)
            self.finished.add(urn)
            if failed:
                self.failed.add(urn)
        self._progress()

    def _progress(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self)


class Runner(Protocol):
    """Runs one operation on one stack. Return what it found or did; raise
    (preferably `StackFailed`) when it fails. Called from worker threads, one
    call per stack at a time, several stacks at once.

    `up` also records on the stack what it now exports and reads
    (lifecycle.record_tags). A `removed` stack (in the backend, no longer in
    the tree) is only previewed as its destroy and destroyed, and once
    destroyed is removed from the backend."""

    def preview(self, stack: StackSpec, io: StackIO) -> StackOutcome: ...

    def up(self, stack: StackSpec, io: StackIO) -> StackOutcome: ...

    def destroy(self, stack: StackSpec, io: StackIO) -> StackOutcome: ...

    def refresh(self, stack: StackSpec, io: StackIO) -> StackOutcome:
        """A refresh in preview mode: report drift, change nothing."""
        ...

    def deployed_projects(self) -> list[str]:
        """The projects with a stack for the run's environment in the backend
        whose names crosswalk could have given this platform's stacks."""
        ...

    def stack_tags(self, project: str) -> dict[str, str]:
        """crosswalk's tags on that project's stack (empty when it has none)."""
        ...


# --- results -------------------------------------------------------------------


@dataclass
class StackResult:
    spec: StackSpec
    operation: str
    status: str = WAITING
    outcome: StackOutcome | None = None
    error: str | None = None
    blocked_by: tuple[str, ...] = ()  # for a skipped stack: the failed stacks it waited on
    log: Path | None = None
    started: float | None = None
    ended: float | None = None
    resources_done: int = 0
    resources_seen: int = 0

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass
class RunResult:
    operation: str
    results: dict[str, StackResult]
    interrupted: bool = False

    def __iter__(self) -> Iterator[StackResult]:
        return iter(self.results.values())

    @property
    def failed(self) -> list[StackResult]:
        return [r for r in self if r.status == FAILED]

    @property
    def skipped(self) -> list[StackResult]:
        return [r for r in self if r.status == SKIPPED]

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status == DONE for r in self)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def drift_exit_code(run: RunResult) -> int:
    """0: nothing drifted; 1: something drifted; 2: some stack could not be checked."""
    if not run.ok:
        return 2
    return 1 if any(r.outcome is not None and r.outcome.changed for r in run) else 0


def drifted(run: RunResult) -> dict[str, list[tuple[str, str]]]:
    """Per stack that drifted, the (operation, URN) of each drifted resource."""
    return {
        r.spec.dir: list(r.outcome.resources)
        for r in run
        if r.outcome is not None and r.outcome.changed
    }


def waiting_on_upstream(run: RunResult) -> dict[str, str]:
    """Stacks of a preview that failed (or were skipped) only because a stack
    they read has changes still to apply: a StackReference to a stack that
    does not exist yet, or to an output it does not export yet, cannot be
    previewed. Maps each such stack to the changed upstream it waits for."""
    stacks = {r.spec.dir: r.spec for r in run}
    # A run of some stacks still names every stack they read.
    dependencies = _dependencies(stacks.values())
    changed = {r.spec.dir for r in run if r.outcome is not None and r.outcome.changed}
    pending: dict[str, str] = {}
    for result in run:  # topological order, so upstream verdicts come first
        if result.status not in (FAILED, SKIPPED):
            continue
        upstream = [d for d in sorted(dependencies.needed_by(result.spec.dir)) if d in stacks]
        waits_for = [d for d in upstream if d in changed]
        if result.status == FAILED and waits_for:
            pending[result.spec.dir] = waits_for[-1]
        elif (
            result.status == SKIPPED
            and result.blocked_by
            and all(b in pending for b in result.blocked_by)
        ):
            pending[result.spec.dir] = pending[result.blocked_by[0]]
    return pending


# --- logs ----------------------------------------------------------------------


class Logs:
    """One log file per stack under `.crosswalk/logs/<env>/`. The first
    operation on a stack in a command truncates its log; later ones append,
    so the log holds exactly the last command's output."""

    def __init__(self, directory: Path | str, command: str = "crosswalk"):
        self.directory = Path(directory)
        self.command = command
        self._opened: set[str] = set()
        self._lock = threading.Lock()

    def path(self, spec: StackSpec) -> Path:
        return self.directory / spec.log_name

    def open(self, spec: StackSpec, operation: str) -> IO[str]:
        with self._lock:
            mode = "a" if spec.dir in self._opened else "w"
            if not self._opened:
                self.directory.mkdir(parents=True, exist_ok=True)
            self._opened.add(spec.dir)
        log = self.path(spec).open(mode, encoding="utf-8")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.write(f"=== {self.command}: {operation} {spec.dir} ({spec.project}) at {stamp} ===\n")
        log.flush()
        return log


# --- progress --------------------------------------------------------------------


class Reporter:
    """Receives the run's events; called from worker threads. The default
    does nothing; apply_cli has the live table and the line printers."""

    def begin(self, run: RunResult) -> None:
        pass

    def stack_changed(self, result: StackResult) -> None:
        pass

    def progress(self, result: StackResult) -> None:
        pass

    def end(self, run: RunResult) -> None:
        pass


# --- the scheduler -------------------------------------------------------------


def _popped(heap: list) -> Iterator:
    """The heap's items, smallest first, each taken off as it is asked for."""
    while heap:
        yield heapq.heappop(heap)


def _reverse_edges(stacks: list[StackSpec]) -> dict[str, list[str]]:
    dependents: dict[str, list[str]] = {s.dir: [] for s in stacks}
    for spec in stacks:
        for dependency in spec.depends_on:
            if dependency in dependents:
                dependents[dependency].append(spec.dir)
    return dependents


def run_stacks(
    stacks: Iterable[StackSpec],
    operation: str,
    runner: Runner,
    *,
    parallel: int = 4,
    reverse: bool = False,
    reporter: Reporter | None = None,
    logs: Logs | None = None,
) -> RunResult:
    """Run `operation` (preview, up, destroy, refresh) on every stack.

    A stack starts once every stack it depends on within `stacks` is done
    (with `reverse`, once every stack depending on it is done: destroy order)
    and no running stack shares one of its `one_at_a_time` marks; at most
    `parallel` run at once. A failure skips everything downstream of it;
    other stacks carry on. Ctrl-C starts nothing new, lets running stacks
    finish (Pulumi cancels them cleanly) and marks the rest skipped.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    ordered = list(stacks)
    selected = {s.dir for s in ordered}
    if reverse:
        ordered.reverse()
        needs = _reverse_edges(list(reversed(ordered)))
    else:
        needs = {s.dir: [d for d in s.depends_on if d in selected] for s in ordered}
    reporter = reporter or Reporter()
    method = getattr(runner, operation)
    results = {
        s.dir: StackResult(s, operation, log=logs.path(s) if logs else None) for s in ordered
    }
    run = RunResult(operation, results)
    state_lock = threading.Lock()
    reporter.begin(run)

    def execute(spec: StackSpec) -> None:
        result = results[spec.dir]
        with state_lock:
            result.status = RUNNING
            result.started = time.monotonic()
        reporter.stack_changed(result)
        log = logs.open(spec, operation) if logs else None

        def on_progress(io: StackIO) -> None:
            result.resources_seen = len(io.started)
            result.resources_done = len(io.finished)
            reporter.progress(result)

        io = StackIO(spec, log, on_progress)
        try:
            outcome = method(spec, io)
        except Exception as exc:  # noqa: BLE001 - a runner's failure is its stack's, not the run's
            message = str(exc).strip() or type(exc).__name__
            if not isinstance(exc, StackFailed):
                io.output(traceback.format_exc())
            io.output(f"crosswalk: {operation} failed: {message}")
            with state_lock:
                result.status = FAILED
                result.error = message
                result.ended = time.monotonic()
        else:
            io.output(f"crosswalk: {operation} done")
            with state_lock:
                result.status = DONE
                result.outcome = outcome if outcome is not None else StackOutcome()
                result.ended = time.monotonic()
        finally:
            if log is not None:
                log.close()
        reporter.stack_changed(result)

    def skip(spec: StackSpec, blocked_by: tuple[str, ...], reason: str | None = None) -> None:
        result = results[spec.dir]
        with state_lock:
            result.status = SKIPPED
            result.blocked_by = blocked_by
            result.error = reason
        reporter.stack_changed(result)

    def root_failures(directory: str) -> tuple[str, ...]:
        """The failed stacks that keep `directory` from running (through skipped ones)."""
        found: list[str] = []
        for dependency in needs[directory]:
            result = results[dependency]
            if result.status == FAILED:
                found.append(dependency)
            elif result.status == SKIPPED:
                found.extend(result.blocked_by)
        return tuple(sorted(set(found), key=list(results).index))

    # A stack waits on the stacks it needs that are not done yet; when the last of them is
    # done it is ready. Each finish looks only at the stacks that wait on it, so a layer
    # finishing under a thousand app stacks costs a thousand steps, not a million.
    dependents: dict[str, list[str]] = {spec.dir: [] for spec in ordered}
    for spec in ordered:
        for dependency in needs[spec.dir]:
            dependents[dependency].append(spec.dir)
    # How many stacks wait on each in a row, itself included.
    chain: dict[str, int] = {}
    for spec in reversed(ordered):
        chain[spec.dir] = 1 + max((chain[d] for d in dependents[spec.dir]), default=0)
    position = {spec.dir: index for index, spec in enumerate(ordered)}
    specs = {spec.dir: spec for spec in ordered}
    waiting = {spec.dir: len(needs[spec.dir]) for spec in ordered}
    pending = set(specs)  # neither started nor skipped
    ready = [(position[d], d) for d in specs if waiting[d] == 0]  # a heap, by position
    heapq.heapify(ready)

    def skip_downstream(directory: str) -> None:
        """Skip every pending stack that needs `directory` (failed or skipped), and theirs."""
        stack = [directory]
        while stack:
            for dependent in dependents[stack.pop()]:
                if dependent in pending:
                    pending.discard(dependent)
                    skip(specs[dependent], root_failures(dependent))
                    stack.append(dependent)

    running: dict[Future, str] = {}
    held: set[str] = set()  # the one-at-a-time marks of the running stacks
    with _StackThreads(min(parallel, len(ordered)), "crosswalk-stack") as pool:
        try:
            while pending or running:
                # Start what is ready in manifest order; when every ready stack can start
                # at once, those with the longest chain behind them go first. What a running
                # stack's mark holds back waits for the next finish.
                if len(running) + len(ready) <= parallel:
                    order = sorted(ready, key=lambda item: (-chain[item[1]], item[0]))
                    ready = []
                else:
                    order = _popped(ready)
                blocked = []
                for _, directory in order:
                    if len(running) >= parallel:
                        blocked.append((position[directory], directory))
                        break
                    spec = specs[directory]
                    if directory not in pending:
                        continue
                    if held.intersection(spec.one_at_a_time):
                        blocked.append((position[directory], directory))
                        continue
                    pending.discard(directory)
                    held.update(spec.one_at_a_time)
                    running[pool.submit(execute, spec)] = directory
                for item in blocked:
                    heapq.heappush(ready, item)
                if not running:
                    for directory in sorted(pending, key=position.__getitem__):
                        # Unreachable with a valid manifest (a cycle).
                        skip(specs[directory], (), "its dependencies form a cycle")
                    pending.clear()
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: position[running[f]]):
                    directory = running.pop(future)
                    held.difference_update(specs[directory].one_at_a_time)
                    future.result()
                    if results[directory].status != DONE:
                        skip_downstream(directory)
                        continue
                    for dependent in dependents[directory]:
                        waiting[dependent] -= 1
                        if waiting[dependent] == 0 and dependent in pending:
                            heapq.heappush(ready, (position[dependent], dependent))
        except KeyboardInterrupt:
            run.interrupted = True
            for directory in sorted(pending, key=position.__getitem__):
                skip(specs[directory], (), "interrupted")
            pending.clear()
            wait(running)
    reporter.end(run)
    return run


class _StackThreads:
    """A fixed set of threads running submitted calls, all started at once from a thread of
    their own: when a layer finishes and a thousand app stacks become ready, each starts at
    once instead of after the threads before it were created (a pool creating threads on
    demand takes about 0.1 ms a thread, 0.1 s for the last of a thousand)."""

    def __init__(self, size: int, prefix: str):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._starter = threading.Thread(
            target=self._start, args=(max(1, size), prefix), name=f"{prefix}-starter"
        )
        self._starter.start()

    def _start(self, size: int, prefix: str) -> None:
        for number in range(size):
            thread = threading.Thread(target=self._work, name=f"{prefix}_{number}")
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while (item := self._calls.get()) is not None:
            future, function, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it
                future.set_exception(exc)

    def submit(self, function: Callable, *args: object) -> Future:
        future: Future = Future()
        self._calls.put((future, function, args))
        return future

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._starter.join()
        for _ in self._threads:
            self._calls.put(None)
        for thread in self._threads:
            thread.join()


# --- the lock ----------------------------------------------------------------------


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    user: str
    command: str
    started: str

    def describe(self) -> str:
        return (
            f"'{self.command}' run by {self.user} on {self.host} "
            f"(pid {self.pid}, since {self.started})"
        )


class LockHeld(Exception):
    """Another crosswalk command holds the state lock."""

    def __init__(self, path: Path, holder: LockInfo | None):
        self.path = path
        self.holder = holder
        who = holder.describe() if holder else "a process whose lock file cannot be read"
        super().__init__(
            f"another crosswalk command is using this platform's state: {who}; "
            f"wait for it to finish, or, if it is no longer running, delete {path}"
        )


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_lock(path: Path) -> LockInfo | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockInfo(
            int(data["pid"]), str(data["host"]), str(data["user"]), str(data["command"]),
            str(data["started"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


@contextmanager
def _guard(path: Path) -> Iterator[None]:
    """Serialise lock taking on this host, so two processes cannot both take
    over the same stale lock. (Across hosts, the atomic link alone decides.)"""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path.with_name(path.name + ".guard"), "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


@contextmanager
def state_lock(path: Path | str, command: str) -> Iterator[LockInfo]:
    """Hold `path` for the duration: one crosswalk command per state at a time.

    The lock file records pid, host, user, command and start time. A lock
    left by a process that no longer runs on this host is stale and taken
    over; one held from another host is never broken automatically.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = LockInfo(
        os.getpid(),
        socket.gethostname(),
        _user(),
        command,
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    body = json.dumps(me.__dict__, indent=2) + "\n"
    with _guard(path):
        staging = path.with_name(f"{path.name}.{me.pid}.{threading.get_ident()}.tmp")
        staging.write_text(body, encoding="utf-8")
        try:
            for _attempt in range(2):
                try:
                    os.link(staging, path)  # atomic: the lock appears whole or not at all
                    break
                except FileExistsError:
                    holder = _read_lock(path)
                    if holder is None or holder.host != me.host or _pid_alive(holder.pid):
                        raise LockHeld(path, holder) from None
                    path.unlink(missing_ok=True)  # stale: its process is gone
            else:
                raise LockHeld(path, _read_lock(path))
        finally:
            staging.unlink(missing_ok=True)
    try:
        yield me
    finally:
        if _read_lock(path) == me:
            path.unlink(missing_ok=True)
