"""AWS (EKS): facts about the cloud, the subnets crosswalk carves, the names
it gives what AWS keeps unique in an account, and the rules `crosswalk
validate` checks only on AWS."""

from __future__ import annotations

import ipaddress
import re

from crosswalk.providers import (
    Finding,
    ProviderRules,
    calendar,
    check_tags,
    environment_scope,
    shortened,
)

# EKS's Kubernetes calendar: released on EKS, end of standard support, end of
# extended support (14 months standard, then 12 extended). Source: the AWS page
# https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html as
# collected in endoflife.date's products/amazon-eks.md, snapshot of 2026-08-22.
# crosswalk's clusters have the upgrade policy EXTENDED (aws/cluster.py): EKS
# moves them into extended support, so a version is usable until its end.
KUBERNETES_VERSIONS = calendar(
    (
        ("1.36", "2026-06-02", "2027-08-02", "2028-08-02"),
        ("1.35", "2026-01-28", "2027-03-27", "2028-03-27"),
        ("1.34", "2025-10-06", "2026-12-02", "2027-12-02"),
        ("1.33", "2025-05-28", "2026-07-29", "2027-07-29"),
        ("1.32", "2025-01-25", "2026-03-23", "2027-03-23"),
        ("1.31", "2024-09-26", "2025-11-26", "2026-11-26"),
        ("1.30", "2024-05-23", "2025-07-23", "2026-07-23"),
        ("1.29", "2024-01-23", "2025-03-23", "2026-03-23"),
    )
)
# Availability Zones an account sees in each region (what
# aws.get_availability_zones lists), from AWS's Regions and Availability Zones
# page, 2025. Regions not listed here but known to crosswalk have three.
# us-west-1 has three zones, but accounts made since 2014 see two of them.
AVAILABILITY_ZONES = {"us-east-1": 6, "us-west-1": 2, "us-west-2": 4, "ap-northeast-2": 4}
DEFAULT_AVAILABILITY_ZONES = 3
SMALLEST_SUBNET = 28  # AWS subnets are /16 to /28
# Tag keys and values: letters of any language, digits, spaces and _.:/=+-@.
TAG_TEXT = re.compile(r"^[\w .:/=+\-@]*$")
TAG_KEY_LIMIT, TAG_VALUE_LIMIT = 128, 256


def aws_name(platform, *parts: str, limit: int = 255, separator: str = "-") -> str:
    """The name of a resource AWS keeps unique in an account (and region):
    the platform's name, the environment's unless it is the default one of its
    account (see providers.environment_scope), then `parts`; a stable hash of
    the whole replaces its tail when it is longer than `limit`."""
    return shortened(separator.join(environment_scope(platform) + parts), limit, separator)


def availability_zones(region: str) -> int | None:
    """How many zones `region` offers; None for a region crosswalk does not know."""
    if region not in RULES.regions:
        return None
    return AVAILABILITY_ZONES.get(region, DEFAULT_AVAILABILITY_ZONES)


def subnet_plan(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(public, private) subnets, one of each per zone: the private ones share
    the network's first half, the public ones (a quarter of their size) the
    second."""
    network = ipaddress.ip_network(cidr)
    halves = list(network.subnets(prefixlen_diff=1))
    private_bits = _zone_bits(zones)
    private = [str(s) for s in list(halves[0].subnets(prefixlen_diff=private_bits))[:zones]]
    public_pool = list(halves[1].subnets(prefixlen_diff=private_bits + 2))
    public = [str(s) for s in public_pool[:zones]]
    return public, private


def _zone_bits(zones: int) -> int:
    return max(1, (zones - 1).bit_length())


def _checks(platform) -> list[Finding]:
    return (
        _check_zones(platform)
        + _check_subnets(platform)
        + check_tags(platform, "an AWS tag", _tag_key, _tag_value)
        + _check_deploy_policies(platform)
        + _check_bucket_names(platform)
        + _check_aurora(platform)
        + _check_warehouse_zones(platform)
    )


# Redshift Serverless puts a workgroup in subnets of three zones at least.
WAREHOUSE_ZONES = 3


def _check_warehouse_zones(platform) -> list[Finding]:
    zones = platform.network.zones
    if zones >= WAREHOUSE_ZONES:
        return []
    return [
        Finding(
            "error",
            "CW516",
            f"warehouse '{warehouse.name}' is a Redshift Serverless workgroup, which needs "
            f"subnets in {WAREHOUSE_ZONES} zones; the network has {zones}",
            warehouse.path + ("name",),
            f"set network.zones to {WAREHOUSE_ZONES} or more",
        )
        for warehouse in platform.warehouses
    ]


# Aurora's engine versions, by the major version platform.yaml names (Aurora
# takes a full version; these are the ones crosswalk is tested with).
AURORA_VERSIONS = {
    "postgres": {"14": "14.15", "15": "15.10", "16": "16.6", "17": "17.4"},
    "mysql": {"8.0": "8.0.mysql_aurora.3.08.0"},
}
AURORA_DEFAULT_VERSIONS = {"postgres": "16", "mysql": "8.0"}


def aurora_version(store) -> str | None:
    """The Aurora engine version of a datastore (None: Aurora has none)."""
    version = store.version or AURORA_DEFAULT_VERSIONS[store.engine]
    return AURORA_VERSIONS[store.engine].get(version)


def _check_aurora(platform) -> list[Finding]:
    found = []
    for store in platform.app_services.datastores:
        if not store.aurora or store.engine not in AURORA_VERSIONS:
            continue
        if aurora_version(store) is None:
            offered = ", ".join(f"'{v}'" for v in AURORA_VERSIONS[store.engine])
            found.append(
                Finding(
                    "error",
                    "CW508",
                    f"Aurora offers no {store.engine} '{store.version}'",
                    store.path + ("version",),
                    f"Aurora {store.engine} takes {offered}",
                )
            )
    return found


# What S3 keeps for itself at the start of a bucket's name, which is the
# platform's (a bucket's name ends with the account's id, so the reserved
# endings cannot occur).
S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


def _check_bucket_names(platform) -> list[Finding]:
    if not platform.buckets:
        return []
    reserved = [prefix for prefix in S3_RESERVED_PREFIXES if platform.name.startswith(prefix)]
    if not reserved:
        return []
    return [
        Finding(
            "error",
            "CW509",
            f"'{platform.name}' cannot start the names of S3 buckets: S3 keeps the prefix "
            f"'{reserved[0]}' for itself",
            ("name",),
            "rename the platform (its buckets' names start with it)",
        )
    ]


def _check_deploy_policies(platform) -> list[Finding]:
    """Each CI identity's deploy policy is one inline policy of its role,
    which AWS limits in size: an identity that deploys too many layers of a
    platform with many kinds of resources must be split."""
    from crosswalk.providers.aws.deploy_policy import INLINE_POLICY_LIMIT, policy_size

    findings = []
    for bot in platform.automation:
        size = policy_size(platform, bot.layers)
        if size > INLINE_POLICY_LIMIT:
            findings.append(
                Finding(
                    "error",
                    "CW515",
                    f"CI identity '{bot.name}' would need a deploy policy of {size:,} characters; "
                    f"AWS holds {INLINE_POLICY_LIMIT:,} per role",
                    bot.path + ("layers",),
                    "split its layers over two automation entries, e.g. the platform's layers "
                    "and app-services",
                )
            )
    return findings


def _tag_key(key: str) -> tuple[str, str] | None:
    if len(key) > TAG_KEY_LIMIT:
        return f"AWS tag keys have at most {TAG_KEY_LIMIT} characters", "shorten it"
    if key.lower().startswith("aws:"):
        return "the 'aws:' prefix is AWS's own", f"use '{key[4:] or 'name'}'"
    if not TAG_TEXT.match(key):
        return _tag_characters()
    return None


def _tag_value(value: str) -> tuple[str, str] | None:
    if len(value) > TAG_VALUE_LIMIT:
        return f"AWS tag values have at most {TAG_VALUE_LIMIT} characters", "shorten it"
    if not TAG_TEXT.match(value):
        return _tag_characters()
    return None


def _tag_characters() -> tuple[str, str]:
    return (
        "AWS tags hold letters, digits, spaces and _ . : / = + - @",
        "remove the other characters",
    )


def _check_zones(platform) -> list[Finding]:
    zones, region = platform.network.zones, platform.cloud.region
    offered = availability_zones(region)
    if offered is None or zones <= offered:
        return []
    return [
        Finding(
            "error",
            "CW514",
            f"'{region}' has {offered} availability zones, not {zones}",
            ("network", "zones"),
            f"set network.zones to {offered} or fewer",
        )
    ]


def _check_subnets(platform) -> list[Finding]:
    """Each zone's public subnet is the smallest the carve makes; AWS takes /28 at least."""
    network = platform.network
    try:
        prefix = ipaddress.ip_network(network.cidr).prefixlen
    except ValueError:  # an invalid CIDR: the shared checks report it (CW307)
        return []
    public = prefix + 1 + _zone_bits(network.zones) + 2
    if prefix > 24 or public <= SMALLEST_SUBNET:  # past /24 the shared checks report it
        return []
    largest = SMALLEST_SUBNET - 3 - _zone_bits(network.zones)
    return [
        Finding(
            "error",
            "CW506",
            f"'{network.cidr}' is too small for {network.zones} zones: each zone's public subnet "
            f"would be a /{public}, and AWS subnets are /{SMALLEST_SUBNET} or larger",
            ("network", "cidr"),
            f"use a /{largest} or larger network.cidr, or fewer zones",
        )
    ]


RULES = ProviderRules(
    cloud="aws",
    title="AWS",
    regions=frozenset(
        [
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "eu-south-1",
            "eu-south-2",
            "eu-north-1",
            "il-central-1",
            "me-south-1",
            "me-central-1",
            "mx-central-1",
            "sa-east-1",
            "us-gov-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "cn-northwest-1",
        ]
    ),
    region_pattern=re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"),
    region_example="us-west-2",
    machine_type_pattern=re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"),
    machine_type_example="m6i.large",
    kubernetes_service="EKS",
    kubernetes_versions=KUBERNETES_VERSIONS,
    network_policy_enforcer="the VPC CNI's network policy agent (its add-on's enable_network_policy)",
    extended_support="extended support (billed per cluster hour)",
    extra_checks=_checks,
)
