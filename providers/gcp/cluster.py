"""Layer 3 on GCP: the GKE cluster, node pools, team RBAC and namespaces."""

from __future__ import annotations

import math

from crosswalk.compiler.codegen import Call, Code, joined
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.common import deletion_protection, moved_from
from crosswalk.providers.gcp.common import (
    PODS_RANGE,
    SERVICES_RANGE,
    enable_apis,
    gcp_provider,
    invoke_opts,
    opts,
    project,
    region,
    unique_name,
    var_part,
)
from crosswalk.providers.gcp.rules import MEMBER, address_plan, security_group_domain

NODE_SIZES = {
    "small": "e2-standard-2",
    "medium": "e2-standard-4",
    "large": "e2-standard-8",
    "xlarge": "e2-standard-16",
}


TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}


CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _subject(member: str) -> dict:
    """A Kubernetes RBAC subject for an IAM principal: GKE names users and
    service accounts by email, and Google Groups by the group's email."""
    kind, email = member.split(":", 1)
    return {
        "kind": "Group" if kind == "group" else "User",
        "name": email,
        "api_group": "rbac.authorization.k8s.io",
    }


def emit_cluster(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    region_name = region(ctx)
    provider = gcp_provider(ctx)
    binary_authorization = p.cluster.binary_authorization
    apis = enable_apis(
        ctx,
        provider,
        ["container.googleapis.com"]
        + (["binaryauthorization.googleapis.com"] if binary_authorization else []),
    )
    plan = address_plan(p.network)
    line = ctx.line(("cluster",))
    endpoint = p.cluster.endpoint
    node_account = ctx.upstream("01-identity", "node_service_account_email")
    zones = prog.assign(
        prog.name("zones"),
        Call(
            "gcp.compute.get_zones",
            kwargs={"region": region_name, "status": "UP", "opts": invoke_opts(provider)},
        ),
    )
    shielded = {"enable_secure_boot": True, "enable_integrity_monitoring": True}
    logging = ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]
    if p.services.logging:
        logging.append("WORKLOADS")
    monitoring = ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]
    if p.services.monitoring:
        monitoring += ["STORAGE", "HPA", "POD", "DAEMONSET", "DEPLOYMENT", "STATEFULSET"]
    args = {
        "name": unique_name(ctx, "cluster", 40, "cluster"),
        "description": f"Cluster of platform {p.name}",
        "location": region_name,
        "node_locations": Code(f"{zones}.names[:{p.network.zones}]"),
        "min_master_version": p.cluster.version,
        "release_channel": {"channel": "REGULAR"},
        # Node pools are separate resources; the default one goes at once.
        "remove_default_node_pool": True,
        "initial_node_count": 1,
        "node_config": {
            "service_account": node_account,
            "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
            "shielded_instance_config": shielded,
            "workload_metadata_config": {"mode": "GKE_METADATA"},
        },
        "network": ctx.upstream("02-managed-infra", "network_id"),
        "subnetwork": ctx.upstream("02-managed-infra", "subnetwork_id"),
        "networking_mode": "VPC_NATIVE",
        "ip_allocation_policy": {
            "cluster_secondary_range_name": PODS_RANGE,
            "services_secondary_range_name": SERVICES_RANGE,
        },
        # Dataplane V2 enforces the namespaces' NetworkPolicies.
        "datapath_provider": "ADVANCED_DATAPATH",
        # Pod-to-pod traffic on one node goes through the VPC too, so the
        # subnet's flow logs and firewall see it (checkov's CKV_GCP_61).
        "enable_intranode_visibility": True,
        "private_cluster_config": {
            "enable_private_nodes": True,
            "enable_private_endpoint": not endpoint.public,
            "master_ipv4_cidr_block": str(plan.control_plane),
        },
        "master_authorized_networks_config": {
            "cidr_blocks": [
                {"cidr_block": cidr, "display_name": cidr} for cidr in endpoint.allowed_cidrs
            ],
            "gcp_public_cidrs_access_enabled": False,
        }
        if endpoint.allowed_cidrs or not endpoint.public
        else None,
        "workload_identity_config": {"workload_pool": joined(project(ctx), ".svc.id.goog")},
        "enable_shielded_nodes": True,
        "enable_legacy_abac": False,
        "database_encryption": {
            "state": "ENCRYPTED",
            "key_name": ctx.upstream("02-managed-infra", "secrets_key_id"),
        },
        "logging_config": {"enable_components": logging},
        # kube-prometheus-stack (cluster-services) is the cluster's Prometheus.
        "monitoring_config": {
            "enable_components": monitoring,
            "managed_prometheus": {"enabled": False},
        },
        "addons_config": {
            "http_load_balancing": {"disabled": False},
            "horizontal_pod_autoscaling": {"disabled": False},
            "gce_persistent_disk_csi_driver_config": {"enabled": True},
        },
        "security_posture_config": {
            "mode": "BASIC",
            "vulnerability_mode": "VULNERABILITY_BASIC",
        },
        "deletion_protection": deletion_protection(ctx),
    }
    if binary_authorization:
        # Every image is checked against the project's Binary Authorization
        # policy (the organization's, where it sets one): it allows every
        # image until tightened, which then needs no change here (CKV_GCP_66).
        args["binary_authorization"] = {"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    domain = security_group_domain(p)
    if domain:
        # Google Groups for RBAC: team groups are looked up through this group.
        args["authenticator_groups_config"] = {"security_group": f"gke-security-groups@{domain}"}
    cluster = prog.resource(
        "cluster",
        "gcp.container.Cluster",
        f"{p.name}-cluster",
        args,
        line,
        opts(provider, apis),
    )
    for pool in p.cluster.node_pools:
        _node_pool(ctx, provider, apis, cluster, pool, node_account, shielded)

    kubeconfig = k8s.emit_kubeconfig(
        ctx,
        p.name,
        Call("pulumi.Output.concat", ["https://", Code(f"{cluster}.endpoint")]),
        Code(f"{cluster}.master_auth.cluster_ca_certificate"),
        {
            "command": "gke-gcloud-auth-plugin",
            "installHint": "Install gke-gcloud-auth-plugin: "
            "gcloud components install gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
        },
    )
    k8s_provider = k8s.emit_provider(ctx, kubeconfig, line)
    k8s.emit_default_storage_class(
        ctx,
        k8s_provider,
        k8s.STORAGE_CLASSES["gcp"],
        "pd.csi.storage.gke.io",
        {"type": "pd-balanced"},
        line,
    )
    k8s.emit_route_roles(ctx, k8s_provider, line)
    namespaces = {}
    for namespace in p.cluster.namespaces:
        namespaces[namespace.name] = k8s.emit_namespace(ctx, k8s_provider, namespace)
    _team_bindings(ctx, k8s_provider, namespaces)
    _build_bindings(ctx, k8s_provider, namespaces)
    prog.export("cluster_name", Code(f"{cluster}.name"))
    prog.export("kubeconfig", kubeconfig)


def _node_pool(ctx: StackContext, provider, apis, cluster, pool, node_account, shielded) -> None:
    p, prog = ctx.platform, ctx.program
    key = f"nodePools.{pool.name}"
    zones = p.network.zones
    name = pool.name
    args = {
        "name": pool.cloud_name,  # GKE cannot rename a pool (`renamedFrom` keeps it)
        "cluster": Code(f"{cluster}.id"),
        "location": region(ctx),
        "management": {"auto_repair": True, "auto_upgrade": True},
        "upgrade_settings": {"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0},
        "node_config": {
            "machine_type": ctx.setting(
                f"{key}.machineType",
                lambda q, env: q.node_pool(name).machine_type or NODE_SIZES[q.node_pool(name).size],
            ),
            "spot": pool.spot,
            "disk_size_gb": ctx.setting(
                f"{key}.diskSizeGb", lambda q, env: q.node_pool(name).disk_size_gb
            ),
            "disk_type": "pd-balanced",
            "image_type": "COS_CONTAINERD",
            "service_account": node_account,
            "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
            "labels": dict(pool.labels) | {k8s.NODE_POOL_LABEL: pool.cloud_name},
            "taints": [
                {"key": t.key, "value": t.value, "effect": TAINT_EFFECTS[t.effect]}
                for t in pool.taints
            ]
            or None,
            "shielded_instance_config": shielded,
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "metadata": {"disable-legacy-endpoints": "true"},
        },
    }
    if p.services.autoscaler:
        # GKE's own cluster autoscaler scales the pool within these totals (all zones).
        args["initial_node_count"] = ctx.setting(
            f"{key}.initialNodesPerZone",
            lambda q, env: math.ceil(q.node_pool(name).min / zones),
        )
        args["autoscaling"] = {
            "total_min_node_count": ctx.setting(f"{key}.min", lambda q, env: q.node_pool(name).min),
            "total_max_node_count": ctx.setting(f"{key}.max", lambda q, env: q.node_pool(name).max),
            "location_policy": "BALANCED",
        }
        ignore = ["initialNodeCount"]
    else:
        args["node_count"] = ctx.setting(
            f"{key}.nodesPerZone",
            lambda q, env: math.ceil(max(q.node_pool(name).min, 1) / zones),
        )
        ignore = []
    extra = {"ignore_changes": ignore} if ignore else {}
    prog.resource(
        ("node_pool", var_part(pool.name)),
        "gcp.container.NodePool",
        f"{p.name}-{pool.name}",
        args,
        ctx.line(pool.path),
        opts(provider, apis, **extra, **moved_from(lambda n: f"{p.name}-{n}", pool)),
    )


def _team_bindings(ctx: StackContext, k8s_provider: Code, namespaces: dict) -> None:
    """Map each team's members to its Kubernetes role where the shared
    RoleBindings give the team one (on EKS, access entries map them to the
    team's group; GKE sees the members themselves). Admins hold
    roles/container.admin, which covers the whole cluster."""
    p, prog = ctx.platform, ctx.program
    for team in p.teams:
        if team.access == "admin" or not team.members:
            continue
        subjects = [_subject(member) for member in team.members if MEMBER.match(member)]
        for namespace in p.cluster.namespaces:
            if namespace.team != team.name and namespace.name not in team.namespaces:
                continue
            prog.resource(
                (var_part(namespace.name), "team", var_part(team.name), "members"),
                "kubernetes.rbac.v1.RoleBinding",
                f"{namespace.name}/team.{team.name}.members",
                {
                    "metadata": {
                        "name": f"team.{team.name}.members",
                        "namespace": namespace.cloud_name,
                        "labels": k8s.MANAGED_BY,
                    },
                    "role_ref": {
                        "api_group": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": k8s.ACCESS_CLUSTER_ROLES[team.access],
                    },
                    "subjects": subjects,
                },
                ctx.line(team.path + ("members",)),
                {"provider": k8s_provider, "depends_on": [namespaces[namespace.name]]}
                | moved_from(lambda n, t=team.name: f"{n}/team.{t}.members", namespace),
            )


def _build_bindings(ctx: StackContext, k8s_provider: Code, namespaces: dict) -> None:
    """An app's builds deploy its stack: its build identity (GKE sees the
    service account by its email) may edit its namespace, no other, and
    never its RBAC (`edit`, not `admin`)."""
    p, prog = ctx.platform, ctx.program
    for app in p.builds:
        namespace = p.namespace(app.namespace)
        prog.resource(
            (var_part(namespace.name), "build", var_part(app.name)),
            "kubernetes.rbac.v1.RoleBinding",
            f"{namespace.name}/build.{app.cloud_name}",
            {
                "metadata": {
                    "name": f"build.{app.cloud_name}",
                    "namespace": namespace.cloud_name,
                    "labels": k8s.MANAGED_BY,
                },
                "role_ref": {
                    "api_group": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "edit",
                },
                "subjects": [
                    {
                        "api_group": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": ctx.upstream("01-identity", f"build_{app.name}_service_account"),
                    }
                ],
            },
            ctx.line(app.build.path),
            {"provider": k8s_provider, "depends_on": [namespaces[namespace.name]]},
        )
