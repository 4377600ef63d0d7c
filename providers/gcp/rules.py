"""GCP (GKE): facts about the cloud, the address plan of a GKE network, and
the rules `crosswalk validate` checks only on GCP.

The address plan lives here, not in the backend, so validation judges the same
ranges the emitted programs use.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from crosswalk.providers import (
    Finding,
    ProviderRules,
    calendar,
    check_tags,
    colliding_secret_names,
    environment_scope,
    shortened,
)

REGIONS = frozenset(
    """
    us-central1 us-east1 us-east4 us-east5 us-south1 us-west1 us-west2 us-west3 us-west4
    northamerica-northeast1 northamerica-northeast2 northamerica-south1 southamerica-east1
    southamerica-west1 europe-west1 europe-west2 europe-west3 europe-west4 europe-west6
    europe-west8 europe-west9 europe-west10 europe-west12 europe-north1 europe-north2
    europe-central2 europe-southwest1 asia-east1 asia-east2 asia-northeast1 asia-northeast2
    asia-northeast3 asia-south1 asia-south2 asia-southeast1 asia-southeast2
    australia-southeast1 australia-southeast2 me-west1 me-central1 me-central2 africa-south1
    """.split()  # noqa: SIM905 (one region list, easy to read and extend)
)

# GKE's Kubernetes calendar: available in the Regular channel, end of standard
# support, end of extended support. Source: the Google page
# https://cloud.google.com/kubernetes-engine/docs/release-schedule as collected
# in endoflife.date's products/google-kubernetes-engine.md, snapshot of
# 2026-08-22. That file gives no extended date: GKE offers about 24 months in
# all through the Extended channel, so it is derived as release + 24 months.
# crosswalk's clusters are on the Regular channel, where a version ends with
# standard support (the Extended channel is not used).
KUBERNETES_VERSIONS = calendar(
    (
        ("1.36", "2026-06-09", "2027-08-09", "2028-06-09"),
        ("1.35", "2026-02-11", "2027-04-11", "2028-02-11"),
        ("1.34", "2025-09-30", "2026-10-01", "2027-09-30"),
        ("1.33", "2025-06-03", "2026-08-03", "2027-06-03"),
        ("1.32", "2025-02-11", "2026-04-11", "2027-02-11"),
        ("1.31", "2024-10-25", "2026-01-16", "2026-10-25"),
        ("1.30", "2024-07-31", "2025-09-30", "2026-07-31"),
    )
)
# Zones of each region, from Google Cloud's list of regions and zones, 2025:
# three everywhere but us-central1. GKE spreads node pools over the first
# network.zones of them.
ZONES = {"us-central1": ("a", "b", "c", "f")}
DEFAULT_ZONES = ("a", "b", "c")


def zones_of(region: str) -> tuple[str, ...] | None:
    """The zone letters of `region`; None for a region crosswalk does not know."""
    if region not in REGIONS:
        return None
    return ZONES.get(region, DEFAULT_ZONES)


# Engine versions as platform.yaml writes them -> what Cloud SQL / Memorystore call them.
SQL_VERSIONS = {
    "postgres": {
        v: f"POSTGRES_{v.replace('.', '_')}"
        for v in ("9.6", "10", "11", "12", "13", "14", "15", "16", "17")
    },
    "mysql": {v: f"MYSQL_{v.replace('.', '_')}" for v in ("5.6", "5.7", "8.0", "8.4")},
}
REDIS_VERSIONS = {
    "3.2": "REDIS_3_2",
    "4.0": "REDIS_4_0",
    "5.0": "REDIS_5_0",
    "6": "REDIS_6_X",
    "7.0": "REDIS_7_0",
    "7.2": "REDIS_7_2",
}
DEFAULT_VERSIONS = {"postgres": "16", "mysql": "8.0", "redis": "7.2"}
# The PostgreSQL major versions AlloyDB runs (`flavor: alloydb`).
ALLOYDB_VERSIONS = {v: f"POSTGRES_{v}" for v in ("14", "15", "16", "17")}
# AlloyDB's machine types: the N2, C4 and C4A families' high-memory shapes.
ALLOYDB_MACHINE_TYPE = re.compile(r"^(n2|c4|c4a)-highmem-[0-9]+(-lssd)?$")
# Memorystore is sized by memory, not by instance class.
REDIS_MEMORY_GB = {"small": 1, "medium": 5, "large": 13, "xlarge": 26}
# Cloud SQL machine tiers: shared-core, custom and the Enterprise Plus families.
SQL_TIER = re.compile(
    r"^db-(f1-micro|g1-small|custom-[0-9]+-[0-9]+|(perf-optimized|memory-optimized)-N-[0-9]+)$"
)

# Label keys and values: lower case (GCP takes no upper-case letter), 63 characters at most.
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")

# Team members as IAM principals; Kubernetes RBAC names them by their email.
MEMBER = re.compile(r"^(user|group|serviceAccount):([^@\s]+@([^@\s]+))$")

# GKE gives each node a /24 of the pod range for its 110 pods (twice what it needs).
NODE_POD_PREFIX = 24
# Where crosswalk looks for free ranges, in this order (RFC 1918).
PRIVATE_POOLS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
# Docker's bridge on the nodes: never chosen for the cluster's own ranges.
RESERVED = ("172.17.0.0/16",)
DEFAULT_POD_PREFIX = 14  # GKE's own default: 1,024 nodes
DEFAULT_SERVICE_PREFIX = 20  # 4,096 Services
CONTROL_PLANE_PREFIX = 28  # what GKE requires for a private control plane
PRIVATE_SERVICES_PREFIX = 20  # Private Service Access for Cloud SQL and Memorystore


class NoFreeRange(ValueError):
    """The platform's own ranges leave no room for one GKE needs."""

    def __init__(self, prefix: int):
        super().__init__(f"no free /{prefix} left in {', '.join(PRIVATE_POOLS)}")
        self.prefix = prefix


@dataclass(frozen=True)
class AddressPlan:
    """Every range a GKE platform's network uses; none overlaps another."""

    nodes: ipaddress.IPv4Network  # the subnetwork's primary range: network.cidr
    pods: ipaddress.IPv4Network  # secondary range "pods": network.podCidr or a free /14
    services: ipaddress.IPv4Network  # secondary range "services": network.serviceCidr or a free /20
    control_plane: ipaddress.IPv4Network  # the private control plane's /28
    private_services: ipaddress.IPv4Network  # peered to Google's services (Cloud SQL, Redis)

    def nodes_fit(self) -> int:
        """How many nodes the pod range has room for."""
        if self.pods.prefixlen > NODE_POD_PREFIX:
            return 0
        return 2 ** (NODE_POD_PREFIX - self.pods.prefixlen)


def address_plan(network) -> AddressPlan:
    """The platform's ranges: what platform.yaml sets, and free private ranges
    chosen deterministically for the rest (so recompiling never moves them)."""
    nodes = ipaddress.ip_network(network.cidr)
    taken = [nodes, *(ipaddress.ip_network(r) for r in RESERVED)]
    pods = _given_or_free(network.pod_cidr, DEFAULT_POD_PREFIX, taken)
    services = _given_or_free(network.service_cidr, DEFAULT_SERVICE_PREFIX, taken)
    control_plane = _given_or_free(None, CONTROL_PLANE_PREFIX, taken)
    private_services = _given_or_free(None, PRIVATE_SERVICES_PREFIX, taken)
    return AddressPlan(nodes, pods, services, control_plane, private_services)


def _given_or_free(given: str | None, prefix: int, taken: list) -> ipaddress.IPv4Network:
    if given is not None:
        chosen = ipaddress.ip_network(given)
    else:
        chosen = _free(prefix, taken)
    taken.append(chosen)
    return chosen


def _free(prefix: int, taken: list) -> ipaddress.IPv4Network:
    for pool in PRIVATE_POOLS:
        space = ipaddress.ip_network(pool)
        if space.prefixlen > prefix:
            continue
        candidate = next(space.subnets(new_prefix=prefix))
        while candidate.subnet_of(space):
            clash = next((t for t in taken if t.overlaps(candidate)), None)
            if clash is None:
                return candidate
            # Jump past the range it hit instead of walking every block inside it.
            after = int(max(clash.broadcast_address, candidate.broadcast_address)) + 1
            aligned = -(-after // candidate.num_addresses) * candidate.num_addresses
            if aligned > int(space.broadcast_address):
                break
            candidate = ipaddress.ip_network((aligned, prefix))
    raise NoFreeRange(prefix)


def sql_version(engine: str, version: str | None) -> str | None:
    """Cloud SQL's name for a postgres/mysql version, None when it has none."""
    return SQL_VERSIONS[engine].get(version or DEFAULT_VERSIONS[engine])


def alloydb_version(version: str | None) -> str | None:
    """AlloyDB's name for a postgres version, None when it runs none such."""
    return ALLOYDB_VERSIONS.get(version or DEFAULT_VERSIONS["postgres"])


def redis_version(version: str | None) -> str | None:
    return REDIS_VERSIONS.get(version or DEFAULT_VERSIONS["redis"])


def gcp_name(platform, limit: int, *parts: str) -> str:
    """The id of a resource GCP keeps unique in a project (or a region of it):
    the platform's name, the environment's unless it is the default one of its
    project (see providers.environment_scope), then `parts`, joined by '-'; a
    stable hash of the whole replaces its tail when it is longer than `limit`.
    Ids start with a letter (the platform's name does: CW509)."""
    return shortened("-".join(environment_scope(platform) + parts), limit)


def bucket_name(platform, bucket: str) -> str:
    """A Cloud Storage bucket's name, which must be unique across Google Cloud:
    the project's id (unique itself) before the platform's name for it."""
    return shortened(f"{platform.cloud.project}-" + gcp_name(platform, 63, bucket), 63)


# Cloud Storage refuses names with 'google' in them, or close misspellings.
GOOGLE_LOOKALIKE = re.compile(r"g[o0]{2}g(l|1)e|^goog")


def _check_buckets(platform) -> list[Finding]:
    found = []
    for bucket in platform.buckets:
        if GOOGLE_LOOKALIKE.search(bucket.name):
            found.append(
                Finding(
                    "error",
                    "CW509",
                    f"'{bucket.name}' cannot name a Cloud Storage bucket: names may not "
                    "contain 'google' or look like it",
                    bucket.path + ("name",),
                    "rename the bucket",
                )
            )
    return found


def _lower(text: str) -> str:
    """'CostCenter' -> 'cost-center': how a label spells a tag of another cloud."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", text).lower()


def _label_key(key: str) -> tuple[str, str] | None:
    if LABEL_KEY.match(key):
        return None
    if LABEL_KEY.match(_lower(key)):
        return "GCP labels are lower case", f"use '{_lower(key)}'"
    shape = "up to 63 lower-case letters, digits, '-' and '_', starting with a letter"
    return f"GCP label keys are {shape}", "rename it"


def _label_value(value: str) -> tuple[str, str] | None:
    if LABEL_VALUE.match(value):
        return None
    if LABEL_VALUE.match(_lower(value)):
        return "GCP labels are lower case", f"use '{_lower(value)}'"
    return "GCP label values are up to 63 lower-case letters, digits, '-' and '_'", "change it"


def security_group_domain(platform) -> str | None:
    """The domain of the teams' Google Groups: GKE's Google Groups for RBAC
    looks them up through gke-security-groups@<domain>."""
    for team in platform.teams:
        for member in team.members:
            match = MEMBER.match(member)
            if match and match.group(1) == "group":
                return match.group(3)
    return None


def _check_zones(platform) -> list[Finding]:
    zones, region = platform.network.zones, platform.cloud.region
    offered = zones_of(region)
    if offered is None or zones <= len(offered):
        return []
    return [
        Finding(
            "error",
            "CW514",
            f"'{region}' has {len(offered)} zones, not {zones}",
            ("network", "zones"),
            f"set network.zones to {len(offered)} or fewer",
        )
    ]


def _checks(platform) -> list[Finding]:
    found: list[Finding] = []
    if not platform.name[0].isalpha():
        found.append(
            Finding(
                "error",
                "CW509",
                f"'{platform.name}' cannot name GCP resources: their names start with a letter",
                ("name",),
                "start the platform's name with a letter",
            )
        )
    found += check_tags(platform, "a GCP label", _label_key, _label_value)
    found += _check_members(platform)
    found += _check_address_plan(platform)
    found += _check_datastores(platform)
    found += _check_buckets(platform)
    found += _check_zones(platform)
    found += colliding_secret_names(
        platform, "Secret Manager", "'<platform>[-<environment>]-apps-<app>-<secret>'"
    )
    return found


def _check_members(platform) -> list[Finding]:
    found = []
    domains: dict[str, tuple] = {}
    for team in platform.teams:
        for i, member in enumerate(team.members):
            path = team.path + ("members", i)
            match = MEMBER.match(member)
            if match is None:
                found.append(
                    Finding(
                        "error",
                        "CW507",
                        f"'{member}' is not a GCP principal",
                        path,
                        "write 'user:EMAIL', 'group:EMAIL' or 'serviceAccount:EMAIL'",
                    )
                )
            elif match.group(1) == "group":
                domains.setdefault(match.group(3), path)
    if len(domains) > 1:
        first, *others = domains
        for domain in others:
            found.append(
                Finding(
                    "warning",
                    "CW510",
                    f"group of '{domain}': Kubernetes RBAC sees Google Groups only through "
                    f"gke-security-groups@{first}",
                    domains[domain],
                    f"make the group a member of gke-security-groups@{first}, or use groups of "
                    f"'{first}' only",
                )
            )
    return found


def _check_address_plan(platform) -> list[Finding]:
    network = platform.network
    try:
        plan = address_plan(network)
    except NoFreeRange as full:
        what = {
            CONTROL_PLANE_PREFIX: "the private control plane",
            PRIVATE_SERVICES_PREFIX: "Private Service Access (Cloud SQL, Memorystore)",
        }.get(full.prefix, "pods or services")
        return [
            Finding(
                "error",
                "CW506",
                f"the network's ranges leave no free /{full.prefix} for {what} in "
                f"{', '.join(PRIVATE_POOLS)}",
                ("network", "cidr"),
                "use smaller ranges for the network, pods and services",
            )
        ]
    except ValueError:  # an invalid CIDR: the shared checks report it (CW307)
        return []
    pools = platform.cluster.node_pools
    most_nodes = sum(pool.max for pool in pools)
    found = []
    if plan.nodes_fit() < most_nodes:
        where = ("network", "podCidr") if network.pod_cidr else ("network", "cidr")
        fitting = max(NODE_POD_PREFIX - (most_nodes - 1).bit_length(), 0)
        found.append(
            Finding(
                "error",
                "CW506",
                f"pod range '{plan.pods}' has room for {plan.nodes_fit()} nodes, but the node "
                f"pools scale to {most_nodes}",
                where,
                f"GKE gives every node a /{NODE_POD_PREFIX} of pod addresses: set podCidr to a "
                f"/{fitting} or larger"
                if network.pod_cidr
                else f"set network.podCidr to a /{fitting} or larger",
            )
        )
    # A subnetwork keeps four addresses for itself.
    if plan.nodes.num_addresses - 4 < most_nodes:
        found.append(
            Finding(
                "error",
                "CW506",
                f"'{plan.nodes}' has {plan.nodes.num_addresses - 4} node addresses, but the node "
                f"pools scale to {most_nodes}",
                ("network", "cidr"),
                "use a larger network.cidr",
            )
        )
    return found


def _check_datastores(platform) -> list[Finding]:
    found = []
    for store in platform.app_services.datastores:
        if store.alloydb and store.engine == "postgres":
            if alloydb_version(store.version) is None:
                offered = ", ".join(f"'{v}'" for v in ALLOYDB_VERSIONS)
                found.append(
                    Finding(
                        "error",
                        "CW508",
                        f"AlloyDB offers no postgres '{store.version}'",
                        store.path + ("version",),
                        f"AlloyDB runs major versions {offered}",
                    )
                )
            if store.instance_class and not ALLOYDB_MACHINE_TYPE.match(store.instance_class):
                found.append(
                    Finding(
                        "error",
                        "CW508",
                        f"'{store.instance_class}' is not an AlloyDB machine type",
                        store.path + ("instanceClass",),
                        "AlloyDB machine types look like 'n2-highmem-4'; or use size",
                    )
                )
        elif store.engine in SQL_VERSIONS:
            if sql_version(store.engine, store.version) is None:
                offered = ", ".join(f"'{v}'" for v in SQL_VERSIONS[store.engine])
                found.append(
                    Finding(
                        "error",
                        "CW508",
                        f"Cloud SQL offers no {store.engine} '{store.version}'",
                        store.path + ("version",),
                        f"Cloud SQL takes major versions: {offered}",
                    )
                )
            if store.instance_class and not SQL_TIER.match(store.instance_class):
                found.append(
                    Finding(
                        "error",
                        "CW508",
                        f"'{store.instance_class}' is not a Cloud SQL machine tier",
                        store.path + ("instanceClass",),
                        "Cloud SQL tiers look like 'db-custom-2-7680'; or use size",
                    )
                )
        elif store.engine == "redis":
            if redis_version(store.version) is None:
                offered = ", ".join(f"'{v}'" for v in REDIS_VERSIONS)
                found.append(
                    Finding(
                        "error",
                        "CW508",
                        f"Memorystore offers no redis '{store.version}'",
                        store.path + ("version",),
                        f"Memorystore runs redis {offered}",
                    )
                )
            if store.instance_class:
                found.append(
                    Finding(
                        "error",
                        "CW508",
                        "Memorystore has no instance classes",
                        store.path + ("instanceClass",),
                        "use size: "
                        + ", ".join(f"{size} ({gb} GB)" for size, gb in REDIS_MEMORY_GB.items()),
                    )
                )
    return found


RULES = ProviderRules(
    cloud="gcp",
    title="GCP",
    regions=REGIONS,
    region_pattern=re.compile(r"^[a-z]+-[a-z]+[0-9]+$"),
    region_example="europe-west1",
    machine_type_pattern=re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$"),
    machine_type_example="e2-standard-4",
    kubernetes_service="GKE",
    kubernetes_versions=KUBERNETES_VERSIONS,
    network_policy_enforcer="GKE Dataplane V2 (the cluster's datapath_provider ADVANCED_DATAPATH)",
    needs_project=True,
    extra_checks=_checks,
)
