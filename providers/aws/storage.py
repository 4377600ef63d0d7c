"""Buckets on AWS (`storage.buckets`, in layer 2): private S3 buckets encrypted
with the platform key, their access logs in one platform log bucket, and the
grant an app's IRSA role gets on the buckets it uses."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.common import KEY_USE_ACTIONS, caller_identity, opts, unique_name
from crosswalk.providers.common import protect

# S3 names are unique across AWS: the account's id ends each name (12 digits
# and a hyphen of S3's 63 characters).
NAME_LIMIT = 63 - 13
# How long the platform's access logs are kept: a year, as its other records.
ACCESS_LOG_DAYS = 365

READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]
WRITE_ACTIONS = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
LIST_ACTIONS = ["s3:ListBucket", "s3:GetBucketLocation"]


def bucket_output(bucket, output: str) -> str:
    """The managed-infra output an app reads of a bucket: name, arn or endpoint."""
    return f"bucket_{bucket.name.replace('-', '_')}_{output}"


def emit_buckets(ctx: StackContext, provider: Code, key: Code) -> None:
    """The platform's buckets, each private, owned by the account alone,
    encrypted with `key`, reached over TLS only, versioned and logged."""
    p, prog = ctx.platform, ctx.program
    if not p.buckets:
        return
    caller = caller_identity(ctx, provider)
    line = ctx.line(("storage", "buckets"))
    logs = _bucket(
        ctx,
        provider,
        ("access_logs", "bucket"),
        f"{p.name}-access-logs",
        unique_name(ctx, "accessLogBucket", "access-logs", limit=NAME_LIMIT),
        caller,
        line,
    )
    # S3 writes access logs only to a bucket encrypted with S3's own keys.
    _secure(ctx, provider, "access_logs", f"{p.name}-access-logs", logs, None, line)
    prog.resource(
        ("access_logs", "lifecycle"),
        "aws.s3.BucketLifecycleConfiguration",
        f"{p.name}-access-logs",
        {
            "bucket": Code(f"{logs}.id"),
            "rules": [_expiry("expire-access-logs", ACCESS_LOG_DAYS)],
        },
        line,
        opts(provider),
    )
    for bucket in p.buckets:
        here = ctx.line(bucket.path)
        var = bucket.name.replace("-", "_")
        name = f"{p.name}-{bucket.name}"
        resource = _bucket(
            ctx,
            provider,
            ("bucket", var),
            name,
            unique_name(ctx, f"bucket.{bucket.name}", bucket.name, limit=NAME_LIMIT),
            caller,
            here,
        )
        # Anonymous readers cannot use the platform key: a public bucket is
        # encrypted with S3's own keys.
        versioning = _secure(
            ctx,
            provider,
            ("bucket", var),
            name,
            resource,
            None if bucket.public else key,
            here,
            logs=logs,
            caller=caller,
            public=bucket.public,
        )
        rules = []
        if bucket.expire_after_days is not None:
            rules.append(_expiry("expire", bucket.expire_after_days))
        if bucket.cold_after_days is not None:
            rules.append(_cold("cold", bucket.cold_after_days))
        if rules:
            lifecycle_key = "expireAfterDays" if bucket.expire_after_days else "coldAfterDays"
            prog.resource(
                ("bucket", var, "lifecycle"),
                "aws.s3.BucketLifecycleConfiguration",
                name,
                {"bucket": Code(f"{resource}.id"), "rules": rules},
                ctx.line(bucket.path + (lifecycle_key,)),
                opts(provider),
            )
        if bucket.retain_days is not None:
            # Governance mode: no role the platform makes holds
            # s3:BypassGovernanceRetention, so no workload can shorten it.
            prog.resource(
                ("bucket", var, "object_lock"),
                "aws.s3.BucketObjectLockConfiguration",
                name,
                {
                    "bucket": Code(f"{resource}.id"),
                    "object_lock_enabled": "Enabled",
                    "rule": {
                        "default_retention": {"mode": "GOVERNANCE", "days": bucket.retain_days}
                    },
                },
                ctx.line(bucket.path + ("retainDays",)),
                # S3 turns Object Lock on only for a versioned bucket.
                opts(provider, depends_on=[versioning]),
            )
        prog.export(bucket_output(bucket, "name"), Code(f"{resource}.bucket"))
        prog.export(bucket_output(bucket, "arn"), Code(f"{resource}.arn"))
        endpoint = prog.assign(
            prog.name(var, "endpoint"),
            Call(
                "pulumi.Output.concat",
                ["https://", Code(f"{resource}.bucket_regional_domain_name")],
            ),
        )
        prog.export(bucket_output(bucket, "endpoint"), endpoint)


def _bucket(ctx, provider, var, name: str, bucket_name, caller: Code, line) -> Code:
    return ctx.program.resource(
        var,
        "aws.s3.Bucket",
        name,
        {
            "bucket": Call(
                "pulumi.Output.concat", [bucket_name, "-", Code(f"{caller}.account_id")]
            ),
            "force_destroy": False,
        },
        line,
        opts(provider, **protect(ctx)),
    )


def _secure(
    ctx, provider, var, name: str, bucket: Code, key, line, logs=None, caller=None, public=False
) -> Code:
    """What makes a bucket private: every public-access block, no ACLs (the
    account owns every object), encryption at rest, TLS only, versioning and
    (for the platform's own buckets) access logs. A `public` bucket lets
    anyone read its objects through its policy, and nothing else: ACLs stay
    blocked and ignored. Returns the versioning resource."""
    prog = ctx.program
    parts = var if isinstance(var, tuple) else (var,)
    target = Code(f"{bucket}.id")
    blocks = prog.resource(
        (*parts, "public_access"),
        "aws.s3.BucketPublicAccessBlock",
        name,
        {
            "bucket": target,
            "block_public_acls": True,
            "block_public_policy": not public,
            "ignore_public_acls": True,
            "restrict_public_buckets": not public,
        },
        line,
        opts(provider),
    )
    prog.resource(
        (*parts, "ownership"),
        "aws.s3.BucketOwnershipControls",
        name,
        {"bucket": target, "rule": {"object_ownership": "BucketOwnerEnforced"}},
        line,
        opts(provider),
    )
    if key is None:
        default = {"sse_algorithm": "AES256"}
        rule = {"apply_server_side_encryption_by_default": default}
    else:
        default = {"sse_algorithm": "aws:kms", "kms_master_key_id": Code(f"{key}.arn")}
        rule = {"apply_server_side_encryption_by_default": default, "bucket_key_enabled": True}
    prog.resource(
        (*parts, "encryption"),
        "aws.s3.BucketServerSideEncryptionConfiguration",
        name,
        {"bucket": target, "rules": [rule]},
        line,
        opts(provider),
    )
    versioning = prog.resource(
        (*parts, "versioning"),
        "aws.s3.BucketVersioning",
        name,
        {"bucket": target, "versioning_configuration": {"status": "Enabled"}},
        line,
        opts(provider),
    )
    statements = [_tls_only(bucket)]
    if public:
        statements.append(_anyone_may_read(bucket))
    if logs is None:
        statements.append(_logging_may_write(bucket, caller or caller_identity(ctx, provider)))
    else:
        prog.resource(
            (*parts, "logging"),
            "aws.s3.BucketLogging",
            name,
            {
                "bucket": target,
                "target_bucket": Code(f"{logs}.id"),
                "target_prefix": Call("pulumi.Output.concat", [Code(f"{bucket}.bucket"), "/"]),
            },
            line,
            opts(provider),
        )
    prog.resource(
        (*parts, "policy"),
        "aws.s3.BucketPolicy",
        name,
        {
            "bucket": target,
            "policy": Call(
                "pulumi.Output.json_dumps", [{"Version": "2012-10-17", "Statement": statements}]
            ),
        },
        line,
        # A bucket policy is refused while the public-access block is being set.
        opts(provider, depends_on=[blocks]),
    )
    return versioning


def _tls_only(bucket: Code) -> dict:
    return {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [
            Code(f"{bucket}.arn"),
            Call("pulumi.Output.concat", [Code(f"{bucket}.arn"), "/*"]),
        ],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _anyone_may_read(bucket: Code) -> dict:
    """Static assets: anyone may get an object, and do nothing else (no list)."""
    return {
        "Sid": "AnyoneMayReadObjects",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": Call("pulumi.Output.concat", [Code(f"{bucket}.arn"), "/*"]),
    }


def _logging_may_write(bucket: Code, caller: Code) -> dict:
    """S3's log delivery writes the account's buckets' logs, and no other's."""
    return {
        "Sid": "AccessLogsOfThisAccount",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": Call("pulumi.Output.concat", [Code(f"{bucket}.arn"), "/*"]),
        "Condition": {"StringEquals": {"aws:SourceAccount": Code(f"{caller}.account_id")}},
    }


def _expiry(rule_id: str, days: int) -> dict:
    return {
        "id": rule_id,
        "status": "Enabled",
        "filter": {},
        "expiration": {"days": days},
        "noncurrent_version_expiration": {"noncurrent_days": days},
        "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
    }


def _cold(rule_id: str, days: int) -> dict:
    """Objects, and versions replaced as long ago, to Standard-IA."""
    return {
        "id": rule_id,
        "status": "Enabled",
        "filter": {},
        "transitions": [{"days": days, "storage_class": "STANDARD_IA"}],
        "noncurrent_version_transitions": [
            {"noncurrent_days": days, "storage_class": "STANDARD_IA"}
        ],
    }


def bucket_statements(ctx: StackContext, app) -> list[dict]:
    """The IRSA statements that give an app the buckets it uses, and only
    those: list the bucket, read (and, read-write, write and delete) its
    objects, and use the platform key through S3 to do so."""
    statements = []
    for use in app.buckets:
        bucket = ctx.platform.bucket(use.bucket)
        arn = ctx.upstream("02-managed-infra", bucket_output(bucket, "arn"))
        objects = Call("pulumi.Output.concat", [arn, "/*"])
        statements.append({"Effect": "Allow", "Action": LIST_ACTIONS, "Resource": arn})
        actions = READ_ACTIONS if use.read_only else READ_ACTIONS + WRITE_ACTIONS
        statements.append({"Effect": "Allow", "Action": actions, "Resource": objects})
    # A public bucket is encrypted with S3's keys: the platform key is not needed there.
    private = [u for u in app.buckets if not ctx.platform.bucket(u.bucket).public]
    if private:
        key_actions = ["kms:Decrypt"] if all(u.read_only for u in private) else KEY_USE_ACTIONS
        statements.append(
            {
                "Effect": "Allow",
                "Action": key_actions,
                "Resource": ctx.upstream("02-managed-infra", "secrets_key_arn"),
                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
            }
        )
    return statements
