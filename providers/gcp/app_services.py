"""Layer 5 on GCP: Cloud DNS, workload identities for external-dns and
cert-manager, the shared charts, and the datastores.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code, joined
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.common import protect
from crosswalk.providers.gcp.app_secrets import emit_app_secrets
from crosswalk.providers.gcp.common import (
    WORKLOAD_IDENTITY_ANNOTATION,
    account_member,
    enable_apis,
    gcp_provider,
    invoke_opts,
    opts,
    project,
    unique_name,
    var_part,
)
from crosswalk.providers.gcp.datastores import (
    ALLOYDB_API,
    DB_PORTS,
    PUBSUB_ENGINES,
    emit_alloydb,
    emit_document,
    emit_queue,
    emit_redis,
    emit_sql,
)
from crosswalk.providers.gcp.pipelines import emit_pipelines
from crosswalk.providers.kubernetes import charts, database_users


def emit_app_services(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    project_id = project(ctx)
    provider = gcp_provider(ctx)
    stores = p.app_services.datastores
    engines = {store.engine for store in stores}
    names = []
    if p.app_services.dns_zone:
        names.append("dns.googleapis.com")
    if any(store.engine in DB_PORTS and not store.alloydb for store in stores):
        names.append("sqladmin.googleapis.com")
    if any(store.alloydb for store in stores):
        names.append(ALLOYDB_API)
    if "redis" in engines:
        names.append("redis.googleapis.com")
    if engines & set(PUBSUB_ENGINES):
        names.append("pubsub.googleapis.com")
    if "document" in engines:
        names.append("firestore.googleapis.com")
    if any(app.secrets for app in p.apps):
        names.append("secretmanager.googleapis.com")
    apis = enable_apis(ctx, provider, names)
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("appServices",))
    )
    cloud_values: dict[str, dict] = {}
    if p.app_services.dns_zone:
        dns_line = ctx.line(("appServices", "dns"))
        zone = prog.resource(
            "dns_zone",
            "gcp.dns.ManagedZone",
            f"{p.name}-zone",
            {
                "name": unique_name(ctx, "dnsZone", 63, "zone"),
                "dns_name": joined(k8s.dns_zone(ctx), "."),
                "description": f"Managed by crosswalk for platform {p.name}",
                "visibility": "public",
                "dnssec_config": {"state": "on"},
            },
            dns_line,
            opts(provider, apis, **protect(ctx)),
        )
        # Its service account is the identity layer's (the only layer whose
        # deployer may manage service accounts).
        account = ctx.upstream("01-identity", "external_dns_service_account")
        # Lists the project's zones; changes records in this zone only.
        prog.resource(
            ("external_dns", "reader"),
            "gcp.projects.IAMMember",
            f"{p.name}-external-dns-reader",
            {
                "project": project_id,
                "role": "roles/dns.reader",
                "member": account_member(account),
            },
            dns_line,
            opts(provider, apis),
        )
        prog.resource(
            ("external_dns", "zone_admin"),
            "gcp.dns.DnsManagedZoneIamMember",
            f"{p.name}-external-dns-zone",
            {
                "managed_zone": Code(f"{zone}.name"),
                "role": "roles/dns.admin",
                "member": account_member(account),
            },
            dns_line,
            opts(provider, apis),
        )
        cloud_values["dns"] = {
            "provider": {"name": "google"},
            "extraArgs": [
                joined("--google-project=", project_id),
                "--google-zone-visibility=public",
            ],
            "serviceAccount": {"annotations": {WORKLOAD_IDENTITY_ANNOTATION: account}},
        }
        prog.export("dns_name_servers", Code(f"{zone}.name_servers"))
        if p.app_services.email:
            # The Gateway's wildcard certificate is proven through DNS-01 in the zone.
            cert_line = ctx.line(("appServices", "certificates"))
            account = ctx.upstream("01-identity", "cert_manager_service_account")
            prog.resource(
                ("cert_manager", "zone_admin"),
                "gcp.dns.DnsManagedZoneIamMember",
                f"{p.name}-cert-manager-zone",
                {
                    "managed_zone": Code(f"{zone}.name"),
                    "role": "roles/dns.admin",
                    "member": account_member(account),
                },
                cert_line,
                opts(provider, apis),
            )
            cloud_values["certificates"] = {
                "serviceAccount": {"annotations": {WORKLOAD_IDENTITY_ANNOTATION: account}},
            }
            cloud_values["certificates_solver"] = {
                "dns01": {
                    "cloudDNS": {"project": project_id, "hostedZoneName": Code(f"{zone}.name")}
                }
            }
    charts.emit_app_services(ctx, k8s_provider, cloud="gcp", cloud_values=cloud_values)
    emit_app_secrets(ctx, provider, project_id, apis)

    if not stores:
        return
    network = ctx.upstream("02-managed-infra", "network_id")
    if engines & {"postgres", "mysql", "redis"}:
        peering = ctx.upstream("02-managed-infra", "private_services_range")
    if engines & set(PUBSUB_ENGINES):
        project_info = prog.assign(
            prog.name("project"),
            Call(
                "gcp.organizations.get_project",
                kwargs={"project_id": project_id, "opts": invoke_opts(provider)},
            ),
        )
    queues = {}
    for store in stores:
        if store.alloydb:
            emit_alloydb(ctx, provider, k8s_provider, apis, store, network, peering)
        elif store.engine in DB_PORTS:
            emit_sql(ctx, provider, k8s_provider, apis, store, network, peering)
        elif store.engine == "redis":
            emit_redis(ctx, provider, apis, store, network, peering)
        elif store.engine in PUBSUB_ENGINES:
            queues[store.name] = emit_queue(ctx, provider, apis, store, project_info)
        else:
            emit_document(ctx, provider, apis, store)
    emit_pipelines(ctx, provider, apis, queues, project_info if queues else None)
    _build_bindings(ctx, k8s_provider)


def _build_bindings(ctx: StackContext, k8s_provider: Code) -> None:
    """An app built from its own repository that uses a SQL datastore: its
    build identity deploys the app's database user Job, which runs in the
    users namespace made here, so it may edit there too."""
    p, prog = ctx.platform, ctx.program
    for app in p.builds:
        if not any(p.datastore(s).engine in DB_PORTS for s in app.uses):
            continue
        line = ctx.line(app.build.path)
        namespace = charts.platform_namespace(ctx, k8s_provider, database_users.NAMESPACE, line)
        prog.resource(
            ("database_users", "build", var_part(app.name)),
            "kubernetes.rbac.v1.RoleBinding",
            f"{database_users.NAMESPACE}/build.{app.cloud_name}",
            {
                "metadata": {
                    "name": f"build.{app.cloud_name}",
                    "namespace": Code(f"{namespace}.metadata.name"),
                    "labels": k8s.MANAGED_BY,
                },
                "role_ref": {
                    "api_group": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "edit",
                },
                "subjects": [
                    {
                        "api_group": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": ctx.upstream("01-identity", f"build_{app.name}_service_account"),
                    }
                ],
            },
            line,
            {"provider": k8s_provider},
        )
