"""The scheduler behind `crosswalk preview|apply|destroy|drift`, proven with a
recording fake runner: order, bounded parallelism, failures, reverse order,
--stack selection, drift exit codes, logs, the state lock, and the commands'
flows (confirmation, JSON lines) on a compiled sample."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from crosswalk.compiler import apply_cli
from crosswalk.compiler.apply import (
    DONE,
    FAILED,
    SKIPPED,
    LockHeld,
    Logs,
    ManifestError,
    SelectionError,
    StackFailed,
    StackIO,
    StackOutcome,
    StackSpec,
    drift_exit_code,
    drifted,
    load_manifest,
    run_stacks,
    select_stacks,
    state_lock,
    waiting_on_upstream,
)
from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.lifecycle import record_tags

ROOT = Path(__file__).resolve().parent.parent
DELAY = 0.04


def stacks(*edges: str) -> list[StackSpec]:
    """stacks("a", "b:a", "d:b,c") -> StackSpecs in the order given."""
    found = []
    for edge in edges:
        name, _, needs = edge.partition(":")
        found.append(StackSpec(name, f"p-{name}", "layer", tuple(filter(None, needs.split(",")))))
    return found


# a -> b -> d, a -> c -> d, and e on its own.
DIAMOND = stacks("a", "b:a", "c:a", "d:b,c", "e")


@dataclass
class Call:
    operation: str
    stack: str
    start: float
    end: float


class FakeRunner:
    """Implements the Runner protocol: sleeps a little, records when each
    stack ran, fails the stacks it is told to, reports what it is told to."""

    def __init__(self, fail=(), changes=None, delay=DELAY, deployed=None, platform="demo"):
        self.fail = set(fail)
        self.changes = changes or {}
        self.delay = delay
        self.calls: list[Call] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        # The state backend: project -> the tags of its stack (for this environment).
        self.deployed: dict[str, dict[str, str]] = dict(deployed or {})
        self.platform = platform

    def _run(self, operation: str, stack: StackSpec, io: StackIO) -> StackOutcome:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        start = time.monotonic()
        try:
            io.output(f"{operation} of {stack.dir}: line 1")
            urn = f"urn:pulumi:dev::{stack.project}::aws:s3/bucket:Bucket::{stack.dir}"
            io.resource_started(urn)
            time.sleep(self.delay)
            io.resource_finished(urn)
            if stack.dir in self.fail or (operation, stack.dir) in self.fail:
                raise StackFailed(f"{stack.dir} broke")
            if stack.removed:
                assert operation in ("preview", "destroy"), f"{operation} of a removed stack"
                if operation == "destroy":
                    with self._lock:
                        del self.deployed[stack.project]
                return StackOutcome({"delete": 3}, [])
            if operation == "up":
                with self._lock:
                    self.deployed[stack.project] = record_tags(self.platform, stack)
            counts, resources = self.changes.get(stack.dir, ({"same": 1}, []))
            return StackOutcome(dict(counts), list(resources))
        finally:
            with self._lock:
                self.active -= 1
                self.calls.append(Call(operation, stack.dir, start, time.monotonic()))

    def preview(self, stack, io):
        return self._run("preview", stack, io)

    def up(self, stack, io):
        return self._run("up", stack, io)

    def destroy(self, stack, io):
        return self._run("destroy", stack, io)

    def refresh(self, stack, io):
        return self._run("refresh", stack, io)

    def deployed_projects(self):
        return sorted(self.deployed)

    def stack_tags(self, project):
        return dict(self.deployed.get(project, {}))

    def by_stack(self) -> dict[str, Call]:
        return {c.stack: c for c in self.calls}

    def started(self) -> list[str]:
        return [c.stack for c in sorted(self.calls, key=lambda c: c.start)]


# --- order and parallelism -------------------------------------------------------------


def test_a_stack_starts_only_after_everything_it_needs_has_finished() -> None:
    runner = FakeRunner()
    run = run_stacks(DIAMOND, "up", runner, parallel=4)
    assert run.ok and run.exit_code == 0
    calls = runner.by_stack()
    assert set(calls) == {"a", "b", "c", "d", "e"}
    for spec in DIAMOND:
        for dependency in spec.depends_on:
            assert calls[dependency].end <= calls[spec.dir].start, (dependency, spec.dir)
    assert [r.status for r in run] == [DONE] * 5


def test_one_at_a_time_follows_the_manifest_order() -> None:
    runner = FakeRunner(delay=0.005)
    run_stacks(DIAMOND, "preview", runner, parallel=1)
    assert runner.started() == ["a", "b", "c", "d", "e"]
    assert runner.max_active == 1


@pytest.mark.parametrize("parallel", [2, 3])
def test_independent_stacks_overlap_but_never_beyond_parallel(parallel: int) -> None:
    wide = stacks(*"uvwxyz")
    runner = FakeRunner()
    run_stacks(wide, "up", runner, parallel=parallel)
    assert runner.max_active == parallel
    calls = sorted(runner.calls, key=lambda c: c.start)
    overlapping = [
        (x, y) for x in calls for y in calls if x is not y and x.start < y.end and y.start < x.end
    ]
    assert overlapping, "independent stacks should have run at the same time"
    for call in calls:
        at_once = sum(1 for other in calls if other.start <= call.start < other.end)
        assert at_once <= parallel


def test_dependents_of_a_failure_are_skipped_while_independent_stacks_finish() -> None:
    runner = FakeRunner(fail={"b"})
    run = run_stacks(DIAMOND, "up", runner, parallel=4)
    status = {r.spec.dir: r.status for r in run}
    assert status == {"a": DONE, "b": FAILED, "c": DONE, "d": SKIPPED, "e": DONE}
    assert "d" not in runner.by_stack()
    assert run.results["b"].error == "b broke"
    assert run.results["d"].blocked_by == ("b",)
    assert not run.ok and run.exit_code == 1
    assert [r.spec.dir for r in run.failed] == ["b"]
    assert [r.spec.dir for r in run.skipped] == ["d"]


def test_a_skip_names_the_failure_behind_it_not_the_stacks_skipped_in_between() -> None:
    chain = stacks("a", "b:a", "c:b", "x")
    run = run_stacks(chain, "up", FakeRunner(fail={"a"}))
    assert run.results["b"].blocked_by == ("a",)
    assert run.results["c"].blocked_by == ("a",)
    assert run.results["c"].status == SKIPPED
    assert run.results["x"].status == DONE


def test_destroy_runs_the_graph_backwards() -> None:
    runner = FakeRunner()
    run = run_stacks(DIAMOND, "destroy", runner, parallel=4, reverse=True)
    assert run.ok
    calls = runner.by_stack()
    for spec in DIAMOND:  # everything that needs a stack is gone before it goes
        for dependency in spec.depends_on:
            assert calls[spec.dir].end <= calls[dependency].start, (spec.dir, dependency)
    assert list(run.results)[:4] == ["e", "d", "c", "b"]
    serial = FakeRunner(delay=0.005)
    run_stacks(DIAMOND, "destroy", serial, parallel=1, reverse=True)
    assert serial.started() == ["e", "d", "c", "b", "a"]


def test_a_failed_destroy_keeps_what_it_needs() -> None:
    runner = FakeRunner(fail={"d"})
    run = run_stacks(DIAMOND, "destroy", runner, parallel=2, reverse=True)
    status = {r.spec.dir: r.status for r in run}
    assert status == {"e": DONE, "d": FAILED, "c": SKIPPED, "b": SKIPPED, "a": SKIPPED}
    assert run.results["a"].blocked_by == ("d",)
    assert set(runner.by_stack()) == {"d", "e"}


def test_runner_exceptions_fail_their_stack_with_the_traceback_in_its_log(tmp_path: Path) -> None:
    class Broken(FakeRunner):
        def up(self, stack, io):
            if stack.dir == "c":
                raise KeyError("surprise")
            return super().up(stack, io)

    run = run_stacks(DIAMOND, "up", Broken(), logs=Logs(tmp_path))
    assert run.results["c"].status == FAILED
    assert run.results["c"].error == "'surprise'"
    text = (tmp_path / "c.log").read_text()
    assert "Traceback" in text and "KeyError" in text


def test_interrupt_starts_nothing_new_and_lets_running_stacks_finish(monkeypatch) -> None:
    import crosswalk.compiler.apply as apply_module

    real_wait = apply_module.wait

    def wait_then_interrupt(futures, **kwargs):  # Ctrl-C while 'a' runs
        real_wait(futures)
        monkeypatch.setattr(apply_module, "wait", real_wait)
        raise KeyboardInterrupt

    monkeypatch.setattr(apply_module, "wait", wait_then_interrupt)
    run = run_stacks(DIAMOND, "up", FakeRunner(), parallel=1)
    assert run.interrupted and run.exit_code == 1
    assert run.results["a"].status == DONE
    assert {r.spec.dir for r in run.skipped} == {"b", "c", "d", "e"}
    assert run.results["b"].error == "interrupted"


def test_progress_counts_resources_from_the_runner() -> None:
    seen = []

    class Recorder(apply_cli.Reporter):
        def progress(self, result):
            seen.append((result.spec.dir, result.resources_done, result.resources_seen))

    run_stacks(stacks("a"), "up", FakeRunner(), reporter=Recorder())
    assert seen == [("a", 0, 1), ("a", 1, 1)]


# --- choosing stacks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "dependencies", "dependents", "expected"),
    [
        ((), False, False, ["a", "b", "c", "d", "e"]),
        (("b",), False, False, ["b"]),
        (("b",), True, False, ["a", "b"]),
        (("b",), False, True, ["b", "d"]),
        (("b",), True, True, ["a", "b", "d"]),
        (("d",), True, False, ["a", "b", "c", "d"]),
        (("a",), False, True, ["a", "b", "c", "d"]),
        (("p-c", "e/"), False, False, ["c", "e"]),  # project names, a trailing slash
    ],
)
def test_stack_selection(names, dependencies, dependents, expected) -> None:
    chosen = select_stacks(
        DIAMOND, names, with_dependencies=dependencies, with_dependents=dependents
    )
    assert [s.dir for s in chosen] == expected


def test_an_unknown_stack_is_refused_with_a_suggestion() -> None:
    with pytest.raises(
        SelectionError, match=r"'03-clustr' is not a stack.*did you mean '03-cluster'"
    ):
        select_stacks(stacks("01-identity", "03-cluster:01-identity"), ["03-clustr"])


def test_a_narrowed_run_takes_unselected_dependencies_as_deployed() -> None:
    runner = FakeRunner()
    run = run_stacks(select_stacks(DIAMOND, ["d"]), "up", runner)
    assert run.ok and list(runner.by_stack()) == ["d"]


# --- drift --------------------------------------------------------------------------------

DRIFTED = ("urn:pulumi:dev::p-c::aws:s3/bucket:Bucket::logs", "update")


def test_drift_exit_codes_and_the_drifted_resources() -> None:
    quiet = run_stacks(DIAMOND, "refresh", FakeRunner(delay=0.001))
    assert drift_exit_code(quiet) == 0 and drifted(quiet) == {}

    changes = {"c": ({"same": 3, "update": 1}, [("update", DRIFTED[0])])}
    found = run_stacks(DIAMOND, "refresh", FakeRunner(changes=changes, delay=0.001))
    assert drift_exit_code(found) == 1
    assert drifted(found) == {"c": [("update", DRIFTED[0])]}

    # Counts alone (no per-resource detail) still count as drift.
    counted = {"e": ({"delete": 1}, [])}
    assert (
        drift_exit_code(run_stacks(DIAMOND, "refresh", FakeRunner(changes=counted, delay=0.001)))
        == 1
    )

    # A stack that could not be checked wins over drift found elsewhere.
    broken = run_stacks(DIAMOND, "refresh", FakeRunner(fail={"b"}, changes=changes, delay=0.001))
    assert drift_exit_code(broken) == 2


def test_previews_that_wait_for_upstream_changes_are_not_errors() -> None:
    changes = {"b": ({"create": 2}, [])}
    run = run_stacks(DIAMOND, "preview", FakeRunner(fail={"d"}, changes=changes, delay=0.001))
    assert waiting_on_upstream(run) == {"d": "b"}
    # A failure with nothing changed upstream is a real one...
    run = run_stacks(DIAMOND, "preview", FakeRunner(fail={"b"}, delay=0.001))
    assert waiting_on_upstream(run) == {}
    # ...and stacks skipped behind a waiting one wait too.
    chain = stacks("a", "b:a", "c:b")
    run = run_stacks(
        chain, "preview", FakeRunner(fail={"b"}, changes={"a": ({"create": 1}, [])}, delay=0.001)
    )
    assert waiting_on_upstream(run) == {"b": "a", "c": "a"}


def test_a_narrowed_preview_s_failure_outside_the_run_is_a_real_one() -> None:
    """--stack d runs d alone; what d needs is not in the run, and its
    failure cannot be blamed on changes the run never saw."""
    only_d = select_stacks(DIAMOND, ["d"])
    run = run_stacks(only_d, "preview", FakeRunner(fail={"d"}, delay=0.001))
    assert waiting_on_upstream(run) == {}


# --- logs -------------------------------------------------------------------------------


def test_each_stack_logs_its_whole_output_and_a_command_starts_its_logs_afresh(
    tmp_path: Path,
) -> None:
    apps = stacks("03-cluster", "06-apps/shop:03-cluster")
    logs = Logs(tmp_path / "logs" / "dev", "crosswalk apply")
    run = run_stacks(apps, "preview", FakeRunner(delay=0.001), logs=logs)
    run_stacks(apps, "up", FakeRunner(fail={"06-apps/shop"}, delay=0.001), logs=logs)
    shop = tmp_path / "logs" / "dev" / "06-apps_shop.log"
    assert run.results["06-apps/shop"].log == shop
    text = shop.read_text()
    assert "=== crosswalk apply: preview 06-apps/shop (p-06-apps/shop)" in text
    assert "preview of 06-apps/shop: line 1" in text
    assert "up of 06-apps/shop: line 1" in text
    assert text.rstrip().endswith("crosswalk: up failed: 06-apps/shop broke")
    assert (tmp_path / "logs" / "dev" / "03-cluster.log").is_file()

    fresh = Logs(tmp_path / "logs" / "dev", "crosswalk drift")
    run_stacks(apps, "refresh", FakeRunner(delay=0.001), logs=fresh)
    text = shop.read_text()
    assert "preview of" not in text and "refresh of 06-apps/shop" in text


# --- the manifest -------------------------------------------------------------------------


def test_the_manifest_is_read_in_order_and_checked(tmp_path: Path) -> None:
    manifest = {
        "platform": "acme",
        "cloud": "aws",
        "environments": ["dev"],
        "stacks": [
            {"dir": "01-identity", "project": "acme-identity", "layer": "identity", "dependsOn": [], "hash": "h1"},
            {"dir": "03-cluster", "project": "acme-cluster", "layer": "cluster", "dependsOn": ["01-identity"], "hash": "h3"},
        ],
    }  # fmt: skip
    (tmp_path / "crosswalk.stacks.json").write_text(json.dumps(manifest))
    loaded = load_manifest(tmp_path)
    assert loaded.platform == "acme" and loaded.environments == ("dev",)
    assert loaded.stack("03-cluster").depends_on == ("01-identity",)
    manifest["stacks"].reverse()
    (tmp_path / "crosswalk.stacks.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="not listed before it"):
        load_manifest(tmp_path)
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "missing")


# --- the lock -------------------------------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_lock_refuses_a_second_run_and_says_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / ".crosswalk.lock"
    with state_lock(path, "crosswalk apply platform.yaml --env dev") as me:
        held = json.loads(path.read_text())
        assert held["pid"] == os.getpid() == me.pid
        assert held["host"] == socket.gethostname()
        assert held["command"] == "crosswalk apply platform.yaml --env dev"
        assert held["user"] and held["started"].endswith("Z")
        with (
            pytest.raises(LockHeld) as refused,
            state_lock(path, "crosswalk destroy platform.yaml"),
        ):
            pytest.fail("two commands held the lock")
        message = str(refused.value)
        assert "'crosswalk apply platform.yaml --env dev'" in message
        assert f"pid {os.getpid()}" in message and str(path) in message
    assert not path.exists()
    with state_lock(path, "again"):  # released, so it can be taken again
        pass


def test_a_stale_lock_from_a_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / ".crosswalk.lock"
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "user": "ci", "command": "crosswalk apply", "started": "2020-01-01T00:00:00Z"}  # fmt: skip
    path.write_text(json.dumps(stale))
    with state_lock(path, "crosswalk drift") as me:
        assert json.loads(path.read_text())["pid"] == me.pid
    assert not path.exists()


def test_a_lock_from_another_host_is_never_broken(tmp_path: Path) -> None:
    path = tmp_path / ".crosswalk.lock"
    other = {"pid": dead_pid(), "host": "build-agent-7", "user": "ci", "command": "crosswalk apply", "started": "2020-01-01T00:00:00Z"}  # fmt: skip
    path.write_text(json.dumps(other))
    with (
        pytest.raises(LockHeld, match="run by ci on build-agent-7"),
        state_lock(path, "crosswalk apply"),
    ):
        pass
    assert json.loads(path.read_text()) == other


def test_two_threads_racing_for_a_stale_lock_cannot_both_win(tmp_path: Path) -> None:
    path = tmp_path / ".crosswalk.lock"
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "user": "ci", "command": "x", "started": "s"}  # fmt: skip
    path.write_text(json.dumps(stale))
    results = []
    barrier = threading.Barrier(4)

    def contend() -> None:
        barrier.wait()
        try:
            with state_lock(path, "contender"):
                results.append("held")
                time.sleep(0.1)
        except LockHeld:
            results.append("refused")

    threads = [threading.Thread(target=contend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["held", "refused", "refused", "refused"]


def test_stacks_sharing_a_one_at_a_time_mark_never_run_together() -> None:
    marked = [
        StackSpec("a", "p-a", "apps", one_at_a_time=("postgres:orders",)),
        StackSpec("b", "p-b", "apps", one_at_a_time=("postgres:orders", "redis:cache")),
        StackSpec("c", "p-c", "apps", one_at_a_time=("redis:cache",)),
        StackSpec("d", "p-d", "apps"),
    ]
    runner = FakeRunner(delay=0.03)
    run = run_stacks(marked, "up", runner, parallel=4)
    assert run.ok
    calls = runner.by_stack()

    def overlap(x: str, y: str) -> bool:
        return calls[x].start < calls[y].end and calls[y].start < calls[x].end

    assert not overlap("a", "b") and not overlap("b", "c")
    assert overlap("a", "c") or overlap("a", "d"), "unrelated stacks still run side by side"


# --- the commands, with the fake runner ---------------------------------------------------


@pytest.fixture
def platform(tmp_path: Path, monkeypatch) -> Path:
    """The minimal sample (01, 02 -> 03 -> 04) beside a fake `pulumi` on PATH."""
    target = tmp_path / "demo" / "platform.yaml"
    target.parent.mkdir()
    shutil.copy(ROOT / "samples" / "minimal" / "platform.yaml", target)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text("#!/bin/sh\necho v3.200.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return target


@pytest.fixture
def fake(monkeypatch) -> FakeRunner:
    runner = FakeRunner(delay=0.001, changes={"03-cluster": ({"create": 2}, [("create", "urn:pulumi:dev::demo-cluster::aws:eks/cluster:Cluster::demo")])})  # fmt: skip
    sessions = []

    def make(session):
        sessions.append(session)
        return runner

    monkeypatch.setattr(apply_cli, "make_runner", make)
    runner.sessions = sessions  # type: ignore[attr-defined]
    return runner


def invoke(command, *args, input=None):
    return CliRunner().invoke(command, [str(a) for a in args], input=input)


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_apply_without_a_terminal_or_yes_refuses_before_doing_anything(platform, fake) -> None:
    result = invoke(apply_cli.apply, platform)
    assert result.exit_code == 2
    assert "no terminal" in result.output and "--yes" in result.output
    assert fake.calls == [] and not (platform.parent / ".crosswalk").exists()


def test_apply_yes_previews_then_updates_everything_in_order(platform, fake) -> None:
    # A warning (public endpoint open to all) must not break the JSON lines on stdout.
    platform.write_text(
        platform.read_text() + "  endpoint: {public: true, allowedCidrs: [0.0.0.0/0]}\n"
    )
    result = invoke(apply_cli.apply, platform, "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert "warning[" in result.stderr
    assert all(line.startswith("{") for line in result.stdout.splitlines())
    operations = [(c.operation, c.stack) for c in sorted(fake.calls, key=lambda c: c.start)]
    previews = [s for op, s in operations if op == "preview"]
    ups = [s for op, s in operations if op == "up"]
    assert (
        sorted(previews)
        == sorted(ups)
        == ["01-identity", "02-managed-infra", "03-cluster", "04-cluster-services"]
    )
    assert operations.index(("up", "01-identity")) > operations.index(
        ("preview", "04-cluster-services")
    )
    events = json_lines(result.output)
    assert events[-1]["event"] == "summary" and events[-1]["exitCode"] == 0
    assert {s["status"] for s in events[-1]["stacks"]} == {"done"}
    preview = next(e for e in events if e["event"] == "preview")
    cluster = next(s for s in preview["stacks"] if s["stack"] == "03-cluster")
    assert cluster["changes"] == {"create": 2}
    assert cluster["resources"][0]["op"] == "create"
    session = fake.sessions[0]
    assert session.env == "dev" and session.platform == "demo"
    assert session.build_dir == platform.parent / ".crosswalk" / "build" / "dev"
    assert (session.build_dir / "crosswalk.stacks.json").is_file()
    assert (platform.parent / ".crosswalk" / "logs" / "dev" / "03-cluster.log").is_file()
    assert not (platform.parent / ".crosswalk" / "state" / ".crosswalk.lock").exists()


def test_apply_shows_the_preview_and_asks_once(platform, fake, monkeypatch) -> None:
    monkeypatch.setattr(apply_cli, "_interactive", lambda: True)
    declined = invoke(apply_cli.apply, platform, input="n\n")
    assert declined.exit_code == 1
    assert "03-cluster (demo-cluster): 2 to create" in declined.output
    assert "+ aws:eks/cluster:Cluster demo" in declined.output
    assert declined.output.count("Apply these changes to 4 stacks of 'demo'") == 1
    assert "nothing applied" in declined.output
    assert {c.operation for c in fake.calls} == {"preview"}

    accepted = invoke(apply_cli.apply, platform, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "apply summary (dev): 4 done" in accepted.output


def test_apply_with_nothing_to_change_does_not_ask(platform, monkeypatch) -> None:
    runner = FakeRunner(delay=0.001)
    monkeypatch.setattr(apply_cli, "make_runner", lambda session: runner)
    monkeypatch.setattr(apply_cli, "_interactive", lambda: True)
    result = invoke(apply_cli.apply, platform)
    assert result.exit_code == 0, result.output
    assert "no changes" in result.output and "Apply these" not in result.output
    assert {c.operation for c in runner.calls} == {"preview"}


def test_a_failed_preview_applies_nothing(platform, monkeypatch) -> None:
    runner = FakeRunner(delay=0.001, fail={("preview", "02-managed-infra")})
    monkeypatch.setattr(apply_cli, "make_runner", lambda session: runner)
    result = invoke(apply_cli.apply, platform, "--yes")
    assert result.exit_code == 1
    assert re.search(r"\n  02-managed-infra +failed +02-managed-infra broke", result.output)
    assert (
        "03-cluster" in result.output and "needs '02-managed-infra', which failed" in result.output
    )
    assert ".crosswalk/logs/dev/02-managed-infra.log" in result.output
    assert {c.operation for c in runner.calls} == {"preview"}


def test_apply_reports_failures_and_skips_and_exits_1(platform, monkeypatch) -> None:
    runner = FakeRunner(
        delay=0.001, fail={("up", "03-cluster")}, changes={"01-identity": ({"create": 1}, [])}
    )
    monkeypatch.setattr(apply_cli, "make_runner", lambda session: runner)
    result = invoke(apply_cli.apply, platform, "--yes")
    assert result.exit_code == 1
    assert "03-cluster: up failed" in result.output
    assert "04-cluster-services: skipped: needs '03-cluster', which failed" in result.output
    assert "apply summary (dev): 2 done, 1 failed, 1 skipped" in result.output
    assert "logs of failed stacks:\n  demo/.crosswalk/logs/dev/03-cluster.log" in result.output


def test_preview_lists_stacks_waiting_for_upstream_changes_without_failing(
    platform, monkeypatch
) -> None:
    runner = FakeRunner(
        delay=0.001, fail={"03-cluster"}, changes={"02-managed-infra": ({"create": 5}, [])}
    )
    monkeypatch.setattr(apply_cli, "make_runner", lambda session: runner)
    result = invoke(apply_cli.preview, platform)
    assert result.exit_code == 0, result.output
    assert (
        "03-cluster (demo-cluster): cannot be previewed until '02-managed-infra' is applied"
        in result.output
    )
    assert re.search(r"\n  04-cluster-services +waits +can be previewed once", result.output)


def test_stack_selection_on_the_command_line(platform, fake) -> None:
    result = invoke(apply_cli.preview, platform, "--stack", "03-cluster", "--with-dependents")
    assert result.exit_code == 0, result.output
    assert sorted(c.stack for c in fake.calls) == ["03-cluster", "04-cluster-services"]
    wrong = invoke(apply_cli.preview, platform, "--stack", "03-clustr")
    assert wrong.exit_code == 2 and "did you mean '03-cluster'" in wrong.output


def test_destroy_asks_for_the_platform_name_and_runs_backwards(platform, fake, monkeypatch) -> None:
    monkeypatch.setattr(apply_cli, "_interactive", lambda: True)
    refused = invoke(apply_cli.destroy, platform, input="acme\n")
    assert refused.exit_code == 1 and "nothing destroyed" in refused.output
    assert fake.calls == []
    done = invoke(apply_cli.destroy, platform, "--parallel", "1", input="demo\n")
    assert done.exit_code == 0, done.output
    assert fake.started() == [
        "04-cluster-services",
        "03-cluster",
        "02-managed-infra",
        "01-identity",
    ]
    assert {c.operation for c in fake.calls} == {"destroy"}


def test_destroy_without_a_terminal_needs_yes(platform, fake) -> None:
    assert invoke(apply_cli.destroy, platform).exit_code == 2
    assert invoke(apply_cli.destroy, platform, "--yes").exit_code == 0
    assert len(fake.calls) == 4


@pytest.mark.parametrize(
    ("fail", "changes", "code", "verdict"),
    [
        ((), {}, 0, "no drift"),
        ((), {"02-managed-infra": ({"update": 1}, [("update", "urn:pulumi:dev::demo-managed-infra::aws:ec2/vpc:Vpc::main")])}, 1, "drift found"),
        (("03-cluster",), {}, 2, "some stacks could not be checked"),
    ],
)  # fmt: skip
def test_drift_command_exit_codes(platform, monkeypatch, fail, changes, code, verdict) -> None:
    runner = FakeRunner(delay=0.001, fail=fail, changes=changes)
    monkeypatch.setattr(apply_cli, "make_runner", lambda session: runner)
    result = invoke(apply_cli.drift, platform)
    assert result.exit_code == code, result.output
    assert result.output.rstrip().endswith(verdict)
    assert {c.operation for c in runner.calls} == {"refresh"}
    if code == 1:
        assert (
            "02-managed-infra (demo-managed-infra) drifted: 1 changed outside Pulumi"
            in result.output
        )
        assert "~ aws:ec2/vpc:Vpc main" in result.output
    as_json = invoke(apply_cli.drift, platform, "--json")
    assert as_json.exit_code == code
    assert json_lines(as_json.output)[-1]["exitCode"] == code


def test_a_second_command_on_the_same_state_is_refused(platform, fake) -> None:
    lock = platform.parent / ".crosswalk" / "state" / ".crosswalk.lock"
    with state_lock(lock, "crosswalk apply platform.yaml --env dev"):
        result = invoke(apply_cli.apply, platform, "--yes")
    assert result.exit_code == 2
    assert "another crosswalk command is using this platform's state" in result.output
    assert "'crosswalk apply platform.yaml --env dev'" in result.output
    assert fake.calls == []


def test_an_undeclared_environment_is_a_usage_error(platform, fake) -> None:
    result = invoke(apply_cli.preview, platform, "--env", "prod")
    assert result.exit_code == 2 and "environment 'prod' is not declared" in result.output


def test_an_invalid_platform_reports_its_diagnostics_and_exits_1(platform, fake) -> None:
    platform.write_text(platform.read_text().replace("name: demo", "name: Demo_Bad"))
    result = invoke(apply_cli.preview, platform)
    assert result.exit_code == 1
    assert "error[CW105]" in result.output
    assert fake.calls == []


# --- running a compiled tree: what was reviewed is what runs --------------------------------


@pytest.fixture
def tree(platform: Path) -> Path:
    out = platform.parent / "out"
    result = compile_file(platform, out)
    assert result.files, result.report.sorted()
    return out


@pytest.mark.parametrize("command", ["preview", "drift"])
def test_a_compiled_tree_runs_as_it_is(platform, tree, fake, command) -> None:
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    result = invoke(getattr(apply_cli, command), tree)
    assert result.exit_code in (0, 1), result.output
    session = fake.sessions[0]
    assert session.build_dir == tree and session.root == platform.parent.resolve()
    assert f"of {tree}" in result.output
    assert not (platform.parent / ".crosswalk" / "build").exists(), "nothing compiled"
    assert sorted(c.stack for c in fake.calls) == [
        "01-identity",
        "02-managed-infra",
        "03-cluster",
        "04-cluster-services",
    ]
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before


def test_platform_and_tree_run_the_tree_when_it_matches(platform, tree, fake) -> None:
    result = invoke(apply_cli.apply, platform, "-o", tree, "--yes")
    assert result.exit_code == 0, result.output
    assert fake.sessions[0].build_dir == tree
    assert not (platform.parent / ".crosswalk" / "build").exists()


@pytest.mark.parametrize("command", ["preview", "apply", "destroy", "drift"])
def test_a_stale_tree_is_refused_naming_the_files(platform, tree, fake, command) -> None:
    program = tree / "03-cluster" / "__main__.py"
    program.write_text(program.read_text() + "# tweak\n")
    platform.write_text(platform.read_text().replace("name: general", "name: general2"))
    yes = ["--yes"] if command in ("apply", "destroy") else []
    result = invoke(getattr(apply_cli, command), platform, "-o", tree, *yes)
    assert result.exit_code == 2
    assert f"{tree} is not what {platform} compiles to" in result.output
    assert "changed  03-cluster/__main__.py" in result.output
    assert f"crosswalk compile {platform} -o {tree}" in result.output
    assert fake.calls == [] and fake.sessions == []


def test_a_tree_reads_its_state_settings_from_its_manifest(platform, tree, monkeypatch) -> None:
    platform.write_text(platform.read_text() + "state: {backend: 's3://acme-state'}\n")
    compile_file(platform, tree)
    seen = []

    def stop(session):
        seen.append(session.state)
        raise apply_cli.Stop("stopped by the test")

    monkeypatch.setattr(apply_cli, "make_runner", stop)
    result = invoke(apply_cli.drift, tree)
    assert result.exit_code == 2
    assert seen[0].backend_url == "s3://acme-state"


def test_a_tree_and_another_tree_or_a_plain_directory_are_refused(platform, tree, fake) -> None:
    both = invoke(apply_cli.preview, tree, "-o", tree)
    assert both.exit_code == 2 and "is a compiled tree already" in both.output
    plain = platform.parent / "plain"
    plain.mkdir()
    nothing = invoke(apply_cli.preview, plain)
    assert nothing.exit_code == 2 and "the output of `crosswalk compile`?" in nothing.output
    assert fake.calls == []


def test_a_tree_compiled_for_one_environment_runs_only_that_one(platform, fake) -> None:
    platform.write_text(platform.read_text() + "environments: {dev: {}, prod: {}}\n")
    out = platform.parent / "out"
    compile_file(platform, out, env="prod")
    result = invoke(apply_cli.preview, out, "--env", "dev")
    assert result.exit_code == 2
    assert "has no stack config for environment 'dev'" in result.output


# --- stacks across runs: removed stacks and dropped outputs ------------------------------

APPS_PLATFORM = """\
apiVersion: crosswalk/v1
kind: Platform
name: demo
cloud: {provider: aws, region: us-west-2}
cluster:
  nodePools: [{name: general}]
  namespaces: [{name: shop}]
appServices:
  datastores: [{name: orders, engine: postgres}]
apps:
  - {name: shop, namespace: shop, image: "ghcr.io/acme/shop:1.0", uses: [orders]}
  - {name: extra, namespace: shop, image: "ghcr.io/acme/extra:1.0"}
"""
# The platform once its app `extra` is removed.
WITHOUT_EXTRA = APPS_PLATFORM.replace(
    '  - {name: extra, namespace: shop, image: "ghcr.io/acme/extra:1.0"}\n', ""
)


@pytest.fixture
def deployed(platform: Path, monkeypatch) -> FakeRunner:
    """APPS_PLATFORM applied once: every stack of it is in the fake backend, tagged."""
    platform.write_text(APPS_PLATFORM)
    runner = FakeRunner(delay=0.001, changes={"06-apps/shop": ({"update": 1}, [])})
    monkeypatch.setattr(apply_cli, "make_runner", lambda session: runner)
    first = invoke(apply_cli.apply, platform, "--yes")
    assert first.exit_code == 0, first.output
    assert "demo-app-extra" in runner.deployed
    assert runner.deployed["demo-app-shop"]["crosswalk:stack"] == "06-apps/shop"
    assert "datastore_orders_host" in runner.deployed["demo-app-shop"]["crosswalk:reads"]
    runner.calls.clear()
    return runner


def test_a_removed_apps_stack_is_shown_and_destroyed_after_the_updates(
    platform, deployed, monkeypatch
) -> None:
    platform.write_text(WITHOUT_EXTRA)
    monkeypatch.setattr(apply_cli, "_interactive", lambda: True)

    previewed = invoke(apply_cli.preview, platform)
    assert previewed.exit_code == 0, previewed.output
    assert (
        "no longer in the platform, to be destroyed after the updates: 06-apps/extra (demo-app-extra)"
        in previewed.output
    )
    assert (
        "06-apps/extra (demo-app-extra): no longer in the platform, to be destroyed: 3 to delete"
        in previewed.output
    )
    assert ("preview", "06-apps/extra") in [(c.operation, c.stack) for c in deployed.calls]

    declined = invoke(apply_cli.apply, platform, input="n\n")
    assert declined.exit_code == 1
    assert "then destroy 1 stack no longer in it (06-apps/extra)?" in declined.output
    assert "demo-app-extra" in deployed.deployed, "nothing destroyed without confirmation"

    deployed.calls.clear()
    accepted = invoke(apply_cli.apply, platform, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    calls = sorted(deployed.calls, key=lambda c: c.start)
    destroy = next(c for c in calls if c.operation == "destroy")
    assert destroy.stack == "06-apps/extra"
    assert all(c.end <= destroy.start for c in calls if c.operation == "up"), "after the updates"
    assert {c.stack for c in calls if c.operation == "up"} == {
        "01-identity", "02-managed-infra", "03-cluster", "04-cluster-services",
        "05-app-services", "06-apps/shop",
    }  # fmt: skip
    assert "demo-app-extra" not in deployed.deployed
    assert re.search(r"\n  06-apps/extra +done +3 deleted", accepted.output)


def test_without_a_terminal_removed_stacks_need_yes(platform, deployed) -> None:
    platform.write_text(WITHOUT_EXTRA)
    refused = invoke(apply_cli.apply, platform)
    assert refused.exit_code == 2 and "demo-app-extra" in deployed.deployed
    done = invoke(apply_cli.apply, platform, "--yes", "--json")
    assert done.exit_code == 0, done.output
    removed = next(e for e in json_lines(done.output) if e["event"] == "removed")
    assert removed["stacks"] == [{"stack": "06-apps/extra", "project": "demo-app-extra"}]
    assert "demo-app-extra" not in deployed.deployed


def test_a_run_of_some_stacks_leaves_removed_stacks_alone(platform, deployed) -> None:
    platform.write_text(WITHOUT_EXTRA)
    result = invoke(apply_cli.apply, platform, "--stack", "06-apps/shop", "--yes")
    assert result.exit_code == 0, result.output
    assert "left alone by this run of some stacks" in result.output
    assert "demo-app-extra" in deployed.deployed
    assert {c.stack for c in deployed.calls} == {"06-apps/shop"}


def test_destroy_of_the_platform_removes_its_removed_stacks_too(platform, deployed) -> None:
    platform.write_text(WITHOUT_EXTRA)
    result = invoke(apply_cli.destroy, platform, "--yes", "--parallel", "1")
    assert result.exit_code == 0, result.output
    assert (
        "of which no longer in the platform (removed from the state backend too): 06-apps/extra"
        in result.output
    )
    order = deployed.started()
    assert "06-apps/extra" in order and order.index("06-apps/extra") < order.index("03-cluster")
    assert "demo-app-extra" not in deployed.deployed


def test_a_stack_of_another_platform_with_a_like_name_is_never_touched(platform, deployed) -> None:
    deployed.deployed["demo-app-theirs"] = {
        "crosswalk:platform": "demo-app",
        "crosswalk:stack": "01-identity",
    }
    deployed.deployed["demo-app-untagged"] = {}
    result = invoke(apply_cli.apply, platform, "--yes")
    assert result.exit_code == 0, result.output
    assert "demo-app-theirs" in deployed.deployed and "demo-app-untagged" in deployed.deployed
    assert "no longer in the platform" not in result.output


def test_a_run_that_would_drop_an_output_a_deployed_stack_reads_is_refused(
    platform, deployed
) -> None:
    # The datastore goes, and the app stops using it: 05-app-services stops
    # exporting what the deployed 06-apps/shop still reads.
    platform.write_text(
        APPS_PLATFORM.replace(
            "{name: orders, engine: postgres}", "{name: sessions, engine: redis}"
        ).replace(", uses: [orders]", "")
    )
    before = {k: dict(v) for k, v in deployed.deployed.items()}
    for command, yes in ((apply_cli.preview, ()), (apply_cli.apply, ("--yes",))):
        refused = invoke(command, platform, "--stack", "05-app-services", *yes)
        assert refused.exit_code == 2, refused.output
        assert (
            "05-app-services would stop exporting 'datastore_orders_host', which the deployed "
            "stack 06-apps/shop still reads" in refused.output
        )
        assert "--stack 06-apps/shop" in refused.output and "nothing was changed" in refused.output
    assert deployed.calls == [] and deployed.deployed == before

    # With the reader in the same run, it is updated and stops reading them.
    together = invoke(
        apply_cli.apply, platform, "--stack", "05-app-services", "--stack", "06-apps/shop", "--yes"
    )
    assert together.exit_code == 0, together.output
    assert "datastore_orders_host" not in deployed.deployed["demo-app-shop"]["crosswalk:reads"]
