"""The images `vms[].image` names, by family, on each cloud: the alias each
cloud's publisher keeps pointing at its newest build, so a family name in
platform.yaml never needs a date or an id.

Like the Kubernetes calendars in the clouds' rules.py, this is a fact that
changes with time: a family joins when its publisher ships it and leaves when
its support ends. Every family listed runs the agent the cloud's
identity-aware login needs out of the box (AWS: the SSM Agent; GCP: the guest
environment that reads OS Login; Azure: the Linux VM agent the Entra ID login
extension installs through).

Sources, recorded 2026-12-03:
- AWS: the public Systems Manager parameters of Amazon Linux
  (https://docs.aws.amazon.com/linux/al2023/ug/ec2.html) and of Canonical
  (https://documentation.ubuntu.com/aws/aws-how-to/instances/find-ubuntu-images/);
  the SSM Agent comes preinstalled on both (https://docs.aws.amazon.com/
  systems-manager/latest/userguide/ami-preinstalled-agent.html).
- GCP: the public image families of https://cloud.google.com/compute/docs/images/os-details.
- Azure: the Marketplace URNs of https://documentation.ubuntu.com/azure/azure-how-to/
  instances/find-ubuntu-images/ and https://wiki.debian.org/Cloud/MicrosoftAzure
  (Generation 2 images: Trusted Launch boots only those).
"""

from __future__ import annotations

# family -> cloud -> the cloud's alias: AWS a public SSM parameter holding the
# newest AMI id; GCP "<image project>/<image family>"; Azure
# "<publisher>:<offer>:<sku>" (version: latest).
VM_IMAGES: dict[str, dict[str, str]] = {
    "ubuntu-24.04": {
        "aws": "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
        "gcp": "ubuntu-os-cloud/ubuntu-2404-lts-amd64",
        "azure": "Canonical:ubuntu-24_04-lts:server",
    },
    "ubuntu-22.04": {
        "aws": "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id",
        "gcp": "ubuntu-os-cloud/ubuntu-2204-lts",
        "azure": "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2",
    },
    "amazon-linux-2023": {
        "aws": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    },
    "debian-12": {
        "gcp": "debian-cloud/debian-12",
        "azure": "Debian:debian-12:12-gen2",
    },
}
DEFAULT_IMAGE = "ubuntu-24.04"


def vm_image(cloud: str, family: str) -> str | None:
    """The cloud's alias of an image family (None: the cloud has none)."""
    return VM_IMAGES.get(family, {}).get(cloud)


def images_of(cloud: str) -> list[str]:
    """The families the cloud offers, in the table's order."""
    return [family for family, clouds in VM_IMAGES.items() if cloud in clouds]
