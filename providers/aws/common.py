"""What every AWS layer's program shares: the provider, the environment's
region and names, trust policies, IRSA roles."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.rules import aws_name
from crosswalk.providers.common import emit_cloud_provider, environment_tags, protect

AWS_IMPORT = "import pulumi_aws as aws"
MANAGED = "arn:aws:iam::aws:policy/"
# Where Route 53 takes its signing keys and writes its query logs.
GLOBAL_REGION = "us-east-1"
# How long CloudWatch keeps the platform's logs: a year, as CIS asks of audit records.
LOG_RETENTION_DAYS = 365
PLATFORM_TAG, ENVIRONMENT_TAG = "crosswalk/platform", "crosswalk/environment"

# What the platform key's administrators may do (AWS's key-administrator set):
# manage the key, not use it.
KEY_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
]

# What using a key is (as opposed to managing it).
KEY_USE_ACTIONS = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
]

# The boundary policy's name: Pulumi adds a suffix (environments share an account).
WORKLOAD_BOUNDARY = "workload-boundary"


def aws_provider(ctx: StackContext) -> Code:
    """The program's AWS provider: the environment's region, every resource
    tagged with the platform and the environment, and, where platform.yaml
    names the account, no other account."""
    return emit_cloud_provider(ctx, AWS_IMPORT, "aws.Provider", "aws", _provider_args(ctx))


def global_provider(ctx: StackContext) -> Code:
    """A provider in us-east-1, for what AWS keeps only there (the keys and
    logs of Route 53), tagged and bound to the account as the program's own."""
    args = _provider_args(ctx) | {"region": GLOBAL_REGION}
    return ctx.program.resource(
        "aws_global", "aws.Provider", "aws-global", args, ctx.line(("cloud",))
    )


def _provider_args(ctx: StackContext) -> dict:
    tags = environment_tags(ctx, PLATFORM_TAG, ENVIRONMENT_TAG)
    args = {"region": region(ctx), "default_tags": {"tags": tags}}
    if any(q.cloud.account for q in ctx.platforms.values()):
        account = ctx.setting("cloud.account", lambda q, env: q.cloud.account or "")
        args["allowed_account_ids"] = (
            Code(f"[{account}] if {account} else None") if isinstance(account, Code) else [account]
        )
    return args


def caller_identity(ctx: StackContext, provider: Code) -> Code:
    """The account (and principal) the program deploys with, as a variable."""
    return ctx.program.assign(
        ctx.program.name("caller"),
        Call(
            "aws.get_caller_identity",
            kwargs={"opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider})},
        ),
    )


def key_administration(caller: Code) -> dict:
    """The key policy statement that lets the account manage a key, not use it."""
    return {
        "Sid": "AccountAdministersTheKey",
        "Effect": "Allow",
        "Principal": {"AWS": Code(f'"arn:aws:iam::" + {caller}.account_id + ":root"')},
        "Action": KEY_ADMIN_ACTIONS,
        "Resource": "*",
    }


def logs_may_use_key(where: str | Code, caller: Code) -> dict:
    """The key policy statement that lets CloudWatch Logs in `where` (a region,
    or the config read of each environment's) use a key for the account's log
    groups, and no other account's."""
    if isinstance(where, str):
        service, arn_start = f"logs.{where}.amazonaws.com", [f"arn:aws:logs:{where}:"]
    else:
        service = Call("pulumi.Output.concat", ["logs.", where, ".amazonaws.com"])
        arn_start = ["arn:aws:logs:", where, ":"]
    return {
        "Sid": "CloudWatchLogsOfThisAccount",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": KEY_USE_ACTIONS,
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": Call(
                    "pulumi.Output.concat",
                    [*arn_start, Code(f"{caller}.account_id"), ":log-group:*"],
                )
            }
        },
    }


def log_group(ctx, provider: Code, var, pulumi_name: str, name, key_arn, line) -> Code:
    """A log group of the platform: encrypted with `key_arn`, kept a year,
    protected like the other records."""
    return ctx.program.resource(
        var,
        "aws.cloudwatch.LogGroup",
        pulumi_name,
        {"name": name, "retention_in_days": LOG_RETENTION_DAYS, "kms_key_id": key_arn},
        line,
        opts(provider, **protect(ctx)),
    )


def log_group_arns(group_arn) -> list:
    """What writing a log group's streams names: the group and its streams."""
    return [group_arn, Call("pulumi.Output.concat", [group_arn, ":*"])]


def region(ctx: StackContext) -> str | Code:
    """The environment's region."""
    return ctx.setting("cloud.region", lambda q, env: q.cloud.region)


def unique_name(
    ctx: StackContext, key: str, *parts: str, limit: int = 255, template: str = "{}"
) -> str | Code:
    """A name AWS keeps unique in the account (rules.aws_name) within
    `template`, per environment."""
    return ctx.setting(
        f"names.{key}", lambda q, env: template.format(aws_name(q, *parts, limit=limit))
    )


def opts(provider: Code, **extra) -> dict:
    return {"provider": provider, **extra}


def trust_policy(principal: dict, conditions: dict | None = None) -> Call:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if conditions:
        statement["Condition"] = conditions
    return Call("json.dumps", [{"Version": "2012-10-17", "Statement": [statement]}])


def service_role(ctx, provider, purpose: str, description: str, service: str, path) -> Code:
    """A role an AWS service assumes on the platform's behalf (`<platform>-<purpose>`)."""
    return ctx.program.resource(
        f"{purpose}_role",
        "aws.iam.Role",
        f"{ctx.platform.name}-{purpose}",
        {"description": description, "assume_role_policy": trust_policy({"Service": service})},
        ctx.line(path),
        opts(provider),
    )


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


def irsa_trust(ctx, provider_arn, issuer_url, namespace: str, service_account: str) -> Call:
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


def irsa_role(
    ctx,
    provider,
    var,
    name,
    namespace,
    service_account,
    path,
    actions=(),
    managed=(),
    oidc: tuple | None = None,
    moved: dict | None = None,
) -> Code:
    """An IAM role for one Kubernetes service account: inline policy and/or
    managed policies. `oidc` is the cluster's (provider ARN, issuer URL),
    read from the cluster stack unless given; `moved`, the aliases of a
    renamed app (see providers.common.moved_from)."""
    prog = ctx.program
    if oidc is None:
        oidc = (
            ctx.upstream("03-cluster", "oidc_provider_arn"),
            ctx.upstream("03-cluster", "oidc_provider_url"),
        )
    oidc_arn, oidc_url = oidc
    role = prog.resource(
        (var, "role"),
        "aws.iam.Role",
        name,
        {
            "description": f"IRSA role of {namespace}/{service_account}",
            "assume_role_policy": irsa_trust(ctx, oidc_arn, oidc_url, namespace, service_account),
            "permissions_boundary": ctx.upstream("01-identity", "workload_boundary_arn"),
        },
        ctx.line(path),
        opts(provider, **(moved or {})),
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
            opts(provider, **(moved or {})),
        )
    for policy in managed:
        prog.resource(
            (var, "managed"),
            "aws.iam.RolePolicyAttachment",
            name,
            {"role": Code(f"{role}.name"), "policy_arn": policy},
            ctx.line(path),
            opts(provider, **(moved or {})),
        )
    return role
