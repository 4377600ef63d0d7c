"""Layer 3 on AWS: the EKS cluster, node groups, access entries, add-ons and
namespaces.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.aws.common import MANAGED, aws_provider, irsa_role, opts

NODE_SIZES = {
    "small": "t3.medium",
    "medium": "m6i.large",
    "large": "m6i.xlarge",
    "xlarge": "m6i.2xlarge",
}


TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}


def emit_cluster(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    prog.imports.add("import json")
    provider = aws_provider(ctx)
    line = ctx.line(("cluster",))
    endpoint = p.cluster.endpoint
    cluster = prog.resource(
        "cluster",
        "aws.eks.Cluster",
        f"{p.name}-cluster",
        {
            "role_arn": ctx.upstream("01-identity", "cluster_role_arn"),
            "version": p.cluster.version,
            "vpc_config": {
                "subnet_ids": ctx.upstream("02-managed-infra", "private_subnet_ids"),
                "endpoint_private_access": True,
                "endpoint_public_access": endpoint.public,
                "public_access_cidrs": list(endpoint.allowed_cidrs) if endpoint.public else None,
            },
            "access_config": {
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            "enabled_cluster_log_types": [
                "api",
                "audit",
                "authenticator",
                "controllerManager",
                "scheduler",
            ],
            "encryption_config": {
                "provider": {"key_arn": ctx.upstream("02-managed-infra", "secrets_key_arn")},
                "resources": ["secrets"],
            },
        },
        line,
        opts(provider),
    )
    oidc = prog.resource(
        "cluster_oidc",
        "aws.iam.OpenIdConnectProvider",
        f"{p.name}-cluster-oidc",
        {
            "url": Code(f"{cluster}.identities[0].oidcs[0].issuer"),
            "client_id_lists": ["sts.amazonaws.com"],
        },
        line,
        opts(provider),
    )
    for pool in p.cluster.node_pools:
        key = f"nodePools.{pool.name}"
        prog.resource(
            ("node_pool", pool.name),
            "aws.eks.NodeGroup",
            f"{p.name}-{pool.name}",
            {
                "cluster_name": Code(f"{cluster}.name"),
                "node_role_arn": ctx.upstream("01-identity", "node_role_arn"),
                "subnet_ids": ctx.upstream("02-managed-infra", "private_subnet_ids"),
                "instance_types": [pool.machine_type or NODE_SIZES[pool.size]],
                "capacity_type": "SPOT" if pool.spot else "ON_DEMAND",
                "ami_type": "AL2023_x86_64_STANDARD",
                "disk_size": pool.disk_size_gb,
                "scaling_config": {
                    "min_size": ctx.setting(
                        f"{key}.min", lambda q, env, n=pool.name: q.node_pool(n).min
                    ),
                    "max_size": ctx.setting(
                        f"{key}.max", lambda q, env, n=pool.name: q.node_pool(n).max
                    ),
                    "desired_size": ctx.setting(
                        f"{key}.desired", lambda q, env, n=pool.name: max(q.node_pool(n).min, 1)
                    ),
                },
                "update_config": {"max_unavailable": 1},
                "labels": dict(pool.labels) | {"crosswalk/node-pool": pool.name},
                "taints": [
                    {"key": t.key, "value": t.value or None, "effect": TAINT_EFFECTS[t.effect]}
                    for t in pool.taints
                ]
                or None,
            },
            ctx.line(pool.path),
            opts(provider, ignore_changes=["scalingConfig.desiredSize"]),
        )
    for team in p.teams:
        role_arn = ctx.upstream("01-identity", f"team_{team.name}_role_arn")
        entry = prog.resource(
            ("team", team.name, "access"),
            "aws.eks.AccessEntry",
            f"{p.name}-team-{team.name}",
            {
                "cluster_name": Code(f"{cluster}.name"),
                "principal_arn": role_arn,
                "kubernetes_groups": [k8s.team_group(p, team.name)],
            },
            ctx.line(team.path),
            opts(provider),
        )
        if team.access == "admin":
            prog.resource(
                ("team", team.name, "admin"),
                "aws.eks.AccessPolicyAssociation",
                f"{p.name}-team-{team.name}-admin",
                {
                    "cluster_name": Code(f"{cluster}.name"),
                    "principal_arn": role_arn,
                    "policy_arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                    "access_scope": {"type": "cluster"},
                },
                ctx.line(team.path + ("access",)),
                opts(provider, depends_on=[entry]),
            )
    kubeconfig = k8s.emit_kubeconfig(
        ctx,
        p.name,
        Code(f"{cluster}.endpoint"),
        Code(f"{cluster}.certificate_authority.data"),
        {
            "command": "aws",
            "args": [
                "eks",
                "get-token",
                "--cluster-name",
                Code(f"{cluster}.name"),
                "--region",
                p.cloud.region,
            ],
        },
    )
    k8s_provider = k8s.emit_provider(ctx, kubeconfig, line)
    ebs_role = irsa_role(
        ctx,
        provider,
        "ebs_csi",
        f"{p.name}-ebs-csi",
        "kube-system",
        "ebs-csi-controller-sa",
        ("cluster",),
        managed=[MANAGED + "service-role/AmazonEBSCSIDriverPolicy"],
        oidc=(Code(f"{oidc}.arn"), Code(f"{oidc}.url")),
    )
    prog.resource(
        "ebs_csi",
        "aws.eks.Addon",
        f"{p.name}-ebs-csi",
        {
            "cluster_name": Code(f"{cluster}.name"),
            "addon_name": "aws-ebs-csi-driver",
            "service_account_role_arn": Code(f"{ebs_role}.arn"),
            "resolve_conflicts_on_update": "OVERWRITE",
        },
        line,
        opts(provider),
    )
    k8s.emit_default_storage_class(
        ctx,
        k8s_provider,
        "encrypted-gp3",
        "ebs.csi.aws.com",
        {"type": "gp3", "encrypted": "true"},
        line,
    )
    for namespace in p.cluster.namespaces:
        k8s.emit_namespace(ctx, k8s_provider, namespace)
    prog.export("cluster_name", Code(f"{cluster}.name"))
    prog.export("kubeconfig", kubeconfig)
    prog.export("oidc_provider_arn", Code(f"{oidc}.arn"))
    prog.export("oidc_provider_url", Code(f"{oidc}.url"))
    prog.export(
        "cluster_security_group_id", Code(f"{cluster}.vpc_config.cluster_security_group_id")
    )
