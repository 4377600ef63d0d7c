"""Pipelines on GCP (`analytics.pipelines`): a Pub/Sub subscription of the
queue's or the stream's topic that Pub/Sub itself delivers into a Cloud
Storage bucket or a BigQuery table, as the pipeline's own service account. Three layers hold a
part each: the identity layer makes the service account (it alone manages
them), managed-infra grants it its destination (and makes the warehouse's
table), app-services makes the subscription beside its topic."""

from __future__ import annotations

import json

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.common import protect
from crosswalk.providers.gcp.common import (
    account_id,
    invoke_opts,
    opts,
    project,
    service_agent,
    var_part,
)
from crosswalk.providers.gcp.rules import gcp_name
from crosswalk.providers.gcp.storage import bucket_output as bucket_name_output
from crosswalk.providers.gcp.warehouses import warehouse_output

# What the pipeline's account may do with its destination: create objects
# (and see the bucket it writes to), or append rows to its table.
BUCKET_ROLES = ("roles/storage.objectCreator", "roles/storage.legacyBucketReader")
TABLE_ROLE = "roles/bigquery.dataEditor"
# The columns a BigQuery subscription writes with `write_metadata`.
TABLE_SCHEMA = [
    {"name": "subscription_name", "type": "STRING", "mode": "NULLABLE"},
    {"name": "message_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "publish_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "data", "type": "BYTES", "mode": "NULLABLE"},
    {"name": "attributes", "type": "JSON", "mode": "NULLABLE"},
]
WEEK = "604800s"


def account_output(pipeline) -> str:
    return f"pipeline_{pipeline.name.replace('-', '_')}_service_account"


def table_output(pipeline) -> str:
    return f"pipeline_{pipeline.name.replace('-', '_')}_table"


def emit_pipeline_accounts(ctx: StackContext, provider: Code, apis) -> dict:
    """Layer 1: each pipeline's service account, which Pub/Sub's service agent
    may act as to deliver (and nobody else)."""
    p, prog = ctx.platform, ctx.program
    accounts: dict = {}
    if not p.pipelines:
        return accounts
    project_info = prog.assign(
        prog.name("project_of_pipelines"),
        Call(
            "gcp.organizations.get_project",
            kwargs={"project_id": project(ctx), "opts": invoke_opts(provider)},
        ),
    )
    for pipeline in p.pipelines:
        var = var_part(pipeline.name)
        line = ctx.line(pipeline.path)
        account = prog.resource(
            ("pipeline", var, "account"),
            "gcp.serviceaccount.Account",
            f"{p.name}-pipeline-{pipeline.name}",
            {
                "account_id": account_id(
                    ctx, f"pipeline-{pipeline.name}", f"pipeline-{pipeline.name}"
                ),
                "display_name": f"Pipeline {pipeline.name} of platform {p.name}"[:100],
                "description": f"Delivers {pipeline.source} into {pipeline.destination}"[:256],
            },
            line,
            opts(provider, apis),
        )
        prog.resource(
            ("pipeline", var, "delivery"),
            "gcp.serviceaccount.IAMMember",
            f"{p.name}-pipeline-{pipeline.name}-delivery",
            {
                "service_account_id": Code(f"{account}.name"),
                "role": "roles/iam.serviceAccountTokenCreator",
                "member": service_agent(project_info, "gcp-sa-pubsub"),
            },
            line,
            opts(provider, apis),
        )
        prog.export(account_output(pipeline), Code(f"{account}.email"))
        accounts[pipeline.name] = account
    return accounts


def emit_pipeline_deployer(ctx: StackContext, provider: Code, apis, accounts, bot, bot_account):
    """The CI identity that deploys app-services names each pipeline's account
    in its subscription, which takes acting as that account (that one only:
    a grant on the account, not on the project)."""
    if "app-services" not in bot.layers:
        return
    p, prog = ctx.platform, ctx.program
    for pipeline in p.pipelines:
        prog.resource(
            ("pipeline", var_part(pipeline.name), "deployer", var_part(bot.name)),
            "gcp.serviceaccount.IAMMember",
            f"{p.name}-pipeline-{pipeline.name}-deployer-{bot.name}",
            {
                "service_account_id": Code(f"{accounts[pipeline.name]}.name"),
                "role": "roles/iam.serviceAccountUser",
                "member": Code(f"{bot_account}.member"),
            },
            ctx.line(bot.path + ("layers",)),
            opts(provider, apis),
        )


def emit_pipeline_destinations(ctx: StackContext, provider: Code) -> None:
    """Layer 2: each pipeline's destination, granted to its account alone:
    object creation on its bucket, or rows of its own table of the warehouse."""
    p, prog = ctx.platform, ctx.program
    # The buckets' and datasets' ids, as this program exports them.
    exported = prog.exports
    for pipeline in p.pipelines:
        var = var_part(pipeline.name)
        line = ctx.line(pipeline.destination_path)
        member = Call(
            "pulumi.Output.concat",
            ["serviceAccount:", ctx.upstream("01-identity", account_output(pipeline))],
        )
        if pipeline.bucket is not None:
            for role in BUCKET_ROLES:
                prog.resource(
                    ("pipeline", var, role.split(".")[-1]),
                    "gcp.storage.BucketIAMMember",
                    f"{p.name}-pipeline-{pipeline.name}-{role.split('.')[-1]}",
                    {
                        "bucket": exported[bucket_name_output(p.bucket(pipeline.bucket))],
                        "role": role,
                        "member": member,
                    },
                    line,
                    opts(provider),
                )
            continue
        table = prog.resource(
            ("pipeline", var, "table"),
            "gcp.bigquery.Table",
            f"{p.name}-pipeline-{pipeline.name}",
            {
                "dataset_id": exported[warehouse_output(p.warehouse(pipeline.warehouse))],
                "table_id": pipeline.name.replace("-", "_"),
                "description": f"Events of {pipeline.source}, delivered by pipeline {pipeline.name}",
                "schema": json.dumps(TABLE_SCHEMA),
                "time_partitioning": {"type": "DAY", "field": "publish_time"},
                "deletion_protection": True,
            },
            line,
            opts(provider, **protect(ctx)),
        )
        prog.resource(
            ("pipeline", var, "writer"),
            "gcp.bigquery.IamMember",
            f"{p.name}-pipeline-{pipeline.name}-writer",
            {
                "dataset_id": Code(f"{table}.dataset_id"),
                "table_id": Code(f"{table}.table_id"),
                "role": TABLE_ROLE,
                "member": member,
            },
            line,
            opts(provider),
        )
        path = prog.assign(
            prog.name(var, "table_path"),
            Call(
                "pulumi.Output.concat",
                [
                    project(ctx),
                    ".",
                    Code(f"{table}.dataset_id"),
                    ".",
                    Code(f"{table}.table_id"),
                ],
            ),
        )
        prog.export(table_output(pipeline), path)


def emit_pipelines(ctx: StackContext, provider: Code, apis, queues: dict, project_info) -> None:
    """Layer 5: each pipeline's subscription of its queue's topic, delivered
    by Pub/Sub as the pipeline's account; what fails five times goes to the
    queue's dead-letter topic."""
    p, prog = ctx.platform, ctx.program
    if not p.pipelines:
        return
    agent = service_agent(project_info, "gcp-sa-pubsub")
    for pipeline in p.pipelines:
        var = var_part(pipeline.name)
        line = ctx.line(pipeline.path)
        topic, dead_letters = queues[pipeline.source]
        email = ctx.upstream("01-identity", account_output(pipeline))
        args = {
            "name": ctx.setting(
                f"names.pipeline.{pipeline.name}",
                lambda q, env, n=pipeline.name: gcp_name(q, 255, "pipeline", n),
            ),
            "topic": Code(f"{topic}.id"),
            "ack_deadline_seconds": 60,
            "message_retention_duration": WEEK,
            "expiration_policy": {"ttl": ""},
            "retry_policy": {"minimum_backoff": "10s", "maximum_backoff": "600s"},
            "dead_letter_policy": {
                "dead_letter_topic": Code(f"{dead_letters}.id"),
                "max_delivery_attempts": 5,
            },
        }
        if pipeline.bucket is not None:
            bucket = p.bucket(pipeline.bucket)
            args["cloud_storage_config"] = {
                "bucket": ctx.upstream("02-managed-infra", bucket_name_output(bucket)),
                "filename_prefix": f"{pipeline.name}/",
                "filename_suffix": ".avro",
                "max_duration": "300s",
                "avro_config": {"write_metadata": True},
                "service_account_email": email,
            }
        else:
            args["bigquery_config"] = {
                "table": ctx.upstream("02-managed-infra", table_output(pipeline)),
                "write_metadata": True,
                "service_account_email": email,
            }
        subscription = prog.resource(
            ("pipeline", var),
            "gcp.pubsub.Subscription",
            f"{p.name}-pipeline-{pipeline.name}",
            args,
            line,
            # It holds the events not delivered yet.
            opts(provider, apis, **protect(ctx)),
        )
        # Pub/Sub's agent forwards what it could not deliver to the dead letters.
        prog.resource(
            ("pipeline", var, "dead_letters"),
            "gcp.pubsub.SubscriptionIAMMember",
            f"{p.name}-pipeline-{pipeline.name}-dead-letters",
            {
                "subscription": Code(f"{subscription}.id"),
                "role": "roles/pubsub.subscriber",
                "member": agent,
            },
            line,
            opts(provider, apis),
        )
