"""Pull-request previews: the generated preview jobs and the read-only
identities they assume.

The jobs are checked on the parsed workflows (what GitHub would run), the
identities on the offline plans of the samples (what would reach the cloud):
each preview identity trusts only `pull_request` tokens of its repository and
holds no right to change anything.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import networkx as nx
import pytest
import yaml
from click.testing import CliRunner

from crosswalk.compiler.ci import workflows
from crosswalk.compiler.ci_plan import CiSettings, plan_ci
from crosswalk.compiler.cli import main
from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.graph import stack_layer
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.pipeline import check_file
from crosswalk.compiler.plan import plan_tree
from crosswalk.providers.azure.program import ROLES as AZURE_ROLES

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ("aws", "gcp", "azure")
PR_SUBJECT = "repo:{}:pull_request"


def _variables(value) -> set[str]:
    return set(re.findall(r"vars\.([A-Z0-9_]+)", json.dumps(value)))


@pytest.fixture(scope="module", params=SAMPLES)
def sample(request):
    check = check_file(str(REPO / "samples" / request.param / "platform.yaml"))
    plan, problems = plan_ci(check, CiSettings(platform_file="platform.yaml"))
    assert plan is not None, [d.render() for d in problems]
    parsed = {name: yaml.safe_load(text) for name, text in workflows(plan).items()}
    return request.param, plan, parsed


def _preview_jobs(parsed: dict) -> dict:
    jobs = parsed["crosswalk-pr.yml"]["jobs"]
    return {name: job for name, job in jobs.items() if name.endswith("-preview")}


def test_pull_request_jobs_assume_only_preview_identities(sample):
    _, plan, parsed = sample
    workflow = parsed["crosswalk-pr.yml"]
    assert set(workflow["on"]) == {"pull_request"}  # never pull_request_target
    previews = _preview_jobs(parsed)
    assert previews
    for name, job in workflow["jobs"].items():
        variables = _variables(job) - {"CROSSWALK_AZURE_TENANT_ID"}
        variables = {v for v in variables if not v.endswith("_AZURE_SUBSCRIPTION_ID")}
        if name not in previews:
            assert "id-token" not in job["permissions"], name
            assert not variables, name
            continue
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        # Only a preview identity's coordinates, of the entry deploying the layer.
        assert variables and all("_PREVIEW_" in v for v in variables), (name, variables)
        # No GitHub environment: the token's subject stays the pull request's.
        assert "environment" not in job, name
    for env in plan.environments:
        for stack in env.layer_stacks:
            entry = env.deployer[stack_layer(stack)]
            prefix = f"CROSSWALK_{env.name}_{entry.name}_PREVIEW_".upper().replace("-", "_")
            job = previews[env.job(stack) + "-preview"]
            own = {v for v in _variables(job) if "_PREVIEW_" in v}
            assert own and all(v.startswith(prefix) for v in own), own
            assert '--stack "$STACK"' in job["steps"][-1]["run"] and job["env"]["STACK"] == stack


def test_preview_jobs_follow_the_stack_graph(sample, tmp_path):
    cloud, plan, parsed = sample
    jobs = parsed["crosswalk-pr.yml"]["jobs"]
    needs = nx.DiGraph()
    for name, job in jobs.items():
        needs.add_node(name)
        for needed in job.get("needs", []):
            assert needed in jobs, f"{name} needs {needed}, which is not a job"
            needs.add_edge(needed, name)
    assert nx.is_directed_acyclic_graph(needs)
    for env in plan.environments:
        out = tmp_path / f"out-{env.name}"
        result = CliRunner().invoke(
            main,
            ["compile", str(REPO / "samples" / cloud / "platform.yaml"), "-o", str(out)]
            + ["--env", env.name],
        )
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "crosswalk.stacks.json").read_text())

        def job_of(stack: str, env=env) -> str:
            job = env.apps_job if stack_layer(stack) == "apps" else env.job(stack)
            return job + "-preview"

        for stack in manifest["stacks"]:
            assert job_of(stack["dir"]) in jobs
            for upstream in stack["dependsOn"]:
                if job_of(upstream) != job_of(stack["dir"]):
                    assert nx.has_path(needs, job_of(upstream), job_of(stack["dir"])), (
                        f"{stack['dir']} reads {upstream}, but its preview may run first"
                    )
        # The previews wait for the checks and run only on the affected stacks.
        for stack in env.layer_stacks:
            job = jobs[job_of(stack)]
            assert nx.has_path(needs, "check", job_of(stack))
            assert "needs.changes.outputs." in job["if"]


def test_fork_pull_requests_skip_the_previews_with_a_notice(sample):
    _, _, parsed = sample
    jobs = parsed["crosswalk-pr.yml"]["jobs"]
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    assert same in jobs["changes"]["if"] and "!" not in jobs["changes"]["if"]
    assert jobs["fork"]["if"] == f"${{{{ !({same}) }}}}"
    assert "::notice" in jobs["fork"]["steps"][0]["run"]
    assert jobs["fork"]["permissions"] == {}
    for name in _preview_jobs(parsed):
        assert nx.has_path(_needs(jobs), "changes", name)


def _needs(jobs: dict) -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, job in jobs.items():
        graph.add_node(name)
        graph.add_edges_from((n, name) for n in job.get("needs", []))
    return graph


def test_preview_output_goes_to_the_job_summary(sample):
    _, _, parsed = sample
    for name, job in _preview_jobs(parsed).items():
        script = job["steps"][-1]["run"]
        assert "crosswalk preview " in script, name
        assert "GITHUB_STEP_SUMMARY" in script, name
        assert "crosswalk apply" not in json.dumps(job), name


def test_deploy_and_drift_never_run_on_pull_requests(sample):
    _, _, parsed = sample
    for name in ("crosswalk-deploy.yml", "crosswalk-drift.yml"):
        on = parsed[name]["on"]
        assert not {"pull_request", "pull_request_target"} & set(on), name
        assert not any("_PREVIEW_" in v for v in _variables(parsed[name])), name


def test_bootstrap_sets_the_preview_variables(sample):
    cloud, _, parsed = sample
    result = CliRunner().invoke(
        main, ["ci", str(REPO / "samples" / cloud / "platform.yaml"), "--bootstrap"]
    )
    assert result.exit_code == 0, result.output
    set_here = set(re.findall(r"gh variable set ([A-Z0-9_]+)", result.stdout))
    read = {v for v in _variables(parsed["crosswalk-pr.yml"]) if "_PREVIEW_" in v}
    assert read and read <= set_here
    assert "automation_deploy-apps_preview_" in result.stdout


# --------------------------------------------------------------------------------------------
# The identities, on the offline plans.


@pytest.fixture(scope="module", params=SAMPLES)
def identity(request, tmp_path_factory):
    cloud = request.param
    out = tmp_path_factory.mktemp(cloud)
    result = compile_file(REPO / "samples" / cloud / "platform.yaml", out)
    assert result.files, [d.render() for d in result.report.errors]
    plan = plan_tree(out, "dev", only=["01-identity", "03-cluster"])
    assert [s.dir for s in plan.stacks if s.error is not None] == []
    check = check_file(str(REPO / "samples" / cloud / "platform.yaml"))
    return cloud, check.environments["dev"], plan, out


def _records(plan, stack="01-identity"):
    return [(r.type, r.name, reveal(r.inputs)) for r in plan.stack(stack).resources]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


READ_VERB = re.compile(r"^[a-z0-9-]+:(Describe|Get|List)[A-Za-z*]*$")


def test_every_entry_has_a_preview_identity_trusting_only_its_pull_requests(identity):
    cloud, platform, plan, out = identity
    records = _records(plan)
    program = (out / "01-identity" / "__main__.py").read_text()
    for bot in platform.automation:
        subject = PR_SUBJECT.format(bot.repository)
        name = f"{platform.name}-ci-{bot.name}-preview"
        if cloud == "aws":
            (role,) = [i for t, n, i in records if t == "aws:iam/role:Role" and n == name]
            (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
            assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
            assert statement["Condition"] == {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": subject,
                }
            }
            exports = [f"automation_{bot.name}_preview_role_arn"]
        elif cloud == "gcp":
            (provider,) = [
                i
                for t, n, i in records
                if t.endswith("WorkloadIdentityPoolProvider") and n == f"{name}-github"
            ]
            condition = provider["attributeCondition"]
            assert "assertion.event_name == 'pull_request'" in condition
            assert f'assertion.repository == "{bot.repository}"' in condition
            (binding,) = [
                i
                for t, n, i in records
                if t == "gcp:serviceaccount/iAMMember:IAMMember" and n == f"{name}-federation"
            ]
            assert binding["member"].endswith("/subject/" + subject)
            assert binding["member"].startswith("principal://")  # one subject, not a set
            # Its pool is not the deploy identity's: a principalSet there would admit it.
            pools = {
                i["workloadIdentityPoolId"]
                for t, n, i in records
                if t.endswith("WorkloadIdentityPool") and n in (name, name[: -len("-preview")])
            }
            assert len(pools) == 2
            exports = [
                f"automation_{bot.name}_preview_service_account",
                f"automation_{bot.name}_preview_workload_identity_provider",
            ]
        else:
            (credential,) = [
                i
                for t, n, i in records
                if t.endswith("FederatedIdentityCredential") and n == f"{name}-github"
            ]
            assert credential["subject"] == subject
            assert credential["issuer"] == "https://token.actions.githubusercontent.com"
            exports = [f"automation_{bot.name}_preview_client_id"]
        for export in exports:  # read by `crosswalk ci --bootstrap`, whatever reads it downstream
            assert re.search(rf'pulumi\.export\(\s*"{re.escape(export)}"', program), export


def test_preview_identities_hold_no_write_right(identity):
    cloud, platform, plan, _ = identity
    records = _records(plan)
    previews = [f"{platform.name}-ci-{bot.name}-preview" for bot in platform.automation]
    if cloud == "aws":
        policies = [
            json.loads(i["policy"])
            for t, n, i in records
            if t == "aws:iam/rolePolicy:RolePolicy" and n in previews
        ]
        assert len(policies) == len(previews)
        for policy in policies:
            for statement in policy["Statement"]:
                assert statement["Effect"] == "Allow"
                for action in _as_list(statement["Action"]):
                    assert READ_VERB.match(action) or action == "kms:Decrypt", action
                    assert action != "secretsmanager:GetSecretValue"
        # The state: its objects read, and nothing written.
        state = [s for p in policies for s in p["Statement"] if "s3:GetObject" in s["Action"]]
        assert state
        attached = [
            i for t, n, i in records if t.endswith("RolePolicyAttachment") and "preview" in n
        ]
        assert not attached
        # In the cluster: the view policy, no more.
        (cluster,) = [i for t, _, i in _records(plan, "03-cluster") if t == "eks:index:Cluster"]
        entries = {
            key: entry for key, entry in cluster["accessEntries"].items() if "preview" in key
        }
        assert len(entries) == len(previews)
        for entry in entries.values():
            assert entry["principalArn"].rsplit("/", 1)[1] in previews
            assert "kubernetesGroups" not in entry
            policies = {p["policyArn"].rsplit("/", 1)[1] for p in entry["accessPolicies"].values()}
            assert policies == {"AmazonEKSViewPolicy"}
    elif cloud == "gcp":
        members = [
            (t, i["role"])
            for t, n, i in records
            if "IAMMember" in t
            and any(n.startswith(f"{p}-") for p in previews)
            and not n.endswith("-federation")
        ]
        assert members
        for _, role in members:
            assert re.search(r"\.(viewer|\w+Viewer|reader|cryptoKeyDecrypter)$", role), role
    else:
        names = {v: k for k, v in AZURE_ROLES.items()}
        assignments = [
            i
            for t, n, i in records
            if t == "azure-native:authorization:RoleAssignment"
            and any(n.startswith(f"{p}-") for p in previews)
        ]
        assert assignments
        held = {names[i["roleDefinitionId"].rsplit("/", 1)[1]] for i in assignments}
        assert held <= {
            "Reader",
            "Storage Blob Data Reader",
            "Key Vault Crypto User",  # decrypts the stacks' secrets (none decrypts alone)
            "Azure Kubernetes Service RBAC Reader",
            "Azure Kubernetes Service Cluster User Role",
        }, held


def test_azure_identities_are_granted_the_state_at_its_own_scope(identity):
    cloud, platform, plan, _ = identity
    if cloud != "azure":
        pytest.skip("Azure's state grants")
    group = platform.state_resource_group
    container = (
        f"{group}/providers/Microsoft.Storage/storageAccounts/contosopulumistate"
        "/blobServices/default/containers/state"
    )
    key = f"{group}/providers/Microsoft.KeyVault/vaults/contoso-pulumi/keys/state"
    names = {v: k for k, v in AZURE_ROLES.items()}
    grants: dict[str, set] = {}
    for t, n, i in _records(plan):
        if t == "azure-native:authorization:RoleAssignment" and "-state-" in n:
            role = names[i["roleDefinitionId"].rsplit("/", 1)[1]]
            assert i["roleDefinitionId"].startswith(group.split("/resourceGroups/")[0])
            grants.setdefault(n, set()).add((role, i["scope"]))
    for bot in platform.automation:
        deploy = f"{platform.name}-ci-{bot.name}"
        assert grants[f"{deploy}-state-blob"] == {("Storage Blob Data Contributor", container)}
        assert grants[f"{deploy}-state-key"] == {("Key Vault Crypto User", key)}
        assert grants[f"{deploy}-preview-state-blob"] == {("Storage Blob Data Reader", container)}
        assert grants[f"{deploy}-preview-state-key"] == {("Key Vault Crypto User", key)}


def test_an_azure_state_without_its_resource_group_is_an_error(tmp_path):
    text = (REPO / "samples" / "azure" / "platform.yaml").read_text()
    lines = [line for line in text.splitlines(keepends=True) if "resourceGroup:" not in line]
    (tmp_path / "platform.yaml").write_text("".join(lines))
    result = CliRunner().invoke(
        main, ["ci", str(tmp_path / "platform.yaml"), "-o", str(tmp_path / "wf")]
    )
    assert result.exit_code == 1, result.output
    match = re.search(r"platform\.yaml:(\d+):\d+: error\[CW805\]", result.output)
    assert match, result.output
    assert "".join(lines).splitlines()[int(match.group(1)) - 1].startswith("state:")
    assert "Traceback" not in result.output
    assert not (tmp_path / "wf").exists()


def test_state_resource_group_applies_only_to_azure(tmp_path):
    text = (REPO / "samples" / "aws" / "platform.yaml").read_text()
    text = text.replace(
        "  backend: s3://acme-platform-state\n",
        "  backend: s3://acme-platform-state\n  resourceGroup: "
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/x\n",
        1,
    )
    (tmp_path / "platform.yaml").write_text(text)
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "platform.yaml")])
    assert result.exit_code == 1
    assert "error[CW504]: state.resourceGroup" in result.output


def test_the_read_check_tells_reads_from_writes():
    # What test_preview_identities_hold_no_write_right counts as a read.
    for action in ("s3:PutObject", "iam:*", "ec2:CreateVpc", "kms:Encrypt", "*", "s3:Get*x:y"):
        assert not READ_VERB.match(action), action
    for action in ("ec2:Describe*", "s3:GetObject", "eks:ListClusters"):
        assert READ_VERB.match(action), action
