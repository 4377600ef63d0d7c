"""What every cloud's backend shares beyond the Kubernetes objects."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext


def emit_cloud_provider(
    ctx: StackContext, import_line: str, cls: str, name: str, args: dict
) -> Code:
    """The program's one explicit provider for its cloud. Every resource names
    it, so none falls back to a default provider (which leaves no record in
    the offline plan and would read the shell's settings)."""
    ctx.program.imports.add(import_line)
    return ctx.program.resource(f"{name}_provider", cls, name, args, ctx.line(("cloud",)))


def moved_from(logical: Callable[..., str], *items) -> dict:
    """The `aliases` option of a resource whose Pulumi name is
    `logical(*names of items)`, when any of those items was renamed
    (`renamedFrom`): the name it had under every earlier combination of
    their names, so Pulumi moves the resource instead of replacing it."""
    names = [(item.name, *item.renamed_from) for item in items]
    current = logical(*(item.name for item in items))
    earlier = sorted({logical(*combination) for combination in product(*names)} - {current})
    if not earlier:
        return {}
    # The name it was created under first: the offline plan makes up its
    # outputs from that one, as the real resource keeps them.
    first = logical(*(item.cloud_name for item in items))
    earlier = [first] + [name for name in earlier if name != first] if first in earlier else earlier
    return {"aliases": [Call("pulumi.Alias", kwargs={"name": name}) for name in earlier]}


def protect(ctx: StackContext) -> dict:
    """Pulumi's `protect` for a stateful resource (a database, cache, queue,
    key, DNS zone, registry, bucket): Pulumi then refuses to delete or replace
    it until the option is removed. On everywhere for now; per-environment
    protection settings switch it here."""
    return {"protect": True}
