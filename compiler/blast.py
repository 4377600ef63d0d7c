"""Blast radius: which stacks a change to platform.yaml touches.

Compares two compiled trees ({path: text}, as `emit_projects` returns them):
a stack changed when any of its files differ; the stacks downstream of a
changed one (along the stack DAG of the new tree) are affected, since they
read its outputs and may see new values.
"""

from __future__ import annotations

import json


def _stacks(files: dict[str, str]) -> dict[str, dict]:
    manifest = json.loads(files["crosswalk.stacks.json"])
    return {stack["dir"]: stack for stack in manifest["stacks"]}


def blast_radius(old_files: dict[str, str], new_files: dict[str, str]) -> dict[str, list[str]]:
    old, new = _stacks(old_files), _stacks(new_files)
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(d for d in set(old) & set(new) if old[d]["hash"] != new[d]["hash"])
    dependents: dict[str, set[str]] = {d: set() for d in new}
    for stack in new.values():
        for upstream in stack["dependsOn"]:
            dependents.setdefault(upstream, set()).add(stack["dir"])
    downstream: set[str] = set()
    frontier = list(changed + added)
    while frontier:
        for dependent in dependents.get(frontier.pop(), ()):
            if dependent not in downstream:
                downstream.add(dependent)
                frontier.append(dependent)
    touched = set(changed) | set(added)
    order = [d for d in new]  # the manifest lists stacks in topological order
    return {
        "added": added,
        "removed": removed,
        "changed": changed,
        "downstream": [d for d in order if d in downstream and d not in touched],
    }
