"""Layer 6 on AWS: an app's stack, its IRSA role for the datastores it uses, and
the shared Kubernetes objects.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.aws import app_secrets
from crosswalk.providers.aws.common import aws_provider, irsa_role, region
from crosswalk.providers.aws.datastores import DB_ENGINES, STREAM_APP_ACTIONS
from crosswalk.providers.aws.storage import bucket_output, bucket_statements
from crosswalk.providers.aws.warehouses import warehouse_env, warehouse_statements
from crosswalk.providers.common import moved_from
from crosswalk.providers.kubernetes.database_users import database_user, emit_database_user


def emit_app(ctx: StackContext) -> None:
    p = ctx.platform
    app = p.app(ctx.stack.split("/", 1)[1])
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(app.path)
    )
    parts = k8s.AppCloudParts()
    cloud_policies = []
    stream_key = False  # a stream's records are encrypted with the platform key
    for store_name in app.uses:
        store = p.datastore(store_name)
        prefix = k8s.env_prefix(store.name)

        def out(name: str, store=store) -> Code:
            return ctx.upstream("05-app-services", f"datastore_{store.name}_{name}")

        if store.engine in DB_ENGINES:
            # The app's own database user, made by a Job of this stack, signed
            # in with an IAM token of the app's role: no password.
            user = database_user(app, store.engine)
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": out("port"),
                # MySQL: the database the user owns (providers/kubernetes/database_users.py).
                f"{prefix}_DATABASE": user if store.engine == "mysql" else out("database"),
                f"{prefix}_USERNAME": user,
                f"{prefix}_AUTH": "iam",
            }
            cloud_policies.append(
                (
                    ["rds-db:connect"],
                    Call("pulumi.Output.concat", [out("db_user_arn_prefix"), user]),
                )
            )
            parts.depends_on.append(
                emit_database_user(
                    ctx,
                    k8s_provider,
                    app,
                    store,
                    {n: out(n) for n in ("host", "port", "database", "username")},
                    "rds_iam" if store.engine == "postgres" else "AWSAuthenticationPlugin AS 'RDS'",
                    ctx.line(app.path + ("uses",)),
                )
            )
        elif store.engine == "redis":
            parts.datastore_env[store.name] = {
                f"{prefix}_HOST": out("host"),
                f"{prefix}_PORT": out("port"),
                f"{prefix}_PASSWORD": out("password"),
                f"{prefix}_TLS": "true",
            }
        elif store.engine == "queue":
            parts.datastore_env[store.name] = {f"{prefix}_QUEUE_URL": out("url")}
            cloud_policies.append(
                (
                    [
                        "sqs:SendMessage",
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                    out("arn"),
                )
            )
        elif store.engine == "stream":
            parts.datastore_env[store.name] = {f"{prefix}_STREAM": out("stream")}
            cloud_policies.append((STREAM_APP_ACTIONS, out("arn")))
            stream_key = True
        else:
            parts.datastore_env[store.name] = {f"{prefix}_TABLE": out("table")}
            cloud_policies.append(
                (
                    [
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                    ],
                    out("arn"),
                )
            )
    for use in app.buckets:
        bucket = p.bucket(use.bucket)
        parts.env |= k8s.bucket_env(
            bucket.name,
            ctx.upstream("02-managed-infra", bucket_output(bucket, "name")),
            ctx.upstream("02-managed-infra", bucket_output(bucket, "endpoint")),
        )
    # Statements beyond one action list on one resource: the buckets', the key's.
    extra = bucket_statements(ctx, app) + warehouse_statements(ctx, app)
    parts.env |= warehouse_env(ctx, app)
    for secret in app.secrets:
        cloud_policies.append(
            (
                app_secrets.READ_ACTIONS,
                ctx.upstream("05-app-services", app_secrets.secret_output(app, secret, "arn")),
            )
        )
        parts.secret_keys[secret.name] = ctx.upstream(
            "05-app-services", app_secrets.secret_output(app, secret, "name")
        )
    if stream_key:
        # Kinesis encrypts what the app puts and decrypts what it reads as the app.
        extra.append(
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": ctx.upstream("02-managed-infra", "secrets_key_arn"),
                "Condition": {"StringLike": {"kms:ViaService": "kinesis.*.amazonaws.com"}},
            }
        )
    if app.secrets:
        parts.secret_store = app_secrets.store_provider(region(ctx), app.cloud_name)
        # Their values are encrypted with the platform key: decrypted through Secrets Manager only.
        extra.append(
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": ctx.upstream("02-managed-infra", "secrets_key_arn"),
                "Condition": {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}},
            }
        )
    if cloud_policies or extra:
        provider = aws_provider(ctx)
        statements = [
            {"Effect": "Allow", "Action": actions, "Resource": resource}
            for actions, resource in cloud_policies
        ] + extra
        role = irsa_role(
            ctx,
            provider,
            "app",
            f"{p.name}-app-{app.name}",
            p.namespace(app.namespace).cloud_name,
            app.cloud_name,
            app.path + ("uses",),
            statements,
            moved=moved_from(lambda name: f"{p.name}-app-{name}", app),
        )
        parts.service_account_annotations["eks.amazonaws.com/role-arn"] = Code(f"{role}.arn")
        parts.egress.append(
            {
                "to": [{"ip_block": {"cidr": "0.0.0.0/0"}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            }
        )
    if any(p.datastore(s).engine in ("postgres", "mysql", "redis") for s in app.uses):
        ports = sorted(
            {
                DB_ENGINES[e][2] if e in DB_ENGINES else 6379
                for e in (p.datastore(s).engine for s in app.uses)
                if e not in ("queue", "stream", "document")
            }
        )
        parts.egress.append(
            {
                "to": [{"ip_block": {"cidr": p.network.cidr}}],
                "ports": [{"protocol": "TCP", "port": port} for port in ports],
            }
        )
    k8s.emit_app(ctx, k8s_provider, app, parts)
