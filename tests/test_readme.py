"""The README is part of the product: its commands are what CI runs, and its
diagnostics table lists every code the tool can emit."""

import re
from pathlib import Path

from crosswalk.compiler.diagnostics import CODES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_diagnostic_code_is_documented() -> None:
    documented = set(re.findall(r"^\| (CW\d{3}) \|", README, flags=re.MULTILINE))
    assert documented == set(CODES)


def test_ci_runs_the_readme_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))
    ]
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    readme_commands = {line.strip() for block in blocks for line in block.splitlines()}
    assert commands, "CI runs nothing"
    for command in commands:
        assert command in readme_commands, f"CI runs a command the README does not show: {command}"
