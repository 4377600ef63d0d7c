"""Kubernetes objects every cloud shares: namespaces with their guard rails,
and apps. Backends call these with the cloud-specific parts (a Kubernetes
provider variable, service-account annotations, datastore connection values).

Everything is emitted through `StackContext.program` (codegen), never pasted:
user values enter as literals, values that differ between environments as
config reads (`StackContext.setting`). Objects are written flat, one resource
per statement, with inline literal dicts whose keys are the snake_case names of
pulumi_kubernetes' `*ArgsDict` TypedDicts (pyright checks them; custom
resources, whose spec is untyped, use the API's camelCase).

Names. Kubernetes names are built from validated DNS labels. Names derived
from two labels join them with a dot (`storefront.to.checkout`), which no
label contains, so two apps can never derive the same name. Pulumi names are
`<namespace>/<name>`, like kubectl's, hence unique per type in a stack.

NetworkPolicies are additive and a pod selected by any policy of a direction
is isolated in that direction: an app's own policies are therefore written
only into namespaces that are default-deny already, where they can only open
traffic, never close it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import App, Namespace, Platform

K8S_IMPORT = "import pulumi_kubernetes as kubernetes"

MANAGED_BY = {"app.kubernetes.io/managed-by": "crosswalk"}
NAME_LABEL = "app.kubernetes.io/name"
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
GATEWAY_STACK = "05-app-services"


# Kubernetes group a team's members are mapped to by each cloud's identity layer.
def team_group(platform: Platform, team: str) -> str:
    return f"{platform.name}:team:{team}"


ACCESS_CLUSTER_ROLES = {"admin": "admin", "developer": "edit", "viewer": "view"}


def env_prefix(datastore: str) -> str:
    """The prefix of a datastore's connection variables: 'order-db' -> 'ORDER_DB'."""
    return datastore.upper().replace("-", "_")


@dataclass
class AppCloudParts:
    """What the cloud adds to an app's objects."""

    # annotations on the app's ServiceAccount (IRSA role ARN, GCP SA, Azure client id)
    service_account_annotations: dict = field(default_factory=dict)
    # labels on the pod template (Azure workload identity needs one)
    pod_labels: dict = field(default_factory=dict)
    # datastore name -> {ENV_VAR: value (str or Code)} for its connection Secret
    datastore_env: dict[str, dict] = field(default_factory=dict)
    # extra egress rules the app needs, e.g. to datastores / cloud APIs: NetworkPolicy egress
    # items spelled as pulumi_kubernetes' NetworkPolicyEgressRuleArgsDict ("to", "ip_block", ...)
    egress: list = field(default_factory=list)


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
        "kubeconfig",
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


def _namespace_of(platform: Platform, name: str) -> Namespace:
    namespace = platform.namespace(name)
    if namespace is None:  # references are checked before emission
        raise KeyError(f"namespace {name!r} is not declared")
    return namespace


def _app_of(platform: Platform, name: str) -> App:
    app = platform.app(name)
    if app is None:
        raise KeyError(f"app {name!r} is not declared")
    return app


def _quota_value(platform: Platform, namespace: str, part: str):
    quota = _namespace_of(platform, namespace).quota
    if quota is None:  # turned off in this environment: the programs differ (CW310)
        return None
    return str(getattr(quota, part))


def _autoscale_value(platform: Platform, app: str, part: str):
    autoscale = _app_of(platform, app).autoscale
    return None if autoscale is None else getattr(autoscale, part)


def _bound_teams(ctx: StackContext, namespace: Namespace) -> list:
    """(team, line) for every team that gets a RoleBinding in `namespace`: its
    owner first, then each team that lists it; admin teams are cluster-wide
    already (the cloud layer binds them) and get none."""
    platform = ctx.platform
    reasons = {}
    if namespace.team:
        reasons[namespace.team] = ctx.line(namespace.path + ("team",))
    for team in platform.teams:
        if namespace.name in team.namespaces and team.name not in reasons:
            index = team.namespaces.index(namespace.name)
            reasons[team.name] = ctx.line(team.path + ("namespaces", index))
    bound = []
    for name, line in reasons.items():
        team = next((t for t in platform.teams if t.name == name), None)
        if team is not None and team.access != "admin":
            bound.append((team, line))
    return bound


def emit_namespace(ctx: StackContext, provider: Code, namespace: Namespace) -> Code:
    """A namespace and its guard rails: Pod Security labels, ResourceQuota,
    LimitRange, default-deny NetworkPolicies and the teams' RoleBindings."""
    program = ctx.program
    program.imports.add(K8S_IMPORT)
    platform = ctx.platform
    name = namespace.name
    key = f"namespaces.{name}"
    line = ctx.line(namespace.path)
    pod_security = ctx.setting(
        f"{key}.podSecurity", lambda p, env: _namespace_of(p, name).pod_security
    )
    namespace_var = program.resource(
        (name, "namespace"),
        "kubernetes.core.v1.Namespace",
        name,
        {
            "metadata": {
                "name": name,
                "labels": {
                    "pod-security.kubernetes.io/enforce": pod_security,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    "pod-security.kubernetes.io/audit": pod_security,
                    "pod-security.kubernetes.io/audit-version": "latest",
                    "pod-security.kubernetes.io/warn": pod_security,
                    "pod-security.kubernetes.io/warn-version": "latest",
                }
                | MANAGED_BY,
            },
        },
        line,
        {"provider": provider},
    )
    opts = {"provider": provider, "depends_on": [namespace_var]}

    if namespace.quota is not None:
        program.resource(
            (name, "quota"),
            "kubernetes.core.v1.ResourceQuota",
            f"{name}/quota",
            {
                "metadata": {"name": "quota", "namespace": name, "labels": MANAGED_BY},
                "spec": {
                    "hard": {
                        "requests.cpu": ctx.setting(
                            f"{key}.quota.cpu", lambda p, env: _quota_value(p, name, "cpu")
                        ),
                        "requests.memory": ctx.setting(
                            f"{key}.quota.memory", lambda p, env: _quota_value(p, name, "memory")
                        ),
                        # Apps' memory limit equals their request, so the sums agree.
                        "limits.memory": ctx.setting(
                            f"{key}.quota.memory", lambda p, env: _quota_value(p, name, "memory")
                        ),
                        "pods": ctx.setting(
                            f"{key}.quota.pods", lambda p, env: _quota_value(p, name, "pods")
                        ),
                    },
                },
            },
            ctx.line(namespace.path + ("quota",)),
            opts,
        )

    # Under a quota, a pod that declares no resources is refused: give containers defaults.
    program.resource(
        (name, "limits"),
        "kubernetes.core.v1.LimitRange",
        f"{name}/container-defaults",
        {
            "metadata": {"name": "container-defaults", "namespace": name, "labels": MANAGED_BY},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default_request": DEFAULT_REQUESTS,
                        "default": DEFAULT_LIMITS,
                    },
                ],
            },
        },
        line,
        opts,
    )

    if namespace.network_policy == "default-deny":
        policy_line = ctx.line(namespace.path + ("networkPolicy",))
        program.resource(
            (name, "default_deny"),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{name}/default-deny",
            {
                "metadata": {"name": "default-deny", "namespace": name, "labels": MANAGED_BY},
                "spec": {"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
            },
            policy_line,
            opts,
        )
        program.resource(
            (name, "allow_dns"),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{name}/allow-dns",
            {
                "metadata": {"name": "allow-dns", "namespace": name, "labels": MANAGED_BY},
                "spec": {
                    "pod_selector": {},
                    "policy_types": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespace_selector": {
                                        "match_labels": {NAMESPACE_LABEL: "kube-system"},
                                    },
                                    "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}},
                                },
                            ],
                            "ports": [
                                {"protocol": "UDP", "port": 53},
                                {"protocol": "TCP", "port": 53},
                            ],
                        },
                    ],
                },
            },
            policy_line,
            opts,
        )
        program.resource(
            (name, "allow_same_namespace"),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{name}/allow-same-namespace",
            {
                "metadata": {
                    "name": "allow-same-namespace",
                    "namespace": name,
                    "labels": MANAGED_BY,
                },
                "spec": {
                    "pod_selector": {},
                    "policy_types": ["Ingress", "Egress"],
                    "ingress": [{"from_": [{"pod_selector": {}}]}],
                    "egress": [{"to": [{"pod_selector": {}}]}],
                },
            },
            policy_line,
            opts,
        )

    for team, team_line in _bound_teams(ctx, namespace):
        role = ACCESS_CLUSTER_ROLES[team.access]
        program.resource(
            (name, "team", team.name),
            "kubernetes.rbac.v1.RoleBinding",
            f"{name}/team.{team.name}",
            {
                "metadata": {"name": f"team.{team.name}", "namespace": name, "labels": MANAGED_BY},
                "role_ref": {
                    "api_group": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [
                    {
                        "api_group": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": team_group(platform, team.name),
                    },
                ],
            },
            team_line,
            opts,
        )
    return namespace_var


ENV_HASH_ANNOTATION = "crosswalk.dev/env-hash"


def env_hash(env: tuple[tuple[str, str], ...]) -> str:
    """A short hash of an app's environment variables (its ConfigMap's data)."""
    text = json.dumps(dict(sorted(env)), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def emit_app(ctx: StackContext, provider: Code, app: App, cloud: AppCloudParts) -> None:
    """An app in its own stack: ServiceAccount, config, datastore Secrets, a
    hardened Deployment, Service, route, autoscaler, disruption budget and the
    NetworkPolicies its traffic needs."""
    program = ctx.program
    program.imports.add(K8S_IMPORT)
    platform = ctx.platform
    name, namespace = app.name, app.namespace
    line = ctx.line(app.path)

    def at(key: str) -> int | None:
        return ctx.line(app.path + (key,))

    selector = {NAME_LABEL: name}
    labels = selector | {"app.kubernetes.io/part-of": platform.name} | MANAGED_BY
    opts = {"provider": provider}

    service_account = program.resource(
        (name, "service_account"),
        "kubernetes.core.v1.ServiceAccount",
        f"{namespace}/{name}",
        {
            "metadata": {"name": name, "namespace": namespace, "labels": labels}
            | _annotations(cloud.service_account_annotations),
            # Workload identity needs no API token: IRSA and Azure project their
            # own tokens through their webhooks, GKE uses the metadata server.
            "automount_service_account_token": False,
        },
        line,
        opts,
    )
    config_map = program.resource(
        (name, "env"),
        "kubernetes.core.v1.ConfigMap",
        f"{namespace}/{name}.env",
        {
            "metadata": {"name": f"{name}.env", "namespace": namespace, "labels": labels},
            "data": ctx.setting("env", lambda p, env: dict(sorted(_app_of(p, name).env))),
        },
        at("env"),
        opts,
    )
    secrets = []
    for store in app.uses:
        secrets.append(
            program.resource(
                (name, store, "secret"),
                "kubernetes.core.v1.Secret",
                f"{namespace}/{name}.{store}",
                {
                    "metadata": {
                        "name": f"{name}.{store}",
                        "namespace": namespace,
                        "labels": labels,
                    },
                    "type": "Opaque",
                    "string_data": dict(sorted(cloud.datastore_env.get(store, {}).items())),
                },
                at("uses"),
                opts | {"additional_secret_outputs": ["data", "stringData"]},
            )
        )

    probe = {"path": app.health_path, "port": app.health_port, "scheme": "HTTP"}
    container = {
        "name": name,
        "image": ctx.setting("image", lambda p, env: _app_of(p, name).image),
        "image_pull_policy": "Always",
    }
    if app.command:
        container["command"] = list(app.command)
    if app.args:
        container["args"] = list(app.args)
    container |= {
        "ports": [{"name": "http", "container_port": app.port, "protocol": "TCP"}],
        "env_from": [{"config_map_ref": {"name": f"{name}.env"}}]
        + [{"secret_ref": {"name": f"{name}.{store}"}} for store in app.uses],
        "resources": {
            "requests": {
                "cpu": ctx.setting("cpu", lambda p, env: _app_of(p, name).cpu),
                "memory": ctx.setting("memory", lambda p, env: _app_of(p, name).memory),
            },
            "limits": {
                "cpu": ctx.setting("cpuLimit", lambda p, env: double_cpu(_app_of(p, name).cpu)),
                "memory": ctx.setting("memory", lambda p, env: _app_of(p, name).memory),
            },
        },
        "startup_probe": {
            "http_get": probe,
            "period_seconds": 5,
            "timeout_seconds": 3,
            "failure_threshold": 60,
        },
        "liveness_probe": {
            "http_get": probe,
            "period_seconds": 10,
            "timeout_seconds": 3,
            "failure_threshold": 3,
        },
        "readiness_probe": {
            "http_get": probe,
            "period_seconds": 5,
            "timeout_seconds": 3,
            "failure_threshold": 3,
        },
        "security_context": {
            "allow_privilege_escalation": False,
            "read_only_root_filesystem": True,
            "privileged": False,
            "run_as_non_root": True,
            "run_as_user": RUN_AS,
            "run_as_group": RUN_AS,
            "capabilities": {"drop": ["ALL"]},
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
    }
    # With an autoscaler, `replicas` is only the starting count: the HPA owns
    # it afterwards, and re-applying it would fight the HPA (an SSA conflict).
    deployment_opts = opts | {"depends_on": [service_account, config_map, *secrets]}
    if _autoscaled(ctx, name):
        deployment_opts["ignore_changes"] = ["spec.replicas"]
    deployment = program.resource(
        (name, "deployment"),
        "kubernetes.apps.v1.Deployment",
        f"{namespace}/{name}",
        {
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": ctx.setting("replicas", lambda p, env: _app_of(p, name).replicas),
                "selector": {"match_labels": selector},
                "template": {
                    "metadata": {
                        "labels": labels
                        | {k: v for k, v in sorted(cloud.pod_labels.items()) if k not in labels},
                        # Pods read the ConfigMap at start only: a new hash rolls them.
                        "annotations": {
                            ENV_HASH_ANNOTATION: ctx.setting(
                                "envHash", lambda p, env: env_hash(_app_of(p, name).env)
                            )
                        },
                    },
                    "spec": {
                        "service_account_name": name,
                        "automount_service_account_token": False,
                        "enable_service_links": False,
                        "security_context": {
                            "run_as_non_root": True,
                            "run_as_user": RUN_AS,
                            "run_as_group": RUN_AS,
                            "fs_group": RUN_AS,
                            "seccomp_profile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        # The root filesystem is read-only; /tmp is the one writable place.
                        "volumes": [{"name": "tmp", "empty_dir": {}}],
                        "topology_spread_constraints": [
                            {
                                "max_skew": 1,
                                "topology_key": "topology.kubernetes.io/zone",
                                "when_unsatisfiable": "ScheduleAnyway",
                                "label_selector": {"match_labels": selector},
                            },
                        ],
                    },
                },
            },
        },
        line,
        deployment_opts,
    )
    program.resource(
        (name, "service"),
        "kubernetes.core.v1.Service",
        f"{namespace}/{name}",
        {
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {
                        "name": "http",
                        "port": SERVICE_PORT,
                        "target_port": "http",
                        "protocol": "TCP",
                    },
                ],
            },
        },
        line,
        opts,
    )

    if app.ingress is not None:
        _emit_route(ctx, provider, app, labels)

    if app.autoscale is not None:
        program.resource(
            (name, "autoscaler"),
            "kubernetes.autoscaling.v2.HorizontalPodAutoscaler",
            f"{namespace}/{name}",
            {
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {
                    "scale_target_ref": {
                        "api_version": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                    },
                    "min_replicas": ctx.setting(
                        "autoscale.min", lambda p, env: _autoscale_value(p, name, "min")
                    ),
                    "max_replicas": ctx.setting(
                        "autoscale.max", lambda p, env: _autoscale_value(p, name, "max")
                    ),
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "average_utilization": ctx.setting(
                                        "autoscale.cpuPercent",
                                        lambda p, env: _autoscale_value(p, name, "cpu_percent"),
                                    ),
                                },
                            },
                        },
                    ],
                },
            },
            at("autoscale"),
            opts | {"depends_on": [deployment]},
        )

    # Decided over every environment, so the program is the same for all of
    # them; with max_unavailable 1 it never blocks a drain of a single pod.
    if _most_replicas(ctx, name) > 1:
        program.resource(
            (name, "disruption_budget"),
            "kubernetes.policy.v1.PodDisruptionBudget",
            f"{namespace}/{name}",
            {
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"max_unavailable": 1, "selector": {"match_labels": selector}},
            },
            line,
            opts,
        )

    _emit_app_policies(ctx, provider, app, cloud, selector, labels)


def _annotations(annotations: dict) -> dict:
    return {"annotations": dict(sorted(annotations.items()))} if annotations else {}


def _autoscaled(ctx: StackContext, name: str) -> bool:
    return any(_app_of(p, name).autoscale is not None for p in ctx.platforms.values())


def _most_replicas(ctx: StackContext, name: str) -> int:
    counts = []
    for platform in ctx.platforms.values():
        app = _app_of(platform, name)
        counts.append(app.replicas)
        if app.autoscale is not None:
            counts.append(app.autoscale.min)
    return max(counts)


def _emit_route(ctx: StackContext, provider: Code, app: App, labels: dict) -> None:
    """An HTTPRoute on the platform's Gateway, or an Ingress for nginx."""
    program = ctx.program
    platform = ctx.platform
    ingress = app.ingress
    name, namespace = app.name, app.namespace
    line = ctx.line(app.path + ("ingress",))
    if platform.app_services.ingress == "nginx":
        rule = {
            "http": {
                "paths": [
                    {
                        "path": ingress.path,
                        "path_type": "Prefix",
                        "backend": {"service": {"name": name, "port": {"name": "http"}}},
                    },
                ],
            },
        }
        spec = {"ingress_class_name": "nginx", "rules": [rule]}
        metadata = {"name": name, "namespace": namespace, "labels": labels}
        if ingress.host:
            rule = {"host": ingress.host} | rule
            spec["rules"] = [rule]
            spec["tls"] = [{"hosts": [ingress.host], "secret_name": f"{name}.tls"}]
            if platform.app_services.issuer:
                metadata["annotations"] = {
                    "cert-manager.io/cluster-issuer": platform.app_services.issuer,
                }
        program.resource(
            (name, "ingress"),
            "kubernetes.networking.v1.Ingress",
            f"{namespace}/{name}",
            {"metadata": metadata, "spec": spec},
            line,
            {"provider": provider},
        )
        return
    spec = {
        "parentRefs": [
            {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": ctx.upstream(GATEWAY_STACK, "gateway_name"),
                "namespace": ctx.upstream(GATEWAY_STACK, "gateway_namespace"),
            },
        ],
    }
    if ingress.host:
        spec["hostnames"] = [ingress.host]
    spec["rules"] = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": ingress.path}}],
            "backendRefs": [{"name": name, "port": SERVICE_PORT}],
        },
    ]
    program.resource(
        (name, "route"),
        "kubernetes.apiextensions.CustomResource",
        f"{namespace}/{name}",
        {
            "api_version": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": spec,
        },
        line,
        {"provider": provider},
    )


def services_namespace(chart: str) -> str:
    """The namespace a shared Helm release runs in."""
    from crosswalk.providers.services import CHARTS

    return CHARTS[chart].namespace


def _emit_app_policies(
    ctx: StackContext, provider: Code, app: App, cloud: AppCloudParts, selector: dict, labels: dict
) -> None:
    """Open what the app's traffic needs in default-deny namespaces: from the
    ingress controller, to the apps it depends on (both ends), and the cloud's
    egress (datastores, cloud APIs)."""
    program = ctx.program
    platform = ctx.platform
    name, namespace = app.name, app.namespace
    opts = {"provider": provider}
    own = _namespace_of(platform, namespace).network_policy == "default-deny"

    def allow_from_namespace(suffix: str, source: str, line) -> None:
        """Let pods of namespace `source` reach the app's port."""
        program.resource(
            (name, "from", suffix),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{namespace}/{name}.from-{suffix}",
            {
                "metadata": {
                    "name": f"{name}.from-{suffix}",
                    "namespace": namespace,
                    "labels": labels,
                },
                "spec": {
                    "pod_selector": {"match_labels": selector},
                    "policy_types": ["Ingress"],
                    "ingress": [
                        {
                            "from_": [
                                {"namespace_selector": {"match_labels": {NAMESPACE_LABEL: source}}},
                            ],
                            "ports": [{"protocol": "TCP", "port": app.port}],
                        },
                    ],
                },
            },
            line,
            opts,
        )

    if own and platform.services.monitoring:
        # Prometheus (kube-prometheus-stack) scrapes the app's port.
        allow_from_namespace(
            "monitoring",
            services_namespace("kube-prometheus-stack"),
            ctx.line(("clusterServices", "monitoring")),
        )

    if own and app.ingress is not None and platform.app_services.ingress in INGRESS_NAMESPACES:
        controller = INGRESS_NAMESPACES[platform.app_services.ingress]
        allow_from_namespace("ingress", controller, ctx.line(app.path + ("ingress",)))
        # cert-manager's HTTP-01 solver for an Ingress runs beside it in this namespace.
        if (
            platform.app_services.ingress == "nginx"
            and app.ingress.host
            and platform.app_services.issuer
        ):
            program.resource(
                (name, "acme_solver"),
                "kubernetes.networking.v1.NetworkPolicy",
                f"{namespace}/{name}.acme-solver",
                {
                    "metadata": {
                        "name": f"{name}.acme-solver",
                        "namespace": namespace,
                        "labels": labels,
                    },
                    "spec": {
                        "pod_selector": {
                            "match_labels": {"acme.cert-manager.io/http01-solver": "true"},
                        },
                        "policy_types": ["Ingress"],
                        "ingress": [
                            {
                                "from_": [
                                    {
                                        "namespace_selector": {
                                            "match_labels": {NAMESPACE_LABEL: controller},
                                        },
                                    },
                                ],
                                "ports": [{"protocol": "TCP", "port": ACME_SOLVER_PORT}],
                            },
                        ],
                    },
                },
                ctx.line(app.path + ("ingress",)),
                opts,
            )

    for index, other in enumerate(app.depends_on):
        target = _app_of(platform, other)
        if target.namespace == namespace:
            continue  # allow-same-namespace covers it
        peer_line = ctx.line(app.path + ("dependsOn", index))
        if own:
            program.resource(
                (name, "to", other),
                "kubernetes.networking.v1.NetworkPolicy",
                f"{namespace}/{name}.to.{other}",
                {
                    "metadata": {
                        "name": f"{name}.to.{other}",
                        "namespace": namespace,
                        "labels": labels,
                    },
                    "spec": {
                        "pod_selector": {"match_labels": selector},
                        "policy_types": ["Egress"],
                        "egress": [
                            {
                                "to": [
                                    {
                                        "namespace_selector": {
                                            "match_labels": {NAMESPACE_LABEL: target.namespace},
                                        },
                                        "pod_selector": {"match_labels": {NAME_LABEL: other}},
                                    },
                                ],
                                "ports": [{"protocol": "TCP", "port": target.port}],
                            },
                        ],
                    },
                },
                peer_line,
                opts,
            )
        if _namespace_of(platform, target.namespace).network_policy == "default-deny":
            program.resource(
                (other, "from", name),
                "kubernetes.networking.v1.NetworkPolicy",
                f"{target.namespace}/{other}.from.{name}",
                {
                    "metadata": {
                        "name": f"{other}.from.{name}",
                        "namespace": target.namespace,
                        "labels": {NAME_LABEL: other, "app.kubernetes.io/part-of": platform.name}
                        | MANAGED_BY,
                    },
                    "spec": {
                        "pod_selector": {"match_labels": {NAME_LABEL: other}},
                        "policy_types": ["Ingress"],
                        "ingress": [
                            {
                                "from_": [
                                    {
                                        "namespace_selector": {
                                            "match_labels": {NAMESPACE_LABEL: namespace},
                                        },
                                        "pod_selector": {"match_labels": selector},
                                    },
                                ],
                                "ports": [{"protocol": "TCP", "port": target.port}],
                            },
                        ],
                    },
                },
                peer_line,
                opts,
            )

    if own and cloud.egress:
        program.resource(
            (name, "egress"),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{namespace}/{name}.egress",
            {
                "metadata": {"name": f"{name}.egress", "namespace": namespace, "labels": labels},
                "spec": {
                    "pod_selector": {"match_labels": selector},
                    "policy_types": ["Egress"],
                    "egress": list(cloud.egress),
                },
            },
            ctx.line(app.path + ("uses",)),
            opts,
        )
