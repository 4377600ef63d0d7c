"""Reads an export its upstream never made: the failure surfaces asynchronously."""

import pulumi
import pulumi_kubernetes as k8s

cluster = pulumi.StackReference(f"organization/edge-cluster/{pulumi.get_stack()}")

# cluster
provider = k8s.Provider("k8s", kubeconfig=cluster.require_output("kubeconfig"))

# apps.missing-output.uses
k8s.core.v1.ConfigMap(
    "settings",
    metadata={"namespace": "default"},
    data={"domain": cluster.require_output("ingressDomain")},
    opts=pulumi.ResourceOptions(provider=provider),
)
