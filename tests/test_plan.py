"""`crosswalk plan --offline` on hand-written compiled trees (tests/plan_fixtures/).

`acme/`: a cluster stack (aws.Provider, VPC, subnets, IAM role, aws.eks.Cluster, a secret
kubeconfig export), an app-services stack and an app reading it through StackReferences
(kubernetes.Provider, Namespace, Deployment with depends_on, Service, helm Release), an app that
fails and one that depends on it. `edge/`: pulumi-eks components with resource-reference inputs
and a component method, an unknown invoke, a missing upstream export and a GCP program.
"""

from __future__ import annotations

import faulthandler
import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from crosswalk.compiler import mocks
from crosswalk.compiler.mock_outputs import MockError, UnknownInvokeError
from crosswalk.compiler.mock_values import SECRET_MASK, Secret
from crosswalk.compiler.mocks import PINNED_PULUMI
from crosswalk.compiler.plan import PlanInputError, load_stack_config, plan_tree
from crosswalk.compiler.plan_cli import plan_command
from crosswalk.compiler.plan_manifests import render_manifests
from crosswalk.compiler.plan_render import plan_json, render_json, render_text

FIXTURES = Path(__file__).parent / "plan_fixtures"
ACME = FIXTURES / "acme"
EDGE = FIXTURES / "edge"


@pytest.fixture(autouse=True)
def no_hang():
    """A regression to the stock monitor's hang must fail the run, not stall it forever."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def acme():
    return plan_tree(ACME, "dev")


@pytest.fixture(scope="module")
def edge():
    return plan_tree(EDGE, "dev")


def by_name(stack, type_, name):
    matches = [r for r in stack.resources if r.type == type_ and r.name == name]
    assert len(matches) == 1, [(r.type, r.name) for r in stack.resources]
    return matches[0]


def urn(project, type_path, name, env="dev"):
    return f"urn:pulumi:{env}::{project}::{type_path}::{name}"


# --------------------------------------------------------------------------------------------
# The SDK internals this relies on.


def test_sdk_internals_are_the_pinned_ones():
    """Fails loudly when a pulumi upgrade moves what mocks.py relies on: re-check, then re-pin."""
    from importlib.metadata import version

    assert version("pulumi") == PINNED_PULUMI
    assert mocks.check_sdk() == []
    from pulumi.runtime.mocks import MockMonitor

    assert issubclass(mocks.monitor_class(), MockMonitor)


# --------------------------------------------------------------------------------------------
# What the acme tree registers.


def test_statuses_and_order(acme):
    assert [(s.dir, s.status) for s in acme.stacks] == [
        ("03-cluster", "ok"),
        ("05-app-services", "ok"),
        ("06-apps/broken", "failed"),
        ("06-apps/storefront", "ok"),
        ("06-apps/worker", "skipped"),
    ]
    assert acme.exit_code == 1
    for stack in acme.stacks:
        assert [r.urn for r in stack.resources] == sorted(r.urn for r in stack.resources)


def test_cluster_resources_with_parents_providers_and_dependencies(acme):
    cluster = acme.stack("03-cluster")
    project = "acme-cluster"
    provider = urn(project, "pulumi:pulumi:Stack$pulumi:providers:aws", "aws")
    vpc = by_name(cluster, "aws:ec2/vpc:Vpc", "acme-vpc")
    role = by_name(cluster, "aws:iam/role:Role", "acme-cluster-role")
    eks = by_name(cluster, "aws:eks/cluster:Cluster", "acme-cluster")
    subnets = [r for r in cluster.resources if r.type == "aws:ec2/subnet:Subnet"]

    assert vpc.provider == provider and vpc.parent == urn(
        project, "pulumi:pulumi:Stack", "acme-cluster-dev"
    )
    assert [s.name for s in subnets] == ["acme-private-us-west-2a", "acme-private-us-west-2b"]
    for subnet in subnets:
        assert subnet.parent == vpc.urn
        assert subnet.urn.startswith(
            f"urn:pulumi:dev::{project}::aws:ec2/vpc:Vpc$aws:ec2/subnet:Subnet::"
        )
        assert subnet.property_dependencies["vpcId"] == [vpc.urn]
        assert subnet.inputs["vpcId"].startswith("vpc-")  # the made-up id flowed into the input
    assert eks.provider == provider
    assert eks.dependencies == sorted([role.urn, *(s.urn for s in subnets)])
    assert eks.property_dependencies["roleArn"] == [role.urn]
    assert eks.inputs["name"] == "acme-dev"
    assert eks.inputs["roleArn"] == "arn:aws:iam::123456789012:role/acme-cluster-role"
    assert eks.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert eks.inputs["vpcConfig"]["subnetIds"] == [s.id for s in subnets]
    # The policy document invoke answered with a real IAM document (camelCase args in, JSON out).
    policy = json.loads(role.inputs["assumeRolePolicy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "eks.amazonaws.com"},
        }
    ]
    assert eks.origin == "cluster" and vpc.origin == "network"


def test_exports_and_secrets(acme):
    exports = acme.stack("03-cluster").exports
    assert exports["clusterName"] == "acme-dev"
    assert exports["oidcIssuer"].startswith("https://oidc.eks.us-west-2.amazonaws.com/id/")
    assert isinstance(exports["kubeconfig"], Secret)
    kubeconfig = json.loads(exports["kubeconfig"].value)
    assert kubeconfig["clusters"][0]["cluster"]["server"].endswith(".eks.amazonaws.com")
    assert "kubeconfig" not in repr(exports["kubeconfig"]) and "Secret(***)" == repr(
        exports["kubeconfig"]
    )


def test_exports_flow_through_stack_references(acme):
    services = acme.stack("05-app-services")
    reference = by_name(services, "pulumi:pulumi:StackReference", "organization/acme-cluster/dev")
    assert reference.operation == "read" and reference.inputs == {
        "name": "organization/acme-cluster/dev"
    }
    provider = by_name(services, "pulumi:providers:kubernetes", "k8s")
    assert isinstance(provider.inputs["kubeconfig"], Secret)  # the secret stayed secret downstream
    assert (
        provider.inputs["kubeconfig"].value == acme.stack("03-cluster").exports["kubeconfig"].value
    )
    assert services.exports["clusterName"] == "acme-dev"
    # Two references deep: storefront reads app-services, which read cluster.
    assert acme.stack("06-apps/storefront").exports == {
        "ingressNamespace": "envoy-gateway-system",
        "url": "http://storefront.payments.svc",
    }


def test_kubernetes_objects_and_helm_release(acme):
    app = acme.stack("06-apps/storefront")
    provider = by_name(app, "pulumi:providers:kubernetes", "k8s")
    namespace = by_name(app, "kubernetes:core/v1:Namespace", "payments")
    deployment = by_name(app, "kubernetes:apps/v1:Deployment", "storefront")
    service = by_name(app, "kubernetes:core/v1:Service", "storefront")
    assert deployment.provider == provider.urn == namespace.provider
    assert namespace.urn in deployment.dependencies  # depends_on
    assert deployment.property_dependencies["metadata"] == [namespace.urn]
    assert service.parent == deployment.urn
    spec = deployment.inputs["spec"]
    # pulumi-kubernetes sends wire (camelCase) names even for snake_case dict keys.
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/component": "web",
        "app.kubernetes.io/name": "storefront",
    }
    assert spec["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 8080, "name": "http"}
    ]
    assert spec["replicas"] == 3 and type(spec["replicas"]) is int
    assert (
        deployment.inputs["apiVersion"] == "apps/v1" and deployment.inputs["kind"] == "Deployment"
    )
    assert deployment.origin == "apps.storefront"

    release = by_name(
        acme.stack("05-app-services"), "kubernetes:helm.sh/v3:Release", "envoy-gateway"
    )
    assert release.inputs["chart"] == "oci://docker.io/envoyproxy/gateway-helm"
    assert release.inputs["values"] == {"deployment": {"replicas": 2}}
    assert release.inputs["namespace"] == "envoy-gateway-system"


def test_secrets_never_rendered(acme):
    password = by_name(
        acme.stack("05-app-services"), "kubernetes:core/v1:Secret", "orders-credentials"
    )
    plain_password = password.inputs["stringData"].value["password"]
    kubeconfig = acme.stack("03-cluster").exports["kubeconfig"].value
    text = render_text(acme)
    as_json = render_json(acme)
    manifests = "".join(render_manifests(acme).values())
    for rendered in (text, as_json, manifests):
        assert plain_password not in rendered
        assert kubeconfig not in rendered and "certificate-authority-data" not in rendered
    assert f"kubeconfig = {SECRET_MASK}" in text
    # A secret mapping keeps its keys, so the Secret manifest stays well formed.
    assert plan_json(acme)["stacks"][1]["resources"][1]["inputs"]["stringData"] == {
        "password": SECRET_MASK,
        "username": SECRET_MASK,
    }


def test_failure_reports_the_platform_line_and_skips_dependents(acme):
    broken = acme.stack("06-apps/broken")
    assert "acme-app-broken:replicas" in broken.error.message
    assert broken.error.message.startswith("ConfigMissingError: ")
    assert (broken.error.program_line, broken.error.origin) == (14, "apps.broken.env")
    assert [r.type for r in broken.resources] == [
        "pulumi:providers:kubernetes",
        "pulumi:pulumi:StackReference",
    ]
    worker = acme.stack("06-apps/worker")
    assert worker.error.skipped and "06-apps/broken (failed)" in worker.error.message
    assert worker.resources == []  # its program raises AssertionError if it ever runs
    text = render_text(acme)
    assert "at 06-apps/broken/__main__.py:14 (from apps.broken.env)" in text
    assert "06-apps/worker (acme-app-worker): skipped, depends on 06-apps/broken (failed)" in text
    assert text.rstrip().endswith("total: 17 resources in 3 stacks; 1 failed, 1 skipped")


def test_text_groups_resources_by_type(acme):
    text = render_text(acme)
    assert "03-cluster (acme-cluster): 6 resources" in text
    assert "  2  aws:ec2/subnet:Subnet\n  1  aws:ec2/vpc:Vpc\n  1  aws:eks/cluster:Cluster" in text


def test_json_is_deterministic_and_minimal(acme):
    data = plan_json(acme)
    stack = data["stacks"][0]
    assert set(stack) == {"dir", "project", "status", "resources", "exports", "error"}
    assert set(stack["resources"][0]) == {"type", "name", "inputs"}
    assert [(r["type"], r["name"]) for r in stack["resources"]] == sorted(
        (r["type"], r["name"]) for r in stack["resources"]
    )
    assert data["stacks"][2]["error"]["origin"] == "apps.broken.env"
    assert render_json(acme) == render_json(acme)
    assert '"replicas": 3,' in render_json(acme) and '"replicas": 3.0' not in render_json(acme)


def test_manifests(acme):
    files = render_manifests(acme)
    assert sorted(files) == ["05-app-services.yaml", "06-apps_storefront.yaml"]
    storefront = files["06-apps_storefront.yaml"]
    documents = [d for d in yaml.safe_load_all(storefront) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("Namespace", "payments"),
        ("Service", "storefront"),
        ("Deployment", "storefront"),
    ]
    deployment = documents[2]
    assert deployment["apiVersion"] == "apps/v1" and deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["namespace"] == "payments"
    assert documents[0]["apiVersion"] == "v1"
    services = files["05-app-services.yaml"]
    assert (
        "# helm release envoy-gateway: chart oci://docker.io/envoyproxy/gateway-helm v1.2.1"
        in services
    )
    assert [d["kind"] for d in yaml.safe_load_all(services) if d] == ["Namespace", "Secret"]
    assert render_manifests(acme) == files


def test_other_environment_and_stack_selection():
    prod = plan_tree(ACME, "prod", only=["06-apps/storefront"])
    assert [s.dir for s in prod.stacks] == ["03-cluster", "05-app-services", "06-apps/storefront"]
    assert prod.ok
    assert prod.stack("03-cluster").exports["oidcIssuer"].startswith("https://oidc.eks.eu-west-1.")
    deployment = by_name(
        prod.stack("06-apps/storefront"), "kubernetes:apps/v1:Deployment", "storefront"
    )
    assert deployment.inputs["spec"]["replicas"] == 5
    assert deployment.urn.startswith("urn:pulumi:prod::acme-app-storefront::")
    assert [s["dir"] for s in plan_json(prod, only=["06-apps/storefront"])["stacks"]] == [
        "06-apps/storefront"
    ]
    with pytest.raises(PlanInputError, match="staging"):
        plan_tree(ACME, "staging")
    with pytest.raises(PlanInputError, match="no stack 'nope'"):
        plan_tree(ACME, "dev", only=["nope"])


def test_repeated_runs_in_one_process(acme):
    """16 more runs, failing ones among them: same results, nothing leaks between programs."""
    before_modules, before_cwd, before_path = set(sys.modules), os.getcwd(), list(sys.path)
    expected = render_json(acme)
    for _ in range(4):
        again = plan_tree(ACME, "dev")
        assert render_json(again) == expected
    assert "labels" not in sys.modules  # the storefront's helper module was purged
    assert os.getcwd() == before_cwd and sys.path == before_path
    assert not {
        m for m in set(sys.modules) - before_modules if not m.startswith(("pulumi", "google"))
    }


# --------------------------------------------------------------------------------------------
# The edge tree.


def test_eks_components_with_resource_references_and_call(edge):
    cluster = edge.stack("03-cluster")
    assert cluster.status == "ok", cluster.error
    project = "edge-cluster"
    component = by_name(cluster, "eks:index:Cluster", "edge")
    role = by_name(cluster, "aws:iam/role:Role", "nodes")
    nodes = by_name(cluster, "eks:index:ManagedNodeGroup", "general")
    assert component.remote and not component.custom
    # Resource references arrive as URN strings (the stock monitor rehydrates them and hangs).
    assert nodes.inputs["cluster"] == component.urn
    assert nodes.inputs["nodeRole"] == role.urn
    assert component.inputs["instanceRoles"] == [role.urn]
    assert nodes.inputs["scalingConfig"] == {"desiredSize": 2, "maxSize": 3, "minSize": 1}
    # kubernetes.Provider from the component's made-up kubeconfigJson.
    provider = by_name(cluster, "pulumi:providers:kubernetes", "k8s")
    assert json.loads(provider.inputs["kubeconfig"])["current-context"] == "edge"
    namespace = by_name(cluster, "kubernetes:core/v1:Namespace", "team")
    assert namespace.provider == provider.urn
    # Cluster.get_kubeconfig() is a Call: answered from the component's recorded outputs.
    kubeconfig = json.loads(cluster.exports["kubeconfig"].value)
    assert kubeconfig["users"][0]["user"]["exec"]["args"][-2:] == [
        "--role-arn",
        "arn:aws:iam::123456789012:role/nodes",
    ]
    assert cluster.exports["oidcProviderArn"].startswith(
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/"
    )
    assert nodes.urn == urn(project, "pulumi:pulumi:Stack$eks:index:ManagedNodeGroup", "general")


def test_unknown_invoke_fails_loudly(edge):
    stack = edge.stack("06-apps/unknown-invoke")
    assert stack.status == "failed"
    assert stack.error.message.startswith(
        "UnknownInvokeError: no offline answer for invoke 'aws:ec2/getAmi:getAmi'"
    )
    assert stack.error.origin == "apps.unknown-invoke"
    assert edge.stack("06-apps/gcp-app").status == "ok"  # independent stacks still ran


def test_missing_upstream_export_points_at_the_resource(edge):
    stack = edge.stack("06-apps/missing-output")
    assert stack.status == "failed"
    assert "require_output('ingressDomain')" in stack.error.message
    assert "it exports: kubeconfig, oidcProviderArn" in stack.error.message
    assert "while registering kubernetes:core/v1:ConfigMap 'settings'" in stack.error.message
    assert (stack.error.program_line, stack.error.origin) == (12, "apps.missing-output.uses")


def test_gcp_outputs(edge):
    account = by_name(edge.stack("06-apps/gcp-app"), "gcp:serviceaccount/account:Account", "app")
    assert account.inputs == {"accountId": "edge-app"}
    assert edge.stack("06-apps/gcp-app").exports == {
        "email": "edge-app@edge-project.iam.gserviceaccount.com"
    }


def test_missing_provider_sdk_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pulumi_gcp", None)  # `import pulumi_gcp` now fails
    result = plan_tree(EDGE, "dev", only=["06-apps/gcp-app"])
    error = result.stack("06-apps/gcp-app").error
    assert error.message.startswith("ModuleNotFoundError")
    assert error.hint == "pulumi_gcp is not installed: pip install 'crosswalk[gcp]'"
    assert "help: pulumi_gcp is not installed: pip install 'crosswalk[gcp]'" in render_text(result)
    monkeypatch.setitem(
        sys.modules, "pulumi", None
    )  # no SDK at all: the hint comes from requirements.txt
    monkeypatch.setitem(sys.modules, "pulumi.runtime.mocks", None)
    error = (
        plan_tree(EDGE, "dev", only=["06-apps/unknown-invoke"])
        .stack("06-apps/unknown-invoke")
        .error
    )
    assert error.hint == "pulumi is not installed: pip install 'crosswalk[aws]'"


def test_unknown_invoke_error_type():
    assert issubclass(UnknownInvokeError, MockError)


# --------------------------------------------------------------------------------------------
# The command.


def test_cli_requires_offline():
    result = CliRunner().invoke(plan_command, [str(ACME)])
    assert result.exit_code == 2
    assert "--offline" in result.output and "crosswalk preview" in result.output


def test_cli_text_json_and_manifests(tmp_path):
    runner = CliRunner()
    result = runner.invoke(plan_command, [str(ACME), "--offline"])
    assert result.exit_code == 1, result.output
    assert "06-apps/broken (acme-app-broken): FAILED" in result.output
    out = tmp_path / "manifests"
    result = runner.invoke(
        plan_command,
        [
            str(ACME),
            "--offline",
            "--json",
            "--stack",
            "06-apps/storefront",
            "--manifests",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [s["dir"] for s in data["stacks"]] == ["06-apps/storefront"]
    assert sorted(p.name for p in out.iterdir()) == ["06-apps_storefront.yaml"]


def test_cli_usage_errors(tmp_path):
    runner = CliRunner()
    assert runner.invoke(plan_command, [str(tmp_path / "missing"), "--offline"]).exit_code == 2
    result = runner.invoke(plan_command, [str(tmp_path), "--offline"])
    assert result.exit_code == 2 and "crosswalk.stacks.json" in result.output
    result = runner.invoke(plan_command, [str(ACME), "--offline", "--env", "staging"])
    assert result.exit_code == 2 and "staging" in result.output


def test_cli_compiles_a_platform_file_first(tmp_path, monkeypatch):
    calls = []

    def compile_file(file, out_dir, env, today=None):  # stands in for the compiler
        calls.append((Path(file).name, env))
        shutil.copytree(ACME, out_dir)

    monkeypatch.setitem(
        sys.modules, "crosswalk.compiler.emit", types.SimpleNamespace(compile_file=compile_file)
    )
    platform = tmp_path / "platform.yaml"
    platform.write_text("apiVersion: crosswalk/v1\n", encoding="utf-8")
    result = CliRunner().invoke(plan_command, [str(platform), "--offline", "--stack", "03-cluster"])
    assert result.exit_code == 0, result.output
    assert calls == [("platform.yaml", None)]  # every environment; the plan picks dev
    assert "03-cluster (acme-cluster): 6 resources" in result.output


def test_stack_config_as_the_cli_passes_it(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text(
        "name: demo\nruntime: python\nconfig:\n  demo:tier: {default: small}\n  owner: platform\n"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n"
        "  demo:replicas: 3\n"
        "  demo:public: false\n"
        "  demo:cidrs: [10.0.0.0/16]\n"
        "  demo:tags: {team: payments}\n"
        "  demo:ratio: 0.5\n"
        "  demo:password: {secure: AAABAMockCipherText}\n"
        "  aws:region: us-east-1\n"
    )
    config, secret_keys = load_stack_config(tmp_path, "demo", "dev")
    assert config == {
        "demo:tier": "small",
        "demo:owner": "platform",
        "demo:replicas": "3",
        "demo:public": "false",
        "demo:cidrs": '["10.0.0.0/16"]',
        "demo:tags": '{"team": "payments"}',
        "demo:ratio": "0.5",
        "demo:password": "offline-secret-demo:password",
        "aws:region": "us-east-1",
    }
    assert secret_keys == ["demo:password"]


def test_reference_to_a_stack_not_planned_before(tmp_path):
    shutil.copytree(ACME / "06-apps" / "storefront", tmp_path / "06-apps" / "storefront")
    (tmp_path / "crosswalk.stacks.json").write_text(
        json.dumps(
            {
                "platform": "acme",
                "environments": ["dev"],
                "stacks": [{"dir": "06-apps/storefront", "project": "acme-app-storefront"}],
            }
        )
    )
    error = plan_tree(tmp_path, "dev").stack("06-apps/storefront").error
    assert "StackReference 'organization/acme-cluster/dev'" in error.message
    assert "missing from dependsOn" in error.message
    assert error.program_line == 10


def test_transforms_are_reported_not_silently_ignored(tmp_path):
    program = tmp_path / "01-identity"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: demo-identity\nruntime: python\n")
    (program / "__main__.py").write_text(
        "import pulumi\n"
        "import pulumi_kubernetes as k8s\n\n"
        "def label(args):\n"
        "    return None\n\n"
        "pulumi.runtime.register_resource_transform(label)\n"
        "provider = k8s.Provider('k8s', kubeconfig='{}')\n"
        "k8s.core.v1.Namespace('ns', opts=pulumi.ResourceOptions(provider=provider))\n"
    )
    stacks = [{"dir": "01-identity", "project": "demo-identity", "dependsOn": []}]
    (tmp_path / "crosswalk.stacks.json").write_text(
        json.dumps({"platform": "demo", "stacks": stacks})
    )
    stack = plan_tree(tmp_path).stack("01-identity")
    assert stack.status == "ok", stack.error
    assert [r.type for r in stack.resources] == [
        "kubernetes:core/v1:Namespace",
        "pulumi:providers:kubernetes",
    ]
    assert any("stack transform 'label' is not applied offline" in m for _, m in stack.logs)


def test_aliases_and_protect_are_recorded_as_the_engine_receives_them(tmp_path):
    program = tmp_path / "03-cluster"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: demo-cluster\nruntime: python\n")
    (program / "__main__.py").write_text(
        "import pulumi\n"
        "import pulumi_kubernetes as k8s\n\n"
        "provider = k8s.Provider('k8s', kubeconfig='{}')\n"
        "k8s.core.v1.Namespace('billing', metadata={'name': 'payments'}, opts=pulumi.ResourceOptions(\n"
        "    provider=provider, protect=True,\n"
        "    aliases=[pulumi.Alias(name='payments'), 'urn:pulumi:dev::old::kubernetes:core/v1:Namespace::x'],\n"
        "))\n"
        "k8s.core.v1.Namespace('plain', opts=pulumi.ResourceOptions(provider=provider))\n"
    )
    stacks = [{"dir": "03-cluster", "project": "demo-cluster", "dependsOn": []}]
    (tmp_path / "crosswalk.stacks.json").write_text(
        json.dumps({"platform": "demo", "stacks": stacks})
    )
    result = plan_tree(tmp_path)
    stack = result.stack("03-cluster")
    assert stack.status == "ok", stack.error
    billing = by_name(stack, "kubernetes:core/v1:Namespace", "billing")
    assert billing.protect is True
    assert billing.aliases == [
        {"name": "payments"},
        {"urn": "urn:pulumi:dev::old::kubernetes:core/v1:Namespace::x"},
    ]
    plain = by_name(stack, "kubernetes:core/v1:Namespace", "plain")
    assert plain.protect is False and plain.aliases == []
    shown = {r["name"]: r for r in plan_json(result)["stacks"][0]["resources"]}
    assert shown["billing"]["protect"] is True and shown["billing"]["aliases"][0] == {
        "name": "payments"
    }
    assert "protect" not in shown["plain"] and "aliases" not in shown["plain"]


def test_the_compilers_aws_sample_plans_clean(tmp_path):
    """The contract with `crosswalk compile`: what it emits for the AWS sample plans offline."""
    emit = pytest.importorskip("crosswalk.compiler.emit")
    sample = Path(__file__).parent.parent / "samples" / "aws" / "platform.yaml"
    compiled = emit.compile_file(sample, tmp_path / "out", None)
    if not compiled.files:
        pytest.skip(f"the compiler rejects the sample today: {compiled.report.sorted()[:1]}")
    result = plan_tree(tmp_path / "out", "dev")
    assert [(s.dir, s.status) for s in result.stacks if s.status != "ok"] == []
    assert result.stacks[0].dir == "01-identity" and len(result.stacks) >= 6
    kinds = {
        r.type.rsplit(":", 1)[-1]
        for s in result.stacks
        for r in s.resources
        if r.type.startswith("kubernetes:") and "helm" not in r.type
    }
    assert {"Namespace", "Deployment", "NetworkPolicy"} <= kinds
    for text in render_manifests(result).values():
        assert all(d["apiVersion"] and d["metadata"]["name"] for d in yaml.safe_load_all(text) if d)


def test_an_sdk_other_than_the_pinned_one_is_called_out(monkeypatch):
    monkeypatch.setattr(mocks, "PINNED_PULUMI", "0.0.1")
    result = plan_tree(ACME, "dev", only=["03-cluster"])
    expected = f"pulumi {PINNED_PULUMI} is installed; crosswalk plan is pinned to 0.0.1"
    assert result.warnings == [f"{expected}; the offline plan may be wrong"]
    assert render_text(result).splitlines()[1] == f"warning: {result.warnings[0]}"
    assert plan_json(result)["warnings"] == result.warnings


def test_unreadable_stack_config_fails_that_stack_only(tmp_path):
    shutil.copytree(ACME, tmp_path / "acme")
    (tmp_path / "acme" / "06-apps" / "storefront" / "Pulumi.dev.yaml").write_text(
        "config: [unclosed\n"
    )
    result = plan_tree(tmp_path / "acme", "dev", only=["06-apps/storefront"])
    assert [(s.dir, s.status) for s in result.stacks] == [
        ("03-cluster", "ok"),
        ("05-app-services", "ok"),
        ("06-apps/storefront", "failed"),
    ]
    assert "Pulumi.dev.yaml: invalid YAML" in result.stack("06-apps/storefront").error.message


def test_shell_config_does_not_leak_into_a_plan(tmp_path: Path, monkeypatch) -> None:
    """The SDK falls back to PULUMI_CONFIG from the environment; a plan uses
    only the stack's own Pulumi.<env>.yaml."""
    from crosswalk.compiler.emit import compile_file

    out = tmp_path / "out"
    compile_file(Path(__file__).resolve().parent.parent / "samples" / "aws" / "platform.yaml", out)
    monkeypatch.setenv("PULUMI_CONFIG", '{"acme-cluster:nodePools.general.min": "99"}')
    result = plan_tree(out, "dev", only=["03-cluster"])
    group = next(
        r
        for r in result.stack("03-cluster").resources
        if r.type == "eks:index:ManagedNodeGroup" and r.name == "acme-general"
    )
    assert group.inputs["scalingConfig"]["minSize"] == 2
    assert os.environ["PULUMI_CONFIG"].endswith('"99"}')  # restored afterwards
