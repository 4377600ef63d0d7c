"""Namespaces and their guard rails (layer 3, every cloud)."""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import Namespace, Platform
from crosswalk.providers.common import moved_from, protect
from crosswalk.providers.kubernetes.common import (
    ACCESS_CLUSTER_ROLES,
    DEFAULT_LIMITS,
    DEFAULT_REQUESTS,
    K8S_IMPORT,
    MANAGED_BY,
    NAMESPACE_LABEL,
    enforces_network_policies,
    mesh_of,
    namespace_of,
    team_group,
)


def _quota_value(platform: Platform, namespace: str, part: str):
    quota = namespace_of(platform, namespace).quota
    if quota is None:  # turned off in this environment: the programs differ (CW310)
        return None
    return str(getattr(quota, part))


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
    # Pulumi names follow platform.yaml; in the cluster the namespace keeps the
    # name it was created with (Kubernetes cannot rename one: `renamedFrom`).
    name, in_cluster = namespace.name, namespace.cloud_name
    key = f"namespaces.{name}"

    def moved(suffix: str = "") -> dict:
        return moved_from(lambda n: f"{n}{suffix}", namespace)

    line = ctx.line(namespace.path)
    pod_security = ctx.setting(
        f"{key}.podSecurity", lambda p, env: namespace_of(p, name).pod_security
    )
    labels = {
        "pod-security.kubernetes.io/enforce": pod_security,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": pod_security,
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": pod_security,
        "pod-security.kubernetes.io/warn-version": "latest",
    }
    metadata: dict = {"name": in_cluster}
    mesh = mesh_of(platform)
    if mesh is not None:
        # Every app namespace is in the mesh, accepting only mutual TLS.
        labels |= mesh.labels
        if mesh.annotations or mesh.strict:
            metadata["annotations"] = mesh.annotations | mesh.strict
    metadata["labels"] = labels | MANAGED_BY
    namespace_var = program.resource(
        (name, "namespace"),
        "kubernetes.core.v1.Namespace",
        name,
        {"metadata": metadata},
        line,
        {"provider": provider} | moved() | protect(ctx),
    )
    opts = {"provider": provider, "depends_on": [namespace_var]}

    if namespace.quota is not None:
        program.resource(
            (name, "quota"),
            "kubernetes.core.v1.ResourceQuota",
            f"{name}/quota",
            {
                "metadata": {"name": "quota", "namespace": in_cluster, "labels": MANAGED_BY},
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
            opts | moved("/quota"),
        )

    # Under a quota, a pod that declares no resources is refused: give containers defaults.
    program.resource(
        (name, "limits"),
        "kubernetes.core.v1.LimitRange",
        f"{name}/container-defaults",
        {
            "metadata": {
                "name": "container-defaults",
                "namespace": in_cluster,
                "labels": MANAGED_BY,
            },
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
        opts | moved("/container-defaults"),
    )

    if namespace.network_policy == "default-deny" and enforces_network_policies(platform):
        policy_line = ctx.line(namespace.path + ("networkPolicy",))
        program.resource(
            (name, "default_deny"),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{name}/default-deny",
            {
                "metadata": {"name": "default-deny", "namespace": in_cluster, "labels": MANAGED_BY},
                "spec": {"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
            },
            policy_line,
            opts | moved("/default-deny"),
        )
        program.resource(
            (name, "allow_dns"),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{name}/allow-dns",
            {
                "metadata": {"name": "allow-dns", "namespace": in_cluster, "labels": MANAGED_BY},
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
            opts | moved("/allow-dns"),
        )
        program.resource(
            (name, "allow_same_namespace"),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{name}/allow-same-namespace",
            {
                "metadata": {
                    "name": "allow-same-namespace",
                    "namespace": in_cluster,
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
            opts | moved("/allow-same-namespace"),
        )
        if mesh is not None:
            # The proxies reach their control plane.
            program.resource(
                (name, "allow_mesh"),
                "kubernetes.networking.v1.NetworkPolicy",
                f"{name}/allow-mesh",
                {
                    "metadata": {
                        "name": "allow-mesh",
                        "namespace": in_cluster,
                        "labels": MANAGED_BY,
                    },
                    "spec": {
                        "pod_selector": {},
                        "policy_types": ["Egress"],
                        "egress": [
                            {
                                "to": [
                                    {
                                        "namespace_selector": {
                                            "match_labels": {NAMESPACE_LABEL: mesh.namespace},
                                        },
                                    },
                                ],
                                "ports": [
                                    {"protocol": "TCP", "port": port} for port in mesh.control_ports
                                ],
                            },
                        ],
                    },
                },
                ctx.line(("clusterServices", "mesh")),
                opts | moved("/allow-mesh"),
            )

    for team, team_line in _bound_teams(ctx, namespace):
        role = ACCESS_CLUSTER_ROLES[team.access]
        program.resource(
            (name, "team", team.name),
            "kubernetes.rbac.v1.RoleBinding",
            f"{name}/team.{team.name}",
            {
                "metadata": {
                    "name": f"team.{team.name}",
                    "namespace": in_cluster,
                    "labels": MANAGED_BY,
                },
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
            opts | moved(f"/team.{team.name}"),
        )
    return namespace_var


def emit_route_roles(ctx: StackContext, provider: Code, line) -> Code | None:
    """With a Gateway API ingress, namespace admins and editors (developer
    teams, the apps' CI) may manage HTTPRoutes: Kubernetes' admin and edit
    roles only cover built-in kinds, so a ClusterRole aggregates into them."""
    from crosswalk.providers.kubernetes.charts import GATEWAY_CLASSES

    if ctx.platform.app_services.ingress not in GATEWAY_CLASSES:
        return None
    ctx.program.imports.add(K8S_IMPORT)
    return ctx.program.resource(
        "route_editors",
        "kubernetes.rbac.v1.ClusterRole",
        "crosswalk-route-editors",
        {
            "metadata": {
                "name": "crosswalk:route-editors",
                "labels": {
                    "rbac.authorization.k8s.io/aggregate-to-admin": "true",
                    "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                }
                | MANAGED_BY,
            },
            "rules": [
                {
                    "api_groups": ["gateway.networking.k8s.io"],
                    "resources": ["httproutes"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
            ],
        },
        line,
        {"provider": provider},
    )
