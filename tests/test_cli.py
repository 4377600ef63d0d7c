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
