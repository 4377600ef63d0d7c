"""`crosswalk ci`: the workflow of each app built from a repository of its
own (`apps[].build`), for that repository.

On each push to the app's branch, one job per environment (the default
environment's first, each other's after it and in a GitHub environment of
its name, whose reviewers approve the deploy): assume the environment's
build identity of the app through GitHub's OIDC token, build the image and
push it to the app's own repository in the platform registry, tagged with
the commit, then deploy only the app's stack with that image by digest
(`pulumi config set image REF@DIGEST`, `crosswalk apply --stack`). The
stack's program comes from the platform's repository, checked out beside.

Like the platform's workflows, every value from platform.yaml reaches a
script through `env:`, never through `${{ }}`.
"""

from __future__ import annotations

import shlex

from crosswalk.compiler import ci_actions as actions
from crosswalk.compiler.ci import _checkout, _requirement, _state_env, _workflow
from crosswalk.compiler.ci_plan import CiPlan, EnvironmentPlan, variable_name
from crosswalk.compiler.model import App, default_first
from crosswalk.providers.builds import build_image, build_repository, gated_environment

# Where an app's workflow goes, under the directory of the platform's
# workflows: below `apps/<app>/` as it goes in the app's repository. GitHub
# runs only the files directly in `.github/workflows`, so these never run in
# the platform's repository.
APP_WORKFLOW = "apps/{app}/.github/workflows/crosswalk-app.yml"

# The repository secret (of the app's repository) that reads the platform's
# repository, when that one is private: a token with read access to its contents.
PLATFORM_TOKEN = "CROSSWALK_PLATFORM_TOKEN"

# What each cloud's build identity exports, and the repository variable it is
# set under (in the app's repository: see `bootstrap_lines`).
BUILD_OUTPUTS = {
    "aws": (("role_arn", "ROLE_ARN"),),
    "gcp": (
        ("workload_identity_provider", "WORKLOAD_IDENTITY_PROVIDER"),
        ("service_account", "SERVICE_ACCOUNT"),
    ),
}

IMAGE_SCRIPT = """\
image="$REGISTRY/$REPOSITORY"
echo "name=$image" >> "$GITHUB_OUTPUT"
# Tags cannot be pushed twice to an immutable repository: a re-run deploys
# what the first run of the commit pushed.
if manifest="$(docker buildx imagetools inspect "$image:$GITHUB_SHA" --format '{{json .Manifest}}' 2>/dev/null)"; then
  echo "digest=$(printf '%s' "$manifest" | python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')" >> "$GITHUB_OUTPUT"
fi
"""

DEPLOY_SCRIPT = """\
digest="${{BUILT:-$FOUND}}"
cd platform
{compile}\
# The build's image, by digest, as the stack's `image` config; crosswalk
# never writes that key, and the stack keeps it as its last image.
(
  cd "$TREE/$STACK"
  pulumi stack select --create "$CROSSWALK_ENV"{secrets}
  pulumi config set image "$IMAGE@$digest"
)
crosswalk apply "$PLATFORM"{tree} --env "$CROSSWALK_ENV" --stack "$STACK" --yes
"""


def built_apps(plan: CiPlan) -> list[App]:
    """The apps built from a repository of their own, in the platform's order."""
    platform = plan.environments[0].platform
    return [app for app in platform.apps if app.build is not None]


def app_workflows(plan: CiPlan) -> dict[str, dict]:
    """File name (under the workflows' directory) -> workflow, per built app."""
    return {APP_WORKFLOW.format(app=app.name): app_workflow(plan, app) for app in built_apps(plan)}


def _ordered(plan: CiPlan) -> list[EnvironmentPlan]:
    """The environments, the default one first: the others deploy after it."""
    by_name = {env.name: env for env in plan.environments}
    return [by_name[name] for name in default_first(by_name)]


def app_workflow(plan: CiPlan, app: App) -> dict:
    jobs: dict = {}
    before: str | None = None
    for env in _ordered(plan):
        job_id = f"{env.key}-deploy"
        jobs[job_id] = _job(plan, env, env.platform.app(app.name), before)
        before = job_id
    return _workflow(
        f"crosswalk: build and deploy {app.name}",
        {"push": {"branches": [app.build.branch]}},
        jobs,
        concurrency=f"crosswalk-app-{app.name}",
    )


def _var(env: EnvironmentPlan, app: App, suffix: str) -> str:
    return "${{ vars." + variable_name(env.name, f"build-{app.name}", suffix) + " }}"


def _job(plan: CiPlan, env: EnvironmentPlan, app: App, before: str | None) -> dict:
    platform = env.platform
    cloud = platform.cloud
    stack = f"06-apps/{app.name}"
    job: dict = {"name": f"{env.name}: build and deploy {app.name}"}
    if before:
        job["needs"] = [before]
    job["runs-on"] = actions.RUNNER
    job["timeout-minutes"] = 60
    gated = gated_environment(platform, env.name)
    if gated:
        # The build identity of this environment trusts only jobs of this
        # GitHub environment: its required reviewers approve each deploy.
        job["environment"] = gated
    job["permissions"] = {"contents": "read", "id-token": "write"}
    job_env = {
        "PLATFORM": plan.settings.platform_file,
        "CROSSWALK_ENV": env.name,
        "STACK": stack,
        "TREE": plan.settings.compiled
        or _posix_join(_parent(plan.settings.platform_file), ".crosswalk/build", env.name),
        **_state_env(plan),
    }
    if plan.settings.compiled:
        job_env["COMPILED"] = plan.settings.compiled
    secrets_provider = platform.state_secrets_provider
    if secrets_provider and secrets_provider != "passphrase":
        job_env["SECRETS_PROVIDER"] = secrets_provider
    job["env"] = job_env

    steps: list[dict] = [
        _checkout(False),
        {
            "name": "Check out the platform",
            "uses": actions.CHECKOUT.uses,
            "with": {
                "repository": plan.repository,
                "ref": plan.branch,
                "path": "platform",
                "token": "${{ secrets." + PLATFORM_TOKEN + " }}",
                "persist-credentials": False,
            },
        },
    ]
    if plan.provider == "aws":
        steps += [
            {
                "name": f"Assume the build identity of {app.name}",
                "uses": actions.AWS_CREDENTIALS.uses,
                "with": {"role-to-assume": _var(env, app, "ROLE_ARN"), "aws-region": cloud.region},
            },
            {"name": "Log in to ECR", "id": "login", "uses": actions.ECR_LOGIN.uses},
        ]
        registry = "${{ steps.login.outputs.registry }}"
        repository = build_repository(platform, app)
    else:
        host = f"{cloud.region}-docker.pkg.dev"
        steps += [
            {
                "name": f"Assume the build identity of {app.name}",
                "id": "auth",
                "uses": actions.GOOGLE_AUTH.uses,
                "with": {
                    "workload_identity_provider": _var(env, app, "WORKLOAD_IDENTITY_PROVIDER"),
                    "service_account": _var(env, app, "SERVICE_ACCOUNT"),
                    "token_format": "access_token",
                },
            },
            {
                "name": "Log in to Artifact Registry",
                "uses": actions.DOCKER_LOGIN.uses,
                "with": {
                    "registry": host,
                    "username": "oauth2accesstoken",
                    "password": "${{ steps.auth.outputs.access_token }}",
                },
            },
        ]
        registry = host
        repository = build_image(platform, app).removeprefix(host + "/")
    build = app.build
    steps += [
        {"name": "Set up Buildx", "uses": actions.SETUP_BUILDX.uses},
        {
            "name": "Image",
            "id": "image",
            "env": {"REGISTRY": registry, "REPOSITORY": repository},
            "run": IMAGE_SCRIPT,
        },
        {
            "name": "Build and push",
            "id": "build",
            "if": "steps.image.outputs.digest == ''",
            "uses": actions.BUILD_PUSH.uses,
            "with": {
                "context": build.context,
                "file": build.dockerfile,
                "push": True,
                "tags": "${{ steps.image.outputs.name }}:${{ github.sha }}",
            },
        },
        {
            "name": "Set up Python",
            "uses": actions.SETUP_PYTHON.uses,
            "with": {"python-version": actions.PYTHON},
        },
        {
            "name": "Install the Pulumi CLI",
            "uses": actions.PULUMI.uses,
            "with": {"pulumi-version": actions.PULUMI_CLI},
        },
        {
            "name": "Install crosswalk",
            "env": {"REQUIREMENT": _requirement(plan)},
            "run": 'python -m pip install --disable-pip-version-check "$REQUIREMENT"',
        },
        {
            "name": f"Deploy {stack} with the image",
            "env": {
                "IMAGE": "${{ steps.image.outputs.name }}",
                "BUILT": "${{ steps.build.outputs.digest }}",
                "FOUND": "${{ steps.image.outputs.digest }}",
            },
            "run": DEPLOY_SCRIPT.format(
                compile=""
                if plan.settings.compiled
                else 'crosswalk compile "$PLATFORM" -o "$TREE" --env "$CROSSWALK_ENV"\n',
                secrets=' --secrets-provider "$SECRETS_PROVIDER"'
                if "SECRETS_PROVIDER" in job_env
                else "",
                tree=' -o "$COMPILED"' if plan.settings.compiled else "",
            ),
        },
    ]
    job["steps"] = steps
    return job


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _posix_join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def bootstrap_lines(plan: CiPlan, build_dir) -> list[str]:
    """Commands that set, in each built app's repository, the variables its
    workflow reads from the identity stack's `build_<app>_...` outputs."""
    lines = []
    for app in built_apps(plan):
        for env in plan.environments:
            identity_dir = build_dir(env.name) + "/01-identity"
            for output, suffix in BUILD_OUTPUTS[plan.provider]:
                name = variable_name(env.name, f"build-{app.name}", suffix)
                lines.append(
                    f"gh variable set {name} --repo {shlex.quote(app.build.repository)} "
                    f'--body "$(pulumi stack output {shlex.quote(f"build_{app.name}_{output}")} '
                    f'--stack {shlex.quote(env.name)} --cwd {shlex.quote(identity_dir)})"'
                )
    return lines
