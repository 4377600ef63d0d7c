"""The typed platform: validated data -> frozen dataclasses, defaults applied.

Defaults come from the JSON Schema's `default` keywords (the schema is the one
source of truth), filled in by `apply_defaults` before the dataclasses are
built; the same pass turns a whole float where the schema asks for an integer
(`zones: 3.0`, which JSON Schema accepts) into an int, so nothing later sees
a float there. Every object keeps its `path` in the document, so later stages can
point diagnostics at the line that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

from crosswalk.compiler.analytics import (
    Pipeline,
    Warehouse,
    WarehouseUse,
    build_pipelines,
    build_warehouses,
)
from crosswalk.compiler.vms import Vm, build_vms
from crosswalk.schema import load_schema

LAYERS = ("identity", "managed-infra", "cluster", "cluster-services", "app-services", "apps")


def apply_defaults(data: object, schema: dict | None = None, memo: dict | None = None) -> object:
    """A copy of `data` with every schema default filled in, at any depth.

    `memo` (for the whole platform only) remembers each top-level section's
    filled copy: an environment's data shares the sections it does not
    override with the platform's (see merge_overrides), and those are not
    copied and filled again. The copies are shared, so nobody may change them.
    """
    schema = load_schema() if schema is None else schema
    plain_root = "oneOf" not in schema and not isinstance(schema.get("additionalProperties"), dict)
    if memo is None or not isinstance(data, dict) or not plain_root:
        return _filled(data, schema)
    properties = schema.get("properties", {})
    result = {}
    for key, value in data.items():
        seen = memo.get(key)
        if seen is not None and seen[0] is value:
            result[key] = seen[1]
            continue
        section = properties.get(key)
        filled = _filled(value, section) if section is not None else copy_data(value)
        memo[key] = (value, filled)
        result[key] = filled
    for key, section in properties.items():
        if key not in result and "default" in section:
            result[key] = _filled(section["default"], section)
    return result


def copy_data(value: object) -> object:
    """A deep copy of loaded YAML data (dicts, lists and scalars only), several
    times faster than copy.deepcopy, which documents of thousands of apps feel."""
    if isinstance(value, dict):
        return {key: copy_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_data(item) for item in value]
    return value


def _filled(value: object, schema: dict) -> object:
    """A copy of `value` with the defaults of `schema` filled in (one pass:
    copying and filling separately walked a large platform twice)."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is None:
            for branch in schema.get("oneOf", []):
                if branch.get("type") == "object":
                    return _filled(value, branch)
            properties = {}
        extra = schema.get("additionalProperties")
        result = {}
        for key, item in value.items():
            sub = properties.get(key)
            if sub is None and isinstance(extra, dict):
                sub = extra
            result[key] = copy_data(item) if sub is None else _filled(item, sub)
        for key, sub in properties.items():
            if key not in result and "default" in sub:
                result[key] = _filled(sub["default"], sub)
        return result
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [_filled(item, items) for item in value]
        return copy_data(value)
    if type(value) is float and schema.get("type") == "integer" and value.is_integer():
        # JSON Schema counts 3.0 as an integer; the model holds it as one.
        return int(value)
    return value


def cloud_name(item) -> str:
    """The name a renamable item (node pool, namespace, datastore, app) was
    created under, which its resources keep in the cloud and the cluster:
    the first of its `renamedFrom` names, else its name. Pulumi's logical
    names follow `name`, with aliases from the earlier ones."""
    return item.renamed_from[0] if item.renamed_from else item.name


def earlier_names(value) -> tuple[str, ...]:
    """`renamedFrom` as the model keeps it: one name or a list, oldest first."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class Cloud:
    provider: str
    region: str
    project: str | None
    account: str | None = None  # AWS
    subscription: str | None = None  # Azure
    path: tuple = ("cloud",)

    @property
    def scope(self) -> str | None:
        """What the cloud keeps names unique in: the AWS account, the GCP project,
        the Azure subscription (None: not declared)."""
        return {"aws": self.account, "gcp": self.project, "azure": self.subscription}.get(
            self.provider
        )


@dataclass(frozen=True)
class Team:
    name: str
    access: str
    members: tuple[str, ...]
    namespaces: tuple[str, ...]
    path: tuple


@dataclass(frozen=True)
class Automation:
    name: str
    repository: str
    ref: str
    environment: str | None
    layers: tuple[str, ...]
    path: tuple


@dataclass(frozen=True)
class Network:
    cidr: str
    zones: int
    nat_gateways: str
    pod_cidr: str | None
    service_cidr: str | None
    path: tuple = ("network",)


@dataclass(frozen=True)
class Registry:
    name: str
    scan_on_push: bool
    immutable_tags: bool
    path: tuple


@dataclass(frozen=True)
class Bucket:
    name: str
    expire_after_days: int | None
    path: tuple
    cold_after_days: int | None = None  # to the cloud's infrequent-access class
    retain_days: int | None = None  # no delete or overwrite before this age
    public: bool = False  # anyone may read its objects (static assets)


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodePool:
    name: str
    size: str
    machine_type: str | None
    min: int
    max: int
    spot: bool
    disk_size_gb: int
    labels: tuple[tuple[str, str], ...]
    taints: tuple[Taint, ...]
    path: tuple
    renamed_from: tuple[str, ...] = ()  # earlier names, oldest first

    @property
    def cloud_name(self) -> str:
        return cloud_name(self)


@dataclass(frozen=True)
class Quota:
    cpu: str
    memory: str
    pods: int


@dataclass(frozen=True)
class Namespace:
    name: str
    team: str | None
    quota: Quota | None
    pod_security: str
    network_policy: str
    path: tuple
    renamed_from: tuple[str, ...] = ()  # earlier names, oldest first

    @property
    def cloud_name(self) -> str:
        return cloud_name(self)


@dataclass(frozen=True)
class Endpoint:
    public: bool
    allowed_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class Cluster:
    version: str
    endpoint: Endpoint
    node_pools: tuple[NodePool, ...]
    namespaces: tuple[Namespace, ...]
    path: tuple = ("cluster",)
    binary_authorization: bool = True  # GCP only: GKE enforces the project's policy
    encryption_at_host: bool | None = None  # Azure only; unset means on


@dataclass(frozen=True)
class ClusterServices:
    logging: bool
    monitoring: bool
    policy: str
    mesh: str
    autoscaler: bool
    metrics_server: bool
    policy_mode: str = "enforce"  # enforce | audit
    allowed_registries: tuple[str, ...] = ()  # image prefixes; empty: any registry
    require_digests: bool = False  # images by digest only


@dataclass(frozen=True)
class Datastore:
    name: str
    engine: str
    version: str | None
    size: str
    instance_class: str | None
    high_availability: bool
    storage_gb: int
    backup_retention_days: int
    path: tuple
    renamed_from: tuple[str, ...] = ()  # earlier names, oldest first
    enhanced_monitoring: bool | None = None  # None: not set (on, where it applies)
    flavor: str | None = None  # aurora | aurora-serverless (AWS SQL), alloydb (GCP postgres)

    @property
    def cloud_name(self) -> str:
        return cloud_name(self)

    @property
    def aurora(self) -> bool:
        return self.flavor in ("aurora", "aurora-serverless")

    @property
    def alloydb(self) -> bool:
        return self.flavor == "alloydb"


@dataclass(frozen=True)
class AppServices:
    ingress: str | None
    dns_zone: str | None
    issuer: str | None
    email: str | None
    datastores: tuple[Datastore, ...]


@dataclass(frozen=True)
class AppIngress:
    host: str | None
    path: str


@dataclass(frozen=True)
class Autoscale:
    min: int
    max: int
    cpu_percent: int


@dataclass(frozen=True)
class Volume:
    name: str
    type: str  # persistent | scratch | config
    mount_path: str
    size: str | None
    files: tuple[tuple[str, str], ...]
    path: tuple


@dataclass(frozen=True)
class AppSecret:
    """A secret an app reads: a secret of the cloud's secret manager, by name."""

    name: str
    env: str | None  # also this environment variable
    path: tuple


@dataclass(frozen=True)
class Build:
    """Where an app's image is built: a GitHub repository whose pushes to
    `branch` build it, push it to the app's own repository in `registry` (a
    platform registry) and deploy the app's stack with it."""

    repository: str  # owner/name
    branch: str
    registry: str | None  # a `registries` entry; None: the platform's first
    context: str
    dockerfile: str
    path: tuple


@dataclass(frozen=True)
class Migration:
    name: str
    command: tuple[str, ...]
    timeout_seconds: int
    path: tuple


# What each workload kind is: whether it serves (Service, probes, route,
# autoscaler, disruption budget) and whether it runs to completion (a Job).
SERVING_KINDS = frozenset({"deployment", "statefulset"})
JOB_KINDS = frozenset({"cronjob", "job"})


@dataclass(frozen=True)
class BucketUse:
    """An app's binding of a bucket: `access` is read-write or read-only;
    `path` is the `uses` entry that binds it."""

    bucket: str
    access: str
    path: tuple

    @property
    def read_only(self) -> bool:
        return self.access == "read-only"


@dataclass(frozen=True)
class App:
    name: str
    namespace: str
    image: str
    replicas: int
    port: int
    cpu: str
    memory: str
    env: tuple[tuple[str, str], ...]
    command: tuple[str, ...]
    args: tuple[str, ...]
    uses: tuple[str, ...]
    ingress: AppIngress | None
    autoscale: Autoscale | None
    health_path: str
    health_port: int
    depends_on: tuple[str, ...]
    path: tuple
    renamed_from: tuple[str, ...] = ()  # earlier names, oldest first
    kind: str = "deployment"  # deployment | statefulset | cronjob | job
    schedule: str | None = None  # cronjob
    concurrency_policy: str = "Forbid"  # cronjob
    history: tuple[int, int] = (3, 1)  # cronjob: successful, failed runs kept
    retries: int = 2  # job, cronjob: backoffLimit
    timeout_seconds: int = 3600  # job, cronjob: activeDeadlineSeconds
    migrations: tuple[Migration, ...] = ()
    volumes: tuple[Volume, ...] = ()
    node_pool: str | None = None
    # The `uses` entries that name a bucket (`uses` keeps the others, the
    # datastores), and the positions of `uses` entries in `uses:`.
    buckets: tuple[BucketUse, ...] = ()
    uses_at: tuple[int, ...] = ()
    secrets: tuple[AppSecret, ...] = ()
    warehouses: tuple[WarehouseUse, ...] = ()  # the `uses` entries that name a warehouse
    build: Build | None = None  # built and deployed from a repository of its own

    @property
    def cloud_name(self) -> str:
        return cloud_name(self)

    @property
    def serves(self) -> bool:
        """Whether the app's pods serve traffic: a Service, probes, a route."""
        return self.kind in SERVING_KINDS


@dataclass(frozen=True)
class Environment:
    name: str
    overrides: dict = field(hash=False, compare=False)
    path: tuple = ()


@dataclass(frozen=True)
class Placement:
    """Where one environment lives, among the platform's environments.

    `neighbours` are the environments in the same account (AWS), project (GCP)
    or subscription (Azure), this one included; environments that declare
    none count as sharing one. The first of them, the account's default
    environment (`dev` where it is one of them, else the one whose name sorts
    first, as `plan` and `apply` default), keeps the platform's plain names and
    creates what the cloud allows once per account; the others carry their
    name in names that must be unique there, and look those singletons up.
    The order of platform.yaml's keys changes nothing."""

    environment: str
    neighbours: tuple[str, ...]

    @property
    def first(self) -> bool:
        return self.neighbours[0] == self.environment

    @property
    def shared(self) -> bool:
        return len(self.neighbours) > 1


@dataclass(frozen=True)
class Platform:
    name: str
    cloud: Cloud
    tags: tuple[tuple[str, str], ...]
    state_backend: str | None
    state_secrets_provider: str | None  # passphrase, default (Pulumi Cloud's) or a key URL
    # Azure: the resource group id holding the state's storage account and key vault
    state_resource_group: str | None
    teams: tuple[Team, ...]
    automation: tuple[Automation, ...]
    network: Network
    registries: tuple[Registry, ...]
    cluster: Cluster
    services: ClusterServices
    app_services: AppServices
    apps: tuple[App, ...]
    environments: tuple[Environment, ...]
    deletion_protection: bool = True
    github_oidc_provider: str | None = None  # AWS: an existing provider's ARN
    buckets: tuple[Bucket, ...] = ()  # storage.buckets
    warehouses: tuple[Warehouse, ...] = ()  # analytics.warehouses
    pipelines: tuple[Pipeline, ...] = ()  # analytics.pipelines
    vms: tuple[Vm, ...] = ()  # vms (compiler/vms.py)
    # The apps built from their own repositories (`apps[].build`): the layers
    # read these, not `apps`, so a change to another app leaves them as they are.
    builds: tuple[App, ...] = ()
    # Set on the platform as each environment sees it (see place_environments).
    placement: Placement | None = None

    # Lookups by name; the first declaration wins, as everywhere else. One
    # index per kind: looking up a namespace does not look at the apps.
    @cached_property
    def _node_pools(self) -> dict[str, NodePool]:
        return _first_by_name(self.cluster.node_pools)

    @cached_property
    def _namespaces(self) -> dict[str, Namespace]:
        return _first_by_name(self.cluster.namespaces)

    @cached_property
    def _datastores(self) -> dict[str, Datastore]:
        return _first_by_name(self.app_services.datastores)

    @cached_property
    def _buckets(self) -> dict[str, Bucket]:
        return _first_by_name(self.buckets)

    @cached_property
    def _apps(self) -> dict[str, App]:
        return _first_by_name(self.apps)

    def node_pool(self, name: str) -> NodePool | None:
        return self._node_pools.get(name)

    def namespace(self, name: str) -> Namespace | None:
        return self._namespaces.get(name)

    def datastore(self, name: str) -> Datastore | None:
        return self._datastores.get(name)

    def bucket(self, name: str) -> Bucket | None:
        return self._buckets.get(name)

    def app(self, name: str) -> App | None:
        return self._apps.get(name)

    def built(self, name: str) -> App | None:
        """An app built from its own repository, by name, not looking at the others."""
        return next((app for app in self.builds if app.name == name), None)

    @cached_property
    def _warehouses(self) -> dict[str, Warehouse]:
        return _first_by_name(self.warehouses)

    def warehouse(self, name: str) -> Warehouse | None:
        return self._warehouses.get(name)

    @cached_property
    def _teams(self) -> dict[str, Team]:
        return _first_by_name(self.teams)

    @cached_property
    def _vms(self) -> dict[str, Vm]:
        return _first_by_name(self.vms)

    def team(self, name: str) -> Team | None:
        return self._teams.get(name)

    def vm(self, name: str) -> Vm | None:
        return self._vms.get(name)


def _first_by_name(items) -> dict:
    index: dict = {}
    for item in items:
        index.setdefault(item.name, item)
    return index


def _pairs(mapping: dict | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((mapping or {}).items()))


def build_platform(data: dict, memo: dict | None = None) -> Platform:
    """Schema-valid data -> Platform. Callers validate first; defaults are
    applied here (`memo`: see apply_defaults)."""
    data = apply_defaults(data, memo=memo)
    identity = data.get("identity", {})
    cluster = data["cluster"]
    services = data["clusterServices"]
    app_services = data.get("appServices", {})
    network = data["network"]
    cloud = data["cloud"]

    teams = tuple(
        Team(
            t["name"],
            t["access"],
            tuple(t.get("members", [])),
            tuple(t.get("namespaces", [])),
            ("identity", "teams", i),
        )
        for i, t in enumerate(identity.get("teams", []))
    )
    automation = tuple(
        Automation(
            a["name"],
            a["github"]["repository"],
            a["github"]["ref"],
            a["github"].get("environment"),
            tuple(a["layers"]),
            ("identity", "automation", i),
        )
        for i, a in enumerate(identity.get("automation", []))
    )
    pools = tuple(
        NodePool(
            p["name"],
            p["size"],
            p.get("machineType"),
            p["min"],
            p["max"],
            p["spot"],
            p["diskSizeGb"],
            _pairs(p.get("labels")),
            tuple(Taint(t["key"], t.get("value", ""), t["effect"]) for t in p.get("taints", [])),
            ("cluster", "nodePools", i),
            earlier_names(p.get("renamedFrom")),
        )
        for i, p in enumerate(cluster["nodePools"])
    )
    namespaces = tuple(
        Namespace(
            n["name"],
            n.get("team"),
            Quota(n["quota"]["cpu"], n["quota"]["memory"], n["quota"]["pods"])
            if isinstance(n["quota"], dict)
            else None,
            n["podSecurity"],
            n["networkPolicy"],
            ("cluster", "namespaces", i),
            earlier_names(n.get("renamedFrom")),
        )
        for i, n in enumerate(cluster.get("namespaces", []))
    )
    datastores = tuple(
        Datastore(
            d["name"],
            d["engine"],
            d.get("version"),
            d["size"],
            d.get("instanceClass"),
            d["highAvailability"],
            d["storageGb"],
            d["backupRetentionDays"],
            ("appServices", "datastores", i),
            earlier_names(d.get("renamedFrom")),
            d.get("enhancedMonitoring"),
            d.get("flavor"),
        )
        for i, d in enumerate(app_services.get("datastores", []))
    )
    buckets = tuple(
        Bucket(
            b["name"],
            b.get("expireAfterDays"),
            ("storage", "buckets", i),
            b.get("coldAfterDays"),
            b.get("retainDays"),
            b.get("public", False),
        )
        for i, b in enumerate(data.get("storage", {}).get("buckets", []))
    )
    bucket_names = {b.name for b in buckets}
    apps = tuple(_build_app(a, i, bucket_names) for i, a in enumerate(data.get("apps", [])))
    return Platform(
        name=data["name"],
        cloud=Cloud(
            cloud["provider"],
            cloud["region"],
            cloud.get("project"),
            cloud.get("account"),
            cloud.get("subscription"),
        ),
        tags=_pairs(data.get("tags")),
        state_backend=data.get("state", {}).get("backend"),
        state_secrets_provider=data.get("state", {}).get("secretsProvider"),
        state_resource_group=data.get("state", {}).get("resourceGroup"),
        teams=teams,
        automation=automation,
        network=Network(
            network["cidr"],
            network["zones"],
            network["natGateways"],
            network.get("podCidr"),
            network.get("serviceCidr"),
        ),
        registries=tuple(
            Registry(r["name"], r["scanOnPush"], r["immutableTags"], ("registries", i))
            for i, r in enumerate(data.get("registries", []))
        ),
        cluster=Cluster(
            cluster["version"],
            Endpoint(
                cluster["endpoint"]["public"], tuple(cluster["endpoint"].get("allowedCidrs", []))
            ),
            pools,
            namespaces,
            binary_authorization=cluster.get("binaryAuthorization", True),
            encryption_at_host=cluster.get("encryptionAtHost"),
        ),
        services=ClusterServices(
            services["logging"]["enabled"],
            services["monitoring"]["enabled"],
            services["policy"]["engine"],
            services["mesh"]["engine"],
            services["autoscaler"]["enabled"],
            services["metricsServer"]["enabled"],
            services["policy"]["mode"],
            tuple(services["policy"].get("allowedRegistries", [])),
            services["policy"].get("requireDigests", False),
        ),
        app_services=AppServices(
            app_services["ingress"]["controller"] if "ingress" in app_services else None,
            app_services["dns"]["zone"] if "dns" in app_services else None,
            app_services["certificates"]["issuer"] if "certificates" in app_services else None,
            app_services["certificates"]["email"] if "certificates" in app_services else None,
            datastores,
        ),
        apps=apps,
        builds=tuple(app for app in apps if app.build is not None),
        environments=tuple(
            Environment(name, env.get("overrides", {}), ("environments", name))
            for name, env in sorted(data["environments"].items())
        ),
        deletion_protection=data["deletionProtection"],
        github_oidc_provider=identity.get("githubOidcProvider"),
        buckets=buckets,
        warehouses=build_warehouses(data),
        pipelines=build_pipelines(data),
        vms=build_vms(data),
    )


def default_first(names) -> list[str]:
    """Environment names, the default one first: `dev`, then by name."""
    return sorted(names, key=lambda name: (name != "dev", name))


def place_environments(platforms: dict[str, Platform]) -> dict[str, Platform]:
    """Each environment's platform with its Placement: which environments
    share its account, project or subscription (see Placement)."""
    scopes = {name: platforms[name].cloud.scope for name in default_first(platforms)}
    placed = {}
    for name, platform in platforms.items():
        neighbours = tuple(other for other, scope in scopes.items() if scope == scopes[name])
        placed[name] = replace(platform, placement=Placement(name, neighbours))
    return placed


def _build_app(a: dict, index: int, bucket_names: set[str] = frozenset()) -> App:
    ingress = a.get("ingress")
    autoscale = a.get("autoscale")
    uses, uses_at, buckets, warehouses = [], [], [], []
    for i, entry in enumerate(a.get("uses", [])):
        at = ("apps", index, "uses", i)
        if isinstance(entry, dict) and "warehouse" in entry:
            warehouses.append(
                WarehouseUse(entry["warehouse"], entry["access"], at + ("warehouse",))
            )
        elif isinstance(entry, dict):
            buckets.append(BucketUse(entry["bucket"], entry["access"], at + ("bucket",)))
        elif entry in bucket_names:
            buckets.append(BucketUse(entry, "read-write", at))
        else:
            uses.append(entry)
            uses_at.append(i)
    return App(
        name=a["name"],
        namespace=a["namespace"],
        image=a["image"],
        replicas=a["replicas"],
        port=a["port"],
        cpu=a["resources"]["cpu"],
        memory=a["resources"]["memory"],
        env=_pairs(a.get("env")),
        command=tuple(a.get("command", [])),
        args=tuple(a.get("args", [])),
        uses=tuple(uses),
        ingress=AppIngress(ingress.get("host"), ingress["path"]) if ingress is not None else None,
        autoscale=Autoscale(autoscale["min"], autoscale["max"], autoscale["cpuPercent"])
        if autoscale is not None
        else None,
        health_path=a["health"]["path"],
        health_port=a["health"].get("port", a["port"]),
        depends_on=tuple(a.get("dependsOn", [])),
        path=("apps", index),
        renamed_from=earlier_names(a.get("renamedFrom")),
        kind=a["kind"],
        schedule=a.get("schedule"),
        concurrency_policy=a.get("concurrencyPolicy", "Forbid"),
        history=(a["history"]["successful"], a["history"]["failed"]) if "history" in a else (3, 1),
        retries=a.get("retries", 2),
        timeout_seconds=a.get("timeoutSeconds", 3600),
        migrations=tuple(
            Migration(
                m["name"],
                tuple(m["command"]),
                m["timeoutSeconds"],
                ("apps", index, "migrations", i),
            )
            for i, m in enumerate(a.get("migrations", []))
        ),
        volumes=tuple(
            Volume(
                v["name"],
                v["type"],
                v["mountPath"],
                v.get("size"),
                _pairs(v.get("files")),
                ("apps", index, "volumes", i),
            )
            for i, v in enumerate(a.get("volumes", []))
        ),
        node_pool=a.get("nodePool"),
        buckets=tuple(buckets),
        uses_at=tuple(uses_at),
        secrets=tuple(
            AppSecret(x["name"], x.get("env"), ("apps", index, "secrets", i))
            for i, x in enumerate(a.get("secrets", []))
        ),
        warehouses=tuple(warehouses),
        build=_build_of(a.get("build"), ("apps", index, "build")),
    )


def _build_of(b: dict | None, path: tuple) -> Build | None:
    if b is None:
        return None
    return Build(
        repository=b["repository"],
        branch=b.get("branch", "main"),
        registry=b.get("registry"),
        context=b.get("context", "."),
        dockerfile=b.get("dockerfile", "Dockerfile"),
        path=path,
    )


CLOUDS = frozenset({"aws", "gcp", "azure"})


@dataclass(frozen=True)
class PerEnvironment:
    """A value an environment may set differently from the platform.

    `path` is written as in the schema, `[]` standing for an item of a named
    list (overrides match items by name); it covers everything under it.
    `clouds` are the clouds whose programs read it from stack config; `when`
    narrows it to items whose fields have one of the listed values;
    `when_set`, to platforms that set it (an environment may change it, not
    add it: without it the programs would create less)."""

    path: str
    clouds: frozenset[str] = CLOUDS
    when: tuple[tuple[str, frozenset[str]], ...] = ()
    when_set: bool = False

    def shown(self, prefix: str = "") -> str:
        """The path without `prefix` and with its condition, for messages."""
        text = self.path[len(prefix) :].lstrip(".") if prefix else self.path
        for key, values in self.when:
            text += f" (where {key} is {' or '.join(sorted(values))})"
        if self.when_set:
            text += " (where the platform sets it)"
        return text

    def holds_for(self, cloud: str, item: object) -> bool:
        if cloud not in self.clouds:
            return False
        return all(isinstance(item, dict) and item.get(k) in v for k, v in self.when)


# What an environment may change: the values every backend reads from stack
# config (`StackContext.setting`, one Pulumi.<env>.yaml per environment), so
# that all environments run the same programs. Anything else would change
# which resources a program creates or what they are named, and is CW310.
# New entries need a backend that reads the value through `setting`; the
# README's "Environments" section lists them.
PER_ENVIRONMENT: tuple[PerEnvironment, ...] = (
    # Where the environment lives, and what it is tagged and protected with.
    PerEnvironment("cloud.region"),
    PerEnvironment("cloud.project", frozenset({"gcp"})),
    PerEnvironment("cloud.account", frozenset({"aws"})),
    PerEnvironment("cloud.subscription", frozenset({"azure"})),
    PerEnvironment("identity.githubOidcProvider", frozenset({"aws"})),
    PerEnvironment("tags"),
    PerEnvironment("deletionProtection"),
    # Sizes and counts.
    PerEnvironment("cluster.nodePools[].min"),
    PerEnvironment("cluster.nodePools[].max"),
    PerEnvironment("cluster.nodePools[].size"),
    PerEnvironment("cluster.nodePools[].machineType"),
    PerEnvironment("cluster.nodePools[].diskSizeGb"),
    PerEnvironment("cluster.namespaces[].quota.cpu"),
    PerEnvironment("cluster.namespaces[].quota.memory"),
    PerEnvironment("cluster.namespaces[].quota.pods"),
    PerEnvironment("appServices.dns.zone", when_set=True),
    PerEnvironment("appServices.certificates.email", when_set=True),
    PerEnvironment("appServices.datastores[].size"),
    PerEnvironment("appServices.datastores[].instanceClass"),
    PerEnvironment("appServices.datastores[].storageGb"),
    PerEnvironment("appServices.datastores[].backupRetentionDays"),
    PerEnvironment("appServices.datastores[].highAvailability"),
    PerEnvironment("appServices.datastores[].enhancedMonitoring", frozenset({"aws"})),
    # How long a warehouse keeps its tables (BigQuery's default expiration,
    # Data Explorer's retention).
    PerEnvironment(
        "analytics.warehouses[].expireTablesAfterDays", frozenset({"gcp", "azure"}), when_set=True
    ),
    PerEnvironment("analytics.warehouses[].size", frozenset({"aws", "azure"})),
    PerEnvironment("apps[].image"),
    PerEnvironment("apps[].replicas"),
    PerEnvironment("apps[].resources.cpu"),
    PerEnvironment("apps[].resources.memory"),
    PerEnvironment("apps[].env"),
    PerEnvironment("apps[].autoscale.min"),
    PerEnvironment("apps[].autoscale.max"),
    PerEnvironment("apps[].autoscale.cpuPercent"),
    PerEnvironment("apps[].ingress.host", when_set=True),
    PerEnvironment("apps[].ingress.path"),
    # Virtual machines: how many, and how large.
    PerEnvironment("vms[].count"),
    PerEnvironment("vms[].size"),
    PerEnvironment("vms[].machineType"),
    PerEnvironment("vms[].diskSizeGb"),
)


def schema_path(path: tuple) -> str:
    """('apps', 0, 'env', 'A') -> 'apps[].env.A': a data path as PER_ENVIRONMENT writes it."""
    text = ""
    for part in path:
        text += "[]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def may_differ(path: tuple, cloud: str, data: dict) -> bool:
    """Whether an environment may set the value at `path` of the platform's
    `data` (list items by index) differently: PER_ENVIRONMENT names it or a
    value above it."""
    item: object = None
    node: object = data
    for depth, part in enumerate(path):
        node = _child(node, part)
        if isinstance(part, int):
            item = node
        pattern = schema_path(path[: depth + 1])
        if any(
            e.path == pattern and e.holds_for(cloud, item) and (node is not None or not e.when_set)
            for e in PER_ENVIRONMENT
        ):
            return True
    return False


def _child(node: object, part) -> object:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def merge_overrides(data: dict, overrides: dict) -> tuple[dict, dict[tuple, tuple]]:
    """Apply one environment's overrides to the platform data.

    Returns the merged data and, for every overridden value, a map from its path
    in the merged data to its path under the override (so errors can point at
    the override that caused them). Items of named lists are matched by `name`.
    """
    # Sections the overrides do not name are shared with `data`, not copied.
    merged = dict(data)
    for key in overrides:
        if key in merged:
            merged[key] = copy_data(merged[key])
    origins: dict[tuple, tuple] = {}
    _merge_into(merged, overrides, (), (), origins)
    return merged, origins


def _merge_into(target: dict, override: dict, at: tuple, source: tuple, origins: dict) -> None:
    for key, value in override.items():
        here, there = at + (key,), source + (key,)
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge_into(current, value, here, there, origins)
        elif isinstance(value, list) and isinstance(current, list) and _is_named(current):
            index = {item.get("name"): i for i, item in enumerate(current)}
            for j, item in enumerate(value):
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name in index:
                    i = index[name]
                    _merge_into(current[i], item, here + (i,), there + (j,), origins)
        else:
            target[key] = copy_data(value)
            origins[here] = there


def _is_named(items: list) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)
