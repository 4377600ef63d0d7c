"""`crosswalk plan --manifests`: every Kubernetes object an offline plan
registers, as YAML a Kubernetes linter reads (one file per stack, objects in
apply order, Helm releases noted by chart and version)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from crosswalk.compiler.mocks import ResourceRecord
from crosswalk.compiler.plan import PlanResult
from crosswalk.compiler.plan_render import _plain, _shown

_KIND_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList",
    "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
    "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
    "IngressClass", "Ingress", "APIService", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
]  # fmt: skip
# Kubernetes types that are not objects a manifest can hold.
_NOT_MANIFESTS = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")


def is_manifest(record: ResourceRecord) -> bool:
    return (
        record.type.startswith("kubernetes:")
        and not record.type.startswith(_NOT_MANIFESTS)
        and not record.type.endswith("Patch")
        and record.operation == "register"
    )


def manifest(record: ResourceRecord) -> dict[str, Any]:
    """One Kubernetes object from its recorded inputs (the SDK sends camelCase wire names)."""
    inputs = _plain(record.inputs)
    _, group_version, kind = record.type.split(":")
    api_version = group_version.removeprefix("core/")
    metadata = dict(inputs.get("metadata") or {})
    if "name" not in metadata:
        # The provider would auto-name it `<name>-<random suffix>`; the mock said `<name>`.
        metadata["name"] = (record.outputs.get("metadata") or {}).get("name") or record.name
    document: dict[str, Any] = {
        "apiVersion": inputs.get("apiVersion", api_version),
        "kind": inputs.get("kind", kind),
        "metadata": _sorted(metadata),
    }
    for key in sorted(inputs):
        if key not in document:
            document[key] = _sorted(inputs[key])
    return document


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _manifest_key(document: dict[str, Any]) -> tuple:
    kind = document["kind"]
    rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    metadata = document["metadata"]
    return (rank, kind, metadata.get("namespace") or "", metadata.get("name") or "")


class _ManifestDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _str_presenter)


def manifest_filename(stack_dir: str) -> str:
    return stack_dir.replace("/", "_") + ".yaml"


def render_manifests(result: PlanResult, *, only: Iterable[str] = ()) -> dict[str, str]:
    """`{file name: YAML}`: one multi-document file per stack with Kubernetes objects.

    Helm releases are not objects (offline, nothing renders their charts): each is listed in a
    comment at the top of its stack's file, so manifest checkers still read the file cleanly.
    """
    files: dict[str, str] = {}
    for stack in _shown(result, only):
        documents = sorted(
            (manifest(r) for r in stack.resources if is_manifest(r)), key=_manifest_key
        )
        notes = [
            _release_note(r) for r in stack.resources if r.type == "kubernetes:helm.sh/v3:Release"
        ]
        notes += [
            f"# {r.type} {r.name!r}: not rendered offline"
            for r in stack.resources
            if r.type.startswith(_NOT_MANIFESTS) and r.type != "kubernetes:helm.sh/v3:Release"
        ]
        if not documents and not notes:
            continue
        header = [
            f"# crosswalk plan --offline: {stack.dir} ({stack.project}), environment {result.environment}"
        ]
        if stack.error is not None:
            first_line = stack.error.message.splitlines()[0]
            header.append(f"# incomplete: the stack {stack.status} ({first_line})")
        body = "---\n".join(
            yaml.dump(
                doc, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False, width=1000
            )
            for doc in documents
        )
        files[manifest_filename(stack.dir)] = (
            "\n".join(header + sorted(notes)) + "\n" + ("---\n" + body if body else "")
        )
    return files


def _release_note(record: ResourceRecord) -> str:
    inputs = _plain(record.inputs)
    chart = inputs.get("chart", "?")
    version = inputs.get("version")
    repo = (inputs.get("repositoryOpts") or {}).get("repo")
    namespace = inputs.get("namespace") or "default"
    name = inputs.get("name") or record.name
    text = f"# helm release {name}: chart {chart}"
    if version:
        text += f" {version}"
    if repo:
        text += f" from {repo}"
    return text + f", namespace {namespace} (chart not rendered offline)"


def write_manifests(result: PlanResult, directory: Path, *, only: Iterable[str] = ()) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(render_manifests(result, only=only).items()):
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# The command.
