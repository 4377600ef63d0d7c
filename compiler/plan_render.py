"""`crosswalk plan`'s output: a PlanResult as text (resources grouped by type,
exports with secrets masked) or as JSON for tools."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from crosswalk.compiler.mock_values import SECRET_MASK, Secret, contains_secret, mask
from crosswalk.compiler.mocks import ResourceRecord
from crosswalk.compiler.plan import PlanResult, StackPlan


def _plain(value: Any) -> Any:
    """Masked, JSON-ready, numbers that are integral as ints."""
    value = mask(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _short(value: Any, width: int = 72) -> str:
    if isinstance(value, Secret):
        return SECRET_MASK
    text = value if isinstance(value, str) else json.dumps(_plain(value), sort_keys=True)
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 3] + "..."


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render_text(result: PlanResult, *, only: Iterable[str] = ()) -> str:
    """Per stack: resources grouped by type with counts, exports (secrets masked); then a total."""
    shown = _shown(result, only)
    lines = [
        f"crosswalk plan --offline: {result.platform or 'platform'}, environment {result.environment}"
    ]
    lines += [f"warning: {warning}" for warning in result.warnings]
    for stack in shown:
        lines.append("")
        head = f"{stack.dir} ({stack.project})"
        if stack.error is not None and stack.error.skipped:
            lines.append(f"{head}: skipped, {stack.error.message}")
            continue
        timing = "cached" if stack.cached else f"{stack.seconds:.2f}s"
        if stack.status == "failed":
            lines.append(
                f"{head}: FAILED after {_count(len(stack.resources), 'resource')} ({timing})"
            )
        else:
            lines.append(f"{head}: {_count(len(stack.resources), 'resource')} ({timing})")
        counts = Counter(record.type for record in stack.resources)
        width = max((len(str(n)) for n in counts.values()), default=1)
        for token in sorted(counts):
            lines.append(f"  {counts[token]:>{width}}  {token}")
        if stack.exports:
            lines.append("  exports:")
            for name, value in stack.exports.items():
                shown_value = SECRET_MASK if contains_secret(value) else _short(value)
                lines.append(f"    {name} = {shown_value}")
        for severity, message in stack.logs:
            if severity in ("warning", "error"):
                lines.append(f"  {severity}: {message}")
        if stack.error is not None:
            lines.append(f"  error: {_indent(stack.error.message, 4)}")
            if stack.error.program_line:
                where = f"{stack.dir}/__main__.py:{stack.error.program_line}"
                if stack.error.origin:
                    where += f" (from {stack.error.origin})"
                lines.append(f"    at {where}")
            if stack.error.hint:
                lines.append(f"    help: {stack.error.hint}")
    planned = [s for s in shown if s.status == "ok"]
    failed = sum(s.status == "failed" for s in shown)
    skipped = sum(s.status == "skipped" for s in shown)
    total = sum(len(s.resources) for s in planned)
    summary = f"total: {_count(total, 'resource')} in {_count(len(planned), 'stack')}"
    if failed or skipped:
        summary += f"; {failed} failed, {skipped} skipped"
    lines += ["", summary]
    return "\n".join(lines) + "\n"


def _indent(text: str, spaces: int) -> str:
    return text.replace("\n", "\n" + " " * spaces)


def _shown(result: PlanResult, only: Iterable[str]) -> list[StackPlan]:
    """The stacks asked for, plus any upstream stack that failed (it explains the skips)."""
    names = {name.rstrip("/") for name in only}
    if not names:
        return list(result.stacks)
    return [
        s for s in result.stacks if s.dir in names or s.project in names or s.status == "failed"
    ]


def plan_json(result: PlanResult, *, only: Iterable[str] = ()) -> dict[str, Any]:
    stacks = []
    for stack in _shown(result, only):
        resources = sorted(stack.resources, key=lambda r: (r.type, r.name, r.urn))
        error = None
        if stack.error is not None:
            error = {
                "message": stack.error.message,
                "skipped": stack.error.skipped,
                "line": stack.error.program_line,
                "origin": stack.error.origin,
                "hint": stack.error.hint,
            }
        stacks.append(
            {
                "dir": stack.dir,
                "project": stack.project,
                "status": stack.status,
                "resources": [_resource_json(r) for r in resources],
                "exports": _plain(stack.exports),
                "error": error,
            }
        )
    data: dict[str, Any] = {
        "platform": result.platform,
        "environment": result.environment,
        "stacks": stacks,
    }
    if result.warnings:
        data["warnings"] = list(result.warnings)
    return data


def _resource_json(record: ResourceRecord) -> dict[str, Any]:
    """A resource of the JSON plan; `protect` and `aliases` only where set."""
    entry: dict[str, Any] = {
        "type": record.type,
        "name": record.name,
        "inputs": _plain(record.inputs),
    }
    if record.protect:
        entry["protect"] = True
    if record.aliases:
        entry["aliases"] = record.aliases
    return entry


def render_json(result: PlanResult, *, only: Iterable[str] = ()) -> str:
    return json.dumps(plan_json(result, only=only), indent=2, sort_keys=True) + "\n"
