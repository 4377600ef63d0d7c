"""What the offline plan makes up for Kubernetes objects, Helm releases and charts,
and the Kubernetes provider's invokes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crosswalk.compiler.mock_outputs import (
    Fabrication,
    InvokeContext,
    fake_cert,
    fake_ip,
    fake_uuid,
    fixed_outputs,
)
from crosswalk.compiler.mock_values import Secret, reveal

PACKAGES = ("kubernetes",)  # type-token packages whose outputs are made up here


def kubernetes_object(f: Fabrication) -> dict[str, Any]:
    metadata = reveal(f.inputs.get("metadata")) or {}
    out: dict[str, Any] = {
        "metadata": {
            "name": metadata.get("name") or f.name,
            "uid": fake_uuid(f.urn),
            "resourceVersion": "1",
            "generation": 1,
            "creationTimestamp": "2024-01-01T00:00:00Z",
        }
    }
    spec = reveal(f.inputs.get("spec")) or {}
    if f.kind == "Service":
        out["spec"] = {"clusterIP": fake_ip("10.100", f.urn)}
        if spec.get("type") == "LoadBalancer":
            host = f"{f.hex(32)}.elb.{f.region}.amazonaws.com"
            out["status"] = {
                "loadBalancer": {"ingress": [{"hostname": host, "ip": fake_ip("52.20", f.urn)}]}
            }
    elif f.kind == "Ingress":
        host = f"{f.hex(32)}.elb.{f.region}.amazonaws.com"
        out["status"] = {"loadBalancer": {"ingress": [{"hostname": host}]}}
    elif f.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = spec.get("replicas", 1)
        out["status"] = {
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
    elif f.kind == "Namespace":
        out["status"] = {"phase": "Active"}
    elif f.kind == "Secret" and not f.inputs:
        # A Secret read, not made: one cert-manager wrote for a Certificate.
        cert = fake_cert(f.urn)
        out["type"] = "kubernetes.io/tls"
        out["data"] = Secret({"ca.crt": cert, "tls.crt": cert, "tls.key": fake_cert(f.urn, "key")})
    return out


def _helm_release(f: Fabrication) -> dict[str, Any]:
    name = f.physical_name
    return {
        "name": name,
        "status": {
            "name": name,
            "namespace": reveal(f.inputs.get("namespace")) or "default",
            "chart": reveal(f.inputs.get("chart")),
            "version": reveal(f.inputs.get("version")) or "0.0.0",
            "appVersion": reveal(f.inputs.get("version")) or "0.0.0",
            "revision": 1,
            "status": "deployed",
        },
    }


def generic_outputs(f: Fabrication) -> tuple[str, dict[str, Any]]:
    """What every Kubernetes object has: metadata the API server fills in, and
    `<namespace>/<name>` as its id."""
    out = kubernetes_object(f)
    metadata = out["metadata"]
    namespace = (reveal(f.inputs.get("metadata")) or {}).get("namespace")
    ident = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
    return ident, out


OUTPUT_SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


# Type token -> outputs beyond the generic defaults (inputs are echoed back over them).
RESOURCE_OUTPUTS: dict[str, Callable[[Fabrication], dict[str, Any]]] = {
    "kubernetes:helm.sh/v3:Release": _helm_release,
    "kubernetes:helm.sh/v4:Chart": fixed_outputs(resources=[]),
    "kubernetes:yaml/v2:ConfigFile": fixed_outputs(resources=[]),
    "kubernetes:yaml/v2:ConfigGroup": fixed_outputs(resources=[]),
    "kubernetes:kustomize/v2:Directory": fixed_outputs(resources=[]),
}


def _yaml_decode(c: InvokeContext) -> dict[str, Any]:
    import yaml

    return {"result": [doc for doc in yaml.safe_load_all(str(c.args.get("text", ""))) if doc]}


def _helm_template(c: InvokeContext) -> dict[str, Any]:
    c.monitor.logs.append(
        ("warning", "helm charts are not templated offline: v3 Chart renders no objects")
    )
    return {"result": []}


INVOKE_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {
    "kubernetes:yaml:decode": _yaml_decode,
    "kubernetes:helm:template": _helm_template,
}


METHOD_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {}
