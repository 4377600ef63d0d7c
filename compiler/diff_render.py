"""How `crosswalk diff` shows a DiffResult: text for a terminal, JSON for
tools, markdown for a pull request's comment and job summary."""

from __future__ import annotations

import json
from typing import Any

from crosswalk.compiler.diff import DiffResult, ResourceChange, StackChange


def diff_json(result: DiffResult) -> dict[str, Any]:
    return {
        "environments": [
            {
                "name": environment.name,
                "stacks": [
                    {
                        "dir": stack.dir,
                        "status": stack.status,
                        "resources": [
                            {
                                "type": r.type,
                                "name": r.name,
                                "change": r.change,
                                "destructive": r.destructive,
                                "paths": r.paths,
                            }
                            for r in stack.resources
                        ],
                    }
                    for stack in environment.stacks
                ],
            }
            for environment in result.environments
        ]
    }


def render_json(result: DiffResult) -> str:
    return json.dumps(diff_json(result), indent=2) + "\n"


_SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _counts(stack: StackChange) -> str:
    parts = [
        f"{stack.count(c)} to {c}"
        for c in ("replace", "delete", "update", "create")
        if stack.count(c)
    ]
    return ", ".join(parts) if parts else "no resource changes"


def _notes(change: ResourceChange) -> list[str]:
    """What a reviewer should know about a change, one line each."""
    notes = []
    if change.destructive:
        notes.append(f"DESTRUCTIVE: loses {change.loses}")
    if change.renamed_from and not change.reasons:
        notes.append(f"renamed from {change.renamed_from} through an alias: kept, not replaced")
    if change.reasons:
        notes.append("replacement inferred: " + "; ".join(change.reasons))
    return notes


def _status_line(stack: StackChange) -> str:
    if stack.status == "affected":
        return f"affected {stack.dir}: reads changed outputs {', '.join(stack.reads_changed)}"
    return f"{stack.status} {stack.dir} ({stack.project}): {_counts(stack)}"


def render_text(result: DiffResult) -> str:
    lines = [f"crosswalk diff: {result.old} -> {result.new}"]
    for environment in result.environments:
        lines.append("")
        if not environment.stacks:
            lines.append(f"environment {environment.name}: no changes")
            continue
        head = f"environment {environment.name}: {_count(len(environment.stacks), 'stack')} changed"
        if environment.destructive:
            head += f", {_count(environment.destructive, 'destructive change')}"
        lines.append(head)
        for stack in sorted(environment.stacks, key=lambda s: not s.destructive):
            lines.append(f"  {_status_line(stack)}")
            for change in stack.resources:
                mark = "!" if change.destructive else " "
                name = change.name
                if change.renamed_from:
                    name += f" (was {change.renamed_from})"
                lines.append(
                    f"   {mark}{_SYMBOLS[change.change]:>2} {change.change:<7} {change.type} {name}"
                )
                if change.change in ("update", "replace") and change.paths:
                    lines.append(f"          changes: {', '.join(change.paths)}")
                lines += [f"          {note}" for note in _notes(change)]
    lines += ["", _summary(result)]
    return "\n".join(lines) + "\n"


def _summary(result: DiffResult) -> str:
    if not result.changed:
        return "no changes"
    stacks = sum(len(e.stacks) for e in result.environments)
    text = (
        f"{_count(stacks, 'stack')} to change in {_count(len(result.environments), 'environment')}"
    )
    if result.destructive:
        text += f"; {_count(result.destructive, 'destructive change')} (exit 3)"
    return text


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def render_markdown(result: DiffResult) -> str:
    """A pull-request comment: a summary table (destructive changes first),
    then each stack's resources in a collapsed section."""
    lines = ["### crosswalk diff", "", f"{_code(result.old)} → {_code(result.new)}", ""]
    if not result.changed:
        lines.append("No changes: no resource would be created, updated, replaced or deleted.")
        return "\n".join(lines) + "\n"
    if result.destructive:
        lost = sorted(
            {
                f"{e.name}: {_code(r.type)} {_code(r.renamed_from or r.name)}: {r.loses}"
                for e in result.environments
                for s in e.stacks
                for r in s.resources
                if r.destructive
            }
        )
        lines += [
            "> [!CAUTION]",
            f"> **{_count(result.destructive, 'destructive change')}**: applying this "
            + "deletes or replaces what holds data:",
        ]
        lines += [f"> - {_md(item)}" for item in lost]
        lines += [
            "> ",
            "> If a rename was meant, say so with `renamedFrom` and the resources are kept.",
            "",
        ]
    rows = [
        (environment, stack) for environment in result.environments for stack in environment.stacks
    ]
    rows.sort(key=lambda row: not row[1].destructive)
    lines += [
        "| environment | stack | status | replace | delete | update | create |",
        "|---|---|---|--:|--:|--:|--:|",
    ]
    for environment, stack in rows:
        status = stack.status + (" ⚠️ **destructive**" if stack.destructive else "")
        counts = " | ".join(str(stack.count(c)) for c in ("replace", "delete", "update", "create"))
        lines.append(f"| {environment.name} | {_code(stack.dir)} | {status} | {counts} |")
    unchanged = [e.name for e in result.environments if not e.stacks]
    if unchanged:
        lines += ["", "No changes in " + ", ".join(unchanged) + "."]
    for environment, stack in rows:
        lines += ["", "<details>"]
        summary = f"{environment.name}: {stack.dir} ({stack.status})"
        if stack.destructive:
            summary += " ⚠️ destructive"
        lines += [f"<summary>{summary}</summary>", ""]
        if stack.status == "affected":
            lines += [
                "Reads outputs that change: " + ", ".join(_code(o) for o in stack.reads_changed),
                "",
            ]
        if not stack.resources:
            lines += ["No resource changes.", "", "</details>"]
            continue
        lines += ["| | change | type | name | what changes |", "|---|---|---|---|---|"]
        for change in stack.resources:
            mark = "⚠️" if change.destructive else ""
            name = _code(change.name)
            if change.renamed_from:
                name = f"{_code(change.renamed_from)} → {_code(change.name)}"
            what = ", ".join(_code(p) for p in change.paths)
            notes = "<br>".join(_md(note) for note in _notes(change))
            if notes:
                what = f"{what}<br>{notes}" if what else notes
            lines.append(f"| {mark} | {change.change} | {_code(change.type)} | {name} | {what} |")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
