"""Warehouses on AWS (`analytics.warehouses`, in layer 2): Redshift Serverless,
a namespace (the data, encrypted with the platform key, its administrator's
password kept by Secrets Manager) and a workgroup (the compute, in the private
subnets, enhanced VPC routing, never public); the teams' sign-in (layer 1)
and an app's (its IRSA role)."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.common import opts, unique_name
from crosswalk.providers.common import protect
from crosswalk.providers.kubernetes.common import env_prefix

PORT = 5439
# The services that use the platform key for a warehouse: Redshift Serverless
# for its data, Secrets Manager for its administrator's password.
KEY_SERVICES = ("redshift-serverless", "secretsmanager")
# A workgroup's base capacity in Redshift Processing Units, by `size`
# (small: the least Redshift Serverless offers); it scales up from there with
# the load.
BASE_CAPACITY = {"small": 8, "medium": 32, "large": 128, "xlarge": 512}
ADMIN_USER = "warehouse_admin"
# Every Redshift log the namespace can send to CloudWatch Logs.
LOG_EXPORTS = ["connectionlog", "useractivitylog", "userlog"]
# The tag that names a workgroup's warehouse: IAM holds sign-ins to it by the tag.
WAREHOUSE_TAG = "crosswalk:warehouse"
# Signing in with IAM: temporary database credentials of the caller's own user.
SIGN_IN_ACTIONS = ["redshift-serverless:GetCredentials"]
SEE_ACTIONS = ["redshift-serverless:GetWorkgroup", "redshift-serverless:GetNamespace"]
# Redshift's system role that administers the database: admin teams get it
# on sign-in (the RedshiftDbRoles tag of their role).
ADMIN_DB_ROLE = "sys:dba"


def warehouse_output(warehouse, output: str) -> str:
    """The managed-infra output an app reads of a warehouse: its workgroup's name or endpoint."""
    return f"warehouse_{warehouse.name.replace('-', '_')}_{output}"


def warehouse_tag(platform, warehouse) -> str:
    return f"{platform.name}-{warehouse.name}"


def emit_warehouses(ctx: StackContext, provider: Code, key: Code, vpc: Code, private) -> None:
    """The platform's warehouses: each a Redshift Serverless namespace and workgroup."""
    p, prog = ctx.platform, ctx.program
    if not p.warehouses:
        return
    line = ctx.line(("analytics", "warehouses"))
    sg = prog.resource(
        "warehouse_sg",
        "aws.ec2.SecurityGroup",
        f"{p.name}-warehouses",
        {
            "description": f"Warehouses of platform {p.name}: reachable only from its network",
            "vpc_id": Code(f"{vpc}.id"),
            "ingress": [
                {
                    "description": "from the platform's network",
                    "protocol": "tcp",
                    "from_port": PORT,
                    "to_port": PORT,
                    "cidr_blocks": [Code(f"{vpc}.cidr_block")],
                }
            ],
            # Enhanced VPC routing sends COPY and UNLOAD through the VPC: to AWS's APIs over TLS.
            "egress": [
                {
                    "description": "to AWS APIs over TLS",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": ["0.0.0.0/0"],
                }
            ],
        },
        line,
        opts(provider),
    )
    subnets = Code("[" + ", ".join(f"{s}.id" for s in private) + "]")
    for warehouse in p.warehouses:
        here = ctx.line(warehouse.path)
        var = warehouse.name.replace("-", "_")
        name = f"{p.name}-{warehouse.name}"
        namespace = prog.resource(
            ("warehouse", var, "namespace"),
            "aws.redshiftserverless.Namespace",
            name,
            {
                "namespace_name": unique_name(
                    ctx, f"warehouse.{warehouse.name}", warehouse.name, limit=64
                ),
                "db_name": var,
                "admin_username": ADMIN_USER,
                # Secrets Manager makes, keeps and rotates the password: it
                # is in no program, state or app.
                "manage_admin_password": True,
                "admin_password_secret_kms_key_id": Code(f"{key}.arn"),
                "kms_key_id": Code(f"{key}.arn"),
                "log_exports": LOG_EXPORTS,
            },
            here,
            opts(provider, **protect(ctx)),
        )
        workgroup = prog.resource(
            ("warehouse", var, "workgroup"),
            "aws.redshiftserverless.Workgroup",
            name,
            {
                "workgroup_name": unique_name(
                    ctx, f"warehouse.{warehouse.name}.workgroup", warehouse.name, limit=64
                ),
                "namespace_name": Code(f"{namespace}.namespace_name"),
                "base_capacity": ctx.setting(
                    f"warehouse.{warehouse.name}.baseCapacity",
                    lambda q, env, w=warehouse.name: BASE_CAPACITY[q.warehouse(w).size or "small"],
                ),
                "enhanced_vpc_routing": True,
                "publicly_accessible": False,
                "subnet_ids": subnets,
                "security_group_ids": [Code(f"{sg}.id")],
                "port": PORT,
                "config_parameters": [
                    {"parameter_key": "require_ssl", "parameter_value": "true"},
                    {"parameter_key": "enable_user_activity_logging", "parameter_value": "true"},
                ],
                "tags": {WAREHOUSE_TAG: warehouse_tag(p, warehouse)},
            },
            here,
            opts(provider),
        )
        prog.export(warehouse_output(warehouse, "workgroup"), Code(f"{workgroup}.workgroup_name"))
        prog.export(warehouse_output(warehouse, "arn"), Code(f"{workgroup}.arn"))
        prog.export(
            warehouse_output(warehouse, "endpoint"), Code(f"{workgroup}.endpoints[0].address")
        )


def team_statements(ctx: StackContext, caller: Code) -> list[dict]:
    """What a team's role may do with the platform's warehouses (layer 1,
    before they exist): sign in to the workgroups tagged as the platform's
    warehouses, as its own database user, and see them."""
    p = ctx.platform
    if not p.warehouses:
        return []
    workgroups = Call(
        "pulumi.Output.concat",
        [
            "arn:aws:redshift-serverless:",
            ctx.setting("cloud.region", lambda q, env: q.cloud.region),
            ":",
            Code(f"{caller}.account_id"),
            ":workgroup/*",
        ],
    )
    held = {
        "StringEquals": {
            f"aws:ResourceTag/{WAREHOUSE_TAG}": [warehouse_tag(p, w) for w in p.warehouses]
        }
    }
    return [
        {"Effect": "Allow", "Action": SIGN_IN_ACTIONS + SEE_ACTIONS[:1], "Resource": workgroups}
        | {"Condition": held}
    ]


def team_role_tags(platform, team) -> dict:
    """An admin team's role signs in to the warehouses as their administrator:
    Redshift grants the database roles its RedshiftDbRoles tag names. The
    others sign in as users of their own, which hold what is granted to them."""
    if platform.warehouses and team.access == "admin":
        return {"tags": {"RedshiftDbRoles": ADMIN_DB_ROLE}}
    return {}


def emit_team_warehouse_policy(ctx: StackContext, provider: Code, caller: Code, team, role):
    statements = team_statements(ctx, caller)
    if not statements:
        return
    ctx.program.resource(
        ("team", team.name, "warehouses"),
        "aws.iam.RolePolicy",
        f"{ctx.platform.name}-team-{team.name}-warehouses",
        {
            "role": Code(f"{role}.id"),
            "policy": Call(
                "pulumi.Output.json_dumps", [{"Version": "2012-10-17", "Statement": statements}]
            ),
        },
        ctx.line(("analytics", "warehouses")),
        opts(provider),
    )


def warehouse_statements(ctx: StackContext, app) -> list[dict]:
    """The IRSA statements that let an app sign in to the warehouses it uses,
    and only those."""
    return [
        {
            "Effect": "Allow",
            "Action": SIGN_IN_ACTIONS,
            "Resource": ctx.upstream(
                "02-managed-infra", warehouse_output(ctx.platform.warehouse(use.warehouse), "arn")
            ),
        }
        for use in app.warehouses
    ]


def warehouse_env(ctx: StackContext, app) -> dict:
    """Where the app's warehouses are: 'analytics' -> ANALYTICS_WAREHOUSE (the
    workgroup) and ANALYTICS_WAREHOUSE_ENDPOINT; names, not secrets."""
    env = {}
    for use in app.warehouses:
        warehouse = ctx.platform.warehouse(use.warehouse)
        prefix = env_prefix(warehouse.name)
        env[f"{prefix}_WAREHOUSE"] = ctx.upstream(
            "02-managed-infra", warehouse_output(warehouse, "workgroup")
        )
        env[f"{prefix}_WAREHOUSE_ENDPOINT"] = ctx.upstream(
            "02-managed-infra", warehouse_output(warehouse, "endpoint")
        )
    return env
