"""AWS (EKS): facts about the cloud."""

import re

from crosswalk.providers import ProviderRules, calendar

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
)
