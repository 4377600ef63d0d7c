"""Virtual machines (`vms[]`), read from the offline plans of the three
samples: each VM is private, in the platform's private subnets, its disk
encrypted with a key of the platform, its identity of its own and able to do
nothing but what the cloud's login path needs, and reached only through that
path, by the members of the teams it names and nobody else. Also: per
environment counts, the graph and the blast radius of a change."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from crosswalk.compiler.diff import Source, diff_sources
from crosswalk.compiler.diff_render import diff_json
from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.graph import build_graph
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.model import build_platform
from crosswalk.compiler.plan import plan_tree

ROOT = Path(__file__).resolve().parent.parent


def sample_text(cloud: str) -> str:
    return (ROOT / "samples" / cloud / "platform.yaml").read_text()


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for cloud in ("aws", "gcp", "azure"):
        tree = tmp_path_factory.mktemp(cloud) / "out"
        assert compile_file(ROOT / "samples" / cloud / "platform.yaml", tree).files
        out[cloud] = tree
    return out


@pytest.fixture(scope="module")
def plans(trees) -> dict[tuple[str, str], object]:
    """(cloud, environment) -> the offline plan."""
    out = {}
    for cloud, tree in trees.items():
        for env in ("dev", "prod"):
            plan = plan_tree(tree, env)
            assert plan.ok, [(s.dir, s.error) for s in plan.stacks if s.error]
            out[cloud, env] = plan
    return out


def of_type(plan, type_: str, stack: str | None = None) -> list:
    return [
        r
        for s in plan.stacks
        if stack is None or s.dir == stack
        for r in s.resources
        if r.type == type_
    ]


def one(records, name: str | None = None):
    found = [r for r in records if name is None or r.name == name]
    assert len(found) == 1, [r.name for r in records]
    return found[0]


def inputs(record) -> dict:
    return json.loads(json.dumps(reveal(record.inputs), default=str))


# --- AWS: Session Manager only ------------------------------------------------------------

INSTANCE = "aws:ec2/instance:Instance"


def test_an_aws_vm_is_private_imdsv2_only_encrypted_and_keyless(plans) -> None:
    plan = plans["aws", "dev"]
    infra = plan.stack("02-managed-infra")
    instance = inputs(one(of_type(plan, INSTANCE), "acme-admin-0"))
    assert instance["associatePublicIpAddress"] is False and "keyName" not in instance
    private = [reveal(s) for s in infra.exports["private_subnet_ids"]]
    assert instance["subnetId"] in private
    assert instance["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",  # IMDSv2 only
        "httpPutResponseHopLimit": 1,
        "instanceMetadataTags": "disabled",
    }
    disk = instance["rootBlockDevice"]
    assert disk["encrypted"] is True and disk["kmsKeyId"] == infra.exports["secrets_key_arn"]
    assert instance["tags"]["crosswalk/vm"] == "admin"
    # Its security group lets nothing in.
    # (the layer's other groups are the warehouses')
    groups = of_type(plan, "aws:ec2/securityGroup:SecurityGroup", "02-managed-infra")
    (group,) = [inputs(r) for r in groups if r.outputs["id"] in instance["vpcSecurityGroupIds"]]
    assert len(instance["vpcSecurityGroupIds"]) == 1
    assert not group.get("ingress")
    assert {(e["fromPort"], tuple(e["cidrBlocks"])) for e in group["egress"]} == {
        (443, ("0.0.0.0/0",)),
        (80, ("0.0.0.0/0",)),
        (0, ("10.0.0.0/16",)),
    }
    # EBS may use the platform key through EC2 only because the key policy says so.
    key = inputs(one(of_type(plan, "aws:kms/key:Key", "02-managed-infra"), "acme-secrets"))
    (through,) = [
        s
        for s in json.loads(key["policy"])["Statement"]
        if s["Sid"] == "UseOnlyThroughPlatformServices"
    ]
    assert "ec2.us-west-2.amazonaws.com" in through["Condition"]["StringEquals"]["kms:ViaService"]


def test_an_aws_vms_identity_holds_session_manager_channels_and_nothing_else(plans) -> None:
    plan = plans["aws", "dev"]
    identity = plan.stack("01-identity")
    role = one(of_type(plan, "aws:iam/role:Role", "01-identity"), "acme-vm-admin")
    trust = json.loads(inputs(role)["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    (policy,) = [
        r
        for r in of_type(plan, "aws:iam/rolePolicy:RolePolicy", "01-identity")
        if inputs(r)["role"] == role.outputs["id"]
    ]
    report, channels = json.loads(inputs(policy)["policy"])["Statement"]
    assert report == {
        "Effect": "Allow",
        "Action": "ssm:UpdateInstanceInformation",
        "Resource": "arn:aws:ec2:*:*:instance/*",
    }
    assert sorted(channels["Action"]) == [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    ]  # ssmmessages names no resource: "*"
    assert not [
        r
        for r in of_type(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if inputs(r)["role"] == role.outputs["name"]
    ], "no managed policy (AmazonSSMManagedInstanceCore would add Run Command and parameters)"
    profile = one(of_type(plan, "aws:iam/instanceProfile:InstanceProfile"))
    assert inputs(profile)["role"] == role.outputs["name"]
    instance = inputs(one(of_type(plan, INSTANCE)))
    assert instance["iamInstanceProfile"] == identity.exports["vm_admin_instance_profile"]


def test_only_the_listed_team_may_start_sessions_and_only_on_its_vms(plans) -> None:
    plan = plans["aws", "dev"]
    policies = {
        r.name: json.loads(inputs(r)["policy"])["Statement"]
        for r in of_type(plan, "aws:iam/rolePolicy:RolePolicy", "01-identity")
        if r.name.endswith("-vm-logins")
    }
    assert list(policies) == ["acme-team-platform-vm-logins"]  # not payments, not web
    statements = policies["acme-team-platform-vm-logins"]
    starts = [s for s in statements if "ssm:StartSession" in s["Action"]]
    instances = [s for s in starts if ":instance/" in s["Resource"]]
    (on_vms,) = instances
    assert on_vms["Resource"] == "arn:aws:ec2:us-west-2:123456789012:instance/*"
    # The instances of this platform's VM 'admin' in this environment, by their tags.
    assert on_vms["Condition"]["StringEquals"] == {
        "ssm:resourceTag/crosswalk/platform": "acme",
        "ssm:resourceTag/crosswalk/environment": "dev",
        "ssm:resourceTag/crosswalk/vm": ["admin"],
    }
    assert on_vms["Condition"]["BoolIfExists"] == {"ssm:SessionDocumentAccessCheck": "true"}
    (document,) = [s for s in starts if s is not on_vms]
    assert document["Resource"].endswith(":document/SSM-SessionManagerRunShell")
    # Nothing else that reaches an instance: no Run Command, no EC2 Instance Connect.
    granted = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not {"ssm:SendCommand", "ec2-instance-connect:SendSSHPublicKey"} & granted
    assert all(
        a.split(":")[1].startswith(
            ("Describe", "Get", "StartSession", "ResumeSession", "TerminateSession")
        )
        for a in granted
    )
    # The tags the condition names are those the instance carries (the
    # provider's default tags hold the platform and the environment).
    instance = one(of_type(plan, INSTANCE))
    provider = one(
        [r for r in plan.stack("02-managed-infra").resources if r.type == "pulumi:providers:aws"]
    )
    tags = json.loads(inputs(provider)["defaultTags"])["tags"]
    assert tags["crosswalk/platform"] == "acme" and tags["crosswalk/environment"] == "dev"
    assert inputs(instance)["tags"]["crosswalk/vm"] == "admin"


def test_the_aws_deployers_may_make_vms_and_pass_only_their_roles(plans) -> None:
    plan = plans["aws", "dev"]
    policy = one(
        of_type(plan, "aws:iam/rolePolicy:RolePolicy", "01-identity"), "acme-ci-deploy-platform"
    )
    statements = json.loads(inputs(policy)["policy"])["Statement"]
    passes = {
        s["Resource"] if isinstance(s["Resource"], str) else tuple(s["Resource"]): s["Condition"]
        for s in statements
        if s["Action"] == ["iam:PassRole"]
    }
    assert passes["arn:aws:iam::123456789012:role/acme-vm-*"] == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
    }
    (launch,) = [
        s
        for s in statements
        if "ec2:RunInstances" in s["Action"]
        and s.get("Condition", {}).get("StringEquals", {}).get("aws:RequestTag/crosswalk/platform")
        and "ec2:CreateAction" not in s["Condition"]["StringEquals"]
    ]
    assert launch["Resource"] == "*"  # an instance is launched carrying the platform's tag
    (profiles,) = [s for s in statements if "iam:*InstanceProfile*" in s["Action"]]
    assert profiles["Resource"] == "arn:aws:iam::123456789012:instance-profile/acme-vm-*"
    # EBS may use the key (the key policy holds it to EC2 and the platform's
    # other services), on the platform's keys only.
    (key,) = [s for s in statements if "kms:GenerateDataKeyWithoutPlaintext" in s["Action"]]
    assert key["Condition"] == {"StringEquals": {"aws:ResourceTag/crosswalk/platform": "acme"}}


# --- GCP: OS Login through IAP --------------------------------------------------------------


def test_a_gcp_vm_is_a_private_shielded_vm_with_os_login_and_a_cmek_disk(plans) -> None:
    plan = plans["gcp", "dev"]
    instance = inputs(one(of_type(plan, "gcp:compute/instance:Instance")))
    (interface,) = instance["networkInterfaces"]
    assert "accessConfigs" not in interface  # no external address
    assert interface["subnetwork"] == reveal(
        plan.stack("02-managed-infra").exports["subnetwork_id"]
    )
    assert instance["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }
    assert instance["metadata"]["enable-oslogin"] == "TRUE"
    assert instance["metadata"]["block-project-ssh-keys"] == "TRUE"
    disks_key = one(of_type(plan, "gcp:kms/cryptoKey:CryptoKey"), "acme-disks")
    assert instance["bootDisk"]["kmsKeySelfLink"] == disks_key.outputs["id"]
    (agent,) = [
        inputs(r)
        for r in of_type(plan, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        if inputs(r)["cryptoKeyId"] == disks_key.outputs["id"]
    ]
    assert agent["member"].endswith("@compute-system.iam.gserviceaccount.com")
    # Its own service account, which may write logs and metrics only.
    email = instance["serviceAccount"]["email"]
    assert email == reveal(plan.stack("01-identity").exports["vm_admin_service_account"])
    roles = {
        inputs(r)["role"]
        for r in of_type(plan, "gcp:projects/iAMMember:IAMMember")
        if inputs(r)["member"] == f"serviceAccount:{email}"
    }
    assert roles == {"roles/logging.logWriter", "roles/monitoring.metricWriter"}


def test_only_iaps_range_reaches_a_gcp_vm_and_only_on_ssh(plans) -> None:
    plan = plans["gcp", "dev"]
    email = inputs(one(of_type(plan, "gcp:compute/instance:Instance")))["serviceAccount"]["email"]
    (rule,) = [inputs(r) for r in of_type(plan, "gcp:compute/firewall:Firewall")]
    assert rule["direction"] == "INGRESS"
    assert rule["sourceRanges"] == ["35.235.240.0/20"]
    assert rule["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    assert rule["targetServiceAccounts"] == [email]  # this VM's, not a tag anyone may set


def test_the_listed_team_logs_in_to_exactly_its_vms_instances(plans) -> None:
    plan = plans["gcp", "dev"]
    instance = one(of_type(plan, "gcp:compute/instance:Instance"))
    logins = [inputs(r) for r in of_type(plan, "gcp:compute/instanceIAMMember:InstanceIAMMember")]
    tunnels = [
        inputs(r) for r in of_type(plan, "gcp:iap/tunnelInstanceIAMMember:TunnelInstanceIAMMember")
    ]
    team = ["group:platform@acme.example.com"]  # the sample's platform team: admin
    assert [(g["member"], g["role"], g["instanceName"]) for g in logins] == [
        (team[0], "roles/compute.osAdminLogin", inputs(instance)["name"])
    ]
    assert [(g["member"], g["role"], g["instance"]) for g in tunnels] == [
        (team[0], "roles/iap.tunnelResourceAccessor", inputs(instance)["name"])
    ]
    # No project-wide login or tunnel right for anybody.
    project_roles = {inputs(r)["role"] for r in of_type(plan, "gcp:projects/iAMMember:IAMMember")}
    assert (
        not {
            "roles/compute.osLogin",
            "roles/compute.osAdminLogin",
            "roles/iap.tunnelResourceAccessor",
        }
        & project_roles
    )
    # OS Login asks to act as the VM's service account: on that account alone,
    # for the team's members and the deployer that attaches it.
    email = inputs(instance)["serviceAccount"]["email"]
    users = {
        inputs(r)["member"]
        for r in of_type(plan, "gcp:serviceaccount/iAMMember:IAMMember")
        if inputs(r)["role"] == "roles/iam.serviceAccountUser"
        and inputs(r)["serviceAccountId"].endswith(f"/serviceAccounts/{email}")
    }
    deployer = one(
        of_type(plan, "gcp:serviceaccount/account:Account", "01-identity"),
        "acme-ci-deploy-platform",
    ).outputs["email"]
    assert users == {*team, f"serviceAccount:{deployer}"}


def test_the_gcp_managed_infra_deployer_gets_the_vm_rights_it_needs(plans) -> None:
    plan = plans["gcp", "dev"]
    held = {
        inputs(r)["role"]
        for r in of_type(plan, "gcp:projects/iAMMember:IAMMember", "01-identity")
        if r.name.startswith("acme-ci-deploy-platform-")
    }
    assert "roles/compute.instanceAdmin.v1" in held
    assert not {"roles/iap.admin", "roles/compute.securityAdmin", "roles/compute.admin"} & held
    (custom,) = [
        inputs(r)
        for r in of_type(plan, "gcp:projects/iAMCustomRole:IAMCustomRole")
        if r.name == "acme-ci-deploy-platform-vm-access"
    ]
    assert set(custom["permissions"]) == {
        "compute.firewalls.create",
        "compute.firewalls.delete",
        "compute.firewalls.get",
        "compute.firewalls.list",
        "compute.firewalls.update",
        "compute.networks.updatePolicy",
        "iap.tunnelInstances.getIamPolicy",
        "iap.tunnelInstances.setIamPolicy",
    }
    # The apps deployer gets none of it.
    assert not [
        r
        for r in of_type(plan, "gcp:projects/iAMCustomRole:IAMCustomRole")
        if r.name.startswith("acme-ci-deploy-apps-") and "vm" in r.name
    ]


# --- Azure: Entra ID login ------------------------------------------------------------------


def test_an_azure_vm_is_private_trusted_launch_and_encrypted_with_the_platform_key(
    plans,
) -> None:
    from crosswalk.providers.azure.vms import UNHELD_SSH_KEY

    plan = plans["azure", "dev"]
    infra = plan.stack("02-managed-infra")
    machine = inputs(one(of_type(plan, "azure-native:compute:VirtualMachine")))
    (nic,) = [inputs(r) for r in of_type(plan, "azure-native:network:NetworkInterface")]
    (config,) = nic["ipConfigurations"]
    assert "publicIPAddress" not in config and "publicIpAddress" not in config
    assert config["subnet"]["id"] == reveal(infra.exports["nodes_subnet_id"])
    nsg = one(of_type(plan, "azure-native:network:NetworkSecurityGroup"), "contoso-vm-admin")
    assert (
        inputs(nsg)["securityRules"] == []
        and nic["networkSecurityGroup"]["id"] == nsg.outputs["id"]
    )
    security = machine["securityProfile"]
    assert security["securityType"] == "TrustedLaunch"
    assert security["uefiSettings"] == {"secureBootEnabled": True, "vTpmEnabled": True}
    assert security["encryptionAtHost"] is True
    linux = machine["osProfile"]["linuxConfiguration"]
    assert (
        linux["disablePasswordAuthentication"] is True
        and "adminPassword" not in machine["osProfile"]
    )
    assert [k["keyData"] for k in linux["ssh"]["publicKeys"]] == [UNHELD_SSH_KEY]
    # The OS disk, through the disk encryption set, with the platform's Key Vault key.
    sets = of_type(plan, "azure-native:compute:DiskEncryptionSet")
    disks = one(sets)
    disk = machine["storageProfile"]["osDisk"]["managedDisk"]
    assert disk["diskEncryptionSet"]["id"] == disks.outputs["id"]
    key = one(of_type(plan, "azure-native:keyvault:Key"))
    active = inputs(disks)["activeKey"]
    assert active["keyUrl"] == key.outputs["keyUri"]  # versionless: it follows rotations
    assert inputs(disks)["rotationToLatestKeyVersionEnabled"] is True
    (use,) = [
        inputs(r)
        for r in of_type(plan, "azure-native:authorization:RoleAssignment", "02-managed-infra")
        if inputs(r)["principalId"] == disks.outputs["identity"]["principalId"]
    ]
    assert use["scope"] == key.outputs["id"]  # the key alone, not the vault
    assert use["roleDefinitionId"].endswith("/e147488a-f6f5-4113-8e2d-b22465e65bf6")
    # Its own identity, granted nothing.
    assert machine["identity"] == {"type": "SystemAssigned"}
    principal = one(of_type(plan, "azure-native:compute:VirtualMachine")).outputs["identity"][
        "principalId"
    ]
    assert not [
        r
        for r in of_type(plan, "azure-native:authorization:RoleAssignment")
        if inputs(r)["principalId"] == principal
    ]
    (extension,) = [
        inputs(r) for r in of_type(plan, "azure-native:compute:VirtualMachineExtension")
    ]
    assert (extension["publisher"], extension["type"]) == (
        "Microsoft.Azure.ActiveDirectory",
        "AADSSHLoginForLinux",
    )


def test_the_listed_teams_members_log_in_to_exactly_that_vm(plans) -> None:
    plan = plans["azure", "dev"]
    machine = one(of_type(plan, "azure-native:compute:VirtualMachine"))
    logins = [
        inputs(r)
        for r in of_type(plan, "azure-native:authorization:RoleAssignment", "02-managed-infra")
        if r.name.endswith("-login")
    ]
    # The sample's platform team (admin): Virtual Machine Administrator Login on the VM.
    assert [(g["principalId"], g["scope"], g["roleDefinitionId"][-36:]) for g in logins] == [
        (
            "3f2b1c9e-8d4a-4e7b-9c1d-2a5f6e7b8c90",
            machine.outputs["id"],
            "1c0163c0-47e6-4577-8991-ea5c82e286e4",
        )
    ]


def test_the_azure_managed_infra_deployer_may_assign_only_the_vms_roles(plans) -> None:
    plan = plans["azure", "dev"]
    (rbac,) = [
        inputs(r)
        for r in of_type(plan, "azure-native:authorization:RoleAssignment", "01-identity")
        if r.name == "contoso-ci-deploy-platform-rbac-administrator"
    ]
    for guid in (
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",  # Key Vault Crypto Service Encryption User
        "1c0163c0-47e6-4577-8991-ea5c82e286e4",  # Virtual Machine Administrator Login
        "fb879df8-f326-4884-b1cf-06f3ad86be52",  # Virtual Machine User Login
    ):
        assert guid in rbac["condition"]
    assert "b24988ac-6180-42a0-ab88-20f7382dd24c" not in rbac["condition"].split("GuidEquals")[0]


def test_the_azure_admin_key_is_a_point_nobody_holds_the_private_key_of() -> None:
    """Derived again here: the first counter whose SHA-256 with the label
    decodes to a point of Ed25519 (RFC 8032: y below the prime, x² a square)."""
    from crosswalk.providers.azure.vms import UNHELD_KEY_LABEL, UNHELD_SSH_KEY

    p = 2**255 - 19
    d = -121665 * pow(121666, p - 2, p) % p
    counter = 0
    while True:
        encoded = hashlib.sha256(UNHELD_KEY_LABEL + str(counter).encode()).digest()
        y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
        x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p) % p
        if y < p and (x2 == 0 or pow(x2, (p - 1) // 2, p) == 1):
            break
        counter += 1
    kind, blob, comment = UNHELD_SSH_KEY.split(" ")
    raw = base64.b64decode(blob)
    assert kind == "ssh-ed25519" and comment == "crosswalk-no-private-key"
    assert raw == b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + encoded


# --- every cloud: counts per environment, graph, blast radius --------------------------------

INSTANCES = {
    "aws": "aws:ec2/instance:Instance",
    "gcp": "gcp:compute/instance:Instance",
    "azure": "azure-native:compute:VirtualMachine",
}


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_each_environment_runs_its_own_count_spread_over_the_zones(plans, cloud) -> None:
    dev = of_type(plans[cloud, "dev"], INSTANCES[cloud])
    prod = of_type(plans[cloud, "prod"], INSTANCES[cloud])
    assert len(dev) == 1 and len(prod) == 2  # prod overrides vms.admin.count
    where = {
        "aws": lambda i: i["subnetId"],
        "gcp": lambda i: i["zone"],
        "azure": lambda i: tuple(i["zones"]),
    }[cloud]
    assert len({where(inputs(r)) for r in prod}) == 2


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_a_vm_is_a_managed_infra_node_needing_the_network_the_key_and_its_teams(cloud) -> None:
    from crosswalk.compiler.document import parse_document

    document, _ = parse_document(sample_text(cloud).encode(), "platform.yaml")
    graph = build_graph(build_platform(document.data))
    node = graph.graph.nodes["vm/admin"]
    assert (node["layer"], node["stack"]) == ("managed-infra", "02-managed-infra")
    needs = set(graph.graph.predecessors("vm/admin"))
    assert {"network", "secrets-key", "team/platform"} <= needs
    assert ("vm-identity/admin" in needs) == (cloud != "azure")


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_raising_a_count_in_prod_adds_instances_there_and_touches_nothing_else(cloud) -> None:
    old = sample_text(cloud)
    data = yaml.safe_load(old)
    new_data = copy.deepcopy(data)
    new_data["environments"]["prod"]["overrides"]["vms"] = [{"name": "admin", "count": 3}]
    new = yaml.safe_dump(new_data, sort_keys=False)
    base = yaml.safe_dump(data, sort_keys=False)
    result = diff_sources(Source("old.yaml", base.encode()), Source("new.yaml", new.encode()), None)
    assert result.exit_code == 1  # changes, none destructive
    environments = {e["name"]: e["stacks"] for e in diff_json(result)["environments"]}
    assert environments["dev"] == []
    (stack,) = environments["prod"]
    assert stack["dir"] == "02-managed-infra"
    changes = {r["change"] for r in stack["resources"]}
    assert changes == {"create"}
    assert [r["type"] for r in stack["resources"]].count(INSTANCES[cloud]) == 1
