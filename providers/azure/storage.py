"""Buckets on Azure (`storage.buckets`, in layer 2): one storage account of the
platform, reached through a private endpoint with Entra ID only, and a blob
container per bucket; the role an app's managed identity gets on the
containers it uses."""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.rules import STORAGE_ACCOUNT
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
    """The storage account (no shared keys, no public blobs or network access,
    TLS 1.2 over HTTPS only, encrypted with the platform's Key Vault key and
    again by the infrastructure, versioning and soft delete) and the buckets'
    containers."""
    p, prog, ctx = az.p, az.prog, az.ctx
    if not p.buckets:
        return
    az.use("storage")
    line = ctx.line(("storage", "buckets"))
    # Its own identity reads the key: made and granted before the account names it.
    identity = az.identity("storage_identity", f"{p.name}-storage", line)
    grant = az.assign_role(
        "storage_key_role",
        f"{p.name}-storage-key",
        KEY_ROLE,
        Code(f"{identity}.principal_id"),
        Code(f"{key}.id"),
        line,
        "ServicePrincipal",
    )
    account = az.res(
        "storage_account",
        "storage.StorageAccount",
        f"{p.name}-storage",
        {
            "resource_group_name": rg,
            "account_name": az.name_of(STORAGE_ACCOUNT),
            "location": az.location,
            "kind": "StorageV2",
            "sku": {"name": "Standard_ZRS" if p.network.zones > 1 else "Standard_LRS"},
            "access_tier": Code("storage.AccessTier.HOT"),
            # Workloads sign in with their identities: no account keys, no SAS.
            "allow_shared_key_access": False,
            "default_to_o_auth_authentication": True,
            "allow_blob_public_access": False,
            "allow_cross_tenant_replication": False,
            "minimum_tls_version": "TLS1_2",
            "enable_https_traffic_only": True,
            "public_network_access": "Disabled",
            "network_rule_set": {
                "default_action": Code("storage.DefaultAction.DENY"),
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
    az.lock("storage_account", f"{p.name}-storage", account, az.deletion_protection(), line)
    blobs = az.res(
        "storage_blobs",
        "storage.BlobServiceProperties",
        f"{p.name}-storage",
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
    az.private_endpoint("storage", f"{p.name}-storage", "blob", account, subnet_id, vnet_id, line)
    for bucket in p.buckets:
        container = az.res(
            ("bucket", var_name(bucket.name)),
            "storage.BlobContainer",
            f"{p.name}-{bucket.name}",
            {
                "resource_group_name": rg,
                "account_name": Code(f"{account}.name"),
                "container_name": bucket.name,
                "public_access": Code("storage.PublicAccess.NONE"),
            },
            ctx.line(bucket.path),
            depends_on=[blobs],
            **protect(ctx),
        )
        prog.export(bucket_output(bucket, "container_id"), Code(f"{container}.id"))
        prog.export(bucket_output(bucket, "name"), Code(f"{container}.name"))
    expiring = [b for b in p.buckets if b.expire_after_days is not None]
    if expiring:
        az.res(
            "storage_lifecycle",
            "storage.ManagementPolicy",
            f"{p.name}-storage",
            {
                "resource_group_name": rg,
                "account_name": Code(f"{account}.name"),
                "management_policy_name": "default",
                "policy": {"rules": [_expiry(bucket) for bucket in expiring]},
            },
            ctx.line(("storage", "buckets")),
        )
    prog.export("storage_blob_endpoint", Code(f"{account}.primary_endpoints.blob"))


def _expiry(bucket) -> dict:
    days = bucket.expire_after_days
    return {
        "name": f"expire-{bucket.name}",
        "type": "Lifecycle",
        "enabled": True,
        "definition": {
            "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{bucket.name}/"]},
            "actions": {
                "base_blob": {"delete": {"days_after_modification_greater_than": days}},
                "version": {"delete": {"days_after_creation_greater_than": days}},
            },
        },
    }


def emit_bucket_grants(az: AzureProgram, app, identity: Code, parts) -> None:
    """The app's managed identity on each container it uses, that container
    only; the app learns the container's name and the account's endpoint."""
    p, ctx = az.p, az.ctx
    if not app.buckets:
        return
    endpoint = ctx.upstream("02-managed-infra", "storage_blob_endpoint")
    for use in app.buckets:
        bucket = p.bucket(use.bucket)
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
