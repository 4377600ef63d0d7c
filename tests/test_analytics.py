"""Warehouses and pipelines (`analytics`), on each cloud's sample: the secure
settings and the grants asserted on the offline plan's records, what the
cloud would receive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.plan import PlanResult, plan_tree
from crosswalk.compiler.writer import write_tree
from crosswalk.providers.azure.program import ROLES

ROOT = Path(__file__).resolve().parent.parent
INFRA = "02-managed-infra"


def compile_file(path: Path) -> dict[str, str]:
    document, problems = parse_document(path.read_bytes(), "platform.yaml")
    assert document is not None, problems
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    return result.files


def sample(cloud: str) -> dict:
    return yaml.safe_load((ROOT / "samples" / cloud / "platform.yaml").read_text("utf-8"))


def _plan(cloud: str, tmp_path_factory) -> PlanResult:
    out = tmp_path_factory.mktemp(f"{cloud}-analytics")
    write_tree(compile_file(ROOT / "samples" / cloud / "platform.yaml"), out)
    plan = plan_tree(out, "prod")
    failed = {s.dir: s.error for s in plan.stacks if s.error is not None}
    assert not failed, failed
    return plan


def of_type(plan: PlanResult, type_: str, stack: str | None = None) -> list:
    return [
        r for s in plan.stacks if stack in (None, s.dir) for r in s.resources if r.type == type_
    ]


def inputs(record) -> dict:
    return json.loads(json.dumps(reveal(record.inputs), default=str))


def exports(plan: PlanResult, stack: str) -> dict:
    return reveal(next(s for s in plan.stacks if s.dir == stack).exports)


# --- GCP: BigQuery ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcp(tmp_path_factory) -> PlanResult:
    return _plan("gcp", tmp_path_factory)


def test_gcp_warehouse_is_a_cmek_dataset_of_the_region(gcp) -> None:
    (dataset,) = of_type(gcp, "gcp:bigquery/dataset:Dataset", INFRA)
    args = inputs(dataset)
    assert dataset.protect and args["deleteContentsOnDestroy"] is False
    assert args["datasetId"] == "acme_prod_analytics"
    assert args["location"] == "europe-west1"
    assert args["defaultTableExpirationMs"] == 400 * 24 * 3600 * 1000
    keys = {r.name: r for r in of_type(gcp, "gcp:kms/cryptoKey:CryptoKey", INFRA)}
    key = keys["acme-warehouse"]
    assert key.protect and inputs(key)["rotationPeriod"] == "7776000s"
    key_id = args["defaultEncryptionConfiguration"]["kmsKeyName"]
    assert key_id.endswith("/cryptoKeys/acme-warehouse")
    grants = [
        r
        for r in of_type(gcp, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", INFRA)
        if inputs(r)["cryptoKeyId"] == key_id
    ]
    # BigQuery's encryption account, and no one else, may use the key.
    assert [(inputs(g)["role"], inputs(g)["member"].split("@")[1]) for g in grants] == [
        (
            "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "bigquery-encryption.iam.gserviceaccount.com",
        )
    ]
    assert grants[0].urn in dataset.dependencies  # BigQuery refuses a key it cannot use


def test_gcp_an_environment_keeps_tables_for_its_own_days(gcp, tmp_path) -> None:
    write_tree(compile_file(ROOT / "samples" / "gcp" / "platform.yaml"), tmp_path)
    dev = plan_tree(tmp_path, "dev", only=[INFRA])
    (dataset,) = of_type(dev, "gcp:bigquery/dataset:Dataset", INFRA)
    assert inputs(dataset)["defaultTableExpirationMs"] == 30 * 24 * 3600 * 1000
    (prod,) = of_type(gcp, "gcp:bigquery/dataset:Dataset", INFRA)
    assert inputs(prod)["defaultTableExpirationMs"] == 400 * 24 * 3600 * 1000


def test_gcp_teams_get_the_dataset_role_of_their_access(gcp) -> None:
    teams = {t["name"]: t for t in sample("gcp")["identity"]["teams"]}
    roles = {
        "admin": "roles/bigquery.dataOwner",
        "developer": "roles/bigquery.dataEditor",
        "viewer": "roles/bigquery.dataViewer",
    }
    granted = sorted(
        (inputs(r)["member"], inputs(r)["role"])
        for r in of_type(gcp, "gcp:bigquery/datasetIamMember:DatasetIamMember", INFRA)
    )
    wanted = sorted(
        (member, roles[t.get("access", "developer")])
        for t in teams.values()
        for member in t.get("members", [])
    )
    assert granted == wanted and len(granted) >= 3
    assert {
        inputs(r)["datasetId"]
        for r in of_type(gcp, "gcp:bigquery/datasetIamMember:DatasetIamMember", INFRA)
    } == {"acme_prod_analytics"}


def test_gcp_apps_get_exactly_the_warehouses_they_use(gcp) -> None:
    users = {
        app["name"]
        for app in sample("gcp")["apps"]
        if any(isinstance(u, dict) and "warehouse" in u for u in app.get("uses", []))
    }
    assert users == {"nightly-report"}
    for stack in {s.dir for s in gcp.stacks if s.dir.startswith("06-apps/")}:
        grants = of_type(gcp, "gcp:bigquery/datasetIamMember:DatasetIamMember", stack)
        jobs = [
            r
            for r in of_type(gcp, "gcp:projects/iAMMember:IAMMember", stack)
            if inputs(r)["role"] == "roles/bigquery.jobUser"
        ]
        if stack.removeprefix("06-apps/") not in users:
            assert grants == [] and jobs == [], stack
            continue
        (grant,) = grants
        args = inputs(grant)
        assert (args["datasetId"], args["role"]) == (
            "acme_prod_analytics",
            "roles/bigquery.dataEditor",
        )
        assert args["member"].startswith("serviceAccount:acme-")
        (job,) = jobs
        assert inputs(job)["member"] == args["member"]


def test_gcp_deployers_of_warehouses(gcp) -> None:
    roles = {
        r.name: inputs(r)
        for r in of_type(gcp, "gcp:projects/iAMCustomRole:IAMCustomRole", "01-identity")
    }
    grants = [
        v for k, v in roles.items() if "warehouse" in v["title"].lower() or "BigQuery" in v["title"]
    ]
    assert grants and all(
        sorted(g["permissions"]) == ["bigquery.datasets.get", "bigquery.datasets.update"]
        for g in grants
    )
    # Held on the platform's datasets only (BigQuery reads IAM conditions on them).
    (dataset,) = of_type(gcp, "gcp:bigquery/dataset:Dataset", INFRA)
    members = [
        inputs(r)
        for r in of_type(gcp, "gcp:projects/iAMMember:IAMMember", "01-identity")
        if r.name.endswith("-warehouse-grants")
    ]
    assert members and all(
        m["condition"]["expression"]
        == f'resource.name == "projects/acme-platform-prod/datasets/{inputs(dataset)["datasetId"]}"'
        for m in members
    )


def _pipelines(plan: PlanResult) -> dict:
    return {
        r.name.removeprefix("acme-pipeline-"): r
        for r in of_type(plan, "gcp:pubsub/subscription:Subscription", "05-app-services")
        if r.name.startswith("acme-pipeline-")
    }


def test_gcp_pipelines_are_subscriptions_pubsub_delivers_as_their_own_account(gcp) -> None:
    pipelines = _pipelines(gcp)
    assert sorted(pipelines) == ["events-archive", "events-table"]
    (topic,) = [
        r
        for r in of_type(gcp, "gcp:pubsub/topic:Topic", "05-app-services")
        if r.name == "acme-events"
    ]
    (dead,) = [
        r
        for r in of_type(gcp, "gcp:pubsub/topic:Topic", "05-app-services")
        if r.name == "acme-events-dead-letters"
    ]
    accounts = {
        r.name.removeprefix("acme-pipeline-"): r
        for r in of_type(gcp, "gcp:serviceaccount/account:Account", "01-identity")
        if r.name.startswith("acme-pipeline-")
    }
    assert sorted(accounts) == sorted(pipelines)
    emails = {name: a.outputs["email"] for name, a in accounts.items()}
    assert len(set(emails.values())) == 2  # one account each
    for name, subscription in pipelines.items():
        args = inputs(subscription)
        assert args["topic"] == topic.outputs["id"]
        assert args["deadLetterPolicy"]["deadLetterTopic"] == dead.outputs["id"]
        config = args.get("cloudStorageConfig") or args.get("bigqueryConfig")
        assert config["serviceAccountEmail"] == emails[name]
    (bucket,) = of_type(gcp, "gcp:storage/bucket:Bucket", INFRA)
    storage = inputs(pipelines["events-archive"])["cloudStorageConfig"]
    assert storage["bucket"] == inputs(bucket)["name"]
    (table,) = of_type(gcp, "gcp:bigquery/table:Table", INFRA)
    (dataset,) = of_type(gcp, "gcp:bigquery/dataset:Dataset", INFRA)
    assert inputs(table)["datasetId"] == inputs(dataset)["datasetId"]
    assert table.protect  # the events it holds
    bigquery = inputs(pipelines["events-table"])["bigqueryConfig"]
    assert bigquery["table"].endswith(f".{inputs(dataset)['datasetId']}.events_table")


def test_gcp_pipeline_accounts_hold_exactly_their_destination(gcp) -> None:
    emails = {
        r.name.removeprefix("acme-pipeline-"): "serviceAccount:" + r.outputs["email"]
        for r in of_type(gcp, "gcp:serviceaccount/account:Account", "01-identity")
        if r.name.startswith("acme-pipeline-")
    }
    held: dict[str, list] = {member: [] for member in emails.values()}
    for record in (r for s in gcp.stacks for r in s.resources):
        args = inputs(record) if record.type.startswith("gcp:") else {}
        if args.get("member") in held:
            target = args.get("bucket") or args.get("tableId") or args.get("project")
            held[args["member"]].append((record.type.split(":")[1], args["role"], target))
    (bucket,) = of_type(gcp, "gcp:storage/bucket:Bucket", INFRA)
    name = inputs(bucket)["name"]
    assert sorted(held[emails["events-archive"]]) == [
        ("storage/bucketIAMMember", "roles/storage.legacyBucketReader", name),
        ("storage/bucketIAMMember", "roles/storage.objectCreator", name),
    ]
    assert held[emails["events-table"]] == [
        ("bigquery/iamMember", "roles/bigquery.dataEditor", "events_table")
    ]
    # Pub/Sub's agent may act as each account, and the app-services deployer
    # may name it; nobody else.
    for name in emails:
        (account,) = [
            r
            for r in of_type(gcp, "gcp:serviceaccount/account:Account", "01-identity")
            if r.name == f"acme-pipeline-{name}"
        ]
        grants = sorted(
            (inputs(r)["role"], inputs(r)["member"].split("@")[-1])
            for r in of_type(gcp, "gcp:serviceaccount/iAMMember:IAMMember", "01-identity")
            if inputs(r)["serviceAccountId"] == account.outputs["name"]
        )
        assert grants == [
            ("roles/iam.serviceAccountTokenCreator", "gcp-sa-pubsub.iam.gserviceaccount.com"),
            ("roles/iam.serviceAccountUser", "acme-platform-prod.iam.gserviceaccount.com"),
        ]


# --- AWS: Redshift Serverless -----------------------------------------------------------


@pytest.fixture(scope="module")
def aws(tmp_path_factory) -> PlanResult:
    return _plan("aws", tmp_path_factory)


def test_aws_warehouse_is_private_encrypted_and_its_password_kept_by_aws(aws) -> None:
    (namespace,) = of_type(aws, "aws:redshiftserverless/namespace:Namespace", INFRA)
    (workgroup,) = of_type(aws, "aws:redshiftserverless/workgroup:Workgroup", INFRA)
    (key,) = of_type(aws, "aws:kms/key:Key", INFRA)
    ns, wg = inputs(namespace), inputs(workgroup)
    key_arn = key.outputs["arn"]
    assert namespace.protect
    assert ns["kmsKeyId"] == key_arn and ns["adminPasswordSecretKmsKeyId"] == key_arn
    # Secrets Manager makes the password: none is in the program or its state.
    assert ns["manageAdminPassword"] is True
    assert "adminUserPassword" not in ns and "adminUserPasswordWo" not in ns
    assert set(ns["logExports"]) == {"connectionlog", "useractivitylog", "userlog"}
    assert wg["publiclyAccessible"] is False and wg["enhancedVpcRouting"] is True
    assert wg["namespaceName"] == ns["namespaceName"]
    params = {p["parameterKey"]: p["parameterValue"] for p in wg["configParameters"]}
    assert params["require_ssl"] == "true"
    private = exports(aws, INFRA)["private_subnet_ids"]
    assert sorted(wg["subnetIds"]) == sorted(private) and len(private) >= 3
    (group,) = [
        r
        for r in of_type(aws, "aws:ec2/securityGroup:SecurityGroup", INFRA)
        if r.outputs["id"] in wg["securityGroupIds"]
    ]
    (rule,) = inputs(group)["ingress"]
    assert (rule["fromPort"], rule["toPort"]) == (5439, 5439)
    assert rule["cidrBlocks"] == ["10.0.0.0/16"]  # the platform's network, not the internet
    # The key lets Redshift Serverless and Secrets Manager use it for the platform.
    policy = json.loads(inputs(key)["policy"])
    via = next(s for s in policy["Statement"] if s["Sid"] == "UseOnlyThroughPlatformServices")
    services = via["Condition"]["StringEquals"]["kms:ViaService"]
    assert "redshift-serverless.us-west-2.amazonaws.com" in services
    assert "secretsmanager.us-west-2.amazonaws.com" in services


def _policies(plan, stack, role_name_part):
    return [
        json.loads(inputs(r)["policy"])
        for r in of_type(plan, "aws:iam/rolePolicy:RolePolicy", stack)
        if role_name_part in r.name
    ]


def test_aws_teams_sign_in_to_the_platforms_warehouses_only(aws) -> None:
    (workgroup,) = of_type(aws, "aws:redshiftserverless/workgroup:Workgroup", INFRA)
    tag = inputs(workgroup)["tags"]["crosswalk:warehouse"]
    assert tag == "acme-analytics"
    teams = [t for t in sample("aws")["identity"]["teams"] if t.get("members")]
    roles = {r.name: inputs(r) for r in of_type(aws, "aws:iam/role:Role", "01-identity")}
    for team in teams:
        (policy,) = _policies(aws, "01-identity", f"acme-team-{team['name']}-warehouses")
        (statement,) = policy["Statement"]
        assert statement["Action"] == [
            "redshift-serverless:GetCredentials",
            "redshift-serverless:GetWorkgroup",
        ]
        assert statement["Resource"].startswith("arn:aws:redshift-serverless:us-west-2:")
        assert statement["Resource"].endswith(":workgroup/*")
        assert statement["Condition"] == {
            "StringEquals": {"aws:ResourceTag/crosswalk:warehouse": ["acme-analytics"]}
        }
        tags = roles[f"acme-team-{team['name']}"].get("tags") or {}
        admin = team.get("access") == "admin"
        assert (tags.get("RedshiftDbRoles") == "sys:dba") is admin, team["name"]


def test_aws_apps_sign_in_to_exactly_the_warehouses_they_use(aws) -> None:
    (workgroup,) = of_type(aws, "aws:redshiftserverless/workgroup:Workgroup", INFRA)
    arn = workgroup.outputs["arn"]
    for stack in sorted({s.dir for s in aws.stacks if s.dir.startswith("06-apps/")}):
        actions = [
            (statement["Action"], statement["Resource"])
            for policy in _policies(aws, stack, "")
            for statement in policy["Statement"]
            if "redshift" in json.dumps(statement["Action"])
        ]
        if stack == "06-apps/nightly-report":
            assert actions == [(["redshift-serverless:GetCredentials"], arn)]
            (job,) = of_type(aws, "kubernetes:batch/v1:CronJob", stack)
            pod = inputs(job)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
            assert env["ANALYTICS_WAREHOUSE"] == inputs(workgroup)["workgroupName"]
            assert env["ANALYTICS_WAREHOUSE_ENDPOINT"].endswith(
                ".redshift-serverless.amazonaws.com"
            )
            assert not any("PASSWORD" in name for name in env)
        else:
            assert actions == [], stack


def test_aws_pipelines_are_a_pipe_and_a_firehose_stream_with_roles_of_their_own(aws) -> None:
    services = "05-app-services"
    (pipe,) = of_type(aws, "aws:pipes/pipe:Pipe", services)
    (stream,) = of_type(aws, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", services)
    queue = exports(aws, services)["datastore_events_arn"]
    bucket = exports(aws, INFRA)["bucket_assets_arn"]
    key = exports(aws, INFRA)["secrets_key_arn"]
    args = inputs(pipe)
    assert args["source"] == queue and args["target"] == stream.outputs["arn"]
    settings = inputs(stream)
    assert settings["destination"] == "extended_s3"
    assert settings["serverSideEncryption"] == {
        "enabled": True,
        "keyType": "CUSTOMER_MANAGED_CMK",
        "keyArn": key,
    }
    s3 = settings["extendedS3Configuration"]
    assert s3["bucketArn"] == bucket and s3["kmsKeyArn"] == key
    assert s3["prefix"] == "events-archive/"
    assert s3["errorOutputPrefix"].startswith("events-archive-errors/")
    assert s3["cloudwatchLoggingOptions"]["enabled"] is True
    # What the pipe cannot deliver returns to the queue, then to its dead letters.
    queues = {r.name: inputs(r) for r in of_type(aws, "aws:sqs/queue:Queue", services)}
    redrive = json.loads(queues["acme-events"]["redrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    roles = {r.name: r for r in of_type(aws, "aws:iam/role:Role", services)}
    boundary = exports(aws, "01-identity")["workload_boundary_arn"]
    for name, service, role_arn in (
        ("acme-pipeline-events-archive-pipe", "pipes.amazonaws.com", args["roleArn"]),
        ("acme-pipeline-events-archive-delivery", "firehose.amazonaws.com", s3["roleArn"]),
    ):
        role = inputs(roles[name])
        assert roles[name].outputs["arn"] == role_arn
        assert role["permissionsBoundary"] == boundary
        (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": service}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    granted = {
        name: [
            (tuple(sorted(st["Action"])), st["Resource"])
            for policy in _policies(aws, services, f"acme-pipeline-events-archive{name}")
            for st in policy["Statement"]
        ]
        for name in ("-pipe", "-delivery")
    }
    # The pipe reads its queue and writes its stream; nothing else.
    assert granted["-pipe"] == [
        (
            (
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ),
            queue,
        ),
        (("firehose:PutRecord", "firehose:PutRecordBatch"), stream.outputs["arn"]),
    ]
    # Firehose writes objects of its bucket (no delete), through S3 with the key.
    (logs,) = [
        r
        for r in of_type(aws, "aws:cloudwatch/logGroup:LogGroup", services)
        if r.name == "acme-pipeline-events-archive"
    ]
    assert granted["-delivery"] == [
        (("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"), bucket),
        (("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"), bucket + "/*"),
        (("kms:Decrypt", "kms:GenerateDataKey"), key),
        (("logs:PutLogEvents",), [logs.outputs["arn"], logs.outputs["arn"] + ":*"]),
    ]
    assert inputs(logs)["kmsKeyId"] == key and inputs(logs)["retentionInDays"] == 365


def test_aws_only_the_services_deployer_makes_pipelines_and_passes_their_roles(aws) -> None:
    policies = {
        r.name: json.loads(inputs(r)["policy"])
        for r in of_type(aws, "aws:iam/rolePolicy:RolePolicy", "01-identity")
        if r.name.startswith("acme-ci-")
    }
    makers = {
        name
        for name, policy in policies.items()
        for st in policy["Statement"]
        if "pipes:CreatePipe" in st["Action"]
    }
    assert makers == {"acme-ci-deploy-services"}
    (passing,) = [
        st
        for st in policies["acme-ci-deploy-services"]["Statement"]
        if st["Action"] == ["iam:PassRole"] and "pipeline" in json.dumps(st["Resource"])
    ]
    assert passing["Resource"] == "arn:aws:iam::123456789012:role/acme-pipeline-*"
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == [
        "firehose.amazonaws.com",
        "pipes.amazonaws.com",
    ]


def _sized_plans(cloud: str, tmp_path: Path, warehouses: list, prod: list) -> tuple:
    """The sample's managed-infra in dev and prod, with these warehouses and
    prod's overrides of them."""
    data = sample(cloud)
    data["analytics"]["warehouses"] = warehouses
    data["analytics"].pop("pipelines", None)
    for app in data["apps"]:
        app["uses"] = [
            u for u in app.get("uses", []) if not isinstance(u, dict) or "warehouse" not in u
        ]
    overrides = data["environments"]["prod"]["overrides"]
    overrides["analytics"] = {"warehouses": prod}
    source = tmp_path / "platform.yaml"
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    write_tree(compile_file(source), tmp_path / "out")
    return tuple(plan_tree(tmp_path / "out", env, only=[INFRA]) for env in ("dev", "prod"))


def test_aws_a_warehouse_starts_at_the_capacity_of_its_size(tmp_path) -> None:
    dev, prod = _sized_plans(
        "aws", tmp_path, [{"name": "analytics"}], [{"name": "analytics", "size": "large"}]
    )
    for plan, capacity in ((dev, 8), (prod, 128)):
        (workgroup,) = of_type(plan, "aws:redshiftserverless/workgroup:Workgroup", INFRA)
        assert inputs(workgroup)["baseCapacity"] == capacity


def test_azure_the_cluster_takes_the_largest_size_of_its_warehouses(tmp_path) -> None:
    dev, prod = _sized_plans(
        "azure",
        tmp_path,
        [{"name": "analytics"}, {"name": "events", "size": "medium"}],
        [{"name": "analytics", "size": "large"}],
    )
    for plan, sku in ((dev, "Standard_E4ads_v5"), (prod, "Standard_E8ads_v5")):
        (cluster,) = of_type(plan, "azure-native:kusto:Cluster", INFRA)
        assert inputs(cluster)["sku"] == {"name": sku, "tier": "Standard", "capacity": 2}


# --- Azure: Data Explorer ---------------------------------------------------------------


@pytest.fixture(scope="module")
def azure(tmp_path_factory) -> PlanResult:
    return _plan("azure", tmp_path_factory)


AZ = "azure-native:"


def test_azure_warehouse_is_private_and_encrypted_with_the_platform_key(azure) -> None:
    (cluster,) = of_type(azure, AZ + "kusto:Cluster", INFRA)
    args = inputs(cluster)
    assert cluster.protect
    assert args["publicNetworkAccess"] == "Disabled"
    assert args["restrictOutboundNetworkAccess"] == "Enabled"
    assert args["enableDiskEncryption"] is True and args["enableDoubleEncryption"] is True
    assert args["trustedExternalTenants"] == []
    (key,) = of_type(azure, AZ + "keyvault:Key", INFRA)
    (vault,) = of_type(azure, AZ + "keyvault:Vault", INFRA)
    kv = args["keyVaultProperties"]
    assert kv["keyName"] == inputs(key)["keyName"]
    assert kv["keyVaultUri"] == vault.outputs["properties"]["vaultUri"]
    # Its own identity, granted the key (and only the key) before the cluster names it.
    assert args["identity"]["type"] == "UserAssigned"
    assert args["identity"]["userAssignedIdentities"] == [kv["userIdentity"]]
    identities = {
        r.outputs["id"]: r for r in of_type(azure, AZ + "managedidentity:UserAssignedIdentity")
    }
    principal = identities[kv["userIdentity"]].outputs["principalId"]
    grants = [
        r
        for r in of_type(azure, AZ + "authorization:RoleAssignment", INFRA)
        if inputs(r)["principalId"] == principal
    ]
    assert [inputs(g)["scope"] for g in grants] == [key.outputs["id"]]
    assert grants[0].urn in cluster.dependencies
    (database,) = of_type(azure, AZ + "kusto:ReadWriteDatabase", INFRA)
    assert database.protect and inputs(database)["softDeletePeriod"] == "P400D"
    # Reached through a private endpoint in the platform's network.
    endpoints = [
        inputs(r)
        for r in of_type(azure, AZ + "network:PrivateEndpoint", INFRA)
        if inputs(r)["privateLinkServiceConnections"][0]["privateLinkServiceId"]
        == cluster.outputs["id"]
    ]
    assert [e["privateLinkServiceConnections"][0]["groupIds"] for e in endpoints] == [["cluster"]]
    locks = [
        r
        for r in of_type(azure, AZ + "authorization:ManagementLockByScope", INFRA)
        if inputs(r)["scope"] == cluster.outputs["id"]
    ]
    assert len(locks) == 1


def test_azure_teams_get_the_database_role_of_their_access(azure) -> None:
    roles = {"admin": "Admin", "developer": "User", "viewer": "Viewer"}
    wanted = sorted(
        (member, roles[t.get("access", "developer")])
        for t in sample("azure")["identity"]["teams"]
        for member in t.get("members", [])
    )
    assigned = of_type(azure, AZ + "kusto:DatabasePrincipalAssignment", INFRA)
    assert sorted((inputs(a)["principalId"], inputs(a)["role"]) for a in assigned) == wanted
    assert {inputs(a)["databaseName"] for a in assigned} == {"analytics"}


def test_azure_apps_get_exactly_the_warehouses_they_use(azure) -> None:
    for stack in sorted({s.dir for s in azure.stacks if s.dir.startswith("06-apps/")}):
        assigned = of_type(azure, AZ + "kusto:DatabasePrincipalAssignment", stack)
        if stack != "06-apps/nightly-report":
            assert assigned == [], stack
            continue
        (identity,) = of_type(azure, AZ + "managedidentity:UserAssignedIdentity", stack)
        assert sorted(inputs(a)["role"] for a in assigned) == ["Ingestor", "User"]
        for a in assigned:
            args = inputs(a)
            assert args["principalType"] == "App"
            assert args["principalId"] == identity.outputs["clientId"]
            assert args["databaseName"] == "analytics"


def test_azure_deployers_may_make_and_grant_warehouses(azure) -> None:
    """managed-infra's deployer assigns the key role to the warehouse cluster's
    identity, that role only; the apps' deployer writes Data Explorer's
    database roles (Contributor on the resource group)."""
    (platform,) = [
        inputs(r)
        for r in of_type(azure, AZ + "authorization:RoleAssignment", "01-identity")
        if r.name == "contoso-ci-deploy-platform-rbac-administrator"
    ]
    assert ROLES["Key Vault Crypto Service Encryption User"] in platform["condition"]
    apps = {
        r.name.removeprefix("contoso-ci-deploy-apps-")
        for r in of_type(azure, AZ + "authorization:RoleAssignment", "01-identity")
        if r.name.startswith("contoso-ci-deploy-apps-")
    }
    assert "contributor" in apps


# --- streams (`engine: stream`) and the pipelines that read them -------------------------


SERVICES = "05-app-services"


def _role_assignments_of(plan: PlanResult, principal: str) -> list[dict]:
    return [
        inputs(r)
        for r in of_type(plan, AZ + "authorization:RoleAssignment")
        if inputs(r)["principalId"] == principal
    ]


def test_azure_stream_is_a_hub_of_a_private_entra_only_namespace(azure) -> None:
    (namespace,) = of_type(azure, AZ + "eventhub:Namespace", SERVICES)
    args = inputs(namespace)
    assert namespace.protect
    # Standard: the least tier that captures and takes a private endpoint.
    assert args["sku"]["name"] == args["sku"]["tier"] == "Standard"
    assert args["disableLocalAuth"] is True
    assert args["publicNetworkAccess"] == "Disabled"
    assert args["minimumTlsVersion"] == "1.2"
    assert args["namespaceName"] == "contoso-prod-streams"
    assert args["tags"]["crosswalk-platform"] == "contoso"
    assert args["tags"]["crosswalk-environment"] == "prod"
    endpoints = [
        inputs(r)
        for r in of_type(azure, AZ + "network:PrivateEndpoint", SERVICES)
        if inputs(r)["privateLinkServiceConnections"][0]["privateLinkServiceId"]
        == namespace.outputs["id"]
    ]
    assert [e["privateLinkServiceConnections"][0]["groupIds"] for e in endpoints] == [["namespace"]]
    assert endpoints[0]["subnet"]["id"] == exports(azure, INFRA)["endpoints_subnet_id"]
    locks = [
        inputs(r)
        for r in of_type(azure, AZ + "authorization:ManagementLockByScope", SERVICES)
        if inputs(r)["scope"] == namespace.outputs["id"]
    ]
    assert [lock["level"] for lock in locks] == ["CanNotDelete"]
    (hub,) = of_type(azure, AZ + "eventhub:EventHub", SERVICES)
    hub_args = inputs(hub)
    assert hub.protect
    assert hub_args["eventHubName"] == "activity"
    assert hub_args["namespaceName"] == namespace.outputs["name"]
    assert hub_args["partitionCount"] == 4
    assert hub_args["retentionDescription"] == {
        "cleanupPolicy": "Delete",
        "retentionTimeInHours": 168,
    }


def test_azure_pipeline_is_capture_into_the_container_as_its_own_identity(azure) -> None:
    (hub,) = of_type(azure, AZ + "eventhub:EventHub", SERVICES)
    capture = inputs(hub)["captureDescription"]
    assert capture["enabled"] is True and capture["encoding"] == "Avro"
    assert capture["skipEmptyArchives"] is True
    destination = capture["destination"]
    assert destination["name"] == "EventHubArchive.AzureBlockBlob"
    infra = exports(azure, INFRA)
    assert destination["blobContainer"] == infra["bucket_assets_name"] == "assets"
    (account,) = [
        r
        for r in of_type(azure, AZ + "storage:StorageAccount", INFRA)
        if r.name == "contoso-storage"
    ]
    assert destination["storageAccountResourceId"] == account.outputs["id"]
    # The pipeline's name first, then every field Azure requires.
    fields = "{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}"
    assert destination["archiveNameFormat"] == "activity-archive/" + fields
    # Signed in as the pipeline's identity, which the namespace holds.
    (identity,) = [
        r
        for r in of_type(azure, AZ + "managedidentity:UserAssignedIdentity", SERVICES)
        if r.name == "contoso-pipeline-activity-archive"
    ]
    assert destination["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentity": identity.outputs["id"],
    }
    (namespace,) = of_type(azure, AZ + "eventhub:Namespace", SERVICES)
    assert inputs(namespace)["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentities": [identity.outputs["id"]],
    }
    # Its one grant, in any stack: writing blobs of that container, before capture starts.
    grants = _role_assignments_of(azure, identity.outputs["principalId"])
    assert [(g["roleDefinitionId"].rsplit("/", 1)[1], g["scope"]) for g in grants] == [
        (ROLES["Storage Blob Data Contributor"], infra["bucket_assets_container_id"])
    ]
    (grant,) = [
        r
        for r in of_type(azure, AZ + "authorization:RoleAssignment", SERVICES)
        if inputs(r)["principalId"] == identity.outputs["principalId"]
    ]
    assert grant.urn in hub.dependencies


def test_azure_apps_send_and_receive_on_their_hub_alone(azure) -> None:
    (hub,) = of_type(azure, AZ + "eventhub:EventHub", SERVICES)
    hub_roles = {ROLES["Azure Event Hubs Data Sender"], ROLES["Azure Event Hubs Data Receiver"]}
    users = {a["name"] for a in sample("azure")["apps"] if "activity" in a.get("uses", [])}
    assert users == {"order-worker"}
    for stack in sorted({s.dir for s in azure.stacks if s.dir.startswith("06-apps/")}):
        granted = [
            inputs(r)
            for r in of_type(azure, AZ + "authorization:RoleAssignment", stack)
            if inputs(r)["roleDefinitionId"].rsplit("/", 1)[1] in hub_roles
        ]
        if stack.split("/")[1] not in users:
            assert granted == [], stack
            continue
        (identity,) = of_type(azure, AZ + "managedidentity:UserAssignedIdentity", stack)
        assert sorted(g["roleDefinitionId"].rsplit("/", 1)[1] for g in granted) == sorted(hub_roles)
        for g in granted:
            assert g["scope"] == hub.outputs["id"]  # the hub, not the namespace
            assert g["principalId"] == identity.outputs["principalId"]
        (connection,) = [
            inputs(r)
            for r in of_type(azure, "kubernetes:core/v1:Secret", stack)
            if "ACTIVITY_EVENT_HUB" in inputs(r).get("stringData", {})
        ]
        assert connection["stringData"]["ACTIVITY_EVENT_HUB"] == "activity"
        assert connection["stringData"]["ACTIVITY_NAMESPACE"] == (
            "contoso-prod-streams.servicebus.windows.net"
        )


def test_azure_deployers_may_make_streams_and_assign_their_roles(azure) -> None:
    """The services deployer (Contributor on the group) makes the namespace
    and may assign the capture identity its container role; the apps'
    deployer may assign the hubs' data roles."""
    assignments = {
        r.name: inputs(r)
        for r in of_type(azure, AZ + "authorization:RoleAssignment", "01-identity")
    }
    conditions = [a.get("condition") or "" for a in assignments.values()]
    services = [c for c in conditions if ROLES["DNS Zone Contributor"] in c]
    assert services and all(ROLES["Storage Blob Data Contributor"] in c for c in services)
    apps = [c for c in conditions if ROLES["Azure Service Bus Data Sender"] in c]
    assert apps
    for condition in apps:
        assert ROLES["Azure Event Hubs Data Sender"] in condition
        assert ROLES["Azure Event Hubs Data Receiver"] in condition


def _with_stream(cloud: str, tmp_path_factory) -> PlanResult:
    """The cloud's sample with a stream that order-worker uses and a pipeline archives."""
    data = sample(cloud)
    data["appServices"]["datastores"].append({"name": "activity", "engine": "stream"})
    data["analytics"]["pipelines"].append(
        {"name": "activity-archive", "from": "activity", "to": {"bucket": "assets"}}
    )
    for app in data["apps"]:
        if app["name"] == "order-worker":
            app["uses"].append("activity")
    folder = tmp_path_factory.mktemp(f"{cloud}-stream")
    (folder / "platform.yaml").write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    out = folder / "out"
    write_tree(compile_file(folder / "platform.yaml"), out)
    plan = plan_tree(out, "prod")
    failed = {s.dir: s.error for s in plan.stacks if s.error is not None}
    assert not failed, failed
    return plan


@pytest.fixture(scope="module")
def aws_stream(tmp_path_factory) -> PlanResult:
    return _with_stream("aws", tmp_path_factory)


def _policy_statements(plan: PlanResult, stack: str, role_name: str) -> list[dict]:
    (policy,) = [
        r for r in of_type(plan, "aws:iam/rolePolicy:RolePolicy", stack) if r.name == role_name
    ]
    return json.loads(inputs(policy)["policy"])["Statement"]


def test_aws_stream_is_on_demand_and_encrypted_with_the_platform_key(aws_stream) -> None:
    (stream,) = of_type(aws_stream, "aws:kinesis/stream:Stream", SERVICES)
    args = inputs(stream)
    assert stream.protect
    assert args["streamModeDetails"] == {"streamMode": "ON_DEMAND"}
    assert args["encryptionType"] == "KMS"
    assert args["kmsKeyId"] == exports(aws_stream, INFRA)["secrets_key_arn"]
    assert args["retentionPeriod"] == 168
    # The key admits Kinesis (its policy names the services that may use it).
    (key,) = [
        r
        for r in of_type(aws_stream, "aws:kms/key:Key", INFRA)
        if r.outputs["arn"] == args["kmsKeyId"]
    ]
    assert "kinesis.us-west-2.amazonaws.com" in inputs(key)["policy"]


def test_aws_pipeline_from_a_stream_is_firehose_reading_it_as_its_own_role(aws_stream) -> None:
    (stream,) = of_type(aws_stream, "aws:kinesis/stream:Stream", SERVICES)
    (firehose,) = [
        r
        for r in of_type(aws_stream, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
        if r.name == "acme-pipeline-activity-archive"
    ]
    args = inputs(firehose)
    source = args["kinesisSourceConfiguration"]
    assert source["kinesisStreamArn"] == stream.outputs["arn"]
    # AWS keeps such a stream's records in the Kinesis stream, encrypted there.
    assert "serverSideEncryption" not in args
    assert args["extendedS3Configuration"]["prefix"] == "activity-archive/"
    roles = {r.outputs["arn"]: r for r in of_type(aws_stream, "aws:iam/role:Role", SERVICES)}
    reader = roles[source["roleArn"]]
    assert reader.name == "acme-pipeline-activity-archive-source"
    assert (
        inputs(reader)["permissionsBoundary"]
        == exports(aws_stream, "01-identity")["workload_boundary_arn"]
    )
    trust = json.loads(inputs(reader)["assumeRolePolicy"])["Statement"]
    assert [t["Principal"]["Service"] for t in trust] == ["firehose.amazonaws.com"]
    key = exports(aws_stream, INFRA)["secrets_key_arn"]
    statements = _policy_statements(aws_stream, SERVICES, reader.name)
    assert [(s["Resource"], sorted(s["Action"])) for s in statements] == [
        (
            stream.outputs["arn"],
            [
                "kinesis:DescribeStream",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
        ),
        (key, ["kms:Decrypt"]),
    ]
    assert statements[1]["Condition"] == {
        "StringLike": {"kms:ViaService": "kinesis.*.amazonaws.com"}
    }
    # No pipe: Firehose reads the stream itself.
    pipes = [r.name for r in of_type(aws_stream, "aws:pipes/pipe:Pipe")]
    assert pipes == ["acme-pipeline-events-archive"]


def test_aws_apps_put_and_read_their_stream_alone(aws_stream) -> None:
    (stream,) = of_type(aws_stream, "aws:kinesis/stream:Stream", SERVICES)
    for stack in sorted({s.dir for s in aws_stream.stacks if s.dir.startswith("06-apps/")}):
        policies = [
            json.loads(inputs(r)["policy"])["Statement"]
            for r in of_type(aws_stream, "aws:iam/rolePolicy:RolePolicy", stack)
        ]
        kinesis = [
            s
            for statements in policies
            for s in statements
            if any(a.startswith("kinesis:") for a in s["Action"])
        ]
        if stack != "06-apps/order-worker":
            assert kinesis == [], stack
            continue
        assert [s["Resource"] for s in kinesis] == [stream.outputs["arn"]]
        assert {"kinesis:PutRecords", "kinesis:GetRecords"} <= set(kinesis[0]["Action"])
        keys = [
            s
            for statements in policies
            for s in statements
            if s.get("Condition") == {"StringLike": {"kms:ViaService": "kinesis.*.amazonaws.com"}}
        ]
        assert [sorted(s["Action"]) for s in keys] == [["kms:Decrypt", "kms:GenerateDataKey"]]


def test_aws_boundary_and_services_deployer_cover_streams(aws_stream) -> None:
    boundaries = [
        json.loads(inputs(r)["policy"])["Statement"]
        for r in of_type(aws_stream, "aws:iam/policy:Policy", "01-identity")
        if "boundary" in r.name
    ]
    (statements,) = boundaries
    (streams,) = [s for s in statements if s["Sid"] == "DataStreams"]
    assert streams["Resource"].endswith(":stream/acme-*")
    assert {"kinesis:PutRecords", "kinesis:GetRecords"} <= set(streams["Action"])
    policies = {
        r.name: json.loads(inputs(r)["policy"])["Statement"]
        for r in of_type(aws_stream, "aws:iam/rolePolicy:RolePolicy", "01-identity")
        if r.name.startswith("acme-ci-")
    }
    makers = {
        (name, json.dumps(st["Resource"]))
        for name, statements in policies.items()
        for st in statements
        if "kinesis:CreateStream" in st["Action"]
    }
    assert makers == {
        ("acme-ci-deploy-services", '"arn:aws:kinesis:us-west-2:123456789012:stream/acme-*"')
    }


def test_gcp_stream_is_a_topic_its_pipeline_subscribes_to(tmp_path_factory) -> None:
    plan = _with_stream("gcp", tmp_path_factory)
    topics = {inputs(r)["name"]: r for r in of_type(plan, "gcp:pubsub/topic:Topic", SERVICES)}
    (topic,) = [r for name, r in topics.items() if name.endswith("activity")]
    assert topic.protect
    (subscription,) = [
        inputs(r)
        for r in of_type(plan, "gcp:pubsub/subscription:Subscription", SERVICES)
        if r.name == "acme-pipeline-activity-archive"
    ]
    assert subscription["topic"] == topic.outputs["id"]
    members = [
        inputs(r)
        for r in of_type(plan, "gcp:pubsub/topicIAMMember:TopicIAMMember", "06-apps/order-worker")
    ]
    assert {(m["topic"], m["role"]) for m in members} >= {
        (topic.outputs["id"], "roles/pubsub.publisher")
    }


# --- the graph: what orders the stacks and widens a change ------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_warehouses_and_pipelines_are_edges_of_the_graph(cloud) -> None:
    from crosswalk.compiler.graph import build_graph
    from crosswalk.compiler.model import apply_defaults, build_platform

    resources = build_graph(build_platform(apply_defaults(sample(cloud))))
    graph = resources.graph
    assert graph.nodes["warehouse/analytics"]["stack"] == INFRA
    assert graph.has_edge("secrets-key", "warehouse/analytics")
    assert graph.has_edge("warehouse/analytics", "app/nightly-report")
    teams = [t["name"] for t in sample(cloud)["identity"]["teams"]]
    assert all(graph.has_edge(f"team/{team}", "warehouse/analytics") for team in teams)
    pipelines = sorted(n for n in graph if n.startswith("pipeline/"))
    if cloud == "azure":
        assert pipelines == ["pipeline/activity-archive"]
        assert graph.nodes["pipeline/activity-archive"]["stack"] == "05-app-services"
        assert graph.has_edge("datastore/activity", "pipeline/activity-archive")
        assert graph.has_edge("bucket/assets", "pipeline/activity-archive")
        return
    if cloud == "aws":
        assert pipelines == ["pipeline/events-archive"]
        assert graph.nodes["pipeline/events-archive"]["stack"] == "05-app-services"
        assert graph.has_edge("datastore/events", "pipeline/events-archive")
        assert graph.has_edge("bucket/assets", "pipeline/events-archive")
        return
    assert pipelines == ["pipeline/events-archive", "pipeline/events-table"]
    for node in pipelines:
        assert graph.nodes[node]["stack"] == "05-app-services"
        assert graph.has_edge("datastore/events", node)
        account = "pipeline-account/" + node.split("/")[1]
        assert graph.nodes[account]["stack"] == "01-identity"
        assert graph.has_edge(account, node)
    assert graph.has_edge("bucket/assets", "pipeline/events-archive")
    assert graph.has_edge("warehouse/analytics", "pipeline/events-table")
    assert graph.has_edge("pipeline-account/events-table", "warehouse/analytics")
    # A change to the warehouse reaches the apps and the pipelines that use it.
    downstream = resources.downstream(INFRA)
    assert {"05-app-services", "06-apps/nightly-report"} <= set(downstream)
