"""An app's Kubernetes objects (layer 6, every cloud)."""

from __future__ import annotations

import hashlib
import json

from crosswalk.compiler.codegen import Call, Code, literal, py_string
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import App, Platform
from crosswalk.providers.common import moved_from, protect
from crosswalk.providers.kubernetes.app_secrets import emit_app_secrets
from crosswalk.providers.kubernetes.common import (
    COMPONENT_LABEL,
    K8S_IMPORT,
    MANAGED_BY,
    NAME_LABEL,
    NODE_POOL_LABEL,
    RUN_AS,
    SERVICE_PORT,
    STORAGE_CLASSES,
    AppCloudParts,
    app_of,
    cluster_namespace,
    double_cpu,
    mesh_of,
    namespace_of,
    spot_tolerations,
)
from crosswalk.providers.kubernetes.policies import emit_app_policies
from crosswalk.providers.kubernetes.routes import emit_route


def _autoscale_value(platform: Platform, app: str, part: str):
    autoscale = app_of(platform, app).autoscale
    return None if autoscale is None else getattr(autoscale, part)


ENV_HASH_ANNOTATION = "crosswalk.dev/env-hash"


# Where a datastore's connection Secret appears in the app's containers: one
# file per key (`<DATASTORE_FILES>/orders/ORDERS_HOST`).
DATASTORE_FILES = "/var/run/secrets/crosswalk/datastores"


# Secret files are readable by the pod's group (fsGroup) only: 0440.
SECRET_FILE_MODE = 0o440


CONTAINER_SECURITY = {
    "allow_privilege_escalation": False,
    "read_only_root_filesystem": True,
    "privileged": False,
    "run_as_non_root": True,
    "run_as_user": RUN_AS,
    "run_as_group": RUN_AS,
    "capabilities": {"drop": ["ALL"]},
    "seccomp_profile": {"type": "RuntimeDefault"},
}


POD_SECURITY = {
    "run_as_non_root": True,
    "run_as_user": RUN_AS,
    "run_as_group": RUN_AS,
    "fs_group": RUN_AS,
    "seccomp_profile": {"type": "RuntimeDefault"},
}


def env_hash(env: tuple[tuple[str, str], ...]) -> str:
    """A short hash of an app's environment variables (its ConfigMap's data)."""
    text = json.dumps(dict(sorted(env)), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def emit_app(ctx: StackContext, provider: Code, app: App, cloud: AppCloudParts) -> None:
    """An app in its own stack: ServiceAccount, config, datastore Secrets, its
    volumes, a hardened workload of its kind (Deployment, StatefulSet, CronJob
    or Job) with the Jobs of its migrations, and for the kinds that serve a
    Service, route, autoscaler and disruption budget; then the NetworkPolicies
    its traffic needs."""
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

    # Volumes: /tmp (the root filesystem is read-only; /tmp is the one writable
    # place), each datastore's connection Secret as files (never environment
    # variables, which leak into crash dumps and child processes), then the
    # app's own.
    mounts = [{"name": "tmp", "mount_path": "/tmp"}]
    volumes = [{"name": "tmp", "empty_dir": {}}]
    for index, store in enumerate(app.uses):
        mounts.append(
            {
                "name": f"datastore-{index}",
                "mount_path": f"{DATASTORE_FILES}/{store}",
                "read_only": True,
            }
        )
        volumes.append(
            {
                "name": f"datastore-{index}",
                "secret": {"secret_name": secret_names[store], "default_mode": SECRET_FILE_MODE},
            }
        )
    claims = []  # a statefulset's claim templates
    waits_for = [service_account, config_map, *secrets, *cloud.depends_on]
    secret_env = []  # the app's secrets it asked for as variables too
    if app.secrets:
        volume, mount, secret_env, external = emit_app_secrets(
            ctx,
            provider,
            app,
            cloud,
            in_cluster,
            namespace_in_cluster,
            [service_account, *cloud.secret_grants],
        )
        volume["secret"]["default_mode"] = SECRET_FILE_MODE
        volumes.append(volume)
        mounts.append(mount)
        waits_for.append(external)
    for volume in app.volumes:
        mount = {"name": volume.name, "mount_path": volume.mount_path}
        if volume.type == "config":
            config = program.resource(
                (name, volume.name, "files"),
                "kubernetes.core.v1.ConfigMap",
                f"{namespace}/{name}.{volume.name}",
                {
                    "metadata": {
                        "name": f"{in_cluster}.{volume.name}",
                        "namespace": namespace_in_cluster,
                        "labels": labels,
                    },
                    "data": dict(volume.files),
                },
                ctx.line(volume.path),
                opts | moved(f".{volume.name}"),
            )
            waits_for.append(config)
            mounts.append(mount | {"read_only": True})
            volumes.append(
                {
                    "name": volume.name,
                    "config_map": {"name": f"{in_cluster}.{volume.name}", "default_mode": 0o444},
                }
            )
        elif volume.type == "scratch":
            mounts.append(mount)
            volumes.append(
                {
                    "name": volume.name,
                    "empty_dir": {"size_limit": volume.size} if volume.size else {},
                }
            )
        elif app.kind == "statefulset":
            mounts.append(mount)
            claims.append(
                {
                    "metadata": {"name": volume.name, "labels": labels},
                    "spec": _claim_spec(platform, volume.size),
                }
            )
        else:
            claim = program.resource(
                (name, volume.name, "claim"),
                "kubernetes.core.v1.PersistentVolumeClaim",
                f"{namespace}/{name}.{volume.name}",
                {
                    "metadata": {
                        "name": f"{in_cluster}.{volume.name}",
                        "namespace": namespace_in_cluster,
                        "labels": labels,
                    },
                    "spec": _claim_spec(platform, volume.size),
                },
                ctx.line(volume.path),
                # A claim holds data: deleting it deletes the disk's contents.
                opts | protect(ctx) | moved(f".{volume.name}"),
            )
            waits_for.append(claim)
            mounts.append(mount)
            volumes.append(
                {
                    "name": volume.name,
                    "persistent_volume_claim": {"claim_name": f"{in_cluster}.{volume.name}"},
                }
            )

    container = {
        "name": in_cluster,
        "image": _image(ctx, app),
        "image_pull_policy": "Always",
    }
    if app.command:
        container["command"] = list(app.command)
    if app.args:
        container["args"] = list(app.args)
    if app.serves:
        container["ports"] = [{"name": "http", "container_port": app.port, "protocol": "TCP"}]
    container |= {
        "env_from": [{"config_map_ref": {"name": f"{in_cluster}.env"}}],
        "resources": _resources(ctx, name),
    }
    # Where its buckets are (names, not secrets), then the secrets it asked for as variables.
    env = [{"name": k, "value": v} for k, v in sorted(cloud.env.items())] + secret_env
    if env:
        container["env"] = env
    if app.serves:
        probe = {"path": app.health_path, "port": app.health_port, "scheme": "HTTP"}
        container |= {
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
        }
    container |= {
        "security_context": CONTAINER_SECURITY,
        "volume_mounts": mounts,
    }
    pod_spec: dict = {
        "service_account_name": in_cluster,
        "automount_service_account_token": False,
        "enable_service_links": False,
        "security_context": POD_SECURITY,
        "containers": [container],
        "volumes": volumes,
    }
    if not app.serves:
        # A run that fails is retried by its Job (backoffLimit), not by its pod.
        pod_spec["restart_policy"] = "Never"
    pod_spec |= _placement(platform, app)
    if app.serves:
        pod_spec["topology_spread_constraints"] = [
            {
                "max_skew": 1,
                "topology_key": "topology.kubernetes.io/zone",
                "when_unsatisfiable": "ScheduleAnyway",
                "label_selector": {"match_labels": selector},
            },
        ]
    pod_labels = labels | {k: v for k, v in sorted(cloud.pod_labels.items()) if k not in labels}
    # Pods read the ConfigMap at start only: a new hash rolls them.
    pod_annotations = {
        ENV_HASH_ANNOTATION: ctx.setting("envHash", lambda p, env: env_hash(app_of(p, name).env))
    }
    mesh = mesh_of(platform)
    job_annotations = pod_annotations | (dict(sorted(mesh.job_annotations.items())) if mesh else {})

    # Migrations run as Jobs of their own before the pods roll; their pods
    # carry the app's name (so its NetworkPolicies let them reach its
    # datastores) and a component label, which the Service and the disruption
    # budget select the app's own pods by.
    serving = selector
    if app.migrations:
        serving = selector | {COMPONENT_LABEL: "server"}
        pod_labels = pod_labels | {COMPONENT_LABEL: "server"}
    migrations = []
    persistent = {v.name for v in app.volumes if v.type == "persistent"}
    for migration in app.migrations:
        # The app's container, running the task: no port, no probes, no args.
        task = {
            key: value
            for key, value in container.items()
            if key not in ("args", "ports", "startup_probe", "liveness_probe", "readiness_probe")
        } | {"name": migration.name, "command": list(migration.command)}
        # A claim is the app's pods' own (one node mounts it): tasks get the rest.
        task["volume_mounts"] = [m for m in mounts if m["name"] not in persistent]
        task_spec = pod_spec | {
            "containers": [task],
            "volumes": [v for v in volumes if v["name"] not in persistent],
            "restart_policy": "Never",
        }
        task_spec.pop("topology_spread_constraints", None)
        migrations.append(
            program.resource(
                (name, migration.name, "migration"),
                "kubernetes.batch.v1.Job",
                f"{namespace}/{name}.{migration.name}",
                {
                    "metadata": {
                        "name": f"{in_cluster}.{migration.name}",
                        "namespace": namespace_in_cluster,
                        "labels": labels,
                    },
                    "spec": {
                        "backoff_limit": 0,
                        "active_deadline_seconds": migration.timeout_seconds,
                        "template": {
                            "metadata": {
                                "labels": pod_labels | {COMPONENT_LABEL: "migration"},
                                "annotations": job_annotations,
                            },
                            "spec": task_spec,
                        },
                    },
                },
                ctx.line(migration.path),
                # A Job's pod template cannot change: a new image or command
                # replaces the Job, which runs the task again (the old one is
                # deleted first, as the new one takes its name).
                opts
                | {"depends_on": waits_for, "delete_before_replace": True}
                | job_timeouts(migration.timeout_seconds)
                | moved(f".{migration.name}"),
            )
        )

    template = {
        "metadata": {
            "labels": pod_labels,
            "annotations": pod_annotations if app.serves else job_annotations,
        },
        "spec": pod_spec,
    }
    workload = _emit_workload(
        ctx, app, template, claims, labels, waits_for + migrations, opts | moved()
    )
    if not app.serves:
        emit_app_policies(ctx, provider, app, cloud, selector, labels)
        return

    program.resource(
        (name, "service"),
        "kubernetes.core.v1.Service",
        f"{namespace}/{name}",
        {
            "metadata": {"name": in_cluster, "namespace": namespace_in_cluster, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": serving,
                "ports": [
                    {
                        "name": "http",
                        "port": SERVICE_PORT,
                        "target_port": "http",
                        "protocol": "TCP",
                    },
                ],
            }
            # A statefulset's pods have names of their own in DNS through it.
            | ({"cluster_ip": "None"} if app.kind == "statefulset" else {}),
        },
        line,
        # With migrations the selector asks for a label the pods get as they
        # roll: the Service waits for them, so it never selects no pod.
        opts | ({"depends_on": [workload]} if app.migrations else {}) | moved(),
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
                        "kind": WORKLOAD_KINDS[app.kind][1],
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
            opts | {"depends_on": [workload]} | moved(),
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
                "spec": {"max_unavailable": 1, "selector": {"match_labels": serving}},
            },
            line,
            opts | moved(),
        )

    emit_app_policies(ctx, provider, app, cloud, selector, labels)


def _image(ctx: StackContext, app: App):
    """The app's image: platform.yaml's; for an app built from its own
    repository, the stack's `image` config, which its builds set (`pulumi
    config set image REF@DIGEST`, then `pulumi up`), else the image the
    stack last ran, else platform.yaml's. The stack reads its own last
    outputs for that: a deploy from the platform's repository, whose stack
    config file has no `image` (crosswalk never writes that key), keeps what
    the last build deployed instead of going back to platform.yaml's."""
    name = app.name
    if app.build is None:
        return ctx.setting("image", lambda p, env: app_of(p, name).image)
    default = ctx.setting("image.default", lambda p, env: app_of(p, name).image)
    prog = ctx.program
    line = ctx.line(app.build.path)
    prog.comment(
        "The image: its last build's, else what this stack last ran, else platform.yaml's."
    )
    last = prog.assign(
        prog.name("last", "deployed"),
        Call(
            "pulumi.StackReference",
            [Code(f"pulumi.get_organization() + {py_string('/' + ctx.project + '/')} + stack")],
        ),
        line,
    )
    last_image = prog.name("last", "image")
    read = f"{last}.get_output({py_string('image')}).apply("
    fallback = f"lambda image: image or {literal(default)}"
    one_line = f"{last_image} = {read}{fallback})"
    # Laid out as ruff format lays it out.
    prog.statement(
        f"# {line}\n"
        + (one_line if len(one_line) <= 88 else f"{last_image} = {read}\n    {fallback}\n)")
    )
    image = prog.assign(
        prog.name("image"),
        Code(f"config.get({py_string('image')}) or {last_image}"),
        line,
    )
    prog.export("image", image, public=True)
    return image


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


# Each kind's Kubernetes type and kind.
WORKLOAD_KINDS = {
    "deployment": ("kubernetes.apps.v1.Deployment", "Deployment"),
    "statefulset": ("kubernetes.apps.v1.StatefulSet", "StatefulSet"),
    "cronjob": ("kubernetes.batch.v1.CronJob", "CronJob"),
    "job": ("kubernetes.batch.v1.Job", "Job"),
}


def _emit_workload(
    ctx: StackContext,
    app: App,
    template: dict,
    claims: list,
    labels: dict,
    waits_for: list,
    opts: dict,
) -> Code:
    """The app's pods as its kind runs them."""
    platform = ctx.platform
    name, in_cluster = app.name, app.cloud_name
    selector = {NAME_LABEL: in_cluster}
    metadata = {
        "name": in_cluster,
        "namespace": cluster_namespace(platform, app.namespace),
        "labels": labels,
    }
    opts = opts | {"depends_on": waits_for}
    if app.kind == "job":
        spec = _job_spec(app, template)
        # A Job's pod template cannot change: a new image, command or config
        # replaces the Job, which runs it again (the old one goes first, as
        # the new one takes its name).
        opts["delete_before_replace"] = True
        opts |= job_timeouts(app.timeout_seconds)
    elif app.kind == "cronjob":
        spec = {
            "schedule": app.schedule,
            # Schedules are read in UTC, whatever the control plane's zone.
            "time_zone": "Etc/UTC",
            "concurrency_policy": app.concurrency_policy,
            "successful_jobs_history_limit": app.history[0],
            "failed_jobs_history_limit": app.history[1],
            # A run missed by more than this (the controller down, a node
            # shortage) is skipped rather than started late.
            "starting_deadline_seconds": 300,
            "job_template": {"metadata": {"labels": labels}, "spec": _job_spec(app, template)},
        }
    else:
        spec = {
            "replicas": ctx.setting("replicas", lambda p, env: app_of(p, name).replicas),
            "selector": {"match_labels": selector},
        }
        if app.kind == "statefulset":
            spec |= {
                "service_name": in_cluster,
                "template": template,
                "volume_claim_templates": claims,
                # Claims outlive their pods and the statefulset: data is kept.
                "persistent_volume_claim_retention_policy": {
                    "when_deleted": "Retain",
                    "when_scaled": "Retain",
                },
            }
        else:
            if any(v.type == "persistent" for v in app.volumes):
                # One claim, one node: the old pod lets go before the new one starts.
                spec["strategy"] = {"type": "Recreate"}
            spec["template"] = template
        # With an autoscaler, `replicas` is only the starting count: the HPA owns
        # it afterwards, and re-applying it would fight the HPA (an SSA conflict).
        if _autoscaled(ctx, name):
            opts["ignore_changes"] = ["spec.replicas"]
    return ctx.program.resource(
        (name, app.kind),
        WORKLOAD_KINDS[app.kind][0],
        f"{app.namespace}/{name}",
        {"metadata": metadata, "spec": spec},
        ctx.line(app.path),
        opts,
    )


def job_timeouts(seconds: int) -> dict:
    """How long `pulumi up` waits for a Job to finish: its own deadline and a
    minute to start (the provider's default, ten minutes, would fail a longer
    task that is still running)."""
    wait = f"{seconds + 60}s"
    return {
        "custom_timeouts": Call("pulumi.CustomTimeouts", kwargs={"create": wait, "update": wait})
    }


def _job_spec(app: App, template: dict) -> dict:
    return {
        "backoff_limit": app.retries,
        "active_deadline_seconds": app.timeout_seconds,
        "template": template,
    }


def _claim_spec(platform: Platform, size: str | None) -> dict:
    return {
        "access_modes": ["ReadWriteOnce"],
        "storage_class_name": STORAGE_CLASSES[platform.cloud.provider],
        "resources": {"requests": {"storage": size}},
    }


def _resources(ctx: StackContext, name: str) -> dict:
    return {
        "requests": {
            "cpu": ctx.setting("cpu", lambda p, env: app_of(p, name).cpu),
            "memory": ctx.setting("memory", lambda p, env: app_of(p, name).memory),
        },
        "limits": {
            "cpu": ctx.setting("cpuLimit", lambda p, env: double_cpu(app_of(p, name).cpu)),
            "memory": ctx.setting("memory", lambda p, env: app_of(p, name).memory),
        },
    }


def _placement(platform: Platform, app: App) -> dict:
    """A node pool's nodes (by the label every cloud's pools carry) and
    tolerations for exactly its taints."""
    if app.node_pool is None:
        return {}
    pool = platform.node_pool(app.node_pool)
    tolerations = [
        {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
        for t in pool.taints
    ]
    tolerations += [dict(t) for t in spot_tolerations(platform, pool)]
    return {
        "node_selector": {NODE_POOL_LABEL: pool.cloud_name},
        **({"tolerations": tolerations} if tolerations else {}),
    }
