"""What every GCP layer's program shares: the provider, the environment's
project, region and names, API enablement, ids, workload identity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from crosswalk.compiler.codegen import Call, Code, joined
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.common import emit_cloud_provider, environment_tags, protect
from crosswalk.providers.gcp.rules import gcp_name

GCP_IMPORT = "import pulumi_gcp as gcp"
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"
PODS_RANGE, SERVICES_RANGE = "pods", "services"


def gcp_provider(ctx: StackContext) -> Code:
    """The program's Google provider: the environment's project and region,
    every resource labelled with the platform and the environment."""
    labels = environment_tags(ctx, "crosswalk-platform", "crosswalk-environment")
    args = {"project": project(ctx), "region": region(ctx), "default_labels": labels}
    return emit_cloud_provider(ctx, GCP_IMPORT, "gcp.Provider", "gcp", args)


def project(ctx: StackContext) -> str | Code:
    """The environment's project."""
    return ctx.setting("cloud.project", lambda q, env: q.cloud.project)


def region(ctx: StackContext) -> str | Code:
    """The environment's region."""
    return ctx.setting("cloud.region", lambda q, env: q.cloud.region)


def unique_name(ctx: StackContext, key: str, limit: int, *parts: str) -> str | Code:
    """A name GCP keeps unique in the project (rules.gcp_name), per environment."""
    return ctx.setting(f"names.{key}", lambda q, env: gcp_name(q, limit, *parts))


def enable_apis(ctx: StackContext, provider: Code, names: list[str]) -> Code | None:
    """Turn on the Google APIs a layer uses; its resources wait for them.
    Turning them off on destroy could break the other layers: it never happens."""
    prog = ctx.program
    enabled = []
    for api in names:
        short = api.split(".")[0]
        enabled.append(
            prog.resource(
                ("api", short),
                "gcp.projects.Service",
                f"{ctx.platform.name}-{short}",
                {"service": api, "disable_on_destroy": False, "disable_dependent_services": False},
                ctx.line(("cloud",)),
                {"provider": provider},
            )
        )
    if not enabled:
        return None
    return prog.assign(prog.name("apis"), enabled)


def opts(provider: Code, apis: Code | None = None, **extra) -> dict:
    """Resource options: the explicit provider, after the layer's APIs are on."""
    opts: dict = {"provider": provider}
    if apis is not None:
        opts["depends_on"] = apis
    return opts | extra


def invoke_opts(provider: Code) -> Call:
    return Call("pulumi.InvokeOptions", kwargs={"provider": provider})


def gcp_id(limit: int, *parts: str) -> str:
    """A GCP resource id from name parts; shortened with a stable hash when too long."""
    text = "-".join(parts)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return text[: limit - 7].rstrip("-") + "-" + digest


def account_id(ctx: StackContext, key: str, *parts: str) -> str | Code:
    """The id of one of the platform's service accounts (6 to 30 characters),
    per environment."""
    return unique_name(ctx, f"serviceAccount.{key}", 30, *parts)


def var_part(name: str) -> str:
    """A user's name as part of a variable name: short enough that every
    statement's first line fits ruff's line length (the program keeps names unique)."""
    return name[:20]


def short_role(role: str) -> str:
    return role.split("/", 1)[1].replace(".", "-")


def cel_string(text: str) -> str:
    """A CEL string literal (CEL reads JSON's escapes)."""
    return json.dumps(text)


def workload_member(ctx: StackContext, namespace: str, service_account: str) -> str | Code:
    """The principal a Kubernetes service account has under GKE's workload identity."""
    return joined("serviceAccount:", project(ctx), f".svc.id.goog[{namespace}/{service_account}]")


def service_agent(project_info: Code, agent: str) -> Call:
    """The member name of one of Google's per-project service agents."""
    return Call(
        "pulumi.Output.concat",
        [
            "serviceAccount:service-",
            Code(f"{project_info}.number"),
            f"@{agent}.iam.gserviceaccount.com",
        ],
    )


def agent_key(ctx, provider, apis, ring: Code, project_info: Code, purpose: str, agent: str, line):
    """A key `<platform>-<purpose>` of the platform's key ring (rotated every
    90 days, protected) that one of Google's service agents (`agent`) encrypts
    a service's data with: the key, and the agent's grant on it alone."""
    p, prog = ctx.platform, ctx.program
    key = prog.resource(
        f"{purpose}_key",
        "gcp.kms.CryptoKey",
        f"{p.name}-{purpose}",
        {
            "name": f"{p.name}-{purpose}",
            "key_ring": Code(f"{ring}.id"),
            "purpose": "ENCRYPT_DECRYPT",
            "rotation_period": "7776000s",  # 90 days
        },
        line,
        opts(provider, apis, **protect(ctx)),
    )
    grant = prog.resource(
        f"{purpose}_key_agent",
        "gcp.kms.CryptoKeyIAMMember",
        f"{p.name}-{purpose}-agent",
        {
            "crypto_key_id": Code(f"{key}.id"),
            "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
            "member": service_agent(project_info, agent),
        },
        line,
        opts(provider, apis),
    )
    return key, grant


def app_needs_account(platform, app) -> bool:
    """Whether an app gets a Google service account: it uses a bucket, a
    warehouse or secrets, or a datastore it reaches with Google IAM
    (Memorystore takes a password instead)."""
    return bool(app.buckets or app.warehouses or app.secrets) or any(
        platform.datastore(name).engine != "redis" for name in app.uses
    )


def app_account_output(app) -> str:
    """The identity stack's output with the email of an app's service account."""
    return f"app_{app.name}_service_account"


def db_admin_account_output(store) -> str:
    """The identity stack's output with the email of the service account that
    administers a Cloud SQL datastore."""
    return f"db_admin_{store.name}_service_account"


def account_member(email: Code) -> Call:
    """The IAM member of a service account whose email is an Output."""
    return Call("pulumi.Output.concat", ["serviceAccount:", email])


def workload_account(
    ctx,
    provider,
    apis,
    var,
    name,
    namespace,
    service_account,
    line,
    cloud_name: str | None = None,
    moved: Callable[[str], dict] | None = None,
) -> Code:
    """A Google service account one Kubernetes service account may act as.
    `cloud_name`: the name part its id keeps when it was renamed (an id cannot
    change); `moved(suffix)`: the aliases of its resources then."""
    p, prog = ctx.platform, ctx.program
    moved = moved or (lambda suffix: {})
    account = prog.resource(
        (var, "account"),
        "gcp.serviceaccount.Account",
        f"{p.name}-{name}",
        {
            "account_id": account_id(ctx, name, cloud_name or name),
            "display_name": f"{namespace}/{service_account} of platform {p.name}"[:100],
            "description": f"Workload identity of Kubernetes service account {namespace}/{service_account}"[
                :256
            ],
        },
        line,
        opts(provider, apis, **moved("")),
    )
    prog.resource(
        (var, "workload_identity"),
        "gcp.serviceaccount.IAMMember",
        f"{p.name}-{name}-workload-identity",
        {
            "service_account_id": Code(f"{account}.name"),
            "role": "roles/iam.workloadIdentityUser",
            "member": workload_member(ctx, namespace, service_account),
        },
        line,
        opts(provider, apis, **moved("-workload-identity")),
    )
    return account


# The nodes' right on each of the platform's registries: pulling its images.
NODE_REGISTRY_ROLE = "roles/artifactregistry.reader"
