"""Kubernetes objects every cloud shares: namespaces with their guard rails,
apps, their routes and policies, and the Helm releases of the platform's
services (`charts`). Backends call these with the cloud-specific parts (a Kubernetes
provider variable, service-account annotations, datastore connection values).

Everything is emitted through `StackContext.program` (codegen), never pasted:
user values enter as literals, values that differ between environments as
config reads (`StackContext.setting`). Objects are written flat, one resource
per statement, with inline literal dicts whose keys are the snake_case names of
pulumi_kubernetes' `*ArgsDict` TypedDicts (pyright checks them; custom
resources, whose spec is untyped, use the API's camelCase).

Names. Kubernetes names are built from validated DNS labels. Names derived
from two labels join them with a dot (`storefront.to.checkout`), which no
label contains, so two apps can never derive the same name. Pulumi names are
`<namespace>/<name>`, like kubectl's, hence unique per type in a stack.

NetworkPolicies are additive and a pod selected by any policy of a direction
is isolated in that direction: an app's own policies are therefore written
only into namespaces that are default-deny already, where they can only open
traffic, never close it.

One module per concern: `common` (labels, the Kubernetes provider, kubeconfig,
storage class), `namespaces`, `apps`, `routes`, `policies`, `charts` (cluster
and app services as Helm releases), `mocks` (what the offline plan makes up
for Kubernetes objects and charts). Backends use the names below.
"""

from __future__ import annotations

from crosswalk.providers.kubernetes.apps import ENV_HASH_ANNOTATION, emit_app, env_hash
from crosswalk.providers.kubernetes.common import (
    ACCESS_CLUSTER_ROLES,
    AZURE_SPOT_TAINT,
    ENVIRONMENT_LABEL,
    INGRESS_NAMESPACES,
    K8S_IMPORT,
    MANAGED_BY,
    NODE_POOL_LABEL,
    STORAGE_CLASSES,
    AppCloudParts,
    app_host,
    bucket_env,
    certificates_email,
    dns_owner,
    dns_zone,
    double_cpu,
    emit_default_storage_class,
    emit_kubeconfig,
    emit_provider,
    env_prefix,
    team_group,
)
from crosswalk.providers.kubernetes.namespaces import emit_namespace, emit_route_roles

__all__ = [
    "ACCESS_CLUSTER_ROLES",
    "AZURE_SPOT_TAINT",
    "ENVIRONMENT_LABEL",
    "ENV_HASH_ANNOTATION",
    "INGRESS_NAMESPACES",
    "K8S_IMPORT",
    "MANAGED_BY",
    "NODE_POOL_LABEL",
    "STORAGE_CLASSES",
    "AppCloudParts",
    "app_host",
    "bucket_env",
    "certificates_email",
    "dns_owner",
    "dns_zone",
    "double_cpu",
    "emit_app",
    "emit_default_storage_class",
    "emit_kubeconfig",
    "emit_namespace",
    "emit_provider",
    "emit_route_roles",
    "env_hash",
    "env_prefix",
    "team_group",
]
