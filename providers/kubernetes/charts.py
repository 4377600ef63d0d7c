"""In-cluster services every cloud shares, as pinned Helm releases: logging,
monitoring, policy, mesh, autoscaler, metrics-server (layer 4) and ingress,
external-dns, cert-manager (layer 5). A backend passes the cloud-specific
chart values (workload identity annotations, the cloud's DNS provider).
"""

from __future__ import annotations

from dataclasses import dataclass

from crosswalk.compiler.codegen import Call, Code, identifier, joined, py_string
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.common import protect
from crosswalk.providers.kubernetes import admission
from crosswalk.providers.kubernetes.common import (
    INGRESS_NAMESPACES,
    MANAGED_BY,
    MESHES,
    certificates_email,
    dns_owner,
    dns_zone,
)


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
        "gatekeeper-system", "2026-07-08", (None, None),
        "no range published; the project's CI tests on 1.33",
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
    # The istio CNI node agent of the same release (kube-system: GKE admits
    # node-critical pods only there), so sidecars need no privileged init.
    "istio-cni": Chart(
        "cni", "1.30.3", "https://istio-release.storage.googleapis.com/charts", "kube-system",
        "2026-07-13", ("1.32", "1.36"), "istio.io support table",
    ),
    "linkerd-crds": Chart(
        "linkerd-crds", "2026.8.3", "https://helm.linkerd.io/edge", "linkerd",
        "2026-08-21", ("1.31", None), "Chart.yaml kubeVersion >=1.31.0-0",
    ),
    "linkerd-control-plane": Chart(
        "linkerd-control-plane", "2026.8.3", "https://helm.linkerd.io/edge", "linkerd",
        "2026-08-21", ("1.31", None), "Chart.yaml kubeVersion >=1.31.0-0",
    ),
    # The linkerd CNI plugin of the same edge release: proxies need no privileged init.
    "linkerd-cni": Chart(
        "linkerd2-cni", "2026.8.3", "https://helm.linkerd.io/edge", "linkerd-cni",
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
    # Installed when an app names secrets (apps[].secrets).
    "external-secrets": Chart(
        "external-secrets", "2.9.0", "https://charts.external-secrets.io", "external-secrets",
        "2026-08-08", ("1.19", None), "Chart.yaml kubeVersion >= 1.19.0-0",
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


# The platform's own namespaces, made by crosswalk (not by Helm) so each
# carries Pod Security labels at the strictest level its charts' pods run
# under; the README's table gives the reasons. kube-system is the cloud's.
PLATFORM_NAMESPACES = {
    "logging": ("privileged", "fluent-bit reads the nodes' logs through hostPath volumes"),
    "monitoring": ("privileged", "node-exporter uses the host's network, PIDs and hostPath"),
    "kyverno": ("restricted", "the chart's pods drop all capabilities, run as non-root with RuntimeDefault seccomp"),
    "gatekeeper-system": ("restricted", "the chart runs non-root with RuntimeDefault seccomp (enableRuntimeDefaultSeccompProfile)"),
    "istio-system": ("baseline", "istiod's chart sets no seccomp profile"),
    "linkerd": ("restricted", "with the CNI plugin no init container needs privileges; the chart sets RuntimeDefault seccomp"),
    "linkerd-cni": ("privileged", "the CNI plugin writes the nodes' CNI configuration through hostPath"),
    "envoy-gateway-system": ("restricted", "the controller and its Envoy proxies run non-root with RuntimeDefault seccomp"),
    "traefik": ("restricted", "the chart drops all capabilities, runs as 65532 with RuntimeDefault seccomp"),
    "ingress-nginx": ("baseline", "the controller adds NET_BIND_SERVICE and its admission jobs are not all restricted"),
    "external-dns": ("restricted", "the chart runs non-root with RuntimeDefault seccomp"),
    "cert-manager": ("restricted", "the chart runs non-root with RuntimeDefault seccomp and drops all capabilities"),
    "external-secrets": ("restricted", "the chart runs non-root, read-only, with RuntimeDefault seccomp and no capabilities"),
    "gateway": ("restricted", "holds the Gateway object only; its proxies run in the controller's namespace"),
    "database-users": ("restricted", "the Jobs that make each app's database user run non-root and read-only with RuntimeDefault seccomp"),
}  # fmt: skip


def pod_security_labels(level: str) -> dict:
    return {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", level), ("-version", "latest"))
    }


def platform_namespace(ctx: StackContext, provider: Code, name: str, line) -> Code | None:
    """The Namespace of a platform chart (once per program), or None for the cloud's own."""
    if name not in PLATFORM_NAMESPACES:
        return None
    var = identifier("chart_namespace", name)
    if var in ctx.program.names:
        return Code(var)
    from crosswalk.providers.kubernetes.common import MANAGED_BY

    level = PLATFORM_NAMESPACES[name][0]
    metadata: dict = {"name": name, "labels": pod_security_labels(level) | MANAGED_BY}
    ingress = ctx.platform.app_services.ingress
    mesh = MESHES.get(ctx.platform.services.mesh)
    if mesh is not None and ingress is not None and name == INGRESS_NAMESPACES.get(ingress):
        # The ingress proxies join the mesh: they reach apps over mutual TLS.
        metadata["labels"] |= mesh.labels
        if mesh.annotations:
            metadata["annotations"] = dict(mesh.annotations)
    return ctx.program.resource(
        ("chart_namespace", name),
        "kubernetes.core.v1.Namespace",
        name,
        {"metadata": metadata},
        line,
        {"provider": provider} | protect(ctx),
    )


def release(
    ctx: StackContext, provider: Code, key: str, values: dict, line, depends_on=None
) -> Code:
    chart = CHARTS[key]
    namespace = platform_namespace(ctx, provider, chart.namespace, line)
    args = {
        "name": key,
        "chart": chart.chart,
        "version": chart.version,
        "namespace": chart.namespace,
        "create_namespace": False,
        "atomic": True,
        "cleanup_on_fail": True,
        "timeout": 900,
        "values": values,
    }
    if chart.repo is not None:
        args["repository_opts"] = {"repo": chart.repo}
    opts = {"provider": provider}
    needs = ([namespace] if namespace is not None else []) + list(depends_on or [])
    if needs:
        opts["depends_on"] = needs
    return ctx.program.resource(
        ("release", key), "kubernetes.helm.v3.Release", key, args, line, opts
    )


def custom_resource(
    ctx,
    provider,
    var,
    api_version,
    kind,
    name,
    namespace,
    spec,
    line,
    depends_on,
    annotations=None,
    pulumi_name=None,
):
    """A custom resource (its kind's CRD comes with a chart). `pulumi_name`
    defaults to `<kind>-<name>`; objects of one name in several namespaces
    give their own."""
    metadata = {"name": name, "labels": MANAGED_BY}
    if namespace:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    return ctx.program.resource(
        var,
        "kubernetes.apiextensions.CustomResource",
        pulumi_name or f"{kind.lower()}-{name}",
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
            admission.kyverno_chart_values(ctx.platform),
            at("policy"),
            depends_on=[engine],
        )
        admission.emit_kyverno_policies(ctx, provider, at("policy"), engine)
    elif s.policy == "gatekeeper":
        engine = release(ctx, provider, "gatekeeper", {"replicas": 3}, at("policy"))
        admission.emit_gatekeeper_policies(ctx, provider, at("policy"), engine)
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
    if any(app.secrets for app in ctx.platform.apps):
        release(ctx, provider, "external-secrets", EXTERNAL_SECRETS_VALUES, ctx.line(("apps",)))
    if s.mesh == "istio":
        _emit_istio(ctx, provider, cloud, at("mesh"))
    elif s.mesh == "linkerd":
        _emit_linkerd(ctx, provider, cloud_values.get("cert-manager", {}), at("mesh"))


# The operator reads secrets only through each namespace's own SecretStore, as
# that namespace's app: the cluster-wide kinds (a ClusterSecretStore any
# namespace could use, secrets pushed back to the cloud) are not processed.
_OPERATOR_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
EXTERNAL_SECRETS_VALUES = {
    "processClusterStore": False,
    "processClusterExternalSecret": False,
    "processClusterPushSecret": False,
    "processClusterGenerator": False,
    "processPushSecret": False,
    "resources": _OPERATOR_RESOURCES,
    "webhook": {"resources": _OPERATOR_RESOURCES},
    "certController": {"resources": _OPERATOR_RESOURCES},
}


# Proxies' resources: admission policies refuse containers without them, and
# the namespaces' LimitRange defaults are applied before injection.
PROXY_RESOURCES = {"cpu": ("100m", "1"), "memory": ("64Mi", "256Mi")}


def _emit_istio(ctx: StackContext, provider: Code, cloud: str, line) -> None:
    """istiod with the istio CNI, and strict mutual TLS mesh-wide (the app
    namespaces carry the injection label, see namespaces.py)."""
    base = release(ctx, provider, "istio-base", {}, line)
    cni_values: dict = {"global": {"platform": "gke"}} if cloud == "gcp" else {}
    cni = release(ctx, provider, "istio-cni", cni_values, line, depends_on=[base])
    istiod = release(
        ctx,
        provider,
        "istiod",
        {"meshConfig": {"enableAutoMtls": True}, "pilot": {"cni": {"enabled": True}}},
        line,
        depends_on=[base, cni],
    )
    # Strict mutual TLS in every app namespace (not mesh-wide: the ingress
    # proxies are meshed too, and take plain traffic from the load balancer).
    for name in admission.namespaces_of(ctx.platform):
        custom_resource(
            ctx,
            provider,
            ("mtls", name),
            "security.istio.io/v1",
            "PeerAuthentication",
            "default",
            name,
            {"mtls": {"mode": "STRICT"}},
            line,
            [istiod],
            pulumi_name=f"{name}/peerauthentication-default",
        )


# cert-manager issues Linkerd's identity: a self-signed trust anchor (ten
# years) and from it the identity issuer (48 hours, renewed after 23).
LINKERD_TRUST_ANCHOR = "linkerd-trust-anchor"
LINKERD_ISSUER = "linkerd-identity-issuer"
CERTIFICATE_READY = {"pulumi.com/waitFor": "condition=Ready"}
CERTIFICATE_OF = '''
def certificate_of(secret):
    """The certificate cert-manager wrote into a TLS Secret: public, so not secret."""
    return pulumi.Output.unsecret(secret.data).apply(
        lambda data: base64.b64decode(data["tls.crt"]).decode()
    )
'''


def _emit_linkerd(ctx: StackContext, provider: Code, cloud_values: dict, line) -> None:
    """Linkerd with its CNI plugin, its trust anchor and identity issuer from
    cert-manager (released here), proxies required to use mutual TLS."""
    prog = ctx.program
    manager = release(ctx, provider, "cert-manager", CERT_MANAGER_VALUES | cloud_values, line)
    manager_namespace = CHARTS["cert-manager"].namespace
    crds = release(ctx, provider, "linkerd-crds", {}, line)
    root = custom_resource(
        ctx,
        provider,
        "linkerd_root_issuer",
        "cert-manager.io/v1",
        "Issuer",
        "linkerd-trust-root",
        manager_namespace,
        {"selfSigned": {}},
        line,
        [manager],
    )
    anchor = custom_resource(
        ctx,
        provider,
        "linkerd_trust_anchor",
        "cert-manager.io/v1",
        "Certificate",
        LINKERD_TRUST_ANCHOR,
        manager_namespace,
        {
            "isCA": True,
            "commonName": "root.linkerd.cluster.local",
            "secretName": LINKERD_TRUST_ANCHOR,
            "duration": "87600h",
            "renewBefore": "8760h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "issuerRef": {"name": "linkerd-trust-root", "kind": "Issuer"},
        },
        line,
        [root],
        CERTIFICATE_READY,
    )
    anchor_issuer = custom_resource(
        ctx,
        provider,
        "linkerd_anchor_issuer",
        "cert-manager.io/v1",
        "ClusterIssuer",
        LINKERD_TRUST_ANCHOR,
        None,
        {"ca": {"secretName": LINKERD_TRUST_ANCHOR}},
        line,
        [anchor],
    )
    issuer = custom_resource(
        ctx,
        provider,
        "linkerd_identity_issuer",
        "cert-manager.io/v1",
        "Certificate",
        LINKERD_ISSUER,
        MESHES["linkerd"].namespace,
        {
            "isCA": True,
            "commonName": "identity.linkerd.cluster.local",
            "secretName": LINKERD_ISSUER,
            "duration": "48h",
            "renewBefore": "25h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": ["cert sign", "crl sign", "server auth", "client auth"],
            "issuerRef": {"name": LINKERD_TRUST_ANCHOR, "kind": "ClusterIssuer"},
        },
        line,
        [anchor_issuer, crds],
        CERTIFICATE_READY,
    )
    # The control plane is given the trust anchor's certificate (public) to
    # distribute; cert-manager wrote it once the Certificate was Ready.
    prog.imports.add("import base64")
    secret = prog.assign(
        prog.name("trust_anchor"),
        Call(
            "kubernetes.core.v1.Secret.get",
            [LINKERD_TRUST_ANCHOR],
            {
                "id": Code(
                    f"{anchor}.id.apply(lambda _: "
                    f"{py_string(manager_namespace + '/' + LINKERD_TRUST_ANCHOR)})"
                ),
                "opts": Call("pulumi.ResourceOptions", kwargs={"provider": provider}),
            },
        ),
        line,
    )
    prog.helpers["certificate_of"] = CERTIFICATE_OF
    anchor_pem = Code(f"certificate_of({secret})")
    cni = release(ctx, provider, "linkerd-cni", {}, line)
    resources = {
        kind: {"request": request, "limit": limit}
        for kind, (request, limit) in PROXY_RESOURCES.items()
    }
    release(
        ctx,
        provider,
        "linkerd-control-plane",
        {
            "identityTrustAnchorsPEM": anchor_pem,
            "identity": {"issuer": {"scheme": "kubernetes.io/tls"}},
            "cniEnabled": True,
            "proxy": {"resources": resources},
        },
        line,
        depends_on=[crds, issuer, cni],
    )


CERT_MANAGER_VALUES = {"crds": {"enabled": True}, "config": {"enableGatewayAPI": True}}


def _snake(key: str) -> str:
    """A chart value's camelCase key as pulumi_kubernetes spells it: fsGroup -> fs_group."""
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in key)


def _bind_cert_manager(ctx: StackContext, provider: Code, values: dict, line) -> list[Code]:
    """The cloud identity for DNS-01 given to the cert-manager that
    cluster-services released: its chart values (service account annotations
    and labels, pod labels, pod security context) as patches, and the pods
    rolled so the identity webhooks see them."""
    prog = ctx.program
    namespace = CHARTS["cert-manager"].namespace
    account = values.get("serviceAccount", {})
    patches = []
    if account:
        metadata = {"name": "cert-manager", "namespace": namespace}
        metadata |= {key: account[key] for key in ("annotations", "labels") if key in account}
        patches.append(
            prog.resource(
                ("cert_manager", "service_account"),
                "kubernetes.core.v1.ServiceAccountPatch",
                f"{namespace}/cert-manager",
                {"metadata": metadata},
                line,
                {"provider": provider},
            )
        )
    template_metadata: dict = {}
    if account.get("annotations"):
        template_metadata["annotations"] = dict(account["annotations"])
    if values.get("podLabels"):
        template_metadata["labels"] = dict(values["podLabels"])
    template: dict = {"metadata": template_metadata} if template_metadata else {}
    if values.get("securityContext"):
        context = {_snake(key): value for key, value in values["securityContext"].items()}
        template["spec"] = {"security_context": context}
    if template:
        patches.append(
            prog.resource(
                ("cert_manager", "deployment"),
                "kubernetes.apps.v1.DeploymentPatch",
                f"{namespace}/cert-manager",
                {
                    "metadata": {"name": "cert-manager", "namespace": namespace},
                    "spec": {"template": template},
                },
                line,
                {"provider": provider, "depends_on": patches[:1]},
            )
        )
    return patches


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
    cert_manager = []
    if a.email is not None:
        if ctx.platform.services.mesh == "linkerd":
            # cluster-services runs cert-manager already (it issues Linkerd's identity).
            cert_manager = _bind_cert_manager(
                ctx, provider, cloud_values.get("certificates", {}), at("certificates")
            )
        else:
            cert_manager = [
                release(
                    ctx,
                    provider,
                    "cert-manager",
                    CERT_MANAGER_VALUES | cloud_values.get("certificates", {}),
                    at("certificates"),
                )
            ]
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
                    "email": certificates_email(ctx),
                    "privateKeySecretRef": {"name": f"{a.issuer}-account-key"},
                    "solvers": [solver],
                }
            },
            at("certificates"),
            cert_manager,
        )
    if a.dns_zone is not None:
        values = {
            "policy": "sync",
            "registry": "txt",
            "txtOwnerId": dns_owner(ctx),
            "domainFilters": [dns_zone(ctx)],
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
        namespace = platform_namespace(ctx, provider, GATEWAY_NAMESPACE, at("ingress"))
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
                    "hostname": joined("*.", dns_zone(ctx)),
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
        if a.dns_zone and a.email:
            # Once the wildcard certificate exists, plain HTTP to the zone's
            # hosts is redirected: apps with a host attach to HTTPS only.
            custom_resource(
                ctx,
                provider,
                "https_redirect",
                "gateway.networking.k8s.io/v1",
                "HTTPRoute",
                "https-redirect",
                GATEWAY_NAMESPACE,
                {
                    "parentRefs": [
                        {
                            "name": GATEWAY_NAME,
                            "namespace": GATEWAY_NAMESPACE,
                            "sectionName": "http",
                        }
                    ],
                    "hostnames": [joined("*.", dns_zone(ctx))],
                    "rules": [
                        {
                            "filters": [
                                {
                                    "type": "RequestRedirect",
                                    "requestRedirect": {"scheme": "https", "statusCode": 301},
                                }
                            ]
                        }
                    ],
                },
                at("certificates"),
                [gateway],
            )
        # Apps attach their routes to this Gateway by name.
        prog.export("gateway_name", Code(f"pulumi.Output.from_input({py_string(GATEWAY_NAME)})"))
        prog.export(
            "gateway_namespace", Code(f"pulumi.Output.from_input({py_string(GATEWAY_NAMESPACE)})")
        )
        prog.statements.append(f"gateways = [{gateway}]")
