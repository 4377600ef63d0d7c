"""Layer 1 on Azure: the resource group, the cluster's identities, and GitHub CI
identities with their layers' roles.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code, py_string
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.common import protect

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


# What a CI identity holds on the platform's resource group, per layer it deploys.
LAYER_ROLES = {
    "identity": ["Managed Identity Contributor", "Role Based Access Control Administrator"],
    "managed-infra": ["Contributor"],
    "cluster": [
        "Contributor",
        "Role Based Access Control Administrator",
        "Azure Kubernetes Service RBAC Cluster Admin",
    ],
    "cluster-services": ["Monitoring Contributor", "Azure Kubernetes Service RBAC Cluster Admin"],
    "app-services": [
        "Contributor",
        "Role Based Access Control Administrator",
        "Azure Kubernetes Service RBAC Cluster Admin",
    ],
    # Each app's stack makes its managed identity and federated credential and
    # assigns it its datastores' data roles.
    "apps": [
        "Azure Kubernetes Service RBAC Admin",
        "Managed Identity Contributor",
        "Role Based Access Control Administrator",
    ],
}


# Datastore engines whose grants to an app are not role assignments but the
# datastore's own (a Redis access policy, a Cosmos DB SQL role assignment):
# writing them takes Contributor. An app's PostgreSQL role is made inside the
# cluster, by a Job in the database users' namespace (AKS RBAC Admin, on the
# resource group, reaches every namespace).
CONTRIBUTOR_GRANTS = ("redis", "document")


# The roles each layer's program assigns: a CI identity that may assign roles
# (Role Based Access Control Administrator) may assign only these.
LAYER_ASSIGNS = {
    "cluster": [
        "AcrPull",
        "Azure Kubernetes Service Cluster User Role",
        "Azure Kubernetes Service RBAC Cluster Admin",
        "Azure Kubernetes Service RBAC Reader",
        "Azure Kubernetes Service RBAC Writer",
        "Key Vault Contributor",
        "Key Vault Crypto User",
        "Network Contributor",
    ],
    # The VMs' disk encryption set uses the platform key; teams log in to VMs.
    "managed-infra": [
        "Key Vault Crypto Service Encryption User",
        "Virtual Machine Administrator Login",
        "Virtual Machine User Login",
    ],
    "app-services": ["DNS Zone Contributor", "Reader"],
    "apps": [
        "Azure Service Bus Data Receiver",
        "Azure Service Bus Data Sender",
        "Storage Blob Data Contributor",
        "Storage Blob Data Reader",
    ],
}


ONLY_ASSIGNING = '''
def only_assigning(roles):
    """An Azure ABAC condition: role assignments made or removed under this one
    may only be of these roles."""
    guids = ", ".join(BUILT_IN_ROLES[name] for name in roles)
    clauses = []
    for action, source in (("write", "Request"), ("delete", "Resource")):
        clauses.append(
            "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/"
            + action
            + "'})) OR (@"
            + source
            + "[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
            + "ForAnyOfAnyValues:GuidEquals {"
            + guids
            + "}))"
        )
    return " AND ".join(clauses)
'''


def _slug(role: str) -> str:
    """A short name for a built-in role ('aks-rbac-cluster-admin')."""
    for long, short in (
        ("Azure Kubernetes Service ", "AKS "),
        ("Role Based Access Control Administrator", "RBAC Administrator"),
        ("Azure Service Bus Data ", "Service Bus "),
    ):
        role = role.replace(long, short)
    return role.lower().replace(" ", "-")


def emit_identity(az: AzureProgram) -> None:
    p, prog, ctx = az.p, az.prog, az.ctx
    az.use("resources")
    group = az.res(
        "resource_group",
        "resources.ResourceGroup",
        p.name,
        {
            "resource_group_name": Code(f"{py_string(p.name + '-')} + stack"),
            "location": az.location,
            "tags": az.tags,
        },
        ctx.line(("name",)),
        **protect(ctx),  # everything of the platform's environment lives in it
    )
    rg_name = az.group = Code(f"{group}.name")
    cluster_line = ctx.line(("cluster",))
    pools_line = ctx.line(("cluster", "nodePools"))
    cluster_identity = az.identity("cluster_identity", f"{p.name}-cluster", cluster_line)
    kubelet_identity = az.identity("kubelet_identity", f"{p.name}-kubelet", pools_line)
    # AKS hands the kubelet identity to the nodes on the control plane's behalf.
    az.assign_role(
        "cluster_uses_kubelet_identity",
        f"{p.name}-cluster-kubelet-operator",
        "Managed Identity Operator",
        Code(f"{cluster_identity}.principal_id"),
        Code(f"{kubelet_identity}.id"),
        pools_line,
        "ServicePrincipal",
    )
    for bot in p.automation:
        line = ctx.line(bot.path)
        subject = (
            f"repo:{bot.repository}:environment:{bot.environment}"
            if bot.environment
            else f"repo:{bot.repository}:ref:{bot.ref}"
        )
        var = f"ci_{var_name(bot.name)}"
        identity = az.identity(var, f"{p.name}-ci-{bot.name}", line)
        az.federate(
            f"{var}_github",
            f"{p.name}-ci-{bot.name}-github",
            identity,
            "github",
            GITHUB_ISSUER,
            subject,
            ctx.line(bot.path + ("github",)),
        )
        roles = sorted({role for layer in bot.layers for role in _roles_of(p, layer)})
        assigns = sorted({r for layer in bot.layers for r in _assigned_in(p, layer)})
        for role in roles:
            extra = {}
            if role == "Role Based Access Control Administrator":
                az.roles.update(assigns)
                prog.helpers["only_assigning"] = ONLY_ASSIGNING
                extra = {
                    "condition": Call("only_assigning", [assigns]),
                    "condition_version": "2.0",
                }
            az.assign_role(
                (var, _slug(role)),
                f"{p.name}-ci-{bot.name}-{_slug(role)}",
                role,
                Code(f"{identity}.principal_id"),
                Code(f"{group}.id"),
                ctx.line(bot.path + ("layers",)),
                "ServicePrincipal",
                description=f"CI identity {bot.name}: deploys {', '.join(bot.layers)}",
                **extra,
            )
        prog.export(f"automation_{bot.name}_client_id", Code(f"{identity}.client_id"))
    prog.export("resource_group_name", rg_name)
    prog.export("resource_group_id", Code(f"{group}.id"))
    prog.export("cluster_identity_id", Code(f"{cluster_identity}.id"))
    prog.export("cluster_identity_principal_id", Code(f"{cluster_identity}.principal_id"))
    prog.export("kubelet_identity_id", Code(f"{kubelet_identity}.id"))
    prog.export("kubelet_identity_client_id", Code(f"{kubelet_identity}.client_id"))
    prog.export("kubelet_identity_principal_id", Code(f"{kubelet_identity}.principal_id"))


def _roles_of(platform, layer: str) -> list[str]:
    """What a CI identity deploying `layer` holds on the resource group."""
    roles = list(LAYER_ROLES[layer])
    engines = {store.engine for store in platform.app_services.datastores}
    if layer == "apps" and engines & set(CONTRIBUTOR_GRANTS):
        roles.append("Contributor")
    if layer == "managed-infra" and platform.vms:
        roles.append("Role Based Access Control Administrator")  # of LAYER_ASSIGNS' roles
    return roles


def _assigned_in(platform, layer: str) -> list[str]:
    """The roles a layer's program assigns (a CI identity deploying it may assign those)."""
    if layer == "identity":
        return ["Managed Identity Operator"] + sorted(
            {
                r
                for bot in platform.automation
                for layer_ in bot.layers
                for r in _roles_of(platform, layer_)
            }
        )
    roles = LAYER_ASSIGNS.get(layer, [])
    if not platform.buckets:  # the containers' data roles, where there are buckets
        roles = [role for role in roles if not role.startswith("Storage Blob Data ")]
    if layer == "managed-infra" and not platform.vms:  # the VMs' roles, where there are VMs
        roles = []
    return roles
