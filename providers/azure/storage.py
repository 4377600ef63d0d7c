"""Buckets on Azure (`storage.buckets`, in layer 2): one storage account of the
platform, reached through a private endpoint with Entra ID only, and a blob
container per bucket; the role an app's managed identity gets on the
containers it uses."""

from __future__ import annotations

from dataclasses import dataclass

from crosswalk.compiler.codegen import Code
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.rules import PUBLIC_STORAGE_ACCOUNT, STORAGE_ACCOUNT
from crosswalk.providers.common import protect

# The role Azure services take to encrypt with a Key Vault key.
KEY_ROLE = "Key Vault Crypto Service Encryption User"
# Deleted blobs, versions and containers stay recoverable this long.
SOFT_DELETE_DAYS = 7
# What an app may do with a container's blobs, by `access`.
ACCESS_ROLES = {
    "read-only": "Storage Blob Data Reader",
    "read-write": "Storage Blob Data Contributor",
}


def bucket_output(bucket, output: str) -> str:
    """The managed-infra output an app reads of a bucket: container_id, name or endpoint."""
    return f"bucket_{bucket.name.replace('-', '_')}_{output}"


def emit_buckets(az: AzureProgram, rg, vault, key, subnet_id, vnet_id) -> None:
    """The platform's storage account (no shared keys, no public blobs or
    network access, TLS 1.2 over HTTPS only, encrypted with the platform's
    Key Vault key and again by the infrastructure, versioning and soft
    delete) and the private buckets' containers; where a bucket is public, a
    second account reachable from the internet holds it."""
    p, ctx = az.p, az.ctx
    if not p.buckets:
        return
    az.use("storage")
    private = [b for b in p.buckets if not b.public]
    public = [b for b in p.buckets if b.public]
    if private:
        account = _account(
            az, rg, vault, key, "storage", f"{p.name}-storage", STORAGE_ACCOUNT, public=False
        )
        az.private_endpoint(
            "storage",
            f"{p.name}-storage",
            "blob",
            account.account,
            subnet_id,
            vnet_id,
            ctx.line(("storage", "buckets")),
        )
        _containers(az, rg, account, private)
        az.prog.export("storage_blob_endpoint", Code(f"{account.account}.primary_endpoints.blob"))
    if public:
        account = _account(
            az,
            rg,
            vault,
            key,
            "public_storage",
            f"{p.name}-public-storage",
            PUBLIC_STORAGE_ACCOUNT,
            public=True,
        )
        _containers(az, rg, account, public)
        az.prog.export(
            "public_storage_blob_endpoint", Code(f"{account.account}.primary_endpoints.blob")
        )


@dataclass(frozen=True)
class _Account:
    var: str
    name: str
    account: Code
    blobs: Code


def _account(az: AzureProgram, rg, vault, key, var: str, name: str, rule, public: bool) -> _Account:
    """A storage account for buckets, encrypted with the platform key. The
    public one differs only where it must: anonymous reads of the blobs its
    containers allow, over the internet (the service decrypts for them)."""
    p, ctx = az.p, az.ctx
    line = ctx.line(("storage", "buckets"))
    # Its own identity reads the key: made and granted before the account names it.
    identity = az.identity(f"{var}_identity", name, line)
    grant = az.assign_role(
        f"{var}_key_role",
        f"{name}-key",
        KEY_ROLE,
        Code(f"{identity}.principal_id"),
        Code(f"{key}.id"),
        line,
        "ServicePrincipal",
    )
    account = az.res(
        f"{var}_account",
        "storage.StorageAccount",
        name,
        {
            "resource_group_name": rg,
            "account_name": az.name_of(rule),
            "location": az.location,
            "kind": "StorageV2",
            "sku": {"name": "Standard_ZRS" if p.network.zones > 1 else "Standard_LRS"},
            "access_tier": Code("storage.AccessTier.HOT"),
            # Workloads sign in with their identities: no account keys, no SAS.
            "allow_shared_key_access": False,
            "default_to_o_auth_authentication": True,
            "allow_blob_public_access": public,
            "allow_cross_tenant_replication": False,
            "minimum_tls_version": "TLS1_2",
            "enable_https_traffic_only": True,
            "public_network_access": "Enabled" if public else "Disabled",
            "network_rule_set": {
                "default_action": Code(
                    "storage.DefaultAction.ALLOW" if public else "storage.DefaultAction.DENY"
                ),
                "bypass": Code("storage.Bypass.AZURE_SERVICES"),
            },
            "identity": {
                "type": "UserAssigned",
                "user_assigned_identities": [Code(f"{identity}.id")],
            },
            # The key by name, without a version: each rotation applies.
            "encryption": {
                "key_source": "Microsoft.Keyvault",
                "key_vault_properties": {
                    "key_name": Code(f"{key}.name"),
                    "key_vault_uri": Code(f"{vault}.properties.vault_uri"),
                },
                "encryption_identity": {
                    "encryption_user_assigned_identity": Code(f"{identity}.id")
                },
                "require_infrastructure_encryption": True,
                "services": {
                    "blob": {"enabled": True, "key_type": "Account"},
                    "file": {"enabled": True, "key_type": "Account"},
                },
            },
            "tags": az.tags,
        },
        line,
        depends_on=[grant],
        **protect(ctx),
    )
    az.lock(f"{var}_account", name, account, az.deletion_protection(), line)
    blobs = az.res(
        f"{var}_blobs",
        "storage.BlobServiceProperties",
        name,
        {
            "resource_group_name": rg,
            "account_name": Code(f"{account}.name"),
            "blob_services_name": "default",
            "is_versioning_enabled": True,
            "delete_retention_policy": {"enabled": True, "days": SOFT_DELETE_DAYS},
            "container_delete_retention_policy": {"enabled": True, "days": SOFT_DELETE_DAYS},
        },
        line,
    )
    return _Account(var, name, account, blobs)


def _containers(az: AzureProgram, rg, account: _Account, buckets) -> None:
    """A container per bucket, its immutability policy where it retains, and
    the account's lifecycle rules."""
    p, prog, ctx = az.p, az.prog, az.ctx
    for bucket in buckets:
        var = var_name(bucket.name)
        args = {
            "resource_group_name": rg,
            "account_name": Code(f"{account.account}.name"),
            "container_name": bucket.name,
            "public_access": Code(
                "storage.PublicAccess.BLOB" if bucket.public else "storage.PublicAccess.NONE"
            ),
        }
        if bucket.retain_days is not None:
            # Versions stay immutable (the account keeps versions); set when
            # the container is made.
            args["immutable_storage_with_versioning"] = {"enabled": True}
        container = az.res(
            ("bucket", var),
            "storage.BlobContainer",
            f"{p.name}-{bucket.name}",
            args,
            ctx.line(bucket.path),
            depends_on=[account.blobs],
            **protect(ctx),
        )
        prog.export(bucket_output(bucket, "container_id"), Code(f"{container}.id"))
        prog.export(bucket_output(bucket, "name"), Code(f"{container}.name"))
        if bucket.retain_days is not None:
            # Unlocked: the platform team may still shorten it; a lock is for good.
            az.res(
                ("bucket", var, "immutability"),
                "storage.BlobContainerImmutabilityPolicy",
                f"{p.name}-{bucket.name}",
                {
                    "resource_group_name": rg,
                    "account_name": Code(f"{account.account}.name"),
                    "container_name": Code(f"{container}.name"),
                    "immutability_policy_name": "default",
                    "immutability_period_since_creation_in_days": bucket.retain_days,
                    "allow_protected_append_writes": False,
                },
                ctx.line(bucket.path + ("retainDays",)),
            )
    rules = [rule for bucket in buckets for rule in _lifecycle_rules(bucket)]
    if rules:
        az.res(
            f"{account.var}_lifecycle",
            "storage.ManagementPolicy",
            account.name,
            {
                "resource_group_name": rg,
                "account_name": Code(f"{account.account}.name"),
                "management_policy_name": "default",
                "policy": {"rules": rules},
            },
            ctx.line(("storage", "buckets")),
        )


def _lifecycle_rules(bucket) -> list[dict]:
    def rule(kind: str, actions: dict) -> dict:
        return {
            "name": f"{kind}-{bucket.name}",
            "type": "Lifecycle",
            "enabled": True,
            "definition": {
                "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{bucket.name}/"]},
                "actions": actions,
            },
        }

    rules = []
    if bucket.expire_after_days is not None:
        days = bucket.expire_after_days
        rules.append(
            rule(
                "expire",
                {
                    "base_blob": {"delete": {"days_after_modification_greater_than": days}},
                    "version": {"delete": {"days_after_creation_greater_than": days}},
                },
            )
        )
    if bucket.cold_after_days is not None:
        days = bucket.cold_after_days
        rules.append(
            rule(
                "cold",
                {
                    "base_blob": {"tier_to_cool": {"days_after_modification_greater_than": days}},
                    "version": {"tier_to_cool": {"days_after_creation_greater_than": days}},
                },
            )
        )
    return rules


def emit_bucket_grants(az: AzureProgram, app, identity: Code, parts) -> None:
    """The app's managed identity on each container it uses, that container
    only; the app learns the container's name and the account's endpoint."""
    p, ctx = az.p, az.ctx
    if not app.buckets:
        return
    for use in app.buckets:
        bucket = p.bucket(use.bucket)
        endpoint = ctx.upstream(
            "02-managed-infra",
            "public_storage_blob_endpoint" if bucket.public else "storage_blob_endpoint",
        )
        az.assign_role(
            (f"app_{var_name(app.name)}", "bucket", var_name(bucket.name)),
            f"{app.name}-bucket-{bucket.name}",
            ACCESS_ROLES[use.access],
            Code(f"{identity}.principal_id"),
            ctx.upstream("02-managed-infra", bucket_output(bucket, "container_id")),
            ctx.line(use.path),
            "ServicePrincipal",
        )
        name = ctx.upstream("02-managed-infra", bucket_output(bucket, "name"))
        parts.env |= k8s.bucket_env(bucket.name, name, endpoint)
