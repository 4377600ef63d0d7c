"""Semantic checks: Platform -> diagnostics (names, references, CIDRs, ranges,
provider rules, environment overrides, and warnings where a secure default is
relaxed). Runs only on schema-valid documents."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from crosswalk.compiler.diagnostics import ERROR, WARNING, Diagnostic, format_path
from crosswalk.compiler.document import Document
from crosswalk.compiler.model import Platform
from crosswalk.compiler.validate import did_you_mean, quoted_list
from crosswalk.providers import rules_for

# Lists whose items are matched by `name` in environment overrides.
NAMED_LISTS = {
    ("identity", "teams"),
    ("identity", "automation"),
    ("registries",),
    ("cluster", "nodePools"),
    ("cluster", "namespaces"),
    ("appServices", "datastores"),
    ("apps",),
}


@dataclass
class _Checker:
    document: Document
    platform: Platform
    found: list[Diagnostic] = field(default_factory=list)

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
            help = f"declared: {quoted_list(sorted(choices))}" if choices else f"no {what}s declared"
        self.error(code, f"'{value}' is not a declared {what}", path, help=help)


def check_platform(document: Document, platform: Platform) -> list[Diagnostic]:
    checker = _Checker(document, platform)
    _check_unique_names(checker)
    _check_references(checker)
    _check_dependency_cycles(checker)
    _check_network(checker)
    _check_ranges(checker)
    _check_provider(checker)
    _check_environments(checker)
    _check_relaxed_defaults(checker)
    return checker.found


def _check_unique_names(c: _Checker) -> None:
    p = c.platform
    groups = {
        "team": p.teams,
        "automation identity": p.automation,
        "registry": p.registries,
        "node pool": p.cluster.node_pools,
        "namespace": p.cluster.namespaces,
        "datastore": p.app_services.datastores,
        "app": p.apps,
    }
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


def _check_references(c: _Checker) -> None:
    p = c.platform
    teams = {t.name for t in p.teams}
    namespaces = {n.name for n in p.cluster.namespaces}
    datastores = {d.name for d in p.app_services.datastores}
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
        for i, store in enumerate(app.uses):
            if store not in datastores:
                c.unknown("CW303", "datastore", store, datastores, app.path + ("uses", i))
        for i, other in enumerate(app.depends_on):
            if other == app.name:
                c.error("CW401", f"app '{app.name}' depends on itself", app.path + ("dependsOn", i))
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
                    for key, value in (("dns", p.app_services.dns_zone), ("certificates", p.app_services.email))
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
    (the last edge found walking apps in source order)."""
    by_name = {a.name: a for a in c.platform.apps}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    reported: set[frozenset] = set()

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        app = by_name[name]
        for i, other in enumerate(app.depends_on):
            if other not in by_name or other == name:
                continue
            if state.get(other) == 1:
                cycle = trail[trail.index(other) :] + [name] if other in trail else [name]
                members = frozenset(cycle)
                if members not in reported:
                    reported.add(members)
                    shown = " -> ".join(cycle + [other])
                    c.error(
                        "CW401",
                        f"dependsOn forms a cycle: {shown}",
                        app.path + ("dependsOn", i),
                        help="remove one of these dependencies",
                    )
            elif other not in state:
                visit(other, trail + [name])
        state[name] = 2

    for app in c.platform.apps:
        if app.name not in state:
            visit(app.name, [])


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
        except ValueError as exc:
            c.error("CW307", f"'{text}' is not a valid CIDR: {exc}", path)
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
                pool.path + ("min",),
            )
    for app in c.platform.apps:
        scale = app.autoscale
        if scale is not None and scale.min > scale.max:
            c.error(
                "CW309",
                f"app '{app.name}' autoscales with min {scale.min} above max {scale.max}",
                app.path + ("autoscale", "min"),
            )


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
            "CW504", f"cloud.project applies only to GCP, not {rules.title}", ("cloud", "project"), key=True
        )
    if p.network.pod_cidr is not None and p.cloud.provider != "gcp":
        c.error(
            "CW504",
            f"network.podCidr applies only to GCP, not {rules.title}",
            ("network", "podCidr"),
            key=True,
        )
    region = p.cloud.region
    if region not in rules.regions:
        help = did_you_mean(region, rules.regions)
        if rules.region_pattern.match(region):
            c.warn(
                "CW502",
                f"'{region}' is not a {rules.title} region crosswalk knows",
                ("cloud", "region"),
                help=help or "check the spelling; new regions are accepted with this warning",
            )
        else:
            c.error(
                "CW502",
                f"'{region}' is not a {rules.title} region",
                ("cloud", "region"),
                help=help or f"{rules.title} regions look like '{rules.region_example}'",
            )
    for pool in p.cluster.node_pools:
        if pool.machine_type and not rules.machine_type_pattern.match(pool.machine_type):
            c.error(
                "CW503",
                f"'{pool.machine_type}' is not a {rules.title} machine type",
                pool.path + ("machineType",),
                help=f"{rules.title} machine types look like '{rules.machine_type_example}'",
            )


def _check_environments(c: _Checker) -> None:
    base = c.document.data
    for env in c.platform.environments:
        _check_override(c, env.overrides, base, env.path + ("overrides",), ())


def _check_override(c: _Checker, override, base, where: tuple, at: tuple) -> None:
    """Every key of an override must name something that exists in the platform
    (named list items by `name`)."""
    if not isinstance(override, dict):
        return
    if not isinstance(base, dict):
        c.error("CW310", f"{format_path(at)} is not a mapping in the platform", where)
        return
    for key, value in override.items():
        if key not in base:
            c.error(
                "CW310",
                f"'{format_path(at + (key,))}' is not set in the platform, so it cannot be overridden",
                where + (key,),
                key=True,
                help=did_you_mean(key, base) or "set it in the platform first, then override it",
            )
            continue
        target = base[key]
        if at + (key,) in NAMED_LISTS and isinstance(value, list):
            names = {item.get("name"): item for item in target if isinstance(item, dict)}
            for i, item in enumerate(value):
                name = item.get("name") if isinstance(item, dict) else None
                if not isinstance(name, str) or name not in names:
                    c.error(
                        "CW310",
                        f"{format_path(at + (key,))} has no item named {name!r} to override",
                        where + (key, i),
                        help=did_you_mean(name, [n for n in names if isinstance(n, str)])
                        or "override items are matched by 'name'",
                    )
                    continue
                _check_override(c, item, names[name], where + (key, i), at + (key, name))
        elif isinstance(value, dict):
            _check_override(c, value, target, where + (key,), at + (key,))


def _check_relaxed_defaults(c: _Checker) -> None:
    p = c.platform
    endpoint = p.cluster.endpoint
    if endpoint.public and (
        not endpoint.allowed_cidrs or any(cidr.endswith("/0") for cidr in endpoint.allowed_cidrs)
    ):
        c.warn(
            "CW601",
            "the cluster API endpoint is public and open to the whole internet",
            ("cluster", "endpoint", "public"),
            help="list your office or VPN ranges under cluster.endpoint.allowedCidrs",
        )
    for ns in p.cluster.namespaces:
        if ns.pod_security != "restricted":
            c.warn(
                "CW602",
                f"namespace '{ns.name}' enforces Pod Security '{ns.pod_security}', not 'restricted'",
                ns.path + ("podSecurity",),
            )
        if ns.network_policy == "allow-all":
            c.warn(
                "CW603",
                f"namespace '{ns.name}' allows all network traffic",
                ns.path + ("networkPolicy",),
                help="'default-deny' allows DNS, same-namespace traffic and declared dependencies",
            )
        if ns.quota is None:
            c.warn("CW604", f"namespace '{ns.name}' has no resource quota", ns.path + ("quota",))
    for registry in p.registries:
        for flag, on in (("scanOnPush", registry.scan_on_push), ("immutableTags", registry.immutable_tags)):
            if not on:
                c.warn("CW605", f"registry '{registry.name}' turns {flag} off", registry.path + (flag,))
    if p.app_services.ingress == "nginx":
        c.warn(
            "CW607",
            "ingress-nginx is retired upstream and receives no more security fixes",
            ("appServices", "ingress", "controller"),
            help="use 'envoy-gateway' (Gateway API) or 'traefik'",
        )
    if p.services.policy == "none":
        c.warn(
            "CW608",
            "no policy engine: nothing enforces baseline policies at admission",
            ("clusterServices", "policy", "engine"),
        )
