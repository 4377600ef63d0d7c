"""What an auditor's cloud scanner checks on AWS, read from the offline plan of
the AWS sample: each workload identity acts only on this platform's resources,
the VPC records its traffic, the platform key has a policy of its own, the
logs are encrypted and kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.mock_values import contains_secret, reveal
from crosswalk.compiler.plan import plan_tree

ROOT = Path(__file__).resolve().parent.parent
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

# Actions IAM cannot narrow to a resource: the only ones a workload identity
# may hold on Resource "*".
UNRESTRICTABLE = {
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "route53:ListHostedZones",
    "route53:ListHostedZonesByName",
    # What a VM's SSM Agent and the teams that open sessions to it use.
    "ssm:DescribeInstanceInformation",
    "ssm:DescribeSessions",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("aws")
    result = compile_file(ROOT / "samples" / "aws" / "platform.yaml", out)
    assert result.files, [d.render() for d in result.report.errors]
    planned = plan_tree(out, "prod")
    assert [s.dir for s in planned.stacks if s.error is not None] == []
    return planned


def records(plan, type_: str, stack: str | None = None) -> list:
    return [
        r
        for s in plan.stacks
        if stack is None or s.dir == stack
        for r in s.resources
        if r.type == type_
    ]


def one(plan, type_: str, name: str):
    found = [r for r in records(plan, type_) if r.name == name]
    assert len(found) == 1, [(r.type, r.name) for r in records(plan, type_)]
    return found[0]


def policy_of(plan, name: str) -> list[dict]:
    return json.loads(reveal(one(plan, ROLE_POLICY, name).inputs)["policy"])["Statement"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_workload_identities_hold_no_write_action_on_every_resource(plan) -> None:
    """Every inline policy outside the CI identities: an action on Resource "*"
    is one IAM cannot narrow."""
    checked = 0
    for record in records(plan, ROLE_POLICY):
        if record.name.startswith("acme-ci-"):
            continue  # the CI deployers are judged with the identity layer
        for statement in json.loads(reveal(record.inputs)["policy"])["Statement"]:
            checked += 1
            if "*" in as_list(statement["Resource"]):
                wide = set(as_list(statement["Action"])) - UNRESTRICTABLE
                assert not wide, (record.name, sorted(wide))
    assert checked >= 8


def test_fluent_bit_writes_only_the_platforms_container_log_group(plan) -> None:
    group = one(plan, LOG_GROUP, "acme-containers")
    inputs = reveal(group.inputs)
    assert inputs["name"] == "/acme-prod/containers"
    assert inputs["retentionInDays"] >= 365
    assert inputs["kmsKeyId"] == one(plan, "aws:kms/key:Key", "acme-secrets").outputs["arn"]
    arn = group.outputs["arn"]
    (statement,) = policy_of(plan, "acme-fluent-bit")
    assert sorted(statement["Resource"]) == [arn, arn + ":*"]
    assert "logs:CreateLogGroup" not in statement["Action"]
    chart = reveal(one(plan, "kubernetes:helm.sh/v3:Release", "aws-for-fluent-bit").inputs)
    logs = chart["values"]["cloudWatchLogs"]
    assert logs["logGroupName"] == inputs["name"]
    assert logs["autoCreateGroup"] is False


def test_the_autoscaler_resizes_only_this_clusters_node_groups(plan) -> None:
    statements = policy_of(plan, "acme-cluster-autoscaler")
    mutating = [s for s in statements if "autoscaling:SetDesiredCapacity" in s["Action"]]
    (statement,) = mutating
    assert sorted(statement["Action"]) == [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    cluster = reveal(one(plan, "eks:index:Cluster", "acme-cluster").inputs)["name"]
    assert statement["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}
    }
    (nodegroups,) = [s for s in statements if s["Action"] == ["eks:DescribeNodegroup"]]
    assert nodegroups["Resource"] == f"arn:aws:eks:*:*:nodegroup/{cluster}/*"


@pytest.mark.parametrize("role", ["acme-external-dns", "acme-cert-manager"])
def test_dns_identities_change_records_of_the_platforms_zone_only(plan, role) -> None:
    zone = one(plan, "aws:route53/zone:Zone", "acme-zone").outputs["arn"]
    statements = policy_of(plan, role)
    (changes,) = [s for s in statements if "route53:ChangeResourceRecordSets" in s["Action"]]
    assert changes["Resource"] == zone


def test_every_flow_of_the_vpc_is_logged_encrypted_for_a_year(plan) -> None:
    vpc = one(plan, "aws:ec2/vpc:Vpc", "acme-vpc")
    (flow_log,) = records(plan, "aws:ec2/flowLog:FlowLog")
    inputs = reveal(flow_log.inputs)
    group = one(plan, LOG_GROUP, "acme-vpc-flow-logs")
    assert inputs["vpcId"] == vpc.id
    assert inputs["trafficType"] == "ALL"
    assert inputs["logDestinationType"] == "cloud-watch-logs"
    assert inputs["logDestination"] == group.outputs["arn"]
    assert reveal(group.inputs)["retentionInDays"] >= 365
    assert (
        reveal(group.inputs)["kmsKeyId"]
        == one(plan, "aws:kms/key:Key", "acme-secrets").outputs["arn"]
    )
    role = one(plan, "aws:iam/role:Role", "acme-vpc-flow-logs")
    assert inputs["iamRoleArn"] == role.outputs["arn"]
    (trust,) = json.loads(reveal(role.inputs)["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    (write,) = policy_of(plan, "acme-vpc-flow-logs")
    assert sorted(write["Resource"]) == [group.outputs["arn"], group.outputs["arn"] + ":*"]


def test_the_platform_key_is_used_only_through_the_platforms_services(plan) -> None:
    key = reveal(one(plan, "aws:kms/key:Key", "acme-secrets").inputs)
    statements = json.loads(key["policy"])["Statement"]
    use = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
    for statement in statements:
        actions = set(as_list(statement["Action"]))
        assert "kms:*" not in actions
        assert statement["Principal"] != "*" and statement["Principal"] != {"AWS": "*"}
        if actions & use:
            # Nobody uses the key directly: only through a service, for this account.
            condition = statement["Condition"]
            if "AWS" in statement["Principal"]:
                assert condition["StringEquals"]["kms:CallerAccount"] == "123456789012"
                assert sorted(condition["StringEquals"]["kms:ViaService"]) == [
                    "ec2.us-west-2.amazonaws.com",  # the VMs' volumes (EBS)
                    "ecr.us-west-2.amazonaws.com",
                    "eks.us-west-2.amazonaws.com",
                    "rds.us-west-2.amazonaws.com",  # the Aurora cluster
                    "redshift-serverless.us-west-2.amazonaws.com",  # the warehouses
                    "s3.us-west-2.amazonaws.com",  # the platform's buckets
                    "secretsmanager.us-west-2.amazonaws.com",  # apps' secrets, warehouses' passwords
                ]
            else:
                assert statement["Principal"] == {"Service": "logs.us-west-2.amazonaws.com"}
                assert condition["ArnLike"] == {
                    "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-west-2:123456789012:"
                    "log-group:*"
                }
    grants = [s for s in statements if "kms:CreateGrant" in as_list(s["Action"])]
    assert [s["Condition"] for s in grants] == [{"Bool": {"kms:GrantIsForAWSResource": "true"}}]


def test_sql_datastores_take_tls_only_and_log_connections_and_slow_queries(plan) -> None:
    db = reveal(one(plan, "aws:rds/instance:Instance", "acme-orders").inputs)
    group = one(plan, "aws:rds/parameterGroup:ParameterGroup", "acme-orders-parameters")
    assert db["parameterGroupName"] == group.outputs["name"]
    inputs = reveal(group.inputs)
    assert inputs["family"] == "postgres16"
    parameters = {p["name"]: p["value"] for p in inputs["parameters"]}
    assert parameters["rds.force_ssl"] == "1"
    assert parameters["log_connections"] == parameters["log_disconnections"] == "1"
    assert parameters["log_statement"] == "ddl"
    assert int(parameters["log_min_duration_statement"]) > 0


def test_sql_datastores_report_host_metrics_every_minute(plan) -> None:
    db = reveal(one(plan, "aws:rds/instance:Instance", "acme-orders").inputs)
    role = one(plan, "aws:iam/role:Role", "acme-rds-monitoring")
    assert db["monitoringInterval"] == 60
    assert db["monitoringRoleArn"] == role.outputs["arn"]
    (trust,) = json.loads(reveal(role.inputs)["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}


def platform_with(tmp_path, change) -> Path:
    import yaml

    data = yaml.safe_load((ROOT / "samples" / "aws" / "platform.yaml").read_text())
    change(data)
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_an_environment_may_turn_enhanced_monitoring_off(tmp_path) -> None:
    def dev_without_monitoring(data):
        overrides = data["environments"]["dev"].setdefault("overrides", {})
        services = overrides.setdefault("appServices", {})
        services["datastores"] = [{"name": "orders", "enhancedMonitoring": False}]

    path = platform_with(tmp_path, dev_without_monitoring)
    result = compile_file(path, tmp_path / "out")
    assert result.files, [d.render() for d in result.report.errors]
    (warning,) = [d for d in result.report.warnings if d.code == "CW619"]
    assert warning.path.endswith("enhancedMonitoring")
    line = warning.span.line
    assert "enhancedMonitoring: false" in path.read_text().splitlines()[line - 1]
    for env, interval in (("dev", 0), ("prod", 60)):
        planned = plan_tree(tmp_path / "out", env)
        db = reveal(one(planned, "aws:rds/instance:Instance", "acme-orders").inputs)
        assert db["monitoringInterval"] == interval, env
        assert bool(db.get("monitoringRoleArn")) == bool(interval), env


def with_setting(sample: str, tmp_path) -> Path:
    import yaml

    data = yaml.safe_load((ROOT / "samples" / sample / "platform.yaml").read_text())
    for store in data["appServices"]["datastores"]:
        if store["engine"] in ("postgres", "redis") and "flavor" not in store:
            store["enhancedMonitoring"] = True
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("sample", ["aws", "gcp", "azure"])
def test_enhanced_monitoring_is_a_setting_of_sql_datastores_on_aws(sample, tmp_path) -> None:
    from crosswalk.compiler.document import parse_document
    from crosswalk.compiler.pipeline import check_document

    path = with_setting(sample, tmp_path)
    document, diagnostics = parse_document(path.read_bytes(), "platform.yaml")
    assert document is not None, [d.render() for d in diagnostics]
    errors = check_document(document).report.errors
    lines = path.read_text().splitlines()
    at = [n for n, line in enumerate(lines, 1) if "enhancedMonitoring" in line]
    wrong = at if sample != "aws" else at[1:]  # on AWS only the cache's is wrong
    assert [(d.code, d.span.line) for d in errors] == [("CW504", n) for n in wrong]


def test_the_zone_is_signed_with_a_key_only_route53_may_sign_with(plan) -> None:
    zone = one(plan, "aws:route53/zone:Zone", "acme-zone")
    key = one(plan, "aws:kms/key:Key", "acme-dnssec")
    ksk = reveal(one(plan, "aws:route53/keySigningKey:KeySigningKey", "acme-zone").inputs)
    signing = reveal(one(plan, "aws:route53/hostedZoneDnsSec:HostedZoneDnsSec", "acme-zone").inputs)
    assert ksk["hostedZoneId"] == signing["hostedZoneId"] == zone.outputs["zoneId"]
    assert ksk["keyManagementServiceArn"] == key.outputs["arn"]
    assert ksk["status"] == "ACTIVE" and signing["signingStatus"] == "SIGNING"
    inputs = reveal(key.inputs)
    assert inputs["customerMasterKeySpec"] == "ECC_NIST_P256"
    assert inputs["keyUsage"] == "SIGN_VERIFY"
    assert key.outputs["arn"].startswith("arn:aws:kms:us-east-1:")  # Route 53 signs only there
    assert key.protect
    statements = json.loads(inputs["policy"])["Statement"]
    signers = [s for s in statements if "kms:Sign" in as_list(s["Action"])]
    assert [s["Principal"] for s in signers] == [{"Service": "dnssec-route53.amazonaws.com"}]
    assert signers[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert not any("kms:*" in as_list(s["Action"]) for s in statements)


def test_the_zones_queries_are_logged_encrypted_for_a_year(plan) -> None:
    zone = one(plan, "aws:route53/zone:Zone", "acme-zone")
    group = one(plan, LOG_GROUP, "acme-dns-queries")
    inputs = reveal(group.inputs)
    assert inputs["name"] == "/aws/route53/acme-prod"
    assert inputs["retentionInDays"] >= 365
    logs_key = one(plan, "aws:kms/key:Key", "acme-dns-logs")
    assert inputs["kmsKeyId"] == logs_key.outputs["arn"]
    assert group.outputs["arn"].startswith("arn:aws:logs:us-east-1:")
    query_log = reveal(one(plan, "aws:route53/queryLog:QueryLog", "acme-zone").inputs)
    assert query_log == {
        "zoneId": zone.outputs["zoneId"],
        "cloudwatchLogGroupArn": group.outputs["arn"],
    }
    policy = reveal(
        one(plan, "aws:cloudwatch/logResourcePolicy:LogResourcePolicy", "acme-dns-queries").inputs
    )
    (statement,) = json.loads(policy["policyDocument"])["Statement"]
    assert statement["Principal"] == {"Service": "route53.amazonaws.com"}
    assert statement["Resource"] == group.outputs["arn"] + ":*"
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": zone.outputs["arn"]}


SQL_APPS = ("admin", "checkout", "order-worker")  # the sample's apps that use `orders`


def app_policy(plan, app: str) -> list[dict]:
    return json.loads(reveal(one(plan, ROLE_POLICY, f"acme-app-{app}").inputs)["policy"])[
        "Statement"
    ]


def test_no_app_can_read_an_admin_credential(plan) -> None:
    """Apps hold no right on Secrets Manager (where RDS keeps the master
    password) but on their own secrets, and none of their pods can mount the
    Secret that holds it."""
    master = reveal(one(plan, "aws:rds/instance:Instance", "acme-orders").outputs)[
        "masterUserSecrets"
    ][0]["secretArn"]
    for stack in plan.stacks:
        if not stack.dir.startswith("06-apps/"):
            continue
        for record in stack.resources:
            text = json.dumps(reveal(record.inputs))
            if record.type == ROLE_POLICY:
                assert master not in text, stack.dir
                app = stack.dir.split("/", 1)[1]
                for statement in json.loads(reveal(record.inputs)["policy"])["Statement"]:
                    if any(a.startswith("secretsmanager:") for a in as_list(statement["Action"])):
                        own = f":secret:acme/prod/apps/{app}/"
                        assert all(own in r for r in as_list(statement["Resource"])), stack.dir
            if record.type == "kubernetes:apps/v1:Deployment":
                assert "orders-admin" not in text, stack.dir
    (secret,) = [
        r
        for r in records(plan, "kubernetes:core/v1:Secret")
        if reveal(r.inputs)["metadata"]["name"] == "orders-admin"
    ]
    assert reveal(secret.inputs)["metadata"]["namespace"] == "database-users"
    assert contains_secret(secret.inputs["stringData"])  # masked in plans, encrypted in state
    # No app runs in that namespace: the apps' namespaces are the declared ones.
    apps = [r for r in records(plan, "kubernetes:apps/v1:Deployment")]
    assert apps and all(reveal(r.inputs)["metadata"]["namespace"] != "database-users" for r in apps)


@pytest.mark.parametrize("app", SQL_APPS)
def test_each_app_signs_in_as_its_own_database_user(plan, app) -> None:
    user = app.replace("-", "_")
    db = one(plan, "aws:rds/instance:Instance", "acme-orders")
    prefix = f"arn:aws:rds-db:us-west-2:123456789012:dbuser:{db.outputs['resourceId']}/"
    (connect,) = [
        s
        for s in app_policy(plan, app)
        if s["Action"] == ["rds-db:connect"] and s["Resource"].startswith(prefix)
    ]
    assert connect["Resource"] == prefix + user  # this user only, on this instance only
    stack = plan.stack(f"06-apps/{app}")
    # (admin also uses the Aurora ledger: its user there has a Job of its own)
    (job,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:batch/v1:Job"
        and reveal(r.inputs)["metadata"]["namespace"] == "database-users"
        and r.name.startswith("orders-")
    ]
    (script,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:core/v1:ConfigMap"
        and "users.sql" in reveal(r.inputs).get("data", {})
        and r.name.startswith("orders-")
    ]
    sql = reveal(script.inputs)["data"]["users.sql"]
    assert f'CREATE ROLE "{user}" LOGIN;' in sql
    assert f'GRANT rds_iam TO "{user}";' in sql
    assert f'GRANT CONNECT ON DATABASE "orders" TO "{user}";' in sql
    assert "SUPERUSER" not in sql and "CREATEROLE" not in sql
    others = [u.replace("-", "_") for u in SQL_APPS if u != app]
    assert not any(f'"{other}"' in sql for other in others)
    spec = reveal(job.inputs)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert reveal(job.inputs)["metadata"]["namespace"] == "database-users"
    assert {v["name"]: v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v} == {
        "script": reveal(script.inputs)["metadata"]["name"]
    }
    env = {e["name"]: e for e in container["env"]}
    # The admin password is a file of the admin Secret, never a variable of the spec.
    assert "PGPASSWORD" not in env
    (admin,) = [v["secret"] for v in spec["volumes"] if "secret" in v]
    assert admin["secretName"] == "orders-admin"
    assert admin["items"] == [{"key": "password", "path": "password"}]
    assert 'PGPASSWORD="$(cat /admin/password)"' in container["command"][-1]
    assert env["PGHOST"]["value"] == db.outputs["address"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert spec["automountServiceAccountToken"] is False
    # The app waits for its user, and connects as it, with an IAM token.
    (deployment,) = [r for r in stack.resources if r.type == "kubernetes:apps/v1:Deployment"]
    assert job.urn in deployment.dependencies
    (connection,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:core/v1:Secret"
        and "ORDERS_USERNAME" in reveal(r.inputs).get("stringData", {})
    ]
    values = reveal(connection.inputs)["stringData"]
    assert values["ORDERS_USERNAME"] == user and values["ORDERS_AUTH"] == "iam"
    assert not any("PASSWORD" in key for key in values)


def test_mysql_users_sign_in_with_the_rds_plugin_and_fit_its_name_limit() -> None:
    from types import SimpleNamespace

    from crosswalk.providers.kubernetes.database_users import database_user, script

    long = SimpleNamespace(cloud_name="a-" * 19 + "pp")  # 40 characters
    user = database_user(long, "mysql")
    assert len(user) == 32 and user != database_user(SimpleNamespace(cloud_name="a" * 40), "mysql")
    sql = script("mysql", "orders", user, "AWSAuthenticationPlugin AS 'RDS'")
    assert f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED WITH AWSAuthenticationPlugin" in sql
    assert "REQUIRE SSL" in sql
    assert f"GRANT ALL PRIVILEGES ON `{user}`.* TO '{user}'@'%';" in sql


def test_a_mysql_app_is_told_the_database_its_user_owns(tmp_path) -> None:
    """A MySQL user has no schema: the app's Job makes a database named after
    its user, and the connection the app reads names that database."""
    data = yaml.safe_load((ROOT / "samples" / "aws" / "platform.yaml").read_text())
    (orders,) = [s for s in data["appServices"]["datastores"] if s["name"] == "orders"]
    orders |= {"engine": "mysql", "version": "8.0"}
    source = tmp_path / "platform.yaml"
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    result = compile_file(source, tmp_path / "out")
    assert result.files, [d.render() for d in result.report.errors]
    planned = plan_tree(tmp_path / "out", "prod", only=["06-apps/checkout"])
    stack = planned.stack("06-apps/checkout")
    assert stack.error is None, stack.error
    (script,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:core/v1:ConfigMap"
        and "users.sql" in reveal(r.inputs).get("data", {})
    ]
    (connection,) = [
        r
        for r in stack.resources
        if r.type == "kubernetes:core/v1:Secret"
        and "ORDERS_USERNAME" in reveal(r.inputs).get("stringData", {})
    ]
    values = reveal(connection.inputs)["stringData"]
    sql = reveal(script.inputs)["data"]["users.sql"]
    database, user = values["ORDERS_DATABASE"], values["ORDERS_USERNAME"]
    assert f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%';" in sql


def test_the_services_deployer_reads_only_the_platforms_master_secrets(plan) -> None:
    """app-services reads the master password for the apps' user Jobs: of the
    platform's instances, which RDS names in each secret's tag, and no other."""
    statements = policy_of(plan, "acme-ci-deploy-services")
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    assert [s["Condition"] for s in reads] == [
        {
            "StringLike": {
                "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": (
                    "arn:aws:rds:us-west-2:123456789012:db:acme-*"
                )
            }
        },
        {  # the sample's Aurora cluster's
            "ArnLike": {
                "secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn": (
                    "arn:aws:rds:us-west-2:123456789012:cluster:acme-*"
                )
            }
        },
    ]


def boundary_of(plan) -> tuple[str, list[dict]]:
    (boundary,) = records(plan, "aws:iam/policy:Policy", "01-identity")
    statements = json.loads(reveal(boundary.inputs)["policy"])["Statement"]
    assert {s["Effect"] for s in statements} == {"Allow"}
    return plan.stack("01-identity").exports["workload_boundary_arn"], statements


def allows(statements: list[dict], action: str, resource: str | None = None) -> bool:
    """Whether a statement allows `action` (on `resource`, when given), its
    condition aside: IAM grants the intersection of the role's policy and the
    boundary, so both must name the action and the resource."""
    import fnmatch

    return any(
        any(fnmatch.fnmatchcase(action, a) for a in as_list(s["Action"]))
        and (
            resource is None
            or any(fnmatch.fnmatchcase(resource, r) for r in as_list(s["Resource"]))
        )
        for s in statements
    )


# The actions of the AWS managed policies the cluster attaches to bounded roles
# (AWS Managed Policy Reference: AmazonEKS_CNI_Policy v6 of 2026-03-04,
# AmazonEBSCSIDriverPolicy v14 of 2026-02-12): they must stay within the boundary.
MANAGED_POLICY_ACTIONS = {
    "AmazonEKS_CNI_Policy": [
        "ec2:AssignPrivateIpAddresses",
        "ec2:AttachNetworkInterface",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeInstances",
        "ec2:DescribeTags",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DetachNetworkInterface",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:UnassignPrivateIpAddresses",
        "ec2:CreateTags",
    ],
    "AmazonEBSCSIDriverPolicy": [
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeInstances",
        "ec2:DescribeSnapshots",
        "ec2:DescribeTags",
        "ec2:DescribeVolumes",
        "ec2:DescribeVolumesModifications",
        "ec2:DescribeVolumeStatus",
        "ec2:CreateSnapshot",
        "ec2:ModifyVolume",
        "ec2:CopyVolumes",
        "ec2:AttachVolume",
        "ec2:DetachVolume",
        "ec2:CreateVolume",
        "ec2:EnableFastSnapshotRestores",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DeleteVolume",
        "ec2:DeleteSnapshot",
        "ec2:LockSnapshot",
    ],
}


def test_every_workload_role_is_capped_by_a_boundary_without_iam(plan) -> None:
    """Whatever a deployer writes into a workload role, the role may do no
    more than the boundary: no IAM, STS, organization or account action, no
    action that shares a resource with another account or the public, data
    only in this platform's buckets, tables, queues and keys; and what each
    workload's own policy asks is within it, action and resource."""
    arn, statements = boundary_of(plan)
    actions = [a for s in statements for a in as_list(s["Action"])]
    assert not [a for a in actions if a.split(":")[0] in {"iam", "sts", "organizations", "account"}]
    assert not [a for a in actions if a.split(":")[1] == "*"]
    for sharing in (
        "ec2:ModifySnapshotAttribute",
        "ec2:ModifyImageAttribute",
        "ec2:CreateNetworkInterfacePermission",
        "s3:PutObjectAcl",
        "s3:PutBucketPolicy",
        "kms:CreateGrant",
    ):
        assert not allows(statements, sharing), sharing
    # The database administrators' passwords (RDS's own secrets) are out of reach.
    master = "arn:aws:secretsmanager:us-west-2:123456789012:secret:rds!db-1a2b-x1y2z3"
    assert not allows(statements, "secretsmanager:GetSecretValue", master)
    # On "*" only reads AWS cannot narrow.
    for statement in statements:
        if statement["Resource"] == "*":
            assert all(
                a.split(":")[1].startswith(("Describe", "List", "Get")) for a in statement["Action"]
            )
    # Another team's bucket, table, queue or key of the same account is out of reach.
    other = {
        "s3:GetObject": "arn:aws:s3:::payroll-exports/2026/ledger.csv",
        "s3:PutObject": "arn:aws:s3:::payroll-exports/x",
        "dynamodb:GetItem": "arn:aws:dynamodb:us-west-2:123456789012:table/payroll",
        "sqs:ReceiveMessage": "arn:aws:sqs:us-west-2:123456789012:payroll-events",
        "logs:PutLogEvents": "arn:aws:logs:us-west-2:123456789012:log-group:/payroll/app",
        "s3:ListBucket": "arn:aws:s3:::acmeother-data",
        "dynamodb:Scan": "arn:aws:dynamodb:us-west-2:999999999999:table/acme-orders",
    }
    assert [a for a, r in other.items() if allows(statements, a, r)] == []
    (keys,) = [s for s in statements if "kms:Decrypt" in s["Action"]]
    assert keys["Condition"] == {"StringEquals": {"aws:ResourceTag/crosswalk/platform": "acme"}}

    made = [
        (stack.dir, r)
        for stack in plan.stacks
        if stack.dir != "01-identity"
        for r in stack.resources
        if r.type == "aws:iam/role:Role" and r.inputs  # (an empty record is a read)
    ]
    assert len(made) >= 7
    assert {r.name: r.inputs.get("permissionsBoundary") for _, r in made} == {
        r.name: arn for _, r in made
    }
    asked = [
        (r.name, action, resource)
        for stack in plan.stacks
        if stack.dir != "01-identity"
        for r in stack.resources
        if r.type == ROLE_POLICY
        for statement in json.loads(reveal(r.inputs)["policy"])["Statement"]
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]
    names = {a for _, a, _ in asked}
    assert {"rds-db:connect", "route53:ChangeResourceRecordSets", "s3:PutObject"} <= names
    assert {"sqs:SendMessage", "logs:PutLogEvents", "kms:Decrypt"} <= names
    assert "secretsmanager:GetSecretValue" in names  # checkout's own secrets
    assert [x for x in asked if not allows(statements, x[1], x[2])] == []
    attached = {
        r.inputs["policyArn"].rsplit("/", 1)[1]
        for stack in plan.stacks
        if stack.dir != "01-identity"
        for r in stack.resources
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    }
    assert attached == set(MANAGED_POLICY_ACTIONS)
    outside = [
        (policy, a)
        for policy, listed in MANAGED_POLICY_ACTIONS.items()
        for a in listed
        if not allows(statements, a)
    ]
    assert outside == []


def test_no_deployer_but_identitys_makes_a_role_without_the_boundary(plan) -> None:
    """A deployer that could make or fill a role without the boundary could
    make one that does more than it may itself, and act as it."""
    making = {
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:PutRolePermissionsBoundary",
    }
    never = {"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:*"}
    checked = 0
    for bot, layers in (
        ("deploy-apps", ["apps"]),
        ("deploy-services", ["app-services"]),
        ("deploy-platform", ["identity"]),
    ):
        statements = policy_of(plan, f"acme-ci-{bot}")
        granted = [s for s in statements if set(as_list(s["Action"])) & making]
        assert granted, bot
        if "identity" in layers:
            assert any(set(as_list(s["Action"])) & {"iam:CreatePolicyVersion"} for s in statements)
            continue
        for statement in statements:
            assert not set(as_list(statement["Action"])) & never, (bot, statement)
        for statement in granted:
            condition = statement.get("Condition", {}).get("StringLike", {})
            boundary = condition.get("iam:PermissionsBoundary")
            assert boundary and boundary.endswith(":policy/acme-workload-boundary-*"), statement
            checked += 1
    assert checked >= 2
