"""Layer 1 on Azure: the resource group, the cluster's identities, and GitHub CI
identities with their layers' roles.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from crosswalk.compiler.codegen import Call, Code, py_string
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import ROLES, AzureProgram
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


# What a CI identity's preview twin holds on the resource group: reads only.
# Layers that talk to the cluster also read its Kubernetes objects (AKS RBAC
# Reader: no Secrets) through a user kubeconfig (Cluster User Role).
PREVIEW_ROLES = ["Reader"]
KUBERNETES_PREVIEW_ROLES = [
    "Azure Kubernetes Service Cluster User Role",
    "Azure Kubernetes Service RBAC Reader",
]
KUBERNETES_LAYERS = frozenset({"cluster", "cluster-services", "app-services", "apps"})

# What each identity holds of the state: the deploy identity writes the state
# container and encrypts and decrypts with the key; the preview one reads the
# container (a preview takes no lock) and decrypts. No built-in Key Vault role
# decrypts without also encrypting, and encrypting reveals nothing.
STATE_ROLES = {
    "deploy": {"blob": "Storage Blob Data Contributor", "key": "Key Vault Crypto User"},
    "preview": {"blob": "Storage Blob Data Reader", "key": "Key Vault Crypto User"},
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
    # The storage account, the warehouse cluster and the VMs' disk encryption
    # set use the platform key; teams log in to VMs.
    "managed-infra": [
        "Key Vault Crypto Service Encryption User",
        "Virtual Machine Administrator Login",
        "Virtual Machine User Login",
    ],
    # Pipelines' capture identities write their buckets' containers.
    "app-services": ["DNS Zone Contributor", "Reader", "Storage Blob Data Contributor"],
    "apps": [
        "Azure Event Hubs Data Receiver",
        "Azure Event Hubs Data Sender",
        "Azure Service Bus Data Receiver",
        "Azure Service Bus Data Sender",
        "Storage Blob Data Contributor",
        "Storage Blob Data Reader",
    ],
}


# Where an app names secrets, they live in a vault of their own in a resource
# group of their own (providers/azure/app_secrets.py), so that the apps'
# deployer may grant Key Vault Secrets User there, and only there: an ABAC
# condition limits the roles an assignment may carry but not its scope, and
# the platform's vault holds the MySQL administrators' passwords. What each
# layer's CI identity holds on that group: app-services makes the vault and
# the secrets (no data role: it reads no value), each app's stack grants its
# identity its secrets.
APP_SECRETS_ROLES = {
    "app-services": ["Key Vault Contributor"],
    "apps": ["Role Based Access Control Administrator"],
}
APP_SECRETS_ASSIGNS = {"apps": ["Key Vault Secrets User"]}
# Preview identities of those layers read it.
APP_SECRETS_PREVIEW_ROLES = ["Reader"]


# Deletion protection's delete locks (`az.lock`): no built-in role short of
# Owner and User Access Administrator may write them (Contributor's NotActions
# hold Microsoft.Authorization/*/Write), so the identity stack makes a custom
# role of the lock actions alone, on the platform's resource group, for the
# deployers of the layers that lock their resources.
LOCK_ACTIONS = [
    "Microsoft.Authorization/locks/read",
    "Microsoft.Authorization/locks/write",
    "Microsoft.Authorization/locks/delete",
]
# Engines whose resources app-services locks (servers, Cosmos DB, Event Hubs).
LOCKED_ENGINES = frozenset({"postgres", "mysql", "document", "stream"})
LOCKS_ROLE_ID = '''
def locks_role_id(group_name):
    """The custom lock role's id: the same for the same resource group, so
    that every run of the program names the role it made."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "crosswalk/deletion-locks/" + group_name))
'''


def makes_locks(platform, layer: str) -> bool:
    """Whether `layer`'s program makes delete locks (where deletion protection is on)."""
    if layer == "managed-infra":
        return bool(platform.buckets or platform.warehouses)
    if layer == "app-services":
        return any(s.engine in LOCKED_ENGINES for s in platform.app_services.datastores)
    return False


ONLY_ASSIGNING = '''
def only_assigning(roles, custom=()):
    """An Azure ABAC condition: role assignments made or removed under this one
    may only be of these roles (built-in ones by name, `custom` by id)."""
    guids = ", ".join([BUILT_IN_ROLES[name] for name in roles] + list(custom))
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
    secrets_group = _app_secrets_group(az)
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
    locks_role, locks_role_id = _locks_role(az, group)
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
                # The identity layer assigns the lock role to the deployers that lock.
                arguments = [assigns]
                if locks_role is not None and "identity" in bot.layers:
                    arguments.append([locks_role_id])
                extra = {
                    "condition": Call("only_assigning", arguments),
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
        if locks_role is not None and any(makes_locks(p, layer) for layer in bot.layers):
            az.res(
                (var, "deletion_locks"),
                "authorization.RoleAssignment",
                f"{p.name}-ci-{bot.name}-deletion-locks",
                {
                    "principal_id": Code(f"{identity}.principal_id"),
                    "principal_type": "ServicePrincipal",
                    "role_definition_id": Code(f"{locks_role}.id"),
                    "scope": Code(f"{group}.id"),
                    "description": f"CI identity {bot.name}: deletion protection's locks",
                },
                ctx.line(("deletionProtection",)),
            )
        _state_grants(az, bot, identity, "deploy")
        if secrets_group is not None:
            _app_secrets_grants(az, bot, identity, secrets_group, "deploy")
        prog.export(f"automation_{bot.name}_client_id", Code(f"{identity}.client_id"), public=True)
        _preview_identity(az, bot, group, secrets_group)
    prog.export("resource_group_name", rg_name)
    prog.export("resource_group_id", Code(f"{group}.id"))
    prog.export("cluster_identity_id", Code(f"{cluster_identity}.id"))
    prog.export("cluster_identity_principal_id", Code(f"{cluster_identity}.principal_id"))
    prog.export("kubelet_identity_id", Code(f"{kubelet_identity}.id"))
    prog.export("kubelet_identity_client_id", Code(f"{kubelet_identity}.client_id"))
    prog.export("kubelet_identity_principal_id", Code(f"{kubelet_identity}.principal_id"))


def _locks_role(az: AzureProgram, group: Code) -> tuple[Code | None, Code | None]:
    """The custom role of the delete locks and its id, where a deployer's layer locks."""
    p, prog, ctx = az.p, az.prog, az.ctx
    if not any(makes_locks(p, layer) for bot in p.automation for layer in bot.layers):
        return None, None
    prog.imports.add("import uuid")
    prog.helpers["locks_role_id"] = LOCKS_ROLE_ID
    line = ctx.line(("deletionProtection",))
    # The group's name, known before the group is made (custom role names are
    # unique in the tenant, so the role is named after it).
    group_name = Code(f"{py_string(p.name + '-')} + stack")
    role_id = prog.assign(prog.name("deletion_locks_role_id"), Call("locks_role_id", [group_name]))
    role = az.res(
        "deletion_locks_role",
        "authorization.RoleDefinition",
        f"{p.name}-deletion-locks",
        {
            "role_definition_id": role_id,
            "role_name": Code(f"{group_name} + {py_string(' deletion locks')}"),
            "description": "Makes and removes the delete locks of deletion protection",
            "role_type": "CustomRole",
            "permissions": [{"actions": LOCK_ACTIONS}],
            "assignable_scopes": [Code(f"{group}.id")],
            "scope": Code(f"{group}.id"),
        },
        line,
    )
    return role, role_id


def preview_roles(bot) -> list[str]:
    """What the preview identity of `bot` holds on the resource group."""
    kubernetes = KUBERNETES_LAYERS & set(bot.layers)
    return sorted(PREVIEW_ROLES + (KUBERNETES_PREVIEW_ROLES if kubernetes else []))


def _preview_identity(az: AzureProgram, bot, group: Code, secrets_group: Code | None) -> None:
    """The read-only twin of a CI identity: trusted only for the pull
    requests of its repository, it reads what its layers deploy, to preview."""
    p, prog, ctx = az.p, az.prog, az.ctx
    var = f"ci_{var_name(bot.name)}_preview"
    line = ctx.line(bot.path)
    identity = az.identity(var, f"{p.name}-ci-{bot.name}-preview", line)
    az.federate(
        f"{var}_github",
        f"{p.name}-ci-{bot.name}-preview-github",
        identity,
        "github-pull-request",
        GITHUB_ISSUER,
        f"repo:{bot.repository}:pull_request",
        ctx.line(bot.path + ("github",)),
    )
    for role in preview_roles(bot):
        az.assign_role(
            (var, _slug(role)),
            f"{p.name}-ci-{bot.name}-preview-{_slug(role)}",
            role,
            Code(f"{identity}.principal_id"),
            Code(f"{group}.id"),
            ctx.line(bot.path + ("layers",)),
            "ServicePrincipal",
            description=f"CI identity {bot.name}: previews {', '.join(bot.layers)} (read only)",
        )
    _state_grants(az, bot, identity, "preview")
    if secrets_group is not None:
        _app_secrets_grants(az, bot, identity, secrets_group, "preview")
    prog.export(
        f"automation_{bot.name}_preview_client_id", Code(f"{identity}.client_id"), public=True
    )


def _app_secrets_group(az: AzureProgram) -> Code | None:
    """The resource group of the apps' vault, where an app names secrets."""
    p, ctx = az.p, az.ctx
    apps = [app for app in p.apps if app.secrets]
    if not apps:
        return None
    group = az.res(
        "app_secrets_group",
        "resources.ResourceGroup",
        f"{p.name}-app-secrets",
        {
            "resource_group_name": Code(
                f"{py_string(p.name + '-')} + stack + {py_string('-app-secrets')}"
            ),
            "location": az.location,
            "tags": az.tags,
        },
        ctx.line(apps[0].path + ("secrets",)),
        **protect(ctx),  # the apps' vault: its secrets' values are set by people
    )
    az.prog.export("app_secrets_resource_group_name", Code(f"{group}.name"))
    return group


def app_secrets_roles(bot, kind: str) -> list[str]:
    """What `bot` (its preview twin for `kind` "preview") holds on the apps'
    secrets' resource group, besides the identity layer's right to grant these."""
    if kind == "preview":
        return list(APP_SECRETS_PREVIEW_ROLES) if set(APP_SECRETS_ROLES) & set(bot.layers) else []
    return sorted({role for layer in bot.layers for role in APP_SECRETS_ROLES.get(layer, [])})


def _app_secrets_grants(az: AzureProgram, bot, identity: Code, group: Code, kind: str) -> None:
    """The roles of one CI identity (or its preview twin) on the apps'
    secrets' resource group. One that may assign roles there may assign only
    the apps' Key Vault Secrets User, and an identity-layer deployer also the
    roles of these grants (the condition allows no other)."""
    p, ctx = az.p, az.ctx
    roles = set(app_secrets_roles(bot, kind))
    assigns = set()
    if kind == "deploy":
        assigns = {r for layer in bot.layers for r in APP_SECRETS_ASSIGNS.get(layer, [])}
        if "identity" in bot.layers:
            assigns |= {
                r
                for b in p.automation
                for k in ("deploy", "preview")
                for r in app_secrets_roles(b, k)
            }
        if assigns:  # (an identity layer with no CI identity to grant there assigns nothing)
            roles.add("Role Based Access Control Administrator")
    suffix = "-preview" if kind == "preview" else ""
    var = f"ci_{var_name(bot.name)}{'_preview' if kind == 'preview' else ''}"
    for role in sorted(roles):
        extra = {}
        if role == "Role Based Access Control Administrator":
            az.roles.update(assigns)
            az.prog.helpers["only_assigning"] = ONLY_ASSIGNING
            extra = {
                "condition": Call("only_assigning", [sorted(assigns)]),
                "condition_version": "2.0",
            }
        az.assign_role(
            (var, "app_secrets", _slug(role).replace("-", "_")),
            f"{p.name}-ci-{bot.name}{suffix}-app-secrets-{_slug(role)}",
            role,
            Code(f"{identity}.principal_id"),
            Code(f"{group}.id"),
            ctx.line(bot.path + ("layers",)),
            "ServicePrincipal",
            description=f"CI identity {bot.name}{suffix}: the apps' secrets of platform {p.name}",
            **extra,
        )


def state_scopes(p) -> dict[str, str]:
    """The resource ids of the state container (azblob:// backend) and of the
    secrets key (azurekeyvault:// provider), in `state.resourceGroup`:
    {"blob": ..., "key": ...}, for those the platform uses."""
    group = p.state_resource_group
    if not group:
        return {}
    scopes = {}
    backend = p.state_backend or ""
    if backend.startswith("azblob://"):
        location, _, query = backend.removeprefix("azblob://").partition("?")
        account = parse_qs(query).get("storage_account", [""])[0]
        container = location.split("/", 1)[0]
        if account and container:
            scopes["blob"] = (
                f"{group}/providers/Microsoft.Storage/storageAccounts/{account}"
                f"/blobServices/default/containers/{container}"
            )
    provider = p.state_secrets_provider or ""
    if provider.startswith("azurekeyvault://"):
        host, _, path = provider.removeprefix("azurekeyvault://").partition("/")
        vault = host.split(".", 1)[0]
        key = path.removeprefix("keys/").split("/", 1)[0]
        scopes["key"] = f"{group}/providers/Microsoft.KeyVault/vaults/{vault}/keys/{key}"
    return scopes


def _state_role(p, role: str) -> str:
    # A built-in role's id in the state's subscription, which may not be this one.
    subscription = p.state_resource_group.split("/resourceGroups/", 1)[0]
    return f"{subscription}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}"


def _state_grants(az: AzureProgram, bot, identity: Code, kind: str) -> None:
    """The state container and key for one identity, each at its own scope;
    an identity-layer deployer may also assign those roles there (the
    condition allows no other), so it can grant a new entry's identities."""
    p, ctx = az.p, az.ctx
    line = ctx.line(("state",))
    suffix = "-preview" if kind == "preview" else ""
    var = f"ci_{var_name(bot.name)}{'_preview' if kind == 'preview' else ''}"
    for what, scope in state_scopes(p).items():
        role = STATE_ROLES[kind][what]
        az.use("authorization")
        az.res(
            (var, f"state_{what}"),
            "authorization.RoleAssignment",
            f"{p.name}-ci-{bot.name}{suffix}-state-{what}",
            {
                "principal_id": Code(f"{identity}.principal_id"),
                "principal_type": "ServicePrincipal",
                "role_definition_id": _state_role(p, role),
                "scope": scope,
                "description": f"CI identity {bot.name}{suffix}: the state of platform {p.name}",
            },
            line,
        )
        if kind == "deploy" and "identity" in bot.layers:
            assigns = sorted({STATE_ROLES[k][what] for k in STATE_ROLES})
            az.roles.update(assigns)
            az.prog.helpers["only_assigning"] = ONLY_ASSIGNING
            az.res(
                (var, f"state_{what}_grants"),
                "authorization.RoleAssignment",
                f"{p.name}-ci-{bot.name}-state-{what}-grants",
                {
                    "principal_id": Code(f"{identity}.principal_id"),
                    "principal_type": "ServicePrincipal",
                    "role_definition_id": _state_role(p, "Role Based Access Control Administrator"),
                    "scope": scope,
                    "condition": Call("only_assigning", [assigns]),
                    "condition_version": "2.0",
                    "description": f"CI identity {bot.name}: grants the CI identities the state",
                },
                line,
            )


def _roles_of(platform, layer: str) -> list[str]:
    """What a CI identity deploying `layer` holds on the resource group."""
    roles = list(LAYER_ROLES[layer])
    engines = {store.engine for store in platform.app_services.datastores}
    # A warehouse's database roles are Data Explorer's own resources, too.
    # (Where there are warehouses, so that an app's `uses` changes no deployer.)
    if layer == "apps" and (engines & set(CONTRIBUTOR_GRANTS) or platform.warehouses):
        roles.append("Contributor")
    if layer == "managed-infra" and (platform.buckets or platform.warehouses or platform.vms):
        # The storage account's, the warehouse cluster's and the VMs'
        # identities are granted the platform key (LAYER_ASSIGNS' roles only).
        roles.append("Role Based Access Control Administrator")
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
            | {r for bot in platform.automation for r in preview_roles(bot)}
        )
    roles = LAYER_ASSIGNS.get(layer, [])
    if layer == "managed-infra":
        # The key role where something encrypts with the platform key (the
        # storage account, the warehouse cluster, the VMs' disks); the login
        # roles where there are VMs.
        key_users = platform.buckets or platform.warehouses or platform.vms
        roles = [
            role
            for role in roles
            if (role == "Key Vault Crypto Service Encryption User" and key_users)
            or (role.startswith("Virtual Machine ") and platform.vms)
        ]
    if not platform.buckets:  # the containers' data roles, where there are buckets
        roles = [role for role in roles if not role.startswith("Storage Blob Data ")]
    if layer == "app-services" and not platform.pipelines:
        roles = [role for role in roles if not role.startswith("Storage Blob Data ")]
    if not any(store.engine == "stream" for store in platform.app_services.datastores):
        roles = [role for role in roles if not role.startswith("Azure Event Hubs Data ")]
    return roles
