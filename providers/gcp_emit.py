"""The GCP (GKE) backend: what each layer's program creates on Google Cloud.

Only what GCP differs in lives here; Kubernetes objects every cloud shares
come from `crosswalk.providers.kubernetes` and `crosswalk.providers.services`.

Workload identity is GKE's: a Google service account per workload that calls
a Google API, which one Kubernetes service account may impersonate
(`roles/iam.workloadIdentityUser` for `<project>.svc.id.goog[<ns>/<ksa>]`).
CI identities federate GitHub's OIDC tokens through a Workload Identity pool.
No service-account key exists anywhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import Backend, StackContext
from crosswalk.compiler.model import Platform
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers import services
from crosswalk.providers.gcp import (
    MEMBER,
    REDIS_MEMORY_GB,
    address_plan,
    redis_version,
    security_group_domain,
    sql_version,
)

GCP_IMPORT = "import pulumi_gcp as gcp"

NODE_SIZES = {
    "small": "e2-standard-2",
    "medium": "e2-standard-4",
    "large": "e2-standard-8",
    "xlarge": "e2-standard-16",
}
DB_TIERS = {
    "small": "db-custom-1-3840",
    "medium": "db-custom-2-7680",
    "large": "db-custom-4-15360",
    "xlarge": "db-custom-8-30720",
}
DB_PORTS = {"postgres": 5432, "mysql": 3306}
# Cloud SQL's IAM-authentication flag, per engine.
IAM_AUTH_FLAGS = {"postgres": "cloudsql.iam_authentication", "mysql": "cloudsql_iam_authentication"}
CLOUD_SQL_CONNECTOR_PORT = 3307  # the Cloud SQL Auth Proxy and connectors' server side
REDIS_TLS_PORT = 6378  # Memorystore's port when in-transit encryption is on
TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"
PODS_RANGE, SERVICES_RANGE = "pods", "services"

# Project roles of a team's members: admins administer every cluster; the
# others may only fetch cluster credentials, and get exactly the Kubernetes
# RBAC of their namespaces (roles/container.developer would open every
# namespace of every cluster in the project).
ACCESS_ROLES = {
    "admin": "roles/container.admin",
    "developer": "roles/container.clusterViewer",
    "viewer": "roles/container.clusterViewer",
}
# What the nodes' own service account may do: write logs and metrics, read images.
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
    "roles/artifactregistry.reader",
)
# What an automation identity may do per layer it deploys (least privilege by service).
LAYER_ROLES = {
    "identity": [
        "roles/iam.serviceAccountAdmin",
        "roles/iam.workloadIdentityPoolAdmin",
        "roles/resourcemanager.projectIamAdmin",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "managed-infra": [
        "roles/compute.networkAdmin",
        "roles/artifactregistry.admin",
        "roles/cloudkms.admin",
        "roles/servicenetworking.networksAdmin",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "cluster": [
        "roles/container.admin",
        "roles/compute.viewer",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "cluster-services": ["roles/container.admin"],
    "app-services": [
        "roles/container.admin",
        "roles/cloudsql.admin",
        "roles/redis.admin",
        "roles/pubsub.admin",
        "roles/dns.admin",
        "roles/datastore.owner",
        "roles/iam.serviceAccountAdmin",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "apps": [
        "roles/container.developer",
        "roles/cloudsql.admin",
        "roles/pubsub.admin",
        "roles/iam.serviceAccountAdmin",
    ],
}
# Project roles a layer grants to its workloads: its CI identity may grant
# exactly these (an IAM condition on roles/resourcemanager.projectIamAdmin).
LAYER_GRANTS = {
    "app-services": ["roles/dns.reader"],
    "apps": ["roles/cloudsql.client", "roles/cloudsql.instanceUser", "roles/datastore.user"],
}
# GKE runs these itself: Cloud Logging's agent, the cluster autoscaler behind
# node-pool autoscaling, and metrics-server.
GKE_NATIVE_SERVICES = frozenset({"logging", "autoscaler", "metricsServer"})
NATIVE_NAMES = {
    "autoscaler": "the cluster autoscaler (node pools' autoscaling)",
    "logging": "container logs to Cloud Logging (the cluster's logging_config)",
    "metricsServer": "metrics-server",
}
# What a pod needs to reach the GKE metadata server, which hands out
# workload identity tokens (Dataplane V2, and the older node-local agent).
METADATA_SERVER_EGRESS = [
    {
        "to": [{"ip_block": {"cidr": "169.254.169.254/32"}}],
        "ports": [{"protocol": "TCP", "port": 80}],
    },
    {
        "to": [{"ip_block": {"cidr": "169.254.169.252/32"}}],
        "ports": [{"protocol": "TCP", "port": 988}],
    },
]
# The database user Cloud SQL makes of a service account, per engine.
IAM_USERS = {
    "postgres": '''
def postgres_iam_user(email):
    """PostgreSQL's user for a service account: its email without the domain suffix."""
    return email.removesuffix(".gserviceaccount.com")
''',
    "mysql": '''
def mysql_iam_user(email):
    """MySQL's user for a service account: its email up to the @."""
    return email.split("@")[0]
''',
}
GOOGLE_APIS_EGRESS = {
    "to": [{"ip_block": {"cidr": "0.0.0.0/0"}}],
    "ports": [{"protocol": "TCP", "port": 443}],
}


def _provider(ctx: StackContext) -> Code:
    p = ctx.platform
    ctx.program.imports.add(GCP_IMPORT)
    labels = dict(p.tags) | {"crosswalk-platform": p.name}
    return ctx.program.resource(
        "gcp_provider",
        "gcp.Provider",
        "gcp",
        {"project": p.cloud.project, "region": p.cloud.region, "default_labels": labels},
        ctx.line(("cloud",)),
    )


def _apis(ctx: StackContext, provider: Code, names: list[str]) -> Code | None:
    """Turn on the Google APIs a layer uses; its resources wait for them.
    Turning them off on destroy could break the other layers: it never happens."""
    prog = ctx.program
    enabled = []
    for api in names:
        short = api.split(".")[0]
        enabled.append(
            prog.resource(
                ("api", short),
                "gcp.projects.Service",
                f"{ctx.platform.name}-{short}",
                {"service": api, "disable_on_destroy": False, "disable_dependent_services": False},
                ctx.line(("cloud",)),
                {"provider": provider},
            )
        )
    if not enabled:
        return None
    return prog.assign(prog.name("apis"), enabled)


def _opts(provider: Code, apis: Code | None = None, **extra) -> dict:
    """Resource options: the explicit provider, after the layer's APIs are on."""
    opts: dict = {"provider": provider}
    if apis is not None:
        opts["depends_on"] = apis
    return opts | extra


def _invoke_opts(provider: Code) -> Call:
    return Call("pulumi.InvokeOptions", kwargs={"provider": provider})


def _gcp_id(limit: int, *parts: str) -> str:
    """A GCP resource id from name parts; shortened with a stable hash when too long."""
    text = "-".join(parts)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return text[: limit - 7].rstrip("-") + "-" + digest


def _account_id(*parts: str) -> str:
    """A service account id: 6 to 30 characters."""
    return _gcp_id(30, *parts)


def _v(name: str) -> str:
    """A user's name as part of a variable name: short enough that every
    statement's first line fits ruff's line length (the program keeps names unique)."""
    return name[:20]


def _short_role(role: str) -> str:
    return role.split("/", 1)[1].replace(".", "-")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _cel_string(text: str) -> str:
    """A CEL string literal (CEL reads JSON's escapes)."""
    return json.dumps(text)


def _workload_member(project: str, namespace: str, service_account: str) -> str:
    """The principal a Kubernetes service account has under GKE's workload identity."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{service_account}]"


def _subject(member: str) -> dict:
    """A Kubernetes RBAC subject for an IAM principal: GKE names users and
    service accounts by email, and Google Groups by the group's email."""
    kind, email = member.split(":", 1)
    return {
        "kind": "Group" if kind == "group" else "User",
        "name": email,
        "api_group": "rbac.authorization.k8s.io",
    }


class GcpBackend(Backend):
    cloud = "gcp"

    # Layer 1 ---------------------------------------------------------------

    def identity(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        project = p.cloud.project
        provider = _provider(ctx)
        apis = _apis(
            ctx,
            provider,
            [
                "iam.googleapis.com",
                "iamcredentials.googleapis.com",
                "sts.googleapis.com",
                "cloudresourcemanager.googleapis.com",
            ],
        )
        nodes_line = ctx.line(("cluster", "nodePools"))
        node_account = prog.resource(
            "node_service_account",
            "gcp.serviceaccount.Account",
            f"{p.name}-nodes",
            {
                "account_id": _account_id(p.name, "nodes"),
                "display_name": f"GKE nodes of platform {p.name}",
                "description": "Least privilege for nodes: writes logs and metrics, reads images",
            },
            nodes_line,
            _opts(provider, apis),
        )
        for role in NODE_ROLES:
            prog.resource(
                ("node", _short_role(role)),
                "gcp.projects.IAMMember",
                f"{p.name}-nodes-{_short_role(role)}",
                {"project": project, "role": role, "member": Code(f"{node_account}.member")},
                nodes_line,
                _opts(provider, apis),
            )
        prog.export("node_service_account_email", Code(f"{node_account}.email"))

        for team in p.teams:
            role = ACCESS_ROLES[team.access]
            seen: set[str] = set()
            for i, member in enumerate(team.members):
                slug = _slug(member)
                if slug in seen:
                    slug += "-" + hashlib.sha256(member.encode()).hexdigest()[:6]
                seen.add(slug)
                prog.resource(
                    ("team", _v(team.name), str(i)),
                    "gcp.projects.IAMMember",
                    f"{p.name}-team-{team.name}-{slug}",
                    {"project": project, "role": role, "member": member},
                    ctx.line(team.path + ("members", i)),
                    _opts(provider, apis),
                )

        for bot in p.automation:
            self._automation(ctx, provider, apis, bot, node_account)

    def _automation(self, ctx: StackContext, provider: Code, apis, bot, node_account: Code) -> None:
        p, prog = ctx.platform, ctx.program
        project = p.cloud.project
        line = ctx.line(bot.path)
        pool_id = _gcp_id(32, p.name, "ci", bot.name)
        if pool_id.startswith("gcp-"):  # a prefix Google keeps for itself
            pool_id = _gcp_id(32, "cw", pool_id)
        pool = prog.resource(
            ("ci", _v(bot.name), "pool"),
            "gcp.iam.WorkloadIdentityPool",
            f"{p.name}-ci-{bot.name}",
            {
                "workload_identity_pool_id": pool_id,
                "display_name": f"{p.name} CI {bot.name}"[:32],
                "description": f"GitHub Actions of {bot.repository}: deploys {', '.join(bot.layers)}"[
                    :256
                ],
            },
            line,
            _opts(provider, apis),
        )
        # The token must come from this repository and this ref (or environment).
        mapping = {
            "google.subject": "assertion.sub",
            "attribute.repository": "assertion.repository",
            "attribute.ref": "assertion.ref",
        }
        condition = f"assertion.repository == {_cel_string(bot.repository)}"
        if bot.environment:
            mapping["attribute.environment"] = "assertion.environment"
            condition += f" && assertion.environment == {_cel_string(bot.environment)}"
        else:
            condition += f" && assertion.ref == {_cel_string(bot.ref)}"
        oidc = prog.resource(
            ("ci", _v(bot.name), "github"),
            "gcp.iam.WorkloadIdentityPoolProvider",
            f"{p.name}-ci-{bot.name}-github",
            {
                "workload_identity_pool_id": Code(f"{pool}.workload_identity_pool_id"),
                "workload_identity_pool_provider_id": "github",
                "display_name": "GitHub Actions",
                "attribute_mapping": mapping,
                "attribute_condition": condition,
                "oidc": {"issuer_uri": GITHUB_ISSUER},
            },
            line,
            _opts(provider, apis),
        )
        account = prog.resource(
            ("ci", _v(bot.name), "account"),
            "gcp.serviceaccount.Account",
            f"{p.name}-ci-{bot.name}",
            {
                "account_id": _account_id(p.name, "ci", bot.name),
                "display_name": f"CI {bot.name} of platform {p.name}",
                "description": f"Deploys {', '.join(bot.layers)}; impersonated from GitHub, never by key",
            },
            line,
            _opts(provider, apis),
        )
        prog.resource(
            ("ci", _v(bot.name), "federation"),
            "gcp.serviceaccount.IAMMember",
            f"{p.name}-ci-{bot.name}-federation",
            {
                "service_account_id": Code(f"{account}.name"),
                "role": "roles/iam.workloadIdentityUser",
                "member": Call(
                    "pulumi.Output.concat",
                    [
                        "principalSet://iam.googleapis.com/",
                        Code(f"{pool}.name"),
                        "/attribute.repository/" + bot.repository,
                    ],
                ),
            },
            line,
            _opts(provider, apis),
        )
        layers_line = ctx.line(bot.path + ("layers",))
        roles = sorted({role for layer in bot.layers for role in LAYER_ROLES[layer]})
        for role in roles:
            prog.resource(
                ("ci", _v(bot.name), _short_role(role)),
                "gcp.projects.IAMMember",
                f"{p.name}-ci-{bot.name}-{_short_role(role)}",
                {"project": project, "role": role, "member": Code(f"{account}.member")},
                layers_line,
                _opts(provider, apis),
            )
        grants = sorted({role for layer in bot.layers for role in LAYER_GRANTS.get(layer, [])})
        if grants and "identity" not in bot.layers:
            allowed = ", ".join(f"'{role}'" for role in grants)
            prog.resource(
                ("ci", _v(bot.name), "grants"),
                "gcp.projects.IAMMember",
                f"{p.name}-ci-{bot.name}-grants",
                {
                    "project": project,
                    "role": "roles/resourcemanager.projectIamAdmin",
                    "member": Code(f"{account}.member"),
                    "condition": {
                        "title": "grants-of-its-layers",
                        "description": "May grant only the roles its layers give their workloads",
                        "expression": "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
                        f".hasOnly([{allowed}])",
                    },
                },
                layers_line,
                _opts(provider, apis),
            )
        if "cluster" in bot.layers:
            # Node pools run as the node service account: CI may attach that one, no other.
            prog.resource(
                ("ci", _v(bot.name), "node_account_user"),
                "gcp.serviceaccount.IAMMember",
                f"{p.name}-ci-{bot.name}-node-account-user",
                {
                    "service_account_id": Code(f"{node_account}.name"),
                    "role": "roles/iam.serviceAccountUser",
                    "member": Code(f"{account}.member"),
                },
                layers_line,
                _opts(provider, apis),
            )
        prog.export(f"automation_{bot.name}_service_account", Code(f"{account}.email"))
        prog.export(f"automation_{bot.name}_workload_identity_provider", Code(f"{oidc}.name"))

    # Layer 2 ---------------------------------------------------------------

    def managed_infra(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        project, region = p.cloud.project, p.cloud.region
        provider = _provider(ctx)
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
        apis = _apis(ctx, provider, names)
        line = ctx.line(("network",))
        vpc = prog.resource(
            "network",
            "gcp.compute.Network",
            f"{p.name}-vpc",
            {
                "name": f"{p.name}-vpc",
                "description": f"Network of platform {p.name}",
                "auto_create_subnetworks": False,
                "routing_mode": "REGIONAL",
            },
            line,
            _opts(provider, apis),
        )
        subnet = prog.resource(
            "nodes_subnetwork",
            "gcp.compute.Subnetwork",
            f"{p.name}-nodes",
            {
                "name": f"{p.name}-nodes",
                "description": "GKE nodes, with secondary ranges for pods and services",
                "network": Code(f"{vpc}.id"),
                "region": region,
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
            _opts(provider, apis),
        )
        router = prog.resource(
            "router",
            "gcp.compute.Router",
            f"{p.name}-router",
            {"name": f"{p.name}-router", "network": Code(f"{vpc}.id"), "region": region},
            ctx.line(("network", "natGateways")),
            _opts(provider, apis),
        )
        prog.comment("Cloud NAT is regional and redundant across zones: one serves every zone.")
        prog.resource(
            "nat",
            "gcp.compute.RouterNat",
            f"{p.name}-nat",
            {
                "name": f"{p.name}-nat",
                "router": Code(f"{router}.name"),
                "region": region,
                "nat_ip_allocate_option": "AUTO_ONLY",
                "source_subnetwork_ip_ranges_to_nat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
                "log_config": {"enable": True, "filter": "ERRORS_ONLY"},
            },
            ctx.line(("network", "natGateways")),
            _opts(provider, apis),
        )
        if private_services:
            stores_line = ctx.line(("appServices", "datastores"))
            peering = prog.resource(
                "private_services_range",
                "gcp.compute.GlobalAddress",
                f"{p.name}-private-services",
                {
                    "name": f"{p.name}-private-services",
                    "description": "Private Service Access for Cloud SQL and Memorystore",
                    "purpose": "VPC_PEERING",
                    "address_type": "INTERNAL",
                    "address": str(plan.private_services.network_address),
                    "prefix_length": plan.private_services.prefixlen,
                    "network": Code(f"{vpc}.id"),
                },
                stores_line,
                _opts(provider, apis),
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
                _opts(provider, apis),
            )
            prog.export("private_services_range", Code(f"{connection}.reserved_peering_ranges[0]"))

        key_line = ctx.line(("cluster",))
        ring = prog.resource(
            "key_ring",
            "gcp.kms.KeyRing",
            f"{p.name}-keys",
            {"name": f"{p.name}-keys", "location": region},
            key_line,
            _opts(provider, apis),
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
            _opts(provider, apis),
        )
        project_info = prog.assign(
            prog.name("project"),
            Call(
                "gcp.organizations.get_project",
                kwargs={"project_id": project, "opts": _invoke_opts(provider)},
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
                "member": _service_agent(project_info, "container-engine-robot"),
            },
            key_line,
            _opts(provider, apis),
        )
        for registry in p.registries:
            repo = prog.resource(
                ("registry", _v(registry.name)),
                "gcp.artifactregistry.Repository",
                f"{p.name}-{registry.name}",
                {
                    "repository_id": _gcp_id(63, p.name, registry.name),
                    "location": region,
                    "format": "DOCKER",
                    "description": f"Images of platform {p.name}",
                    "docker_config": {"immutable_tags": registry.immutable_tags},
                    "vulnerability_scanning_config": {
                        "enablement_config": "INHERITED" if registry.scan_on_push else "DISABLED"
                    },
                },
                ctx.line(registry.path),
                _opts(provider, apis),
            )
            prog.export(f"registry_{registry.name}_url", Code(f"{repo}.registry_uri"))
        prog.export("network_id", Code(f"{vpc}.id"))
        prog.export("subnetwork_id", Code(f"{subnet}.id"))
        prog.export("secrets_key_id", Code(f"{key}.id"))

    # Layer 3 ---------------------------------------------------------------

    def cluster(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        project, region = p.cloud.project, p.cloud.region
        provider = _provider(ctx)
        apis = _apis(ctx, provider, ["container.googleapis.com"])
        plan = address_plan(p.network)
        line = ctx.line(("cluster",))
        endpoint = p.cluster.endpoint
        node_account = ctx.upstream("01-identity", "node_service_account_email")
        zones = prog.assign(
            prog.name("zones"),
            Call(
                "gcp.compute.get_zones",
                kwargs={"region": region, "status": "UP", "opts": _invoke_opts(provider)},
            ),
        )
        shielded = {"enable_secure_boot": True, "enable_integrity_monitoring": True}
        logging = ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]
        if p.services.logging:
            logging.append("WORKLOADS")
        monitoring = ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]
        if p.services.monitoring:
            monitoring += ["STORAGE", "HPA", "POD", "DAEMONSET", "DEPLOYMENT", "STATEFULSET"]
        args = {
            "name": f"{p.name}-cluster",
            "description": f"Cluster of platform {p.name}",
            "location": region,
            "node_locations": Code(f"{zones}.names[:{p.network.zones}]"),
            "min_master_version": p.cluster.version,
            "release_channel": {"channel": "REGULAR"},
            # Node pools are separate resources; the default one goes at once.
            "remove_default_node_pool": True,
            "initial_node_count": 1,
            "node_config": {
                "service_account": node_account,
                "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
                "shielded_instance_config": shielded,
                "workload_metadata_config": {"mode": "GKE_METADATA"},
            },
            "network": ctx.upstream("02-managed-infra", "network_id"),
            "subnetwork": ctx.upstream("02-managed-infra", "subnetwork_id"),
            "networking_mode": "VPC_NATIVE",
            "ip_allocation_policy": {
                "cluster_secondary_range_name": PODS_RANGE,
                "services_secondary_range_name": SERVICES_RANGE,
            },
            # Dataplane V2 enforces the namespaces' NetworkPolicies.
            "datapath_provider": "ADVANCED_DATAPATH",
            "private_cluster_config": {
                "enable_private_nodes": True,
                "enable_private_endpoint": not endpoint.public,
                "master_ipv4_cidr_block": str(plan.control_plane),
            },
            "master_authorized_networks_config": {
                "cidr_blocks": [
                    {"cidr_block": cidr, "display_name": cidr} for cidr in endpoint.allowed_cidrs
                ],
                "gcp_public_cidrs_access_enabled": False,
            }
            if endpoint.allowed_cidrs or not endpoint.public
            else None,
            "workload_identity_config": {"workload_pool": f"{project}.svc.id.goog"},
            "enable_shielded_nodes": True,
            "enable_legacy_abac": False,
            "database_encryption": {
                "state": "ENCRYPTED",
                "key_name": ctx.upstream("02-managed-infra", "secrets_key_id"),
            },
            "logging_config": {"enable_components": logging},
            # kube-prometheus-stack (cluster-services) is the cluster's Prometheus.
            "monitoring_config": {
                "enable_components": monitoring,
                "managed_prometheus": {"enabled": False},
            },
            "addons_config": {
                "http_load_balancing": {"disabled": False},
                "horizontal_pod_autoscaling": {"disabled": False},
                "gce_persistent_disk_csi_driver_config": {"enabled": True},
            },
            "security_posture_config": {
                "mode": "BASIC",
                "vulnerability_mode": "VULNERABILITY_BASIC",
            },
            "deletion_protection": ctx.setting(
                "cluster.deletionProtection", lambda q, env: env != "dev"
            ),
        }
        domain = security_group_domain(p)
        if domain:
            # Google Groups for RBAC: team groups are looked up through this group.
            args["authenticator_groups_config"] = {
                "security_group": f"gke-security-groups@{domain}"
            }
        cluster = prog.resource(
            "cluster",
            "gcp.container.Cluster",
            f"{p.name}-cluster",
            args,
            line,
            _opts(provider, apis),
        )
        for pool in p.cluster.node_pools:
            self._node_pool(ctx, provider, apis, cluster, pool, node_account, shielded)

        kubeconfig = k8s.emit_kubeconfig(
            ctx,
            p.name,
            Call("pulumi.Output.concat", ["https://", Code(f"{cluster}.endpoint")]),
            Code(f"{cluster}.master_auth.cluster_ca_certificate"),
            {
                "command": "gke-gcloud-auth-plugin",
                "installHint": "Install gke-gcloud-auth-plugin: "
                "gcloud components install gke-gcloud-auth-plugin",
                "provideClusterInfo": True,
            },
        )
        k8s_provider = k8s.emit_provider(ctx, kubeconfig, line)
        k8s.emit_default_storage_class(
            ctx,
            k8s_provider,
            "encrypted-pd-balanced",
            "pd.csi.storage.gke.io",
            {"type": "pd-balanced"},
            line,
        )
        namespaces = {}
        for namespace in p.cluster.namespaces:
            namespaces[namespace.name] = k8s.emit_namespace(ctx, k8s_provider, namespace)
        self._team_bindings(ctx, k8s_provider, namespaces)
        prog.export("cluster_name", Code(f"{cluster}.name"))
        prog.export("kubeconfig", kubeconfig)

    def _node_pool(
        self, ctx: StackContext, provider, apis, cluster, pool, node_account, shielded
    ) -> None:
        p, prog = ctx.platform, ctx.program
        key = f"nodePools.{pool.name}"
        zones = p.network.zones
        name = pool.name
        args = {
            "name": pool.name,
            "cluster": Code(f"{cluster}.id"),
            "location": p.cloud.region,
            "management": {"auto_repair": True, "auto_upgrade": True},
            "upgrade_settings": {"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0},
            "node_config": {
                "machine_type": ctx.setting(
                    f"{key}.machineType",
                    lambda q, env: (
                        q.node_pool(name).machine_type or NODE_SIZES[q.node_pool(name).size]
                    ),
                ),
                "spot": pool.spot,
                "disk_size_gb": pool.disk_size_gb,
                "disk_type": "pd-balanced",
                "image_type": "COS_CONTAINERD",
                "service_account": node_account,
                "oauth_scopes": [CLOUD_PLATFORM_SCOPE],
                "labels": dict(pool.labels) | {"crosswalk/node-pool": pool.name},
                "taints": [
                    {"key": t.key, "value": t.value, "effect": TAINT_EFFECTS[t.effect]}
                    for t in pool.taints
                ]
                or None,
                "shielded_instance_config": shielded,
                "workload_metadata_config": {"mode": "GKE_METADATA"},
                "metadata": {"disable-legacy-endpoints": "true"},
            },
        }
        if p.services.autoscaler:
            # GKE's own cluster autoscaler scales the pool within these totals (all zones).
            args["initial_node_count"] = ctx.setting(
                f"{key}.initialNodesPerZone",
                lambda q, env: math.ceil(q.node_pool(name).min / zones),
            )
            args["autoscaling"] = {
                "total_min_node_count": ctx.setting(
                    f"{key}.min", lambda q, env: q.node_pool(name).min
                ),
                "total_max_node_count": ctx.setting(
                    f"{key}.max", lambda q, env: q.node_pool(name).max
                ),
                "location_policy": "BALANCED",
            }
            ignore = ["initialNodeCount"]
        else:
            args["node_count"] = ctx.setting(
                f"{key}.nodesPerZone",
                lambda q, env: math.ceil(max(q.node_pool(name).min, 1) / zones),
            )
            ignore = []
        prog.resource(
            ("node_pool", _v(pool.name)),
            "gcp.container.NodePool",
            f"{p.name}-{pool.name}",
            args,
            ctx.line(pool.path),
            _opts(provider, apis, ignore_changes=ignore) if ignore else _opts(provider, apis),
        )

    def _team_bindings(self, ctx: StackContext, k8s_provider: Code, namespaces: dict) -> None:
        """Map each team's members to its Kubernetes role where the shared
        RoleBindings give the team one (on EKS, access entries map them to the
        team's group; GKE sees the members themselves). Admins hold
        roles/container.admin, which covers the whole cluster."""
        p, prog = ctx.platform, ctx.program
        for team in p.teams:
            if team.access == "admin" or not team.members:
                continue
            subjects = [_subject(member) for member in team.members if MEMBER.match(member)]
            for namespace in p.cluster.namespaces:
                if namespace.team != team.name and namespace.name not in team.namespaces:
                    continue
                prog.resource(
                    (_v(namespace.name), "team", _v(team.name), "members"),
                    "kubernetes.rbac.v1.RoleBinding",
                    f"{namespace.name}/team.{team.name}.members",
                    {
                        "metadata": {
                            "name": f"team.{team.name}.members",
                            "namespace": namespace.name,
                            "labels": k8s.MANAGED_BY,
                        },
                        "role_ref": {
                            "api_group": "rbac.authorization.k8s.io",
                            "kind": "ClusterRole",
                            "name": k8s.ACCESS_CLUSTER_ROLES[team.access],
                        },
                        "subjects": subjects,
                    },
                    ctx.line(team.path + ("members",)),
                    {"provider": k8s_provider, "depends_on": [namespaces[namespace.name]]},
                )

    # Layer 4 ---------------------------------------------------------------

    def cluster_services(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("clusterServices",))
        )
        native = [NATIVE_NAMES[key] for key in sorted(GKE_NATIVE_SERVICES) if _enabled(p, key)]
        if native:
            prog.comment(f"GKE runs these itself, so no release here: {', '.join(native)}.")
        services.emit_cluster_services(
            ctx, k8s_provider, cloud="gcp", cloud_values={}, native=GKE_NATIVE_SERVICES
        )

    # Layer 5 ---------------------------------------------------------------

    def app_services(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        project = p.cloud.project
        provider = _provider(ctx)
        stores = p.app_services.datastores
        engines = {store.engine for store in stores}
        names = []
        if p.app_services.dns_zone:
            names.append("dns.googleapis.com")
        if engines & {"postgres", "mysql"}:
            names.append("sqladmin.googleapis.com")
        if "redis" in engines:
            names.append("redis.googleapis.com")
        if "queue" in engines:
            names.append("pubsub.googleapis.com")
        if "document" in engines:
            names.append("firestore.googleapis.com")
        apis = _apis(ctx, provider, names)
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("appServices",))
        )
        cloud_values: dict[str, dict] = {}
        if p.app_services.dns_zone:
            dns_line = ctx.line(("appServices", "dns"))
            zone = prog.resource(
                "dns_zone",
                "gcp.dns.ManagedZone",
                f"{p.name}-zone",
                {
                    "name": f"{p.name}-zone",
                    "dns_name": p.app_services.dns_zone + ".",
                    "description": f"Managed by crosswalk for platform {p.name}",
                    "visibility": "public",
                    "dnssec_config": {"state": "on"},
                },
                dns_line,
                _opts(provider, apis),
            )
            account = _workload_account(
                ctx,
                provider,
                apis,
                "external_dns",
                "external-dns",
                "external-dns",
                "external-dns",
                dns_line,
            )
            # Lists the project's zones; changes records in this zone only.
            prog.resource(
                ("external_dns", "reader"),
                "gcp.projects.IAMMember",
                f"{p.name}-external-dns-reader",
                {
                    "project": project,
                    "role": "roles/dns.reader",
                    "member": Code(f"{account}.member"),
                },
                dns_line,
                _opts(provider, apis),
            )
            prog.resource(
                ("external_dns", "zone_admin"),
                "gcp.dns.DnsManagedZoneIamMember",
                f"{p.name}-external-dns-zone",
                {
                    "managed_zone": Code(f"{zone}.name"),
                    "role": "roles/dns.admin",
                    "member": Code(f"{account}.member"),
                },
                dns_line,
                _opts(provider, apis),
            )
            cloud_values["dns"] = {
                "provider": {"name": "google"},
                "extraArgs": [f"--google-project={project}", "--google-zone-visibility=public"],
                "serviceAccount": {
                    "annotations": {WORKLOAD_IDENTITY_ANNOTATION: Code(f"{account}.email")}
                },
            }
            prog.export("dns_name_servers", Code(f"{zone}.name_servers"))
            if p.app_services.email:
                # The Gateway's wildcard certificate is proven through DNS-01 in the zone.
                cert_line = ctx.line(("appServices", "certificates"))
                account = _workload_account(
                    ctx,
                    provider,
                    apis,
                    "cert_manager",
                    "cert-manager",
                    "cert-manager",
                    "cert-manager",
                    cert_line,
                )
                prog.resource(
                    ("cert_manager", "zone_admin"),
                    "gcp.dns.DnsManagedZoneIamMember",
                    f"{p.name}-cert-manager-zone",
                    {
                        "managed_zone": Code(f"{zone}.name"),
                        "role": "roles/dns.admin",
                        "member": Code(f"{account}.member"),
                    },
                    cert_line,
                    _opts(provider, apis),
                )
                cloud_values["certificates"] = {
                    "serviceAccount": {
                        "annotations": {WORKLOAD_IDENTITY_ANNOTATION: Code(f"{account}.email")}
                    },
                }
                cloud_values["certificates_solver"] = {
                    "dns01": {
                        "cloudDNS": {"project": project, "hostedZoneName": Code(f"{zone}.name")}
                    }
                }
        services.emit_app_services(ctx, k8s_provider, cloud="gcp", cloud_values=cloud_values)

        if not stores:
            return
        network = ctx.upstream("02-managed-infra", "network_id")
        if engines & {"postgres", "mysql", "redis"}:
            peering = ctx.upstream("02-managed-infra", "private_services_range")
        if engines & {"queue"}:
            project_info = prog.assign(
                prog.name("project"),
                Call(
                    "gcp.organizations.get_project",
                    kwargs={"project_id": project, "opts": _invoke_opts(provider)},
                ),
            )
        for store in stores:
            if store.engine in DB_PORTS:
                self._sql(ctx, provider, apis, store, network, peering)
            elif store.engine == "redis":
                self._redis(ctx, provider, apis, store, network, peering)
            elif store.engine == "queue":
                self._queue(ctx, provider, apis, store, project_info)
            else:
                self._document(ctx, provider, apis, store)

    def _sql(self, ctx, provider, apis, store, network, peering) -> None:
        p, prog = ctx.platform, ctx.program
        line = ctx.line(store.path)
        base = _gcp_id(84, p.name, store.name)
        name = store.name
        protect = ctx.setting(f"datastores.{name}.deletionProtection", lambda q, env: env != "dev")
        tier = store.instance_class or DB_TIERS[store.size]
        backups = {
            "enabled": True,
            "start_time": "02:00",
            "transaction_log_retention_days": min(store.backup_retention_days, 7),
            "backup_retention_settings": {
                "retained_backups": store.backup_retention_days,
                "retention_unit": "COUNT",
            },
        }
        if store.engine == "postgres":
            backups["point_in_time_recovery_enabled"] = True
        else:
            backups["binary_log_enabled"] = True
        instance = prog.resource(
            ("datastore", _v(name)),
            "gcp.sql.DatabaseInstance",
            base,
            {
                "name": base,
                "database_version": sql_version(store.engine, store.version),
                "region": p.cloud.region,
                "deletion_protection": protect,
                "settings": {
                    "tier": tier,
                    "edition": "ENTERPRISE_PLUS"
                    if tier.startswith("db-perf-optimized")
                    else "ENTERPRISE",
                    "availability_type": ctx.setting(
                        f"datastores.{name}.availabilityType",
                        lambda q, env: (
                            "REGIONAL" if q.datastore(name).high_availability else "ZONAL"
                        ),
                    ),
                    "disk_type": "PD_SSD",
                    "disk_size": store.storage_gb,
                    "disk_autoresize": True,
                    "deletion_protection_enabled": protect,
                    # Private IP only, through the Private Service Access peering.
                    "ip_configuration": {
                        "ipv4_enabled": False,
                        "private_network": network,
                        "allocated_ip_range": peering,
                        "ssl_mode": "ENCRYPTED_ONLY",
                    },
                    "backup_configuration": backups,
                    # Apps log in as their Google service account: no password exists.
                    "database_flags": [{"name": IAM_AUTH_FLAGS[store.engine], "value": "on"}],
                    "insights_config": {"query_insights_enabled": True},
                    "maintenance_window": {"day": 7, "hour": 3, "update_track": "stable"},
                },
            },
            line,
            _opts(provider, apis),
        )
        database = prog.resource(
            ("datastore", _v(name), "database"),
            "gcp.sql.Database",
            f"{base}-{name}",
            {"name": name.replace("-", "_"), "instance": Code(f"{instance}.name")},
            line,
            _opts(provider, apis),
        )
        prog.export(f"datastore_{name}_instance", Code(f"{instance}.name"))
        prog.export(f"datastore_{name}_connection_name", Code(f"{instance}.connection_name"))
        prog.export(f"datastore_{name}_host", Code(f"{instance}.private_ip_address"))
        prog.export(f"datastore_{name}_database", Code(f"{database}.name"))

    def _redis(self, ctx, provider, apis, store, network, peering) -> None:
        p, prog = ctx.platform, ctx.program
        name = store.name
        base = _gcp_id(40, p.name, name)
        cache = prog.resource(
            ("datastore", _v(name)),
            "gcp.redis.Instance",
            base,
            {
                "name": base,
                "display_name": f"redis {name} of platform {p.name}",
                "region": p.cloud.region,
                "tier": ctx.setting(
                    f"datastores.{name}.tier",
                    lambda q, env: (
                        "STANDARD_HA" if q.datastore(name).high_availability else "BASIC"
                    ),
                ),
                "memory_size_gb": REDIS_MEMORY_GB[store.size],
                "redis_version": redis_version(store.version),
                "authorized_network": network,
                "connect_mode": "PRIVATE_SERVICE_ACCESS",
                "reserved_ip_range": peering,
                "auth_enabled": True,
                "transit_encryption_mode": "SERVER_AUTHENTICATION",
                "persistence_config": {
                    "persistence_mode": "RDB",
                    "rdb_snapshot_period": "SIX_HOURS",
                },
                "deletion_protection": ctx.setting(
                    f"datastores.{name}.deletionProtection", lambda q, env: env != "dev"
                ),
            },
            ctx.line(store.path),
            _opts(provider, apis, additional_secret_outputs=["authString"]),
        )
        prog.export(f"datastore_{name}_host", Code(f"{cache}.host"))
        prog.export(f"datastore_{name}_port", Code(f"{cache}.port"))
        prog.export(
            f"datastore_{name}_password", Code(f"pulumi.Output.secret({cache}.auth_string)")
        )
        prog.export(f"datastore_{name}_ca_certificate", Code(f"{cache}.server_ca_certs[0].cert"))

    def _queue(self, ctx, provider, apis, store, project_info) -> None:
        p, prog = ctx.platform, ctx.program
        name = store.name
        base = f"{p.name}-{name}"
        line = ctx.line(store.path)
        week = "604800s"
        dead_letters = prog.resource(
            ("datastore", _v(name), "dead_letters"),
            "gcp.pubsub.Topic",
            f"{base}-dead-letters",
            {"name": f"{base}-dead-letters", "message_retention_duration": week},
            line,
            _opts(provider, apis),
        )
        # Messages sent to a topic nobody subscribes to are lost: keep the dead ones.
        prog.resource(
            ("datastore", _v(name), "dead_letters_subscription"),
            "gcp.pubsub.Subscription",
            f"{base}-dead-letters",
            {
                "name": f"{base}-dead-letters",
                "topic": Code(f"{dead_letters}.id"),
                "message_retention_duration": week,
                "expiration_policy": {"ttl": ""},
            },
            line,
            _opts(provider, apis),
        )
        topic = prog.resource(
            ("datastore", _v(name)),
            "gcp.pubsub.Topic",
            base,
            {"name": base, "message_retention_duration": week},
            line,
            _opts(provider, apis),
        )
        subscription = prog.resource(
            ("datastore", _v(name), "subscription"),
            "gcp.pubsub.Subscription",
            base,
            {
                "name": base,
                "topic": Code(f"{topic}.id"),
                "ack_deadline_seconds": 60,
                "message_retention_duration": week,
                "expiration_policy": {"ttl": ""},
                "retry_policy": {"minimum_backoff": "10s", "maximum_backoff": "600s"},
                "dead_letter_policy": {
                    "dead_letter_topic": Code(f"{dead_letters}.id"),
                    "max_delivery_attempts": 5,
                },
            },
            line,
            _opts(provider, apis),
        )
        # Pub/Sub's service agent moves undeliverable messages to the dead-letter topic.
        agent = _service_agent(project_info, "gcp-sa-pubsub")
        prog.resource(
            ("datastore", _v(name), "dead_letters_publisher"),
            "gcp.pubsub.TopicIAMMember",
            f"{base}-dead-letters-publisher",
            {
                "topic": Code(f"{dead_letters}.id"),
                "role": "roles/pubsub.publisher",
                "member": agent,
            },
            line,
            _opts(provider, apis),
        )
        prog.resource(
            ("datastore", _v(name), "dead_letters_subscriber"),
            "gcp.pubsub.SubscriptionIAMMember",
            f"{base}-dead-letters-subscriber",
            {
                "subscription": Code(f"{subscription}.id"),
                "role": "roles/pubsub.subscriber",
                "member": agent,
            },
            line,
            _opts(provider, apis),
        )
        prog.export(f"datastore_{name}_topic", Code(f"{topic}.id"))
        prog.export(f"datastore_{name}_subscription", Code(f"{subscription}.id"))

    def _document(self, ctx, provider, apis, store) -> None:
        p, prog = ctx.platform, ctx.program
        name = store.name
        base = _gcp_id(63, p.name, name)
        database = prog.resource(
            ("datastore", _v(name)),
            "gcp.firestore.Database",
            base,
            {
                "name": base,
                "location_id": p.cloud.region,
                "type": "FIRESTORE_NATIVE",
                "concurrency_mode": "OPTIMISTIC",
                "point_in_time_recovery_enablement": "POINT_IN_TIME_RECOVERY_ENABLED",
                "delete_protection_state": ctx.setting(
                    f"datastores.{name}.deleteProtectionState",
                    lambda q, env: (
                        "DELETE_PROTECTION_DISABLED"
                        if env == "dev"
                        else "DELETE_PROTECTION_ENABLED"
                    ),
                ),
                "deletion_policy": "DELETE",
            },
            ctx.line(store.path),
            _opts(provider, apis),
        )
        prog.resource(
            ("datastore", _v(name), "backups"),
            "gcp.firestore.BackupSchedule",
            base,
            {
                "database": Code(f"{database}.name"),
                "daily_recurrence": {},
                "retention": f"{store.backup_retention_days * 86400}s",
            },
            ctx.line(store.path + ("backupRetentionDays",)),
            _opts(provider, apis),
        )
        prog.export(f"datastore_{name}_database", Code(f"{database}.name"))

    # Layer 6 ---------------------------------------------------------------

    def app(self, ctx: StackContext) -> None:
        p, prog = ctx.platform, ctx.program
        project = p.cloud.project
        app = p.app(ctx.stack.split("/", 1)[1])
        k8s_provider = k8s.emit_provider(
            ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(app.path)
        )
        parts = k8s.AppCloudParts()
        plan = address_plan(p.network)
        uses_line = ctx.line(app.path + ("uses",))
        grants = []  # (kind, store) a Google service account of the app needs
        private_ports: set[int] = set()
        for store_name in app.uses:
            store = p.datastore(store_name)
            prefix = k8s.env_prefix(store.name)
            out = lambda output, store=store: ctx.upstream(
                "05-app-services", f"datastore_{store.name}_{output}"
            )
            if store.engine in DB_PORTS:
                parts.datastore_env[store.name] = {
                    f"{prefix}_HOST": out("host"),
                    f"{prefix}_PORT": str(DB_PORTS[store.engine]),
                    f"{prefix}_DATABASE": out("database"),
                    f"{prefix}_INSTANCE_CONNECTION_NAME": out("connection_name"),
                    f"{prefix}_IAM_AUTH": "true",
                }
                grants.append(("sql", store))
                private_ports |= {DB_PORTS[store.engine], CLOUD_SQL_CONNECTOR_PORT}
            elif store.engine == "redis":
                parts.datastore_env[store.name] = {
                    f"{prefix}_HOST": out("host"),
                    f"{prefix}_PORT": Call(f"{out('port')}.apply", [Code("str")]),
                    f"{prefix}_PASSWORD": out("password"),
                    f"{prefix}_TLS": "true",
                    f"{prefix}_CA_CERTIFICATE": out("ca_certificate"),
                }
                private_ports.add(REDIS_TLS_PORT)
            elif store.engine == "queue":
                parts.datastore_env[store.name] = {
                    f"{prefix}_TOPIC": out("topic"),
                    f"{prefix}_SUBSCRIPTION": out("subscription"),
                    f"{prefix}_PROJECT": project,
                }
                grants.append(("queue", store))
            else:
                parts.datastore_env[store.name] = {
                    f"{prefix}_DATABASE": out("database"),
                    f"{prefix}_PROJECT": project,
                }
                grants.append(("document", store))
        if grants:
            provider = _provider(ctx)
            account = _workload_account(
                ctx, provider, None, "app", f"app-{app.name}", app.namespace, app.name, uses_line
            )
            member = Code(f"{account}.member")
            for kind, store in grants:
                out = lambda output, store=store: ctx.upstream(
                    "05-app-services", f"datastore_{store.name}_{output}"
                )
                base = f"{p.name}-app-{app.name}-{store.name}"
                if kind == "sql":
                    # Cloud SQL IAM login: the database user is the service account.
                    on_instance = {
                        "title": f"{store.name}-only",
                        "expression": "resource.name == "
                        + _cel_string(
                            f"projects/{project}/instances/{_gcp_id(84, p.name, store.name)}"
                        ),
                    }
                    for role in ("roles/cloudsql.client", "roles/cloudsql.instanceUser"):
                        prog.resource(
                            (_v(store.name), _short_role(role)),
                            "gcp.projects.IAMMember",
                            f"{base}-{_short_role(role)}",
                            {
                                "project": project,
                                "role": role,
                                "member": member,
                                "condition": on_instance,
                            },
                            uses_line,
                            _opts(provider),
                        )
                    helper = f"{store.engine}_iam_user"
                    prog.helpers[helper] = IAM_USERS[store.engine]
                    user = prog.resource(
                        (_v(store.name), "user"),
                        "gcp.sql.User",
                        base,
                        {
                            "instance": out("instance"),
                            "name": Call(f"{account}.email.apply", [Code(helper)]),
                            "type": "CLOUD_IAM_SERVICE_ACCOUNT",
                        },
                        uses_line,
                        _opts(provider),
                    )
                    parts.datastore_env[store.name][f"{k8s.env_prefix(store.name)}_USERNAME"] = (
                        Code(f"{user}.name")
                    )
                elif kind == "queue":
                    prog.resource(
                        (_v(store.name), "publisher"),
                        "gcp.pubsub.TopicIAMMember",
                        f"{base}-publisher",
                        {"topic": out("topic"), "role": "roles/pubsub.publisher", "member": member},
                        uses_line,
                        _opts(provider),
                    )
                    prog.resource(
                        (_v(store.name), "subscriber"),
                        "gcp.pubsub.SubscriptionIAMMember",
                        f"{base}-subscriber",
                        {
                            "subscription": out("subscription"),
                            "role": "roles/pubsub.subscriber",
                            "member": member,
                        },
                        uses_line,
                        _opts(provider),
                    )
                else:
                    prog.resource(
                        (_v(store.name), "user"),
                        "gcp.projects.IAMMember",
                        f"{base}-datastore-user",
                        {
                            "project": project,
                            "role": "roles/datastore.user",
                            "member": member,
                            "condition": {
                                "title": f"{store.name}-only",
                                "expression": "resource.name == "
                                + _cel_string(
                                    f"projects/{project}/databases/{_gcp_id(63, p.name, store.name)}"
                                ),
                            },
                        },
                        uses_line,
                        _opts(provider),
                    )
            parts.service_account_annotations[WORKLOAD_IDENTITY_ANNOTATION] = Code(
                f"{account}.email"
            )
            parts.egress += METADATA_SERVER_EGRESS + [GOOGLE_APIS_EGRESS]
        if private_ports:
            parts.egress.append(
                {
                    "to": [{"ip_block": {"cidr": str(plan.private_services)}}],
                    "ports": [{"protocol": "TCP", "port": port} for port in sorted(private_ports)],
                }
            )
        k8s.emit_app(ctx, k8s_provider, app, parts)


def _service_agent(project_info: Code, agent: str) -> Call:
    """The member name of one of Google's per-project service agents."""
    return Call(
        "pulumi.Output.concat",
        [
            "serviceAccount:service-",
            Code(f"{project_info}.number"),
            f"@{agent}.iam.gserviceaccount.com",
        ],
    )


def _enabled(platform: Platform, key: str) -> bool:
    s = platform.services
    return {"logging": s.logging, "autoscaler": s.autoscaler, "metricsServer": s.metrics_server}[
        key
    ]


def _workload_account(ctx, provider, apis, var, name, namespace, service_account, line) -> Code:
    """A Google service account one Kubernetes service account may act as."""
    p, prog = ctx.platform, ctx.program
    account = prog.resource(
        (var, "account"),
        "gcp.serviceaccount.Account",
        f"{p.name}-{name}",
        {
            "account_id": _account_id(p.name, name),
            "display_name": f"{namespace}/{service_account} of platform {p.name}"[:100],
            "description": f"Workload identity of Kubernetes service account {namespace}/{service_account}"[
                :256
            ],
        },
        line,
        _opts(provider, apis),
    )
    prog.resource(
        (var, "workload_identity"),
        "gcp.serviceaccount.IAMMember",
        f"{p.name}-{name}-workload-identity",
        {
            "service_account_id": Code(f"{account}.name"),
            "role": "roles/iam.workloadIdentityUser",
            "member": _workload_member(p.cloud.project, namespace, service_account),
        },
        line,
        _opts(provider, apis),
    )
    return account


BACKEND = GcpBackend()
