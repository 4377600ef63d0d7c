"""The command line's last line of defence: an exception nothing expected is
a crosswalk bug. It is reported in one line that says so, names the command
and where the traceback went, and exits 70; no traceback reaches the terminal."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

from crosswalk.compiler import pipeline
from crosswalk.compiler.cli import EXIT_BUG, main

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "samples/minimal/platform.yaml"


def _broken(file, *args):
    raise ZeroDivisionError("planted for the test")


def test_an_unexpected_exception_is_reported_as_a_bug(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "check_file", _broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["validate", SAMPLE, "--format", "json"])
    assert result.exit_code == EXIT_BUG == 70
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("crosswalk: internal error (ZeroDivisionError): this is a crosswalk bug")
    assert line.endswith(f"with the command: crosswalk validate {SAMPLE} --format json")
    (written,) = tmp_path.glob("crosswalk-bug-*.txt")
    assert f"the traceback is in {written};" in line
    details = written.read_text(encoding="utf-8")
    assert details.startswith(f"command: crosswalk validate {SAMPLE} --format json\n")
    assert "Traceback (most recent call last)" in details
    assert "ZeroDivisionError: planted for the test" in details
    assert "Traceback" not in result.output


def test_the_console_script_exits_70_without_a_traceback(tmp_path) -> None:
    """Through a real process and `run()`, as the installed `crosswalk` runs."""
    program = (
        "import sys\n"
        "from crosswalk.compiler import pipeline\n"
        "def broken(file, *args):\n"
        "    raise KeyError('planted')\n"
        "pipeline.check_file = broken\n"
        "from crosswalk.compiler.cli import run\n"
        "sys.argv[0] = 'crosswalk'\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, "validate", SAMPLE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 70, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "(KeyError): this is a crosswalk bug" in done.stderr
    (written,) = tmp_path.glob("crosswalk-bug-*.txt")
    assert "KeyError: 'planted'" in written.read_text(encoding="utf-8")


def test_usage_errors_and_diagnostics_are_not_bugs(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(REPO)
    missing = CliRunner().invoke(main, ["validate", "no-such-file.yaml"])
    invalid = CliRunner().invoke(main, ["validate", "tests/cases/invalid/CW101-unknown-key.yaml"])
    assert (missing.exit_code, invalid.exit_code) == (2, 1)
    assert list(tmp_path.iterdir()) == []


def test_verbose_shows_the_line_editors_show(monkeypatch) -> None:
    """U+0085 and U+2028 in a value do not shift the lines under --verbose."""
    monkeypatch.chdir(REPO)
    case = "tests/cases/invalid/CW105-positions-after-line-separators.yaml"
    result = CliRunner().invoke(main, ["validate", "-v", case])
    assert result.exit_code == 1
    snippet = result.stdout.split("cluster.nodePools[0].name", 1)[1].splitlines()
    assert snippet[2] == "8 |   nodePools: [{name: General}]"
    assert snippet[3] == "  |                      ^"


def test_validate_speaks_github_annotations(tmp_path: Path) -> None:
    """--format github: one workflow command per problem, at the offending key,
    escaped as GitHub's toolkit escapes them (a message may hold `:`, `,`, `%`
    and line breaks; property values may not hold `:` or `,`)."""
    import re

    from crosswalk.compiler.diagnostics import Diagnostic, Span, render_github

    case = Path(__file__).parent / "cases" / "invalid" / "CW619-enhanced-monitoring-off.yaml"
    result = CliRunner().invoke(main, ["validate", str(case), "--format", "github"])
    assert result.exit_code == 0, result.output  # a warning only
    (line,) = result.output.splitlines()
    match = re.fullmatch(r"::warning file=([^,]+),line=(\d+),col=(\d+),title=([^:]+)::(.*)", line)
    assert match, line
    assert match.group(1) == str(case).replace(":", "%3A").replace(",", "%2C")
    assert (int(match.group(2)), int(match.group(3))) == (15, 57)
    assert match.group(4) == "crosswalk CW619"
    assert match.group(5).startswith("appServices.datastores[0].enhancedMonitoring: ")
    assert "%0Ahelp: remove 'enhancedMonitoring: false'" in match.group(5)

    hostile = Diagnostic("error", "CW301", "100% bad: a, b\nc", Span(3, 4), "", None, "a,b:c.yaml")
    assert render_github([hostile]) == (
        "::error file=a%2Cb%3Ac.yaml,line=3,col=4,title=crosswalk CW301::100%25 bad: a, b%0Ac"
    )
    broken = tmp_path / "platform.yaml"
    broken.write_text("apiVersion: crosswalk/v1\nkind: Platform\nname: [\n")
    result = CliRunner().invoke(main, ["validate", str(broken), "--format", "github"])
    assert result.exit_code == 1
    assert result.output.startswith("::error file=") and ",line=" in result.output
