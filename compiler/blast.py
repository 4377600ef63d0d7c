"""Blast radius: which stacks a change to platform.yaml touches.

Compares two compiled trees ({path: text}, as `emit_projects` returns them):
a stack changed when any of its files differ; the stacks downstream of a
changed one (along the new tree's stack DAG) are affected, since they come
after it and may read its outputs.
"""

from __future__ import annotations

import json

from crosswalk.compiler.graph import ResourceGraph


def _stacks(files: dict[str, str]) -> dict[str, dict]:
    manifest = json.loads(files["crosswalk.stacks.json"])
    return {stack["dir"]: stack for stack in manifest["stacks"]}


def blast_radius(
    old_files: dict[str, str], new_files: dict[str, str], resources: ResourceGraph
) -> dict[str, list[str]]:
    """`resources` is the new tree's graph; its stack DAG says what is downstream."""
    old, new = _stacks(old_files), _stacks(new_files)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(d for d in set(old) & set(new) if old[d]["hash"] != new[d]["hash"])
    touched = set(changed) | set(added)
    downstream = {d for stack in touched for d in resources.downstream(stack)} - touched
    return {
        "added": added,
        "removed": removed,
        "changed": changed,
        "downstream": [d for d in resources.stack_order() if d in downstream],
    }
