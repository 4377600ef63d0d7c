"""The `crosswalk plan` command: plans a compiled tree (or a platform.yaml,
compiled into a temporary directory first) and prints it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from crosswalk.compiler.cli import jobs_option
from crosswalk.compiler.plan import (
    EXIT_FAILED,
    EXIT_USAGE,
    STACKS_FILE,
    PlanInputError,
    default_jobs,
    plan_tree,
)
from crosswalk.compiler.plan_render import _count, render_json, render_text


class _UsageError(click.ClickException):
    exit_code = EXIT_USAGE


@click.command("plan")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--offline",
    is_flag=True,
    help="Run the programs under Pulumi's mock runtime: no cloud, no Pulumi CLI (required for now).",
)
@click.option("--env", "env", metavar="ENV", help="Environment (stack name). Default: dev.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--manifests",
    "manifests_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write every Kubernetes object as YAML, one file per stack, into this directory.",
)
@click.option(
    "--stack",
    "stacks",
    multiple=True,
    metavar="DIR",
    help="Plan only this stack (and the stacks it reads from). Repeatable.",
)
@jobs_option(
    "Plan up to N independent stacks at once, each in a worker process "
    "(default: one per core). The output is the same for every N."
)
@click.option(
    "--no-cache",
    "no_cache",
    is_flag=True,
    help="Plan every stack again instead of reusing the plans recorded in OUT's "
    "crosswalk.cache.json for stacks whose program, config and upstream outputs did not change.",
)
def plan_command(
    target: Path,
    offline: bool,
    env: str | None,
    as_json: bool,
    manifests_dir: Path | None,
    stacks: tuple[str, ...],
    jobs: int | None,
    no_cache: bool,
) -> None:
    """Show every resource each stack would register, without a cloud.

    TARGET is a compiled tree (the OUT of `crosswalk compile`) or a platform.yaml, which is
    compiled into a temporary directory first. Each program runs in-process under Pulumi's mock
    runtime with the real provider SDKs; outputs such as ids, ARNs and endpoints are made up.

    Independent stacks are planned side by side (--jobs); a stack starts once the stacks it
    reads are planned. When TARGET is a compiled tree, the plan of each stack is recorded in
    OUT/crosswalk.cache.json and reused while the stack's files, its environment and the
    upstream outputs it reads stay the same (deleting the file only costs time).

    Exit 0 when every stack planned, 1 when a stack failed (its dependents are skipped), 2 on
    usage errors.
    """
    if not offline:
        raise _UsageError(
            "only the offline plan exists so far: pass --offline "
            "(a preview against the cloud is `crosswalk preview`)"
        )
    jobs = jobs or default_jobs()
    if target.is_dir():
        sys.exit(_plan_and_report(target, env, as_json, manifests_dir, stacks, jobs, not no_cache))
    import tempfile

    with tempfile.TemporaryDirectory(prefix="crosswalk-plan-") as tmp:
        out_dir = Path(tmp) / "out"
        _compile(target, out_dir, env)
        code = _plan_and_report(out_dir, env, as_json, manifests_dir, stacks, jobs, False)
    sys.exit(code)


def _compile(file: Path, out_dir: Path, env: str | None) -> None:
    """`crosswalk compile FILE -o out_dir`, quietly unless it fails (exit 1, or 2 on I/O)."""
    try:
        from crosswalk.compiler.emit import compile_file  # the compiler, imported only when needed
    except ImportError:
        raise _UsageError(
            f"{file}: planning a platform.yaml needs crosswalk.compiler.emit.compile_file, which "
            "this build does not have; run `crosswalk compile FILE -o OUT` and plan OUT"
        ) from None
    try:
        from crosswalk.compiler import cli

        result = compile_file(file, out_dir, env, cli.today())
    except Exception as exc:  # noqa: BLE001 - LoadError / WriteError: the file or OUT is unusable
        raise _UsageError(str(exc)) from None
    report = getattr(result, "report", None)
    diagnostics = report.sorted() if report is not None and hasattr(report, "sorted") else []
    failed = not getattr(result, "files", True) or not (out_dir / STACKS_FILE).is_file()
    for diagnostic in diagnostics:
        if failed or getattr(diagnostic, "severity", "") != "error":
            click.echo(
                diagnostic.render() if hasattr(diagnostic, "render") else diagnostic, err=True
            )
    if failed:
        click.echo(f"{file}: not compiled, so not planned", err=True)
        sys.exit(EXIT_FAILED)


def _plan_and_report(
    out_dir: Path,
    env: str | None,
    as_json: bool,
    manifests_dir: Path | None,
    stacks: tuple[str, ...],
    jobs: int = 1,
    cache: bool = False,
) -> int:
    try:
        result = plan_tree(out_dir, env, only=stacks, jobs=jobs, cache=cache)
    except PlanInputError as exc:
        raise _UsageError(str(exc)) from None
    click.echo(
        render_json(result, only=stacks) if as_json else render_text(result, only=stacks), nl=False
    )
    if manifests_dir is not None:
        try:
            from crosswalk.compiler.plan_manifests import write_manifests

            written = write_manifests(result, manifests_dir, only=stacks)
        except OSError as exc:
            raise _UsageError(f"{manifests_dir}: cannot write: {exc.strerror or exc}") from None
        click.echo(f"wrote {_count(len(written), 'manifest file')} to {manifests_dir}", err=True)
    return result.exit_code
