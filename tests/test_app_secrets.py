"""Apps' secrets (`apps[].secrets`), read from the offline plans of the
samples: each secret is made empty in the cloud's secret manager, only its
app's identity may read it, and the External Secrets Operator copies it into
the app's namespace as that app, mounted read-only. No value ever passes
through platform.yaml, the programs or the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.plan import plan_tree
from crosswalk.providers.azure.app_secrets import PLACEHOLDER
from crosswalk.providers.azure.program import ROLES
from crosswalk.providers.kubernetes.app_secrets import FILES

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ["stripe-api-key", "webhook-signing-key"]  # the samples' checkout reads these
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
SECRET_STORE = "kubernetes:external-secrets.io/v1:SecretStore"


def plan_sample(cloud: str, tmp_path: Path, text: str | None = None):
    source = ROOT / "samples" / cloud / "platform.yaml"
    if text is not None:
        source = tmp_path / "platform.yaml"
        source.write_text(text)
    out = tmp_path / "out"
    result = compile_file(source, out)
    assert result.files, [d.render() for d in result.report.errors]
    plan = plan_tree(out, "prod")
    assert [s.dir for s in plan.stacks if s.error is not None] == []
    return out, plan


@pytest.fixture(scope="module", params=["aws", "gcp", "azure"])
def sample(request, tmp_path_factory):
    return request.param, *plan_sample(request.param, tmp_path_factory.mktemp(request.param))


def of_type(stack, type_: str) -> list:
    return [r for r in stack.resources if r.type == type_]


def test_the_operator_runs_once_pinned_and_reads_no_cluster_wide_store(sample) -> None:
    _, out, plan = sample
    (release,) = [
        r for r in of_type(plan.stack("04-cluster-services"), "kubernetes:helm.sh/v3:Release")
        if r.name == "external-secrets"
    ]  # fmt: skip
    inputs = reveal(release.inputs)
    assert inputs["version"] == "2.9.0" and inputs["namespace"] == "external-secrets"
    values = inputs["values"]
    assert (
        values["processClusterStore"] is False and values["processClusterExternalSecret"] is False
    )
    assert values["processPushSecret"] is False  # nothing writes back to the cloud
    # The app's stack runs after the operator's (it needs its kinds).
    manifest = json.loads((out / "crosswalk.stacks.json").read_text())
    (checkout,) = [s for s in manifest["stacks"] if s["dir"] == "06-apps/checkout"]
    assert {"04-cluster-services", "05-app-services"} <= set(checkout["dependsOn"])


def test_the_app_mounts_its_secrets_read_as_itself(sample) -> None:
    _, _, plan = sample
    stack = plan.stack("06-apps/checkout")
    (store,) = of_type(stack, SECRET_STORE)
    (external,) = of_type(stack, EXTERNAL_SECRET)
    store_spec, spec = reveal(store.inputs)["spec"], reveal(external.inputs)["spec"]
    (provider,) = store_spec["provider"].values()
    refs = json.dumps(provider)
    # As the app's own ServiceAccount, never the operator's or another app's.
    assert '"serviceAccountRef": {"name": "checkout"}' in refs
    assert spec["secretStoreRef"] == {
        "name": reveal(store.inputs)["metadata"]["name"],
        "kind": "SecretStore",
    }
    assert [d["secretKey"] for d in spec["data"]] == SECRETS
    target = spec["target"]["name"]
    # The workload mounts that Secret read-only, and waits for it.
    (deployment,) = of_type(stack, "kubernetes:apps/v1:Deployment")
    pod = reveal(deployment.inputs)["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == target]
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount == {"name": volume["name"], "mountPath": FILES, "readOnly": True}
    assert not any("valueFrom" in e for e in container.get("env", []))
    annotations = reveal(external.inputs)["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "condition=Ready"
    # Apps that name no secrets get neither object.
    others = [
        s for s in plan.stacks if s.dir.startswith("06-apps/") and s.dir != "06-apps/checkout"
    ]
    assert others and not [
        s.dir for s in others if of_type(s, SECRET_STORE) + of_type(s, EXTERNAL_SECRET)
    ]


def remote_keys(plan) -> list:
    (external,) = of_type(plan.stack("06-apps/checkout"), EXTERNAL_SECRET)
    return [d["remoteRef"]["key"] for d in reveal(external.inputs)["spec"]["data"]]


def policy(record) -> list[dict]:
    return json.loads(reveal(record.inputs)["policy"])["Statement"]


def test_aws_secrets_are_read_by_the_apps_role_only(tmp_path) -> None:
    _, plan = plan_sample("aws", tmp_path)
    made = of_type(plan.stack("05-app-services"), "aws:secretsmanager/secret:Secret")
    assert sorted(reveal(r.inputs)["name"] for r in made) == [
        f"acme/prod/apps/checkout/{name}" for name in SECRETS
    ]
    assert all(r.protect for r in made)
    # Encrypted with the platform key, which the app decrypts through Secrets Manager only.
    key = plan.stack("02-managed-infra").exports["secrets_key_arn"]
    assert {reveal(r.inputs)["kmsKeyId"] for r in made} == {key}
    (role_policy,) = of_type(plan.stack("06-apps/checkout"), "aws:iam/rolePolicy:RolePolicy")
    (decrypt,) = [s for s in policy(role_policy) if s["Action"] == ["kms:Decrypt"]]
    assert decrypt["Resource"] == key
    assert decrypt["Condition"] == {
        "StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}
    }
    assert remote_keys(plan) == [f"acme/prod/apps/checkout/{name}" for name in SECRETS]
    # No value anywhere: no version of any secret is made.
    assert not [r for s in plan.stacks for r in s.resources if "secretVersion" in r.type]
    arns = sorted(r.outputs["arn"] for r in made)
    readers = {}
    for stack in plan.stacks:
        for record in of_type(stack, "aws:iam/rolePolicy:RolePolicy"):
            for statement in policy(record):
                actions = (
                    statement["Action"]
                    if isinstance(statement["Action"], list)
                    else [statement["Action"]]
                )
                if "secretsmanager:GetSecretValue" in actions:
                    resources = statement["Resource"]
                    for arn in resources if isinstance(resources, list) else [resources]:
                        readers.setdefault(arn, set()).add(record.name)
    for arn in arns:
        assert readers.pop(arn) == {"acme-app-checkout"}
    # What else may read a secret value: the services deployer, RDS's master secrets only.
    assert {frozenset(v) for v in readers.values()} <= {frozenset({"acme-ci-deploy-services"})}
    assert all(":secret:rds!" in arn for arn in readers)
    (role,) = [r for r in of_type(plan.stack("06-apps/checkout"), "aws:iam/role:Role") if r.inputs]
    (sa,) = [
        r for r in of_type(plan.stack("06-apps/checkout"), "kubernetes:core/v1:ServiceAccount")
    ]
    annotations = reveal(sa.inputs)["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == role.outputs["arn"]


def test_a_secret_given_as_a_variable_is_one_and_warned_about(tmp_path) -> None:
    text = (ROOT / "samples" / "aws" / "platform.yaml").read_text()
    data = yaml.safe_load(text)
    (checkout,) = [a for a in data["apps"] if a["name"] == "checkout"]
    checkout["secrets"][1]["env"] = "WEBHOOK_SIGNING_KEY"
    source = tmp_path / "platform.yaml"
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    result = compile_file(source, out)
    assert [d.code for d in result.report.warnings] == ["CW622"]
    plan = plan_tree(out, "prod")
    (deployment,) = of_type(plan.stack("06-apps/checkout"), "kubernetes:apps/v1:Deployment")
    (container,) = reveal(deployment.inputs)["spec"]["template"]["spec"]["containers"]
    (variable,) = [e for e in container["env"] if e["name"] == "WEBHOOK_SIGNING_KEY"]
    assert variable["valueFrom"]["secretKeyRef"] == {
        "name": "checkout.secrets",
        "key": "webhook-signing-key",
    }


def test_gcp_secrets_are_accessed_by_the_apps_service_account_only(tmp_path) -> None:
    _, plan = plan_sample("gcp", tmp_path)
    services = plan.stack("05-app-services")
    made = of_type(services, "gcp:secretmanager/secret:Secret")
    ids = sorted(reveal(r.inputs)["secretId"] for r in made)
    assert ids == [f"acme-prod-apps-checkout-{name}" for name in SECRETS]
    assert all(r.protect for r in made)
    assert remote_keys(plan) == ids
    assert not [r for s in plan.stacks for r in s.resources if "secretVersion" in r.type]
    email = plan.stack("01-identity").exports["app_checkout_service_account"]
    grants = [
        reveal(r.inputs)
        for s in plan.stacks
        for r in s.resources
        if "secretmanager" in r.type and "Iam" in r.type
    ]
    assert sorted((g["secretId"], g["role"], g["member"]) for g in grants) == [
        (i, "roles/secretmanager.secretAccessor", f"serviceAccount:{email}") for i in ids
    ]
    # No project-wide access to secrets for any workload.
    project_roles = [
        reveal(r.inputs)["role"]
        for s in plan.stacks
        for r in s.resources
        if r.type == "gcp:projects/iAMMember:IAMMember"
        and "serviceAccount:acme-prod-app-" in str(reveal(r.inputs)["member"])
    ]
    assert not [role for role in project_roles if "secretmanager" in role]
    # The deployer that makes them may not read a value: a custom role without
    # secretmanager.versions.access, and no predefined Secret Manager role.
    identity = plan.stack("01-identity")
    (role,) = [
        reveal(r.inputs)
        for r in of_type(identity, "gcp:projects/iAMCustomRole:IAMCustomRole")
        if "secretmanager.secrets.create" in reveal(r.inputs)["permissions"]
    ]
    assert not [p for p in role["permissions"] if p.startswith("secretmanager.versions.")]
    granted = [
        reveal(r.inputs)["role"] for r in of_type(identity, "gcp:projects/iAMMember:IAMMember")
    ]
    assert not [r for r in granted if str(r).startswith("roles/secretmanager.")]
    (sa,) = of_type(plan.stack("06-apps/checkout"), "kubernetes:core/v1:ServiceAccount")
    annotations = reveal(sa.inputs)["metadata"]["annotations"]
    assert annotations["iam.gke.io/gcp-service-account"] == email


# --- Azure ---------------------------------------------------------------------------------

AZ = "azure-native:"
SECRETS_USER = ROLES["Key Vault Secrets User"]


@pytest.fixture(scope="module")
def azure(tmp_path_factory):
    return plan_sample("azure", tmp_path_factory.mktemp("azure-secrets"))[1]


def az_of(plan, kind: str, stack: str | None = None) -> list:
    return [
        r
        for s in plan.stacks
        if stack is None or s.dir == stack
        for r in s.resources
        if r.type == AZ + kind
    ]


def role_of(record) -> str:
    return reveal(record.inputs)["roleDefinitionId"].rsplit("/", 1)[1]


def test_azure_secrets_live_in_a_private_vault_of_their_own(azure) -> None:
    identity, infra = azure.stack("01-identity"), azure.stack("02-managed-infra")
    (group,) = [
        r for r in az_of(azure, "resources:ResourceGroup") if r.name == "contoso-app-secrets"
    ]
    assert reveal(group.inputs)["resourceGroupName"] == "contoso-prod-app-secrets"
    assert group.protect
    (vault,) = az_of(azure, "keyvault:Vault", "05-app-services")
    inputs = reveal(vault.inputs)
    assert inputs["resourceGroupName"] == identity.exports["app_secrets_resource_group_name"]
    assert inputs["resourceGroupName"] == "contoso-prod-app-secrets"
    assert inputs["vaultName"] == "kva-contoso-prod"
    assert vault.protect
    props = inputs["properties"]
    assert props["enableRbacAuthorization"] is True  # roles only, no access policies
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"]["defaultAction"] == "Deny"
    (platform_vault,) = az_of(azure, "keyvault:Vault", "02-managed-infra")
    assert inputs["tags"] == reveal(platform_vault.inputs)["tags"]
    assert inputs["tags"]["crosswalk-platform"] == "contoso"
    # Reached through a private endpoint registered in the platform's vault zone
    # (a network links one zone of a name).
    (made_endpoint,) = [
        r
        for r in az_of(azure, "network:PrivateEndpoint", "05-app-services")
        if reveal(r.inputs)["privateLinkServiceConnections"][0]["privateLinkServiceId"] == vault.id
    ]
    endpoint = reveal(made_endpoint.inputs)
    assert endpoint["subnet"]["id"] == infra.exports["endpoints_subnet_id"]
    assert endpoint["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]
    (dns,) = [
        reveal(r.inputs)
        for r in az_of(azure, "network:PrivateDnsZoneGroup", "05-app-services")
        if reveal(r.inputs)["privateEndpointName"] == made_endpoint.outputs["name"]
    ]
    (zone,) = [
        r
        for r in az_of(azure, "privatedns:PrivateZone", "02-managed-infra")
        if reveal(r.inputs)["privateZoneName"] == "privatelink.vaultcore.azure.net"
    ]
    assert [c["privateDnsZoneId"] for c in dns["privateDnsZoneConfigs"]] == [zone.id]
    assert not [
        r
        for r in az_of(azure, "privatedns:PrivateZone", "05-app-services")
        if reveal(r.inputs)["privateZoneName"] == "privatelink.vaultcore.azure.net"
    ]


def test_azure_secrets_hold_no_value_and_only_the_apps_identity_reads_each(azure) -> None:
    services = azure.stack("05-app-services")
    (vault,) = az_of(azure, "keyvault:Vault", "05-app-services")
    made = [r for r in az_of(azure, "keyvault:Secret", "05-app-services") if "/" in r.name]
    names = [f"checkout-{name}" for name in SECRETS]
    assert sorted(reveal(r.inputs)["secretName"] for r in made) == names
    for secret in made:
        inputs = reveal(secret.inputs)
        assert inputs["vaultName"] == vault.outputs["name"]
        # A placeholder in a disabled version: nothing can read it, and the
        # program never puts it back over the value a person sets.
        assert inputs["properties"]["value"] == PLACEHOLDER
        assert inputs["properties"]["attributes"] == {"enabled": False}
        assert secret.ignore_changes == ["properties"]
        assert secret.protect
    assert remote_keys(azure) == names
    (store,) = of_type(azure.stack("06-apps/checkout"), SECRET_STORE)
    (provider,) = reveal(store.inputs)["spec"].values()
    assert provider["azurekv"]["authType"] == "WorkloadIdentity"
    assert provider["azurekv"]["vaultUrl"] == services.exports["app_secrets_vault_uri"]
    assert provider["azurekv"]["serviceAccountRef"] == {"name": "checkout"}
    # Key Vault Secrets User: the app's identity, on each of its secrets alone.
    app = azure.stack("06-apps/checkout")
    (identity,) = az_of(azure, "managedidentity:UserAssignedIdentity", "06-apps/checkout")
    reads = [
        (s.dir, reveal(r.inputs))
        for s in azure.stacks
        for r in s.resources
        if r.type == AZ + "authorization:RoleAssignment" and role_of(r) == SECRETS_USER
    ]
    assert sorted((d, g["scope"], g["principalId"], g["principalType"]) for d, g in reads) == [
        ("06-apps/checkout", r.id, identity.outputs["principalId"], "ServicePrincipal")
        for r in sorted(made, key=lambda r: r.id)
    ]
    # The operator reads as the app's ServiceAccount, federated with that
    # identity, once the grants exist.
    (account,) = of_type(app, "kubernetes:core/v1:ServiceAccount")
    annotations = reveal(account.inputs)["metadata"]["annotations"]
    assert annotations["azure.workload.identity/client-id"] == identity.outputs["clientId"]
    subjects = [
        reveal(r.inputs)["subject"]
        for r in az_of(azure, "managedidentity:FederatedIdentityCredential", "06-apps/checkout")
    ]
    assert subjects == ["system:serviceaccount:payments:checkout"]
    grants = {r.urn for r in app.resources if r.type == AZ + "authorization:RoleAssignment"}
    secret_grants = {u for u in grants if "::checkout-secret-" in u}
    assert len(secret_grants) == len(SECRETS) and secret_grants <= set(store.dependencies)
    # No Key Vault data role elsewhere: no other reader, and no deployer reads a value.
    data_roles = {ROLES[name] for name in ROLES if name.startswith("Key Vault Secrets")} | {
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    }
    others = [
        r.name
        for s in azure.stacks
        for r in s.resources
        if r.type == AZ + "authorization:RoleAssignment"
        and role_of(r) in data_roles
        and (s.dir, reveal(r.inputs)) not in reads
    ]
    assert not others


def _condition_roles(record) -> set[str]:
    condition = reveal(record.inputs)["condition"]
    found = set()
    for part in condition.split("GuidEquals {")[1:]:
        found |= {g.strip() for g in part.split("}")[0].split(",")}
    return found


def test_azure_apps_deployer_may_assign_secrets_user_only_in_the_secrets_group(azure) -> None:
    (group,) = [r.id for r in az_of(azure, "resources:ResourceGroup") if r.name == "contoso"]
    (secrets_group,) = [
        r.id for r in az_of(azure, "resources:ResourceGroup") if r.name == "contoso-app-secrets"
    ]
    grants = {r.name: r for r in az_of(azure, "authorization:RoleAssignment", "01-identity")}
    admin = ROLES["Role Based Access Control Administrator"]
    apps_there = grants["contoso-ci-deploy-apps-app-secrets-rbac-administrator"]
    assert reveal(apps_there.inputs)["scope"] == secrets_group
    assert role_of(apps_there) == admin
    assert reveal(apps_there.inputs)["conditionVersion"] == "2.0"
    assert _condition_roles(apps_there) == {SECRETS_USER}
    assert reveal(apps_there.inputs)["condition"].count("GuidEquals") == 2  # written and removed
    # On the platform's group, where its vault is, it may not assign that role.
    apps_here = grants["contoso-ci-deploy-apps-rbac-administrator"]
    assert reveal(apps_here.inputs)["scope"] == group
    assert SECRETS_USER not in _condition_roles(apps_here)
    # What each CI identity holds on the secrets' group.
    held = {
        (name, role_of(r), frozenset(_condition_roles(r)) if "condition" in r.inputs else None)
        for name, r in grants.items()
        if reveal(r.inputs)["scope"] == secrets_group
    }
    assert held == {
        ("contoso-ci-deploy-apps-app-secrets-rbac-administrator", admin, frozenset({SECRETS_USER})),
        ("contoso-ci-deploy-apps-preview-app-secrets-reader", ROLES["Reader"], None),
        # app-services makes the vault and the secrets: no data role
        (
            "contoso-ci-deploy-platform-app-secrets-key-vault-contributor",
            ROLES["Key Vault Contributor"],
            None,
        ),
        # the identity layer grants those roles there, and no other
        (
            "contoso-ci-deploy-platform-app-secrets-rbac-administrator",
            admin,
            frozenset({ROLES["Key Vault Contributor"], ROLES["Reader"], admin}),
        ),
        ("contoso-ci-deploy-platform-preview-app-secrets-reader", ROLES["Reader"], None),
    }


def _leaves(value, key=None):
    """(key, text) of every string in a record's inputs, at any depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v, key)
    elif isinstance(value, str):
        yield key, value


def test_a_secrets_name_reaches_azure_only_as_a_name(tmp_path) -> None:
    """platform.yaml names secrets, never values: a marker given as a
    secret's name reaches the plan only where a name or a reference goes,
    never as a value (the secret holds the placeholder)."""
    marker = "zx-marker-4f1c9b"
    data = yaml.safe_load((ROOT / "samples" / "azure" / "platform.yaml").read_text())
    (checkout,) = [a for a in data["apps"] if a["name"] == "checkout"]
    checkout["secrets"] = [{"name": marker}]
    _, plan = plan_sample("azure", tmp_path, yaml.safe_dump(data, sort_keys=False))
    where = sorted(
        {
            (r.type.split(":")[-1], key)
            for s in plan.stacks
            for r in s.resources
            for key, text in _leaves(reveal(r.inputs))
            if marker in text
        }
    )
    assert where == [
        ("ExternalSecret", "key"),  # the remote reference
        ("ExternalSecret", "secretKey"),  # the file's name
        ("RoleAssignment", "scope"),  # the grant on that secret
        ("Secret", "contentType"),  # "secret <name> of app <app>"
        ("Secret", "secretName"),
    ]
    (made,) = [r for r in az_of(plan, "keyvault:Secret") if marker in r.inputs["secretName"]]
    assert reveal(made.inputs)["properties"]["value"] == PLACEHOLDER
