"""Every file under tests/cases/ is a test of `crosswalk validate`.

* `invalid/CWnnn-what-it-is.yaml` sits beside `CWnnn-what-it-is.expected`: the
  exit code on the first line (`# exit 1`), then exactly what validate prints
  on stdout (the diagnostics, with their help lines). Warnings-only cases live
  here too, with `# exit 0`.
* `valid/*.yaml` (and every sample) must validate with no diagnostics at all.

`CROSSWALK_ACCEPT=1 python3 -m pytest tests/test_cases.py` rewrites the
.expected files; review the diff: each line and column must point at the
offending key or value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from crosswalk.compiler import cli
from crosswalk.compiler import validate as validate_module
from crosswalk.compiler.cli import main
from crosswalk.compiler.diagnostics import CODES
from crosswalk.compiler.document import MAX_FILE_BYTES, Document

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "tests" / "cases"
INVALID = sorted((CASES / "invalid").glob("*.yaml"))
VALID = sorted((CASES / "valid").glob("*.yaml"))
SAMPLES = sorted(REPO.glob("samples/*/platform.yaml"))
ACCEPT = os.environ.get("CROSSWALK_ACCEPT") == "1"
MODELINE = "# yaml-language-server: $schema=../../schema/platform.schema.json"
# The day the cases are judged on: the clouds' version calendars say what a
# version's support is on a given day, and the expected output must not move.
TODAY = date(2026, 12, 2)

# Codes `crosswalk validate` cannot produce from a file, and where they are tested.
NOT_FROM_VALIDATE = {
    "CW001": "needs a file over 5 MiB: generated in test_file_over_the_size_limit",
    "CW107": "fallback for schema keywords the schema does not use: test_schema_fallback",
    "CW402": "a graph invariant, reported by `crosswalk graph` and `compile`",
    "CW505": "reported by `crosswalk compile` for a cloud without a backend",
    "CW801": "reported by `crosswalk ci`: tests/test_ci.py",
    "CW802": "reported by `crosswalk ci`: tests/test_ci.py",
    "CW803": "reported by `crosswalk ci`: tests/test_ci.py",
    "CW804": "reported by `crosswalk ci`: tests/test_ci.py",
    "CW805": "reported by `crosswalk ci`: tests/test_ci.py",
}


def run_validate(monkeypatch, file: str, *args: str):
    """`crosswalk validate FILE` from the repository root, as CI runs it, on TODAY."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(cli, "today", lambda: TODAY)
    return CliRunner().invoke(main, ["validate", *args, file], catch_exceptions=False)


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def render(result) -> str:
    return f"# exit {result.exit_code}\n{result.stdout}"


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case(case: Path, monkeypatch) -> None:
    result = run_validate(monkeypatch, relative(case))
    actual = render(result)
    expected_file = case.with_suffix(".expected")
    if ACCEPT:
        expected_file.write_text(actual, encoding="utf-8", newline="\n")
    assert expected_file.exists(), f"no {expected_file.name}; run with CROSSWALK_ACCEPT=1"
    assert actual == expected_file.read_text(encoding="utf-8")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case_reports_its_code(case: Path) -> None:
    """The code in the file name is among the diagnostics, with the severity
    its family has (CW6xx warn and exit 0; everything else is an error)."""
    code = case.name[:5]
    assert code in CODES, f"{case.name} does not start with a known code"
    text = case.with_suffix(".expected").read_text(encoding="utf-8")
    severity = "warning" if code.startswith("CW6") or "warning" in case.name else "error"
    assert f": {severity}[{code}]: " in text
    exit_line = text.splitlines()[0]
    assert exit_line == ("# exit 0" if severity == "warning" else "# exit 1")


@pytest.mark.parametrize("case", VALID + SAMPLES, ids=[relative(p) for p in VALID + SAMPLES])
def test_valid_case(case: Path, monkeypatch) -> None:
    result = run_validate(monkeypatch, relative(case))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{relative(case)}: ok\n"
    assert result.stderr == ""


CASES_AND_SAMPLES = INVALID + VALID + SAMPLES


@pytest.mark.parametrize("case", CASES_AND_SAMPLES, ids=[relative(p) for p in CASES_AND_SAMPLES])
def test_validate_and_compile_agree(case: Path) -> None:
    """What validate reports, compile reports, at the same place (CW310 at the
    offending key of an override included); what validate accepts, compiles."""
    from crosswalk.compiler.document import load_document
    from crosswalk.compiler.emit import compile_document
    from crosswalk.compiler.pipeline import check_document

    document, _ = load_document(str(case))
    if document is None:
        return  # the loader's diagnostics, which stop both the same way
    checked = check_document(document).report.sorted()
    compiled = compile_document(document)
    assert [d.render() for d in compiled.report.sorted()] == [d.render() for d in checked]
    assert bool(compiled.files) == (not checked or all(d.severity == "warning" for d in checked))


@pytest.mark.parametrize("sample", SAMPLES, ids=[relative(p) for p in SAMPLES])
def test_sample_starts_with_the_schema_modeline(sample: Path) -> None:
    assert sample.read_text(encoding="utf-8").splitlines()[0] == MODELINE


def test_every_code_has_a_case() -> None:
    covered = {path.name[:5] for path in INVALID}
    missing = sorted(set(CODES) - covered - set(NOT_FROM_VALIDATE))
    assert not missing, f"codes without a case under tests/cases/invalid: {missing}"
    assert not covered - set(CODES), "a case is named after a code that does not exist"


def test_every_expected_file_has_its_case() -> None:
    for expected in (CASES / "invalid").glob("*.expected"):
        assert expected.with_suffix(".yaml").exists(), f"{expected.name} has no .yaml"


def test_bytes_of_cases_are_kept_exactly() -> None:
    """Line endings and encodings are part of what the cases test."""
    assert b"\r\n" in (CASES / "valid" / "crlf-line-endings.yaml").read_bytes()
    assert (CASES / "valid" / "utf8-bom.yaml").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\xe9" in (CASES / "invalid" / "CW002-not-utf8.yaml").read_bytes()
    assert (CASES / "invalid" / "CW008-empty-file.yaml").read_bytes() == b""


# --- what the cases cannot hold ------------------------------------------------------


def test_file_over_the_size_limit(tmp_path, monkeypatch) -> None:
    big = tmp_path / "platform.yaml"
    padding = b"# padding to pass the limit\n" * (MAX_FILE_BYTES // 28 + 1)
    big.write_bytes(b"apiVersion: crosswalk/v1\n" + padding)
    assert big.stat().st_size > MAX_FILE_BYTES
    result = run_validate(monkeypatch, str(big))
    assert render(result) == (
        "# exit 1\n"
        f"{big}:1:1: error[CW001]: file is larger than 5 MiB\n"
        "  help: split the platform or remove generated content\n"
    )


def test_schema_fallback(monkeypatch) -> None:
    """A schema keyword the validator has no words for still becomes one
    diagnostic at the value: CW107 with jsonschema's message."""
    import jsonschema

    schema = {"type": "object", "properties": {"name": {"not": {"const": "x"}}}}
    monkeypatch.setattr(
        validate_module, "schema_validator", lambda: jsonschema.Draft7Validator(schema)
    )
    monkeypatch.setattr(validate_module, "load_schema", lambda: schema)
    document = Document("platform.yaml", "name: x\n", {"name": "x"})
    (diagnostic,) = validate_module.validate_document(document)
    assert diagnostic.code == "CW107"
    assert diagnostic.path == "name"
    assert "should not be valid" in diagnostic.message


def test_json_format(monkeypatch) -> None:
    case = "tests/cases/invalid/CW301-unknown-namespace.yaml"
    result = run_validate(monkeypatch, case, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "file": case,
            "line": 10,
            "column": 16,
            "severity": "error",
            "code": "CW301",
            "message": "'paymnts' is not a declared namespace",
            "path": "apps[0].namespace",
            "help": "did you mean 'payments'?",
        }
    ]


def test_json_format_of_a_clean_file(monkeypatch) -> None:
    result = run_validate(monkeypatch, "samples/minimal/platform.yaml", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_json_format_keys_for_load_errors(monkeypatch) -> None:
    result = run_validate(
        monkeypatch, "tests/cases/invalid/CW008-empty-file.yaml", "--format", "json"
    )
    (item,) = json.loads(result.stdout)
    assert list(item) == ["file", "line", "column", "severity", "code", "message", "path", "help"]
    assert (item["code"], item["line"], item["column"], item["path"]) == ("CW008", 1, 1, "")


def test_summary_goes_to_stderr(monkeypatch) -> None:
    result = run_validate(monkeypatch, "tests/cases/invalid/CW301-unknown-namespace.yaml")
    assert (
        result.stderr == "tests/cases/invalid/CW301-unknown-namespace.yaml: 1 error, 0 warnings\n"
    )


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "crosswalk.compiler.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_missing_file_is_a_usage_error() -> None:
    done = _cli("validate", "tests/cases/no-such-file.yaml")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "Error: tests/cases/no-such-file.yaml: no such file\n"


def test_directory_is_a_usage_error() -> None:
    done = _cli("validate", "tests/cases")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "Error: tests/cases: is a directory, not a file\n"


def test_a_case_through_the_real_command() -> None:
    """A separate process prints what the in-process runner does."""
    case = CASES / "invalid" / "CW310-override-unknown-item.yaml"
    done = _cli("validate", relative(case))
    assert f"# exit {done.returncode}\n{done.stdout}" == case.with_suffix(".expected").read_text()


def _data(name: str) -> dict:
    from crosswalk.compiler.document import load_document

    document, diagnostics = load_document(str(CASES / "valid" / name))
    assert document is not None and diagnostics == []
    return document.data


def test_valid_yaml12_case_reads_as_yaml_12() -> None:
    data = _data("yaml12-scalars.yaml")
    assert data["apps"][0]["env"] == {
        "COLOR": "no",
        "NORWAY": "NO",
        "FEATURE": "on",
        "LEGACY": "off",
        "ENABLED": "yes",
        "RELEASED": "2024-01-01",
        "BUDGET": "1_000",
        "OCTAL_TEXT": "0777",
        "PORT": "8080",
        "EMPTY": "",
        "TILDE": "~",
    }
    assert data["cluster"]["nodePools"][0] == {
        "name": "general",
        "min": 1,
        "max": 10,
        "diskSizeGb": 100,
    }


def test_valid_merges_case_reads_as_meant() -> None:
    data = _data("anchors-and-merges.yaml")
    web, api, worker = data["apps"]
    assert data["cluster"]["nodePools"][1] == {
        "name": "batch",
        "min": 1,
        "max": 3,
        "spot": True,
    }
    assert api["namespace"] == "shop"
    assert api["image"] == "ghcr.io/acme/api:1.0"
    assert api["env"] == {"LOG_LEVEL": "debug", "REGION": "us-west-2"}
    assert worker["resources"] == web["resources"] == {"cpu": "100m", "memory": "128Mi"}
    assert worker["env"] == web["env"] == {"LOG_LEVEL": "info", "REGION": "us-west-2"}
