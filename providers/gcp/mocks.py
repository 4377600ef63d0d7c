"""What the offline plan makes up for GCP resources and invokes: the values
Google Cloud would compute, keyed by type token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crosswalk.compiler.mock_outputs import (
    Fabrication,
    InvokeContext,
    digest,
    fake_cert,
    fake_ip,
    fake_uuid,
)
from crosswalk.compiler.mock_values import Secret, reveal
from crosswalk.providers.gcp.rules import zones_of

PACKAGES = ("gcp",)  # type-token packages whose outputs are made up here


def _gcp_container_cluster(f: Fabrication) -> dict[str, Any]:
    location = reveal(f.inputs.get("location")) or f.region
    return {
        "id": f"projects/{f.project}/locations/{location}/clusters/{f.physical_name}",
        "endpoint": fake_ip("34.120", f.urn),
        "masterAuth": {"clusterCaCertificate": fake_cert(f.urn)},
        "selfLink": f"https://container.googleapis.com/v1/projects/{f.project}/locations/{location}/clusters/{f.physical_name}",
        "location": location,
        "masterVersion": "1.31.1-gke.1000",
    }


def _gcp_service_account(f: Fabrication) -> dict[str, Any]:
    account = reveal(f.inputs.get("accountId")) or f.name
    email = f"{account}@{f.project}.iam.gserviceaccount.com"
    return {
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": f"projects/{f.project}/serviceAccounts/{email}",
        "id": f"projects/{f.project}/serviceAccounts/{email}",
        "uniqueId": str(int(f.hex(12), 16)),
    }


def _gcp_sql_instance(f: Fabrication) -> dict[str, Any]:
    region = reveal(f.inputs.get("region")) or f.region
    private = fake_ip("10.60", f.urn)
    return {
        "connectionName": f"{f.project}:{region}:{f.physical_name}",
        "privateIpAddress": private,
        "firstIpAddress": private,
        "publicIpAddress": "",
        "ipAddresses": [{"ipAddress": private, "type": "PRIVATE"}],
        "selfLink": f"https://sqladmin.googleapis.com/sql/v1beta4/projects/{f.project}/instances/{f.physical_name}",
    }


def _gcp_redis_instance(f: Fabrication) -> dict[str, Any]:
    tls = reveal(f.inputs.get("transitEncryptionMode")) == "SERVER_AUTHENTICATION"
    outputs: dict[str, Any] = {
        "host": fake_ip("10.70", f.urn),
        "port": 6378 if tls else 6379,
        "currentLocationId": f"{f.region}-a",
    }
    if reveal(f.inputs.get("authEnabled")):
        outputs["authString"] = Secret(fake_uuid(f.urn, "auth"))
    if tls:
        outputs["serverCaCerts"] = [
            {
                "cert": fake_cert(f.urn, "ca"),
                "serialNumber": f.hex(8),
                "sha1Fingerprint": f.hex(40),
            }
        ]
    return outputs


def _gcp_alloydb_cluster(f: Fabrication) -> dict[str, Any]:
    location = reveal(f.inputs.get("location")) or f.region
    cluster = reveal(f.inputs.get("clusterId")) or f.name
    return {
        "name": f"projects/{f.project}/locations/{location}/clusters/{cluster}",
        "uid": f.hex(12),
    }


def _gcp_alloydb_instance(f: Fabrication) -> dict[str, Any]:
    cluster = reveal(f.inputs.get("cluster")) or "cluster"
    instance = reveal(f.inputs.get("instanceId")) or f.name
    return {
        "name": f"{cluster}/instances/{instance}",
        "ipAddress": fake_ip("10.61", f.urn),
        "publicIpAddress": "",
        "uid": f.hex(12),
    }


def _gcp_service_identity(f: Fabrication) -> dict[str, Any]:
    service = (reveal(f.inputs.get("service")) or "service").split(".")[0]
    number = int(digest(f.project, length=10), 16)
    email = f"service-{number}@gcp-sa-{service}.iam.gserviceaccount.com"
    return {"email": email, "member": f"serviceAccount:{email}"}


def _gcp_workload_identity_pool(f: Fabrication) -> dict[str, Any]:
    pool = reveal(f.inputs.get("workloadIdentityPoolId")) or f.physical_name
    number = str(int(digest(f.project, length=10), 16))
    return {
        "name": f"projects/{number}/locations/global/workloadIdentityPools/{pool}",
        "state": "ACTIVE",
    }


def _gcp_workload_identity_pool_provider(f: Fabrication) -> dict[str, Any]:
    pool = reveal(f.inputs.get("workloadIdentityPoolId")) or "pool"
    provider = reveal(f.inputs.get("workloadIdentityPoolProviderId")) or f.physical_name
    number = str(int(digest(f.project, length=10), 16))
    return {
        "name": f"projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}",
        "state": "ACTIVE",
    }


def _gcp_kms(kind: str) -> Callable[[Fabrication], dict[str, Any]]:
    def fabricate(f: Fabrication) -> dict[str, Any]:
        if kind == "cryptoKeys":
            ring = (
                reveal(f.inputs.get("keyRing"))
                or f"projects/{f.project}/locations/{f.region}/keyRings/ring"
            )
            return {"id": f"{ring}/cryptoKeys/{f.physical_name}"}
        location = reveal(f.inputs.get("location")) or f.region
        return {"id": f"projects/{f.project}/locations/{location}/keyRings/{f.physical_name}"}

    return fabricate


def generic_outputs(f: Fabrication) -> tuple[str, dict[str, Any]]:
    """What every GCP resource has: a project-scoped id, a self link, a name."""
    ident = f"projects/{f.project}/{f.module.lower()}/{f.kind[0].lower()}{f.kind[1:]}s/{f.physical_name}"
    return ident, {
        "selfLink": f"https://www.googleapis.com/{f.module.lower()}/v1/{ident}",
        "name": f.physical_name,
    }


OUTPUT_SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


# Type token -> outputs beyond the generic defaults (inputs are echoed back over them).
RESOURCE_OUTPUTS: dict[str, Callable[[Fabrication], dict[str, Any]]] = {
    "gcp:container/cluster:Cluster": _gcp_container_cluster,
    "gcp:serviceaccount/account:Account": _gcp_service_account,
    "gcp:projects/iAMCustomRole:IAMCustomRole": lambda f: {
        "name": f"projects/{f.project}/roles/{reveal(f.inputs.get('roleId'))}",
        "id": f"projects/{f.project}/roles/{reveal(f.inputs.get('roleId'))}",
    },
    "gcp:sql/databaseInstance:DatabaseInstance": _gcp_sql_instance,
    "gcp:redis/instance:Instance": _gcp_redis_instance,
    "gcp:alloydb/cluster:Cluster": _gcp_alloydb_cluster,
    "gcp:alloydb/instance:Instance": _gcp_alloydb_instance,
    "gcp:alloydb/user:User": lambda f: {
        "name": f"{reveal(f.inputs.get('cluster'))}/users/{reveal(f.inputs.get('userId'))}"
    },
    "gcp:projects/serviceIdentity:ServiceIdentity": _gcp_service_identity,
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": _gcp_workload_identity_pool,
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": _gcp_workload_identity_pool_provider,
    "gcp:dns/managedZone:ManagedZone": lambda f: {
        "nameServers": [f"ns-cloud-a{i}.googledomains.com." for i in (1, 2, 3, 4)],
        "managedZoneId": str(int(f.hex(12), 16)),
    },
    "gcp:kms/keyRing:KeyRing": _gcp_kms("keyRings"),
    "gcp:kms/cryptoKey:CryptoKey": _gcp_kms("cryptoKeys"),
    "gcp:compute/globalAddress:GlobalAddress": lambda f: {"address": fake_ip("10.80", f.urn)},
    "gcp:artifactregistry/repository:Repository": lambda f: {
        "name": f.physical_name,
        "registryUri": f"{f.region}-docker.pkg.dev/{f.project}/{f.physical_name}",
    },
    "gcp:storage/bucket:Bucket": lambda f: {"url": f"gs://{f.physical_name}"},
}


def _zones(region: str) -> list[str]:
    """The region's zones; for a region crosswalk does not know, as many as a
    platform may ask for."""
    letters = zones_of(region) or tuple("abcdef")
    return [f"{region}-{letter}" for letter in letters]


INVOKE_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {
    "gcp:organizations/getProject:getProject": lambda c: {
        "projectId": c.args.get("projectId") or c.project,
        "number": str(int(digest(c.project, length=10), 16)),
        "name": c.project,
        "id": f"projects/{c.project}",
    },
    "gcp:organizations/getClientConfig:getClientConfig": lambda c: {
        "project": c.project,
        "region": c.region,
        "zone": f"{c.region}-a",
        "accessToken": Secret("ya29.mock-token"),
        "id": c.project,
    },
    "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount": lambda c: {
        "email": f"bq-{int(digest(c.project, length=10), 16)}@bigquery-encryption.iam.gserviceaccount.com",
        "member": f"serviceAccount:bq-{int(digest(c.project, length=10), 16)}"
        "@bigquery-encryption.iam.gserviceaccount.com",
        "project": c.project,
        "id": c.project,
    },
    "gcp:compute/getZones:getZones": lambda c: {
        "names": _zones(c.args.get("region") or c.region),
        "project": c.project,
        "region": c.args.get("region") or c.region,
        "id": c.project,
    },
}


METHOD_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {}
