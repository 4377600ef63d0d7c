"""git, run as a subprocess: for the commands that read revisions of the
platform file (`diff`) or find the repository it lives in (`ci`)."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitMissing(Exception):
    """git is not installed."""


def run_git(directory: Path, *args: str) -> subprocess.CompletedProcess:
    """`git ARGS` in `directory`, its output captured (bytes); raises GitMissing."""
    try:
        return subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise GitMissing from None


def toplevel(directory: Path) -> Path | None:
    """The root of the git work tree `directory` is in; None outside one (or without git)."""
    try:
        done = run_git(directory, "rev-parse", "--show-toplevel")
    except GitMissing:
        return None
    return Path(done.stdout.decode().strip()) if done.returncode == 0 else None
