"""Apps' secrets on AWS: one Secrets Manager secret per secret an app names,
made empty by the app-services stack (its value is set there by a person,
never through platform.yaml), read only by the app's own role; the External
Secrets Operator copies it into the app's namespace with that role."""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.common import opts
from crosswalk.providers.aws.rules import aws_name
from crosswalk.providers.common import moved_from, protect

READ_ACTIONS = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
# Secrets Manager keeps a deleted secret this long, to restore it.
RECOVERY_DAYS = 30


def secret_name(ctx: StackContext, app, secret):
    """`<platform>[/<environment>]/apps/<app>/<secret>`: the platform's apps'
    secrets share a prefix no other secret has (the workload boundary allows
    reads under it only)."""
    return ctx.setting(
        f"names.appSecret.{app.name}.{secret.name}",
        lambda q, env: aws_name(q, "apps", app.cloud_name, secret.name, limit=512, separator="/"),
    )


def secret_output(app, secret, what: str) -> str:
    return f"app_{app.name}_secret_{secret.name}_{what}"


def emit_app_secrets(ctx: StackContext, provider: Code) -> None:
    p = ctx.platform
    for app in p.apps:
        for secret in app.secrets:
            made = ctx.program.resource(
                ("app_secret", app.name, secret.name),
                "aws.secretsmanager.Secret",
                f"{p.name}-{app.name}/{secret.name}",
                {
                    "name": secret_name(ctx, app, secret),
                    "description": f"Secret {secret.name} of app {app.name}: set its value "
                    "here; only the app's role reads it",
                    "recovery_window_in_days": RECOVERY_DAYS,
                    # The platform key: whoever sets or reads a value needs its use too.
                    "kms_key_id": ctx.upstream("02-managed-infra", "secrets_key_arn"),
                },
                ctx.line(secret.path),
                opts(
                    provider,
                    **protect(ctx),
                    # A renamed app keeps its secrets (and their values).
                    **moved_from(lambda a, secret=secret: f"{p.name}-{a}/{secret.name}", app),
                ),
            )
            ctx.program.export(secret_output(app, secret, "arn"), Code(f"{made}.arn"))
            ctx.program.export(secret_output(app, secret, "name"), Code(f"{made}.name"))


def store_provider(region, service_account: str) -> dict:
    """The SecretStore's provider: Secrets Manager as the app's own
    ServiceAccount, whose IRSA role the operator assumes."""
    return {
        "aws": {
            "service": "SecretsManager",
            "region": region,
            "auth": {"jwt": {"serviceAccountRef": {"name": service_account}}},
        }
    }
