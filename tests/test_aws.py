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
        "ci-deploy-platform",
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
    assert entries["ci-deploy-platform"]["accessPolicies"]["deploy"]["policyArn"] == ADMIN
    apps = entries["ci-deploy-apps"]["accessPolicies"]["deploy"]
    assert apps["policyArn"].endswith("/AmazonEKSAdminPolicy")
    assert apps["accessScope"] == {
        "type": "namespace",
        "namespaces": ["payments", "storefront", "internal"],
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
