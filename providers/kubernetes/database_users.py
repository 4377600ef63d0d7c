"""Each app's own database user, made inside the cluster by the app's stack.

A SQL datastore has one administrator; apps must not hold its credentials.
The clouds' APIs cannot make a database user that signs in with a cloud
identity (RDS IAM authentication), so an app's stack runs a Job in the
platform's `database-users` namespace that connects as the administrator and
makes the app's user: it signs in only with the app's cloud identity, may
connect to the datastore's database, and owns a schema (PostgreSQL) or a
database (MySQL) named after it. The administrator's password reaches only a
Secret in that namespace, which app-services writes; the apps' pods never see
it (their namespaces are others). Nothing is dropped: the user of an app that
is gone keeps its data until a person removes it.

The app-services layer knows no app (an app's change touches its stack
alone); each app's stack makes its own user.

Where the administrator is a cloud identity rather than a password (Azure's
Entra ID administrator), app-services makes a ServiceAccount in that
namespace the identity trusts, and the Job runs as it: an init container
exchanges the account's token for the administrator's access token (a
`TokenSignIn`), which the client reads as its password from a memory-backed
volume of the pod.

The script is data, not code: user and database names come from names the
schema limits to lower-case letters, digits and `-` (`-` becomes `_`), and are
quoted as identifiers. The Job's name carries a digest of the script, so a
changed grant runs a new Job and an unchanged app runs none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import App, Datastore
from crosswalk.providers.kubernetes.common import MANAGED_BY

NAMESPACE = "database-users"

# The SQL clients the Jobs run: the Docker official images, by tag (not
# `latest`), as of 2026-12-02. A client of a newer major version reads the
# servers of providers/<cloud>/datastores.py.
CLIENT_IMAGES = {
    "postgres": "postgres:17.2-alpine3.21",
    "mysql": "mysql:8.4.3",
}
# The clients run as a high user id of no account on the node (checkov's
# CKV_K8S_40): they need no home, only the script and /tmp.
RUN_AS = 10001
MYSQL_USER_LIMIT = 32  # MySQL's longest user name


@dataclass(frozen=True)
class TokenSignIn:
    """The administrator signs in with an access token that an init container
    writes to `/token/password` (the client's password), as the pod's service
    account (the cloud's workload identity), with `pod_labels` on the pod."""

    image: str
    command: list
    service_account: object  # its name: a string or an Output read from app-services
    env: list = field(default_factory=list)
    pod_labels: dict = field(default_factory=dict)


def database_user(app: App, engine: str) -> str:
    """The app's database user: its cloud name with `_` for `-` (stable across
    renames), shortened with a digest where MySQL's limit needs it."""
    user = app.cloud_name.replace("-", "_")
    if engine == "mysql" and len(user) > MYSQL_USER_LIMIT:
        tail = hashlib.sha256(user.encode()).hexdigest()[:8]
        user = user[: MYSQL_USER_LIMIT - 9] + "_" + tail
    return user


# A made-up password (where a datastore signs in with one): 32 characters of
# every class MySQL's password policies ask for; the symbols need no quoting
# in SQL or the shell. Kept in the state (secret), the same in every run.
PASSWORD_ARGS = {
    "length": 32,
    "special": True,
    "override_special": "-_",
    "min_lower": 1,
    "min_upper": 1,
    "min_numeric": 1,
    "min_special": 1,
}


def emit_password(ctx: StackContext, var, name: str, line, opts: dict) -> Code:
    """A password the stack makes once and keeps (pulumi-random); its
    `result` is a secret Output."""
    ctx.program.imports.add("import pulumi_random as random")
    return ctx.program.resource(var, "random.RandomPassword", name, dict(PASSWORD_ARGS), line, opts)


def admin_secret_name(store: Datastore) -> str:
    """The Secret in NAMESPACE holding the datastore administrator's password."""
    return f"{store.cloud_name}-admin"


def password_script(user: str, password: Code) -> list:
    """MySQL's statements for a user that signs in with a password (the
    server takes no cloud identity): pieces around the password, an Output.
    The user and a database of its own, as `script` makes them; the password
    set again on every run, so a user made before has it too."""
    quoted = f"'{user}'@'%'"
    return [
        f"CREATE USER IF NOT EXISTS {quoted} IDENTIFIED BY '",
        password,
        f"' REQUIRE SSL;\nALTER USER {quoted} IDENTIFIED BY '",
        password,
        (
            f"' REQUIRE SSL;\nCREATE DATABASE IF NOT EXISTS `{user}`;\n"
            f"GRANT ALL PRIVILEGES ON `{user}`.* TO {quoted};\n"
        ),
    ]


def script(engine: str, database: str, user: str, sign_in: str) -> str:
    """The statements that make the user (idempotent: a rerun changes nothing).
    `sign_in` is the cloud's: `rds_iam` on AWS RDS PostgreSQL, the
    AWSAuthenticationPlugin on RDS MySQL."""
    if engine == "postgres":
        lines = [
            "\\set ON_ERROR_STOP on",
            "DO $$ BEGIN",
            f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN",
            f'    CREATE ROLE "{user}" LOGIN;',
            "  END IF;",
            "END $$;",
            f'GRANT {sign_in} TO "{user}";',
            f'GRANT CONNECT ON DATABASE "{database}" TO "{user}";',
            f'CREATE SCHEMA IF NOT EXISTS "{user}" AUTHORIZATION "{user}";',
        ]
    else:
        lines = [
            f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED WITH {sign_in} REQUIRE SSL;",
            f"CREATE DATABASE IF NOT EXISTS `{user}`;",
            f"GRANT ALL PRIVILEGES ON `{user}`.* TO '{user}'@'%';",
        ]
    return "\n".join(lines) + "\n"


def emit_admin_secret(ctx: StackContext, provider: Code, store: Datastore, password, line) -> Code:
    """In app-services: the users namespace (once) and the Secret holding the
    administrator's password (a secret Output) for the apps' user Jobs."""
    from crosswalk.providers.kubernetes.charts import platform_namespace

    namespace = platform_namespace(ctx, provider, NAMESPACE, line)
    return ctx.program.resource(
        ("database_users", store.name, "admin"),
        "kubernetes.core.v1.Secret",
        admin_secret_name(store),
        {
            "metadata": {
                "name": admin_secret_name(store),
                "namespace": Code(f"{namespace}.metadata.name"),
                "labels": dict(MANAGED_BY),
            },
            "type": "Opaque",
            "string_data": {"password": password},
        },
        line,
        {"provider": provider},
    )


def admin_service_account_name(store: Datastore) -> str:
    """The ServiceAccount in NAMESPACE that signs in as the datastore's
    administrator, where that is a cloud identity."""
    return f"{store.cloud_name}-db-admin"


def emit_admin_service_account(
    ctx: StackContext, provider: Code, store: Datastore, annotations: dict, labels: dict, line
) -> Code:
    """In app-services: the users namespace (once) and the ServiceAccount the
    apps' user Jobs run as, which the cloud's administrator identity trusts."""
    from crosswalk.providers.kubernetes.charts import platform_namespace

    namespace = platform_namespace(ctx, provider, NAMESPACE, line)
    return ctx.program.resource(
        ("database_users", store.name, "admin"),
        "kubernetes.core.v1.ServiceAccount",
        admin_service_account_name(store),
        {
            "metadata": {
                "name": admin_service_account_name(store),
                "namespace": Code(f"{namespace}.metadata.name"),
                "labels": dict(MANAGED_BY) | labels,
                "annotations": annotations,
            },
            "automount_service_account_token": False,
        },
        line,
        {"provider": provider},
    )


def emit_database_user(
    ctx: StackContext,
    provider: Code,
    app: App,
    store: Datastore,
    connection: dict,
    sign_in: str,
    line,
    *,
    text: str | list | None = None,
    token: TokenSignIn | None = None,
    secret_script: bool = False,
) -> Code:
    """In an app's stack: the Job that makes the app's user of the datastore.
    `connection` holds the datastore's host, port, database and admin user
    (Outputs read from app-services). `text`: the cloud's own script, else
    `script`'s; a list where names are Outputs (its pieces, joined when they
    resolve: names stay data); `secret_script`: the list holds a password, so
    the script is a Secret, not a ConfigMap; `token`: the administrator signs in with a
    token, not the admin Secret's password. Returns the Job (the app's
    Deployment waits for it)."""
    prog = ctx.program
    engine = store.engine
    if text is None:
        user = database_user(app, engine)
        text = script(engine, store.cloud_name.replace("-", "_"), user, sign_in)
    if isinstance(text, list):
        # The digest reads the script's fixed pieces: an Output is the same
        # name, or password, in every run of one stack.
        fixed = "\0".join(piece for piece in text if isinstance(piece, str))
        digest = hashlib.sha256(fixed.encode()).hexdigest()[:10]
        data = Call("pulumi.Output.concat", text)
        if secret_script:
            data = Call("pulumi.Output.secret", [data])
    else:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        data = text
    # At most 40 + 1 + 40 + 1 + 10 characters: within Kubernetes' 63 once shortened.
    base = f"{app.cloud_name}-{store.cloud_name}"[:52].rstrip("-")
    meta = {"namespace": NAMESPACE, "labels": dict(MANAGED_BY)}
    config = prog.resource(
        ("database_user", store.name, "script"),
        "kubernetes.core.v1.Secret" if secret_script else "kubernetes.core.v1.ConfigMap",
        f"{store.name}-user-script",
        {"metadata": {"name": f"{base}-{digest}"} | meta}
        | (
            {"type": "Opaque", "string_data": {"users.sql": data}}
            if secret_script
            else {"data": {"users.sql": data}}
        ),
        line,
        {"provider": provider},
    )
    # The admin password reaches the client as a file of the admin Secret (read
    # into the client's environment by the shell), never as an environment
    # variable of the pod's spec.
    password_file = "/token/password" if token is not None else "/admin/password"
    password_variable = "PGPASSWORD" if engine == "postgres" else "MYSQL_PWD"
    if engine == "postgres":
        env = [
            {"name": "PGHOST", "value": connection["host"]},
            {"name": "PGPORT", "value": connection["port"]},
            {"name": "PGDATABASE", "value": connection["database"]},
            {"name": "PGUSER", "value": connection["username"]},
            {"name": "PGSSLMODE", "value": "require"},
        ]
        command = [
            "sh",
            "-c",
            (
                f'{password_variable}="$(cat {password_file})" '
                "exec psql --no-psqlrc --file /script/users.sql"
            ),
        ]
    else:
        env = [
            {"name": "DB_HOST", "value": connection["host"]},
            {"name": "DB_PORT", "value": connection["port"]},
            {"name": "DB_USER", "value": connection["username"]},
        ]
        # A token is sent as the password itself (the cleartext plugin), over TLS only.
        cleartext = "--enable-cleartext-plugin " if token is not None else ""
        command = [
            "sh",
            "-c",
            (
                f'{password_variable}="$(cat {password_file})" '
                'exec mysql --host="$DB_HOST" --port="$DB_PORT" --user="$DB_USER" '
                f"{cleartext}--ssl-mode=REQUIRED < /script/users.sql"
            ),
        ]
    security_context = {
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "run_as_non_root": True,
        "run_as_user": RUN_AS,
        "run_as_group": RUN_AS,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }
    mounts = [
        {"name": "script", "mount_path": "/script", "read_only": True},
        {"name": "tmp", "mount_path": "/tmp"},
    ]
    volumes = [
        {"name": "script", "secret": {"secret_name": Code(f"{config}.metadata.name")}}
        if secret_script
        else {"name": "script", "config_map": {"name": Code(f"{config}.metadata.name")}},
        {"name": "tmp", "empty_dir": {}},
    ]
    if token is None:
        mounts.append({"name": "admin", "mount_path": "/admin", "read_only": True})
        volumes.append(
            {
                "name": "admin",
                "secret": {
                    "secret_name": admin_secret_name(store),
                    "items": [{"key": "password", "path": "password"}],
                    "default_mode": 0o440,
                },
            }
        )
    if token is not None:
        mounts.append({"name": "token", "mount_path": "/token", "read_only": True})
        volumes.append({"name": "token", "empty_dir": {"medium": "Memory", "size_limit": "1Mi"}})
    container = {
        "name": "user",
        "image": CLIENT_IMAGES[engine],
        "image_pull_policy": "Always",
        "command": command,
        "env": env,
        "volume_mounts": mounts,
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
        "security_context": security_context,
    }
    pod: dict = {
        "restart_policy": "OnFailure",
        "automount_service_account_token": False,
        "security_context": {
            "run_as_non_root": True,
            # The admin Secret's file is readable by this group only.
            "fs_group": RUN_AS,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    labels = dict(MANAGED_BY)
    if token is not None:
        pod["service_account_name"] = token.service_account
        pod["init_containers"] = [
            {
                "name": "token",
                "image": token.image,
                "image_pull_policy": "Always",
                "command": token.command,
                "env": token.env,
                "volume_mounts": [
                    {"name": "token", "mount_path": "/token"},
                    {"name": "tmp", "mount_path": "/tmp"},
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "512Mi"},
                },
                "security_context": security_context,
            }
        ]
        labels |= token.pod_labels
    return prog.resource(
        ("database_user", store.name),
        "kubernetes.batch.v1.Job",
        f"{store.name}-user",
        {
            "metadata": {"name": f"{base}-{digest}"} | meta,
            "spec": {
                "backoff_limit": 6,
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        },
        line,
        {"provider": provider},
    )
