"""Datastores on AWS (layer 5): RDS, ElastiCache, SQS and DynamoDB, private and
encrypted.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.providers.aws.common import opts, unique_name
from crosswalk.providers.aws.rules import aurora_version
from crosswalk.providers.common import deletion_protection, moved_from, protect
from crosswalk.providers.kubernetes.database_users import emit_admin_secret

DB_SIZES = {
    "small": "db.t4g.medium",
    "medium": "db.r6g.large",
    "large": "db.r6g.xlarge",
    "xlarge": "db.r6g.2xlarge",
}


CACHE_SIZES = {
    "small": "cache.t4g.small",
    "medium": "cache.r7g.large",
    "large": "cache.r7g.xlarge",
    "xlarge": "cache.r7g.2xlarge",
}


DB_ENGINES = {"postgres": ("postgres", "16", 5432), "mysql": ("mysql", "8.0", 3306)}

# What a SQL datastore's parameter group sets: TLS only, and a log of who
# connected, what changed the schema and what ran slowly (CIS asks for these).
DB_PARAMETERS = {
    "postgres": {
        "rds.force_ssl": "1",
        "log_connections": "1",
        "log_disconnections": "1",
        "log_statement": "ddl",
        "log_min_duration_statement": "1000",
        "log_lock_waits": "1",
    },
    "mysql": {
        "require_secure_transport": "ON",
        "slow_query_log": "1",
        "long_query_time": "1",
        "log_output": "FILE",
        "local_infile": "0",
    },
}
DB_USER_ARN_PREFIX = '''
def db_user_arn_prefix(instance_arn, resource_id):
    """The ARN of an RDS instance's IAM database users, up to the user's name."""

    def prefix(values):
        region, account = values[0].split(":")[3:5]
        return f"arn:aws:rds-db:{region}:{account}:dbuser:{values[1]}/"

    return pulumi.Output.all(instance_arn, resource_id).apply(prefix)
'''
PASSWORD_OF = '''
def password_of(secret_string):
    """The password in an RDS-managed master user secret."""
    return json.loads(secret_string)["password"]
'''
# Seconds between RDS Enhanced Monitoring samples when it is on.
MONITORING_INTERVAL = 60


def parameter_family(engine: str, version: str) -> str:
    """The parameter group family of an engine version: postgres16, mysql8.0."""
    parts = version.split(".")
    return engine + (parts[0] if engine == "postgres" else ".".join(parts[:2]))


def emit_datastore(
    ctx, provider, k8s_provider, store, private_subnets, vpc_id, nodes_sg, monitoring_role
) -> None:
    p, prog = ctx.platform, ctx.program
    line = ctx.line(store.path)
    # Pulumi names follow platform.yaml; names in AWS stay those the datastore
    # was created with (`renamedFrom`), so a rename replaces nothing.
    base = f"{p.name}-{store.name}"
    key = f"datastores.{store.name}"
    protected = deletion_protection(ctx)

    def store_resource(
        cls: str,
        kwargs: dict,
        suffix: str = "",
        name_suffix: str = "",
        holds_data: bool = False,
        **extra,
    ) -> Code:
        """One of the datastore's resources: named after it, with its provider."""
        var = ("datastore", store.name, suffix) if suffix else ("datastore", store.name)
        moved = moved_from(lambda n: f"{p.name}-{n}{name_suffix}", store)
        kept = protect(ctx) if holds_data else {}
        return prog.resource(
            var, cls, base + name_suffix, kwargs, line, opts(provider, **extra, **moved, **kept)
        )

    def per_env(name: str, value_in):
        """A value of the datastore as each environment sets it."""
        return ctx.setting(f"{key}.{name}", lambda q, env: value_in(q.datastore(store.name)))

    def security_group(port: int) -> Code:
        return store_resource(
            "aws.ec2.SecurityGroup",
            {
                "description": f"{store.engine} {store.cloud_name}: reachable only from the cluster",
                "vpc_id": vpc_id,
                "ingress": [
                    {
                        "description": "from cluster nodes and pods",
                        "protocol": "tcp",
                        "from_port": port,
                        "to_port": port,
                        "security_groups": [nodes_sg],
                    }
                ],
            },
            suffix="sg",
        )

    if store.engine in DB_ENGINES:
        engine, default_version, port = DB_ENGINES[store.engine]
        sg = security_group(port)
        subnets = store_resource(
            "aws.rds.SubnetGroup", {"subnet_ids": private_subnets}, suffix="subnets"
        )
        interval = per_env(
            "enhancedMonitoring",
            lambda s: MONITORING_INTERVAL if s.enhanced_monitoring is not False else 0,
        )
        monitoring = (
            Code(f"{monitoring_role} if {interval} else None")
            if isinstance(interval, Code)
            else (monitoring_role if interval else None)
        )
        if store.aurora:
            db = _aurora(ctx, provider, store, store_resource, per_env, sg, subnets)
            _aurora_instances(
                ctx, provider, store, db, store_resource, per_env, subnets, interval, monitoring
            )
            address, resource_id = Code(f"{db}.endpoint"), Code(f"{db}.cluster_resource_id")
            database, username = Code(f"{db}.database_name"), Code(f"{db}.master_username")
        else:
            version = store.version or default_version
            parameters = store_resource(
                "aws.rds.ParameterGroup",
                {
                    "family": parameter_family(engine, version),
                    "description": f"{store.engine} {store.cloud_name}: TLS only, connection and "
                    "slow-query logs",
                    "parameters": [
                        {"name": name, "value": value}
                        for name, value in sorted(DB_PARAMETERS[engine].items())
                    ],
                },
                suffix="parameters",
                name_suffix="-parameters",
            )
            db = store_resource(
                "aws.rds.Instance",
                {
                    "engine": engine,
                    "engine_version": version,
                    "parameter_group_name": Code(f"{parameters}.name"),
                    "instance_class": per_env(
                        "instanceClass", lambda s: s.instance_class or DB_SIZES[s.size]
                    ),
                    "allocated_storage": per_env("storageGb", lambda s: s.storage_gb),
                    "storage_type": "gp3",
                    "storage_encrypted": True,
                    "db_name": store.cloud_name.replace("-", "_"),
                    "username": "crosswalk",
                    "manage_master_user_password": True,
                    "db_subnet_group_name": Code(f"{subnets}.name"),
                    "vpc_security_group_ids": [Code(f"{sg}.id")],
                    "publicly_accessible": False,
                    "multi_az": per_env("highAvailability", lambda s: s.high_availability),
                    "backup_retention_period": per_env(
                        "backupRetentionDays", lambda s: s.backup_retention_days
                    ),
                    "copy_tags_to_snapshot": True,
                    "deletion_protection": protected,
                    "skip_final_snapshot": False,
                    "final_snapshot_identifier": unique_name(
                        ctx, f"{key}.finalSnapshot", store.cloud_name, "final"
                    ),
                    "iam_database_authentication_enabled": True,
                    "auto_minor_version_upgrade": True,
                    "performance_insights_enabled": True,
                    "monitoring_interval": interval,
                    "monitoring_role_arn": monitoring,
                    "enabled_cloudwatch_logs_exports": ["postgresql"]
                    if engine == "postgres"
                    else ["error", "slowquery"],
                },
                holds_data=True,
            )
            address, resource_id = Code(f"{db}.address"), Code(f"{db}.resource_id")
            database, username = Code(f"{db}.db_name"), Code(f"{db}.username")
        prog.export(f"datastore_{store.name}_host", address)
        # Ports travel as strings: apps put them in Secrets.
        prog.export(f"datastore_{store.name}_port", Code(f"{db}.port.apply(str)"))
        prog.export(f"datastore_{store.name}_database", database)
        prog.export(f"datastore_{store.name}_username", username)
        # Apps sign in with IAM as users of their own (rds-db:connect on
        # dbuser:<resource id>/<user>), which their stacks' Jobs make with the
        # master password: it reaches only a Secret in the users namespace.
        prog.helpers["db_user_arn_prefix"] = DB_USER_ARN_PREFIX
        prefix = prog.assign(
            prog.name(store.name, "db_user_arn_prefix"),
            Call("db_user_arn_prefix", [Code(f"{db}.arn"), resource_id]),
        )
        prog.export(f"datastore_{store.name}_db_user_arn_prefix", Code(prefix))
        prog.helpers["password_of"] = PASSWORD_OF
        master = prog.assign(
            prog.name(store.name, "master"),
            Call(
                "aws.secretsmanager.get_secret_version_output",
                kwargs={
                    "secret_id": Code(f"{db}.master_user_secrets[0].secret_arn"),
                    "opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider}),
                },
            ),
        )
        # Read at each apply: RDS rotates the master password.
        emit_admin_secret(
            ctx,
            k8s_provider,
            store,
            Call(
                "pulumi.Output.secret",
                [Call(f"{master}.secret_string.apply", [Code("password_of")])],
            ),
            line,
        )
    elif store.engine == "redis":
        sg = security_group(6379)
        subnets = store_resource(
            "aws.elasticache.SubnetGroup", {"subnet_ids": private_subnets}, suffix="subnets"
        )
        auth = prog.assign(
            prog.name(store.name, "auth"),
            Call(
                "aws.secretsmanager.get_random_password",
                kwargs={
                    "password_length": 64,
                    "exclude_punctuation": True,
                    "opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider}),
                },
            ),
        )
        token = Code(f"pulumi.Output.secret({auth}.random_password)")
        cache = store_resource(
            "aws.elasticache.ReplicationGroup",
            {
                "description": f"redis {store.cloud_name} of platform {p.name}",
                "engine": "redis",
                "engine_version": store.version or "7.1",
                "node_type": per_env("nodeType", lambda s: s.instance_class or CACHE_SIZES[s.size]),
                "num_cache_clusters": per_env(
                    "cacheClusters", lambda s: 2 if s.high_availability else 1
                ),
                "automatic_failover_enabled": per_env(
                    "highAvailability", lambda s: s.high_availability
                ),
                "multi_az_enabled": per_env("highAvailability", lambda s: s.high_availability),
                "port": 6379,
                "subnet_group_name": Code(f"{subnets}.name"),
                "security_group_ids": [Code(f"{sg}.id")],
                "at_rest_encryption_enabled": True,
                "transit_encryption_enabled": True,
                "auth_token": token,
                "snapshot_retention_limit": per_env(
                    "backupRetentionDays", lambda s: s.backup_retention_days
                ),
                "auto_minor_version_upgrade": True,
            },
            holds_data=True,
            additional_secret_outputs=["authToken"],
        )
        prog.export(f"datastore_{store.name}_host", Code(f"{cache}.primary_endpoint_address"))
        prog.export(f"datastore_{store.name}_port", Code(f"{cache}.port.apply(str)"))
        prog.export(f"datastore_{store.name}_password", token)
    elif store.engine == "queue":
        dlq = store_resource(
            "aws.sqs.Queue",
            {"sqs_managed_sse_enabled": True, "message_retention_seconds": 1209600},
            suffix="dead_letters",
            name_suffix="-dead-letters",
            holds_data=True,
        )
        queue = store_resource(
            "aws.sqs.Queue",
            {
                "sqs_managed_sse_enabled": True,
                "visibility_timeout_seconds": 60,
                "redrive_policy": Call(
                    "pulumi.Output.json_dumps",
                    [{"deadLetterTargetArn": Code(f"{dlq}.arn"), "maxReceiveCount": 5}],
                ),
            },
            holds_data=True,
        )
        prog.export(f"datastore_{store.name}_url", Code(f"{queue}.url"))
        prog.export(f"datastore_{store.name}_arn", Code(f"{queue}.arn"))
    else:  # document
        table = store_resource(
            "aws.dynamodb.Table",
            {
                "billing_mode": "PAY_PER_REQUEST",
                "hash_key": "pk",
                "range_key": "sk",
                "attributes": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}],
                "point_in_time_recovery": {"enabled": True},
                "server_side_encryption": {"enabled": True},
                "deletion_protection_enabled": protected,
            },
            holds_data=True,
        )
        prog.export(f"datastore_{store.name}_table", Code(f"{table}.name"))
        prog.export(f"datastore_{store.name}_arn", Code(f"{table}.arn"))


# Aurora: a writer, and with `highAvailability` a reader in another zone
# (it takes over when the writer's zone fails).
AURORA_INSTANCES = 2
# Serverless v2 capacity (ACUs) by size: from what idles to what `size` names.
SERVERLESS_CAPACITY = {
    "small": (0.5, 4),
    "medium": (1, 16),
    "large": (2, 64),
    "xlarge": (4, 128),
}
# How far an Aurora MySQL cluster can be rewound in place (seconds).
BACKTRACK_WINDOW = 24 * 3600
AURORA_LOGS = {"postgres": ["postgresql"], "mysql": ["audit", "error", "slowquery"]}


def _aurora(ctx, provider, store, store_resource, per_env, sg, subnets) -> Code:
    """An Aurora cluster: private, encrypted, IAM sign-in, the parameters of
    its engine's instances (TLS only, logs), backups and deletion protection
    as for an instance; backtracking on MySQL."""
    engine = f"aurora-{'postgresql' if store.engine == 'postgres' else 'mysql'}"
    version = aurora_version(store)
    parameters = {
        name: value
        for name, value in DB_PARAMETERS[store.engine].items()
        if name != "local_infile"  # Aurora MySQL keeps it off and fixed
    }
    group = store_resource(
        "aws.rds.ClusterParameterGroup",
        {
            "family": f"{engine}{version.split('.')[0] if store.engine == 'postgres' else '8.0'}",
            "description": f"{store.engine} {store.cloud_name}: TLS only, connection and "
            "slow-query logs",
            "parameters": [{"name": n, "value": v} for n, v in sorted(parameters.items())],
        },
        suffix="parameters",
        name_suffix="-parameters",
    )
    args = {
        "engine": engine,
        "engine_version": version,
        "engine_mode": "provisioned",
        "db_cluster_parameter_group_name": Code(f"{group}.name"),
        "database_name": store.cloud_name.replace("-", "_"),
        "master_username": "crosswalk",
        "manage_master_user_password": True,
        "db_subnet_group_name": Code(f"{subnets}.name"),
        "vpc_security_group_ids": [Code(f"{sg}.id")],
        "storage_encrypted": True,
        # The platform key, as for the buckets and the cluster's secrets (a
        # cluster cannot change its key later: it is set from the start).
        "kms_key_id": ctx.upstream("02-managed-infra", "secrets_key_arn"),
        "iam_database_authentication_enabled": True,
        "backup_retention_period": per_env(
            "backupRetentionDays", lambda s: s.backup_retention_days
        ),
        "copy_tags_to_snapshot": True,
        "deletion_protection": deletion_protection(ctx),
        "skip_final_snapshot": False,
        "final_snapshot_identifier": unique_name(
            ctx, f"datastores.{store.name}.finalSnapshot", store.cloud_name, "final"
        ),
        "enabled_cloudwatch_logs_exports": AURORA_LOGS[store.engine],
    }
    if store.flavor == "aurora-serverless":
        args["serverlessv2_scaling_configuration"] = {
            "min_capacity": per_env("minCapacity", lambda s: SERVERLESS_CAPACITY[s.size][0]),
            "max_capacity": per_env("maxCapacity", lambda s: SERVERLESS_CAPACITY[s.size][1]),
        }
    elif store.engine == "mysql":
        args["backtrack_window"] = BACKTRACK_WINDOW
    return store_resource("aws.rds.Cluster", args, suffix="cluster", holds_data=True)


def _aurora_instances(
    ctx, provider, store, cluster, store_resource, per_env, subnets, interval, monitoring
) -> None:
    prog = ctx.program
    zones = prog.assign(
        prog.name(store.name, "zones"),
        Call(
            "aws.get_availability_zones",
            kwargs={
                "state": "available",
                "opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider}),
            },
        ),
    )
    serverless = store.flavor == "aurora-serverless"
    standby = per_env("highAvailability", lambda s: s.high_availability)
    for index in range(AURORA_INSTANCES if standby is not False else 1):
        start = len(prog.statements)
        store_resource(
            "aws.rds.ClusterInstance",
            {
                "cluster_identifier": Code(f"{cluster}.id"),
                # The SDK types an instance's engine as its enum.
                "engine": Code(
                    "aws.rds.EngineType."
                    + ("AURORA_POSTGRESQL" if store.engine == "postgres" else "AURORA_MYSQL")
                ),
                "engine_version": Code(f"{cluster}.engine_version"),
                "instance_class": "db.serverless"
                if serverless
                else per_env("instanceClass", lambda s: s.instance_class or DB_SIZES[s.size]),
                "availability_zone": Code(f"{zones}.names[{index}]"),
                "db_subnet_group_name": Code(f"{subnets}.name"),
                "publicly_accessible": False,
                "promotion_tier": index,
                "auto_minor_version_upgrade": True,
                "performance_insights_enabled": True,
                "monitoring_interval": interval,
                "monitoring_role_arn": monitoring,
                "copy_tags_to_snapshot": True,
            },
            suffix=str(index),
            name_suffix=f"-{index}",
        )
        if index > 0 and standby is not True:
            # Environments differ: the reader exists only where they ask for it.
            prog.block(f"if {standby}:", start)
