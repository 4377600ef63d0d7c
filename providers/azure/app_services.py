"""Layer 5 on Azure: DNS, workload identities for external-dns, cert-manager and
apps, the shared charts, and the datastores.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure.common import CLIENT_ID_ANNOTATION, WORKLOAD_IDENTITY_LABEL, var_name
from crosswalk.providers.azure.datastores import emit_datastore
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.common import protect
from crosswalk.providers.kubernetes import charts

COSMOS_DATA_CONTRIBUTOR = (
    "00000000-0000-0000-0000-000000000002"  # Cosmos DB Built-in Data Contributor
)


def emit_app_services(az: AzureProgram) -> None:
    p, prog, ctx = az.p, az.prog, az.ctx
    a = p.app_services
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("appServices",))
    )
    issuer = ctx.upstream("03-cluster", "oidc_issuer_url")
    cloud_values: dict[str, dict] = {}
    if a.dns_zone:
        az.use("dns")
        dns_line = ctx.line(("appServices", "dns"))
        zone = az.res(
            "dns_zone",
            "dns.Zone",
            a.dns_zone,
            {
                "resource_group_name": az.resource_group(),
                "zone_name": a.dns_zone,
                "zone_type": Code("dns.ZoneType.PUBLIC"),
                "location": "global",
                "tags": az.tags,
            },
            dns_line,
            **protect(ctx),
        )
        prog.export("dns_name_servers", Code(f"{zone}.name_servers"))
        group_id = Call(
            "pulumi.Output.concat",
            [
                "/subscriptions/",
                Code(f"{az.client}.subscription_id"),
                "/resourceGroups/",
                az.resource_group(),
            ],
        )
        identity = _workload_identity(
            az,
            "external_dns",
            f"{p.name}-external-dns",
            issuer,
            "external-dns",
            "external-dns",
            dns_line,
        )
        az.assign_role(
            "external_dns_zone",
            f"{p.name}-external-dns-zone",
            "DNS Zone Contributor",
            Code(f"{identity}.principal_id"),
            Code(f"{zone}.id"),
            dns_line,
            "ServicePrincipal",
        )
        # external-dns lists the zones of the resource group it is given.
        az.assign_role(
            "external_dns_group",
            f"{p.name}-external-dns-group",
            "Reader",
            Code(f"{identity}.principal_id"),
            group_id,
            dns_line,
            "ServicePrincipal",
        )
        cloud_values["dns"] = {
            "provider": {"name": "azure"},
            "podLabels": {WORKLOAD_IDENTITY_LABEL: "true"},
            "serviceAccount": {
                "labels": {WORKLOAD_IDENTITY_LABEL: "true"},
                "annotations": {CLIENT_ID_ANNOTATION: Code(f"{identity}.client_id")},
            },
            "secretConfiguration": {
                "enabled": True,
                "mountPath": "/etc/kubernetes/",
                "data": {
                    "azure.json": Call(
                        "pulumi.Output.json_dumps",
                        [
                            {
                                "tenantId": Code(f"{az.client}.tenant_id"),
                                "subscriptionId": Code(f"{az.client}.subscription_id"),
                                "resourceGroup": az.resource_group(),
                                "useWorkloadIdentityExtension": True,
                            }
                        ],
                    )
                },
            },
        }
        if a.email:
            cert_line = ctx.line(("appServices", "certificates"))
            identity = _workload_identity(
                az,
                "cert_manager",
                f"{p.name}-cert-manager",
                issuer,
                "cert-manager",
                "cert-manager",
                cert_line,
            )
            az.assign_role(
                "cert_manager_zone",
                f"{p.name}-cert-manager-zone",
                "DNS Zone Contributor",
                Code(f"{identity}.principal_id"),
                Code(f"{zone}.id"),
                cert_line,
                "ServicePrincipal",
            )
            cloud_values["certificates"] = {
                "podLabels": {WORKLOAD_IDENTITY_LABEL: "true"},
                "serviceAccount": {"labels": {WORKLOAD_IDENTITY_LABEL: "true"}},
            }
            cloud_values["certificates_solver"] = {
                "dns01": {
                    "azureDNS": {
                        "subscriptionID": Code(f"{az.client}.subscription_id"),
                        "resourceGroupName": az.resource_group(),
                        "hostedZoneName": a.dns_zone,
                        "environment": "AzurePublicCloud",
                        "managedIdentity": {"clientID": Code(f"{identity}.client_id")},
                    }
                }
            }
    charts.emit_app_services(ctx, k8s_provider, cloud="azure", cloud_values=cloud_values)

    stores: dict[str, dict[str, Code]] = {}
    for store in a.datastores:
        stores[store.name] = emit_datastore(az, store)
    for app in p.apps:
        if app.uses:
            _app_identity(az, app, stores, issuer)


def _workload_identity(
    az: AzureProgram, var: str, name: str, issuer, namespace: str, account: str, line
) -> Code:
    """A managed identity that one Kubernetes service account signs in as."""
    identity = az.identity(var, name, line)
    az.federate(
        f"{var}_kubernetes",
        f"{name}-kubernetes",
        identity,
        "kubernetes",
        issuer,
        f"system:serviceaccount:{namespace}:{account}",
        line,
    )
    return identity


def _app_identity(az: AzureProgram, app, stores: dict[str, dict[str, Code]], issuer) -> None:
    """An app's managed identity, federated with its service account, and
    the access to each datastore it uses."""
    p, prog, ctx = az.p, az.prog, az.ctx
    line = ctx.line(app.path + ("uses",))
    var = f"app_{var_name(app.name)}"
    identity = _workload_identity(
        az, var, f"{p.name}-app-{app.name}", issuer, app.namespace, app.name, line
    )
    principal = Code(f"{identity}.principal_id")
    for index, store_name in enumerate(app.uses):
        store = p.datastore(store_name)
        made = stores[store.name]
        target = next(iter(made.values()))
        at = ctx.line(app.path + ("uses", index))
        grant = (var, var_name(store.name))
        if store.engine == "postgres":
            # Entra ID administrator of the server, as AWS's apps hold the master secret.
            # A server takes one administrator change at a time.
            az.one_at_a_time(
                store.name,
                grant,
                "dbforpostgresql.Administrator",
                f"{app.name}-{store.name}",
                {
                    "resource_group_name": az.resource_group(),
                    "server_name": Code(f"{target}.name"),
                    "object_id": principal,
                    "principal_name": Code(f"{identity}.name"),
                    "principal_type": "ServicePrincipal",
                    "tenant_id": Code(f"{az.client}.tenant_id"),
                },
                at,
            )
        elif store.engine == "mysql":
            az.assign_role(
                grant,
                f"{app.name}-{store.name}-password",
                "Key Vault Secrets User",
                principal,
                Code(f"{made['password_secret']}.id"),
                at,
                "ServicePrincipal",
            )
        elif store.engine == "redis":
            # A cache takes one access policy change at a time.
            az.one_at_a_time(
                store.name,
                grant,
                "redis.AccessPolicyAssignment",
                f"{app.name}-{store.name}",
                {
                    "resource_group_name": az.resource_group(),
                    "cache_name": Code(f"{target}.name"),
                    "access_policy_assignment_name": app.name,
                    "access_policy_name": "Data Contributor",
                    "object_id": principal,
                    "object_id_alias": Code(f"{identity}.name"),
                },
                at,
            )
        elif store.engine == "queue":
            for direction in ("Sender", "Receiver"):
                az.assign_role(
                    (var, var_name(store.name), direction.lower()),
                    f"{app.name}-{store.name}-{direction.lower()}",
                    f"Azure Service Bus Data {direction}",
                    principal,
                    Code(f"{target}.id"),
                    at,
                    "ServicePrincipal",
                )
        else:
            az.res(
                grant,
                "cosmosdb.SqlResourceSqlRoleAssignment",
                f"{app.name}-{store.name}",
                {
                    "resource_group_name": az.resource_group(),
                    "account_name": Code(f"{target}.name"),
                    "role_definition_id": Call(
                        "pulumi.Output.concat",
                        [
                            Code(f"{target}.id"),
                            f"/sqlRoleDefinitions/{COSMOS_DATA_CONTRIBUTOR}",
                        ],
                    ),
                    "principal_id": principal,
                    "scope": Code(f"{target}.id"),
                },
                at,
            )
    prog.export(f"app_{app.name}_client_id", Code(f"{identity}.client_id"))
    prog.export(f"app_{app.name}_principal_id", principal)
    prog.export(f"app_{app.name}_identity_name", Code(f"{identity}.name"))
