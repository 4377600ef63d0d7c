"""Stacks across runs: what each deployed stack exports and reads, the stacks
that left the platform, and the outputs a run must not pull from under a
reader.

A compiled tree says what each stack exports and reads of its upstream
stacks (crosswalk.stacks.json). What is *deployed* may differ: an app removed
from platform.yaml loses its directory but keeps its stack in the state
backend, and a run of some stacks (`--stack`) leaves the others as they were.
So `apply` records, on every stack it updates, Pulumi stack tags: the
platform, the stack's directory, and what it exports and reads
(`record_tags`; a tag value holds at most 256 characters, so long lists take
several numbered tags). From those tags:

- `removed_stacks`: the stacks of this platform and environment in the
  backend that the tree no longer has, as StackSpecs to destroy, ordered so
  that a reverse run destroys readers before what they read;
- `dropped_outputs`: outputs a run would stop exporting while a deployed
  stack outside the run still reads them (Pulumi has no such guard: the
  reader's next update fails on `require_output`);
- `blocked_removals`: removed stacks still read by a stack whose update did
  not succeed, which must not be destroyed yet.

Pure functions of plain data: the runner reads and writes the tags
(automation.py), the commands decide (apply_cli.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import TopologicalSorter

from crosswalk.compiler.apply import Manifest, StackSpec

TAG_PLATFORM = "crosswalk:platform"
TAG_STACK = "crosswalk:stack"
TAG_EXPORTS = "crosswalk:exports"
TAG_READS = "crosswalk:reads"
TAG_VALUE_LIMIT = 256  # Pulumi Cloud's limit on a tag's value

LAYER_PROJECTS = {
    "identity": "01-identity",
    "managed-infra": "02-managed-infra",
    "cluster": "03-cluster",
    "cluster-services": "04-cluster-services",
    "app-services": "05-app-services",
}


# --- the tags ----------------------------------------------------------------------


def _chunked(key: str, text: str) -> dict[str, str]:
    """`text` under `key`, then `key.2`, `key.3`... when longer than a tag holds."""
    if not text:
        return {key: ""}
    parts = [text[i : i + TAG_VALUE_LIMIT] for i in range(0, len(text), TAG_VALUE_LIMIT)]
    return {key if n == 1 else f"{key}.{n}": part for n, part in enumerate(parts, 1)}


def _joined(tags: dict[str, str], key: str) -> str | None:
    if key not in tags:
        return None
    text, n = tags[key], 2
    while f"{key}.{n}" in tags:
        text += tags[f"{key}.{n}"]
        n += 1
    return text


def record_tags(platform: str, spec: StackSpec) -> dict[str, str]:
    """The tags `apply` sets on a stack it updated."""
    reads = ";".join(f"{upstream}={','.join(outputs)}" for upstream, outputs in spec.reads)
    return {
        TAG_PLATFORM: platform,
        TAG_STACK: spec.dir,
        **_chunked(TAG_EXPORTS, ",".join(spec.exports)),
        **_chunked(TAG_READS, reads),
    }


def is_crosswalk_tag(key: str) -> bool:
    return key.startswith("crosswalk:")


@dataclass(frozen=True)
class Deployed:
    """A stack in the backend, as its tags describe it (None: not recorded)."""

    project: str
    dir: str | None
    platform: str | None
    exports: tuple[str, ...] | None
    reads: dict[str, tuple[str, ...]] | None


def deployed_from_tags(project: str, tags: dict[str, str]) -> Deployed:
    exports = _joined(tags, TAG_EXPORTS)
    reads_text = _joined(tags, TAG_READS)
    reads = None
    if reads_text is not None:
        reads = {}
        for part in filter(None, reads_text.split(";")):
            upstream, _, outputs = part.partition("=")
            reads[upstream] = tuple(filter(None, outputs.split(",")))
    return Deployed(
        project,
        tags.get(TAG_STACK),
        tags.get(TAG_PLATFORM),
        tuple(filter(None, exports.split(","))) if exports is not None else None,
        reads,
    )


def could_belong(platform: str, project: str) -> bool:
    """Whether a project's name is one crosswalk gives this platform's stacks."""
    if project.startswith(f"{platform}-app-"):
        return True
    return project.removeprefix(f"{platform}-") in LAYER_PROJECTS and project.startswith(
        f"{platform}-"
    )


def _dir_from_project(platform: str, project: str) -> str:
    rest = project.removeprefix(f"{platform}-")
    if rest in LAYER_PROJECTS:
        return LAYER_PROJECTS[rest]
    return "06-apps/" + rest.removeprefix("app-")


# --- stacks that left the platform ---------------------------------------------------


def removed_stacks(manifest: Manifest, deployed: dict[str, Deployed]) -> list[StackSpec]:
    """The deployed stacks of this platform the tree no longer has, in an order
    a reverse run destroys safely (a stack before the ones it reads).

    Only stacks whose tags say they are this platform's count: a project
    named like one of its stacks may belong to another platform."""
    in_tree = {s.project for s in manifest.stacks}
    found = {
        d.project: d
        for d in deployed.values()
        if d.project not in in_tree and d.platform == manifest.platform
    }
    dirs = {p: d.dir or _dir_from_project(manifest.platform, p) for p, d in found.items()}
    by_dir = {directory: project for project, directory in dirs.items()}
    # What each reads, removed or in the tree: a combined run (destroy) orders
    # it before those; among the removed, this order does.
    needs = {project: tuple(sorted(found[project].reads or {})) for project in found}
    order = TopologicalSorter(
        {dirs[p]: {u for u in needs[p] if u in by_dir} for p in sorted(found, key=dirs.get)}
    )
    ordered = list(order.static_order())
    return [
        StackSpec(
            directory,
            by_dir[directory],
            "apps" if directory.startswith("06-apps/") else directory[3:],
            needs[by_dir[directory]],
            removed=True,
        )
        for directory in ordered
    ]


def readers_of(directory: str, deployed: dict[str, Deployed]) -> list[Deployed]:
    return [d for d in deployed.values() if d.reads and directory in d.reads]


def blocked_removals(
    removed: list[StackSpec],
    deployed: dict[str, Deployed],
    updated: set[str],
    tree: set[str],
) -> dict[str, str]:
    """Removed stacks not to destroy: a stack of the tree still reads them and
    its update (which stops reading them) did not succeed."""
    blocked = {}
    for spec in removed:
        waiting = sorted(
            d.dir for d in readers_of(spec.dir, deployed) if d.dir in tree and d.dir not in updated
        )
        if waiting:
            blocked[spec.dir] = f"still read by {', '.join(waiting)}, whose update did not succeed"
    return blocked


# --- the output guard -----------------------------------------------------------------


@dataclass(frozen=True)
class DroppedOutput:
    exporter: str  # the stack that would stop exporting it
    output: str
    reader: str  # the deployed stack that still reads it

    def describe(self) -> str:
        return (
            f"{self.exporter} would stop exporting '{self.output}', which the deployed stack "
            f"{self.reader} still reads"
        )


def dropped_outputs(
    updating: list[StackSpec], deployed: dict[str, Deployed], leaving: set[str]
) -> list[DroppedOutput]:
    """What updating `updating` would pull from under deployed readers that are
    neither updated nor removed in the same run (`leaving`: their dirs)."""
    found = []
    for spec in updating:
        for reader in sorted(readers_of(spec.dir, deployed), key=lambda d: d.dir or ""):
            if reader.dir in leaving or reader.dir == spec.dir:
                continue
            for output in sorted(set(reader.reads[spec.dir]) - set(spec.exports)):
                found.append(DroppedOutput(spec.dir, output, reader.dir))
    return found


def drops_any(spec: StackSpec, deployed: Deployed | None) -> bool:
    """Whether `spec` stops exporting something its deployed stack exports (when
    the tags do not say, it might)."""
    if deployed is None:
        return False
    if deployed.exports is None:
        return True
    return bool(set(deployed.exports) - set(spec.exports))
