"""`crosswalk ci`: write the GitHub Actions workflows (ci.py builds them), say
which stacks a push affects, or print the one-time bootstrap of repository
variables."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from crosswalk.compiler.cli import EXIT_ERRORS, UsageError, _check, print_diagnostics, today
from crosswalk.compiler.git import toplevel


def _relative(path: str, root: Path, what: str) -> str:
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        raise UsageError(f"{what} {path} is not inside the repository at {root}") from None


@click.command("ci")
@click.argument("file", type=click.Path())
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory for the workflows (default: .github/workflows of FILE's git repository).",
)
@click.option(
    "--env",
    "environments",
    multiple=True,
    help="Only this environment (repeatable; default: every one).",
)
@click.option(
    "--compiled",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="The compiled tree you commit (`crosswalk compile FILE -o DIR`): pull requests "
    "check it is up to date and the deploy runs it as reviewed.",
)
@click.option(
    "--repository",
    metavar="OWNER/NAME",
    help="The GitHub repository the workflows run in (default: the one whose automation "
    "entries deploy every layer).",
)
@click.option(
    "--requirement",
    metavar="SPEC",
    default="",
    help="What runners `pip install` (default: crosswalk[<cloud>]==<this release>).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: exit 1 when the workflows on disk differ from what FILE gives.",
)
@click.option(
    "--affected",
    is_flag=True,
    help="Print, as $GITHUB_OUTPUT lines, the stacks of each environment a change since "
    "--since affects (the deploy workflow's first job).",
)
@click.option(
    "--since",
    metavar="REV",
    default=None,
    help="With --affected: the revision last deployed; empty or unreadable: every stack.",
)
@click.option(
    "--bootstrap",
    is_flag=True,
    help="Print the script that sets the repository variables the workflows read from "
    "each environment's 01-identity outputs (run it once, after applying 01-identity).",
)
def ci(
    file: str,
    out_dir: str | None,
    environments: tuple[str, ...],
    compiled: str | None,
    repository: str | None,
    requirement: str,
    check: bool,
    affected: bool,
    since: str | None,
    bootstrap: bool,
) -> None:
    """Write GitHub Actions workflows that check, deploy and watch the platform
    of FILE on GitHub's runners, one job per stack of the stack graph.

    \b
    crosswalk-pr.yml      pull requests: validate (annotated), compile --check,
                          plan --offline, the blast radius as a PR comment,
                          previews of the affected stacks (read-only identities)
    crosswalk-deploy.yml  pushes to the trusted branch: apply the affected stacks
                          in graph order, each job with its layer's identity
    crosswalk-drift.yml   daily: crosswalk drift, failing when anything drifted

    and for each app built from a repository of its own (`apps[].build`),
    apps/<app>/.github/workflows/crosswalk-app.yml, to commit to that
    repository: build and push its image, deploy only its stack.

    Jobs assume the `identity.automation` identities (an app's, its build
    identity) through GitHub's OIDC token: no cloud keys. Their coordinates
    are repository variables; the script of --bootstrap sets them. Only these
    files are written, each whole; nothing is written when FILE has errors.

    Exit 0 when written (with --check: up to date), 1 on errors in FILE (with
    --check: out of date), 2 when FILE or DIR cannot be used.
    """
    from crosswalk.compiler.ci import workflows
    from crosswalk.compiler.ci_plan import CiSettings, plan_ci

    if repository is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
        raise UsageError(f"--repository {repository!r}: expected OWNER/NAME, as in acme/platform")
    checked = _check(file)
    if not checked.ok:
        print_diagnostics(
            checked.report.sorted(), checked.document and checked.document.text, False
        )
        click.echo(f"{file}: has errors; no workflows written", err=True)
        sys.exit(EXIT_ERRORS)
    root = toplevel(Path(file).resolve().parent)
    if root is None:
        if out_dir is None and not (affected or bootstrap):
            raise UsageError(
                f"{file} is not in a git repository: say where the workflows go with -o"
            )
        root = Path(file).resolve().parent
    settings = CiSettings(
        platform_file=_relative(file, root, "FILE"),
        compiled=_relative(compiled, root, "--compiled") if compiled else None,
        repository=repository,
        environments=environments,
        requirement=requirement,
    )
    plan, problems = plan_ci(checked, settings)
    if plan is None:
        print_diagnostics(problems, checked.document.text, False)
        click.echo(f"{file}: cannot run in CI as it is; no workflows written", err=True)
        sys.exit(EXIT_ERRORS)

    if affected:
        click.echo(_affected(plan, file, since), nl=False)
        return
    if bootstrap:
        from crosswalk.compiler.ci import bootstrap_script

        platform_dir = Path(file).parent

        def build_dir(env: str) -> str:
            if compiled:
                return os.path.relpath(compiled)
            return os.path.relpath(platform_dir / ".crosswalk" / "build" / env)

        click.echo(bootstrap_script(plan, build_dir), nl=False)
        return

    target = Path(out_dir) if out_dir else root / ".github" / "workflows"
    texts = workflows(plan)
    if check:
        stale = [name for name, text in texts.items() if _read(target / name) != text]
        if not stale:
            click.echo(f"{target} matches {file}")
            return
        for name in stale:
            click.echo(f"  {target / name}: differs")
        click.echo(f"run `crosswalk ci {file}` to bring them up to date", err=True)
        sys.exit(EXIT_ERRORS)
    _write(target, texts)
    for name in texts:
        click.echo(f"wrote {target / name}")
    click.echo(
        f"next: `crosswalk ci {file} --bootstrap` prints the commands that set the "
        "repository variables the jobs assume their identities with",
        err=True,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _write(target: Path, texts: dict[str, str]) -> None:
    from crosswalk.compiler.writer import replace_file

    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is not a directory")
    try:
        for name, text in texts.items():
            if _read(target / name) != text:
                replace_file(target / name, text)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def _affected(plan, file: str, since: str | None) -> str:
    from crosswalk.compiler.ci import affected_outputs, affected_stacks
    from crosswalk.compiler.diff import DiffInputError, diff_sources, read_file, read_revision

    every = {env.name: None for env in plan.environments}
    if not since:
        click.echo("affected: no earlier deploy to compare with, so every stack", err=True)
        return affected_outputs(plan, every)
    try:
        result = diff_sources(read_revision(since, file), read_file(file), today=today())
    except DiffInputError as exc:
        click.echo(f"affected: every stack, since {since} cannot be compared: {exc}", err=True)
        return affected_outputs(plan, every)
    by_name = {e.name: e for e in result.environments}
    chosen = {}
    for env in plan.environments:
        diffed = by_name.get(env.name)
        chosen[env.name] = set() if diffed is None else affected_stacks(diffed, env.graph)
        count = len(chosen[env.name])
        click.echo(f"affected: {env.name}: {count} stack{'' if count == 1 else 's'}", err=True)
    return affected_outputs(plan, chosen)
