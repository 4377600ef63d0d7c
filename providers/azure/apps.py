"""Layer 6 on Azure: an app's stack: its managed identity, federated with its
Kubernetes service account, the access to each datastore it uses, and the
shared Kubernetes objects.

Each app's identity and grants live in its own stack, as on AWS and GCP, so
adding, changing or removing an app touches that stack alone. The datastores
they are granted on stay in 05-app-services, which exports what the grants
name (server, cache, queue, secret and account ids).

An app that uses a PostgreSQL server signs in as a role of its own, named
after its managed identity, which a Job of its stack makes (as the server's
one Entra ID administrator, an identity of app-services that no app holds):
the role may connect to the datastore's database and has a schema of its own.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure import app_secrets
from crosswalk.providers.azure.common import (
    CLIENT_ID_ANNOTATION,
    WORKLOAD_IDENTITY_LABEL,
    var_name,
)
from crosswalk.providers.azure.datastores import REDIS_TLS_PORT
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.storage import emit_bucket_grants
from crosswalk.providers.azure.warehouses import emit_warehouse_grants
from crosswalk.providers.common import moved_from
from crosswalk.providers.kubernetes.database_users import (
    TokenSignIn,
    database_user,
    emit_database_user,
    emit_password,
    password_script,
)

SQL_PORTS = {"postgres": 5432, "mysql": 3306}


# The Azure CLI that fetches the administrator's Entra ID token for the
# apps' user Jobs: Microsoft's image, by tag (not `latest`).
AZURE_CLI_IMAGE = "mcr.microsoft.com/azure-cli:2.67.0"
# Signs in as the pod's workload identity (the webhook sets these variables
# and projects the token) and writes the token PostgreSQL takes as password.
TOKEN_COMMAND = (
    'az login --service-principal -u "$AZURE_CLIENT_ID" -t "$AZURE_TENANT_ID" '
    '--federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions '
    "--output none && az account get-access-token --resource-type oss-rdbms "
    "--query accessToken --output tsv > /token/password"
)


def entra_script(database: str, role: str) -> str:
    """The statements that make an app's Entra ID role on a flexible server
    (idempotent: a rerun changes nothing). pgaadauth_create_principal lives in
    the `postgres` database; the grants are made in the datastore's. The
    administrator owns the schema (it cannot act as a role the function
    made) and lets the app's role use it and create in it."""
    return (
        "\n".join(
            [
                "\\set ON_ERROR_STOP on",
                "DO $$ BEGIN",
                f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN",
                f"    PERFORM pgaadauth_create_principal('{role}', false, false);",
                "  END IF;",
                "END $$;",
                f"\\connect {database}",
                f'GRANT CONNECT ON DATABASE "{database}" TO "{role}";',
                f'CREATE SCHEMA IF NOT EXISTS "{role}";',
                f'GRANT USAGE, CREATE ON SCHEMA "{role}" TO "{role}";',
            ]
        )
        + "\n"
    )


COSMOS_DATA_CONTRIBUTOR = (
    "00000000-0000-0000-0000-000000000002"  # Cosmos DB Built-in Data Contributor
)


def emit_app(az: AzureProgram) -> None:
    p, ctx = az.p, az.ctx
    app = p.app(ctx.stack.split("/", 1)[1])
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(app.path)
    )
    parts = k8s.AppCloudParts()
    # A MySQL user signs in with a password: an app that uses nothing else
    # needs no cloud identity. Its secrets are read as its identity by the
    # External Secrets Operator, not by its pods.
    pods_call_azure = bool(app.buckets or app.warehouses) or any(
        p.datastore(name).engine != "mysql" for name in app.uses
    )
    identity = _app_identity(az, app) if pods_call_azure or app.secrets else None
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
                f"{prefix}_USERNAME": Code(f"{identity}.name"),
                f"{prefix}_AUTH": "entra-id",
                f"{prefix}_SSLMODE": "require",
            }
            ports.add(SQL_PORTS["postgres"])
            parts.depends_on.append(_database_user(az, k8s_provider, app, store))
        elif store.engine == "mysql":
            # A user of its own with a password (MySQL on Azure signs in no
            # cloud identity without a tenant admin's grant), made by a Job
            # of this stack; the administrator's password stays in the users
            # namespace.
            user = database_user(app, "mysql")
            password = emit_password(
                ctx,
                (f"app_{var_name(app.name)}", var_name(store.name), "password"),
                f"{app.name}-{store.name}-password",
                ctx.line(app.path + ("uses",)),
                moved_from(lambda a, d: f"{a}-{d}-password", app, store),
            )
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": str(SQL_PORTS["mysql"]),
                f"{prefix}_DATABASE": user,
                f"{prefix}_USERNAME": user,
                f"{prefix}_PASSWORD": Call("pulumi.Output.secret", [Code(f"{password}.result")]),
                f"{prefix}_SSLMODE": "require",
            }
            ports.add(SQL_PORTS["mysql"])
            parts.depends_on.append(
                emit_database_user(
                    ctx,
                    k8s_provider,
                    app,
                    store,
                    {
                        "host": out("host"),
                        "port": str(SQL_PORTS["mysql"]),
                        "database": out("database"),
                        "username": out("admin"),
                    },
                    "",
                    ctx.line(app.path + ("uses",)),
                    text=password_script(user, Code(f"{password}.result")),
                    secret_script=True,
                )
            )
        elif store.engine == "redis":
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": str(REDIS_TLS_PORT),
                f"{prefix}_USERNAME": Code(f"{identity}.principal_id"),
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
    if app.buckets:
        emit_bucket_grants(az, app, identity, parts)
        ports.add(443)  # the storage account's private endpoint
    if app.warehouses:
        emit_warehouse_grants(az, app, identity, parts)
        ports.add(443)  # the warehouse cluster's private endpoint
    if identity is not None:
        # The ServiceAccount names the managed identity its tokens sign in as.
        parts.service_account_annotations[CLIENT_ID_ANNOTATION] = Code(f"{identity}.client_id")
    if app.secrets:
        parts.secret_grants = app_secrets.emit_app_secret_grants(
            az, app, Code(f"{identity}.principal_id")
        )
        parts.secret_store = app_secrets.store_provider(az, app.cloud_name)
        for secret in app.secrets:
            parts.secret_keys[secret.name] = ctx.upstream(
                "05-app-services", app_secrets.secret_output(app, secret, "name")
            )
    if pods_call_azure:
        # Workload identity: the webhook projects a token for the app's managed identity.
        parts.pod_labels[WORKLOAD_IDENTITY_LABEL] = "true"
        # Entra ID and Service Bus are public endpoints (Key Vault is reached
        # through its private endpoint in the network).
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


def _app_identity(az: AzureProgram, app) -> Code:
    """The app's managed identity, federated with its service account, and
    the access to each datastore it uses."""
    p, ctx = az.p, az.ctx
    line = ctx.line(app.path + ("uses",))
    var = f"app_{var_name(app.name)}"
    namespace = p.namespace(app.namespace)

    def moved(suffix: str = "") -> dict:
        return moved_from(lambda a: f"{p.name}-app-{a}{suffix}", app)

    identity = az.identity(
        var, f"{p.name}-app-{app.name}", line, f"{p.name}-app-{app.cloud_name}", **moved()
    )
    az.federate(
        f"{var}_kubernetes",
        f"{p.name}-app-{app.name}-kubernetes",
        identity,
        "kubernetes",
        ctx.upstream("03-cluster", "oidc_issuer_url"),
        f"system:serviceaccount:{namespace.cloud_name}:{app.cloud_name}",
        line,
        **moved("-kubernetes"),
    )
    principal = Code(f"{identity}.principal_id")
    for index, store_name in enumerate(app.uses):
        store = p.datastore(store_name)
        out = lambda name, store=store: ctx.upstream(
            "05-app-services", f"datastore_{store.name}_{name}"
        )
        at = ctx.line(app.path + ("uses", index))
        grant = (var, var_name(store.name))

        def grant_moved(suffix: str = "", store=store) -> dict:
            return moved_from(lambda a, d: f"{a}-{d}{suffix}", app, store)

        if store.engine in SQL_PORTS:
            continue  # its user: a Job of emit_app
        if store.engine == "redis":
            az.use("redis")
            # A cache takes one access policy change at a time.
            az.one_at_a_time(
                f"redis:{store.cloud_name}",
                grant,
                "redis.AccessPolicyAssignment",
                f"{app.name}-{store.name}",
                {
                    "resource_group_name": az.resource_group(),
                    "cache_name": out("name"),
                    "access_policy_assignment_name": app.cloud_name,
                    "access_policy_name": "Data Contributor",
                    "object_id": principal,
                    "object_id_alias": Code(f"{identity}.name"),
                },
                at,
                **grant_moved(),
            )
        elif store.engine == "queue":
            for direction in ("Sender", "Receiver"):
                az.assign_role(
                    (var, var_name(store.name), direction.lower()),
                    f"{app.name}-{store.name}-{direction.lower()}",
                    f"Azure Service Bus Data {direction}",
                    principal,
                    out("queue_id"),
                    at,
                    "ServicePrincipal",
                    opts=grant_moved(f"-{direction.lower()}"),
                )
        else:
            az.use("cosmosdb")
            az.res(
                grant,
                "cosmosdb.SqlResourceSqlRoleAssignment",
                f"{app.name}-{store.name}",
                {
                    "resource_group_name": az.resource_group(),
                    "account_name": out("account"),
                    "role_definition_id": Call(
                        "pulumi.Output.concat",
                        [out("account_id"), f"/sqlRoleDefinitions/{COSMOS_DATA_CONTRIBUTOR}"],
                    ),
                    "principal_id": principal,
                    "scope": out("account_id"),
                },
                at,
                **grant_moved(),
            )
    return identity


def app_role(p, app) -> str:
    """The app's role on a PostgreSQL server: its managed identity's name,
    which Entra ID sign-in takes as the user (the name it keeps in Azure)."""
    return f"{p.name}-app-{app.cloud_name}"


def _database_user(az: AzureProgram, k8s_provider: Code, app, store) -> Code:
    """The Job of the app's stack that makes its role on the server, signed in
    as the server's administrator through app-services' ServiceAccount."""
    ctx = az.ctx
    out = lambda name: ctx.upstream("05-app-services", f"datastore_{store.name}_{name}")
    return emit_database_user(
        ctx,
        k8s_provider,
        app,
        store,
        {
            "host": out("host"),
            "port": str(SQL_PORTS["postgres"]),
            "database": "postgres",
            "username": out("admin"),
        },
        "",
        ctx.line(app.path + ("uses",)),
        text=entra_script(store.cloud_name.replace("-", "_"), app_role(az.p, app)),
        token=TokenSignIn(
            image=AZURE_CLI_IMAGE,
            command=["sh", "-c", TOKEN_COMMAND],
            service_account=out("admin_service_account"),
            env=[{"name": "AZURE_CONFIG_DIR", "value": "/tmp/azure"}],
            pod_labels={WORKLOAD_IDENTITY_LABEL: "true"},
        ),
    )
