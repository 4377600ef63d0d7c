"""crosswalk compile: goldens, determinism, formatting, atomic writes, the graph."""

from __future__ import annotations

import copy
import filecmp
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from crosswalk.compiler import writer
from crosswalk.compiler.cli import main
from crosswalk.compiler.document import load_document, parse_document
from crosswalk.compiler.emit import CACHE_FILE, compile_document, compile_file
from crosswalk.compiler.writer import write_tree

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
COMPILED_SAMPLES = ["aws", "gcp", "azure"]  # clouds whose backend exists


def sample(cloud: str) -> Path:
    return ROOT / "samples" / cloud / "platform.yaml"


def compiled(cloud: str) -> dict[str, str]:
    document, problems = load_document(str(sample(cloud)))
    assert document is not None, problems
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    return result.files


@pytest.fixture(scope="module", params=COMPILED_SAMPLES)
def tree(request, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(f"out-{request.param}")
    write_tree(compiled(request.param), out)
    return out


@pytest.mark.parametrize("cloud", COMPILED_SAMPLES)
def test_output_matches_golden_tree(cloud: str, tmp_path: Path) -> None:
    files = compiled(cloud)
    del files[CACHE_FILE]  # fingerprints crosswalk's own code: not a reviewed output
    golden = GOLDEN / cloud
    if os.environ.get("CROSSWALK_ACCEPT"):
        shutil.rmtree(golden, ignore_errors=True)
        write_tree(files, golden)
    expected = {
        str(p.relative_to(golden)).replace(os.sep, "/"): p.read_text(encoding="utf-8")
        for p in golden.rglob("*")
        if p.is_file()
    }
    assert sorted(files) == sorted(expected), "file list differs; CROSSWALK_ACCEPT=1 rewrites"
    for path, text in files.items():
        assert text == expected[path], (
            f"{path} differs from the golden; CROSSWALK_ACCEPT=1 rewrites"
        )


def test_layout_and_manifest(tree: Path) -> None:
    manifest = json.loads((tree / "crosswalk.stacks.json").read_text())
    dirs = [s["dir"] for s in manifest["stacks"]]
    assert dirs[:3] == ["01-identity", "02-managed-infra", "03-cluster"]
    position = {d: i for i, d in enumerate(dirs)}
    for stack in manifest["stacks"]:
        for upstream in stack["dependsOn"]:
            assert position[upstream] < position[stack["dir"]], "not in topological order"
        project = tree / stack["dir"]
        assert (project / "Pulumi.yaml").read_text().startswith(f"name: {stack['project']}\n")
        for env in manifest["environments"]:
            assert (project / f"Pulumi.{env}.yaml").is_file()
        requirements = (project / "requirements.txt").read_text().splitlines()
        assert requirements == sorted(requirements) and all("==" in r for r in requirements)
    assert "06-apps/storefront" in dirs
    storefront = next(s for s in manifest["stacks"] if s["dir"] == "06-apps/storefront")
    assert "06-apps/checkout" in storefront["dependsOn"]  # dependsOn is a real edge
    assert "timestamp" not in json.dumps(manifest).lower()


def test_generated_programs_compile_and_are_formatted(tree: Path) -> None:
    programs = sorted(tree.rglob("*.py"))
    assert len(programs) >= 6
    for program in programs:
        py_compile.compile(str(program), doraise=True)
        text = program.read_text()
        for module in ("crosswalk",):
            assert f"import {module}" not in text and f"from {module}" not in text
    linted = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "I,F", str(tree)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr  # import order, unused names
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--isolated", str(tree)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _compile_in_a_process(out: Path, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "crosswalk.compiler.cli",
            "compile",
            str(sample("aws")),
            "-o",
            str(out),
        ],
        env=dict(os.environ, **environment),
        check=False,
        capture_output=True,
        text=True,
    )


def test_same_bytes_under_different_hash_seeds(tmp_path: Path) -> None:
    outs = []
    for seed in ("0", "12345"):
        out = tmp_path / f"out-{seed}"
        done = _compile_in_a_process(out, PYTHONHASHSEED=seed)
        assert done.returncode == 0, done.stdout + done.stderr
        (out / CACHE_FILE).unlink()  # sizes and times of the files written: not output
        outs.append(out)
    comparison = filecmp.dircmp(outs[0], outs[1])
    assert _identical(comparison)


def test_the_command_flushes_everything_before_its_quick_exit(tmp_path: Path) -> None:
    """The console script ends with os._exit after compile; nothing printed may be lost."""
    done = _compile_in_a_process(tmp_path / "out")
    assert done.returncode == 0, done.stderr
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    )
    lines = done.stdout.splitlines()
    plural = "" if len(written) == 1 else "s"
    assert lines[0].endswith(f", {len(written)} file{plural} changed") and len(written) <= 60
    assert lines[1:] == [f"  {path}" for path in written]


def _identical(comparison: filecmp.dircmp) -> bool:
    if comparison.left_only or comparison.right_only or comparison.diff_files:
        return False
    for name in comparison.common_files:
        if (Path(comparison.left) / name).read_bytes() != (
            Path(comparison.right) / name
        ).read_bytes():
            return False
    return all(_identical(sub) for sub in comparison.subdirs.values())


def test_recompile_unchanged_input_touches_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = compile_file(sample("aws"), out)
    assert first.changed
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    second = compile_file(sample("aws"), out)
    assert second.changed == []
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert before == after


def test_one_changed_app_rewrites_only_its_stack(tmp_path: Path) -> None:
    source = tmp_path / "platform.yaml"
    text = sample("aws").read_text()
    source.write_text(text)
    out = tmp_path / "out"
    compile_file(source, out)
    source.write_text(text.replace("ghcr.io/acme/admin:0.9.0", "ghcr.io/acme/admin:0.9.1"))
    result = compile_file(source, out)
    changed_stacks = {
        p.rsplit("/", 1)[0]
        for p in result.changed
        if p not in ("crosswalk.stacks.json", CACHE_FILE)
    }
    assert changed_stacks == {"06-apps/admin"}


@pytest.mark.parametrize(
    "edit",
    [("replicas: 3", "replicas: 5"), ("name: acme", "name: acme2")],
    ids=["small change, updated in place", "large change, written beside and swapped"],
)
def test_failed_compile_leaves_previous_output_untouched(
    tmp_path: Path, monkeypatch, edit: tuple[str, str]
) -> None:
    out = tmp_path / "out"
    compile_file(sample("aws"), out)
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    # An invalid platform: nothing is written.
    broken = tmp_path / "broken.yaml"
    broken.write_text(sample("aws").read_text().replace("namespace: payments", "namespace: nope"))
    result = compile_file(broken, out)
    assert result.report.errors and not result.files

    # A write that fails midway (disk full, say): the swap never happens.
    calls = {"n": 0}
    real_write = writer._write_file

    def failing_write(target, data):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(28, "No space left on device")
        return real_write(target, data)

    monkeypatch.setattr(writer, "_write_file", failing_write)
    changed = sample("aws").read_text().replace(*edit)
    assert changed != sample("aws").read_text()
    source = tmp_path / "changed.yaml"
    source.write_text(changed)
    with pytest.raises(OSError):
        compile_file(source, out)
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "staging left behind"
    assert not list(out.rglob("*.crosswalk-new")), "temporary files left behind"


def test_refuses_to_replace_a_directory_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["compile", str(sample("aws")), "-o", str(out)])
    assert result.exit_code == 2
    assert "was not written by crosswalk" in result.output
    assert (out / "notes.txt").read_text() == "keep me"


def test_compile_cli_reports_what_it_wrote(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["compile", str(sample("aws")), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "06-apps/storefront/__main__.py" in result.output


def test_compile_of_an_invalid_file_exits_1_with_diagnostics(tmp_path: Path) -> None:
    broken = tmp_path / "platform.yaml"
    broken.write_text(sample("aws").read_text().replace("uses: [cache,", "uses: [cach,"))
    result = CliRunner().invoke(main, ["compile", str(broken), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "error[CW303]" in result.output and "did you mean 'cache'?" in result.output
    assert not (tmp_path / "o").exists()


def test_environment_values_live_in_stack_config(tree: Path) -> None:
    if json.loads((tree / "crosswalk.stacks.json").read_text())["cloud"] != "aws":
        pytest.skip("pins the AWS sample's values; tests/test_gcp.py pins GCP's")
    cluster = (tree / "03-cluster" / "__main__.py").read_text()
    assert 'config.require_int("nodePools.general.min")' in cluster
    prod = yaml.safe_load((tree / "03-cluster" / "Pulumi.prod.yaml").read_text())
    dev = yaml.safe_load((tree / "03-cluster" / "Pulumi.dev.yaml").read_text())
    assert prod["config"]["acme-cluster:nodePools.general.min"] == 3
    assert dev["config"]["acme-cluster:nodePools.general.min"] == 2
    assert prod["config"]["acme-cluster:nodePools.general.instanceType"] == "m6i.xlarge"
    assert dev["config"]["acme-cluster:nodePools.general.instanceType"] == "m6i.large"
    services = {
        env: yaml.safe_load((tree / "05-app-services" / f"Pulumi.{env}.yaml").read_text())["config"]
        for env in ("dev", "prod")
    }
    # One account: the names it keeps unique carry the environment but dev's.
    snapshot = "acme-app-services:names.datastores.orders.finalSnapshot"
    assert services["dev"][snapshot] == "acme-orders-final"
    assert services["prod"][snapshot] == "acme-prod-orders-final"
    assert services["prod"]["acme-app-services:dns.zoneName"] == "example.com"
    assert services["dev"]["acme-app-services:dns.zoneName"] == "dev.example.com"
    # Protection is on in both, so it is no config at all.
    assert not [key for key in services["dev"] if "rotection" in key]


def _aws_sample_with_prod_logging_off() -> str:
    """An override of what every environment shares: whether logging runs."""
    return (
        sample("aws")
        .read_text()
        .replace(
            "      apps: [{name: storefront, replicas: 4}]",
            "      apps: [{name: storefront, replicas: 4}]\n      clusterServices: {logging: {enabled: false}}",
        )
    )


def test_structural_override_is_refused(tmp_path: Path) -> None:
    text = _aws_sample_with_prod_logging_off()
    source = tmp_path / "platform.yaml"
    source.write_text(text)
    result = CliRunner().invoke(main, ["compile", str(source), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "error[CW310]" in result.output and "cannot differ between environments" in result.output
    line = text.splitlines().index("      clusterServices: {logging: {enabled: false}}") + 1
    assert f"{source}:{line}:" in result.output  # at `logging:`, not at `overrides:`


def test_compile_still_compares_the_programs_of_each_environment(tmp_path: Path, monkeypatch):
    """The safety net behind model.PER_ENVIRONMENT: were the table to allow a
    value that changes what a program creates, compile would still refuse it."""
    from crosswalk.compiler import model

    wrong = model.PerEnvironment("clusterServices.logging.enabled")
    monkeypatch.setattr(model, "PER_ENVIRONMENT", (*model.PER_ENVIRONMENT, wrong))
    text = _aws_sample_with_prod_logging_off()
    document, _ = parse_document(text.encode(), "platform.yaml")
    result = compile_document(document)
    (error,) = result.report.errors
    assert error.code == "CW310" and error.path == "environments.prod.overrides"
    assert "changes what 04-cluster-services creates" in error.message
    assert result.files == {}


def test_unsupported_cloud_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    from crosswalk.compiler import emit

    def missing(cloud):
        raise emit.BackendMissing(cloud)

    monkeypatch.setattr(emit, "backend_for", missing)
    result = CliRunner().invoke(main, ["compile", str(sample("aws")), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "error[CW505]" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


class TestGraph:
    def test_mermaid_dot_json(self) -> None:
        runner = CliRunner()
        mermaid = runner.invoke(main, ["graph", str(sample("aws"))])
        assert mermaid.exit_code == 0 and mermaid.output.startswith("flowchart LR")
        assert "subgraph" in mermaid.output and "app/storefront" in mermaid.output
        dot = runner.invoke(main, ["graph", str(sample("aws")), "--format", "dot"])
        assert dot.exit_code == 0 and dot.output.startswith("digraph crosswalk {")
        data = json.loads(
            runner.invoke(main, ["graph", str(sample("aws")), "--format", "json"]).output
        )
        by_id = {r["id"]: r for r in data["resources"]}
        assert "app/checkout" in by_id["app/storefront"]["needs"]
        assert "datastore/orders" in by_id["app/checkout"]["needs"]
        assert data["groups"][0] == ["01-identity"]

    def test_stacks_only(self) -> None:
        out = CliRunner().invoke(
            main, ["graph", str(sample("aws")), "--stacks", "--format", "json"]
        )
        data = json.loads(out.output)
        assert ["04-cluster-services", "05-app-services"] in data["groups"]  # independent stacks

    def test_picture_needs_graphviz_or_says_how(self, tmp_path: Path) -> None:
        target = tmp_path / "graph.svg"
        result = CliRunner().invoke(
            main, ["graph", str(sample("aws")), "--format", "svg", "-o", str(target)]
        )
        if shutil.which("dot"):
            assert result.exit_code == 0 and target.read_text().lstrip().startswith("<")
        else:
            assert result.exit_code == 2 and "apt-get install graphviz" in result.output

    def test_dependson_cycle_is_reported_at_the_closing_reference(self, tmp_path: Path) -> None:
        text = (
            sample("aws")
            .read_text()
            .replace(
                "    ingress: {host: checkout.example.com, path: /api}",
                "    dependsOn: [admin]\n    ingress: {host: checkout.example.com, path: /api}",
            )
        )
        source = tmp_path / "platform.yaml"
        source.write_text(text)
        result = CliRunner().invoke(main, ["graph", str(source)])
        assert result.exit_code == 1
        line = next(i for i, t in enumerate(text.splitlines(), 1) if "dependsOn: [admin]" in t)
        assert f"platform.yaml:{line}:" in result.output or "error[CW401]" in result.output
        assert "error[CW401]" in result.output and "cycle" in result.output


@pytest.mark.parametrize("cloud", COMPILED_SAMPLES)
def test_longest_names_still_format_cleanly(cloud: str, tmp_path: Path) -> None:
    """Names at their schema limits must not push generated lines past what
    ruff format accepts (it cannot split a long name)."""

    text = sample(cloud).read_text()
    renames = {
        "payments": "n" * 62 + "s",  # a namespace and a team: 63 characters
        "checkout": "a" * 39 + "p",  # an app: 40
        "orders": "d" * 39 + "s",  # a datastore: 40
    }
    for old, new in renames.items():
        text = re.sub(rf"(?<![\w.-]){old}(?![\w.-])", new, text)
    if cloud != "azure":  # Azure's own name limits keep its platform names short
        text = re.sub(r"(?m)^name: \S+", "name: " + "p" * 19 + "x", text)
    source = tmp_path / "platform.yaml"
    source.write_text(text)
    out = tmp_path / "out"
    result = compile_file(source, out)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--isolated", str(out)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


class TestStackCache:
    """Recompiles skip app stacks whose inputs did not change, and the result
    is byte for byte what a fresh compile writes."""

    def tree(self, out: Path) -> dict[str, bytes]:
        """OUT's files but the cache (it records the sizes and times of the files written)."""
        return {
            str(p.relative_to(out)): p.read_bytes()
            for p in out.rglob("*")
            if p.is_file() and p.name != CACHE_FILE
        }

    def recompile(self, tmp_path: Path, before: str, after: str):
        source = tmp_path / "platform.yaml"
        source.write_text(before)
        out = tmp_path / "out"
        compile_file(source, out)
        source.write_text(after)
        result = compile_file(source, out)
        fresh = tmp_path / "fresh"
        compile_file(source, fresh)
        assert self.tree(out) == self.tree(fresh)
        return result

    def test_one_changed_app_is_the_only_one_emitted(self, tmp_path: Path) -> None:
        text = sample("aws").read_text()
        result = self.recompile(tmp_path, text, text.replace("admin:0.9.0", "admin:0.9.1"))
        # The layers that look at the apps (their secrets: the operator, the
        # secrets themselves, the key that encrypts them, the deployers'
        # rights on them) run again, and write nothing new.
        assert not [p for p in result.changed if "/" in p and not p.startswith("06-apps/admin/")]
        assert set(result.kept) == {
            "03-cluster",
            "06-apps/checkout",
            "06-apps/nightly-report",
            "06-apps/order-worker",
            "06-apps/search",
            "06-apps/storefront",
        }

    @pytest.mark.parametrize("cloud", COMPILED_SAMPLES)
    def test_no_layer_reads_the_apps_so_an_app_change_emits_that_app_alone(
        self, tmp_path: Path, cloud: str
    ) -> None:
        # Azure's apps make their identities and grants in their own stacks too.
        # GCP's identity layer makes the apps' service accounts (no other
        # deployer may manage one): it reads the apps, yet an app's new image
        # leaves its files as they were.
        text = sample(cloud).read_text()
        new = re.sub(r"admin:0\.9\.0", "admin:0.9.1", text)
        assert new != text
        result = self.recompile(tmp_path, text, new)
        # cluster-services (whether to install the secrets operator) reads the
        # apps, and so do app-services (the apps' secrets), the identity layer
        # (its deployers' rights on them; on Azure their vault's group), AWS
        # managed-infra (the key that encrypts them) and Azure's (the private
        # zone their vault's endpoint joins).
        readers = {"01-identity", "04-cluster-services", "05-app-services"}
        if cloud in ("aws", "azure"):
            readers |= {"02-managed-infra"}
        assert "06-apps/admin" not in result.kept
        assert {"01-identity", "03-cluster", "05-app-services"} - readers <= set(result.kept)
        assert {path.split("/")[1] for path in result.changed if "/" in path} <= {"admin"}
        assert not [path for path in result.changed if path.startswith("01-identity")]
        cache = json.loads((tmp_path / "out" / CACHE_FILE).read_text())
        assert {stack for stack, entry in cache["stacks"].items() if entry["readsApps"]} == readers

    @pytest.mark.parametrize(
        "look",
        [list, len, bool, repr, sorted, copy.copy, copy.deepcopy, hash]
        + [lambda a: a[0], lambda a: "x" in a, lambda a: a == (), lambda a: a.count("x")]
        + [lambda a: [*a], lambda a: a + (), lambda a: a < ()],
    )
    def test_every_way_of_looking_at_the_apps_is_noted(self, look) -> None:
        from crosswalk.compiler.emit import _WatchedApps

        seen = [False]
        apps = _WatchedApps(("a", "b"), seen)
        held = apps  # holding them is not looking
        assert held is apps and seen == [False]
        look(apps)
        assert seen == [True]

    @pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
    @pytest.mark.parametrize(
        "change",
        [
            "new image",
            "uses another datastore",
            "uses none",
            "app removed",
            "app added",
            "moved namespace",
            "no ingress",
            "no dependsOn",
        ],
    )
    def test_any_change_to_the_apps_compiles_as_a_fresh_compile_would(
        self, tmp_path: Path, cloud: str, change: str
    ) -> None:
        """Carried-over stacks, layers included, are exactly what a fresh
        compile writes (`recompile` compares the trees)."""
        data = yaml.safe_load(sample(cloud).read_text())
        before = yaml.safe_dump(data, sort_keys=False)
        apps = data["apps"]
        stores = [store["name"] for store in data["appServices"]["datastores"]]
        namespaces = [ns["name"] for ns in data["cluster"]["namespaces"]]
        if change == "new image":
            apps[0]["image"] += "-next"
        elif change == "uses another datastore":
            apps[-1]["uses"] = [s for s in stores if s not in apps[-1].get("uses", [])][:1]
        elif change == "uses none":
            for app in apps:
                app.pop("uses", None)
        elif change == "app removed":
            gone = apps.pop()["name"]
            for app in apps:
                app["dependsOn"] = [d for d in app.get("dependsOn", []) if d != gone]
            for env in data.get("environments", {}).values():
                overrides = env.get("overrides", {})
                overrides["apps"] = [a for a in overrides.get("apps", []) if a["name"] != gone]
        elif change == "app added":
            # No host: dev's DNS zone is its own, and its hosts are overrides.
            added = {**apps[-1], "name": "reports", "dependsOn": []}
            added.pop("ingress", None)
            apps.append(added)
        elif change == "moved namespace":
            apps[0]["namespace"] = next(n for n in namespaces if n != apps[0]["namespace"])
        elif change == "no ingress":
            for app in apps:
                app.pop("ingress", None)
            for env in data.get("environments", {}).values():
                for app in env.get("overrides", {}).get("apps", []):
                    app.pop("ingress", None)
        elif change == "no dependsOn":
            for app in apps:
                app.pop("dependsOn", None)
        after = yaml.safe_dump(data, sort_keys=False)
        assert after != before
        result = self.recompile(tmp_path, before, after)
        assert not result.report.errors, result.report.sorted()

    def test_a_shared_change_re_emits_every_app(self, tmp_path: Path) -> None:
        text = sample("aws").read_text()
        result = self.recompile(tmp_path, text, text.replace("pods: 200", "pods: 300"))
        assert result.kept == []

    def test_a_change_to_a_dependency_re_emits_its_dependents(self, tmp_path: Path) -> None:
        text = sample("aws").read_text()
        result = self.recompile(
            tmp_path,
            text,
            text.replace(
                "    port: 8080\n    resources: {cpu: 500m",
                "    port: 8081\n    resources: {cpu: 500m",
            ),
        )
        assert "06-apps/storefront" not in result.kept  # it depends on checkout
        assert "06-apps/order-worker" in result.kept

    def test_a_comment_keeps_every_stack(self, tmp_path: Path) -> None:
        text = sample("aws").read_text()
        result = self.recompile(
            tmp_path,
            text,
            text.replace("  - name: admin\n", "  # the back office\n\n  - name: admin\n"),
        )
        assert "06-apps/admin" in result.kept and result.changed == []

    def test_a_deleted_stack_or_a_broken_cache_is_rebuilt(self, tmp_path: Path) -> None:
        out = tmp_path / "out"
        compile_file(sample("aws"), out)
        shutil.rmtree(out / "06-apps" / "admin")
        result = compile_file(sample("aws"), out)
        assert (
            "06-apps/admin" not in result.kept
            and (out / "06-apps" / "admin" / "__main__.py").is_file()
        )
        (out / CACHE_FILE).write_text("{not json")
        assert compile_file(sample("aws"), out).kept == []


class TestValidationCache:
    """A recompile checks against the schema only the parts of platform.yaml
    that changed; the verdict is the one a full check gives."""

    def validated_parts(self, monkeypatch) -> list:
        """Record every value the schema is asked about."""
        from crosswalk.compiler import validate

        real = validate.schema_validator()
        seen: list = []

        class Recording:
            schema = real.schema

            def evolve(self, schema):
                part = real.evolve(schema=schema)

                class Part:
                    def iter_errors(self, value):
                        seen.append(value)
                        return part.iter_errors(value)

                return Part()

            def iter_errors(self, value):
                seen.append(value)
                return real.iter_errors(value)

        monkeypatch.setattr(validate, "schema_validator", Recording)
        return seen

    def test_an_unchanged_file_is_not_checked_against_the_schema_again(
        self, tmp_path: Path, monkeypatch
    ) -> None:
        out = tmp_path / "out"
        compile_file(sample("aws"), out)
        cache = json.loads((out / CACHE_FILE).read_text())
        assert len(cache["validated"]) > 10
        seen = self.validated_parts(monkeypatch)
        result = compile_file(sample("aws"), out)
        assert not result.report.errors and seen == []

    def test_only_the_changed_app_is_checked(self, tmp_path: Path, monkeypatch) -> None:
        out = tmp_path / "out"
        compile_file(sample("aws"), out)
        changed = tmp_path / "platform.yaml"
        changed.write_text(
            sample("aws").read_text().replace("order-worker:2.0.1", "order-worker:2.0.2")
        )
        seen = self.validated_parts(monkeypatch)
        result = compile_file(changed, out)
        assert not result.report.errors
        assert [part.get("image") for part in seen] == ["ghcr.io/acme/order-worker:2.0.2"]

    def test_a_part_that_turns_invalid_is_reported(self, tmp_path: Path) -> None:
        out = tmp_path / "out"
        compile_file(sample("aws"), out)
        broken = tmp_path / "platform.yaml"
        broken.write_text(sample("aws").read_text().replace("checkout:2.0.1", "Checkout:2.0.1"))
        fresh = compile_document(load_document(str(broken))[0])
        result = compile_file(broken, out)
        assert result.report.sorted() == fresh.report.sorted() and result.report.errors
        assert not result.files

    def test_a_cache_from_another_version_of_crosswalk_is_not_trusted(
        self, tmp_path: Path, monkeypatch
    ) -> None:
        out = tmp_path / "out"
        compile_file(sample("aws"), out)
        cache = json.loads((out / CACHE_FILE).read_text())
        cache["code"] = "0" * 64
        (out / CACHE_FILE).write_text(json.dumps(cache))
        seen = self.validated_parts(monkeypatch)
        compile_file(sample("aws"), out)
        assert len(seen) == len(cache["validated"])
