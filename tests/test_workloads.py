"""Apps of every kind (deployment, statefulset, cronjob, job), their
migrations, volumes and node pools, asserted on the offline plan's records:
the objects as pulumi_kubernetes sends them to the API server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.graph import build_graph
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.model import build_platform
from crosswalk.compiler.plan import plan_tree
from crosswalk.compiler.workloads import cron_problem
from crosswalk.providers.kubernetes.app_secrets import FILES as SECRET_FILES
from crosswalk.providers.kubernetes.apps import DATASTORE_FILES

ROOT = Path(__file__).resolve().parents[1]

WORKLOADS = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:batch/v1:Job",
}
SERVING = (
    "kubernetes:core/v1:Service",
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:policy/v1:PodDisruptionBudget",
)


def planned(path: Path, out: Path, env: str = "dev"):
    result = compile_file(path, out)
    assert result.files, [d.render() for d in result.report.errors]
    plan = plan_tree(out, env)
    assert [(s.dir, s.error) for s in plan.stacks if s.error is not None] == []
    return plan


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    return planned(ROOT / "samples" / "aws" / "platform.yaml", tmp_path_factory.mktemp("aws"))


@pytest.fixture(scope="module")
def azure(tmp_path_factory):
    return planned(ROOT / "samples" / "azure" / "platform.yaml", tmp_path_factory.mktemp("az"))


def of(plan, stack: str, type_: str) -> list:
    return [r for r in plan.stack(stack).resources if r.type == type_]


def one(plan, stack: str, type_: str, name: str | None = None):
    found = [r for r in of(plan, stack, type_) if name is None or r.name == name]
    assert len(found) == 1, [(r.type, r.name) for r in plan.stack(stack).resources]
    return found[0]


def pod_template(record) -> dict:
    spec = reveal(record.inputs)["spec"]
    if "jobTemplate" in spec:
        return spec["jobTemplate"]["spec"]["template"]
    return spec["template"]


def workloads(plan):
    for stack in plan.stacks:
        if stack.dir.startswith("06-apps/"):
            for record in stack.resources:
                if record.type in WORKLOADS and reveal(record.inputs)["metadata"][
                    "namespace"
                ] not in ("database-users",):
                    yield stack, record


def test_every_kind_keeps_the_secure_defaults(aws) -> None:
    kinds = set()
    for _stack, record in workloads(aws):
        kinds.add(record.type)
        pod = pod_template(record)["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] and context["runAsNonRoot"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["limits"]["memory"], record.name
            serves = record.type.startswith("kubernetes:apps/")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert (probe in container) == serves, (record.name, probe)
            assert ("ports" in container) == serves
        if not record.type.startswith("kubernetes:apps/"):
            assert pod["restartPolicy"] == "Never"
    assert kinds == WORKLOADS


def test_datastore_connections_are_files_never_environment_variables(aws) -> None:
    """checkov CKV_K8S_35: no app container takes a Secret through its environment."""
    mounted = 0
    for stack, record in workloads(aws):
        pod = pod_template(record)["spec"]
        secrets = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
        for container in pod["containers"]:
            assert not any("secretRef" in e for e in container.get("envFrom", [])), record.name
            assert "secretKeyRef" not in json.dumps(container.get("env", [])), record.name
            for mount in container["volumeMounts"]:
                if mount["name"] == "secrets":
                    # The app's own secrets, which the External Secrets Operator writes.
                    assert mount["mountPath"] == SECRET_FILES and mount["readOnly"] is True
                    assert secrets["secrets"]["defaultMode"] == 0o440
                    continue
                if mount["name"] in secrets:
                    mounted += 1
                    assert mount["readOnly"] is True
                    assert mount["mountPath"].startswith(DATASTORE_FILES + "/")
                    assert secrets[mount["name"]]["defaultMode"] == 0o440
                    # the Secret mounted is one of this app's own connection Secrets
                    names = {
                        reveal(s.inputs)["metadata"]["name"]
                        for s in of(aws, stack.dir, "kubernetes:core/v1:Secret")
                    }
                    assert secrets[mount["name"]]["secretName"] in names
    assert mounted >= 5


def test_a_cronjob_runs_on_its_schedule_with_no_service(aws) -> None:
    stack = "06-apps/nightly-report"
    cron = one(aws, stack, "kubernetes:batch/v1:CronJob")
    spec = reveal(cron.inputs)["spec"]
    assert spec["schedule"] == "0 3 * * *" and spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 2 and job["activeDeadlineSeconds"] == 3600
    for type_ in SERVING:
        assert not of(aws, stack, type_), type_
    # It waits for its identity, config and connection Secret.
    needs = set(cron.dependencies)
    for type_ in ("ServiceAccount", "ConfigMap", "Secret"):
        assert any(one_urn in needs for one_urn in urns(aws, stack, f"kubernetes:core/v1:{type_}"))
    # Its scratch space, with a limit.
    volumes = {v["name"]: v for v in job["template"]["spec"]["volumes"]}
    assert volumes["work"] == {"name": "work", "emptyDir": {"sizeLimit": "2Gi"}}
    # No NetworkPolicy lets traffic in: it takes none.
    for policy in of(aws, stack, "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        assert "Ingress" not in reveal(policy.inputs)["spec"]["policyTypes"]


def urns(plan, stack: str, type_: str) -> list[str]:
    return [r.urn for r in of(plan, stack, type_)]


def test_an_app_on_the_tainted_pool_selects_and_tolerates_it(aws, azure) -> None:
    pod = pod_template(one(aws, "06-apps/nightly-report", "kubernetes:batch/v1:CronJob"))["spec"]
    assert pod["nodeSelector"] == {"crosswalk/node-pool": "batch"}
    assert pod["tolerations"] == [
        {"key": "workload", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}
    ]
    # The label selected is the one the cluster layer puts on the pool's nodes.
    (group,) = [
        r for r in aws.stack("03-cluster").resources if "batch" in r.name and "NodeGroup" in r.type
    ]
    assert reveal(group.inputs)["labels"]["crosswalk/node-pool"] == "batch"
    # AKS taints spot pools itself: pods there tolerate that taint too.
    pod = pod_template(one(azure, "06-apps/nightly-report", "kubernetes:batch/v1:CronJob"))["spec"]
    assert {(t["key"], t["value"], t["effect"]) for t in pod["tolerations"]} == {
        ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule"),
        ("workload", "batch", "NoSchedule"),
    }
    # Apps without a pool get neither.
    for _stack, record in workloads(aws):
        if record.name != "payments/nightly-report":
            assert "nodeSelector" not in pod_template(record)["spec"], record.name


def test_a_node_pool_reference_is_a_graph_edge() -> None:
    import yaml

    data = yaml.safe_load((ROOT / "samples" / "aws" / "platform.yaml").read_text())
    from crosswalk.compiler.model import apply_defaults

    graph = build_graph(build_platform(apply_defaults(data))).graph
    assert graph.has_edge("node-pool/batch", "app/nightly-report")
    assert not any(graph.has_edge(f"node-pool/{p}", "app/checkout") for p in ("batch", "general"))


def test_a_statefulset_claims_the_clusters_storage_class_per_pod(aws) -> None:
    stack = "06-apps/search"
    record = one(aws, stack, "kubernetes:apps/v1:StatefulSet")
    spec = reveal(record.inputs)["spec"]
    (storage_class,) = [
        r for r in aws.stack("03-cluster").resources if r.type.endswith(":StorageClass")
    ]
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": reveal(storage_class.inputs)["metadata"]["name"],
        "resources": {"requests": {"storage": "20Gi"}},
    }
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    # Its governing Service is headless, and named in serviceName.
    service = reveal(one(aws, stack, "kubernetes:core/v1:Service").inputs)
    assert service["spec"]["clusterIP"] == "None"
    assert spec["serviceName"] == service["metadata"]["name"]
    # Two replicas: a disruption budget, and spread across zones.
    assert of(aws, stack, "kubernetes:policy/v1:PodDisruptionBudget")
    pod = spec["template"]["spec"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["data"]["mountPath"] == "/var/lib/search"
    # The config files: a ConfigMap of their own, mounted read-only, waited for.
    assert mounts["settings"] == {
        "name": "settings",
        "mountPath": "/etc/search",
        "readOnly": True,
    }
    files = one(aws, stack, "kubernetes:core/v1:ConfigMap", "internal/search.settings")
    assert reveal(files.inputs)["data"] == {"search.yaml": "cluster: search\nshards: 2\n"}
    assert files.urn in record.dependencies


def test_migrations_run_before_the_deployment_and_take_no_traffic(aws) -> None:
    stack = "06-apps/checkout"
    job = one(aws, stack, "kubernetes:batch/v1:Job", "payments/checkout.schema")
    deployment = one(aws, stack, "kubernetes:apps/v1:Deployment")
    assert job.urn in deployment.dependencies
    # A new image or command replaces the Job (its template cannot change),
    # which runs it again; the old one goes first, as the new one takes its name.
    assert job.delete_before_replace
    spec = reveal(job.inputs)["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 600
    # `pulumi up` waits for it as long as it may run (and a minute to start).
    assert job.custom_timeouts == {"create": "660s", "update": "660s"}
    pod = spec["template"]
    (task,) = pod["spec"]["containers"]
    (server,) = reveal(deployment.inputs)["spec"]["template"]["spec"]["containers"]
    assert task["command"] == ["/app/migrate", "up"]
    assert task["image"] == server["image"]  # the release it migrates for
    assert task["volumeMounts"] == server["volumeMounts"]  # its config and datastores
    assert "ports" not in task and "livenessProbe" not in task
    # It runs after the app's database user exists, and with its identity.
    user_job = [
        r
        for r in of(aws, stack, "kubernetes:batch/v1:Job")
        if reveal(r.inputs)["metadata"]["namespace"] == "database-users"
    ]
    assert user_job and user_job[0].urn in job.dependencies
    assert pod["spec"]["serviceAccountName"] == "checkout"
    # Its pods carry the app's name (the app's NetworkPolicies let them reach
    # the datastores) but not the component the Service and budget select.
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "checkout"
    assert labels["app.kubernetes.io/component"] == "migration"
    server_labels = reveal(deployment.inputs)["spec"]["template"]["metadata"]["labels"]
    assert server_labels["app.kubernetes.io/component"] == "server"
    service = one(aws, stack, "kubernetes:core/v1:Service")
    selector = reveal(service.inputs)["spec"]["selector"]
    assert selector["app.kubernetes.io/component"] == "server"
    assert deployment.urn in service.dependencies  # never selects no pod while pods roll
    budget = reveal(one(aws, stack, "kubernetes:policy/v1:PodDisruptionBudget").inputs)
    assert budget["spec"]["selector"]["matchLabels"] == selector
    # The Deployment's own selector is unchanged (it cannot change).
    assert reveal(deployment.inputs)["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "checkout"}
    }


def test_apps_without_migrations_keep_their_selectors(aws) -> None:
    service = one(aws, "06-apps/order-worker", "kubernetes:core/v1:Service")
    assert reveal(service.inputs)["spec"]["selector"] == {"app.kubernetes.io/name": "order-worker"}


SMALL = """\
apiVersion: crosswalk/v1
kind: Platform
name: acme
cloud: {provider: gcp, region: europe-west1, project: acme-platform-prod}
cluster:
  nodePools: [{name: general}]
  namespaces: [{name: shop}]
apps:
  - name: backfill
    kind: job
    namespace: shop
    image: ghcr.io/acme/backfill:1.0
    command: [/app/backfill]
    retries: 4
    timeoutSeconds: 7200
  - name: uploads
    namespace: shop
    image: ghcr.io/acme/uploads:1.0
    replicas: 1
    volumes: [{name: files, type: persistent, mountPath: /srv/files, size: 5Gi}]
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    (folder / "platform.yaml").write_text(SMALL)
    return planned(folder / "platform.yaml", folder / "out")


def test_a_job_runs_once_per_change_and_serves_nothing(small) -> None:
    stack = "06-apps/backfill"
    job = one(small, stack, "kubernetes:batch/v1:Job")
    spec = reveal(job.inputs)["spec"]
    assert spec["backoffLimit"] == 4 and spec["activeDeadlineSeconds"] == 7200
    assert job.delete_before_replace
    assert job.custom_timeouts == {"create": "7260s", "update": "7260s"}
    assert spec["template"]["spec"]["containers"][0]["command"] == ["/app/backfill"]
    for type_ in SERVING:
        assert not of(small, stack, type_), type_


def test_a_deployments_claim_is_protected_and_its_pod_recreated(small) -> None:
    stack = "06-apps/uploads"
    claim = one(small, stack, "kubernetes:core/v1:PersistentVolumeClaim")
    inputs = reveal(claim.inputs)
    assert inputs["metadata"]["name"] == "uploads.files"
    assert inputs["spec"]["storageClassName"] == "encrypted-pd-balanced"
    assert inputs["spec"]["resources"] == {"requests": {"storage": "5Gi"}}
    assert claim.protect  # deletion protection is on: Pulumi will not delete the data
    deployment = one(small, stack, "kubernetes:apps/v1:Deployment")
    spec = reveal(deployment.inputs)["spec"]
    # One disk, one node: the old pod lets go of it before the new one starts.
    assert spec["strategy"] == {"type": "Recreate"}
    assert claim.urn in deployment.dependencies
    volumes = spec["template"]["spec"]["volumes"]
    assert {"name": "files", "persistentVolumeClaim": {"claimName": "uploads.files"}} in volumes


@pytest.mark.parametrize(
    "schedule",
    [
        "0 3 * * *",
        "*/15 * * * *",
        "0 9-17/2 * * MON-FRI",
        "30 4 1,15 * *",
        "@daily",
        "0 0 * JAN,JUL 0",
    ],
)
def test_cron_schedules_kubernetes_accepts(schedule) -> None:
    assert cron_problem(schedule) is None


@pytest.mark.parametrize(
    "schedule",
    [
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "*/0 * * * *",
        "5-1 * * * *",
        "@sometimes",
        "a b c d e",
        "",
    ],
)
def test_cron_schedules_kubernetes_refuses(schedule) -> None:
    assert cron_problem(schedule) is not None


def test_meshed_jobs_run_their_proxy_as_a_native_sidecar(aws, azure) -> None:
    """A plain sidecar outlives the task and keeps its Job running forever; the
    Azure sample meshes with linkerd, the AWS sample has no mesh."""
    native = "config.beta.linkerd.io/proxy-enable-native-sidecar"
    cron = one(azure, "06-apps/nightly-report", "kubernetes:batch/v1:CronJob")
    assert pod_template(cron)["metadata"]["annotations"][native] == "true"
    migration = one(
        azure, "06-apps/checkout", "kubernetes:batch/v1:Job", "payments/checkout.schema"
    )
    assert pod_template(migration)["metadata"]["annotations"][native] == "true"
    # Long-running pods keep the ordinary sidecar; without a mesh there is nothing to add.
    deployment = one(azure, "06-apps/checkout", "kubernetes:apps/v1:Deployment")
    assert native not in pod_template(deployment)["metadata"]["annotations"]
    cron = one(aws, "06-apps/nightly-report", "kubernetes:batch/v1:CronJob")
    assert list(pod_template(cron)["metadata"]["annotations"]) == ["crosswalk.dev/env-hash"]
