"""Layer 1 on GCP: node and team service accounts and roles, and GitHub CI
identities through a Workload Identity pool.
"""

from __future__ import annotations

import hashlib
import re

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import shortened
from crosswalk.providers.gcp.common import (
    account_id,
    cel_string,
    enable_apis,
    gcp_provider,
    opts,
    project,
    short_role,
    var_part,
)
from crosswalk.providers.gcp.rules import gcp_name

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


# Project roles of a team's members: admins administer every cluster; the
# others may only fetch cluster credentials, and get exactly the Kubernetes
# RBAC of their namespaces (roles/container.developer would open every
# namespace of every cluster in the project).
ACCESS_ROLES = {
    "admin": "roles/container.admin",
    "developer": "roles/container.clusterViewer",
    "viewer": "roles/container.clusterViewer",
}


# What the nodes' own service account may do: write logs and metrics, read images.
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
    "roles/artifactregistry.reader",
)


# What an automation identity may do per layer it deploys (least privilege by service).
LAYER_ROLES = {
    "identity": [
        "roles/iam.serviceAccountAdmin",
        "roles/iam.workloadIdentityPoolAdmin",
        "roles/resourcemanager.projectIamAdmin",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "managed-infra": [
        "roles/compute.networkAdmin",
        "roles/artifactregistry.admin",
        "roles/cloudkms.admin",
        "roles/servicenetworking.networksAdmin",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "cluster": [
        "roles/container.admin",
        "roles/compute.viewer",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "cluster-services": ["roles/container.admin"],
    "app-services": [
        "roles/container.admin",
        "roles/cloudsql.admin",
        "roles/redis.admin",
        "roles/pubsub.admin",
        "roles/dns.admin",
        "roles/datastore.owner",
        "roles/iam.serviceAccountAdmin",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "apps": [
        "roles/container.developer",
        "roles/cloudsql.admin",
        "roles/pubsub.admin",
        "roles/iam.serviceAccountAdmin",
    ],
}


# Project roles a layer grants to its workloads: its CI identity may grant
# exactly these (an IAM condition on roles/resourcemanager.projectIamAdmin).
LAYER_GRANTS = {
    "app-services": ["roles/dns.reader"],
    "apps": ["roles/cloudsql.client", "roles/cloudsql.instanceUser", "roles/datastore.user"],
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def pool_id(platform, bot: str) -> str:
    """A CI identity's workload identity pool (4 to 32 characters; Google
    keeps the 'gcp-' prefix for itself)."""
    pool = gcp_name(platform, 32, "ci", bot)
    return shortened("cw-" + pool, 32) if pool.startswith("gcp-") else pool


def emit_identity(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    project_id = project(ctx)
    provider = gcp_provider(ctx)
    apis = enable_apis(
        ctx,
        provider,
        [
            "iam.googleapis.com",
            "iamcredentials.googleapis.com",
            "sts.googleapis.com",
            "cloudresourcemanager.googleapis.com",
        ],
    )
    nodes_line = ctx.line(("cluster", "nodePools"))
    node_account = prog.resource(
        "node_service_account",
        "gcp.serviceaccount.Account",
        f"{p.name}-nodes",
        {
            "account_id": account_id(ctx, "nodes", "nodes"),
            "display_name": f"GKE nodes of platform {p.name}",
            "description": "Least privilege for nodes: writes logs and metrics, reads images",
        },
        nodes_line,
        opts(provider, apis),
    )
    for role in NODE_ROLES:
        prog.resource(
            ("node", short_role(role)),
            "gcp.projects.IAMMember",
            f"{p.name}-nodes-{short_role(role)}",
            {"project": project_id, "role": role, "member": Code(f"{node_account}.member")},
            nodes_line,
            opts(provider, apis),
        )
    prog.export("node_service_account_email", Code(f"{node_account}.email"))

    for team in p.teams:
        role = ACCESS_ROLES[team.access]
        seen: set[str] = set()
        for i, member in enumerate(team.members):
            slug = _slug(member)
            if slug in seen:
                slug += "-" + hashlib.sha256(member.encode()).hexdigest()[:6]
            seen.add(slug)
            prog.resource(
                ("team", var_part(team.name), str(i)),
                "gcp.projects.IAMMember",
                f"{p.name}-team-{team.name}-{slug}",
                {"project": project_id, "role": role, "member": member},
                ctx.line(team.path + ("members", i)),
                opts(provider, apis),
            )

    for bot in p.automation:
        _automation(ctx, provider, apis, bot, node_account)


def _automation(ctx: StackContext, provider: Code, apis, bot, node_account: Code) -> None:
    p, prog = ctx.platform, ctx.program
    project_id = project(ctx)
    line = ctx.line(bot.path)
    pool = prog.resource(
        ("ci", var_part(bot.name), "pool"),
        "gcp.iam.WorkloadIdentityPool",
        f"{p.name}-ci-{bot.name}",
        {
            "workload_identity_pool_id": ctx.setting(
                f"names.pool.{bot.name}", lambda q, env: pool_id(q, bot.name)
            ),
            "display_name": f"{p.name} CI {bot.name}"[:32],
            "description": f"GitHub Actions of {bot.repository}: deploys {', '.join(bot.layers)}"[
                :256
            ],
        },
        line,
        opts(provider, apis),
    )
    # The token must come from this repository and this ref (or environment).
    mapping = {
        "google.subject": "assertion.sub",
        "attribute.repository": "assertion.repository",
        "attribute.ref": "assertion.ref",
    }
    condition = f"assertion.repository == {cel_string(bot.repository)}"
    if bot.environment:
        mapping["attribute.environment"] = "assertion.environment"
        condition += f" && assertion.environment == {cel_string(bot.environment)}"
    else:
        condition += f" && assertion.ref == {cel_string(bot.ref)}"
    oidc = prog.resource(
        ("ci", var_part(bot.name), "github"),
        "gcp.iam.WorkloadIdentityPoolProvider",
        f"{p.name}-ci-{bot.name}-github",
        {
            "workload_identity_pool_id": Code(f"{pool}.workload_identity_pool_id"),
            "workload_identity_pool_provider_id": "github",
            "display_name": "GitHub Actions",
            "attribute_mapping": mapping,
            "attribute_condition": condition,
            "oidc": {"issuer_uri": GITHUB_ISSUER},
        },
        line,
        opts(provider, apis),
    )
    account = prog.resource(
        ("ci", var_part(bot.name), "account"),
        "gcp.serviceaccount.Account",
        f"{p.name}-ci-{bot.name}",
        {
            "account_id": account_id(ctx, f"ci.{bot.name}", "ci", bot.name),
            "display_name": f"CI {bot.name} of platform {p.name}",
            "description": f"Deploys {', '.join(bot.layers)}; impersonated from GitHub, never by key",
        },
        line,
        opts(provider, apis),
    )
    prog.resource(
        ("ci", var_part(bot.name), "federation"),
        "gcp.serviceaccount.IAMMember",
        f"{p.name}-ci-{bot.name}-federation",
        {
            "service_account_id": Code(f"{account}.name"),
            "role": "roles/iam.workloadIdentityUser",
            "member": Call(
                "pulumi.Output.concat",
                [
                    "principalSet://iam.googleapis.com/",
                    Code(f"{pool}.name"),
                    "/attribute.repository/" + bot.repository,
                ],
            ),
        },
        line,
        opts(provider, apis),
    )
    layers_line = ctx.line(bot.path + ("layers",))
    roles = sorted({role for layer in bot.layers for role in LAYER_ROLES[layer]})
    for role in roles:
        prog.resource(
            ("ci", var_part(bot.name), short_role(role)),
            "gcp.projects.IAMMember",
            f"{p.name}-ci-{bot.name}-{short_role(role)}",
            {"project": project_id, "role": role, "member": Code(f"{account}.member")},
            layers_line,
            opts(provider, apis),
        )
    grants = sorted({role for layer in bot.layers for role in LAYER_GRANTS.get(layer, [])})
    if grants and "identity" not in bot.layers:
        allowed = ", ".join(f"'{role}'" for role in grants)
        prog.resource(
            ("ci", var_part(bot.name), "grants"),
            "gcp.projects.IAMMember",
            f"{p.name}-ci-{bot.name}-grants",
            {
                "project": project_id,
                "role": "roles/resourcemanager.projectIamAdmin",
                "member": Code(f"{account}.member"),
                "condition": {
                    "title": "grants-of-its-layers",
                    "description": "May grant only the roles its layers give their workloads",
                    "expression": "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
                    f".hasOnly([{allowed}])",
                },
            },
            layers_line,
            opts(provider, apis),
        )
    if "cluster" in bot.layers:
        # Node pools run as the node service account: CI may attach that one, no other.
        prog.resource(
            ("ci", var_part(bot.name), "node_account_user"),
            "gcp.serviceaccount.IAMMember",
            f"{p.name}-ci-{bot.name}-node-account-user",
            {
                "service_account_id": Code(f"{node_account}.name"),
                "role": "roles/iam.serviceAccountUser",
                "member": Code(f"{account}.member"),
            },
            layers_line,
            opts(provider, apis),
        )
    prog.export(f"automation_{bot.name}_service_account", Code(f"{account}.email"))
    prog.export(f"automation_{bot.name}_workload_identity_provider", Code(f"{oidc}.name"))
