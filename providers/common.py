"""What every cloud's backend shares beyond the Kubernetes objects: the
program's cloud provider, and the values every cloud reads per environment
(tags, deletion protection)."""

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


def optional_setting(ctx: StackContext, key: str, value_in: Callable) -> str | Code | None:
    """`ctx.setting` of a text some environments may leave unset: None when
    none sets it, else the text (or a config read, "" where unset, that
    reads as None)."""
    values = {value_in(p, env) for env, p in ctx.platforms.items()}
    if values == {None}:
        return None
    value = ctx.setting(key, lambda q, env: value_in(q, env) or "")
    if isinstance(value, Code) and None in values:
        return Code(f"{value} or None")
    return value or None


def environment_tags(ctx: StackContext, platform_key: str, environment_key: str) -> object:
    """The tags (GCP: labels) of every resource: the platform's own, and which
    platform and environment it belongs to (the cloud's spelling of the keys)."""
    return ctx.setting(
        "tags",
        lambda q, env: dict(q.tags) | {platform_key: q.name, environment_key: env},
    )


def deletion_protection(ctx: StackContext) -> bool | Code:
    """Whether the environment protects its stateful resources (a literal, or
    a config read when environments differ)."""
    return ctx.setting("deletionProtection", lambda q, env: q.deletion_protection)


def protect(ctx: StackContext) -> dict:
    """Pulumi's `protect` for a stateful resource (a database, cache, queue,
    key, DNS zone, registry, bucket) where deletion protection is on: Pulumi
    then refuses to delete or replace it until the option is removed."""
    value = deletion_protection(ctx)
    return {} if value is False else {"protect": value}
