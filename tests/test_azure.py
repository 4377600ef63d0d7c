"""The Azure (AKS) backend: the sample compiles, formats, type-checks and plans
offline with the real pulumi-azure-native SDK, importing only the submodules it
uses; the AWS sample moved to Azure keeps every in-cluster object; Azure's
secure defaults, names and identities hold."""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import py_compile
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from crosswalk.compiler.codegen import Program
from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document
from crosswalk.compiler.graph import stack_layer
from crosswalk.compiler.mock_values import Secret, reveal
from crosswalk.compiler.model import Network
from crosswalk.compiler.plan import PlanResult, plan_tree
from crosswalk.compiler.writer import write_tree
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure import rules as azure
from crosswalk.providers.azure.cluster import CLUSTER_ACCESS
from crosswalk.providers.azure.identity import APP_SECRETS_ASSIGNS, LAYER_ASSIGNS, ONLY_ASSIGNING
from crosswalk.providers.azure.program import ROLES
from tests.test_gcp import in_cluster_objects

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "azure" / "platform.yaml"
AWS_SAMPLE = ROOT / "samples" / "aws" / "platform.yaml"
AZURE = "azure-native"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compile_data(data: dict) -> dict[str, str]:
    raw = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")
    document, problems = parse_document(raw, "platform.yaml")
    assert document is not None, problems
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    return result.files


def moved_to_azure(data: dict) -> dict:
    """The AWS sample with only its cloud switched: Azure's provider and location,
    members as Entra object ids, the one AWS machine type and Redis version as
    Azure's, the Aurora datastore as a flexible server, no pipelines, and no apps' secrets
    (their SecretStore is each cloud's own: tests/test_app_secrets.py)."""
    data = without_app_secrets(data)
    data["cloud"] = {"provider": "azure", "region": "westeurope"}
    for i, team in enumerate(data["identity"]["teams"]):
        team["members"] = [f"{i:08d}-0000-4000-8000-000000000000"]
    for pool in data["cluster"]["nodePools"]:
        if pool.get("machineType") == "c6i.2xlarge":
            pool["machineType"] = "Standard_F8s_v2"
    for store in data["appServices"]["datastores"]:
        if store["engine"] == "redis":
            store["version"] = "6"
        store.pop("flavor", None)  # Aurora is AWS's: a flexible server
    # Azure delivers no pipelines yet (CW504).
    data.get("analytics", {}).pop("pipelines", None)
    return data


def without_app_secrets(data: dict) -> dict:
    data = copy.deepcopy(data)
    for app in data["apps"]:
        app.pop("secrets", None)
    return data


def variant() -> dict:
    """The Azure sample turned inside out: every branch the sample leaves alone."""
    data = load(SAMPLE)
    data["name"] = "acme-west"  # the core's StackReference lines fit ruff's line up to 9
    data["network"] = {"cidr": "10.0.0.0/16", "zones": 1, "natGateways": "single"}
    data["registries"] = [{"name": "images-for-the-whole-company-website"}]  # a long derived name
    data["cluster"]["endpoint"] = {"public": True, "allowedCidrs": ["203.0.113.0/24"]}
    data["cluster"]["nodePools"] = [
        {"name": "general", "machineType": "Standard_D4_v5", "min": 1, "max": 3},
        {"name": "batch", "size": "large", "min": 0, "max": 4, "spot": True},
    ]
    data["clusterServices"] = {
        "logging": {"enabled": False},
        "monitoring": {"enabled": False},
        "policy": {"engine": "gatekeeper"},
        "mesh": {"engine": "istio"},
        "autoscaler": {"enabled": False},
    }
    services = data["appServices"]
    services["ingress"] = {"controller": "nginx"}
    del services["dns"], services["certificates"]
    services["datastores"] = [
        {"name": "orders", "engine": "mysql", "version": "8.0", "highAvailability": True},
        {"name": "sessions", "engine": "redis", "instanceClass": "Premium_P1"},
        {"name": "events", "engine": "queue"},
        {"name": "profiles", "engine": "document", "highAvailability": True},
        {"name": "activity", "engine": "stream"},  # with no pipeline: a hub without capture
    ]
    del data["analytics"]["pipelines"]
    for app in data["apps"]:
        if "ingress" in app:
            app["ingress"].pop("host", None)
        app["uses"] = [s for s in app.get("uses", []) if s in ("events",)]
    data["apps"][0]["uses"] = ["sessions", "profiles"]
    data["apps"][1]["uses"] = ["orders", "events", "activity"]
    data["identity"]["teams"].append(
        {
            "name": "auditors",
            "access": "viewer",
            "members": ["9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"],
            "namespaces": ["internal", "payments"],
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
    out = tmp_path_factory.mktemp("azure-sample")
    write_tree(compile_data(load(SAMPLE)), out)
    return out


@pytest.fixture(scope="module")
def variant_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("azure-variant")
    write_tree(compile_data(variant()), out)
    return out


@pytest.fixture(scope="module")
def moved_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aws-moved-to-azure")
    write_tree(compile_data(moved_to_azure(load(AWS_SAMPLE))), out)
    return out


@pytest.fixture(scope="module")
def sample_plan(sample_tree) -> PlanResult:
    return plan_tree(sample_tree, "prod")


def records(plan: PlanResult, stack: str | None = None):
    for stack_plan in plan.stacks:
        if stack is None or stack_plan.dir == stack:
            yield from stack_plan.resources


def of_type(plan: PlanResult, kind: str, stack: str | None = None) -> list:
    """Records of an azure-native type ('containerservice:ManagedCluster') or a full token."""
    token = kind if ":" in kind and kind.count(":") == 2 else f"{AZURE}:{kind}"
    return [r for r in records(plan, stack) if r.type == token]


def inputs(record) -> dict:
    return json.loads(json.dumps(reveal(record.inputs), default=str))


def role_id(name: str) -> str:
    return (
        "/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
        f"Microsoft.Authorization/roleDefinitions/{ROLES[name]}"
    )


def role_name(definition: str) -> str:
    """A built-in role's name; a custom role's (the delete locks') is "custom"."""
    return {v: k for k, v in ROLES.items()}.get(definition.rsplit("/", 1)[1], "custom")


def failed(plan: PlanResult) -> dict:
    return {s.dir: s.error for s in plan.stacks if s.error is not None}


# --- the sample ------------------------------------------------------------------------


def test_every_stack_of_the_sample_plans(sample_plan: PlanResult) -> None:
    assert not failed(sample_plan)
    dirs = [s.dir for s in sample_plan.stacks]
    assert dirs[:3] == ["01-identity", "02-managed-infra", "03-cluster"]
    assert {f"06-apps/{a}" for a in ("storefront", "checkout", "order-worker", "admin")} <= set(
        dirs
    )


def test_dev_plans_too(sample_tree: Path) -> None:
    assert not failed(plan_tree(sample_tree, "dev"))


@pytest.mark.parametrize("tree", ["sample_tree", "variant_tree", "moved_tree"])
def test_programs_compile_are_formatted_and_standalone(tree: str, request) -> None:
    out = request.getfixturevalue(tree)
    programs = sorted(out.rglob("__main__.py"))
    assert len(programs) >= 6
    for program in programs:
        py_compile.compile(str(program), doraise=True)
        text = program.read_text()
        assert "crosswalk" not in "".join(line for line in text.splitlines() if "import" in line)
        # Never the whole package (its ~15 s import): one import of the submodules used.
        assert "import pulumi_azure_native" not in text
        # One import of submodules (isort puts the aliased Provider on a line of its own).
        submodule_imports = [
            line
            for line in text.splitlines()
            if line.startswith("from pulumi_azure_native import") and " as " not in line
        ]
        assert len(submodule_imports) <= 1
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--isolated", str(out)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_variant_and_moved_programs_typecheck(
    variant_tree: Path, moved_tree: Path, tmp_path: Path
) -> None:
    """The sample is type-checked by tests/test_typecheck.py; these reach MySQL,
    Cosmos DB, a public API server, spot pools and autoscaling off."""
    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (pip install 'crosswalk[test]')")
    programs = sorted(
        str(p) for p in [*variant_tree.rglob("__main__.py"), *moved_tree.rglob("__main__.py")]
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
        assert not failed(plan), env
        (cluster,) = of_type(plan, "containerservice:ManagedCluster")
        cluster = inputs(cluster)
        access = cluster["apiServerAccessProfile"]
        assert access["authorizedIPRanges"] == ["203.0.113.0/24"]
        assert access["enableVnetIntegration"] is True  # the private vault needs it here too
        assert "omsagent" not in cluster["addonProfiles"]  # logging off
        assert "autoScalerProfile" not in cluster
        (system,) = cluster["agentPoolProfiles"]
        assert "availabilityZones" not in system and "enableAutoScaling" not in system
        (batch,) = of_type(plan, "containerservice:AgentPool")
        batch = inputs(batch)
        assert batch["vmSize"] == "Standard_D8s_v5"
        assert batch["scaleSetPriority"] == "Spot" and batch["scaleSetEvictionPolicy"] == "Delete"
        assert batch["nodeTaints"] == ["kubernetes.azure.com/scalesetpriority=spot:NoSchedule"]
        (storage_class,) = of_type(plan, "kubernetes:storage.k8s.io/v1:StorageClass")
        assert (
            storage_class.inputs["parameters"]["skuName"] == "StandardSSD_LRS"
        )  # D4_v5: no premium
        (registry,) = of_type(plan, "containerregistry:Registry")
        assert inputs(registry)["registryName"] == f"acmewest{env}imagesforthewholecompanywebsite"
        (mysql,) = of_type(plan, "dbformysql:Server")
        mysql_inputs = inputs(mysql)
        assert mysql_inputs["version"] == "8.0.21"
        assert mysql_inputs["highAvailability"] == {"mode": "ZoneRedundant"}
        assert mysql_inputs["network"]["publicNetworkAccess"] == "Disabled"
        assert isinstance(mysql.inputs["administratorLoginPassword"], Secret)
        (secret,) = [r for r in of_type(plan, "keyvault:Secret") if r.name.endswith("-password")]
        assert isinstance(secret.inputs["properties"]["value"], Secret)
        (account,) = of_type(plan, "cosmosdb:DatabaseAccount")
        account = inputs(account)
        assert account["disableLocalAuth"] is True and account["publicNetworkAccess"] == "Disabled"
        assert account["locations"] == [
            {"locationName": "westeurope", "failoverPriority": 0, "isZoneRedundant": True}
        ]
        (redis,) = of_type(plan, "redis:Redis")
        assert inputs(redis)["sku"] == {"name": "Premium", "family": "P", "capacity": 1}
        locks = of_type(plan, "authorization:ManagementLockByScope")
        # MySQL, Cosmos DB, the buckets' storage account, the warehouses'
        # cluster and the streams' namespace: protection is on in every environment.
        assert len(locks) == 5
        # A stream no pipeline reads: a hub without capture, a namespace with no identity.
        (namespace,) = of_type(plan, "eventhub:Namespace")
        assert "identity" not in namespace.inputs
        (hub,) = of_type(plan, "eventhub:EventHub")
        assert "captureDescription" not in hub.inputs
        _mysql_apps_sign_in_as_their_own_users(plan)
        (cosmos,) = of_type(plan, "cosmosdb:SqlResourceSqlRoleAssignment", "06-apps/storefront")
        (account_record,) = of_type(plan, "cosmosdb:DatabaseAccount", "05-app-services")
        assert cosmos.inputs["scope"] == account_record.outputs["id"], "read from its stack"
        releases = {r.name for r in of_type(plan, "kubernetes:helm.sh/v3:Release")}
        assert {"gatekeeper", "istio-base", "istiod", "nginx"} <= releases


def test_only_the_submodules_a_program_uses_are_imported(sample_tree: Path) -> None:
    code = (
        "import sys\n"
        "from crosswalk.compiler.plan import plan_tree\n"
        f"plan_tree(__import__('pathlib').Path({str(sample_tree)!r}), 'dev')\n"
        # Every subpackage is registered lazily; a loaded one is a plain module.
        "print(sorted(m.split('.')[1] for m, module in sys.modules.items()"
        " if m.startswith('pulumi_azure_native.') and m.count('.') == 1"
        " and type(module) is type(sys)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    loaded = set(eval(done.stdout.strip().splitlines()[-1]))  # our own output
    loaded.discard("_utilities")
    assert loaded <= {
        "authorization",
        "compute",  # the VMs
        "containerregistry",
        "containerservice",
        "dbforpostgresql",
        "dns",
        "eventhub",
        "keyvault",
        "kusto",
        "managedidentity",
        "monitor",
        "network",
        "operationalinsights",
        "privatedns",
        "provider",
        "redis",
        "resources",
        "servicebus",
        "storage",
    }, loaded


def _plan_seconds(out: Path) -> float:
    """Wall time of `crosswalk plan OUT --offline` in a fresh process (best of two)."""
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "crosswalk.compiler.cli", "plan", str(out), "--offline"],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        best = min(best, time.perf_counter() - start)
        assert done.returncode == 0, done.stdout + done.stderr
    return best


def test_offline_plan_takes_at_most_twice_the_aws_samples(
    sample_tree: Path, tmp_path: Path
) -> None:
    aws = tmp_path / "aws"
    write_tree(compile_data(load(AWS_SAMPLE)), aws)
    aws_seconds, azure_seconds = _plan_seconds(aws), _plan_seconds(sample_tree)
    assert azure_seconds <= 2 * aws_seconds, (azure_seconds, aws_seconds)


def test_no_static_credentials_anywhere(sample_plan: PlanResult) -> None:
    for record in records(sample_plan):
        text = json.dumps(inputs(record)).lower()
        assert "clientsecret" not in text and 'password":' not in text, record.name
    (cluster,) = of_type(sample_plan, "containerservice:ManagedCluster")
    assert cluster.inputs["disableLocalAccounts"] is True
    (registry,) = of_type(sample_plan, "containerregistry:Registry")
    assert registry.inputs["adminUserEnabled"] is False
    (bus,) = of_type(sample_plan, "servicebus:Namespace")
    assert bus.inputs["disableLocalAuth"] is True
    (cache,) = of_type(sample_plan, "redis:Redis")
    assert cache.inputs["disableAccessKeyAuthentication"] is True
    (server,) = of_type(sample_plan, "dbforpostgresql:Server")
    assert server.inputs["authConfig"]["passwordAuth"] == "Disabled"
    assert "administratorLogin" not in server.inputs


def test_ci_identities_are_pinned_to_their_repository_and_ref(sample_plan: PlanResult) -> None:
    credentials = {
        r.name: inputs(r)
        for r in of_type(sample_plan, "managedidentity:FederatedIdentityCredential", "01-identity")
    }
    assert credentials["contoso-ci-deploy-apps-github"] | {"resourceGroupName": None} == {
        "resourceGroupName": None,
        "resourceName": "contoso-ci-deploy-apps",
        "federatedIdentityCredentialResourceName": "github",
        "issuer": "https://token.actions.githubusercontent.com",
        "subject": "repo:contoso/platform:ref:refs/heads/main",
        "audiences": ["api://AzureADTokenExchange"],
    }
    assert (
        credentials["contoso-ci-deploy-platform-github"]["subject"]
        == "repo:contoso/platform:ref:refs/heads/main"
    )
    group = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-prod"
    held: dict[str, set] = {}
    for record in of_type(sample_plan, "authorization:RoleAssignment", "01-identity"):
        grant = inputs(record)
        # (the preview twins and the state grants: tests/test_ci_preview.py)
        # (and the apps' secrets' group: tests/test_app_secrets.py; the delete
        # locks' role: test_deployers_that_lock_may_write_locks_and_nothing_more)
        if record.name.startswith("contoso-ci-") and not re.search(
            r"-(preview|state|app-secrets)-|-deletion-locks$", record.name
        ):
            assert grant["scope"] == group and grant["principalType"] == "ServicePrincipal"
            bot = record.name.split("-ci-")[1].split("-")[1]
            held.setdefault(bot, set()).add(role_name(grant["roleDefinitionId"]))
    # Apps make their own identities and grants (in their own stacks); the
    # sample's PostgreSQL administrators and Redis policies take Contributor.
    assert held["apps"] == {
        "Azure Kubernetes Service RBAC Admin",
        "Contributor",
        "Managed Identity Contributor",
        "Role Based Access Control Administrator",
    }
    (apps_admin,) = [
        r
        for r in of_type(sample_plan, "authorization:RoleAssignment", "01-identity")
        if r.name.endswith("deploy-apps-rbac-administrator")
    ]
    apps_may = apps_admin.inputs["condition"]
    assert ROLES["Azure Service Bus Data Sender"] in apps_may
    # No app reads a Key Vault secret (MySQL's apps have users of their own).
    assert ROLES["Key Vault Secrets User"] not in apps_may
    assert ROLES["Contributor"] not in apps_may and ROLES["AcrPull"] not in apps_may
    assert held["platform"] == {
        "Azure Kubernetes Service RBAC Cluster Admin",
        "Contributor",
        "Managed Identity Contributor",
        "Monitoring Contributor",
        "Role Based Access Control Administrator",
    }
    (admin,) = [
        r
        for r in of_type(sample_plan, "authorization:RoleAssignment", "01-identity")
        if r.name.endswith("deploy-platform-rbac-administrator")
    ]
    condition = admin.inputs["condition"]
    assert admin.inputs["conditionVersion"] == "2.0"
    assert condition.count("ForAnyOfAnyValues:GuidEquals") == 2
    assert ROLES["AcrPull"] in condition and ROLES["Key Vault Crypto User"] in condition
    assert ROLES["Azure Kubernetes Service RBAC Admin"] in condition  # the apps identity's role
    assert "8e3af657-a8ff-443c-a75c-2fe8c4bcb635" not in condition  # never Owner


def test_ci_identities_may_assign_every_role_their_layers_assign(
    sample_tree: Path, variant_tree: Path
) -> None:
    """The ABAC condition of a CI identity lists LAYER_ASSIGNS: it must cover
    every role the layer's program really assigns."""
    for tree in (sample_tree, variant_tree):
        for program in tree.rglob("__main__.py"):
            layer = program.parent.relative_to(tree).parts[0]
            if layer == "01-identity":
                continue  # it makes the CI identities' own assignments
            used = set(re.findall(r'role_definition\("([^"]+)"\)', program.read_text()))
            allowed = set(LAYER_ASSIGNS.get(stack_layer(layer), []))
            # (on the apps' secrets alone: tests/test_app_secrets.py)
            allowed |= set(APP_SECRETS_ASSIGNS.get(stack_layer(layer), []))
            assert used <= allowed, (program, used - allowed)


def _without(data: dict, *kinds: str) -> dict:
    """The sample without its buckets, warehouses or VMs (and their uses)."""
    data = copy.deepcopy(data)
    for kind in kinds:
        if kind == "buckets":
            del data["storage"]
            # (and the pipelines into them)
            data.get("analytics", {}).pop("pipelines", None)
        elif kind == "warehouses":
            del data["analytics"]
        else:
            del data["vms"]
            for env in data["environments"].values():
                env.get("overrides", {}).pop("vms", None)
        key = kind.removesuffix("s")
        for app in data["apps"]:
            if "uses" in app:
                app["uses"] = [u for u in app["uses"] if not (isinstance(u, dict) and key in u)]
                if kind == "buckets":
                    app["uses"] = [u for u in app["uses"] if u != "assets"]
    return data


@pytest.mark.parametrize(
    "without", [("warehouses", "vms"), ("buckets", "vms"), ("buckets", "warehouses")]
)
def test_the_managed_infra_deployer_may_assign_what_its_program_assigns(
    without: tuple, tmp_path: Path
) -> None:
    """Whatever of buckets, warehouses and VMs a platform has, managed-infra's
    deployer may assign every role its program assigns (the key role of the
    storage account, the warehouse cluster or the VMs' disks; the VMs' logins)."""
    out = tmp_path / "out"
    write_tree(compile_data(_without(load(SAMPLE), *without)), out)
    plan = plan_tree(out, "prod", only=["02-managed-infra"])
    assert not failed(plan)
    assigned = {
        ROLES[role_name(inputs(r)["roleDefinitionId"])]
        for r in of_type(plan, "authorization:RoleAssignment", "02-managed-infra")
    }
    assert assigned
    (admin,) = [
        inputs(r)
        for r in of_type(plan, "authorization:RoleAssignment", "01-identity")
        if r.name.endswith("deploy-platform-rbac-administrator")
    ]
    allowed = set(re.findall(r"[0-9a-f-]{36}", admin["condition"]))
    assert assigned <= allowed, assigned - allowed


def test_only_assigning_builds_the_abac_condition() -> None:
    namespace: dict = {"BUILT_IN_ROLES": {"AcrPull": ROLES["AcrPull"], "Reader": ROLES["Reader"]}}
    exec(ONLY_ASSIGNING, namespace)  # noqa: S102 - our own helper source
    guids = f"{ROLES['AcrPull']}, {ROLES['Reader']}"
    assert namespace["only_assigning"](["AcrPull", "Reader"]) == (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{guids}}})) AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{guids}}}))"
    )


def test_team_members_get_cluster_access_and_namespace_rbac(sample_plan: PlanResult) -> None:
    cluster = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/contoso-prod/providers/Microsoft.Containerservice/managedClusters/contoso"
    grants = {
        (r.inputs["principalId"], role_name(r.inputs["roleDefinitionId"]), r.inputs["scope"])
        for r in of_type(sample_plan, "authorization:RoleAssignment", "03-cluster")
        if r.name.startswith("contoso-team-")
    }
    platform, payments, web = (
        "3f2b1c9e-8d4a-4e7b-9c1d-2a5f6e7b8c90",
        "b7c4d2e1-5a6f-4b8c-9d0e-1f2a3b4c5d6e",
        "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d",
    )
    user = "Azure Kubernetes Service Cluster User Role"
    assert grants == {
        (platform, user, cluster),
        (platform, "Azure Kubernetes Service RBAC Cluster Admin", cluster),
        (payments, user, cluster),
        (payments, "Azure Kubernetes Service RBAC Writer", f"{cluster}/namespaces/payments"),
        (web, user, cluster),
        (web, "Azure Kubernetes Service RBAC Writer", f"{cluster}/namespaces/storefront"),
        (web, "Azure Kubernetes Service RBAC Writer", f"{cluster}/namespaces/internal"),
    }


def test_cluster_is_private_encrypted_and_identity_aware(sample_plan: PlanResult) -> None:
    (record,) = of_type(sample_plan, "containerservice:ManagedCluster")
    cluster = inputs(record)
    assert cluster["aadProfile"] == {"managed": True, "enableAzureRBAC": True}
    assert cluster["oidcIssuerProfile"] == {"enabled": True}
    access = cluster["apiServerAccessProfile"]
    assert (access["enablePrivateCluster"], access["privateDNSZone"]) == (True, "system")
    security = cluster["securityProfile"]
    assert security["workloadIdentity"] == {"enabled": True}
    assert security["azureKeyVaultKms"]["enabled"] is True
    assert security["azureKeyVaultKms"]["keyId"].startswith("https://")
    assert cluster["identity"]["type"] == "UserAssigned"
    assert set(cluster["identityProfile"]["kubeletidentity"]) == {
        "resourceId",
        "clientId",
        "objectId",
    }
    network = cluster["networkProfile"]
    assert (network["networkPlugin"], network["networkPluginMode"], network["networkPolicy"]) == (
        "azure",
        "overlay",
        "cilium",
    )
    assert network["outboundType"] == "userAssignedNATGateway"
    assert cluster["addonProfiles"]["azurepolicy"]["enabled"] is True
    assert cluster["addonProfiles"]["omsagent"]["config"]["useAADAuth"] == "true"
    assert cluster["autoUpgradeProfile"] == {
        "upgradeChannel": "patch",
        "nodeOSUpgradeChannel": "NodeImage",
    }
    (system,) = cluster["agentPoolProfiles"]
    assert system["name"] == "system" and system["mode"] == "System"
    assert system["vmSize"] == "Standard_D4ds_v5" and system["enableNodePublicIP"] is False
    assert (system["minCount"], system["maxCount"]) == (3, 12)  # prod overrides
    (batch,) = of_type(sample_plan, "containerservice:AgentPool")
    batch = inputs(batch)
    assert batch["mode"] == "User" and batch["scaleSetPriority"] == "Spot"
    assert batch["nodeTaints"] == [
        "workload=batch:NoSchedule",
        "kubernetes.azure.com/scalesetpriority=spot:NoSchedule",
    ]
    assert batch["nodeLabels"] == {"workload": "batch", "crosswalk/node-pool": "batch"}
    # The control plane reaches the nodes' subnet and the KMS key before it exists.
    depends = set(record.dependencies)
    pre = {
        r.urn
        for r in of_type(sample_plan, "authorization:RoleAssignment", "03-cluster")
        if r.name.startswith("contoso-cluster-")
    }
    assert len(pre) == 4 and pre <= depends  # + the API server's subnet and the vault's link
    (audit,) = of_type(sample_plan, "monitor:DiagnosticSetting")
    assert {log["category"] for log in audit.inputs["logs"]} >= {"kube-audit-admin", "guard"}
    (pull,) = [
        r
        for r in of_type(sample_plan, "authorization:RoleAssignment", "03-cluster")
        if r.name.endswith("-pull")
    ]
    assert role_name(pull.inputs["roleDefinitionId"]) == "AcrPull"


def test_kubeconfig_is_secret_and_signs_in_with_entra_id(sample_plan: PlanResult) -> None:
    cluster = next(s for s in sample_plan.stacks if s.dir == "03-cluster")
    assert isinstance(cluster.exports["kubeconfig"], Secret)
    config = json.loads(reveal(cluster.exports["kubeconfig"]))
    assert config["clusters"][0]["cluster"]["server"].startswith("https://")
    user = config["users"][0]["user"]["exec"]
    assert user["command"] == "kubelogin"
    assert user["args"][:3] == ["get-token", "--login", "azurecli"]


@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_cluster_access_reads_the_kubeconfig_aks_returns(kind: str) -> None:
    config = {
        "apiVersion": "v1",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": "https://c.hcp.westeurope.azmk8s.io:443",
                    "certificate-authority-data": "TUlJ+Q0E=",
                },
            }
        ],
    }
    text = yaml.safe_dump(config) if kind == "yaml" else json.dumps(config)
    credentials = SimpleNamespace(
        kubeconfigs=[SimpleNamespace(value=base64.b64encode(text.encode()).decode())]
    )
    namespace: dict = {}
    exec("import base64\nimport re\n" + CLUSTER_ACCESS, namespace)  # noqa: S102 - our own helper
    assert namespace["cluster_access"](credentials) == {
        "server": "https://c.hcp.westeurope.azmk8s.io:443",
        "ca": "TUlJ+Q0E=",
    }


def test_names_are_derived_per_environment(sample_plan: PlanResult) -> None:
    (vault,) = of_type(sample_plan, "keyvault:Vault", "02-managed-infra")
    assert (
        vault.inputs["vaultName"] == azure.KEY_VAULT.render("contoso", "prod") == "kv-contoso-prod"
    )
    (apps_vault,) = of_type(sample_plan, "keyvault:Vault", "05-app-services")
    assert apps_vault.inputs["vaultName"] == azure.APP_KEY_VAULT.render("contoso", "prod")
    assert apps_vault.inputs["vaultName"] == "kva-contoso-prod"
    (registry,) = of_type(sample_plan, "containerregistry:Registry")
    assert registry.inputs["registryName"] == "contosoprodimages"
    (server,) = of_type(sample_plan, "dbforpostgresql:Server")
    assert server.inputs["serverName"] == "contoso-prod-orders"
    groups = {
        r.inputs["resourceGroupName"]: r for r in of_type(sample_plan, "resources:ResourceGroup")
    }
    assert sorted(groups) == ["contoso-prod", "contoso-prod-app-secrets"]
    assert {g.inputs["tags"]["crosswalk-environment"] for g in groups.values()} == {"prod"}


def test_environment_values_live_in_stack_config(sample_tree: Path) -> None:
    def config(env: str) -> dict:
        text = (sample_tree / "03-cluster" / f"Pulumi.{env}.yaml").read_text()
        return yaml.safe_load(text)["config"]

    dev, prod = config("dev"), config("prod")
    assert dev["contoso-cluster:nodePools.system.vmSize"] == "Standard_D2ds_v5"
    assert prod["contoso-cluster:nodePools.system.vmSize"] == "Standard_D4ds_v5"
    assert (
        dev["contoso-cluster:nodePools.system.min"],
        prod["contoso-cluster:nodePools.system.max"],
    ) == (1, 12)
    services = yaml.safe_load((sample_tree / "05-app-services" / "Pulumi.dev.yaml").read_text())[
        "config"
    ]
    assert services["contoso-app-services:dns.zoneName"] == "dev.contoso.example.net"
    assert not [key for key in services if "rotection" in key]  # on in both environments
    identity = yaml.safe_load((sample_tree / "01-identity" / "Pulumi.prod.yaml").read_text())[
        "config"
    ]
    assert identity["contoso-identity:cloud.subscription"] == "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def test_datastores_are_private_backed_up_and_protected(
    sample_plan: PlanResult, sample_tree: Path
) -> None:
    (server,) = of_type(sample_plan, "dbforpostgresql:Server")
    server = inputs(server)
    assert server["network"]["publicNetworkAccess"] == "Disabled"
    assert server["network"]["delegatedSubnetResourceId"].endswith("/contoso-postgres")
    assert server["highAvailability"] == {"mode": "ZoneRedundant"}
    assert server["backup"] == {"backupRetentionDays": 7, "geoRedundantBackup": "Enabled"}
    # The server's lock (the streams' namespace has its own: tests/test_analytics.py).
    (lock,) = [
        r
        for r in of_type(sample_plan, "authorization:ManagementLockByScope", "05-app-services")
        if "/servers/" in r.inputs["scope"]
    ]
    assert lock.inputs["level"] == "CanNotDelete"
    dev = plan_tree(sample_tree, "dev", only=["05-app-services"])
    (dev_lock,) = [
        r
        for r in of_type(dev, "authorization:ManagementLockByScope", "05-app-services")
        if "/servers/" in r.inputs["scope"]
    ]
    assert dev_lock.inputs["level"] == "CanNotDelete"
    (cache,) = of_type(sample_plan, "redis:Redis")
    cache = inputs(cache)
    assert cache["enableNonSslPort"] is False and cache["minimumTlsVersion"] == "1.2"
    assert cache["publicNetworkAccess"] == "Disabled"
    assert cache["redisConfiguration"] == {"aadEnabled": "true"}
    endpoints = {
        inputs(r)["privateLinkServiceConnections"][0]["groupIds"][0]
        for r in of_type(sample_plan, "network:PrivateEndpoint")
    }
    # blob: the buckets; cluster: the warehouses; namespace: the streams
    assert endpoints == {"blob", "cluster", "namespace", "registry", "redisCache", "vault"}
    (queue,) = of_type(sample_plan, "servicebus:Queue")
    assert queue.inputs["deadLetteringOnMessageExpiration"] is True
    assert queue.inputs["maxDeliveryCount"] == 5


def test_each_apps_identity_and_grants_live_in_its_own_stack(sample_plan: PlanResult) -> None:
    """As on AWS and GCP: adding, changing or removing an app touches its stack alone."""
    services = {
        inputs(r)["subject"]
        for r in of_type(
            sample_plan, "managedidentity:FederatedIdentityCredential", "05-app-services"
        )
    }
    assert services == {
        "system:serviceaccount:external-dns:external-dns",
        "system:serviceaccount:cert-manager:cert-manager",
        # the server's administrator, which the apps' user Jobs sign in as
        "system:serviceaccount:database-users:orders-db-admin",
    }
    assert not of_type(sample_plan, "redis:AccessPolicyAssignment", "05-app-services")
    subjects = {}
    for stack in sample_plan.stacks:
        if not stack.dir.startswith("06-apps/"):
            continue
        credentials = of_type(sample_plan, "managedidentity:FederatedIdentityCredential", stack.dir)
        if stack.dir == "06-apps/search":  # no datastore, no cloud API: no identity
            assert not credentials
            continue
        (credential,) = credentials
        subjects[stack.dir] = inputs(credential)["subject"]
        (identity,) = of_type(sample_plan, "managedidentity:UserAssignedIdentity", stack.dir)
        (account,) = [r for r in stack.resources if r.type == "kubernetes:core/v1:ServiceAccount"]
        annotations = account.inputs["metadata"]["annotations"]
        assert annotations["azure.workload.identity/client-id"] == identity.outputs["clientId"]
        (workload,) = [
            r
            for r in stack.resources
            if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob")
        ]
        spec = workload.inputs["spec"]
        template = (
            spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
        )
        assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert subjects == {
        "06-apps/storefront": "system:serviceaccount:storefront:storefront",
        "06-apps/checkout": "system:serviceaccount:payments:checkout",
        "06-apps/order-worker": "system:serviceaccount:payments:order-worker",
        "06-apps/admin": "system:serviceaccount:internal:admin",
        "06-apps/nightly-report": "system:serviceaccount:payments:nightly-report",
    }
    grants = {
        r.name: role_name(r.inputs["roleDefinitionId"])
        for r in of_type(sample_plan, "authorization:RoleAssignment", "06-apps/checkout")
    }
    assert grants["checkout-events-sender"] == "Azure Service Bus Data Sender"
    (zone_grant,) = [
        r
        for r in of_type(sample_plan, "authorization:RoleAssignment", "05-app-services")
        if r.name == "contoso-external-dns-zone"
    ]
    assert role_name(zone_grant.inputs["roleDefinitionId"]) == "DNS Zone Contributor"
    policies = {r.name for r in of_type(sample_plan, "redis:AccessPolicyAssignment")}
    assert policies == {"storefront-cache", "order-worker-cache"}


def test_stacks_that_change_a_cache_azure_changes_one_at_a_time_never_run_together(
    sample_tree: Path,
) -> None:
    """A Redis cache takes one access policy change at a time: the app stacks
    that add one are marked, and the scheduler runs them one by one. No app
    changes a PostgreSQL server's administrators (its role is made in SQL)."""
    from crosswalk.compiler.apply import load_manifest

    marks = {s.dir: s.one_at_a_time for s in load_manifest(sample_tree).stacks}
    assert marks["06-apps/checkout"] == ()
    assert marks["06-apps/order-worker"] == ("redis:cache",)
    assert marks["06-apps/storefront"] == ("redis:cache",)
    assert marks["05-app-services"] == ()


def test_aks_runs_its_own_logging_autoscaler_and_metrics_server(sample_plan: PlanResult) -> None:
    releases = {
        r.name for r in of_type(sample_plan, "kubernetes:helm.sh/v3:Release", "04-cluster-services")
    }
    assert not releases & {"fluent-bit", "cluster-autoscaler", "metrics-server"}
    assert {"kube-prometheus-stack", "kyverno", "linkerd-control-plane"} <= releases
    (rule,) = of_type(sample_plan, "monitor:DataCollectionRule")
    assert rule.inputs["dataFlows"] == [
        {"streams": ["Microsoft-ContainerInsights-Group-Default"], "destinations": ["workspace"]}
    ]
    assert of_type(sample_plan, "monitor:DataCollectionRuleAssociation")


def test_the_key_vault_is_private_and_the_cluster_reaches_it_privately(
    sample_plan: PlanResult,
) -> None:
    """checkov's CKV_AZURE_109 and CKV_AZURE_189: no public endpoint, a firewall
    that denies; AKS's KMS plugin reaches the vault from the API server's subnet."""
    (vault,) = of_type(sample_plan, "keyvault:Vault", "02-managed-infra")
    props = inputs(vault)["properties"]
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices"}
    (endpoint,) = [
        inputs(r)
        for r in of_type(sample_plan, "network:PrivateEndpoint", "02-managed-infra")
        if inputs(r)["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]
    ]
    assert endpoint["subnet"]["id"].endswith("/contoso-endpoints")
    zones = {
        inputs(r)["privateZoneName"]
        for r in of_type(sample_plan, "privatedns:PrivateZone", "02-managed-infra")
    }
    assert "privatelink.vaultcore.azure.net" in zones
    links = {
        inputs(r)["privateZoneName"]: inputs(r)["virtualNetwork"]["id"]
        for r in of_type(sample_plan, "privatedns:VirtualNetworkLink", "02-managed-infra")
    }
    assert links["privatelink.vaultcore.azure.net"].endswith("/contoso-vnet")
    (subnet,) = [
        inputs(r)
        for r in of_type(sample_plan, "network:Subnet")
        if inputs(r)["subnetName"] == "apiserver"
    ]
    assert subnet["delegations"][0]["serviceName"] == "Microsoft.ContainerService/managedClusters"
    assert ipaddress.ip_network(subnet["addressPrefix"]).prefixlen <= azure.APISERVER_PREFIX
    (cluster,) = of_type(sample_plan, "containerservice:ManagedCluster")
    cluster = inputs(cluster)
    kms = cluster["securityProfile"]["azureKeyVaultKms"]
    assert kms["keyVaultNetworkAccess"] == "Private"
    assert kms["keyVaultResourceId"].endswith("/vaults/contoso-kv")  # the offline plan's id
    access = cluster["apiServerAccessProfile"]
    assert access["enableVnetIntegration"] is True
    assert access["subnetId"].endswith("/contoso-apiserver")
    grants = {
        role_name(inputs(r)["roleDefinitionId"]): inputs(r)["scope"]
        for r in of_type(sample_plan, "authorization:RoleAssignment", "03-cluster")
        if r.name in ("contoso-cluster-kms-link", "contoso-cluster-apiserver-network")
    }
    assert grants["Key Vault Contributor"] == kms["keyVaultResourceId"]
    assert grants["Network Contributor"] == access["subnetId"]


def test_the_kms_key_rotates_and_its_versions_expire(sample_plan: PlanResult) -> None:
    """Key Vault rotates the key yearly and each version expires (checkov's
    CKV_AZURE_40): durations, never a date, so the output stays the same."""
    (key,) = of_type(sample_plan, "keyvault:Key", "02-managed-infra")
    policy = inputs(key)["properties"]["rotationPolicy"]
    assert policy["attributes"] == {"expiryTime": "P2Y"}
    assert {a["action"]["type"]: a["trigger"] for a in policy["lifetimeActions"]} == {
        "rotate": {"timeAfterCreate": "P1Y"},
        "notify": {"timeBeforeExpiry": "P30D"},
    }
    assert "attributes" not in inputs(key)["properties"]  # no absolute expiry date
    # The cluster names the key's current version, read when 03-cluster runs,
    # so that its next update after a rotation moves it to the new version.
    (cluster,) = of_type(sample_plan, "containerservice:ManagedCluster")
    key_id = inputs(cluster)["securityProfile"]["azureKeyVaultKms"]["keyId"]
    assert key_id.startswith("https://") and "/keys/" in key_id
    assert key_id.endswith("/" + "0" * 32)  # the offline plan's answer to keyvault.getKey
    infra = next(s for s in sample_plan.stacks if s.dir == "02-managed-infra")
    assert "secrets_key_uri" not in infra.exports  # not the version of the key's creation


def test_nodes_encrypt_at_host_by_default(sample_plan: PlanResult) -> None:
    """checkov's CKV_AZURE_227: the system pool (in the cluster) and every agent pool."""
    (cluster,) = of_type(sample_plan, "containerservice:ManagedCluster")
    (system,) = inputs(cluster)["agentPoolProfiles"]
    (batch,) = of_type(sample_plan, "containerservice:AgentPool")
    assert system["enableEncryptionAtHost"] is True
    assert inputs(batch)["enableEncryptionAtHost"] is True


def test_encryption_at_host_off_is_left_out_and_warned_at_its_key(tmp_path: Path) -> None:
    data = load(SAMPLE)
    cluster = {"version": data["cluster"]["version"], "encryptionAtHost": False}
    data["cluster"] = cluster | {k: v for k, v in data["cluster"].items() if k != "version"}
    text = yaml.safe_dump(data, sort_keys=False)
    document, problems = parse_document(text.encode(), "platform.yaml")
    assert document is not None, problems
    result = compile_document(document)
    assert not result.report.errors
    (warning,) = [d for d in result.report.warnings if d.code == "CW615"]
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if "encryptionAtHost" in line)
    assert (warning.span.line, warning.span.column) == (
        row + 1,
        lines[row].index("encryptionAtHost") + 1,
    )
    write_tree(result.files, tmp_path)
    plan = plan_tree(tmp_path, "prod", only=["03-cluster"])
    (record,) = of_type(plan, "containerservice:ManagedCluster")
    (system,) = inputs(record)["agentPoolProfiles"]
    (batch,) = of_type(plan, "containerservice:AgentPool")
    assert "enableEncryptionAtHost" not in system
    assert "enableEncryptionAtHost" not in inputs(batch)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_nodes_boot_from_ephemeral_os_disks_on_their_local_disk(
    env: str, sample_plan: PlanResult, sample_tree: Path
) -> None:
    """checkov's CKV_AZURE_226: the sample's sizes have a local disk that holds
    the OS disk (dev's 64 GB on D2ds_v5's 75 GiB, prod's 100 GB on D4ds_v5's 150)."""
    plan = sample_plan if env == "prod" else plan_tree(sample_tree, env, only=["03-cluster"])
    (cluster,) = of_type(plan, "containerservice:ManagedCluster")
    (batch,) = of_type(plan, "containerservice:AgentPool")
    for pool in (inputs(cluster)["agentPoolProfiles"][0], inputs(batch)):
        assert pool["osDiskType"] == "Ephemeral", (env, pool["vmSize"])
        assert pool["osDiskSizeGB"] <= azure.local_disk_gib(pool["vmSize"])


def test_os_disks_are_managed_where_the_size_has_no_local_disk_large_enough(
    tmp_path: Path,
) -> None:
    data = load(SAMPLE)
    pools = data["cluster"]["nodePools"]
    pools[0]["machineType"] = "Standard_D4s_v5"  # no local disk
    pools[1]["diskSizeGb"] = 400  # D8ads_v5's local disk holds 300 GiB
    data["environments"]["dev"]["overrides"]["cluster"]["nodePools"][0]["machineType"] = (
        "Standard_D2s_v5"
    )
    write_tree(compile_data(data), tmp_path)
    plan = plan_tree(tmp_path, "prod", only=["03-cluster"])
    (cluster,) = of_type(plan, "containerservice:ManagedCluster")
    (batch,) = of_type(plan, "containerservice:AgentPool")
    assert inputs(cluster)["agentPoolProfiles"][0]["osDiskType"] == "Managed"
    assert inputs(batch)["osDiskType"] == "Managed"


@pytest.mark.parametrize(
    "size,disk,expected",
    [
        ("Standard_D4ds_v5", 100, "Ephemeral"),
        ("Standard_D2ds_v5", 75, "Ephemeral"),
        ("Standard_D2ds_v5", 100, "Managed"),
        ("Standard_E8-4ds_v5", 300, "Ephemeral"),  # constrained vCPUs: the parent's disk
        ("Standard_E20ads_v5", 750, "Ephemeral"),
        ("Standard_D4s_v5", 30, "Managed"),  # no local disk
        ("Standard_D8as_v5", 30, "Managed"),
        ("Standard_F8s_v2", 30, "Managed"),  # not in the table
        ("not-a-size", 30, "Managed"),
    ],
)
def test_os_disk_type_follows_the_local_disk_table(size: str, disk: int, expected: str) -> None:
    assert azure.os_disk_type(size, disk) == expected


@pytest.mark.parametrize(
    "cidr,service",
    [
        ("10.20.0.0/16", None),
        ("10.244.0.0/16", None),
        ("172.16.0.0/12", None),
        ("10.0.0.0/8", "172.20.0.0/16"),
        ("192.168.0.0/16", "172.20.0.0/16"),
    ],
)
def test_address_plan_never_overlaps(cidr: str, service: str | None) -> None:
    pods, services, dns = azure.address_plan(Network(cidr, 3, "single", None, service))
    ranges = [ipaddress.ip_network(x) for x in (cidr, pods, services)]
    for i, a in enumerate(ranges):
        for b in ranges[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    assert ipaddress.ip_address(dns) in ranges[2]


def test_a_long_derived_name_is_joined_on_its_own_lines(variant_tree: Path) -> None:
    text = (variant_tree / "02-managed-infra" / "__main__.py").read_text()
    assert 'registry_name="".join(' in text


def test_two_helpers_are_two_blank_lines_apart() -> None:
    program = Program(
        "t", "platform.yaml", helpers={"a": "def a():\n    pass\n", "b": "def b():\n    pass\n"}
    )
    assert "    pass\n\n\ndef b():" in program.render()


# --- the AWS sample, moved ---------------------------------------------------------------


def test_aws_sample_moved_to_azure_keeps_every_in_cluster_object(
    moved_tree: Path, tmp_path: Path
) -> None:
    aws_out = tmp_path / "aws"
    write_tree(compile_data(without_app_secrets(load(AWS_SAMPLE))), aws_out)
    for env in ("dev", "prod"):
        aws = _without_azure_identity(in_cluster_objects(plan_tree(aws_out, env)))
        azure_plan = plan_tree(moved_tree, env)
        assert not failed(azure_plan), env
        moved = _without_azure_identity(in_cluster_objects(azure_plan))
        assert len(aws) > 40
        assert sorted(moved) == sorted(aws)
        for key, value in aws.items():
            assert moved[key] == value, key


def _without_azure_identity(objects: dict) -> dict:
    """What is Azure's by design: the workload identity annotation and pod label,
    and how the apps' user Jobs sign in and make a user (each cloud's own SQL:
    the same objects, with other contents)."""
    for key, value in objects.items():
        if value.get("metadata", {}).get("namespace") == "database-users":
            objects[key] = {"namespace": "database-users"}
            continue
        annotations = value.get("metadata", {}).get("annotations", {})
        annotations.pop("azure.workload.identity/client-id", None)
        if not annotations:
            value.get("metadata", {}).pop("annotations", None)
        spec = value.get("spec", {})
        for pod in (
            spec.get("template", {}),
            spec.get("jobTemplate", {}).get("spec", {}).get("template", {}),
        ):
            pod.get("metadata", {}).get("labels", {}).pop("azure.workload.identity/use", None)
            # AKS taints its spot pools itself: pods on one tolerate that too.
            tolerations = pod.get("spec", {}).get("tolerations")
            if tolerations:
                key = k8s.AZURE_SPOT_TAINT[0]
                pod["spec"]["tolerations"] = [t for t in tolerations if t["key"] != key]
    return objects


# --- apps' PostgreSQL roles: no app is the server's administrator --------------------

POSTGRES_APPS = ("checkout", "order-worker", "admin")  # the sample's apps that use orders


def _app_job(plan: PlanResult, app: str):
    stack = plan.stack(f"06-apps/{app}")
    (job,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:batch/v1:Job"
        and reveal(r.inputs)["metadata"]["namespace"] == "database-users"
    ]
    (script,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:core/v1:ConfigMap"
        and "users.sql" in reveal(r.inputs).get("data", {})
    ]
    return stack, job, reveal(script.inputs)["data"]["users.sql"]


def test_a_postgres_server_has_one_administrator_and_it_is_no_app(
    sample_plan: PlanResult,
) -> None:
    admins = of_type(sample_plan, "dbforpostgresql:Administrator")
    assert admins and not [
        r
        for stack in sample_plan.stacks
        if stack.dir.startswith("06-apps/")
        for r in of_type(sample_plan, "dbforpostgresql:Administrator", stack.dir)
    ]
    (admin,) = admins  # one server, one administrator
    (server,) = of_type(sample_plan, "dbforpostgresql:Server")
    assert inputs(admin)["serverName"] == server.outputs["name"]
    (identity,) = [
        r
        for r in of_type(sample_plan, "managedidentity:UserAssignedIdentity", "05-app-services")
        if r.name == "contoso-orders-db-admin"
    ]
    assert inputs(admin)["objectId"] == identity.outputs["principalId"]
    assert inputs(admin)["principalType"] == "ServicePrincipal"
    app_principals = {
        r.outputs["principalId"]
        for stack in sample_plan.stacks
        if stack.dir.startswith("06-apps/")
        for r in of_type(sample_plan, "managedidentity:UserAssignedIdentity", stack.dir)
    }
    assert app_principals and inputs(admin)["objectId"] not in app_principals
    # Only the users namespace's ServiceAccount signs in as it, one credential for every app.
    (credential,) = [
        r
        for r in of_type(sample_plan, "managedidentity:FederatedIdentityCredential")
        if inputs(r)["resourceName"] == identity.outputs["name"]
    ]
    assert inputs(credential)["subject"] == "system:serviceaccount:database-users:orders-db-admin"
    (account,) = [
        r
        for r in records(sample_plan, "05-app-services")
        if r.type == "kubernetes:core/v1:ServiceAccount"
        and inputs(r)["metadata"]["name"] == "orders-db-admin"
    ]
    metadata = inputs(account)["metadata"]
    assert metadata["namespace"] == "database-users"
    assert metadata["annotations"] == {
        "azure.workload.identity/client-id": identity.outputs["clientId"]
    }


@pytest.mark.parametrize("app", POSTGRES_APPS)
def test_each_app_signs_in_to_postgres_as_a_role_of_its_own(
    sample_plan: PlanResult, app: str
) -> None:
    role = f"contoso-app-{app}"
    (identity,) = of_type(sample_plan, "managedidentity:UserAssignedIdentity", f"06-apps/{app}")
    assert identity.outputs["name"] == role
    stack, job, sql = _app_job(sample_plan, app)
    # Makes this app's principal only, idempotently, and grants on the datastore's database.
    assert sql.count("pgaadauth_create_principal(") == 1
    assert f"PERFORM pgaadauth_create_principal('{role}', false, false);" in sql
    assert f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}')" in sql
    assert not any(f"contoso-app-{other}" in sql for other in POSTGRES_APPS if other != app)
    assert "\\connect orders\n" in sql
    assert [line for line in sql.splitlines() if "ON DATABASE" in line] == [
        f'GRANT CONNECT ON DATABASE "orders" TO "{role}";'
    ]
    assert f'GRANT USAGE, CREATE ON SCHEMA "{role}" TO "{role}";' in sql
    assert "SUPERUSER" not in sql and "azure_pg_admin" not in sql
    assert ", true" not in sql  # never an administrator principal
    # It runs in the users namespace, as the administrator's ServiceAccount.
    body = reveal(job.inputs)
    assert body["metadata"]["namespace"] == "database-users"
    spec = body["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "orders-db-admin"
    assert body["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    (init,) = spec["initContainers"]
    assert init["image"].startswith("mcr.microsoft.com/azure-cli:")
    assert not init["image"].endswith(":latest")
    assert "--resource-type oss-rdbms" in init["command"][-1]
    (container,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert "PGPASSWORD" not in env  # the token, read from the pod's memory volume
    assert env["PGDATABASE"] == "postgres" and env["PGUSER"] == "contoso-orders-db-admin"
    for each in (container, init):
        context = each["securityContext"]
        assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsUser"] >= 10000
    # The app waits for its role and signs in as it, with no password.
    (deployment,) = [r for r in stack.resources if r.type == "kubernetes:apps/v1:Deployment"]
    assert job.urn in deployment.dependencies
    (connection,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:core/v1:Secret"
        and "ORDERS_USERNAME" in reveal(r.inputs).get("stringData", {})
    ]
    values = reveal(connection.inputs)["stringData"]
    assert values["ORDERS_USERNAME"] == role and values["ORDERS_AUTH"] == "entra-id"
    assert not any("PASSWORD" in key for key in values)


def test_app_services_makes_no_apps_role() -> None:
    """The roles are the apps' stacks' (app-services reads no app)."""
    files = compile_data(load(SAMPLE))
    services = files["05-app-services/__main__.py"]
    assert "pgaadauth" not in services
    assert not any(f"contoso-app-{app}" in services for app in POSTGRES_APPS)


def _mysql_apps_sign_in_as_their_own_users(plan: PlanResult) -> None:
    """MySQL on Azure signs in no cloud identity (without a tenant admin's
    grant), so its administrator keeps a password: in the users namespace
    only, where the apps' Jobs read it. Each app gets a user and password of
    its own, with rights on its own database only."""
    (server,) = of_type(plan, "dbformysql:Server")
    admin_password = reveal(server.inputs["administratorLoginPassword"])
    (made,) = [r for r in records(plan, "05-app-services") if r.type.startswith("random:")]
    assert reveal(made.outputs["result"]) == admin_password
    holders = [
        (stack.dir, r.type, r.name)
        for stack in plan.stacks
        for r in stack.resources
        if r.type == "kubernetes:core/v1:Secret" and admin_password in json.dumps(inputs(r))
    ]
    assert holders == [("05-app-services", "kubernetes:core/v1:Secret", "orders-admin")]
    (admin_secret,) = [r for r in records(plan, "05-app-services") if r.name == "orders-admin"]
    assert inputs(admin_secret)["metadata"]["namespace"] == "database-users"
    # Key Vault reads only on the apps' own secrets, in a group of their own.
    reads = [
        inputs(r)["scope"]
        for r in of_type(plan, "authorization:RoleAssignment")
        if role_name(inputs(r)["roleDefinitionId"]) == "Key Vault Secrets User"
    ]
    assert reads and all("-app-secrets/providers/Microsoft.Keyvault/" in s for s in reads)
    stack = plan.stack("06-apps/checkout")
    (connection,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:core/v1:Secret" and "ORDERS_USERNAME" in inputs(r)["stringData"]
    ]
    values = inputs(connection)["stringData"]
    user, password = values["ORDERS_USERNAME"], values["ORDERS_PASSWORD"]
    assert user == "checkout" and values["ORDERS_DATABASE"] == user
    assert password != admin_password and len(password) == 32
    assert isinstance(connection.inputs["stringData"], Secret)  # the password makes it one
    (job,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:batch/v1:Job"
        and inputs(r)["metadata"]["namespace"] == "database-users"
    ]
    spec = inputs(job)["spec"]["template"]["spec"]
    assert inputs(job)["metadata"]["namespace"] == "database-users"
    (client,) = spec["containers"]
    env = {e["name"]: e for e in client["env"]}
    assert "MYSQL_PWD" not in env  # read from the admin Secret's file by the shell
    (admin_volume,) = [v for v in spec["volumes"] if v["name"] == "admin"]
    assert admin_volume["secret"]["secretName"] == "orders-admin"
    assert env["DB_USER"]["value"] == server.outputs["administratorLogin"]
    # The script holds the app's password: a Secret of the users namespace, not a ConfigMap.
    (volume,) = [v for v in spec["volumes"] if v["name"] == "script"]
    (script,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:core/v1:Secret"
        and inputs(r)["metadata"]["name"] == volume["secret"]["secretName"]
    ]
    assert inputs(script)["metadata"]["namespace"] == "database-users"
    assert isinstance(script.inputs["stringData"], Secret)
    sql = inputs(script)["stringData"]["users.sql"]
    assert f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}' REQUIRE SSL;" in sql
    assert f"GRANT ALL PRIVILEGES ON `{user}`.* TO '{user}'@'%';" in sql
    assert sql.count("GRANT") == 1 and "WITH GRANT OPTION" not in sql
    (deployment,) = [r for r in stack.resources if r.type == "kubernetes:apps/v1:Deployment"]
    assert job.urn in deployment.dependencies


# --- buckets (storage.buckets) ----------------------------------------------------------


def test_the_storage_account_takes_identities_only_privately_over_tls(
    sample_plan: PlanResult,
) -> None:
    infra = "02-managed-infra"
    (account,) = of_type(sample_plan, "storage:StorageAccount", infra)
    args = inputs(account)
    assert account.protect
    assert args["accountName"] == "stcontosoprod"  # unique across Azure: the environment's
    assert args["allowSharedKeyAccess"] is False  # no account keys, no SAS
    assert args["defaultToOAuthAuthentication"] is True
    assert args["allowBlobPublicAccess"] is False
    assert args["publicNetworkAccess"] == "Disabled"
    assert args["networkRuleSet"]["defaultAction"] == "Deny"
    assert args["minimumTlsVersion"] == "TLS1_2"
    assert args["enableHttpsTrafficOnly"] is True
    assert args["encryption"]["requireInfrastructureEncryption"] is True
    assert args["allowCrossTenantReplication"] is False
    (blobs,) = of_type(sample_plan, "storage:BlobServiceProperties", infra)
    assert inputs(blobs)["isVersioningEnabled"] is True
    assert inputs(blobs)["deleteRetentionPolicy"] == {"enabled": True, "days": 7}
    assert inputs(blobs)["containerDeleteRetentionPolicy"] == {"enabled": True, "days": 7}
    (container,) = of_type(sample_plan, "storage:BlobContainer", infra)
    assert inputs(container)["containerName"] == "assets" and container.protect
    assert inputs(container)["publicAccess"] == "None"
    # Reached through a private endpoint in the network, and locked against deletion.
    endpoints = [
        inputs(e)
        for e in of_type(sample_plan, "network:PrivateEndpoint", infra)
        if inputs(e)["privateLinkServiceConnections"][0]["groupIds"] == ["blob"]
    ]
    assert len(endpoints) == 1
    assert endpoints[0]["privateLinkServiceConnections"][0]["privateLinkServiceId"].endswith(
        "/storageAccounts/contoso-storage"
    )
    locks = [
        inputs(r)["scope"] for r in of_type(sample_plan, "authorization:ManagementLockByScope")
    ]
    assert any(scope.endswith("/storageAccounts/contoso-storage") for scope in locks)


def test_the_storage_account_encrypts_with_the_platform_key_by_its_own_identity(
    sample_plan: PlanResult,
) -> None:
    """The platform's Key Vault key, named without a version (each rotation
    applies), reached by a user-assigned identity of the account whose only
    grant is Key Vault Crypto Service Encryption User on that key, made
    before the account names it; infrastructure encryption stays on."""
    infra = "02-managed-infra"
    (account,) = of_type(sample_plan, "storage:StorageAccount", infra)
    args = inputs(account)
    (key,) = of_type(sample_plan, "keyvault:Key", infra)
    (vault,) = of_type(sample_plan, "keyvault:Vault", infra)
    encryption = args["encryption"]
    assert encryption["keySource"] == "Microsoft.Keyvault"
    assert encryption["keyVaultProperties"] == {
        "keyName": inputs(key)["keyName"],
        "keyVaultUri": vault.outputs["properties"]["vaultUri"],
    }
    assert encryption["requireInfrastructureEncryption"] is True
    identity_id = encryption["encryptionIdentity"]["encryptionUserAssignedIdentity"]
    assert args["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity_id]}
    (identity,) = [
        r
        for r in of_type(sample_plan, "managedidentity:UserAssignedIdentity", infra)
        if r.outputs["id"] == identity_id
    ]
    principal = identity.outputs["principalId"]
    grants = [
        r
        for stack in sample_plan.stacks
        for r in stack.resources
        if r.type == f"{AZURE}:authorization:RoleAssignment"
        and inputs(r)["principalId"] == principal
    ]
    assert [(role_name(inputs(g)["roleDefinitionId"]), inputs(g)["scope"]) for g in grants] == [
        ("Key Vault Crypto Service Encryption User", key.outputs["id"])
    ]
    assert grants[0].urn in account.dependencies
    # The managed-infra deployer may assign that role.
    (platform,) = [
        inputs(r)
        for r in of_type(sample_plan, "authorization:RoleAssignment", "01-identity")
        if r.name.endswith("-deploy-platform-rbac-administrator")
    ]
    assert ROLES["Key Vault Crypto Service Encryption User"] in platform["condition"]


def test_apps_get_exactly_the_containers_they_use_with_their_access(
    sample_plan: PlanResult,
) -> None:
    (container,) = of_type(sample_plan, "storage:BlobContainer", "02-managed-infra")
    scope = sample_plan.stack("02-managed-infra").exports["bucket_assets_container_id"]
    assert scope == container.id
    grants = {}
    for app in ("storefront", "admin", "checkout"):
        grants[app] = [
            (role_name(inputs(r)["roleDefinitionId"]), inputs(r)["scope"])
            for r in of_type(sample_plan, "authorization:RoleAssignment", f"06-apps/{app}")
            if "Storage" in role_name(inputs(r)["roleDefinitionId"])
        ]
    assert grants["storefront"] == [("Storage Blob Data Reader", scope)]
    assert grants["admin"] == [("Storage Blob Data Contributor", scope)]
    assert grants["checkout"] == []
    (deployment,) = of_type(sample_plan, "kubernetes:apps/v1:Deployment", "06-apps/storefront")
    (app,) = inputs(deployment)["spec"]["template"]["spec"]["containers"]
    assert app["env"] == [
        {"name": "ASSETS_BUCKET", "value": "assets"},
        {"name": "ASSETS_BUCKET_ENDPOINT", "value": "https://stcontosoprod.blob.core.windows.net/"},
    ]
    # storefront had no identity before it used a bucket: it has one now.
    (service_account,) = of_type(
        sample_plan, "kubernetes:core/v1:ServiceAccount", "06-apps/storefront"
    )
    assert "azure.workload.identity/client-id" in inputs(service_account)["metadata"]["annotations"]


def test_deployers_that_lock_may_write_locks_and_nothing_more(sample_plan: PlanResult) -> None:
    """Contributor may not write locks (its NotActions hold
    Microsoft.Authorization/*/Write): the deployers of the layers that lock
    their resources hold a custom role of the lock actions alone, on the
    platform's resource group, which only the identity layer may assign."""
    from crosswalk.providers.azure.identity import LOCK_ACTIONS

    identity = "01-identity"
    (group,) = [
        r for r in of_type(sample_plan, "resources:ResourceGroup", identity) if r.name == "contoso"
    ]
    (role,) = of_type(sample_plan, "authorization:RoleDefinition", identity)
    args = inputs(role)
    assert args["permissions"] == [{"actions": LOCK_ACTIONS}]
    assert (
        args["assignableScopes"] == [group.outputs["id"]] and args["scope"] == group.outputs["id"]
    )
    assert args["roleType"] == "CustomRole"
    holders = {
        inputs(r)["principalId"]
        for r in of_type(sample_plan, "authorization:RoleAssignment", identity)
        if inputs(r)["roleDefinitionId"] == role.outputs["id"]
    }
    identities = {
        r.name: r.outputs["principalId"]
        for r in of_type(sample_plan, "managedidentity:UserAssignedIdentity", identity)
    }
    # deploy-platform deploys managed-infra and app-services, which lock; the
    # apps' deployer locks nothing.
    assert holders == {identities["contoso-ci-deploy-platform"]}
    # Every lock of the plan is made by a stack whose deployer holds the role.
    locks = [
        s.dir
        for s in sample_plan.stacks
        for r in s.resources
        if r.type == f"{AZURE}:authorization:ManagementLockByScope"
    ]
    assert locks and set(locks) <= {"02-managed-infra", "05-app-services"}
    # Only the identity layer's deployer may assign it (its ABAC condition names its id).
    guid = args["roleDefinitionId"]
    conditions = {
        r.name: inputs(r).get("condition", "")
        for r in of_type(sample_plan, "authorization:RoleAssignment", identity)
        if r.name.endswith("-rbac-administrator")
    }
    assert [name for name, text in conditions.items() if guid in text] == [
        "contoso-ci-deploy-platform-rbac-administrator"
    ]
