"""An app's Kubernetes objects (layer 6, every cloud)."""

from __future__ import annotations

import hashlib
import json

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import App, Platform
from crosswalk.providers.common import moved_from
from crosswalk.providers.kubernetes.common import (
    K8S_IMPORT,
    MANAGED_BY,
    NAME_LABEL,
    RUN_AS,
    SERVICE_PORT,
    AppCloudParts,
    app_of,
    cluster_namespace,
    double_cpu,
    namespace_of,
)
from crosswalk.providers.kubernetes.policies import emit_app_policies
from crosswalk.providers.kubernetes.routes import emit_route


def _autoscale_value(platform: Platform, app: str, part: str):
    autoscale = app_of(platform, app).autoscale
    return None if autoscale is None else getattr(autoscale, part)


ENV_HASH_ANNOTATION = "crosswalk.dev/env-hash"


def env_hash(env: tuple[tuple[str, str], ...]) -> str:
    """A short hash of an app's environment variables (its ConfigMap's data)."""
    text = json.dumps(dict(sorted(env)), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def emit_app(ctx: StackContext, provider: Code, app: App, cloud: AppCloudParts) -> None:
    """An app in its own stack: ServiceAccount, config, datastore Secrets, a
    hardened Deployment, Service, route, autoscaler, disruption budget and the
    NetworkPolicies its traffic needs."""
    program = ctx.program
    program.imports.add(K8S_IMPORT)
    platform = ctx.platform
    # Pulumi names follow platform.yaml; the objects keep the names they were
    # created with in the cluster (see model.cloud_name and `renamedFrom`).
    name, namespace = app.name, app.namespace
    in_cluster, namespace_in_cluster = app.cloud_name, cluster_namespace(platform, namespace)
    line = ctx.line(app.path)

    def at(key: str) -> int | None:
        return ctx.line(app.path + (key,))

    def moved(suffix: str = "") -> dict:
        """The aliases of an object named `<namespace>/<app><suffix>`."""
        return moved_from(lambda ns, a: f"{ns}/{a}{suffix}", namespace_of(platform, namespace), app)

    selector = {NAME_LABEL: in_cluster}
    labels = selector | {"app.kubernetes.io/part-of": platform.name} | MANAGED_BY
    opts = {"provider": provider}

    service_account = program.resource(
        (name, "service_account"),
        "kubernetes.core.v1.ServiceAccount",
        f"{namespace}/{name}",
        {
            "metadata": {"name": in_cluster, "namespace": namespace_in_cluster, "labels": labels}
            | _annotations(cloud.service_account_annotations),
            # Workload identity needs no API token: IRSA and Azure project their
            # own tokens through their webhooks, GKE uses the metadata server.
            "automount_service_account_token": False,
        },
        line,
        opts | moved(),
    )
    config_map = program.resource(
        (name, "env"),
        "kubernetes.core.v1.ConfigMap",
        f"{namespace}/{name}.env",
        {
            "metadata": {
                "name": f"{in_cluster}.env",
                "namespace": namespace_in_cluster,
                "labels": labels,
            },
            "data": ctx.setting("env", lambda p, env: dict(sorted(app_of(p, name).env))),
        },
        at("env"),
        opts | moved(".env"),
    )
    secrets = []
    secret_names = {s: f"{in_cluster}.{platform.datastore(s).cloud_name}" for s in app.uses}
    for store in app.uses:
        secrets.append(
            program.resource(
                (name, store, "secret"),
                "kubernetes.core.v1.Secret",
                f"{namespace}/{name}.{store}",
                {
                    "metadata": {
                        "name": secret_names[store],
                        "namespace": namespace_in_cluster,
                        "labels": labels,
                    },
                    "type": "Opaque",
                    "string_data": dict(sorted(cloud.datastore_env.get(store, {}).items())),
                },
                at("uses"),
                opts
                | {"additional_secret_outputs": ["data", "stringData"]}
                | moved_from(
                    lambda ns, a, d: f"{ns}/{a}.{d}",
                    namespace_of(platform, namespace),
                    app,
                    platform.datastore(store),
                ),
            )
        )

    probe = {"path": app.health_path, "port": app.health_port, "scheme": "HTTP"}
    container = {
        "name": in_cluster,
        "image": ctx.setting("image", lambda p, env: app_of(p, name).image),
        "image_pull_policy": "Always",
    }
    if app.command:
        container["command"] = list(app.command)
    if app.args:
        container["args"] = list(app.args)
    container |= {
        "ports": [{"name": "http", "container_port": app.port, "protocol": "TCP"}],
        "env_from": [{"config_map_ref": {"name": f"{in_cluster}.env"}}]
        + [{"secret_ref": {"name": secret_names[store]}} for store in app.uses],
    }
    if cloud.env:  # where its buckets are: names, not secrets
        container["env"] = [{"name": k, "value": v} for k, v in sorted(cloud.env.items())]
    container |= {
        "resources": {
            "requests": {
                "cpu": ctx.setting("cpu", lambda p, env: app_of(p, name).cpu),
                "memory": ctx.setting("memory", lambda p, env: app_of(p, name).memory),
            },
            "limits": {
                "cpu": ctx.setting("cpuLimit", lambda p, env: double_cpu(app_of(p, name).cpu)),
                "memory": ctx.setting("memory", lambda p, env: app_of(p, name).memory),
            },
        },
        "startup_probe": {
            "http_get": probe,
            "period_seconds": 5,
            "timeout_seconds": 3,
            "failure_threshold": 60,
        },
        "liveness_probe": {
            "http_get": probe,
            "period_seconds": 10,
            "timeout_seconds": 3,
            "failure_threshold": 3,
        },
        "readiness_probe": {
            "http_get": probe,
            "period_seconds": 5,
            "timeout_seconds": 3,
            "failure_threshold": 3,
        },
        "security_context": {
            "allow_privilege_escalation": False,
            "read_only_root_filesystem": True,
            "privileged": False,
            "run_as_non_root": True,
            "run_as_user": RUN_AS,
            "run_as_group": RUN_AS,
            "capabilities": {"drop": ["ALL"]},
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
    }
    # With an autoscaler, `replicas` is only the starting count: the HPA owns
    # it afterwards, and re-applying it would fight the HPA (an SSA conflict).
    waits_for = [service_account, config_map, *secrets, *cloud.depends_on]
    deployment_opts = opts | {"depends_on": waits_for} | moved()
    if _autoscaled(ctx, name):
        deployment_opts["ignore_changes"] = ["spec.replicas"]
    deployment = program.resource(
        (name, "deployment"),
        "kubernetes.apps.v1.Deployment",
        f"{namespace}/{name}",
        {
            "metadata": {"name": in_cluster, "namespace": namespace_in_cluster, "labels": labels},
            "spec": {
                "replicas": ctx.setting("replicas", lambda p, env: app_of(p, name).replicas),
                "selector": {"match_labels": selector},
                "template": {
                    "metadata": {
                        "labels": labels
                        | {k: v for k, v in sorted(cloud.pod_labels.items()) if k not in labels},
                        # Pods read the ConfigMap at start only: a new hash rolls them.
                        "annotations": {
                            ENV_HASH_ANNOTATION: ctx.setting(
                                "envHash", lambda p, env: env_hash(app_of(p, name).env)
                            )
                        },
                    },
                    "spec": {
                        "service_account_name": in_cluster,
                        "automount_service_account_token": False,
                        "enable_service_links": False,
                        "security_context": {
                            "run_as_non_root": True,
                            "run_as_user": RUN_AS,
                            "run_as_group": RUN_AS,
                            "fs_group": RUN_AS,
                            "seccomp_profile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        # The root filesystem is read-only; /tmp is the one writable place.
                        "volumes": [{"name": "tmp", "empty_dir": {}}],
                        "topology_spread_constraints": [
                            {
                                "max_skew": 1,
                                "topology_key": "topology.kubernetes.io/zone",
                                "when_unsatisfiable": "ScheduleAnyway",
                                "label_selector": {"match_labels": selector},
                            },
                        ],
                    },
                },
            },
        },
        line,
        deployment_opts,
    )
    program.resource(
        (name, "service"),
        "kubernetes.core.v1.Service",
        f"{namespace}/{name}",
        {
            "metadata": {"name": in_cluster, "namespace": namespace_in_cluster, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {
                        "name": "http",
                        "port": SERVICE_PORT,
                        "target_port": "http",
                        "protocol": "TCP",
                    },
                ],
            },
        },
        line,
        opts | moved(),
    )

    if app.ingress is not None:
        emit_route(ctx, provider, app, labels)

    if app.autoscale is not None:
        program.resource(
            (name, "autoscaler"),
            "kubernetes.autoscaling.v2.HorizontalPodAutoscaler",
            f"{namespace}/{name}",
            {
                "metadata": {
                    "name": in_cluster,
                    "namespace": namespace_in_cluster,
                    "labels": labels,
                },
                "spec": {
                    "scale_target_ref": {
                        "api_version": "apps/v1",
                        "kind": "Deployment",
                        "name": in_cluster,
                    },
                    "min_replicas": ctx.setting(
                        "autoscale.min", lambda p, env: _autoscale_value(p, name, "min")
                    ),
                    "max_replicas": ctx.setting(
                        "autoscale.max", lambda p, env: _autoscale_value(p, name, "max")
                    ),
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "average_utilization": ctx.setting(
                                        "autoscale.cpuPercent",
                                        lambda p, env: _autoscale_value(p, name, "cpu_percent"),
                                    ),
                                },
                            },
                        },
                    ],
                },
            },
            at("autoscale"),
            opts | {"depends_on": [deployment]} | moved(),
        )

    # Decided over every environment, so the program is the same for all of
    # them; with max_unavailable 1 it never blocks a drain of a single pod.
    if _most_replicas(ctx, name) > 1:
        program.resource(
            (name, "disruption_budget"),
            "kubernetes.policy.v1.PodDisruptionBudget",
            f"{namespace}/{name}",
            {
                "metadata": {
                    "name": in_cluster,
                    "namespace": namespace_in_cluster,
                    "labels": labels,
                },
                "spec": {"max_unavailable": 1, "selector": {"match_labels": selector}},
            },
            line,
            opts | moved(),
        )

    emit_app_policies(ctx, provider, app, cloud, selector, labels)


def _annotations(annotations: dict) -> dict:
    return {"annotations": dict(sorted(annotations.items()))} if annotations else {}


def _autoscaled(ctx: StackContext, name: str) -> bool:
    return any(app_of(p, name).autoscale is not None for p in ctx.platforms.values())


def _most_replicas(ctx: StackContext, name: str) -> int:
    counts = []
    for platform in ctx.platforms.values():
        app = app_of(platform, name)
        counts.append(app.replicas)
        if app.autoscale is not None:
            counts.append(app.autoscale.min)
    return max(counts)
