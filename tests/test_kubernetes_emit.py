"""providers/kubernetes/: the namespace and app objects every cloud shares.

A stand-in backend (no cloud resources) calls `emit_namespace` / `emit_app` the
way a real one does, so the programs come out of the real `emit_projects`
(prelude, config, StackReferences, exports). Each program is then compiled,
format-checked, run under the mock runtime with the real pulumi_kubernetes SDK
(what it registers is asserted, as the API server would receive it: camelCase)
and type-checked by pyright against the SDK's TypedDicts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crosswalk.compiler import emit
from crosswalk.compiler.codegen import Code, py_string
from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document, emit_projects
from crosswalk.compiler.graph import build_graph
from crosswalk.compiler.mock_run import run_program
from crosswalk.compiler.mock_values import Secret, reveal
from crosswalk.compiler.model import build_platform
from crosswalk.compiler.writer import write_tree
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.kubernetes import charts

PLATFORM = """\
apiVersion: crosswalk/v1
kind: Platform
name: acme
cloud: {provider: aws, region: us-west-2}
identity:
  teams:
    - {name: platform, access: admin, members: ["arn:aws:iam::123456789012:role/Platform"]}
    - {name: payments, access: developer, namespaces: [payments]}
    - {name: auditors, access: viewer, namespaces: [payments, web]}
cluster:
  nodePools: [{name: general}]
  namespaces:
    - name: payments
      team: payments
      quota: {cpu: "20", memory: 64Gi, pods: 200}
    - name: web
      team: platform
      quota: false
      podSecurity: baseline
      networkPolicy: allow-all
appServices:
  ingress: {controller: envoy-gateway}
  dns: {zone: example.com}
  certificates: {email: ops@example.com}
  datastores: [{name: orders, engine: postgres}]
apps:
  - name: checkout
    namespace: payments
    image: ghcr.io/acme/checkout:2.0.1
    replicas: 2
    port: 8080
    resources: {cpu: 250m, memory: 256Mi}
    env: {ZONE: eu, LOG_LEVEL: info}
    command: [/app/server]
    args: [--verbose]
    uses: [orders]
    ingress: {host: shop.example.com, path: /api}
    autoscale: {min: 2, max: 10, cpuPercent: 60}
    health: {path: /ready, port: 9090}
  - name: worker
    namespace: web
    image: ghcr.io/acme/worker:1.0.0
    replicas: 1
    dependsOn: [checkout]
  - name: reporter
    namespace: payments
    image: ghcr.io/acme/reporter@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    replicas: 1
    dependsOn: [checkout]
environments:
  dev: {}
  prod:
    overrides:
      apps: [{name: checkout, replicas: 4, image: "ghcr.io/acme/checkout:2.1.0"}]
"""

HOSTILE = [
    'x"; import os; os.system("echo pwned") #',
    "'''\"\"\"\\n\\\\ {braces} {{double}} %s $HOME `id`",
    "line\nbreak\r\ttab \u2028 \u2029 \x7f \x85 \x00 é 日本 🚀",
]
UPSTREAM = {
    "kubeconfig": '{"apiVersion": "v1", "kind": "Config"}',
    "gateway_name": "public",
    "gateway_namespace": "gateway",
    "datastore_orders_host": "orders.internal",
    "datastore_orders_password": "s3cr3t",
}
CLOUD_EGRESS = {
    "to": [{"ip_block": {"cidr": "10.0.0.0/16"}}],
    "ports": [{"protocol": "TCP", "port": 5432}],
}
ENVOY_PROXIES = "envoy-gateway-system"


class KubernetesOnly:
    """A backend with no cloud: the shared Kubernetes emission, called as a real backend calls it."""

    cloud = "aws"
    requirements = ()

    def emit_layer(self, ctx: emit.StackContext) -> None:
        program = ctx.program
        if ctx.stack == "03-cluster":
            kubeconfig = Code(f"pulumi.Output.secret({py_string(UPSTREAM['kubeconfig'])})")
            provider = k8s.emit_provider(ctx, kubeconfig, ctx.line(("cluster",)))
            for namespace in ctx.platform.cluster.namespaces:
                k8s.emit_namespace(ctx, provider, namespace)
            program.export("kubeconfig", kubeconfig)
        elif ctx.stack == "05-app-services":
            for key in ("gateway_name", "gateway_namespace", "datastore_orders_host"):
                program.export(key, Code(f"pulumi.Output.from_input({py_string(UPSTREAM[key])})"))
            secret = py_string(UPSTREAM["datastore_orders_password"])
            program.export("datastore_orders_password", Code(f"pulumi.Output.secret({secret})"))
        elif ctx.stack.startswith("06-apps/"):
            app = ctx.platform.app(ctx.stack.split("/", 1)[1])
            assert app is not None
            provider = k8s.emit_provider(
                ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(app.path)
            )
            parts = k8s.AppCloudParts(
                service_account_annotations={
                    "eks.amazonaws.com/role-arn": f"arn:aws:iam::1:role/{app.name}"
                },
                pod_labels={"azure.workload.identity/use": "true"},
                datastore_env={
                    store: {
                        "ORDERS_PASSWORD": ctx.upstream(
                            "05-app-services", f"datastore_{store}_password"
                        ),
                        "ORDERS_HOST": ctx.upstream("05-app-services", f"datastore_{store}_host"),
                        "ORDERS_SSLMODE": "require",
                    }
                    for store in app.uses
                },
                egress=[CLOUD_EGRESS] if app.uses else [],
            )
            k8s.emit_app(ctx, provider, app, parts)


@pytest.fixture(autouse=True, scope="module")
def kubernetes_only_backend():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(emit, "backend_for", lambda cloud: KubernetesOnly())
        yield


def compile_text(text: str) -> dict[str, str]:
    document, problems = parse_document(text.encode(), "platform.yaml")
    assert document is not None, problems
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    return result.files


def config_of(files: dict[str, str], stack: str, env: str) -> dict[str, str]:
    project = yaml.safe_load(files[f"{stack}/Pulumi.yaml"])["name"]
    values = (yaml.safe_load(files[f"{stack}/Pulumi.{env}.yaml"]) or {}).get("config", {})
    as_text = {}
    for key, value in values.items():
        if isinstance(value, str):
            as_text[key] = value
        elif isinstance(value, bool):
            as_text[key] = "true" if value else "false"
        else:
            as_text[key] = json.dumps(value)
    assert all(key.startswith(project + ":") for key in as_text)
    return as_text


def run_tree(files: dict[str, str], root: Path, env: str = "dev") -> dict[str, dict]:
    """Run every stack with Kubernetes objects under the mocks, upstream exports fed downstream.
    Returns {stack: {(type, name): record}}."""
    write_tree(files, root)
    manifest = json.loads(files["crosswalk.stacks.json"])
    exports: dict[str, dict] = {}
    runs = {}
    for entry in manifest["stacks"]:
        stack, project = entry["dir"], entry["project"]
        run = run_program(
            root / stack,
            project=project,
            stack=env,
            config=config_of(files, stack, env),
            stack_outputs=exports,
        )
        assert run.ok, f"{stack}: {run.error!r} at line {run.error_line}"
        exports[project] = run.exports
        records = {(r.type, r.name): r for r in run.resources}
        assert len(records) == len(run.resources), "two resources share a type and name"
        runs[stack] = records
    return runs


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return compile_text(PLATFORM)


@pytest.fixture(scope="module")
def runs(files, tmp_path_factory) -> dict[str, dict]:
    return run_tree(files, tmp_path_factory.mktemp("tree"))


def obj(records: dict, kind: str, name: str) -> dict:
    """The inputs of one Kubernetes object, secrets revealed (kind as in the type token)."""
    matches = [r for (t, n), r in records.items() if t.endswith(":" + kind) and n == name]
    assert len(matches) == 1, f"{kind} {name!r} not registered once: {sorted(records)}"
    return reveal(matches[0].inputs)


def record(records: dict, kind: str, name: str):
    return next(r for (t, n), r in records.items() if t.endswith(":" + kind) and n == name)


def kinds(records: dict) -> list[tuple[str, str]]:
    return sorted((t.rsplit(":", 1)[1], n) for t, n in records if t.startswith("kubernetes:"))


# --------------------------------------------------------------------------------------------
# The program text.


def test_programs_compile_and_are_formatted(files) -> None:
    ruff = shutil.which("ruff")
    assert ruff, "ruff is a test dependency"
    for path, text in files.items():
        if not path.endswith("__main__.py"):
            continue
        compile(text, path, "exec")
        checked = subprocess.run(
            [ruff, "format", "--check", "--isolated", "-"],
            check=False,
            input=text,
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, (
            f"{path} is not ruff-formatted:\n{checked.stdout}{checked.stderr}"
        )


def _setting_at(data, citation: str):
    """What a generated comment's YAML path names in platform.yaml's data."""
    node = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", citation):
        if part.startswith("["):
            node = node[int(part[1:-1])]
        elif isinstance(node, list):
            node = next(item for item in node if item.get("name") == part)
        else:
            node = node[part]
    return node


def test_every_object_names_the_platform_setting_that_made_it(files) -> None:
    data = yaml.safe_load(PLATFORM)
    cluster = files["03-cluster/__main__.py"]
    assert 'kubernetes.core.v1.Namespace(\n    "payments"' in cluster
    blocks = [b for b in cluster.split("\n\n") if "kubernetes." in b and "= kubernetes." in b]
    assert blocks
    for block in blocks:
        head = block.splitlines()[0]
        assert head.startswith("# "), block[:200]
        # The setting is in the file, or a default of a mapping that is.
        parent = head[2:].rpartition(".")[0]
        try:
            _setting_at(data, head[2:])
        except (KeyError, StopIteration):
            assert isinstance(_setting_at(data, parent), dict), head
    # The quota points at `quota:`, a team's binding at the reason it exists.
    assert "# cluster.namespaces.payments.quota\npayments_quota" in cluster
    assert _setting_at(data, "identity.teams.auditors.namespaces[0]") == "payments"
    assert "# identity.teams.auditors.namespaces[0]\npayments_team_auditors" in cluster


def test_environment_differences_are_config_not_code(files) -> None:
    program = files["06-apps/checkout/__main__.py"]
    assert 'config.require_int("replicas")' in program
    assert 'config.require("image")' in program
    assert yaml.safe_load(files["06-apps/checkout/Pulumi.prod.yaml"])["config"] == {
        "acme-app-checkout:image": "ghcr.io/acme/checkout:2.1.0",
        "acme-app-checkout:replicas": 4,
    }
    # Values every environment shares stay literals.
    assert '"cpu": "250m"' in program and '"cpu": "500m"' in program
    assert "config.require" not in files["06-apps/worker/__main__.py"]


def test_overrides_of_guard_rails_are_config_and_structural_ones_are_refused() -> None:
    base = '      apps: [{name: checkout, replicas: 4, image: "ghcr.io/acme/checkout:2.1.0"}]'
    assert base in PLATFORM
    tuned = PLATFORM.replace(
        base,
        "      apps: [{name: checkout, env: {ZONE: us}, resources: {cpu: '1'}, autoscale: {max: 30}}]\n"
        "      cluster: {namespaces: [{name: payments, quota: {pods: 300}}]}",
    )
    files = compile_text(tuned)
    cluster = yaml.safe_load(files["03-cluster/Pulumi.prod.yaml"])["config"]
    assert cluster == {"acme-cluster:namespaces.payments.quota.pods": "300"}
    app = yaml.safe_load(files["06-apps/checkout/Pulumi.prod.yaml"])["config"]
    assert app == {
        "acme-app-checkout:autoscale.max": 30,
        "acme-app-checkout:cpu": "1",
        "acme-app-checkout:cpuLimit": "2",
        "acme-app-checkout:env": {"LOG_LEVEL": "info", "ZONE": "us"},
        "acme-app-checkout:envHash": k8s.env_hash((("LOG_LEVEL", "info"), ("ZONE", "us"))),
    }
    # Dropping the quota in one environment changes what the cluster stack creates:
    # validate says so at the key, and compile reports the same.
    document, _ = parse_document(
        PLATFORM.replace(
            base, "      cluster: {namespaces: [{name: payments, quota: false}]}"
        ).encode(),
        "platform.yaml",
    )
    assert document is not None
    report = compile_document(document).report
    assert [(d.code, d.path) for d in report.errors] == [
        ("CW310", "environments.prod.overrides.cluster.namespaces[0].quota")
    ]
    assert "cannot differ between environments" in report.errors[0].message


# --------------------------------------------------------------------------------------------
# Namespaces (layer 3).


def test_namespace_carries_pod_security_and_ownership(runs) -> None:
    cluster = runs["03-cluster"]
    for name, level in (("payments", "restricted"), ("web", "baseline")):
        labels = obj(cluster, "Namespace", name)["metadata"]["labels"]
        assert labels == {
            "app.kubernetes.io/managed-by": "crosswalk",
            "crosswalk/environment": "dev",
            **{
                f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")
            },
            **{
                f"pod-security.kubernetes.io/{mode}-version": "latest"
                for mode in ("enforce", "audit", "warn")
            },
        }


def test_guard_rails_of_a_default_deny_namespace(runs) -> None:
    cluster = runs["03-cluster"]
    assert [k for k in kinds(cluster) if k[1].startswith("payments")] == [
        ("LimitRange", "payments/container-defaults"),
        ("Namespace", "payments"),
        ("NetworkPolicy", "payments/allow-dns"),
        ("NetworkPolicy", "payments/allow-same-namespace"),
        ("NetworkPolicy", "payments/default-deny"),
        ("ResourceQuota", "payments/quota"),
        ("RoleBinding", "payments/team.auditors"),
        ("RoleBinding", "payments/team.payments"),
    ]
    assert obj(cluster, "ResourceQuota", "payments/quota")["spec"] == {
        "hard": {
            "requests.cpu": "20",
            "requests.memory": "64Gi",
            "limits.memory": "64Gi",
            "pods": "200",
        }
    }
    assert obj(cluster, "LimitRange", "payments/container-defaults")["spec"]["limits"] == [
        {
            "type": "Container",
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "default": {"cpu": "200m", "memory": "128Mi"},
        }
    ]
    assert obj(cluster, "NetworkPolicy", "payments/default-deny")["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }
    dns = obj(cluster, "NetworkPolicy", "payments/allow-dns")["spec"]
    assert dns["policyTypes"] == ["Egress"] and "ingress" not in dns
    assert dns["egress"] == [
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    },
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]
    same = obj(cluster, "NetworkPolicy", "payments/allow-same-namespace")["spec"]
    assert same["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert same["egress"] == [{"to": [{"podSelector": {}}]}]


def test_team_bindings_skip_admin_teams(runs) -> None:
    cluster = runs["03-cluster"]
    bindings = {
        name: obj(cluster, "RoleBinding", name)
        for kind, name in kinds(cluster)
        if kind == "RoleBinding"
    }
    assert sorted(bindings) == [
        "payments/team.auditors",
        "payments/team.payments",
        "web/team.auditors",
    ]
    assert bindings["payments/team.payments"]["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "edit",
    }
    assert bindings["web/team.auditors"]["roleRef"]["name"] == "view"
    assert bindings["web/team.auditors"]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "acme:team:auditors"}
    ]


def test_relaxed_namespace_gets_only_its_limit_range(runs) -> None:
    cluster = runs["03-cluster"]
    assert [k for k in kinds(cluster) if k[1].startswith("web")] == [
        ("LimitRange", "web/container-defaults"),
        ("Namespace", "web"),
        ("RoleBinding", "web/team.auditors"),
    ]


def test_namespace_objects_use_the_explicit_provider_after_their_namespace(runs) -> None:
    cluster = runs["03-cluster"]
    provider = record(cluster, "kubernetes", "k8s")
    namespace = record(cluster, "Namespace", "payments")
    for (type_, name), r in cluster.items():
        if not type_.startswith("kubernetes:"):
            continue
        assert r.provider and r.provider.startswith(provider.urn), name
        if name.startswith("payments/"):
            assert namespace.urn in r.dependencies, name


# --------------------------------------------------------------------------------------------
# Apps (layer 6).


def test_deployment_has_the_secure_defaults(runs) -> None:
    app = runs["06-apps/checkout"]
    deployment = obj(app, "Deployment", "payments/checkout")
    assert deployment["metadata"]["namespace"] == "payments"
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": "checkout"}}
    pod = spec["template"]["spec"]
    assert spec["template"]["metadata"]["labels"] == {
        "app.kubernetes.io/name": "checkout",
        "app.kubernetes.io/part-of": "acme",
        "app.kubernetes.io/managed-by": "crosswalk",
        "crosswalk/environment": "dev",
        "azure.workload.identity/use": "true",
    }
    assert pod["serviceAccountName"] == "checkout"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["image"] == "ghcr.io/acme/checkout:2.0.1"
    assert container["imagePullPolicy"] == "Always"
    assert container["command"] == ["/app/server"] and container["args"] == ["--verbose"]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/ready", "port": 9090, "scheme": "HTTP"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    # The datastore's connection Secret is files, never environment variables.
    assert container["envFrom"] == [{"configMapRef": {"name": "checkout.env"}}]
    assert "env" not in container
    assert container["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},
        {
            "name": "datastore-0",
            "mountPath": "/var/run/secrets/crosswalk/datastores/orders",
            "readOnly": True,
        },
    ]
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "datastore-0", "secret": {"secretName": "checkout.orders", "defaultMode": 0o440}},
    ]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    # It waits for what it mounts, through the explicit provider.
    needs = record(app, "Deployment", "payments/checkout").dependencies
    for kind, name in (
        ("ServiceAccount", "payments/checkout"),
        ("ConfigMap", "payments/checkout.env"),
        ("Secret", "payments/checkout.orders"),
    ):
        assert record(app, kind, name).urn in needs


def test_autoscaled_deployment_leaves_replicas_to_the_autoscaler(files, runs) -> None:
    assert 'ignore_changes=[\n            "spec.replicas",' in files["06-apps/checkout/__main__.py"]
    assert "ignore_changes" not in files["06-apps/worker/__main__.py"]
    hpa = obj(runs["06-apps/checkout"], "HorizontalPodAutoscaler", "payments/checkout")["spec"]
    assert hpa == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 60},
                },
            }
        ],
    }


def test_service_account_config_and_datastore_secret(files, runs) -> None:
    app = runs["06-apps/checkout"]
    account = obj(app, "ServiceAccount", "payments/checkout")
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/checkout"
    }
    config = obj(app, "ConfigMap", "payments/checkout.env")
    assert config["data"] == {"LOG_LEVEL": "info", "ZONE": "eu"}
    program = files["06-apps/checkout/__main__.py"]
    assert program.index('"LOG_LEVEL": "info"') < program.index('"ZONE": "eu"'), "keys sorted"
    secret = record(app, "Secret", "payments/checkout.orders").inputs
    assert isinstance(secret["stringData"], Secret), "connection values stay secret in state"
    assert reveal(secret["stringData"]) == {
        "ORDERS_HOST": "orders.internal",
        "ORDERS_PASSWORD": "s3cr3t",
        "ORDERS_SSLMODE": "require",
    }


def test_a_change_of_environment_variables_rolls_the_pods(runs, tmp_path) -> None:
    """Pods read the ConfigMap when they start; the pod template carries a hash
    of its data, so a new value is a new template and a rollout."""

    def pods_and_config(records, namespace, name):
        template = obj(records, "Deployment", f"{namespace}/{name}")["spec"]["template"]
        data = obj(records, "ConfigMap", f"{namespace}/{name}.env").get("data", {})
        return template["metadata"]["annotations"][k8s.ENV_HASH_ANNOTATION], data

    annotation, data = pods_and_config(runs["06-apps/checkout"], "payments", "checkout")
    assert annotation == k8s.env_hash(tuple(data.items()))
    # One environment sets its own value: the hash differs there and only there.
    text = PLATFORM.replace(
        'apps: [{name: checkout, replicas: 4, image: "ghcr.io/acme/checkout:2.1.0"}]',
        'apps: [{name: checkout, replicas: 4, image: "ghcr.io/acme/checkout:2.1.0",'
        " env: {ZONE: us}}]",
    )
    assert text != PLATFORM
    changed = compile_text(text)
    dev = run_tree(changed, tmp_path / "dev")["06-apps/checkout"]
    prod = run_tree(changed, tmp_path / "prod", env="prod")["06-apps/checkout"]
    dev_annotation, dev_data = pods_and_config(dev, "payments", "checkout")
    prod_annotation, prod_data = pods_and_config(prod, "payments", "checkout")
    assert dev_annotation == annotation and dev_data == data
    assert prod_data == {"LOG_LEVEL": "info", "ZONE": "us"}
    assert prod_annotation == k8s.env_hash(tuple(prod_data.items())) != annotation


def test_service_route_and_disruption_budget(runs) -> None:
    app = runs["06-apps/checkout"]
    assert obj(app, "Service", "payments/checkout")["spec"] == {
        "type": "ClusterIP",
        "selector": {"app.kubernetes.io/name": "checkout"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    }
    route = obj(app, "HTTPRoute", "payments/checkout")
    assert (route["apiVersion"], route["kind"]) == ("gateway.networking.k8s.io/v1", "HTTPRoute")
    assert route["spec"] == {
        "parentRefs": [
            {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": "public",
                "namespace": "gateway",
                "sectionName": "https",  # a host has a certificate: HTTPS only
            }
        ],
        "hostnames": ["shop.example.com"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                "backendRefs": [{"name": "checkout", "port": 80}],
            }
        ],
    }
    assert obj(app, "PodDisruptionBudget", "payments/checkout")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}},
    }
    # One replica everywhere: no budget, no autoscaler, no route.
    worker = [k for k in kinds(runs["06-apps/worker"]) if k[0] != "NetworkPolicy"]
    assert worker == [
        ("ConfigMap", "web/worker.env"),
        ("Deployment", "web/worker"),
        ("Service", "web/worker"),
        ("ServiceAccount", "web/worker"),
    ]


def test_network_policies_open_only_what_the_app_needs(runs) -> None:
    checkout = runs["06-apps/checkout"]
    policies = sorted(n for k, n in kinds(checkout) if k == "NetworkPolicy")
    assert policies == [
        "payments/checkout.egress",
        "payments/checkout.from-ingress",
        "payments/checkout.from-monitoring",
    ]
    from_ingress = obj(checkout, "NetworkPolicy", "payments/checkout.from-ingress")["spec"]
    assert from_ingress == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": ENVOY_PROXIES}
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 8080}],
            }
        ],
    }
    egress = obj(checkout, "NetworkPolicy", "payments/checkout.egress")["spec"]
    assert egress["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    ]

    # worker (allow-all namespace) -> checkout (default-deny): only checkout's side is opened;
    # an egress policy in an allow-all namespace would isolate worker instead.
    worker = runs["06-apps/worker"]
    assert sorted(n for k, n in kinds(worker) if k == "NetworkPolicy") == [
        "payments/checkout.from.worker"
    ]
    assert obj(worker, "NetworkPolicy", "payments/checkout.from.worker")["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "web"}
                        },
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "worker"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 8080}],
            }
        ],
    }
    # reporter -> checkout in the same namespace: allow-same-namespace already covers it.
    # Its only policy lets monitoring scrape it.
    assert [k for k in kinds(runs["06-apps/reporter"]) if k[0] == "NetworkPolicy"] == [
        ("NetworkPolicy", "payments/reporter.from-monitoring")
    ]


def test_prod_reads_its_overrides_from_config(files, tmp_path) -> None:
    runs = run_tree(files, tmp_path, env="prod")
    container = obj(runs["06-apps/checkout"], "Deployment", "payments/checkout")["spec"]
    assert container["replicas"] == 4
    assert container["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/checkout:2.1.0"


def test_nginx_gets_an_ingress_with_tls_and_an_open_acme_solver(tmp_path) -> None:
    files = compile_text(PLATFORM.replace("controller: envoy-gateway", "controller: nginx"))
    assert "gateway_name" not in files["06-apps/checkout/__main__.py"]
    app = run_tree(files, tmp_path)["06-apps/checkout"]
    ingress = obj(app, "Ingress", "payments/checkout")
    assert ingress["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt",
        "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
    }
    assert ingress["spec"] == {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": "shop.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/api",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "checkout", "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ],
        "tls": [{"hosts": ["shop.example.com"], "secretName": "checkout.tls"}],
    }
    controller = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    }
    assert obj(app, "NetworkPolicy", "payments/checkout.from-ingress")["spec"]["ingress"][0][
        "from"
    ] == [controller]
    solver = obj(app, "NetworkPolicy", "payments/checkout.acme-solver")["spec"]
    assert solver["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert solver["ingress"] == [
        {"from": [controller], "ports": [{"protocol": "TCP", "port": 8089}]}
    ]


# --------------------------------------------------------------------------------------------
# Hostile input and the SDK's types.


def hostile_files() -> dict[str, str]:
    """A platform built without validation, so strings no schema would allow reach the emitter."""
    document, problems = parse_document(PLATFORM.encode(), "platform.yaml")
    assert document is not None, problems
    data = json.loads(json.dumps(document.data))
    data["environments"] = {"dev": {}}
    app = data["apps"][0]
    app["env"] = {f"V{i}": value for i, value in enumerate(HOSTILE)}
    app["image"] = HOSTILE[0]
    app["command"] = HOSTILE
    app["args"] = list(reversed(HOSTILE))
    app["health"]["path"] = HOSTILE[1]
    platform = build_platform(data)
    return emit_projects(platform, {"dev": platform}, build_graph(platform), data)


def test_hostile_strings_round_trip_as_data(tmp_path) -> None:
    files = hostile_files()
    program = files["06-apps/checkout/__main__.py"]
    compile(program, "__main__.py", "exec")
    assert "pwned" in program and "\nimport os" not in program
    deployment = obj(
        run_tree(files, tmp_path)["06-apps/checkout"], "Deployment", "payments/checkout"
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == HOSTILE[0]
    assert container["command"] == HOSTILE
    assert container["args"] == list(reversed(HOSTILE))
    assert container["livenessProbe"]["httpGet"]["path"] == HOSTILE[1]


def test_ingress_namespaces_follow_the_charts_that_install_the_controllers() -> None:
    for controller, namespace in k8s.INGRESS_NAMESPACES.items():
        assert charts.CHARTS[controller].namespace == namespace, controller


def test_double_cpu() -> None:
    assert [k8s.double_cpu(q) for q in ("250m", "1", "0.5", "1.25", "0.0005", "3m")] == [
        "500m",
        "2",
        "1",
        "2500m",
        "1m",
        "6m",
    ]


@settings(max_examples=300, derandomize=True, database=None)
@given(st.data())
def test_double_cpu_of_any_quantity_the_schema_takes(data) -> None:
    """The schema caps quantities at 20 characters: doubling the longest one
    (28 digits passed decimal's precision) still gives a quantity."""
    from crosswalk.schema import load_schema

    cpu = load_schema()["properties"]["apps"]["items"]["properties"]["resources"]["properties"]
    pattern, longest = cpu["cpu"]["pattern"], cpu["cpu"]["maxLength"]
    inner = pattern.removeprefix("^").removesuffix("$")
    quantity = data.draw(
        st.from_regex(inner, fullmatch=True).filter(lambda q: len(q) <= longest)
        | st.sampled_from(["9" * longest, "9" * (longest - 1) + "m", "9.9999999999999999999"])
    )
    doubled = k8s.double_cpu(quantity)
    assert re.fullmatch(pattern, doubled) or re.fullmatch(r"[0-9]+", doubled), doubled


def test_pyright_accepts_every_program_and_catches_a_misspelt_key(files, tmp_path) -> None:
    """One pyright run (5-20 s) over all programs, plus a copy with one misspelt key
    to prove it really checks the TypedDicts."""
    programs = {path: text for path, text in files.items() if path.endswith("__main__.py")}
    programs |= {f"hostile/{p}": t for p, t in hostile_files().items() if p.endswith("__main__.py")}
    nginx = compile_text(PLATFORM.replace("controller: envoy-gateway", "controller: nginx"))
    programs["nginx/__main__.py"] = nginx["06-apps/checkout/__main__.py"]
    broken = files["06-apps/checkout/__main__.py"].replace(
        '"read_only_root_filesystem"', '"read_only_root_fs"'
    )
    assert broken != files["06-apps/checkout/__main__.py"]
    programs["broken/__main__.py"] = broken
    paths = []
    for path, text in programs.items():
        target = tmp_path / path.replace("/__main__.py", "").replace("/", "_") / "__main__.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        paths.append(str(target))
    checked = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable, *paths],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
    )
    report = json.loads(checked.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    where = sorted({Path(d["file"]).parent.name for d in errors})
    assert where == ["broken"], json.dumps(errors, indent=1)[:3000]
    assert report["summary"]["filesAnalyzed"] == len(paths)
