"""Buckets' lifecycle, retention and public read (`storage.buckets[]`:
`coldAfterDays`, `retainDays`, `public`), read from the offline plans of each
cloud's sample with two more buckets: `archive` (colder after 90 days,
retained 30, deleted after 400) and `static` (anyone may read it), both
written by the storefront. Every property is checked on the records that
would reach the cloud."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.pipeline import check_file
from crosswalk.compiler.plan import plan_tree

ROOT = Path(__file__).resolve().parent.parent
BUCKETS = """\
    - {name: assets}
    - {name: archive, coldAfterDays: 90, retainDays: 30, expireAfterDays: 400}
    - {name: static, public: true}
"""
STOREFRONT_USES = "{bucket: assets, access: read-only}"


def platform_text(cloud: str) -> str:
    text = (ROOT / "samples" / cloud / "platform.yaml").read_text()
    assert text.count("    - {name: assets}\n") == 1 and text.count(STOREFRONT_USES) == 1
    text = text.replace("    - {name: assets}\n", BUCKETS)
    return text.replace(STOREFRONT_USES, STOREFRONT_USES + ", archive, static")


def plan_of(cloud: str, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"buckets-{cloud}")
    source = tmp / "platform.yaml"
    source.write_text(platform_text(cloud))
    out = tmp / "out"
    result = compile_file(source, out)
    assert result.files, [d.render() for d in result.report.errors]
    plan = plan_tree(out, "prod", only=["06-apps/storefront"])
    assert {s.dir: s.error for s in plan.stacks if s.error is not None} == {}
    return plan


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    return plan_of("aws", tmp_path_factory)


@pytest.fixture(scope="module")
def gcp(tmp_path_factory):
    return plan_of("gcp", tmp_path_factory)


@pytest.fixture(scope="module")
def azure(tmp_path_factory):
    return plan_of("azure", tmp_path_factory)


def of_type(plan, type_: str, stack: str = "02-managed-infra") -> list:
    return [r for r in plan.stack(stack).resources if r.type == type_]


def inputs(record) -> dict:
    return json.loads(json.dumps(reveal(record.inputs), default=str))


def only(records: list, name: str):
    (record,) = [r for r in records if r.name == name]
    return record


def test_a_public_bucket_is_a_warning_at_its_key(tmp_path) -> None:
    source = tmp_path / "platform.yaml"
    source.write_text(platform_text("aws"))
    report = check_file(str(source)).report
    assert report.errors == []
    (warning,) = [d for d in report.warnings if d.code == "CW631"]
    assert "static" in warning.message
    line = source.read_text().splitlines()[warning.span.line - 1]
    assert "public: true" in line


# --- AWS ---------------------------------------------------------------------------------


def aws_parts(plan, name: str) -> dict:
    return {
        r.type.rsplit(":", 1)[1]: r
        for r in plan.stack("02-managed-infra").resources
        if r.type.startswith("aws:s3/") and r.name == name
    }


def test_aws_archive_goes_cold_is_locked_in_governance_mode_and_expires(aws) -> None:
    plan = aws
    parts = aws_parts(plan, "acme-archive")
    rules = {r["id"]: r for r in inputs(parts["BucketLifecycleConfiguration"])["rules"]}
    assert rules["cold"]["transitions"] == [{"days": 90, "storageClass": "STANDARD_IA"}]
    assert rules["cold"]["noncurrentVersionTransitions"] == [
        {"noncurrentDays": 90, "storageClass": "STANDARD_IA"}
    ]
    assert rules["expire"]["expiration"] == {"days": 400}
    lock = parts["BucketObjectLockConfiguration"]
    settings = inputs(lock)
    assert settings["objectLockEnabled"] == "Enabled"
    assert settings["rule"]["defaultRetention"] == {"mode": "GOVERNANCE", "days": 30}
    # S3 takes Object Lock only on a versioned bucket: the lock waits for versioning.
    assert parts["BucketVersioning"].urn in lock.dependencies
    # A private bucket without `retainDays` has no lock.
    assert "BucketObjectLockConfiguration" not in aws_parts(plan, "acme-assets")


def test_aws_no_role_of_the_platform_may_bypass_governance_retention(aws) -> None:
    plan = aws
    policies = []
    for stack in plan.stacks:
        for record in stack.resources:
            if record.type in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
                policies.append((record.name, json.loads(inputs(record)["policy"])))
    assert len(policies) > 10
    bypass = ["s3:BypassGovernanceRetention", "s3:PutObjectRetention"]
    for name, document in policies:
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            for action in actions:
                assert not any(fnmatch.fnmatch(b, action) for b in bypass), (name, action)


def test_aws_a_public_bucket_lets_anyone_get_objects_and_nothing_else(aws) -> None:
    plan = aws
    parts = aws_parts(plan, "acme-static")
    blocks = inputs(parts["BucketPublicAccessBlock"])
    assert blocks["blockPublicAcls"] is True and blocks["ignorePublicAcls"] is True
    assert blocks["blockPublicPolicy"] is False and blocks["restrictPublicBuckets"] is False
    (rule,) = inputs(parts["BucketServerSideEncryptionConfiguration"])["rules"]
    # Anonymous readers cannot use a KMS key: S3's own keys.
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    statements = json.loads(inputs(parts["BucketPolicy"])["policy"])["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    (public,) = [s for s in allows if s["Principal"] == "*"]
    assert public["Action"] == "s3:GetObject" and public["Resource"].endswith("/*")
    assert "Condition" not in public
    assert any(s["Effect"] == "Deny" and s["Sid"] == "TlsOnly" for s in statements)
    assert inputs(parts["BucketOwnershipControls"])["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    # The private buckets keep every block and the platform key.
    for name in ("acme-assets", "acme-archive"):
        private = aws_parts(plan, name)
        blocks = inputs(private["BucketPublicAccessBlock"])
        assert all(blocks[k] is True for k in blocks if k != "bucket"), name
        (rule,) = inputs(private["BucketServerSideEncryptionConfiguration"])["rules"]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms", name
        statements = json.loads(inputs(private["BucketPolicy"])["policy"])["Statement"]
        assert all(s.get("Principal") != "*" or s["Effect"] == "Deny" for s in statements)


# --- GCP ---------------------------------------------------------------------------------


def test_gcp_archive_goes_nearline_and_keeps_objects_by_retention_policy(gcp) -> None:
    plan = gcp
    buckets = of_type(plan, "gcp:storage/bucket:Bucket")
    archive = inputs(only(buckets, "acme-archive"))
    assert archive["retentionPolicy"] == {"retentionPeriod": 30 * 86400, "isLocked": False}
    # Cloud Storage refuses versioning beside a retention policy.
    assert archive["versioning"] == {"enabled": False}
    rules = archive["lifecycleRules"]
    cold = [r for r in rules if r["action"]["type"] == "SetStorageClass"]
    assert cold == [
        {
            "action": {"type": "SetStorageClass", "storageClass": "NEARLINE"},
            "condition": {"age": 90, "matchesStorageClasses": ["STANDARD"]},
        }
    ]
    assert {"action": {"type": "Delete"}, "condition": {"age": 400}} in rules
    assets = inputs(only(buckets, "acme-assets"))
    assert "retentionPolicy" not in assets and assets["versioning"] == {"enabled": True}


def test_gcp_a_public_bucket_lets_anyone_get_objects_and_nothing_else(gcp) -> None:
    plan = gcp
    buckets = {r.name: inputs(r) for r in of_type(plan, "gcp:storage/bucket:Bucket")}
    assert buckets["acme-static"]["publicAccessPrevention"] == "inherited"
    assert buckets["acme-static"]["uniformBucketLevelAccess"] is True
    for name in ("acme-assets", "acme-archive"):
        assert buckets[name]["publicAccessPrevention"] == "enforced", name
    anyone = [
        inputs(r)
        for stack in plan.stacks
        for r in stack.resources
        if r.type.startswith("gcp:") and "allUsers" in json.dumps(inputs(r))
    ]
    assert len(anyone) == 1
    (grant,) = anyone
    # Object reads only: objectViewer would also list the bucket.
    assert grant["role"] == "roles/storage.legacyObjectReader" and grant["member"] == "allUsers"
    assert grant["bucket"] == buckets["acme-static"]["name"]


# --- Azure -------------------------------------------------------------------------------


def test_azure_archive_is_immutable_for_its_days_and_goes_cool(azure) -> None:
    plan = azure
    containers = of_type(plan, "azure-native:storage:BlobContainer")
    archive = inputs(only(containers, "contoso-archive"))
    assert archive["immutableStorageWithVersioning"] == {"enabled": True}
    (policy,) = of_type(plan, "azure-native:storage:BlobContainerImmutabilityPolicy")
    settings = inputs(policy)
    assert settings["immutabilityPeriodSinceCreationInDays"] == 30
    assert settings["allowProtectedAppendWrites"] is False
    assert settings["containerName"] == archive["containerName"]
    assert "immutableStorageWithVersioning" not in inputs(only(containers, "contoso-assets"))
    (lifecycle,) = of_type(plan, "azure-native:storage:ManagementPolicy")
    rules = {r["name"]: r for r in inputs(lifecycle)["policy"]["rules"]}
    cold = rules["cold-archive"]["definition"]
    assert cold["filters"]["prefixMatch"] == ["archive/"]
    assert cold["actions"]["baseBlob"] == {"tierToCool": {"daysAfterModificationGreaterThan": 90}}
    expire = rules["expire-archive"]["definition"]["actions"]["baseBlob"]
    assert expire == {"delete": {"daysAfterModificationGreaterThan": 400}}


def test_azure_a_public_bucket_is_a_container_of_an_account_of_its_own(azure) -> None:
    plan = azure
    accounts = {r.name: inputs(r) for r in of_type(plan, "azure-native:storage:StorageAccount")}
    private, public = accounts["contoso-storage"], accounts["contoso-public-storage"]
    assert private["publicNetworkAccess"] == "Disabled"
    assert private["allowBlobPublicAccess"] is False
    assert public["publicNetworkAccess"] == "Enabled" and public["allowBlobPublicAccess"] is True
    for account in (private, public):
        assert account["allowSharedKeyAccess"] is False
        assert account["minimumTlsVersion"] == "TLS1_2"
        assert account["enableHttpsTrafficOnly"] is True
        assert account["encryption"]["requireInfrastructureEncryption"] is True
    containers = {r.name: inputs(r) for r in of_type(plan, "azure-native:storage:BlobContainer")}
    # Blob: anyone may read a blob, not list the container.
    assert containers["contoso-static"]["publicAccess"] == "Blob"
    for name in ("contoso-assets", "contoso-archive"):
        assert containers[name]["publicAccess"] == "None", name
        assert containers[name]["accountName"] == private["accountName"], name
    assert containers["contoso-static"]["accountName"] == public["accountName"]
    assert private["accountName"] != public["accountName"]
