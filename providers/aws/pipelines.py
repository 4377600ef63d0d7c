"""Pipelines on AWS (`analytics.pipelines`), in layer 5 beside the queue or
stream they read: an EventBridge pipe takes a queue's messages and hands them
to a Firehose stream, which writes them into the bucket in batches; from a
Kinesis stream, the Firehose stream reads it itself. Both are
AWS's own services (no code of ours runs), each with a role of its own that
reaches exactly its source and its destination; a message the pipe cannot
deliver returns to the queue and, after its fifth receipt, goes to the
queue's dead-letter queue. Firehose writes what it cannot deliver under the
bucket's `<pipeline>-errors/` prefix and logs it to a log group of its own."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.common import (
    caller_identity,
    log_group,
    log_group_arns,
    opts,
    trust_policy,
    unique_name,
)
from crosswalk.providers.aws.storage import bucket_output

# What the pipe does to its queue: take, hide while delivering, delete.
QUEUE_ACTIONS = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
]
STREAM_ACTIONS = ["firehose:PutRecord", "firehose:PutRecordBatch"]
# What Firehose does to a Kinesis stream it reads (AWS's list).
KINESIS_ACTIONS = [
    "kinesis:DescribeStream",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
]
# What Firehose needs of its bucket to write objects in parts (AWS's list).
BUCKET_ACTIONS = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
OBJECT_ACTIONS = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
# Firehose writes a file when either fills first: 5 MiB or five minutes.
BUFFER_MIB = 5
BUFFER_SECONDS = 300
# Messages the pipe takes from the queue at once.
BATCH_SIZE = 10


def emit_pipelines(ctx: StackContext, provider: Code) -> None:
    """Each pipeline's roles, Firehose stream and pipe, after the queues."""
    p, prog = ctx.platform, ctx.program
    if not p.pipelines:
        return
    caller = caller_identity(ctx, provider)
    key = ctx.upstream("02-managed-infra", "secrets_key_arn")
    boundary = ctx.upstream("01-identity", "workload_boundary_arn")
    for pipeline in p.pipelines:
        var = pipeline.name.replace("-", "_")
        line = ctx.line(pipeline.path)
        name = f"{p.name}-pipeline-{pipeline.name}"
        bucket = p.bucket(pipeline.bucket)
        bucket_arn = ctx.upstream("02-managed-infra", bucket_output(bucket, "arn"))
        logs = log_group(
            ctx,
            provider,
            ("pipeline", var, "logs"),
            name,
            unique_name(
                ctx, f"pipeline.{pipeline.name}.logs", "pipelines", pipeline.name, template="/{}"
            ),
            key,
            line,
        )
        delivery, delivery_policy = _role(
            ctx,
            provider,
            (var, "delivery"),
            f"{name}-delivery",
            f"Firehose writes pipeline {pipeline.name}'s events into bucket {bucket.name}",
            "firehose.amazonaws.com",
            caller,
            boundary,
            line,
            [
                {"Effect": "Allow", "Action": BUCKET_ACTIONS, "Resource": bucket_arn},
                {
                    "Effect": "Allow",
                    "Action": OBJECT_ACTIONS,
                    "Resource": Call("pulumi.Output.concat", [bucket_arn, "/*"]),
                },
                # The bucket encrypts with the platform key: S3 asks for it as Firehose.
                {
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": key,
                    "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
                },
                {
                    "Effect": "Allow",
                    "Action": ["logs:PutLogEvents"],
                    "Resource": log_group_arns(Code(f"{logs}.arn")),
                },
            ],
        )
        source = p.datastore(pipeline.source)
        if source.engine == "stream":
            # Firehose reads the stream itself, as a role of its own.
            source_arn = prog.exports[f"datastore_{pipeline.source}_arn"]
            reader, reader_policy = _role(
                ctx,
                provider,
                (var, "source"),
                f"{name}-source",
                f"Firehose reads stream {pipeline.source} for pipeline {pipeline.name}",
                "firehose.amazonaws.com",
                caller,
                boundary,
                ctx.line(pipeline.path + ("from",)),
                [
                    {"Effect": "Allow", "Action": KINESIS_ACTIONS, "Resource": source_arn},
                    # The stream's records are encrypted with the platform key.
                    {
                        "Effect": "Allow",
                        "Action": ["kms:Decrypt"],
                        "Resource": key,
                        "Condition": {"StringLike": {"kms:ViaService": "kinesis.*.amazonaws.com"}},
                    },
                ],
            )
            # Firehose keeps nothing at rest with a stream as its source: the
            # records stay in the stream, encrypted there (AWS refuses
            # server-side encryption on such a Firehose stream).
            at_source = {
                "kinesis_source_configuration": {
                    "kinesis_stream_arn": source_arn,
                    "role_arn": Code(f"{reader}.arn"),
                }
            }
            waits = [delivery_policy, reader_policy]
        else:
            # At rest in Firehose too, with the platform key.
            at_source = {
                "server_side_encryption": {
                    "enabled": True,
                    "key_type": "CUSTOMER_MANAGED_CMK",
                    "key_arn": key,
                }
            }
            waits = [delivery_policy]
        stream = prog.resource(
            ("pipeline", var, "stream"),
            "aws.kinesis.FirehoseDeliveryStream",
            name,
            {
                "destination": "extended_s3",
                **at_source,
                "extended_s3_configuration": {
                    "bucket_arn": bucket_arn,
                    "role_arn": Code(f"{delivery}.arn"),
                    "prefix": f"{pipeline.name}/",
                    "error_output_prefix": f"{pipeline.name}-errors/!{{firehose:error-output-type}}/",
                    "buffering_size": BUFFER_MIB,
                    "buffering_interval": BUFFER_SECONDS,
                    "compression_format": "GZIP",
                    "kms_key_arn": key,
                    "cloudwatch_logging_options": {
                        "enabled": True,
                        "log_group_name": Code(f"{logs}.name"),
                        "log_stream_name": "delivery",
                    },
                },
            },
            line,
            # The roles' policies must be in place before Firehose checks the bucket.
            opts(provider, depends_on=waits),
        )
        prog.export(f"pipeline_{var}_stream_arn", Code(f"{stream}.arn"))
        if source.engine == "stream":
            continue
        # The queue's ARN, as this program exports it.
        queue_arn = prog.exports[f"datastore_{pipeline.source}_arn"]
        reader, reader_policy = _role(
            ctx,
            provider,
            (var, "pipe"),
            f"{name}-pipe",
            f"EventBridge Pipes hands queue {pipeline.source}'s messages to pipeline "
            f"{pipeline.name}'s stream",
            "pipes.amazonaws.com",
            caller,
            boundary,
            ctx.line(pipeline.path + ("from",)),
            [
                {"Effect": "Allow", "Action": QUEUE_ACTIONS, "Resource": queue_arn},
                {"Effect": "Allow", "Action": STREAM_ACTIONS, "Resource": Code(f"{stream}.arn")},
            ],
        )
        prog.resource(
            ("pipeline", var, "pipe"),
            "aws.pipes.Pipe",
            name,
            {
                "description": f"Queue {pipeline.source} into bucket {bucket.name}"[:512],
                "role_arn": Code(f"{reader}.arn"),
                "source": queue_arn,
                "source_parameters": {"sqs_queue_parameters": {"batch_size": BATCH_SIZE}},
                "target": Code(f"{stream}.arn"),
            },
            line,
            opts(provider, depends_on=[reader_policy]),
        )


def _role(ctx, provider, var, name, description, service, caller, boundary, line, statements):
    """A role `service` assumes for this account alone, within the workload
    boundary, with `statements` as its only policy: the role and its policy."""
    prog = ctx.program
    # The confused deputy: the service assumes it only on this account's behalf.
    trust = trust_policy(
        {"Service": service},
        {"StringEquals": {"aws:SourceAccount": Code(f"{caller}.account_id")}},
    )
    role = prog.resource(
        ("pipeline", *var, "role"),
        "aws.iam.Role",
        name,
        {
            "description": description[:1000],
            "assume_role_policy": trust,
            "permissions_boundary": boundary,
        },
        line,
        opts(provider),
    )
    policy = prog.resource(
        ("pipeline", *var, "role", "policy"),
        "aws.iam.RolePolicy",
        name,
        {
            "role": Code(f"{role}.id"),
            "policy": Call(
                "pulumi.Output.json_dumps", [{"Version": "2012-10-17", "Statement": statements}]
            ),
        },
        line,
        opts(provider),
    )
    return role, policy
