"""Layer 6 on Azure: an app's stack and the shared Kubernetes objects, with its
workload identity's client id.
"""

from __future__ import annotations

from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure.common import CLIENT_ID_ANNOTATION, WORKLOAD_IDENTITY_LABEL
from crosswalk.providers.azure.datastores import REDIS_TLS_PORT
from crosswalk.providers.azure.program import AzureProgram

SQL_PORTS = {"postgres": 5432, "mysql": 3306}


def emit_app(az: AzureProgram) -> None:
    p, ctx = az.p, az.ctx
    app = p.app(ctx.stack.split("/", 1)[1])
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(app.path)
    )
    parts = k8s.AppCloudParts()
    services_out = lambda name: ctx.upstream("05-app-services", name)
    ports: set[int] = set()
    for store_name in app.uses:
        store = p.datastore(store_name)
        prefix = k8s.env_prefix(store.name)
        out = lambda name, store=store: services_out(f"datastore_{store.name}_{name}")
        if store.engine == "postgres":
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": str(SQL_PORTS["postgres"]),
                f"{prefix}_DATABASE": out("database"),
                f"{prefix}_USERNAME": services_out(f"app_{app.name}_identity_name"),
                f"{prefix}_AUTH": "entra-id",
                f"{prefix}_SSLMODE": "require",
            }
            ports.add(SQL_PORTS["postgres"])
        elif store.engine == "mysql":
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": str(SQL_PORTS["mysql"]),
                f"{prefix}_DATABASE": out("database"),
                f"{prefix}_USERNAME": "crosswalk",
                f"{prefix}_PASSWORD_SECRET_URI": out("password_secret_uri"),
            }
            ports.add(SQL_PORTS["mysql"])
        elif store.engine == "redis":
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": str(REDIS_TLS_PORT),
                f"{prefix}_USERNAME": services_out(f"app_{app.name}_principal_id"),
                f"{prefix}_TLS": "true",
                f"{prefix}_AUTH": "entra-id",
            }
            ports.add(REDIS_TLS_PORT)
        elif store.engine == "queue":
            parts.datastore_env[store.name] = {
                f"{prefix}_NAMESPACE": out("namespace"),
                f"{prefix}_QUEUE": out("queue"),
            }
        else:
            parts.datastore_env[store.name] = {
                f"{prefix}_ENDPOINT": out("endpoint"),
                f"{prefix}_DATABASE": out("database"),
                f"{prefix}_CONTAINER": out("container"),
            }
            ports.add(443)
    if app.uses:
        # Workload identity: the webhook projects a token for the app's managed identity.
        parts.service_account_annotations[CLIENT_ID_ANNOTATION] = services_out(
            f"app_{app.name}_client_id"
        )
        parts.pod_labels[WORKLOAD_IDENTITY_LABEL] = "true"
        # Entra ID (and Service Bus, Key Vault) are public endpoints.
        parts.egress.append(
            {
                "to": [{"ip_block": {"cidr": "0.0.0.0/0"}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            }
        )
    if ports:
        # Datastores sit in the platform's network (delegated subnets, private endpoints).
        parts.egress.append(
            {
                "to": [{"ip_block": {"cidr": p.network.cidr}}],
                "ports": [{"protocol": "TCP", "port": port} for port in sorted(ports)],
            }
        )
    k8s.emit_app(ctx, k8s_provider, app, parts)
