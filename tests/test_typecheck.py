"""Every generated program type-checks with pyright against the installed
provider SDKs: this is what proves argument names and nested dict keys, which
the Pulumi runtime never checks. One pyright call covers every stack."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document
from crosswalk.compiler.writer import write_tree
from tests.test_ci_apps import built_platform
from tests.test_compile import COMPILED_SAMPLES, compiled
from tests.test_enforcement import variant_text

# Variants whose cluster and app services the samples do not use (istio, and
# each ingress controller with a mesh): their cluster-services and app-services
# programs are checked too.
VARIANTS = [
    "aws-istio-envoy-kyverno",
    "gcp-linkerd-traefik-kyverno",
    "gcp-istio-nginx-gatekeeper-audit",
]


def test_generated_programs_typecheck(tmp_path: Path) -> None:
    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (pip install 'crosswalk[test]')")
    for cloud in COMPILED_SAMPLES:
        write_tree(compiled(cloud), tmp_path / cloud)
    for name in VARIANTS:
        document, _ = parse_document(variant_text(name).encode(), "platform.yaml")
        files = compile_document(document).files
        layers = {k: v for k, v in files.items() if k.startswith(("04-", "05-"))}
        write_tree(layers, tmp_path / name)
    for cloud in ("aws", "gcp"):
        # The samples with a built app: the programs its build reaches.
        source = built_platform(cloud, tmp_path / "sources" / cloud)
        document, _ = parse_document(source.read_bytes(), "platform.yaml")
        files = compile_document(document).files
        reached = ("01-", "02-", "03-", "05-", "06-apps/storefront/")
        write_tree(
            {k: v for k, v in files.items() if k.startswith(reached)}, tmp_path / f"built-{cloud}"
        )
    programs = sorted(str(p) for p in tmp_path.rglob("__main__.py"))
    # Each program is its own project: check them as separate files.
    config = {"typeCheckingMode": "standard", "reportMissingModuleSource": False}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    done = subprocess.run(
        [pyright, "--outputjson", "-p", str(tmp_path / "pyrightconfig.json"), *programs],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert report["summary"]["filesAnalyzed"] == len(programs)
    assert not errors, "\n".join(errors)
