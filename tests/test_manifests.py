"""The Kubernetes objects of every compiled sample, rendered by the offline
plan, pass kubernetes-validate (strict) and checkov, except the checkov checks
listed with a reason in tests/manifests/checkov-skips.txt."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from crosswalk.compiler.plan import plan_tree
from crosswalk.compiler.plan_manifests import write_manifests
from crosswalk.compiler.writer import write_tree
from tests.test_compile import COMPILED_SAMPLES, compiled, sample

HERE = Path(__file__).resolve().parent
CHECKERS = HERE.parent / ".venv-checkers" / "bin" / "python"


def skipped_checks() -> str:
    lines = (HERE / "manifests" / "checkov-skips.txt").read_text().splitlines()
    entries = [line.split(None, 1) for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(entry) == 2 for entry in entries), "every skipped check needs a reason"
    return ",".join(entry[0] for entry in entries)


@pytest.mark.parametrize("cloud", COMPILED_SAMPLES)
def test_sample_manifests_pass_kubernetes_validate_and_checkov(cloud: str, tmp_path: Path) -> None:
    if not CHECKERS.exists():
        if os.environ.get("CI"):
            pytest.fail("the manifest checkers are missing; run the README's install command")
        pytest.skip("manifest checkers not installed (.venv-checkers); see the README")
    out = tmp_path / "out"
    files = compiled(cloud)
    write_tree(files, out)
    # Objects are checked against the Kubernetes version the platform runs.
    version = yaml.safe_load(sample(cloud).read_text(encoding="utf-8"))["cluster"]["version"]
    result = plan_tree(out, "prod")
    assert all(stack.error is None for stack in result.stacks)
    written = write_manifests(result, tmp_path / "manifests")
    assert written
    done = subprocess.run(
        [
            str(CHECKERS),
            str(HERE / "manifests" / "check.py"),
            str(tmp_path / "manifests"),
            skipped_checks(),
            version,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["resources"] > 50
    assert report["checkov_resources"] > 0, "checkov read nothing"
    assert report["invalid"] == []
    assert report["failed_checks"] == []
    # Custom resources whose CRDs come with the charts and are not known here.
    kinds = {name.split()[1].split("/")[0] for name in report["unvalidated"]}
    assert kinds <= {
        "HTTPRoute",
        "Gateway",
        "GatewayClass",
        "ClusterIssuer",
        "Issuer",
        "Certificate",
        "PeerAuthentication",
        "ValidatingPolicy",
        "SecretStore",
        "ExternalSecret",
    }, kinds
    if cloud == "gcp":  # Gatekeeper: its templates and constraints were validated
        assert not any(
            "Constraint" in name or "Crosswalk" in name for name in report["unvalidated"]
        )
