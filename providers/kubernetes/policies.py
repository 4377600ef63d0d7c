"""An app's NetworkPolicies (layer 6, every cloud)."""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import App
from crosswalk.providers.common import moved_from
from crosswalk.providers.kubernetes.common import (
    ACME_SOLVER_PORT,
    INGRESS_NAMESPACES,
    MANAGED_BY,
    NAME_LABEL,
    NAMESPACE_LABEL,
    AppCloudParts,
    app_of,
    cluster_namespace,
    enforces_network_policies,
    mesh_of,
    namespace_of,
    services_namespace,
)


def emit_app_policies(
    ctx: StackContext, provider: Code, app: App, cloud: AppCloudParts, selector: dict, labels: dict
) -> None:
    """Open what the app's traffic needs in default-deny namespaces: from the
    ingress controller, to the apps it depends on (both ends), and the cloud's
    egress (datastores, cloud APIs)."""
    program = ctx.program
    platform = ctx.platform
    name, namespace = app.name, app.namespace
    # Pulumi names follow platform.yaml, the objects keep their names in the cluster.
    in_cluster, namespace_in_cluster = app.cloud_name, cluster_namespace(platform, namespace)
    opts = {"provider": provider}
    enforced = enforces_network_policies(platform)
    own = enforced and namespace_of(platform, namespace).network_policy == "default-deny"
    mesh = mesh_of(platform)
    # Meshed traffic also reaches the proxy's own ports.
    proxy_ports = list(mesh.proxy_ports) if mesh else []

    def moved(suffix: str) -> dict:
        """The aliases of a policy named `<namespace>/<app><suffix>`."""
        return moved_from(lambda ns, a: f"{ns}/{a}{suffix}", namespace_of(platform, namespace), app)

    def allow_from_namespace(suffix: str, source: str, line, extra=()) -> None:
        """Let pods of namespace `source` reach the app's port (and `extra` ports)."""
        program.resource(
            (name, "from", suffix),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{namespace}/{name}.from-{suffix}",
            {
                "metadata": {
                    "name": f"{in_cluster}.from-{suffix}",
                    "namespace": namespace_in_cluster,
                    "labels": labels,
                },
                "spec": {
                    "pod_selector": {"match_labels": selector},
                    "policy_types": ["Ingress"],
                    "ingress": [
                        {
                            "from_": [
                                {"namespace_selector": {"match_labels": {NAMESPACE_LABEL: source}}},
                            ],
                            "ports": [
                                {"protocol": "TCP", "port": port}
                                for port in [app.port, *proxy_ports, *extra]
                            ],
                        },
                    ],
                },
            },
            line,
            opts | moved(f".from-{suffix}"),
        )

    if own and platform.services.monitoring and app.serves:
        # Prometheus (kube-prometheus-stack) scrapes the app's port and its proxy's metrics.
        allow_from_namespace(
            "monitoring",
            services_namespace("kube-prometheus-stack"),
            ctx.line(("clusterServices", "monitoring")),
            mesh.metrics_ports if mesh else (),
        )

    if own and app.ingress is not None and platform.app_services.ingress in INGRESS_NAMESPACES:
        controller = INGRESS_NAMESPACES[platform.app_services.ingress]
        allow_from_namespace("ingress", controller, ctx.line(app.path + ("ingress",)))
        # cert-manager's HTTP-01 solver for an Ingress runs beside it in this namespace.
        if (
            platform.app_services.ingress == "nginx"
            and app.ingress.host
            and platform.app_services.issuer
        ):
            program.resource(
                (name, "acme_solver"),
                "kubernetes.networking.v1.NetworkPolicy",
                f"{namespace}/{name}.acme-solver",
                {
                    "metadata": {
                        "name": f"{in_cluster}.acme-solver",
                        "namespace": namespace_in_cluster,
                        "labels": labels,
                    },
                    "spec": {
                        "pod_selector": {
                            "match_labels": {"acme.cert-manager.io/http01-solver": "true"},
                        },
                        "policy_types": ["Ingress"],
                        "ingress": [
                            {
                                "from_": [
                                    {
                                        "namespace_selector": {
                                            "match_labels": {NAMESPACE_LABEL: controller},
                                        },
                                    },
                                ],
                                "ports": [{"protocol": "TCP", "port": ACME_SOLVER_PORT}],
                            },
                        ],
                    },
                },
                ctx.line(app.path + ("ingress",)),
                opts | moved(".acme-solver"),
            )

    for index, other in enumerate(app.depends_on):
        target = app_of(platform, other)
        if target.namespace == namespace or not target.serves:
            continue  # allow-same-namespace covers it; a job or cronjob takes no traffic
        peer_line = ctx.line(app.path + ("dependsOn", index))
        target_namespace = namespace_of(platform, target.namespace)
        if own:
            program.resource(
                (name, "to", other),
                "kubernetes.networking.v1.NetworkPolicy",
                f"{namespace}/{name}.to.{other}",
                {
                    "metadata": {
                        "name": f"{in_cluster}.to.{target.cloud_name}",
                        "namespace": namespace_in_cluster,
                        "labels": labels,
                    },
                    "spec": {
                        "pod_selector": {"match_labels": selector},
                        "policy_types": ["Egress"],
                        "egress": [
                            {
                                "to": [
                                    {
                                        "namespace_selector": {
                                            "match_labels": {
                                                NAMESPACE_LABEL: target_namespace.cloud_name
                                            },
                                        },
                                        "pod_selector": {
                                            "match_labels": {NAME_LABEL: target.cloud_name}
                                        },
                                    },
                                ],
                                "ports": [
                                    {"protocol": "TCP", "port": port}
                                    for port in [target.port, *proxy_ports]
                                ],
                            },
                        ],
                    },
                },
                peer_line,
                opts
                | moved_from(
                    lambda ns, a, o: f"{ns}/{a}.to.{o}",
                    namespace_of(platform, namespace),
                    app,
                    target,
                ),
            )
        if enforced and target_namespace.network_policy == "default-deny":
            target_labels = {NAME_LABEL: target.cloud_name}
            program.resource(
                (other, "from", name),
                "kubernetes.networking.v1.NetworkPolicy",
                f"{target.namespace}/{other}.from.{name}",
                {
                    "metadata": {
                        "name": f"{target.cloud_name}.from.{in_cluster}",
                        "namespace": target_namespace.cloud_name,
                        "labels": target_labels
                        | {"app.kubernetes.io/part-of": platform.name}
                        | MANAGED_BY,
                    },
                    "spec": {
                        "pod_selector": {"match_labels": target_labels},
                        "policy_types": ["Ingress"],
                        "ingress": [
                            {
                                "from_": [
                                    {
                                        "namespace_selector": {
                                            "match_labels": {NAMESPACE_LABEL: namespace_in_cluster},
                                        },
                                        "pod_selector": {"match_labels": selector},
                                    },
                                ],
                                "ports": [
                                    {"protocol": "TCP", "port": port}
                                    for port in [target.port, *proxy_ports]
                                ],
                            },
                        ],
                    },
                },
                peer_line,
                opts
                | moved_from(lambda ns, o, a: f"{ns}/{o}.from.{a}", target_namespace, target, app),
            )

    if own and cloud.egress:
        program.resource(
            (name, "egress"),
            "kubernetes.networking.v1.NetworkPolicy",
            f"{namespace}/{name}.egress",
            {
                "metadata": {
                    "name": f"{in_cluster}.egress",
                    "namespace": namespace_in_cluster,
                    "labels": labels,
                },
                "spec": {
                    "pod_selector": {"match_labels": selector},
                    "policy_types": ["Egress"],
                    "egress": list(cloud.egress),
                },
            },
            ctx.line(app.path + ("uses",)),
            opts | moved(".egress"),
        )
