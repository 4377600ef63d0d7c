"""What the cluster enforces, read from the offline plans' records (what would
reach the cloud): of every sample, and of variants with istio, linkerd,
Gatekeeper and each ingress controller.

* a NetworkPolicy is planned only where the cluster enforces it;
* Kyverno and Gatekeeper get the same policy set, enforcing or auditing;
* every app namespace is in the mesh with strict mutual TLS;
* every app stack depends on cluster-services;
* every platform namespace carries Pod Security labels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document
from crosswalk.compiler.mock_values import reveal
from crosswalk.compiler.plan import plan_tree
from crosswalk.compiler.writer import write_tree
from crosswalk.providers.kubernetes.admission import GATEKEEPER_TEMPLATES
from crosswalk.providers.kubernetes.charts import CHARTS, PLATFORM_NAMESPACES
from crosswalk.providers.kubernetes.common import MESHES

ROOT = Path(__file__).resolve().parent.parent

# name -> (sample, mesh, ingress controller, policy engine, policy mode); None keeps the sample's.
VARIANTS = {
    "aws": ("aws", None, None, None, None),
    "gcp": ("gcp", None, None, None, None),
    "azure": ("azure", None, None, None, None),
    "minimal": ("minimal", None, None, None, None),
    "aws-linkerd-traefik-gatekeeper": ("aws", "linkerd", "traefik", "gatekeeper", "enforce"),
    "aws-istio-envoy-kyverno": ("aws", "istio", "envoy-gateway", "kyverno", "enforce"),
    "gcp-istio-nginx-gatekeeper-audit": ("gcp", "istio", "nginx", "gatekeeper", "audit"),
    "azure-linkerd-envoy-kyverno-audit": ("azure", "linkerd", "envoy-gateway", "kyverno", "audit"),
    "gcp-linkerd-traefik-kyverno": ("gcp", "linkerd", "traefik", "kyverno", "enforce"),
    "azure-istio-traefik-gatekeeper": ("azure", "istio", "traefik", "gatekeeper", "enforce"),
}


def setting(name: str, key: str) -> str | None:
    """What the variant declares: mesh, ingress controller, policy engine, mode."""
    text = variant_text(name)
    pattern = {
        "mesh": r"mesh: \{engine: ([\w-]+)\}",
        "ingress": r"controller: ([\w-]+)",
        "engine": r"policy: \{engine: ([\w-]+)",
        "mode": r"policy: \{[^}]*mode: (\w+)",
    }[key]
    found = re.search(pattern, text)
    value = found.group(1) if found else None
    if key == "mode":
        return value or "enforce"
    return None if value == "none" else value


def named(key: str, value: str) -> list[str]:
    return [name for name in VARIANTS if setting(name, key) == value]


def meshed() -> list[str]:
    return [name for name in VARIANTS if setting(name, "mesh")]


def variant_text(name: str) -> str:
    cloud, mesh, ingress, engine, mode = VARIANTS[name]
    text = (ROOT / "samples" / cloud / "platform.yaml").read_text(encoding="utf-8")
    if mesh:
        text = re.sub(r"mesh: \{engine: [\w-]+\}", f"mesh: {{engine: {mesh}}}", text)
    if engine:
        policy = f"{{engine: {engine}, mode: {mode}, allowedRegistries: [ghcr.io/acme/]}}"
        text = re.sub(r"policy: \{[^}]*\}", f"policy: {policy}", text)
    if ingress:
        text = re.sub(r"controller: [\w-]+", f"controller: {ingress}", text)
    for part in (mesh, engine, ingress):
        assert not part or part in text, f"{name}: the sample has no key to change"
    return text


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict:
    """name -> (compiled files, plan of environment dev)."""
    found = {}
    for name in VARIANTS:
        document, problems = parse_document(variant_text(name).encode(), "platform.yaml")
        assert document is not None, problems
        result = compile_document(document)
        assert result.files, [d.render() for d in result.report.errors]
        out = tmp_path_factory.mktemp(name)
        write_tree(result.files, out)
        plan = plan_tree(out, "dev")
        failed = [(s.dir, s.error.message) for s in plan.stacks if s.error is not None]
        assert not failed, failed
        found[name] = (result.files, plan)
    return found


def records(plan, stack: str | None = None):
    return [r for s in plan.stacks if stack in (None, s.dir) for r in s.resources]


def of_kind(plan, kind: str, stack: str | None = None):
    """The Kubernetes objects of one kind (custom resources included)."""
    return [
        r
        for r in records(plan, stack)
        if r.type.startswith("kubernetes:") and r.type.rsplit(":", 1)[-1] == kind
    ]


def releases(plan, stack: str | None = None) -> dict:
    return {
        reveal(r.inputs)["name"]: r
        for r in records(plan, stack)
        if r.type == "kubernetes:helm.sh/v3:Release"
    }


def cloud_of(name: str) -> str:
    return VARIANTS[name][0].replace("minimal", "aws")


def platform_data(files: dict) -> dict:
    return json.loads(files["crosswalk.stacks.json"])


# --- NetworkPolicies only where something enforces them -----------------------------


def _enforcement(plan, cloud: str) -> bool:
    cluster = records(plan, "03-cluster")
    if cloud == "aws":
        cni = [r for r in cluster if r.type == "eks:index:VpcCniAddon"]
        groups = [r for r in cluster if r.type == "eks:index:ManagedNodeGroup"]
        # The CNI enforces network policy, and nodes join only once it does.
        return (
            len(cni) == 1
            and reveal(cni[0].inputs).get("enableNetworkPolicy") is True
            and all(cni[0].urn in g.dependencies for g in groups)
        )
    if cloud == "gcp":
        (gke,) = [r for r in cluster if r.type == "gcp:container/cluster:Cluster"]
        inputs = reveal(gke.inputs)
        return inputs.get("datapathProvider") == "ADVANCED_DATAPATH" or bool(
            inputs.get("networkPolicy", {}).get("enabled")
        )
    (aks,) = [r for r in cluster if r.type.endswith(":ManagedCluster")]
    return reveal(aks.inputs)["networkProfile"].get("networkPolicy") in {
        "azure",
        "calico",
        "cilium",
    }


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_network_policies_only_where_the_cluster_enforces_them(plans, name) -> None:
    _, plan = plans[name]
    policies = of_kind(plan, "NetworkPolicy")
    if name != "minimal":
        assert policies, "the samples' default-deny namespaces have NetworkPolicies"
    if policies:
        assert _enforcement(plan, cloud_of(name)), f"{name}: NetworkPolicies nothing enforces"


def test_no_network_policy_is_emitted_where_nothing_enforces_it(monkeypatch) -> None:
    """The compile-time rule: a cloud whose clusters enforce nothing gets no
    NetworkPolicy at all (here AWS, pretending its CNI option were off)."""
    import dataclasses

    from crosswalk.providers.aws import rules

    monkeypatch.setattr(
        rules, "RULES", dataclasses.replace(rules.RULES, network_policy_enforcer=None)
    )
    document, _ = parse_document(variant_text("aws").encode(), "platform.yaml")
    files = compile_document(document).files
    assert files
    programs = [text for path, text in files.items() if path.endswith("__main__.py")]
    assert not any("NetworkPolicy(" in text for text in programs)
    assert any("kubernetes.core.v1.Namespace(" in text for text in programs)


# --- one policy set on both engines --------------------------------------------------


def _namespaces(name: str) -> tuple[list[str], list[str]]:
    """(every declared namespace, those declaring restricted) of a variant."""
    from crosswalk.compiler.pipeline import check_document

    document, _ = parse_document(variant_text(name).encode(), "platform.yaml")
    platform = check_document(document).platform
    declared = [n.name for n in platform.cluster.namespaces]
    return declared, [n.name for n in platform.cluster.namespaces if n.pod_security == "restricted"]


@pytest.mark.parametrize("name", named("engine", "gatekeeper"))
def test_gatekeeper_has_templates_and_constraints(plans, name) -> None:
    _, plan = plans[name]
    mode = setting(name, "mode")
    stack = "04-cluster-services"
    engine = releases(plan, stack)["gatekeeper"]
    templates = {
        reveal(r.inputs)["metadata"]["name"]: r for r in of_kind(plan, "ConstraintTemplate", stack)
    }
    kinds = set(GATEKEEPER_TEMPLATES) - (
        set() if "allowedRegistries" in variant_text(name) else {"CrosswalkAllowedRegistries"}
    )
    kinds -= set() if "requireDigests" in variant_text(name) else {"CrosswalkImageDigest"}
    assert set(templates) == {kind.lower() for kind in kinds}
    for template_name, template in templates.items():
        spec = reveal(template.inputs)["spec"]
        assert spec["crd"]["spec"]["names"]["kind"].lower() == template_name
        (target,) = spec["targets"]
        assert target["target"] == "admission.k8s.gatekeeper.sh"
        assert target["rego"].startswith(f"package {template_name}\n")
        assert "violation[" in target["rego"]
        assert engine.urn in template.dependencies
    declared, restricted = _namespaces(name)
    constraints = {}
    for kind in kinds:
        (constraint,) = of_kind(plan, kind, stack)
        constraints[kind] = reveal(constraint.inputs)["spec"]
        assert templates[kind.lower()].urn in constraint.dependencies
    for kind, spec in constraints.items():
        assert spec["enforcementAction"] == ("deny" if mode == "enforce" else "dryrun")
        assert spec["match"]["kinds"] == [{"apiGroups": [""], "kinds": ["Pod"]}]
        expected = restricted if kind == "CrosswalkPodSecurityRestricted" else declared
        assert sorted(spec["match"]["namespaces"]) == sorted(expected)
    if "CrosswalkAllowedRegistries" in kinds:
        assert constraints["CrosswalkAllowedRegistries"]["parameters"] == {
            "prefixes": ["ghcr.io/acme/"]
        }
    else:
        assert not of_kind(plan, "CrosswalkAllowedRegistries", stack)
    assert "kyverno" not in releases(plan)


@pytest.mark.parametrize("name", named("engine", "kyverno"))
def test_kyverno_has_the_same_policy_set(plans, name) -> None:
    _, plan = plans[name]
    mode = setting(name, "mode")
    stack = "04-cluster-services"
    charts = releases(plan, stack)
    values = reveal(charts["kyverno-policies"].inputs)["values"]
    assert values["podSecurityStandard"] == "restricted"
    assert values["validationFailureAction"] == ("Enforce" if mode == "enforce" else "Audit")
    declared, restricted = _namespaces(name)
    (condition,) = values["vpolExclude"]["matchConditions"]
    assert (
        condition["expression"]
        == "request.namespace in [" + ", ".join(f"'{n}'" for n in restricted) + "]"
    )
    policies = {
        reveal(r.inputs)["metadata"]["name"]: reveal(r.inputs)["spec"]
        for r in of_kind(plan, "ValidatingPolicy", stack)
    }
    expected = {"crosswalk-require-requests-limits", "crosswalk-disallow-latest-tag"}
    if "allowedRegistries" in variant_text(name):
        expected.add("crosswalk-allowed-registries")
    if "requireDigests" in variant_text(name):
        expected.add("crosswalk-require-image-digest")
    assert set(policies) == expected
    for spec in policies.values():
        assert spec["validationActions"] == (["Deny"] if mode == "enforce" else ["Audit"])
        assert (
            spec["matchConditions"][0]["expression"]
            == "request.namespace in [" + ", ".join(f"'{n}'" for n in declared) + "]"
        )
    assert "gatekeeper" not in charts


# --- the mesh -------------------------------------------------------------------------


@pytest.mark.parametrize("name", meshed())
def test_every_app_namespace_is_meshed_with_strict_mtls(plans, name) -> None:
    _, plan = plans[name]
    mesh = setting(name, "mesh")
    facts = MESHES[mesh]
    declared, _ = _namespaces(name)
    namespaces = {
        reveal(r.inputs)["metadata"]["name"]: reveal(r.inputs)["metadata"]
        for r in of_kind(plan, "Namespace", "03-cluster")
    }
    assert set(namespaces) == set(declared) and declared
    for metadata in namespaces.values():
        assert facts.labels.items() <= metadata["labels"].items()
        assert (facts.annotations | facts.strict).items() <= metadata.get("annotations", {}).items()
    if mesh == "istio":
        strict = {
            reveal(r.inputs)["metadata"]["namespace"]: reveal(r.inputs)["spec"]
            for r in of_kind(plan, "PeerAuthentication", "04-cluster-services")
        }
        assert strict == {n: {"mtls": {"mode": "STRICT"}} for n in declared}
        istiod = releases(plan, "04-cluster-services")["istiod"]
        assert reveal(istiod.inputs)["values"]["pilot"]["cni"]["enabled"] is True
    # The ingress controller's proxies are meshed too, so they reach apps over mTLS.
    controller = setting(name, "ingress")
    ingress_namespace = {"envoy-gateway": "envoy-gateway-system"}.get(controller, controller)
    ingress_namespace = {"nginx": "ingress-nginx"}.get(ingress_namespace, ingress_namespace)
    (meshed,) = [
        reveal(r.inputs)["metadata"]
        for r in of_kind(plan, "Namespace", "05-app-services")
        if reveal(r.inputs)["metadata"]["name"] == ingress_namespace
    ]
    assert facts.labels.items() <= meshed["labels"].items()
    assert facts.annotations.items() <= meshed.get("annotations", {}).items()


@pytest.mark.parametrize("name", named("mesh", "linkerd"))
def test_linkerd_identity_comes_from_cert_manager(plans, name) -> None:
    _, plan = plans[name]
    stack = "04-cluster-services"
    charts = releases(plan, stack)
    assert {"cert-manager", "linkerd-crds", "linkerd-cni", "linkerd-control-plane"} <= set(charts)
    assert "cert-manager" not in releases(plan, "05-app-services")
    certificates = {
        reveal(r.inputs)["metadata"]["name"]: r for r in of_kind(plan, "Certificate", stack)
    }
    anchor = reveal(certificates["linkerd-trust-anchor"].inputs)
    issuer = reveal(certificates["linkerd-identity-issuer"].inputs)
    assert anchor["spec"]["isCA"] and issuer["spec"]["isCA"]
    assert issuer["metadata"]["namespace"] == "linkerd"
    assert issuer["spec"]["issuerRef"] == {"name": "linkerd-trust-anchor", "kind": "ClusterIssuer"}
    for certificate in (anchor, issuer):
        assert certificate["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    control_plane = charts["linkerd-control-plane"]
    values = reveal(control_plane.inputs)["values"]
    assert values["identity"]["issuer"]["scheme"] == "kubernetes.io/tls"
    assert values["identityTrustAnchorsPEM"].startswith("-----BEGIN CERTIFICATE-----")
    assert values["cniEnabled"] is True
    assert certificates["linkerd-identity-issuer"].urn in control_plane.dependencies
    # The app-services layer waits for cluster-services' cert-manager.
    stacks = {s["dir"]: s["dependsOn"] for s in platform_data(plans[name][0])["stacks"]}
    assert "04-cluster-services" in stacks["05-app-services"]


@pytest.mark.parametrize("name", meshed())
def test_app_network_policies_open_the_mesh_ports(plans, name) -> None:
    _, plan = plans[name]
    facts = MESHES[setting(name, "mesh")]
    allow_mesh = [
        reveal(r.inputs)
        for r in of_kind(plan, "NetworkPolicy", "03-cluster")
        if reveal(r.inputs)["metadata"]["name"] == "allow-mesh"
    ]
    assert allow_mesh
    for policy in allow_mesh:
        (rule,) = policy["spec"]["egress"]
        assert [p["port"] for p in rule["ports"]] == list(facts.control_ports)
    monitoring = [
        reveal(r.inputs)
        for r in of_kind(plan, "NetworkPolicy")
        if reveal(r.inputs)["metadata"]["name"].endswith(".from-monitoring")
    ]
    assert monitoring
    for policy in monitoring:
        ports = {p["port"] for p in policy["spec"]["ingress"][0]["ports"]}
        assert set(facts.metrics_ports) | set(facts.proxy_ports) <= ports


# --- ordering ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_app_stack_depends_on_cluster_services(plans, name) -> None:
    files, plan = plans[name]
    stacks = {s["dir"]: s["dependsOn"] for s in platform_data(files)["stacks"]}
    apps = [s for s in stacks if s.startswith("06-apps/")]
    assert apps or name == "minimal"
    for app in apps:
        assert "04-cluster-services" in stacks[app], app
    order = [s.dir for s in plan.stacks]
    for app in apps:
        assert order.index("04-cluster-services") < order.index(app)


@pytest.mark.parametrize("name", named("engine", "gatekeeper"))
def test_the_policy_engine_is_ready_before_its_policies(plans, name) -> None:
    """Helm waits (atomic) for the engine; Gatekeeper's constraints wait for their
    template's constraint kind to exist."""
    _, plan = plans[name]
    engine = releases(plan, "04-cluster-services")["gatekeeper"]
    assert reveal(engine.inputs)["atomic"] is True
    for template in of_kind(plan, "ConstraintTemplate"):
        annotations = reveal(template.inputs)["metadata"]["annotations"]
        assert annotations == {"pulumi.com/waitFor": "jsonpath={.status.created}=true"}


# --- platform namespaces ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_platform_namespace_has_pod_security_labels(plans, name) -> None:
    _, plan = plans[name]
    for stack in plan.stacks:
        made = {
            reveal(r.inputs)["metadata"]["name"]: r
            for r in stack.resources
            if r.type == "kubernetes:core/v1:Namespace"
        }
        for release in releases(plan, stack.dir).values():
            inputs = reveal(release.inputs)
            namespace = inputs["namespace"]
            assert inputs["createNamespace"] is False
            if namespace == "kube-system":
                continue  # the cloud's own
            assert namespace in made, f"{stack.dir}: {inputs['name']} in {namespace}"
            assert made[namespace].urn in release.dependencies
        for namespace, resource in made.items():
            labels = reveal(resource.inputs)["metadata"]["labels"]
            level = labels["pod-security.kubernetes.io/enforce"]
            if stack.dir != "03-cluster":
                assert level == PLATFORM_NAMESPACES[namespace][0]
            for mode in ("enforce", "audit", "warn"):
                assert labels[f"pod-security.kubernetes.io/{mode}"] == level


def test_every_chart_namespace_has_a_pod_security_level() -> None:
    namespaces = {chart.namespace for chart in CHARTS.values()} - {"kube-system"}
    assert namespaces <= set(PLATFORM_NAMESPACES)
    for level, why in PLATFORM_NAMESPACES.values():
        assert level in ("restricted", "baseline", "privileged") and why


# --- HTTPS -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["aws", "gcp", "azure", "aws-linkerd-traefik-gatekeeper"])
def test_http_is_redirected_to_https(plans, name) -> None:
    _, plan = plans[name]
    routes = {
        reveal(r.inputs)["metadata"]["name"]: reveal(r.inputs) for r in of_kind(plan, "HTTPRoute")
    }
    redirect = routes.pop("https-redirect")
    assert redirect["spec"]["parentRefs"][0]["sectionName"] == "http"
    (rule,) = redirect["spec"]["rules"]
    assert rule["filters"] == [
        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    ]
    hosted = [route for route in routes.values() if route["spec"].get("hostnames")]
    assert hosted
    for route in hosted:
        assert [p["sectionName"] for p in route["spec"]["parentRefs"]] == ["https"]


def test_nginx_ingresses_force_https(plans) -> None:
    (name,) = named("ingress", "nginx")
    _, plan = plans[name]
    hosted = [
        reveal(r.inputs) for r in of_kind(plan, "Ingress") if reveal(r.inputs)["spec"].get("tls")
    ]
    assert hosted
    for ingress in hosted:
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"


DIGEST = "@sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("cloud, engine", [("aws", "kyverno"), ("gcp", "gatekeeper")])
def test_required_digests_are_refused_at_validate_and_at_admission(cloud, engine, tmp_path) -> None:
    """`requireDigests`: an app image without a digest is an error at its key,
    and the policy engine refuses such pods in the platform's namespaces."""
    text = (ROOT / "samples" / cloud / "platform.yaml").read_text()
    text = re.sub(r"(policy: \{engine: [\w-]+)", r"\1, requireDigests: true", text)
    assert "requireDigests: true" in text
    document, problems = parse_document(text.encode(), "platform.yaml")
    assert not problems
    refused = compile_document(document)
    codes = [d.code for d in refused.report.errors]
    assert codes and set(codes) == {"CW325"}
    pinned = re.sub(r"(image: [^\s@]+?:[\w.-]+)\n", lambda m: m.group(1) + DIGEST + "\n", text)
    document, _ = parse_document(pinned.encode(), "platform.yaml")
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    write_tree(result.files, tmp_path)
    plan = plan_tree(tmp_path, "prod")
    stack = "04-cluster-services"
    if engine == "kyverno":
        (policy,) = [
            reveal(r.inputs)
            for r in of_kind(plan, "ValidatingPolicy", stack)
            if reveal(r.inputs)["metadata"]["name"] == "crosswalk-require-image-digest"
        ]
        (validation,) = policy["spec"]["validations"]
        assert "c.image.contains('@sha256:')" in validation["expression"]
        assert policy["spec"]["validationActions"] == ["Deny"]
    else:
        (template,) = [
            reveal(r.inputs)
            for r in of_kind(plan, "ConstraintTemplate", stack)
            if reveal(r.inputs)["metadata"]["name"] == "crosswalkimagedigest"
        ]
        assert 'not contains(c.image, "@sha256:")' in template["spec"]["targets"][0]["rego"]
        (constraint,) = of_kind(plan, "CrosswalkImageDigest", stack)
        spec = reveal(constraint.inputs)["spec"]
        assert spec["enforcementAction"] == "deny" and spec["match"]["namespaces"]
