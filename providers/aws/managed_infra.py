"""Layer 2 on AWS: the VPC and its subnets, NAT, flow logs, the platform KMS key
(with a key policy of its own), ECR registries."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.common import (
    KEY_USE_ACTIONS,
    aws_provider,
    caller_identity,
    key_administration,
    log_group,
    logs_may_use_key,
    opts,
    region,
    unique_name,
)
from crosswalk.providers.aws.rules import subnet_plan
from crosswalk.providers.aws.storage import emit_buckets
from crosswalk.providers.aws.vms import emit_vms
from crosswalk.providers.aws.warehouses import KEY_SERVICES as WAREHOUSE_KEY_SERVICES
from crosswalk.providers.aws.warehouses import emit_warehouses
from crosswalk.providers.builds import build_repository, built_apps
from crosswalk.providers.common import protect


def emit_managed_infra(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    provider = aws_provider(ctx)
    net = p.network
    line = ctx.line(("network",))
    zones = prog.assign(
        prog.name("zones"),
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
        opts(provider),
    )
    prog.resource(
        "default_security_group",
        "aws.ec2.DefaultSecurityGroup",
        f"{p.name}-default",
        {"vpc_id": Code(f"{vpc}.id"), "tags": {"Name": f"{p.name}-default-deny"}},
        line,
        opts(provider),
    )
    igw = prog.resource(
        "internet_gateway",
        "aws.ec2.InternetGateway",
        f"{p.name}-igw",
        {"vpc_id": Code(f"{vpc}.id")},
        line,
        opts(provider),
    )
    public_cidrs, private_cidrs = subnet_plan(net.cidr, net.zones)
    public_rt = prog.resource(
        "public_route_table",
        "aws.ec2.RouteTable",
        f"{p.name}-public",
        {
            "vpc_id": Code(f"{vpc}.id"),
            "routes": [{"cidr_block": "0.0.0.0/0", "gateway_id": Code(f"{igw}.id")}],
        },
        line,
        opts(provider),
    )
    public, private, nats = [], [], []
    for zone in range(net.zones):
        subnet = _subnet(
            ctx,
            provider,
            vpc,
            zones,
            "public",
            zone,
            public_cidrs[zone],
            {
                "map_public_ip_on_launch": False,
                "tags": {"Name": f"{p.name}-public-{zone}", "kubernetes.io/role/elb": "1"},
            },
        )
        public.append(subnet)
        _route_through(ctx, provider, "public", zone, subnet, public_rt)
        if zone == 0 or net.nat_gateways == "perZone":
            eip = prog.resource(
                ("nat", str(zone), "ip"),
                "aws.ec2.Eip",
                f"{p.name}-nat-{zone}",
                {"domain": "vpc"},
                ctx.line(("network", "natGateways")),
                opts(provider),
            )
            nats.append(
                prog.resource(
                    ("nat", str(zone)),
                    "aws.ec2.NatGateway",
                    f"{p.name}-nat-{zone}",
                    {"allocation_id": Code(f"{eip}.id"), "subnet_id": Code(f"{subnet}.id")},
                    ctx.line(("network", "natGateways")),
                    opts(provider),
                )
            )
    for zone in range(net.zones):
        nat = nats[zone] if net.nat_gateways == "perZone" else nats[0]
        subnet = _subnet(
            ctx,
            provider,
            vpc,
            zones,
            "private",
            zone,
            private_cidrs[zone],
            {"tags": {"Name": f"{p.name}-private-{zone}", "kubernetes.io/role/internal-elb": "1"}},
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
            opts(provider),
        )
        _route_through(ctx, provider, "private", zone, subnet, table)
    key = prog.resource(
        "secrets_key",
        "aws.kms.Key",
        f"{p.name}-secrets",
        {
            "description": f"Encrypts Kubernetes secrets and data of platform {p.name}",
            "enable_key_rotation": True,
            "deletion_window_in_days": 30,
            "policy": _key_policy(ctx, provider),
        },
        ctx.line(("cluster",)),
        opts(provider, **protect(ctx)),
    )
    prog.resource(
        "secrets_key_alias",
        "aws.kms.Alias",
        f"{p.name}-secrets",
        {
            "name": unique_name(ctx, "secretsKeyAlias", "secrets", template="alias/{}"),
            "target_key_id": Code(f"{key}.key_id"),
        },
        ctx.line(("cluster",)),
        opts(provider),
    )
    _flow_logs(ctx, provider, vpc, key)
    emit_buckets(ctx, provider, key)
    emit_warehouses(ctx, provider, key, vpc, private)
    emit_vms(ctx, provider, vpc, {"public": public, "private": private}, key)
    for registry in p.registries:
        repo = prog.resource(
            ("registry", registry.name),
            "aws.ecr.Repository",
            f"{p.name}-{registry.name}",
            {
                "name": unique_name(
                    ctx, f"registry.{registry.name}", template="{}/" + registry.name
                ),
                "image_scanning_configuration": {"scan_on_push": registry.scan_on_push},
                "image_tag_mutability": "IMMUTABLE" if registry.immutable_tags else "MUTABLE",
                "encryption_configurations": [
                    {"encryption_type": "KMS", "kms_key": Code(f"{key}.arn")}
                ],
            },
            ctx.line(registry.path),
            opts(provider, **protect(ctx)),
        )
        prog.export(f"registry_{registry.name}_url", Code(f"{repo}.repository_url"))
        for app in built_apps(p, registry):
            _build_repository(ctx, provider, key, registry, app)
    prog.export("vpc_id", Code(f"{vpc}.id"))
    prog.export("vpc_cidr", Code(f"{vpc}.cidr_block"))
    prog.export("public_subnet_ids", Code("[" + ", ".join(f"{s}.id" for s in public) + "]"))
    prog.export("private_subnet_ids", Code("[" + ", ".join(f"{s}.id" for s in private) + "]"))
    prog.export("secrets_key_arn", Code(f"{key}.arn"))


def _subnet(
    ctx, provider, vpc: Code, zones: Code, kind: str, zone: int, cidr: str, extra: dict
) -> Code:
    """A public or private subnet in the zone-th availability zone."""
    return ctx.program.resource(
        (kind, str(zone)),
        "aws.ec2.Subnet",
        f"{ctx.platform.name}-{kind}-{zone}",
        {
            "vpc_id": Code(f"{vpc}.id"),
            "cidr_block": cidr,
            "availability_zone": Code(f"{zones}.names[{zone}]"),
        }
        | extra,
        ctx.line(("network",)),
        opts(provider),
    )


def _route_through(ctx, provider, kind: str, zone: int, subnet: Code, table: Code) -> Code:
    """A subnet's traffic through a route table."""
    return ctx.program.resource(
        (kind, str(zone), "routes"),
        "aws.ec2.RouteTableAssociation",
        f"{ctx.platform.name}-{kind}-{zone}",
        {"subnet_id": Code(f"{subnet}.id"), "route_table_id": Code(f"{table}.id")},
        ctx.line(("network",)),
        opts(provider),
    )


# The services that encrypt the platform's data with the key.
KEY_SERVICES = ("ecr", "eks")


def _key_policy(ctx, provider) -> Call:
    """The platform key's policy. Without one, any principal of the account
    whose IAM policy allows kms:* could use the key directly; with it the
    account administers the key, but its data keys are used only through EKS,
    ECR, S3 for the platform's buckets, RDS for its Aurora clusters,
    Secrets Manager for its apps' secrets, EC2 for its VMs' volumes (on grants those services make, or by
    principals whose IAM policy allows it) and CloudWatch Logs for the
    platform's log groups."""
    caller = caller_identity(ctx, provider)
    account = Code(f"{caller}.account_id")
    root = Code(f'"arn:aws:iam::" + {caller}.account_id + ":root"')
    here = region(ctx)
    services = set(KEY_SERVICES)
    services |= {"s3"} if ctx.platform.buckets else set()
    services |= {"rds"} if any(s.aurora for s in ctx.platform.app_services.datastores) else set()
    services |= {"secretsmanager"} if any(app.secrets for app in ctx.platform.apps) else set()
    services |= set(WAREHOUSE_KEY_SERVICES) if ctx.platform.warehouses else set()
    services |= {"ec2"} if ctx.platform.vms else set()
    # Kinesis encrypts and decrypts the streams' records for apps and pipelines.
    services |= (
        {"kinesis"}
        if any(s.engine == "stream" for s in ctx.platform.app_services.datastores)
        else set()
    )
    via = [
        Call("pulumi.Output.concat", [f"{service}.", here, ".amazonaws.com"])
        for service in sorted(services)
    ]
    return Call(
        "pulumi.Output.json_dumps",
        [
            {
                "Version": "2012-10-17",
                "Statement": [
                    key_administration(caller),
                    {
                        "Sid": "UseOnlyThroughPlatformServices",
                        "Effect": "Allow",
                        "Principal": {"AWS": root},
                        "Action": KEY_USE_ACTIONS,
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {"kms:CallerAccount": account, "kms:ViaService": via}
                        },
                    },
                    {
                        "Sid": "GrantsOnlyForAwsResources",
                        "Effect": "Allow",
                        "Principal": {"AWS": root},
                        "Action": ["kms:CreateGrant", "kms:ListGrants"],
                        "Resource": "*",
                        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                    },
                    logs_may_use_key(here, caller),
                ],
            }
        ],
    )


def _flow_logs(ctx, provider, vpc: Code, key: Code) -> None:
    """Every flow of the VPC, accepted or rejected, to an encrypted log group
    kept a year: the record an incident response starts from. The role VPC
    flow logs write with is the identity layer's, as are AWS's other service
    roles."""
    p, prog = ctx.platform, ctx.program
    line = ctx.line(("network",))
    group = log_group(
        ctx,
        provider,
        "flow_logs",
        f"{p.name}-vpc-flow-logs",
        unique_name(ctx, "flowLogGroup", template="/{}/vpc-flow-logs"),
        Code(f"{key}.arn"),
        line,
    )
    prog.resource(
        "flow_log",
        "aws.ec2.FlowLog",
        f"{p.name}-vpc",
        {
            "vpc_id": Code(f"{vpc}.id"),
            "traffic_type": "ALL",
            "log_destination_type": "cloud-watch-logs",
            "log_destination": Code(f"{group}.arn"),
            # The identity layer's role, which may write this group only.
            "iam_role_arn": ctx.upstream("01-identity", "flow_logs_role_arn"),
            "max_aggregation_interval": 60,
        },
        line,
        opts(provider),
    )


def _build_repository(ctx: StackContext, provider: Code, key: Code, registry, app) -> None:
    """The repository of an app built from its own repository (`apps[].build`):
    its push identity may push here and nowhere else. The registry's settings."""
    prog, name = ctx.program, app.name
    repo = prog.resource(
        ("build", app.cloud_name),
        "aws.ecr.Repository",
        # Named as the app was created: a rename keeps the repository and its images.
        f"{ctx.platform.name}-{registry.name}-{app.cloud_name}",
        {
            "name": ctx.setting(
                f"names.build.{name}", lambda q, env: build_repository(q, q.built(name))
            ),
            "image_scanning_configuration": {"scan_on_push": registry.scan_on_push},
            "image_tag_mutability": "IMMUTABLE" if registry.immutable_tags else "MUTABLE",
            "encryption_configurations": [
                {"encryption_type": "KMS", "kms_key": Code(f"{key}.arn")}
            ],
        },
        ctx.line(app.build.path),
        opts(provider, **protect(ctx)),
    )
    prog.export(f"build_{app.name}_repository_url", Code(f"{repo}.repository_url"))
