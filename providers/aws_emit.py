"""The AWS (EKS) backend: what each layer's program creates on AWS.

Only what AWS differs in lives here; Kubernetes objects every cloud shares
come from `crosswalk.providers.kubernetes` and `crosswalk.providers.services`.
"""

from __future__ import annotations

import ipaddress

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import Backend, StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers import services

AWS_IMPORT = "import pulumi_aws as aws"

NODE_SIZES = {
    "small": "t3.medium",
    "medium": "m6i.large",
    "large": "m6i.xlarge",
    "xlarge": "m6i.2xlarge",
}
DB_SIZES = {
    "small": "db.t4g.medium",
    "medium": "db.r6g.large",
    "large": "db.r6g.xlarge",
    "xlarge": "db.r6g.2xlarge",
}
CACHE_SIZES = {
    "small": "cache.t4g.small",
    "medium": "cache.r7g.large",
    "large": "cache.r7g.xlarge",
    "xlarge": "cache.r7g.2xlarge",
}
DB_ENGINES = {"postgres": ("postgres", "16", 5432), "mysql": ("mysql", "8.0", 3306)}
TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}
MANAGED = "arn:aws:iam::aws:policy/"
GITHUB_OIDC = "token.actions.githubusercontent.com"

# What an automation identity may do per layer it deploys (least privilege by service).
LAYER_ACTIONS = {
    "identity": ["iam:*"],
    "managed-infra": ["ec2:*", "ecr:*", "kms:*", "logs:*"],
    "cluster": [
        "eks:*",
        "ec2:Describe*",
        "iam:PassRole",
        "iam:GetRole",
        "kms:DescribeKey",
        "kms:CreateGrant",
    ],
    "cluster-services": ["eks:DescribeCluster", "iam:*Role*", "iam:*RolePolicy*"],
    "app-services": [
        "eks:DescribeCluster",
        "rds:*",
        "elasticache:*",
        "sqs:*",
        "dynamodb:*",
        "route53:*",
        "secretsmanager:*",
        "ec2:*SecurityGroup*",
        "ec2:Describe*",
        "iam:*Role*",
    ],
    "apps": ["eks:DescribeCluster", "iam:*Role*", "iam:*RolePolicy*"],
}


def _provider(ctx: StackContext) -> Code:
    p = ctx.platform
    ctx.program.imports.add(AWS_IMPORT)
    tags = dict(p.tags) | {"crosswalk/platform": p.name}
    return ctx.program.resource(
        "aws_provider",
        "aws.Provider",
        "aws",
        {"region": p.cloud.region, "default_tags": {"tags": tags}},
        ctx.line(("cloud",)),
    )


def _opts(provider: Code, **extra) -> dict:
    return {"provider": provider, **extra}


def _trust(principal: dict, conditions: dict | None = None) -> Call:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if conditions:
        statement["Condition"] = conditions
    return Call("json.dumps", [{"Version": "2012-10-17", "Statement": [statement]}])


def _subnets(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Public /24-ish and private larger subnets per zone, carved at compile time."""
    network = ipaddress.ip_network(cidr)
    halves = list(network.subnets(prefixlen_diff=1))
    private_bits = max(1, (zones - 1).bit_length())
    private = [str(s) for s in list(halves[0].subnets(prefixlen_diff=private_bits))[:zones]]
    public_pool = list(halves[1].subnets(prefixlen_diff=private_bits + 2))
    public = [str(s) for s in public_pool[:zones]]
    return public, private


class AwsBackend(Backend):
    cloud = "aws"

    # Layer 1 ---------------------------------------------------------------

    def identity(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        prog.imports.add("import json")
        provider = _provider(ctx)
        prog.assign(
            "caller",
            Call(
                "aws.get_caller_identity",
                kwargs={"opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider})},
            ),
        )
        account_root = Code('"arn:aws:iam::" + caller.account_id + ":root"')
        cluster_role = prog.resource(
            "cluster_role",
            "aws.iam.Role",
            f"{p.name}-cluster",
            {
                "description": f"EKS control plane of platform {p.name}",
                "assume_role_policy": _trust({"Service": "eks.amazonaws.com"}),
            },
            ctx.line(("cluster",)),
            _opts(provider),
        )
        prog.resource(
            "cluster_role_policy",
            "aws.iam.RolePolicyAttachment",
            f"{p.name}-cluster-policy",
            {
                "role": Code(f"{cluster_role}.name"),
                "policy_arn": MANAGED + "AmazonEKSClusterPolicy",
            },
            ctx.line(("cluster",)),
            _opts(provider),
        )
        node_role = prog.resource(
            "node_role",
            "aws.iam.Role",
            f"{p.name}-node",
            {
                "description": f"Worker nodes of platform {p.name}",
                "assume_role_policy": _trust({"Service": "ec2.amazonaws.com"}),
            },
            ctx.line(("cluster", "nodePools")),
            _opts(provider),
        )
        for policy in (
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
            "AmazonEC2ContainerRegistryReadOnly",
        ):
            prog.resource(
                ("node_role", policy),
                "aws.iam.RolePolicyAttachment",
                f"{p.name}-node-{policy}",
                {"role": Code(f"{node_role}.name"), "policy_arn": MANAGED + policy},
                ctx.line(("cluster", "nodePools")),
                _opts(provider),
            )
        prog.export("cluster_role_arn", Code(f"{cluster_role}.arn"))
        prog.export("node_role_arn", Code(f"{node_role}.arn"))

        for team in p.teams:
            principal = {"AWS": list(team.members) if team.members else account_root}
            role = prog.resource(
                ("team", team.name, "role"),
                "aws.iam.Role",
                f"{p.name}-team-{team.name}",
                {
                    "description": f"Team {team.name} ({team.access}) of platform {p.name}",
                    "assume_role_policy": _trust(principal),
                    "max_session_duration": 3600,
                },
                ctx.line(team.path),
                _opts(provider),
            )
            prog.export(f"team_{team.name}_role_arn", Code(f"{role}.arn"))

        if p.automation:
            oidc = prog.resource(
                "github_oidc",
                "aws.iam.OpenIdConnectProvider",
                f"{p.name}-github",
                {"url": f"https://{GITHUB_OIDC}", "client_id_lists": ["sts.amazonaws.com"]},
                ctx.line(("identity", "automation")),
                _opts(provider),
            )
        for bot in p.automation:
            subject = (
                f"repo:{bot.repository}:environment:{bot.environment}"
                if bot.environment
                else f"repo:{bot.repository}:ref:{bot.ref}"
            )
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": Code(f"{oidc}.arn")},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{GITHUB_OIDC}:aud": "sts.amazonaws.com",
                                f"{GITHUB_OIDC}:sub": subject,
                            }
                        },
                    }
                ],
            }
            role = prog.resource(
                ("automation", bot.name, "role"),
                "aws.iam.Role",
                f"{p.name}-ci-{bot.name}",
                {
                    "description": f"CI identity {bot.name}: deploys {', '.join(bot.layers)}",
                    "assume_role_policy": Call("pulumi.Output.json_dumps", [trust]),
                    "max_session_duration": 3600,
                },
                ctx.line(bot.path),
                _opts(provider),
            )
            actions = sorted({a for layer in bot.layers for a in LAYER_ACTIONS[layer]})
            prog.resource(
                ("automation", bot.name, "policy"),
                "aws.iam.RolePolicy",
                f"{p.name}-ci-{bot.name}",
                {
                    "role": Code(f"{role}.id"),
                    "policy": Call(
                        "json.dumps",
                        [
                            {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": actions, "Resource": "*"}
                                ],
                            }
                        ],
                    ),
                },
                ctx.line(bot.path + ("layers",)),
                _opts(provider),
            )
            prog.export(f"automation_{bot.name}_role_arn", Code(f"{role}.arn"))

    # Layer 2 ---------------------------------------------------------------

    def managed_infra(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        provider = _provider(ctx)
        net = p.network
        line = ctx.line(("network",))
        prog.assign(
            "zones",
            Call(
                "aws.get_availability_zones",
                kwargs={
                    "state": "available",
                    "opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider}),
                },
            ),
        )
        vpc = prog.resource(
            "vpc",
            "aws.ec2.Vpc",
            f"{p.name}-vpc",
            {
                "cidr_block": net.cidr,
                "enable_dns_hostnames": True,
                "enable_dns_support": True,
                "tags": {"Name": f"{p.name}-vpc"},
            },
            line,
            _opts(provider),
        )
        prog.resource(
            "default_security_group",
            "aws.ec2.DefaultSecurityGroup",
            f"{p.name}-default",
            {"vpc_id": Code(f"{vpc}.id"), "tags": {"Name": f"{p.name}-default-deny"}},
            line,
            _opts(provider),
        )
        igw = prog.resource(
            "internet_gateway",
            "aws.ec2.InternetGateway",
            f"{p.name}-igw",
            {"vpc_id": Code(f"{vpc}.id")},
            line,
            _opts(provider),
        )
        public_cidrs, private_cidrs = _subnets(net.cidr, net.zones)
        public_rt = prog.resource(
            "public_route_table",
            "aws.ec2.RouteTable",
            f"{p.name}-public",
            {
                "vpc_id": Code(f"{vpc}.id"),
                "routes": [{"cidr_block": "0.0.0.0/0", "gateway_id": Code(f"{igw}.id")}],
            },
            line,
            _opts(provider),
        )
        public, private, nats = [], [], []
        for zone in range(net.zones):
            az = Code(f"zones.names[{zone}]")
            subnet = prog.resource(
                ("public", str(zone)),
                "aws.ec2.Subnet",
                f"{p.name}-public-{zone}",
                {
                    "vpc_id": Code(f"{vpc}.id"),
                    "cidr_block": public_cidrs[zone],
                    "availability_zone": az,
                    "map_public_ip_on_launch": False,
                    "tags": {"Name": f"{p.name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                },
                line,
                _opts(provider),
            )
            public.append(subnet)
            prog.resource(
                ("public", str(zone), "routes"),
                "aws.ec2.RouteTableAssociation",
                f"{p.name}-public-{zone}",
                {"subnet_id": Code(f"{subnet}.id"), "route_table_id": Code(f"{public_rt}.id")},
                line,
                _opts(provider),
            )
            if zone == 0 or net.nat_gateways == "perZone":
                eip = prog.resource(
                    ("nat", str(zone), "ip"),
                    "aws.ec2.Eip",
                    f"{p.name}-nat-{zone}",
                    {"domain": "vpc"},
                    ctx.line(("network", "natGateways")),
                    _opts(provider),
                )
                nats.append(
                    prog.resource(
                        ("nat", str(zone)),
                        "aws.ec2.NatGateway",
                        f"{p.name}-nat-{zone}",
                        {"allocation_id": Code(f"{eip}.id"), "subnet_id": Code(f"{subnet}.id")},
                        ctx.line(("network", "natGateways")),
                        _opts(provider),
                    )
                )
        for zone in range(net.zones):
            nat = nats[zone] if net.nat_gateways == "perZone" else nats[0]
            subnet = prog.resource(
                ("private", str(zone)),
                "aws.ec2.Subnet",
                f"{p.name}-private-{zone}",
                {
                    "vpc_id": Code(f"{vpc}.id"),
                    "cidr_block": private_cidrs[zone],
                    "availability_zone": Code(f"zones.names[{zone}]"),
                    "tags": {
                        "Name": f"{p.name}-private-{zone}",
                        "kubernetes.io/role/internal-elb": "1",
                    },
                },
                line,
                _opts(provider),
            )
            private.append(subnet)
            table = prog.resource(
                ("private", str(zone), "route_table"),
                "aws.ec2.RouteTable",
                f"{p.name}-private-{zone}",
                {
                    "vpc_id": Code(f"{vpc}.id"),
                    "routes": [{"cidr_block": "0.0.0.0/0", "nat_gateway_id": Code(f"{nat}.id")}],
                },
                line,
                _opts(provider),
            )
            prog.resource(
                ("private", str(zone), "routes"),
                "aws.ec2.RouteTableAssociation",
                f"{p.name}-private-{zone}",
                {"subnet_id": Code(f"{subnet}.id"), "route_table_id": Code(f"{table}.id")},
                line,
                _opts(provider),
            )
        key = prog.resource(
            "secrets_key",
            "aws.kms.Key",
            f"{p.name}-secrets",
            {
                "description": f"Encrypts Kubernetes secrets and data of platform {p.name}",
                "enable_key_rotation": True,
                "deletion_window_in_days": 30,
            },
            ctx.line(("cluster",)),
            _opts(provider),
        )
        prog.resource(
            "secrets_key_alias",
            "aws.kms.Alias",
            f"{p.name}-secrets",
            {"name": f"alias/{p.name}-secrets", "target_key_id": Code(f"{key}.key_id")},
            ctx.line(("cluster",)),
            _opts(provider),
        )
        for registry in p.registries:
            repo = prog.resource(
                ("registry", registry.name),
                "aws.ecr.Repository",
                f"{p.name}-{registry.name}",
                {
                    "name": f"{p.name}/{registry.name}",
                    "image_scanning_configuration": {"scan_on_push": registry.scan_on_push},
                    "image_tag_mutability": "IMMUTABLE" if registry.immutable_tags else "MUTABLE",
                    "encryption_configurations": [
                        {"encryption_type": "KMS", "kms_key": Code(f"{key}.arn")}
                    ],
                },
                ctx.line(registry.path),
                _opts(provider),
            )
            prog.export(f"registry_{registry.name}_url", Code(f"{repo}.repository_url"))
        prog.export("vpc_id", Code(f"{vpc}.id"))
        prog.export("vpc_cidr", Code(f"{vpc}.cidr_block"))
        prog.export("public_subnet_ids", Code("[" + ", ".join(f"{s}.id" for s in public) + "]"))
        prog.export("private_subnet_ids", Code("[" + ", ".join(f"{s}.id" for s in private) + "]"))
        prog.export("secrets_key_arn", Code(f"{key}.arn"))

    # Layer 3 ---------------------------------------------------------------

    def cluster(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        prog.imports.add("import json")
        provider = _provider(ctx)
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
                    "public_access_cidrs": list(endpoint.allowed_cidrs)
                    if endpoint.public
                    else None,
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
            _opts(provider),
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
            _opts(provider),
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
                _opts(provider, ignore_changes=["scalingConfig.desiredSize"]),
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
                _opts(provider),
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
                    _opts(provider, depends_on=[entry]),
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
        ebs_role = _irsa_role(
            ctx,
            provider,
            "ebs_csi",
            f"{p.name}-ebs-csi",
            Code(f"{oidc}.arn"),
            Code(f"{oidc}.url"),
            "kube-system",
            "ebs-csi-controller-sa",
            ("cluster",),
            managed=[MANAGED + "service-role/AmazonEBSCSIDriverPolicy"],
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
            _opts(provider),
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

    # Layer 4 ---------------------------------------------------------------

    def cluster_services(self, ctx: StackContext) -> None:
        p = ctx.platform
        provider = _provider(ctx)
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("clusterServices",))
        )
        oidc_arn = ctx.upstream("03-cluster", "oidc_provider_arn")
        oidc_url = ctx.upstream("03-cluster", "oidc_provider_url")
        cloud_values: dict[str, dict] = {}
        if p.services.logging:
            role = _irsa_role(
                ctx,
                provider,
                "fluent_bit",
                f"{p.name}-fluent-bit",
                oidc_arn,
                oidc_url,
                "logging",
                "fluent-bit",
                ("clusterServices", "logging"),
                [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
            )
            cloud_values["logging"] = {
                "serviceAccount": {
                    "annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")}
                },
                "cloudWatchLogs": {
                    "enabled": True,
                    "region": p.cloud.region,
                    "logGroupName": f"/{p.name}/containers",
                    "autoCreateGroup": True,
                },
            }
        if p.services.autoscaler:
            role = _irsa_role(
                ctx,
                provider,
                "cluster_autoscaler",
                f"{p.name}-cluster-autoscaler",
                oidc_arn,
                oidc_url,
                "kube-system",
                "cluster-autoscaler",
                ("clusterServices", "autoscaler"),
                [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeTags",
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:DescribeInstanceTypes",
                    "eks:DescribeNodegroup",
                ],
            )
            cloud_values["autoscaler"] = {
                "cloudProvider": "aws",
                "awsRegion": p.cloud.region,
                "autoDiscovery": {"clusterName": ctx.upstream("03-cluster", "cluster_name")},
                "rbac": {
                    "serviceAccount": {
                        "name": "cluster-autoscaler",
                        "annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")},
                    }
                },
            }
        services.emit_cluster_services(ctx, k8s_provider, cloud="aws", cloud_values=cloud_values)

    # Layer 5 ---------------------------------------------------------------

    def app_services(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        prog.imports.add("import json")
        provider = _provider(ctx)
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("appServices",))
        )
        cloud_values: dict[str, dict] = {}
        if p.app_services.dns_zone:
            zone = prog.resource(
                "dns_zone",
                "aws.route53.Zone",
                f"{p.name}-zone",
                {
                    "name": p.app_services.dns_zone,
                    "comment": f"Managed by crosswalk for platform {p.name}",
                },
                ctx.line(("appServices", "dns")),
                _opts(provider),
            )
            role = _irsa_role(
                ctx,
                provider,
                "external_dns",
                f"{p.name}-external-dns",
                ctx.upstream("03-cluster", "oidc_provider_arn"),
                ctx.upstream("03-cluster", "oidc_provider_url"),
                "external-dns",
                "external-dns",
                ("appServices", "dns"),
                [
                    "route53:ChangeResourceRecordSets",
                    "route53:ListResourceRecordSets",
                    "route53:ListHostedZones",
                    "route53:ListTagsForResource",
                ],
            )
            cloud_values["dns"] = {
                "provider": {"name": "aws"},
                "env": [{"name": "AWS_DEFAULT_REGION", "value": p.cloud.region}],
                "serviceAccount": {
                    "annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")}
                },
            }
            prog.export("dns_zone_id", Code(f"{zone}.zone_id"))
            prog.export("dns_name_servers", Code(f"{zone}.name_servers"))
            if p.app_services.email:
                role = _irsa_role(
                    ctx,
                    provider,
                    "cert_manager",
                    f"{p.name}-cert-manager",
                    ctx.upstream("03-cluster", "oidc_provider_arn"),
                    ctx.upstream("03-cluster", "oidc_provider_url"),
                    "cert-manager",
                    "cert-manager",
                    ("appServices", "certificates"),
                    [
                        "route53:GetChange",
                        "route53:ChangeResourceRecordSets",
                        "route53:ListResourceRecordSets",
                        "route53:ListHostedZonesByName",
                    ],
                )
                cloud_values["certificates"] = {
                    "serviceAccount": {
                        "annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")}
                    },
                    "securityContext": {"fsGroup": 1001},
                }
                cloud_values["certificates_solver"] = {
                    "dns01": {
                        "route53": {
                            "region": p.cloud.region,
                            "hostedZoneID": Code(f"{zone}.zone_id"),
                        }
                    }
                }
        services.emit_app_services(ctx, k8s_provider, cloud="aws", cloud_values=cloud_values)

        stores = p.app_services.datastores
        if not stores:
            return
        private_subnets = ctx.upstream("02-managed-infra", "private_subnet_ids")
        vpc_id = ctx.upstream("02-managed-infra", "vpc_id")
        nodes_sg = ctx.upstream("03-cluster", "cluster_security_group_id")
        for store in stores:
            self._datastore(ctx, provider, store, private_subnets, vpc_id, nodes_sg)

    def _datastore(self, ctx, provider, store, private_subnets, vpc_id, nodes_sg) -> None:
        p, prog = ctx.platform, ctx.program
        line = ctx.line(store.path)
        base = f"{p.name}-{store.name}"
        protect = ctx.setting(
            f"datastores.{store.name}.deletionProtection", lambda q, env: env != "dev"
        )

        def security_group(port: int) -> Code:
            return prog.resource(
                ("datastore", store.name, "sg"),
                "aws.ec2.SecurityGroup",
                base,
                {
                    "description": f"{store.engine} {store.name}: reachable only from the cluster",
                    "vpc_id": vpc_id,
                    "ingress": [
                        {
                            "description": "from cluster nodes and pods",
                            "protocol": "tcp",
                            "from_port": port,
                            "to_port": port,
                            "security_groups": [nodes_sg],
                        }
                    ],
                },
                line,
                _opts(provider),
            )

        if store.engine in DB_ENGINES:
            engine, default_version, port = DB_ENGINES[store.engine]
            sg = security_group(port)
            subnets = prog.resource(
                ("datastore", store.name, "subnets"),
                "aws.rds.SubnetGroup",
                base,
                {"subnet_ids": private_subnets},
                line,
                _opts(provider),
            )
            db = prog.resource(
                ("datastore", store.name),
                "aws.rds.Instance",
                base,
                {
                    "engine": engine,
                    "engine_version": store.version or default_version,
                    "instance_class": store.instance_class or DB_SIZES[store.size],
                    "allocated_storage": store.storage_gb,
                    "storage_type": "gp3",
                    "storage_encrypted": True,
                    "db_name": store.name.replace("-", "_"),
                    "username": "crosswalk",
                    "manage_master_user_password": True,
                    "db_subnet_group_name": Code(f"{subnets}.name"),
                    "vpc_security_group_ids": [Code(f"{sg}.id")],
                    "publicly_accessible": False,
                    "multi_az": ctx.setting(
                        f"datastores.{store.name}.highAvailability",
                        lambda q, env: q.datastore(store.name).high_availability,
                    ),
                    "backup_retention_period": store.backup_retention_days,
                    "copy_tags_to_snapshot": True,
                    "deletion_protection": protect,
                    "skip_final_snapshot": False,
                    "final_snapshot_identifier": f"{base}-final",
                    "iam_database_authentication_enabled": True,
                    "auto_minor_version_upgrade": True,
                    "performance_insights_enabled": True,
                    "enabled_cloudwatch_logs_exports": ["postgresql"]
                    if engine == "postgres"
                    else ["error", "slowquery"],
                },
                line,
                _opts(provider),
            )
            prog.export(f"datastore_{store.name}_host", Code(f"{db}.address"))
            # Ports travel as strings: apps put them in Secrets.
            prog.export(f"datastore_{store.name}_port", Code(f"{db}.port.apply(str)"))
            prog.export(f"datastore_{store.name}_database", Code(f"{db}.db_name"))
            prog.export(f"datastore_{store.name}_username", Code(f"{db}.username"))
            prog.export(
                f"datastore_{store.name}_secret_arn",
                Code(f"{db}.master_user_secrets[0].secret_arn"),
            )
        elif store.engine == "redis":
            sg = security_group(6379)
            subnets = prog.resource(
                ("datastore", store.name, "subnets"),
                "aws.elasticache.SubnetGroup",
                base,
                {"subnet_ids": private_subnets},
                line,
                _opts(provider),
            )
            prog.assign(
                f"{_var(store.name)}_auth",
                Call(
                    "aws.secretsmanager.get_random_password",
                    kwargs={
                        "password_length": 64,
                        "exclude_punctuation": True,
                        "opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider}),
                    },
                ),
            )
            token = Code(f"pulumi.Output.secret({_var(store.name)}_auth.random_password)")
            ha = store.high_availability
            cache = prog.resource(
                ("datastore", store.name),
                "aws.elasticache.ReplicationGroup",
                base,
                {
                    "description": f"redis {store.name} of platform {p.name}",
                    "engine": "redis",
                    "engine_version": store.version or "7.1",
                    "node_type": store.instance_class or CACHE_SIZES[store.size],
                    "num_cache_clusters": 2 if ha else 1,
                    "automatic_failover_enabled": ha,
                    "multi_az_enabled": ha,
                    "port": 6379,
                    "subnet_group_name": Code(f"{subnets}.name"),
                    "security_group_ids": [Code(f"{sg}.id")],
                    "at_rest_encryption_enabled": True,
                    "transit_encryption_enabled": True,
                    "auth_token": token,
                    "snapshot_retention_limit": store.backup_retention_days,
                    "auto_minor_version_upgrade": True,
                },
                line,
                _opts(provider, additional_secret_outputs=["authToken"]),
            )
            prog.export(f"datastore_{store.name}_host", Code(f"{cache}.primary_endpoint_address"))
            prog.export(f"datastore_{store.name}_port", Code(f"{cache}.port.apply(str)"))
            prog.export(f"datastore_{store.name}_password", token)
        elif store.engine == "queue":
            dlq = prog.resource(
                ("datastore", store.name, "dead_letters"),
                "aws.sqs.Queue",
                f"{base}-dead-letters",
                {"sqs_managed_sse_enabled": True, "message_retention_seconds": 1209600},
                line,
                _opts(provider),
            )
            queue = prog.resource(
                ("datastore", store.name),
                "aws.sqs.Queue",
                base,
                {
                    "sqs_managed_sse_enabled": True,
                    "visibility_timeout_seconds": 60,
                    "redrive_policy": Call(
                        "pulumi.Output.json_dumps",
                        [{"deadLetterTargetArn": Code(f"{dlq}.arn"), "maxReceiveCount": 5}],
                    ),
                },
                line,
                _opts(provider),
            )
            prog.export(f"datastore_{store.name}_url", Code(f"{queue}.url"))
            prog.export(f"datastore_{store.name}_arn", Code(f"{queue}.arn"))
        else:  # document
            table = prog.resource(
                ("datastore", store.name),
                "aws.dynamodb.Table",
                base,
                {
                    "billing_mode": "PAY_PER_REQUEST",
                    "hash_key": "pk",
                    "range_key": "sk",
                    "attributes": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}],
                    "point_in_time_recovery": {"enabled": True},
                    "server_side_encryption": {"enabled": True},
                    "deletion_protection_enabled": protect,
                },
                line,
                _opts(provider),
            )
            prog.export(f"datastore_{store.name}_table", Code(f"{table}.name"))
            prog.export(f"datastore_{store.name}_arn", Code(f"{table}.arn"))

    # Layer 6 ---------------------------------------------------------------

    def app(self, ctx: StackContext) -> None:
        p = ctx.platform
        app = p.app(ctx.stack.split("/", 1)[1])
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(app.path)
        )
        parts = k8s.AppCloudParts()
        cloud_policies = []
        for store_name in app.uses:
            store = p.datastore(store_name)
            prefix = k8s.env_prefix(store.name)

            def out(name: str, store=store) -> Code:
                return ctx.upstream("05-app-services", f"datastore_{store.name}_{name}")

            if store.engine in DB_ENGINES:
                parts.datastore_env[store.name] = {
                    f"{prefix}_HOST": out("host"),
                    f"{prefix}_PORT": out("port"),
                    f"{prefix}_DATABASE": out("database"),
                    f"{prefix}_USERNAME": out("username"),
                    f"{prefix}_PASSWORD_SECRET_ARN": out("secret_arn"),
                }
                cloud_policies.append((["secretsmanager:GetSecretValue"], out("secret_arn")))
            elif store.engine == "redis":
                parts.datastore_env[store.name] = {
                    f"{prefix}_HOST": out("host"),
                    f"{prefix}_PORT": out("port"),
                    f"{prefix}_PASSWORD": out("password"),
                    f"{prefix}_TLS": "true",
                }
            elif store.engine == "queue":
                parts.datastore_env[store.name] = {f"{prefix}_QUEUE_URL": out("url")}
                cloud_policies.append(
                    (
                        [
                            "sqs:SendMessage",
                            "sqs:ReceiveMessage",
                            "sqs:DeleteMessage",
                            "sqs:GetQueueAttributes",
                            "sqs:ChangeMessageVisibility",
                        ],
                        out("arn"),
                    )
                )
            else:
                parts.datastore_env[store.name] = {f"{prefix}_TABLE": out("table")}
                cloud_policies.append(
                    (
                        [
                            "dynamodb:GetItem",
                            "dynamodb:PutItem",
                            "dynamodb:UpdateItem",
                            "dynamodb:DeleteItem",
                            "dynamodb:Query",
                        ],
                        out("arn"),
                    )
                )
        if cloud_policies:
            provider = _provider(ctx)
            statements = [
                {"Effect": "Allow", "Action": actions, "Resource": resource}
                for actions, resource in cloud_policies
            ]
            role = _irsa_role(
                ctx,
                provider,
                "app",
                f"{p.name}-app-{app.name}",
                ctx.upstream("03-cluster", "oidc_provider_arn"),
                ctx.upstream("03-cluster", "oidc_provider_url"),
                app.namespace,
                app.name,
                app.path + ("uses",),
                statements,
            )
            parts.service_account_annotations["eks.amazonaws.com/role-arn"] = Code(f"{role}.arn")
            parts.egress.append(
                {
                    "to": [{"ip_block": {"cidr": "0.0.0.0/0"}}],
                    "ports": [{"protocol": "TCP", "port": 443}],
                }
            )
        if any(p.datastore(s).engine in ("postgres", "mysql", "redis") for s in app.uses):
            ports = sorted(
                {
                    DB_ENGINES[e][2] if e in DB_ENGINES else 6379
                    for e in (p.datastore(s).engine for s in app.uses)
                    if e != "queue" and e != "document"
                }
            )
            parts.egress.append(
                {
                    "to": [{"ip_block": {"cidr": p.network.cidr}}],
                    "ports": [{"protocol": "TCP", "port": port} for port in ports],
                }
            )
        k8s.emit_app(ctx, k8s_provider, app, parts)


def _var(name: str) -> str:
    return name.replace("-", "_")


IRSA_CONDITION = '''
def irsa_condition(issuer_url, service_account):
    """The trust condition that pins a role to one Kubernetes service account."""
    subject = "system:serviceaccount:" + service_account
    return pulumi.Output.from_input(issuer_url).apply(
        lambda url: {
            url.removeprefix("https://") + ":sub": subject,
            url.removeprefix("https://") + ":aud": "sts.amazonaws.com",
        }
    )
'''


def _irsa_trust(ctx, provider_arn, issuer_url, namespace: str, service_account: str) -> Call:
    """Trust policy letting one Kubernetes service account assume a role (IRSA)."""
    ctx.program.helpers["irsa_condition"] = IRSA_CONDITION
    condition = Call("irsa_condition", [issuer_url, f"{namespace}:{service_account}"])
    return Call(
        "pulumi.Output.json_dumps",
        [
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": provider_arn},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": condition},
                    }
                ],
            }
        ],
    )


def _irsa_role(
    ctx,
    provider,
    var,
    name,
    oidc_arn,
    oidc_url,
    namespace,
    service_account,
    path,
    actions=(),
    managed=(),
) -> Code:
    """An IAM role for one Kubernetes service account: inline policy and/or managed policies."""
    prog = ctx.program
    role = prog.resource(
        (var, "role"),
        "aws.iam.Role",
        name,
        {
            "description": f"IRSA role of {namespace}/{service_account}",
            "assume_role_policy": _irsa_trust(ctx, oidc_arn, oidc_url, namespace, service_account),
        },
        ctx.line(path),
        _opts(provider),
    )
    if actions:
        statements = (
            list(actions)
            if isinstance(actions[0], dict)
            else [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]
        )
        prog.resource(
            (var, "policy"),
            "aws.iam.RolePolicy",
            name,
            {
                "role": Code(f"{role}.id"),
                "policy": Call(
                    "pulumi.Output.json_dumps", [{"Version": "2012-10-17", "Statement": statements}]
                ),
            },
            ctx.line(path),
            _opts(provider),
        )
    for policy in managed:
        prog.resource(
            (var, "managed"),
            "aws.iam.RolePolicyAttachment",
            name,
            {"role": Code(f"{role}.name"), "policy_arn": policy},
            ctx.line(path),
            _opts(provider),
        )
    return role


BACKEND = AwsBackend()
