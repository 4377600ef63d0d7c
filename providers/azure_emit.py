"""The Azure (AKS) backend: what each layer's program creates on Azure.

Only what Azure differs in lives here; Kubernetes objects every cloud shares
come from `crosswalk.providers.kubernetes` and `crosswalk.providers.services`.
Programs import only the pulumi_azure_native submodules they use (loading the
whole package takes ~15 s), through one explicit provider with the location.

Where things live, and why:

- identity: the platform's resource group (one per environment), the cluster's
  control-plane and kubelet identities, and a managed identity per CI
  automation federated with GitHub, holding only its layers' roles on the
  resource group. Team role assignments need the cluster as their scope, so
  they are made in the cluster layer.
- app-services owns datastores and therefore who may use them: the managed
  identity of each app that uses a datastore, its federated credential for
  the app's Kubernetes service account and its data-plane grants are made
  there. An app's own stack then needs no Azure rights at all, so the CI
  identity deploying apps cannot federate itself into another identity or
  grant itself access to a datastore.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code, literal, py_string
from crosswalk.compiler.emit import Backend, StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers import services
from crosswalk.providers.azure import (
    DATASTORE_NAMES,
    DEFAULT_VERSIONS,
    KEY_VAULT,
    REDIS_CLASS,
    REGISTRY,
    SQL_VERSIONS,
    AzureName,
    address_plan,
    premium_storage,
    redis_sku,
    subnet_plan,
    system_pool,
    vm_size,
)

AZURE_MODULE = "pulumi_azure_native"
PROVIDER_IMPORT = "Provider as AzureProvider"
LINE_LENGTH = 88  # ruff format's default, which generated programs are checked against
# A derived name fits its keyword argument's line up to this width ("    namespace_name=...,").
NAME_EXPRESSION_WIDTH = LINE_LENGTH - len("    namespace_name=,")

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"  # Entra application of every AKS API server
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"

# Built-in Azure roles crosswalk assigns, by name.
ROLES = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Azure Kubernetes Service Cluster User Role": "4abbcc35-e782-43d8-92c5-2d3f1bd2253f",
    "Azure Kubernetes Service RBAC Admin": "3498e952-d568-435e-9b2c-8d77e338d7f7",
    "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
    "Azure Kubernetes Service RBAC Reader": "7f6c6a51-bcf8-42ba-9220-52d62157d7db",
    "Azure Kubernetes Service RBAC Writer": "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "DNS Zone Contributor": "befefa01-2a29-4197-83a8-272ff33ce314",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Managed Identity Contributor": "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
    "Monitoring Contributor": "749f88d5-cbae-40b8-bcfc-e573ddc772fa",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
}
TEAM_ROLES = {
    "admin": "Azure Kubernetes Service RBAC Cluster Admin",  # cluster scope
    "developer": "Azure Kubernetes Service RBAC Writer",  # namespace scope
    "viewer": "Azure Kubernetes Service RBAC Reader",  # namespace scope
}
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
    "apps": ["Azure Kubernetes Service RBAC Admin"],
}
# The roles each layer's program assigns: a CI identity that may assign roles
# (Role Based Access Control Administrator) may assign only these.
LAYER_ASSIGNS = {
    "cluster": [
        "AcrPull",
        "Azure Kubernetes Service Cluster User Role",
        "Azure Kubernetes Service RBAC Cluster Admin",
        "Azure Kubernetes Service RBAC Reader",
        "Azure Kubernetes Service RBAC Writer",
        "Key Vault Crypto User",
        "Network Contributor",
    ],
    "app-services": [
        "Azure Service Bus Data Receiver",
        "Azure Service Bus Data Sender",
        "DNS Zone Contributor",
        "Key Vault Secrets User",
        "Reader",
    ],
}

# Datastores: portable sizes -> Azure SKUs.
SQL_SIZES = {
    "postgres": {
        "small": "Standard_D2ds_v5",
        "medium": "Standard_D4ds_v5",
        "large": "Standard_D8ds_v5",
        "xlarge": "Standard_D16ds_v5",
    },
    "mysql": {
        "small": "Standard_D2ds_v4",
        "medium": "Standard_D4ds_v4",
        "large": "Standard_D8ds_v4",
        "xlarge": "Standard_D16ds_v4",
    },
}
SQL_TIERS = {"B": "Burstable", "E": "MemoryOptimized"}  # by the size's family; else GeneralPurpose
SQL_PORTS = {"postgres": 5432, "mysql": 3306}
POSTGRES_STORAGE_GB = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
REDIS_SIZES = {
    "small": ("Standard", "C", 1),
    "medium": ("Standard", "C", 3),
    "large": ("Premium", "P", 2),
    "xlarge": ("Premium", "P", 3),
}
REDIS_TLS_PORT = 6380
# Private DNS zones of private endpoints, and the sub-resource each endpoint reaches.
PRIVATE_LINKS = {
    "registry": ("privatelink.azurecr.io", "registry"),
    "redis": ("privatelink.redis.cache.windows.net", "redisCache"),
    "document": ("privatelink.documents.azure.com", "Sql"),
}
COSMOS_DATA_CONTRIBUTOR = (
    "00000000-0000-0000-0000-000000000002"  # Cosmos DB Built-in Data Contributor
)
DELEGATIONS = {
    "postgres": "Microsoft.DBforPostgreSQL/flexibleServers",
    "mysql": "Microsoft.DBforMySQL/flexibleServers",
}
CLUSTER_ACCESS = '''
def cluster_access(credentials):
    """The API server and its CA, read from the cluster's own user kubeconfig."""
    text = base64.b64decode(credentials.kubeconfigs[0].value).decode()
    access = {}
    for key, name in (("server", "server"), ("certificate-authority-data", "ca")):
        match = re.search(key + r"""["']?\\s*:\\s*["']?([^\\s"',]+)""", text)
        if match is None:
            raise ValueError("the cluster's kubeconfig has no " + key)
        access[name] = match.group(1)
    return access
'''

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

ROLE_DEFINITION = '''
def role_definition(name):
    """The id of a built-in Azure role, by its name, in this subscription."""
    return (
        "/subscriptions/"
        + client.subscription_id
        + "/providers/Microsoft.Authorization/roleDefinitions/"
        + BUILT_IN_ROLES[name]
    )
'''


def _sql_engines(platform) -> list[str]:
    return [
        e
        for e in ("postgres", "mysql")
        if any(d.engine == e for d in platform.app_services.datastores)
    ]


def _slug(role: str) -> str:
    """A short name for a built-in role ('aks-rbac-cluster-admin')."""
    for long, short in (
        ("Azure Kubernetes Service ", "AKS "),
        ("Role Based Access Control Administrator", "RBAC Administrator"),
        ("Azure Service Bus Data ", "Service Bus "),
    ):
        role = role.replace(long, short)
    return role.lower().replace(" ", "-")


def _var(name: str) -> str:
    """A user's name as part of a variable: at most 20 characters of it, so
    statements stay within ruff's line and format the same for long names."""
    return name[:20].replace("-", "_")


def _sql_tier(sku: str) -> str:
    family = sku.removeprefix("Standard_")[:1]
    return SQL_TIERS.get(family, "GeneralPurpose")


def _postgres_storage(gb: int) -> int:
    return next((size for size in POSTGRES_STORAGE_GB if size >= gb), POSTGRES_STORAGE_GB[-1])


def _redis_sku(store) -> dict:
    if store.instance_class and REDIS_CLASS.match(store.instance_class):
        return redis_sku(store.instance_class)
    name, family, capacity = REDIS_SIZES[store.size]
    return {"name": name, "family": family, "capacity": capacity}


def _taint(t) -> str:
    return f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"


def _bound_namespaces(platform, team) -> list[str]:
    """The namespaces a team works in: those it owns and those it lists."""
    owned = [n.name for n in platform.cluster.namespaces if n.team == team.name]
    return list(dict.fromkeys(owned + list(team.namespaces)))


class _Layer:
    """One program being written: its provider, the Azure submodules it uses,
    the built-in roles it assigns and the values it reads more than once."""

    def __init__(self, ctx: StackContext):
        self.ctx = ctx
        self.p = ctx.platform
        self.prog = ctx.program
        self.modules: set[str] = set()
        self.roles: set[str] = set()
        self._provider: Code | None = None
        self._client: Code | None = None
        self._tags: Code | None = None
        self.group: Code | None = None  # set where the group is made (identity)
        self.zones: dict[str, Code] = {}
        self.serial: dict[str, Code] = {}  # the last change to what Azure changes one at a time
        self.prog.names.add("client")  # role_definition() reads the subscription from `client`

    # Program plumbing -------------------------------------------------------

    def use(self, *modules: str) -> None:
        self.modules.update(modules)

    @property
    def provider(self) -> Code:
        if self._provider is None:
            self.use(PROVIDER_IMPORT)
            self._provider = self.prog.resource(
                "azure_provider",
                "AzureProvider",
                "azure",
                {"location": self.p.cloud.region},
                self.ctx.line(("cloud",)),
            )
        return self._provider

    @property
    def client(self) -> Code:
        """Who runs the program: its tenant and subscription."""
        if self._client is None:
            self.use("authorization")
            provider = self.provider
            self._client = self.prog.assign(
                "client",
                Call(
                    "authorization.get_client_config",
                    kwargs={"opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider})},
                ),
            )
        return self._client

    @property
    def tags(self) -> Code:
        if self._tags is None:
            self._tags = self.prog.assign(
                self.prog.name("tags"),
                dict(self.p.tags)
                | {"crosswalk-platform": self.p.name, "crosswalk-environment": Code("stack")},
            )
        return self._tags

    @property
    def location(self) -> str:
        return self.p.cloud.region

    def resource_group(self) -> Code:
        if self.group is not None:
            return self.group
        return self.ctx.upstream("01-identity", "resource_group_name")

    def res(self, var, cls: str, name: str, kwargs: dict, line, **opts) -> Code:
        return self.prog.resource(var, cls, name, kwargs, line, {"provider": self.provider, **opts})

    def name_of(self, rule: AzureName, item: str = "") -> Code | Call:
        """A globally unique name: the environment comes from the stack's name."""
        before, after = rule.around_env(self.p.name, item)
        env = (
            "stack.replace(" + py_string("-") + ", " + py_string("") + ")"
            if rule.compact
            else "stack"
        )
        parts = (
            ([py_string(before)] if before else []) + [env] + ([py_string(after)] if after else [])
        )
        joined = " + ".join(parts)
        if len(joined) <= NAME_EXPRESSION_WIDTH:
            return Code(joined)
        return Call(py_string("") + ".join", [[Code(part) for part in parts]])

    def role(self, name: str) -> Code:
        self.roles.add(name)
        self.client  # noqa: B018 - role_definition reads the subscription from it
        return Code(f"role_definition({py_string(name)})")

    def assign_role(
        self, var, name: str, role: str, principal, scope, line, principal_type=None, **extra
    ):
        self.use("authorization")
        kwargs = {
            "principal_id": principal,
            "principal_type": principal_type,
            "role_definition_id": self.role(role),
            "scope": scope,
        } | extra
        return self.res(var, "authorization.RoleAssignment", name, kwargs, line)

    def identity(self, var, name: str, line) -> Code:
        self.use("managedidentity")
        return self.res(
            var,
            "managedidentity.UserAssignedIdentity",
            name,
            {
                "resource_group_name": self.resource_group(),
                "resource_name_": name,
                "location": self.location,
                "tags": self.tags,
            },
            line,
        )

    def federate(
        self, var, name: str, identity: Code, credential: str, issuer, subject: str, line
    ) -> Code:
        self.use("managedidentity")
        return self.res(
            var,
            "managedidentity.FederatedIdentityCredential",
            name,
            {
                "resource_group_name": self.resource_group(),
                "resource_name_": Code(f"{identity}.name"),
                "federated_identity_credential_resource_name": credential,
                "issuer": issuer,
                "subject": subject,
                "audiences": [TOKEN_AUDIENCE],
            },
            line,
        )

    def private_zone(self, zone: str, vnet_id, line) -> Code:
        """A private DNS zone linked to the platform's network (once per program)."""
        if zone not in self.zones:
            self.use("privatedns")
            var = ("zone", zone.split(".")[1 if zone.startswith("privatelink.") else 2])
            self.zones[zone] = self.res(
                var,
                "privatedns.PrivateZone",
                zone,
                {
                    "resource_group_name": self.resource_group(),
                    "private_zone_name": zone,
                    "location": "global",
                    "tags": self.tags,
                },
                line,
            )
            self.res(
                (*var, "link"),
                "privatedns.VirtualNetworkLink",
                zone,
                {
                    "resource_group_name": self.resource_group(),
                    "private_zone_name": Code(f"{self.zones[zone]}.name"),
                    "virtual_network_link_name": f"{self.p.name}-vnet",
                    "virtual_network": {"id": vnet_id},
                    "registration_enabled": False,
                    "location": "global",
                    "tags": self.tags,
                },
                line,
            )
        return self.zones[zone]

    def private_endpoint(
        self, var: str, name: str, kind: str, target: Code, subnet_id, vnet_id, line
    ) -> Code:
        """A private endpoint in the endpoints subnet, registered in its private DNS zone."""
        self.use("network")
        zone_name, group = PRIVATE_LINKS[kind]
        zone = self.private_zone(zone_name, vnet_id, line)
        endpoint = self.res(
            (var, "endpoint"),
            "network.PrivateEndpoint",
            name,
            {
                "resource_group_name": self.resource_group(),
                "private_endpoint_name": f"{name}-endpoint",
                "location": self.location,
                "subnet": {"id": subnet_id},
                "private_link_service_connections": [
                    {
                        "name": group,
                        "private_link_service_id": Code(f"{target}.id"),
                        "group_ids": [group],
                    }
                ],
                "tags": self.tags,
            },
            line,
        )
        self.res(
            (var, "endpoint_dns"),
            "network.PrivateDnsZoneGroup",
            name,
            {
                "resource_group_name": self.resource_group(),
                "private_endpoint_name": Code(f"{endpoint}.name"),
                "private_dns_zone_group_name": "default",
                "private_dns_zone_configs": [
                    {"name": group, "private_dns_zone_id": Code(f"{zone}.id")}
                ],
            },
            line,
        )
        return endpoint

    def lock(self, var: str, name: str, target: Code, protect, line) -> None:
        """A CanNotDelete lock, created where `protect` (a literal or a config read) holds."""
        if protect is False:
            return
        self.use("authorization")
        self.res(
            (var, "lock"),
            "authorization.ManagementLockByScope",
            name,
            {
                "scope": Code(f"{target}.id"),
                "level": "CanNotDelete",
                "lock_name": "crosswalk-deletion-protection",
                "notes": "Deletion protection (crosswalk): remove this lock to delete the datastore.",
            },
            line,
        )
        if protect is not True:
            statement = self.prog.statements.pop()
            body = "\n".join(("    " + s) if s else s for s in statement.split("\n"))
            self.prog.statement(f"if {protect}:\n{body}")

    def finish(self) -> None:
        """The one import line of pulumi_azure_native and the role table."""
        if self.roles:
            table = {name: ROLES[name] for name in sorted(self.roles)}
            self.prog.helpers["BUILT_IN_ROLES"] = f"BUILT_IN_ROLES = {literal(table)}\n"
            self.prog.helpers["role_definition"] = ROLE_DEFINITION
        if not self.modules:
            return
        names = sorted(self.modules, key=lambda n: (n != PROVIDER_IMPORT, n))
        line = f"from {AZURE_MODULE} import {', '.join(names)}"
        if len(line) > LINE_LENGTH:
            line = f"from {AZURE_MODULE} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
        self.prog.imports.add(line)


class AzureBackend(Backend):
    cloud = "azure"

    def emit_layer(self, ctx: StackContext) -> None:
        layer = _Layer(ctx)
        self.layer_method(ctx.stack)(layer)
        layer.finish()

    # Layer 1 ---------------------------------------------------------------

    def identity(self, az: _Layer) -> None:
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
            var = f"ci_{_var(bot.name)}"
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
            roles = sorted({role for layer in bot.layers for role in LAYER_ROLES[layer]})
            assigns = sorted({r for layer in bot.layers for r in self._assigned_in(p, layer)})
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

    @staticmethod
    def _assigned_in(platform, layer: str) -> list[str]:
        """The roles a layer's program assigns (a CI identity deploying it may assign those)."""
        if layer == "identity":
            return ["Managed Identity Operator"] + sorted(
                {
                    r
                    for bot in platform.automation
                    for layer_ in bot.layers
                    for r in LAYER_ROLES[layer_]
                }
            )
        return LAYER_ASSIGNS.get(layer, [])

    # Layer 2 ---------------------------------------------------------------

    def managed_infra(self, az: _Layer) -> None:
        p, prog, ctx = az.p, az.prog, az.ctx
        az.use("network")
        net = p.network
        line = ctx.line(("network",))
        rg = az.resource_group()
        engines = _sql_engines(p)
        plan = subnet_plan(net.cidr, engines)
        vnet = az.res(
            "vnet",
            "network.VirtualNetwork",
            f"{p.name}-vnet",
            {
                "resource_group_name": rg,
                "virtual_network_name": f"{p.name}-vnet",
                "location": az.location,
                "address_space": {"address_prefixes": [net.cidr]},
                "tags": az.tags,
            },
            line,
            ignore_changes=["subnets"],
        )
        nat_line = ctx.line(("network", "natGateways"))
        nat_ip = az.res(
            "nat_ip",
            "network.PublicIPAddress",
            f"{p.name}-nat",
            {
                "resource_group_name": rg,
                "public_ip_address_name": f"{p.name}-nat",
                "location": az.location,
                "sku": {"name": "Standard"},
                "public_ip_allocation_method": "Static",
                "tags": az.tags,
            },
            nat_line,
        )
        nat = az.res(
            "nat",
            "network.NatGateway",
            f"{p.name}-nat",
            {
                "resource_group_name": rg,
                "nat_gateway_name": f"{p.name}-nat",
                "location": az.location,
                "sku": {"name": "Standard"},
                "public_ip_addresses": [{"id": Code(f"{nat_ip}.id")}],
                "idle_timeout_in_minutes": 4,
                "tags": az.tags,
            },
            nat_line,
        )
        node_rules = []
        if p.app_services.ingress:
            node_rules.append(
                {
                    "name": "allow-ingress-http",
                    "priority": 100,
                    "direction": "Inbound",
                    "access": "Allow",
                    "protocol": "Tcp",
                    "source_address_prefix": "Internet",
                    "source_port_range": "*",
                    "destination_address_prefix": "*",
                    "destination_port_ranges": ["80", "443"],
                    "description": "the ingress controller's load balancer",
                }
            )
        nodes_nsg = az.res(
            "nodes_nsg",
            "network.NetworkSecurityGroup",
            f"{p.name}-nodes",
            {
                "resource_group_name": rg,
                "network_security_group_name": f"{p.name}-nodes",
                "location": az.location,
                "security_rules": node_rules,
                "tags": az.tags,
            },
            line,
        )
        private_nsg = az.res(
            "private_nsg",
            "network.NetworkSecurityGroup",
            f"{p.name}-private",
            {
                "resource_group_name": rg,
                "network_security_group_name": f"{p.name}-private",
                "location": az.location,
                "security_rules": [],
                "tags": az.tags,
            },
            line,
        )
        subnets: dict[str, Code] = {}
        previous: Code | None = None
        for purpose, cidr in plan.items():
            args = {
                "resource_group_name": rg,
                "virtual_network_name": Code(f"{vnet}.name"),
                "subnet_name": purpose,
                "address_prefix": cidr,
                "default_outbound_access": False,
                "network_security_group": {
                    "id": Code(f"{nodes_nsg if purpose == 'nodes' else private_nsg}.id")
                },
            }
            if purpose == "nodes":
                args["nat_gateway"] = {"id": Code(f"{nat}.id")}
            elif purpose == "endpoints":
                args["private_endpoint_network_policies"] = "Enabled"
            else:
                args["delegations"] = [{"name": purpose, "service_name": DELEGATIONS[purpose]}]
            # Azure changes one subnet of a network at a time.
            opts = {"depends_on": [previous]} if previous is not None else {}
            previous = subnets[purpose] = az.res(
                (purpose, "subnet"), "network.Subnet", f"{p.name}-{purpose}", args, line, **opts
            )
        az.use("operationalinsights")
        workspace = az.res(
            "log_workspace",
            "operationalinsights.Workspace",
            f"{p.name}-logs",
            {
                "resource_group_name": rg,
                "workspace_name": f"{p.name}-logs",
                "location": az.location,
                "sku": {"name": "PerGB2018"},
                "retention_in_days": 30,
                "tags": az.tags,
            },
            ctx.line(("clusterServices", "logging")) or line,
        )
        az.use("keyvault")
        key_line = ctx.line(("cluster",))
        vault = az.res(
            "key_vault",
            "keyvault.Vault",
            f"{p.name}-kv",
            {
                "resource_group_name": rg,
                "vault_name": az.name_of(KEY_VAULT),
                "location": az.location,
                "properties": {
                    "tenant_id": Code(f"{az.client}.tenant_id"),
                    "sku": {"family": "A", "name": Code("keyvault.SkuName.STANDARD")},
                    "enable_rbac_authorization": True,
                    "enable_soft_delete": True,
                    "soft_delete_retention_in_days": 90,
                    "enable_purge_protection": True,
                    # AKS's KMS plugin reaches the vault over its public endpoint
                    # (a vault firewall blocks it); access is Entra ID RBAC only.
                    "public_network_access": "Enabled",
                    "network_acls": {"default_action": "Allow", "bypass": "AzureServices"},
                },
                "tags": az.tags,
            },
            key_line,
        )
        key = az.res(
            "secrets_key",
            "keyvault.Key",
            f"{p.name}-secrets",
            {
                "resource_group_name": rg,
                "vault_name": Code(f"{vault}.name"),
                "key_name": "kubernetes-secrets",
                "properties": {"kty": "RSA", "key_size": 2048},
                "tags": az.tags,
            },
            key_line,
        )
        for registry in p.registries:
            reg_line = ctx.line(registry.path)
            var = f"registry_{_var(registry.name)}"
            acr = az.res(
                var,
                "containerregistry.Registry",
                f"{p.name}-{registry.name}",
                {
                    "resource_group_name": rg,
                    "registry_name": az.name_of(REGISTRY, registry.name),
                    "location": az.location,
                    "sku": {"name": "Premium"},  # private endpoints need Premium
                    "admin_user_enabled": False,
                    "anonymous_pull_enabled": False,
                    "public_network_access": "Disabled",
                    "network_rule_bypass_options": "AzureServices",
                    "zone_redundancy": "Enabled" if net.zones > 1 else "Disabled",
                    "policies": {
                        "export_policy": {"status": "disabled"},
                        "retention_policy": {"status": "enabled", "days": 30},
                    },
                    "tags": az.tags,
                },
                reg_line,
            )
            az.use("containerregistry")
            az.private_endpoint(
                var,
                f"{p.name}-{registry.name}",
                "registry",
                acr,
                Code(f"{subnets['endpoints']}.id"),
                Code(f"{vnet}.id"),
                reg_line,
            )
            prog.export(f"registry_{registry.name}_id", Code(f"{acr}.id"))
            prog.export(f"registry_{registry.name}_login_server", Code(f"{acr}.login_server"))
        prog.export("vnet_id", Code(f"{vnet}.id"))
        for purpose, subnet in subnets.items():
            prog.export(f"{purpose}_subnet_id", Code(f"{subnet}.id"))
        prog.export("log_workspace_id", Code(f"{workspace}.id"))
        prog.export("key_vault_id", Code(f"{vault}.id"))
        prog.export("key_vault_name", Code(f"{vault}.name"))
        prog.export("secrets_key_uri", Code(f"{key}.key_uri_with_version"))

    # Layer 3 ---------------------------------------------------------------

    def cluster(self, az: _Layer) -> None:
        p, prog, ctx = az.p, az.prog, az.ctx
        az.use("containerservice")
        line = ctx.line(("cluster",))
        rg = az.resource_group()
        up = ctx.upstream
        cluster_principal = up("01-identity", "cluster_identity_principal_id")
        node_subnet = up("02-managed-infra", "nodes_subnet_id")
        # The control plane's identity must reach the nodes' subnet and the KMS key before it exists.
        subnet_access = az.assign_role(
            "cluster_network",
            f"{p.name}-cluster-network",
            "Network Contributor",
            cluster_principal,
            node_subnet,
            ctx.line(("network",)),
            "ServicePrincipal",
        )
        key_access = az.assign_role(
            "cluster_kms",
            f"{p.name}-cluster-kms",
            "Key Vault Crypto User",
            cluster_principal,
            up("02-managed-infra", "key_vault_id"),
            line,
            "ServicePrincipal",
        )
        pods, service, dns = address_plan(p.network)
        endpoint = p.cluster.endpoint
        if not endpoint.public:
            api_access = {"enable_private_cluster": True, "private_dns_zone": "system"}
        else:
            api_access = {"authorized_ip_ranges": list(endpoint.allowed_cidrs)}
        addons: dict = {"azurepolicy": {"enabled": True, "config": {"version": "v2"}}}
        if p.services.logging:
            addons["omsagent"] = {
                "enabled": True,
                "config": {
                    "logAnalyticsWorkspaceResourceID": up("02-managed-infra", "log_workspace_id"),
                    "useAADAuth": "true",
                },
            }
        system = system_pool(p)
        cluster_kwargs = {
            "resource_group_name": rg,
            "resource_name_": p.name,
            "location": az.location,
            "dns_prefix": p.name,
            "kubernetes_version": p.cluster.version,
            "sku": {"name": "Base", "tier": "Standard"},
            "identity": {
                "type": Code("containerservice.ResourceIdentityType.USER_ASSIGNED"),
                "user_assigned_identities": [up("01-identity", "cluster_identity_id")],
            },
            "identity_profile": {
                "kubeletidentity": {
                    "resource_id": up("01-identity", "kubelet_identity_id"),
                    "client_id": up("01-identity", "kubelet_identity_client_id"),
                    "object_id": up("01-identity", "kubelet_identity_principal_id"),
                }
            },
            "aad_profile": {"managed": True, "enable_azure_rbac": True},
            "enable_rbac": True,
            "disable_local_accounts": True,
            "oidc_issuer_profile": {"enabled": True},
            "security_profile": {
                "workload_identity": {"enabled": True},
                "azure_key_vault_kms": {
                    "enabled": True,
                    "key_id": up("02-managed-infra", "secrets_key_uri"),
                    "key_vault_network_access": "Public",
                },
                "image_cleaner": {"enabled": True, "interval_hours": 168},
            },
            "network_profile": {
                "network_plugin": "azure",
                "network_plugin_mode": "overlay",
                "network_dataplane": "cilium",
                "network_policy": "cilium",
                "pod_cidr": pods,
                "service_cidr": service,
                "dns_service_ip": dns,
                "outbound_type": "userAssignedNATGateway",
                "load_balancer_sku": "standard",
            },
            "api_server_access_profile": api_access,
            "auto_upgrade_profile": {
                "upgrade_channel": "patch",
                "node_os_upgrade_channel": "NodeImage",
            },
            "addon_profiles": addons,
            "storage_profile": {
                "disk_csi_driver": {"enabled": True},
                "snapshot_controller": {"enabled": True},
            },
            "agent_pool_profiles": [
                {"name": system.name} | self._pool_args(az, system, node_subnet)
            ],
        }
        if p.services.autoscaler:
            cluster_kwargs["auto_scaler_profile"] = {
                "expander": "least-waste",
                "balance_similar_node_groups": "true",
            }
        cluster_kwargs["tags"] = az.tags
        cluster = az.res(
            "cluster",
            "containerservice.ManagedCluster",
            p.name,
            cluster_kwargs,
            line,
            depends_on=[subnet_access, key_access],
            ignore_changes=["agentPoolProfiles[0].count"],
        )
        az.use("monitor")
        az.res(
            "cluster_audit",
            "monitor.DiagnosticSetting",
            f"{p.name}-audit",
            {
                "name": "control-plane-logs",
                "resource_uri": Code(f"{cluster}.id"),
                "workspace_id": up("02-managed-infra", "log_workspace_id"),
                "log_analytics_destination_type": "Dedicated",
                "logs": [
                    {"category": category, "enabled": True}
                    for category in (
                        "kube-audit-admin",
                        "kube-apiserver",
                        "kube-controller-manager",
                        "kube-scheduler",
                        "cluster-autoscaler",
                        "guard",
                    )
                ],
            },
            line,
        )
        for pool in p.cluster.node_pools:
            if pool is system:
                continue
            az.res(
                ("node_pool", pool.name),
                "containerservice.AgentPool",
                f"{p.name}-{pool.name}",
                {
                    "resource_group_name": rg,
                    "resource_name_": Code(f"{cluster}.name"),
                    "agent_pool_name": pool.name,
                }
                | self._pool_args(az, pool, node_subnet),
                ctx.line(pool.path),
                ignore_changes=["count"],
            )
        cluster_id = Code(f"{cluster}.id")
        for team in p.teams:
            team_line = ctx.line(team.path)
            for member in team.members:
                az.assign_role(
                    ("team", _var(team.name), "user"),
                    f"{p.name}-team-{team.name}-{member}-cluster-user",
                    "Azure Kubernetes Service Cluster User Role",
                    member,
                    cluster_id,
                    team_line,
                )
                if team.access == "admin":
                    az.assign_role(
                        ("team", _var(team.name), "admin"),
                        f"{p.name}-team-{team.name}-{member}-cluster-admin",
                        TEAM_ROLES["admin"],
                        member,
                        cluster_id,
                        ctx.line(team.path + ("access",)),
                    )
                    continue
                for namespace in _bound_namespaces(p, team):
                    az.assign_role(
                        ("team", _var(team.name), _var(namespace)),
                        f"{p.name}-team-{team.name}-{member}-{namespace}",
                        TEAM_ROLES[team.access],
                        member,
                        Call("pulumi.Output.concat", [cluster_id, f"/namespaces/{namespace}"]),
                        ctx.line(team.path + ("access",)),
                    )
        for registry in p.registries:
            az.assign_role(
                ("registry", _var(registry.name), "pull"),
                f"{p.name}-{registry.name}-pull",
                "AcrPull",
                up("01-identity", "kubelet_identity_principal_id"),
                up("02-managed-infra", f"registry_{registry.name}_id"),
                ctx.line(registry.path),
                "ServicePrincipal",
            )
        prog.imports.update({"import base64", "import re"})
        prog.helpers["cluster_access"] = CLUSTER_ACCESS
        credentials = prog.assign(
            prog.name("credentials"),
            Call(
                "containerservice.list_managed_cluster_user_credentials_output",
                kwargs={
                    "resource_group_name": rg,
                    "resource_name": Code(f"{cluster}.name"),
                    "opts": Call("pulumi.InvokeOutputOptions", kwargs={"provider": az.provider}),
                },
            ),
        )
        access = prog.assign(prog.name("access"), Code(f"{credentials}.apply(cluster_access)"))
        # Sign in through kubelogin with the Azure CLI's Entra ID login (people
        # after `az login`, CI after azure/login): the cluster has no local accounts.
        kubeconfig = prog.assign(
            prog.name("kubeconfig"),
            Call(
                "pulumi.Output.secret",
                [
                    Call(
                        "pulumi.Output.json_dumps",
                        [
                            {
                                "apiVersion": "v1",
                                "kind": "Config",
                                "clusters": [
                                    {
                                        "name": p.name,
                                        "cluster": {
                                            "server": Code(f'{access}["server"]'),
                                            "certificate-authority-data": Code(f'{access}["ca"]'),
                                        },
                                    }
                                ],
                                "contexts": [
                                    {"name": p.name, "context": {"cluster": p.name, "user": p.name}}
                                ],
                                "current-context": p.name,
                                "users": [
                                    {
                                        "name": p.name,
                                        "user": {
                                            "exec": {
                                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                                "command": "kubelogin",
                                                "args": [
                                                    "get-token",
                                                    "--login",
                                                    "azurecli",
                                                    "--server-id",
                                                    AKS_SERVER_ID,
                                                ],
                                                "interactiveMode": "Never",
                                            }
                                        },
                                    }
                                ],
                            }
                        ],
                    )
                ],
            ),
        )
        k8s_provider = k8s.emit_provider(ctx, kubeconfig, line)
        k8s_opts = {"provider": k8s_provider}
        sku = ctx.setting(
            "storageClass.skuName",
            lambda q, env: (
                "Premium_LRS"
                if all(premium_storage(vm_size(pool)) for pool in q.cluster.node_pools)
                else "StandardSSD_LRS"
            ),
        )
        prog.resource(
            "default_storage_class",
            "kubernetes.storage.v1.StorageClass",
            "encrypted-ssd",
            {
                "metadata": {
                    "name": "encrypted-ssd",
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "disk.csi.azure.com",
                # Azure encrypts managed disks at rest; DenyAll keeps them from being exported.
                "parameters": {"skuName": sku, "networkAccessPolicy": "DenyAll"},
                "reclaim_policy": "Retain",
                "volume_binding_mode": "WaitForFirstConsumer",
                "allow_volume_expansion": True,
            },
            line,
            k8s_opts,
        )
        for namespace in p.cluster.namespaces:
            k8s.emit_namespace(ctx, k8s_provider, namespace)
        prog.export("cluster_name", Code(f"{cluster}.name"))
        prog.export("cluster_id", cluster_id)
        prog.export("kubeconfig", kubeconfig)
        prog.export("oidc_issuer_url", Code(f"{cluster}.oidc_issuer_profile.issuer_url"))

    def _pool_args(self, az: _Layer, pool, node_subnet) -> dict:
        """What a node pool is, inline in the cluster (the system pool) or an AgentPool."""
        p, ctx = az.p, az.ctx
        key = f"nodePools.{pool.name}"
        name = pool.name
        system = pool is system_pool(p)
        zones = [str(z) for z in range(1, p.network.zones + 1)] if p.network.zones > 1 else None
        taints = [_taint(t) for t in pool.taints]
        if pool.spot:
            taints.append("kubernetes.azure.com/scalesetpriority=spot:NoSchedule")
        args = {
            "mode": "System" if system else "User",
            "vm_size": ctx.setting(f"{key}.vmSize", lambda q, env: vm_size(q.node_pool(name))),
            "os_type": "Linux",
            "os_sku": "AzureLinux",
            "os_disk_type": "Managed",
            "os_disk_size_gb": pool.disk_size_gb,
            "type": "VirtualMachineScaleSets",
            "vnet_subnet_id": node_subnet,
            "availability_zones": zones,
            "enable_node_public_ip": False,
            "count": ctx.setting(
                f"{key}.count", lambda q, env: max(q.node_pool(name).min, 1 if system else 0)
            ),
        }
        if p.services.autoscaler:
            args |= {
                "enable_auto_scaling": True,
                "min_count": ctx.setting(f"{key}.min", lambda q, env: q.node_pool(name).min),
                "max_count": ctx.setting(f"{key}.max", lambda q, env: q.node_pool(name).max),
            }
        if pool.spot:
            args |= {
                "scale_set_priority": "Spot",
                "scale_set_eviction_policy": "Delete",
                "spot_max_price": -1,  # up to the on-demand price
            }
        args |= {
            "node_labels": dict(pool.labels) | {"crosswalk/node-pool": pool.name},
            "node_taints": taints or None,
            "upgrade_settings": {"max_surge": "33%"} if not pool.spot else None,
            "tags": az.tags,
        }
        return {k: v for k, v in args.items() if v is not None}

    # Layer 4 ---------------------------------------------------------------

    def cluster_services(self, az: _Layer) -> None:
        p, ctx = az.p, az.ctx
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("clusterServices",))
        )
        if p.services.logging:
            # Container Insights (the cluster's monitoring add-on) ships logs to
            # the platform's Log Analytics workspace, as this rule says.
            az.use("monitor")
            line = ctx.line(("clusterServices", "logging"))
            streams = ["Microsoft-ContainerInsights-Group-Default"]
            rule = az.res(
                "container_insights",
                "monitor.DataCollectionRule",
                f"{p.name}-container-insights",
                {
                    "resource_group_name": az.resource_group(),
                    "data_collection_rule_name": f"MSCI-{p.name}",
                    "location": az.location,
                    "kind": "Linux",
                    "data_sources": {
                        "extensions": [
                            {
                                "name": "ContainerInsightsExtension",
                                "extension_name": "ContainerInsights",
                                "streams": streams,
                                "extension_settings": {
                                    "dataCollectionSettings": {
                                        "interval": "1m",
                                        "namespaceFilteringMode": "Off",
                                        "enableContainerLogV2": True,
                                    }
                                },
                            }
                        ]
                    },
                    "destinations": {
                        "log_analytics": [
                            {
                                "name": "workspace",
                                "workspace_resource_id": ctx.upstream(
                                    "02-managed-infra", "log_workspace_id"
                                ),
                            }
                        ]
                    },
                    "data_flows": [{"streams": streams, "destinations": ["workspace"]}],
                    "tags": az.tags,
                },
                line,
            )
            az.res(
                "container_insights_association",
                "monitor.DataCollectionRuleAssociation",
                f"{p.name}-container-insights",
                {
                    "association_name": "ContainerInsightsExtension",
                    "resource_uri": ctx.upstream("03-cluster", "cluster_id"),
                    "data_collection_rule_id": Code(f"{rule}.id"),
                },
                line,
            )
        # AKS runs these itself: Container Insights, its cluster autoscaler
        # (pool settings) and metrics-server; a release would collide with them.
        services.emit_cluster_services(
            ctx,
            k8s_provider,
            cloud="azure",
            cloud_values={},
            native=frozenset({"logging", "autoscaler", "metricsServer"}),
        )

    # Layer 5 ---------------------------------------------------------------

    def app_services(self, az: _Layer) -> None:
        p, prog, ctx = az.p, az.prog, az.ctx
        a = p.app_services
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("appServices",))
        )
        issuer = ctx.upstream("03-cluster", "oidc_issuer_url")
        cloud_values: dict[str, dict] = {}
        if a.dns_zone:
            az.use("dns")
            dns_line = ctx.line(("appServices", "dns"))
            zone = az.res(
                "dns_zone",
                "dns.Zone",
                a.dns_zone,
                {
                    "resource_group_name": az.resource_group(),
                    "zone_name": a.dns_zone,
                    "zone_type": Code("dns.ZoneType.PUBLIC"),
                    "location": "global",
                    "tags": az.tags,
                },
                dns_line,
            )
            prog.export("dns_name_servers", Code(f"{zone}.name_servers"))
            group_id = Call(
                "pulumi.Output.concat",
                [
                    "/subscriptions/",
                    Code(f"{az.client}.subscription_id"),
                    "/resourceGroups/",
                    az.resource_group(),
                ],
            )
            identity = self._workload_identity(
                az,
                "external_dns",
                f"{p.name}-external-dns",
                issuer,
                "external-dns",
                "external-dns",
                dns_line,
            )
            az.assign_role(
                "external_dns_zone",
                f"{p.name}-external-dns-zone",
                "DNS Zone Contributor",
                Code(f"{identity}.principal_id"),
                Code(f"{zone}.id"),
                dns_line,
                "ServicePrincipal",
            )
            # external-dns lists the zones of the resource group it is given.
            az.assign_role(
                "external_dns_group",
                f"{p.name}-external-dns-group",
                "Reader",
                Code(f"{identity}.principal_id"),
                group_id,
                dns_line,
                "ServicePrincipal",
            )
            cloud_values["dns"] = {
                "provider": {"name": "azure"},
                "podLabels": {WORKLOAD_IDENTITY_LABEL: "true"},
                "serviceAccount": {
                    "labels": {WORKLOAD_IDENTITY_LABEL: "true"},
                    "annotations": {CLIENT_ID_ANNOTATION: Code(f"{identity}.client_id")},
                },
                "secretConfiguration": {
                    "enabled": True,
                    "mountPath": "/etc/kubernetes/",
                    "data": {
                        "azure.json": Call(
                            "pulumi.Output.json_dumps",
                            [
                                {
                                    "tenantId": Code(f"{az.client}.tenant_id"),
                                    "subscriptionId": Code(f"{az.client}.subscription_id"),
                                    "resourceGroup": az.resource_group(),
                                    "useWorkloadIdentityExtension": True,
                                }
                            ],
                        )
                    },
                },
            }
            if a.email:
                cert_line = ctx.line(("appServices", "certificates"))
                identity = self._workload_identity(
                    az,
                    "cert_manager",
                    f"{p.name}-cert-manager",
                    issuer,
                    "cert-manager",
                    "cert-manager",
                    cert_line,
                )
                az.assign_role(
                    "cert_manager_zone",
                    f"{p.name}-cert-manager-zone",
                    "DNS Zone Contributor",
                    Code(f"{identity}.principal_id"),
                    Code(f"{zone}.id"),
                    cert_line,
                    "ServicePrincipal",
                )
                cloud_values["certificates"] = {
                    "podLabels": {WORKLOAD_IDENTITY_LABEL: "true"},
                    "serviceAccount": {"labels": {WORKLOAD_IDENTITY_LABEL: "true"}},
                }
                cloud_values["certificates_solver"] = {
                    "dns01": {
                        "azureDNS": {
                            "subscriptionID": Code(f"{az.client}.subscription_id"),
                            "resourceGroupName": az.resource_group(),
                            "hostedZoneName": a.dns_zone,
                            "environment": "AzurePublicCloud",
                            "managedIdentity": {"clientID": Code(f"{identity}.client_id")},
                        }
                    }
                }
        services.emit_app_services(ctx, k8s_provider, cloud="azure", cloud_values=cloud_values)

        stores: dict[str, dict[str, Code]] = {}
        for store in a.datastores:
            stores[store.name] = self._datastore(az, store)
        for app in p.apps:
            if app.uses:
                self._app_identity(az, app, stores, issuer)

    def _workload_identity(
        self, az: _Layer, var: str, name: str, issuer, namespace: str, account: str, line
    ) -> Code:
        """A managed identity that one Kubernetes service account signs in as."""
        identity = az.identity(var, name, line)
        az.federate(
            f"{var}_kubernetes",
            f"{name}-kubernetes",
            identity,
            "kubernetes",
            issuer,
            f"system:serviceaccount:{namespace}:{account}",
            line,
        )
        return identity

    def _datastore(self, az: _Layer, store) -> dict[str, Code]:
        """A datastore; returns what apps are granted access on."""
        p, prog, ctx = az.p, az.prog, az.ctx
        line = ctx.line(store.path)
        rg = az.resource_group()
        var = f"datastore_{_var(store.name)}"
        base = f"{p.name}-{store.name}"
        out = lambda name: f"datastore_{store.name}_{name}"
        vnet_id = ctx.upstream("02-managed-infra", "vnet_id")
        name = az.name_of(DATASTORE_NAMES[store.engine], store.name)

        def protect():
            """Deletion protection outside dev (SQL and document stores, as on AWS)."""
            return ctx.setting(
                f"datastores.{store.name}.deletionProtection", lambda q, env: env != "dev"
            )

        def per_ha(key: str, on, off):
            return ctx.setting(
                f"datastores.{store.name}.{key}",
                lambda q, env: on if q.datastore(store.name).high_availability else off,
            )

        def resilience() -> dict:
            """Backups and a zone-redundant standby, as both flexible servers take them."""
            return {
                "backup": {
                    "backup_retention_days": store.backup_retention_days,
                    "geo_redundant_backup": per_ha("geoRedundantBackup", "Enabled", "Disabled"),
                },
                "high_availability": {
                    "mode": per_ha("highAvailabilityMode", "ZoneRedundant", "Disabled")
                },
            }

        def database(module: str, server: Code, charset: str, collation: str) -> None:
            """The app's database on a flexible server, the server's delete lock,
            and the host and database apps connect to."""
            made = az.res(
                (var, "database"),
                f"{module}.Database",
                base,
                {
                    "resource_group_name": rg,
                    "server_name": Code(f"{server}.name"),
                    "database_name": store.name.replace("-", "_"),
                    "charset": charset,
                    "collation": collation,
                },
                line,
            )
            az.lock(var, base, server, protect(), line)
            prog.export(out("host"), Code(f"{server}.fully_qualified_domain_name"))
            prog.export(out("database"), Code(f"{made}.name"))

        if store.engine == "postgres":
            az.use("dbforpostgresql")
            sku = store.instance_class or SQL_SIZES["postgres"][store.size]
            zone = az.private_zone(f"{p.name}.private.postgres.database.azure.com", vnet_id, line)
            server = az.res(
                var,
                "dbforpostgresql.Server",
                base,
                {
                    "resource_group_name": rg,
                    "server_name": name,
                    "location": az.location,
                    "version": store.version or DEFAULT_VERSIONS["postgres"],
                    "sku": {"name": sku, "tier": _sql_tier(sku)},
                    "storage": {
                        "storage_size_gb": _postgres_storage(store.storage_gb),
                        "auto_grow": "Enabled",
                    },
                    **resilience(),
                    "network": {
                        "delegated_subnet_resource_id": ctx.upstream(
                            "02-managed-infra", "postgres_subnet_id"
                        ),
                        "private_dns_zone_arm_resource_id": Code(f"{zone}.id"),
                        "public_network_access": "Disabled",
                    },
                    # Entra ID only: apps sign in as their managed identity, no password exists.
                    "auth_config": {
                        "active_directory_auth": "Enabled",
                        "password_auth": "Disabled",
                        "tenant_id": Code(f"{az.client}.tenant_id"),
                    },
                    "tags": az.tags,
                },
                line,
            )
            database("dbforpostgresql", server, "UTF8", "en_US.utf8")
            prog.export(out("server"), Code(f"{server}.name"))
            return {"server": server}
        if store.engine == "mysql":
            az.use("dbformysql", "keyvault")
            prog.imports.add("import secrets")
            sku = store.instance_class or SQL_SIZES["mysql"][store.size]
            zone = az.private_zone(f"{p.name}.private.mysql.database.azure.com", vnet_id, line)
            # MySQL's Entra ID sign-in needs Microsoft Graph rights only a tenant
            # admin can grant, so it keeps a password: made once, when the server
            # is created (both resources ignore later values), kept in Key Vault.
            password = prog.assign(
                f"{var}_password",
                Code('pulumi.Output.secret("Cw1-" + secrets.token_urlsafe(32))'),
                line,
            )
            server = az.res(
                var,
                "dbformysql.Server",
                base,
                {
                    "resource_group_name": rg,
                    "server_name": name,
                    "location": az.location,
                    "version": SQL_VERSIONS["mysql"][store.version or DEFAULT_VERSIONS["mysql"]],
                    "sku": {"name": sku, "tier": _sql_tier(sku)},
                    "administrator_login": "crosswalk",
                    "administrator_login_password": password,
                    "storage": {
                        "storage_size_gb": min(max(store.storage_gb, 20), 16384),
                        "auto_grow": "Enabled",
                        "auto_io_scaling": "Enabled",
                    },
                    **resilience(),
                    "network": {
                        "delegated_subnet_resource_id": ctx.upstream(
                            "02-managed-infra", "mysql_subnet_id"
                        ),
                        "private_dns_zone_resource_id": Code(f"{zone}.id"),
                        "public_network_access": "Disabled",
                    },
                    "tags": az.tags,
                },
                line,
                ignore_changes=["administratorLoginPassword"],
            )
            secret = az.res(
                (var, "password_secret"),
                "keyvault.Secret",
                f"{base}-password",
                {
                    "resource_group_name": rg,
                    "vault_name": ctx.upstream("02-managed-infra", "key_vault_name"),
                    "secret_name": f"{store.name}-password",
                    "properties": {
                        "value": password,
                        "content_type": "password of MySQL user crosswalk",
                    },
                    "tags": az.tags,
                },
                line,
                ignore_changes=["properties.value"],
            )
            database("dbformysql", server, "utf8mb4", "utf8mb4_0900_ai_ci")
            prog.export(out("password_secret_uri"), Code(f"{secret}.properties.secret_uri"))
            prog.export(out("password_secret_id"), Code(f"{secret}.id"))
            return {"server": server, "password_secret": secret}
        subnet = ctx.upstream("02-managed-infra", "endpoints_subnet_id")
        if store.engine == "redis":
            az.use("redis")
            cache = az.res(
                var,
                "redis.Redis",
                base,
                {
                    "resource_group_name": rg,
                    "name": name,
                    "location": az.location,
                    "sku": _redis_sku(store),
                    "redis_version": store.version or DEFAULT_VERSIONS["redis"],
                    "enable_non_ssl_port": False,
                    "minimum_tls_version": "1.2",
                    "public_network_access": "Disabled",
                    # Entra ID sign-in only: no access keys to leak.
                    "disable_access_key_authentication": True,
                    "redis_configuration": {"aad_enabled": "true"},
                    "tags": az.tags,
                },
                line,
            )
            az.private_endpoint(var, base, "redis", cache, subnet, vnet_id, line)
            prog.export(out("host"), Code(f"{cache}.host_name"))
            prog.export(out("name"), Code(f"{cache}.name"))
            return {"cache": cache}
        if store.engine == "queue":
            az.use("servicebus")
            namespace = az.res(
                var,
                "servicebus.Namespace",
                base,
                {
                    "resource_group_name": rg,
                    "namespace_name": name,
                    "location": az.location,
                    "sku": {
                        "name": Code("servicebus.SkuName.STANDARD"),
                        "tier": Code("servicebus.SkuTier.STANDARD"),
                    },
                    # Entra ID only (no shared access keys), like SQS's IAM.
                    "disable_local_auth": True,
                    "minimum_tls_version": "1.2",
                    "tags": az.tags,
                },
                line,
            )
            queue = az.res(
                (var, "queue"),
                "servicebus.Queue",
                base,
                {
                    "resource_group_name": rg,
                    "namespace_name": Code(f"{namespace}.name"),
                    "queue_name": store.name,
                    "lock_duration": "PT1M",
                    "max_delivery_count": 5,
                    "dead_lettering_on_message_expiration": True,
                    "default_message_time_to_live": "P14D",
                },
                line,
            )
            host = prog.assign(
                prog.name(var, "host"),
                Call(
                    "pulumi.Output.concat", [Code(f"{namespace}.name"), ".servicebus.windows.net"]
                ),
            )
            prog.export(out("namespace"), host)
            prog.export(out("queue"), Code(f"{queue}.name"))
            prog.export(out("queue_id"), Code(f"{queue}.id"))
            return {"queue": queue}
        # document
        az.use("cosmosdb")
        account = az.res(
            var,
            "cosmosdb.DatabaseAccount",
            base,
            {
                "resource_group_name": rg,
                "account_name": name,
                "location": az.location,
                "kind": "GlobalDocumentDB",
                "database_account_offer_type": Code("cosmosdb.DatabaseAccountOfferType.STANDARD"),
                "locations": [
                    {
                        "location_name": az.location,
                        "failover_priority": 0,
                        "is_zone_redundant": per_ha("zoneRedundant", True, False),
                    }
                ],
                "consistency_policy": {
                    "default_consistency_level": Code("cosmosdb.DefaultConsistencyLevel.SESSION")
                },
                "backup_policy": {
                    "type": "Continuous",
                    "continuous_mode_properties": {"tier": "Continuous7Days"},
                },
                "disable_local_auth": True,
                "disable_key_based_metadata_write_access": True,
                "public_network_access": "Disabled",
                "minimal_tls_version": "Tls12",
                "tags": az.tags,
            },
            line,
        )
        database = az.res(
            (var, "database"),
            "cosmosdb.SqlResourceSqlDatabase",
            base,
            {
                "resource_group_name": rg,
                "account_name": Code(f"{account}.name"),
                "database_name": store.name,
                "resource": {"id": store.name},
            },
            line,
        )
        container = az.res(
            (var, "container"),
            "cosmosdb.SqlResourceSqlContainer",
            base,
            {
                "resource_group_name": rg,
                "account_name": Code(f"{account}.name"),
                "database_name": Code(f"{database}.name"),
                "container_name": "items",
                "resource": {"id": "items", "partition_key": {"paths": ["/pk"], "kind": "Hash"}},
            },
            line,
        )
        az.private_endpoint(var, base, "document", account, subnet, vnet_id, line)
        az.lock(var, base, account, protect(), line)
        prog.export(out("endpoint"), Code(f"{account}.document_endpoint"))
        prog.export(out("database"), Code(f"{database}.name"))
        prog.export(out("container"), Code(f"{container}.name"))
        return {"account": account}

    def _app_identity(self, az: _Layer, app, stores: dict[str, dict[str, Code]], issuer) -> None:
        """An app's managed identity, federated with its service account, and
        the access to each datastore it uses."""
        p, prog, ctx = az.p, az.prog, az.ctx
        line = ctx.line(app.path + ("uses",))
        var = f"app_{_var(app.name)}"
        identity = self._workload_identity(
            az, var, f"{p.name}-app-{app.name}", issuer, app.namespace, app.name, line
        )
        principal = Code(f"{identity}.principal_id")
        for index, store_name in enumerate(app.uses):
            store = p.datastore(store_name)
            made = stores[store.name]
            target = next(iter(made.values()))
            at = ctx.line(app.path + ("uses", index))
            grant = (var, _var(store.name))
            if store.engine == "postgres":
                # Entra ID administrator of the server, as AWS's apps hold the master secret.
                # A server takes one administrator change at a time.
                before = az.serial.get(store.name)
                opts = {"depends_on": [before]} if before is not None else {}
                az.serial[store.name] = az.res(
                    grant,
                    "dbforpostgresql.Administrator",
                    f"{app.name}-{store.name}",
                    {
                        "resource_group_name": az.resource_group(),
                        "server_name": Code(f"{target}.name"),
                        "object_id": principal,
                        "principal_name": Code(f"{identity}.name"),
                        "principal_type": "ServicePrincipal",
                        "tenant_id": Code(f"{az.client}.tenant_id"),
                    },
                    at,
                    **opts,
                )
            elif store.engine == "mysql":
                az.assign_role(
                    grant,
                    f"{app.name}-{store.name}-password",
                    "Key Vault Secrets User",
                    principal,
                    Code(f"{made['password_secret']}.id"),
                    at,
                    "ServicePrincipal",
                )
            elif store.engine == "redis":
                # A cache takes one access policy change at a time.
                before = az.serial.get(store.name)
                opts = {"depends_on": [before]} if before is not None else {}
                az.serial[store.name] = az.res(
                    grant,
                    "redis.AccessPolicyAssignment",
                    f"{app.name}-{store.name}",
                    {
                        "resource_group_name": az.resource_group(),
                        "cache_name": Code(f"{target}.name"),
                        "access_policy_assignment_name": app.name,
                        "access_policy_name": "Data Contributor",
                        "object_id": principal,
                        "object_id_alias": Code(f"{identity}.name"),
                    },
                    at,
                    **opts,
                )
            elif store.engine == "queue":
                for direction in ("Sender", "Receiver"):
                    az.assign_role(
                        (var, _var(store.name), direction.lower()),
                        f"{app.name}-{store.name}-{direction.lower()}",
                        f"Azure Service Bus Data {direction}",
                        principal,
                        Code(f"{target}.id"),
                        at,
                        "ServicePrincipal",
                    )
            else:
                az.res(
                    grant,
                    "cosmosdb.SqlResourceSqlRoleAssignment",
                    f"{app.name}-{store.name}",
                    {
                        "resource_group_name": az.resource_group(),
                        "account_name": Code(f"{target}.name"),
                        "role_definition_id": Call(
                            "pulumi.Output.concat",
                            [
                                Code(f"{target}.id"),
                                f"/sqlRoleDefinitions/{COSMOS_DATA_CONTRIBUTOR}",
                            ],
                        ),
                        "principal_id": principal,
                        "scope": Code(f"{target}.id"),
                    },
                    at,
                )
        prog.export(f"app_{app.name}_client_id", Code(f"{identity}.client_id"))
        prog.export(f"app_{app.name}_principal_id", principal)
        prog.export(f"app_{app.name}_identity_name", Code(f"{identity}.name"))

    # Layer 6 ---------------------------------------------------------------

    def app(self, az: _Layer) -> None:
        p, ctx = az.p, az.ctx
        app = p.app(ctx.stack.split("/", 1)[1])
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(app.path)
        )
        parts = k8s.AppCloudParts()
        services_out = lambda name: ctx.upstream("05-app-services", name)
        ports: set[int] = set()
        for store_name in app.uses:
            store = p.datastore(store_name)
            prefix = k8s.env_prefix(store.name)
            out = lambda name, store=store: services_out(f"datastore_{store.name}_{name}")
            if store.engine == "postgres":
                parts.datastore_env[store.name] = {
                    f"{prefix}_HOST": out("host"),
                    f"{prefix}_PORT": str(SQL_PORTS["postgres"]),
                    f"{prefix}_DATABASE": out("database"),
                    f"{prefix}_USERNAME": services_out(f"app_{app.name}_identity_name"),
                    f"{prefix}_AUTH": "entra-id",
                    f"{prefix}_SSLMODE": "require",
                }
                ports.add(SQL_PORTS["postgres"])
            elif store.engine == "mysql":
                parts.datastore_env[store.name] = {
                    f"{prefix}_HOST": out("host"),
                    f"{prefix}_PORT": str(SQL_PORTS["mysql"]),
                    f"{prefix}_DATABASE": out("database"),
                    f"{prefix}_USERNAME": "crosswalk",
                    f"{prefix}_PASSWORD_SECRET_URI": out("password_secret_uri"),
                }
                ports.add(SQL_PORTS["mysql"])
            elif store.engine == "redis":
                parts.datastore_env[store.name] = {
                    f"{prefix}_HOST": out("host"),
                    f"{prefix}_PORT": str(REDIS_TLS_PORT),
                    f"{prefix}_USERNAME": services_out(f"app_{app.name}_principal_id"),
                    f"{prefix}_TLS": "true",
                    f"{prefix}_AUTH": "entra-id",
                }
                ports.add(REDIS_TLS_PORT)
            elif store.engine == "queue":
                parts.datastore_env[store.name] = {
                    f"{prefix}_NAMESPACE": out("namespace"),
                    f"{prefix}_QUEUE": out("queue"),
                }
            else:
                parts.datastore_env[store.name] = {
                    f"{prefix}_ENDPOINT": out("endpoint"),
                    f"{prefix}_DATABASE": out("database"),
                    f"{prefix}_CONTAINER": out("container"),
                }
                ports.add(443)
        if app.uses:
            # Workload identity: the webhook projects a token for the app's managed identity.
            parts.service_account_annotations[CLIENT_ID_ANNOTATION] = services_out(
                f"app_{app.name}_client_id"
            )
            parts.pod_labels[WORKLOAD_IDENTITY_LABEL] = "true"
            # Entra ID (and Service Bus, Key Vault) are public endpoints.
            parts.egress.append(
                {
                    "to": [{"ip_block": {"cidr": "0.0.0.0/0"}}],
                    "ports": [{"protocol": "TCP", "port": 443}],
                }
            )
        if ports:
            # Datastores sit in the platform's network (delegated subnets, private endpoints).
            parts.egress.append(
                {
                    "to": [{"ip_block": {"cidr": p.network.cidr}}],
                    "ports": [{"protocol": "TCP", "port": port} for port in sorted(ports)],
                }
            )
        k8s.emit_app(ctx, k8s_provider, app, parts)


BACKEND = AzureBackend()
