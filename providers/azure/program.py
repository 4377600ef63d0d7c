"""One Azure program being written: its provider, the azure-native submodules it
imports, the built-in roles it assigns, and the building blocks every layer uses
(identities, federation, role assignments, private endpoints, locks)."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code, literal, py_string
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.azure.rules import AzureName
from crosswalk.providers.common import (
    deletion_protection,
    environment_tags,
    optional_setting,
)

AZURE_MODULE = "pulumi_azure_native"


PROVIDER_IMPORT = "Provider as AzureProvider"


LINE_LENGTH = 88  # ruff format's default, which generated programs are checked against


# A derived name fits its keyword argument's line up to this width ("    namespace_name=...,").
NAME_EXPRESSION_WIDTH = LINE_LENGTH - len("    namespace_name=,")


TOKEN_AUDIENCE = "api://AzureADTokenExchange"


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
    "Key Vault Contributor": "f25e0fa2-a7c8-4377-a976-54943a77a395",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Managed Identity Contributor": "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
    "Monitoring Contributor": "749f88d5-cbae-40b8-bcfc-e573ddc772fa",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Virtual Machine Administrator Login": "1c0163c0-47e6-4577-8991-ea5c82e286e4",
    "Virtual Machine User Login": "fb879df8-f326-4884-b1cf-06f3ad86be52",
}


# Private DNS zones of private endpoints, and the sub-resource each endpoint reaches.
PRIVATE_LINKS = {
    "registry": ("privatelink.azurecr.io", "registry"),
    "vault": ("privatelink.vaultcore.azure.net", "vault"),
    "redis": ("privatelink.redis.cache.windows.net", "redisCache"),
    "document": ("privatelink.documents.azure.com", "Sql"),
    "blob": ("privatelink.blob.core.windows.net", "blob"),
}


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


class AzureProgram:
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
        self.prog.fixed("client")  # role_definition() reads the subscription from `client`

    # Program plumbing -------------------------------------------------------

    def use(self, *modules: str) -> None:
        self.modules.update(modules)

    @property
    def provider(self) -> Code:
        """The program's Azure provider: the environment's location, and its
        subscription where platform.yaml names one."""
        if self._provider is None:
            self.use(PROVIDER_IMPORT)
            subscription = optional_setting(
                self.ctx, "cloud.subscription", lambda q, env: q.cloud.subscription
            )
            self._provider = self.prog.resource(
                "azure_provider",
                "AzureProvider",
                "azure",
                {"location": self.location, "subscription_id": subscription},
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
                Code("client"),
                Call(
                    "authorization.get_client_config",
                    kwargs={"opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider})},
                ),
            )
        return self._client

    @property
    def tags(self) -> Code:
        """The tags of every resource (Azure tag names take no '/')."""
        if self._tags is None:
            tags = environment_tags(self.ctx, "crosswalk-platform", "crosswalk-environment")
            self._tags = (
                tags if isinstance(tags, Code) else self.prog.assign(self.prog.name("tags"), tags)
            )
        return self._tags

    @property
    def location(self) -> str | Code:
        """The environment's location."""
        return self.ctx.setting("cloud.region", lambda q, env: q.cloud.region)

    def deletion_protection(self) -> bool | Code:
        return deletion_protection(self.ctx)

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
        self,
        var,
        name: str,
        role: str,
        principal,
        scope,
        line,
        principal_type=None,
        opts: dict | None = None,
        **extra,
    ):
        """A role assignment; `extra` are its inputs, `opts` its resource options."""
        self.use("authorization")
        kwargs = {
            "principal_id": principal,
            "principal_type": principal_type,
            "role_definition_id": self.role(role),
            "scope": scope,
        } | extra
        return self.res(var, "authorization.RoleAssignment", name, kwargs, line, **(opts or {}))

    def one_at_a_time(
        self, target: str, var, cls: str, name: str, kwargs: dict, line, **extra
    ) -> Code:
        """A change to `target`, which Azure takes one at a time: after the last
        one in this program, and never while another stack changes it (the
        stack is marked, see StackContext.one_at_a_time)."""
        before = self.serial.get(target)
        opts = {"depends_on": [before]} if before is not None else {}
        self.ctx.one_at_a_time.add(target)
        self.serial[target] = self.res(var, cls, name, kwargs, line, **opts, **extra)
        return self.serial[target]

    def workload_identity(
        self, var: str, name: str, issuer, namespace: str, account: str, line, **extra
    ) -> Code:
        """A managed identity that one Kubernetes service account signs in as
        (`extra`: options of both resources, such as a renamed app's aliases)."""
        identity = self.identity(var, name, line, **extra.get("identity", {}))
        self.federate(
            f"{var}_kubernetes",
            f"{name}-kubernetes",
            identity,
            "kubernetes",
            issuer,
            f"system:serviceaccount:{namespace}:{account}",
            line,
            **extra.get("federation", {}),
        )
        return identity

    def identity(self, var, name: str, line, cloud_name: str | None = None, **opts) -> Code:
        """`cloud_name`: the name it keeps in Azure when renamed (`renamedFrom`)."""
        self.use("managedidentity")
        return self.res(
            var,
            "managedidentity.UserAssignedIdentity",
            name,
            {
                "resource_group_name": self.resource_group(),
                "resource_name_": cloud_name or name,
                "location": self.location,
                "tags": self.tags,
            },
            line,
            **opts,
        )

    def federate(
        self, var, name: str, identity: Code, credential: str, issuer, subject: str, line, **opts
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
            **opts,
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
        self,
        var: str,
        name: str,
        kind: str,
        target: Code,
        subnet_id,
        vnet_id,
        line,
        cloud_name: str | None = None,
        moved: dict | None = None,
        zone_id=None,
    ) -> Code:
        """A private endpoint in the endpoints subnet, registered in its private DNS zone.
        `cloud_name`: the name it keeps in Azure when its datastore was renamed
        (`renamedFrom`), whose aliases `moved` are. `zone_id`: the zone, where
        another program made it (`vnet_id` is then unused)."""
        self.use("network")
        moved = moved or {}
        zone_name, group = PRIVATE_LINKS[kind]
        if zone_id is None:
            zone_id = Code(f"{self.private_zone(zone_name, vnet_id, line)}.id")
        endpoint = self.res(
            (var, "endpoint"),
            "network.PrivateEndpoint",
            name,
            {
                "resource_group_name": self.resource_group(),
                "private_endpoint_name": f"{cloud_name or name}-endpoint",
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
            **moved,
        )
        self.res(
            (var, "endpoint_dns"),
            "network.PrivateDnsZoneGroup",
            name,
            {
                "resource_group_name": self.resource_group(),
                "private_endpoint_name": Code(f"{endpoint}.name"),
                "private_dns_zone_group_name": "default",
                "private_dns_zone_configs": [{"name": group, "private_dns_zone_id": zone_id}],
            },
            line,
            **moved,
        )
        return endpoint

    def lock(
        self, var: str, name: str, target: Code, protect, line, moved: dict | None = None
    ) -> None:
        """A CanNotDelete lock, created where `protect` (a literal or a config read) holds."""
        if protect is False:
            return
        self.use("authorization")
        start = len(self.prog.statements)
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
            **(moved or {}),
        )
        if protect is not True:
            self.prog.block(f"if {protect}:", start)

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
