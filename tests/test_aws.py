"""The EKS cluster on pulumi-eks, read from the offline plan of the AWS
sample (and of the minimal one): the component's inputs as they would reach
the provider, the add-ons and their IRSA roles, who may reach the cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.plan import plan_tree

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def plan_of(sample: str, tmp_path_factory):
    out = tmp_path_factory.mktemp(sample)
    result = compile_file(ROOT / "samples" / sample / "platform.yaml", out)
    assert result.files, [d.render() for d in result.report.errors]
    plan = plan_tree(out, "dev")
    assert [s.dir for s in plan.stacks if s.error is not None] == []
    return out, plan


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    return plan_of("aws", tmp_path_factory)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory):
    return plan_of("minimal", tmp_path_factory)


def cluster_records(plan):
    return plan.stack("03-cluster").resources


def one(records, type_: str, name: str | None = None):
    found = [r for r in records if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, [(r.type, r.name) for r in records]
    return found[0]


def test_the_cluster_keeps_its_secure_defaults(aws) -> None:
    _, plan = aws
    records = cluster_records(plan)
    cluster = one(records, "eks:index:Cluster")
    inputs = reveal(cluster.inputs)
    assert cluster.remote  # a pulumi-eks component: one record, its inputs as sent
    assert inputs["name"] == "acme-cluster" and inputs["version"] == "1.35"
    assert inputs["authenticationMode"] == "API"
    assert inputs["upgradePolicy"] == {"supportType": "EXTENDED"}  # what rules.py assumes
    assert inputs["endpointPrivateAccess"] is True
    assert inputs["endpointPublicAccess"] is True
    assert inputs["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert set(inputs["enabledClusterLogTypes"]) >= {"api", "audit", "authenticator"}
    assert inputs["encryptionConfigKeyArn"].startswith("arn:aws:kms:")
    assert inputs["privateSubnetIds"] and "publicSubnetIds" not in inputs
    assert inputs["vpcId"].startswith("vpc-")
    assert inputs["skipDefaultNodeGroup"] is True and inputs["createOidcProvider"] is True
    # The control plane runs as the identity layer's role, read by name.
    role = one(records, "aws:iam/role:Role", "acme-cluster-role")
    assert role.operation == "read" and role.id == "acme-cluster"
    assert inputs["serviceRole"] == role.urn
    # The creator's admin is turned off by a transform on the component.
    assert any(
        "eks:index:Cluster 'acme-cluster': its transforms are not applied offline" in message
        for _, message in plan.stack("03-cluster").logs
    )


def test_node_groups_are_managed_private_and_wait_for_the_cni(aws) -> None:
    _, plan = aws
    records = cluster_records(plan)
    cluster = one(records, "eks:index:Cluster")
    cni = one(records, "eks:index:VpcCniAddon")
    subnets = reveal(cluster.inputs)["privateSubnetIds"]
    groups = [r for r in records if r.type == "eks:index:ManagedNodeGroup"]
    assert sorted(r.name for r in groups) == ["acme-batch", "acme-general"]
    for group in groups:
        inputs = reveal(group.inputs)
        assert inputs["cluster"] == cluster.urn
        assert inputs["nodeRoleArn"] == "arn:aws:iam::123456789012:role/acme-node"
        assert inputs["subnetIds"] == subnets
        assert inputs["ignoreScalingChanges"] is True
        assert cni.urn in group.dependencies
    batch = reveal(one(records, "eks:index:ManagedNodeGroup", "acme-batch").inputs)
    assert batch["capacityType"] == "SPOT"
    assert batch["taints"] == [{"key": "workload", "value": "batch", "effect": "NO_SCHEDULE"}]


def _role_of(records, arn: str):
    (role,) = [r for r in records if r.type == "aws:iam/role:Role" and r.outputs.get("arn") == arn]
    attached = [
        reveal(r.inputs)["policyArn"]
        for r in records
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
        and reveal(r.inputs)["role"] == role.outputs["name"]
    ]
    trust = json.loads(reveal(role.inputs)["assumeRolePolicy"])
    return role, attached, trust


def test_the_vpc_cni_enforces_network_policy_with_its_own_role(aws) -> None:
    _, plan = aws
    records = cluster_records(plan)
    cni = reveal(one(records, "eks:index:VpcCniAddon").inputs)
    assert cni["enableNetworkPolicy"] is True
    assert cni["clusterName"] == "acme-cluster"
    _, attached, trust = _role_of(records, cni["serviceAccountRoleArn"])
    assert attached == ["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    (subject,) = [
        v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")
    ]
    assert subject == "system:serviceaccount:kube-system:aws-node"


def test_the_node_role_no_longer_holds_the_cni_policy(aws) -> None:
    _, plan = aws
    identity = plan.stack("01-identity").resources
    attached = [
        reveal(r.inputs)["policyArn"]
        for r in identity
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
        and reveal(r.inputs)["role"] == "acme-node"
    ]
    assert "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy" in attached
    assert "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy" not in attached


def test_managed_add_ons_and_their_order(aws) -> None:
    _, plan = aws
    records = cluster_records(plan)
    cluster = one(records, "eks:index:Cluster")
    inputs = reveal(cluster.inputs)
    assert inputs["kubeProxyAddonOptions"] == {"enabled": True}
    assert inputs["corednsAddonOptions"] == {"enabled": False}  # managed below, after nodes
    groups = {r.urn for r in records if r.type == "eks:index:ManagedNodeGroup"}
    addons = {reveal(r.inputs)["addonName"]: r for r in records if r.type == "eks:index:Addon"}
    assert set(addons) == {"coredns", "aws-ebs-csi-driver"}
    for addon in addons.values():
        assert reveal(addon.inputs)["cluster"] == cluster.urn
        assert groups <= set(addon.dependencies)
    ebs = reveal(addons["aws-ebs-csi-driver"].inputs)
    _, attached, _ = _role_of(records, ebs["serviceAccountRoleArn"])
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]


def test_cluster_access_only_through_declared_entries(aws) -> None:
    _, plan = aws
    entries = reveal(one(cluster_records(plan), "eks:index:Cluster").inputs)["accessEntries"]
    assert sorted(entries) == [
        "ci-deploy-apps",
        "ci-deploy-apps-preview",  # each CI role's read-only twin views (test_ci_preview)
        "ci-deploy-platform",
        "ci-deploy-platform-preview",
        "ci-deploy-services",
        "ci-deploy-services-preview",
        "team-payments",
        "team-platform",
        "team-web",
    ]
    platform = entries["team-platform"]
    assert platform["principalArn"] == "arn:aws:iam::123456789012:role/acme-team-platform"
    assert platform["accessPolicies"]["cluster-admin"] == {
        "policyArn": ADMIN,
        "accessScope": {"type": "cluster"},
    }
    for team in ("team-payments", "team-web"):
        assert "accessPolicies" not in entries[team]  # their RoleBindings say what they may do
        assert entries[team]["kubernetesGroups"] == [f"acme:team:{team[5:]}"]
    for bot in ("ci-deploy-platform", "ci-deploy-services"):  # they install cluster-wide charts
        assert entries[bot]["accessPolicies"]["deploy"]["policyArn"] == ADMIN
    apps = entries["ci-deploy-apps"]["accessPolicies"]["deploy"]
    assert apps["policyArn"].endswith("/AmazonEKSAdminPolicy")
    assert apps["accessScope"] == {
        "type": "namespace",
        # and where its apps' database user Jobs run
        "namespaces": ["payments", "storefront", "internal", "database-users"],
    }


def test_the_deployer_gets_an_entry_only_when_nobody_administers(minimal, aws) -> None:
    """Without an admin team or a CI identity deploying the cluster, the
    identity running the deploy is named in an entry (an assumed role is
    traced back to its role), so it is not locked out of its own cluster."""
    _, plan = minimal
    entries = reveal(one(cluster_records(plan), "eks:index:Cluster").inputs)["accessEntries"]
    assert entries == {
        "deployer": {
            "principalArn": "arn:aws:iam::123456789012:user/crosswalk-plan",
            "accessPolicies": {
                "cluster-admin": {"policyArn": ADMIN, "accessScope": {"type": "cluster"}}
            },
        }
    }
    _, plan = aws
    assert (
        "deployer"
        not in reveal(one(cluster_records(plan), "eks:index:Cluster").inputs)["accessEntries"]
    )


def test_a_session_is_traced_back_to_its_role() -> None:
    from crosswalk.compiler.mock_outputs import InvokeContext
    from crosswalk.providers.aws.mocks import INVOKE_RESULTS

    answer = INVOKE_RESULTS["aws:iam/getSessionContext:getSessionContext"]
    session = "arn:aws:sts::123456789012:assumed-role/Deployer/ci-run-7"
    context = InvokeContext("t", {"arn": session}, "us-west-2", "", "", None)
    assert answer(context)["issuerArn"] == "arn:aws:iam::123456789012:role/Deployer"


def test_no_creator_admin_transform() -> None:
    """The transform the cluster program registers: it turns the creator's
    admin off on the EKS cluster pulumi-eks makes, and leaves the rest alone."""
    import pulumi

    from crosswalk.providers.aws.cluster import NO_CREATOR_ADMIN

    namespace: dict = {"pulumi": pulumi}
    exec(NO_CREATOR_ADMIN, namespace)  # noqa: S102 - crosswalk's own helper, as programs hold it
    transform = namespace["no_creator_admin"]
    options = pulumi.ResourceOptions()
    args = pulumi.ResourceTransformArgs(
        True,
        "aws:eks/cluster:Cluster",
        "acme-cluster-eksCluster",
        {"accessConfig": {"authenticationMode": "API"}, "name": "acme-cluster"},
        options,
    )
    result = transform(args)
    assert result.props == {
        "accessConfig": {
            "authenticationMode": "API",
            "bootstrapClusterCreatorAdminPermissions": False,
        },
        "name": "acme-cluster",
    }
    assert result.opts is options
    other = pulumi.ResourceTransformArgs(True, "aws:iam/role:Role", "r", {}, options)
    assert transform(other) is None
    with pytest.raises(TypeError):
        transform(pulumi.ResourceTransformArgs(True, "aws:eks/cluster:Cluster", "c", {}, options))


def test_the_program_registers_the_transform_on_the_cluster(aws) -> None:
    out, _ = aws
    program = (out / "03-cluster" / "__main__.py").read_text()
    start = program.index('cluster = eks.Cluster(\n    "acme-cluster",')
    end = program.index("\n)\n", start)
    assert "transforms=[\n            no_creator_admin,\n        ]" in program[start:end]


def test_exports_other_layers_read_keep_their_names(aws) -> None:
    _, plan = aws
    exports = plan.stack("03-cluster").exports
    assert {
        "cluster_name",
        "kubeconfig",
        "oidc_provider_arn",
        "oidc_provider_url",
        "cluster_security_group_id",
    } <= set(exports)
    assert reveal(exports["cluster_name"]) == "acme-cluster"
    kubeconfig = json.loads(reveal(exports["kubeconfig"]))
    user = kubeconfig["users"][0]["user"]["exec"]
    assert user["command"] == "aws" and "acme-cluster" in user["args"]


# --- least privilege of the identity layer (teams without members, CI policies) ---------

MEMBERLESS_ADMIN = """\
apiVersion: crosswalk/v1
kind: Platform
name: demo
cloud: {provider: aws, region: us-west-2}
identity:
  teams:
    - {name: ops, access: admin}
    - name: web
      access: developer
      members: ["arn:aws:iam::123456789012:role/WebTeam"]
      namespaces: [web]
cluster:
  nodePools: [{name: general}]
  namespaces: [{name: web, team: web}]
"""


def plan_of_text(text: str, tmp_path_factory, name: str):
    source = tmp_path_factory.mktemp(name) / "platform.yaml"
    source.write_text(text, encoding="utf-8")
    out = source.parent / "out"
    result = compile_file(source, out)
    assert result.files, [d.render() for d in result.report.errors]
    plan = plan_tree(out, "dev")
    assert [s.dir for s in plan.stacks if s.error is not None] == []
    return out, plan


def test_a_team_without_members_grants_nothing(tmp_path_factory) -> None:
    """No role trusting the whole account (any principal allowed
    sts:AssumeRole on * would become the team), no export, no access entry;
    with no admin team left, the deployer keeps its entry."""
    _, plan = plan_of_text(MEMBERLESS_ADMIN, tmp_path_factory, "memberless")
    identity = plan.stack("01-identity")
    roles = {r.name: r for r in identity.resources if r.type == "aws:iam/role:Role"}
    assert "demo-team-ops" not in roles and "demo-team-web" in roles
    for role in roles.values():
        for statement in json.loads(reveal(role.inputs)["assumeRolePolicy"])["Statement"]:
            assert not str(statement.get("Principal", {}).get("AWS", "")).endswith(":root")
    assert "team_ops_role_arn" not in identity.exports
    entries = reveal(one(cluster_records(plan), "eks:index:Cluster").inputs)["accessEntries"]
    assert sorted(entries) == ["deployer", "team-web"]
    assert entries["deployer"]["accessPolicies"]["cluster-admin"]["policyArn"] == ADMIN
    assert "accessPolicies" not in entries["team-web"]


FULL = """\
apiVersion: crosswalk/v1
kind: Platform
name: demo
cloud: {provider: aws, region: us-west-2, account: "123456789012"}
identity:
  teams:
    - {name: ops, access: admin, members: ["arn:aws:iam::123456789012:role/Ops"]}
  automation:
AUTOMATION
registries: [{name: images}]
analytics: {warehouses: [{name: lake}]}
vms: [{name: admin, teams: [ops]}]
cluster:
  nodePools: [{name: general}]
  namespaces: [{name: shop}]
appServices:
  dns: {zone: example.com}
  certificates: {email: ops@example.com}
  datastores:
    - {name: orders, engine: postgres}
    - {name: cache, engine: redis}
    - {name: events, engine: queue}
    - {name: carts, engine: document}
apps:
  - name: checkout
    namespace: shop
    image: ghcr.io/demo/checkout:1.0
    uses: [orders, cache, events, carts, {warehouse: lake}]
"""
LAYERS = ("identity", "managed-infra", "cluster", "cluster-services", "app-services", "apps")
STACKS = {
    "identity": "01-identity",
    "managed-infra": "02-managed-infra",
    "cluster": "03-cluster",
    "cluster-services": "04-cluster-services",
    "app-services": "05-app-services",
    "apps": "06-apps/",
}


def full_platform(bots: dict[str, list[str]], name: str = "demo") -> str:
    automation = "\n".join(
        f"    - {{name: {bot}, github: {{repository: demo/platform, ref: refs/heads/main}}, "
        f"layers: [{', '.join(layers)}]}}"
        for bot, layers in bots.items()
    )
    return FULL.replace("AUTOMATION", automation).replace("name: demo\n", f"name: {name}\n", 1)


@pytest.fixture(scope="module")
def per_layer(tmp_path_factory):
    """Every kind of resource crosswalk makes on AWS, and one CI identity per layer."""
    return plan_of_text(
        full_platform({f"ci-{layer}": [layer] for layer in LAYERS}), tmp_path_factory, "full"
    )


def ci_policy(plan, platform: str, bot: str) -> dict:
    (policy,) = [
        r
        for r in plan.stack("01-identity").resources
        if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name == f"{platform}-ci-{bot}"
    ]
    return json.loads(reveal(policy.inputs)["policy"])


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def allows(document: dict, action: str, resource: str | None = None) -> bool:
    """Whether an Allow statement names the action (and, when given, a
    resource pattern matching the ARN), whatever its condition."""
    from fnmatch import fnmatchcase

    return any(
        any(fnmatchcase(action.lower(), a.lower()) for a in as_list(st["Action"]))
        and (resource is None or any(fnmatchcase(resource, r) for r in as_list(st["Resource"])))
        for st in document["Statement"]
        if st["Effect"] == "Allow"
    )


# What a deploy identity must be allowed to make each type the programs register.
TYPE_ACTIONS = {
    "aws:iam/role:Role": ["iam:CreateRole", "iam:TagRole", "iam:GetRole", "iam:DeleteRole"],
    "aws:iam/rolePolicy:RolePolicy": ["iam:PutRolePolicy", "iam:DeleteRolePolicy"],
    "aws:iam/policy:Policy": ["iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["iam:AttachRolePolicy"],
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ["iam:CreateOpenIDConnectProvider"],
    "aws:ec2/vpc:Vpc": ["ec2:CreateVpc", "ec2:ModifyVpcAttribute", "ec2:DescribeVpcs"],
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": [
        "ec2:CreateTags",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
    ],
    "aws:ec2/subnet:Subnet": ["ec2:CreateSubnet", "ec2:ModifySubnetAttribute"],
    "aws:ec2/internetGateway:InternetGateway": [
        "ec2:CreateInternetGateway",
        "ec2:AttachInternetGateway",
    ],
    "aws:ec2/routeTable:RouteTable": ["ec2:CreateRouteTable", "ec2:CreateRoute"],
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ["ec2:AssociateRouteTable"],
    "aws:ec2/eip:Eip": ["ec2:AllocateAddress", "ec2:ReleaseAddress"],
    "aws:ec2/natGateway:NatGateway": ["ec2:CreateNatGateway", "ec2:DeleteNatGateway"],
    "aws:ec2/securityGroup:SecurityGroup": [
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
    ],
    "aws:kms/key:Key": ["kms:CreateKey", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion"],
    "aws:kms/alias:Alias": ["kms:CreateAlias"],
    "aws:ecr/repository:Repository": ["ecr:CreateRepository", "kms:CreateGrant"],
    "aws:route53/zone:Zone": ["route53:CreateHostedZone", "route53:ChangeTagsForResource"],
    "aws:rds/subnetGroup:SubnetGroup": ["rds:CreateDBSubnetGroup"],
    "aws:rds/instance:Instance": [
        "rds:CreateDBInstance",
        "rds:AddTagsToResource",
        "secretsmanager:CreateSecret",
        "iam:CreateServiceLinkedRole",
    ],
    "aws:elasticache/subnetGroup:SubnetGroup": ["elasticache:CreateCacheSubnetGroup"],
    "aws:elasticache/replicationGroup:ReplicationGroup": [
        "elasticache:CreateReplicationGroup",
        "secretsmanager:GetRandomPassword",
    ],
    "aws:sqs/queue:Queue": ["sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:TagQueue"],
    "aws:redshiftserverless/namespace:Namespace": [
        "redshift-serverless:CreateNamespace",
        "redshift-serverless:TagResource",
        "secretsmanager:CreateSecret",
        "kms:CreateGrant",
    ],
    "aws:redshiftserverless/workgroup:Workgroup": [
        "redshift-serverless:CreateWorkgroup",
        "iam:CreateServiceLinkedRole",
    ],
    "aws:dynamodb/table:Table": ["dynamodb:CreateTable", "dynamodb:UpdateContinuousBackups"],
    "eks:index:Cluster": [
        "eks:CreateCluster",
        "eks:CreateAccessEntry",
        "eks:AssociateAccessPolicy",
        "iam:CreateOpenIDConnectProvider",
        "iam:PassRole",
        "kms:CreateGrant",
        "iam:CreateServiceLinkedRole",
    ],
    "eks:index:ManagedNodeGroup": ["eks:CreateNodegroup", "iam:PassRole"],
    "eks:index:VpcCniAddon": ["eks:CreateAddon", "iam:PassRole"],
    "eks:index:Addon": ["eks:CreateAddon"],
    "aws:cloudwatch/logGroup:LogGroup": [
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "logs:AssociateKmsKey",
    ],
    "aws:ec2/flowLog:FlowLog": ["ec2:CreateFlowLogs", "ec2:DeleteFlowLogs", "iam:PassRole"],
    "aws:ec2/instance:Instance": [
        "ec2:RunInstances",
        "ec2:TerminateInstances",
        "ec2:ModifyInstanceMetadataOptions",
        "iam:PassRole",
        "kms:CreateGrant",
        "kms:GenerateDataKeyWithoutPlaintext",
        "ssm:GetParameter",
    ],
    "aws:iam/instanceProfile:InstanceProfile": [
        "iam:CreateInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "iam:DeleteInstanceProfile",
        "iam:PassRole",
    ],
    "aws:rds/parameterGroup:ParameterGroup": [
        "rds:CreateDBParameterGroup",
        "rds:ModifyDBParameterGroup",
    ],
    "aws:route53/keySigningKey:KeySigningKey": [
        "route53:CreateKeySigningKey",
        "route53:ActivateKeySigningKey",
    ],
    "aws:route53/hostedZoneDnsSec:HostedZoneDnsSec": ["route53:EnableHostedZoneDNSSEC"],
    "aws:route53/queryLog:QueryLog": ["route53:CreateQueryLoggingConfig"],
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": ["logs:PutResourcePolicy"],
}
READ_ONLY = ("Describe", "List", "Get")
# Writes AWS offers on "*" only (no resource type to name).
UNRESTRICTABLE_WRITES = {"route53:CreateHostedZone", "secretsmanager:GetRandomPassword"}


def layer_records(plan, layer: str):
    return [
        r
        for s in plan.stacks
        if s.dir == STACKS[layer]
        or (STACKS[layer].endswith("/") and s.dir.startswith(STACKS[layer]))
        for r in s.resources
        if not r.type.startswith(("kubernetes:", "pulumi:"))
    ]


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layers_deploy_identity_may_make_what_its_programs_make(per_layer, layer) -> None:
    _, plan = per_layer
    policy = ci_policy(plan, "demo", f"ci-{layer}")
    records = layer_records(plan, layer)
    assert records
    for record in records:
        assert record.type in TYPE_ACTIONS, f"{record.type}: say what deploying it takes"
        if record.operation == "read":
            # The identity layer's role, read by its name.
            arn = "arn:aws:iam::123456789012:role/" + record.id
            assert allows(policy, "iam:GetRole", arn), record.name
            continue
        for action in TYPE_ACTIONS[record.type]:
            assert allows(policy, action), (layer, record.type, action)
        if record.type == "aws:iam/role:Role":
            # Pulumi names the role after the resource, with a random suffix.
            arn = record.outputs["arn"] + "-1a2b3c4"
            for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRole"):
                assert allows(policy, action, arn), (layer, record.name, action)


def test_a_layers_deploy_identity_manages_only_its_own_roles(per_layer) -> None:
    _, plan = per_layer
    apps = ci_policy(plan, "demo", "ci-apps")
    assert not allows(apps, "iam:PutRolePolicy", "arn:aws:iam::123456789012:role/demo-ci-ci-apps")
    assert not allows(apps, "iam:CreateRole", "arn:aws:iam::123456789012:role/other-app-x")
    services = ci_policy(plan, "demo", "ci-cluster-services")
    assert not allows(services, "iam:PutRolePolicy", "arn:aws:iam::123456789012:role/demo-node")
    assert allows(services, "iam:PutRolePolicy", "arn:aws:iam::123456789012:role/demo-fluent-bit-1")
    # managed-infra makes no role: it only passes the identity layer's flow-log
    # role and its VMs' roles, and lets AWS make Redshift's service-linked role
    # for the warehouses.
    infra = ci_policy(plan, "demo", "ci-managed-infra")["Statement"]
    iam = [st for st in infra if any(a.startswith("iam:") for a in as_list(st["Action"]))]
    assert sorted(
        (st["Action"], st["Resource"], json.dumps(st.get("Condition"), sort_keys=True))
        for st in iam
    ) == [
        (
            ["iam:CreateServiceLinkedRole"],
            "arn:aws:iam::123456789012:role/aws-service-role/*",
            json.dumps({"StringEquals": {"iam:AWSServiceName": ["redshift.amazonaws.com"]}}),
        ),
        (
            ["iam:PassRole"],
            "arn:aws:iam::123456789012:role/demo-vm-*",
            json.dumps({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}),
        ),
        (
            ["iam:PassRole"],
            "arn:aws:iam::123456789012:role/demo-vpc-flow-logs",
            json.dumps({"StringEquals": {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}}),
        ),
    ]


FORBIDDEN = {
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:AddUserToGroup",
    "iam:DeleteRolePermissionsBoundary",
    "sts:AssumeRole",
}


@pytest.mark.parametrize("layer", LAYERS)
def test_deploy_identities_hold_no_write_on_everything(per_layer, layer) -> None:
    """Every write is limited to the platform's resources by ARN or by a
    condition; IAM never on "*"; nothing that makes static credentials or
    rewrites a managed policy."""
    _, plan = per_layer
    policy = ci_policy(plan, "demo", f"ci-{layer}")
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        assert "*" not in actions and not any(a.endswith(":*") for a in actions)
        # The identity layer updates the workload boundary (a new version of that policy only).
        boundary = as_list(statement["Resource"]) == [
            "arn:aws:iam::123456789012:policy/demo-workload-boundary-*"
        ]
        for action in FORBIDDEN - ({"iam:CreatePolicyVersion"} if boundary else set()):
            assert not allows({"Statement": [statement]}, action), action
        if "*" in as_list(statement["Resource"]) and "Condition" not in statement:
            for action in actions:
                assert (
                    action.split(":")[1].startswith(READ_ONLY) or action in UNRESTRICTABLE_WRITES
                ), action
                assert not action.startswith("iam:") or action == "iam:ListOpenIDConnectProviders"
        if "iam:PassRole" in actions:
            assert actions == ["iam:PassRole"] and "*" not in as_list(statement["Resource"])
            assert statement["Condition"]["StringEquals"]["iam:PassedToService"]
        if "iam:AttachRolePolicy" in actions:
            attached = statement["Condition"]["ArnEquals"]["iam:PolicyARN"]
            assert attached and all(a.startswith("arn:aws:iam::aws:policy/") for a in attached)


def test_roles_are_passed_only_to_eks_and_attached_only_the_platforms_policies(per_layer) -> None:
    _, plan = per_layer
    policy = ci_policy(plan, "demo", "ci-cluster")
    passed = {
        r: st["Condition"]["StringEquals"]["iam:PassedToService"]
        for st in policy["Statement"]
        if "iam:PassRole" in as_list(st["Action"])
        for r in as_list(st["Resource"])
    }
    account = "arn:aws:iam::123456789012:role/"
    assert passed == {
        account + "demo-cluster": "eks.amazonaws.com",
        account + "demo-vpc-cni-*": "eks.amazonaws.com",
        account + "demo-ebs-csi-*": "eks.amazonaws.com",
        account + "demo-node": ["eks.amazonaws.com", "ec2.amazonaws.com"],
    }
    attached = {
        reveal(r.inputs)["policyArn"]
        for layer in LAYERS
        for r in layer_records(plan, layer)
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    }
    allowed = {
        arn
        for layer in LAYERS
        for st in ci_policy(plan, "demo", f"ci-{layer}")["Statement"]
        if "iam:AttachRolePolicy" in as_list(st["Action"])
        for arn in st["Condition"]["ArnEquals"]["iam:PolicyARN"]
    }
    assert allowed == attached


def test_tagged_and_tagging_conditions_name_the_platform(per_layer) -> None:
    _, plan = per_layer
    policy = ci_policy(plan, "demo", "ci-managed-infra")
    conditions = [st.get("Condition", {}).get("StringEquals", {}) for st in policy["Statement"]]
    assert {"aws:ResourceTag/crosswalk/platform": "demo"} in conditions
    assert {"aws:RequestTag/crosswalk/platform": "demo"} in conditions
    create_tags = [c for c in conditions if "ec2:CreateAction" in c]
    assert create_tags and "CreateVpc" in create_tags[0]["ec2:CreateAction"]


def test_deploy_policies_are_measured_as_aws_counts_them(per_layer) -> None:
    """Validation's measure of a deploy policy (CW515) is the size of the
    policy the program makes."""
    from crosswalk.compiler.document import parse_document
    from crosswalk.compiler.model import build_platform
    from crosswalk.providers.aws.deploy_policy import policy_size

    document, _ = parse_document(
        full_platform({f"ci-{layer}": [layer] for layer in LAYERS}).encode(), "platform.yaml"
    )
    platform = build_platform(document.data)
    _, plan = per_layer
    for layer in LAYERS:
        policy = ci_policy(plan, "demo", f"ci-{layer}")
        made = len(json.dumps(policy, separators=(",", ":")))
        # The offline plan's roles lack the 8 characters Pulumi adds to their names.
        passed = sum(
            not arn.endswith("*")
            for st in policy["Statement"]
            if st["Action"] in (["iam:PassRole"], ["iam:GetRole"])
            for arn in as_list(st["Resource"])
        )
        assert policy_size(platform, [layer]) == made + 8 * passed, layer


def test_one_identity_for_every_layer_is_split_when_aws_cannot_hold_its_policy(
    tmp_path_factory,
) -> None:
    """AWS holds 10,240 characters (whitespace aside) of inline policies per
    role. A platform of the longest name with every kind of resource: one
    identity for all its layers is refused at its layers, naming the size;
    the platform's layers and the apps' fit, each with what its layers make."""
    from crosswalk.compiler.document import parse_document
    from crosswalk.compiler.pipeline import check_document

    name = "a" * 20
    text = full_platform({"all": list(LAYERS)}, name=name)
    document, _ = parse_document(text.encode(), "platform.yaml")
    (error,) = [d for d in check_document(document).report.errors]
    assert error.code == "CW515" and "10,240" in error.message
    assert "layers: [identity" in text.splitlines()[error.span.line - 1]
    split = {"platform": list(LAYERS[:4]), "services": list(LAYERS[4:])}
    _, plan = plan_of_text(full_platform(split, name=name), tmp_path_factory, "longest")
    for bot, layers in split.items():
        policy = ci_policy(plan, name, bot)
        assert len(json.dumps(policy, separators=(",", ":"))) <= 10_240
        for layer in layers:
            for record in layer_records(plan, layer):
                if record.operation != "read":
                    for action in TYPE_ACTIONS[record.type]:
                        assert allows(policy, action), (layer, record.type, action)


def test_ci_identities_write_only_their_own_stacks_state_and_use_its_key(aws) -> None:
    # The sample keeps its state in s3://acme-platform-state under a KMS alias.
    state = "arn:aws:s3:::acme-platform-state/.pulumi"
    own = {
        "deploy-platform": ["acme-identity", "acme-managed-infra", "acme-cluster"],
        "deploy-services": ["acme-app-services"],
        "deploy-apps": ["acme-app-admin", "acme-app-storefront"],
    }
    from fnmatch import fnmatchcase

    def denies(policy, action, resource):
        return any(
            st["Effect"] == "Deny"
            and action in as_list(st["Action"])
            and any(fnmatchcase(resource, r) for r in as_list(st["Resource"]))
            for st in policy["Statement"]
        )

    for bot, projects in own.items():
        policy = ci_policy(aws[1], "acme", bot)
        assert allows(policy, "s3:ListBucket", "arn:aws:s3:::acme-platform-state")
        for project in [p for ps in own.values() for p in ps]:
            stack = f"{state}/stacks/organization/{project}/dev.json"
            assert allows(policy, "s3:GetObject", stack)  # StackReferences read upstream
            writes = allows(policy, "s3:PutObject", stack) and not denies(
                policy, "s3:PutObject", stack
            )
            assert writes == (project in projects), (bot, project)
            lock = f"{state}/locks/organization/{project}/dev/1.json"
            deletes = allows(policy, "s3:DeleteObject", lock) and not denies(
                policy, "s3:DeleteObject", lock
            )
            assert deletes == (project in projects), (bot, project)
        assert not allows(policy, "s3:PutObject", "arn:aws:s3:::acme-platform-state/other")
        (key,) = [
            st
            for st in policy["Statement"]
            if "kms:Decrypt" in as_list(st["Action"]) and "kms:ResourceAliases" in json.dumps(st)
        ]
        assert key["Condition"] == {
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/acme-pulumi"}
        }
        assert set(as_list(key["Action"])) == {"kms:Decrypt", "kms:Encrypt"}


# --- buckets (storage.buckets) ----------------------------------------------------------


def bucket_parts(plan, name: str) -> dict:
    """Every record of one S3 bucket's, by type's last part: its settings are
    resources of their own."""
    found = {
        r.type.rsplit(":", 1)[1]: r
        for r in plan.stack("02-managed-infra").resources
        if r.type.startswith("aws:s3/") and r.name == name
    }
    assert "Bucket" in found, sorted({r.name for r in plan.stack("02-managed-infra").resources})
    return found


def bucket_statements(parts: dict) -> list[dict]:
    return json.loads(reveal(parts["BucketPolicy"].inputs)["policy"])["Statement"]


def test_buckets_are_private_encrypted_tls_only_versioned_and_logged(aws) -> None:
    _, plan = aws
    infra = plan.stack("02-managed-infra")
    key = infra.exports["secrets_key_arn"]
    parts = bucket_parts(plan, "acme-assets")
    bucket = parts["Bucket"]
    name = reveal(bucket.inputs)["bucket"]
    assert name == "acme-assets-123456789012"  # the account's id: unique across AWS
    assert bucket.protect and reveal(bucket.inputs)["forceDestroy"] is False
    blocks = reveal(parts["BucketPublicAccessBlock"].inputs)
    for setting in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"):
        assert blocks[setting] is True, setting
    assert blocks["restrictPublicBuckets"] is True
    ownership = reveal(parts["BucketOwnershipControls"].inputs)["rule"]
    assert ownership == {"objectOwnership": "BucketOwnerEnforced"}  # no ACLs
    (rule,) = reveal(parts["BucketServerSideEncryptionConfiguration"].inputs)["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key,
    }
    assert rule["bucketKeyEnabled"] is True
    versioning = reveal(parts["BucketVersioning"].inputs)["versioningConfiguration"]
    assert versioning == {"status": "Enabled"}
    (tls,) = [s for s in bucket_statements(parts) if s["Effect"] == "Deny"]
    assert tls["Principal"] == "*" and tls["Action"] == "s3:*"
    assert tls["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    logging = reveal(parts["BucketLogging"].inputs)
    assert logging["targetBucket"] == "acme-access-logs-123456789012"
    assert logging["targetPrefix"] == f"{name}/"
    # S3 uses the platform key only where the key policy lets it.
    key_record = one(infra.resources, "aws:kms/key:Key")
    (through,) = [
        s
        for s in json.loads(reveal(key_record.inputs)["policy"])["Statement"]
        if s["Sid"] == "UseOnlyThroughPlatformServices"
    ]
    assert "s3.us-west-2.amazonaws.com" in through["Condition"]["StringEquals"]["kms:ViaService"]
    assert infra.exports["bucket_assets_name"] == name


def test_the_access_log_bucket_is_private_and_takes_only_this_accounts_logs(aws) -> None:
    _, plan = aws
    parts = bucket_parts(plan, "acme-access-logs")
    assert parts["Bucket"].protect and "BucketLogging" not in parts
    blocks = reveal(parts["BucketPublicAccessBlock"].inputs)
    assert all(blocks[k] is True for k in blocks if k != "bucket") and len(blocks) == 5
    assert reveal(parts["BucketOwnershipControls"].inputs)["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    (rule,) = reveal(parts["BucketServerSideEncryptionConfiguration"].inputs)["rules"]
    # S3's log delivery writes only to buckets encrypted with S3's own keys.
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert reveal(parts["BucketVersioning"].inputs)["versioningConfiguration"]["status"] == (
        "Enabled"
    )
    (rules,) = [reveal(parts["BucketLifecycleConfiguration"].inputs)["rules"]]
    assert rules[0]["expiration"] == {"days": 365}
    statements = bucket_statements(parts)
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)
    (delivery,) = [s for s in statements if s["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def app_policy(plan, app: str) -> list[dict]:
    records = plan.stack(f"06-apps/{app}").resources
    policy = one(records, "aws:iam/rolePolicy:RolePolicy")
    return json.loads(reveal(policy.inputs)["policy"])["Statement"]


def s3_grants(statements) -> dict:
    """Resource -> actions of the S3 statements."""
    out: dict = {}
    for s in statements:
        if any(a.startswith("s3:") for a in s["Action"]):
            out.setdefault(s["Resource"], set()).update(s["Action"])
    return out


def test_apps_get_exactly_the_buckets_they_use_with_their_access(aws) -> None:
    _, plan = aws
    bucket = "arn:aws:s3:::acme-assets-123456789012"
    key = plan.stack("02-managed-infra").exports["secrets_key_arn"]
    via_s3 = {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
    # storefront: read-only.
    storefront = app_policy(plan, "storefront")
    assert s3_grants(storefront) == {
        bucket: {"s3:ListBucket", "s3:GetBucketLocation"},
        f"{bucket}/*": {"s3:GetObject", "s3:GetObjectVersion"},
    }
    (kms,) = [s for s in storefront if s["Action"][0].startswith("kms:")]
    assert kms["Action"] == ["kms:Decrypt"] and kms["Resource"] == key
    assert kms["Condition"] == via_s3
    # admin: read-write.
    admin = app_policy(plan, "admin")
    writes = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
    assert s3_grants(admin)[f"{bucket}/*"] >= writes | {"s3:GetObject"}
    assert set(s3_grants(admin)) == {bucket, f"{bucket}/*"}
    (kms,) = [s for s in admin if s["Action"][0].startswith("kms:")]
    assert "kms:GenerateDataKey*" in kms["Action"] and kms["Condition"] == via_s3
    # checkout uses no bucket: no S3 right at all.
    assert s3_grants(app_policy(plan, "checkout")) == {}
    # Each app learns where its bucket is.
    deployment = one(plan.stack("06-apps/storefront").resources, "kubernetes:apps/v1:Deployment")
    (container,) = reveal(deployment.inputs)["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {"name": "ASSETS_BUCKET", "value": "acme-assets-123456789012"},
        {
            "name": "ASSETS_BUCKET_ENDPOINT",
            "value": "https://acme-assets-123456789012.s3.us-west-2.amazonaws.com",
        },
    ]


def test_the_managed_infra_deployer_may_manage_the_platforms_buckets_only(aws) -> None:
    _, plan = aws
    records = plan.stack("01-identity").resources
    policy = one(records, "aws:iam/rolePolicy:RolePolicy", "acme-ci-deploy-platform")
    statements = json.loads(reveal(policy.inputs)["policy"])["Statement"]
    (buckets,) = [s for s in statements if "s3:CreateBucket" in s["Action"]]
    assert buckets["Resource"] == "arn:aws:s3:::acme-*-123456789012"
    assert "s3:PutBucketPolicy" not in buckets["Action"]  # by wildcard: s3:PutBucket*
    assert "s3:PutBucket*" in buckets["Action"] and "s3:*" not in buckets["Action"]
    # The apps deployer makes no bucket.
    apps = one(records, "aws:iam/rolePolicy:RolePolicy", "acme-ci-deploy-apps")
    assert "s3:CreateBucket" not in reveal(apps.inputs)["policy"]


# --- Aurora (flavor: aurora | aurora-serverless) ----------------------------------------


def aurora_records(plan):
    records = plan.stack("05-app-services").resources
    cluster = one(records, "aws:rds/cluster:Cluster")
    instances = [r for r in records if r.type == "aws:rds/clusterInstance:ClusterInstance"]
    return cluster, instances, records


def test_an_aurora_datastore_is_an_encrypted_iam_cluster_across_zones(aws) -> None:
    _, plan = aws
    cluster, instances, records = aurora_records(plan)
    args = reveal(cluster.inputs)
    assert cluster.protect and cluster.name == "acme-ledger"
    assert args["engine"] == "aurora-postgresql" and args["engineVersion"] == "16.6"
    assert args["storageEncrypted"] is True
    # With the platform key, which lets RDS use it (through a grant the deployer may ask for).
    key_arn = plan.stack("02-managed-infra").exports["secrets_key_arn"]
    assert args["kmsKeyId"] == key_arn
    (key,) = [r for r in plan.stack("02-managed-infra").resources if r.type == "aws:kms/key:Key"]
    (via,) = [
        s["Condition"]["StringEquals"]["kms:ViaService"]
        for s in json.loads(reveal(key.inputs)["policy"])["Statement"]
        if s.get("Sid") == "UseOnlyThroughPlatformServices"
    ]
    assert "rds.us-west-2.amazonaws.com" in via
    (deployer,) = [
        r
        for r in plan.stack("01-identity").resources
        if r.name == "acme-ci-deploy-services" and r.type == "aws:iam/rolePolicy:RolePolicy"
    ]
    grants = [
        s
        for s in json.loads(reveal(deployer.inputs)["policy"])["Statement"]
        if "kms:CreateGrant" in as_list(s["Action"])
    ]
    assert grants and all(s.get("Condition") for s in grants)
    assert args["iamDatabaseAuthenticationEnabled"] is True
    assert args["deletionProtection"] is True  # the sample protects every environment
    assert args["skipFinalSnapshot"] is False and args["finalSnapshotIdentifier"]
    assert args["backupRetentionPeriod"] == 7 and args["manageMasterUserPassword"] is True
    assert args["enabledCloudwatchLogsExports"] == ["postgresql"]
    assert "serverlessv2ScalingConfiguration" not in args
    group = one(records, "aws:rds/clusterParameterGroup:ClusterParameterGroup")
    assert args["dbClusterParameterGroupName"] == group.name
    parameters = {p["name"]: p["value"] for p in reveal(group.inputs)["parameters"]}
    assert parameters["rds.force_ssl"] == "1" and parameters["log_connections"] == "1"
    # A writer and a reader, each in its own zone, private.
    assert len(instances) == 2
    zones = {reveal(i.inputs)["availabilityZone"] for i in instances}
    assert len(zones) == 2
    for instance in instances:
        inputs = reveal(instance.inputs)
        assert inputs["clusterIdentifier"] == cluster.id
        assert inputs["publiclyAccessible"] is False
        assert inputs["monitoringInterval"] == 60
    # The app that uses it signs in as its own IAM user of the cluster.
    connects = [s for s in app_policy(plan, "admin") if s["Action"] == ["rds-db:connect"]]
    assert any(
        ":dbuser:cluster-" in s["Resource"] and s["Resource"].endswith("/admin") for s in connects
    )
    exports = plan.stack("05-app-services").exports
    assert exports["datastore_ledger_host"].startswith("acme-ledger.cluster-")


def test_aurora_serverless_scales_within_the_bounds_of_its_size(tmp_path) -> None:
    import yaml

    data = yaml.safe_load((ROOT / "samples" / "aws" / "platform.yaml").read_text())
    (ledger,) = [d for d in data["appServices"]["datastores"] if d["name"] == "ledger"]
    ledger.update(flavor="aurora-serverless", engine="mysql", version="8.0")
    # The reader is the standby: dev runs without one, prod with one.
    del ledger["highAvailability"]
    prod = data["environments"]["prod"]["overrides"]["appServices"]["datastores"]
    prod.append({"name": "ledger", "highAvailability": True})
    source = tmp_path / "platform.yaml"
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    result = compile_file(source, out)
    assert result.files, [d.render() for d in result.report.errors]
    plan = plan_tree(out, "dev", only=["05-app-services"])
    cluster, instances, _ = aurora_records(plan)
    args = reveal(cluster.inputs)
    assert args["engine"] == "aurora-mysql" and args["engineMode"] == "provisioned"
    assert args["serverlessv2ScalingConfiguration"] == {"minCapacity": 0.5, "maxCapacity": 4}
    assert args["storageEncrypted"] is True and args["iamDatabaseAuthenticationEnabled"] is True
    assert "backtrackWindow" not in args  # Serverless v2 cannot backtrack
    assert {reveal(i.inputs)["instanceClass"] for i in instances} == {"db.serverless"}
    assert [i.name for i in instances] == ["acme-ledger-0"]  # the writer alone
    _, instances, _ = aurora_records(plan_tree(out, "prod", only=["05-app-services"]))
    assert sorted(i.name for i in instances) == ["acme-ledger-0", "acme-ledger-1"]
    zones = {reveal(i.inputs)["availabilityZone"] for i in instances}
    assert len(zones) == 2
