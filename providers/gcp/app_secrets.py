"""Apps' secrets on GCP: one Secret Manager secret per secret an app names,
made without a version by the app-services stack (a person adds the value),
which only the app's own service account may access; the External Secrets
Operator reads it as the app's Kubernetes ServiceAccount (workload identity)."""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.common import moved_from, protect
from crosswalk.providers.gcp.common import account_member, app_account_output, opts, unique_name

ACCESSOR = "roles/secretmanager.secretAccessor"


def secret_output(app, secret, what: str) -> str:
    return f"app_{app.name}_secret_{secret.name}_{what}"


def emit_app_secrets(ctx: StackContext, provider: Code, project_id, apis) -> None:
    p = ctx.platform
    for app in p.apps:
        if not app.secrets:
            continue
        reader = account_member(ctx.upstream("01-identity", app_account_output(app)))
        for secret in app.secrets:
            line = ctx.line(secret.path)
            made = ctx.program.resource(
                ("app_secret", app.name, secret.name),
                "gcp.secretmanager.Secret",
                f"{p.name}-{app.name}/{secret.name}",
                {
                    "project": project_id,
                    "secret_id": unique_name(
                        ctx,
                        f"appSecret.{app.name}.{secret.name}",
                        255,
                        "apps",
                        app.cloud_name,
                        secret.name,
                    ),
                    "replication": {"auto": {}},
                    "labels": {"crosswalk-app": app.cloud_name},
                },
                line,
                opts(
                    provider,
                    apis,
                    **protect(ctx),
                    # A renamed app keeps its secrets (and their values).
                    **moved_from(lambda a, secret=secret: f"{p.name}-{a}/{secret.name}", app),
                ),
            )
            ctx.program.resource(
                ("app_secret", app.name, secret.name, "reader"),
                "gcp.secretmanager.SecretIamMember",
                f"{p.name}-{app.name}/{secret.name}-reader",
                {
                    "project": project_id,
                    "secret_id": Code(f"{made}.secret_id"),
                    "role": ACCESSOR,
                    "member": reader,
                },
                line,
                opts(
                    provider,
                    **moved_from(
                        lambda a, secret=secret: f"{p.name}-{a}/{secret.name}-reader", app
                    ),
                ),
            )
            ctx.program.export(secret_output(app, secret, "id"), Code(f"{made}.secret_id"))


def store_provider(project_id, service_account: str) -> dict:
    """The SecretStore's provider: Secret Manager as the app's Kubernetes
    ServiceAccount, linked to its Google service account."""
    return {
        "gcpsm": {
            "projectID": project_id,
            "auth": {"workloadIdentity": {"serviceAccountRef": {"name": service_account}}},
        }
    }
