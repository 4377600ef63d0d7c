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
DAY_SECONDS = 24 * 3600
SOFT_DELETE_SECONDS = 7 * DAY_SECONDS
# The infrequent-access class objects move to after `coldAfterDays`.
COLD_CLASS = "NEARLINE"
# What anyone may do with a public bucket: get an object (no list, no write).
PUBLIC_ROLE = "roles/storage.legacyObjectReader"
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
            # A public bucket lets the grant below through, and nothing else.
            "public_access_prevention": "inherited" if bucket.public else "enforced",
            "encryption": {"default_kms_key_name": Code(f"{key}.id")},
            # Cloud Storage refuses versioning beside a retention policy: a
            # retained object cannot be replaced, so it needs no versions.
            "versioning": {"enabled": bucket.retain_days is None},
            "soft_delete_policy": {"retention_duration_seconds": SOFT_DELETE_SECONDS},
            "force_destroy": False,
        }
        rules = _lifecycle_rules(bucket)
        if rules:
            args["lifecycle_rules"] = rules
        if bucket.retain_days is not None:
            # Unlocked: the platform team may still shorten it; locking is for good.
            args["retention_policy"] = {
                "retention_period": bucket.retain_days * DAY_SECONDS,
                "is_locked": False,
            }
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
        if bucket.public:
            prog.resource(
                ("bucket", var_part(bucket.name), "public_read"),
                "gcp.storage.BucketIAMMember",
                f"{p.name}-{bucket.name}-public-read",
                # Object reads only: objectViewer would also list the bucket.
                {"bucket": Code(f"{resource}.name"), "role": PUBLIC_ROLE, "member": "allUsers"},
                ctx.line(bucket.path + ("public",)),
                opts(provider),
            )


def _lifecycle_rules(bucket) -> list[dict]:
    rules = []
    if bucket.expire_after_days is not None:
        days = bucket.expire_after_days
        rules += [
            {"action": {"type": "Delete"}, "condition": {"age": days}},
            {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": days}},
        ]
    if bucket.cold_after_days is not None:
        # Age counts from an object's creation, replaced versions included.
        rules.append(
            {
                "action": {"type": "SetStorageClass", "storage_class": COLD_CLASS},
                "condition": {
                    "age": bucket.cold_after_days,
                    "matches_storage_classes": ["STANDARD"],
                },
            }
        )
    return rules


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
