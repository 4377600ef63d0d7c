"""The policy engines' policy set (layer 4, every cloud): the same rules on
Kyverno and on Gatekeeper, so `clusterServices.policy.engine` picks the tool,
never what is enforced.

The rules:

* Pod Security `restricted`, in the namespaces that declare `restricted`
  (Kyverno: the kyverno-policies chart; Gatekeeper: one ConstraintTemplate);
* every container requests and limits CPU and memory;
* every image names a tag other than `latest` (or a digest);
* images come only from `clusterServices.policy.allowedRegistries`, when set.

They apply to the platform's declared namespaces; the platform's own
namespaces run the charts, whose pods need more than apps (see the Pod
Security table in the README), and Pod Security admission guards each of them
at its own level. `policy.mode: audit` reports what breaks a rule instead of
refusing it.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.compiler.model import Platform

# Kyverno's CEL policies (the API the kyverno-policies chart writes).
KYVERNO_API = "policies.kyverno.io/v1beta1"
GATEKEEPER_TEMPLATES_API = "templates.gatekeeper.sh/v1"
GATEKEEPER_CONSTRAINTS_API = "constraints.gatekeeper.sh/v1beta1"
GATEKEEPER_TARGET = "admission.k8s.gatekeeper.sh"

# pulumi-kubernetes waits for this before the constraints: Gatekeeper has made
# the template's constraint kind.
TEMPLATE_READY = {"pulumi.com/waitFor": "jsonpath={.status.created}=true"}

POD_RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["pods"],
    }
]

# Every container of a pod, for CEL: `all(c, ...)` over each list present.
_ALL_CONTAINERS = (
    "(!has(object.spec.initContainers) || object.spec.initContainers.all(c, {rule})) && "
    "object.spec.containers.all(c, {rule})"
)


def namespaces_of(platform: Platform, level: str | None = None) -> list[str]:
    """The declared namespaces (those that enforce Pod Security `level`), by
    their names in the cluster (a renamed one keeps its first: `renamedFrom`)."""
    return [
        n.cloud_name
        for n in platform.cluster.namespaces
        if level is None or n.pod_security == level
    ]


def _cel_in(namespaces: list[str]) -> str:
    """`request.namespace in [...]`: names are DNS labels, so quoting is safe."""
    return "request.namespace in [" + ", ".join(f"'{n}'" for n in namespaces) + "]"


def _cel_strings(values) -> str:
    """A CEL list of strings; allowedRegistries' pattern admits no quote or backslash."""
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def kyverno_chart_values(platform: Platform) -> dict:
    """kyverno-policies: the Pod Security `restricted` policies, enforcing or
    auditing, limited to the namespaces that declare `restricted`."""
    mode = platform.services.policy_mode
    return {
        "podSecurityStandard": "restricted",
        "validationFailureAction": "Enforce" if mode == "enforce" else "Audit",
        "failurePolicy": "Fail",
        "vpolExclude": {
            "matchConditions": [
                {
                    "name": "crosswalk-restricted-namespaces",
                    "expression": _cel_in(namespaces_of(platform, "restricted")),
                }
            ]
        },
    }


def _kyverno_rules(platform: Platform) -> list[tuple[str, str, str]]:
    """(name, CEL expression, message) of the rules beyond Pod Security."""
    resources = " && ".join(
        f"has(c.resources) && has(c.resources.{part}) && '{kind}' in c.resources.{part}"
        for part in ("requests", "limits")
        for kind in ("cpu", "memory")
    )
    tagged = (
        "!c.image.endsWith(':latest') && (c.image.contains('@') || "
        "c.image.substring(c.image.lastIndexOf('/') + 1).contains(':'))"
    )
    rules = [
        (
            "require-requests-limits",
            _ALL_CONTAINERS.format(rule=resources),
            "every container requests and limits cpu and memory",
        ),
        (
            "disallow-latest-tag",
            _ALL_CONTAINERS.format(rule=tagged),
            "every image names a tag other than 'latest', or a digest",
        ),
    ]
    if platform.services.require_digests:
        rules.append(
            (
                "require-image-digest",
                _ALL_CONTAINERS.format(rule="c.image.contains('@sha256:')"),
                "every image names its digest (image@sha256:...)",
            )
        )
    registries = platform.services.allowed_registries
    if registries:
        allowed = f"{_cel_strings(registries)}.exists(r, c.image.startsWith(r))"
        rules.append(
            (
                "allowed-registries",
                _ALL_CONTAINERS.format(rule=allowed),
                "images come only from: " + ", ".join(registries),
            )
        )
    return rules


def emit_kyverno_policies(ctx: StackContext, provider: Code, line, engine: Code) -> list[Code]:
    """The rules the kyverno-policies chart has no policy for, as Kyverno
    ValidatingPolicies in the platform's namespaces."""
    from crosswalk.providers.kubernetes.charts import custom_resource

    platform = ctx.platform
    namespaces = namespaces_of(platform)
    actions = ["Deny"] if platform.services.policy_mode == "enforce" else ["Audit"]
    policies = []
    for name, expression, message in _kyverno_rules(platform):
        policies.append(
            custom_resource(
                ctx,
                provider,
                ("policy", name),
                KYVERNO_API,
                "ValidatingPolicy",
                f"crosswalk-{name}",
                None,
                {
                    "failurePolicy": "Fail",
                    "matchConstraints": {"resourceRules": POD_RULES},
                    "matchConditions": [
                        {"name": "crosswalk-namespaces", "expression": _cel_in(namespaces)}
                    ],
                    "validations": [{"expression": expression, "message": message}],
                    "validationActions": actions,
                },
                line,
                [engine],
            )
        )
    return policies


# Gatekeeper: one ConstraintTemplate per rule, in Rego (v0 syntax, which every
# Gatekeeper release reads). `containers` is every container of the pod.
_CONTAINERS = """
containers[c] { c := input.review.object.spec.containers[_] }
containers[c] { c := input.review.object.spec.initContainers[_] }
containers[c] { c := input.review.object.spec.ephemeralContainers[_] }
"""

POD_SECURITY_REGO = (
    """package crosswalkpodsecurityrestricted
"""
    + _CONTAINERS
    + """
pod := input.review.object.spec

allowed_volumes := {"name", "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
  "persistentVolumeClaim", "projected", "secret"}

allowed_seccomp := {"RuntimeDefault", "Localhost"}

violation[{"msg": msg}] {
  host := {"hostNetwork", "hostPID", "hostIPC"}[_]
  pod[host]
  msg := sprintf("%v is not allowed", [host])
}

violation[{"msg": msg}] {
  c := containers[_]
  c.securityContext.privileged
  msg := sprintf("container %v is privileged", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  not c.securityContext.allowPrivilegeEscalation == false
  msg := sprintf("container %v must set allowPrivilegeEscalation: false", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  not non_root(c)
  msg := sprintf("container %v must run as non-root (runAsNonRoot: true)", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  root_user(c)
  msg := sprintf("container %v must not run as user 0", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  not seccomp_set(c)
  msg := sprintf("container %v needs seccompProfile RuntimeDefault or Localhost", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  not drops_all(c)
  msg := sprintf("container %v must drop ALL capabilities", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  added := c.securityContext.capabilities.add[_]
  added != "NET_BIND_SERVICE"
  msg := sprintf("container %v adds capability %v", [c.name, added])
}

violation[{"msg": msg}] {
  c := containers[_]
  port := c.ports[_]
  port.hostPort > 0
  msg := sprintf("container %v uses host port %v", [c.name, port.hostPort])
}

violation[{"msg": msg}] {
  volume := pod.volumes[_]
  volume[kind]
  not allowed_volumes[kind]
  msg := sprintf("volume %v of type %v is not allowed", [volume.name, kind])
}

non_root(c) { c.securityContext.runAsNonRoot == true }
non_root(c) {
  not c.securityContext.runAsNonRoot == false
  pod.securityContext.runAsNonRoot == true
}

root_user(c) { c.securityContext.runAsUser == 0 }
root_user(c) {
  not c.securityContext.runAsUser
  pod.securityContext.runAsUser == 0
}

seccomp_set(c) { allowed_seccomp[c.securityContext.seccompProfile.type] }
seccomp_set(c) {
  not c.securityContext.seccompProfile
  allowed_seccomp[pod.securityContext.seccompProfile.type]
}

drops_all(c) { c.securityContext.capabilities.drop[_] == "ALL" }
"""
)

RESOURCES_REGO = (
    """package crosswalkrequestslimits
"""
    + _CONTAINERS
    + """
violation[{"msg": msg}] {
  c := containers[_]
  part := {"requests", "limits"}[_]
  kind := {"cpu", "memory"}[_]
  not c.resources[part][kind]
  msg := sprintf("container %v has no %v.%v", [c.name, part, kind])
}
"""
)

IMAGE_TAG_REGO = (
    """package crosswalkimagetag
"""
    + _CONTAINERS
    + """
violation[{"msg": msg}] {
  c := containers[_]
  endswith(c.image, ":latest")
  msg := sprintf("container %v uses the tag latest", [c.name])
}

violation[{"msg": msg}] {
  c := containers[_]
  not contains(c.image, "@")
  parts := split(c.image, "/")
  not contains(parts[count(parts) - 1], ":")
  msg := sprintf("container %v names no tag", [c.name])
}
"""
)

IMAGE_DIGEST_REGO = (
    """package crosswalkimagedigest
"""
    + _CONTAINERS
    + """
violation[{"msg": msg}] {
  c := containers[_]
  not contains(c.image, "@sha256:")
  msg := sprintf("container %v: image %v names no digest", [c.name, c.image])
}
"""
)

REGISTRIES_REGO = (
    """package crosswalkallowedregistries
"""
    + _CONTAINERS
    + """
violation[{"msg": msg}] {
  c := containers[_]
  not allowed(c.image)
  msg := sprintf("container %v: image %v is not from %v", [c.name, c.image, input.parameters.prefixes])
}

allowed(image) { startswith(image, input.parameters.prefixes[_]) }
"""
)

# kind -> (Rego, the constraint's parameters schema or None)
GATEKEEPER_TEMPLATES = {
    "CrosswalkPodSecurityRestricted": (POD_SECURITY_REGO, None),
    "CrosswalkRequestsLimits": (RESOURCES_REGO, None),
    "CrosswalkImageTag": (IMAGE_TAG_REGO, None),
    "CrosswalkImageDigest": (IMAGE_DIGEST_REGO, None),
    "CrosswalkAllowedRegistries": (
        REGISTRIES_REGO,
        {
            "type": "object",
            "properties": {"prefixes": {"type": "array", "items": {"type": "string"}}},
        },
    ),
}


def gatekeeper_constraints(platform: Platform) -> list[tuple[str, list[str], dict | None]]:
    """(kind, namespaces, parameters) of each constraint the platform gets."""
    constraints = [
        ("CrosswalkPodSecurityRestricted", namespaces_of(platform, "restricted"), None),
        ("CrosswalkRequestsLimits", namespaces_of(platform), None),
        ("CrosswalkImageTag", namespaces_of(platform), None),
    ]
    if platform.services.require_digests:
        constraints.append(("CrosswalkImageDigest", namespaces_of(platform), None))
    registries = platform.services.allowed_registries
    if registries:
        constraints.append(
            ("CrosswalkAllowedRegistries", namespaces_of(platform), {"prefixes": list(registries)})
        )
    # A constraint with no namespaces would match every namespace.
    return [c for c in constraints if c[1]]


def emit_gatekeeper_policies(ctx: StackContext, provider: Code, line, engine: Code) -> list[Code]:
    """The ConstraintTemplates and their Constraints, enforcing (deny) or
    auditing (dryrun)."""
    from crosswalk.providers.kubernetes.charts import custom_resource

    platform = ctx.platform
    action = "deny" if platform.services.policy_mode == "enforce" else "dryrun"
    constraints = gatekeeper_constraints(platform)
    wanted = {kind for kind, _, _ in constraints}
    created = []
    for kind, (rego, parameters) in GATEKEEPER_TEMPLATES.items():
        if kind not in wanted:
            continue
        crd: dict = {"spec": {"names": {"kind": kind}}}
        if parameters is not None:
            crd["spec"]["validation"] = {"openAPIV3Schema": parameters}
        template = custom_resource(
            ctx,
            provider,
            ("template", kind),
            GATEKEEPER_TEMPLATES_API,
            "ConstraintTemplate",
            kind.lower(),
            None,
            {"crd": crd, "targets": [{"target": GATEKEEPER_TARGET, "rego": rego.strip() + "\n"}]},
            line,
            [engine],
            TEMPLATE_READY,
        )
        created.append(template)
        kind_constraints = [c for c in constraints if c[0] == kind]
        for _, namespaces, params in kind_constraints:
            spec: dict = {
                "enforcementAction": action,
                "match": {
                    "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
                    "namespaces": namespaces,
                },
            }
            if params is not None:
                spec["parameters"] = params
            created.append(
                custom_resource(
                    ctx,
                    provider,
                    ("constraint", kind),
                    GATEKEEPER_CONSTRAINTS_API,
                    kind,
                    "crosswalk",
                    None,
                    spec,
                    line,
                    [template],
                )
            )
    return created
