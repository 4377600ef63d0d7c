"""Datastores on GCP (layer 5): Cloud SQL, Memorystore, Pub/Sub and Firestore,
private and encrypted.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.common import deletion_protection, moved_from, protect
from crosswalk.providers.gcp.common import (
    WORKLOAD_IDENTITY_ANNOTATION,
    account_member,
    cel_string,
    db_admin_account_output,
    gcp_id,
    opts,
    project,
    region,
    service_agent,
    short_role,
    var_part,
)
from crosswalk.providers.gcp.rules import (
    REDIS_MEMORY_GB,
    alloydb_version,
    gcp_name,
    redis_version,
    sql_version,
)
from crosswalk.providers.kubernetes import database_users

DB_TIERS = {
    "small": "db-custom-1-3840",
    "medium": "db-custom-2-7680",
    "large": "db-custom-4-15360",
    "xlarge": "db-custom-8-30720",
}


DB_PORTS = {"postgres": 5432, "mysql": 3306}


# Cloud SQL's database flags, per engine: IAM authentication (apps log in as
# their Google service account: no password exists) and the CIS benchmark's
# logging and hardening flags (checkov's CKV_GCP_50..57, CKV_GCP_108..111,
# CKV2_GCP_13). Postgres logs every connection, DDL statement, lock wait and
# error statement, and loads pgAudit for schema and role changes.
DATABASE_FLAGS = {
    "postgres": (
        ("cloudsql.iam_authentication", "on"),
        ("log_connections", "on"),
        ("log_disconnections", "on"),
        ("log_checkpoints", "on"),
        ("log_lock_waits", "on"),
        ("log_duration", "on"),
        ("log_hostname", "on"),
        ("log_statement", "ddl"),
        ("log_min_messages", "warning"),
        ("log_min_error_statement", "error"),
        ("log_min_duration_statement", "-1"),
        ("cloudsql.enable_pgaudit", "on"),
        ("pgaudit.log", "ddl,role"),
    ),
    "mysql": (
        ("cloudsql_iam_authentication", "on"),
        ("local_infile", "off"),
        ("skip_show_database", "on"),
    ),
}


# The database user Cloud SQL makes of a service account, per engine.
IAM_USERS = {
    "postgres": '''
def postgres_iam_user(email):
    """PostgreSQL's user for a service account: its email without the domain suffix."""
    return email.removesuffix(".gserviceaccount.com")
''',
    "mysql": '''
def mysql_iam_user(email):
    """MySQL's user for a service account: its email up to the @."""
    return email.split("@")[0]
''',
}


def iam_user_name(prog, store, email: Code) -> Call:
    """The Cloud SQL user of a service account whose email is an Output, as the
    datastore's engine names it (the program gets the engine's helper)."""
    helper = f"{store.engine}_iam_user"
    prog.helpers[helper] = IAM_USERS[store.engine]
    return Call(f"{email}.apply", [Code(helper)])


def _names(ctx, store, limit: int) -> tuple[str, object]:
    """A datastore's Pulumi name and the aliases of a resource named
    `<Pulumi name><suffix>` (its name in GCP is datastore_name's)."""
    p = ctx.platform
    return (
        gcp_id(limit, p.name, store.name),
        lambda suffix="": moved_from(lambda n: gcp_id(limit, p.name, n) + suffix, store),
    )


# The longest id GCP takes for each engine's instance or database.
NAME_LIMITS = {"postgres": 84, "mysql": 84, "redis": 40, "queue": 255, "document": 63}
ALLOYDB_NAME_LIMIT = 63  # an AlloyDB cluster's or instance's id (RFC 1035)


def datastore_id(platform, store, *suffix: str) -> str:
    """The project-unique id of a datastore (or of one of its parts) as an
    environment names it (rules.gcp_name), after the name it was created with
    (`renamedFrom`): the apps' grants name it too."""
    limit = ALLOYDB_NAME_LIMIT if store.alloydb else NAME_LIMITS[store.engine]
    return gcp_name(platform, limit, store.cloud_name, *suffix)


def datastore_name(ctx, store, *suffix: str) -> str | Code:
    """datastore_id, per environment."""
    key = ".".join(("datastore", store.name, *suffix))
    return ctx.setting(f"names.{key}", lambda q, env: datastore_id(q, store, *suffix))


def _per_env(ctx, store, name: str, value_in):
    """A value of the datastore as each environment sets it."""
    return ctx.setting(
        f"datastores.{store.name}.{name}", lambda q, env: value_in(q.datastore(store.name))
    )


def _sql_tier(store) -> str:
    return store.instance_class or DB_TIERS[store.size]


def emit_sql(ctx, provider, k8s_provider, apis, store, network, peering) -> None:
    p, prog = ctx.platform, ctx.program
    line = ctx.line(store.path)
    base, moved = _names(ctx, store, 84)
    name = store.name
    protected = deletion_protection(ctx)
    backups = {
        "enabled": True,
        "start_time": "02:00",
        "transaction_log_retention_days": _per_env(
            ctx, store, "transactionLogRetentionDays", lambda s: min(s.backup_retention_days, 7)
        ),
        "backup_retention_settings": {
            "retained_backups": _per_env(
                ctx, store, "backupRetentionDays", lambda s: s.backup_retention_days
            ),
            "retention_unit": "COUNT",
        },
    }
    if store.engine == "postgres":
        backups["point_in_time_recovery_enabled"] = True
    else:
        backups["binary_log_enabled"] = True
    instance = prog.resource(
        ("datastore", var_part(name)),
        "gcp.sql.DatabaseInstance",
        base,
        {
            "name": datastore_name(ctx, store),
            "database_version": sql_version(store.engine, store.version),
            "region": region(ctx),
            "deletion_protection": protected,
            "settings": {
                "tier": _per_env(ctx, store, "tier", _sql_tier),
                "edition": _per_env(
                    ctx,
                    store,
                    "edition",
                    lambda s: (
                        "ENTERPRISE_PLUS"
                        if _sql_tier(s).startswith("db-perf-optimized")
                        else "ENTERPRISE"
                    ),
                ),
                "availability_type": ctx.setting(
                    f"datastores.{name}.availabilityType",
                    lambda q, env: "REGIONAL" if q.datastore(name).high_availability else "ZONAL",
                ),
                "disk_type": "PD_SSD",
                "disk_size": _per_env(ctx, store, "storageGb", lambda s: s.storage_gb),
                "disk_autoresize": True,
                "deletion_protection_enabled": protected,
                # Private IP only, through the Private Service Access peering.
                "ip_configuration": {
                    "ipv4_enabled": False,
                    "private_network": network,
                    "allocated_ip_range": peering,
                    "ssl_mode": "ENCRYPTED_ONLY",
                },
                "backup_configuration": backups,
                "database_flags": [
                    {"name": flag, "value": value} for flag, value in DATABASE_FLAGS[store.engine]
                ],
                "insights_config": {"query_insights_enabled": True},
                "maintenance_window": {"day": 7, "hour": 3, "update_track": "stable"},
            },
        },
        line,
        opts(provider, apis, **moved(), **protect(ctx)),
    )
    database = prog.resource(
        ("datastore", var_part(name), "database"),
        "gcp.sql.Database",
        f"{base}-{name}",
        {"name": store.cloud_name.replace("-", "_"), "instance": Code(f"{instance}.name")},
        line,
        opts(
            provider,
            apis,
            **moved_from(lambda n: f"{gcp_id(84, p.name, n)}-{n}", store),
            **protect(ctx),
        ),
    )
    prog.export(f"datastore_{name}_instance", Code(f"{instance}.name"))
    prog.export(f"datastore_{name}_connection_name", Code(f"{instance}.connection_name"))
    prog.export(f"datastore_{name}_host", Code(f"{instance}.private_ip_address"))
    prog.export(f"datastore_{name}_database", Code(f"{database}.name"))
    _sql_admin(ctx, provider, k8s_provider, store, instance)


def _sql_admin(ctx, provider, k8s_provider, store, instance: Code) -> None:
    """The administrator the apps' database user Jobs sign in as: the identity
    stack's service account of the datastore, a Cloud SQL IAM user in
    cloudsqlsuperuser that may log in to this instance only, acting through
    one Kubernetes service account of the users namespace
    (providers/kubernetes/database_users.py). No password exists, and no app
    holds this identity."""
    p, prog = ctx.platform, ctx.program
    line = ctx.line(store.path)
    base = f"{gcp_id(84, p.name, store.name)}-db-admin"

    def moved(suffix: str) -> dict:
        return moved_from(lambda n: f"{gcp_id(84, p.name, n)}-db-admin{suffix}", store)

    email = ctx.upstream("01-identity", db_admin_account_output(store))
    # Signing in to the server needs cloudsql.instances.login only: the Job
    # connects to the private address, not through the connector.
    prog.resource(
        ("datastore", var_part(store.name), "admin", "login"),
        "gcp.projects.IAMMember",
        f"{base}-instanceUser",
        {
            "project": project(ctx),
            "role": "roles/cloudsql.instanceUser",
            "member": account_member(email),
            "condition": {
                "title": f"{store.cloud_name}-only",
                "expression": only_datastore(ctx, store, "instances"),
            },
        },
        line,
        opts(provider, **moved("-instanceUser")),
    )
    admin = prog.resource(
        ("datastore", var_part(store.name), "admin"),
        "gcp.sql.User",
        base,
        {
            "instance": Code(f"{instance}.name"),
            "name": iam_user_name(prog, store, email),
            "type": "CLOUD_IAM_SERVICE_ACCOUNT",
            "database_roles": ["cloudsqlsuperuser"],
            # Its grants outlive it: PostgreSQL refuses to drop a role that holds any.
            "deletion_policy": "ABANDON",
        },
        line,
        opts(provider, **moved("")),
    )
    account = database_users.emit_admin_service_account(
        ctx, k8s_provider, store, {WORKLOAD_IDENTITY_ANNOTATION: email}, {}, line
    )
    prog.export(f"datastore_{store.name}_admin", Code(f"{admin}.name"))
    prog.export(f"datastore_{store.name}_admin_service_account", Code(f"{account}.metadata.name"))


# AlloyDB's machine types by portable size (`instanceClass` names another).
ALLOYDB_MACHINES = {
    "small": "n2-highmem-2",
    "medium": "n2-highmem-4",
    "large": "n2-highmem-8",
    "xlarge": "n2-highmem-16",
}
ALLOYDB_API = "alloydb.googleapis.com"
ALLOYDB_AGENT = "gcp-sa-alloydb"  # AlloyDB's service agent, which encrypts with the key
# AlloyDB's database flags: IAM authentication (apps log in as their Google
# service account: no password exists), connection, lock-wait and DDL logs,
# and pgAudit for schema and role changes (as Cloud SQL's postgres).
ALLOYDB_FLAGS = {
    "alloydb.iam_authentication": "on",
    "alloydb.enable_pgaudit": "on",
    "pgaudit.log": "ddl,role",
    "log_connections": "on",
    "log_disconnections": "on",
    "log_lock_waits": "on",
    "log_statement": "ddl",
}
WEEK = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def _alloydb_machine(store) -> str:
    return store.instance_class or ALLOYDB_MACHINES[store.size]


def emit_alloydb(ctx, provider, k8s_provider, apis, store, network, peering) -> None:
    """`flavor: alloydb`: an AlloyDB cluster on the platform's network through
    the Private Service Access peering Cloud SQL uses, encrypted (data,
    continuous and daily backups) with the platform's AlloyDB key, and its
    primary instance: no public address, TLS only, IAM sign-in. Its database
    is made by the apps' user Jobs (AlloyDB's API makes none)."""
    p, prog = ctx.platform, ctx.program
    line = ctx.line(store.path)
    base, moved = _names(ctx, store, ALLOYDB_NAME_LIMIT)
    name = store.name
    protected = deletion_protection(ctx)
    key = ctx.upstream("02-managed-infra", "alloydb_key_id")
    encryption = {"kms_key_name": key}
    cluster = prog.resource(
        ("datastore", var_part(name)),
        "gcp.alloydb.Cluster",
        base,
        {
            "cluster_id": datastore_name(ctx, store),
            "location": region(ctx),
            "display_name": f"{store.cloud_name} of platform {p.name}",
            "database_version": alloydb_version(store.version),
            "network_config": {"network": network, "allocated_ip_range": peering},
            "encryption_config": encryption,
            "continuous_backup_config": {
                "enabled": True,
                "recovery_window_days": _per_env(
                    ctx, store, "backupRetentionDays", lambda s: s.backup_retention_days
                ),
                "encryption_config": encryption,
            },
            "automated_backup_policy": {
                "enabled": True,
                "location": region(ctx),
                "backup_window": "3600s",
                "weekly_schedule": {"days_of_weeks": list(WEEK), "start_times": [{"hours": 2}]},
                "time_based_retention": {
                    "retention_period": _per_env(
                        ctx,
                        store,
                        "backupRetention",
                        lambda s: f"{s.backup_retention_days * 86400}s",
                    )
                },
                "encryption_config": encryption,
            },
            "deletion_protection": protected,
        },
        line,
        opts(provider, apis, **moved(), **protect(ctx)),
    )
    instance = prog.resource(
        ("datastore", var_part(name), "primary"),
        "gcp.alloydb.Instance",
        f"{base}-primary",
        {
            "cluster": Code(f"{cluster}.name"),
            "instance_id": datastore_name(ctx, store, "primary"),
            "instance_type": "PRIMARY",
            "availability_type": ctx.setting(
                f"datastores.{name}.availabilityType",
                lambda q, env: "REGIONAL" if q.datastore(name).high_availability else "ZONAL",
            ),
            "machine_config": {
                "machine_type": _per_env(ctx, store, "machineType", _alloydb_machine)
            },
            "database_flags": dict(ALLOYDB_FLAGS),
            # Private address only; every connection encrypted.
            "network_config": {"enable_public_ip": False, "enable_outbound_public_ip": False},
            "client_connection_config": {"ssl_config": {"ssl_mode": "ENCRYPTED_ONLY"}},
            "query_insights_config": {"record_application_tags": True},
        },
        line,
        # (Its data is the cluster's: replacing it loses none.)
        opts(provider, apis, **moved("-primary")),
    )
    prog.export(f"datastore_{name}_cluster", Code(f"{cluster}.name"))
    prog.export(f"datastore_{name}_instance", Code(f"{instance}.name"))
    prog.export(f"datastore_{name}_host", Code(f"{instance}.ip_address"))
    prog.export(f"datastore_{name}_database", store.cloud_name.replace("-", "_"))
    _alloydb_admin(ctx, provider, k8s_provider, store, cluster, instance)


def _alloydb_admin(ctx, provider, k8s_provider, store, cluster: Code, instance: Code) -> None:
    """The administrator of an AlloyDB datastore, as Cloud SQL's (_sql_admin):
    the identity stack's service account, an AlloyDB IAM user in
    alloydbsuperuser. AlloyDB reads no resource names in IAM conditions, so
    its sign-in rights are the project's; it reaches only the clusters that
    have it as a database user (this one)."""
    p, prog = ctx.platform, ctx.program
    line = ctx.line(store.path)
    base = f"{gcp_id(ALLOYDB_NAME_LIMIT, p.name, store.name)}-db-admin"

    def moved(suffix: str) -> dict:
        return moved_from(
            lambda n: f"{gcp_id(ALLOYDB_NAME_LIMIT, p.name, n)}-db-admin{suffix}", store
        )

    email = ctx.upstream("01-identity", db_admin_account_output(store))
    for role in ALLOYDB_SIGN_IN_ROLES:
        prog.resource(
            ("datastore", var_part(store.name), "admin", short_role(role)),
            "gcp.projects.IAMMember",
            f"{base}-{short_role(role)}",
            {"project": project(ctx), "role": role, "member": account_member(email)},
            line,
            opts(provider, **moved(f"-{short_role(role)}")),
        )
    admin = prog.resource(
        ("datastore", var_part(store.name), "admin"),
        "gcp.alloydb.User",
        base,
        {
            "cluster": Code(f"{cluster}.name"),
            "user_id": iam_user_name(prog, store, email),
            "user_type": "ALLOYDB_IAM_USER",
            "database_roles": ["alloydbsuperuser"],
            # Its grants outlive it: PostgreSQL refuses to drop a role that holds any.
            "deletion_policy": "ABANDON",
        },
        line,
        # A cluster takes users once its primary instance runs.
        opts(provider, **moved(""), depends_on=[instance]),
    )
    account = database_users.emit_admin_service_account(
        ctx, k8s_provider, store, {WORKLOAD_IDENTITY_ANNOTATION: email}, {}, line
    )
    prog.export(f"datastore_{store.name}_admin", Code(f"{admin}.user_id"))
    prog.export(f"datastore_{store.name}_admin_service_account", Code(f"{account}.metadata.name"))


# What an AlloyDB IAM user's Google account needs to sign in with a token.
ALLOYDB_SIGN_IN_ROLES = ("roles/alloydb.databaseUser", "roles/serviceusage.serviceUsageConsumer")


def emit_redis(ctx, provider, apis, store, network, peering) -> None:
    p, prog = ctx.platform, ctx.program
    name = store.name
    base, moved = _names(ctx, store, 40)
    cache = prog.resource(
        ("datastore", var_part(name)),
        "gcp.redis.Instance",
        base,
        {
            "name": datastore_name(ctx, store),
            "display_name": f"redis {store.cloud_name} of platform {p.name}",
            "region": region(ctx),
            "tier": ctx.setting(
                f"datastores.{name}.tier",
                lambda q, env: "STANDARD_HA" if q.datastore(name).high_availability else "BASIC",
            ),
            "memory_size_gb": _per_env(
                ctx, store, "memorySizeGb", lambda s: REDIS_MEMORY_GB[s.size]
            ),
            "redis_version": redis_version(store.version),
            "authorized_network": network,
            "connect_mode": "PRIVATE_SERVICE_ACCESS",
            "reserved_ip_range": peering,
            "auth_enabled": True,
            "transit_encryption_mode": "SERVER_AUTHENTICATION",
            "persistence_config": {
                "persistence_mode": "RDB",
                "rdb_snapshot_period": "SIX_HOURS",
            },
            "deletion_protection": deletion_protection(ctx),
        },
        ctx.line(store.path),
        opts(
            provider,
            apis,
            additional_secret_outputs=["authString"],
            **moved(),
            **protect(ctx),
        ),
    )
    prog.export(f"datastore_{name}_host", Code(f"{cache}.host"))
    prog.export(f"datastore_{name}_port", Code(f"{cache}.port"))
    prog.export(f"datastore_{name}_password", Code(f"pulumi.Output.secret({cache}.auth_string)"))
    prog.export(f"datastore_{name}_ca_certificate", Code(f"{cache}.server_ca_certs[0].cert"))


def emit_queue(ctx, provider, apis, store, project_info) -> None:
    p, prog = ctx.platform, ctx.program
    name = store.name
    base = f"{p.name}-{name}"

    def moved(suffix: str = "") -> dict:
        return moved_from(lambda n: f"{p.name}-{n}{suffix}", store)

    line = ctx.line(store.path)
    week = "604800s"
    dead_letters = prog.resource(
        ("datastore", var_part(name), "dead_letters"),
        "gcp.pubsub.Topic",
        f"{base}-dead-letters",
        {
            "name": datastore_name(ctx, store, "dead-letters"),
            "message_retention_duration": week,
        },
        line,
        opts(provider, apis, **moved("-dead-letters"), **protect(ctx)),
    )
    # Messages sent to a topic nobody subscribes to are lost: keep the dead ones.
    prog.resource(
        ("datastore", var_part(name), "dead_letters_subscription"),
        "gcp.pubsub.Subscription",
        f"{base}-dead-letters",
        {
            "name": datastore_name(ctx, store, "dead-letters"),
            "topic": Code(f"{dead_letters}.id"),
            "message_retention_duration": week,
            "expiration_policy": {"ttl": ""},
        },
        line,
        opts(provider, apis, **moved("-dead-letters"), **protect(ctx)),
    )
    topic = prog.resource(
        ("datastore", var_part(name)),
        "gcp.pubsub.Topic",
        base,
        {"name": datastore_name(ctx, store), "message_retention_duration": week},
        line,
        opts(provider, apis, **moved(), **protect(ctx)),
    )
    subscription = prog.resource(
        ("datastore", var_part(name), "subscription"),
        "gcp.pubsub.Subscription",
        base,
        {
            "name": datastore_name(ctx, store),
            "topic": Code(f"{topic}.id"),
            "ack_deadline_seconds": 60,
            "message_retention_duration": week,
            "expiration_policy": {"ttl": ""},
            "retry_policy": {"minimum_backoff": "10s", "maximum_backoff": "600s"},
            "dead_letter_policy": {
                "dead_letter_topic": Code(f"{dead_letters}.id"),
                "max_delivery_attempts": 5,
            },
        },
        line,
        opts(provider, apis, **moved(), **protect(ctx)),
    )
    # Pub/Sub's service agent moves undeliverable messages to the dead-letter topic.
    agent = service_agent(project_info, "gcp-sa-pubsub")
    prog.resource(
        ("datastore", var_part(name), "dead_letters_publisher"),
        "gcp.pubsub.TopicIAMMember",
        f"{base}-dead-letters-publisher",
        {
            "topic": Code(f"{dead_letters}.id"),
            "role": "roles/pubsub.publisher",
            "member": agent,
        },
        line,
        opts(provider, apis, **moved("-dead-letters-publisher")),
    )
    prog.resource(
        ("datastore", var_part(name), "dead_letters_subscriber"),
        "gcp.pubsub.SubscriptionIAMMember",
        f"{base}-dead-letters-subscriber",
        {
            "subscription": Code(f"{subscription}.id"),
            "role": "roles/pubsub.subscriber",
            "member": agent,
        },
        line,
        opts(provider, apis, **moved("-dead-letters-subscriber")),
    )
    prog.export(f"datastore_{name}_topic", Code(f"{topic}.id"))
    prog.export(f"datastore_{name}_subscription", Code(f"{subscription}.id"))
    return topic, dead_letters  # what pipelines read from and fail to


def emit_document(ctx, provider, apis, store) -> None:
    prog = ctx.program
    name = store.name
    base, moved = _names(ctx, store, 63)
    database = prog.resource(
        ("datastore", var_part(name)),
        "gcp.firestore.Database",
        base,
        {
            "name": datastore_name(ctx, store),
            "location_id": region(ctx),
            "type": "FIRESTORE_NATIVE",
            "concurrency_mode": "OPTIMISTIC",
            "point_in_time_recovery_enablement": "POINT_IN_TIME_RECOVERY_ENABLED",
            "delete_protection_state": ctx.setting(
                "deleteProtectionState",
                lambda q, env: (
                    "DELETE_PROTECTION_ENABLED"
                    if q.deletion_protection
                    else "DELETE_PROTECTION_DISABLED"
                ),
            ),
            "deletion_policy": "DELETE",
        },
        ctx.line(store.path),
        opts(provider, apis, **moved(), **protect(ctx)),
    )
    prog.resource(
        ("datastore", var_part(name), "backups"),
        "gcp.firestore.BackupSchedule",
        base,
        {
            "database": Code(f"{database}.name"),
            "daily_recurrence": {},
            "retention": _per_env(
                ctx, store, "backupRetention", lambda s: f"{s.backup_retention_days * 86400}s"
            ),
        },
        ctx.line(store.path + ("backupRetentionDays",)),
        opts(provider, apis, **moved()),
    )
    prog.export(f"datastore_{name}_database", Code(f"{database}.name"))


def only_datastore(ctx: StackContext, store, collection: str) -> str | Code:
    """An IAM condition that holds for one datastore only, per environment
    (its project and name may differ)."""
    return ctx.setting(
        f"datastores.{store.name}.condition",
        lambda q, env: (
            "resource.name == "
            + cel_string(f"projects/{q.cloud.project}/{collection}/{datastore_id(q, store)}")
        ),
    )
