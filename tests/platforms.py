"""Whole platforms for property tests, drawn from the JSON Schema.

Every value comes from what the schema says of its key (enums, ranges,
patterns, lengths, which keys are required), with two kinds of help that a
schema cannot give: references are drawn from the names the platform
declares (a namespace's team, an app's namespace, uses and dependsOn), and
cloud-specific values (regions, machine types, members, datastore versions)
from each cloud's own tables most of the time, so that many platforms pass
validation and go on to compile and plan. The rest of the time anything the
schema allows is drawn, and sometimes what it does not (a float for an
integer, a number past a limit, a name that is a keyword or starts with a
digit), so that validation has something to refuse.

Environments override values named in `model.PER_ENVIRONMENT` (which must
compile and plan) and, now and then, any other value (which `validate` must
refuse exactly when `compile` would).
"""

from __future__ import annotations

import re
from functools import cache

from hypothesis import strategies as st

from crosswalk.compiler.checks import NAMED_LISTS
from crosswalk.compiler.model import PER_ENVIRONMENT
from crosswalk.providers import rules_for
from crosswalk.providers.azure import rules as azure
from crosswalk.providers.gcp import rules as gcp
from crosswalk.providers.images import VM_IMAGES, images_of
from crosswalk.schema import load_schema

SCHEMA = load_schema()
CLOUDS = ("aws", "gcp", "azure")

# Names that are valid DNS labels and hostile elsewhere: keywords, builtins,
# leading digits, the modules and variables programs use, long ones.
HOSTILE_LABELS = [
    "41",
    "0",
    "class",
    "import",
    "none",
    "str",
    "print",
    "config",
    "stack",
    "org",
    "pulumi",
    "aws",
    "gcp",
    "kubernetes",
    "network",
    "zones",
    "caller",
    "client",
    "kubeconfig",
    "a-b",
    "a" * 40,
    "x" * 63,
]
HOSTILE_TEXT = [
    "",
    " ",
    "a\x01b",
    "\x7f\x80\x9f",
    "x\x85y",
    "l\u2028s\u2029p",
    "\ufeffbom",
    "tab\there",
    "new\nline\r\n",
    '"; import os #',
    "{{ x }} ${y} $(z)",
    "\\u0041",
    "ü漢🙂",
]

MACHINE_TYPES = {
    "aws": ["m6i.large", "c6i.2xlarge", "t3.medium", "r6g.xlarge"],
    "gcp": ["e2-standard-4", "n2-standard-8", "c2-standard-8", "e2-medium"],
    "azure": ["Standard_D4s_v5", "Standard_D2s_v5", "Standard_E4s_v5", "Standard_F4s_v2"],
}
MEMBERS = {
    "aws": ["arn:aws:iam::123456789012:role/Platform", "arn:aws:iam::123456789012:user/ops"],
    "gcp": [
        "user:ops@example.com",
        "group:devs@example.com",
        "serviceAccount:ci@p.iam.gserviceaccount.com",
    ],
    "azure": ["3f2b1c9e-8d4a-4e7b-9c1d-2a5f6e7b8c90", "00000000-0000-4000-8000-000000000001"],
}
VERSIONS = {
    "aws": {"postgres": ["15", "16"], "mysql": ["8.0"], "redis": ["7.1", "7.0"]},
    "gcp": {engine: list(versions) for engine, versions in gcp.SQL_VERSIONS.items()}
    | {"redis": list(gcp.REDIS_VERSIONS)},
    "azure": {engine: list(versions) for engine, versions in azure.SQL_VERSIONS.items()}
    | {"redis": list(azure.REDIS_VERSIONS)},
}
INSTANCE_CLASSES = {
    "aws": {"postgres": ["db.r6g.large"], "mysql": ["db.t4g.medium"], "redis": ["cache.t4g.small"]},
    "gcp": {"postgres": ["db-custom-2-7680"], "mysql": ["db-g1-small"], "redis": []},
    "azure": {
        "postgres": ["Standard_D2ds_v5"],
        "mysql": ["Standard_D2ds_v4"],
        "redis": ["Standard_C1", "Premium_P1"],
    },
}
CIDRS = [
    "10.0.0.0/16",
    "10.8.0.0/16",
    "10.0.0.0/20",
    "10.0.0.0/24",
    "172.16.0.0/12",
    "192.168.0.0/22",
]
SERVICE_CIDRS = [
    "172.20.0.0/16",
    "10.96.0.0/16",
    "10.200.0.0/20",
    "192.168.200.0/24",
    "10.250.0.0/28",
    "10.251.0.0/30",
]
POD_CIDRS = ["10.100.0.0/14", "10.64.0.0/16", "172.24.0.0/20"]
ZONES = ["example.com", "acme.dev", "shop.example.org"]


# --- strategies from the schema -------------------------------------------------------


def node(path: str) -> dict:
    """The schema of a path as PER_ENVIRONMENT writes it: 'apps[].autoscale.min'."""
    schema = SCHEMA
    for part in re.findall(r"[^.\[\]]+|\[\]", path):
        schema = _object(schema)
        schema = (
            schema["items"]
            if part == "[]"
            else schema["properties"].get(part) or (schema.get("additionalProperties"))
        )
    return schema


def _object(schema: dict) -> dict:
    for branch in schema.get("oneOf", []):
        if branch.get("type") in ("object", "array"):
            return branch
    return schema


@cache
def _regex(pattern: str):
    """Strings that match the whole of a schema pattern."""
    return st.from_regex(pattern.removeprefix("^").removesuffix("$"), fullmatch=True)


def value(schema: dict) -> st.SearchStrategy:
    """Any value the schema allows for a key (and, rarely, one it does not)."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([value(branch) for branch in schema["oneOf"]])
    kind = schema.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return _integer(schema.get("minimum", 0), schema.get("maximum", 10_000))
    if kind == "string":
        return _string(schema)
    if kind == "array":
        return st.lists(
            value(schema.get("items", {})),
            min_size=schema.get("minItems", 0),
            max_size=max(schema.get("minItems", 0), 3),
            unique=schema.get("uniqueItems", False),
        )
    if kind == "object":
        return _mapping(schema)
    return st.none()


@st.composite
def _integer(draw, low: int, high: int) -> int | float:
    """Mostly in range; now and then a whole float (JSON Schema's integer
    too) or one past the limit."""
    kind = draw(st.integers(0, 29))
    if kind == 29:
        return draw(st.integers(high + 1, high + 3))
    number = draw(st.integers(low, high))
    return float(number) if kind == 28 else number


def _string(schema: dict) -> st.SearchStrategy:
    longest = schema.get("maxLength", 40)
    shortest = schema.get("minLength", 0)
    pattern = schema.get("pattern")
    if pattern is None:
        return st.text(min_size=shortest, max_size=min(longest, 30)) | st.sampled_from(HOSTILE_TEXT)
    return _regex(pattern).filter(lambda s: shortest <= len(s) <= longest)


def _mapping(schema: dict) -> st.SearchStrategy:
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    if properties:
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: value(s) for k, s in properties.items() if k in required},
            optional={k: value(s) for k, s in properties.items() if k not in required},
        )
    if isinstance(extra, dict):
        keys = schema.get("propertyNames", {})
        return st.dictionaries(_string({"maxLength": 20, **keys}), value(extra), max_size=3)
    return st.just({})


def section(name: str, **fixed) -> st.SearchStrategy:
    """A top-level section as the schema describes it, some keys drawn by the caller."""
    schema = SCHEMA["properties"][name]
    required = set(schema.get("required", []))
    properties = {k: s for k, s in schema["properties"].items() if k not in fixed}
    return st.fixed_dictionaries(
        {k: value(s) for k, s in properties.items() if k in required} | fixed,
        optional={k: value(s) for k, s in properties.items() if k not in required},
    )


# --- names and references ---------------------------------------------------------------


def label(longest: int) -> st.SearchStrategy:
    """A DNS label, mostly short and plain, now and then hostile."""
    plain = _regex("[a-z][a-z0-9]{0,6}") | _regex("[a-z][a-z0-9-]{0,10}[a-z0-9]")
    hostile = st.sampled_from([name for name in HOSTILE_LABELS if len(name) <= longest])
    return st.one_of(plain, plain, plain, hostile)


def labels(longest: int, most: int, least: int = 0) -> st.SearchStrategy:
    return st.lists(label(longest), min_size=least, max_size=most, unique=True)


def rarely(draw, one_in: int) -> bool:
    """True about once in `one_in` draws (and not where shrinking leads)."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


def some_of(names: list[str]) -> st.SearchStrategy:
    return st.lists(st.sampled_from(names), unique=True, max_size=3) if names else st.just([])


@st.composite
def platforms(draw, cloud: str) -> dict:
    rules = rules_for(cloud)
    name = draw(st.sampled_from(["acme", "shop", "a", "p41", "demo-platform"]) | label(20))
    known = st.sampled_from(sorted(rules.regions))
    region = draw(_string(node("cloud.region")) if rarely(draw, 50) else known)
    data: dict = {"apiVersion": "crosswalk/v1", "kind": "Platform", "name": name}
    data["cloud"] = {"provider": cloud, "region": region}
    if cloud == "gcp" or rarely(draw, 50):
        data["cloud"]["project"] = draw(st.sampled_from(["acme-prod", "acme-staging-1"]))
    if draw(st.booleans()):
        data["tags"] = draw(value(SCHEMA["properties"]["tags"]))

    teams = draw(labels(63, 3))
    namespaces = draw(labels(63, 4))
    stores = draw(labels(40, 4))
    apps = draw(labels(40, 4))
    if cloud == "azure" and draw(st.integers(0, 9)):  # AKS pool names: letters and digits
        pools = draw(st.lists(_regex("[a-z][a-z0-9]{0,11}"), min_size=1, max_size=3, unique=True))
    else:
        pools = draw(labels(32, 3, least=1))

    identity = {}
    if teams:
        identity["teams"] = [
            {
                "name": team,
                "access": draw(value(node("identity.teams[].access"))),
                "members": draw(st.lists(st.sampled_from(MEMBERS[cloud]), unique=True, max_size=2)),
                "namespaces": draw(some_of(namespaces)),
            }
            for team in teams
        ]
    if draw(st.booleans()):
        identity["automation"] = draw(
            st.lists(
                value(node("identity.automation[]")), max_size=2, unique_by=lambda a: a.get("name")
            )
        )
    if identity:
        data["identity"] = identity

    network = draw(section("network", cidr=st.sampled_from(CIDRS)))
    if cloud != "gcp":
        network.pop("podCidr", None)
    elif draw(st.booleans()):
        network["podCidr"] = draw(st.sampled_from(POD_CIDRS))
    if "serviceCidr" in network:
        network["serviceCidr"] = draw(st.sampled_from(SERVICE_CIDRS))
    if draw(st.integers(0, 3)):
        network["zones"] = (
            draw(st.integers(1, 3)) if network.get("zones", 3) > 3 else network.get("zones", 3)
        )
    data["network"] = network

    if draw(st.booleans()):
        data["registries"] = draw(
            st.lists(value(node("registries[]")), max_size=2, unique_by=lambda r: r.get("name"))
        )
        for registry in data["registries"]:
            registry["name"] = draw(label(20))

    cluster: dict = {"nodePools": []}
    for index, pool in enumerate(pools):
        low = draw(st.integers(1 if index == 0 and cloud == "azure" else 0, 5))
        item = {"name": pool, "min": low, "max": draw(st.integers(max(low, 1), 12))}
        if draw(st.booleans()):
            item["size"] = draw(value(node("cluster.nodePools[].size")))
        if draw(st.integers(0, 3)) == 0:
            item["machineType"] = draw(st.sampled_from(MACHINE_TYPES[cloud]))
        if draw(st.integers(0, 4)) == 0:
            item["spot"] = index > 0 or cloud != "azure"
        if draw(st.integers(0, 4)) == 0:
            item["diskSizeGb"] = draw(value(node("cluster.nodePools[].diskSizeGb")))
        if draw(st.integers(0, 4)) == 0:
            item["labels"] = draw(value(node("cluster.nodePools[].labels")))
        if draw(st.integers(0, 4)) == 0:
            item["taints"] = draw(value(node("cluster.nodePools[].taints")))
        cluster["nodePools"].append(item)
    if draw(st.booleans()):
        cluster["version"] = draw(value(node("cluster.version")))
    if draw(st.booleans()):
        cluster["endpoint"] = draw(value(node("cluster.endpoint")))
    if namespaces:
        cluster["namespaces"] = []
        for namespace in namespaces:
            item = {"name": namespace}
            if teams and draw(st.booleans()):
                item["team"] = draw(st.sampled_from(teams))
            for key in ("quota", "podSecurity", "networkPolicy"):
                if draw(st.integers(0, 2)) == 0:
                    item[key] = draw(value(node(f"cluster.namespaces[].{key}")))
            cluster["namespaces"].append(item)
    data["cluster"] = cluster

    if draw(st.booleans()):
        data["clusterServices"] = draw(value(SCHEMA["properties"]["clusterServices"]))

    services: dict = {}
    zone = draw(st.sampled_from(ZONES))
    if apps and draw(st.integers(0, 3)):
        services["ingress"] = draw(value(node("appServices.ingress")))
        if draw(st.booleans()):
            services["dns"] = {"zone": zone}
            services["certificates"] = {"email": "ops@" + zone}
    if stores:
        services["datastores"] = []
        for store in stores:
            engine = draw(value(node("appServices.datastores[].engine")))
            item = {"name": store, "engine": engine}
            if engine in VERSIONS[cloud] and draw(st.booleans()):
                item["version"] = draw(st.sampled_from(VERSIONS[cloud][engine]))
            classes = INSTANCE_CLASSES[cloud].get(engine)
            if classes and draw(st.integers(0, 4)) == 0:
                item["instanceClass"] = draw(st.sampled_from(classes))
            for key in ("size", "highAvailability", "storageGb", "backupRetentionDays"):
                if draw(st.integers(0, 2)) == 0:
                    item[key] = draw(value(node(f"appServices.datastores[].{key}")))
            services["datastores"].append(item)
    if services:
        data["appServices"] = services

    if apps and namespaces:
        data["apps"] = []
        for index, app in enumerate(apps):
            item = {
                "name": app,
                "namespace": draw(st.sampled_from(namespaces)),
                "image": draw(
                    st.sampled_from(
                        [
                            "ghcr.io/acme/app:1.0",
                            "nginx:1.27",
                            "registry.example.com:5000/team/app@sha256:" + "a" * 64,
                        ]
                    )
                    | value(node("apps[].image"))
                ),
            }
            kind = draw(
                st.sampled_from(["deployment", "deployment", "statefulset", "cronjob", "job"])
            )
            serves = kind in ("deployment", "statefulset")
            if kind != "deployment":
                item["kind"] = kind
            if kind == "cronjob":
                item["schedule"] = draw(
                    st.sampled_from(["0 3 * * *", "*/15 * * * MON-FRI", "@hourly"])
                )
            if draw(st.integers(0, 3)) == 0:
                item["nodePool"] = draw(st.sampled_from(pools))
            if draw(st.integers(0, 3)) == 0:
                volume = draw(
                    st.sampled_from(
                        ["scratch", "config"] + ["persistent"] * (kind == "statefulset")
                    )
                )
                item["volumes"] = [
                    {"name": "data", "type": volume, "mountPath": "/data"}
                    | ({"size": "1Gi"} if volume != "config" else {"files": {"a.conf": "x"}})
                ]
            if serves and draw(st.integers(0, 3)) == 0:
                item["migrations"] = [{"name": "schema", "command": ["/migrate"]}]
            if draw(st.booleans()):
                item["env"] = draw(
                    st.dictionaries(
                        _regex("[A-Z_][A-Z0-9_]{0,8}"),
                        st.sampled_from(HOSTILE_TEXT) | st.text(max_size=8),
                        max_size=3,
                    )
                )
            if stores and draw(st.booleans()):
                item["uses"] = draw(some_of(stores))
            if index and draw(st.booleans()):
                item["dependsOn"] = draw(some_of(apps[:index]))
            if serves and "ingress" in services and draw(st.booleans()):
                item["ingress"] = {"host": f"{app}.{zone}"} if "dns" in services else {}
            if serves and draw(st.booleans()):
                autoscale = {"max": draw(st.integers(2, 20))}
                if draw(st.booleans()):
                    autoscale["min"] = draw(st.integers(1, autoscale["max"]))
                item["autoscale"] = autoscale
            for key in ("replicas", "port", "resources", "command", "args", "health"):
                if key in ("replicas", "port", "health") and not serves:
                    continue
                if draw(st.integers(0, 3)) == 0:
                    item[key] = draw(value(node(f"apps[].{key}")))
            data["apps"].append(item)

    vms = draw(labels(32, 2))
    if vms:
        data["vms"] = []
        for vm in vms:
            item = {"name": vm}
            if teams and draw(st.booleans()):
                item["teams"] = draw(some_of(teams))
            if draw(st.integers(0, 3)):
                item["image"] = draw(st.sampled_from(images_of(cloud)))
            elif draw(st.booleans()):
                item["image"] = draw(st.sampled_from(sorted(VM_IMAGES)))  # maybe another cloud's
            if draw(st.integers(0, 3)) == 0:
                item["machineType"] = draw(st.sampled_from(MACHINE_TYPES[cloud]))
            for key in ("size", "count", "diskSizeGb"):
                if draw(st.integers(0, 2)) == 0:
                    item[key] = draw(value(node(f"vms[].{key}")))
            if draw(st.integers(0, 9)) == 0:
                item["publicAddress"] = True
            data["vms"].append(item)

    if draw(st.integers(0, 4)):
        envs = draw(
            st.lists(
                st.sampled_from(["dev", "prod", "staging", "41"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        data["environments"] = {}
        for env in envs:
            changes = draw(overrides(data, cloud)) if draw(st.integers(0, 2)) else {}
            data["environments"][env] = {"overrides": changes} if changes else {}
    return data


# --- environments -----------------------------------------------------------------------


def _items(data: dict, list_path: tuple) -> list:
    node_ = data
    for part in list_path:
        node_ = node_.get(part, {}) if isinstance(node_, dict) else {}
    return node_ if isinstance(node_, list) else []


def _nest(path: tuple, leaf) -> object:
    result = leaf
    for part in reversed(path):
        result = {part: result}
    return result


@st.composite
def overrides(draw, data: dict, cloud: str) -> dict:
    """An environment's overrides: values PER_ENVIRONMENT lets differ, and now
    and then any other value of the platform."""
    changes: dict = {}
    allowed = [entry for entry in PER_ENVIRONMENT if cloud in entry.clouds]
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 5)):
            path = draw(st.sampled_from(allowed)).path
        else:
            path = draw(st.sampled_from(leaf_paths()))
        head, _, rest = path.partition("[]")
        list_path = tuple(head.split("."))
        leaf = draw(value(node(path)))
        if rest:  # an item of a named list, matched by name
            items = [i for i in _items(data, list_path) if isinstance(i, dict) and "name" in i]
            if not items or list_path not in NAMED_LISTS:
                continue
            item = draw(st.sampled_from(items))
            change = {"name": item["name"], **_nest(tuple(rest.strip(".").split(".")), leaf)}
            merged = _nest(list_path, [change])
        else:
            merged = _nest(list_path, leaf)
        _merge(changes, merged)
    return changes


def _merge(into: dict, more: dict) -> None:
    for key, item in more.items():
        if isinstance(item, dict) and isinstance(into.get(key), dict):
            _merge(into[key], item)
        elif isinstance(item, list) and isinstance(into.get(key), list):
            names = {i.get("name") for i in into[key] if isinstance(i, dict)}
            into[key] += [i for i in item if not isinstance(i, dict) or i.get("name") not in names]
        else:
            into[key] = item


@cache
def leaf_paths() -> tuple[str, ...]:
    return tuple(sorted(_leaf_paths(SCHEMA)))


def _leaf_paths(schema: dict, prefix: str = "") -> set[str]:
    """Every value of the schema as PER_ENVIRONMENT writes paths, items of
    named lists by `[]` (lists elsewhere are values), environments left out."""
    schema = _object(schema)
    found = set()
    if schema.get("type") == "array":
        items = schema.get("items", {})
        if "[]" not in prefix and "properties" in items:
            return _leaf_paths(items, prefix + "[]")
        return {prefix}
    properties = schema.get("properties")
    if not properties:
        return {prefix} if prefix else set()
    for key, sub in properties.items():
        if prefix == "" and key in ("environments", "apiVersion", "kind"):
            continue
        found |= _leaf_paths(sub, f"{prefix}.{key}" if prefix else key)
    return found
