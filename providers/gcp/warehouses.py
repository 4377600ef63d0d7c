"""Warehouses on GCP (`analytics.warehouses`, in layer 2): BigQuery datasets
encrypted with a key of the platform's key ring, the teams' dataset roles by
their access, and the grant an app's service account gets on the warehouses
it uses."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.common import moved_from, protect
from crosswalk.providers.gcp.common import invoke_opts, opts, project, region, var_part
from crosswalk.providers.gcp.rules import gcp_name
from crosswalk.providers.kubernetes.common import env_prefix

BIGQUERY_API = "bigquery.googleapis.com"
# A team's role on each dataset, by its access (dataset roles: none reaches
# another dataset of the project).
TEAM_ROLES = {
    "admin": "roles/bigquery.dataOwner",
    "developer": "roles/bigquery.dataEditor",
    "viewer": "roles/bigquery.dataViewer",
}
# What an app may do with a dataset's tables, by `access`.
ACCESS_ROLES = {"read-only": "roles/bigquery.dataViewer", "read-write": "roles/bigquery.dataEditor"}
# Running a query is a right on the project; what a query reads stays the
# datasets' grants.
JOB_ROLE = "roles/bigquery.jobUser"
DAY_MS = 24 * 3600 * 1000


def dataset_id(platform, warehouse: str) -> str:
    """A dataset's id, unique in the project: letters, digits and underscores."""
    return gcp_name(platform, 1024, warehouse).replace("-", "_")


def warehouse_output(warehouse) -> str:
    """The managed-infra output with a warehouse's dataset id, which its apps read."""
    return f"warehouse_{var_part(warehouse.name)}_dataset"


def emit_warehouses(ctx: StackContext, provider: Code, apis, ring: Code, project_info) -> None:
    """The platform's warehouses: one BigQuery dataset each, in the platform's
    region, encrypted with the platform's warehouse key (BigQuery's
    encryption account may use it, and nobody else through this program), its
    access dataset-level IAM only."""
    p, prog = ctx.platform, ctx.program
    if not p.warehouses:
        return
    line = ctx.line(("analytics", "warehouses"))
    key = prog.resource(
        "warehouse_key",
        "gcp.kms.CryptoKey",
        f"{p.name}-warehouse",
        {
            "name": f"{p.name}-warehouse",
            "key_ring": Code(f"{ring}.id"),
            "purpose": "ENCRYPT_DECRYPT",
            "rotation_period": "7776000s",  # 90 days
        },
        line,
        opts(provider, apis, **protect(ctx)),
    )
    # BigQuery's encryption account of the project, made on first request.
    agent = prog.assign(
        prog.name("bigquery_agent"),
        Call(
            "gcp.bigquery.get_default_service_account",
            kwargs={"project": project(ctx), "opts": invoke_opts(provider)},
        ),
    )
    grant = prog.resource(
        "warehouse_key_agent",
        "gcp.kms.CryptoKeyIAMMember",
        f"{p.name}-warehouse-agent",
        {
            "crypto_key_id": Code(f"{key}.id"),
            "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "member": Code(f"{agent}.member"),
        },
        line,
        opts(provider, apis),
    )
    for warehouse in p.warehouses:
        var = var_part(warehouse.name)
        args = {
            "dataset_id": ctx.setting(
                f"names.warehouse.{warehouse.name}",
                lambda q, env, w=warehouse: dataset_id(q, w.name),
            ),
            "friendly_name": f"{p.name} {warehouse.name}",
            "description": f"Warehouse {warehouse.name} of platform {p.name}",
            "location": region(ctx),
            "default_encryption_configuration": {"kms_key_name": Code(f"{key}.id")},
            "delete_contents_on_destroy": False,
        }
        if warehouse.expire_tables_after_days is not None:
            args["default_table_expiration_ms"] = ctx.setting(
                f"warehouse.{warehouse.name}.expireTablesAfterDays",
                lambda q, env, n=warehouse.name: q.warehouse(n).expire_tables_after_days * DAY_MS,
            )
        dataset = prog.resource(
            ("warehouse", var),
            "gcp.bigquery.Dataset",
            f"{p.name}-{warehouse.name}",
            args,
            ctx.line(warehouse.path),
            # BigQuery must be able to use the key before the dataset names it.
            {"provider": provider, "depends_on": Code(f"[*{apis}, {grant}]")} | protect(ctx),
        )
        for team in p.teams:
            for i, member in enumerate(team.members):
                prog.resource(
                    ("warehouse", var, "team", var_part(team.name), str(i)),
                    "gcp.bigquery.DatasetIamMember",
                    f"{p.name}-{warehouse.name}-team-{team.name}-{i}",
                    {
                        "dataset_id": Code(f"{dataset}.dataset_id"),
                        "role": TEAM_ROLES[team.access],
                        "member": member,
                    },
                    ctx.line(team.path + ("members", i)),
                    opts(provider),
                )
        prog.export(warehouse_output(warehouse), Code(f"{dataset}.dataset_id"))


def emit_warehouse_grants(ctx: StackContext, provider: Code, app, member, parts) -> None:
    """The app's service account on each warehouse it uses, that dataset only,
    with the role of its access; the app learns the dataset's id."""
    p, prog = ctx.platform, ctx.program
    for use in app.warehouses:
        warehouse = p.warehouse(use.warehouse)
        dataset = ctx.upstream("02-managed-infra", warehouse_output(warehouse))
        prog.resource(
            (var_part(warehouse.name), "warehouse"),
            "gcp.bigquery.DatasetIamMember",
            f"{p.name}-app-{app.name}-warehouse-{warehouse.name}",
            {"dataset_id": dataset, "role": ACCESS_ROLES[use.access], "member": member},
            ctx.line(use.path),
            opts(
                provider,
                **moved_from(lambda a, w=warehouse.name: f"{p.name}-app-{a}-warehouse-{w}", app),
            ),
        )
        parts.env |= {f"{env_prefix(warehouse.name)}_WAREHOUSE": dataset}
    if app.warehouses:
        prog.resource(
            ("warehouse", "jobs"),
            "gcp.projects.IAMMember",
            f"{p.name}-app-{app.name}-bigquery-jobs",
            {"project": project(ctx), "role": JOB_ROLE, "member": member},
            ctx.line(app.warehouses[0].path),
            opts(provider, **moved_from(lambda a: f"{p.name}-app-{a}-bigquery-jobs", app)),
        )
