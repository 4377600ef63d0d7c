"""Warehouses on Azure (`analytics.warehouses`, in layer 2): an Azure Data
Explorer cluster of the platform, reached through a private endpoint only,
its data encrypted with a key of the platform's vault, and one database per
warehouse; the teams' and apps' database roles.

Why Data Explorer and not Synapse: who may read a Synapse SQL pool is granted
inside SQL (CREATE USER ... FROM EXTERNAL PROVIDER) or through Synapse's own
RBAC, neither of which is an Azure Resource Manager resource the azure-native
SDK can declare; Data Explorer's database roles are (DatabasePrincipalAssignment),
so the teams' and apps' access is in the program and enforced by Azure."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.rules import WAREHOUSE_CLUSTER
from crosswalk.providers.common import protect
from crosswalk.providers.kubernetes.common import env_prefix

# The cluster's instances by `size` (small: the smallest production SKU, with
# an SLA); two of them, across zones.
SKUS = {
    "small": "Standard_E2ads_v5",
    "medium": "Standard_E4ads_v5",
    "large": "Standard_E8ads_v5",
    "xlarge": "Standard_E16ads_v5",
}
SIZES = list(SKUS)
INSTANCES = 2


def cluster_sku(platform) -> str:
    """The cluster holds every warehouse: it takes the largest size they name."""
    return SKUS[max((w.size or "small" for w in platform.warehouses), key=SIZES.index)]


# The role Azure services take to encrypt with a Key Vault key.
KEY_ROLE = "Key Vault Crypto Service Encryption User"
# A team's database role on each warehouse, by its access.
TEAM_ROLES = {"admin": "Admin", "developer": "User", "viewer": "Viewer"}
# An app's database roles, by `access`: read-write also ingests.
ACCESS_ROLES = {"read-only": ("Viewer",), "read-write": ("User", "Ingestor")}
# What a Data Explorer private endpoint resolves: the cluster, and the storage
# its ingestion uses.
STORAGE_ZONES = (
    "privatelink.blob.core.windows.net",
    "privatelink.queue.core.windows.net",
    "privatelink.table.core.windows.net",
)


def emit_warehouses(az: AzureProgram, rg, vault, key, subnet_id, vnet_id) -> None:
    p, prog, ctx = az.p, az.prog, az.ctx
    if not p.warehouses:
        return
    az.use("kusto", "network", "privatedns")
    line = ctx.line(("analytics", "warehouses"))
    # Its own identity reads the key: made and granted before the cluster names it.
    identity = az.identity("warehouse_identity", f"{p.name}-warehouse", line)
    grant = az.assign_role(
        "warehouse_key_role",
        f"{p.name}-warehouse-key",
        KEY_ROLE,
        Code(f"{identity}.principal_id"),
        Code(f"{key}.id"),
        line,
        "ServicePrincipal",
    )
    cluster = az.res(
        "warehouse_cluster",
        "kusto.Cluster",
        f"{p.name}-warehouse",
        {
            "resource_group_name": rg,
            "cluster_name": az.name_of(WAREHOUSE_CLUSTER),
            "location": az.location,
            "sku": {
                "name": az.ctx.setting("warehouseCluster.sku", lambda q, env: cluster_sku(q)),
                "tier": "Standard",
                "capacity": INSTANCES,
            },
            "zones": [str(z) for z in range(1, p.network.zones + 1)]
            if p.network.zones > 1
            else None,
            "identity": {
                "type": "UserAssigned",
                "user_assigned_identities": [Code(f"{identity}.id")],
            },
            "key_vault_properties": {
                "key_name": Code(f"{key}.name"),
                "key_vault_uri": Code(f"{vault}.properties.vault_uri"),
                "user_identity": Code(f"{identity}.id"),
            },
            "public_network_access": "Disabled",
            # No data leaves for places the platform did not name.
            "restrict_outbound_network_access": "Enabled",
            "enable_disk_encryption": True,
            "enable_double_encryption": True,
            "enable_purge": False,
            # Sign-ins from the platform's tenant only.
            "trusted_external_tenants": [],
            "tags": az.tags,
        },
        line,
        depends_on=[grant],
        **protect(ctx),
    )
    az.lock("warehouse_cluster", f"{p.name}-warehouse", cluster, az.deletion_protection(), line)
    _private_endpoint(az, cluster, subnet_id, vnet_id, line)
    for warehouse in p.warehouses:
        var = var_name(warehouse.name)
        args = {
            "resource_group_name": rg,
            "cluster_name": Code(f"{cluster}.name"),
            "database_name": warehouse.name,
            "location": az.location,
            "kind": "ReadWrite",
        }
        if warehouse.expire_tables_after_days is not None:
            args["soft_delete_period"] = ctx.setting(
                f"warehouse.{warehouse.name}.expireTablesAfterDays",
                lambda q, env, n=warehouse.name: f"P{q.warehouse(n).expire_tables_after_days}D",
            )
        database = az.res(
            ("warehouse", var),
            "kusto.ReadWriteDatabase",
            f"{p.name}-{warehouse.name}",
            args,
            ctx.line(warehouse.path),
            **protect(ctx),
        )
        for team in p.teams:
            for i, member in enumerate(team.members):
                az.res(
                    ("warehouse", var, "team", var_name(team.name), str(i)),
                    "kusto.DatabasePrincipalAssignment",
                    f"{p.name}-{warehouse.name}-team-{team.name}-{i}",
                    {
                        "resource_group_name": rg,
                        "cluster_name": Code(f"{cluster}.name"),
                        "database_name": warehouse.name,
                        "principal_assignment_name": f"team-{team.name}-{i}",
                        "principal_id": member,
                        # Teams' members are Entra ID groups here.
                        "principal_type": "Group",
                        "role": TEAM_ROLES[team.access],
                        "tenant_id": Code(f"{az.client}.tenant_id"),
                    },
                    ctx.line(team.path + ("members", i)),
                    depends_on=[database],
                )
    prog.export("warehouse_cluster_name", Code(f"{cluster}.name"))
    prog.export("warehouse_endpoint", Code(f"{cluster}.uri"))


def _private_endpoint(az: AzureProgram, cluster, subnet_id, vnet_id, line) -> None:
    p = az.p
    zone = az.res(
        ("zone", "kusto"),
        "privatedns.PrivateZone",
        f"{p.name}-warehouse-zone",
        {
            "resource_group_name": az.resource_group(),
            "private_zone_name": Call(
                "pulumi.Output.concat", ["privatelink.", az.location, ".kusto.windows.net"]
            ),
            "location": "global",
            "tags": az.tags,
        },
        line,
    )
    az.res(
        ("zone", "kusto", "link"),
        "privatedns.VirtualNetworkLink",
        f"{p.name}-warehouse-zone",
        {
            "resource_group_name": az.resource_group(),
            "private_zone_name": Code(f"{zone}.name"),
            "virtual_network_link_name": f"{p.name}-vnet",
            "virtual_network": {"id": vnet_id},
            "registration_enabled": False,
            "location": "global",
            "tags": az.tags,
        },
        line,
    )
    zones = [zone] + [az.private_zone(name, vnet_id, line) for name in STORAGE_ZONES]
    endpoint = az.res(
        ("warehouse", "endpoint"),
        "network.PrivateEndpoint",
        f"{p.name}-warehouse",
        {
            "resource_group_name": az.resource_group(),
            "private_endpoint_name": f"{p.name}-warehouse-endpoint",
            "location": az.location,
            "subnet": {"id": subnet_id},
            "private_link_service_connections": [
                {
                    "name": "cluster",
                    "private_link_service_id": Code(f"{cluster}.id"),
                    "group_ids": ["cluster"],
                }
            ],
            "tags": az.tags,
        },
        line,
    )
    az.res(
        ("warehouse", "endpoint_dns"),
        "network.PrivateDnsZoneGroup",
        f"{p.name}-warehouse",
        {
            "resource_group_name": az.resource_group(),
            "private_endpoint_name": Code(f"{endpoint}.name"),
            "private_dns_zone_group_name": "default",
            "private_dns_zone_configs": [
                {"name": name.split(".")[1], "private_dns_zone_id": Code(f"{z}.id")}
                for name, z in zip(("privatelink.kusto", *STORAGE_ZONES), zones)
            ],
        },
        line,
    )


def emit_warehouse_grants(az: AzureProgram, app, identity: Code, parts) -> None:
    """The app's managed identity on each warehouse it uses, that database
    only, with the roles of its access; the app learns the database and the
    cluster's endpoint."""
    p, ctx = az.p, az.ctx
    if not app.warehouses:
        return
    az.use("kusto")
    cluster = ctx.upstream("02-managed-infra", "warehouse_cluster_name")
    endpoint = ctx.upstream("02-managed-infra", "warehouse_endpoint")
    for use in app.warehouses:
        warehouse = p.warehouse(use.warehouse)
        database = warehouse.name  # a database's name in the cluster is the warehouse's
        for role in ACCESS_ROLES[use.access]:
            az.res(
                (f"app_{var_name(app.name)}", "warehouse", var_name(warehouse.name), role.lower()),
                "kusto.DatabasePrincipalAssignment",
                f"{p.name}-app-{app.name}-warehouse-{warehouse.name}-{role.lower()}",
                {
                    "resource_group_name": az.resource_group(),
                    "cluster_name": cluster,
                    "database_name": database,
                    "principal_assignment_name": f"app-{app.cloud_name}-{role.lower()}",
                    # An application is named by its client id.
                    "principal_id": Code(f"{identity}.client_id"),
                    "principal_type": "App",
                    "role": role,
                    "tenant_id": Code(f"{identity}.tenant_id"),
                },
                ctx.line(use.path),
            )
        prefix = env_prefix(warehouse.name)
        parts.env |= {f"{prefix}_WAREHOUSE": database, f"{prefix}_WAREHOUSE_ENDPOINT": endpoint}
