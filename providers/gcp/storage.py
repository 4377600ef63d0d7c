"""Buckets on GCP (`storage.buckets`, in layer 2): private Cloud Storage buckets
encrypted with a key of the platform's key ring, and the grant an app's
service account gets on the buckets it uses."""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.common import moved_from, protect
from crosswalk.providers.gcp.common import agent_key, opts, region, var_part
from crosswalk.providers.gcp.rules import bucket_name

STORAGE_API = "storage.googleapis.com"
ENDPOINT = "https://storage.googleapis.com"
# Deleted objects stay recoverable this long (Cloud Storage's soft delete).
SOFT_DELETE_SECONDS = 7 * 24 * 3600
# What an app may do with a bucket's objects, by `access` (neither role
# reaches the bucket's settings or IAM).
ACCESS_ROLES = {"read-only": "roles/storage.objectViewer", "read-write": "roles/storage.objectUser"}


def bucket_output(bucket) -> str:
    """The managed-infra output with a bucket's name, which its apps read."""
    return f"bucket_{bucket.name.replace('-', '_')}_name"


def emit_buckets(ctx: StackContext, provider: Code, apis, ring: Code, project_info: Code):
    """The platform's buckets: uniform bucket-level access (no ACLs), public
    access prevention enforced, encrypted with the platform's storage key,
    versioned, deleted objects kept a week."""
    p, prog = ctx.platform, ctx.program
    if not p.buckets:
        return
    line = ctx.line(("storage", "buckets"))
    # Cloud Storage's service agent encrypts the buckets' objects with the key.
    key, grant = agent_key(
        ctx, provider, apis, ring, project_info, "storage", "gs-project-accounts", line
    )
    for bucket in p.buckets:
        args = {
            "name": ctx.setting(
                f"names.bucket.{bucket.name}", lambda q, env, b=bucket: bucket_name(q, b.name)
            ),
            "location": region(ctx),
            "storage_class": "STANDARD",
            "uniform_bucket_level_access": True,
            "public_access_prevention": "enforced",
            "encryption": {"default_kms_key_name": Code(f"{key}.id")},
            "versioning": {"enabled": True},
            "soft_delete_policy": {"retention_duration_seconds": SOFT_DELETE_SECONDS},
            "force_destroy": False,
        }
        if bucket.expire_after_days is not None:
            days = bucket.expire_after_days
            args["lifecycle_rules"] = [
                {"action": {"type": "Delete"}, "condition": {"age": days}},
                {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": days}},
            ]
        resource = prog.resource(
            ("bucket", var_part(bucket.name)),
            "gcp.storage.Bucket",
            f"{p.name}-{bucket.name}",
            args,
            ctx.line(bucket.path),
            # The key must be usable by Cloud Storage before the bucket names it.
            {"provider": provider, "depends_on": Code(f"[*{apis}, {grant}]")} | protect(ctx),
        )
        prog.export(bucket_output(bucket), Code(f"{resource}.name"))


def emit_bucket_grants(ctx: StackContext, provider: Code, app, member, parts) -> None:
    """The app's service account on each bucket it uses, that bucket only,
    with the role of its access; the app learns the bucket's name and endpoint."""
    p, prog = ctx.platform, ctx.program
    for use in app.buckets:
        bucket = p.bucket(use.bucket)
        name = ctx.upstream("02-managed-infra", bucket_output(bucket))
        role = ACCESS_ROLES[use.access]
        prog.resource(
            (var_part(bucket.name), "bucket"),
            "gcp.storage.BucketIAMMember",
            f"{p.name}-app-{app.name}-bucket-{bucket.name}",
            {"bucket": name, "role": role, "member": member},
            ctx.line(use.path),
            opts(
                provider,
                **moved_from(lambda a, b=bucket.name: f"{p.name}-app-{a}-bucket-{b}", app),
            ),
        )
        parts.env |= k8s.bucket_env(bucket.name, name, ENDPOINT)
