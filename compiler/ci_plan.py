"""Who deploys what in CI: from a checked platform and the settings of
`crosswalk ci` to the facts every workflow is built from (each environment's
stack graph, the automation entry that deploys each layer, the branch, the
backend), or to diagnostics (CW8xx) at the keys that keep CI from working."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from crosswalk.compiler.diagnostics import ERROR, Diagnostic, format_path
from crosswalk.compiler.graph import ResourceGraph, build_graph, stack_layer
from crosswalk.compiler.model import LAYERS, Automation, Platform

# What each cloud's identity stack exports for an automation entry, and the
# repository variable suffix it is set under (see `bootstrap_script`).
# Each entry's read-only preview twin exports the same under `preview_`
# (`automation_<entry>_preview_role_arn`), set as `..._PREVIEW_ROLE_ARN`.
DEPLOY_OUTPUTS = {
    "aws": (("role_arn", "ROLE_ARN"),),
    "gcp": (
        ("workload_identity_provider", "WORKLOAD_IDENTITY_PROVIDER"),
        ("service_account", "SERVICE_ACCOUNT"),
    ),
    "azure": (("client_id", "CLIENT_ID"),),
}
PREVIEW = ("preview_", "PREVIEW_")
IDENTITY_OUTPUTS = {
    cloud: outputs + tuple((PREVIEW[0] + out, PREVIEW[1] + suffix) for out, suffix in outputs)
    for cloud, outputs in DEPLOY_OUTPUTS.items()
}


@dataclass(frozen=True)
class CiSettings:
    """What the workflows are generated for."""

    platform_file: str  # the platform file, relative to the repository root
    compiled: str | None = None  # a committed compiled tree, relative to the root
    repository: str | None = None  # owner/name; found from the automation entries when None
    environments: tuple[str, ...] = ()  # () = every environment
    requirement: str = ""  # how runners install crosswalk ("" = this release from PyPI)


@dataclass
class EnvironmentPlan:
    """One environment's stacks and who deploys each."""

    name: str
    key: str  # the environment as a job id and output name
    platform: Platform
    graph: ResourceGraph
    deployer: dict[str, Automation]  # layer -> the entry whose identity deploys it

    @property
    def layer_stacks(self) -> list[str]:
        return [s for s in self.graph.stack_order() if stack_layer(s) != "apps"]

    @property
    def app_stacks(self) -> list[str]:
        return [s for s in self.graph.stack_order() if stack_layer(s) == "apps"]

    def job(self, stack: str) -> str:
        return f"{self.key}-{stack_layer(stack)}"

    @property
    def apps_job(self) -> str:
        return f"{self.key}-apps"


@dataclass
class CiPlan:
    settings: CiSettings
    provider: str
    repository: str
    branch: str
    backend: str
    secrets_provider: str | None
    environments: list[EnvironmentPlan] = field(default_factory=list)


def variable_name(env: str, entry: str, suffix: str) -> str:
    """The repository variable holding one identity coordinate."""
    return re.sub(r"[^A-Z0-9]", "_", f"CROSSWALK_{env}_{entry}_{suffix}".upper())


def _job_key(env: str) -> str:
    # Job ids and output names start with a letter or `_`; environment names may not.
    return env if env[:1].isalpha() else f"env-{env}"


def crosswalk_requirement(provider: str) -> str:
    try:
        release = version("crosswalk")
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        release = "0.1.0"
    return f"crosswalk[{provider}]=={release}"


# --------------------------------------------------------------------------------------------
# From the checked platform to a plan, or diagnostics at the keys that stop it.


def plan_ci(check, settings: CiSettings) -> tuple[CiPlan | None, list[Diagnostic]]:
    """Who deploys what, branch and backend: the facts every workflow is
    built from, or errors (CW8xx) at the keys that keep CI from working."""
    document = check.document
    platform: Platform = check.platform
    problems: list[Diagnostic] = []

    def error(code: str, message: str, path: tuple, help: str) -> None:
        # A list or a mapping is cited at its key; a value, where it is.
        at_key = (
            path
            and not isinstance(path[-1], int)
            and path[-1] in ("automation", "identity", "state")
        )
        problems.append(
            Diagnostic(
                ERROR,
                code,
                message,
                document.span(path, key=bool(at_key)),
                format_path(path),
                help,
                document.file,
            )
        )

    names = list(check.environments)
    chosen = list(settings.environments) or names
    unknown = [e for e in chosen if e not in check.environments]
    if unknown:
        error(
            "CW801",
            f"environment {', '.join(unknown)} is not declared; declared: {', '.join(names)}",
            ("environments",),
            "choose declared environments with --env",
        )
        return None, problems
    plans = []
    for env in chosen:
        seen = check.environments[env]
        plans.append(EnvironmentPlan(env, _job_key(env), seen, build_graph(seen), {}))

    repository = settings.repository or _repository_of(plans)
    automation_path = ("identity", "automation")
    if repository is None:
        repositories = sorted({a.repository for p in plans for a in p.platform.automation})
        error(
            "CW801",
            (
                f"no one repository's entries deploy every layer (they trust "
                f"{', '.join(repositories)}), so there is no repository to run the workflows in"
                if repositories
                else "no `identity.automation` entries: CI jobs would have no identity to "
                "deploy with"
            ),
            automation_path if platform.automation else ("identity",),
            "add entries trusting the platform's repository (`github: {repository: "
            "OWNER/NAME, ref: refs/heads/main}`) whose `layers` cover every layer, or name the "
            "repository with --repository",
        )
        plans_checked: list[EnvironmentPlan] = []
    else:
        plans_checked = plans

    branches: dict[str, tuple] = {}
    uncovered: dict[str, list[str]] = {}
    for plan in plans_checked:
        entries = list(enumerate(plan.platform.automation))
        for layer in _layers_in_use(plan):
            index, entry = next(
                ((i, a) for i, a in entries if a.repository == repository and layer in a.layers),
                (None, None),
            )
            if entry is None:
                uncovered.setdefault(layer, []).append(plan.name)
                continue
            plan.deployer[layer] = entry
            if entry.environment is None:
                ref_path = (*automation_path, index, "github", "ref")
                if not entry.ref.startswith("refs/heads/"):
                    error(
                        "CW802",
                        f"automation entry {entry.name} trusts {entry.ref}, but the deploy "
                        "workflow runs on pushes to a branch",
                        ref_path,
                        "trust the branch that deploys (`ref: refs/heads/main`) or a GitHub "
                        "environment (`environment: production`)",
                    )
                    continue
                branches.setdefault(entry.ref.removeprefix("refs/heads/"), ref_path)
    for layer, envs in uncovered.items():
        error(
            "CW801",
            f"layer {layer} ({', '.join(envs)}) is deployed by no automation entry trusting "
            f"{repository}, so no workflow job may deploy it",
            automation_path if platform.automation else ("identity",),
            f"add `{layer}` to the `layers` of an entry with `github: {{repository: "
            f"{repository}}}`",
        )
    if len(branches) > 1:
        first, *others = sorted(branches)
        for other in others:
            error(
                "CW802",
                f"automation entries trust different branches ({first} and {other}); the deploy "
                "workflow runs on one",
                branches[other],
                f"trust refs/heads/{first} in every entry the platform's repository deploys with",
            )

    backend = platform.state_backend
    if backend is None or backend.startswith("file://"):
        error(
            "CW803",
            "CI needs a state backend every runner reaches; "
            + (
                "the local file backend (the default) lives on one machine"
                if backend is None
                else f"{backend} is a directory of one machine"
            ),
            ("state", "backend") if backend else ("state",) if _has(document, "state") else (),
            "set `state: {backend: s3://BUCKET}` (or gs://, azblob://, https://api.pulumi.com)",
        )

    azure_state = (
        backend
        and backend.startswith("azblob://")
        or (platform.state_secrets_provider or "").startswith("azurekeyvault://")
    )
    if platform.cloud.provider == "azure" and azure_state:
        missing = []
        if not platform.state_resource_group:
            missing.append("`state.resourceGroup` (the resource group they are in) is not set")
        if backend.startswith("azblob://") and "storage_account=" not in backend:
            missing.append(f"{backend} names no `storage_account`")
        if missing:
            error(
                "CW805",
                "the CI identities cannot be granted the state's container and key: "
                + "; ".join(missing),
                ("state",),
                "set `resourceGroup: /subscriptions/SUBSCRIPTION-ID/resourceGroups/NAME` under "
                "state, and `azblob://CONTAINER?storage_account=ACCOUNT` as its backend",
            )

    variables: dict[str, str] = {}
    for plan in plans:
        for entry in unique_entries(plan.deployer.values()):
            for _output, suffix in IDENTITY_OUTPUTS[platform.cloud.provider]:
                name = variable_name(plan.name, entry.name, suffix)
                owner = f"{plan.name}/{entry.name}"
                if variables.setdefault(name, owner) != owner:
                    error(
                        "CW804",
                        f"automation entry {entry.name} of environment {plan.name} and "
                        f"{variables[name]} would share the repository variable {name}",
                        (*automation_path, plan.platform.automation.index(entry), "name"),
                        "rename one: the variable is made of the environment's and the entry's "
                        "names in capitals, `-` as `_`",
                    )
    if problems:
        return None, problems
    branch = next(iter(branches), "main")
    return (
        CiPlan(
            settings,
            platform.cloud.provider,
            repository,
            branch,
            backend or "",
            platform.state_secrets_provider,
            plans,
        ),
        [],
    )


def _has(document, key: str) -> bool:
    return isinstance(document.data, dict) and key in document.data


def _layers_in_use(plan: EnvironmentPlan) -> list[str]:
    used = {stack_layer(s) for s in plan.graph.stack_order()}
    return [layer for layer in LAYERS if layer in used]


def _repository_of(plans: list[EnvironmentPlan]) -> str | None:
    """The one repository whose entries deploy every layer in use."""
    candidates = None
    for plan in plans:
        layers = set(_layers_in_use(plan))
        covering = {
            repo
            for repo in {a.repository for a in plan.platform.automation}
            if layers
            <= {
                layer
                for a in plan.platform.automation
                if a.repository == repo
                for layer in a.layers
            }
        }
        candidates = covering if candidates is None else candidates & covering
    return next(iter(candidates)) if candidates and len(candidates) == 1 else None


def unique_entries(entries: Iterable[Automation]) -> list[Automation]:
    seen: dict[str, Automation] = {}
    for entry in entries:
        seen.setdefault(entry.name, entry)
    return list(seen.values())
