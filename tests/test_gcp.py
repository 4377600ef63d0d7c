"""The GCP (GKE) backend: the sample compiles, formats, type-checks and plans
offline with the real pulumi-gcp SDK; the AWS sample moved to GCP keeps every
in-cluster object; GCP's secure defaults and its address plan hold."""

from __future__ import annotations

import copy
import ipaddress
import json
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from crosswalk.compiler.diagnostics import Span
from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document
from crosswalk.compiler.mock_values import Secret, reveal
from crosswalk.compiler.pipeline import check_document
from crosswalk.compiler.plan import PlanResult, plan_tree
from crosswalk.compiler.writer import write_tree
from crosswalk.providers.gcp.common import gcp_id
from crosswalk.providers.gcp.rules import address_plan

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "gcp" / "platform.yaml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compile_data(data: dict) -> dict[str, str]:
    raw = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")
    document, problems = parse_document(raw, "platform.yaml")
    assert document is not None, problems
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    return result.files


def moved_to_gcp(data: dict) -> dict:
    """The AWS sample with only its cloud switched: GCP's provider, region and
    project, members as Google principals, the one AWS machine type as GCP's
    and the Aurora datastore as Cloud SQL."""
    data = copy.deepcopy(data)
    data["cloud"] = {"provider": "gcp", "region": "europe-west1", "project": "acme-prod"}
    for team in data["identity"]["teams"]:
        team["members"] = [f"group:{team['name']}@acme.example.com"]
    for pool in data["cluster"]["nodePools"]:
        if pool.get("machineType") == "c6i.2xlarge":
            pool["machineType"] = "c3-standard-8"
    for store in data["appServices"]["datastores"]:
        store.pop("flavor", None)  # Aurora is AWS's: Cloud SQL
    return data


def variant() -> dict:
    """The GCP sample turned inside out: every branch the sample leaves alone."""
    data = load(SAMPLE)
    # (Names up to 9 characters: a longer one makes the core's StackReference
    # line too long for ruff format; the CI identity below is what gets shortened.)
    data["name"] = "acme-west"
    data["network"] = {"cidr": "10.0.0.0/16", "zones": 2, "natGateways": "perZone"}
    data["cluster"]["endpoint"] = {"public": False, "allowedCidrs": ["192.168.10.0/24"]}
    data["clusterServices"] = {
        "logging": {"enabled": False},
        "monitoring": {"enabled": False},
        "policy": {"engine": "kyverno"},
        "mesh": {"engine": "istio"},
        "autoscaler": {"enabled": False},
        "metricsServer": {"enabled": False},
    }
    services = data["appServices"]
    del services["dns"], services["certificates"]
    services["datastores"] = [
        {"name": "orders", "engine": "mysql", "version": "8.0", "highAvailability": True},
        {
            "name": "sessions",
            "engine": "redis",
            "version": "6",
            "size": "medium",
            "highAvailability": True,
        },
        {"name": "events", "engine": "queue"},
        {"name": "profiles", "engine": "document", "backupRetentionDays": 14},
    ]
    for app in data["apps"]:
        if "ingress" in app:
            app["ingress"].pop("host", None)
    data["apps"][0]["uses"] = ["sessions", "profiles"]
    data["identity"]["teams"].append(
        {
            "name": "robots",
            "access": "viewer",
            "members": ["serviceAccount:audit@acme-platform-prod.iam.gserviceaccount.com"],
            "namespaces": ["internal"],
        }
    )
    data["identity"]["automation"].append(
        {
            "name": "deploy-everything-from-the-monorepo",
            "github": {"repository": "acme/mono", "ref": 'refs/heads/we"ird\\branch'},
            "layers": ["cluster", "app-services", "apps"],
        }
    )
    data["environments"] = {"dev": {}, "prod": {}}
    return data


@pytest.fixture(scope="module")
def sample_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gcp-sample")
    write_tree(compile_data(load(SAMPLE)), out)
    return out


@pytest.fixture(scope="module")
def variant_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gcp-variant")
    write_tree(compile_data(variant()), out)
    return out


@pytest.fixture(scope="module")
def moved_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aws-moved-to-gcp")
    write_tree(compile_data(moved_to_gcp(load(ROOT / "samples" / "aws" / "platform.yaml"))), out)
    return out


@pytest.fixture(scope="module")
def sample_plan(sample_tree) -> PlanResult:
    return plan_tree(sample_tree, "prod")


def records(plan: PlanResult, stack: str | None = None):
    for stack_plan in plan.stacks:
        if stack is None or stack_plan.dir == stack:
            yield from stack_plan.resources


def of_type(plan: PlanResult, type_: str, stack: str | None = None) -> list:
    return [r for r in records(plan, stack) if r.type == type_]


# --- the sample ------------------------------------------------------------------------


def test_every_stack_of_the_sample_plans(sample_plan: PlanResult) -> None:
    failed = {s.dir: s.error for s in sample_plan.stacks if s.error is not None}
    assert not failed, failed
    dirs = [s.dir for s in sample_plan.stacks]
    assert dirs[:3] == ["01-identity", "02-managed-infra", "03-cluster"]
    assert {
        "06-apps/storefront",
        "06-apps/checkout",
        "06-apps/order-worker",
        "06-apps/admin",
    } <= set(dirs)


def test_dev_plans_too(sample_tree: Path) -> None:
    plan = plan_tree(sample_tree, "dev")
    assert all(s.error is None for s in plan.stacks), [s.error for s in plan.stacks]


@pytest.mark.parametrize("tree", ["sample_tree", "variant_tree", "moved_tree"])
def test_programs_compile_are_formatted_and_standalone(tree: str, request) -> None:
    out = request.getfixturevalue(tree)
    programs = sorted(out.rglob("*.py"))
    assert len(programs) >= 6
    for program in programs:
        py_compile.compile(str(program), doraise=True)
        text = program.read_text()
        assert "crosswalk" not in {
            line.split()[1].split(".")[0]
            for line in text.splitlines()
            if line.startswith(("import ", "from "))
        }
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--isolated", str(out)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for requirements in out.rglob("requirements.txt"):
        assert "pulumi-aws" not in requirements.read_text()


def test_variant_and_moved_programs_typecheck(
    variant_tree: Path, moved_tree: Path, tmp_path: Path
) -> None:
    """The sample is type-checked with every compiled sample (test_typecheck);
    this covers the branches only the variant and the moved AWS sample take."""
    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (pip install 'crosswalk[test]')")
    programs = sorted(
        str(p) for tree in (variant_tree, moved_tree) for p in tree.rglob("__main__.py")
    )
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


def test_variant_plans(variant_tree: Path) -> None:
    for env in ("dev", "prod"):
        plan = plan_tree(variant_tree, env)
        assert all(s.error is None for s in plan.stacks), [(s.dir, s.error) for s in plan.stacks]
    names = {r.type for r in records(plan)}
    assert {
        "gcp:firestore/database:Database",
        "gcp:firestore/backupSchedule:BackupSchedule",
    } <= names
    (instance,) = of_type(plan, "gcp:sql/databaseInstance:DatabaseInstance")
    assert instance.inputs["databaseVersion"] == "MYSQL_8_0"
    settings = instance.inputs["settings"]
    assert settings["backupConfiguration"]["binaryLogEnabled"] is True
    # MySQL: IAM logins, and the CIS flags (no LOAD DATA LOCAL, SHOW DATABASES
    # lists only what a user may see).
    assert {f["name"]: f["value"] for f in settings["databaseFlags"]} == {
        "cloudsql_iam_authentication": "on",
        "local_infile": "off",
        "skip_show_database": "on",
    }
    (cache,) = of_type(plan, "gcp:redis/instance:Instance")
    assert (cache.inputs["tier"], cache.inputs["redisVersion"], cache.inputs["memorySizeGb"]) == (
        "STANDARD_HA",
        "REDIS_6_X",
        5,
    )
    (cluster,) = of_type(plan, "gcp:container/cluster:Cluster")
    assert cluster.inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert cluster.inputs["loggingConfig"]["enableComponents"] == [
        "SYSTEM_COMPONENTS",
        "APISERVER",
        "CONTROLLER_MANAGER",
        "SCHEDULER",
    ]
    pools = of_type(plan, "gcp:container/nodePool:NodePool")
    assert all("autoscaling" not in p.inputs and p.inputs["nodeCount"] >= 1 for p in pools)
    releases = {r.inputs["name"] for r in of_type(plan, "kubernetes:helm.sh/v3:Release")}
    assert releases == {
        "kyverno",
        "kyverno-policies",
        "istio-base",
        "istio-cni",
        "istiod",
        "envoy-gateway",
        "external-secrets",  # the sample's checkout reads secrets
    }
    # Ids that would pass GCP's length limits only shortened.
    for pool in of_type(plan, "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"):
        assert 4 <= len(pool.inputs["workloadIdentityPoolId"]) <= 32
    for account in of_type(plan, "gcp:serviceaccount/account:Account"):
        assert 6 <= len(account.inputs["accountId"]) <= 30
    for store in of_type(plan, "gcp:redis/instance:Instance"):
        assert len(store.inputs["name"]) <= 40
    # A ref with a quote and a backslash stays one CEL string literal.
    conditions = [
        p.inputs["attributeCondition"]
        for p in of_type(plan, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    ]
    assert (
        'assertion.repository == "acme/mono" && assertion.ref == "refs/heads/we\\"ird\\\\branch"'
        in conditions
    )


# --- secure defaults -------------------------------------------------------------------


def test_no_static_credentials_anywhere(sample_plan: PlanResult) -> None:
    types = {r.type for r in records(sample_plan)}
    assert not {t for t in types if t.endswith(("/key:Key", "hmacKey:HmacKey"))}
    users = of_type(sample_plan, "gcp:sql/user:User")
    assert users and all(u.inputs["type"] == "CLOUD_IAM_SERVICE_ACCOUNT" for u in users)
    assert not any("password" in u.inputs for u in users), "no password users"
    for user in of_type(sample_plan, "gcp:sql/user:User"):
        assert user.inputs["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
        assert "password" not in user.inputs


def test_ci_identities_are_pinned_to_their_repository_and_ref(sample_plan: PlanResult) -> None:
    providers = {
        r.name: r.inputs
        for r in of_type(
            sample_plan, "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
        )
    }
    apps = providers["acme-ci-deploy-apps-github"]
    assert (
        apps["attributeCondition"]
        == 'assertion.repository == "acme/platform" && assertion.ref == "refs/heads/main"'
    )
    assert apps["oidc"] == {"issuerUri": "https://token.actions.githubusercontent.com"}
    platform = providers["acme-ci-deploy-platform-github"]
    assert platform["attributeCondition"] == (
        'assertion.repository == "acme/platform" && assertion.environment == "production"'
    )
    roles = {
        r.inputs["role"]
        for r in of_type(sample_plan, "gcp:projects/iAMMember:IAMMember", "01-identity")
        if r.name.startswith("acme-ci-deploy-apps-") and "-preview-" not in r.name
    }
    custom = {
        r.name: r.inputs for r in of_type(sample_plan, "gcp:projects/iAMCustomRole:IAMCustomRole")
    }
    sql_users = "projects/acme-platform-prod/roles/acme_prod_ci_deploy_apps_sql_users"
    pubsub_grants = "projects/acme-platform-prod/roles/acme_prod_ci_deploy_apps_pubsub_grants"
    assert roles == {
        "roles/container.developer",
        "roles/resourcemanager.projectIamAdmin",  # conditioned: the next assertions
        sql_users,
        pubsub_grants,
        "projects/acme-platform-prod/roles/acme_prod_ci_deploy_apps_bucket_grants",
        "projects/acme-platform-prod/roles/acme_prod_ci_deploy_apps_warehouse_grants",
    }
    # No project-wide cloudsql.admin or pubsub.admin: it creates IAM database
    # users on the platform's instances, and grants topics and subscriptions.
    assert custom["acme-ci-deploy-apps-sql-users"]["permissions"] == [
        "cloudsql.instances.get",
        "cloudsql.users.create",
        "cloudsql.users.delete",
        "cloudsql.users.get",
        "cloudsql.users.list",
        "cloudsql.users.update",
    ]
    assert {
        p.split(".")[-1] for p in custom["acme-ci-deploy-apps-pubsub-grants"]["permissions"]
    } == {
        "get",
        "getIamPolicy",
        "setIamPolicy",
    }
    members = {
        r.name: r.inputs
        for r in of_type(sample_plan, "gcp:projects/iAMMember:IAMMember", "01-identity")
    }
    assert members["acme-ci-deploy-apps-sql-users"]["condition"]["expression"] == (
        'resource.name == "projects/acme-platform-prod/instances/acme-prod-orders"'
    )
    # The platform's deployer may grant the roles the platform grants, never owner.
    platform = members["acme-ci-deploy-platform-grants"]
    assert platform["role"] == "roles/resourcemanager.projectIamAdmin"
    expression = platform["condition"]["expression"]
    assert expression.startswith(
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(["
    )
    grantable = set(expression.split("hasOnly([", 1)[1].rstrip("])").replace("'", "").split(", "))
    # (every project role of the identity layer, and app-services' DNS reader)
    granted = {inputs["role"] for inputs in members.values()} | {"roles/dns.reader"}
    assert granted <= grantable
    assert not {"roles/owner", "roles/editor", "roles/iam.securityAdmin"} & grantable
    assert not [
        r
        for r in of_type(sample_plan, "gcp:projects/iAMMember:IAMMember")
        if r.inputs["role"] == "roles/resourcemanager.projectIamAdmin"
        and "condition" not in r.inputs
    ]
    (grants,) = [
        r
        for r in of_type(sample_plan, "gcp:projects/iAMMember:IAMMember")
        if r.name == "acme-ci-deploy-apps-grants"
    ]
    # The apps' deployer may grant exactly the project roles the apps' programs
    # grant: no document datastore here, so no roles/datastore.user.
    expression = grants.inputs["condition"]["expression"]
    grantable = set(expression.split("hasOnly([", 1)[1].split("])")[0].replace("'", "").split(", "))
    apps_grant = {
        r.inputs["role"]
        for stack in sample_plan.stacks
        if stack.dir.startswith("06-apps/")
        for r in stack.resources
        if r.type == "gcp:projects/iAMMember:IAMMember"
    }
    assert (
        grantable
        == apps_grant
        == {
            "roles/bigquery.jobUser",
            "roles/cloudsql.client",
            "roles/cloudsql.instanceUser",
        }
    )


@pytest.mark.parametrize(
    ("tree", "data", "env"),
    [
        ("sample_tree", load(SAMPLE), "prod"),
        ("variant_tree", variant(), "dev"),
        ("moved_tree", moved_to_gcp(load(ROOT / "samples" / "aws" / "platform.yaml")), "dev"),
    ],
)
def test_only_the_identity_deployer_manages_service_accounts(tree, data, env, request) -> None:
    """IAM conditions cannot narrow a right on service accounts to some accounts
    of a project, so whoever holds it could act as any deployer or the nodes:
    every service account is the identity stack's, and no CI identity but the
    identity layer's may manage one (project-wide or through a custom role)."""
    plan = plan_tree(request.getfixturevalue(tree), env)
    assert all(s.error is None for s in plan.stacks), [(s.dir, s.error) for s in plan.stacks]
    made = {
        stack.dir
        for stack in plan.stacks
        for r in stack.resources
        if r.type == "gcp:serviceaccount/account:Account"
    }
    assert made == {"01-identity"}
    custom = {
        r.name: r.inputs["permissions"]
        for r in of_type(plan, "gcp:projects/iAMCustomRole:IAMCustomRole")
    }
    roles = {
        r.name: r.inputs["role"]
        for r in of_type(plan, "gcp:projects/iAMMember:IAMMember", "01-identity")
    }
    managing = {"roles/iam.serviceAccountAdmin", "roles/owner", "roles/editor"}
    deployers = 0
    for bot in data["identity"]["automation"]:
        held = {
            role
            for name, role in roles.items()
            if name.startswith(f"{data['name']}-ci-{bot['name']}-")
        }
        permissions = {
            permission
            for name, found in custom.items()
            if name.startswith(f"{data['name']}-ci-{bot['name']}-")
            for permission in found
        }
        if "identity" in bot["layers"]:
            assert "roles/iam.serviceAccountAdmin" in held
            continue
        deployers += 1
        assert not held & managing, bot["name"]
        assert not [p for p in permissions if p.startswith("iam.serviceAccounts.")], bot["name"]
    assert deployers >= 1


def test_team_members_get_cluster_access_and_namespace_rbac(sample_plan: PlanResult) -> None:
    members = {
        r.inputs["member"]: r.inputs["role"]
        for r in of_type(sample_plan, "gcp:projects/iAMMember:IAMMember", "01-identity")
        if r.name.startswith("acme-team-")
    }
    assert members == {
        "group:platform@acme.example.com": "roles/container.admin",
        "group:payments@acme.example.com": "roles/container.clusterViewer",
        "user:alice@acme.example.com": "roles/container.clusterViewer",
        "group:web@acme.example.com": "roles/container.clusterViewer",
        "group:audit@acme.example.com": "roles/container.clusterViewer",
    }
    bindings = {
        r.name: r.inputs
        for r in of_type(sample_plan, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
        if r.name.endswith(".members")
    }
    assert sorted(bindings) == [
        "internal/team.auditors.members",
        "internal/team.web.members",
        "payments/team.auditors.members",
        "payments/team.payments.members",
        "storefront/team.auditors.members",
        "storefront/team.web.members",
    ]
    payments = bindings["payments/team.payments.members"]
    assert payments["roleRef"]["name"] == "edit"
    assert [(s["kind"], s["name"]) for s in payments["subjects"]] == [
        ("Group", "payments@acme.example.com"),
        ("User", "alice@acme.example.com"),
    ]
    assert bindings["payments/team.auditors.members"]["roleRef"]["name"] == "view"
    (cluster,) = of_type(sample_plan, "gcp:container/cluster:Cluster")
    assert cluster.inputs["authenticatorGroupsConfig"] == {
        "securityGroup": "gke-security-groups@acme.example.com"
    }


def test_cluster_is_private_encrypted_and_identity_aware(sample_plan: PlanResult) -> None:
    (cluster,) = of_type(sample_plan, "gcp:container/cluster:Cluster")
    i = cluster.inputs
    assert i["location"] == "europe-west1" and i["removeDefaultNodePool"] is True
    assert i["privateClusterConfig"]["enablePrivateNodes"] is True
    assert i["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert [b["cidrBlock"] for b in i["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == [
        "203.0.113.0/24",
        "198.51.100.0/24",
    ]
    assert i["workloadIdentityConfig"] == {"workloadPool": "acme-platform-prod.svc.id.goog"}
    assert i["databaseEncryption"]["state"] == "ENCRYPTED"
    assert i["databaseEncryption"]["keyName"].endswith("/cryptoKeys/acme-secrets")
    assert i["datapathProvider"] == "ADVANCED_DATAPATH"  # enforces NetworkPolicies
    assert i["enableIntranodeVisibility"] is True  # same-node traffic in the flow logs
    # Binary Authorization enforces the project's (or organization's) policy.
    assert i["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    apis = {
        r.inputs["service"]
        for r in of_type(sample_plan, "gcp:projects/service:Service", "03-cluster")
    }
    assert "binaryauthorization.googleapis.com" in apis
    assert i["releaseChannel"] == {"channel": "REGULAR"}
    assert i["enableShieldedNodes"] is True
    assert i["deletionProtection"] is True  # prod
    assert "WORKLOADS" in i["loggingConfig"]["enableComponents"]
    pools = {
        r.inputs["name"]: r.inputs for r in of_type(sample_plan, "gcp:container/nodePool:NodePool")
    }
    general, batch = pools["general"], pools["batch"]
    assert general["nodeConfig"]["machineType"] == "n2-standard-8"  # the prod override
    assert (
        general["autoscaling"]["totalMinNodeCount"] == 3
        and general["autoscaling"]["totalMaxNodeCount"] == 15
    )
    assert batch["nodeConfig"]["spot"] is True
    assert batch["nodeConfig"]["taints"] == [
        {"key": "workload", "value": "batch", "effect": "NO_SCHEDULE"}
    ]
    for pool in pools.values():
        config = pool["nodeConfig"]
        # prod shares the project with dev, which keeps the plain names.
        assert (
            config["serviceAccount"] == "acme-prod-nodes@acme-platform-prod.iam.gserviceaccount.com"
        )
        assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert config["shieldedInstanceConfig"] == {
            "enableSecureBoot": True,
            "enableIntegrityMonitoring": True,
        }
    (key,) = [
        r for r in of_type(sample_plan, "gcp:kms/cryptoKey:CryptoKey") if r.name == "acme-secrets"
    ]
    assert key.inputs["rotationPeriod"] == "7776000s"
    (grant,) = [
        r
        for r in of_type(sample_plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        # not the CI identities' use of the state's key, nor Cloud Storage's of the
        # buckets', nor BigQuery's of the warehouses', nor Compute Engine's of the VMs' disks'
        if not r.name.endswith(("-state-key", "-storage-agent", "-warehouse-agent", "-disks-agent"))
    ]
    assert grant.inputs["member"].endswith("@container-engine-robot.iam.gserviceaccount.com")
    exports = next(s for s in sample_plan.stacks if s.dir == "03-cluster").exports
    assert isinstance(exports["kubeconfig"], Secret)
    kubeconfig = json.loads(reveal(exports["kubeconfig"]))
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")


def test_binary_authorization_off_is_declared_and_warned(tmp_path: Path) -> None:
    data = load(SAMPLE)
    data["cluster"]["binaryAuthorization"] = False
    write_tree(compile_data(data), tmp_path)
    plan = plan_tree(tmp_path, "prod", only=["03-cluster"])
    (cluster,) = of_type(plan, "gcp:container/cluster:Cluster")
    assert "binaryAuthorization" not in cluster.inputs
    apis = {
        r.inputs["service"] for r in of_type(plan, "gcp:projects/service:Service", "03-cluster")
    }
    assert "binaryauthorization.googleapis.com" not in apis

    text = SAMPLE.read_text(encoding="utf-8").replace(
        "\ncluster:\n", "\ncluster:\n  binaryAuthorization: false\n", 1
    )
    document, problems = parse_document(text.encode("utf-8"), "platform.yaml")
    assert document is not None, problems
    report = check_document(document).report
    assert not report.errors, [d.render() for d in report.errors]
    (warning,) = [d for d in report.sorted() if d.code == "CW612"]
    line = text.splitlines().index("  binaryAuthorization: false") + 1
    assert warning.span == Span(line, len("  binaryAuthorization: ") + 1)
    assert warning.path == "cluster.binaryAuthorization"


def test_binary_authorization_is_gcp_only() -> None:
    text = (ROOT / "samples" / "aws" / "platform.yaml").read_text(encoding="utf-8")
    text = text.replace("\ncluster:\n", "\ncluster:\n  binaryAuthorization: true\n", 1)
    document, problems = parse_document(text.encode("utf-8"), "platform.yaml")
    assert document is not None, problems
    codes = [d.code for d in check_document(document).report.errors]
    assert codes == ["CW504"]
    # Unwritten, the default is no error on another cloud.
    document, _ = parse_document(
        (ROOT / "samples" / "aws" / "platform.yaml").read_bytes(), "platform.yaml"
    )
    assert not [d.code for d in check_document(document).report.sorted() if d.code == "CW504"]


def test_environment_values_live_in_stack_config(sample_tree: Path) -> None:
    def config(env: str) -> dict:
        text = (sample_tree / "03-cluster" / f"Pulumi.{env}.yaml").read_text()
        return yaml.safe_load(text)["config"]

    assert config("dev")["acme-cluster:nodePools.general.min"] == 1
    assert config("prod")["acme-cluster:nodePools.general.min"] == 3
    assert config("dev")["acme-cluster:nodePools.general.machineType"] == "e2-standard-2"
    assert config("dev")["acme-cluster:names.cluster"] == "acme-cluster"
    assert config("prod")["acme-cluster:names.cluster"] == "acme-prod-cluster"
    assert not [key for key in config("dev") if "rotection" in key]  # on in both
    program = (sample_tree / "03-cluster" / "__main__.py").read_text()
    assert 'config.require_int("nodePools.general.min")' in program


def test_network_ranges(sample_plan: PlanResult) -> None:
    (subnet,) = of_type(sample_plan, "gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["ipCidrRange"] == "10.10.0.0/20"
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert subnet.inputs["secondaryIpRanges"] == [
        {"rangeName": "pods", "ipCidrRange": "10.100.0.0/14"},
        {"rangeName": "services", "ipCidrRange": "10.200.0.0/20"},
    ]
    (network,) = of_type(sample_plan, "gcp:compute/network:Network")
    assert network.inputs["autoCreateSubnetworks"] is False
    assert of_type(sample_plan, "gcp:compute/routerNat:RouterNat")
    (peering,) = of_type(sample_plan, "gcp:compute/globalAddress:GlobalAddress")
    assert peering.inputs["purpose"] == "VPC_PEERING"
    used = [ipaddress.ip_network(c) for c in ("10.10.0.0/20", "10.100.0.0/14", "10.200.0.0/20")]
    psa = ipaddress.ip_network(f"{peering.inputs['address']}/{peering.inputs['prefixLength']}")
    assert not any(psa.overlaps(u) for u in used)


@pytest.mark.parametrize(
    "cidr, pods, services",
    [
        ("10.0.0.0/16", None, None),
        ("10.0.0.0/8", None, None),
        ("172.20.0.0/14", None, "10.4.0.0/20"),
        ("192.168.0.0/24", None, None),
    ],
)
def test_address_plan_never_overlaps(cidr, pods, services) -> None:
    plan = address_plan(SimpleNamespace(cidr=cidr, pod_cidr=pods, service_cidr=services))
    ranges = [plan.nodes, plan.pods, plan.services, plan.control_plane, plan.private_services]
    assert plan.control_plane.prefixlen == 28 and plan.pods.prefixlen == (
        14 if pods is None else plan.pods.prefixlen
    )
    for i, a in enumerate(ranges):
        assert a.is_private
        assert not a.overlaps(ipaddress.ip_network("172.17.0.0/16")), a  # Docker's bridge
        for b in ranges[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    assert address_plan(SimpleNamespace(cidr=cidr, pod_cidr=pods, service_cidr=services)) == plan


def test_long_ids_are_shortened_stably() -> None:
    long = gcp_id(30, "acme-platform-west-1", "ci", "deploy-everything-from-the-monorepo")
    assert len(long) == 30 and long == gcp_id(
        30, "acme-platform-west-1", "ci", "deploy-everything-from-the-monorepo"
    )
    assert gcp_id(30, "acme", "nodes") == "acme-nodes"
    assert long != gcp_id(30, "acme-platform-west-1", "ci", "deploy-everything-from-the-monorepp")


def test_datastores_are_private_encrypted_backed_up_and_protected(
    sample_tree: Path, sample_plan: PlanResult
) -> None:
    (sql,) = of_type(sample_plan, "gcp:sql/databaseInstance:DatabaseInstance")
    settings = sql.inputs["settings"]
    assert settings["ipConfiguration"]["ipv4Enabled"] is False
    assert settings["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert settings["ipConfiguration"]["privateNetwork"].endswith("/networks/acme-prod-vpc")
    assert settings["backupConfiguration"]["enabled"] is True
    assert settings["backupConfiguration"]["pointInTimeRecoveryEnabled"] is True
    assert settings["backupConfiguration"]["backupRetentionSettings"]["retainedBackups"] == 14
    # IAM logins, and the CIS benchmark's logging: connections, DDL, lock
    # waits, errors, and pgAudit for schema and role changes.
    assert {f["name"]: f["value"] for f in settings["databaseFlags"]} == {
        "cloudsql.iam_authentication": "on",
        "log_connections": "on",
        "log_disconnections": "on",
        "log_checkpoints": "on",
        "log_lock_waits": "on",
        "log_duration": "on",
        "log_hostname": "on",
        "log_statement": "ddl",
        "log_min_messages": "warning",
        "log_min_error_statement": "error",
        "log_min_duration_statement": "-1",
        "cloudsql.enable_pgaudit": "on",
        "pgaudit.log": "ddl,role",
    }
    assert settings["availabilityType"] == "REGIONAL"  # highAvailability in prod
    assert settings["edition"] == "ENTERPRISE"
    assert (
        sql.inputs["deletionProtection"] is True and settings["deletionProtectionEnabled"] is True
    )
    (cache,) = of_type(sample_plan, "gcp:redis/instance:Instance")
    assert cache.inputs["authEnabled"] is True
    assert cache.inputs["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert cache.inputs["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    services = next(s for s in sample_plan.stacks if s.dir == "05-app-services").exports
    assert isinstance(services["datastore_sessions_password"], Secret)
    subscriptions = {
        r.name: r.inputs for r in of_type(sample_plan, "gcp:pubsub/subscription:Subscription")
    }
    policy = subscriptions["acme-events"]["deadLetterPolicy"]
    assert policy["maxDeliveryAttempts"] == 5 and policy["deadLetterTopic"].endswith(
        "acme-prod-events-dead-letters"
    )
    assert "acme-events-dead-letters" in subscriptions, "dead letters are kept, not dropped"
    dev = yaml.safe_load((sample_tree / "05-app-services" / "Pulumi.dev.yaml").read_text())
    assert dev["config"]["acme-app-services:datastores.orders.availabilityType"] == "ZONAL"
    assert dev["config"]["acme-app-services:names.datastore.orders"] == "acme-orders"
    assert sql.inputs["name"] == "acme-prod-orders" and sql.protect


def test_apps_use_workload_identity_only_where_they_call_google(sample_plan: PlanResult) -> None:
    accounts = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"].get("annotations", {})
        for r in of_type(sample_plan, "kubernetes:core/v1:ServiceAccount")
    }
    annotation = "iam.gke.io/gcp-service-account"
    # storefront's Memorystore takes a password; its bucket, Google IAM.
    for app in ("storefront", "checkout", "order-worker", "admin"):
        assert (
            accounts[app][annotation]
            == f"acme-prod-app-{app}@acme-platform-prod.iam.gserviceaccount.com"
        )
    bindings = [
        r.inputs["member"]
        for r in of_type(sample_plan, "gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == "roles/iam.workloadIdentityUser"
        and "svc.id.goog" in r.inputs["member"]
    ]
    assert sorted(bindings) == [
        "serviceAccount:acme-platform-prod.svc.id.goog[cert-manager/cert-manager]",
        "serviceAccount:acme-platform-prod.svc.id.goog[database-users/orders-db-admin]",
        "serviceAccount:acme-platform-prod.svc.id.goog[external-dns/external-dns]",
        "serviceAccount:acme-platform-prod.svc.id.goog[internal/admin]",
        "serviceAccount:acme-platform-prod.svc.id.goog[payments/checkout]",
        "serviceAccount:acme-platform-prod.svc.id.goog[payments/nightly-report]",
        "serviceAccount:acme-platform-prod.svc.id.goog[payments/order-worker]",
        "serviceAccount:acme-platform-prod.svc.id.goog[storefront/storefront]",
    ]
    (checkout_orders,) = [
        r
        for r in of_type(sample_plan, "kubernetes:core/v1:Secret")
        if r.name == "payments/checkout.orders"
    ]
    data = reveal(checkout_orders.inputs["stringData"])
    assert data["ORDERS_USERNAME"] == "acme-prod-app-checkout@acme-platform-prod.iam"
    assert data["ORDERS_IAM_AUTH"] == "true" and "ORDERS_PASSWORD" not in data


@pytest.mark.parametrize(
    "tree, env, engine", [("sample_tree", "prod", "postgres"), ("variant_tree", "dev", "mysql")]
)
def test_apps_get_rights_on_their_own_part_of_cloud_sql(tree, env, engine, request) -> None:
    """Cloud SQL makes an app's IAM user with no rights on any database of
    its: a Job of the app's stack grants them, signed in as the datastore's
    administrator (an IAM user in cloudsqlsuperuser, no password) through a
    Kubernetes service account no app runs as."""
    plan = plan_tree(request.getfixturevalue(tree), env)
    assert all(s.error is None for s in plan.stacks), [(s.dir, s.error) for s in plan.stacks]
    (admin,) = of_type(plan, "gcp:sql/user:User", "05-app-services")
    assert admin.inputs["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    assert admin.inputs["databaseRoles"] == ["cloudsqlsuperuser"]
    assert "password" not in admin.inputs
    (admin_account,) = [
        r
        for r in of_type(plan, "kubernetes:core/v1:ServiceAccount", "05-app-services")
        if r.inputs["metadata"]["namespace"] == "database-users"
    ]
    email = admin_account.inputs["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert admin.inputs["name"] == (
        email.removesuffix(".gserviceaccount.com") if engine == "postgres" else email.split("@")[0]
    )
    # The administrator's Google account: made by the identity stack, acted
    # as by that one Kubernetes service account, allowed to log in to this
    # instance only.
    accounts = {
        r.inputs["accountId"]
        for r in of_type(plan, "gcp:serviceaccount/account:Account", "01-identity")
    }
    assert email.split("@")[0] in accounts
    acting = [
        r.inputs["member"]
        for r in of_type(plan, "gcp:serviceaccount/iAMMember:IAMMember", "01-identity")
        if r.inputs["member"].endswith("[database-users/orders-db-admin]")
    ]
    assert len(acting) == 1
    admin_member = f"serviceAccount:{email}"
    (login,) = [
        r
        for r in of_type(plan, "gcp:projects/iAMMember:IAMMember")
        if r.inputs["member"] == admin_member
    ]
    assert login.inputs["role"] == "roles/cloudsql.instanceUser"
    (instance,) = of_type(plan, "gcp:sql/databaseInstance:DatabaseInstance")
    assert login.inputs["condition"]["expression"].endswith(
        f'/instances/{instance.inputs["name"]}"'
    )
    app_accounts = [
        r.inputs["metadata"].get("annotations", {}).get("iam.gke.io/gcp-service-account")
        for stack in plan.stacks
        if stack.dir.startswith("06-apps/")
        for r in stack.resources
        if r.type == "kubernetes:core/v1:ServiceAccount"
    ]
    assert email not in app_accounts
    users = 0
    for stack in plan.stacks:
        if not stack.dir.startswith("06-apps/"):
            continue
        app = stack.dir.split("/", 1)[1]
        (user,) = [r for r in of_type(plan, "gcp:sql/user:User", stack.dir)] or [None]
        if user is None:
            continue
        users += 1
        (job,) = [
            r
            for r in of_type(plan, "kubernetes:batch/v1:Job", stack.dir)
            if r.inputs["metadata"]["namespace"] == "database-users"
        ]
        pod = job.inputs["spec"]["template"]["spec"]
        assert job.inputs["metadata"]["namespace"] == "database-users"
        assert pod["serviceAccountName"] == admin_account.inputs["metadata"]["name"]
        (client,) = pod["containers"]
        env_of = {e["name"]: e for e in client["env"]}
        assert (
            env_of["PGUSER" if engine == "postgres" else "DB_USER"]["value"] == admin.inputs["name"]
        )
        assert not any("valueFrom" in e for e in client["env"])  # no password anywhere
        (deployment,) = of_type(plan, "kubernetes:apps/v1:Deployment", stack.dir)
        assert job.urn in deployment.dependencies  # the app starts once it has its rights
        (token,) = pod["initContainers"]
        assert "169.254.169.254/computeMetadata/v1/" in token["command"][-1]
        (script_volume,) = [v for v in pod["volumes"] if v["name"] == "script"]
        (script,) = [
            r
            for r in of_type(plan, "kubernetes:core/v1:ConfigMap", stack.dir)
            if r.inputs["metadata"]["name"] == script_volume["configMap"]["name"]
        ]
        text = script.inputs["data"]["users.sql"]
        name = user.inputs["name"]
        (secret,) = [
            r
            for r in of_type(plan, "kubernetes:core/v1:Secret", stack.dir)
            if r.name.endswith(".orders")
        ]
        connection = reveal(secret.inputs["stringData"])
        assert connection["ORDERS_USERNAME"] == name
        if engine == "postgres":
            # A schema of its own, first on PostgreSQL's default search path.
            assert f'GRANT USAGE, CREATE ON SCHEMA "{name}" TO "{name}";' in text
            assert (
                f'GRANT CONNECT ON DATABASE "{connection["ORDERS_DATABASE"]}" TO "{name}";' in text
            )
        else:
            database = connection["ORDERS_DATABASE"]
            assert database == app.replace("-", "_")
            assert f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{name}'@'%';" in text
    assert users == 3


def test_gke_runs_its_own_logging_autoscaler_and_metrics_server(sample_plan: PlanResult) -> None:
    releases = {
        r.inputs["name"]
        for r in of_type(sample_plan, "kubernetes:helm.sh/v3:Release", "04-cluster-services")
    }
    # (and the secrets operator, for the apps' secrets)
    assert releases == {"kube-prometheus-stack", "gatekeeper", "external-secrets"}


# --- the same platform on AWS and on GCP ----------------------------------------------

IN_CLUSTER_STACKS = ("03-cluster", "06-apps/")
CLOUD_ANNOTATIONS = ("eks.amazonaws.com/", "iam.gke.io/")


DATABASE_USERS = "database-users"


def in_cluster_objects(plan: PlanResult) -> dict[tuple[str, str], dict]:
    """Namespaces, their guard rails, RBAC, policies and apps, minus what is the
    cloud's by design: workload identity annotations, datastore connection
    values, bucket names and endpoints, egress destinations (a VPC range on AWS, Google's on GCP), the
    default StorageClass, and how the cloud makes apps' database users (the
    `database-users` namespace and what runs there)."""
    objects = {}
    for stack in plan.stacks:
        if not stack.dir.startswith(IN_CLUSTER_STACKS):
            continue
        for record in stack.resources:
            if not record.type.startswith("kubernetes:") or record.type.startswith(
                ("kubernetes:helm", "pulumi:")
            ):
                continue
            if record.type.endswith(":StorageClass"):
                continue
            inputs = json.loads(json.dumps(reveal(record.inputs), default=str))
            metadata = inputs.get("metadata", {})
            if DATABASE_USERS in (metadata.get("namespace"), metadata.get("name")):
                continue
            annotations = inputs.get("metadata", {}).get("annotations", {})
            for key in [k for k in annotations if k.startswith(CLOUD_ANNOTATIONS)]:
                del annotations[key]
            if not annotations:
                inputs.get("metadata", {}).pop("annotations", None)
            if record.type.endswith(":Secret"):
                inputs.pop("stringData")  # each cloud's connection values
            if record.type.endswith(":SecretStore"):
                inputs["spec"].pop("provider")  # each cloud's secret manager
            if record.type.endswith(":ExternalSecret"):
                for item in inputs["spec"]["data"]:
                    item["remoteRef"].pop("key")  # the secret's name there
            if record.name.endswith(".egress"):
                inputs["spec"].pop("egress")
            # Claims name the cloud's default StorageClass.
            spec = inputs.get("spec", {})
            for claim in [spec, *spec.get("volumeClaimTemplates", [])]:
                if record.type.endswith((":PersistentVolumeClaim", ":StatefulSet")):
                    claim.get("spec", claim).pop("storageClassName", None)
            if record.type.endswith(":Deployment"):
                for container in inputs["spec"]["template"]["spec"]["containers"]:
                    container.pop("env", None)  # where each cloud's buckets are
            if record.type.endswith(":CronJob"):
                pod = inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                for container in pod["containers"]:
                    container.pop("env", None)  # where each cloud's warehouses are
            objects[(record.type, record.name)] = inputs
    return objects


def test_aws_sample_moved_to_gcp_keeps_every_in_cluster_object(
    moved_tree: Path, tmp_path: Path
) -> None:
    aws_out = tmp_path / "aws"
    write_tree(compile_data(load(ROOT / "samples" / "aws" / "platform.yaml")), aws_out)
    for env in ("dev", "prod"):
        aws = in_cluster_objects(plan_tree(aws_out, env))
        gcp_plan = plan_tree(moved_tree, env)
        assert all(s.error is None for s in gcp_plan.stacks), [
            (s.dir, s.error) for s in gcp_plan.stacks
        ]
        gcp = in_cluster_objects(gcp_plan)
        # GKE authenticates the members themselves (EKS maps them to the team's
        # group with access entries, which are AWS resources): one more binding per team namespace.
        members = {key for key in gcp if key[1].endswith(".members")}
        assert {key[1] for key in members} == {
            "payments/team.payments.members",
            "storefront/team.web.members",
            "internal/team.web.members",
        }
        assert len(aws) > 40
        assert sorted(set(gcp) - members) == sorted(aws)
        for key, inputs in aws.items():
            assert gcp[key] == inputs, key


def test_ci_identities_write_only_their_own_stacks_state_and_use_its_key(
    sample_plan: PlanResult,
) -> None:
    # The sample keeps its state in gs://acme-platform-state under a Cloud KMS key.
    base = "projects/_/buckets/acme-platform-state/objects/.pulumi"
    grants = {
        r.name: reveal(r.inputs)
        for r in of_type(sample_plan, "gcp:storage/bucketIAMMember:BucketIAMMember")
    }
    own = {
        "deploy-platform": [
            "identity",
            "managed-infra",
            "cluster",
            "cluster-services",
            "app-services",
        ],
        "deploy-apps": ["app-admin", "app-storefront"],
    }
    for bot, projects in own.items():
        read = grants[f"acme-ci-{bot}-state-read"]
        assert (read["bucket"], read["role"]) == (
            "acme-platform-state",
            "roles/storage.objectViewer",
        )
        assert "condition" not in read
        write = grants[f"acme-ci-{bot}-state-write"]
        assert write["role"] == "roles/storage.objectUser"
        expression = write["condition"]["expression"]
        for other in [p for ps in own.values() for p in ps]:
            name = f"{base}/stacks/organization/acme-{other}/prod.json"
            # The condition, read as IAM reads it: an OR of prefixes, some with an exception.
            allowed = any(
                all(
                    name.startswith(json.loads(arg)) != (negated == "!")
                    for negated, arg in re.findall(
                        r'(!?)resource\.name\.startsWith\(("[^"]*")\)', term
                    )
                )
                for term in expression.split(" || ")
            )
            assert allowed == (other in projects), (bot, other)
    keys = [
        reveal(r.inputs)
        for r in of_type(sample_plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if r.name.endswith("-state-key") and "-preview-" not in r.name  # see test_ci_preview
    ]
    assert {(r["cryptoKeyId"], r["role"]) for r in keys} == {
        (
            "projects/acme-platform-prod/locations/europe-west1/keyRings/pulumi/cryptoKeys/state",
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        )
    }
    assert len(keys) == 2  # one per CI identity


# --- buckets (storage.buckets) ----------------------------------------------------------


def test_buckets_are_uniform_private_encrypted_versioned_and_soft_deleted(
    sample_plan: PlanResult,
) -> None:
    infra = "02-managed-infra"
    (bucket,) = of_type(sample_plan, "gcp:storage/bucket:Bucket", infra)
    args = reveal(bucket.inputs)
    assert bucket.protect and args["forceDestroy"] is False
    assert args["name"].startswith("acme-platform-prod-acme")  # the project's id first
    assert args["uniformBucketLevelAccess"] is True
    assert args["publicAccessPrevention"] == "enforced"
    assert args["versioning"] == {"enabled": True}
    assert args["softDeletePolicy"]["retentionDurationSeconds"] >= 7 * 24 * 3600
    assert args["location"] == "europe-west1"
    # CMEK: a key of the platform's ring, which Cloud Storage's agent may use.
    keys = {r.name: r for r in of_type(sample_plan, "gcp:kms/cryptoKey:CryptoKey", infra)}
    key = keys[next(n for n in keys if n.endswith("-storage"))]
    assert key.protect and reveal(key.inputs)["rotationPeriod"] == "7776000s"
    key_id = args["encryption"]["defaultKmsKeyName"]
    assert key_id.endswith("/cryptoKeys/" + reveal(key.inputs)["name"])
    grants = [
        reveal(r.inputs)
        for r in of_type(sample_plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", infra)
        if reveal(r.inputs)["cryptoKeyId"] == key_id
    ]
    assert [(g["role"], g["member"].split("@")[1]) for g in grants] == [
        (
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "gs-project-accounts.iam.gserviceaccount.com",
        )
    ]
    assert grants[0]["member"].startswith("serviceAccount:service-")
    # The bucket waits for the grant: Cloud Storage refuses a key it cannot use.
    grant_urn = next(
        r.urn
        for r in of_type(sample_plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", infra)
        if reveal(r.inputs)["cryptoKeyId"] == key_id
    )
    assert grant_urn in bucket.dependencies


def test_apps_get_exactly_the_buckets_they_use_with_their_access(
    sample_plan: PlanResult,
) -> None:
    (bucket,) = of_type(sample_plan, "gcp:storage/bucket:Bucket", "02-managed-infra")
    name = reveal(bucket.inputs)["name"]
    roles = {}
    for app in ("storefront", "admin", "checkout"):
        members = of_type(
            sample_plan, "gcp:storage/bucketIAMMember:BucketIAMMember", f"06-apps/{app}"
        )
        roles[app] = [
            (reveal(m.inputs)["bucket"], reveal(m.inputs)["role"], reveal(m.inputs)["member"])
            for m in members
        ]
    account = "@acme-platform-prod.iam.gserviceaccount.com"
    assert [(b, r) for b, r, _ in roles["storefront"]] == [(name, "roles/storage.objectViewer")]
    assert [(b, r) for b, r, _ in roles["admin"]] == [(name, "roles/storage.objectUser")]
    assert roles["checkout"] == []
    assert roles["storefront"][0][2].startswith("serviceAccount:acme-")
    assert roles["storefront"][0][2].endswith(account)
    # storefront uses a bucket and Memorystore only: its service account is
    # the identity stack's, made because of the bucket.
    accounts = {
        reveal(r.inputs)["accountId"]
        for r in of_type(sample_plan, "gcp:serviceaccount/account:Account", "01-identity")
    }
    assert roles["storefront"][0][2].removeprefix("serviceAccount:").split("@")[0] in accounts
    deployment = of_type(sample_plan, "kubernetes:apps/v1:Deployment", "06-apps/storefront")[0]
    (container,) = reveal(deployment.inputs)["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {"name": "ASSETS_BUCKET", "value": name},
        {"name": "ASSETS_BUCKET_ENDPOINT", "value": "https://storage.googleapis.com"},
    ]


def test_bucket_rights_of_the_ci_identities(sample_plan: PlanResult) -> None:
    members = [
        reveal(r.inputs)
        for r in of_type(sample_plan, "gcp:projects/iAMMember:IAMMember", "01-identity")
    ]
    storage_admins = [m["member"] for m in members if m["role"] == "roles/storage.admin"]
    assert storage_admins and all("deploy-platform" in m for m in storage_admins)
    (grants,) = [
        reveal(r.inputs)
        for r in of_type(sample_plan, "gcp:projects/iAMCustomRole:IAMCustomRole", "01-identity")
        if reveal(r.inputs)["roleId"].endswith("bucket_grants")
    ]
    assert grants["permissions"] == [
        "storage.buckets.get",
        "storage.buckets.getIamPolicy",
        "storage.buckets.setIamPolicy",
    ]
    # ... on the platform's buckets only: Cloud Storage reads IAM conditions.
    (bucket,) = of_type(sample_plan, "gcp:storage/bucket:Bucket", "02-managed-infra")
    (member,) = [
        reveal(r.inputs)
        for r in of_type(sample_plan, "gcp:projects/iAMMember:IAMMember", "01-identity")
        if reveal(r.inputs)["role"].endswith("bucket_grants")
    ]
    assert member["condition"]["expression"] == (
        f'resource.name == "projects/_/buckets/{reveal(bucket.inputs)["name"]}"'
    )


def test_an_app_gets_a_service_account_for_a_bucket_not_for_memorystore() -> None:
    from crosswalk.compiler.model import build_platform
    from crosswalk.providers.gcp.common import app_needs_account

    data = load(ROOT / "samples" / "gcp" / "platform.yaml")
    storefront = next(a for a in data["apps"] if a["name"] == "storefront")
    assert app_needs_account(build_platform(data), build_platform(data).app("storefront"))
    storefront["uses"] = ["sessions"]  # Memorystore alone: a password, no Google IAM
    platform = build_platform(data)
    assert not app_needs_account(platform, platform.app("storefront"))
