"""Layer 1 on GCP: node and team service accounts and roles, and GitHub CI
identities through a Workload Identity pool.
"""

from __future__ import annotations

import hashlib
import json
import re

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext, app_project_prefix, project_name
from crosswalk.compiler.graph import LAYER_DIRS
from crosswalk.compiler.model import Automation
from crosswalk.providers import shortened
from crosswalk.providers.builds import gated_environment
from crosswalk.providers.common import moved_from
from crosswalk.providers.gcp.common import (
    account_id,
    app_account_output,
    app_needs_account,
    cel_string,
    db_admin_account_output,
    enable_apis,
    gcp_provider,
    opts,
    project,
    short_role,
    var_part,
    workload_account,
)
from crosswalk.providers.gcp.datastores import PUBSUB_ENGINES, datastore_id
from crosswalk.providers.gcp.pipelines import emit_pipeline_accounts, emit_pipeline_deployer
from crosswalk.providers.gcp.rules import bucket_name, gcp_name
from crosswalk.providers.gcp.vms import VM_ROLES, emit_vm_accounts, emit_vm_attach_grants
from crosswalk.providers.gcp.warehouses import dataset_id
from crosswalk.providers.kubernetes import database_users

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


# Project roles of a team's members: admins administer every cluster; the
# others may only fetch cluster credentials, and get exactly the Kubernetes
# RBAC of their namespaces (roles/container.developer would open every
# namespace of every cluster in the project).
ACCESS_ROLES = {
    "admin": "roles/container.admin",
    "developer": "roles/container.clusterViewer",
    "viewer": "roles/container.clusterViewer",
}


# What the nodes' own service account may do: write logs and metrics. It
# reads images of the platform's registries only, granted on each of them
# (managed-infra), not of every repository of the project.
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
)


# What an automation identity may do per layer it deploys (least privilege by
# service). Project IAM is never granted whole: roles/resourcemanager.projectIamAdmin
# comes with a condition listing the roles the layers grant (see _automation).
# Only the identity layer makes service accounts (see _workload_accounts).
LAYER_ROLES = {
    "identity": [
        "roles/iam.serviceAccountAdmin",
        "roles/iam.workloadIdentityPoolAdmin",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "managed-infra": [
        "roles/compute.networkAdmin",
        "roles/artifactregistry.admin",
        "roles/cloudkms.admin",
        "roles/servicenetworking.networksAdmin",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "cluster": [
        "roles/container.admin",
        "roles/compute.viewer",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "cluster-services": ["roles/container.admin"],
    "app-services": [
        "roles/container.admin",
        "roles/cloudsql.admin",
        "roles/redis.admin",
        "roles/pubsub.admin",
        "roles/dns.admin",
        "roles/datastore.owner",
        "roles/serviceusage.serviceUsageAdmin",
    ],
    "apps": ["roles/container.developer"],
}


# What the preview identity of an entry holds per layer it deploys: the
# viewer roles of what the layer's programs read (no admin, no writer).
PREVIEW_ROLES = {
    "identity": [
        "roles/iam.roleViewer",
        "roles/iam.serviceAccountViewer",
        "roles/iam.workloadIdentityPoolViewer",
        "roles/serviceusage.serviceUsageViewer",
    ],
    "managed-infra": [
        "roles/artifactregistry.reader",
        "roles/cloudkms.viewer",
        "roles/compute.networkViewer",
        "roles/serviceusage.serviceUsageViewer",
    ],
    "cluster": [
        "roles/compute.viewer",
        "roles/container.viewer",
        "roles/serviceusage.serviceUsageViewer",
    ],
    "cluster-services": ["roles/container.viewer"],
    "app-services": [
        "roles/cloudsql.viewer",
        "roles/container.viewer",
        "roles/datastore.viewer",
        "roles/dns.reader",
        "roles/pubsub.viewer",
        "roles/redis.viewer",
        "roles/serviceusage.serviceUsageViewer",
    ],
    "apps": ["roles/container.viewer"],
}


# What the apps layer does to the datastores of app-services, as custom roles
# (the predefined ones, cloudsql.admin and pubsub.admin, could also delete or
# reconfigure every instance and topic of the project): it creates the apps'
# IAM database users, and grants apps their topics and subscriptions.
APPS_CUSTOM_ROLES = {
    "sql-users": (
        "Cloud SQL IAM users",
        (
            "cloudsql.instances.get",
            "cloudsql.users.create",
            "cloudsql.users.delete",
            "cloudsql.users.get",
            "cloudsql.users.list",
            "cloudsql.users.update",
        ),
    ),
    "bucket-grants": (
        "Cloud Storage grants",
        ("storage.buckets.get", "storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy"),
    ),
    "warehouse-grants": (
        "BigQuery dataset grants",
        # The provider writes a dataset's grants into its access list (datasets.update).
        ("bigquery.datasets.get", "bigquery.datasets.update"),
    ),
    # The managed-infra layer's, for the VMs: their IAP firewall rules, and who
    # may tunnel to each instance.
    "vm-access": (
        "VM firewalls and IAP tunnels",
        (
            "compute.firewalls.create",
            "compute.firewalls.delete",
            "compute.firewalls.get",
            "compute.firewalls.list",
            "compute.firewalls.update",
            "compute.networks.updatePolicy",
            "iap.tunnelInstances.getIamPolicy",
            "iap.tunnelInstances.setIamPolicy",
        ),
    ),
    # AlloyDB reads no resource names in IAM conditions: this one is the project's.
    "alloydb-users": (
        "AlloyDB IAM users",
        (
            "alloydb.clusters.get",
            "alloydb.users.create",
            "alloydb.users.delete",
            "alloydb.users.get",
            "alloydb.users.list",
            "alloydb.users.update",
        ),
    ),
    "pubsub-grants": (
        "Pub/Sub grants",
        (
            "pubsub.subscriptions.get",
            "pubsub.subscriptions.getIamPolicy",
            "pubsub.subscriptions.setIamPolicy",
            "pubsub.topics.get",
            "pubsub.topics.getIamPolicy",
            "pubsub.topics.setIamPolicy",
        ),
    ),
}
# What app-services does to the apps' secrets: makes them (without a value)
# and says who may access them, but never reads one (secretmanager.admin could:
# secretmanager.versions.access). Created on the project, so no name condition.
APP_SECRETS_ROLE = (
    "Secret Manager secrets, never their values",
    (
        "secretmanager.secrets.create",
        "secretmanager.secrets.delete",
        "secretmanager.secrets.get",
        "secretmanager.secrets.getIamPolicy",
        "secretmanager.secrets.list",
        "secretmanager.secrets.setIamPolicy",
        "secretmanager.secrets.update",
    ),
)
# What managed-infra does for the AlloyDB key: asks for AlloyDB's service agent
# (serviceUsageAdmin enables services but cannot), which the key's grant names.
SERVICE_AGENT_ROLE = ("Service agents", ("serviceusage.services.generateServiceIdentity",))
CUSTOM_ROLES = APPS_CUSTOM_ROLES | {
    "app-secrets": APP_SECRETS_ROLE,
    "service-agents": SERVICE_AGENT_ROLE,
}
ROLE_LAYERS = {
    "app-secrets": "app-services",
    "vm-access": "managed-infra",
    "service-agents": "managed-infra",
}  # else apps
ROLE_OBJECTS = {
    "sql-users": "the Cloud SQL users of its apps",
    "alloydb-users": "the AlloyDB users of its apps",
    "service-agents": "the service agents its keys name",
    "bucket-grants": "the grants on its buckets",
    "warehouse-grants": "the grants on its warehouses",
    "pubsub-grants": "the grants on its topics and subscriptions",
    "app-secrets": "its apps' secrets",
    "vm-access": "the firewall rules and IAP tunnels of its VMs",
}
SQL_ENGINES = ("postgres", "mysql")


# Project roles a layer grants to its workloads, by what needs them: its CI
# identity may grant exactly those the platform has (an IAM condition on
# roles/resourcemanager.projectIamAdmin).
LAYER_GRANTS = {
    "app-services": {
        "dns": ["roles/dns.reader"],  # external-dns lists the project's zones
        "cloud-sql": ["roles/cloudsql.instanceUser"],  # the administrators sign in
    },
    "apps": {
        "cloud-sql": ["roles/cloudsql.client", "roles/cloudsql.instanceUser"],
        "document": ["roles/datastore.user"],
        "warehouses": ["roles/bigquery.jobUser"],  # apps that use warehouses run queries
    },
}
# Where there are AlloyDB datastores, their users' sign-in roles (the
# administrator's in app-services, the apps' in apps).
ALLOYDB_GRANTS = ["roles/alloydb.databaseUser", "roles/serviceusage.serviceUsageConsumer"]


def _alloydb(platform) -> bool:
    return any(store.alloydb for store in platform.app_services.datastores)


def _cloud_sql(platform) -> bool:
    return any(
        store.engine in SQL_ENGINES and not store.alloydb
        for store in platform.app_services.datastores
    )


def layer_grants(platform, layer: str) -> list[str]:
    """The project roles a layer grants its workloads (LAYER_GRANTS where the
    platform has what needs them, and AlloyDB's sign-in roles where it has
    AlloyDB datastores)."""
    used = {
        "dns": bool(platform.app_services.dns_zone),
        "cloud-sql": _cloud_sql(platform),
        "document": any(s.engine == "document" for s in platform.app_services.datastores),
        "warehouses": any(app.warehouses for app in platform.apps),
    }
    grants = [
        role for need, roles in LAYER_GRANTS.get(layer, {}).items() if used[need] for role in roles
    ]
    if layer in ("app-services", "apps") and _alloydb(platform):
        grants += ALLOYDB_GRANTS
    return grants


def layer_roles(platform, layer: str) -> list[str]:
    """The project roles of a CI identity deploying `layer`: LAYER_ROLES, and
    Cloud Storage's admin where managed-infra makes buckets (creating one is
    a right on the project, which no condition on bucket names narrows)."""
    roles = list(LAYER_ROLES[layer])
    if layer == "managed-infra" and platform.buckets:
        roles.append("roles/storage.admin")
    if layer == "managed-infra" and platform.warehouses:
        # Creating a dataset is a right on the project too; dataOwner makes,
        # changes and shares datasets and reaches nothing else.
        roles.append("roles/bigquery.dataOwner")
    if layer == "managed-infra" and platform.vms:
        # The VMs' instances and disks, and who may log in to each instance.
        roles.append("roles/compute.instanceAdmin.v1")
    if layer == "app-services" and _alloydb(platform):
        # AlloyDB's clusters, instances and users (no narrower predefined role
        # makes clusters; AlloyDB reads no resource names in IAM conditions).
        roles.append("roles/alloydb.admin")
    return roles


def preview_roles(platform, bot) -> list[str]:
    """The project roles of a CI identity's preview twin."""
    roles = {role for layer in bot.layers for role in PREVIEW_ROLES[layer]}
    if "managed-infra" in bot.layers and platform.buckets:
        roles.add("roles/storage.bucketViewer")
    if "app-services" in bot.layers and _alloydb(platform):
        roles.add("roles/alloydb.viewer")
    return sorted(roles)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def pool_id(platform, bot: str) -> str:
    """A CI identity's workload identity pool (4 to 32 characters; Google
    keeps the 'gcp-' prefix for itself)."""
    pool = gcp_name(platform, 32, "ci", bot)
    return shortened("cw-" + pool, 32) if pool.startswith("gcp-") else pool


def preview_pool_id(platform, bot: str) -> str:
    """The pool of a CI identity's preview twin ('pr' where the deploy pool has 'ci')."""
    pool = gcp_name(platform, 32, "pr", bot)
    return shortened("cw-" + pool, 32) if pool.startswith("gcp-") else pool


def custom_role_id(platform, bot: str, what: str, kind: str = "ci") -> str:
    """A CI identity's custom role (3 to 64 letters, digits and '_', unique in
    the project; a deleted one keeps its id for weeks); `kind` "bd" for an
    app's build identity (`bot` is then the app)."""
    return gcp_name(platform, 64, kind, bot, what).replace("-", "_")


# The project role an app's build identity holds: the cluster's credentials,
# no Kubernetes rights (a RoleBinding in the app's namespace gives those).
BUILD_PROJECT_ROLE = "roles/container.clusterViewer"


def build_bot(app) -> Automation:
    """An app's build identity as an entry deploying the apps layer, for what
    it shares with one (custom roles, conditioned grants): named after the app."""
    build = app.build
    return Automation(
        app.name, build.repository, f"refs/heads/{build.branch}", None, ("apps",), build.path
    )


def build_pool_id(platform, app) -> str:
    """An app's build identity's workload identity pool ('bd' for 'build')."""
    pool = gcp_name(platform, 32, "bd", app.cloud_name)
    return shortened("cw-" + pool, 32) if pool.startswith("gcp-") else pool


def build_custom_roles(platform, app) -> list[str]:
    """The custom roles of an app's build identity: those of the apps layer
    that the app's own stack needs (its SQL users, its grants on buckets,
    warehouses, topics and subscriptions)."""
    stores = [platform.datastore(s) for s in app.uses]
    engines = {store.engine for store in stores}
    wanted = {
        "sql-users": any(s.engine in SQL_ENGINES and not s.alloydb for s in stores),
        "alloydb-users": any(s.alloydb for s in stores),
        "bucket-grants": bool(app.buckets),
        "warehouse-grants": bool(app.warehouses),
        "pubsub-grants": "queue" in engines,
    }
    return [what for what in APPS_CUSTOM_ROLES if wanted.get(what)]


def build_grantable(platform, app) -> list[str]:
    """The project roles an app's stack grants its service account (see
    providers/gcp/apps.py), which its build identity may grant."""
    stores = [platform.datastore(s) for s in app.uses]
    engines = {store.engine for store in stores}
    roles = set()
    if any(s.engine in SQL_ENGINES and not s.alloydb for s in stores):
        roles |= {"roles/cloudsql.client", "roles/cloudsql.instanceUser"}
    if any(s.alloydb for s in stores):
        roles |= set(ALLOYDB_GRANTS)
    if "document" in engines:
        roles.add("roles/datastore.user")
    if app.warehouses:
        roles.add("roles/bigquery.jobUser")
    return sorted(roles)


def _custom_roles(platform, bot) -> list[str]:
    """The custom roles a CI identity gets: those of the apps layer for the
    kinds of datastore the platform has, app-services' for the apps' secrets,
    and the managed-infra layer's for VMs."""
    engines = {store.engine for store in platform.app_services.datastores}
    apps = "apps" in bot.layers
    wanted = {
        "sql-users": apps and _cloud_sql(platform),
        "alloydb-users": apps and _alloydb(platform),
        "bucket-grants": apps and bool(platform.buckets),
        "warehouse-grants": apps and bool(platform.warehouses),
        "pubsub-grants": apps and bool(engines & set(PUBSUB_ENGINES)),
        "app-secrets": "app-services" in bot.layers and any(a.secrets for a in platform.apps),
        "vm-access": "managed-infra" in bot.layers and bool(platform.vms),
        "service-agents": "managed-infra" in bot.layers and _alloydb(platform),
    }
    return [what for what in CUSTOM_ROLES if wanted[what]]


def _project_grants(platform) -> list[str]:
    """Every project role the identity layer grants, per environment (custom
    roles are named after the environment's project)."""
    roles = set(NODE_ROLES) | (set(VM_ROLES) if platform.vms else set())
    roles |= {ACCESS_ROLES[team.access] for team in platform.teams if team.members}
    for bot in platform.automation:
        roles |= {role for layer in bot.layers for role in layer_roles(platform, layer)}
        roles |= set(preview_roles(platform, bot))
        if _grantable(platform, bot) or "identity" in bot.layers:
            roles.add("roles/resourcemanager.projectIamAdmin")
        roles |= {
            f"projects/{platform.cloud.project}/roles/{custom_role_id(platform, bot.name, what)}"
            for what in _custom_roles(platform, bot)
        }
    for app in platform.builds:
        roles.add(BUILD_PROJECT_ROLE)
        if build_grantable(platform, app):
            roles.add("roles/resourcemanager.projectIamAdmin")
        roles |= {
            f"projects/{platform.cloud.project}/roles/"
            + custom_role_id(platform, app.cloud_name, what, "bd")
            for what in build_custom_roles(platform, app)
        }
    if _any_custom_roles(platform):
        roles.add("roles/iam.roleAdmin")
    return sorted(roles)


def _any_custom_roles(platform) -> bool:
    """Whether the identity layer makes custom roles (for CI or build identities)."""
    return any(_custom_roles(platform, bot) for bot in platform.automation) or any(
        build_custom_roles(platform, app) for app in platform.builds
    )


def _grantable(platform, bot) -> list[str]:
    """The project roles the layers of a CI identity grant their workloads."""
    return sorted({role for layer in bot.layers for role in layer_grants(platform, layer)})


def _has_only(roles: list[str]) -> str:
    allowed = ", ".join(f"'{role}'" for role in roles)
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{allowed}])"


def _sql_instances(platform, app=None) -> str:
    """An IAM condition that holds for the platform's Cloud SQL instances only
    (with `app`, those it uses)."""
    return " || ".join(
        "resource.name == "
        + cel_string(f"projects/{platform.cloud.project}/instances/{datastore_id(platform, store)}")
        for store in platform.app_services.datastores
        if store.engine in SQL_ENGINES
        and not store.alloydb
        and (app is None or store.name in app.uses)
    )


def _buckets(platform, app=None) -> str:
    """An IAM condition that holds for the platform's Cloud Storage buckets
    only (with `app`, those it uses)."""
    used = None if app is None else {use.bucket for use in app.buckets}
    return " || ".join(
        "resource.name == " + cel_string(f"projects/_/buckets/{bucket_name(platform, b.name)}")
        for b in platform.buckets
        if used is None or b.name in used
    )


def _datasets(platform, app=None) -> str:
    """An IAM condition that holds for the platform's BigQuery datasets only
    (with `app`, those it uses)."""
    used = None if app is None else {use.warehouse for use in app.warehouses}
    return " || ".join(
        "resource.name == "
        + cel_string(f"projects/{platform.cloud.project}/datasets/{dataset_id(platform, w.name)}")
        for w in platform.warehouses
        if used is None or w.name in used
    )


# Custom roles held on some resources only, by an IAM condition on their
# names: (the condition's title word, what it names, its config key, the
# condition of a platform and, for a built app, its app).
NAMED_GRANTS = {
    "sql-users": ("instances", "Cloud SQL instances", "sqlInstances", _sql_instances),
    "bucket-grants": ("buckets", "Cloud Storage buckets", "buckets", _buckets),
    "warehouse-grants": ("datasets", "BigQuery datasets", "datasets", _datasets),
}


def emit_identity(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    project_id = project(ctx)
    provider = gcp_provider(ctx)
    apis = enable_apis(
        ctx,
        provider,
        [
            "iam.googleapis.com",
            "iamcredentials.googleapis.com",
            "sts.googleapis.com",
            "cloudresourcemanager.googleapis.com",
        ],
    )
    nodes_line = ctx.line(("cluster", "nodePools"))
    node_account = prog.resource(
        "node_service_account",
        "gcp.serviceaccount.Account",
        f"{p.name}-nodes",
        {
            "account_id": account_id(ctx, "nodes", "nodes"),
            "display_name": f"GKE nodes of platform {p.name}",
            "description": "Least privilege for nodes: writes logs and metrics, reads images",
        },
        nodes_line,
        opts(provider, apis),
    )
    for role in NODE_ROLES:
        prog.resource(
            ("node", short_role(role)),
            "gcp.projects.IAMMember",
            f"{p.name}-nodes-{short_role(role)}",
            {"project": project_id, "role": role, "member": Code(f"{node_account}.member")},
            nodes_line,
            opts(provider, apis),
        )
    prog.export("node_service_account_email", Code(f"{node_account}.email"))

    for team in p.teams:
        role = ACCESS_ROLES[team.access]
        seen: set[str] = set()
        for i, member in enumerate(team.members):
            slug = _slug(member)
            if slug in seen:
                slug += "-" + hashlib.sha256(member.encode()).hexdigest()[:6]
            seen.add(slug)
            prog.resource(
                ("team", var_part(team.name), str(i)),
                "gcp.projects.IAMMember",
                f"{p.name}-team-{team.name}-{slug}",
                {"project": project_id, "role": role, "member": member},
                ctx.line(team.path + ("members", i)),
                opts(provider, apis),
            )

    _workload_accounts(ctx, provider, apis)
    pipeline_accounts = emit_pipeline_accounts(ctx, provider, apis)
    vm_accounts = emit_vm_accounts(ctx, provider, apis)
    for bot in p.automation:
        account = _automation(ctx, provider, apis, bot, node_account, vm_accounts)
        emit_pipeline_deployer(ctx, provider, apis, pipeline_accounts, bot, account)
    for app in p.builds:
        _build_identity(ctx, provider, apis, app)


def _workload_accounts(ctx: StackContext, provider: Code, apis) -> None:
    """The Google service accounts of app services, apps and the SQL
    datastores' administrators, made here: the identity layer's deployer is the
    only one that may manage service accounts (IAM conditions cannot narrow that
    right to some accounts of a project, so a deployer of apps that held it
    could act as any deployer). The other layers grant these accounts what they
    reach."""
    p, prog = ctx.platform, ctx.program
    services = p.app_services
    if services.dns_zone:
        accounts = [("external-dns", ("appServices", "dns"))]
        if services.email:
            accounts.append(("cert-manager", ("appServices", "certificates")))
        for name, path in accounts:
            account = workload_account(
                ctx, provider, apis, name.replace("-", "_"), name, name, name, ctx.line(path)
            )
            prog.export(f"{name.replace('-', '_')}_service_account", Code(f"{account}.email"))
    for app in p.apps:
        if not app_needs_account(p, app):
            continue
        # Pulumi names follow platform.yaml; ids in GCP keep the names they were
        # created with (`renamedFrom`).
        account = workload_account(
            ctx,
            provider,
            apis,
            f"app_{var_part(app.name)}",
            f"app-{app.name}",
            p.namespace(app.namespace).cloud_name,
            app.cloud_name,
            ctx.line(app.path + ("uses",)),
            cloud_name=f"app-{app.cloud_name}",
            moved=lambda suffix, app=app: moved_from(lambda a: f"{p.name}-app-{a}{suffix}", app),
        )
        prog.export(app_account_output(app), Code(f"{account}.email"))
    for store in p.app_services.datastores:
        if store.engine not in SQL_ENGINES:
            continue
        # The administrator the apps' database user Jobs sign in as
        # (providers/kubernetes/database_users.py): app-services makes it a
        # Cloud SQL IAM user in cloudsqlsuperuser; no password exists.
        account = workload_account(
            ctx,
            provider,
            apis,
            f"db_admin_{var_part(store.name)}",
            f"db-admin-{store.name}",
            database_users.NAMESPACE,
            database_users.admin_service_account_name(store),
            ctx.line(store.path),
            cloud_name=f"db-admin-{store.cloud_name}",
            moved=lambda suffix, store=store: moved_from(
                lambda n: f"{p.name}-db-admin-{n}{suffix}", store
            ),
        )
        prog.export(db_admin_account_output(store), Code(f"{account}.email"))


def _automation(
    ctx: StackContext, provider: Code, apis, bot, node_account: Code, vm_accounts: dict
) -> Code:
    p, prog = ctx.platform, ctx.program
    project_id = project(ctx)
    line = ctx.line(bot.path)
    pool = prog.resource(
        ("ci", var_part(bot.name), "pool"),
        "gcp.iam.WorkloadIdentityPool",
        f"{p.name}-ci-{bot.name}",
        {
            "workload_identity_pool_id": ctx.setting(
                f"names.pool.{bot.name}", lambda q, env: pool_id(q, bot.name)
            ),
            "display_name": f"{p.name} CI {bot.name}"[:32],
            "description": f"GitHub Actions of {bot.repository}: deploys {', '.join(bot.layers)}"[
                :256
            ],
        },
        line,
        opts(provider, apis),
    )
    # The token must come from this repository and this ref (or environment).
    mapping = {
        "google.subject": "assertion.sub",
        "attribute.repository": "assertion.repository",
        "attribute.ref": "assertion.ref",
    }
    condition = f"assertion.repository == {cel_string(bot.repository)}"
    if bot.environment:
        mapping["attribute.environment"] = "assertion.environment"
        condition += f" && assertion.environment == {cel_string(bot.environment)}"
    else:
        condition += f" && assertion.ref == {cel_string(bot.ref)}"
    oidc = prog.resource(
        ("ci", var_part(bot.name), "github"),
        "gcp.iam.WorkloadIdentityPoolProvider",
        f"{p.name}-ci-{bot.name}-github",
        {
            "workload_identity_pool_id": Code(f"{pool}.workload_identity_pool_id"),
            "workload_identity_pool_provider_id": "github",
            "display_name": "GitHub Actions",
            "attribute_mapping": mapping,
            "attribute_condition": condition,
            "oidc": {"issuer_uri": GITHUB_ISSUER},
        },
        line,
        opts(provider, apis),
    )
    account = prog.resource(
        ("ci", var_part(bot.name), "account"),
        "gcp.serviceaccount.Account",
        f"{p.name}-ci-{bot.name}",
        {
            "account_id": account_id(ctx, f"ci.{bot.name}", "ci", bot.name),
            "display_name": f"CI {bot.name} of platform {p.name}",
            "description": f"Deploys {', '.join(bot.layers)}; impersonated from GitHub, never by key",
        },
        line,
        opts(provider, apis),
    )
    prog.resource(
        ("ci", var_part(bot.name), "federation"),
        "gcp.serviceaccount.IAMMember",
        f"{p.name}-ci-{bot.name}-federation",
        {
            "service_account_id": Code(f"{account}.name"),
            "role": "roles/iam.workloadIdentityUser",
            "member": Call(
                "pulumi.Output.concat",
                [
                    "principalSet://iam.googleapis.com/",
                    Code(f"{pool}.name"),
                    "/attribute.repository/" + bot.repository,
                ],
            ),
        },
        line,
        opts(provider, apis),
    )
    layers_line = ctx.line(bot.path + ("layers",))
    roles = {role for layer in bot.layers for role in layer_roles(p, layer)}
    if "identity" in bot.layers and _any_custom_roles(p):
        roles.add("roles/iam.roleAdmin")  # creates the CI identities' custom roles
    roles = sorted(roles)
    for role in roles:
        prog.resource(
            ("ci", var_part(bot.name), short_role(role)),
            "gcp.projects.IAMMember",
            f"{p.name}-ci-{bot.name}-{short_role(role)}",
            {"project": project_id, "role": role, "member": Code(f"{account}.member")},
            layers_line,
            opts(provider, apis),
        )
    _custom_grants(ctx, provider, apis, bot, Code(f"{account}.member"), layers_line)
    if "identity" in bot.layers:
        # The identity layer grants every project role of the platform; no other.
        grantable, title = (
            ctx.setting(
                f"ci.{bot.name}.grantable",
                lambda q, env: _has_only(sorted(set(_project_grants(q)) | set(_grantable(q, bot)))),
            ),
            "grants-of-the-platform",
        )
        description = "May grant only the project roles the platform's layers grant"
    else:
        grantable, title = _has_only(_grantable(p, bot)), "grants-of-its-layers"
        description = "May grant only the roles its layers give their workloads"
    if _grantable(p, bot) or "identity" in bot.layers:
        prog.resource(
            ("ci", var_part(bot.name), "grants"),
            "gcp.projects.IAMMember",
            f"{p.name}-ci-{bot.name}-grants",
            {
                "project": project_id,
                "role": "roles/resourcemanager.projectIamAdmin",
                "member": Code(f"{account}.member"),
                "condition": {
                    "title": title,
                    "description": description,
                    "expression": grantable,
                },
            },
            layers_line,
            opts(provider, apis),
        )
    if "cluster" in bot.layers:
        # Node pools run as the node service account: CI may attach that one, no other.
        prog.resource(
            ("ci", var_part(bot.name), "node_account_user"),
            "gcp.serviceaccount.IAMMember",
            f"{p.name}-ci-{bot.name}-node-account-user",
            {
                "service_account_id": Code(f"{node_account}.name"),
                "role": "roles/iam.serviceAccountUser",
                "member": Code(f"{account}.member"),
            },
            layers_line,
            opts(provider, apis),
        )
    if "managed-infra" in bot.layers:
        emit_vm_attach_grants(ctx, provider, apis, bot, Code(f"{account}.member"), vm_accounts)
    for key, type_, suffix, args in state_grants(p, bot):
        prog.resource(
            ("ci", var_part(bot.name), key),
            type_,
            f"{p.name}-ci-{bot.name}-{suffix}",
            args | {"member": Code(f"{account}.member")},
            layers_line,
            opts(provider, apis),
        )
    prog.export(f"automation_{bot.name}_service_account", Code(f"{account}.email"), public=True)
    prog.export(
        f"automation_{bot.name}_workload_identity_provider", Code(f"{oidc}.name"), public=True
    )
    _preview_identity(ctx, provider, apis, bot)
    return account


def _custom_grants(
    ctx: StackContext, provider: Code, apis, bot, member, line, kind="ci", roles=None
) -> None:
    """The custom roles of a CI identity (or, `kind` "bd", of an app's build
    identity, `bot` standing for the app: build_bot, and `roles` its
    build_custom_roles), each granted to `member`."""
    p, prog = ctx.platform, ctx.program
    project_id = project(ctx)
    label = {"ci": "ci", "bd": "build"}[kind]
    for what in _custom_roles(p, bot) if roles is None else roles:
        title, permissions = CUSTOM_ROLES[what]
        custom = prog.resource(
            (label, var_part(bot.name), what.replace("-", "_")),
            "gcp.projects.IAMCustomRole",
            f"{p.name}-{label}-{bot.name}-{what}",
            {
                "project": project_id,
                "role_id": ctx.setting(
                    f"names.{'role' if kind == 'ci' else 'buildRole'}.{bot.name}.{what}",
                    lambda q, env, what=what: custom_role_id(
                        q, bot.name if kind == "ci" else q.built(bot.name).cloud_name, what, kind
                    ),
                ),
                "title": f"{p.name} {'CI' if kind == 'ci' else 'build'} {bot.name}: {title}"[:100],
                "description": f"What the {ROLE_LAYERS.get(what, 'apps')} layer of platform "
                f"{p.name} does to {ROLE_OBJECTS[what]}",
                "permissions": list(permissions),
            },
            line,
            opts(provider, apis),
        )
        grant = {"project": project_id, "role": Code(f"{custom}.name")}
        if what in NAMED_GRANTS:
            # These services read IAM conditions on their resources' names: the
            # platform's only (a built app's: those it uses).
            things, title, key, names = NAMED_GRANTS[what]
            grant["condition"] = {
                "title": f"platform-{things}-only",
                "description": f"The {title} of platform {p.name}",
                "expression": ctx.setting(
                    f"{label}.{bot.name}.{key}",
                    lambda q, env, names=names: names(
                        q, q.built(bot.name) if kind == "bd" else None
                    ),
                ),
            }
        # (Pub/Sub reads no resource attributes in IAM conditions: the grant is
        # the project's, limited to reading and setting topic and subscription IAM.)
        prog.resource(
            (label, var_part(bot.name), what.replace("-", "_"), "member"),
            "gcp.projects.IAMMember",
            f"{p.name}-{label}-{bot.name}-{what}",
            grant | {"member": member},
            line,
            opts(provider, apis),
        )


def _build_identity(ctx: StackContext, provider: Code, apis, app) -> None:
    """The push identity of an app built from its own repository: a pool of
    its own whose provider admits only pushes to that repository's branch,
    and a service account that may push to the app's Artifact Registry
    repository (granted there, managed-infra), fetch the cluster's
    credentials (its Kubernetes rights: a RoleBinding in the app's
    namespace, cluster layer), make the grants the apps layer makes for its
    app, and write that one stack's state."""
    p, prog, name = ctx.platform, ctx.program, app.name
    build, line = app.build, ctx.line(app.build.path)
    var = var_part(name)
    pool = prog.resource(
        ("build", var, "pool"),
        "gcp.iam.WorkloadIdentityPool",
        f"{p.name}-build-{app.cloud_name}",
        {
            "workload_identity_pool_id": ctx.setting(
                f"names.buildPool.{name}", lambda q, env: build_pool_id(q, q.built(name))
            ),
            "display_name": f"{p.name} build {name}"[:32],
            "description": f"Pushes to {build.branch} of {build.repository}: build app {name}"[
                :256
            ],
        },
        line,
        opts(provider, apis),
    )
    ref = f"refs/heads/{build.branch}"
    oidc = prog.resource(
        ("build", var, "github"),
        "gcp.iam.WorkloadIdentityPoolProvider",
        f"{p.name}-build-{app.cloud_name}-github",
        {
            "workload_identity_pool_id": Code(f"{pool}.workload_identity_pool_id"),
            "workload_identity_pool_provider_id": "github-push",
            "display_name": "GitHub pushes",
            "attribute_mapping": {
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.ref": "assertion.ref",
                "attribute.event_name": "assertion.event_name",
            },
            # Pushes to the branch; outside the default environment, of jobs in
            # its GitHub environment.
            "attribute_condition": ctx.setting(
                f"build.{name}.condition",
                lambda q, env: (
                    f"assertion.repository == {cel_string(build.repository)}"
                    f" && assertion.ref == {cel_string(ref)}"
                    " && assertion.event_name == 'push'"
                    + (
                        f" && assertion.environment == {cel_string(gated)}"
                        if (gated := gated_environment(q, env))
                        else ""
                    )
                ),
            ),
            "oidc": {"issuer_uri": GITHUB_ISSUER},
        },
        line,
        opts(provider, apis),
    )
    account = prog.resource(
        ("build", var, "account"),
        "gcp.serviceaccount.Account",
        f"{p.name}-build-{app.cloud_name}",
        {
            "account_id": ctx.setting(
                f"names.serviceAccount.build.{name}",
                lambda q, env: gcp_name(q, 30, "bd", q.built(name).cloud_name),
            ),
            "display_name": f"Builds of app {name} of platform {p.name}",
            "description": f"Pushes app {name}'s image and deploys its stack; impersonated "
            f"from {build.repository}, never by key"[:256],
        },
        line,
        opts(provider, apis),
    )
    prog.resource(
        ("build", var, "federation"),
        "gcp.serviceaccount.IAMMember",
        f"{p.name}-build-{app.cloud_name}-federation",
        {
            "service_account_id": Code(f"{account}.name"),
            "role": "roles/iam.workloadIdentityUser",
            "member": Call(
                "pulumi.Output.concat",
                [
                    "principalSet://iam.googleapis.com/",
                    Code(f"{pool}.name"),
                    "/attribute.repository/" + build.repository,
                ],
            ),
        },
        line,
        opts(provider, apis),
    )
    member = Code(f"{account}.member")
    project_id = project(ctx)
    prog.resource(
        ("build", var, short_role(BUILD_PROJECT_ROLE)),
        "gcp.projects.IAMMember",
        f"{p.name}-build-{app.cloud_name}-{short_role(BUILD_PROJECT_ROLE)}",
        {"project": project_id, "role": BUILD_PROJECT_ROLE, "member": member},
        line,
        opts(provider, apis),
    )
    bot = build_bot(app)
    roles = build_custom_roles(p, app)
    _custom_grants(ctx, provider, apis, bot, member, line, kind="bd", roles=roles)
    if build_grantable(p, app):
        prog.resource(
            ("build", var, "grants"),
            "gcp.projects.IAMMember",
            f"{p.name}-build-{app.cloud_name}-grants",
            {
                "project": project_id,
                "role": "roles/resourcemanager.projectIamAdmin",
                "member": member,
                "condition": {
                    "title": "grants-of-its-app",
                    "description": "May grant only the roles its app's stack gives the app",
                    "expression": _has_only(build_grantable(p, app)),
                },
            },
            line,
            opts(provider, apis),
        )
    own = [project_name(p, f"06-apps/{name}")]
    for key, type_, suffix, args in state_grants(p, bot, projects=own):
        prog.resource(
            ("build", var, key),
            type_,
            f"{p.name}-build-{app.cloud_name}-{suffix}",
            args | {"member": member},
            line,
            opts(provider, apis),
        )
    prog.export(f"build_{name}_service_account", Code(f"{account}.email"), public=True)
    prog.export(f"build_{name}_workload_identity_provider", Code(f"{oidc}.name"), public=True)


def _preview_identity(ctx: StackContext, provider: Code, apis, bot) -> None:
    """The read-only twin of a CI identity: a pool of its own whose provider
    admits only the `pull_request` events of the entry's repository (a
    fork's gets no OIDC token), and a service account that views what the
    entry's layers deploy. Its own pool: a principalSet of the deploy pool
    would let a pull request's token become the deploy identity."""
    p, prog = ctx.platform, ctx.program
    line = ctx.line(bot.path)
    var = var_part(bot.name)
    pool = prog.resource(
        ("ci", var, "preview_pool"),
        "gcp.iam.WorkloadIdentityPool",
        f"{p.name}-ci-{bot.name}-preview",
        {
            "workload_identity_pool_id": ctx.setting(
                f"names.previewPool.{bot.name}", lambda q, env: preview_pool_id(q, bot.name)
            ),
            "display_name": f"{p.name} PR {bot.name}"[:32],
            "description": f"Pull requests of {bot.repository}: preview {', '.join(bot.layers)}"[
                :256
            ],
        },
        line,
        opts(provider, apis),
    )
    subject = f"repo:{bot.repository}:pull_request"
    oidc = prog.resource(
        ("ci", var, "preview_github"),
        "gcp.iam.WorkloadIdentityPoolProvider",
        f"{p.name}-ci-{bot.name}-preview-github",
        {
            "workload_identity_pool_id": Code(f"{pool}.workload_identity_pool_id"),
            "workload_identity_pool_provider_id": "github-pull-request",
            "display_name": "GitHub pull requests",
            "attribute_mapping": {
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.event_name": "assertion.event_name",
            },
            "attribute_condition": f"assertion.repository == {cel_string(bot.repository)}"
            " && assertion.event_name == 'pull_request'"
            f" && assertion.sub == {cel_string(subject)}",
            "oidc": {"issuer_uri": GITHUB_ISSUER},
        },
        line,
        opts(provider, apis),
    )
    account = prog.resource(
        ("ci", var, "preview_account"),
        "gcp.serviceaccount.Account",
        f"{p.name}-ci-{bot.name}-preview",
        {
            "account_id": account_id(ctx, f"ci.{bot.name}.preview", "pr", bot.name),
            "display_name": f"CI {bot.name} preview of platform {p.name}",
            "description": f"Previews {', '.join(bot.layers)} (read only); pull requests only",
        },
        line,
        opts(provider, apis),
    )
    prog.resource(
        ("ci", var, "preview_federation"),
        "gcp.serviceaccount.IAMMember",
        f"{p.name}-ci-{bot.name}-preview-federation",
        {
            "service_account_id": Code(f"{account}.name"),
            "role": "roles/iam.workloadIdentityUser",
            "member": Call(
                "pulumi.Output.concat",
                ["principal://iam.googleapis.com/", Code(f"{pool}.name"), "/subject/" + subject],
            ),
        },
        line,
        opts(provider, apis),
    )
    layers_line = ctx.line(bot.path + ("layers",))
    for role in preview_roles(p, bot):
        prog.resource(
            ("ci", var, "preview", short_role(role)),
            "gcp.projects.IAMMember",
            f"{p.name}-ci-{bot.name}-preview-{short_role(role)}",
            {"project": project(ctx), "role": role, "member": Code(f"{account}.member")},
            layers_line,
            opts(provider, apis),
        )
    for key, type_, suffix, args in state_grants(p, bot, preview=True):
        prog.resource(
            ("ci", var, "preview", key),
            type_,
            f"{p.name}-ci-{bot.name}-preview-{suffix}",
            args | {"member": Code(f"{account}.member")},
            layers_line,
            opts(provider, apis),
        )
    prog.export(
        f"automation_{bot.name}_preview_service_account", Code(f"{account}.email"), public=True
    )
    prog.export(
        f"automation_{bot.name}_preview_workload_identity_provider",
        Code(f"{oidc}.name"),
        public=True,
    )


# Pulumi's self-managed backend keeps a stack's files under
# .pulumi/<kind>/organization/<project>/.
STATE_KINDS = ("stacks", "history", "backups", "locks")


def state_grants(
    p, bot, preview: bool = False, projects: list[str] | None = None
) -> list[tuple[str, str, str, dict]]:
    """What a CI identity needs of the platform's state: on a gs:// backend,
    read every stack's files (StackReferences read upstream outputs) and
    write only its own layers' projects' (an IAM condition on object names;
    the bucket needs uniform bucket-level access); with a gcpkms:// secrets
    provider, encrypt and decrypt with that one key. A preview identity only
    reads the files (a preview takes no lock) and decrypts."""
    grants = []
    backend = p.state_backend or ""
    if backend.startswith("gs://"):
        bucket, _, prefix = backend.removeprefix("gs://").split("?", 1)[0].partition("/")
        prefix = prefix.strip("/")
        base = (
            f"projects/_/buckets/{bucket}/objects/" + (f"{prefix}/" if prefix else "") + ".pulumi"
        )

        def under(kind: str, start: str) -> str:
            # json.dumps: a CEL string literal, whatever the name holds.
            return f"resource.name.startsWith({json.dumps(f'{base}/{kind}/organization/{start}')})"

        tests = [
            under(kind, f"{project}/")
            for project in projects
            or [
                project_name(p, stack) for layer, stack in LAYER_DIRS.items() if layer in bot.layers
            ]
            for kind in STATE_KINDS
        ]
        if "apps" in bot.layers and projects is None:
            app_services = project_name(p, LAYER_DIRS["app-services"])
            for kind in STATE_KINDS:
                apps = under(kind, app_project_prefix(p))
                if "app-services" not in bot.layers:  # <platform>-app-services is not an app's
                    apps = f"({apps} && !{under(kind, f'{app_services}/')})"
                tests.append(apps)
        grants.append(
            (
                "state_read",
                "gcp.storage.BucketIAMMember",
                "state-read",
                {"bucket": bucket, "role": "roles/storage.objectViewer"},
            )
        )
        grants += (
            []
            if preview
            else [
                (
                    "state_write",
                    "gcp.storage.BucketIAMMember",
                    "state-write",
                    {
                        "bucket": bucket,
                        "role": "roles/storage.objectUser",
                        "condition": {
                            "title": "own-stacks-only",
                            "description": f"The state of the stacks CI identity {bot.name} deploys",
                            "expression": " || ".join(tests),
                        },
                    },
                ),
            ]
        )
    provider = p.state_secrets_provider or ""
    if provider.startswith("gcpkms://"):
        grants.append(
            (
                "state_key",
                "gcp.kms.CryptoKeyIAMMember",
                "state-key",
                {
                    "crypto_key_id": provider.removeprefix("gcpkms://").split("?", 1)[0],
                    "role": "roles/cloudkms.cryptoKeyDecrypter"
                    if preview
                    else "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                },
            )
        )
    return grants
