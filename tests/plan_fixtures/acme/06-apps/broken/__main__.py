"""acme-app-broken: fails on purpose, after registering a provider (hand-written plan fixture)."""

import pulumi
import pulumi_kubernetes as k8s

config = pulumi.Config()
org = pulumi.get_organization()
cluster = pulumi.StackReference(f"{org}/acme-cluster/{pulumi.get_stack()}")

# cluster
k8s_provider = k8s.Provider("k8s", kubeconfig=cluster.require_output("kubeconfig"))

# apps.broken.env
replicas = config.require_int("replicas")  # not in Pulumi.dev.yaml: raises ConfigMissingError

k8s.apps.v1.Deployment(
    "broken",
    spec={"replicas": replicas},
    opts=pulumi.ResourceOptions(provider=k8s_provider),
)
