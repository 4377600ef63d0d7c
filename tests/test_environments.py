"""Environments that coexist: dev and prod in one account, project or
subscription, or each in its own; checked on the offline plan's records, what
would reach the cloud.

- Names a cloud keeps unique (in an account, a project, or the whole cloud)
  differ between two environments that share one; the first environment of
  an account (`dev`, else the one whose name sorts first) keeps the plain
  names (one rule per cloud, hostile input below).
- The GitHub OIDC provider AWS allows once per account is made by one
  environment and looked up by the others, or named by its ARN.
- Every taggable resource carries the environment; so does every Kubernetes
  object the platform creates.
- Stateful resources are protected (the cloud's flag and Pulumi's `protect`)
  unless an environment turns protection off.
- An environment may live elsewhere (region, project, account, subscription)
  and plans there.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from crosswalk.compiler.cli import main
from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.pipeline import check_document
from crosswalk.compiler.plan import PlanResult, plan_tree
from crosswalk.compiler.writer import write_tree
from crosswalk.providers import environment_scope, shortened
from crosswalk.providers.aws.rules import aws_name
from crosswalk.providers.azure.rules import DATASTORE_NAMES, KEY_VAULT, REGISTRY
from crosswalk.providers.gcp.identity import pool_id
from crosswalk.providers.gcp.rules import gcp_name

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ("dev", "prod")


def sample(cloud: str) -> dict:
    return yaml.safe_load((ROOT / "samples" / cloud / "platform.yaml").read_text())


def checked(data: dict):
    text = yaml.safe_dump(data, sort_keys=False)
    document, diagnostics = parse_document(text.encode(), "platform.yaml")
    assert document is not None, [d.render() for d in diagnostics]
    return check_document(document)


def compiled(data: dict, out: Path) -> Path:
    text = yaml.safe_dump(data, sort_keys=False)
    document, _ = parse_document(text.encode(), "platform.yaml")
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    write_tree(result.files, out)
    return out


def records(plan: PlanResult):
    failed = {s.dir: s.error for s in plan.stacks if s.error is not None}
    assert not failed, failed
    for stack in plan.stacks:
        yield from stack.resources


def plain(value):
    return json.loads(json.dumps(reveal(value), default=str))


def provider_input(record, key: str):
    """A provider's input: providers receive objects as JSON text."""
    value = plain(record.inputs.get(key))
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


# --- one naming rule per cloud, with hostile input ---------------------------------------


def placed(cloud: dict, environments: dict) -> dict:
    """The platforms of `environments` (name -> overrides) as compile sees them."""
    data = {
        "apiVersion": "crosswalk/v1",
        "kind": "Platform",
        "name": "acme",
        "cloud": cloud,
        "cluster": {"nodePools": [{"name": "general"}]},
        "environments": {name: {"overrides": o} if o else {} for name, o in environments.items()},
    }
    result = checked(data)
    assert result.ok, [d.render() for d in result.report.sorted()]
    return result.environments


AWS = {"provider": "aws", "region": "us-west-2", "account": "123456789012"}
GCP = {"provider": "gcp", "region": "us-central1", "project": "acme-shared"}


def test_the_default_environment_of_an_account_keeps_the_plain_names() -> None:
    envs = placed(
        AWS, {"prod": {}, "dev": {}, "qa": {}, "staging": {"cloud": {"account": "210987654321"}}}
    )
    # dev is its account's default; staging is alone in its own.
    assert envs["prod"].placement.neighbours == ("dev", "prod", "qa")
    assert envs["staging"].placement.neighbours == ("staging",)
    assert aws_name(envs["dev"], "secrets") == "acme-secrets"
    assert aws_name(envs["prod"], "secrets") == "acme-prod-secrets"
    assert aws_name(envs["staging"], "secrets") == "acme-secrets"  # no neighbour to meet
    # Without dev, the name that sorts first.
    envs = placed(GCP, {"staging": {}, "prod": {}})
    assert gcp_name(envs["prod"], 63, "vpc") == "acme-vpc"
    assert gcp_name(envs["staging"], 63, "vpc") == "acme-staging-vpc"


def test_the_order_of_the_environments_changes_no_name() -> None:
    one = placed(AWS, {"dev": {}, "prod": {}, "qa": {}})
    other = placed(AWS, {"qa": {}, "prod": {}, "dev": {}})
    assert {e: p.placement for e, p in one.items()} == {e: p.placement for e, p in other.items()}


def test_environments_without_a_declared_account_count_as_sharing_one() -> None:
    envs = placed({"provider": "aws", "region": "us-west-2"}, {"dev": {}, "prod": {}})
    assert envs["prod"].placement.neighbours == ("dev", "prod")
    assert aws_name(envs["prod"], "orders", "final") == "acme-prod-orders-final"


@pytest.mark.parametrize("limit", [30, 32, 40, 63])
def test_long_names_keep_their_limit_and_stay_apart(limit: int) -> None:
    """The longest platform (20) and environments (30) that differ only at
    their ends: the hash of the whole keeps them apart within the limit."""
    long = "e" * 29
    envs = placed(
        {**GCP, "project": "acme-shared"},
        {"dev": {}, long + "1": {}, long + "2": {}},
    )
    # The schema's longest platform name.
    envs = {name: dataclasses.replace(p, name="p" * 20) for name, p in envs.items()}
    names = {env: gcp_name(p, limit, "ci", "deploy-everything") for env, p in envs.items()}
    assert all(len(name) <= limit for name in names.values())
    assert len(set(names.values())) == 3
    assert names["dev"] == shortened("p" * 20 + "-ci-deploy-everything", limit)
    assert all(not name.endswith("-") and name[0].isalpha() for name in names.values())
    assert aws_name(envs[long + "1"], "x" * 300, limit=255) != aws_name(
        envs[long + "2"], "x" * 300, limit=255
    )
    assert len(aws_name(envs[long + "1"], "x" * 300, limit=255)) == 255


def test_workload_identity_pools_never_take_googles_prefix() -> None:
    envs = placed({**GCP}, {"dev": {}, "prod": {}})
    gcp = dataclasses.replace(envs["prod"], name="gcp")
    assert pool_id(gcp, "deploy") == "cw-gcp-prod-ci-deploy"
    assert len(pool_id(gcp, "d" * 60)) == 32


def test_azure_names_carry_every_environment_and_meet_its_limits() -> None:
    assert KEY_VAULT.render("contoso", "dev") != KEY_VAULT.render("contoso", "prod")
    assert REGISTRY.render("contoso", "prod-1", "images") == "contosoprod1images"
    # Azure's limits are validate's to report (CW509), at the name to shorten.
    assert REGISTRY.problem(REGISTRY.render("c" * 20, "e" * 24, "images")) is None
    assert REGISTRY.problem(REGISTRY.render("c" * 20, "e" * 30, "images")).startswith("is 56 ")
    assert KEY_VAULT.problem(KEY_VAULT.render("c" * 20, "e" * 30)).startswith("is 54 characters")
    assert DATASTORE_NAMES["redis"].render("contoso", "prod", "cache") == "contoso-prod-cache"


def test_the_scope_is_the_platform_then_the_environment() -> None:
    envs = placed(GCP, {"dev": {}, "prod": {}})
    assert environment_scope(envs["dev"]) == ("acme",)
    assert environment_scope(envs["prod"]) == ("acme", "prod")


# --- two environments in one account, project or subscription ----------------------------

# What each cloud keeps unique in an account, a project or the whole cloud, by
# type: the inputs that name a resource there (with the parent that scopes it,
# where its name is unique only under that parent). A resource with none of
# them set is auto-named by Pulumi with a random suffix.
UNIQUE_NAMES = {
    "aws": {
        "aws:kms/alias:Alias": ("name",),
        "aws:ecr/repository:Repository": ("name",),
        "aws:rds/instance:Instance": ("identifier", "finalSnapshotIdentifier"),
        "aws:rds/cluster:Cluster": ("clusterIdentifier", "finalSnapshotIdentifier"),
        "aws:s3/bucket:Bucket": ("bucket",),  # unique across AWS: it ends with the account
        "aws:elasticache/replicationGroup:ReplicationGroup": ("replicationGroupId",),
        "aws:sqs/queue:Queue": ("name",),
        "aws:secretsmanager/secret:Secret": ("name",),
        "aws:dynamodb/table:Table": ("name",),
        "aws:eks/cluster:Cluster": ("name",),
        "aws:iam/role:Role": ("name",),
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
        "aws:ec2/securityGroup:SecurityGroup": ("name",),
        "aws:rds/subnetGroup:SubnetGroup": ("name",),
        "aws:elasticache/subnetGroup:SubnetGroup": ("name",),
        "aws:route53/zone:Zone": ("name",),
        "aws:cloudwatch/logGroup:LogGroup": ("name",),
        "aws:route53/keySigningKey:KeySigningKey": ("hostedZoneId",),  # its name is per zone
        "aws:redshiftserverless/namespace:Namespace": ("namespaceName",),
        "aws:redshiftserverless/workgroup:Workgroup": ("workgroupName",),
    },
    "gcp": {
        "gcp:compute/network:Network": ("name",),
        "gcp:compute/firewall:Firewall": ("name",),
        "gcp:compute/instance:Instance": ("zone", "name"),
        "gcp:compute/subnetwork:Subnetwork": ("name",),
        "gcp:compute/router:Router": ("name",),
        "gcp:compute/routerNat:RouterNat": ("router", "name"),
        "gcp:compute/globalAddress:GlobalAddress": ("name",),
        "gcp:kms/keyRing:KeyRing": ("name",),
        "gcp:kms/cryptoKey:CryptoKey": ("keyRing", "name"),
        "gcp:artifactregistry/repository:Repository": ("repositoryId",),
        "gcp:serviceaccount/account:Account": ("accountId",),
        "gcp:projects/iAMCustomRole:IAMCustomRole": ("roleId",),
        "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": ("workloadIdentityPoolId",),
        "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": (
            "workloadIdentityPoolId",
            "workloadIdentityPoolProviderId",
        ),
        "gcp:sql/databaseInstance:DatabaseInstance": ("name",),
        "gcp:alloydb/cluster:Cluster": ("clusterId",),
        "gcp:sql/database:Database": ("instance", "name"),
        "gcp:sql/user:User": ("instance", "name"),
        "gcp:redis/instance:Instance": ("name",),
        "gcp:pubsub/topic:Topic": ("name",),
        "gcp:secretmanager/secret:Secret": ("secretId",),
        "gcp:pubsub/subscription:Subscription": ("name",),
        "gcp:firestore/database:Database": ("name",),
        "gcp:dns/managedZone:ManagedZone": ("name",),
        "gcp:container/cluster:Cluster": ("name",),
        "gcp:container/nodePool:NodePool": ("cluster", "name"),
        "gcp:servicenetworking/connection:Connection": ("network", "service"),
        "gcp:storage/bucket:Bucket": ("name",),  # unique across Google Cloud: the project's first
        "gcp:bigquery/dataset:Dataset": ("datasetId",),
        "gcp:bigquery/table:Table": ("datasetId", "tableId"),
    },
    "azure": {
        # Unique in the subscription; everything else lives in the resource group.
        "azure-native:resources:ResourceGroup": ("resourceGroupName",),
        # Unique in the whole cloud.
        "azure-native:keyvault:Vault": ("vaultName",),
        "azure-native:containerregistry:Registry": ("registryName",),
        "azure-native:dbforpostgresql:Server": ("serverName",),
        "azure-native:dbformysql:Server": ("serverName",),
        "azure-native:redis:Redis": ("name",),
        "azure-native:servicebus:Namespace": ("namespaceName",),
        "azure-native:cosmosdb:DatabaseAccount": ("accountName",),
        "azure-native:storage:StorageAccount": ("accountName",),
        "azure-native:kusto:Cluster": ("clusterName",),
    },
}


# What environments of one project share on purpose: enabling an API that is
# on already changes nothing, and no stack turns one off when it is destroyed.
SHARED = {"gcp:projects/service:Service": ("service",)}


def together(cloud: str) -> dict:
    """The cloud's sample with dev and prod in one account, project or subscription."""
    data = copy.deepcopy(sample(cloud))
    for env in data["environments"].values():
        env.get("overrides", {}).get("cloud", {}).pop("subscription", None)
        if env.get("overrides", {}).get("cloud") == {}:
            del env["overrides"]["cloud"]
    data["cloud"].pop("subscription", None)
    return data


@pytest.fixture(scope="module", params=["aws", "gcp", "azure"])
def side_by_side(request, tmp_path_factory) -> tuple[str, dict[str, PlanResult]]:
    cloud = request.param
    out = compiled(together(cloud), tmp_path_factory.mktemp(f"{cloud}-together"))
    return cloud, {env: plan_tree(out, env) for env in ENVIRONMENTS}


def unique_names(cloud: str, plan: PlanResult) -> set[tuple]:
    names = set()
    for record in records(plan):
        fields = UNIQUE_NAMES[cloud].get(record.type)
        if fields is None or record.operation != "register":
            continue
        values = tuple(plain(record.inputs.get(field)) for field in fields)
        if values[-1] is not None:
            names.add((record.type, *values))
    return names


def test_no_name_is_the_same_in_two_environments_that_share_an_account(side_by_side) -> None:
    cloud, plans = side_by_side
    dev, prod = (unique_names(cloud, plans[env]) for env in ENVIRONMENTS)
    assert dev and prod
    assert not dev & prod, sorted(dev & prod)
    # The first environment keeps the names it had before environments could
    # share an account; the other one's carry its name.
    if cloud == "gcp":
        assert ("gcp:compute/network:Network", "acme-vpc") in dev
        assert ("gcp:compute/network:Network", "acme-prod-vpc") in prod
    if cloud == "aws":
        assert ("aws:kms/alias:Alias", "alias/acme-secrets") in dev
        assert ("aws:ecr/repository:Repository", "acme-prod/images") in prod


def test_every_name_the_cloud_keeps_unique_is_classified(side_by_side) -> None:
    """A resource type that sets a name input must be in UNIQUE_NAMES (or be
    shared on purpose), so a new kind of resource cannot slip past the test above."""
    cloud, plans = side_by_side
    naming = {
        "name",
        "identifier",
        "accountId",
        "roleId",
        "repositoryId",
        "workloadIdentityPoolId",
        "finalSnapshotIdentifier",
        "replicationGroupId",
        "resourceGroupName",
        "vaultName",
        "registryName",
        "serverName",
        "namespaceName",
        "accountName",
    }
    named = {
        r.type
        for r in records(plans["prod"])
        if r.type.startswith(("aws:", "gcp:")) and naming & set(r.inputs)
    }
    assert named <= set(UNIQUE_NAMES[cloud]) | set(SHARED), sorted(
        named - set(UNIQUE_NAMES[cloud]) - set(SHARED)
    )
    if cloud == "azure":
        # Everything but the groups and the globally named resources lives in
        # the environment's own resource group (and the apps' secrets in a
        # group of their own, also the environment's).
        groups = {
            env: {
                plain(r.inputs["resourceGroupName"])
                for r in records(plans[env])
                if "resourceGroupName" in r.inputs
            }
            for env in ENVIRONMENTS
        }
        assert groups == {
            env: {f"contoso-{env}", f"contoso-{env}-app-secrets"} for env in ("dev", "prod")
        }


def test_what_a_project_shares_is_shared_safely(side_by_side) -> None:
    cloud, plans = side_by_side
    if cloud != "gcp":
        pytest.skip("GCP's API enablement is the one shared resource")
    for env in ENVIRONMENTS:
        services = [r for r in records(plans[env]) if r.type in SHARED]
        assert services
        assert all(r.inputs["disableOnDestroy"] is False for r in services)


def test_one_github_oidc_provider_per_account(side_by_side) -> None:
    cloud, plans = side_by_side
    if cloud != "aws":
        pytest.skip("AWS allows one OIDC provider per URL in an account")
    github = "https://token.actions.githubusercontent.com"

    def providers(env: str) -> list:
        return [
            r
            for r in records(plans[env])
            if r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
            and r.inputs["url"] == github
        ]

    (made,) = providers("dev")  # the account's default environment makes it
    assert made.retain_on_delete  # destroying dev must not take it from prod
    assert providers("prod") == []  # prod looks it up
    for env in ENVIRONMENTS:
        roles = [
            json.loads(plain(r.inputs["assumeRolePolicy"]))
            for r in records(plans[env])
            if r.type == "aws:iam/role:Role" and r.name.startswith("acme-ci-")
        ]
        assert roles
        for policy in roles:
            principal = policy["Statement"][0]["Principal"]["Federated"]
            assert principal.endswith(":oidc-provider/token.actions.githubusercontent.com")


# --- the environment on everything ---------------------------------------------------------


def test_every_taggable_resource_carries_the_environment(side_by_side) -> None:
    cloud, plans = side_by_side
    for env, plan in plans.items():
        by_urn = {r.urn: r for r in records(plan)}
        for record in records(plan):
            if record.type.startswith(("pulumi:", "kubernetes:")) or record.operation == "read":
                continue
            if cloud == "azure":
                if _takes_tags(record.type):
                    tags = plain(record.inputs.get("tags"))
                    assert tags and tags["crosswalk-environment"] == env, record.urn
                continue
            if record.remote:  # a component (pulumi-eks): its resources take its providers
                continue
            provider = by_urn[record.provider]
            if cloud == "aws":
                tags = provider_input(provider, "defaultTags")["tags"]
                assert tags["crosswalk/environment"] == env, record.urn
                assert tags["crosswalk/platform"] == "acme"
            else:
                labels = provider_input(provider, "defaultLabels")
                assert labels["crosswalk-environment"] == env, record.urn


def _takes_tags(token: str) -> bool:
    """Whether an azure-native resource type has tags (its SDK class says)."""
    import importlib
    import inspect

    _, module, cls = token.split(":")
    resource = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), cls)
    return "tags" in inspect.signature(resource._internal_init).parameters


def test_every_kubernetes_object_carries_the_environment(side_by_side) -> None:
    _, plans = side_by_side
    for env, plan in plans.items():
        objects = [
            r
            for r in records(plan)
            if r.type.startswith("kubernetes:")
            and not r.type.startswith(("kubernetes:helm.sh/", "pulumi:providers:"))
            and r.operation == "register"  # not what it only reads
            and not r.type.endswith("Patch")  # nor what a chart made and it patches
        ]
        assert objects
        for record in objects:
            labels = plain(record.inputs.get("metadata", {})).get("labels", {})
            assert labels.get("crosswalk/environment") == env, record.urn


# --- protection ------------------------------------------------------------------------------

# What holds data, or everything in it (a namespace, Azure's resource group).
IN_CLUSTER_STATEFUL = {"kubernetes:core/v1:Namespace"}
STATEFUL = {
    "aws": {
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:s3/bucket:Bucket",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:sqs/queue:Queue",
        "aws:secretsmanager/secret:Secret",
        "aws:dynamodb/table:Table",
        "aws:kms/key:Key",
        "aws:ecr/repository:Repository",
        "aws:route53/zone:Zone",
        "aws:redshiftserverless/namespace:Namespace",
    },
    "gcp": {
        "gcp:sql/databaseInstance:DatabaseInstance",
        "gcp:sql/database:Database",
        "gcp:redis/instance:Instance",
        "gcp:pubsub/topic:Topic",
        "gcp:pubsub/subscription:Subscription",
        "gcp:secretmanager/secret:Secret",
        "gcp:firestore/database:Database",
        "gcp:alloydb/cluster:Cluster",
        "gcp:kms/keyRing:KeyRing",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:artifactregistry/repository:Repository",
        "gcp:dns/managedZone:ManagedZone",
        "gcp:storage/bucket:Bucket",
        "gcp:bigquery/dataset:Dataset",
        "gcp:bigquery/table:Table",
    },
    "azure": {
        "azure-native:dbforpostgresql:Server",
        "azure-native:dbforpostgresql:Database",
        "azure-native:dbformysql:Server",
        "azure-native:dbformysql:Database",
        "azure-native:redis:Redis",
        "azure-native:servicebus:Namespace",
        "azure-native:servicebus:Queue",
        "azure-native:cosmosdb:DatabaseAccount",
        "azure-native:cosmosdb:SqlResourceSqlDatabase",
        "azure-native:cosmosdb:SqlResourceSqlContainer",
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Key",
        "azure-native:keyvault:Secret",
        "azure-native:containerregistry:Registry",
        "azure-native:dns:Zone",
        "azure-native:resources:ResourceGroup",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobContainer",
        "azure-native:kusto:Cluster",
        "azure-native:kusto:ReadWriteDatabase",
    },
}
STATEFUL = {cloud: types | IN_CLUSTER_STATEFUL for cloud, types in STATEFUL.items()}


def test_stateful_resources_are_protected_in_every_environment(side_by_side) -> None:
    cloud, plans = side_by_side
    for plan in plans.values():
        stateful = [r for r in records(plan) if r.type in STATEFUL[cloud]]
        assert {r.type for r in stateful} >= STATEFUL[cloud] - {
            "aws:dynamodb/table:Table",  # the samples have no document store on AWS,
            "gcp:firestore/database:Database",  # nor on GCP,
            "gcp:alloydb/cluster:Cluster",  # nor AlloyDB (tests/test_alloydb.py),
            "azure-native:dbformysql:Server",  # nor MySQL or Cosmos DB on Azure
            "azure-native:dbformysql:Database",
            "azure-native:cosmosdb:DatabaseAccount",
            "azure-native:cosmosdb:SqlResourceSqlDatabase",
            "azure-native:cosmosdb:SqlResourceSqlContainer",
        }
        assert all(r.protect for r in stateful), [r.urn for r in stateful if not r.protect]
        others = [r for r in records(plan) if r.type not in STATEFUL[cloud] and r.protect]
        assert not others, [r.urn for r in others]


@pytest.fixture(scope="module")
def dev_unprotected(tmp_path_factory) -> dict[str, dict[str, PlanResult]]:
    plans = {}
    for cloud in ("aws", "gcp", "azure"):
        data = together(cloud)
        data["environments"]["dev"].setdefault("overrides", {})["deletionProtection"] = False
        out = compiled(data, tmp_path_factory.mktemp(f"{cloud}-unprotected"))
        plans[cloud] = {env: plan_tree(out, env, only=["05-app-services"]) for env in ENVIRONMENTS}
    return plans


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_an_environment_may_turn_protection_off(dev_unprotected, cloud: str) -> None:
    data = together(cloud)
    data["environments"]["dev"].setdefault("overrides", {})["deletionProtection"] = False
    (warning,) = checked(data).report.sorted()
    assert (warning.code, warning.severity) == ("CW611", "warning")
    assert warning.message.endswith("(in environment 'dev')")
    plans = dev_unprotected[cloud]
    dev = [r for r in records(plans["dev"]) if r.type in STATEFUL[cloud]]
    prod = [r for r in records(plans["prod"]) if r.type in STATEFUL[cloud]]
    assert dev and not any(r.protect for r in dev)
    assert prod and all(r.protect for r in prod)
    flags = {
        "aws": ("aws:rds/instance:Instance", "deletionProtection"),
        "gcp": ("gcp:sql/databaseInstance:DatabaseInstance", "deletionProtection"),
    }
    if cloud in flags:
        token, flag = flags[cloud]
        for env, expected in (("dev", False), ("prod", True)):
            (database,) = [r for r in records(plans[env]) if r.type == token]
            assert database.inputs[flag] is expected
    else:
        locks = {
            env: [
                r
                for r in records(plans[env])
                if r.type == "azure-native:authorization:ManagementLockByScope"
            ]
            for env in ENVIRONMENTS
        }
        assert not locks["dev"] and locks["prod"]


# --- environments that live elsewhere -------------------------------------------------------


def elsewhere(cloud: str) -> dict:
    """The sample with prod in a region, project or account of its own, with
    its own hosts and tags."""
    data = copy.deepcopy(sample(cloud))
    prod = data["environments"]["prod"]["overrides"]
    prod["tags"] = {"team": "sre"} if cloud == "gcp" else {"Team": "SRE"}
    if cloud == "aws":
        prod["cloud"] = {"region": "eu-central-1", "account": "210987654321"}
    elif cloud == "gcp":
        prod["cloud"] = {"region": "us-east1", "project": "acme-production"}
    else:
        prod["cloud"]["region"] = "northeurope"
    zone = data["appServices"]["dns"]["zone"]
    prod.setdefault("appServices", {})["dns"] = {"zone": f"live.{zone}"}
    prod.setdefault("apps", [])
    for app in data["apps"]:
        if app.get("ingress", {}).get("host"):
            item = next((a for a in prod["apps"] if a["name"] == app["name"]), None)
            if item is None:
                item = {"name": app["name"]}
                prod["apps"].append(item)
            item["ingress"] = {"host": app["ingress"]["host"].replace(zone, f"live.{zone}")}
    return data


@pytest.fixture(scope="module", params=["aws", "gcp", "azure"])
def apart(request, tmp_path_factory) -> tuple[str, Path]:
    cloud = request.param
    return cloud, compiled(elsewhere(cloud), tmp_path_factory.mktemp(f"{cloud}-apart"))


def test_a_platform_whose_environments_live_apart_validates(apart, tmp_path: Path) -> None:
    cloud, _ = apart
    source = tmp_path / "platform.yaml"
    source.write_text(yaml.safe_dump(elsewhere(cloud), sort_keys=False))
    result = CliRunner().invoke(main, ["validate", str(source)])
    assert result.exit_code == 0 and result.stdout == f"{source}: ok\n", result.output


def test_each_environment_plans_where_it_lives(apart) -> None:
    cloud, out = apart
    result = CliRunner().invoke(main, ["plan", str(out), "--offline", "--env", "prod", "--json"])
    assert result.exit_code == 0, result.output
    plan = plan_tree(out, "prod")
    dev = plan_tree(out, "dev")
    region = {"aws": "eu-central-1", "gcp": "us-east1", "azure": "northeurope"}[cloud]
    providers = [r for r in records(plan) if r.type == f"pulumi:providers:{_package(cloud)}"]
    assert providers
    for provider in providers:
        located = provider_input(provider, "region") or provider_input(provider, "location")
        # AWS's second provider holds what Route 53 keeps in us-east-1 only.
        global_ = cloud == "aws" and provider.name == "aws-global"
        assert located == ("us-east-1" if global_ else region)
        if cloud == "aws":
            assert provider_input(provider, "allowedAccountIds") == ["210987654321"]
            assert provider_input(provider, "defaultTags")["tags"]["Team"] == "SRE"
            # The plan's made-up ARNs and URLs are the account's too.
            (repository,) = [r for r in records(plan) if r.type == "aws:ecr/repository:Repository"]
            assert repository.outputs["repositoryUrl"].startswith("210987654321.dkr.ecr.")
        if cloud == "gcp":
            assert provider_input(provider, "project") == "acme-production"
            assert provider_input(provider, "defaultLabels")["team"] == "sre"
        if cloud == "azure":
            subscription = provider_input(provider, "subscriptionId")
            assert subscription == "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"

    def hosts(of: PlanResult) -> set[str]:
        return {
            host
            for r in records(of)
            if r.inputs.get("kind") == "HTTPRoute"
            for host in plain(r.inputs)["spec"].get("hostnames", [])
        }

    assert hosts(plan) and all(".live." in host for host in hosts(plan))
    assert hosts(dev) and not any(".live." in host for host in hosts(dev))
    if cloud in ("aws", "gcp"):
        # Alone in its account or project: prod keeps the plain names too.
        assert unique_names(cloud, plan) & unique_names(cloud, dev)
    if cloud == "aws":
        # Each account makes its own GitHub OIDC provider.
        for each in (plan, dev):
            assert [
                r
                for r in records(each)
                if r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
                and not r.retain_on_delete
                and r.inputs["url"].startswith("https://token.actions")
            ]


def _package(cloud: str) -> str:
    return {"aws": "aws", "gcp": "gcp", "azure": "azure-native"}[cloud]


def test_an_existing_github_oidc_provider_is_used_as_named(tmp_path: Path) -> None:
    data = copy.deepcopy(sample("aws"))
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    data["identity"]["githubOidcProvider"] = arn
    out = compiled(data, tmp_path / "out")
    program = (out / "01-identity" / "__main__.py").read_text()
    assert "OpenIdConnectProvider(" not in program and "get_open_id_connect_provider" not in program
    for env in ENVIRONMENTS:
        plan = plan_tree(out, env, only=["01-identity"])
        kinds = {r.type for r in records(plan)}
        assert "aws:iam/openIdConnectProvider:OpenIdConnectProvider" not in kinds
        for record in records(plan):
            if record.type == "aws:iam/role:Role" and record.name.startswith("acme-ci-"):
                policy = json.loads(plain(record.inputs["assumeRolePolicy"]))
                assert policy["Statement"][0]["Principal"]["Federated"] == arn


def test_environments_mixing_how_they_find_the_provider_run_one_program(tmp_path: Path) -> None:
    """dev creates it, staging looks it up in dev's account, prod names one in
    its own: one program, and each stack's config says which."""
    data = copy.deepcopy(sample("aws"))
    data["environments"]["staging"] = {}
    data["environments"]["prod"]["overrides"]["cloud"] = {"account": "210987654321"}
    data["environments"]["prod"]["overrides"]["identity"] = {
        "githubOidcProvider": "arn:aws:iam::210987654321:oidc-provider/"
        "token.actions.githubusercontent.com"
    }
    out = compiled(data, tmp_path / "out")
    config = {
        env: yaml.safe_load((out / "01-identity" / f"Pulumi.{env}.yaml").read_text())
        for env in ("dev", "staging", "prod")
    }
    assert [config[env]["config"]["acme-identity:githubOidcProvider"] for env in config] == [
        "create",
        "lookup",
        "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com",
    ]
    counts = {}
    for env in config:
        plan = plan_tree(out, env, only=["01-identity"])
        counts[env] = sum(
            r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider" for r in records(plan)
        )
    assert counts == {"dev": 1, "staging": 0, "prod": 0}
