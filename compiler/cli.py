"""The `crosswalk` command line."""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
from datetime import date
from pathlib import Path

import click

from crosswalk.compiler.diagnostics import Diagnostic, render_github, render_json, source_lines

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
EXIT_BUG = 70  # sysexits' EX_SOFTWARE: crosswalk itself failed


class UsageError(click.ClickException):
    """An I/O or usage problem: exit 2, one clear line, no traceback."""

    exit_code = EXIT_USAGE


# Commands whose modules are heavy (the Pulumi SDK, rich) load only when used,
# so `validate` in an editor's save loop stays fast.
LAZY_COMMANDS = {
    "plan": ("crosswalk.compiler.plan_cli", "plan_command"),
    "preview": ("crosswalk.compiler.apply_cli", "preview"),
    "apply": ("crosswalk.compiler.apply_cli", "apply"),
    "destroy": ("crosswalk.compiler.apply_cli", "destroy"),
    "drift": ("crosswalk.compiler.apply_cli", "drift"),
    "ci": ("crosswalk.compiler.ci_cli", "ci"),
}


class LazyGroup(click.Group):
    def main(self, args=None, prog_name=None, **extra):
        """Click's main with a last line of defence: an exception that nothing
        expected is a crosswalk bug, reported in one line (exit 70) with the
        traceback in a file, never as a traceback on the terminal."""
        args = list(sys.argv[1:] if args is None else args)
        try:
            return super().main(args, prog_name, **extra)
        except Exception as exc:  # noqa: BLE001 - the point: whatever it is
            click.echo(report_bug(args, exc), err=True)
            sys.exit(EXIT_BUG)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str):
        if name in LAZY_COMMANDS:
            import importlib

            module, attribute = LAZY_COMMANDS[name]
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


def report_bug(args: list[str], exc: BaseException) -> str:
    """Write the traceback of an unexpected exception to a file of its own
    under the temporary directory; return the line that says where it is."""
    import platform
    import shlex
    import tempfile
    import traceback
    from importlib.metadata import PackageNotFoundError, version

    command = shlex.join(["crosswalk", *args])
    try:
        release = version("crosswalk")
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        release = "unknown"
    details = (
        f"command: {command}\n"
        f"crosswalk {release}, Python {platform.python_version()} on {platform.platform()}\n\n"
        + "".join(traceback.format_exception(exc))
    )
    try:
        handle, path = tempfile.mkstemp(prefix="crosswalk-bug-", suffix=".txt")
        with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace") as out:
            out.write(details)
        where = f"the traceback is in {path}"
    except OSError as problem:
        where = f"the traceback could not be written ({problem.strerror or problem})"
    return (
        f"crosswalk: internal error ({type(exc).__name__}): this is a crosswalk bug, not a "
        f"problem with your input; {where}; please report it with the command: {command}"
    )


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="crosswalk", prog_name="crosswalk")
def main() -> None:
    """Compile one declarative platform.yaml into a production Kubernetes platform
    on AWS (EKS), GCP (GKE) or Azure (AKS), as Pulumi programs.

    \b
    Start with:   crosswalk init --cloud aws my-platform
    Check it:     crosswalk validate my-platform/platform.yaml
    """
    # A short-lived process that builds large trees of small objects: the
    # default collector thresholds rescan them over and over (a 5,000-app file
    # loaded 3x slower), with nothing to reclaim.
    gc.set_threshold(100_000, 50, 100)


def jobs_option(help: str):
    """`-j/--jobs N` of the commands that plan stacks in worker processes."""
    return click.option(
        "-j", "--jobs", type=click.IntRange(min=1), default=None, metavar="N", help=help
    )


def today() -> date:
    """The day the clouds' Kubernetes calendars are read on: the real date."""
    return date.today()


def _check(file: str):
    from crosswalk.compiler.document import LoadError
    from crosswalk.compiler.pipeline import check_file

    try:
        return check_file(file, today())
    except LoadError as exc:
        raise UsageError(str(exc)) from None


def _render_snippet(diagnostic: Diagnostic, lines: list[str]) -> str:
    if diagnostic.span is None or not 0 < diagnostic.span.line <= len(lines):
        return ""
    number = diagnostic.span.line
    gutter = " " * len(str(number))
    source = lines[number - 1].expandtabs(1)
    caret = " " * (diagnostic.span.column - 1) + "^"
    return f"\n{gutter} |\n{number} | {source}\n{gutter} | {caret}"


def print_diagnostics(diagnostics, text: str | None, verbose: bool) -> None:
    lines = source_lines(text) if (verbose and text) else []
    for diagnostic in diagnostics:
        rendered = diagnostic.render()
        if verbose:
            head, _, help_line = rendered.partition("\n")
            rendered = (
                head + _render_snippet(diagnostic, lines) + ("\n" + help_line if help_line else "")
            )
        color = "red" if diagnostic.severity == "error" else "yellow"
        click.echo(click.style(rendered, fg=color) if sys.stdout.isatty() else rendered)


def summary(file: str, errors: int, warnings: int) -> str:
    def count(n, word):
        return f"{n} {word}{'' if n == 1 else 's'}"

    if not errors and not warnings:
        return f"{file}: ok"
    return f"{file}: {count(errors, 'error')}, {count(warnings, 'warning')}"


@main.command()
@click.argument("file", type=click.Path())
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: one compiler-style line per problem; json: a list for tools; github: GitHub "
    "Actions workflow commands, which show each problem as an annotation on the pull request.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option("-v", "--verbose", is_flag=True, help="Show the source line under each problem.")
def validate(file: str, output_format: str, strict: bool, verbose: bool) -> None:
    """Check FILE against the schema and crosswalk's rules.

    Every problem is reported at once as FILE:LINE:COL: severity[CODE]: message.
    cluster.version is judged on today's date against the cloud's Kubernetes
    calendar: an error once the cloud no longer offers it (CW512), a warning
    from 90 days before its end of standard support (CW609).
    Exit 0 when clean (or warnings only), 1 on errors, 2 when FILE cannot be read.
    """
    _only_memory_left()
    result = _check(file)
    diagnostics = result.report.sorted()
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    if output_format == "json":
        click.echo(render_json(diagnostics))
    elif output_format == "github":
        if diagnostics:
            click.echo(render_github(diagnostics))
    else:
        text = result.document.text if result.document else _read_text(file)
        print_report(file, diagnostics, text, verbose)
    if errors or (strict and warnings):
        sys.exit(EXIT_ERRORS)


def _read_text(file: str) -> str | None:
    try:
        return Path(file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


@main.command()
@click.option(
    "--write",
    "write_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the schema to this file instead of printing it.",
)
def schema(write_path: str | None) -> None:
    """Print the platform.yaml JSON Schema (draft-07), for editors and CI linters."""
    from crosswalk.schema import schema_text

    text = schema_text()
    if write_path is None:
        click.echo(text, nl=False)
        return
    try:
        Path(write_path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{write_path}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"wrote {write_path}", err=True)


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option(
    "--cloud",
    type=click.Choice(["aws", "gcp", "azure"]),
    default="aws",
    show_default=True,
    help="The cloud the starter platform targets.",
)
@click.option(
    "--force", is_flag=True, help="Overwrite an existing platform.yaml and platform.schema.json."
)
def init(directory: str, cloud: str, force: bool) -> None:
    """Write a commented starter platform.yaml into DIRECTORY, wired to the schema.

    Also writes platform.schema.json beside it and .vscode/settings.json, so
    editors with a YAML language server (VS Code with Red Hat YAML, Neovim,
    JetBrains) validate and complete the file as you type, and a .gitignore
    for .crosswalk/, venv/, __pycache__/ and crosswalk.cache.json. Existing
    VS Code settings and .gitignore are merged into, never replaced; --force
    replaces only platform.yaml and platform.schema.json.
    """
    from crosswalk.compiler.starter import StarterExists, write_starter

    try:
        done = write_starter(Path(directory), cloud, force=force)
    except StarterExists as exc:
        raise UsageError(f"{exc}; pass --force to overwrite") from None
    except OSError as exc:
        raise UsageError(f"{directory}: cannot write: {exc.strerror or exc}") from None
    for path in done.written:
        click.echo(f"wrote {path}")
    for advice in done.advice:
        click.echo(f"note: {advice}")
    click.echo(f"next: crosswalk validate {Path(directory) / 'platform.yaml'}")


def print_report(file: str, diagnostics, text: str | None, verbose: bool) -> None:
    """The diagnostics, then a one-line count (on stderr when there were any)."""
    print_diagnostics(diagnostics, text, verbose)
    errors = sum(d.severity == "error" for d in diagnostics)
    click.echo(summary(file, errors, len(diagnostics) - errors), err=bool(diagnostics))


def _report_failure(file: str, result, verbose: bool = False) -> None:
    print_report(file, result.report.sorted(), _read_text(file), verbose)


@main.command()
@click.argument("file", type=click.Path())
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory that receives the Pulumi projects (updated atomically).",
)
@click.option("--env", default=None, help="Write stack config for this environment only.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: exit 1 and list the files when OUT differs from what FILE compiles "
    "to (hand edits included), 0 when it matches. For CI and pre-commit hooks.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show the source line under each problem.")
def compile(file: str, out_dir: str, env: str | None, check: bool, verbose: bool) -> None:
    """Compile FILE into one Pulumi project per layer and per app under OUT.

    \b
    OUT/crosswalk.stacks.json   stacks, their order, edges and content hashes
    OUT/crosswalk.cache.json    lets recompiles skip unchanged stacks; keep it out of git
    OUT/01-identity/ .. OUT/05-app-services/, OUT/06-apps/<app>/
    each with Pulumi.yaml, __main__.py, requirements.txt, Pulumi.<env>.yaml

    Each directory runs with plain `pulumi up`. A recompile rewrites only
    what changed and keeps what is not crosswalk's: in Pulumi.<env>.yaml,
    Pulumi's encryptionsalt, encryptedkey and secretsprovider and values set
    with `pulumi config set`; in OUT, `venv/`, `__pycache__/` and any other
    file (reported, never deleted). A stack that left the platform has its
    directory removed. A failed compile leaves OUT as it was.

    Exit 0 when compiled (with --check: OUT matches), 1 on errors in FILE
    (with --check: OUT differs), 2 when FILE or OUT cannot be used.
    """
    from crosswalk.compiler.document import LoadError
    from crosswalk.compiler.emit import check_file, compile_file
    from crosswalk.compiler.writer import WriteError

    _only_memory_left()

    if check:
        try:
            result, difference = check_file(file, out_dir, env, today())
        except (LoadError, WriteError) as exc:
            raise UsageError(str(exc)) from None
        if difference is None:
            _report_failure(file, result, verbose)
            raise UsageError(f"{file} does not compile, so {out_dir} cannot be checked")
        _print_notes(result.notes)
        if difference.ok:
            click.echo(f"{out_dir} matches {file}")
            return
        count = len(difference.lines())
        click.echo(
            f"{out_dir} differs from what {file} compiles to "
            f"({count} file{'' if count == 1 else 's'}):"
        )
        for line in difference.lines():
            click.echo(f"  {line}")
        click.echo(f"run `crosswalk compile {file} -o {out_dir}` to bring it up to date", err=True)
        sys.exit(EXIT_ERRORS)

    try:
        result = compile_file(file, out_dir, env, today())
    except (LoadError, WriteError) as exc:
        raise UsageError(str(exc)) from None
    if not result.files:
        _report_failure(file, result, verbose)
        sys.exit(EXIT_ERRORS)
    warnings = result.report.sorted()
    print_diagnostics(warnings, None, False)
    _print_notes(result.notes)
    for stack in result.removed_stacks:
        click.echo(
            f"removed {Path(out_dir) / stack}/: {stack} is no longer in {file}; its stacks still "
            "exist in the state backend until `crosswalk apply` destroys them",
            err=True,
        )
    stacks = len(json.loads(result.files["crosswalk.stacks.json"])["stacks"])
    click.echo(
        f"compiled {file} -> {out_dir}: {stacks} stacks"
        + (f" ({len(result.kept)} unchanged, not re-emitted)" if result.kept else "")
        + f", {len(result.changed)} file{'' if len(result.changed) == 1 else 's'} changed"
    )
    if len(result.changed) <= 60 or verbose:
        for path in result.changed:
            click.echo(f"  {path}")
    else:
        by_stack: dict[str, int] = {}
        for path in result.changed:
            stack = path.rsplit("/", 1)[0] if "/" in path else "."
            by_stack[stack] = by_stack.get(stack, 0) + 1
        for stack in list(by_stack)[:20]:
            click.echo(f"  {stack}/ ({by_stack[stack]} files)")
        if len(by_stack) > 20:
            click.echo(f"  ... and {len(by_stack) - 20} more stacks (-v lists every file)")


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        line = f"warning: {note}"
        click.echo(click.style(line, fg="yellow") if sys.stderr.isatty() else line, err=True)


@main.command()
@click.argument("file", type=click.Path())
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["mermaid", "dot", "json", "svg", "png"]),
    default="mermaid",
    show_default=True,
    help="mermaid/dot/json print text; svg/png render a picture with Graphviz (needs -o).",
)
@click.option("--stacks", "stacks_only", is_flag=True, help="Only the stacks and their order.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
def graph(file: str, output_format: str, stacks_only: bool, output: str | None) -> None:
    """Print the dependency graph of FILE's resources, grouped by stack.

    Stacks with no path between them run side by side; a change touches only
    the stacks downstream of it.
    """
    import json as json_module

    from crosswalk.compiler.graph import build_graph, check_graph, to_dot, to_json, to_mermaid

    _only_memory_left()
    result = _check(file)
    if not result.ok:
        _report_failure(file, result)
        sys.exit(EXIT_ERRORS)
    resources = build_graph(result.platform)
    problems = check_graph(resources, result.document)
    if problems:
        result.report.extend(problems)
        _report_failure(file, result)
        sys.exit(EXIT_ERRORS)
    if output_format in ("svg", "png"):
        _render_picture(to_dot(resources, stacks_only=stacks_only), output_format, output)
        return
    if output_format == "mermaid":
        text = to_mermaid(resources, stacks_only=stacks_only)
    elif output_format == "dot":
        text = to_dot(resources, stacks_only=stacks_only)
    else:
        text = json_module.dumps(to_json(resources, stacks_only=stacks_only), indent=2) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option(
    "--file",
    "file",
    metavar="FILE",
    help="OLD and NEW are git revisions of FILE (NEW left out: FILE as it is on disk).",
)
@click.option(
    "--base",
    metavar="REV",
    help="Compare FILE (--file, default platform.yaml) where this branch left REV (their "
    "merge base, as a pull request's diff) with FILE as it is on disk.",
)
@click.option("--env", default=None, help="Only this environment (default: every one).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default=None,
    help="text (default); json for tools; markdown for a pull-request comment.",
)
@click.option("--json", "json_output", is_flag=True, help="Same as --format json.")
@jobs_option("Plan up to N stacks at once, each in a worker process (default: one per core).")
@click.option(
    "--no-cache",
    "no_cache",
    is_flag=True,
    help="Compile and plan both versions afresh, in a temporary directory, instead of in "
    ".crosswalk/diff/ next to the platform file.",
)
def diff(
    old: str | None,
    new: str | None,
    file: str | None,
    base: str | None,
    env: str | None,
    output_format: str | None,
    json_output: bool,
    jobs: int | None,
    no_cache: bool,
) -> None:
    """What a change to platform.yaml does, resource by resource, in every
    environment: each stack that changes, and in it the resources created,
    updated (with the inputs that change), replaced and deleted.

    \b
    crosswalk diff old.yaml new.yaml              two files
    crosswalk diff main HEAD --file platform.yaml two git revisions of a file
    crosswalk diff main --file platform.yaml      a revision and the file on disk
    crosswalk diff --base main                    a pull request: the merge base and the file

    Both versions are compiled and planned offline (no cloud, no Pulumi CLI).
    A replacement is said to be inferred when it follows from an input the
    provider cannot change in place, or from a rename without `renamedFrom`.
    Deleting or replacing a database, cache, queue, bucket, key, DNS zone,
    namespace or registry is destructive. A stack is affected only when an
    output it reads changes.

    Both compiled versions are kept in .crosswalk/diff/ next to the platform
    file (NEW, or FILE): the next diff recompiles only the stacks that changed
    and reuses the plan of every stack whose files and upstream outputs are the
    same (deleting the directory only costs time; --no-cache skips it).

    Exit 0 when nothing changes, 1 when something does, 3 when a change is
    destructive (so CI can ask for another approval), 2 when a version cannot
    be read, compiled or planned.
    """
    from crosswalk.compiler.diff import (
        DiffInputError,
        diff_sources,
        read_base,
        read_file,
        read_revision,
    )
    from crosswalk.compiler.diff_render import render_json, render_markdown, render_text
    from crosswalk.compiler.plan import default_jobs

    if json_output and output_format not in (None, "json"):
        raise UsageError("--json and --format markdown/text: choose one")
    output_format = "json" if json_output else output_format or "text"
    try:
        if base is not None:
            if old is not None or new is not None:
                raise UsageError("--base REV compares FILE (--file) with REV: give no OLD or NEW")
            target = file or "platform.yaml"
            sources = (read_base(base, target), read_file(target))
        elif file is not None:
            if old is None:
                raise UsageError(
                    "--file FILE needs a revision: crosswalk diff OLD [NEW] --file FILE"
                )
            sources = (
                read_revision(old, file),
                read_revision(new, file) if new is not None else read_file(file),
            )
        else:
            if old is None or new is None:
                raise UsageError(
                    "give two platform files (crosswalk diff OLD NEW), two revisions of one "
                    "(crosswalk diff OLD NEW --file FILE) or a base (crosswalk diff --base main)"
                )
            sources = (read_file(old), read_file(new))
        platform_file = new if base is None and file is None else (file or "platform.yaml")
        cache_dir = None if no_cache else Path(platform_file).parent / ".crosswalk" / "diff"
        result = diff_sources(
            *sources, env, today=today(), jobs=jobs or default_jobs(), cache_dir=cache_dir
        )
    except DiffInputError as exc:
        if exc.diagnostics:
            print_diagnostics(exc.diagnostics, exc.text, False)
        raise UsageError(str(exc)) from None
    if output_format == "json":
        click.echo(render_json(result), nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(result), nl=False)
    else:
        click.echo(render_text(result), nl=False)
    sys.exit(result.exit_code)


def _render_picture(dot_text: str, picture_format: str, output: str | None) -> None:
    import shutil
    import subprocess

    if output is None:
        raise UsageError(f"--format {picture_format} needs -o FILE")
    dot = shutil.which("dot")
    if dot is None:
        raise UsageError(
            "Graphviz's 'dot' program is not installed; install it (Debian/Ubuntu: "
            "'apt-get install graphviz', macOS: 'brew install graphviz') or use --format dot|mermaid"
        )
    done = subprocess.run(
        [dot, f"-T{picture_format}", "-o", output],
        input=dot_text.encode(),
        check=False,
        capture_output=True,
    )
    if done.returncode != 0:
        raise UsageError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    click.echo(f"wrote {output}", err=True)


# Set by commands that hold nothing but memory when they finish (no threads,
# no temporary files, no locks): their process may end without freeing it.
_ONLY_MEMORY_LEFT = False


def _only_memory_left() -> None:
    global _ONLY_MEMORY_LEFT
    _ONLY_MEMORY_LEFT = True


def run() -> None:
    """The `crosswalk` console script: `main`, then a quick exit.

    Freeing a large compile's objects one by one at interpreter exit takes a
    tenth of a second and more (a fifth for 5,000 apps); the operating system
    reclaims the memory at once. Output is flushed first.
    """
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code
    if (
        not _ONLY_MEMORY_LEFT
        or threading.active_count() > 1
        or not isinstance(code, (int, type(None)))
    ):
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe (`crosswalk graph | head`)
        pass
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    run()
