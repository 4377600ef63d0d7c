"""Layer 4 on GCP: the shared charts, minus what GKE runs natively."""

from __future__ import annotations

from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import Platform
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.kubernetes import charts

# GKE runs these itself: Cloud Logging's agent, the cluster autoscaler behind
# node-pool autoscaling, and metrics-server.
GKE_NATIVE_SERVICES = frozenset({"logging", "autoscaler", "metricsServer"})


NATIVE_NAMES = {
    "autoscaler": "the cluster autoscaler (node pools' autoscaling)",
    "logging": "container logs to Cloud Logging (the cluster's logging_config)",
    "metricsServer": "metrics-server",
}


def emit_cluster_services(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("clusterServices",))
    )
    native = [NATIVE_NAMES[key] for key in sorted(GKE_NATIVE_SERVICES) if _enabled(p, key)]
    if native:
        prog.comment(f"GKE runs these itself, so no release here: {', '.join(native)}.")
    charts.emit_cluster_services(
        ctx, k8s_provider, cloud="gcp", cloud_values={}, native=GKE_NATIVE_SERVICES
    )


def _enabled(platform: Platform, key: str) -> bool:
    s = platform.services
    return {"logging": s.logging, "autoscaler": s.autoscaler, "metricsServer": s.metrics_server}[
        key
    ]
