"""Layer 2 on GCP: the VPC, subnets with secondary ranges, Cloud NAT, the KMS key
ring, Artifact Registry.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.builds import build_repository, built_apps
from crosswalk.providers.common import protect
from crosswalk.providers.gcp.common import (
    NODE_REGISTRY_ROLE,
    PODS_RANGE,
    SERVICES_RANGE,
    agent_key,
    enable_apis,
    gcp_provider,
    invoke_opts,
    opts,
    project,
    region,
    service_agent,
    unique_name,
    var_part,
)
from crosswalk.providers.gcp.datastores import ALLOYDB_AGENT, ALLOYDB_API
from crosswalk.providers.gcp.pipelines import emit_pipeline_destinations
from crosswalk.providers.gcp.rules import address_plan
from crosswalk.providers.gcp.storage import STORAGE_API, emit_buckets
from crosswalk.providers.gcp.vms import IAP_API, OS_LOGIN_API, emit_vms
from crosswalk.providers.gcp.warehouses import BIGQUERY_API, emit_warehouses


def emit_managed_infra(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    project_id, region_name = project(ctx), region(ctx)
    provider = gcp_provider(ctx)
    plan = address_plan(p.network)
    stores = {store.engine for store in p.app_services.datastores}
    private_services = bool(stores & {"postgres", "mysql", "redis"})
    names = ["compute.googleapis.com", "cloudkms.googleapis.com"]
    # GKE's service agent exists once its API is on; the key grant below needs it.
    names.append("container.googleapis.com")
    if private_services:
        names.append("servicenetworking.googleapis.com")
    if p.registries:
        names.append("artifactregistry.googleapis.com")
    if any(registry.scan_on_push for registry in p.registries):
        names.append("containerscanning.googleapis.com")
    if p.buckets:
        names.append(STORAGE_API)
    if p.warehouses:
        names.append(BIGQUERY_API)
    if p.vms:
        names += [IAP_API, OS_LOGIN_API]
    alloydb = any(store.alloydb for store in p.app_services.datastores)
    if alloydb:
        names.append(ALLOYDB_API)  # its service agent, which the key grant below names
    apis = enable_apis(ctx, provider, names)
    line = ctx.line(("network",))
    vpc = prog.resource(
        "network",
        "gcp.compute.Network",
        f"{p.name}-vpc",
        {
            "name": unique_name(ctx, "network", 63, "vpc"),
            "description": f"Network of platform {p.name}",
            "auto_create_subnetworks": False,
            "routing_mode": "REGIONAL",
        },
        line,
        opts(provider, apis),
    )
    subnet = prog.resource(
        "nodes_subnetwork",
        "gcp.compute.Subnetwork",
        f"{p.name}-nodes",
        {
            "name": unique_name(ctx, "subnetwork", 63, "nodes"),
            "description": "GKE nodes, with secondary ranges for pods and services",
            "network": Code(f"{vpc}.id"),
            "region": region_name,
            "ip_cidr_range": str(plan.nodes),
            "secondary_ip_ranges": [
                {"range_name": PODS_RANGE, "ip_cidr_range": str(plan.pods)},
                {"range_name": SERVICES_RANGE, "ip_cidr_range": str(plan.services)},
            ],
            "private_ip_google_access": True,
            "log_config": {
                "aggregation_interval": "INTERVAL_5_SEC",
                "flow_sampling": 0.5,
                "metadata": "INCLUDE_ALL_METADATA",
            },
        },
        line,
        opts(provider, apis),
    )
    router = prog.resource(
        "router",
        "gcp.compute.Router",
        f"{p.name}-router",
        {
            "name": unique_name(ctx, "router", 63, "router"),
            "network": Code(f"{vpc}.id"),
            "region": region_name,
        },
        ctx.line(("network", "natGateways")),
        opts(provider, apis),
    )
    prog.comment("Cloud NAT is regional and redundant across zones: one serves every zone.")
    prog.resource(
        "nat",
        "gcp.compute.RouterNat",
        f"{p.name}-nat",
        {
            "name": unique_name(ctx, "nat", 63, "nat"),
            "router": Code(f"{router}.name"),
            "region": region_name,
            "nat_ip_allocate_option": "AUTO_ONLY",
            "source_subnetwork_ip_ranges_to_nat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
            "log_config": {"enable": True, "filter": "ERRORS_ONLY"},
        },
        ctx.line(("network", "natGateways")),
        opts(provider, apis),
    )
    if private_services:
        stores_line = ctx.line(("appServices", "datastores"))
        peering = prog.resource(
            "private_services_range",
            "gcp.compute.GlobalAddress",
            f"{p.name}-private-services",
            {
                "name": unique_name(ctx, "privateServices", 63, "private-services"),
                "description": "Private Service Access for Cloud SQL and Memorystore",
                "purpose": "VPC_PEERING",
                "address_type": "INTERNAL",
                "address": str(plan.private_services.network_address),
                "prefix_length": plan.private_services.prefixlen,
                "network": Code(f"{vpc}.id"),
            },
            stores_line,
            opts(provider, apis),
        )
        connection = prog.resource(
            "private_services",
            "gcp.servicenetworking.Connection",
            f"{p.name}-private-services",
            {
                "network": Code(f"{vpc}.id"),
                "service": "servicenetworking.googleapis.com",
                "reserved_peering_ranges": [Code(f"{peering}.name")],
            },
            stores_line,
            opts(provider, apis),
        )
        prog.export("private_services_range", Code(f"{connection}.reserved_peering_ranges[0]"))

    key_line = ctx.line(("cluster",))
    ring = prog.resource(
        "key_ring",
        "gcp.kms.KeyRing",
        f"{p.name}-keys",
        {"name": unique_name(ctx, "keyRing", 63, "keys"), "location": region_name},
        key_line,
        opts(provider, apis, **protect(ctx)),
    )
    key = prog.resource(
        "secrets_key",
        "gcp.kms.CryptoKey",
        f"{p.name}-secrets",
        {
            "name": f"{p.name}-secrets",
            "key_ring": Code(f"{ring}.id"),
            "purpose": "ENCRYPT_DECRYPT",
            "rotation_period": "7776000s",  # 90 days
        },
        key_line,
        opts(provider, apis, **protect(ctx)),
    )
    project_info = prog.assign(
        prog.name("project"),
        Call(
            "gcp.organizations.get_project",
            kwargs={"project_id": project_id, "opts": invoke_opts(provider)},
        ),
    )
    prog.resource(
        "secrets_key_gke",
        "gcp.kms.CryptoKeyIAMMember",
        f"{p.name}-secrets-gke",
        {
            "crypto_key_id": Code(f"{key}.id"),
            "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            # GKE's service agent encrypts the cluster's Secrets with the key.
            "member": service_agent(project_info, "container-engine-robot"),
        },
        key_line,
        opts(provider, apis),
    )
    if alloydb:
        emit_alloydb_key(ctx, provider, apis, ring, project_info)
    emit_buckets(ctx, provider, apis, ring, project_info)
    emit_warehouses(ctx, provider, apis, ring, project_info)
    emit_pipeline_destinations(ctx, provider)
    emit_vms(ctx, provider, apis, vpc, subnet, ring, project_info)
    for registry in p.registries:
        repo = prog.resource(
            ("registry", var_part(registry.name)),
            "gcp.artifactregistry.Repository",
            f"{p.name}-{registry.name}",
            {
                "repository_id": unique_name(ctx, f"registry.{registry.name}", 63, registry.name),
                "location": region_name,
                "format": "DOCKER",
                "description": f"Images of platform {p.name}",
                "docker_config": {"immutable_tags": registry.immutable_tags},
                "vulnerability_scanning_config": {
                    "enablement_config": "INHERITED" if registry.scan_on_push else "DISABLED"
                },
            },
            ctx.line(registry.path),
            opts(provider, apis, **protect(ctx)),
        )
        prog.resource(
            ("registry", var_part(registry.name), "nodes"),
            "gcp.artifactregistry.RepositoryIamMember",
            f"{p.name}-{registry.name}-nodes",
            {
                "project": Code(f"{repo}.project"),
                "location": Code(f"{repo}.location"),
                "repository": Code(f"{repo}.name"),
                "role": NODE_REGISTRY_ROLE,
                "member": Call(
                    "pulumi.Output.concat",
                    ["serviceAccount:", ctx.upstream("01-identity", "node_service_account_email")],
                ),
            },
            ctx.line(registry.path),
            opts(provider, apis),
        )
        prog.export(f"registry_{registry.name}_url", Code(f"{repo}.registry_uri"))
        for app in built_apps(p, registry):
            _build_repository(ctx, provider, apis, registry, app, region_name)
    prog.export("network_id", Code(f"{vpc}.id"))
    prog.export("subnetwork_id", Code(f"{subnet}.id"))
    prog.export("secrets_key_id", Code(f"{key}.id"))


def _build_repository(ctx: StackContext, provider: Code, apis, registry, app, region_name) -> None:
    """The repository of an app built from its own repository (`apps[].build`):
    Artifact Registry grants per repository, so the app's push identity gets
    this one (identity layer) and no other. The registry's settings; the
    nodes read it as they read the registry."""
    p, prog, name = ctx.platform, ctx.program, app.name
    # Named as the app was created: a rename keeps the repository and its images.
    pulumi_name = f"{p.name}-{registry.name}-{app.cloud_name}"
    repo = prog.resource(
        ("build", var_part(app.cloud_name)),
        "gcp.artifactregistry.Repository",
        pulumi_name,
        {
            "repository_id": ctx.setting(
                f"names.build.{name}", lambda q, env: build_repository(q, q.built(name))
            ),
            "location": region_name,
            "format": "DOCKER",
            "description": f"Images of app {app.name} of platform {p.name}, built from "
            f"{app.build.repository}",
            "docker_config": {"immutable_tags": registry.immutable_tags},
            "vulnerability_scanning_config": {
                "enablement_config": "INHERITED" if registry.scan_on_push else "DISABLED"
            },
        },
        ctx.line(app.build.path),
        opts(provider, apis, **protect(ctx)),
    )
    grants = (
        ("nodes", NODE_REGISTRY_ROLE, "node_service_account_email"),
        # Its builds push here: only here.
        ("push", "roles/artifactregistry.writer", f"build_{app.name}_service_account"),
    )
    for suffix, role, account in grants:
        prog.resource(
            ("build", var_part(app.cloud_name), suffix),
            "gcp.artifactregistry.RepositoryIamMember",
            f"{pulumi_name}-{suffix}",
            {
                "project": Code(f"{repo}.project"),
                "location": Code(f"{repo}.location"),
                "repository": Code(f"{repo}.name"),
                "role": role,
                "member": Call(
                    "pulumi.Output.concat",
                    ["serviceAccount:", ctx.upstream("01-identity", account)],
                ),
            },
            ctx.line(app.build.path),
            opts(provider, apis),
        )


def emit_alloydb_key(ctx: StackContext, provider: Code, apis, ring: Code, project_info: Code):
    """The key AlloyDB encrypts the datastores' clusters and backups with, which
    its service agent may use. The agent exists once asked for (AlloyDB makes
    it on first use only, after the key must already name it)."""
    prog = ctx.program
    line = ctx.line(("appServices", "datastores"))
    agent = prog.resource(
        "alloydb_agent",
        "gcp.projects.ServiceIdentity",
        f"{ctx.platform.name}-alloydb-service-agent",
        {"project": project(ctx), "service": ALLOYDB_API},
        line,
        opts(provider, apis),
    )
    ready = prog.assign(prog.name("alloydb_ready"), Code(f"[*{apis}, {agent}]"))
    key, _ = agent_key(ctx, provider, ready, ring, project_info, "alloydb", ALLOYDB_AGENT, line)
    prog.export("alloydb_key_id", Code(f"{key}.id"))
