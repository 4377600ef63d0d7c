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


def test_what_environments_may_change_is_the_table() -> None:
    """The README's list is model.PER_ENVIRONMENT, entry for entry."""
    from crosswalk.compiler.model import CLOUDS, PER_ENVIRONMENT

    titles = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}
    expected: dict[str, list[str]] = {}
    for entry in PER_ENVIRONMENT:
        clouds = [titles[c] for c in ("aws", "gcp", "azure") if c in entry.clouds]
        where = "".join(
            f" where {key} is {' or '.join(sorted(values))}" for key, values in entry.when
        ) + (" where the platform sets it" if entry.when_set else "")
        shown = "every cloud" if entry.clouds == CLOUDS and not entry.when else ", ".join(clouds)
        expected.setdefault(entry.path, []).append(shown + where)
    section = README.split("## Environments", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+) \|$", section, flags=re.MULTILINE)
    assert rows == [(path, "; ".join(shown)) for path, shown in expected.items()]
