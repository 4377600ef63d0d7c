"""Azure (AKS): facts about the cloud, the names crosswalk gives Azure
resources, and the rules `crosswalk validate` checks only on Azure.

Names live here, not in the backend, so validation judges exactly the names
the emitted programs build. Globally unique names (Key Vault, registries,
datastores) carry the environment, which a program only learns when it runs
(`pulumi.get_stack()`): validation tries every declared environment.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from crosswalk.providers import Finding, ProviderRules, calendar, check_tags, colliding_secret_names

LOCATIONS = frozenset(
    """
    eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus
    westcentralus canadacentral canadaeast brazilsouth mexicocentral northeurope westeurope
    uksouth ukwest francecentral germanywestcentral norwayeast swedencentral
    switzerlandnorth polandcentral italynorth spaincentral austriaeast belgiumcentral
    eastasia southeastasia japaneast japanwest koreacentral centralindia southindia
    westindia australiaeast australiasoutheast australiacentral newzealandnorth uaenorth
    southafricanorth qatarcentral israelcentral indonesiacentral malaysiawest chilecentral
    """.split()  # noqa: SIM905
)

# AKS's Kubernetes calendar: GA on AKS, end of community support, end of LTS
# support. Source: the Microsoft page
# https://learn.microsoft.com/en-us/azure/aks/supported-kubernetes-versions as
# collected in endoflife.date's products/azure-kubernetes-service.md, snapshot
# of 2026-08-22. LTS needs the Premium tier; crosswalk's clusters are on the
# Standard tier, where a version ends with community support.
KUBERNETES_VERSIONS = calendar(
    (
        ("1.36", "2026-06-30", "2027-06-30", "2028-06-30"),
        ("1.35", "2026-03-05", "2027-03-31", "2028-03-31"),
        ("1.34", "2026-01-04", "2026-11-30", "2027-11-30"),
        ("1.33", "2025-06-17", "2026-07-31", "2027-07-31"),
        ("1.32", "2025-04-06", "2026-03-31", "2027-03-31"),
        ("1.31", "2024-10-25", "2025-11-01", "2026-11-30"),
        ("1.30", "2024-08-05", "2025-08-22", "2026-07-31"),
    )
)

# Portable node sizes -> VM sizes (general purpose, premium storage capable).
NODE_SIZES = {
    "small": "Standard_D2s_v5",
    "medium": "Standard_D4s_v5",
    "large": "Standard_D8s_v5",
    "xlarge": "Standard_D16s_v5",
}

# Standard_<family><vCPUs>[-<constrained>]<features>[_<version>], e.g. Standard_D8as_v5.
VM_SIZE = re.compile(
    r"^Standard_(?P<family>[A-Z]+)(?P<vcpus>[0-9]+)(?:-[0-9]+)?(?P<features>[a-z]*)"
    r"(?:_(?P<rest>[A-Za-z0-9_]+))?$"
)
# The least memory a family gives per vCPU (GiB); families not listed give 2 or more.
MEMORY_PER_VCPU = {"A": 1.75, "F": 2.0, "D": 3.5, "DS": 3.5, "E": 8.0, "L": 8.0, "M": 14.0}
# What AKS needs of any node, and of its system pool in particular.
MIN_VCPUS = 2
MIN_MEMORY_GIB = 4.0
# AKS node pool names: lowercase letters and digits, starting with a letter (Linux: <= 12).
POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# Team members are Entra ID object ids (users or groups).
OBJECT_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)

# Engine versions as platform.yaml writes them -> what Azure calls them.
SQL_VERSIONS = {
    "postgres": {v: v for v in ("11", "12", "13", "14", "15", "16", "17", "18")},
    "mysql": {"5.7": "5.7", "8.0": "8.0.21"},
}
DEFAULT_VERSIONS = {"postgres": "16", "mysql": "8.0", "redis": "6"}
REDIS_VERSIONS = ("4", "4.0", "6", "6.0")
# Azure Cache for Redis as an instance class: <SKU>_<family><capacity>, e.g. Premium_P1.
REDIS_CLASS = re.compile(r"^(?:(?:Basic|Standard)_C[0-6]|Premium_P[1-5])$")


def redis_sku(instance_class: str) -> dict:
    name, _, rest = instance_class.partition("_")
    return {"name": name, "family": rest[0], "capacity": int(rest[1:])}


# Azure CNI overlay: pods take addresses from a range outside the network, a /24 per node.
NODE_POD_PREFIX = 24
# Overlay pod ranges and service ranges crosswalk picks from when the platform names none.
POD_RANGES = ("10.244.0.0/14", "172.20.0.0/14", "192.168.0.0/16")
SERVICE_RANGES = ("172.16.0.0/16", "10.96.0.0/16", "192.168.128.0/17")
AZURE_RESERVED = 5  # addresses Azure keeps in every subnet
AVAILABILITY_ZONES = 3  # in every region that has zones (Azure's list of regions, 2025)


DNS_SERVICE_INDEX = 10  # the cluster DNS service takes the service range's x.x.x.10
SMALLEST_SERVICE_RANGE = 28


def address_plan(network) -> tuple[str, str, str | None]:
    """The overlay pod range, the service range and the cluster DNS address
    (None when the range is too small to hold it: validation says so), none
    overlapping the virtual network (or each other)."""
    vnet = ipaddress.ip_network(network.cidr)
    if network.service_cidr:
        service = ipaddress.ip_network(network.service_cidr)
    else:
        service = _free(SERVICE_RANGES, [vnet])
    pods = _free(POD_RANGES, [vnet, service])
    dns = str(service[DNS_SERVICE_INDEX]) if service.prefixlen <= SMALLEST_SERVICE_RANGE else None
    return str(pods), str(service), dns


def _free(candidates: tuple[str, ...], taken: list):
    """The first candidate range that overlaps none taken (the first, if all do)."""
    ranges = [ipaddress.ip_network(c) for c in candidates]
    return next((r for r in ranges if not any(r.overlaps(t) for t in taken)), ranges[0])


# The smallest subnet AKS's API Server VNet Integration takes; the planned one is
# an eighth of the network, a /27 in a /24, the smallest network crosswalk accepts (CW307).
APISERVER_PREFIX = 28


def subnet_plan(cidr: str, engines: list[str]) -> dict[str, str]:
    """Nodes take the first half of the network; private endpoints and each SQL
    engine's delegated subnet an eighth each of the rest, the API server's
    delegated subnet (API Server VNet Integration) the last eighth."""
    network = ipaddress.ip_network(cidr)
    nodes, rest = network.subnets(prefixlen_diff=1)
    eighths = list(rest.subnets(prefixlen_diff=2))
    plan = {"nodes": str(nodes), "endpoints": str(eighths[0])}
    for i, engine in enumerate(engines, start=1):
        plan[engine] = str(eighths[i])
    plan["apiserver"] = str(eighths[-1])
    return plan


def vm_size(pool) -> str:
    return pool.machine_type or NODE_SIZES[pool.size]


# The local disk an ephemeral OS disk can live on (GiB), by (family, feature
# letters, version) and vCPUs: the temporary SSD of the v5 sizes with the 'd'
# (local disk) feature letter, 37.5 GiB per vCPU; a constrained-vCPU size
# (Standard_E8-4ds_v5) has its parent's disk. AKS puts an ephemeral OS disk on
# the size's cache or temporary disk, which must hold the whole OS disk
# (diskSizeGb). Sizes not listed get a managed OS disk. Source: Microsoft's
# size pages (https://learn.microsoft.com/en-us/azure/virtual-machines/sizes/
# general-purpose/ddsv5-series, .../ddv5-series, .../dadsv5-series,
# memory-optimized/edsv5-series, .../edv5-series, .../eadsv5-series) and the AKS
# page https://learn.microsoft.com/en-us/azure/aks/concepts-storage#ephemeral-os-disk,
# read 2026-12-02.
_D_V5 = {2: 75, 4: 150, 8: 300, 16: 600, 32: 1200, 48: 1800, 64: 2400, 96: 3600}
_E_V5 = _D_V5 | {20: 750}
LOCAL_DISK_GIB: dict[tuple[str, str, str], dict[int, int]] = {
    ("D", "ds", "v5"): _D_V5,
    ("D", "d", "v5"): _D_V5,
    ("D", "ads", "v5"): _D_V5,
    ("E", "ds", "v5"): _E_V5,
    ("E", "d", "v5"): _E_V5,
    ("E", "ads", "v5"): _E_V5,
}


def local_disk_gib(size: str) -> int | None:
    """The local disk of a VM size an ephemeral OS disk can use, if the table knows one."""
    match = VM_SIZE.match(size)
    if match is None:
        return None
    sizes = LOCAL_DISK_GIB.get(
        (match.group("family"), match.group("features"), match.group("rest"))
    )
    return (sizes or {}).get(int(match.group("vcpus")))


def os_disk_type(size: str, disk_size_gb: int) -> str:
    """Ephemeral where the size's local disk holds the OS disk, else Managed."""
    local = local_disk_gib(size)
    return "Ephemeral" if local is not None and disk_size_gb <= local else "Managed"


def premium_storage(size: str) -> bool:
    """Whether a VM size can attach Premium SSDs (an 's' among its feature letters)."""
    match = VM_SIZE.match(size)
    return match is not None and (
        "s" in match.group("features") or match.group("family").endswith("S")
    )


def system_pool(platform):
    """AKS needs one System-mode pool, declared with the cluster: the first node pool."""
    return platform.cluster.node_pools[0]


@dataclass(frozen=True)
class AzureName:
    """How crosswalk names one kind of Azure resource, and the rule Azure sets
    for such names. `template` has {platform}, {env} and {item} (a datastore or
    registry name); `compact` names drop the hyphens of every part."""

    title: str
    template: str
    shortest: int
    longest: int
    pattern: re.Pattern
    shape: str  # the pattern in words
    compact: bool = False

    def render(self, platform: str, env: str, item: str = "") -> str:
        parts = {"platform": platform, "env": env, "item": item}
        if self.compact:
            parts = {k: v.replace("-", "") for k, v in parts.items()}
        return self.template.format(**parts)

    def around_env(self, platform: str, item: str = "") -> tuple[str, str]:
        """The text before and after the environment, for a program that knows
        the environment only as its stack name."""
        before, _, after = self.template.partition("{env}")
        parts = {"platform": platform, "item": item}
        if self.compact:
            parts = {k: v.replace("-", "") for k, v in parts.items()}
        return before.format(**parts), after.format(**parts)

    def pattern_in_words(self) -> str:
        return self.template.format(platform="<platform>", env="<environment>", item="<name>")

    def problem(self, name: str) -> str | None:
        if len(name) > self.longest:
            return f"is {len(name)} characters; Azure allows at most {self.longest}"
        if len(name) < self.shortest:
            return f"is {len(name)} characters; Azure needs at least {self.shortest}"
        if not self.pattern.match(name):
            return f"breaks Azure's rule: {self.shape}"
        return None


_DASHED = r"(?!.*--)"
KEY_VAULT = AzureName(
    "Key Vault",
    "kv-{platform}-{env}",
    3,
    24,
    re.compile(rf"^{_DASHED}[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$"),
    "letters, digits and single hyphens, starting with a letter",
)
# The apps' secrets live in a vault of their own, in a resource group of their
# own (providers/azure/app_secrets.py).
APP_KEY_VAULT = AzureName(
    "Key Vault",
    "kva-{platform}-{env}",
    3,
    24,
    re.compile(rf"^{_DASHED}[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$"),
    "letters, digits and single hyphens, starting with a letter",
)
# Key Vault secret names: letters, digits and hyphens, up to 127 characters
# (an app's name and a secret's name, both DNS labels, always fit).
SECRET_NAME_LIMIT = 127


def app_secret_name(app, secret) -> str:
    """An app's secret in the apps' vault (which is the environment's own):
    `<app>-<secret>`."""
    return f"{app.cloud_name}-{secret.name}"


REGISTRY = AzureName(
    "container registry",
    "{platform}{env}{item}",
    5,
    50,
    re.compile(r"^[a-z0-9]+$"),
    "letters and digits only",
    compact=True,
)
STORAGE_ACCOUNT = AzureName(
    "storage account",
    "st{platform}{env}",
    3,
    24,
    re.compile(r"^[a-z0-9]+$"),
    "lowercase letters and digits only",
    compact=True,
)
# The account of the buckets anyone may read (`public: true`), which the
# internet reaches.
PUBLIC_STORAGE_ACCOUNT = AzureName(
    "public storage account",
    "stpub{platform}{env}",
    3,
    24,
    re.compile(r"^[a-z0-9]+$"),
    "lowercase letters and digits only",
    compact=True,
)
# The platform's Azure Data Explorer cluster, which holds its warehouses.
WAREHOUSE_CLUSTER = AzureName(
    "Data Explorer cluster",
    "dec{platform}{env}",
    4,
    22,
    re.compile(r"^[a-z][a-z0-9]+$"),
    "a lowercase letter, then lowercase letters and digits",
    compact=True,
)
# A bucket is a container of the platform's storage account: its name is the bucket's.
CONTAINER = AzureName(
    "blob container",
    "{item}",
    3,
    63,
    re.compile(rf"^{_DASHED}[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
    "lowercase letters, digits and single hyphens",
)
# The platform's one Event Hubs namespace holds an event hub per stream
# datastore (named as the datastore: unique in its namespace).
STREAM_NAMESPACE = AzureName(
    "Event Hubs namespace",
    "{platform}-{env}-streams",
    6,
    50,
    re.compile(r"^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$(?<!-sb)(?<!-mgmt)"),
    "letters, digits and hyphens, starting with a letter, not ending in '-sb' or '-mgmt'",
)
DATASTORE_NAMES = {
    "postgres": AzureName(
        "PostgreSQL server",
        "{platform}-{env}-{item}",
        3,
        63,
        re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
        "lowercase letters, digits and hyphens",
    ),
    "mysql": AzureName(
        "MySQL server",
        "{platform}-{env}-{item}",
        3,
        63,
        re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
        "lowercase letters, digits and hyphens",
    ),
    "redis": AzureName(
        "Azure Cache for Redis",
        "{platform}-{env}-{item}",
        1,
        63,
        re.compile(rf"^{_DASHED}[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
        "lowercase letters, digits and single hyphens",
    ),
    "queue": AzureName(
        "Service Bus namespace",
        "{platform}-{env}-{item}",
        6,
        50,
        re.compile(r"^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$(?<!-sb)(?<!-mgmt)"),
        "letters, digits and hyphens, starting with a letter, not ending in '-sb' or '-mgmt'",
    ),
    "document": AzureName(
        "Cosmos DB account",
        "{platform}-{env}-{item}",
        3,
        44,
        re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
        "lowercase letters, digits and hyphens",
    ),
}


def _check_zones(platform) -> list[Finding]:
    """Azure regions with availability zones have three of them."""
    if platform.network.zones <= AVAILABILITY_ZONES:
        return []
    return [
        Finding(
            "error",
            "CW514",
            f"Azure regions have at most {AVAILABILITY_ZONES} availability zones, not "
            f"{platform.network.zones}",
            ("network", "zones"),
            f"set network.zones to {AVAILABILITY_ZONES} or fewer",
        )
    ]


# Tag names: up to 512 characters, none of these; values up to 256.
TAG_NAME_FORBIDDEN = re.compile(r"[<>%&\\?/]")
TAG_NAME_LIMIT, TAG_VALUE_LIMIT = 512, 256


def _tag_name(key: str) -> tuple[str, str] | None:
    if len(key) > TAG_NAME_LIMIT:
        return f"Azure tag names have at most {TAG_NAME_LIMIT} characters", "shorten it"
    if TAG_NAME_FORBIDDEN.search(key):
        return "Azure tag names cannot hold < > % & \\ ? /", "remove those characters"
    return None


def _tag_value(value: str) -> tuple[str, str] | None:
    if len(value) > TAG_VALUE_LIMIT:
        return f"Azure tag values have at most {TAG_VALUE_LIMIT} characters", "shorten it"
    return None


def _checks(platform) -> list[Finding]:
    return (
        _check_zones(platform)
        + check_tags(platform, "an Azure tag", _tag_name, _tag_value)
        + _check_address_plan(platform)
        + _check_members(platform)
        + _check_names(platform)
        + _check_pools(platform)
        + _check_datastores(platform)
    )


def _check_address_plan(platform) -> list[Finding]:
    """Room for every node the pools scale to, in the nodes' subnet and in the pod range."""
    network = platform.network
    try:
        pods, _, dns = address_plan(network)
        nodes = ipaddress.ip_network(subnet_plan(network.cidr, [])["nodes"])
    except ValueError:  # an invalid CIDR: the shared checks report it (CW307)
        return []
    most = sum(pool.max for pool in platform.cluster.node_pools)
    found = []
    if dns is None:
        found.append(
            Finding(
                "error",
                "CW506",
                f"the service range '{network.service_cidr}' is too small: AKS gives the cluster's "
                f"DNS service its address .{DNS_SERVICE_INDEX}, and Services need the rest",
                ("network", "serviceCidr"),
                f"use a /{SMALLEST_SERVICE_RANGE} or larger serviceCidr (a /16 is usual)",
            )
        )
    room = nodes.num_addresses - AZURE_RESERVED
    if room < most:
        found.append(
            Finding(
                "error",
                "CW506",
                f"the nodes' subnet '{nodes}' (half of the network) has {room} addresses, but "
                f"the node pools scale to {most} nodes",
                ("network", "cidr"),
                "use a larger network.cidr",
            )
        )
    fits = 2 ** (NODE_POD_PREFIX - ipaddress.ip_network(pods).prefixlen)
    if fits < most:
        found.append(
            Finding(
                "error",
                "CW506",
                f"the overlay pod range '{pods}' has room for {fits} nodes (a /{NODE_POD_PREFIX} "
                f"each), but the node pools scale to {most}",
                ("cluster", "nodePools"),
                "lower the pools' max",
            )
        )
    return found


def _check_members(platform) -> list[Finding]:
    found = []
    for team in platform.teams:
        for i, member in enumerate(team.members):
            if not OBJECT_ID.match(member):
                found.append(
                    Finding(
                        "error",
                        "CW507",
                        f"'{member}' is not an Entra ID object id",
                        team.path + ("members", i),
                        "write the object id of a user or group, e.g. "
                        "'3f2b1c9e-8d4a-4e7b-9c1d-2a5f6e7b8c90' (az ad group show --query id)",
                    )
                )
    return found


def _check_datastores(platform) -> list[Finding]:
    found = []
    for store in platform.app_services.datastores:
        version = store.version
        if store.engine in SQL_VERSIONS and version and version not in SQL_VERSIONS[store.engine]:
            offered = ", ".join(f"'{v}'" for v in SQL_VERSIONS[store.engine])
            found.append(
                Finding(
                    "error",
                    "CW508",
                    f"Azure Database for {'PostgreSQL' if store.engine == 'postgres' else 'MySQL'} "
                    f"offers no {store.engine} '{version}'",
                    store.path + ("version",),
                    f"Azure offers {offered}",
                )
            )
        if store.engine == "redis" and version and version not in REDIS_VERSIONS:
            found.append(
                Finding(
                    "error",
                    "CW508",
                    f"Azure Cache for Redis offers no redis '{version}'",
                    store.path + ("version",),
                    "Azure Cache for Redis runs redis '6' (or '4')",
                )
            )
        if not store.instance_class:
            continue
        if store.engine in SQL_VERSIONS and not VM_SIZE.match(store.instance_class):
            found.append(
                Finding(
                    "error",
                    "CW508",
                    f"'{store.instance_class}' is not an Azure database compute size",
                    store.path + ("instanceClass",),
                    "sizes look like 'Standard_D4ds_v5'; or use size",
                )
            )
        elif store.engine == "redis" and not REDIS_CLASS.match(store.instance_class):
            found.append(
                Finding(
                    "error",
                    "CW508",
                    f"'{store.instance_class}' is not an Azure Cache for Redis size",
                    store.path + ("instanceClass",),
                    "sizes look like 'Standard_C1' or 'Premium_P1'; or use size",
                )
            )
    return found


def _check_names(platform) -> list[Finding]:
    found = []
    envs = [e.name for e in platform.environments]

    def check(rule: AzureName, path: tuple, item: str = "", what: str = "") -> None:
        seen: dict[str, str] = {}
        for env in envs:
            name = rule.render(platform.name, env, item)
            if name in seen:  # compact names drop hyphens: 'prod-1' and 'prod1' meet
                found.append(
                    Finding(
                        "error",
                        "CW509",
                        f"environments '{seen[name]}' and '{env}' would give the {rule.title} "
                        f"the same name '{name}'",
                        ("environments", env),
                        f"crosswalk names it '{rule.pattern_in_words()}' without hyphens: "
                        "rename one of the environments",
                        key=True,
                    )
                )
                return
            seen[name] = env
            problem = rule.problem(name)
            if problem:
                whose = f"the {what}'s name" if what else "the platform's or the environment's name"
                found.append(
                    Finding(
                        "error",
                        "CW509",
                        f"the {rule.title} name '{name}' (environment '{env}') {problem}",
                        path,
                        f"crosswalk names it '{rule.pattern_in_words()}': "
                        + ("shorten" if problem.startswith("is ") else "change")
                        + f" {whose}",
                    )
                )
                return  # one finding per resource

    check(KEY_VAULT, ("name",))
    if any(app.secrets for app in platform.apps):
        check(APP_KEY_VAULT, ("name",))
        found += colliding_secret_names(
            platform, "Key Vault", "'<app>-<secret>' in the apps' vault"
        )
    for registry in platform.registries:
        check(REGISTRY, registry.path + ("name",), registry.name, "registry")
    for store in platform.app_services.datastores:
        if store.engine != "stream":
            check(DATASTORE_NAMES[store.engine], store.path + ("name",), store.name, "datastore")
    if any(store.engine == "stream" for store in platform.app_services.datastores):
        check(STREAM_NAMESPACE, ("name",))
    if any(not bucket.public for bucket in platform.buckets):
        check(STORAGE_ACCOUNT, ("name",))
    if any(bucket.public for bucket in platform.buckets):
        check(PUBLIC_STORAGE_ACCOUNT, ("name",))
    if platform.warehouses:
        check(WAREHOUSE_CLUSTER, ("name",))
    for bucket in platform.buckets:
        # Unique in its storage account only, which is the environment's own.
        problem = CONTAINER.problem(bucket.name)
        if problem:
            found.append(
                Finding(
                    "error",
                    "CW509",
                    f"the {CONTAINER.title} name '{bucket.name}' {problem}",
                    bucket.path + ("name",),
                    "a bucket is a container of the platform's storage account, named "
                    "as the bucket: change the bucket's name",
                )
            )
    for pool in platform.cluster.node_pools:
        if not POOL_NAME.match(pool.name):
            found.append(
                Finding(
                    "error",
                    "CW509",
                    f"'{pool.name}' cannot name an AKS node pool: at most 12 lowercase letters "
                    "and digits, starting with a letter",
                    pool.path + ("name",),
                    "rename the pool, e.g. '"
                    + (re.sub(r"[^a-z0-9]", "", pool.name) or "pool")[:12]
                    + "'",
                )
            )
    return found


def _check_pools(platform) -> list[Finding]:
    found = []
    system = system_pool(platform)
    for pool in platform.cluster.node_pools:
        size = vm_size(pool)
        where = pool.path + ("machineType",) if pool.machine_type else pool.path + ("size",)
        match = VM_SIZE.match(size)
        if match is None:  # not an Azure size at all: CW503
            continue
        family, vcpus = match.group("family"), int(match.group("vcpus"))
        per_vcpu = MEMORY_PER_VCPU.get(family, 2.0)
        if family == "A" and (match.group("rest") or "").startswith("v"):
            per_vcpu = 2.0  # Av2 sizes have 2 GiB per vCPU
        role = "the system pool" if pool is system else "a node pool"
        local = local_disk_gib(size)
        if local is not None and pool.disk_size_gb > local:
            found.append(
                Finding(
                    "warning",
                    "CW616",
                    f"'{size}' has a {local} GiB local disk, too small for the pool's "
                    f"{pool.disk_size_gb} GB OS disk: its nodes get managed OS disks, not "
                    "ephemeral ones",
                    pool.path + ("diskSizeGb",),
                    f"set diskSizeGb to {local} or less for ephemeral OS disks",
                )
            )
        if family == "B":
            found.append(
                Finding(
                    "error",
                    "CW511",
                    f"'{size}' is a burstable B-series size: it runs out of CPU credits under the "
                    f"steady load of {role}",
                    where,
                    f"use a general purpose size such as '{NODE_SIZES['medium']}'",
                )
            )
        elif vcpus < MIN_VCPUS or vcpus * per_vcpu < MIN_MEMORY_GIB:
            found.append(
                Finding(
                    "error",
                    "CW511",
                    f"'{size}' is too small for {role}: AKS needs at least {MIN_VCPUS} vCPUs and "
                    f"{MIN_MEMORY_GIB:g} GiB of memory per node",
                    where,
                    f"use '{NODE_SIZES['small']}' or larger",
                )
            )
    if system.spot:
        found.append(
            Finding(
                "error",
                "CW511",
                f"'{system.name}' is the AKS system pool (the first node pool), which cannot run on "
                "spot VMs",
                system.path + ("spot",),
                "put a regular pool first",
            )
        )
    if system.min < 1:
        found.append(
            Finding(
                "error",
                "CW511",
                f"'{system.name}' is the AKS system pool (the first node pool), which needs at "
                "least one node",
                system.path + ("min",),
                "set min to 1 or more, or put another pool first",
            )
        )
    return found


RULES = ProviderRules(
    cloud="azure",
    title="Azure",
    regions=LOCATIONS,
    region_pattern=re.compile(r"^[a-z]+[0-9]?$"),
    region_example="westeurope",
    machine_type_pattern=re.compile(r"^Standard_[A-Za-z0-9_]+$"),
    machine_type_example="Standard_D4s_v5",
    kubernetes_service="AKS",
    kubernetes_versions=KUBERNETES_VERSIONS,
    network_policy_enforcer="Cilium (the cluster's network_profile.network_policy)",
    extra_checks=_checks,
    name_scope=lambda platform: (platform.name, platform.placement.environment),
    global_names=True,
)
