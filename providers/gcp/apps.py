"""Layer 6 on GCP: an app's stack, its workload identity and datastore grants, and
the shared Kubernetes objects.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.common import moved_from
from crosswalk.providers.gcp import app_secrets
from crosswalk.providers.gcp.common import (
    WORKLOAD_IDENTITY_ANNOTATION,
    account_member,
    app_account_output,
    app_needs_account,
    gcp_provider,
    opts,
    project,
    short_role,
    var_part,
)
from crosswalk.providers.gcp.datastores import (
    ALLOYDB_SIGN_IN_ROLES,
    DB_PORTS,
    iam_user_name,
    only_datastore,
)
from crosswalk.providers.gcp.rules import address_plan
from crosswalk.providers.gcp.storage import emit_bucket_grants
from crosswalk.providers.gcp.warehouses import emit_warehouse_grants
from crosswalk.providers.kubernetes.database_users import TokenSignIn, emit_database_user

CLOUD_SQL_CONNECTOR_PORT = 3307  # the Cloud SQL Auth Proxy and connectors' server side
ALLOYDB_CONNECTOR_PORT = 5433  # the AlloyDB Auth Proxy and connectors' server side


REDIS_TLS_PORT = 6378  # Memorystore's port when in-transit encryption is on


# What a pod needs to reach the GKE metadata server, which hands out
# workload identity tokens (Dataplane V2, and the older node-local agent).
METADATA_SERVER_EGRESS = [
    {
        "to": [{"ip_block": {"cidr": "169.254.169.254/32"}}],
        "ports": [{"protocol": "TCP", "port": 80}],
    },
    {
        "to": [{"ip_block": {"cidr": "169.254.169.252/32"}}],
        "ports": [{"protocol": "TCP", "port": 988}],
    },
]


# The init container that fetches the administrator's access token for the
# apps' user Jobs from the GKE metadata server (workload identity), which
# Cloud SQL takes as the password of an IAM user: curl's own image, by tag.
# (gcloud's images are removed a year after release, so a pin would break.)
TOKEN_IMAGE = "curlimages/curl:8.11.1"
TOKEN_COMMAND = (
    'curl --silent --show-error --fail --header "Metadata-Flavor: Google" '
    "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"
    """ | sed -n 's/.*"access_token" *: *"\\([^"]*\\)".*/\\1/p' > /token/password"""
    " && test -s /token/password"
)


def app_database(app) -> str:
    """The MySQL database an app owns on a Cloud SQL instance (a MySQL user
    has no schema of its own): its cloud name with `_` for `-`."""
    return app.cloud_name.replace("-", "_")


def user_script(engine: str, database: str, user: Code, app, create_database=False) -> list:
    """The statements that give an app's IAM user (which Cloud SQL made) its
    rights, in pieces around the user's name, an Output (idempotent: a rerun
    changes nothing). PostgreSQL: a schema named after the user (first on the
    default search_path), which the administrator owns and the user may use
    and create in; MySQL: a database of its own. `create_database`: the
    datastore's database is made first where missing (AlloyDB's API makes
    none; the Job signs in to `postgres` and moves to it)."""
    if engine == "postgres":
        create = []
        if create_database:
            create = [
                f"SELECT 'CREATE DATABASE \"{database}\"' WHERE NOT EXISTS\n",
                f"(SELECT FROM pg_database WHERE datname = '{database}')\\gexec\n",
                f'\\connect "{database}"\n',
            ]
        return [
            "\\set ON_ERROR_STOP on\n",
            *create,
            f'GRANT CONNECT ON DATABASE "{database}" TO "',
            user,
            '";\nCREATE SCHEMA IF NOT EXISTS "',
            user,
            '";\nGRANT USAGE, CREATE ON SCHEMA "',
            user,
            '" TO "',
            user,
            '";\n',
        ]
    own = app_database(app)
    return [
        f"CREATE DATABASE IF NOT EXISTS `{own}`;\nGRANT ALL PRIVILEGES ON `{own}`.* TO '",
        user,
        "'@'%';\n",
    ]


def _database_user(ctx: StackContext, k8s_provider: Code, app, store, user: Code) -> Code:
    """The Job of the app's stack that grants its IAM user its rights, signed
    in as the datastore's administrator through app-services' ServiceAccount."""
    out = lambda name: ctx.upstream("05-app-services", f"datastore_{store.name}_{name}")
    database = store.cloud_name.replace("-", "_")
    return emit_database_user(
        ctx,
        k8s_provider,
        app,
        store,
        {
            "host": out("host"),
            "port": str(DB_PORTS[store.engine]),
            "database": "postgres" if store.alloydb else database,
            "username": out("admin"),
        },
        "",
        ctx.line(app.path + ("uses",)),
        text=user_script(store.engine, database, user, app, create_database=store.alloydb),
        token=TokenSignIn(
            image=TOKEN_IMAGE,
            command=["sh", "-c", TOKEN_COMMAND],
            service_account=out("admin_service_account"),
        ),
    )


GOOGLE_APIS_EGRESS = {
    "to": [{"ip_block": {"cidr": "0.0.0.0/0"}}],
    "ports": [{"protocol": "TCP", "port": 443}],
}


def emit_app(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    project_id = project(ctx)
    app = p.app(ctx.stack.split("/", 1)[1])
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(app.path)
    )
    parts = k8s.AppCloudParts()
    plan = address_plan(p.network)
    uses_line = ctx.line(app.path + ("uses",))
    grants = []  # (kind, store) a Google service account of the app needs
    private_ports: set[int] = set()
    for store_name in app.uses:
        store = p.datastore(store_name)
        prefix = k8s.env_prefix(store.name)
        out = lambda output, store=store: ctx.upstream(
            "05-app-services", f"datastore_{store.name}_{output}"
        )
        if store.alloydb:
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": str(DB_PORTS[store.engine]),
                f"{prefix}_DATABASE": out("database"),
                # What AlloyDB's connectors and Auth Proxy take.
                f"{prefix}_INSTANCE_URI": out("instance"),
                f"{prefix}_IAM_AUTH": "true",
            }
            grants.append(("alloydb", store))
            private_ports |= {DB_PORTS[store.engine], ALLOYDB_CONNECTOR_PORT}
        elif store.engine in DB_PORTS:
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": str(DB_PORTS[store.engine]),
                f"{prefix}_DATABASE": out("database"),
                f"{prefix}_INSTANCE_CONNECTION_NAME": out("connection_name"),
                f"{prefix}_IAM_AUTH": "true",
            }
            grants.append(("sql", store))
            private_ports |= {DB_PORTS[store.engine], CLOUD_SQL_CONNECTOR_PORT}
        elif store.engine == "redis":
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": Call(f"{out('port')}.apply", [Code("str")]),
                f"{prefix}_PASSWORD": out("password"),
                f"{prefix}_TLS": "true",
                f"{prefix}_CA_CERTIFICATE": out("ca_certificate"),
            }
            private_ports.add(REDIS_TLS_PORT)
        elif store.engine == "queue":
            parts.datastore_env[store.name] = {
                f"{prefix}_TOPIC": out("topic"),
                f"{prefix}_SUBSCRIPTION": out("subscription"),
                f"{prefix}_PROJECT": project_id,
            }
            grants.append(("queue", store))
        else:
            parts.datastore_env[store.name] = {
                f"{prefix}_DATABASE": out("database"),
                f"{prefix}_PROJECT": project_id,
            }
            grants.append(("document", store))
    if app_needs_account(p, app):  # the identity layer decides alike: one rule
        provider = gcp_provider(ctx)
        # The identity layer creates the app's service account: a deployer of
        # apps may not manage service accounts (IAM conditions cannot narrow
        # that right to some accounts of a project).
        email = ctx.upstream("01-identity", app_account_output(app))
        member = account_member(email)
        for kind, store in grants:
            out = lambda output, store=store: ctx.upstream(
                "05-app-services", f"datastore_{store.name}_{output}"
            )
            base = f"{p.name}-app-{app.name}-{store.name}"

            def moved(suffix: str, store=store) -> dict:
                return moved_from(lambda a, d: f"{p.name}-app-{a}-{d}{suffix}", app, store)

            if kind == "sql":
                # Cloud SQL IAM login: the database user is the service account.
                on_instance = {
                    "title": f"{store.cloud_name}-only",
                    "expression": only_datastore(ctx, store, "instances"),
                }
                for role in ("roles/cloudsql.client", "roles/cloudsql.instanceUser"):
                    prog.resource(
                        (var_part(store.name), short_role(role)),
                        "gcp.projects.IAMMember",
                        f"{base}-{short_role(role)}",
                        {
                            "project": project_id,
                            "role": role,
                            "member": member,
                            "condition": on_instance,
                        },
                        uses_line,
                        opts(provider, **moved(f"-{short_role(role)}")),
                    )
                user = prog.resource(
                    (var_part(store.name), "user"),
                    "gcp.sql.User",
                    base,
                    {
                        "instance": out("instance"),
                        "name": iam_user_name(prog, store, email),
                        "type": "CLOUD_IAM_SERVICE_ACCOUNT",
                        # Its grants outlive it: PostgreSQL refuses to drop a
                        # role that holds any (the app's data stays).
                        "deletion_policy": "ABANDON",
                    },
                    uses_line,
                    opts(provider, **moved("")),
                )
                env = parts.datastore_env[store.name]
                env[f"{k8s.env_prefix(store.name)}_USERNAME"] = Code(f"{user}.name")
                if store.engine == "mysql":
                    env[f"{k8s.env_prefix(store.name)}_DATABASE"] = app_database(app)
                parts.depends_on.append(
                    _database_user(ctx, k8s_provider, app, store, Code(f"{user}.name"))
                )
            elif kind == "alloydb":
                # AlloyDB reads no resource names in IAM conditions: the
                # sign-in rights are the project's, and the app reaches the
                # clusters where it is a database user (this one) only.
                for role in ALLOYDB_SIGN_IN_ROLES:
                    prog.resource(
                        (var_part(store.name), short_role(role)),
                        "gcp.projects.IAMMember",
                        f"{base}-{short_role(role)}",
                        {"project": project_id, "role": role, "member": member},
                        uses_line,
                        opts(provider, **moved(f"-{short_role(role)}")),
                    )
                user = prog.resource(
                    (var_part(store.name), "user"),
                    "gcp.alloydb.User",
                    base,
                    {
                        "cluster": out("cluster"),
                        "user_id": iam_user_name(prog, store, email),
                        "user_type": "ALLOYDB_IAM_USER",
                        # Its grants outlive it, as on Cloud SQL.
                        "deletion_policy": "ABANDON",
                    },
                    uses_line,
                    opts(provider, **moved("")),
                )
                env = parts.datastore_env[store.name]
                env[f"{k8s.env_prefix(store.name)}_USERNAME"] = Code(f"{user}.user_id")
                parts.depends_on.append(
                    _database_user(ctx, k8s_provider, app, store, Code(f"{user}.user_id"))
                )
            elif kind == "queue":
                prog.resource(
                    (var_part(store.name), "publisher"),
                    "gcp.pubsub.TopicIAMMember",
                    f"{base}-publisher",
                    {"topic": out("topic"), "role": "roles/pubsub.publisher", "member": member},
                    uses_line,
                    opts(provider, **moved("-publisher")),
                )
                prog.resource(
                    (var_part(store.name), "subscriber"),
                    "gcp.pubsub.SubscriptionIAMMember",
                    f"{base}-subscriber",
                    {
                        "subscription": out("subscription"),
                        "role": "roles/pubsub.subscriber",
                        "member": member,
                    },
                    uses_line,
                    opts(provider, **moved("-subscriber")),
                )
            else:
                prog.resource(
                    (var_part(store.name), "user"),
                    "gcp.projects.IAMMember",
                    f"{base}-datastore-user",
                    {
                        "project": project_id,
                        "role": "roles/datastore.user",
                        "member": member,
                        "condition": {
                            "title": f"{store.cloud_name}-only",
                            "expression": only_datastore(ctx, store, "databases"),
                        },
                    },
                    uses_line,
                    opts(provider, **moved("-datastore-user")),
                )
        emit_bucket_grants(ctx, provider, app, member, parts)
        emit_warehouse_grants(ctx, provider, app, member, parts)
        parts.service_account_annotations[WORKLOAD_IDENTITY_ANNOTATION] = email
        parts.egress += METADATA_SERVER_EGRESS + [GOOGLE_APIS_EGRESS]
    if private_ports:
        parts.egress.append(
            {
                "to": [{"ip_block": {"cidr": str(plan.private_services)}}],
                "ports": [{"protocol": "TCP", "port": port} for port in sorted(private_ports)],
            }
        )
    if app.secrets:
        parts.secret_store = app_secrets.store_provider(project(ctx), app.cloud_name)
        for secret in app.secrets:
            parts.secret_keys[secret.name] = ctx.upstream(
                "05-app-services", app_secrets.secret_output(app, secret, "id")
            )
    k8s.emit_app(ctx, k8s_provider, app, parts)
