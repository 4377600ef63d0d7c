"""Layer 1 on AWS: the cluster and node roles, team roles, and GitHub OIDC CI roles."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code, py_string
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.boundary import boundary_statements
from crosswalk.providers.aws.common import (
    MANAGED,
    WORKLOAD_BOUNDARY,
    aws_provider,
    caller_identity,
    log_group_arns,
    opts,
    region,
    service_role,
    trust_policy,
    unique_name,
)
from crosswalk.providers.aws.deploy_policy import (
    ACCOUNT_ARN,
    GITHUB_OIDC,
    LAYERS,
    RDS_MONITORING_POLICY,
    SQL,
    _Arn,
    _merged,
    build_statements,
    deploy_statements,
    engines,
    preview_statements,
    state_denials,
    state_statements,
)
from crosswalk.providers.aws.vms import emit_vm_identities, emit_vm_logins
from crosswalk.providers.aws.warehouses import emit_team_warehouse_policy, team_role_tags
from crosswalk.providers.builds import build_repository, build_subject


def emit_identity(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    prog.imports.add("import json")
    provider = aws_provider(ctx)
    caller = caller_identity(ctx, provider)
    cluster_role = service_role(
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
    node_role = service_role(
        ctx,
        provider,
        "node",
        f"Worker nodes of platform {p.name}",
        "ec2.amazonaws.com",
        ("cluster", "nodePools"),
    )
    for policy in (
        # The VPC CNI has its own IRSA role (cluster layer): nodes do not hold its rights.
        "AmazonEKSWorkerNodePolicy",
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
    flow_logs = service_role(
        ctx,
        provider,
        "vpc-flow-logs",
        f"VPC flow logs of platform {p.name}",
        "vpc-flow-logs.amazonaws.com",
        ("network",),
    )
    # It writes the flow log group managed-infra makes (named as there).
    flow_log_group = unique_name(ctx, "flowLogGroup", template="/{}/vpc-flow-logs")
    group_arn = Call(
        "pulumi.Output.concat",
        [
            "arn:aws:logs:",
            region(ctx),
            ":",
            Code(f"{caller}.account_id"),
            ":log-group:",
            flow_log_group,
        ],
    )
    prog.resource(
        ("vpc-flow-logs_role", "policy"),
        "aws.iam.RolePolicy",
        f"{p.name}-vpc-flow-logs",
        {
            "role": Code(f"{flow_logs}.id"),
            "policy": Call(
                "pulumi.Output.json_dumps",
                [
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:DescribeLogStreams",
                                    "logs:PutLogEvents",
                                ],
                                "Resource": log_group_arns(group_arn),
                            }
                        ],
                    }
                ],
            ),
        },
        ctx.line(("network",)),
        opts(provider),
    )
    prog.export("flow_logs_role_arn", Code(f"{flow_logs}.arn"))
    if engines(p) & SQL:
        # RDS Enhanced Monitoring publishes each database host's metrics through it.
        monitoring = service_role(
            ctx,
            provider,
            "rds-monitoring",
            f"RDS Enhanced Monitoring of platform {p.name}",
            "monitoring.rds.amazonaws.com",
            ("appServices", "datastores"),
        )
        prog.resource(
            ("rds-monitoring_role", "policy"),
            "aws.iam.RolePolicyAttachment",
            f"{p.name}-rds-monitoring",
            {"role": Code(f"{monitoring}.name"), "policy_arn": MANAGED + RDS_MONITORING_POLICY},
            ctx.line(("appServices", "datastores")),
            opts(provider),
        )
        prog.export("rds_monitoring_role_arn", Code(f"{monitoring}.arn"))

    # A team without members grants nothing (as on GCP and Azure): no role to
    # assume, so no principal of the account becomes the team (validate: CW618).
    team_roles = {}
    for team in (t for t in p.teams if t.members):
        principal = {"AWS": list(team.members)}
        role = prog.resource(
            ("team", team.name, "role"),
            "aws.iam.Role",
            f"{p.name}-team-{team.name}",
            {
                "description": f"Team {team.name} ({team.access}) of platform {p.name}",
                "assume_role_policy": trust_policy(principal),
                "max_session_duration": 3600,
                **team_role_tags(p, team),
            },
            ctx.line(team.path),
            opts(provider),
        )
        prog.export(f"team_{team.name}_role_arn", Code(f"{role}.arn"))
        emit_team_warehouse_policy(ctx, provider, caller, team, role)
        team_roles[team.name] = role
    emit_vm_identities(ctx, provider)
    emit_vm_logins(ctx, provider, caller, team_roles)

    # The boundary names the account's resources: the account, always.
    prog.assign(prog.fixed("account"), Code(f"{caller}.account_id"))
    prog.helpers["account_arn"] = ACCOUNT_ARN
    boundary = prog.resource(
        "workload_boundary",
        "aws.iam.Policy",
        f"{p.name}-{WORKLOAD_BOUNDARY}",
        {
            "description": f"Permissions boundary of the workload roles of platform {p.name}",
            "policy": Call(
                "json.dumps",
                [
                    {
                        "Version": "2012-10-17",
                        "Statement": boundary_statements(p.name, _Arn("*")),
                    }
                ],
            ),
        },
        ctx.line(("cluster",)),
        opts(provider),
    )
    prog.export("workload_boundary_arn", Code(f"{boundary}.arn"))

    built = list(p.builds)
    oidc_arn = _github_oidc_provider(ctx, provider) if p.automation or built else None
    for app in built:
        _build_role(ctx, provider, app, oidc_arn)
    if p.automation:
        arn = _Arn(region(ctx))
        passed = {
            "cluster": Code(f"{cluster_role}.arn"),
            "node": Code(f"{node_role}.arn"),
            "vpc-flow-logs": Code(f"{flow_logs}.arn"),
        }
        if engines(p) & SQL:
            passed["rds-monitoring"] = Code(f"{monitoring}.arn")
    for bot in p.automation:
        subject = (
            f"repo:{bot.repository}:environment:{bot.environment}"
            if bot.environment
            else f"repo:{bot.repository}:ref:{bot.ref}"
        )
        trust = _github_trust(oidc_arn, subject)
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
        statements = _merged(
            [
                *(
                    statement
                    for layer in LAYERS
                    if layer in bot.layers
                    for statement in deploy_statements(p, layer, arn, passed)
                ),
                *state_statements(p, bot.layers, arn),
            ]
        ) + state_denials(p, bot.layers)
        prog.resource(
            ("automation", bot.name, "policy"),
            "aws.iam.RolePolicy",
            f"{p.name}-ci-{bot.name}",
            {
                "role": Code(f"{role}.id"),
                "policy": Call(
                    "pulumi.Output.json_dumps",
                    [{"Version": "2012-10-17", "Statement": statements}],
                ),
            },
            ctx.line(bot.path + ("layers",)),
            opts(provider),
        )
        prog.export(f"automation_{bot.name}_role_arn", Code(f"{role}.arn"), public=True)
        _preview_role(ctx, provider, bot, oidc_arn, arn, passed)


def _build_role(ctx: StackContext, provider: Code, app, oidc_arn) -> None:
    """The push identity of an app built from its own repository: trusted
    only for pushes to that repository's branch, it pushes to the app's ECR
    repository and deploys the app's stack, nothing else (build_statements).
    Named `<platform>-build-<app>`, outside the `<platform>-app-*` roles an
    apps deployer manages."""
    p, prog, name = ctx.platform, ctx.program, app.name
    build = app.build
    # Pushes to the branch; outside the default environment, jobs of its
    # GitHub environment.
    trust = _github_trust(
        oidc_arn,
        ctx.setting(
            f"build.{name}.subject",
            lambda q, env: build_subject(q, env, q.built(name)),
        ),
    )
    role = prog.resource(
        ("build", name, "role"),
        "aws.iam.Role",
        f"{p.name}-build-{app.cloud_name}",
        {
            "description": f"Builds of app {name} from {build.repository}: push its image, "
            "deploy its stack",
            "assume_role_policy": Call("pulumi.Output.json_dumps", [trust]),
            "max_session_duration": 3600,
        },
        ctx.line(build.path),
        opts(provider),
    )
    repository = ctx.setting(
        f"names.build.{name}", lambda q, env: build_repository(q, q.built(name))
    )
    prog.resource(
        ("build", name, "policy"),
        "aws.iam.RolePolicy",
        f"{p.name}-build-{app.cloud_name}",
        {
            "role": Code(f"{role}.id"),
            "policy": Call(
                "pulumi.Output.json_dumps",
                [
                    {
                        "Version": "2012-10-17",
                        "Statement": build_statements(p, app, _Arn(region(ctx)), repository),
                    }
                ],
            ),
        },
        ctx.line(build.path),
        opts(provider),
    )
    prog.export(f"build_{name}_role_arn", Code(f"{role}.arn"), public=True)


def _github_trust(oidc_arn, subject) -> dict:
    """A trust policy for GitHub's OIDC tokens of one subject (a repository's
    ref, environment or pull requests) meant for AWS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_arn},
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


def _preview_role(ctx, provider, bot, oidc_arn, arn, passed) -> None:
    """The read-only twin of a CI role: trusted only for the pull requests of
    its repository (a fork's gets no OIDC token), it reads what its layers
    deploy, to preview them."""
    p, prog = ctx.platform, ctx.program
    trust = _github_trust(oidc_arn, f"repo:{bot.repository}:pull_request")
    role = prog.resource(
        ("automation", bot.name, "preview_role"),
        "aws.iam.Role",
        f"{p.name}-ci-{bot.name}-preview",
        {
            "description": f"CI identity {bot.name}: previews {', '.join(bot.layers)} (read only)",
            "assume_role_policy": Call("pulumi.Output.json_dumps", [trust]),
            "max_session_duration": 3600,
        },
        ctx.line(bot.path),
        opts(provider),
    )
    prog.resource(
        ("automation", bot.name, "preview_policy"),
        "aws.iam.RolePolicy",
        f"{p.name}-ci-{bot.name}-preview",
        {
            "role": Code(f"{role}.id"),
            "policy": Call(
                "pulumi.Output.json_dumps",
                [
                    {
                        "Version": "2012-10-17",
                        "Statement": preview_statements(p, bot.layers, arn, passed),
                    }
                ],
            ),
        },
        ctx.line(bot.path + ("layers",)),
        opts(provider),
    )
    prog.export(f"automation_{bot.name}_preview_role_arn", Code(f"{role}.arn"), public=True)


def github_oidc_source(platform) -> str:
    """Where an environment's GitHub OIDC provider comes from: AWS allows one
    per URL in an account, so the default environment of each account (see
    model.Placement) creates it ("create") and the others look it up
    ("lookup"), unless platform.yaml names an existing one (its ARN)."""
    if platform.github_oidc_provider:
        return platform.github_oidc_provider
    placement = platform.placement
    return "create" if placement is None or placement.first else "lookup"


def _github_oidc_provider(ctx: StackContext, provider: Code) -> Code | str:
    """The ARN of the account's GitHub OIDC provider, made, looked up or named
    as each environment's placement says (github_oidc_source)."""
    prog = ctx.program
    line = ctx.line(("identity", "automation"))
    source = ctx.setting("githubOidcProvider", lambda q, env: github_oidc_source(q))
    sources = {github_oidc_source(q) for q in ctx.platforms.values()}
    arn = prog.name("github_oidc_arn")
    url = f"https://{GITHUB_OIDC}"

    def create() -> None:
        # Environments sharing an account share the provider: destroying the
        # one that made it must not take it from the others.
        retained = ctx.setting(
            "githubOidcProviderRetained", lambda q, env: bool(q.placement and q.placement.shared)
        )
        oidc = prog.resource(
            "github_oidc",
            "aws.iam.OpenIdConnectProvider",
            f"{ctx.platform.name}-github",
            {"url": url, "client_id_lists": ["sts.amazonaws.com"]},
            line,
            opts(provider, retain_on_delete=retained) if retained is not False else opts(provider),
        )
        prog.assign(arn, Code(f"{oidc}.arn"))

    def look_up() -> None:
        found = Call(
            "aws.iam.get_open_id_connect_provider",
            kwargs={
                "url": url,
                "opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider}),
            },
        )
        prog.assign(arn, Code(f"{found.render()}.arn"), line)

    if not isinstance(source, Code):
        if source == "create":
            create()
        elif source == "lookup":
            look_up()
        else:
            return source
        return arn
    first = len(prog.statements)
    branches = [(s, f) for s, f in (("create", create), ("lookup", look_up)) if s in sources]
    if sources - {"create", "lookup"}:
        branches.append(("", lambda: prog.assign(arn, source)))  # the ARN platform.yaml names
    for index, (value, emit) in enumerate(branches):
        start = len(prog.statements)
        emit()
        test = f"{source} == {py_string(value)}"
        last = index == len(branches) - 1
        prog.block("else:" if last else f"{'if' if index == 0 else 'elif'} {test}:", start)
    prog.statements[first] = (
        "# GitHub's OIDC provider, one per account: the account's default environment\n"
        "# creates it, the others look it up or name an existing one.\n" + prog.statements[first]
    )
    return arn
