"""Apps' secrets on Azure: a Key Vault of their own (the apps' vault, in a
resource group of its own that the identity stack makes), one secret per
secret an app names, made by the app-services stack with a disabled
placeholder version (a person sets the value); each app's stack lets only
the app's managed identity read its own secrets, and the External Secrets
Operator reads them as the app's Kubernetes ServiceAccount (workload
identity).

Why a vault and a group of their own: each app's identity and grants live in
its own stack, so the apps' deployer assigns Key Vault Secrets User. An ABAC
condition limits the roles an assignment may carry, not its scope, so it may
assign that role only on a group that holds nothing else: the platform's vault
keeps the MySQL administrators' passwords (providers/azure/identity.py).
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.rules import APP_KEY_VAULT, app_secret_name
from crosswalk.providers.common import moved_from, protect

READER = "Key Vault Secrets User"
# Key Vault takes no secret without a value. This one is no secret, and its
# version is disabled: nothing can read it, so the app's deploy fails (its
# ExternalSecret is not ready) until a person sets the real value, which makes
# a new, enabled version. The program never changes a secret's properties
# again (`ignore_changes`): they are its current version's, a person's.
PLACEHOLDER = "unset: set this secret's value in Key Vault"


def secret_output(app, secret, what: str) -> str:
    return f"app_{app.name}_secret_{secret.name}_{what}"


def emit_app_secrets(az: AzureProgram) -> None:
    """The apps' vault, its private endpoint and each app's secrets (app-services)."""
    p, ctx = az.p, az.ctx
    apps = [app for app in p.apps if app.secrets]
    if not apps:
        return
    az.use("keyvault")
    group = ctx.upstream("01-identity", "app_secrets_resource_group_name")
    line = ctx.line(apps[0].path + ("secrets",))
    vault = az.res(
        "app_secrets_vault",
        "keyvault.Vault",
        f"{p.name}-app-secrets",
        {
            "resource_group_name": group,
            "vault_name": az.name_of(APP_KEY_VAULT),
            "location": az.location,
            "properties": {
                "tenant_id": Code(f"{az.client}.tenant_id"),
                "sku": {"family": "A", "name": Code("keyvault.SkuName.STANDARD")},
                # Roles only (no access policies): each app reads its own secrets.
                "enable_rbac_authorization": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": 90,
                "enable_purge_protection": True,
                # As the platform's vault: Azure Resource Manager makes the
                # secrets; the operator reads them through the endpoint below.
                "public_network_access": "Disabled",
                "network_acls": {"default_action": "Deny", "bypass": "AzureServices"},
            },
            "tags": az.tags,
        },
        line,
        **protect(ctx),
    )
    az.private_endpoint(
        "app_secrets_vault",
        f"{p.name}-app-secrets",
        "vault",
        vault,
        ctx.upstream("02-managed-infra", "endpoints_subnet_id"),
        None,
        line,
        zone_id=ctx.upstream("02-managed-infra", "key_vault_zone_id"),
    )
    for app in apps:
        for secret in app.secrets:
            made = az.res(
                ("app_secret", app.name, secret.name),
                "keyvault.Secret",
                f"{p.name}-{app.name}/{secret.name}",
                {
                    "resource_group_name": group,
                    "vault_name": Code(f"{vault}.name"),
                    "secret_name": app_secret_name(app, secret),
                    "properties": {
                        "value": PLACEHOLDER,
                        "attributes": {"enabled": False},
                        "content_type": f"secret {secret.name} of app {app.name}",
                    },
                    "tags": az.tags,
                },
                ctx.line(secret.path),
                ignore_changes=["properties"],
                **protect(ctx),
                **moved_from(lambda a, secret=secret: f"{p.name}-{a}/{secret.name}", app),
            )
            az.prog.export(secret_output(app, secret, "id"), Code(f"{made}.id"))
            az.prog.export(secret_output(app, secret, "name"), Code(f"{made}.name"))
    az.prog.export("app_secrets_vault_uri", Code(f"{vault}.properties.vault_uri"))


def emit_app_secret_grants(az: AzureProgram, app, principal: Code) -> list[Code]:
    """Key Vault Secrets User for the app's identity on each of its secrets
    alone (an app stack's)."""
    grants = []
    for secret in app.secrets:
        grants.append(
            az.assign_role(
                (f"app_{app.name}", "secret", secret.name),
                f"{app.name}-secret-{secret.name}",
                READER,
                principal,
                az.ctx.upstream("05-app-services", secret_output(app, secret, "id")),
                az.ctx.line(secret.path),
                "ServicePrincipal",
                opts=moved_from(lambda a, secret=secret: f"{a}-secret-{secret.name}", app),
            )
        )
    return grants


def store_provider(az: AzureProgram, service_account: str) -> dict:
    """The SecretStore's provider: the apps' vault as the app's Kubernetes
    ServiceAccount, federated with its managed identity (whose client id the
    ServiceAccount's annotation gives)."""
    return {
        "azurekv": {
            "authType": "WorkloadIdentity",
            "vaultUrl": az.ctx.upstream("05-app-services", "app_secrets_vault_uri"),
            "tenantId": Code(f"{az.client}.tenant_id"),
            "serviceAccountRef": {"name": service_account},
        }
    }
