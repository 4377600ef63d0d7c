"""Layer 3 on AWS: the EKS cluster on pulumi-eks (access entries, OIDC provider,
managed add-ons, managed node groups), the VPC CNI with network policy
enforcement, and the namespaces.

pulumi-eks makes the cluster, its IAM OpenID Connect provider (for IRSA), the
access entries with their access policies, the kube-proxy add-on and the
kubeconfig; crosswalk adds what it does not: the VPC CNI and EBS CSI add-ons
with their own IRSA roles, CoreDNS once nodes exist, and one managed node
group per node pool.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code, literal
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.aws.common import MANAGED, aws_provider, irsa_role, unique_name
from crosswalk.providers.common import moved_from
from crosswalk.providers.kubernetes import database_users

EKS_IMPORT = "import pulumi_eks as eks"

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


CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
NAMESPACE_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
EDIT_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"

# Layers whose programs talk to the cluster's API, and of those the ones that
# need all of it (apps alone get admin in the platform's namespaces).
KUBERNETES_LAYERS = frozenset({"cluster", "cluster-services", "app-services", "apps"})
CLUSTER_WIDE_LAYERS = frozenset({"cluster", "cluster-services", "app-services"})

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

# pulumi-eks offers no input for it, so a transform sets it on the EKS cluster
# the component makes: admin comes only from the declared access entries.
NO_CREATOR_ADMIN = '''
def no_creator_admin(args: pulumi.ResourceTransformArgs):
    """Whoever creates the cluster gets no admin of their own: cluster access
    comes only from the access entries declared below."""
    if args.type_ != "aws:eks/cluster:Cluster":
        return None
    access = args.props.get("accessConfig")
    if not isinstance(access, dict):
        raise TypeError("accessConfig is not a mapping: review no_creator_admin")
    access = {**access, "bootstrapClusterCreatorAdminPermissions": False}
    return pulumi.ResourceTransformResult(
        props={**args.props, "accessConfig": access}, opts=args.opts
    )
'''


def emit_cluster(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    prog.imports.add(EKS_IMPORT)
    provider = aws_provider(ctx)
    line = ctx.line(("cluster",))
    endpoint = p.cluster.endpoint
    # EKS keeps cluster names unique in an account and region.
    cluster_name = unique_name(ctx, "cluster", "cluster", limit=100)
    private_subnets = ctx.upstream("02-managed-infra", "private_subnet_ids")
    role_arn = ctx.upstream("01-identity", "cluster_role_arn")
    # pulumi-eks takes the control plane's role itself: the identity layer's, read by name.
    service_role = prog.assign(
        prog.name("cluster_role"),
        Call(
            "aws.iam.Role.get",
            [f"{p.name}-cluster-role"],
            {
                "id": Code(f'{role_arn}.apply(lambda arn: arn.split("/")[-1])'),
                "opts": Call("pulumi.ResourceOptions", kwargs={"provider": provider}),
            },
        ),
        line,
    )
    prog.helpers["no_creator_admin"] = NO_CREATOR_ADMIN
    cluster = prog.resource(
        "cluster",
        "eks.Cluster",
        f"{p.name}-cluster",
        {
            "name": cluster_name,
            "version": p.cluster.version,
            # After standard support EKS keeps the version, billed (see rules.py).
            "upgrade_policy": {"support_type": "EXTENDED"},
            "service_role": service_role,
            "vpc_id": ctx.upstream("02-managed-infra", "vpc_id"),
            # Control plane and nodes in the private subnets only.
            "private_subnet_ids": private_subnets,
            "endpoint_private_access": True,
            "endpoint_public_access": endpoint.public,
            "public_access_cidrs": list(endpoint.allowed_cidrs) if endpoint.public else None,
            "authentication_mode": Code("eks.AuthenticationMode.API"),
            "access_entries": _access_entries(ctx, provider),
            "create_oidc_provider": True,
            "enabled_cluster_log_types": CONTROL_PLANE_LOGS,
            "encryption_config_key_arn": ctx.upstream("02-managed-infra", "secrets_key_arn"),
            # Node pools are managed node groups below; they run in the security
            # group EKS makes for the cluster, which pulumi-eks then reports.
            "skip_default_node_group": True,
            "skip_default_security_groups": True,
            # The VPC CNI and CoreDNS are managed below (network policy, IRSA, order).
            "use_default_vpc_cni": True,
            "coredns_addon_options": {"enabled": False},
            "kube_proxy_addon_options": {"enabled": True},
        },
        line,
        {"providers": [provider], "transforms": [Code("no_creator_admin")]},
    )
    oidc = (Code(f"{cluster}.oidc_provider_arn"), Code(f"{cluster}.oidc_provider_url"))
    # The VPC CNI's own identity: AmazonEKS_CNI_Policy on a role for its
    # service account, so pods on the nodes do not inherit it.
    cni_role = irsa_role(
        ctx,
        provider,
        "vpc_cni",
        f"{p.name}-vpc-cni",
        "kube-system",
        "aws-node",
        ("cluster",),
        managed=[MANAGED + "AmazonEKS_CNI_Policy"],
        oidc=oidc,
    )
    vpc_cni = prog.resource(
        "vpc_cni",
        "eks.VpcCniAddon",
        f"{p.name}-vpc-cni",
        {
            "cluster_name": cluster_name,
            # The network policy agent: the namespaces' NetworkPolicies are enforced.
            "enable_network_policy": True,
            "service_account_role_arn": Code(f"{cni_role}.arn"),
            "resolve_conflicts_on_create": Code("eks.ResolveConflictsOnCreate.OVERWRITE"),
            "resolve_conflicts_on_update": Code("eks.ResolveConflictsOnUpdate.OVERWRITE"),
        },
        line,
        {"providers": [provider], "depends_on": [cluster]},
    )
    node_groups = [
        _node_group(ctx, provider, cluster, vpc_cni, pool) for pool in p.cluster.node_pools
    ]
    # CoreDNS and the EBS CSI controller are Deployments: they become ready once nodes exist.
    prog.resource(
        "coredns",
        "eks.Addon",
        f"{p.name}-coredns",
        {
            "cluster": cluster,
            "addon_name": "coredns",
            "resolve_conflicts_on_create": "OVERWRITE",
            "resolve_conflicts_on_update": "OVERWRITE",
        },
        line,
        {"providers": [provider], "depends_on": node_groups},
    )
    ebs_role = irsa_role(
        ctx,
        provider,
        "ebs_csi",
        f"{p.name}-ebs-csi",
        "kube-system",
        "ebs-csi-controller-sa",
        ("cluster",),
        managed=[MANAGED + "service-role/AmazonEBSCSIDriverPolicy"],
        oidc=oidc,
    )
    prog.resource(
        "ebs_csi",
        "eks.Addon",
        f"{p.name}-ebs-csi",
        {
            "cluster": cluster,
            "addon_name": "aws-ebs-csi-driver",
            "service_account_role_arn": Code(f"{ebs_role}.arn"),
            "resolve_conflicts_on_update": "OVERWRITE",
        },
        line,
        {"providers": [provider], "depends_on": node_groups},
    )
    kubeconfig = Code(f"pulumi.Output.secret({cluster}.kubeconfig_json)")
    k8s_provider = k8s.emit_provider(ctx, Code(f"{cluster}.kubeconfig_json"), line)
    k8s.emit_default_storage_class(
        ctx,
        k8s_provider,
        k8s.STORAGE_CLASSES["aws"],
        "ebs.csi.aws.com",
        {"type": "gp3", "encrypted": "true"},
        line,
    )
    k8s.emit_route_roles(ctx, k8s_provider, line)
    for namespace in p.cluster.namespaces:
        k8s.emit_namespace(ctx, k8s_provider, namespace)
    # pulumi-eks names the EKS cluster as told (`name` above).
    prog.export("cluster_name", Code(f"pulumi.Output.from_input({literal(cluster_name)})"))
    prog.export("kubeconfig", kubeconfig)
    prog.export("oidc_provider_arn", oidc[0])
    prog.export("oidc_provider_url", oidc[1])
    prog.export("cluster_security_group_id", Code(f"{cluster}.cluster_security_group_id"))


def _access_entries(ctx: StackContext, provider: Code) -> dict:
    """Who reaches the cluster's API: each team's role (admins with cluster
    admin, the others through their Kubernetes group and its RoleBindings),
    and each CI identity that deploys a layer talking to the cluster. When
    none of them administers the cluster, whoever deploys it does, by an entry
    of its own: the cluster's creator gets no admin otherwise."""
    p = ctx.platform
    entries: dict[str, dict] = {}
    # A team without members has no role (identity layer): no entry, and it
    # administers nothing.
    teams = [t for t in p.teams if t.members]
    admins = [t for t in teams if t.access == "admin"]
    deployers = [a for a in p.automation if CLUSTER_WIDE_LAYERS & set(a.layers)]
    if not admins and not deployers:
        entries["deployer"] = {
            "principal_arn": _deployer_arn(ctx, provider),
            "access_policies": {
                "cluster-admin": {
                    "policy_arn": CLUSTER_ADMIN_POLICY,
                    "access_scope": {"type": "cluster"},
                }
            },
        }
    for team in teams:
        entry: dict = {
            "principal_arn": ctx.upstream("01-identity", f"team_{team.name}_role_arn"),
            "kubernetes_groups": [k8s.team_group(p, team.name)],
        }
        if team.access == "admin":
            entry["access_policies"] = {
                "cluster-admin": {
                    "policy_arn": CLUSTER_ADMIN_POLICY,
                    "access_scope": {"type": "cluster"},
                }
            }
        entries[f"team-{team.name}"] = entry
    for bot in p.automation:
        layers = set(bot.layers)
        if not layers & KUBERNETES_LAYERS:
            continue
        if layers & CLUSTER_WIDE_LAYERS:
            policy = {"policy_arn": CLUSTER_ADMIN_POLICY, "access_scope": {"type": "cluster"}}
        else:
            namespaces = [namespace.cloud_name for namespace in p.cluster.namespaces]
            if "apps" in layers and any(
                store.engine in ("postgres", "mysql") for store in p.app_services.datastores
            ):
                namespaces.append(database_users.NAMESPACE)  # the apps' database user Jobs
            policy = {
                "policy_arn": NAMESPACE_ADMIN_POLICY,
                "access_scope": {"type": "namespace", "namespaces": namespaces},
            }
        entries[f"ci-{bot.name}"] = {
            "principal_arn": ctx.upstream("01-identity", f"automation_{bot.name}_role_arn"),
            "access_policies": {"deploy": policy},
        }
        # Its preview twin views what it deploys (the view policy shows no Secrets).
        entries[f"ci-{bot.name}-preview"] = {
            "principal_arn": ctx.upstream("01-identity", f"automation_{bot.name}_preview_role_arn"),
            "access_policies": {"preview": {**policy, "policy_arn": VIEW_POLICY}},
        }
    for app in p.builds:
        # An app's builds deploy its stack: edit rights in its namespace (and
        # where its database users are made), nothing cluster-wide.
        namespaces = [p.namespace(app.namespace).cloud_name]
        if any(p.datastore(s).engine in ("postgres", "mysql") for s in app.uses):
            namespaces.append(database_users.NAMESPACE)
        entries[f"build-{app.cloud_name}"] = {
            "principal_arn": ctx.upstream("01-identity", f"build_{app.name}_role_arn"),
            "access_policies": {
                "deploy": {
                    "policy_arn": EDIT_POLICY,
                    "access_scope": {"type": "namespace", "namespaces": namespaces},
                }
            },
        }
    return entries


def _deployer_arn(ctx: StackContext, provider: Code) -> Code:
    """The IAM role (or user) running this deploy: an assumed role's session
    is traced back to the role, which is what an access entry names."""
    prog = ctx.program
    invoke = Call("pulumi.InvokeOutputOptions", kwargs={"provider": provider})
    caller = prog.assign(
        prog.name("deployer"), Call("aws.get_caller_identity_output", kwargs={"opts": invoke})
    )
    session = prog.assign(
        prog.name("deployer_session"),
        Call(
            "aws.iam.get_session_context_output",
            kwargs={"arn": Code(f"{caller}.arn"), "opts": invoke},
        ),
    )
    return Code(f"{session}.issuer_arn")


def _node_group(ctx: StackContext, provider: Code, cluster: Code, vpc_cni: Code, pool) -> Code:
    """One managed node group: private subnets, the identity layer's node role."""
    p = ctx.platform
    key = f"nodePools.{pool.name}"
    return ctx.program.resource(
        ("node_pool", pool.name),
        "eks.ManagedNodeGroup",
        f"{p.name}-{pool.name}",
        {
            "cluster": cluster,
            "node_role_arn": ctx.upstream("01-identity", "node_role_arn"),
            "subnet_ids": ctx.upstream("02-managed-infra", "private_subnet_ids"),
            "instance_types": [
                ctx.setting(
                    f"{key}.instanceType",
                    lambda q, env, n=pool.name: (
                        q.node_pool(n).machine_type or NODE_SIZES[q.node_pool(n).size]
                    ),
                )
            ],
            "capacity_type": "SPOT" if pool.spot else "ON_DEMAND",
            "ami_type": "AL2023_x86_64_STANDARD",
            "disk_size": ctx.setting(
                f"{key}.diskSizeGb", lambda q, env, n=pool.name: q.node_pool(n).disk_size_gb
            ),
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
            # The cluster autoscaler owns the desired size once the group exists.
            "ignore_scaling_changes": True,
            "labels": dict(pool.labels) | {k8s.NODE_POOL_LABEL: pool.cloud_name},
            "taints": [
                {"key": t.key, "value": t.value or None, "effect": TAINT_EFFECTS[t.effect]}
                for t in pool.taints
            ]
            or None,
        },
        ctx.line(pool.path),
        # Nodes join once the CNI enforces network policy.
        {"providers": [provider], "depends_on": [vpc_cni]}
        | moved_from(lambda n: f"{p.name}-{n}", pool),
    )
