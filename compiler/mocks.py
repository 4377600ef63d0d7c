"""Run one emitted Pulumi program in-process under the SDK's mock runtime and record it.

This is the engine half of `crosswalk plan --offline`: no Pulumi CLI, no provider plugins, no
cloud. The program runs the way the language host runs it (`run_in_stack` around
`runpy.run_path`), with the real provider SDKs, against `RecordingMonitor`, a subclass of the
SDK's `MockMonitor` that records every request exactly as the engine would receive it (type,
name, parent, provider, dependencies, property dependencies, inputs) and answers it with
outputs made up from tables by type token (`RESOURCE_OUTPUTS`, `INVOKE_RESULTS`,
`METHOD_RESULTS`) plus generic defaults.

Why not the stock `pulumi.runtime.set_mocks`: it never shows parents, providers or
dependencies to the mocks, has no `Call`, hangs when an input is a resource reference (it
rehydrates the resource on an executor thread whose event loop never runs) and finishes the
root stack at once, so exports never arrive (see notes/pulumi-without-cli.md). The price is that
this module touches SDK internals; they are pinned to `PINNED_PULUMI` and
`check_sdk()` says loudly what moved when an upgrade breaks them.

Nothing here imports crosswalk or knows about platform.yaml: `plan.py` owns the tree.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import gc
import hashlib
import json
import os
import runpy
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

PINNED_PULUMI = "3.272.0"

ACCOUNT_ID = "123456789012"
AZURE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
AZURE_TENANT = "11111111-1111-1111-1111-111111111111"

# Wire signatures (sdk/go/common/resource/properties.go); the SDK keeps them in runtime.rpc.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


# --------------------------------------------------------------------------------------------
# Values: what a request carried, decoded without rehydrating anything.


@dataclass(frozen=True)
class Secret:
    """A value the program marked secret. Renderers show `SECRET_MASK`, never the value."""

    value: Any

    def __repr__(self) -> str:  # keep secrets out of logs and test failure output
        return "Secret(***)"


class _Unknown:
    """An output whose value the mock runtime never knew (rare outside previews)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
SECRET_MASK = "[secret]"
UNKNOWN_MASK = "[unknown]"


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def decode_struct(struct: Any) -> dict[str, Any]:
    """Decode a protobuf Struct from a request into plain Python.

    Resource references become their URN strings (never rehydrated: that is the stock
    monitor's hang), secrets become `Secret`, unknowns `UNKNOWN`, integral numbers ints (the wire
    has only doubles), and keys whose value is null are dropped, as the SDK does.
    """
    decoded = decode_value(struct)
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def decode_value(value: Any) -> Any:
    from google.protobuf import struct_pb2

    if isinstance(value, struct_pb2.Value):
        kind = value.WhichOneof("kind")
        if kind is None or kind == "null_value":
            return None
        value = getattr(value, kind)
    if isinstance(value, struct_pb2.Struct):
        signature = value.fields.get(_SIG_KEY)
        if signature is not None:
            return _decode_special(signature.string_value, value)
        out = {}
        for key in value.fields:
            item = decode_value(value.fields[key])
            if item is not None:
                out[key] = item
        return out
    if isinstance(value, struct_pb2.ListValue):
        return [decode_value(item) for item in value.values]
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return _number(value)
    if value == _UNKNOWN_WIRE:
        return UNKNOWN
    return value


def _decode_special(signature: str, struct: Any) -> Any:
    fields = struct.fields
    if signature == _SECRET_SIG:
        return Secret(decode_value(fields["value"]) if "value" in fields else None)
    if signature == _RESOURCE_SIG:
        return fields["urn"].string_value
    if signature == _OUTPUT_SIG:
        inner = decode_value(fields["value"]) if "value" in fields else UNKNOWN
        secret = "secret" in fields and fields["secret"].bool_value
        return Secret(inner) if secret else inner
    if signature == _ASSET_SIG:
        return {"asset": {k: decode_value(fields[k]) for k in fields if k != _SIG_KEY}}
    if signature == _ARCHIVE_SIG:
        return {"archive": {k: decode_value(fields[k]) for k in fields if k != _SIG_KEY}}
    raise ValueError(f"unrecognised property signature {signature!r} in a request")


def encode_value(value: Any) -> Any:
    """The inverse of `decode_value`, as plain JSON-like data ready for `Struct.update`."""
    if isinstance(value, Secret):
        return {_SIG_KEY: _SECRET_SIG, "value": encode_value(value.value)}
    if value is UNKNOWN:
        return _UNKNOWN_WIRE
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    return value


def encode_struct(values: Mapping[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    struct = struct_pb2.Struct()
    struct.update(encode_value(dict(values)))
    return struct


def reveal(value: Any) -> Any:
    """`value` with every `Secret` unwrapped (for the mock's own use, never for display)."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def mask(value: Any, *, secret: bool = False) -> Any:
    """`value` with every secret scalar replaced by `SECRET_MASK`: safe to print or write.

    A secret mapping or list keeps its shape (keys are not secret, and the SDK marks a whole
    `stringData` secret when one entry is), so a masked Kubernetes Secret is still well formed.
    """
    if isinstance(value, Secret):
        return mask(value.value, secret=True)
    if value is UNKNOWN:
        return UNKNOWN_MASK
    if isinstance(value, dict):
        return {k: mask(v, secret=secret) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secret=secret) for v in value]
    return SECRET_MASK if secret else value


def contains_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


# --------------------------------------------------------------------------------------------
# What a run produces.


@dataclass
class ResourceRecord:
    """One resource as the engine would have seen it."""

    urn: str
    type: str
    name: str
    operation: str  # "register" or "read"
    custom: bool
    remote: bool
    id: str | None
    parent: str | None
    provider: str | None  # the provider's URN
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict[str, Any]  # may hold Secret / UNKNOWN values: use mask() before display
    outputs: dict[str, Any] = field(repr=False, default_factory=dict)
    source_line: int | None = None  # line in the program's __main__.py that created it
    origin: str | None = None  # set by the caller, e.g. "platform.yaml:41"


@dataclass
class ProgramRun:
    """The outcome of running one program: its records, exports and, if it failed, why."""

    project: str
    stack: str
    resources: list[ResourceRecord]
    exports: dict[str, Any]  # may hold Secret values
    logs: list[tuple[str, str]]  # (severity, message)
    error: BaseException | None
    error_line: int | None  # line in __main__.py the failure points at
    error_detail: str | None  # what the program was doing, when the error itself does not say
    error_traceback: str | None  # the formatted traceback, for debugging crosswalk itself
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


class MockError(Exception):
    """A request the mocks cannot answer, or that failed, with the program line that made it."""

    def __init__(self, message: str, source_line: int | None = None):
        super().__init__(message)
        self.source_line = source_line


class UnknownInvokeError(MockError):
    """An invoke or method call with no entry in the mock tables."""


# --------------------------------------------------------------------------------------------
# Made-up outputs.


def _digest(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def _fake_uuid(*parts: str) -> str:
    return str(uuid.UUID(hex=_digest(*parts, length=32)))


def _fake_ip(prefix: str, *parts: str) -> str:
    raw = bytes.fromhex(_digest(*parts, length=4))
    return f"{prefix}.{raw[0] % 250 + 1}.{raw[1] % 250 + 1}"


def _fake_cert(*parts: str) -> str:
    body = f"-----BEGIN CERTIFICATE-----\nMOCK{_digest(*parts, length=48)}\n-----END CERTIFICATE-----\n"
    return base64.b64encode(body.encode()).decode()


@dataclass
class Fabrication:
    """What a fabricator knows about the resource it makes outputs for."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    region: str
    project: str  # GCP project
    location: str  # Azure location

    @property
    def module(self) -> str:
        parts = self.type.split(":")
        return parts[1].split("/")[0] if len(parts) > 1 else ""

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def physical_name(self) -> str:
        """The name the cloud would show: an explicit `name` input, else the resource name."""
        value = reveal(self.inputs.get("name"))
        return value if isinstance(value, str) and value else self.name

    def hex(self, length: int = 17) -> str:
        return _digest(self.urn, length=length)

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource}"


def _kubeconfig(name: str, endpoint: str, ca: str, user: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": user}],
        "preferences": {},
    }


def _eks_user(cluster_name: str, region: str) -> dict[str, Any]:
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
        }
    }


def _eks_endpoint(f: Fabrication) -> str:
    return f"https://{f.hex(32).upper()}.gr7.{f.region}.eks.amazonaws.com"


def _aws_eks_cluster(f: Fabrication) -> dict[str, Any]:
    oidc = f"https://oidc.eks.{f.region}.amazonaws.com/id/{f.hex(32).upper()}"
    return {
        "arn": f.arn("eks", f"cluster/{f.physical_name}"),
        "endpoint": _eks_endpoint(f),
        "certificateAuthority": {"data": _fake_cert(f.urn)},
        "identities": [{"oidcs": [{"issuer": oidc}]}],
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "version": "1.31",
        "vpcConfig": {"clusterSecurityGroupId": f"sg-{f.hex()}", "vpcId": f"vpc-{f.hex()}"},
    }


def _eks_component_cluster(f: Fabrication) -> dict[str, Any]:
    name = f.physical_name
    endpoint = _eks_endpoint(f)
    kubeconfig = _kubeconfig(name, endpoint, _fake_cert(f.urn), _eks_user(name, f.region))
    oidc_url = f"oidc.eks.{f.region}.amazonaws.com/id/{f.hex(32).upper()}"
    return {
        "kubeconfig": kubeconfig,
        "kubeconfigJson": json.dumps(kubeconfig, sort_keys=True),
        "oidcIssuer": oidc_url,
        "oidcProviderUrl": oidc_url,
        "oidcProviderArn": f.arn("iam", f"oidc-provider/{oidc_url}", regional=False),
        "clusterSecurityGroupId": f"sg-{f.hex()}",
        "nodeSecurityGroupId": f"sg-{_digest(f.urn, 'nodes', length=17)}",
        "defaultNodeGroupAsgName": f"{name}-default",
    }


def _aws_rds_instance(f: Fabrication) -> dict[str, Any]:
    engine = str(reveal(f.inputs.get("engine", "postgres")))
    port = f.inputs.get("port") or (3306 if "mysql" in engine or "maria" in engine else 5432)
    address = f"{f.physical_name}.c{f.hex(12)}.{f.region}.rds.amazonaws.com"
    identifier = reveal(f.inputs.get("identifier")) or f.physical_name
    return {
        "identifier": identifier,
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
        "arn": f.arn("rds", f"db:{identifier}"),
        "resourceId": f"db-{f.hex(26).upper()}",
        "status": "available",
        "masterUserSecrets": [
            {
                "secretArn": f.arn("secretsmanager", f"secret:rds!db-{f.hex(8)}-{f.hex(6)}"),
                "kmsKeyId": f.arn("kms", f"key/{_fake_uuid(f.urn, 'kms')}"),
                "secretStatus": "active",
            }
        ],
    }


def _aws_rds_cluster(f: Fabrication) -> dict[str, Any]:
    outputs = _aws_rds_instance(f)
    host = f"{f.physical_name}.cluster-c{f.hex(12)}.{f.region}.rds.amazonaws.com"
    outputs.update(
        endpoint=host,
        readerEndpoint=host.replace(".cluster-", ".cluster-ro-"),
        arn=f.arn("rds", f"cluster:{f.physical_name}"),
        clusterIdentifier=reveal(f.inputs.get("clusterIdentifier")) or f.physical_name,
    )
    return outputs


def _region_code(region: str) -> str:
    """`us-west-2` -> `usw2`, as AWS abbreviates regions in hostnames and zone ids."""
    parts = region.split("-")
    return parts[0] + "".join(p[0] for p in parts[1:-1]) + parts[-1] if len(parts) > 2 else region


def _aws_elasticache_replication_group(f: Fabrication) -> dict[str, Any]:
    group = reveal(f.inputs.get("replicationGroupId")) or f.physical_name
    host = f"{group}.{f.hex(6)}.ng.0001.{_region_code(f.region)}.cache.amazonaws.com"
    return {
        "replicationGroupId": group,
        "primaryEndpointAddress": f"master.{host}",
        "readerEndpointAddress": f"replica.{host}",
        "port": f.inputs.get("port") or 6379,
        "arn": f.arn("elasticache", f"replicationgroup:{group}"),
        "memberClusters": [f"{group}-001"],
    }


def _aws_sqs_queue(f: Fabrication) -> dict[str, Any]:
    name = f.physical_name
    if f.inputs.get("fifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    url = f"https://sqs.{f.region}.amazonaws.com/{ACCOUNT_ID}/{name}"
    return {"name": name, "url": url, "id": url, "arn": f.arn("sqs", name)}


def _aws_s3_bucket(f: Fabrication) -> dict[str, Any]:
    bucket = reveal(f.inputs.get("bucket")) or f.physical_name
    return {
        "bucket": bucket,
        "id": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{f.region}.amazonaws.com",
        "region": f.region,
    }


def _aws_iam_oidc_provider(f: Fabrication) -> dict[str, Any]:
    url = str(reveal(f.inputs.get("url", f.name))).removeprefix("https://")
    return {"arn": f.arn("iam", f"oidc-provider/{url}", regional=False)}


def _aws_iam(kind: str) -> Callable[[Fabrication], dict[str, Any]]:
    def fabricate(f: Fabrication) -> dict[str, Any]:
        path = str(reveal(f.inputs.get("path", "/")) or "/")
        return {
            "arn": f.arn("iam", f"{kind}{path}{f.physical_name}", regional=False),
            "uniqueId": f"AROA{f.hex(17).upper()}",
        }

    return fabricate


def _aws_ecr_repository(f: Fabrication) -> dict[str, Any]:
    return {
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{f.region}.amazonaws.com/{f.physical_name}",
        "registryId": ACCOUNT_ID,
        "arn": f.arn("ecr", f"repository/{f.physical_name}"),
    }


def _aws_kms_key(f: Fabrication) -> dict[str, Any]:
    key_id = _fake_uuid(f.urn)
    return {"id": key_id, "keyId": key_id, "arn": f.arn("kms", f"key/{key_id}")}


def _aws_route53_zone(f: Fabrication) -> dict[str, Any]:
    zone = f"Z{f.hex(20).upper()}"
    return {
        "id": zone,
        "zoneId": zone,
        "arn": f"arn:aws:route53:::hostedzone/{zone}",
        "nameServers": [f"ns-{i}.awsdns-{i:02d}.net" for i in (1, 2, 3, 4)],
    }


def _aws_acm_certificate(f: Fabrication) -> dict[str, Any]:
    domain = str(reveal(f.inputs.get("domainName", f.name)))
    return {
        "arn": f.arn("acm", f"certificate/{_fake_uuid(f.urn)}"),
        "status": "ISSUED",
        "domainValidationOptions": [
            {
                "domainName": domain,
                "resourceRecordName": f"_{f.hex(32)}.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{f.hex(32)}.acm-validations.aws.",
            }
        ],
    }


def _aws_eks_node_group(f: Fabrication) -> dict[str, Any]:
    cluster = str(reveal(f.inputs.get("clusterName", "cluster")))
    name = reveal(f.inputs.get("nodeGroupName")) or f.physical_name
    return {
        "nodeGroupName": name,
        "arn": f.arn("eks", f"nodegroup/{cluster}/{name}/{_fake_uuid(f.urn)}"),
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{name}-{f.hex(8)}"}]}],
    }


def _aws_secret(f: Fabrication) -> dict[str, Any]:
    arn = f.arn("secretsmanager", f"secret:{f.physical_name}-{f.hex(6)}")
    return {"arn": arn, "id": arn}


def _aws_id(prefix: str) -> Callable[[Fabrication], dict[str, Any]]:
    def fabricate(f: Fabrication) -> dict[str, Any]:
        ident = f"{prefix}-{f.hex()}"
        out = {"id": ident, "arn": f.arn("ec2", f"{prefix}/{ident}")}
        if prefix == "vpc":
            out.update(
                defaultSecurityGroupId=f"sg-{_digest(f.urn, 'sg', length=17)}",
                mainRouteTableId=f"rtb-{_digest(f.urn, 'rtb', length=17)}",
                defaultNetworkAclId=f"acl-{_digest(f.urn, 'acl', length=17)}",
            )
        if prefix == "eipalloc":
            out.update(publicIp=_fake_ip("52.10", f.urn), allocationId=ident)
        if prefix == "subnet" and "availabilityZone" not in f.inputs:
            out["availabilityZone"] = f"{f.region}a"
        return out

    return fabricate


def _kubernetes_object(f: Fabrication) -> dict[str, Any]:
    metadata = reveal(f.inputs.get("metadata")) or {}
    out: dict[str, Any] = {
        "metadata": {
            "name": metadata.get("name") or f.name,
            "uid": _fake_uuid(f.urn),
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": "2024-01-01T00:00:00Z",
        }
    }
    spec = reveal(f.inputs.get("spec")) or {}
    if f.kind == "Service":
        out["spec"] = {"clusterIP": _fake_ip("10.100", f.urn)}
        if spec.get("type") == "LoadBalancer":
            host = f"{f.hex(32)}.elb.{f.region}.amazonaws.com"
            out["status"] = {
                "loadBalancer": {"ingress": [{"hostname": host, "ip": _fake_ip("52.20", f.urn)}]}
            }
    elif f.kind == "Ingress":
        host = f"{f.hex(32)}.elb.{f.region}.amazonaws.com"
        out["status"] = {"loadBalancer": {"ingress": [{"hostname": host}]}}
    elif f.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = spec.get("replicas", 1)
        out["status"] = {
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
    elif f.kind == "Namespace":
        out["status"] = {"phase": "Active"}
    return out


def _helm_release(f: Fabrication) -> dict[str, Any]:
    name = f.physical_name
    return {
        "name": name,
        "status": {
            "name": name,
            "namespace": reveal(f.inputs.get("namespace")) or "default",
            "chart": reveal(f.inputs.get("chart")),
            "version": reveal(f.inputs.get("version")) or "0.0.0",
            "appVersion": reveal(f.inputs.get("version")) or "0.0.0",
            "revision": 1,
            "status": "deployed",
        },
    }


def _gcp_container_cluster(f: Fabrication) -> dict[str, Any]:
    location = reveal(f.inputs.get("location")) or f.region
    return {
        "id": f"projects/{f.project}/locations/{location}/clusters/{f.physical_name}",
        "endpoint": _fake_ip("34.120", f.urn),
        "masterAuth": {"clusterCaCertificate": _fake_cert(f.urn)},
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
    private = _fake_ip("10.60", f.urn)
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
        "host": _fake_ip("10.70", f.urn),
        "port": 6378 if tls else 6379,
        "currentLocationId": f"{f.region}-a",
    }
    if reveal(f.inputs.get("authEnabled")):
        outputs["authString"] = Secret(_fake_uuid(f.urn, "auth"))
    if tls:
        outputs["serverCaCerts"] = [
            {
                "cert": _fake_cert(f.urn, "ca"),
                "serialNumber": f.hex(8),
                "sha1Fingerprint": f.hex(40),
            }
        ]
    return outputs


def _gcp_workload_identity_pool(f: Fabrication) -> dict[str, Any]:
    pool = reveal(f.inputs.get("workloadIdentityPoolId")) or f.physical_name
    number = str(int(_digest(f.project, length=10), 16))
    return {
        "name": f"projects/{number}/locations/global/workloadIdentityPools/{pool}",
        "state": "ACTIVE",
    }


def _gcp_workload_identity_pool_provider(f: Fabrication) -> dict[str, Any]:
    pool = reveal(f.inputs.get("workloadIdentityPoolId")) or "pool"
    provider = reveal(f.inputs.get("workloadIdentityPoolProviderId")) or f.physical_name
    number = str(int(_digest(f.project, length=10), 16))
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


def _azure_managed_cluster(f: Fabrication) -> dict[str, Any]:
    prefix = reveal(f.inputs.get("dnsPrefix")) or f.physical_name
    location = reveal(f.inputs.get("location")) or f.location
    return {
        "fqdn": f"{prefix}-{f.hex(8)}.hcp.{location}.azmk8s.io",
        "oidcIssuerProfile": {
            "enabled": True,
            "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{AZURE_TENANT}/{_fake_uuid(f.urn)}/",
        },
        "identity": {
            "principalId": _fake_uuid(f.urn, "principal"),
            "tenantId": AZURE_TENANT,
            "type": "SystemAssigned",
        },
        "identityProfile": {
            "kubeletidentity": {
                "clientId": _fake_uuid(f.urn, "kubelet-client"),
                "objectId": _fake_uuid(f.urn, "kubelet-object"),
                "resourceId": f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/MC_{f.physical_name}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{f.physical_name}-agentpool",
            }
        },
        "nodeResourceGroup": f"MC_{f.physical_name}_{location}",
        "provisioningState": "Succeeded",
    }


def _azure_identity(f: Fabrication) -> dict[str, Any]:
    return {
        "clientId": _fake_uuid(f.urn, "client"),
        "principalId": _fake_uuid(f.urn, "principal"),
        "tenantId": AZURE_TENANT,
    }


def _azure_host(template: str, **extra: Any) -> Callable[[Fabrication], dict[str, Any]]:
    key, _, pattern = template.partition("=")

    def fabricate(f: Fabrication) -> dict[str, Any]:
        return {key: pattern.format(name=f.physical_name), **extra}

    return fabricate


def _azure_vault(f: Fabrication) -> dict[str, Any]:
    properties = reveal(f.inputs.get("properties")) or {}
    return {"properties": {**properties, "vaultUri": f"https://{f.physical_name}.vault.azure.net/"}}


def _azure_key(f: Fabrication) -> dict[str, Any]:
    vault = reveal(f.inputs.get("vaultName")) or "vault"
    name = reveal(f.inputs.get("keyName")) or f.physical_name
    uri = f"https://{vault}.vault.azure.net/keys/{name}"
    return {"keyUri": uri, "keyUriWithVersion": f"{uri}/{f.hex(32)}"}


def _azure_secret(f: Fabrication) -> dict[str, Any]:
    vault = reveal(f.inputs.get("vaultName")) or "vault"
    name = reveal(f.inputs.get("secretName")) or f.physical_name
    uri = f"https://{vault}.vault.azure.net/secrets/{name}"
    properties = {k: v for k, v in (f.inputs.get("properties") or {}).items() if k != "value"}
    return {
        "properties": {**properties, "secretUri": uri, "secretUriWithVersion": f"{uri}/{f.hex(32)}"}
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
            "clientId": _fake_uuid(str(reveal(ident)), "client"),
            "principalId": _fake_uuid(str(reveal(ident)), "principal"),
        }
        for ident in identity["userAssignedIdentities"]
    }
    return {**inputs, "identity": {**identity, "userAssignedIdentities": by_id}}


def _outputs(**values: Any) -> Callable[[Fabrication], dict[str, Any]]:
    return lambda f: dict(values)


# Type token -> how the provider reshapes an input in its outputs (applied before inputs are echoed).
OUTPUT_SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "azure-native:containerservice:ManagedCluster": _azure_user_assigned_identities,
}

# Type token -> outputs beyond the generic defaults. Inputs always win over these (they are
# echoed back), so a fabricator only fills in what the cloud would compute.
RESOURCE_OUTPUTS: dict[str, Callable[[Fabrication], dict[str, Any]]] = {
    # AWS
    "aws:eks/cluster:Cluster": _aws_eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _aws_eks_node_group,
    "aws:eks/addon:Addon": _outputs(status="ACTIVE"),
    "aws:eks/accessEntry:AccessEntry": _outputs(),
    "aws:rds/instance:Instance": _aws_rds_instance,
    "aws:rds/cluster:Cluster": _aws_rds_cluster,
    "aws:elasticache/replicationGroup:ReplicationGroup": _aws_elasticache_replication_group,
    "aws:sqs/queue:Queue": _aws_sqs_queue,
    "aws:s3/bucket:Bucket": _aws_s3_bucket,
    "aws:s3/bucketV2:BucketV2": _aws_s3_bucket,
    "aws:iam/role:Role": _aws_iam("role"),
    "aws:iam/policy:Policy": _aws_iam("policy"),
    "aws:iam/user:User": _aws_iam("user"),
    "aws:iam/instanceProfile:InstanceProfile": _aws_iam("instance-profile"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _aws_iam_oidc_provider,
    "aws:ecr/repository:Repository": _aws_ecr_repository,
    "aws:kms/key:Key": _aws_kms_key,
    "aws:route53/zone:Zone": _aws_route53_zone,
    "aws:acm/certificate:Certificate": _aws_acm_certificate,
    "aws:secretsmanager/secret:Secret": _aws_secret,
    "aws:ec2/vpc:Vpc": _aws_id("vpc"),
    "aws:ec2/subnet:Subnet": _aws_id("subnet"),
    "aws:ec2/securityGroup:SecurityGroup": _aws_id("sg"),
    "aws:ec2/internetGateway:InternetGateway": _aws_id("igw"),
    "aws:ec2/natGateway:NatGateway": _aws_id("nat"),
    "aws:ec2/eip:Eip": _aws_id("eipalloc"),
    "aws:ec2/routeTable:RouteTable": _aws_id("rtb"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _aws_id("vpce"),
    "aws:ec2/launchTemplate:LaunchTemplate": _aws_id("lt"),
    "aws:cloudwatch/logGroup:LogGroup": lambda f: {
        "arn": f.arn("logs", f"log-group:{f.physical_name}")
    },
    # pulumi-eks remote components: one opaque record each, so their outputs must be whole.
    "eks:index:Cluster": _eks_component_cluster,
    "eks:index:ManagedNodeGroup": _outputs(),
    "eks:index:NodeGroupV2": _outputs(),
    # GCP
    "gcp:container/cluster:Cluster": _gcp_container_cluster,
    "gcp:serviceaccount/account:Account": _gcp_service_account,
    "gcp:sql/databaseInstance:DatabaseInstance": _gcp_sql_instance,
    "gcp:redis/instance:Instance": _gcp_redis_instance,
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": _gcp_workload_identity_pool,
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": _gcp_workload_identity_pool_provider,
    "gcp:dns/managedZone:ManagedZone": lambda f: {
        "nameServers": [f"ns-cloud-a{i}.googledomains.com." for i in (1, 2, 3, 4)],
        "managedZoneId": str(int(f.hex(12), 16)),
    },
    "gcp:kms/keyRing:KeyRing": _gcp_kms("keyRings"),
    "gcp:kms/cryptoKey:CryptoKey": _gcp_kms("cryptoKeys"),
    "gcp:compute/globalAddress:GlobalAddress": lambda f: {"address": _fake_ip("10.80", f.urn)},
    "gcp:artifactregistry/repository:Repository": lambda f: {
        "name": f.physical_name,
        "registryUri": f"{f.region}-docker.pkg.dev/{f.project}/{f.physical_name}",
    },
    "gcp:storage/bucket:Bucket": lambda f: {"url": f"gs://{f.physical_name}"},
    # Azure
    "azure-native:containerservice:ManagedCluster": _azure_managed_cluster,
    "azure-native:managedidentity:UserAssignedIdentity": _azure_identity,
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
    "azure-native:dns:Zone": lambda f: {
        "nameServers": [f"ns{i}-0{i}.azure-dns.com." for i in (1, 2, 3, 4)]
    },
    # Kubernetes
    "kubernetes:helm.sh/v3:Release": _helm_release,
    "kubernetes:helm.sh/v4:Chart": _outputs(resources=[]),
    "kubernetes:yaml/v2:ConfigFile": _outputs(resources=[]),
    "kubernetes:yaml/v2:ConfigGroup": _outputs(resources=[]),
    "kubernetes:kustomize/v2:Directory": _outputs(resources=[]),
}


def _generic_outputs(f: Fabrication) -> tuple[str, dict[str, Any]]:
    """Defaults for every resource: an id, a name, and the cloud's usual identifiers."""
    package = f.type.split(":", 1)[0]
    name = f.physical_name
    out: dict[str, Any] = {}
    ident = name
    if package == "aws":
        out["arn"] = f.arn(f.module.lower(), f"{f.kind.lower()}/{name}")
        if "tags" in f.inputs:
            out["tagsAll"] = f.inputs["tags"]
        out["name"] = name
    elif package == "gcp":
        ident = f"projects/{f.project}/{f.module.lower()}/{f.kind[0].lower()}{f.kind[1:]}s/{name}"
        out["selfLink"] = f"https://www.googleapis.com/{f.module.lower()}/v1/{ident}"
        out["name"] = name
    elif package == "azure-native":
        group = reveal(f.inputs.get("resourceGroupName")) or "rg"
        if f.kind == "ResourceGroup":
            name = reveal(f.inputs.get("resourceGroupName")) or name
            ident = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{name}"
        else:
            ident = (
                f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{group}/providers/"
                f"Microsoft.{f.module[:1].upper()}{f.module[1:]}/{f.kind[0].lower()}{f.kind[1:]}s/{name}"
            )
        out.update(name=name, location=f.location, provisioningState="Succeeded")
    elif package == "kubernetes":
        out.update(_kubernetes_object(f))
        metadata = out["metadata"]
        namespace = (reveal(f.inputs.get("metadata")) or {}).get("namespace")
        ident = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
    elif package == "pulumi" and f.type.startswith("pulumi:providers:"):
        ident = _fake_uuid(f.urn)
    else:
        out["name"] = name
    out["id"] = ident
    return ident, out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` updated with `over`, recursively for nested mappings; `over` wins."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------------------------
# Made-up invoke and method results (camelCase keys, as the provider would answer).


@dataclass
class InvokeContext:
    token: str
    args: dict[str, Any]
    region: str
    project: str
    location: str
    monitor: Any  # the RecordingMonitor answering the request


def _policy_document(c: InvokeContext) -> dict[str, Any]:
    def principals(items: list[dict[str, Any]]) -> dict[str, Any]:
        grouped: dict[str, list[str]] = {}
        for item in items:
            grouped.setdefault(item["type"], []).extend(item.get("identifiers", []))
        return {k: v[0] if len(v) == 1 else v for k, v in grouped.items()}

    statements = []
    for raw in reveal(c.args.get("statements", [])):
        statement: dict[str, Any] = {}
        if "sid" in raw:
            statement["Sid"] = raw["sid"]
        statement["Effect"] = raw.get("effect", "Allow")
        for key, name in (("actions", "Action"), ("notActions", "NotAction")):
            if key in raw:
                statement[name] = raw[key][0] if len(raw[key]) == 1 else raw[key]
        for key, name in (("resources", "Resource"), ("notResources", "NotResource")):
            if key in raw:
                statement[name] = raw[key][0] if len(raw[key]) == 1 else raw[key]
        if "principals" in raw:
            statement["Principal"] = principals(raw["principals"])
        if "notPrincipals" in raw:
            statement["NotPrincipal"] = principals(raw["notPrincipals"])
        conditions: dict[str, dict[str, Any]] = {}
        for cond in raw.get("conditions", []):
            values = cond.get("values", [])
            conditions.setdefault(cond["test"], {})[cond["variable"]] = (
                values[0] if len(values) == 1 else values
            )
        if conditions:
            statement["Condition"] = conditions
        statements.append(statement)
    document = {"Version": c.args.get("version", "2012-10-17"), "Statement": statements}
    text = json.dumps(document, indent=2)
    return {
        "json": text,
        "minifiedJson": json.dumps(document, separators=(",", ":")),
        "id": _digest(text, length=10),
    }


def _random_password(c: InvokeContext) -> dict[str, Any]:
    length = int(c.args.get("passwordLength", 32))
    password = ("Mock" + _digest(json.dumps(c.args, sort_keys=True, default=str), length=64))[
        :length
    ]
    return {"randomPassword": Secret(password), "id": _digest(password, length=8)}


def _eks_get_kubeconfig(c: InvokeContext) -> dict[str, Any]:
    record = c.monitor.record(str(c.args.get("__self__", "")))
    if record is None or "kubeconfig" not in record.outputs:
        raise UnknownInvokeError(
            f"{c.token}: no eks:index:Cluster recorded at {c.args.get('__self__')!r}"
        )
    config = json.loads(json.dumps(reveal(record.outputs["kubeconfig"])))
    if c.args.get("roleArn"):
        config["users"][0]["user"]["exec"]["args"] += ["--role-arn", c.args["roleArn"]]
    if c.args.get("profileName"):
        config["users"][0]["user"]["exec"]["env"] = [
            {"name": "AWS_PROFILE", "value": c.args["profileName"]}
        ]
    return {"result": json.dumps(config, sort_keys=True)}


def _aks_credentials(c: InvokeContext) -> dict[str, Any]:
    name = str(c.args.get("resourceName", "cluster"))
    config = _kubeconfig(
        name,
        f"https://{name}.hcp.{c.location}.azmk8s.io:443",
        _fake_cert(name),
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin"}},
    )
    encoded = base64.b64encode(json.dumps(config, sort_keys=True).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": Secret(encoded)}]}


def _yaml_decode(c: InvokeContext) -> dict[str, Any]:
    import yaml

    return {"result": [doc for doc in yaml.safe_load_all(str(c.args.get("text", ""))) if doc]}


def _helm_template(c: InvokeContext) -> dict[str, Any]:
    c.monitor.logs.append(
        ("warning", "helm charts are not templated offline: v3 Chart renders no objects")
    )
    return {"result": []}


INVOKE_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda c: {
        "names": [f"{c.region}{s}" for s in "abc"],
        "zoneIds": [f"{_region_code(c.region)}-az{i}" for i in (1, 2, 3)],
        "groupNames": [c.region],
        "state": c.args.get("state", "available"),
        "id": c.region,
    },
    "aws:index/getCallerIdentity:getCallerIdentity": lambda c: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/crosswalk-plan",
        "userId": "AIDACROSSWALKPLAN",
        "id": ACCOUNT_ID,
    },
    "aws:index/getPartition:getPartition": lambda c: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
        "id": "aws",
    },
    "aws:index/getRegion:getRegion": lambda c: {
        "name": c.region,
        "region": c.region,
        "description": c.region,
        "endpoint": f"ec2.{c.region}.amazonaws.com",
        "id": c.region,
    },
    "aws:iam/getPolicyDocument:getPolicyDocument": _policy_document,
    "aws:secretsmanager/getRandomPassword:getRandomPassword": _random_password,
    "aws:eks/getClusterAuth:getClusterAuth": lambda c: {
        "name": c.args.get("name"),
        "token": Secret("k8s-aws-v1.mock-token"),
        "id": c.args.get("name"),
    },
    "aws:route53/getZone:getZone": lambda c: {
        "name": c.args.get("name"),
        "zoneId": f"Z{_digest(str(c.args.get('name')), length=20).upper()}",
        "id": f"Z{_digest(str(c.args.get('name')), length=20).upper()}",
        "arn": f"arn:aws:route53:::hostedzone/Z{_digest(str(c.args.get('name')), length=20).upper()}",
        "nameServers": [f"ns-{i}.awsdns-{i:02d}.net" for i in (1, 2, 3, 4)],
        "privateZone": bool(c.args.get("privateZone", False)),
    },
    "gcp:organizations/getProject:getProject": lambda c: {
        "projectId": c.args.get("projectId") or c.project,
        "number": str(int(_digest(c.project, length=10), 16)),
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
    "gcp:compute/getZones:getZones": lambda c: {
        "names": [f"{c.args.get('region') or c.region}-{s}" for s in "abc"],
        "project": c.project,
        "region": c.args.get("region") or c.region,
        "id": c.project,
    },
    "azure-native:authorization:getClientConfig": lambda c: {
        "clientId": _fake_uuid("client"),
        "objectId": _fake_uuid("object"),
        "subscriptionId": AZURE_SUBSCRIPTION,
        "tenantId": AZURE_TENANT,
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": _aks_credentials,
    "azure-native:containerservice:listManagedClusterAdminCredentials": _aks_credentials,
    "kubernetes:yaml:decode": _yaml_decode,
    "kubernetes:helm:template": _helm_template,
}

# Component methods (`Call`), e.g. `eks.Cluster.get_kubeconfig()`.
METHOD_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {
    "eks:index:Cluster/getKubeconfig": _eks_get_kubeconfig,
}


# --------------------------------------------------------------------------------------------
# The monitor.


# Package of a type token -> the cloud whose provider settings (region...) apply to it.
_CLOUD_OF_PACKAGE = {
    "aws": "aws",
    "eks": "aws",
    "awsx": "aws",
    "gcp": "gcp",
    "azure-native": "azure-native",
}


def _provider_urn(reference: str) -> str | None:
    """`urn::id` -> `urn` (provider references carry the provider's id after the URN)."""
    if not reference:
        return None
    urn, sep, _ = reference.rpartition("::")
    return urn if sep else reference


def _stack_output_record(exports: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "outputs": dict(exports),
        "secretOutputNames": sorted(k for k, v in exports.items() if contains_secret(v)),
    }


class _Engine:
    """The engine's `Log` endpoint: messages are kept for the report."""

    def __init__(self, logs: list[tuple[str, str]]):
        self._logs = logs

    def Log(self, request: Any) -> None:
        from pulumi.runtime.proto import engine_pb2

        severity = {
            engine_pb2.DEBUG: "debug",
            engine_pb2.INFO: "info",
            engine_pb2.WARNING: "warning",
            engine_pb2.ERROR: "error",
        }.get(request.severity, "info")
        if severity != "debug":
            self._logs.append((severity, request.message))


def _make_monitor_class() -> type:
    from pulumi.runtime.mocks import MockMonitor, Mocks

    class _NoMocks(Mocks):
        """`MockMonitor.mocks`: every request is answered by RecordingMonitor itself; only the
        stack transforms the stock monitor hands over arrive here, and they are not run."""

        def __init__(self, logs: list[tuple[str, str]]):
            self._logs = logs

        def register_transform(self, transform: Any) -> None:
            name = getattr(transform, "__name__", transform)
            message = (
                f"stack transform {name!r} is not applied offline: resources are shown before it"
            )
            self._logs.append(("warning", message))

        def register_invoke_transform(self, transform: Any) -> None:
            name = getattr(transform, "__name__", transform)
            self._logs.append(("warning", f"invoke transform {name!r} is not applied offline"))

        def call(self, args: Any) -> Any:  # pragma: no cover - never reached
            raise MockError(f"unexpected mock call {args.token!r}")

        def new_resource(self, args: Any) -> Any:  # pragma: no cover - never reached
            raise MockError(f"unexpected mock resource {args.typ!r}")

    class RecordingMonitor(MockMonitor):  # type: ignore[misc, valid-type]
        """A `MockMonitor` that records raw requests and never rehydrates resource references."""

        def __init__(
            self,
            *,
            program: Path,
            stack_outputs: Mapping[str, Mapping[str, Any]],
            stack: str,
            config: Mapping[str, str],
        ):
            self.logs: list[tuple[str, str]] = []
            super().__init__(mocks=_NoMocks(self.logs))
            self.program = program
            self.stack_outputs = stack_outputs
            self.stack_name = stack
            self.config = config
            self.records: dict[str, ResourceRecord] = {}
            self.stack_urn: str | None = None
            self.exports: dict[str, Any] = {}
            self._lock = threading.Lock()

        # -- bookkeeping -----------------------------------------------------------------
        def record(self, urn: str) -> ResourceRecord | None:
            with self._lock:
                return self.records.get(urn)

        def _source_line(self, request: Any) -> int | None:
            main = str(self.program)
            for frame in request.stackTrace.frames:
                uri = frame.pc.uri
                if uri and unquote(urlparse(uri).path) == main:
                    return frame.pc.line or None
            return None

        def _setting(self, provider: str | None, key: str, config_key: str, default: str) -> str:
            record = self.record(provider) if provider else None
            if record is not None and isinstance(record.inputs.get(key), str):
                return record.inputs[key]
            return self.config.get(config_key) or default

        def _context(
            self, provider: str | None, typ: str, providers: Mapping[str, str] | None = None
        ):
            """Region, GCP project and Azure location for made-up values, from the provider in use."""
            cloud = _CLOUD_OF_PACKAGE.get(typ.split(":", 1)[0], "aws")
            if providers and cloud in providers:
                provider = provider or _provider_urn(providers[cloud])
            return {
                "region": self._setting(
                    provider,
                    "region",
                    f"{cloud}:region",
                    "us-central1" if cloud == "gcp" else "us-west-2",
                ),
                "project": self._setting(provider, "project", "gcp:project", "crosswalk-plan"),
                "location": self._setting(
                    provider, "location", "azure-native:location", "westeurope"
                ),
            }

        def _fabricate(self, request: Any, urn: str, inputs: dict[str, Any], provider: str | None):
            typ = request.type
            providers = dict(getattr(request, "providers", None) or {})
            fabrication = Fabrication(
                typ, request.name, urn, inputs, **self._context(provider, typ, providers)
            )
            ident, generic = _generic_outputs(fabrication)
            specific = RESOURCE_OUTPUTS.get(typ, _outputs())(fabrication)
            echoed = OUTPUT_SHAPES.get(typ, dict)(inputs)
            outputs = _merge(_merge(generic, specific), echoed)
            if "id" in specific:
                ident = specific["id"]
            outputs["id"] = ident
            return str(ident), outputs

        # -- the ResourceMonitor service ---------------------------------------------------
        def RegisterResource(self, request: Any) -> Any:
            from pulumi.runtime.proto import resource_pb2

            urn = self.make_urn(request.parent, request.type, request.name)
            if request.type == "pulumi:pulumi:Stack":
                self.stack_urn = urn
                return resource_pb2.RegisterResourceResponse(urn=urn)
            source_line = self._source_line(request)
            if len(request.transforms):
                self.logs.append(
                    (
                        "warning",
                        f"{request.type} {request.name!r}: its transforms are not applied offline",
                    )
                )
            try:
                inputs = decode_struct(request.object)
                provider = _provider_urn(request.provider)
                ident: str | None = None
                outputs: dict[str, Any] = {}
                if request.custom or request.remote:
                    ident, outputs = self._fabricate(request, urn, inputs, provider)
                record = ResourceRecord(
                    urn=urn,
                    type=request.type,
                    name=request.name,
                    operation="register",
                    custom=bool(request.custom),
                    remote=bool(request.remote),
                    id=ident if request.custom else None,
                    parent=request.parent or None,
                    provider=provider,
                    dependencies=sorted(set(request.dependencies)),
                    property_dependencies={
                        key: sorted(set(deps.urns))
                        for key, deps in request.propertyDependencies.items()
                    },
                    inputs=inputs,
                    outputs=outputs,
                    source_line=source_line,
                )
            except MockError:
                raise
            except Exception as exc:
                raise MockError(
                    f"mock failed on {request.type} {request.name!r}: {exc}", source_line
                ) from exc
            with self._lock:
                if urn in self.records:
                    raise MockError(f"duplicate resource URN {urn}", source_line)
                self.records[urn] = record
            if not (request.custom or request.remote):
                return resource_pb2.RegisterResourceResponse(urn=urn)
            return resource_pb2.RegisterResourceResponse(
                urn=urn, id=record.id or "", object=encode_struct(outputs)
            )

        def RegisterResourceOutputs(self, request: Any) -> Any:
            from google.protobuf import empty_pb2

            outputs = decode_struct(request.outputs)
            if request.urn == self.stack_urn:
                self.exports = outputs
            else:
                record = self.record(request.urn)
                if record is not None:
                    record.outputs = _merge(record.outputs, outputs)
            return empty_pb2.Empty()

        def ReadResource(self, request: Any) -> Any:
            from pulumi.runtime.proto import resource_pb2

            urn = self.make_urn(request.parent, request.type, request.name)
            source_line = self._source_line(request)
            inputs = decode_struct(request.properties)
            provider = _provider_urn(request.provider)
            if request.type == "pulumi:pulumi:StackReference":
                name = str(inputs.get("name") or request.id)
                ident, outputs = name, {"name": name, **self._stack_reference(name, source_line)}
            else:
                ident, outputs = self._fabricate(request, urn, inputs, provider)
                ident = request.id or ident
            record = ResourceRecord(
                urn=urn,
                type=request.type,
                name=request.name,
                operation="read",
                custom=True,
                remote=False,
                id=ident,
                parent=request.parent or None,
                provider=provider,
                dependencies=sorted(set(request.dependencies)),
                property_dependencies={},
                inputs=inputs,
                outputs=outputs,
                source_line=source_line,
            )
            with self._lock:
                self.records[urn] = record
            return resource_pb2.ReadResourceResponse(urn=urn, properties=encode_struct(outputs))

        def _stack_reference(self, name: str, source_line: int | None) -> dict[str, Any]:
            parts = name.split("/")
            if len(parts) != 3:
                raise MockError(
                    f"StackReference {name!r}: expected 'organization/project/stack'", source_line
                )
            _, project, stack = parts
            if stack != self.stack_name:
                raise MockError(
                    f"StackReference {name!r} reads stack {stack!r}, but this plan is for {self.stack_name!r}",
                    source_line,
                )
            if project not in self.stack_outputs:
                known = ", ".join(sorted(self.stack_outputs)) or "none"
                raise MockError(
                    f"StackReference {name!r}: project {project!r} has not been planned before this "
                    f"stack (is it missing from dependsOn?); planned so far: {known}",
                    source_line,
                )
            return _stack_output_record(self.stack_outputs[project])

        def Invoke(self, request: Any) -> Any:
            from pulumi.runtime.proto import resource_pb2

            args = decode_struct(request.args)
            if request.tok == "pulumi:pulumi:getResource":
                record = self.record(str(args.get("urn")))
                if record is None:
                    raise MockError(f"getResource: unknown resource {args.get('urn')!r}")
                result = {"urn": record.urn, "id": record.id or "", "state": record.outputs}
            else:
                result = self._answer(INVOKE_RESULTS, "invoke", request.tok, args, request.provider)
            return resource_pb2.ResourceInvokeResponse(**{"return": encode_struct(result)})

        def Call(self, request: Any) -> Any:
            from pulumi.runtime.proto import provider_pb2

            args = decode_struct(request.args)
            result = self._answer(METHOD_RESULTS, "method", request.tok, args, request.provider)
            return provider_pb2.CallResponse(**{"return": encode_struct(result)})

        def _answer(self, table, what: str, token: str, args: dict[str, Any], provider: str):
            handler = table.get(token)
            if handler is None:
                raise UnknownInvokeError(
                    f"no offline answer for {what} {token!r}: add it to "
                    f"crosswalk.compiler.mocks.{'INVOKE_RESULTS' if what == 'invoke' else 'METHOD_RESULTS'}"
                )
            context = InvokeContext(
                token, args, monitor=self, **self._context(_provider_urn(provider), token)
            )
            return handler(context)

        def SignalAndWaitForShutdown(self, request: Any) -> Any:
            from google.protobuf import empty_pb2

            return empty_pb2.Empty()

    return RecordingMonitor


_MONITOR_CLASS: type | None = None


def monitor_class() -> type:
    """`RecordingMonitor`, built on first use so that importing this module needs no pulumi."""
    global _MONITOR_CLASS
    if _MONITOR_CLASS is None:
        _MONITOR_CLASS = _make_monitor_class()
    return _MONITOR_CLASS


# --------------------------------------------------------------------------------------------
# Running a program.


def check_sdk() -> list[str]:
    """The SDK internals this module relies on that are missing or changed (empty when fine)."""
    problems: list[str] = []
    try:
        from importlib.metadata import version

        found = version("pulumi")
    except Exception as exc:  # noqa: BLE001
        return [f"pulumi is not installed ({exc})"]
    if found != PINNED_PULUMI:
        problems.append(f"pulumi {found} is installed; crosswalk plan is pinned to {PINNED_PULUMI}")
    import inspect

    from pulumi.runtime import config, mocks, rpc, settings, stack

    expectations = [
        (mocks, "MockMonitor"),
        (mocks, "MockSettings"),
        (settings, "configure"),
        (settings, "ROOT"),
        (stack, "run_in_stack"),
        (config, "set_all_config"),
        (rpc, "_special_sig_key"),
    ]
    for module, name in expectations:
        if not hasattr(module, name):
            problems.append(f"{module.__name__}.{name} is gone")
    signatures = {
        "_special_sig_key": _SIG_KEY,
        "_special_secret_sig": _SECRET_SIG,
        "_special_resource_sig": _RESOURCE_SIG,
        "_special_output_value_sig": _OUTPUT_SIG,
        "_special_asset_sig": _ASSET_SIG,
        "_special_archive_sig": _ARCHIVE_SIG,
        "UNKNOWN": _UNKNOWN_WIRE,
    }
    for name, expected in signatures.items():
        if getattr(rpc, name, None) != expected:
            problems.append(f"pulumi.runtime.rpc.{name} changed")
    if hasattr(mocks, "MockMonitor"):
        for method in (
            "RegisterResource",
            "RegisterResourceOutputs",
            "ReadResource",
            "Invoke",
            "make_urn",
        ):
            if not hasattr(mocks.MockMonitor, method):
                problems.append(f"MockMonitor.{method} is gone")
    if hasattr(stack, "run_in_stack") and list(
        inspect.signature(stack.run_in_stack).parameters
    ) != ["func"]:
        problems.append("pulumi.runtime.stack.run_in_stack(func) changed its signature")
    settings_names = [
        "monitor",
        "engine",
        "project",
        "stack",
        "dry_run",
        "organization",
        "root_directory",
        "rpc_manager",
        "outputs",
        "lock",
        "monitor_features",
        "package_refs",
        "base_providers_by_ref",
        "callbacks",
        "legacy_apply_enabled",
        "parallel",
    ]
    for name in settings_names:
        if not hasattr(settings.Settings, name):
            problems.append(f"pulumi.runtime.settings.Settings.{name} is gone")
    return problems


@contextlib.contextmanager
def _program_environment(program_dir: Path) -> Iterator[None]:
    """cwd = the program's folder, on sys.path first, its helper modules fresh and purged after."""
    local_names = {p.stem for p in program_dir.glob("*.py")} | {
        p.name for p in program_dir.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    shadowed = {
        name: module
        for name, module in sys.modules.items()
        if name.split(".")[0] in local_names and name != "__main__"
    }
    for name in shadowed:
        del sys.modules[name]
    before = set(sys.modules)
    old_cwd, old_path, old_argv = os.getcwd(), list(sys.path), list(sys.argv)
    os.chdir(program_dir)
    sys.path.insert(0, str(program_dir))
    sys.argv = [str(program_dir / "__main__.py")]
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        sys.argv = old_argv
        root = str(program_dir) + os.sep
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            origin = getattr(module, "__file__", None) or ""
            if name.split(".")[0] in local_names or origin.startswith(root):
                del sys.modules[name]
        sys.modules.update(shadowed)


@dataclass
class _FailureSite:
    line: int | None  # in __main__.py
    detail: str | None  # e.g. "while registering kubernetes:core/v1:ConfigMap 'settings'"


def _tb_frames(tb: Any) -> Iterator[tuple[Any, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _frames(exc: BaseException) -> Iterator[tuple[BaseException, Any, int]]:
    """(exception, frame, line) for an exception and its causes, innermost frames last."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame, line in _tb_frames(current.__traceback__):
            yield current, frame, line
        current = current.__cause__ or current.__context__


def _main_line(exc: BaseException, main: Path) -> int | None:
    lines = [line for _, frame, line in _frames(exc) if frame.f_code.co_filename == str(main)]
    return lines[-1] if lines else None


def _failure_site(
    exc: BaseException, main: Path, program_line: int | None, tracebacks: list[Any]
) -> _FailureSite:
    """Where in the program a failure comes from.

    First the deepest frame in `main` when the failure passed through the program (captured as
    it did: the SDK re-raises the same exception object from its RPC queue, which replaces its
    traceback); else the line a mock noted; else, for failures that surface asynchronously (an
    Output that raised while a resource's inputs were being resolved), the construction site the
    SDK captured for the first registration that failed.
    """
    line = program_line or _main_line(exc, main)
    if line:
        return _FailureSite(line, None)
    for current, _, _ in _frames(exc):
        if isinstance(current, MockError) and current.source_line:
            return _FailureSite(current.source_line, None)
    for tb in tracebacks:
        for frame, _ in _tb_frames(tb):
            if frame.f_code.co_name != "do_register" or "ty" not in frame.f_locals:
                continue
            local = frame.f_locals
            detail = f"while registering {local['ty']} {local.get('name')!r}"
            position = local.get("source_position")
            line = None
            if position is not None and unquote(urlparse(position.uri).path) == str(main):
                line = position.line or None
            return _FailureSite(line, detail)
    return _FailureSite(None, None)


def _explain(exc: BaseException, tracebacks: list[Any]) -> str | None:
    """A plainer reading of failures whose own message says little."""
    if isinstance(exc, KeyError):
        for tb in tracebacks:
            for frame, _ in _tb_frames(tb):
                if not frame.f_code.co_filename.endswith(
                    os.path.join("pulumi", "stack_reference.py")
                ):
                    continue
                pair = frame.f_locals.get("l")
                if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], dict):
                    known = ", ".join(sorted(pair[1])) or "none"
                    return (
                        f"StackReference.require_output({pair[0]!r}): the upstream stack exports "
                        f"no {pair[0]!r} (it exports: {known})"
                    )
    return None


def run_program(
    program_dir: Path,
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    organization: str = "organization",
) -> ProgramRun:
    """Run `program_dir/__main__.py` under the mock runtime and record what it registers.

    `config` maps `<namespace>:<key>` to strings (objects as JSON), as the CLI passes them.
    `stack_outputs` maps upstream project names to their exports (values may be `Secret`):
    `StackReference("<org>/<project>/<stack>")` reads them. Runs in a copy of the current
    context with its own settings, config and event loop, so runs do not see each other, and a
    failed run leaves nothing behind.
    """
    program_dir = Path(program_dir).resolve()
    try:
        import pulumi.runtime.mocks  # noqa: F401 - the one import everything here needs
    except ImportError as exc:
        return ProgramRun(
            project=project,
            stack=stack,
            resources=[],
            exports={},
            logs=[],
            error=exc,
            error_line=None,
            error_detail=None,
            error_traceback=None,
            seconds=0.0,
        )
    context = contextvars.copy_context()
    with _without_shell_config():
        return context.run(
            _run_in_context,
            program_dir,
            project,
            stack,
            dict(config),
            list(secret_keys or []),
            dict(stack_outputs or {}),
            organization,
        )


@contextlib.contextmanager
def _without_shell_config() -> Iterator[None]:
    """The SDK falls back to PULUMI_CONFIG* environment variables for config a
    program does not find; a plan must see only the stack's own config."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("PULUMI_CONFIG")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def _run_in_context(
    program_dir: Path,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    stack_outputs: dict[str, Mapping[str, Any]],
    organization: str,
) -> ProgramRun:
    started = time.perf_counter()
    main = program_dir / "__main__.py"
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.mocks import MockSettings
    from pulumi.runtime.stack import run_in_stack

    monitor = monitor_class()(program=main, stack_outputs=stack_outputs, stack=stack, config=config)
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
    settings = MockSettings(
        monitor=monitor,
        engine=_Engine(monitor.logs),
        monitor_features=features,
        project=project,
        stack=stack,
        dry_run=False,
        organization=organization,
        root_directory=str(program_dir),
        parallel=None,
        legacy_apply_enabled=False,
        callbacks=None,
        outputs=set(),
        lock=threading.Lock(),
        package_refs={},
        base_providers_by_ref={},
    )
    runtime_settings.configure(settings)
    runtime_settings.ROOT.set(None)
    runtime_config.set_all_config(config, secret_keys)

    rpc_manager = runtime_settings._get_rpc_manager()  # MockSettings made a fresh one
    previous_loop = _current_loop()
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet_exception_handler)
    asyncio.set_event_loop(loop)
    error: BaseException | None = None
    failure = _Failure()
    program_lines: list[int | None] = []

    def program() -> None:
        try:
            runpy.run_path(str(main), run_name="__main__")
        except BaseException as exc:
            program_lines.append(_main_line(exc, main))
            raise

    try:
        with _program_environment(program_dir):
            loop.run_until_complete(run_in_stack(program))
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a program is a failure too
        error = exc
        failure.tracebacks.append(exc.__traceback__)  # before the SDK re-raises it with another
    finally:
        with warnings.catch_warnings():
            # A failed program leaves coroutines that never ran; they warn when collected.
            warnings.simplefilter("ignore", RuntimeWarning)
            if error is not None:
                _settle(loop)
                failure.analyse(
                    error,
                    main,
                    program_lines[0] if program_lines else None,
                    _rpc_failures(rpc_manager),
                )
                error = failure.error
                rpc_manager.clear()
            _close_loop(loop, failed=error is not None)
        asyncio.set_event_loop(previous_loop)

    with monitor._lock:
        records = sorted(monitor.records.values(), key=lambda r: r.urn)
    return ProgramRun(
        project=project,
        stack=stack,
        resources=records,
        exports=dict(sorted(monitor.exports.items())),
        logs=list(monitor.logs),
        error=error,
        error_line=failure.line,
        error_detail=failure.detail,
        error_traceback=failure.text,
        seconds=time.perf_counter() - started,
    )


@dataclass
class _Failure:
    """What a failed run's tracebacks say, read once and then let go.

    The tracebacks hold the frames of everything the failed program left half done (coroutines
    that never ran among them); dropping them before the loop closes lets that garbage go quietly
    instead of warning at interpreter exit.
    """

    tracebacks: list[Any] = field(default_factory=list)
    error: BaseException | None = None
    line: int | None = None
    detail: str | None = None
    text: str | None = None

    def analyse(
        self,
        error: BaseException,
        main: Path,
        program_line: int | None,
        rpc_failures: list[tuple[BaseException, Any]],
    ) -> None:
        """Pick the failure to report and where it comes from.

        When several registrations fail, which one the SDK raises depends on thread timing; the
        one earliest in the program is reported, so the same program always gives one answer.
        """
        own = self.tracebacks + [tb for exc, tb in rpc_failures if exc is error]
        chosen, site, tracebacks = error, _failure_site(error, main, program_line, own), own
        for exc, tb in rpc_failures:
            if exc is error:
                continue
            other = _failure_site(exc, main, None, [tb])
            if other.line is not None and (site.line is None or other.line < site.line):
                chosen, site, tracebacks = exc, other, [tb]
        self.error = chosen
        self.line = site.line
        self.detail = "; ".join(p for p in (_explain(chosen, tracebacks), site.detail) if p) or None
        self.text = "".join(traceback.format_exception(chosen))
        self.tracebacks.clear()
        for exc in [error, chosen, *(exc for exc, _ in rpc_failures)]:
            _drop_tracebacks(exc)


def _drop_tracebacks(error: BaseException) -> None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A failed program leaves Output futures nobody awaited; their failure is already reported."""
    if "exception was never retrieved" in str(context.get("message", "")):
        return
    loop.default_exception_handler(context)


def _settle(loop: asyncio.AbstractEventLoop, timeout: float = 2.0) -> None:
    """Give registrations still in flight after a failure a moment to fail with their own error."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=timeout))


def _rpc_failures(rpc_manager: Any) -> list[tuple[BaseException, Any]]:
    """The RPCs that failed, each with its traceback as it was when it failed."""
    failures = []
    if rpc_manager.unhandled_exception is not None:
        failures.append((rpc_manager.unhandled_exception, rpc_manager.exception_traceback))
    for rpc in list(rpc_manager.rpcs):
        if isinstance(rpc, asyncio.Future) and rpc.done() and not rpc.cancelled():
            exc = rpc.exception()
            if exc is not None:
                failures.append((exc, getattr(rpc, "_exception_tb", None) or exc.__traceback__))
    return failures


def _current_loop() -> asyncio.AbstractEventLoop | None:
    policy = asyncio.get_event_loop_policy()
    local = getattr(policy, "_local", None)
    return getattr(local, "_loop", None) if local is not None else None


def _close_loop(loop: asyncio.AbstractEventLoop, *, failed: bool = False) -> None:
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
        if failed:
            gc.collect()  # the failed run's garbage, while its warnings are silenced
