"""Datastores on Azure (layer 5): PostgreSQL/MySQL flexible servers, Redis,
Service Bus, Cosmos DB, behind private endpoints.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.providers.azure.common import (
    CLIENT_ID_ANNOTATION,
    WORKLOAD_IDENTITY_LABEL,
    var_name,
)
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.rules import (
    DATASTORE_NAMES,
    DEFAULT_VERSIONS,
    REDIS_CLASS,
    SQL_VERSIONS,
    redis_sku,
)
from crosswalk.providers.common import moved_from
from crosswalk.providers.common import protect as kept
from crosswalk.providers.kubernetes import database_users

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


POSTGRES_STORAGE_GB = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


REDIS_SIZES = {
    "small": ("Standard", "C", 1),
    "medium": ("Standard", "C", 3),
    "large": ("Premium", "P", 2),
    "xlarge": ("Premium", "P", 3),
}


REDIS_TLS_PORT = 6380


def _sql_tier(sku: str) -> str:
    family = sku.removeprefix("Standard_")[:1]
    return SQL_TIERS.get(family, "GeneralPurpose")


def _postgres_storage(gb: int) -> int:
    return next((size for size in POSTGRES_STORAGE_GB if size >= gb), POSTGRES_STORAGE_GB[-1])


def _sql_sku(engine: str, store) -> dict:
    size = store.instance_class or SQL_SIZES[engine][store.size]
    return {"name": size, "tier": _sql_tier(size)}


def _redis_sku(store) -> dict:
    if store.instance_class and REDIS_CLASS.match(store.instance_class):
        return redis_sku(store.instance_class)
    name, family, capacity = REDIS_SIZES[store.size]
    return {"name": name, "family": family, "capacity": capacity}


def emit_datastore(az: AzureProgram, store, k8s_provider: Code) -> None:
    """A datastore, and the outputs apps' stacks read to use it and to be
    granted access to it."""
    p, prog, ctx = az.p, az.prog, az.ctx
    line = ctx.line(store.path)
    rg = az.resource_group()
    var = f"datastore_{var_name(store.name)}"
    # Pulumi names follow platform.yaml; names in Azure stay those the
    # datastore was created with (`renamedFrom`), so a rename replaces nothing.
    base, cloud_base = f"{p.name}-{store.name}", f"{p.name}-{store.cloud_name}"
    out = lambda name: f"datastore_{store.name}_{name}"
    vnet_id = ctx.upstream("02-managed-infra", "vnet_id")
    name = az.name_of(DATASTORE_NAMES[store.engine], store.cloud_name)

    def moved(suffix: str = "") -> dict:
        return moved_from(lambda n: f"{p.name}-{n}{suffix}", store)

    def per_env(key: str, value_in):
        """A value of the datastore as each environment sets it."""
        return ctx.setting(
            f"datastores.{store.name}.{key}", lambda q, env: value_in(q.datastore(store.name))
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
                "backup_retention_days": per_env(
                    "backupRetentionDays", lambda s: s.backup_retention_days
                ),
                "geo_redundant_backup": per_ha("geoRedundantBackup", "Enabled", "Disabled"),
            },
            "high_availability": {
                "mode": per_ha("highAvailabilityMode", "ZoneRedundant", "Disabled")
            },
        }

    def database(module: str, server: Code, charset: str, collation: str) -> Code:
        """The app's database on a flexible server, the server's delete lock,
        and the host and database apps connect to."""
        made = az.res(
            (var, "database"),
            f"{module}.Database",
            base,
            {
                "resource_group_name": rg,
                "server_name": Code(f"{server}.name"),
                "database_name": store.cloud_name.replace("-", "_"),
                "charset": charset,
                "collation": collation,
            },
            line,
            **moved(),
            **kept(ctx),
        )
        az.lock(var, base, server, az.deletion_protection(), line, moved())
        prog.export(out("host"), Code(f"{server}.fully_qualified_domain_name"))
        prog.export(out("database"), Code(f"{made}.name"))
        return made

    if store.engine == "postgres":
        az.use("dbforpostgresql")
        sku = per_env("sku", lambda s: _sql_sku("postgres", s))
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
                "sku": sku,
                "storage": {
                    "storage_size_gb": per_env(
                        "storageGb", lambda s: _postgres_storage(s.storage_gb)
                    ),
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
            **moved(),
            **kept(ctx),
        )
        made = database("dbforpostgresql", server, "UTF8", "en_US.utf8")
        prog.export(out("server"), Code(f"{server}.name"))
        _postgres_admin(az, store, k8s_provider, server, made, line)
        return
    if store.engine == "mysql":
        az.use("dbformysql", "keyvault")
        sku = per_env("sku", lambda s: _sql_sku("mysql", s))
        zone = az.private_zone(f"{p.name}.private.mysql.database.azure.com", vnet_id, line)
        # MySQL's Entra ID sign-in needs Microsoft Graph rights only a tenant
        # admin can grant, so its administrator keeps a password: made once
        # and kept in the state, in Key Vault (for people) and in a Secret of
        # the users namespace (for the apps' user Jobs). No app reads it: each
        # signs in as a user of its own (providers/kubernetes/database_users.py).
        made_password = database_users.emit_password(
            ctx, (var, "admin_password"), f"{base}-admin-password", line, moved("-admin-password")
        )
        password = Code(f"{made_password}.result")
        server = az.res(
            var,
            "dbformysql.Server",
            base,
            {
                "resource_group_name": rg,
                "server_name": name,
                "location": az.location,
                "version": SQL_VERSIONS["mysql"][store.version or DEFAULT_VERSIONS["mysql"]],
                "sku": sku,
                "administrator_login": "crosswalk",
                "administrator_login_password": password,
                "storage": {
                    "storage_size_gb": per_env(
                        "storageGb", lambda s: min(max(s.storage_gb, 20), 16384)
                    ),
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
            **moved(),
            **kept(ctx),
        )
        secret = az.res(
            (var, "password_secret"),
            "keyvault.Secret",
            f"{base}-password",
            {
                "resource_group_name": rg,
                "vault_name": ctx.upstream("02-managed-infra", "key_vault_name"),
                "secret_name": f"{store.cloud_name}-password",
                "properties": {
                    "value": password,
                    "content_type": "password of MySQL administrator crosswalk",
                },
                "tags": az.tags,
            },
            line,
            **moved("-password"),
        )
        database("dbformysql", server, "utf8mb4", "utf8mb4_0900_ai_ci")
        database_users.emit_admin_secret(
            ctx, k8s_provider, store, Call("pulumi.Output.secret", [password]), line
        )
        prog.export(out("admin"), Code(f"{server}.administrator_login"))
        prog.export(out("password_secret_uri"), Code(f"{secret}.properties.secret_uri"))
        return
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
                "sku": per_env("sku", _redis_sku),
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
            **moved(),
            **kept(ctx),
        )
        az.private_endpoint(var, base, "redis", cache, subnet, vnet_id, line, cloud_base, moved())
        prog.export(out("host"), Code(f"{cache}.host_name"))
        prog.export(out("name"), Code(f"{cache}.name"))
        return
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
            **moved(),
            **kept(ctx),
        )
        queue = az.res(
            (var, "queue"),
            "servicebus.Queue",
            base,
            {
                "resource_group_name": rg,
                "namespace_name": Code(f"{namespace}.name"),
                "queue_name": store.cloud_name,
                "lock_duration": "PT1M",
                "max_delivery_count": 5,
                "dead_lettering_on_message_expiration": True,
                "default_message_time_to_live": "P14D",
            },
            line,
            **moved(),
            **kept(ctx),
        )
        host = prog.assign(
            prog.name(var, "host"),
            Call("pulumi.Output.concat", [Code(f"{namespace}.name"), ".servicebus.windows.net"]),
        )
        prog.export(out("namespace"), host)
        prog.export(out("queue"), Code(f"{queue}.name"))
        prog.export(out("queue_id"), Code(f"{queue}.id"))
        return
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
        **moved(),
        **kept(ctx),
    )
    database = az.res(
        (var, "database"),
        "cosmosdb.SqlResourceSqlDatabase",
        base,
        {
            "resource_group_name": rg,
            "account_name": Code(f"{account}.name"),
            "database_name": store.cloud_name,
            "resource": {"id": store.cloud_name},
        },
        line,
        **moved(),
        **kept(ctx),
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
        **moved(),
        **kept(ctx),
    )
    az.private_endpoint(var, base, "document", account, subnet, vnet_id, line, cloud_base, moved())
    az.lock(var, base, account, az.deletion_protection(), line, moved())
    prog.export(out("endpoint"), Code(f"{account}.document_endpoint"))
    prog.export(out("account"), Code(f"{account}.name"))
    prog.export(out("account_id"), Code(f"{account}.id"))
    prog.export(out("database"), Code(f"{database}.name"))
    prog.export(out("container"), Code(f"{container}.name"))


def _postgres_admin(az: AzureProgram, store, k8s_provider: Code, server: Code, made, line) -> None:
    """The server's one Entra ID administrator: an identity that only the
    ServiceAccount of the users namespace signs in as, which the apps' user
    Jobs run as (providers/kubernetes/database_users.py). No app is an
    administrator: each signs in as a role of its own that its Job makes. One
    federated credential serves every app (an identity holds at most 20)."""
    p, prog, ctx = az.p, az.prog, az.ctx
    var = f"datastore_{var_name(store.name)}"
    base, cloud_base = f"{p.name}-{store.name}", f"{p.name}-{store.cloud_name}"

    def moved(suffix: str) -> dict:
        return moved_from(lambda n: f"{p.name}-{n}{suffix}", store)

    account = database_users.admin_service_account_name(store)
    admin = az.workload_identity(
        f"{var}_db_admin",
        f"{base}-db-admin",
        ctx.upstream("03-cluster", "oidc_issuer_url"),
        database_users.NAMESPACE,
        account,
        line,
        identity={"cloud_name": f"{cloud_base}-db-admin", **moved("-db-admin")},
        federation=moved("-db-admin-kubernetes"),
    )
    # After the database: the server takes one change at a time.
    az.res(
        (var, "admin"),
        "dbforpostgresql.Administrator",
        f"{base}-db-admin",
        {
            "resource_group_name": az.resource_group(),
            "server_name": Code(f"{server}.name"),
            "object_id": Code(f"{admin}.principal_id"),
            "principal_name": Code(f"{admin}.name"),
            "principal_type": "ServicePrincipal",
            "tenant_id": Code(f"{az.client}.tenant_id"),
        },
        line,
        depends_on=[made],
        **moved("-db-admin"),
    )
    service_account = database_users.emit_admin_service_account(
        ctx,
        k8s_provider,
        store,
        {CLIENT_ID_ANNOTATION: Code(f"{admin}.client_id")},
        {WORKLOAD_IDENTITY_LABEL: "true"},
        line,
    )
    prog.export(f"datastore_{store.name}_admin", Code(f"{admin}.name"))
    prog.export(
        f"datastore_{store.name}_admin_service_account",
        Code(f"{service_account}.metadata.name"),
    )
