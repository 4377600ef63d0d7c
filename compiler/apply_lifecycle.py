"""The stacks of a platform across runs, as preview, apply and destroy see
them: what the state backend holds beyond the tree (stacks a removal left,
destroyed after the updates) and the outputs an update would pull from under
a deployed reader outside the run (refused before anything runs). The rules
are lifecycle.py's; this module reads the backend through the runner and
tells the user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from crosswalk.compiler.apply import Runner, StackSpec

if TYPE_CHECKING:
    from crosswalk.compiler.apply_cli import Session


@dataclass
class Lifecycle:
    """What the backend holds beyond the tree, and what this run would pull
    from under a deployed reader (see lifecycle.py)."""

    deployed: dict  # project -> lifecycle.Deployed, for the stacks whose tags were read
    removed: list[StackSpec]  # stacks that left the platform, destroyed by this run
    left_alone: list[StackSpec]  # ... that a run of some stacks (--stack) leaves alone
    dropped: list  # lifecycle.DroppedOutput


def read_lifecycle(session: Session, runner: Runner) -> Lifecycle:
    """Read the deployed stacks' tags this run needs: every stack the tree no
    longer has, every stack the run updates and, when one of those would stop
    exporting something, every other deployed stack (a possible reader)."""
    from crosswalk.compiler.lifecycle import (
        deployed_from_tags,
        dropped_outputs,
        drops_any,
        removed_stacks,
    )

    tree = {spec.project for spec in session.manifest.stacks}
    projects = list(runner.deployed_projects())
    deployed: dict = {}

    def read(project: str) -> None:
        if project not in deployed:
            deployed[project] = deployed_from_tags(project, runner.stack_tags(project))

    for project in projects:
        if project not in tree:
            read(project)
    every_removed = removed_stacks(session.manifest, deployed)
    removed = [] if session.narrowed else every_removed
    updating = {spec.project for spec in session.stacks}
    for project in projects:
        if project in updating:
            read(project)
    if any(drops_any(spec, deployed.get(spec.project)) for spec in session.stacks):
        for project in projects:
            read(project)
    leaving = {spec.dir for spec in session.stacks} | {spec.dir for spec in removed}
    return Lifecycle(
        deployed,
        removed,
        [spec for spec in every_removed if spec not in removed],
        dropped_outputs(list(session.stacks), deployed, leaving),
    )


def dropped_outputs_refusal(session: Session, life: Lifecycle) -> str | None:
    """Before anything runs: no update may drop an output a deployed stack
    outside the run still reads (its next update would fail). The refusal, or
    None when the run drops none."""
    if not life.dropped:
        return None
    readers = sorted({d.reader for d in life.dropped})
    listed = "\n".join(f"  {d.describe()}" for d in life.dropped)
    return (
        f"refusing to {session.command}: it would remove outputs that deployed stacks still "
        f"read, and their next update would fail:\n{listed}\n"
        "to proceed, update the readers in the same run, so they stop reading them first "
        f"(add {' '.join('--stack ' + r for r in readers)}, or --with-dependents), or remove "
        "them from the platform; nothing was changed"
    )


def announce_removed(session: Session, life: Lifecycle) -> None:
    if session.json_output:
        if life.removed or life.left_alone:
            click.echo(
                json.dumps(
                    {
                        "event": "removed",
                        "stacks": [{"stack": s.dir, "project": s.project} for s in life.removed],
                        "leftAlone": [
                            {"stack": s.dir, "project": s.project} for s in life.left_alone
                        ],
                    }
                )
            )
        return
    if life.removed:
        click.echo(
            f"{len(life.removed)} stack{'s' if len(life.removed) != 1 else ''} in the state "
            f"backend {'are' if len(life.removed) != 1 else 'is'} no longer in the platform, "
            "to be destroyed after the updates: "
            + ", ".join(f"{s.dir} ({s.project})" for s in life.removed)
        )
    if life.left_alone:
        click.echo(
            "no longer in the platform, left alone by this run of some stacks (a run of every "
            "stack destroys them): " + ", ".join(s.dir for s in life.left_alone)
        )
