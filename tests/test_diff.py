"""`crosswalk diff`: resource-level changes per environment from two offline
plans, what is destructive, renames through `renamedFrom`, git revisions,
and the markdown a pull request shows (a golden file)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from crosswalk.compiler import diff as diff_module
from crosswalk.compiler.cli import main
from crosswalk.compiler.diff import Source, change_tables, diff_sources
from crosswalk.compiler.diff_render import diff_json, render_markdown, render_text
from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.mock_run import run_program
from crosswalk.compiler.plan import plan_tree

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "diff"
ACCEPT = os.environ.get("CROSSWALK_ACCEPT") == "1"


def sample(cloud: str) -> str:
    return (ROOT / "samples" / cloud / "platform.yaml").read_text()


def source(text: str, label: str) -> Source:
    return Source(label, text.encode())


def diff(old: str, new: str, env: str | None = "dev", **options):
    return diff_sources(source(old, "old.yaml"), source(new, "new.yaml"), env, **options)


def rename(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w.-])", new, text)


def stacks_of(result) -> dict[str, dict]:
    [environment] = diff_json(result)["environments"]
    return {stack["dir"]: stack for stack in environment["stacks"]}


def by_type(stack: dict, type_: str) -> list[dict]:
    return [r for r in stack["resources"] if r["type"] == type_]


DATASTORE_RENAMED = {"orders": "sales"}


def renamed_datastore(text: str, *, keep: bool) -> str:
    text = rename(text, "orders", "sales")
    if keep:
        text = text.replace("- {name: sales,", "- {name: sales, renamedFrom: orders,")
    return text


# --- what a change does ------------------------------------------------------------------


def test_an_image_bump_is_one_deployment_update_and_nothing_else() -> None:
    """And the app's migration Job is replaced, which is what runs it again
    with the new image before the pods roll."""
    text = sample("aws")
    result = diff(text, text.replace("checkout:2.0.1", "checkout:2.0.2"), env=None)
    assert result.exit_code == 1
    data = diff_json(result)
    assert [e["name"] for e in data["environments"]] == ["dev", "prod"]
    for environment in data["environments"]:
        assert environment["stacks"] == [
            {
                "dir": "06-apps/checkout",
                "status": "changed",
                "resources": [
                    {
                        "type": "kubernetes:batch/v1:Job",
                        "name": "payments/checkout.schema",
                        "change": "replace",
                        "destructive": False,
                        "paths": ["spec.template.spec.containers[0].image"],
                    },
                    {
                        "type": "kubernetes:apps/v1:Deployment",
                        "name": "payments/checkout",
                        "change": "update",
                        "destructive": False,
                        "paths": ["spec.template.spec.containers[0].image"],
                    },
                ],
            }
        ], "the apps that depend on checkout read none of its outputs: not affected"


def test_a_comment_changes_nothing() -> None:
    text = sample("gcp")
    result = diff(text, "# reviewed by the platform team\n" + text + "\n# the end\n", env=None)
    assert result.exit_code == 0 and not result.changed
    assert [e["stacks"] for e in diff_json(result)["environments"]] == [[], []]
    assert render_text(result).rstrip().endswith("no changes")


def test_a_renamed_datastore_is_a_destructive_replace_and_exits_3() -> None:
    text = sample("aws")
    result = diff(text, renamed_datastore(text, keep=False))
    assert result.exit_code == 3
    services = stacks_of(result)["05-app-services"]
    [database] = by_type(services, "aws:rds/instance:Instance")
    assert database["change"] == "replace" and database["destructive"] is True
    assert database["name"] == "acme-sales"
    assert "dbName" in database["paths"]
    [group] = by_type(services, "aws:ec2/securityGroup:SecurityGroup")
    assert group["change"] == "replace" and group["destructive"] is False
    shown = render_text(result)
    assert "DESTRUCTIVE: loses the database and its data" in shown
    assert "replacement inferred: its name changed, and no alias names the old one" in shown
    assert "acme-sales (was acme-orders)" in shown


def test_the_same_rename_with_renamed_from_is_an_update_carrying_an_alias() -> None:
    text = sample("aws")
    result = diff(text, renamed_datastore(text, keep=True))
    assert result.exit_code == 1, "nothing is destroyed"
    services = stacks_of(result)["05-app-services"]
    [database] = by_type(services, "aws:rds/instance:Instance")
    assert database == {
        "type": "aws:rds/instance:Instance",
        "name": "acme-sales",
        "change": "update",
        "destructive": False,
        "paths": ["opts.aliases"],
    }
    assert not any(r["change"] in ("replace", "delete") for r in services["resources"])
    for stack in stacks_of(result).values():
        assert not any(r["destructive"] for r in stack["resources"]), stack["dir"]
    assert "renamed from acme-orders through an alias: kept, not replaced" in render_text(result)


def test_renamed_from_reaches_the_engine_as_aliases_and_keeps_the_cloud_names(
    tmp_path: Path,
) -> None:
    """On the plan's records: what the engine would receive."""
    before, after = tmp_path / "before", tmp_path / "after"
    (tmp_path / "old.yaml").write_text(sample("aws"))
    (tmp_path / "new.yaml").write_text(renamed_datastore(sample("aws"), keep=True))
    assert compile_file(tmp_path / "old.yaml", before).files
    assert compile_file(tmp_path / "new.yaml", after).files
    stack = "05-app-services"
    old = plan_tree(before, "dev", only=[stack]).stack(stack)
    new = plan_tree(after, "dev", only=[stack]).stack(stack)
    assert old.status == new.status == "ok"
    [was] = [r for r in old.resources if r.type == "aws:rds/instance:Instance"]
    [now] = [r for r in new.resources if r.type == "aws:rds/instance:Instance"]
    assert now.name == "acme-sales" and now.aliases == [{"name": "acme-orders"}]
    assert was.aliases == []
    assert now.inputs["dbName"] == was.inputs["dbName"] == "orders", "the database keeps its name"
    assert now.inputs == was.inputs
    assert now.protect is True and was.protect is True
    app = plan_tree(after, "dev", only=["06-apps/checkout"]).stack("06-apps/checkout")
    [secret] = [
        r for r in app.resources if r.type == "kubernetes:core/v1:Secret" and "sales" in r.name
    ]
    assert secret.aliases == [{"name": "payments/checkout.orders"}]
    assert secret.inputs["metadata"]["name"] == "checkout.orders"
    assert set(secret.inputs["stringData"].value) >= {"SALES_HOST", "SALES_DATABASE"}


def test_a_renamed_namespace_deletes_the_namespace_destructively() -> None:
    text = sample("aws").replace("    - name: internal\n", "    - name: backoffice\n")
    text = text.replace("namespace: internal", "namespace: backoffice").replace(
        "[storefront, internal]", "[storefront, backoffice]"
    )
    result = diff(sample("aws"), text)
    assert result.exit_code == 3
    cluster = stacks_of(result)["03-cluster"]
    [namespace] = by_type(cluster, "kubernetes:core/v1:Namespace")
    assert namespace["change"] == "replace" and namespace["destructive"] is True
    [change] = [
        c
        for e in result.environments
        for s in e.stacks
        for c in s.resources
        if c.type == "kubernetes:core/v1:Namespace"
    ]
    assert change.renamed_from == "internal" and change.loses.startswith("the namespace")
    # Its objects go with it; the app in it is replaced in the new namespace.
    admin = stacks_of(result)["06-apps/admin"]
    assert all(r["change"] in ("replace", "update") for r in admin["resources"])

    kept = text.replace(
        "    - name: backoffice\n", "    - name: backoffice\n      renamedFrom: internal\n"
    )
    result = diff(sample("aws"), kept)
    assert result.exit_code == 1
    for stack in stacks_of(result).values():
        assert {r["change"] for r in stack["resources"]} == {"update"}, stack["dir"]
        assert all("opts.aliases" in r["paths"] for r in stack["resources"])


def test_a_renamed_app_keeps_its_project_and_so_its_state() -> None:
    text = sample("aws")
    renamed = text.replace("  - name: admin\n", "  - name: backstage\n    renamedFrom: admin\n")
    result = diff(text, renamed)
    [stack] = result.environments[0].stacks
    assert (stack.dir, stack.project, stack.status) == (
        "06-apps/backstage",
        "acme-app-admin",
        "changed",
    )
    assert {r.change for r in stack.resources} == {"update"}
    without = diff(text, text.replace("  - name: admin\n", "  - name: backstage\n"))
    statuses = {s.dir: s.status for s in without.environments[0].stacks}
    assert statuses == {"06-apps/backstage": "added", "06-apps/admin": "removed"}


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_a_renamed_app_keeps_its_secrets(cloud: str) -> None:
    """The checkout reads two secrets: renamed with renamedFrom, they move
    (aliases) and keep the values a person set, on every cloud."""
    text = sample(cloud)
    renamed = text.replace(
        "  - name: checkout\n", "  - name: payments\n    renamedFrom: checkout\n"
    )
    renamed = renamed.replace("[checkout]", "[payments]").replace(
        "{name: checkout,", "{name: payments,"
    )
    result = diff(text, renamed)
    stacks = stacks_of(result)
    assert "05-app-services" in stacks
    for stack in stacks.values():
        destructive = [r["name"] for r in stack["resources"] if r["destructive"]]
        assert destructive == [], stack["dir"]
    changed = [r for r in stacks["05-app-services"]["resources"] if "secret" in r["type"].lower()]
    assert changed and {r["change"] for r in changed} == {"update"}


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_adding_an_app_adds_only_its_stack(cloud: str) -> None:
    text = sample(cloud)
    image = re.search(r"image: (\S+)/checkout:", text).group(1)
    app = (
        "  - name: reports\n"
        "    namespace: payments\n"
        f"    image: {image}/reports:1.0.0\n"
        "    port: 8080\n"
        "    uses: [orders]\n"
    )
    result = diff(text, text.replace("\nenvironments:", app + "\nenvironments:"))
    stacks = stacks_of(result)
    # On GCP the identity stack makes the app's service account (no other
    # deployer may manage service accounts): it gains that account alone.
    expected = ["01-identity", "06-apps/reports"] if cloud == "gcp" else ["06-apps/reports"]
    assert list(stacks) == expected, {d: s["status"] for d, s in stacks.items()}
    assert stacks["06-apps/reports"]["status"] == "added"
    assert {r["change"] for r in stacks["06-apps/reports"]["resources"]} == {"create"}
    if cloud == "gcp":
        made = {(r["change"], r["name"]) for r in stacks["01-identity"]["resources"]}
        assert made == {
            ("create", "acme-app-reports"),
            ("create", "acme-app-reports-workload-identity"),
        }


def test_a_stack_is_affected_only_when_an_output_it_reads_changes() -> None:
    """A cluster change whose exports keep their values affects no one; made to
    change `kubeconfig` (through the plan's runner), every reader is affected."""
    text = sample("aws")
    newer = text.replace('version: "1.35"', 'version: "1.36"')
    assert newer != text
    plain = diff(text, newer)
    # The cluster autoscaler's image follows the cluster's minor version.
    assert [s.dir for s in plain.environments[0].stacks] == ["03-cluster", "04-cluster-services"]

    def runner(program_dir, **options):
        run = run_program(program_dir, **options)
        if "/new/" in str(program_dir) and options["project"] == "acme-cluster":
            run.exports["kubeconfig"] = "another cluster"
        return run

    result = diff(text, newer, runner=runner)
    statuses = {s.dir: s.status for s in result.environments[0].stacks}
    assert statuses["03-cluster"] == statuses["04-cluster-services"] == "changed"
    readers = {d for d, status in statuses.items() if status == "affected"}
    assert readers == {"05-app-services"} | {
        f"06-apps/{a}"
        for a in ("storefront", "checkout", "order-worker", "admin", "nightly-report", "search")
    }
    affected = next(s for s in result.environments[0].stacks if s.dir == "06-apps/admin")
    assert affected.reads_changed == ["03-cluster.kubeconfig"]
    assert "01-identity" not in statuses and "02-managed-infra" not in statuses


def test_only_the_stacks_that_differ_and_their_upstreams_are_planned() -> None:
    planned = []

    def runner(program_dir, **options):
        planned.append((Path(program_dir).parent.name, options["project"]))
        return run_program(program_dir, **options)

    text = sample("aws")
    diff(text, text.replace("checkout:2.0.1", "checkout:2.0.2"), runner=runner)
    changed = [p for p in planned if p[1] == "acme-app-checkout"]
    assert len(changed) == 2, "the changed stack, once on each side"
    others = [project for _, project in planned if project != "acme-app-checkout"]
    assert sorted(others) == sorted(set(others)), "an unchanged stack is planned once for both"
    assert "acme-app-admin" not in others and "acme-app-storefront" not in others


# --- the change tables ---------------------------------------------------------------------


def _sdk_class(token: str):
    """The SDK class of a type token, e.g. aws:rds/instance:Instance -> pulumi_aws.rds.Instance."""
    import importlib

    package, module, name = token.split(":")
    if package == "kubernetes":
        if module.startswith("helm.sh/"):
            return importlib.import_module("pulumi_kubernetes.helm.v3").Release
        group, version = module.rsplit("/", 1)
        group = group.split(".")[0] if "." in group else group
        path = f"pulumi_kubernetes.{group}.{version}"
        return getattr(importlib.import_module(path), name, None)
    root = {
        "aws": "pulumi_aws",
        "eks": "pulumi_eks",
        "gcp": "pulumi_gcp",
        "azure-native": "pulumi_azure_native",
    }[package]
    if module == "index":
        return getattr(importlib.import_module(root), name)
    return getattr(importlib.import_module(f"{root}.{module.split('/')[0]}"), name)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def test_every_input_a_table_names_is_an_input_of_its_sdk_class() -> None:
    import inspect

    tables = change_tables()
    for token, fields in tables.replaced_on_change.items():
        if token.startswith("pulumi:providers:") or not fields:
            continue
        try:
            cls = _sdk_class(token)
        except ImportError:
            continue  # that cloud's SDK is not installed
        if cls is None:  # a custom resource kind (CustomResource carries any spec)
            continue
        # Wire names: a parameter's camelCase, or the name its getter declares.
        module_source = inspect.getsource(inspect.getmodule(cls))
        accepted = {
            _camel(name.rstrip("_")) for name in inspect.signature(cls._internal_init).parameters
        } | set(re.findall(r'getter\(name="([^"]+)"\)', module_source))
        for field in fields:
            assert field.split(".")[0] in accepted, f"{token}: {field}"


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_every_type_a_sample_emits_is_in_the_tables(cloud: str, tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(sample(cloud))
    assert compile_file(tmp_path / "platform.yaml", tmp_path / "out").files
    result = plan_tree(tmp_path / "out", "dev")
    assert result.ok
    tables = change_tables()
    emitted = {r.type for s in result.stacks for r in s.resources if r.operation == "register"}
    missing = sorted(emitted - set(tables.replaced_on_change))
    assert not missing, f"add these to crosswalk.providers.<cloud>.changes: {missing}"
    # What holds data is protected where it is made.
    for stack in result.stacks:
        for record in stack.resources:
            if record.type in tables.stateful and record.operation == "register":
                assert record.protect, (stack.dir, record.type, record.name)


def test_a_replaced_provider_replaces_what_it_manages() -> None:
    text = sample("aws")
    moved = text.replace("region: us-west-2", "region: us-east-1")
    result = diff(text, moved)
    identity = stacks_of(result)["01-identity"]
    assert {r["change"] for r in identity["resources"]} == {"replace"}
    notes = render_text(result)
    assert "its provider is replaced" in notes


# --- git revisions -------------------------------------------------------------------------


def git(repository: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repository,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "platform.yaml").write_text(sample("aws"))
    git(repo, "add", "platform.yaml")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "checkout", "-q", "-b", "bump")
    (repo / "platform.yaml").write_text(sample("aws").replace("checkout:2.0.1", "checkout:2.0.2"))
    git(repo, "commit", "-q", "-am", "bump checkout")
    return repo


def test_revisions_of_the_platform_file_are_read_with_git(repository: Path) -> None:
    file = str(repository / "platform.yaml")
    result = CliRunner().invoke(
        main, ["diff", "main", "HEAD", "--file", file, "--env", "dev", "--json"]
    )
    assert result.exit_code == 1, result.output
    [environment] = json.loads(result.output)["environments"]
    assert [s["dir"] for s in environment["stacks"]] == ["06-apps/checkout"]
    same = CliRunner().invoke(main, ["diff", "HEAD", "HEAD", "--file", file, "--env", "dev"])
    assert same.exit_code == 0, same.output


def test_base_compares_the_merge_base_with_the_file_on_disk(repository: Path, monkeypatch) -> None:
    monkeypatch.chdir(repository)
    # main moves on after the branch left it: --base still compares from where it left.
    git(repository, "checkout", "-q", "main")
    (repository / "platform.yaml").write_text(sample("aws").replace("admin:0.9.0", "admin:1.0.0"))
    git(repository, "commit", "-q", "-am", "admin on main")
    git(repository, "checkout", "-q", "bump")
    result = CliRunner().invoke(main, ["diff", "--base", "main", "--env", "dev", "--json"])
    assert result.exit_code == 1, result.output
    [environment] = json.loads(result.output)["environments"]
    assert [s["dir"] for s in environment["stacks"]] == ["06-apps/checkout"]


def test_git_errors_are_clear(repository: Path, tmp_path: Path) -> None:
    file = str(repository / "platform.yaml")
    unknown = CliRunner().invoke(main, ["diff", "nope", "HEAD", "--file", file])
    assert unknown.exit_code == 2
    assert "'nope' is not a revision of this repository" in unknown.output
    (repository / "other.yaml").write_text("x: 1\n")
    missing = CliRunner().invoke(
        main, ["diff", "main", "HEAD", "--file", str(repository / "other.yaml")]
    )
    assert missing.exit_code == 2 and "does not exist at revision 'main'" in missing.output
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "platform.yaml").write_text(sample("aws"))
    lone = CliRunner().invoke(
        main, ["diff", "main", "HEAD", "--file", str(outside / "platform.yaml")]
    )
    assert lone.exit_code == 2 and "is not in a git repository" in lone.output


def test_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(sample("aws"))
    assert CliRunner().invoke(main, ["diff", str(tmp_path / "a.yaml")]).exit_code == 2
    both = CliRunner().invoke(
        main, ["diff", "--base", "main", str(tmp_path / "a.yaml"), str(tmp_path / "a.yaml")]
    )
    assert both.exit_code == 2 and "--base" in both.output
    clash = CliRunner().invoke(
        main,
        [
            "diff",
            str(tmp_path / "a.yaml"),
            str(tmp_path / "a.yaml"),
            "--json",
            "--format",
            "markdown",
        ],
    )
    assert clash.exit_code == 2
    broken = tmp_path / "b.yaml"
    broken.write_text(sample("aws").replace("uses: [cache,", "uses: [nope,"))
    result = CliRunner().invoke(main, ["diff", str(tmp_path / "a.yaml"), str(broken)])
    assert result.exit_code == 2 and "error[CW303]" in result.output
    gone = CliRunner().invoke(main, ["diff", str(tmp_path / "a.yaml"), str(tmp_path / "none.yaml")])
    assert gone.exit_code == 2 and "no such file" in gone.output


# --- the pull-request comment --------------------------------------------------------------


def test_markdown_for_a_pull_request_comment() -> None:
    """A sample change: the orders database renamed without renamedFrom (destructive),
    the checkout image bumped, in both environments."""
    text = sample("aws")
    new = renamed_datastore(text, keep=False).replace("checkout:2.0.1", "checkout:2.0.2")
    result = diff_sources(source(text, "platform.yaml at main"), source(new, "platform.yaml"), None)
    rendered = render_markdown(result)
    golden = GOLDEN / "rename-and-bump.md"
    if ACCEPT:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert rendered == golden.read_text(), "CROSSWALK_ACCEPT=1 rewrites the golden"
    # Destructive first: the summary table's first row, and a warning above it.
    table = [line for line in rendered.splitlines() if line.startswith(("| dev", "| prod"))]
    assert "destructive" in table[0]
    assert rendered.index("[!CAUTION]") < rendered.index("| environment |")
    assert rendered.count("<details>") == rendered.count("</details>") == len(table)


def test_cli_formats_and_exit_codes(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(sample("aws"))
    new.write_text(renamed_datastore(sample("aws"), keep=False))
    text = CliRunner().invoke(main, ["diff", str(old), str(new), "--env", "dev"])
    assert text.exit_code == 3 and "DESTRUCTIVE" in text.output
    markdown = CliRunner().invoke(
        main, ["diff", str(old), str(new), "--env", "dev", "--format", "markdown"]
    )
    assert markdown.exit_code == 3 and markdown.output.startswith("### crosswalk diff")
    as_json = CliRunner().invoke(
        main, ["diff", str(old), str(new), "--env", "dev", "--format", "json"]
    )
    assert as_json.exit_code == 3
    data = json.loads(as_json.output)
    assert set(data) == {"environments"}
    for environment in data["environments"]:
        assert set(environment) == {"name", "stacks"}
        for stack in environment["stacks"]:
            assert set(stack) == {"dir", "status", "resources"}
            assert stack["status"] in ("changed", "affected", "added", "removed")
            for resource in stack["resources"]:
                assert set(resource) == {"type", "name", "change", "destructive", "paths"}
                assert resource["change"] in ("create", "update", "delete", "replace")


def test_secret_values_never_reach_the_output() -> None:
    text = sample("aws")
    result = diff(text, renamed_datastore(text, keep=True))
    everything = render_text(result) + render_markdown(result) + json.dumps(diff_json(result))
    assert "offline-secret" not in everything and "Secret(" not in everything
    assert diff_module.EXIT_DESTRUCTIVE == 3
