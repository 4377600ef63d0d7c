"""Semantic checks: Platform -> diagnostics (names, references, CIDRs, ranges,
provider rules, environment overrides, and warnings where a secure default is
relaxed). Runs only on schema-valid documents."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import date

from crosswalk.compiler.diagnostics import ERROR, WARNING, Diagnostic, format_path
from crosswalk.compiler.document import Document
from crosswalk.compiler.model import (
    PER_ENVIRONMENT,
    Environment,
    Platform,
    apply_defaults,
    default_first,
    may_differ,
    schema_path,
)
from crosswalk.compiler.relaxed import check_relaxed_defaults
from crosswalk.compiler.validate import did_you_mean, fits_type, quoted_list, same_value
from crosswalk.compiler.vms import check_vms
from crosswalk.compiler.workloads import check_workloads
from crosswalk.providers import kubernetes_version_findings, rules_for
from crosswalk.schema import load_schema

# Lists whose items are matched by `name` in environment overrides.
NAMED_LISTS = {
    ("identity", "teams"),
    ("identity", "automation"),
    ("registries",),
    ("storage", "buckets"),
    ("analytics", "warehouses"),
    ("analytics", "pipelines"),
    ("vms",),
    ("cluster", "nodePools"),
    ("cluster", "namespaces"),
    ("appServices", "datastores"),
    ("apps",),
}


@dataclass
class _Checker:
    document: Document
    platform: Platform | None
    found: list[Diagnostic] = field(default_factory=list)
    today: date | None = None  # the day version support is judged on (see check_platform)

    def report(self, severity, code, message, path, *, key=False, help=None) -> None:
        self.found.append(
            Diagnostic(
                severity,
                code,
                message,
                self.document.span(path, key=key),
                format_path(path),
                help,
                self.document.file,
            )
        )

    def error(self, code, message, path, **kw) -> None:
        self.report(ERROR, code, message, path, **kw)

    def warn(self, code, message, path, **kw) -> None:
        self.report(WARNING, code, message, path, **kw)

    def unknown(self, code, what, value, choices, path) -> None:
        help = did_you_mean(value, choices)
        if help is None:
            help = (
                f"declared: {quoted_list(sorted(choices))}" if choices else f"no {what}s declared"
            )
        self.error(code, f"'{value}' is not a declared {what}", path, help=help)


def check_platform(
    document: Document, platform: Platform, today: date | None = None
) -> list[Diagnostic]:
    """`today`: the day the cloud's Kubernetes calendar is read on (the CLI
    passes the real date, tests a fixed one); without it only versions the
    cloud never offered are reported."""
    checker = _Checker(document, platform, today=today)
    _check_unique_names(checker)
    _check_earlier_names(checker)
    _check_references(checker)
    _check_analytics(checker)
    _check_dependency_cycles(checker)
    _check_network(checker)
    _check_ranges(checker)
    _check_provider(checker)
    _check_state(checker)
    check_workloads(checker)
    check_vms(checker)
    check_relaxed_defaults(checker)
    return checker.found


def _check_unique_names(c: _Checker) -> None:
    p = c.platform
    groups = {
        "team": p.teams,
        "automation identity": p.automation,
        "registry": p.registries,
        "bucket": p.buckets,
        "warehouse": p.warehouses,
        "pipeline": p.pipelines,
        "vm": p.vms,
        "node pool": p.cluster.node_pools,
        "namespace": p.cluster.namespaces,
        "datastore": p.app_services.datastores,
        "app": p.apps,
    }
    _check_bindable_names(c)
    for what, items in groups.items():
        first: dict[str, tuple] = {}
        for item in items:
            if item.name in first:
                line = c.document.span(first[item.name] + ("name",)).line
                c.error(
                    "CW201",
                    f"{what} '{item.name}' is declared twice",
                    item.path + ("name",),
                    help=f"the first '{item.name}' is at line {line}; names must be unique",
                )
            else:
                first[item.name] = item.path


def _check_bindable_names(c: _Checker) -> None:
    """`uses` names datastores and buckets alike: a name can be one of them only."""
    p = c.platform
    stores = {}
    for store in p.app_services.datastores:
        stores.setdefault(store.name, store.path)
    for bucket in p.buckets:
        if bucket.name in stores:
            line = c.document.span(stores[bucket.name] + ("name",)).line
            c.error(
                "CW201",
                f"bucket '{bucket.name}' has the name of a datastore",
                bucket.path + ("name",),
                help=f"the datastore '{bucket.name}' is at line {line}; apps' `uses` names "
                "one or the other, so rename one",
            )


def _check_earlier_names(c: _Checker) -> None:
    """`renamedFrom` hands an item the resources created under its earlier
    names: no other item of its kind may hold those names, now or before."""
    p = c.platform
    groups = {
        "node pool": p.cluster.node_pools,
        "namespace": p.cluster.namespaces,
        "datastore": p.app_services.datastores,
        "app": p.apps,
    }
    for what, items in groups.items():
        holders: dict[str, tuple] = {item.name: item.path + ("name",) for item in reversed(items)}
        for item in items:
            for index, old in enumerate(item.renamed_from):
                path = item.path + ("renamedFrom",)
                if _is_list(c.document, path):
                    path += (index,)
                if old == item.name:
                    c.error(
                        "CW202",
                        f"{what} '{item.name}' is renamed from its own name",
                        path,
                        help="renamedFrom names the name it had before; remove it if it has none",
                    )
                elif old in holders:
                    line = c.document.span(holders[old]).line
                    c.error(
                        "CW202",
                        f"{what} '{item.name}' is renamed from '{old}', which another {what} holds",
                        path,
                        help=f"the resources of '{old}' (line {line}) can belong to one {what} only",
                    )
                else:
                    holders[old] = path


def _is_list(document: Document, path: tuple) -> bool:
    node = document.data
    for key in path:
        node = node[key]
    return isinstance(node, list)


def _check_references(c: _Checker) -> None:
    p = c.platform
    teams = {t.name for t in p.teams}
    namespaces = {n.name for n in p.cluster.namespaces}
    datastores = {d.name for d in p.app_services.datastores}
    buckets = {b.name for b in p.buckets}
    apps = {a.name for a in p.apps}
    for team in p.teams:
        for i, ns in enumerate(team.namespaces):
            if ns not in namespaces:
                c.unknown("CW301", "namespace", ns, namespaces, team.path + ("namespaces", i))
    for ns in p.cluster.namespaces:
        if ns.team is not None and ns.team not in teams:
            c.unknown("CW302", "team", ns.team, teams, ns.path + ("team",))
    for app in p.apps:
        if app.namespace not in namespaces:
            c.unknown("CW301", "namespace", app.namespace, namespaces, app.path + ("namespace",))
        for i, store in zip(app.uses_at, app.uses):
            if store not in datastores:
                what = "datastore or bucket" if buckets else "datastore"
                c.unknown("CW303", what, store, datastores | buckets, app.path + ("uses", i))
        bound: set[str] = set()
        for use in app.buckets:
            if use.bucket not in buckets:
                c.unknown("CW314", "bucket", use.bucket, buckets, use.path)
            elif use.bucket in bound:
                c.error(
                    "CW201",
                    f"app '{app.name}' binds bucket '{use.bucket}' twice",
                    use.path,
                    help="bind each bucket once, with the access the app needs",
                )
            bound.add(use.bucket)
        for i, other in enumerate(app.depends_on):
            if other == app.name:
                c.error(
                    "CW401",
                    f"app '{app.name}' depends on itself",
                    app.path + ("dependsOn", i),
                    help=f"remove '{app.name}' from its own dependsOn",
                )
            elif other not in apps:
                c.unknown("CW304", "app", other, apps, app.path + ("dependsOn", i))
        if app.ingress is not None:
            if p.app_services.ingress is None:
                c.error(
                    "CW305",
                    f"app '{app.name}' has an ingress but no ingress controller is declared",
                    app.path + ("ingress",),
                    key=True,
                    help="add 'appServices: {ingress: {controller: envoy-gateway}}'",
                )
            host = app.ingress.host
            if host is not None:
                missing = [
                    key
                    for key, value in (
                        ("dns", p.app_services.dns_zone),
                        ("certificates", p.app_services.email),
                    )
                    if value is None
                ]
                if missing:
                    c.error(
                        "CW306",
                        f"host '{host}' needs appServices.{' and appServices.'.join(missing)}",
                        app.path + ("ingress", "host"),
                        help="DNS records and TLS certificates for hosts come from those settings",
                    )
                zone = p.app_services.dns_zone
                if zone is not None and not (host == zone or host.endswith("." + zone)):
                    c.error(
                        "CW311",
                        f"host '{host}' is not inside the DNS zone '{zone}'",
                        app.path + ("ingress", "host"),
                        help=f"use a name ending in '.{zone}'",
                    )


def _check_dependency_cycles(c: _Checker) -> None:
    """Report each `dependsOn` cycle once, at the reference that closes it
    (the last edge found walking apps in source order).

    The walk keeps its own stack: a chain of a few thousand apps would pass
    Python's recursion limit."""
    by_name = {a.name: a for a in c.platform.apps}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    reported: set[frozenset] = set()

    for root in c.platform.apps:
        if root.name in state:
            continue
        state[root.name] = 1
        trail = [root.name]  # the current path, as names
        edges = [0]  # for each app on the path, the next dependsOn entry to follow
        while trail:
            app = by_name[trail[-1]]
            i = edges[-1]
            if i == len(app.depends_on):
                state[app.name] = 2
                trail.pop()
                edges.pop()
                continue
            edges[-1] = i + 1
            other = app.depends_on[i]
            if other not in by_name or other == app.name:
                continue  # unknown apps and self-dependencies are reported elsewhere
            if state.get(other) == 1:
                cycle = trail[trail.index(other) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    shown = " -> ".join(cycle + [other])
                    c.error(
                        "CW401",
                        f"dependsOn forms a cycle: {shown}",
                        app.path + ("dependsOn", i),
                        help="remove one of these dependencies",
                    )
            elif other not in state:
                state[other] = 1
                trail.append(other)
                edges.append(0)


def _network(text: str):
    return ipaddress.ip_network(text, strict=True)


def _check_network(c: _Checker) -> None:
    p = c.platform
    ranges = []
    fields = [
        (("network", "cidr"), p.network.cidr),
        (("network", "podCidr"), p.network.pod_cidr),
        (("network", "serviceCidr"), p.network.service_cidr),
    ]
    fields += [
        (("cluster", "endpoint", "allowedCidrs", i), cidr)
        for i, cidr in enumerate(p.cluster.endpoint.allowed_cidrs)
    ]
    for path, text in fields:
        if text is None:
            continue
        try:
            net = _network(text)
        except ValueError:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                c.error(
                    "CW307",
                    f"'{text}' is not a valid IPv4 CIDR",
                    path,
                    help="four numbers from 0 to 255 and a prefix length from 0 to 32,"
                    " such as 10.0.0.0/16",
                )
            else:
                c.error(
                    "CW307",
                    f"'{text}' has host bits set after the /{loose.prefixlen} prefix",
                    path,
                    help=f"did you mean '{loose}'?",
                )
            continue
        if path[0] == "network":
            ranges.append((path, net))
    for i, (path_a, a) in enumerate(ranges):
        for path_b, b in ranges[i + 1 :]:
            if a.overlaps(b):
                c.error(
                    "CW308",
                    f"'{b}' overlaps {format_path(path_a)} '{a}'",
                    path_b,
                    help="pods, services and the network each need their own range",
                )
    if ranges and ranges[0][0] == ("network", "cidr"):
        net = ranges[0][1]
        if net.prefixlen > 24:
            c.error(
                "CW307",
                f"'{net}' is too small for {p.network.zones} zones of public and private subnets",
                ("network", "cidr"),
                help="use a /16 to /24 range",
            )


def _check_ranges(c: _Checker) -> None:
    for pool in c.platform.cluster.node_pools:
        if pool.min > pool.max:
            c.error(
                "CW309",
                f"node pool '{pool.name}' has min {pool.min} above max {pool.max}",
                _bound_at_fault(c, pool.path),
                help="raise max or lower min",
            )
    for app in c.platform.apps:
        scale = app.autoscale
        if scale is not None and scale.min > scale.max:
            c.error(
                "CW309",
                f"app '{app.name}' autoscales with min {scale.min} above max {scale.max}",
                _bound_at_fault(c, app.path + ("autoscale",)),
                help="raise max or lower min",
            )
    for bucket in c.platform.buckets:
        _check_bucket_days(c, bucket)


def _check_bucket_days(c: _Checker, bucket) -> None:
    """A bucket's lifecycle ages must follow each other: objects move to the
    colder class before they expire, and are not set to expire while retained."""
    expire = bucket.expire_after_days
    if expire is None:
        return
    if bucket.cold_after_days is not None and bucket.cold_after_days >= expire:
        c.error(
            "CW315",
            f"bucket '{bucket.name}' moves objects to the colder class after "
            f"{bucket.cold_after_days} days but deletes them after {expire}",
            bucket.path + ("coldAfterDays",),
            help=f"set coldAfterDays below {expire}, or remove it",
        )
    if bucket.retain_days is not None and bucket.retain_days > expire:
        c.error(
            "CW315",
            f"bucket '{bucket.name}' retains objects for {bucket.retain_days} days but "
            f"deletes them after {expire}",
            bucket.path + ("retainDays",),
            help=f"set retainDays to {expire} or less, or expireAfterDays to at least "
            f"{bucket.retain_days}",
        )


def _bound_at_fault(c: _Checker, path: tuple) -> tuple:
    """Where to report min above max: at `min`, unless an environment's override
    set only `max` (then the override is what broke it)."""
    document = c.document
    if document.overridden(path + ("max",)) and not document.overridden(path + ("min",)):
        return path + ("max",)
    return path + ("min",)


def _a(title: str) -> str:
    """'an AWS', 'an Azure', 'a GCP'."""
    return f"{'an' if title[0] in 'AEIOU' else 'a'} {title}"


def _check_provider(c: _Checker) -> None:
    p = c.platform
    rules = rules_for(p.cloud.provider)
    if rules.needs_project and p.cloud.project is None:
        c.error(
            "CW501",
            f"{rules.title} needs cloud.project",
            ("cloud",),
            key=True,
            help="add 'project: <your project id>' under cloud",
        )
    if not rules.needs_project and p.cloud.project is not None:
        c.error(
            "CW504",
            f"'project' applies only to GCP, not to {rules.title}",
            ("cloud", "project"),
            key=True,
            help="remove it",
        )
    # Settings of one cloud, written for another (binaryAuthorization has a
    # default in the model: what counts is whether the file writes it).
    places = "; GCP places a platform by cloud.project" if p.cloud.provider == "gcp" else ""
    for path, written, cloud, help in (
        (("cloud", "account"), p.cloud.account is not None, "aws", "remove it" + places),
        (
            ("cloud", "subscription"),
            p.cloud.subscription is not None,
            "azure",
            "remove it" + places,
        ),
        (
            ("state", "resourceGroup"),
            p.state_resource_group is not None,
            "azure",
            "remove it; the identity layer grants the state on its own cloud by the backend's URL",
        ),
        (
            ("identity", "githubOidcProvider"),
            p.github_oidc_provider is not None,
            "aws",
            "remove it; CI identities federate with GitHub through the cloud's own identity",
        ),
        (
            ("cluster", "binaryAuthorization"),
            "binaryAuthorization" in c.document.data.get("cluster", {}),
            "gcp",
            "remove it; Binary Authorization is GKE's",
        ),
        (
            ("network", "podCidr"),
            p.network.pod_cidr is not None,
            "gcp",
            "remove it; pods take addresses from the network's subnets",
        ),
        (
            ("cluster", "encryptionAtHost"),
            p.cluster.encryption_at_host is not None,
            "azure",
            "remove it; the cloud encrypts its nodes' disks by its own rules",
        ),
    ):
        if written and p.cloud.provider != cloud:
            c.error(
                "CW504",
                f"'{path[-1]}' applies only to {rules_for(cloud).title}, not to {rules.title}",
                path,
                key=True,
                help=help,
            )
    for store in p.app_services.datastores:
        if store.enhanced_monitoring is None:
            continue
        if p.cloud.provider != "aws" or store.engine not in ("postgres", "mysql"):
            c.error(
                "CW504",
                "'enhancedMonitoring' applies only to SQL datastores on AWS, not to "
                + (store.engine if p.cloud.provider == "aws" else rules.title),
                store.path + ("enhancedMonitoring",),
                key=True,
                help="remove it",
            )
    for store in p.app_services.datastores:
        if store.flavor is None:
            continue
        if store.alloydb:
            if p.cloud.provider != "gcp" or store.engine != "postgres":
                c.error(
                    "CW504",
                    "flavor 'alloydb' is AlloyDB's, which runs postgres datastores on GCP only, "
                    "not "
                    + (f"{store.engine} datastores" if p.cloud.provider == "gcp" else rules.title),
                    store.path + ("flavor",),
                    key=True,
                    help="remove it: without a flavor the datastore is the cloud's managed instance"
                    + (" (Cloud SQL)" if p.cloud.provider == "gcp" else "")
                    + (
                        " (RDS; `aurora` is AWS's cluster flavor)"
                        if p.cloud.provider == "aws"
                        else ""
                    )
                    + (" (Azure Database flexible server)" if p.cloud.provider == "azure" else ""),
                )
        elif p.cloud.provider != "aws" or store.engine not in ("postgres", "mysql"):
            c.error(
                "CW504",
                f"flavor '{store.flavor}' is Aurora's, which runs SQL datastores on AWS only, "
                "not "
                + (f"{store.engine} datastores" if p.cloud.provider == "aws" else rules.title),
                store.path + ("flavor",),
                key=True,
                help="remove it: without a flavor the datastore is the cloud's managed instance"
                + (
                    " (Cloud SQL; `alloydb` is GCP's cluster flavor, for postgres)"
                    if p.cloud.provider == "gcp"
                    else ""
                )
                + (" (Azure Database flexible server)" if p.cloud.provider == "azure" else ""),
            )
    region = p.cloud.region
    if region not in rules.regions:
        help = did_you_mean(region, rules.regions)
        if rules.region_pattern.match(region):
            c.warn(
                "CW502",
                f"'{region}' is not {_a(rules.title)} region crosswalk knows",
                ("cloud", "region"),
                help=help or "check the spelling; new regions are accepted with this warning",
            )
        else:
            c.error(
                "CW502",
                f"'{region}' is not {_a(rules.title)} region",
                ("cloud", "region"),
                help=help or f"{rules.title} regions look like '{rules.region_example}'",
            )
    for pool in (*p.cluster.node_pools, *p.vms):
        if pool.machine_type and not rules.machine_type_pattern.match(pool.machine_type):
            c.error(
                "CW503",
                f"'{pool.machine_type}' is not {_a(rules.title)} machine type",
                pool.path + ("machineType",),
                help=f"{rules.title} machine types look like '{rules.machine_type_example}'",
            )
    findings = kubernetes_version_findings(
        rules, p.cluster.version, c.today, ("cluster", "version")
    )
    for finding in findings + rules.extra_checks(p):
        c.report(
            finding.severity,
            finding.code,
            finding.message,
            finding.path,
            key=finding.key,
            help=finding.help,
        )


def check_environment_names(document: Document, platforms: dict[str, Platform]) -> list[Diagnostic]:
    """CW509: environments that share an account, project or subscription (or,
    on Azure, any two) must not give two resources one name. Names there join
    the platform's name, the environment's and the item's with '-': a
    datastore 'prod-orders' of the first environment and 'orders' of 'prod'
    would both be '<platform>-prod-orders'."""
    checker = _Checker(document, None)
    rules = rules_for(next(iter(platforms.values())).cloud.provider)
    kinds = {
        "registry": lambda p: p.registries,
        "datastore": lambda p: p.app_services.datastores,
        "app": lambda p: p.apps,
        "automation identity": lambda p: p.automation,
        "vm": lambda p: p.vms,
    }
    for what, items_of in kinds.items():
        seen: dict[tuple, tuple[str, str]] = {}  # (scope, name) -> (environment, item)
        for env in default_first(platforms):
            platform = platforms[env]
            group = None if rules.global_names else platform.cloud.scope
            for item in items_of(platform):
                name = "-".join(rules.name_scope(platform) + (item.name,))
                first = seen.setdefault((group, name), (env, item.name))
                if first[0] != env:
                    checker.error(
                        "CW509",
                        f"{what} '{item.name}' of environment '{env}' and {what} '{first[1]}' "
                        f"of environment '{first[0]}' would both name their resources '{name}'",
                        item.path + ("name",),
                        help=f"rename the {what}: names that must be unique join the platform's, "
                        "the environment's and its own with '-'",
                    )
    return checker.found


def check_app_builds(document: Document, platforms: dict[str, Platform]) -> list[Diagnostic]:
    """Apps built from a repository (`apps[].build`): their cloud must offer a
    push to one repository only (CW504), and in every environment their image
    must name the app's own repository in a platform registry (CW332), where
    the builds push; names depend on the environment's placement, so this
    runs on the placed platforms."""
    from crosswalk.providers.builds import (
        BUILD_CLOUDS,
        build_image,
        build_registry,
        image_is_built,
    )

    checker = _Checker(document, None)
    reported: set[tuple] = set()
    for env in default_first(platforms):
        platform = platforms[env]
        for app in platform.apps:
            if app.build is None or app.path in reported:
                continue
            where = "" if len(platforms) == 1 else f" (in environment '{env}')"
            if platform.cloud.provider not in BUILD_CLOUDS:
                checker.error(
                    "CW504",
                    f"app '{app.name}' is built from {app.build.repository}, but on "
                    f"{platform.cloud.provider} a push cannot be held to one repository of a "
                    "registry: ACR does that only with ABAC, which the pinned azure-native "
                    "cannot turn on",
                    app.build.path,
                    key=True,
                    help="remove `build` and push the image with a pipeline of your own",
                )
                reported.add(app.path)
                continue
            registry = build_registry(platform, app)
            if registry is None:
                named = app.build.registry
                checker.error(
                    "CW332",
                    f"app '{app.name}' is built from {app.build.repository}, but "
                    + (
                        f"'{named}' is not a declared registry"
                        if named and platform.registries
                        else "the platform has no registry to push its image to"
                    ),
                    app.build.path + (("registry",) if named and platform.registries else ()),
                    key=not (named and platform.registries),
                    help=did_you_mean(named, [r.name for r in platform.registries])
                    if named and platform.registries
                    else "declare one: `registries: [{name: images}]`",
                )
                reported.add(app.path)
                continue
            if not image_is_built(platform, app):
                checker.error(
                    "CW332",
                    f"app '{app.name}' is built from {app.build.repository}, whose builds push "
                    f"to {build_image(platform, app)}, but its image is '{app.image}'{where}",
                    _image_path(document, env, app),
                    help=f"name the app's repository in registry '{registry.name}': "
                    f"{build_image(platform, app)}:<tag> (the image until the first build)",
                )
                reported.add(app.path)
    return checker.found


def _image_path(document: Document, env: str, app) -> tuple:
    """Where an environment's image of `app` is written: its override, else the app's."""
    for i, environment in enumerate(
        document.data.get("environments", {}).get(env, {}).get("overrides", {}).get("apps", [])
        or []
    ):
        if (
            isinstance(environment, dict)
            and environment.get("name") == app.name
            and ("image" in environment)
        ):
            return ("environments", env, "overrides", "apps", i, "image")
    return app.path + ("image",)


def check_overrides(document: Document, environment: Environment) -> list[Diagnostic]:
    """CW310: every key of an environment's overrides must name a setting the
    platform has (defaults count) or may have (the schema knows it), every
    item of a named list must match an item of the platform by `name`, and
    what an override changes must be a value that may differ between
    environments (model.PER_ENVIRONMENT): the programs are the same for every
    environment, only their stack config differs.

    The merged platform is validated and checked separately; this finds what
    merging would silently drop or misplace, and what no stack config can say."""
    # Only the sections the overrides name are compared (a 1,000-app platform
    # need not be copied because prod raises a node pool's minimum).
    named = {key: document.data[key] for key in environment.overrides if key in document.data}
    base = apply_defaults(named)
    walk = _OverrideWalk(_Checker(document, None), document.data["cloud"]["provider"], base)
    walk.mapping(environment.overrides, base, load_schema(), environment.path + ("overrides",), ())
    return walk.checker.found


def _object_schema(schema: dict) -> dict:
    """The branch of `schema` that describes a mapping (`quota` is a mapping or false)."""
    if "properties" in schema or "additionalProperties" in schema:
        return schema
    for branch in schema.get("oneOf", []):
        if branch.get("type") == "object":
            return branch
    return {}


@dataclass
class _OverrideWalk:
    """One environment's overrides, walked beside the platform's data (`base`,
    defaults applied) and the schema."""

    checker: _Checker
    cloud: str
    base: dict

    def mapping(self, override, base, schema: dict, where: tuple, at: tuple) -> None:
        """`override` sits at `where` in the file and applies to `base`, the
        platform's value at `at` (described by `schema`)."""
        c = self.checker
        schema = _object_schema(schema)
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in override.items():
            here = at + (key,)
            if here == ("environments",):
                c.error(
                    "CW310",
                    "environments cannot be overridden by an environment",
                    where + (key,),
                    key=True,
                    help="remove 'environments' from the overrides",
                )
                continue
            has = isinstance(base, dict) and key in base
            if not has and key not in properties and not isinstance(extra, dict):
                choices = set(properties) | (set(base) if isinstance(base, dict) else set())
                c.error(
                    "CW310",
                    f"'{format_path(here)}' does not exist in the platform, "
                    "so it cannot be overridden",
                    where + (key,),
                    key=True,
                    help=did_you_mean(key, choices)
                    or (f"settings here: {quoted_list(sorted(choices))}" if choices else None),
                )
                continue
            target = base[key] if has else None
            if may_differ(here, self.cloud, self.base) or (has and same_value(value, target)):
                continue  # the merged platform's schema and checks judge the value
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            if here in NAMED_LISTS and isinstance(value, list):
                self.named_items(value, target, sub.get("items", {}), where + (key,), here)
            elif isinstance(value, dict) and isinstance(target, dict):
                self.mapping(value, target, sub, where + (key,), here)
            elif fits_type(value, sub.get("type")):
                self.fixed(here, where + (key,))
            # else: a value of the wrong type, which validating the merged platform reports

    def fixed(self, here: tuple, where: tuple) -> None:
        """An override of a value every environment must share."""
        self.checker.error(
            "CW310",
            f"'{format_path(here)}' cannot differ between environments: it would change which "
            "resources exist or what they are named (every environment runs the same programs)",
            where,
            key=True,
            help=f"set it in the platform itself; {self.what_may_differ(schema_path(here))}",
        )

    def what_may_differ(self, pattern: str) -> str:
        """What may differ near `pattern`: under its nearest ancestor that has
        such values, or (at the top) the sections that have them."""
        entries = [entry for entry in PER_ENVIRONMENT if self.cloud in entry.clouds]
        parent = pattern
        while "." in parent:
            parent = parent.rsplit(".", 1)[0]
            under = sorted({e.shown(parent) for e in entries if e.path.startswith(parent + ".")})
            if under:
                return f"{parent} may differ only in {', '.join(under)}"
        sections = sorted({entry.path.split(".")[0].split("[]")[0] for entry in entries})
        return (
            f"environments may differ only in some values of {', '.join(sections[:-1])} and "
            f"{sections[-1]} (the README lists them)"
        )

    def named_items(self, items: list, base, schema: dict, where: tuple, at: tuple) -> None:
        """Override items of a named list change the platform's items of the
        same name; they never add items."""
        c = self.checker
        index = {
            item["name"]: i
            for i, item in enumerate(base if isinstance(base, list) else [])
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        }
        seen: dict[str, int] = {}
        for j, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name in seen:
                c.error(
                    "CW201",
                    f"{format_path(at)} item '{name}' is overridden twice in this environment",
                    where + (j, "name"),
                    help=f"merge it with the override at item {seen[name]}",
                )
                continue
            if isinstance(name, str):
                seen[name] = j
            if not isinstance(name, str):
                c.error(
                    "CW310",
                    f"an override of {format_path(at)} needs a 'name' to say which item it changes",
                    where + (j,),
                    help="items of named lists are matched by 'name'",
                )
                continue
            if name not in index:
                help = did_you_mean(name, index)
                if help is None:
                    help = (
                        f"declared: {quoted_list(index)}"
                        if index
                        else f"declare it under {format_path(at)} first"
                    )
                c.error(
                    "CW310",
                    f"{format_path(at)} has no item named '{name}' to override",
                    where + (j, "name"),
                    help=help,
                )
                continue
            i = index[name]
            # `name` only says which item: it is not a change.
            changes = {key: value for key, value in item.items() if key != "name"}
            self.mapping(changes, base[i], schema, where + (j,), at + (i,))


def _check_state(c: _Checker) -> None:
    """The secrets provider must fit the backend, and the backend must mean
    the same place from every stack's directory to go into Pulumi.yaml."""
    backend = c.platform.state_backend
    on_pulumi_cloud = (backend or "").startswith("https://")
    if c.platform.state_secrets_provider == "default" and not on_pulumi_cloud:
        c.error(
            "CW312",
            "secrets provider 'default' is Pulumi Cloud's keys, but the state backend is "
            + (f"'{backend}'" if backend else "the local file backend"),
            ("state", "secretsProvider"),
            help="set state.backend to https://api.pulumi.com, or use 'passphrase' or a key URL",
        )
    if backend and backend.startswith("file://") and not backend[7:].startswith(("/", "~")):
        c.warn(
            "CW313",
            f"the relative file backend '{backend}' is not written into Pulumi.yaml: Pulumi "
            "would read it from each stack's directory",
            ("state", "backend"),
            help="crosswalk apply finds it next to platform.yaml; for plain `pulumi` runs, use "
            "an absolute path or file://~/...",
        )


# Engines a pipeline can deliver from: what each cloud's delivery service reads.
PIPELINE_SOURCES = ("queue", "stream")


def _check_analytics(c: _Checker) -> None:
    """Warehouses apps bind, and pipelines' sources and destinations."""
    p = c.platform
    warehouses = {w.name for w in p.warehouses}
    buckets = {b.name for b in p.buckets}
    datastores = {d.name for d in p.app_services.datastores}
    for app in p.apps:
        bound: set[str] = set()
        for use in app.warehouses:
            if use.warehouse not in warehouses:
                c.unknown("CW330", "warehouse", use.warehouse, warehouses, use.path)
            elif use.warehouse in bound:
                c.error(
                    "CW201",
                    f"app '{app.name}' binds warehouse '{use.warehouse}' twice",
                    use.path,
                    help="bind each warehouse once, with the access the app needs",
                )
            bound.add(use.warehouse)
    for pipeline in p.pipelines:
        store = p.datastore(pipeline.source)
        if store is None:
            c.unknown("CW303", "datastore", pipeline.source, datastores, pipeline.path + ("from",))
        elif store.engine not in PIPELINE_SOURCES:
            sources = sorted(
                d.name for d in p.app_services.datastores if d.engine in PIPELINE_SOURCES
            )
            c.error(
                "CW331",
                f"pipeline '{pipeline.name}' reads datastore '{store.name}', a {store.engine} "
                "datastore, not a queue or a stream",
                pipeline.path + ("from",),
                help=f"queues and streams declared: {quoted_list(sources)}"
                if sources
                else "declare a datastore with 'engine: queue' or 'engine: stream' and name it here",
            )
        if pipeline.bucket is not None and pipeline.bucket not in buckets:
            c.unknown("CW314", "bucket", pipeline.bucket, buckets, pipeline.destination_path)
        if pipeline.warehouse is not None and pipeline.warehouse not in warehouses:
            c.unknown(
                "CW330", "warehouse", pipeline.warehouse, warehouses, pipeline.destination_path
            )
    if p.cloud.provider == "azure":
        _check_azure_pipelines(c)
    if p.cloud.provider == "aws":
        for pipeline in p.pipelines:
            if pipeline.warehouse is not None:
                c.error(
                    "CW504",
                    "AWS pipelines deliver into buckets: Firehose loads Redshift only through "
                    "a database password and a bucket of its own",
                    pipeline.destination_path,
                    key=True,
                    help="deliver into a bucket ('to: {bucket: ...}') and load the warehouse "
                    "from it with COPY",
                )
    if p.cloud.provider == "gcp":
        for warehouse in p.warehouses:
            if warehouse.size is not None:
                c.error(
                    "CW504",
                    "size does not apply to BigQuery, which sizes each query itself",
                    warehouse.path + ("size",),
                    key=True,
                    help="remove it",
                )
    if p.cloud.provider == "aws":
        for app in p.apps:
            for use in app.warehouses:
                if use.read_only:
                    c.error(
                        "CW504",
                        "access 'read-only' does not apply to Redshift, whose table rights "
                        "are SQL grants: the app signs in as its own database user",
                        use.path[:-1] + ("access",),
                        key=True,
                        help="remove it, and grant the app's database user what it reads",
                    )
        for warehouse in p.warehouses:
            if warehouse.expire_tables_after_days is not None:
                c.error(
                    "CW504",
                    "expireTablesAfterDays does not apply to Redshift, which expires no tables",
                    warehouse.path + ("expireTablesAfterDays",),
                    key=True,
                    help="remove it",
                )


def _check_azure_pipelines(c: _Checker) -> None:
    """Azure delivers with Event Hubs Capture: from a stream's event hub, into
    a bucket's container, one capture per hub."""
    p = c.platform
    captured: set[str] = set()
    for pipeline in p.pipelines:
        store = p.datastore(pipeline.source)
        if store is not None and store.engine == "queue":
            c.error(
                "CW504",
                f"pipeline '{pipeline.name}' reads queue '{store.name}': the Azure queue is "
                "Service Bus, which has no capture",
                pipeline.path + ("from",),
                key=True,
                help="declare a datastore with 'engine: stream' (an event hub, which Event "
                "Hubs Capture archives) and deliver from it",
            )
        elif store is not None and store.engine == "stream":
            if store.name in captured:
                c.error(
                    "CW504",
                    f"stream '{store.name}' already has a pipeline: an event hub has one "
                    "capture, into one container",
                    pipeline.path + ("from",),
                    key=True,
                    help="deliver the stream once, or declare another stream",
                )
            captured.add(store.name)
        if pipeline.warehouse is not None:
            c.error(
                "CW504",
                "Azure pipelines deliver into buckets: Event Hubs Capture writes Avro files "
                "into a container, and a Data Explorer data connection needs a table and a "
                "mapping crosswalk does not make",
                pipeline.destination_path,
                key=True,
                help="deliver into a bucket ('to: {bucket: ...}') and ingest the files into "
                "the warehouse from there",
            )
