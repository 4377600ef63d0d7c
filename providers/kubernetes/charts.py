"""In-cluster services every cloud shares, as pinned Helm releases: logging,
monitoring, policy, mesh, autoscaler, metrics-server (layer 4) and ingress,
external-dns, cert-manager (layer 5). A backend passes the cloud-specific
chart values (workload identity annotations, the cloud's DNS provider).
"""

from __future__ import annotations

from dataclasses import dataclass

from crosswalk.compiler.codegen import Code, py_string
from crosswalk.compiler.emit import StackContext


@dataclass(frozen=True)
class Chart:
    chart: str
    version: str
    repo: str | None  # None for OCI charts, whose `chart` is the full reference
    namespace: str


CHARTS = {
    "fluent-bit": Chart("fluent-bit", "0.47.10", "https://fluent.github.io/helm-charts", "logging"),
    "aws-for-fluent-bit": Chart(
        "aws-for-fluent-bit", "0.1.34", "https://aws.github.io/eks-charts", "logging"
    ),
    "kube-prometheus-stack": Chart(
        "kube-prometheus-stack",
        "65.1.1",
        "https://prometheus-community.github.io/helm-charts",
        "monitoring",
    ),
    "kyverno": Chart("kyverno", "3.2.6", "https://kyverno.github.io/kyverno/", "kyverno"),
    "kyverno-policies": Chart(
        "kyverno-policies", "3.2.5", "https://kyverno.github.io/kyverno/", "kyverno"
    ),
    "gatekeeper": Chart(
        "gatekeeper",
        "3.17.1",
        "https://open-policy-agent.github.io/gatekeeper/charts",
        "gatekeeper-system",
    ),
    "metrics-server": Chart(
        "metrics-server",
        "3.12.2",
        "https://kubernetes-sigs.github.io/metrics-server/",
        "kube-system",
    ),
    "cluster-autoscaler": Chart(
        "cluster-autoscaler", "9.43.2", "https://kubernetes.github.io/autoscaler", "kube-system"
    ),
    "istio-base": Chart(
        "base", "1.24.1", "https://istio-release.storage.googleapis.com/charts", "istio-system"
    ),
    "istiod": Chart(
        "istiod", "1.24.1", "https://istio-release.storage.googleapis.com/charts", "istio-system"
    ),
    "linkerd-crds": Chart("linkerd-crds", "1.8.0", "https://helm.linkerd.io/stable", "linkerd"),
    "linkerd-control-plane": Chart(
        "linkerd-control-plane", "1.16.11", "https://helm.linkerd.io/stable", "linkerd"
    ),
    "envoy-gateway": Chart(
        "oci://docker.io/envoyproxy/gateway-helm", "v1.2.4", None, "envoy-gateway-system"
    ),
    "traefik": Chart("traefik", "33.2.1", "https://traefik.github.io/charts", "traefik"),
    "nginx": Chart(
        "ingress-nginx", "4.11.3", "https://kubernetes.github.io/ingress-nginx", "ingress-nginx"
    ),
    "external-dns": Chart(
        "external-dns", "1.15.0", "https://kubernetes-sigs.github.io/external-dns/", "external-dns"
    ),
    "cert-manager": Chart("cert-manager", "v1.16.2", "https://charts.jetstack.io", "cert-manager"),
}

GATEWAY_NAMESPACE = "gateway"
GATEWAY_NAME = "public"
GATEWAY_CLASSES = {
    "envoy-gateway": ("envoy", "gateway.envoyproxy.io/gatewayclass-controller"),
    "traefik": ("traefik", "traefik.io/gateway-controller"),
}
ACME_SERVERS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


def release(
    ctx: StackContext, provider: Code, key: str, values: dict, line, depends_on=None
) -> Code:
    chart = CHARTS[key]
    args = {
        "name": key,
        "chart": chart.chart,
        "version": chart.version,
        "namespace": chart.namespace,
        "create_namespace": True,
        "atomic": True,
        "cleanup_on_fail": True,
        "timeout": 900,
        "values": values,
    }
    if chart.repo is not None:
        args["repository_opts"] = {"repo": chart.repo}
    opts = {"provider": provider}
    if depends_on:
        opts["depends_on"] = depends_on
    return ctx.program.resource(
        ("release", key), "kubernetes.helm.v3.Release", key, args, line, opts
    )


def custom_resource(
    ctx, provider, var, api_version, kind, name, namespace, spec, line, depends_on, annotations=None
):
    metadata = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    return ctx.program.resource(
        var,
        "kubernetes.apiextensions.CustomResource",
        f"{kind.lower()}-{name}",
        {"api_version": api_version, "kind": kind, "metadata": metadata, "spec": spec},
        line,
        {"provider": provider, "depends_on": depends_on},
    )


def emit_cluster_services(
    ctx: StackContext,
    provider: Code,
    *,
    cloud: str,
    cloud_values: dict,
    native: frozenset[str] = frozenset(),
) -> None:
    """`native`: services the cloud runs itself (GKE's Cloud Logging agent,
    autoscaler and metrics-server), keyed as in clusterServices; no release
    is emitted for them."""
    s = ctx.platform.services
    at = lambda key: ctx.line(("clusterServices", key))
    if s.logging and "logging" not in native:
        chart = "aws-for-fluent-bit" if cloud == "aws" else "fluent-bit"
        release(ctx, provider, chart, cloud_values.get("logging", {}), at("logging"))
    if s.monitoring:
        release(
            ctx,
            provider,
            "kube-prometheus-stack",
            {
                "grafana": {"adminPassword": None, "persistence": {"enabled": True}},
                "prometheus": {"prometheusSpec": {"retention": "15d"}},
            }
            | cloud_values.get("monitoring", {}),
            at("monitoring"),
        )
    if s.policy == "kyverno":
        engine = release(
            ctx, provider, "kyverno", {"admissionController": {"replicas": 3}}, at("policy")
        )
        release(
            ctx,
            provider,
            "kyverno-policies",
            {"podSecurityStandard": "baseline", "validationFailureAction": "Enforce"},
            at("policy"),
            depends_on=[engine],
        )
    elif s.policy == "gatekeeper":
        release(ctx, provider, "gatekeeper", {"replicas": 3}, at("policy"))
    if s.metrics_server and "metricsServer" not in native:
        release(ctx, provider, "metrics-server", {"replicas": 2}, at("metricsServer"))
    if s.autoscaler and "autoscaler" not in native:
        release(
            ctx,
            provider,
            "cluster-autoscaler",
            cloud_values.get("autoscaler", {}),
            at("autoscaler"),
        )
    if s.mesh == "istio":
        base = release(ctx, provider, "istio-base", {}, at("mesh"))
        release(
            ctx,
            provider,
            "istiod",
            {"meshConfig": {"enableAutoMtls": True}},
            at("mesh"),
            depends_on=[base],
        )
    elif s.mesh == "linkerd":
        crds = release(ctx, provider, "linkerd-crds", {}, at("mesh"))
        release(
            ctx,
            provider,
            "linkerd-control-plane",
            {"identity": {"externalCA": True, "issuer": {"scheme": "kubernetes.io/tls"}}},
            at("mesh"),
            depends_on=[crds],
        )


def emit_app_services(ctx: StackContext, provider: Code, *, cloud: str, cloud_values: dict) -> None:
    a = ctx.platform.app_services
    prog = ctx.program
    at = lambda key: ctx.line(("appServices", key))
    controller = None
    if a.ingress is not None:
        values = {"service": {"type": "LoadBalancer"}} if a.ingress != "envoy-gateway" else {}
        if a.ingress == "traefik":
            values = {
                "providers": {"kubernetesGateway": {"enabled": True}},
                "gateway": {"enabled": False},
            }
        controller = release(ctx, provider, a.ingress, values, at("ingress"))
    cert_manager = None
    if a.email is not None:
        cert_manager = release(
            ctx,
            provider,
            "cert-manager",
            {"crds": {"enabled": True}, "config": {"enableGatewayAPI": True}}
            | cloud_values.get("certificates", {}),
            at("certificates"),
        )
        # The Gateway's wildcard listener needs a DNS-01 solver (HTTP-01 cannot
        # issue wildcards); the cloud supplies it with the DNS zone's credentials.
        solver = cloud_values.get("certificates_solver") or (
            {"http01": {"ingress": {"ingressClassName": "nginx"}}}
            if a.ingress == "nginx"
            else {
                "http01": {
                    "gatewayHTTPRoute": {
                        "parentRefs": [
                            {
                                "name": GATEWAY_NAME,
                                "namespace": GATEWAY_NAMESPACE,
                                "kind": "Gateway",
                            }
                        ]
                    }
                }
            }
        )
        custom_resource(
            ctx,
            provider,
            "cluster_issuer",
            "cert-manager.io/v1",
            "ClusterIssuer",
            a.issuer,
            None,
            {
                "acme": {
                    "server": ACME_SERVERS[a.issuer],
                    "email": a.email,
                    "privateKeySecretRef": {"name": f"{a.issuer}-account-key"},
                    "solvers": [solver],
                }
            },
            at("certificates"),
            [cert_manager],
        )
    if a.dns_zone is not None:
        values = {
            "policy": "sync",
            "registry": "txt",
            "txtOwnerId": ctx.platform.name,
            "domainFilters": [a.dns_zone],
            "sources": ["service", "ingress", "gateway-httproute"],
        } | cloud_values.get("dns", {})
        release(ctx, provider, "external-dns", values, at("dns"))
    if a.ingress in GATEWAY_CLASSES:
        class_name, controller_name = GATEWAY_CLASSES[a.ingress]
        gateway_class = custom_resource(
            ctx,
            provider,
            "gateway_class",
            "gateway.networking.k8s.io/v1",
            "GatewayClass",
            class_name,
            None,
            {"controllerName": controller_name},
            at("ingress"),
            [controller],
        )
        namespace = prog.resource(
            "gateway_namespace",
            "kubernetes.core.v1.Namespace",
            GATEWAY_NAMESPACE,
            {
                "metadata": {
                    "name": GATEWAY_NAMESPACE,
                    "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
                }
            },
            at("ingress"),
            {"provider": provider},
        )
        listeners = [
            {
                "name": "http",
                "protocol": "HTTP",
                "port": 80,
                "allowedRoutes": {"namespaces": {"from": "All"}},
            }
        ]
        annotations = None
        if a.dns_zone and a.email:
            annotations = {"cert-manager.io/cluster-issuer": a.issuer}
            listeners.append(
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": 443,
                    "hostname": f"*.{a.dns_zone}",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "wildcard-tls"}]},
                    "allowedRoutes": {"namespaces": {"from": "All"}},
                }
            )
        gateway = custom_resource(
            ctx,
            provider,
            "gateway",
            "gateway.networking.k8s.io/v1",
            "Gateway",
            GATEWAY_NAME,
            GATEWAY_NAMESPACE,
            {"gatewayClassName": class_name, "listeners": listeners},
            at("ingress"),
            [gateway_class, namespace],
            annotations,
        )
        # Apps attach their routes to this Gateway by name.
        prog.export("gateway_name", Code(f"pulumi.Output.from_input({py_string(GATEWAY_NAME)})"))
        prog.export(
            "gateway_namespace", Code(f"pulumi.Output.from_input({py_string(GATEWAY_NAMESPACE)})")
        )
        prog.statements.append(f"gateways = [{gateway}]")
