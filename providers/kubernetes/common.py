"""Kubernetes facts and plumbing every cloud's programs share: labels, the
provider, kubeconfig, the default storage class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import App, Namespace, Platform
from crosswalk.providers import environment_scope

K8S_IMPORT = "import pulumi_kubernetes as kubernetes"


ENVIRONMENT_LABEL = "crosswalk/environment"


# On everything the platform creates in a cluster: who manages it, and for
# which environment (the stack's name, which is the environment's).
MANAGED_BY = {"app.kubernetes.io/managed-by": "crosswalk", ENVIRONMENT_LABEL: Code("stack")}


NAME_LABEL = "app.kubernetes.io/name"


COMPONENT_LABEL = "app.kubernetes.io/component"


# On every node of a pool, in every cloud: apps select a pool's nodes by it.
NODE_POOL_LABEL = "crosswalk/node-pool"


# Each cloud's default StorageClass, made by its cluster layer (encrypted,
# kept on release): apps' persistent volumes claim it by name.
STORAGE_CLASSES = {"aws": "encrypted-gp3", "gcp": "encrypted-pd-balanced", "azure": "encrypted-ssd"}


# AKS taints spot pools itself; pods placed on one tolerate it.
AZURE_SPOT_TAINT = ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")


def spot_tolerations(platform: Platform, pool) -> list[dict]:
    """Tolerations for the taints a cloud puts on a spot pool by itself."""
    if platform.cloud.provider != "azure" or not pool.spot:
        return []
    key, value, effect = AZURE_SPOT_TAINT
    return [{"key": key, "operator": "Equal", "value": value, "effect": effect}]


NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


# The non-root user and group apps run as (distroless' "nonroot"; above 10000,
# so it maps to no user of the host).
RUN_AS = 65532


SERVICE_PORT = 80


# What a container gets when it declares no resources of its own.
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}


DEFAULT_LIMITS = {"cpu": "200m", "memory": "128Mi"}


# Where each ingress controller's proxies run: traffic to apps comes from there.
# (Envoy Gateway runs its Envoy proxies in its own namespace, not the Gateway's.)
INGRESS_NAMESPACES = {
    "envoy-gateway": "envoy-gateway-system",
    "traefik": "traefik",
    "nginx": "ingress-nginx",
}


ACME_SOLVER_PORT = 8089  # cert-manager's HTTP-01 solver pod


@dataclass(frozen=True)
class Mesh:
    """What a service mesh needs of the namespaces it meshes."""

    namespace: str  # where its control plane runs
    labels: dict  # on each meshed namespace: injection
    annotations: dict
    strict: dict  # annotations of app namespaces that accept only mutual TLS
    control_ports: tuple[int, ...]  # proxies reach the control plane here
    proxy_ports: tuple[int, ...]  # meshed traffic into a pod, beside the app's port
    metrics_ports: tuple[int, ...]  # Prometheus scrapes the proxies here
    # On the pods of Jobs: the proxy runs as a native sidecar (Kubernetes
    # 1.29+), which stops when the task does; a plain sidecar would keep the
    # pod, so the Job, running forever.
    job_annotations: dict = field(default_factory=dict)


MESHES = {
    # Sidecars with the istio CNI (no privileged init container, so pods stay
    # Pod Security restricted); istiod serves xDS and certificates on 15012.
    # Strict mutual TLS is a PeerAuthentication per app namespace (charts.py).
    "istio": Mesh(
        "istio-system",
        {"istio-injection": "enabled"},
        {},
        {},
        (15012,),
        (),
        (15020,),
        {"sidecar.istio.io/nativeSidecar": "true"},
    ),
    # The proxy injector meshes annotated namespaces; proxies reach the
    # identity (8080), destination (8086) and policy (8090) controllers, take
    # meshed traffic on 4143 and serve metrics on 4191.
    "linkerd": Mesh(
        "linkerd",
        {},
        {"linkerd.io/inject": "enabled"},
        {"config.linkerd.io/default-inbound-policy": "all-authenticated"},
        (8080, 8086, 8090),
        (4143,),
        (4191,),
        {"config.beta.linkerd.io/proxy-enable-native-sidecar": "true"},
    ),
}


GATEWAY_STACK = "05-app-services"


# Kubernetes group a team's members are mapped to by each cloud's identity layer.
def team_group(platform: Platform, team: str) -> str:
    return f"{platform.name}:team:{team}"


ACCESS_CLUSTER_ROLES = {"admin": "admin", "developer": "edit", "viewer": "view"}


def dns_zone(ctx: StackContext) -> str | Code:
    """The environment's DNS zone."""
    return ctx.setting("dns.zoneName", lambda q, env: q.app_services.dns_zone)


def certificates_email(ctx: StackContext) -> str | Code:
    """The environment's ACME account email."""
    return ctx.setting("certificates.email", lambda q, env: q.app_services.email)


def app_host(ctx: StackContext, app: App) -> str | Code:
    """The environment's host of an app's ingress."""
    return ctx.setting("ingress.host", lambda q, env: q.app(app.name).ingress.host)


def dns_owner(ctx: StackContext) -> str | Code:
    """What external-dns marks the records it owns with: environments sharing
    a zone must not take each other's records (the first environment of an
    account keeps the platform's name, as records it owns say)."""
    return ctx.setting("names.dnsOwner", lambda q, env: "-".join(environment_scope(q)))


def env_prefix(datastore: str) -> str:
    """The prefix of a datastore's connection variables: 'order-db' -> 'ORDER_DB'."""
    return datastore.upper().replace("-", "_")


def bucket_env(bucket: str, name, endpoint) -> dict:
    """The variables that tell an app where a bucket it uses is: 'assets' ->
    ASSETS_BUCKET (its name in the cloud) and ASSETS_BUCKET_ENDPOINT."""
    prefix = env_prefix(bucket)
    return {f"{prefix}_BUCKET": name, f"{prefix}_BUCKET_ENDPOINT": endpoint}


@dataclass
class AppCloudParts:
    """What the cloud adds to an app's objects."""

    # annotations on the app's ServiceAccount (IRSA role ARN, GCP SA, Azure client id)
    service_account_annotations: dict = field(default_factory=dict)
    # labels on the pod template (Azure workload identity needs one)
    pod_labels: dict = field(default_factory=dict)
    # datastore name -> {ENV_VAR: value (str or Code)} for its connection Secret
    datastore_env: dict[str, dict] = field(default_factory=dict)
    # plain variables of the container, {ENV_VAR: value (str or Code)}: where its buckets are
    env: dict = field(default_factory=dict)
    # extra egress rules the app needs, e.g. to datastores / cloud APIs: NetworkPolicy egress
    # items spelled as pulumi_kubernetes' NetworkPolicyEgressRuleArgsDict ("to", "ip_block", ...)
    egress: list = field(default_factory=list)
    # resources the Deployment waits for (e.g. the Jobs that make its database users)
    depends_on: list = field(default_factory=list)
    # the app's secrets: the SecretStore's `provider` (the cloud's secret
    # manager, as the app's ServiceAccount), and secret name -> its name there
    secret_store: dict | None = None
    secret_keys: dict = field(default_factory=dict)
    # what the SecretStore waits for: the grants of the app's identity on its
    # secrets, where the app's own stack makes them
    secret_grants: list = field(default_factory=list)


def emit_provider(ctx: StackContext, kubeconfig, line: int | None) -> Code:
    """The program's one explicit Kubernetes provider (objects never use a default one)."""
    ctx.program.imports.add(K8S_IMPORT)
    return ctx.program.resource(
        "k8s_provider",
        "kubernetes.Provider",
        "k8s",
        {"kubeconfig": kubeconfig, "enable_server_side_apply": True},
        line,
    )


def emit_kubeconfig(ctx: StackContext, name: str, server, ca_data, exec_config: dict) -> Code:
    """The cluster's kubeconfig (a secret Output): one cluster, one user whose
    credentials come from the cloud's CLI (`exec_config`), never a static token."""
    exec_config = {"apiVersion": "client.authentication.k8s.io/v1beta1"} | exec_config
    kubeconfig = ctx.program.assign(
        ctx.program.name("kubeconfig"),
        Call(
            "pulumi.Output.json_dumps",
            [
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": name,
                            "cluster": {"server": server, "certificate-authority-data": ca_data},
                        }
                    ],
                    "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
                    "current-context": name,
                    "users": [{"name": name, "user": {"exec": exec_config}}],
                }
            ],
        ),
    )
    return Code(f"pulumi.Output.secret({kubeconfig})")


def emit_default_storage_class(
    ctx: StackContext, provider: Code, name: str, provisioner: str, parameters: dict, line
) -> Code:
    """The cluster's default StorageClass: encrypted, kept on release, bound
    where the pod lands."""
    return ctx.program.resource(
        "default_storage_class",
        "kubernetes.storage.v1.StorageClass",
        name,
        {
            "metadata": {
                "name": name,
                "labels": MANAGED_BY,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": provisioner,
            "parameters": parameters,
            "reclaim_policy": "Retain",
            "volume_binding_mode": "WaitForFirstConsumer",
            "allow_volume_expansion": True,
        },
        line,
        {"provider": provider},
    )


def double_cpu(quantity: str) -> str:
    """Twice a CPU quantity ("250m" -> "500m", "0.5" -> "1"), rounded up to a millicore."""
    if quantity.endswith("m"):
        millis = Decimal(quantity[:-1]) * 2
    else:
        millis = Decimal(quantity) * 2000
    millis = Decimal(math.ceil(millis))
    if millis % 1000 == 0:
        return str(int(millis // 1000))
    return f"{int(millis)}m"


def namespace_of(platform: Platform, name: str) -> Namespace:
    namespace = platform.namespace(name)
    if namespace is None:  # references are checked before emission
        raise KeyError(f"namespace {name!r} is not declared")
    return namespace


def cluster_namespace(platform: Platform, name: str) -> str:
    """The name of namespace `name` in the cluster: the one it was created
    with, which a Kubernetes namespace keeps (see `renamedFrom`)."""
    return namespace_of(platform, name).cloud_name


def app_of(platform: Platform, name: str) -> App:
    app = platform.app(name)
    if app is None:
        raise KeyError(f"app {name!r} is not declared")
    return app


def services_namespace(chart: str) -> str:
    """The namespace a shared Helm release runs in."""
    from crosswalk.providers.kubernetes.charts import CHARTS

    return CHARTS[chart].namespace


def enforces_network_policies(platform: Platform) -> bool:
    """Whether the cloud's clusters enforce NetworkPolicies (see ProviderRules);
    where nothing does, none are emitted."""
    from crosswalk.providers import rules_for

    return rules_for(platform.cloud.provider).network_policy_enforcer is not None


def mesh_of(platform: Platform) -> Mesh | None:
    return MESHES.get(platform.services.mesh)
