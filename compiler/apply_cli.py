"""`crosswalk preview|apply|destroy|drift`: run the compiled stacks.

Each command checks that the Pulumi CLI is there before anything else, takes
the platform's state lock and hands the stacks to the scheduler (apply.py)
with the Automation-API runner (automation.py). Which stacks:

- `FILE` (a platform.yaml): FILE compiled into `.crosswalk/build/<env>/` next
  to it (atomically, as `compile` does);
- `OUT` (a compiled tree): OUT as it is, as reviewed and committed;
- `FILE -o OUT`: OUT, once `compile --check` finds it is what FILE compiles
  to; a stale OUT is refused (exit 2) with the files that differ.
 Progress is a live
table on a terminal, else one line per event (JSON lines with --json); every
stack's Pulumi output goes to `.crosswalk/logs/<env>/<stack>.log`.

Across runs (lifecycle.py): stacks of the platform left in the backend by a
removal are previewed as their destroy and destroyed after the updates; an
update that would drop an output a deployed reader outside the run still
reads is refused before anything runs.

Exit codes: 0 done, 1 a stack failed (or was skipped, or the user declined),
2 nothing could start (usage, missing CLI, no passphrase, lock held, an
output still read). drift: 0 nothing drifted, 1 drift found, 2 some stack
could not be checked.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from crosswalk.compiler.apply import (
    DONE,
    FAILED,
    SKIPPED,
    LockHeld,
    Logs,
    Manifest,
    ManifestError,
    Reporter,
    Runner,
    RunResult,
    SelectionError,
    StackFailed,
    StackSpec,
    drift_exit_code,
    load_manifest,
    run_stacks,
    select_stacks,
    state_lock,
    waiting_on_upstream,
)
from crosswalk.compiler.apply_lifecycle import (
    announce_removed,
    dropped_outputs_refusal,
    read_lifecycle,
)
from crosswalk.compiler.apply_report import (
    CHANGE_SYMBOLS,
    LineReporter,
    LiveReporter,
    describe_changes,
    resource_label,
    seconds_taken,
    shown_path,
    stack_detail,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
WORK_DIR = ".crosswalk"


class Stop(click.ClickException):
    """Nothing could start: exit 2, one clear message, no traceback."""

    exit_code = EXIT_USAGE


@dataclass
class Session:
    """One command's run: where things are and how to show them."""

    command: str
    file: Path  # the platform.yaml or the compiled tree named on the command line
    root: Path  # where `.crosswalk/` (state, logs, the shared virtualenv) lives
    env: str
    platform: str
    build_dir: Path
    manifest: Manifest
    stacks: list[StackSpec]
    state: object  # automation.StateSettings
    logs: Logs
    parallel: int
    json_output: bool
    live: bool
    narrowed: bool = False  # --stack chose some stacks: the others are left as they are


# --- presentation helpers ------------------------------------------------------------


def _interactive() -> bool:
    return sys.stdin.isatty()


def _choose_env(names: list[str], env: str | None, file: str) -> str:
    if env is not None:
        if env not in names:
            raise Stop(f"{file}: environment '{env}' is not declared; declared: {', '.join(names)}")
        return env
    if "dev" in names:
        return "dev"
    if len(names) == 1:
        return names[0]
    raise Stop(f"{file} declares several environments ({', '.join(names)}); choose one with --env")


def _report(file: str, diagnostics, *, failed: bool) -> None:
    """Diagnostics go to stderr here, so stdout stays JSON lines with --json."""
    from crosswalk.compiler.cli import summary

    for diagnostic in diagnostics:
        click.echo(diagnostic.render(), err=True)
    if failed:
        errors = sum(d.severity == "error" for d in diagnostics)
        click.echo(summary(file, errors, len(diagnostics) - errors), err=True)


def _check_platform(file: str):
    from crosswalk.compiler import cli
    from crosswalk.compiler.document import LoadError
    from crosswalk.compiler.pipeline import check_file

    try:
        result = check_file(file, cli.today())
    except LoadError as exc:
        raise Stop(str(exc)) from None
    if not result.ok:
        _report(file, result.report.sorted(), failed=True)
        sys.exit(EXIT_FAILED)
    return result.platform


def _compile(file: str, build_dir: Path, env: str) -> None:
    from crosswalk.compiler import cli
    from crosswalk.compiler.document import LoadError
    from crosswalk.compiler.emit import compile_file
    from crosswalk.compiler.writer import WriteError

    try:
        result = compile_file(file, build_dir, env, cli.today())
    except (LoadError, WriteError) as exc:
        raise Stop(str(exc)) from None
    _report(file, result.report.sorted(), failed=not result.files)
    if not result.files:
        sys.exit(EXIT_FAILED)


def make_runner(session: Session) -> Runner:
    """The Automation-API runner, ready to run (tests replace this)."""
    from crosswalk.compiler.automation import VENV_DIR, AutomationRunner

    try:
        runner = AutomationRunner(
            session.build_dir,
            session.env,
            session.state,
            virtualenv=session.root / VENV_DIR,
            platform=session.platform,
        )
        runner.prepare(
            session.stacks,
            session.logs.directory / "_virtualenv.log",
            notify=lambda line: click.echo(line, err=session.json_output),
        )
    except StackFailed as exc:
        raise Stop(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the CLI is too old, or does not run at all
        raise Stop(f"the Pulumi CLI cannot be used: {str(exc).strip() or type(exc).__name__}")
    return runner


@dataclass(frozen=True)
class Target:
    """What a command was pointed at: a platform.yaml, a compiled tree, or both."""

    file: str | None
    tree: Path | None
    root: Path

    @property
    def shown(self) -> str:
        return self.file if self.file is not None else str(self.tree)


def _target(target: str, out: str | None) -> Target:
    path = Path(target)
    if path.is_dir():
        if out is not None:
            raise Stop(f"{target} is a compiled tree already; -o names one for a platform.yaml")
        return Target(None, path, path.resolve().parent)
    return Target(target, Path(out) if out is not None else None, path.resolve().parent)


def _tree_manifest(tree: Path) -> Manifest:
    try:
        return load_manifest(tree)
    except ManifestError as exc:
        raise Stop(f"{exc}; is {tree} the output of `crosswalk compile`?") from None


def _not_compiled_for(tree: Path, env: str, environments) -> str:
    return (
        f"{tree} has no stack config for environment '{env}' (compiled for: "
        f"{', '.join(environments)}); compile it without --env"
    )


def _refuse_stale(file: str, tree: Path) -> None:
    """OUT must be what FILE compiles to, or the run would not be what was reviewed."""
    from crosswalk.compiler import cli
    from crosswalk.compiler.document import LoadError
    from crosswalk.compiler.emit import check_file
    from crosswalk.compiler.writer import WriteError

    try:
        result, difference = check_file(file, tree, today=cli.today())
    except (LoadError, WriteError) as exc:
        raise Stop(str(exc)) from None
    if difference is None:
        _report(file, result.report.sorted(), failed=True)
        sys.exit(EXIT_FAILED)
    if not difference.ok:
        listed = "\n".join(f"  {line}" for line in difference.lines())
        raise Stop(
            f"{tree} is not what {file} compiles to, so it is not what was reviewed:\n{listed}\n"
            f"run `crosswalk compile {file} -o {tree}`, review and commit the change, then run "
            "this again"
        )


def _execute(
    command: str,
    flow: Callable[[Session, Runner, bool], int],
    target: str,
    out: str | None,
    env: str | None,
    names: tuple[str, ...],
    with_dependencies: bool,
    with_dependents: bool,
    parallel: int,
    yes: bool,
    json_output: bool,
) -> None:
    from crosswalk.compiler.automation import StateError, check_secrets, cli_problem, resolve_state

    problem = cli_problem(command)
    if problem:
        raise Stop(problem)
    if command in ("apply", "destroy") and not yes and not _interactive():
        raise Stop(
            f"refusing to {command} without confirmation: there is no terminal to ask on; "
            "pass --yes to go ahead unattended (review 'crosswalk preview' first)"
        )
    where = _target(target, out)
    if where.file is not None:
        platform = _check_platform(where.file)
        environments = [e.name for e in platform.environments]
        backend, secrets = platform.state_backend, platform.state_secrets_provider
    else:
        compiled = _tree_manifest(where.tree)
        environments = list(compiled.environments)
        backend, secrets = compiled.state_backend, compiled.secrets_provider
    if where.file is None and env is not None and env not in environments:
        raise Stop(_not_compiled_for(where.tree, env, environments))
    env = _choose_env(environments, env, where.shown)
    root = where.root
    try:
        state = resolve_state(root, backend, os.environ, secrets)
        check_secrets(state, os.environ)
    except StateError as exc:
        raise Stop(str(exc)) from None
    lock_path = root / WORK_DIR / "state" / ".crosswalk.lock"
    try:
        with state_lock(lock_path, f"crosswalk {command} {where.shown} --env {env}"):
            if where.tree is None:
                build_dir = root / WORK_DIR / "build" / env
                _compile(where.file, build_dir, env)
            else:
                build_dir = where.tree
                if where.file is not None:
                    _refuse_stale(where.file, build_dir)
            manifest = _tree_manifest(build_dir)
            if env not in manifest.environments:
                raise Stop(_not_compiled_for(build_dir, env, manifest.environments))
            try:
                stacks = select_stacks(
                    manifest.stacks,
                    names,
                    with_dependencies=with_dependencies,
                    with_dependents=with_dependents,
                )
            except SelectionError as exc:
                raise Stop(str(exc)) from None
            session = Session(
                command=command,
                file=Path(where.shown),
                root=root,
                env=env,
                platform=manifest.platform,
                build_dir=build_dir,
                manifest=manifest,
                stacks=stacks,
                state=state,
                logs=Logs(root / WORK_DIR / "logs" / env, f"crosswalk {command}"),
                parallel=parallel,
                json_output=json_output,
                live=sys.stdout.isatty() and not json_output,
                narrowed=bool(names),
            )
            if not json_output:
                click.echo(
                    f"{command}: platform '{session.platform}', environment '{env}', "
                    f"{len(stacks)} stack{'s' if len(stacks) != 1 else ''}"
                    + (f" of {build_dir}" if where.tree is not None else "")
                    + f", state {state.backend_url}"
                )
            runner = make_runner(session)
            code = flow(session, runner, yes)
    except LockHeld as exc:
        raise Stop(str(exc)) from None
    sys.exit(code)


def _run(
    session: Session,
    operation: str,
    runner: Runner,
    reverse: bool = False,
    stacks: list[StackSpec] | None = None,
) -> RunResult:
    if session.live:
        title = f"{operation} - {session.platform} ({session.env})"
        reporter: Reporter = LiveReporter(title, reverse)
    else:
        reporter = LineReporter(session.json_output, reverse)
    return run_stacks(
        session.stacks if stacks is None else stacks,
        operation,
        runner,
        parallel=session.parallel,
        reverse=reverse,
        reporter=reporter,
        logs=session.logs,
    )


def _summary(
    session: Session,
    run: RunResult,
    *,
    phase: str,
    exit_code: int | None = None,
    pending: dict[str, str] | None = None,
    reverse: bool = False,
) -> None:
    pending = pending or {}
    if session.json_output:
        stacks = []
        for r in run:
            stacks.append(
                {
                    "stack": r.spec.dir,
                    "project": r.spec.project,
                    "operation": r.operation,
                    "status": r.status,
                    "changes": r.outcome.changes if r.outcome else None,
                    "resources": [
                        {"op": op, "urn": urn}
                        for op, urn in (r.outcome.resources if r.outcome else [])
                    ],
                    "error": r.error,
                    "blockedBy": list(r.blocked_by),
                    "waitsFor": pending.get(r.spec.dir),
                    "log": str(r.log) if r.log else None,
                    "seconds": round(r.duration, 3) if r.duration is not None else None,
                }
            )
        record = {
            "event": phase,
            "command": session.command,
            "platform": session.platform,
            "environment": session.env,
            "interrupted": run.interrupted,
            "stacks": stacks,
        }
        if exit_code is not None:
            record["exitCode"] = exit_code
        click.echo(json.dumps(record))
        return
    counts: dict[str, int] = {}
    for r in run:
        status = "waits" if r.spec.dir in pending else r.status
        counts[status] = counts.get(status, 0) + 1
    shown = ", ".join(f"{n} {status}" for status, n in counts.items())
    phase_name = session.command if run.operation != "preview" else "preview"
    click.echo(f"\n{phase_name} summary ({session.env}): {shown}")
    width = max((len(r.spec.dir) for r in run), default=0)
    for r in run:
        if r.spec.dir in pending:
            status = "waits"
            detail = f"can be previewed once '{pending[r.spec.dir]}' is applied"
        else:
            status, detail = r.status, stack_detail(r, reverse)
        click.echo(f"  {r.spec.dir:<{width}}  {status:<7}  {detail}  {seconds_taken(r)}".rstrip())
    failed = [r for r in run if r.status == FAILED and r.spec.dir not in pending]
    if failed:
        click.echo("logs of failed stacks:")
        for r in failed:
            click.echo(f"  {shown_path(r.log)}")
    if run.interrupted:
        click.echo("interrupted: stacks that had not started were skipped")


def _print_plan(session: Session, run: RunResult, pending: dict[str, str]) -> None:
    """What each stack's preview would change, resource by resource."""
    if session.json_output:
        return
    click.echo("")
    for r in run:
        head = f"{r.spec.dir} ({r.spec.project})"
        if r.spec.dir in pending:
            click.echo(
                f"{head}: cannot be previewed until '{pending[r.spec.dir]}' is applied"
                + (f" ({r.error})" if r.status == FAILED and r.error else "")
            )
            continue
        if r.status != DONE or r.outcome is None:
            continue
        if r.spec.removed:
            head += ": no longer in the platform, to be destroyed"
        click.echo(f"{head}: {describe_changes(r.outcome.changes, 'preview')}")
        for op, urn in r.outcome.resources:
            click.echo(f"  {CHANGE_SYMBOLS.get(op, op):>2} {resource_label(urn)}")


def _merged(first: RunResult, second: RunResult | None) -> RunResult:
    if second is None:
        return first
    return RunResult(
        first.operation,
        {**first.results, **second.results},
        first.interrupted or second.interrupted,
    )


# --- the four flows ----------------------------------------------------------------------


def preview_flow(session: Session, runner: Runner, yes: bool) -> int:
    life = read_lifecycle(session, runner)
    refusal = dropped_outputs_refusal(session, life)
    if refusal is not None:
        raise Stop(refusal)
    announce_removed(session, life)
    # A removed stack's preview is the preview of its destroy.
    run = _run(session, "preview", runner, stacks=[*session.stacks, *life.removed])
    pending = waiting_on_upstream(run)
    blocking = [r for r in run if r.status in (FAILED, SKIPPED) and r.spec.dir not in pending]
    code = EXIT_FAILED if blocking or run.interrupted else EXIT_OK
    _print_plan(session, run, pending)
    _summary(session, run, phase="summary", exit_code=code, pending=pending)
    return code


def apply_flow(session: Session, runner: Runner, yes: bool) -> int:
    from crosswalk.compiler.lifecycle import blocked_removals

    life = read_lifecycle(session, runner)
    refusal = dropped_outputs_refusal(session, life)
    if refusal is not None:
        raise Stop(refusal)
    announce_removed(session, life)
    preview = _run(session, "preview", runner, stacks=[*session.stacks, *life.removed])
    pending = waiting_on_upstream(preview)
    blocking = [r for r in preview if r.status in (FAILED, SKIPPED) and r.spec.dir not in pending]
    _print_plan(session, preview, pending)
    if blocking or preview.interrupted:
        _summary(session, preview, phase="summary", exit_code=EXIT_FAILED, pending=pending)
        click.echo("nothing applied: the preview failed", err=True)
        return EXIT_FAILED
    changed = [r for r in preview if r.outcome is not None and r.outcome.changed]
    if not changed and not pending and not life.removed:
        _summary(session, preview, phase="summary", exit_code=EXIT_OK)
        if not session.json_output:
            click.echo("no changes: the platform is up to date")
        return EXIT_OK
    if session.json_output:
        _summary(session, preview, phase="preview", pending=pending)
    if not yes:
        question = (
            f"Apply these changes to {len(session.stacks)} stacks of '{session.platform}' "
            f"(environment '{session.env}')"
        )
        if life.removed:
            question += (
                f", then destroy {len(life.removed)} stack"
                f"{'s' if len(life.removed) != 1 else ''} no longer in it ("
                + ", ".join(s.dir for s in life.removed)
                + ")"
            )
        if not click.confirm(question + "?", default=False, err=True):
            click.echo("nothing applied", err=True)
            return EXIT_FAILED
    up = _run(session, "up", runner)
    destroyed, blocked = None, {}
    if life.removed:
        # After the updates that stop reading them, and only where they succeeded.
        updated = {r.spec.dir for r in up if r.status == DONE}
        tree = {s.dir for s in session.manifest.stacks}
        blocked = blocked_removals(life.removed, life.deployed, updated, tree)
        for directory, reason in blocked.items():
            click.echo(f"{directory}: not destroyed: {reason}", err=True)
        destroyed = _run(
            session,
            "destroy",
            runner,
            reverse=True,
            stacks=[s for s in life.removed if s.dir not in blocked],
        )
    result = _merged(up, destroyed)
    code = EXIT_FAILED if blocked else result.exit_code
    _summary(session, result, phase="summary", exit_code=code)
    return code


def destroy_flow(session: Session, runner: Runner, yes: bool) -> int:
    life = read_lifecycle(session, runner)
    order = list(reversed([*session.stacks, *life.removed]))
    if not session.json_output:
        click.echo("stacks to destroy, in this order: " + ", ".join(s.dir for s in order))
        if life.removed:
            click.echo(
                "of which no longer in the platform (removed from the state backend too): "
                + ", ".join(s.dir for s in life.removed)
            )
    if not yes:
        typed = click.prompt(
            f"This deletes every resource of {len(order)} stacks of '{session.platform}' in "
            f"environment '{session.env}'. Type the platform name to confirm",
            default="",
            show_default=False,
            err=True,
        )
        if typed.strip() != session.platform:
            click.echo(
                f"nothing destroyed ('{typed.strip()}' is not '{session.platform}')", err=True
            )
            return EXIT_FAILED
    run = _run(session, "destroy", runner, reverse=True, stacks=[*session.stacks, *life.removed])
    _summary(session, run, phase="summary", exit_code=run.exit_code, reverse=True)
    return run.exit_code


def drift_flow(session: Session, runner: Runner, yes: bool) -> int:
    run = _run(session, "refresh", runner)
    code = drift_exit_code(run)
    if not session.json_output:
        click.echo("")
        for r in run:
            if r.outcome is None or not r.outcome.changed:
                continue
            click.echo(f"{r.spec.dir} ({r.spec.project}) drifted: {stack_detail(r)}")
            for op, urn in r.outcome.resources:
                click.echo(f"  {CHANGE_SYMBOLS.get(op, op):>2} {resource_label(urn)}")
    _summary(session, run, phase="summary", exit_code=code)
    if not session.json_output:
        verdict = {0: "no drift", 1: "drift found", 2: "some stacks could not be checked"}[code]
        click.echo(verdict)
    return code


# --- click -------------------------------------------------------------------------------


def _common(confirm: str | None):
    def decorate(function):
        options = [
            click.argument("target", metavar="FILE|OUT", type=click.Path()),
            click.option(
                "-o",
                "--out",
                metavar="OUT",
                type=click.Path(file_okay=False),
                help="Run this compiled tree of FILE, once it is checked to be what FILE "
                "compiles to (refused, exit 2, when it is stale).",
            ),
            click.option(
                "--env", default=None, help="Environment (the stack name); `dev` when declared."
            ),
            click.option(
                "--stack",
                "names",
                multiple=True,
                metavar="DIR",
                help="Only this stack (e.g. 03-cluster, 06-apps/shop); repeatable.",
            ),
            click.option(
                "--with-dependencies", is_flag=True, help="Add every stack the --stack ones need."
            ),
            click.option(
                "--with-dependents",
                is_flag=True,
                help="Add every stack that needs the --stack ones.",
            ),
            click.option(
                "--parallel",
                type=click.IntRange(min=1),
                default=4,
                show_default=True,
                help="Independent stacks run at once.",
            ),
            click.option(
                "--json", "json_output", is_flag=True, help="JSON lines instead of the live view."
            ),
        ]
        if confirm:
            options.append(click.option("-y", "--yes", is_flag=True, help=confirm))
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _invoke(command, flow, yes=False, **options) -> None:
    _execute(command, flow, yes=yes, **options)


@click.command("preview")
@_common(None)
def preview(**options) -> None:
    """Show what apply would change in every stack, in graph order.

    Stacks that read a stack with changes still to apply cannot be previewed
    until it is; they are listed as waiting, not as failures. Stacks of the
    platform still in the state backend but no longer in the compiled tree (a
    removed app) are listed as to be destroyed, with their destroy previewed.
    A run that would stop exporting an output a deployed stack outside it
    still reads is refused (exit 2), naming both. Exit 0 when every stack
    previewed, 1 when one failed.

    FILE is a platform.yaml, compiled into .crosswalk/build/<env>/ next to it
    first; OUT a compiled tree (crosswalk compile -o OUT), run as it is; with
    FILE -o OUT, OUT runs once it matches what FILE compiles to, and a stale
    OUT is refused (exit 2).
    """
    _invoke("preview", preview_flow, **options)


@click.command("apply")
@_common(
    "Apply without asking, destroying the stacks no longer in the platform too (needed "
    "when there is no terminal, as in CI)."
)
def apply(**options) -> None:
    """Deploy: preview every stack, ask once, then update in graph order.

    A stack starts when the stacks it needs are done; independent ones run at
    once (--parallel). A failure skips the stacks that need it; the others
    carry on. Each updated stack is tagged with what it exports and reads.

    Stacks of the platform in the state backend that the tree no longer has
    (a removed app) are destroyed after the updates that stop reading them,
    in reverse graph order, once named in the question (or with --yes); a run
    of some stacks (--stack) leaves them alone. An update that would stop
    exporting an output a deployed stack outside the run still reads is
    refused before anything runs (exit 2). Exit 0 when all succeeded, 1
    otherwise.

    FILE is a platform.yaml, compiled into .crosswalk/build/<env>/ next to it
    first; OUT a compiled tree (crosswalk compile -o OUT), run as it is; with
    FILE -o OUT, OUT runs once it matches what FILE compiles to, and a stale
    OUT is refused (exit 2).
    """
    _invoke("apply", apply_flow, **options)


@click.command("destroy")
@_common("Destroy without asking for the platform name.")
def destroy(**options) -> None:
    """Delete every resource of the stacks, in reverse graph order.

    Without --stack, the platform's stacks no longer in the tree (still in the
    state backend) are destroyed too, and removed from the backend. Asks for
    the platform name to be typed back unless --yes. Pulumi refuses to delete
    protected resources (databases, caches, queues, keys, zones, registries,
    namespaces): unprotect them first (pulumi state unprotect).

    FILE is a platform.yaml, compiled into .crosswalk/build/<env>/ next to it
    first; OUT a compiled tree (crosswalk compile -o OUT), run as it is; with
    FILE -o OUT, OUT runs once it matches what FILE compiles to, and a stale
    OUT is refused (exit 2).
    """
    _invoke("destroy", destroy_flow, **options)


@click.command("drift")
@_common(None)
def drift(**options) -> None:
    """Report resources changed outside Pulumi since the last apply.

    Refreshes every stack in preview mode (nothing is written) and lists, per
    stack, the resources whose real state differs. Exit 0 no drift, 1 drift,
    2 a stack could not be checked: meant for a nightly CI job.

    FILE is a platform.yaml, compiled into .crosswalk/build/<env>/ next to it
    first; OUT a compiled tree (crosswalk compile -o OUT), run as it is; with
    FILE -o OUT, OUT runs once it matches what FILE compiles to, and a stale
    OUT is refused (exit 2).
    """
    _invoke("drift", drift_flow, **options)


COMMANDS = (preview, apply, destroy, drift)
