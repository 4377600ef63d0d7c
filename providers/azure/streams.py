"""Streams and their pipelines on Azure (layer 5): the platform's one Event
Hubs namespace, behind a private endpoint with Entra ID only, and an event hub
per `engine: stream` datastore. A pipeline from a stream is Event Hubs Capture
on its hub: Event Hubs itself writes the events as Avro files into the
bucket's container, signed in as an identity of the namespace that may write
blobs of that container and nothing else (no code of ours runs).

Service Bus, the Azure queue, has no capture: pipelines read streams only
(compiler/checks.py refuses the others)."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.rules import STREAM_NAMESPACE
from crosswalk.providers.azure.storage import bucket_output
from crosswalk.providers.common import moved_from
from crosswalk.providers.common import protect as kept

# Standard is the least tier that captures and takes private endpoints.
SKU = "STANDARD"
# An event hub's partitions (fixed once made, on Standard) and how long it
# keeps events (Standard keeps them at most seven days).
PARTITIONS = 4
RETENTION_HOURS = 168
# Capture writes a file when either fills first: 10 MiB (its least) or five minutes.
CAPTURE_BYTES = 10 * 1024 * 1024
CAPTURE_SECONDS = 300
# What the capture identity may do with its container's blobs.
CAPTURE_ROLE = "Storage Blob Data Contributor"
# What an app that uses a stream may do with its hub.
APP_ROLES = ("Sender", "Receiver")
# AMQP, and AMQP over WebSockets (HTTPS), at the namespace's private endpoint.
PORTS = (443, 5671)


def archive_name_format(pipeline) -> str:
    """Where Capture writes a file: under the pipeline's name, then the
    fields Azure requires (all of them, in any order)."""
    return (
        f"{pipeline.name}/{{Namespace}}/{{EventHub}}/{{PartitionId}}/"
        "{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}"
    )


def storage_account_output(bucket) -> str:
    """The managed-infra output of the storage account a bucket is a container of."""
    return "public_storage_account_id" if bucket.public else "storage_account_id"


def emit_streams(az: AzureProgram) -> None:
    """The namespace, each stream's event hub, and each pipeline's capture."""
    p, prog, ctx = az.p, az.prog, az.ctx
    streams = [s for s in p.app_services.datastores if s.engine == "stream"]
    if not streams:
        return
    az.use("eventhub")
    rg = az.resource_group()
    captures = {pipeline.source: _capture_identity(az, pipeline) for pipeline in p.pipelines}
    line = ctx.line(streams[0].path)
    namespace = az.res(
        "streams_namespace",
        "eventhub.Namespace",
        f"{p.name}-streams",
        {
            "resource_group_name": rg,
            "namespace_name": az.name_of(STREAM_NAMESPACE),
            "location": az.location,
            "sku": {
                "name": Code(f"eventhub.SkuName.{SKU}"),
                "tier": Code(f"eventhub.SkuTier.{SKU}"),
                "capacity": 1,
            },
            # Entra ID only (no shared access keys), reached through the
            # private endpoint alone.
            "disable_local_auth": True,
            "public_network_access": Code("eventhub.PublicNetworkAccess.DISABLED"),
            "minimum_tls_version": Code("eventhub.TlsVersion.TLS_VERSION_1_2"),
            # The identities Capture signs in as, one per pipeline.
            "identity": {
                "type": Code("eventhub.ManagedServiceIdentityType.USER_ASSIGNED"),
                "user_assigned_identities": [
                    Code(f"{identity}.id") for identity, _ in captures.values()
                ],
            }
            if captures
            else None,
            "tags": az.tags,
        },
        line,
        **kept(ctx),
    )
    az.private_endpoint(
        "streams",
        f"{p.name}-streams",
        "eventhub",
        namespace,
        ctx.upstream("02-managed-infra", "endpoints_subnet_id"),
        ctx.upstream("02-managed-infra", "vnet_id"),
        line,
    )
    az.lock("streams_namespace", f"{p.name}-streams", namespace, az.deletion_protection(), line)
    host = prog.assign(
        prog.name("streams_host"),
        Call("pulumi.Output.concat", [Code(f"{namespace}.name"), ".servicebus.windows.net"]),
    )
    for store in streams:
        pipeline = next((x for x in p.pipelines if x.source == store.name), None)
        capture = captures.get(store.name)
        _event_hub(az, store, namespace, host, pipeline, capture)


def _capture_identity(az: AzureProgram, pipeline) -> tuple[Code, Code]:
    """The pipeline's identity, and its one grant: writing blobs of its
    bucket's container."""
    p, ctx = az.p, az.ctx
    var = f"pipeline_{var_name(pipeline.name)}"
    name = f"{p.name}-pipeline-{pipeline.name}"
    line = ctx.line(pipeline.path)
    bucket = p.bucket(pipeline.bucket)
    identity = az.identity(var, name, line)
    grant = az.assign_role(
        f"{var}_container",
        f"{name}-container",
        CAPTURE_ROLE,
        Code(f"{identity}.principal_id"),
        ctx.upstream("02-managed-infra", bucket_output(bucket, "container_id")),
        ctx.line(pipeline.destination_path),
        "ServicePrincipal",
        description=f"Pipeline {pipeline.name} writes into bucket {bucket.name}",
    )
    return identity, grant


def _event_hub(az: AzureProgram, store, namespace: Code, host: Code, pipeline, capture) -> None:
    p, prog, ctx = az.p, az.prog, az.ctx
    var = f"datastore_{var_name(store.name)}"
    out = lambda name: f"datastore_{store.name}_{name}"
    args = {
        "resource_group_name": az.resource_group(),
        "namespace_name": Code(f"{namespace}.name"),
        "event_hub_name": store.cloud_name,
        "partition_count": PARTITIONS,
        "retention_description": {
            "cleanup_policy": Code("eventhub.CleanupPolicyRetentionDescription.DELETE"),
            "retention_time_in_hours": RETENTION_HOURS,
        },
    }
    extra: dict = {}
    if pipeline is not None:
        identity, grant = capture
        bucket = p.bucket(pipeline.bucket)
        args["capture_description"] = {
            "enabled": True,
            "encoding": Code("eventhub.EncodingCaptureDescription.AVRO"),
            "interval_in_seconds": CAPTURE_SECONDS,
            "size_limit_in_bytes": CAPTURE_BYTES,
            "skip_empty_archives": True,
            "destination": {
                "name": "EventHubArchive.AzureBlockBlob",
                "archive_name_format": archive_name_format(pipeline),
                "blob_container": ctx.upstream("02-managed-infra", bucket_output(bucket, "name")),
                "storage_account_resource_id": ctx.upstream(
                    "02-managed-infra", storage_account_output(bucket)
                ),
                "identity": {
                    "type": Code("eventhub.CaptureIdentityType.USER_ASSIGNED"),
                    "user_assigned_identity": Code(f"{identity}.id"),
                },
            },
        }
        # Capture checks its container when it is turned on: the grant first.
        extra["depends_on"] = [grant]
    hub = az.res(
        var,
        "eventhub.EventHub",
        f"{p.name}-{store.name}",
        args,
        ctx.line(store.path),
        **extra,
        **moved_from(lambda n: f"{p.name}-{n}", store),
        **kept(ctx),
    )
    prog.export(out("namespace"), host)
    prog.export(out("event_hub"), Code(f"{hub}.name"))
    prog.export(out("event_hub_id"), Code(f"{hub}.id"))
