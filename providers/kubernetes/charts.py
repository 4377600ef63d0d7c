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
    released: str  # the pinned release's date (its repository's tag or index)
    # The Kubernetes minor versions the release supports, inclusive (None: no
    # bound published), and where that is said.
    kubernetes: tuple[str | None, str | None]
    support_source: str


# Every chart pinned to its release current in August 2026, read from each
# project's repository (chart version, release date, Chart.yaml kubeVersion or
# the project's compatibility matrix). The values crosswalk sets were checked
# against each pinned release's values.yaml; the README's chart table lists them.
CHARTS = {
    "fluent-bit": Chart(
        "fluent-bit", "0.58.1", "https://fluent.github.io/helm-charts", "logging",
        "2026-08-17", (None, None), "Chart.yaml has no kubeVersion",
    ),
    "aws-for-fluent-bit": Chart(
        "aws-for-fluent-bit", "0.2.0", "https://aws.github.io/eks-charts", "logging",
        "2026-02-03", (None, None), "Chart.yaml has no kubeVersion",
    ),
    "kube-prometheus-stack": Chart(
        "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts",
        "monitoring", "2026-08-21", ("1.25", None), "Chart.yaml kubeVersion >=1.25.0-0",
    ),
    "kyverno": Chart(
        "kyverno", "3.9.0", "https://kyverno.github.io/kyverno/", "kyverno",
        "2026-08-20", ("1.33", "1.35"), "kyverno.io compatibility matrix (Kyverno 1.19)",
    ),
    "kyverno-policies": Chart(
        "kyverno-policies", "3.9.0", "https://kyverno.github.io/kyverno/", "kyverno",
        "2026-08-20", ("1.33", "1.35"), "as kyverno (same release)",
    ),
    "gatekeeper": Chart(
        "gatekeeper", "3.23.0", "https://open-policy-agent.github.io/gatekeeper/charts",
        "gatekeeper-system", "2026-07-08", ("1.33", None),
        "tested in the project's CI on 1.33; no upper bound published",
    ),
    "metrics-server": Chart(
        "metrics-server", "3.13.1", "https://kubernetes-sigs.github.io/metrics-server/",
        "kube-system", "2026-06-08", (None, None), "Chart.yaml has no kubeVersion",
    ),
    # The autoscaler's minor must equal the cluster's: image.tag follows
    # cluster.version (AUTOSCALER_IMAGES).
    "cluster-autoscaler": Chart(
        "cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler", "kube-system",
        "2026-07-21", (None, None), "Chart.yaml has no kubeVersion; the image follows the cluster",
    ),
    "istio-base": Chart(
        "base", "1.30.3", "https://istio-release.storage.googleapis.com/charts", "istio-system",
        "2026-07-13", ("1.32", "1.36"), "istio.io support table",
    ),
    "istiod": Chart(
        "istiod", "1.30.3", "https://istio-release.storage.googleapis.com/charts", "istio-system",
        "2026-07-13", ("1.32", "1.36"), "istio.io support table",
    ),
    # The open-source Linkerd project ships edge releases only: helm.linkerd.io/stable
    # gets no open-source stable release since 2.15, so the pins are edge-26.8.3.
    "linkerd-crds": Chart(
        "linkerd-crds", "2026.8.3", "https://helm.linkerd.io/edge", "linkerd",
        "2026-08-21", ("1.31", None), "Chart.yaml kubeVersion >=1.31.0-0",
    ),
    "linkerd-control-plane": Chart(
        "linkerd-control-plane", "2026.8.3", "https://helm.linkerd.io/edge", "linkerd",
        "2026-08-21", ("1.31", None), "Chart.yaml kubeVersion >=1.31.0-0",
    ),
    "envoy-gateway": Chart(
        "oci://docker.io/envoyproxy/gateway-helm", "v1.9.0", None, "envoy-gateway-system",
        "2026-08-15", ("1.33", "1.36"), "Envoy Gateway compatibility matrix (Gateway API v1.6.1)",
    ),
    "traefik": Chart(
        "traefik", "41.3.0", "https://traefik.github.io/charts", "traefik",
        "2026-08-21", ("1.25", None), "Chart.yaml kubeVersion >=1.25.0-0",
    ),
    # ingress-nginx is retired: 4.15.1 is its last release (validate warns, CW607).
    "nginx": Chart(
        "ingress-nginx", "4.15.1", "https://kubernetes.github.io/ingress-nginx", "ingress-nginx",
        "2026-03-20", ("1.21", None), "Chart.yaml kubeVersion >=1.21.0-0",
    ),
    "external-dns": Chart(
        "external-dns", "1.21.1", "https://kubernetes-sigs.github.io/external-dns/",
        "external-dns", "2026-04-30", (None, None), "Chart.yaml has no kubeVersion",
    ),
    "cert-manager": Chart(
        "cert-manager", "v1.21.1", "https://charts.jetstack.io", "cert-manager",
        "2026-07-29", (None, None),
        "cert-manager.io supported releases: 1.21 supports current Kubernetes (no range recorded)",
    ),
}  # fmt: skip

# cluster-autoscaler images by the cluster's minor version (tags of
# github.com/kubernetes/autoscaler, August 2026); other minors get <minor>.0.
AUTOSCALER_IMAGES = {"1.35": "v1.35.2", "1.36": "v1.36.1"}


def autoscaler_image_tag(minor: str) -> str:
    return AUTOSCALER_IMAGES.get(minor, f"v{minor}.0")


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
        # The autoscaler's minor version must be the cluster's.
        image = {
            "tag": ctx.setting(
                "autoscaler.imageTag", lambda q, env: autoscaler_image_tag(q.cluster.version)
            )
        }
        release(
            ctx,
            provider,
            "cluster-autoscaler",
            cloud_values.get("autoscaler", {}) | {"image": image},
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
        values: dict = {}
        if a.ingress == "nginx":
            values = {"controller": {"service": {"type": "LoadBalancer"}}}
        elif a.ingress == "traefik":
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
