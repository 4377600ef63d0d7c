"""What every cloud's backend shares beyond the Kubernetes objects."""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext


def emit_cloud_provider(
    ctx: StackContext, import_line: str, cls: str, name: str, args: dict
) -> Code:
    """The program's one explicit provider for its cloud. Every resource names
    it, so none falls back to a default provider (which leaves no record in
    the offline plan and would read the shell's settings)."""
    ctx.program.imports.add(import_line)
    return ctx.program.resource(f"{name}_provider", cls, name, args, ctx.line(("cloud",)))
