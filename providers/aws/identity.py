"""Layer 1 on AWS: the cluster and node roles, team roles, and GitHub OIDC CI roles."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.common import MANAGED, aws_provider, opts, trust_policy

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


def emit_identity(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    prog.imports.add("import json")
    provider = aws_provider(ctx)
    caller = prog.assign(
        prog.name("caller"),
        Call(
            "aws.get_caller_identity",
            kwargs={"opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider})},
        ),
    )
    account_root = Code(f'"arn:aws:iam::" + {caller}.account_id + ":root"')
    cluster_role = _service_role(
        ctx,
        provider,
        "cluster",
        f"EKS control plane of platform {p.name}",
        "eks.amazonaws.com",
        ("cluster",),
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
        opts(provider),
    )
    node_role = _service_role(
        ctx,
        provider,
        "node",
        f"Worker nodes of platform {p.name}",
        "ec2.amazonaws.com",
        ("cluster", "nodePools"),
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
            opts(provider),
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
                "assume_role_policy": trust_policy(principal),
                "max_session_duration": 3600,
            },
            ctx.line(team.path),
            opts(provider),
        )
        prog.export(f"team_{team.name}_role_arn", Code(f"{role}.arn"))

    if p.automation:
        oidc = prog.resource(
            "github_oidc",
            "aws.iam.OpenIdConnectProvider",
            f"{p.name}-github",
            {"url": f"https://{GITHUB_OIDC}", "client_id_lists": ["sts.amazonaws.com"]},
            ctx.line(("identity", "automation")),
            opts(provider),
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
            opts(provider),
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
                            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
                        }
                    ],
                ),
            },
            ctx.line(bot.path + ("layers",)),
            opts(provider),
        )
        prog.export(f"automation_{bot.name}_role_arn", Code(f"{role}.arn"))


def _service_role(ctx, provider, purpose: str, description: str, service: str, path) -> Code:
    """A role an AWS service assumes on the platform's behalf (`<platform>-<purpose>`)."""
    return ctx.program.resource(
        f"{purpose}_role",
        "aws.iam.Role",
        f"{ctx.platform.name}-{purpose}",
        {"description": description, "assume_role_policy": trust_policy({"Service": service})},
        ctx.line(path),
        opts(provider),
    )
