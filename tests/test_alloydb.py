"""`flavor: alloydb` on GCP: the GCP sample with its postgres datastore as an
AlloyDB cluster, proven on the offline plan's records."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.plan import PlanResult, plan_tree
from crosswalk.compiler.writer import write_tree
from tests.test_gcp import SAMPLE, compile_data, load, of_type

INFRA, SERVICES = "02-managed-infra", "05-app-services"
CLUSTER = "gcp:alloydb/cluster:Cluster"
INSTANCE = "gcp:alloydb/instance:Instance"
USER = "gcp:alloydb/user:User"
MEMBER = "gcp:projects/iAMMember:IAMMember"
SIGN_IN = {"roles/alloydb.databaseUser", "roles/serviceusage.serviceUsageConsumer"}


def alloydb_sample() -> dict:
    data = load(SAMPLE)
    (orders,) = [s for s in data["appServices"]["datastores"] if s["name"] == "orders"]
    orders["flavor"] = "alloydb"
    return data


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gcp-alloydb")
    write_tree(compile_data(alloydb_sample()), out)
    return out


@pytest.fixture(scope="module")
def prod(tree) -> PlanResult:
    plan = plan_tree(tree, "prod")
    assert all(s.error is None for s in plan.stacks), [(s.dir, s.error) for s in plan.stacks]
    return plan


@pytest.fixture(scope="module")
def dev(tree) -> PlanResult:
    plan = plan_tree(tree, "dev")
    assert all(s.error is None for s in plan.stacks), [(s.dir, s.error) for s in plan.stacks]
    return plan


def test_programs_are_formatted_and_typecheck(tree: Path, tmp_path: Path) -> None:
    """The stacks AlloyDB changes, against the installed SDKs (pyright reads
    the keys of the dict arguments, which the runtime never checks)."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--isolated", str(tree)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (pip install 'crosswalk[test]')")
    programs = [
        str(tree / stack / "__main__.py")
        for stack in ("01-identity", INFRA, SERVICES, "06-apps/checkout")
    ]
    config = tmp_path / "pyrightconfig.json"
    config.write_text(
        json.dumps({"typeCheckingMode": "standard", "reportMissingModuleSource": False})
    )
    done = subprocess.run(
        [pyright, "--outputjson", "-p", str(config), *programs],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert report["summary"]["filesAnalyzed"] == len(programs)
    assert not errors, "\n".join(errors)


def _key(plan: PlanResult):
    (key,) = [
        r
        for r in of_type(plan, "gcp:kms/cryptoKey:CryptoKey", INFRA)
        if r.inputs["name"].endswith("-alloydb")
    ]
    return key


def test_the_cluster_is_private_encrypted_backed_up_and_protected(prod: PlanResult) -> None:
    (cluster,) = of_type(prod, CLUSTER, SERVICES)
    args = reveal(cluster.inputs)
    infra = prod.stack(INFRA).exports
    # On the platform's VPC through the Private Service Access range Cloud SQL uses.
    assert args["networkConfig"] == {
        "network": infra["network_id"],
        "allocatedIpRange": infra["private_services_range"],
    }
    # Data, continuous backup (point-in-time recovery) and daily backups: the
    # platform's AlloyDB key.
    key = _key(prod).id
    assert infra["alloydb_key_id"] == key
    assert args["encryptionConfig"] == {"kmsKeyName": key}
    continuous = args["continuousBackupConfig"]
    assert continuous["enabled"] is True and continuous["recoveryWindowDays"] == 14
    assert continuous["encryptionConfig"] == {"kmsKeyName": key}
    backups = args["automatedBackupPolicy"]
    assert backups["enabled"] is True
    assert len(backups["weeklySchedule"]["daysOfWeeks"]) == 7
    assert backups["timeBasedRetention"] == {"retentionPeriod": f"{14 * 86400}s"}
    assert backups["encryptionConfig"] == {"kmsKeyName": key}
    assert args["databaseVersion"] == "POSTGRES_16"
    assert args["deletionProtection"] is True and cluster.protect
    # No Cloud SQL is left, nor its API.
    assert not of_type(prod, "gcp:sql/databaseInstance:DatabaseInstance")
    services = {r.inputs["service"] for r in of_type(prod, "gcp:projects/service:Service")}
    assert "alloydb.googleapis.com" in services and "sqladmin.googleapis.com" not in services


def test_the_primary_instance_has_no_public_address_and_takes_tls_and_iam_only(
    prod: PlanResult, dev: PlanResult
) -> None:
    (cluster,) = of_type(prod, CLUSTER, SERVICES)
    (instance,) = of_type(prod, INSTANCE, SERVICES)
    args = reveal(instance.inputs)
    assert args["cluster"] == cluster.outputs["name"]
    assert args["instanceType"] == "PRIMARY"
    assert args["availabilityType"] == "REGIONAL"  # highAvailability: true
    assert args["networkConfig"] == {"enablePublicIp": False, "enableOutboundPublicIp": False}
    assert args["clientConnectionConfig"]["sslConfig"] == {"sslMode": "ENCRYPTED_ONLY"}
    assert args["databaseFlags"]["alloydb.iam_authentication"] == "on"
    assert args["databaseFlags"]["alloydb.enable_pgaudit"] == "on"
    assert args["machineConfig"] == {"machineType": "n2-highmem-4"}  # size: medium
    # dev (highAvailability: false, size: small): one zone, a smaller machine.
    (dev_instance,) = of_type(dev, INSTANCE, SERVICES)
    assert dev_instance.inputs["availabilityType"] == "ZONAL"
    assert dev_instance.inputs["machineConfig"] == {"machineType": "n2-highmem-2"}
    # dev and prod share the sample's project: their clusters' ids differ.
    (dev_cluster,) = of_type(dev, CLUSTER, SERVICES)
    assert dev_cluster.inputs["clusterId"] == "acme-orders"
    assert cluster.inputs["clusterId"] == "acme-prod-orders"


def test_the_key_is_alloydbs_agents_alone(prod: PlanResult) -> None:
    """The key of the platform's key ring that AlloyDB's service agent (asked
    for, so that it exists before the grant) may use, and nobody else."""
    key = _key(prod)
    (ring,) = of_type(prod, "gcp:kms/keyRing:KeyRing", INFRA)
    assert key.inputs["keyRing"] == ring.id and key.protect
    assert key.inputs["rotationPeriod"] == "7776000s"
    (agent,) = of_type(prod, "gcp:projects/serviceIdentity:ServiceIdentity", INFRA)
    assert agent.inputs["service"] == "alloydb.googleapis.com"
    grants = [
        r
        for r in of_type(prod, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if r.inputs["cryptoKeyId"] == key.id
    ]
    assert [(g.inputs["role"], g.inputs["member"]) for g in grants] == [
        ("roles/cloudkms.cryptoKeyEncrypterDecrypter", agent.outputs["member"])
    ]
    assert agent.outputs["member"].endswith("@gcp-sa-alloydb.iam.gserviceaccount.com")
    assert agent.urn in grants[0].dependencies


def test_each_app_signs_in_as_an_iam_user_of_its_own_given_rights_by_a_job(
    prod: PlanResult,
) -> None:
    (cluster,) = of_type(prod, CLUSTER, SERVICES)
    (instance,) = of_type(prod, INSTANCE, SERVICES)
    (admin,) = of_type(prod, USER, SERVICES)
    assert admin.inputs["userType"] == "ALLOYDB_IAM_USER"
    assert admin.inputs["databaseRoles"] == ["alloydbsuperuser"]
    assert admin.inputs["cluster"] == cluster.outputs["name"]
    assert "password" not in admin.inputs
    assert instance.urn in admin.dependencies  # users need the running primary
    admin_email = admin.inputs["userId"] + ".gserviceaccount.com"
    admin_roles = {
        r.inputs["role"]
        for r in of_type(prod, MEMBER)
        if r.inputs["member"] == f"serviceAccount:{admin_email}"
    }
    assert admin_roles == SIGN_IN
    users = 0
    for stack in prod.stacks:
        if not stack.dir.startswith("06-apps/"):
            continue
        (user,) = of_type(prod, USER, stack.dir) or [None]
        if user is None:
            assert not [r for r in of_type(prod, MEMBER, stack.dir) if r.inputs["role"] in SIGN_IN]
            continue
        users += 1
        (account,) = [
            r
            for r in of_type(prod, "kubernetes:core/v1:ServiceAccount", stack.dir)
            if r.inputs["metadata"]["namespace"] != "database-users"
        ]
        email = account.inputs["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert user.inputs["userType"] == "ALLOYDB_IAM_USER"
        assert user.inputs["userId"] == email.removesuffix(".gserviceaccount.com")
        assert user.inputs["cluster"] == cluster.outputs["name"]
        assert "databaseRoles" not in user.inputs  # its rights come from the Job
        roles = {
            r.inputs["role"]: r
            for r in of_type(prod, MEMBER, stack.dir)
            if r.inputs["member"] == f"serviceAccount:{email}"
        }
        assert SIGN_IN <= set(roles)
        assert not [role for role in roles if role.startswith("roles/cloudsql.")]
        (job,) = [
            r
            for r in of_type(prod, "kubernetes:batch/v1:Job", stack.dir)
            if r.inputs["metadata"]["namespace"] == "database-users"
        ]
        pod = job.inputs["spec"]["template"]["spec"]
        (client,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in client["env"]}
        assert env["PGUSER"] == admin.inputs["userId"]
        assert env["PGHOST"] == instance.outputs["ipAddress"]
        assert env["PGSSLMODE"] == "require" and env["PGDATABASE"] == "postgres"
        (script_volume,) = [v for v in pod["volumes"] if v["name"] == "script"]
        (script,) = [
            r
            for r in of_type(prod, "kubernetes:core/v1:ConfigMap", stack.dir)
            if r.inputs["metadata"]["name"] == script_volume["configMap"]["name"]
        ]
        text = reveal(script.inputs["data"]["users.sql"])
        name = user.inputs["userId"]
        assert (
            "SELECT 'CREATE DATABASE \"orders\"' WHERE NOT EXISTS\n"
            "(SELECT FROM pg_database WHERE datname = 'orders')\\gexec\n"
        ) in text
        assert '\\connect "orders"' in text
        assert f'GRANT CONNECT ON DATABASE "orders" TO "{name}";' in text
        assert f'GRANT USAGE, CREATE ON SCHEMA "{name}" TO "{name}";' in text
        (deployment,) = of_type(prod, "kubernetes:apps/v1:Deployment", stack.dir)
        assert job.urn in deployment.dependencies
        (secret,) = [
            r
            for r in of_type(prod, "kubernetes:core/v1:Secret", stack.dir)
            if r.name.endswith(".orders")
        ]
        connection = reveal(secret.inputs["stringData"])
        assert connection["ORDERS_USERNAME"] == name
        assert connection["ORDERS_IAM_AUTH"] == "true"
        assert connection["ORDERS_INSTANCE_URI"] == instance.outputs["name"]
        assert connection["ORDERS_HOST"] == instance.outputs["ipAddress"]
        assert "ORDERS_PASSWORD" not in connection
        egress = [
            rule
            for r in of_type(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy", stack.dir)
            for rule in r.inputs["spec"].get("egress", [])
            if {"port": 5432, "protocol": "TCP"} in rule.get("ports", [])
        ]
        assert egress and {"port": 5433, "protocol": "TCP"} in egress[0]["ports"]
    assert users == 3


def test_deployers_may_make_clusters_users_and_the_agent(prod: PlanResult) -> None:
    members = {r.name: r.inputs for r in of_type(prod, MEMBER, "01-identity")}
    platform = {i["role"] for n, i in members.items() if n.startswith("acme-ci-deploy-platform-")}
    assert "roles/alloydb.admin" in platform
    custom = {r.name: r.inputs for r in of_type(prod, "gcp:projects/iAMCustomRole:IAMCustomRole")}
    assert custom["acme-ci-deploy-platform-service-agents"]["permissions"] == [
        "serviceusage.services.generateServiceIdentity"
    ]
    assert custom["acme-ci-deploy-apps-alloydb-users"]["permissions"] == [
        "alloydb.clusters.get",
        "alloydb.users.create",
        "alloydb.users.delete",
        "alloydb.users.get",
        "alloydb.users.list",
        "alloydb.users.update",
    ]
    assert "acme-ci-deploy-apps-sql-users" not in custom  # no Cloud SQL left
    preview = {
        i["role"] for n, i in members.items() if n.startswith("acme-ci-deploy-platform-preview")
    }
    assert "roles/alloydb.viewer" in preview and "roles/alloydb.admin" not in preview
    # Each may grant the sign-in roles its layer gives, and no other.
    for bot in ("apps", "platform"):
        expression = members[f"acme-ci-deploy-{bot}-grants"]["condition"]["expression"]
        for role in SIGN_IN:
            assert f"'{role}'" in expression
