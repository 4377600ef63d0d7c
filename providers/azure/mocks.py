"""What the offline plan makes up for Azure resources and invokes: the values
Azure would compute, keyed by type token."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from crosswalk.compiler.mock_outputs import (
    Fabrication,
    InvokeContext,
    fake_cert,
    fake_kubeconfig,
    fake_uuid,
)
from crosswalk.compiler.mock_values import Secret, reveal

PACKAGES = ("azure-native",)  # type-token packages whose outputs are made up here


AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


AZURE_TENANT = "11111111-1111-1111-1111-111111111111"


def _azure_managed_cluster(f: Fabrication) -> dict[str, Any]:
    prefix = reveal(f.inputs.get("dnsPrefix")) or f.physical_name
    location = reveal(f.inputs.get("location")) or f.location
    return {
        "fqdn": f"{prefix}-{f.hex(8)}.hcp.{location}.azmk8s.io",
        "oidcIssuerProfile": {
            "enabled": True,
            "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{AZURE_TENANT}/{fake_uuid(f.urn)}/",
        },
        "identity": {
            "principalId": fake_uuid(f.urn, "principal"),
            "tenantId": AZURE_TENANT,
            "type": "SystemAssigned",
        },
        "identityProfile": {
            "kubeletidentity": {
                "clientId": fake_uuid(f.urn, "kubelet-client"),
                "objectId": fake_uuid(f.urn, "kubelet-object"),
                "resourceId": f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/MC_{f.physical_name}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{f.physical_name}-agentpool",
            }
        },
        "nodeResourceGroup": f"MC_{f.physical_name}_{location}",
        "provisioningState": "Succeeded",
    }


def _azure_identity(f: Fabrication) -> dict[str, Any]:
    return {
        "clientId": fake_uuid(f.urn, "client"),
        "principalId": fake_uuid(f.urn, "principal"),
        "tenantId": AZURE_TENANT,
    }


def _system_identity(f: Fabrication) -> dict[str, Any]:
    """A resource's own (system-assigned) identity, as Azure makes it."""
    return {
        "identity": {
            "principalId": fake_uuid(f.urn, "principal"),
            "tenantId": AZURE_TENANT,
            "type": "SystemAssigned",
        }
    }


def _azure_host(template: str, **extra: Any) -> Callable[[Fabrication], dict[str, Any]]:
    key, _, pattern = template.partition("=")

    def fabricate(f: Fabrication) -> dict[str, Any]:
        return {key: pattern.format(name=f.physical_name), **extra}

    return fabricate


def _azure_kusto_cluster(f: Fabrication) -> dict[str, Any]:
    name = reveal(f.inputs.get("clusterName")) or f.physical_name
    host = f"{name}.{reveal(f.inputs.get('location'))}.kusto.windows.net"
    return {"name": name, "uri": f"https://{host}", "dataIngestionUri": f"https://ingest-{host}"}


def _azure_vault(f: Fabrication) -> dict[str, Any]:
    properties = reveal(f.inputs.get("properties")) or {}
    return {"properties": {**properties, "vaultUri": f"https://{f.physical_name}.vault.azure.net/"}}


def _azure_key(f: Fabrication) -> dict[str, Any]:
    vault = reveal(f.inputs.get("vaultName")) or "vault"
    name = reveal(f.inputs.get("keyName")) or f.physical_name
    uri = f"https://{vault}.vault.azure.net/keys/{name}"
    return {"name": name, "keyUri": uri, "keyUriWithVersion": f"{uri}/{f.hex(32)}"}


def _azure_secret(f: Fabrication) -> dict[str, Any]:
    vault = reveal(f.inputs.get("vaultName")) or "vault"
    name = reveal(f.inputs.get("secretName")) or f.physical_name
    uri = f"https://{vault}.vault.azure.net/secrets/{name}"
    properties = {k: v for k, v in (f.inputs.get("properties") or {}).items() if k != "value"}
    return {
        "name": name,
        "properties": {
            **properties,
            "secretUri": uri,
            "secretUriWithVersion": f"{uri}/{f.hex(32)}",
        },
    }


def _azure_user_assigned_identities(inputs: dict[str, Any]) -> dict[str, Any]:
    """azure-native takes user-assigned identities as a list of ids and returns a map by id."""
    identity = inputs.get("identity")
    if not isinstance(identity, dict) or not isinstance(
        identity.get("userAssignedIdentities"), list
    ):
        return inputs
    by_id = {
        str(reveal(ident)): {
            "clientId": fake_uuid(str(reveal(ident)), "client"),
            "principalId": fake_uuid(str(reveal(ident)), "principal"),
        }
        for ident in identity["userAssignedIdentities"]
    }
    return {**inputs, "identity": {**identity, "userAssignedIdentities": by_id}}


def generic_outputs(f: Fabrication) -> tuple[str, dict[str, Any]]:
    """What every Azure resource has: an ARM id in its resource group, a name, a location."""
    name = f.physical_name
    group = reveal(f.inputs.get("resourceGroupName")) or "rg"
    if f.kind == "ResourceGroup":
        name = reveal(f.inputs.get("resourceGroupName")) or name
        ident = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{name}"
    else:
        ident = (
            f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{group}/providers/"
            f"Microsoft.{f.module[:1].upper()}{f.module[1:]}/{f.kind[0].lower()}{f.kind[1:]}s/{name}"
        )
    return ident, {"name": name, "location": f.location, "provisioningState": "Succeeded"}


def _azure_storage_account(f: Fabrication) -> dict[str, Any]:
    account = reveal(f.inputs.get("accountName")) or f.physical_name
    return {
        "name": account,
        "primaryEndpoints": {
            "blob": f"https://{account}.blob.core.windows.net/",
            "dfs": f"https://{account}.dfs.core.windows.net/",
        },
    }


def _named_by(key: str) -> Callable[[Fabrication], dict[str, Any]]:
    """A resource whose name in Azure is its `key` input."""
    return lambda f: {"name": reveal(f.inputs.get(key)) or f.physical_name}


OUTPUT_SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "azure-native:containerservice:ManagedCluster": _azure_user_assigned_identities,
    "azure-native:kusto:Cluster": _azure_user_assigned_identities,
    "azure-native:storage:StorageAccount": _azure_user_assigned_identities,
}


# Type token -> outputs beyond the generic defaults (inputs are echoed back over them).
RESOURCE_OUTPUTS: dict[str, Callable[[Fabrication], dict[str, Any]]] = {
    "azure-native:containerservice:ManagedCluster": _azure_managed_cluster,
    "azure-native:managedidentity:UserAssignedIdentity": _azure_identity,
    "azure-native:compute:DiskEncryptionSet": _system_identity,
    "azure-native:compute:VirtualMachine": _system_identity,
    "azure-native:dbforpostgresql:Server": _azure_host(
        "fullyQualifiedDomainName={name}.postgres.database.azure.com"
    ),
    "azure-native:cache:Redis": _azure_host(
        "hostName={name}.redis.cache.windows.net", sslPort=6380, port=6379
    ),
    "azure-native:servicebus:Namespace": _azure_host(
        "serviceBusEndpoint=https://{name}.servicebus.windows.net:443/"
    ),
    "azure-native:containerregistry:Registry": _azure_host("loginServer={name}.azurecr.io"),
    "azure-native:keyvault:Vault": _azure_vault,
    "azure-native:kusto:Cluster": _azure_kusto_cluster,
    "azure-native:keyvault:Key": _azure_key,
    "azure-native:keyvault:Secret": _azure_secret,
    "azure-native:redis:Redis": _azure_host(
        "hostName={name}.redis.cache.windows.net", sslPort=6380, port=6379
    ),
    "azure-native:dbformysql:Server": _azure_host(
        "fullyQualifiedDomainName={name}.mysql.database.azure.com"
    ),
    "azure-native:cosmosdb:DatabaseAccount": _azure_host(
        "documentEndpoint=https://{name}.documents.azure.com:443/"
    ),
    "azure-native:storage:StorageAccount": _azure_storage_account,
    "azure-native:storage:BlobContainer": _named_by("containerName"),
    "azure-native:dns:Zone": lambda f: {
        "nameServers": [f"ns{i}-0{i}.azure-dns.com." for i in (1, 2, 3, 4)]
    },
}


def _key_version(c: InvokeContext) -> dict[str, Any]:
    """A key's current version, as the key's own made-up outputs name it."""
    vault, name = str(c.args.get("vaultName", "vault")), str(c.args.get("keyName", "key"))
    uri = f"https://{vault}.vault.azure.net/keys/{name}"
    return {"name": name, "keyUri": uri, "keyUriWithVersion": f"{uri}/{'0' * 32}"}


def _aks_credentials(c: InvokeContext) -> dict[str, Any]:
    name = str(c.args.get("resourceName", "cluster"))
    config = fake_kubeconfig(
        name,
        f"https://{name}.hcp.{c.location}.azmk8s.io:443",
        fake_cert(name),
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin"}},
    )
    encoded = base64.b64encode(json.dumps(config, sort_keys=True).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": Secret(encoded)}]}


INVOKE_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {
    "azure-native:authorization:getClientConfig": lambda c: {
        "clientId": fake_uuid("client"),
        "objectId": fake_uuid("object"),
        "subscriptionId": AZURE_SUBSCRIPTION,
        "tenantId": AZURE_TENANT,
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": _aks_credentials,
    "azure-native:keyvault:getKey": _key_version,
    "azure-native:containerservice:listManagedClusterAdminCredentials": _aks_credentials,
}


METHOD_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {}
