"""An app's secrets in its namespace: a SecretStore that reads the cloud's
secret manager as the app's own ServiceAccount, and an ExternalSecret that
the External Secrets Operator (cluster-services) turns into one Kubernetes
Secret, mounted read-only into the app's containers. The values never pass
through platform.yaml, the compiled programs or Pulumi's state."""

from __future__ import annotations

from crosswalk.providers.kubernetes.charts import custom_resource

API_VERSION = "external-secrets.io/v1"
# Where the app reads them: one file per secret, named after it.
FILES = "/var/run/secrets/crosswalk/secrets"
# How often the operator reads the cloud again: a new value reaches the files
# within this (environment variables only when the pods restart).
REFRESH = "1h"
# Pulumi waits until the operator has copied every secret: a secret without a
# value fails the app's deploy here, saying which, rather than in its pods.
READY = {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "600"}


def emit_app_secrets(ctx, provider, app, parts, in_cluster: str, namespace: str, waits_for):
    """The SecretStore and ExternalSecret of `app` (with secrets): returns the
    volume, its mount and the environment variables the app asked for, and
    the ExternalSecret the workload waits for."""
    line = ctx.line(app.path + ("secrets",))
    store = custom_resource(
        ctx,
        provider,
        (app.name, "secret_store"),
        API_VERSION,
        "SecretStore",
        in_cluster,
        namespace,
        {"provider": parts.secret_store},
        line,
        waits_for,
        pulumi_name=f"{app.namespace}/{app.name}.secret-store",
    )
    target = f"{in_cluster}.secrets"
    external = custom_resource(
        ctx,
        provider,
        (app.name, "external_secret"),
        API_VERSION,
        "ExternalSecret",
        target,
        namespace,
        {
            "refreshInterval": REFRESH,
            "secretStoreRef": {"name": in_cluster, "kind": "SecretStore"},
            "target": {"name": target, "creationPolicy": "Owner"},
            "data": [
                {"secretKey": s.name, "remoteRef": {"key": parts.secret_keys[s.name]}}
                for s in app.secrets
            ],
        },
        line,
        [store],
        annotations=READY,
        pulumi_name=f"{app.namespace}/{app.name}.secrets",
    )
    volume = {"name": "secrets", "secret": {"secret_name": target}}
    mount = {"name": "secrets", "mount_path": FILES, "read_only": True}
    env = [
        {"name": s.env, "value_from": {"secret_key_ref": {"name": target, "key": s.name}}}
        for s in app.secrets
        if s.env
    ]
    return volume, mount, env, external
