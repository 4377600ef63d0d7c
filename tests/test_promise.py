"""Everything that validates compiles, everything that compiles plans.

For platforms drawn from the schema (tests/platforms.py) on every cloud, with
environments: `validate` never raises; when it reports no error, `compile`
succeeds (and a recompile changes nothing), every generated Python file
passes py_compile, and `plan --offline` of every environment succeeds. When
validate reports an error, compile refuses too: the two agree. Every file
under tests/cases/valid/ is held to the same promise.

The default budget suits CI (about a minute). A deeper search:

    CROSSWALK_FUZZ=deep python3 -m pytest tests/test_promise.py --hypothesis-show-statistics

runs 5,000 platforms per cloud through validate and compile and plans 100 that
validate accepts per cloud, drawn afresh each run; CROSSWALK_FUZZ_COMPILE=N and
CROSSWALK_FUZZ_PLAN=N set the counts. A failure prints the platform that
broke the promise; save it under tests/cases/ with the fix.
"""

from __future__ import annotations

import os
import py_compile
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from crosswalk.compiler.diagnostics import ERROR
from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document, compile_file
from crosswalk.compiler.pipeline import check_document
from crosswalk.compiler.plan import plan_tree
from tests.platforms import CLOUDS, platforms

REPO = Path(__file__).resolve().parents[1]
VALID = sorted((REPO / "tests" / "cases" / "valid").glob("*.yaml"))
FILE = "platform.yaml"

DEEP = os.environ.get("CROSSWALK_FUZZ") == "deep"
COMPILE_EXAMPLES = int(os.environ.get("CROSSWALK_FUZZ_COMPILE") or (5000 if DEEP else 40))
PLAN_EXAMPLES = int(os.environ.get("CROSSWALK_FUZZ_PLAN") or (100 if DEEP else 3))
PROFILE = {
    # CI sees the same platforms every run; a deep run draws new ones.
    "derandomize": not DEEP,
    "database": None,
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
}


def as_yaml(data: dict) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8")


def holds(raw: bytes, folder: Path, *, plan: bool) -> str:
    """Check the promise for one platform file; return what became of it."""
    document, diagnostics = parse_document(raw, FILE)
    if document is None:
        assert any(d.severity == ERROR for d in diagnostics)
        return "does not load"
    checked = check_document(document)
    refused = [d.render() for d in checked.report.errors]
    compiled = compile_document(document)
    if refused:
        assert compiled.report.errors and not compiled.files, "compile took what validate refused"
        return "refused by validate (and compile)"
    assert not compiled.report.errors, (
        "validate took what compile refused:\n"
        + "\n".join(d.render() for d in compiled.report.errors)
        + "\n--- platform.yaml ---\n"
        + raw.decode("utf-8")
    )
    assert compiled.files
    source, out = folder / FILE, folder / "out"
    source.write_bytes(raw)
    first = compile_file(source, out)
    assert first.files and not first.report.errors
    again = compile_file(source, out)
    assert again.files and not again.report.errors and again.changed == []
    for program in sorted(out.rglob("*.py")):
        py_compile.compile(str(program), cfile=str(folder / "check.pyc"), doraise=True)
    if not plan:
        return "compiles"
    for env in [e.name for e in checked.platform.environments]:
        result = plan_tree(out, env)
        failed = {s.dir: s.error.message for s in result.stacks if s.error is not None}
        assert result.ok, f"environment {env} does not plan: {failed}"
    return "compiles and plans"


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_every_valid_case_compiles_and_plans(case: Path, tmp_path: Path) -> None:
    assert holds(case.read_bytes(), tmp_path, plan=True) == "compiles and plans"


@pytest.mark.parametrize("cloud", CLOUDS)
@settings(max_examples=COMPILE_EXAMPLES, **PROFILE)
@given(data=st.data())
def test_what_validates_compiles(cloud: str, data) -> None:
    platform = data.draw(platforms(cloud), label="platform")
    with tempfile.TemporaryDirectory() as folder:
        outcome = holds(as_yaml(platform), Path(folder), plan=False)
    event(outcome)
    environments = platform.get("environments") or {}
    if outcome == "compiles" and any(env.get("overrides") for env in environments.values()):
        event("compiles, with overrides")


@pytest.mark.parametrize("cloud", CLOUDS)
@settings(max_examples=PLAN_EXAMPLES, **PROFILE)
@given(data=st.data())
def test_what_compiles_plans(cloud: str, data) -> None:
    raw = as_yaml(data.draw(platforms(cloud), label="platform"))
    document, _ = parse_document(raw, FILE)
    assume(document is not None and not check_document(document).report.errors)
    with tempfile.TemporaryDirectory() as folder:
        assert holds(raw, Path(folder), plan=True) == "compiles and plans"
