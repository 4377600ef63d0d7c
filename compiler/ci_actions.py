"""The third-party GitHub Actions the generated workflows use, pinned by full
commit SHA (a tag can be moved; a commit cannot), with the release each
commit is, for the comment beside it.

Source: each action's repository, the commit its newest release tag points
at, read 2026-12-03. Bump them here, together with the version: the suite
checks the pins are full SHAs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pinned:
    repository: str
    commit: str
    version: str

    @property
    def uses(self) -> str:
        return f"{self.repository}@{self.commit}"


CHECKOUT = Pinned("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1")
SETUP_PYTHON = Pinned("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0")
AWS_CREDENTIALS = Pinned(
    "aws-actions/configure-aws-credentials", "e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"
)
GOOGLE_AUTH = Pinned(
    "google-github-actions/auth", "7c6bc770dae815cd3e89ee6cdf493a5fab2cc093", "v3.0.0"
)
AZURE_LOGIN = Pinned("Azure/login", "f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca", "v3.0.1")
PULUMI = Pinned("pulumi/actions", "8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0")
# The app pipelines' (read 2026-12-04).
ECR_LOGIN = Pinned(
    "aws-actions/amazon-ecr-login", "03f1aad4c6c7ffd436567f42f9384779290529bd", "v2.1.7"
)
DOCKER_LOGIN = Pinned("docker/login-action", "4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0")
SETUP_BUILDX = Pinned(
    "docker/setup-buildx-action", "37fe631027851001ddb9b187196cc803df7f5f0e", "v4.3.0"
)
BUILD_PUSH = Pinned(
    "docker/build-push-action", "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a", "v7.3.0"
)

ALL = (
    CHECKOUT,
    SETUP_PYTHON,
    AWS_CREDENTIALS,
    GOOGLE_AUTH,
    AZURE_LOGIN,
    PULUMI,
    ECR_LOGIN,
    DOCKER_LOGIN,
    SETUP_BUILDX,
    BUILD_PUSH,
)

# The Pulumi CLI the runners install (pulumi/actions' `pulumi-version`): the
# release of the `pulumi` SDK crosswalk's programs pin.
PULUMI_CLI = "3.272.0"
PYTHON = "3.12"
RUNNER = "ubuntu-24.04"
