"""Apps built from a repository of their own (`apps[].build`): the repository
each gets in a platform registry, by cloud, and what its image must be.

Each such app gets a registry repository of its own (beside the registry's
shared one, with the registry's settings) because both clouds grant a push
per repository: an ECR policy names a repository's ARN, and Artifact
Registry's IAM is set on a repository. The app's push identity may push there
and nowhere else.

Azure is not offered: an ACR registry grants a push to one repository only
with ABAC ("Container Registry Repository Writer" conditioned on the
repository's name), and the ACR API version the pinned azure-native uses
(2023-01-01-preview) cannot turn ABAC on; AcrPush would push to every
repository of the registry.
"""

from __future__ import annotations

import re

from crosswalk.compiler.model import default_first
from crosswalk.providers import environment_scope, shortened

BUILD_CLOUDS = ("aws", "gcp")


def build_registry(platform, app):
    """The platform registry an app's image is pushed to (None: there is none)."""
    if app.build is None or not platform.registries:
        return None
    if app.build.registry is None:
        return platform.registries[0]
    return next((r for r in platform.registries if r.name == app.build.registry), None)


def built_apps(platform, registry) -> list:
    """The apps whose builds push to `registry`."""
    return [app for app in platform.builds if build_registry(platform, app) == registry]


def build_repository(platform, app) -> str:
    """The app's repository: AWS an ECR repository's name (beside the
    registry's `<platform>/<registry>`), GCP an Artifact Registry
    repository's id (beside the registry's `<platform>-<registry>`)."""
    registry = build_registry(platform, app)
    scope = environment_scope(platform)
    if platform.cloud.provider == "aws":
        return f"{shortened('-'.join(scope), 255)}/{registry.name}/{app.cloud_name}"
    return shortened("-".join((*scope, registry.name, app.cloud_name)), 63)


def build_image(platform, app) -> str:
    """The image (without tag or digest) the app's builds push. AWS's account
    is written `ACCOUNT` when `cloud.account` is not set."""
    cloud = platform.cloud
    repository = build_repository(platform, app)
    if cloud.provider == "aws":
        account = cloud.account or "ACCOUNT"
        return f"{account}.dkr.ecr.{cloud.region}.amazonaws.com/{repository}"
    return f"{cloud.region}-docker.pkg.dev/{cloud.project}/{repository}/{app.cloud_name}"


def image_is_built(platform, app) -> bool:
    """Whether the app's image names its build repository (with a tag or digest)."""
    expected = re.escape(build_image(platform, app))
    if platform.cloud.provider == "aws" and not platform.cloud.account:
        expected = expected.replace("ACCOUNT", "[0-9]{12}", 1)
    return re.fullmatch(expected + r"[:@].+", app.image) is not None


def gated_environment(platform, env: str) -> str | None:
    """The GitHub environment an app's build job of `env` runs in: none for
    the platform's default environment (`dev` when declared), so its jobs
    run as pushes to the branch; every other environment's in a GitHub
    environment of its name, whose required reviewers approve each deploy.
    The build identity of the environment trusts the jobs of that GitHub
    environment only."""
    names = [e.name for e in platform.environments] or [env]
    return None if env == default_first(names)[0] else env


def build_subject(platform, env: str, app) -> str:
    """The OIDC subject the build identity of `app` in `env` trusts."""
    gated = gated_environment(platform, env)
    repository = app.build.repository
    if gated:
        return f"repo:{repository}:environment:{gated}"
    return f"repo:{repository}:ref:refs/heads/{app.build.branch}"
