"""How `crosswalk preview/apply/destroy/drift` report stacks as they run:
a line per event (CI logs, --json), or a live table on a terminal."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import click

from crosswalk.compiler.apply import (
    DONE,
    FAILED,
    RUNNING,
    SKIPPED,
    WAITING,
    Reporter,
    RunResult,
    StackResult,
)

CHANGE_WORDS = {
    "preview": {"create": "to create", "update": "to update", "replace": "to replace",
                "delete": "to delete", "import": "to import"},
    "up": {"create": "created", "update": "updated", "replace": "replaced",
           "delete": "deleted", "import": "imported"},
    "destroy": {"delete": "deleted"},
    "refresh": {"update": "changed outside Pulumi", "delete": "deleted outside Pulumi",
                "replace": "changed outside Pulumi"},
}  # fmt: skip
CHANGE_SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "import": "="}


def describe_changes(counts: dict[str, int], operation: str) -> str:
    words = CHANGE_WORDS[operation]
    parts = [f"{counts[op]} {word}" for op, word in words.items() if counts.get(op)]
    if parts:
        return ", ".join(parts)
    return "no drift" if operation == "refresh" else "no changes"


def resource_label(urn: str) -> str:
    """urn:pulumi:dev::acme-cluster::aws:eks/cluster:Cluster::acme -> 'aws:eks/cluster:Cluster acme'."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn
    return f"{parts[2].split('$')[-1]} {parts[-1]}"


def shown_path(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def seconds_taken(result: StackResult) -> str:
    if result.started is None:
        return ""
    end = result.ended if result.ended is not None else time.monotonic()
    return f"{end - result.started:.1f}s"


def why_skipped(result: StackResult, reverse: bool) -> str:
    if result.error:
        return result.error
    blocked = ", ".join(f"'{b}'" for b in result.blocked_by)
    if reverse:
        return f"needed by {blocked}, whose {result.operation} failed"
    return f"needs {blocked}, which failed"


def stack_detail(result: StackResult, reverse: bool = False) -> str:
    if result.status == DONE and result.outcome is not None:
        return describe_changes(result.outcome.changes, result.operation)
    if result.status == FAILED:
        return result.error or "failed"
    if result.status == SKIPPED:
        return why_skipped(result, reverse)
    return ""


# --- progress reporters -----------------------------------------------------------------


class LineReporter(Reporter):
    """One line per stack event: plain text, or JSON lines for tools."""

    def __init__(self, json_output: bool, reverse: bool = False, echo: Callable = click.echo):
        self.json_output = json_output
        self.reverse = reverse
        self.echo = echo
        self._lock = threading.Lock()

    def stack_changed(self, result: StackResult) -> None:
        if self.json_output:
            line = json.dumps(
                {
                    "event": "stack",
                    "stack": result.spec.dir,
                    "operation": result.operation,
                    "status": result.status,
                    "changes": result.outcome.changes if result.outcome else None,
                    "error": result.error,
                    "blockedBy": list(result.blocked_by),
                    "log": str(result.log) if result.log and result.status == FAILED else None,
                }
            )
        else:
            stack, op = result.spec.dir, result.operation
            if result.status == RUNNING:
                line = f"{stack}: {op} started"
            elif result.status == DONE:
                line = f"{stack}: {op} done in {seconds_taken(result)}: {stack_detail(result)}"
            elif result.status == FAILED:
                line = (
                    f"{stack}: {op} failed after {seconds_taken(result)}: {result.error} "
                    f"(log: {shown_path(result.log)})"
                )
            else:
                line = f"{stack}: skipped: {why_skipped(result, self.reverse)}"
        with self._lock:
            self.echo(line)


STATE_STYLE = {
    WAITING: "dim",
    RUNNING: "cyan",
    DONE: "green",
    FAILED: "bold red",
    SKIPPED: "yellow",
}


class LiveReporter(Reporter):
    """A rich table of every stack, redrawn in place while the run goes on."""

    def __init__(self, title: str, reverse: bool = False, console=None):
        from rich.console import Console

        self.title = title
        self.reverse = reverse
        self.console = console or Console()
        self.run: RunResult | None = None
        self._live = None

    def __rich__(self):
        from rich.table import Table

        table = Table(title=self.title, title_justify="left", expand=False)
        for column in ("stack", "status", "resources", "changes", "time"):
            table.add_column(column, no_wrap=column != "changes")
        for result in self.run or ():
            count = ""
            if result.status in (RUNNING, DONE, FAILED) and result.resources_seen:
                count = f"{result.resources_done}/{result.resources_seen}"
            table.add_row(
                result.spec.dir,
                f"[{STATE_STYLE[result.status]}]{result.status}[/]",
                count,
                stack_detail(result, self.reverse),
                seconds_taken(result),
            )
        return table

    def begin(self, run: RunResult) -> None:
        from rich.live import Live

        self.run = run
        self._live = Live(self, console=self.console, refresh_per_second=8)
        self._live.start()

    def end(self, run: RunResult) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()


# --- shared steps -----------------------------------------------------------------------
