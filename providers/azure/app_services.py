"""Layer 5 on Azure: DNS, workload identities for external-dns and
cert-manager, the shared charts, the datastores and the apps' secrets (each
app's identity and grants are in its own stack: apps.py).
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure.app_secrets import emit_app_secrets
from crosswalk.providers.azure.common import CLIENT_ID_ANNOTATION, WORKLOAD_IDENTITY_LABEL
from crosswalk.providers.azure.datastores import emit_datastore
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.common import protect
from crosswalk.providers.kubernetes import charts


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
        zone_name = k8s.dns_zone(ctx)
        zone = az.res(
            "dns_zone",
            "dns.Zone",
            zone_name,  # as it was named before environments could differ in it
            {
                "resource_group_name": az.resource_group(),
                "zone_name": zone_name,
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
        identity = az.workload_identity(
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
            identity = az.workload_identity(
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
                        "hostedZoneName": zone_name,
                        "environment": "AzurePublicCloud",
                        "managedIdentity": {"clientID": Code(f"{identity}.client_id")},
                    }
                }
            }
    charts.emit_app_services(ctx, k8s_provider, cloud="azure", cloud_values=cloud_values)

    for store in a.datastores:
        emit_datastore(az, store, k8s_provider)
    emit_app_secrets(az)
