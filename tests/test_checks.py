"""Semantic checks, run the way `validate` runs them (load, schema, checks,
then every environment's overrides): references, ranges, provider rules,
environment overrides and the "did you mean" hints."""

from __future__ import annotations

import textwrap

import pytest

from crosswalk.compiler.diagnostics import Span
from crosswalk.compiler.document import parse_document
from crosswalk.compiler.pipeline import check_document

BASE = """\
apiVersion: crosswalk/v1
kind: Platform
name: acme
cloud: {provider: aws, region: us-west-2}
identity:
  teams:
    - name: payments
      access: developer
      namespaces: [payments]
      members: ["arn:aws:iam::123456789012:role/Payments"]
cluster:
  nodePools:
    - {name: general, min: 2, max: 6}
    - {name: batch, machineType: c6i.2xlarge, min: 0, max: 10, spot: true}
  namespaces:
    - {name: payments, team: payments}
    - {name: storefront}
appServices:
  ingress: {controller: envoy-gateway}
  dns: {zone: example.com}
  certificates: {email: ops@example.com}
  datastores:
    - {name: orders, engine: postgres}
    - {name: cache, engine: redis}
apps:
  - name: checkout
    namespace: payments
    image: ghcr.io/acme/checkout:1.0
    uses: [orders]
    ingress: {host: checkout.example.com}
  - name: storefront
    namespace: storefront
    image: ghcr.io/acme/storefront:1.0
    uses: [cache]
    dependsOn: [checkout]
"""
# line numbers in BASE, for readable assertions
LINE = {line.strip(): n for n, line in enumerate(BASE.splitlines(), 1)}


# The base team's member, as each cloud names a principal (CW507).
MEMBERS = {
    "gcp": "user:payments@example.com",
    "azure": "00000000-0000-0000-0000-00000000000a",
}


def member_on(text: str, cloud: str) -> str:
    return text.replace("arn:aws:iam::123456789012:role/Payments", MEMBERS[cloud])


def check(text: str):
    document, diagnostics = parse_document(text.encode("utf-8"), "platform.yaml")
    assert document is not None, [d.render() for d in diagnostics]
    return check_document(document).report.sorted()


def with_environments(block: str) -> str:
    return BASE + "environments:\n" + textwrap.indent(textwrap.dedent(block), "  ")


def only(diagnostics):
    assert len(diagnostics) == 1, [d.render() for d in diagnostics]
    return diagnostics[0]


def line_of(text: str, fragment: str) -> int:
    (number,) = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return number


def test_base_is_clean() -> None:
    assert check(BASE) == []


# --- environment overrides ------------------------------------------------------------


def test_override_of_a_path_that_does_not_exist() -> None:
    text = with_environments(
        """\
        prod:
          overrides:
            cluster:
              nodePool: [{name: general, min: 3}]
        """
    )
    d = only(check(text))
    assert d.code == "CW310"
    assert d.span == Span(line_of(text, "nodePool:"), 9)  # the key, in the override
    assert d.path == "environments.prod.overrides.cluster.nodePool"
    assert (
        d.message == "'cluster.nodePool' does not exist in the platform, so it cannot be overridden"
    )
    assert d.help == "did you mean 'nodePools'?"


def test_override_of_an_unknown_top_level_section() -> None:
    text = with_environments("prod: {overrides: {clustr: {version: '1.30'}}}\n")
    d = only(check(text))
    assert (d.code, d.path, d.help) == (
        "CW310",
        "environments.prod.overrides.clustr",
        "did you mean 'cluster'?",
    )


def test_override_of_an_unknown_named_item() -> None:
    text = with_environments(
        """\
        prod:
          overrides:
            apps:
              - name: chekout
                replicas: 4
        """
    )
    d = only(check(text))
    assert d.code == "CW310"
    assert d.span == Span(line_of(text, "name: chekout"), 17)  # the name's value
    assert d.path == "environments.prod.overrides.apps[0].name"
    assert d.message == "apps has no item named 'chekout' to override"
    assert d.help == "did you mean 'checkout'?"


def test_unknown_named_item_without_a_close_match_lists_the_names() -> None:
    text = with_environments("prod: {overrides: {appServices: {datastores: [{name: ledger}]}}}\n")
    d = only(check(text))
    assert d.code == "CW310"
    assert d.help == "declared: 'orders', 'cache'"


def test_override_item_without_a_name() -> None:
    text = with_environments("prod: {overrides: {cluster: {nodePools: [{min: 3}]}}}\n")
    d = only(check(text))
    assert d.code == "CW310"
    assert d.path == "environments.prod.overrides.cluster.nodePools[0]"
    assert "needs a 'name'" in d.message


def test_unknown_key_inside_a_named_item() -> None:
    text = with_environments("prod: {overrides: {cluster: {nodePools: [{name: batch, mx: 3}]}}}\n")
    d = only(check(text))
    assert d.code == "CW310"
    assert d.path == "environments.prod.overrides.cluster.nodePools[0].mx"
    assert d.message.startswith("'cluster.nodePools[1].mx' does not exist")
    assert d.help == "did you mean 'max'?"


def test_environments_cannot_override_environments() -> None:
    text = with_environments("prod: {overrides: {environments: {dev: {}}}}\n")
    assert only(check(text)).code == "CW310"


@pytest.mark.parametrize(
    "overrides",
    [
        "{cluster: {nodePools: [{name: general, min: 3, max: 9}]}}",
        "{cluster: {namespaces: [{name: storefront, quota: {cpu: '40'}}]}}",
        "{apps: [{name: storefront, replicas: 4, image: 'ghcr.io/acme/storefront:2.0'}]}",
        "{apps: [{name: checkout, resources: {cpu: '1', memory: 1Gi}}]}",
        "{appServices: {datastores: [{name: orders, highAvailability: true}]}}",
        "{apps: [{name: checkout, env: {MODE: live}}]}",
        "{cluster: {version: '1.35', nodePools: [{name: batch, spot: true}]}}",  # what it is
        # Where the environment lives, and its tags, hosts, zones and protection.
        "{cloud: {region: eu-west-1, account: '210987654321'}, tags: {Env: Prod}}",
        (
            "{identity: {githubOidcProvider: "
            "'arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com'}}"
        ),
        "{deletionProtection: false}",
        (
            "{appServices: {dns: {zone: prod.example.com}, certificates: {email: sre@x.com}}, "
            "apps: [{name: checkout, ingress: {host: checkout.prod.example.com, path: /shop}}]}"
        ),
        "{cluster: {nodePools: [{name: batch, machineType: c6i.4xlarge, diskSizeGb: 200}]}}",
        (
            "{appServices: {datastores: [{name: cache, highAvailability: true, size: large}, "
            "{name: orders, storageGb: 500, backupRetentionDays: 30, "
            "instanceClass: db.r6g.4xlarge}]}}"
        ),
    ],
)
def test_overrides_may_set_what_stack_config_holds(overrides: str) -> None:
    """Validate accepts them, and so does compile (the programs are the same)."""
    from crosswalk.compiler.emit import compile_document

    text = with_environments(f"prod: {{overrides: {overrides}}}\n")
    assert [d for d in check(text) if d.severity == "error"] == []
    document, _ = parse_document(text.encode("utf-8"), "platform.yaml")
    compiled = compile_document(document)
    assert compiled.report.errors == [] and compiled.files


@pytest.mark.parametrize(
    ("overrides", "offending"),
    [
        ("{cluster: {version: '1.30'}}", "version"),  # only its default is in the base
        ("{cluster: {nodePools: [{name: batch, spot: false}]}}", "spot"),
        ("{appServices: {datastores: [{name: cache, version: '7.0'}]}}", "version"),
        ("{apps: [{name: storefront, autoscale: {max: 8}}]}", "autoscale"),
        ("{cloud: {provider: gcp}}", "provider"),
        ("{network: {zones: 2}}", "zones"),
        ("{apps: [{name: storefront, ingress: {host: shop.example.com}}]}", "ingress"),
    ],
)
def test_overrides_of_what_every_environment_shares(overrides: str, offending: str) -> None:
    """Validate reports them itself (compile would find the programs differ),
    at the offending key, and says why."""
    text = with_environments(f"prod: {{overrides: {overrides}}}\n")
    d = only(check(text))
    assert d.code == "CW310"
    line = text.splitlines()[-1]
    at = line.index(offending.split(", ")[-1]) + 1
    assert d.span == Span(len(text.splitlines()), at)
    assert "cannot differ between environments: it would change which resources" in d.message
    assert d.help.startswith("set it in the platform itself; ")


def test_what_may_differ_is_said_for_the_cloud() -> None:
    text = with_environments("prod: {overrides: {cloud: {project: acme-prod}}}\n")
    d = only(check(text))
    assert d.code == "CW310"
    assert d.help == "set it in the platform itself; cloud may differ only in account, region"
    gcp = text.replace(
        "provider: aws, region: us-west-2", "provider: gcp, region: us-central1, project: acme-dev"
    )
    gcp = gcp.replace("machineType: c6i.2xlarge", "machineType: c2-standard-8")
    assert [x.code for x in check(member_on(gcp, "gcp"))] == []


def test_prod_override_setting_min_above_max_is_reported_at_the_override() -> None:
    text = with_environments(
        """\
        dev: {}
        prod:
          overrides:
            cluster:
              nodePools:
                - name: general
                  min: 9
        """
    )
    d = only(check(text))
    assert d.code == "CW309"
    assert d.span == Span(line_of(text, "min: 9"), 18)
    assert d.message == "node pool 'general' has min 9 above max 6 (in environment 'prod')"


def test_override_lowering_max_below_min_is_reported_at_max() -> None:
    text = with_environments(
        "prod: {overrides: {cluster: {nodePools: [{name: general, max: 1}]}}}\n"
    )
    d = only(check(text))
    assert d.code == "CW309"
    assert d.path == "cluster.nodePools[0].max"
    assert d.span.line == line_of(text, "max: 1}")


def test_override_with_a_wrong_type_is_reported_at_the_override() -> None:
    text = with_environments("prod: {overrides: {apps: [{name: checkout, replicas: many}]}}\n")
    d = only(check(text))
    assert d.code == "CW102"
    assert d.span.line == line_of(text, "replicas: many")
    assert d.message.endswith("(in environment 'prod')")


def _on_gcp(text: str) -> str:
    text = text.replace(
        "provider: aws, region: us-west-2", "provider: gcp, region: us-central1, project: acme-prod"
    )
    return member_on(text.replace("machineType: c6i.2xlarge", "machineType: c2-standard-8"), "gcp")


def test_override_that_breaks_a_check_elsewhere_names_the_environment() -> None:
    # the network stays in the base; the pools outgrow its nodes' range only in prod
    text = _on_gcp(
        with_environments(
            "prod: {overrides: {cluster: {nodePools: [{name: general, max: 900}]}}}\n"
        )
    ).replace("cluster:\n  nodePools:", "network: {cidr: 10.0.0.0/24}\ncluster:\n  nodePools:")
    d = only(check(text))
    assert d.code == "CW506"
    assert d.span.line == line_of(text, "network: {cidr: 10.0.0.0/24}")
    assert d.message.endswith("(in environment 'prod')")


def test_override_with_a_machine_type_of_another_cloud() -> None:
    text = _on_gcp(
        with_environments(
            "prod: {overrides: {cluster: {nodePools: [{name: general, machineType: m6i.large}]}}}\n"
        )
    )
    d = only(check(text))
    assert d.code == "CW503"
    assert d.span.line == line_of(text, "m6i.large")


def test_base_problems_are_not_repeated_per_environment() -> None:
    text = with_environments(
        "dev: {}\nprod: {overrides: {cluster: {nodePools: [{name: general, min: 3}]}}}\n"
    ).replace("region: us-west-2", "region: us-wst-2")
    d = only(check(text))
    assert (d.code, d.severity) == ("CW502", "warning")
    assert "environment" not in d.message


def test_every_environment_is_checked() -> None:
    text = with_environments(
        """\
        staging: {overrides: {cluster: {nodePools: [{name: batch, min: 11}]}}}
        prod: {overrides: {cluster: {nodePools: [{name: general, min: 7}]}}}
        """
    )
    found = check(text)
    assert [(d.code, d.message.rsplit("(", 1)[1]) for d in found] == [
        ("CW309", "in environment 'staging')"),
        ("CW309", "in environment 'prod')"),
    ]


# --- references and did-you-mean ---------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "code", "help"),
    [
        ("namespace: payments", "namespace: paymnts", "CW301", "did you mean 'payments'?"),
        ("team: payments}", "team: payment}", "CW302", "did you mean 'payments'?"),
        ("uses: [orders]", "uses: [ordrs]", "CW303", "did you mean 'orders'?"),
        ("dependsOn: [checkout]", "dependsOn: [checkot]", "CW304", "did you mean 'checkout'?"),
        (
            "namespaces: [payments]",
            "namespaces: [xyz]",
            "CW301",
            "declared: 'payments', 'storefront'",
        ),
        ("uses: [cache]", "uses: [queue]", "CW303", "declared: 'cache', 'orders'"),
    ],
)
def test_unknown_references_suggest(old: str, new: str, code: str, help: str) -> None:
    text = BASE.replace(old, new, 1)
    d = only(check(text))
    assert (d.code, d.help) == (code, help)
    assert d.span.line == line_of(text, new)


def test_unknown_region_suggests_a_known_one() -> None:
    text = BASE.replace(
        "{provider: aws, region: us-west-2}", "{provider: azure, region: west-europe}"
    )
    text = member_on(
        text.replace("machineType: c6i.2xlarge", "machineType: Standard_D8s_v5"), "azure"
    )
    d = only(check(text))
    assert (d.code, d.severity, d.help) == ("CW502", "error", "did you mean 'westeurope'?")
    assert d.message == "'west-europe' is not an Azure region"


def test_schema_typos_suggest_the_key() -> None:
    text = BASE.replace(
        "    - {name: general, min: 2, max: 6}", "    - {name: general, min: 2, maxx: 6}"
    )
    d = only(check(text))
    assert (d.code, d.help) == ("CW101", "did you mean 'max'?")


def test_enum_typos_suggest_the_value() -> None:
    text = BASE.replace("controller: envoy-gateway", "controller: envoy-gatway")
    d = only(check(text))
    assert (d.code, d.help) == ("CW104", "did you mean 'envoy-gateway'?")


def test_cycle_is_reported_once_at_the_reference_that_closes_it() -> None:
    text = BASE.replace(
        "    uses: [orders]\n", "    uses: [orders]\n    dependsOn: [storefront]\n", 1
    )
    d = only(check(text))
    assert d.code == "CW401"
    assert d.path == "apps[1].dependsOn[0]"
    assert d.message == "dependsOn forms a cycle: checkout -> storefront -> checkout"


def test_gcp_needs_a_project() -> None:
    text = BASE.replace(
        "{provider: aws, region: us-west-2}", "{provider: gcp, region: europe-west1}"
    )
    text = member_on(text.replace("machineType: c6i.2xlarge", "machineType: n2-standard-8"), "gcp")
    d = only(check(text))
    assert (d.code, d.span) == ("CW501", Span(4, 1))


def _chain(count: int, *, closed: bool) -> str:
    """Apps a0 -> a1 -> ... (each depends on the next), listed in source order."""
    lines = [BASE.split("apps:\n")[0] + "apps:"]
    for i in range(count):
        last = i == count - 1
        target = "a0" if last and closed else None if last else f"a{i + 1}"
        depends = f", dependsOn: [{target}]" if target else ""
        lines.append(f'  - {{name: a{i}, namespace: payments, image: "ghcr.io/a/a:1"{depends}}}')
    return "\n".join(lines) + "\n"


def test_a_long_dependency_chain_is_fine() -> None:
    # the walk was recursive and raised RecursionError past ~1,000 apps
    assert check(_chain(3000, closed=False)) == []


def test_a_long_cycle_is_reported_at_its_last_edge() -> None:
    d = only(check(_chain(1500, closed=True)))
    assert d.code == "CW401"
    assert d.path == "apps[1499].dependsOn[0]"
    assert d.message.endswith("a1498 -> a1499 -> a0")


def test_override_of_the_wrong_shape_is_a_type_error_not_an_unknown_path() -> None:
    text = with_environments("prod: {overrides: {apps: {name: checkout}}}\n")
    d = only(check(text))
    assert (d.code, d.path) == ("CW102", "apps")
    assert d.message == "expected a list, found a mapping (in environment 'prod')"


# --- Kubernetes versions against each cloud's calendar ------------------------------


def versioned(cloud: str, version: str) -> str:
    clouds = {
        "aws": "{provider: aws, region: us-west-2}",
        "gcp": "{provider: gcp, region: europe-west1, project: acme-prod}",
        "azure": "{provider: azure, region: westeurope}",
    }
    return (
        "apiVersion: crosswalk/v1\nkind: Platform\nname: acme\n"
        f"cloud: {clouds[cloud]}\n"
        f'cluster:\n  version: "{version}"\n  nodePools: [{{name: general}}]\n'
    )


def on(text: str, today):
    document, _ = parse_document(text.encode("utf-8"), "platform.yaml")
    assert document is not None
    return [
        (d.severity, d.code, d.message)
        for d in check_document(document, today=today).report.sorted()
    ]


def test_versions_are_judged_on_the_day_given() -> None:
    """EKS 1.34 ends standard support on 2026-12-02 and extended support on 2027-12-02."""
    from datetime import date

    text = versioned("aws", "1.34")
    assert on(text, date(2026, 9, 2)) == []  # 91 days before
    (found,) = on(text, date(2026, 9, 3))  # 90 days before: the warning starts
    assert found[:2] == ("warning", "CW609") and "2026-12-02 (in 90 days)" in found[2]
    (found,) = on(text, date(2026, 12, 3))  # EKS moved it into extended support
    assert found[:2] == ("warning", "CW609") and "extended support" in found[2]
    assert "2027-12-02" in found[2]
    (found,) = on(text, date(2027, 12, 3))
    assert found[:2] == ("error", "CW512") and "2027-12-02" in found[2]


def test_gke_and_aks_end_with_standard_support() -> None:
    """crosswalk's GKE clusters are on the Regular channel and its AKS ones on the
    Standard tier: neither gets extended (or LTS) support."""
    from datetime import date

    (found,) = on(versioned("gcp", "1.34"), date(2026, 10, 2))
    assert found[:2] == ("error", "CW512") and "2026-10-01" in found[2]
    (found,) = on(versioned("azure", "1.34"), date(2026, 12, 1))
    assert found[:2] == ("error", "CW512") and "2026-11-30" in found[2]
    assert on(versioned("azure", "1.35"), date(2026, 12, 1)) == []


def test_versions_before_their_release_and_unknown_ones() -> None:
    from datetime import date

    (found,) = on(versioned("azure", "1.36"), date(2026, 6, 1))
    assert found[:2] == ("error", "CW512") and "from 2026-06-30" in found[2]
    (found,) = on(versioned("aws", "1.99"), date(2026, 12, 2))
    assert found == ("error", "CW512", "Kubernetes 1.99 is not a version EKS offers")
    # Without a date only what the cloud never offered is judged.
    assert on(versioned("aws", "1.31"), None) == []
    assert [f[1] for f in on(versioned("aws", "1.28"), None)] == ["CW512"]


def test_the_cli_reads_the_calendar_on_the_real_date() -> None:
    from datetime import date

    from crosswalk.compiler import cli

    assert cli.today() == date.today()


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_default_version_has_standard_support_on_every_cloud(cloud: str) -> None:
    """The schema's default, the samples' and the starters' version: in standard
    support for more than 90 days on the day the calendars were last read."""
    from datetime import date

    from crosswalk.providers import rules_for
    from crosswalk.schema import load_schema

    default = load_schema()["properties"]["cluster"]["properties"]["version"]["default"]
    assert default == "1.35"
    (entry,) = [v for v in rules_for(cloud).kubernetes_versions if v.minor == default]
    assert (entry.end_of_standard - date(2026, 12, 2)).days > 90


# --- teams ----------------------------------------------------------------------------


def test_a_team_without_members_is_said_to_grant_nothing() -> None:
    text = BASE.replace('      members: ["arn:aws:iam::123456789012:role/Payments"]\n', "")
    d = only(check(text))
    assert (d.code, d.severity, d.path) == ("CW618", "warning", "identity.teams[0]")
    assert "grants nothing" in d.message
    assert d.span.line == line_of(text, "- name: payments")
