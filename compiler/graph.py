"""The resource graph: Platform -> networkx DiGraph of platform resources.

Each node is one platform resource (team, network, cluster, namespace, app, ...)
tagged with its layer, its stack and the path that declared it. An edge u -> v
means "v needs u" (u is created first). The stack DAG is the graph's quotient
by stack: it, not a fixed list, gives the order in which stacks run and which
may run side by side. networkx is used only here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from crosswalk.compiler.diagnostics import ERROR, Diagnostic, format_path
from crosswalk.compiler.model import LAYERS, Platform

LAYER_DIRS = {
    "identity": "01-identity",
    "managed-infra": "02-managed-infra",
    "cluster": "03-cluster",
    "cluster-services": "04-cluster-services",
    "app-services": "05-app-services",
}
LAYER_ORDER = {layer: index for index, layer in enumerate(LAYERS)}


def app_stack(name: str) -> str:
    return f"06-apps/{name}"


def stack_layer(stack: str) -> str:
    return "apps" if stack.startswith("06-apps/") else LAYERS[int(stack[:2]) - 1]


@dataclass
class ResourceGraph:
    """The platform's resources and the stacks they fall into."""

    graph: nx.DiGraph
    stacks: nx.DiGraph  # built once by build_graph, never changed after
    _order: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _members: dict[str, list[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def stack_order(self) -> list[str]:
        """Stacks in dependency order; ties broken by name, so the order is stable."""
        if not self._order:
            self._order = tuple(nx.lexicographical_topological_sort(self.stacks))
        return list(self._order)

    def stack_groups(self) -> list[list[str]]:
        """Stacks that may run side by side, generation by generation."""
        return [sorted(group) for group in nx.topological_generations(self.stacks)]

    def upstream(self, stack: str) -> list[str]:
        return sorted(self.stacks.predecessors(stack))

    def downstream(self, stack: str) -> list[str]:
        """Every stack a change to `stack` can affect."""
        return sorted(nx.descendants(self.stacks, stack))

    def nodes_of(self, stack: str) -> list[str]:
        if not self._members:  # grouped once: drawing the graph asks for every stack
            for node in sorted(self.graph):
                self._members.setdefault(self.graph.nodes[node]["stack"], []).append(node)
        return list(self._members.get(stack, []))


class StackDependencies:
    """Stacks and the stacks each reads, as a compiled manifest lists them
    (`apply` works from OUT, where no ResourceGraph is at hand)."""

    def __init__(self, depends_on: dict[str, tuple[str, ...]]):
        self.stacks = nx.DiGraph()
        self.stacks.add_nodes_from(depends_on)
        self.stacks.add_edges_from(
            (needed, stack) for stack, needs in depends_on.items() for needed in needs
        )

    def needed_by(self, stack: str) -> set[str]:
        """Every stack `stack` reads, directly or through others."""
        return nx.ancestors(self.stacks, stack)

    def needing(self, stack: str) -> set[str]:
        """Every stack that reads `stack`, directly or through others."""
        return nx.descendants(self.stacks, stack)


class _Builder:
    def __init__(self) -> None:
        self.graph = nx.DiGraph()

    def node(self, node_id: str, kind: str, layer: str, path: tuple, stack: str | None = None):
        self.graph.add_node(
            node_id,
            kind=kind,
            layer=layer,
            stack=stack or LAYER_DIRS[layer],
            path=path,
        )

    def edge(self, needed: str, needing: str, path: tuple | None = None) -> None:
        if needed in self.graph and needing in self.graph:
            self.graph.add_edge(needed, needing, path=path)


def build_graph(platform: Platform) -> ResourceGraph:
    """Platform -> ResourceGraph. The platform has passed `check_platform`, so
    every reference resolves; edges to names that do not exist are dropped."""
    b = _Builder()
    p = platform

    # Layer 1: identity.
    b.node("node-role", "node-role", "identity", ("cluster", "nodePools"))
    for team in p.teams:
        b.node(f"team/{team.name}", "team", "identity", team.path)
    for bot in p.automation:
        b.node(f"automation/{bot.name}", "automation", "identity", bot.path)

    # Layer 2: managed infrastructure.
    b.node("network", "network", "managed-infra", ("network",))
    b.node("secrets-key", "kms-key", "managed-infra", ("cluster",))
    for registry in p.registries:
        b.node(f"registry/{registry.name}", "registry", "managed-infra", registry.path)
    for bucket in p.buckets:
        b.node(f"bucket/{bucket.name}", "bucket", "managed-infra", bucket.path)
        b.edge("secrets-key", f"bucket/{bucket.name}")  # its objects are encrypted with it
    for warehouse in p.warehouses:
        node = f"warehouse/{warehouse.name}"
        b.node(node, "warehouse", "managed-infra", warehouse.path)
        b.edge("secrets-key", node)  # its data is encrypted with it
        b.edge("network", node)  # reached from the platform's network only
        for team in p.teams:
            b.edge(f"team/{team.name}", node, team.path + ("access",))  # granted by access
    for vm in p.vms:
        node = f"vm/{vm.name}"
        b.node(node, "vm", "managed-infra", vm.path)
        b.edge("network", node)  # in its private subnets
        b.edge("secrets-key", node)  # its disks are encrypted with a key of the platform
        for i, team in enumerate(vm.teams):
            b.edge(f"team/{team}", node, vm.path + ("teams", i))  # who may log in
        if p.cloud.provider != "azure":
            # Its identity is the identity layer's (Azure's is the VM's own).
            b.node(f"vm-identity/{vm.name}", "vm-identity", "identity", vm.path)
            b.edge(f"vm-identity/{vm.name}", node)
    if p.cloud.provider == "azure":
        # Azure resources live in the platform's resource group, made with the identities.
        b.node("resource-group", "resource-group", "identity", ("name",))
        for name in (
            "network",
            "secrets-key",
            *(f"registry/{r.name}" for r in p.registries),
            *(f"bucket/{bucket.name}" for bucket in p.buckets),
            *(f"warehouse/{warehouse.name}" for warehouse in p.warehouses),
            *(f"vm/{vm.name}" for vm in p.vms),
        ):
            b.edge("resource-group", name)

    # Layer 3: the cluster.
    b.node("cluster", "cluster", "cluster", ("cluster",))
    for name in ("network", "secrets-key", "node-role"):
        b.edge(name, "cluster")
    for team in p.teams:
        b.edge(f"team/{team.name}", "cluster", team.path)
    for registry in p.registries:
        b.edge(f"registry/{registry.name}", "cluster", registry.path)
    for pool in p.cluster.node_pools:
        b.node(f"node-pool/{pool.name}", "node-pool", "cluster", pool.path)
        b.edge("cluster", f"node-pool/{pool.name}")
        b.edge("node-role", f"node-pool/{pool.name}")
    for ns in p.cluster.namespaces:
        b.node(f"namespace/{ns.name}", "namespace", "cluster", ns.path)
        b.edge("cluster", f"namespace/{ns.name}")
        if ns.team:
            b.edge(f"team/{ns.team}", f"namespace/{ns.name}", ns.path + ("team",))
    for team in p.teams:
        for i, ns in enumerate(team.namespaces):
            b.edge(f"team/{team.name}", f"namespace/{ns}", team.path + ("namespaces", i))

    # Layer 4: cluster services.
    services = {
        "logging": p.services.logging,
        "monitoring": p.services.monitoring,
        "policy": p.services.policy != "none",
        "mesh": p.services.mesh != "none",
        "autoscaler": p.services.autoscaler,
        "metrics-server": p.services.metrics_server,
    }
    for name, enabled in sorted(services.items()):
        if enabled:
            key = "metricsServer" if name == "metrics-server" else name
            b.node(
                f"service/{name}", "cluster-service", "cluster-services", ("clusterServices", key)
            )
            b.edge("cluster", f"service/{name}")

    if any(app.secrets for app in p.apps):
        # The operator that copies the apps' secrets into their namespaces.
        b.node("service/external-secrets", "cluster-service", "cluster-services", ("apps",))
        b.edge("cluster", "service/external-secrets")

    # Layer 5: app services.
    app_services = p.app_services
    if app_services.ingress:
        b.node("ingress", "ingress", "app-services", ("appServices", "ingress"))
        b.edge("cluster", "ingress")
    if app_services.dns_zone:
        b.node("dns", "dns", "app-services", ("appServices", "dns"))
        b.edge("cluster", "dns")
    if app_services.email:
        b.node("certificates", "certificates", "app-services", ("appServices", "certificates"))
        b.edge("cluster", "certificates")
        b.edge("ingress", "certificates")
        if p.services.mesh == "linkerd":
            # cluster-services runs cert-manager then (it issues Linkerd's identity).
            b.edge("service/mesh", "certificates", ("clusterServices", "mesh"))
    for store in app_services.datastores:
        b.node(f"datastore/{store.name}", "datastore", "app-services", store.path)
        b.edge("network", f"datastore/{store.name}")
        b.edge("cluster", f"datastore/{store.name}")
        if store.alloydb:
            b.edge("secrets-key", f"datastore/{store.name}")  # its key is of the key ring
    for pipeline in p.pipelines:
        # Beside its source, a queue of this layer.
        node = f"pipeline/{pipeline.name}"
        b.node(node, "pipeline", "app-services", pipeline.path)
        b.edge(f"datastore/{pipeline.source}", node, pipeline.path + ("from",))
        kind = "bucket" if pipeline.bucket is not None else "warehouse"
        b.edge(f"{kind}/{pipeline.destination}", node, pipeline.destination_path)
        if p.cloud.provider == "gcp":
            # Its service account is the identity layer's; its destination grants it.
            account = f"pipeline-account/{pipeline.name}"
            b.node(account, "service-account", "identity", pipeline.path)
            b.edge(account, node)
            b.edge(account, f"{kind}/{pipeline.destination}", pipeline.destination_path)

    for app in p.apps:
        for secret in app.secrets:
            # Made empty in the cloud's secret manager; readable by the app only.
            b.node(f"secret/{app.name}/{secret.name}", "secret", "app-services", secret.path)

    # Layer 6: apps, one stack each.
    for app in p.apps:
        b.node(f"app/{app.name}", "app", "apps", app.path, app_stack(app.name))
    # Apps wait for the cluster's services: the policy engine admits their pods
    # and the mesh injects its proxies, so both must run first (with neither,
    # any service still orders the stack before the apps).
    enabled = [f"service/{name}" for name, on in sorted(services.items()) if on]
    admitting = [n for n in ("service/policy", "service/mesh") if n in enabled] or enabled[:1]
    for app in p.apps:
        node = f"app/{app.name}"
        b.edge("cluster", node)
        for service in admitting:
            b.edge(service, node)
        b.edge(f"namespace/{app.namespace}", node, app.path + ("namespace",))
        for i, store in zip(app.uses_at, app.uses):
            b.edge(f"datastore/{store}", node, app.path + ("uses", i))
        if app.node_pool is not None:
            b.edge(f"node-pool/{app.node_pool}", node, app.path + ("nodePool",))
        for use in app.buckets:
            b.edge(f"bucket/{use.bucket}", node, use.path)
        for secret in app.secrets:
            b.edge(f"secret/{app.name}/{secret.name}", node, secret.path)
            b.edge("service/external-secrets", node, secret.path)
        for use in app.warehouses:
            b.edge(f"warehouse/{use.warehouse}", node, use.path)
        for i, other in enumerate(app.depends_on):
            b.edge(f"app/{other}", node, app.path + ("dependsOn", i))
        if app.ingress is not None:
            b.edge("ingress", node, app.path + ("ingress",))
            if app.ingress.host:
                b.edge("dns", node, app.path + ("ingress", "host"))
                b.edge("certificates", node, app.path + ("ingress", "host"))

    # CI identities may deploy the layers they name: they must exist first.
    by_layer: dict[str, list[str]] = {}
    for node, data in b.graph.nodes(data=True):
        by_layer.setdefault(data["layer"], []).append(node)
    for bot in p.automation:
        for layer in bot.layers:
            for node in sorted(by_layer.get(layer, [])):
                if node != f"automation/{bot.name}":
                    b.edge(f"automation/{bot.name}", node, bot.path + ("layers",))

    return ResourceGraph(b.graph, _quotient(b.graph))


def _quotient(graph: nx.DiGraph) -> nx.DiGraph:
    stacks = nx.DiGraph()
    for _, data in sorted(graph.nodes(data=True), key=lambda item: item[0]):
        stacks.add_node(data["stack"], layer=stack_layer(data["stack"]))
    stack_of = dict(graph.nodes(data="stack"))
    # dict keys: each stack edge once, in the order first met (as add_edge would).
    edges = {(stack_of[u], stack_of[v]): None for u, v in graph.edges}
    stacks.add_edges_from(edge for edge in edges if edge[0] != edge[1])
    return stacks


def check_graph(resources: ResourceGraph, document) -> list[Diagnostic]:
    """Cycles between stacks and edges pointing down the layers are errors,
    reported at the reference that closes them."""
    found = []
    graph = resources.graph

    def report(code, message, path):
        found.append(
            Diagnostic(
                ERROR, code, message, document.span(path), format_path(path), None, document.file
            )
        )

    rank = {node: LAYER_ORDER[layer] for node, layer in graph.nodes(data="layer")}
    downward = sorted((u, v) for u, v in graph.edges if rank[u] > rank[v])
    for u, v in downward:
        lu, lv = graph.nodes[u]["layer"], graph.nodes[v]["layer"]
        report(
            "CW402",
            f"'{v}' in layer {lv} depends on '{u}' in the higher layer {lu}",
            graph.edges[u, v].get("path") or graph.nodes[v]["path"],
        )
    if not nx.is_directed_acyclic_graph(resources.stacks):
        cycle = nx.find_cycle(resources.stacks)
        shown = " -> ".join([edge[0] for edge in cycle] + [cycle[-1][1]])
        u, v = cycle[-1]
        closing = next(
            (
                data.get("path")
                for a, b_, data in graph.edges(data=True)
                if graph.nodes[a]["stack"] == u
                and graph.nodes[b_]["stack"] == v
                and data.get("path")
            ),
            graph.nodes[resources.nodes_of(v)[0]]["path"],
        )
        report("CW401", f"stacks depend on each other in a cycle: {shown}", closing)
    return found


def _mermaid_id(text: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in text)


def to_mermaid(resources: ResourceGraph, *, stacks_only: bool = False) -> str:
    lines = ["flowchart LR"]
    if stacks_only:
        for stack in resources.stack_order():
            lines.append(f'  {_mermaid_id(stack)}["{stack}"]')
        for u, v in sorted(resources.stacks.edges):
            lines.append(f"  {_mermaid_id(u)} --> {_mermaid_id(v)}")
        return "\n".join(lines) + "\n"
    for stack in resources.stack_order():
        lines.append(f'  subgraph {_mermaid_id("stack " + stack)}["{stack}"]')
        for node in resources.nodes_of(stack):
            lines.append(f'    {_mermaid_id(node)}["{node}"]')
        lines.append("  end")
    for u, v in sorted(resources.graph.edges):
        lines.append(f"  {_mermaid_id(u)} --> {_mermaid_id(v)}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(resources: ResourceGraph, *, stacks_only: bool = False) -> str:
    lines = ["digraph crosswalk {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];"]
    if stacks_only:
        for stack in resources.stack_order():
            lines.append(f"  {_dot_quote(stack)};")
        for u, v in sorted(resources.stacks.edges):
            lines.append(f"  {_dot_quote(u)} -> {_dot_quote(v)};")
    else:
        for index, stack in enumerate(resources.stack_order()):
            lines.append(f"  subgraph cluster_{index} {{")
            lines.append(f"    label={_dot_quote(stack)};")
            for node in resources.nodes_of(stack):
                lines.append(f"    {_dot_quote(node)};")
            lines.append("  }")
        for u, v in sorted(resources.graph.edges):
            lines.append(f"  {_dot_quote(u)} -> {_dot_quote(v)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(resources: ResourceGraph, *, stacks_only: bool = False) -> dict:
    stacks = [
        {
            "stack": stack,
            "layer": stack_layer(stack),
            "dependsOn": resources.upstream(stack),
            "resources": resources.nodes_of(stack),
        }
        for stack in resources.stack_order()
    ]
    if stacks_only:
        return {"stacks": stacks, "groups": resources.stack_groups()}
    graph = resources.graph
    return {
        "stacks": stacks,
        "groups": resources.stack_groups(),
        "resources": [
            {
                "id": node,
                "kind": graph.nodes[node]["kind"],
                "layer": graph.nodes[node]["layer"],
                "stack": graph.nodes[node]["stack"],
                "path": format_path(graph.nodes[node]["path"]),
                "needs": sorted(graph.predecessors(node)),
            }
            for node in sorted(graph.nodes)
        ],
    }
