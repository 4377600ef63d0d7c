"""An app's route through the platform's ingress (layer 6, every cloud)."""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import App
from crosswalk.providers.common import moved_from
from crosswalk.providers.kubernetes.common import (
    GATEWAY_STACK,
    SERVICE_PORT,
    app_host,
    cluster_namespace,
    namespace_of,
)


def emit_route(ctx: StackContext, provider: Code, app: App, labels: dict) -> None:
    """An HTTPRoute on the platform's Gateway, or an Ingress for nginx."""
    program = ctx.program
    platform = ctx.platform
    ingress = app.ingress
    name, namespace = app.name, app.namespace
    in_cluster, namespace_in_cluster = app.cloud_name, cluster_namespace(platform, namespace)
    line = ctx.line(app.path + ("ingress",))
    opts = {"provider": provider} | moved_from(
        lambda ns, a: f"{ns}/{a}", namespace_of(platform, namespace), app
    )
    host = app_host(ctx, app) if ingress.host else None
    path = ctx.setting("ingress.path", lambda q, env: q.app(app.name).ingress.path)
    if platform.app_services.ingress == "nginx":
        rule = {
            "http": {
                "paths": [
                    {
                        "path": path,
                        "path_type": "Prefix",
                        "backend": {"service": {"name": in_cluster, "port": {"name": "http"}}},
                    },
                ],
            },
        }
        spec = {"ingress_class_name": "nginx", "rules": [rule]}
        metadata = {"name": in_cluster, "namespace": namespace_in_cluster, "labels": labels}
        if host:
            rule = {"host": host} | rule
            spec["rules"] = [rule]
            spec["tls"] = [{"hosts": [host], "secret_name": f"{in_cluster}.tls"}]
            if platform.app_services.issuer:
                metadata["annotations"] = {
                    "cert-manager.io/cluster-issuer": platform.app_services.issuer,
                    # Plain HTTP is redirected once the certificate exists.
                    "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
                }
        program.resource(
            (name, "ingress"),
            "kubernetes.networking.v1.Ingress",
            f"{namespace}/{name}",
            {"metadata": metadata, "spec": spec},
            line,
            opts,
        )
        return
    parent = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": ctx.upstream(GATEWAY_STACK, "gateway_name"),
        "namespace": ctx.upstream(GATEWAY_STACK, "gateway_namespace"),
    }
    if host:
        # A host has a certificate (validate requires dns and certificates):
        # served over HTTPS, while the Gateway redirects its plain HTTP.
        parent["sectionName"] = "https"
    spec = {"parentRefs": [parent]}
    if host:
        spec["hostnames"] = [host]
    spec["rules"] = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": path}}],
            "backendRefs": [{"name": in_cluster, "port": SERVICE_PORT}],
        },
    ]
    program.resource(
        (name, "route"),
        "kubernetes.apiextensions.CustomResource",
        f"{namespace}/{name}",
        {
            "api_version": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": in_cluster, "namespace": namespace_in_cluster, "labels": labels},
            "spec": spec,
        },
        line,
        opts,
    )
