"""How Kubernetes changes the objects crosswalk emits, for `crosswalk diff`.

`REPLACED_ON_CHANGE`: per type token, the fields the API server refuses to
update (an object's name and namespace, for every kind, in
`EVERY_OBJECT`); a change replaces the object. `STATEFUL`: the kinds whose
deletion or replacement loses data, with what is lost.

Source: the Kubernetes API reference (fields marked immutable) and
pulumi-kubernetes 4.34's replace rules, as of December 2026. A type
crosswalk emits with no entry here is a test failure (tests/test_diff.py).
"""

from __future__ import annotations

# An object is its kind, namespace and name: changing either replaces it.
EVERY_OBJECT = ("metadata.name", "metadata.namespace")

REPLACED_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition": (),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": (
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
        "spec.podManagementPolicy",
    ),
    "kubernetes:batch/v1:CronJob": (),
    # A Job's pod template cannot change: a new script is a new Job (its name
    # carries the script's digest).
    "kubernetes:batch/v1:Job": ("spec.template", "spec.selector"),
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": (),
    "kubernetes:apps/v1:DeploymentPatch": ("spec.selector",),
    "kubernetes:cert-manager.io/v1:Certificate": (),
    "kubernetes:external-secrets.io/v1:ExternalSecret": (),
    "kubernetes:external-secrets.io/v1:SecretStore": (),
    "kubernetes:cert-manager.io/v1:ClusterIssuer": (),
    "kubernetes:cert-manager.io/v1:Issuer": (),
    "kubernetes:constraints.gatekeeper.sh/v1beta1:CrosswalkImageTag": (),
    "kubernetes:constraints.gatekeeper.sh/v1beta1:CrosswalkPodSecurityRestricted": (),
    "kubernetes:constraints.gatekeeper.sh/v1beta1:CrosswalkRequestsLimits": (),
    "kubernetes:core/v1:ConfigMap": (),
    "kubernetes:core/v1:LimitRange": (),
    "kubernetes:core/v1:Namespace": (),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec.storageClassName", "spec.selector"),
    "kubernetes:core/v1:ResourceQuota": (),
    "kubernetes:core/v1:Secret": ("type",),
    "kubernetes:core/v1:Service": ("spec.clusterIP", "spec.clusterIPs"),
    "kubernetes:core/v1:ServiceAccount": (),
    "kubernetes:core/v1:ServiceAccountPatch": (),
    "kubernetes:gateway.networking.k8s.io/v1:Gateway": (),
    "kubernetes:gateway.networking.k8s.io/v1:GatewayClass": ("spec.controllerName",),
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": (),
    # A Helm release is its name and namespace (top-level inputs, not metadata).
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
    "kubernetes:networking.k8s.io/v1:Ingress": (),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": (),
    "kubernetes:policies.kyverno.io/v1beta1:ValidatingPolicy": (),
    "kubernetes:policy/v1:PodDisruptionBudget": (),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": (),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate": (),
    "kubernetes:storage.k8s.io/v1:StorageClass": (
        "provisioner",
        "parameters",
        "reclaimPolicy",
        "volumeBindingMode",
    ),
    # The provider itself: replacing it replaces every resource it manages.
    "pulumi:providers:kubernetes": (),
}

STATEFUL: dict[str, str] = {
    "kubernetes:core/v1:Namespace": "the namespace and every object in it",
    "kubernetes:core/v1:PersistentVolumeClaim": "the volume and its data",
}
