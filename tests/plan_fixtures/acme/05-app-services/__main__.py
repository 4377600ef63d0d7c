"""acme-app-services: ingress controller and a datastore password (hand-written plan fixture)."""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

config = pulumi.Config()
org = pulumi.get_organization()
cluster = pulumi.StackReference(f"{org}/acme-cluster/{pulumi.get_stack()}")

# cluster
k8s_provider = k8s.Provider(
    "k8s",
    kubeconfig=cluster.require_output("kubeconfig"),
    enable_server_side_apply=True,
)
opts = pulumi.ResourceOptions(provider=k8s_provider)

# appServices.ingress
ingress_namespace = k8s.core.v1.Namespace(
    "envoy-gateway-system",
    metadata={
        "name": "envoy-gateway-system",
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
    },
    opts=opts,
)

# appServices.ingress
ingress = k8s.helm.v3.Release(
    "envoy-gateway",
    chart="oci://docker.io/envoyproxy/gateway-helm",
    version=config.require("ingressChartVersion"),
    namespace=ingress_namespace.metadata.name,
    values={"deployment": {"replicas": config.require_int("ingressReplicas")}},
    opts=pulumi.ResourceOptions(provider=k8s_provider, depends_on=[ingress_namespace]),
)

password = aws.secretsmanager.get_random_password(password_length=24, exclude_punctuation=True)

# appServices.datastores.orders
orders_credentials = k8s.core.v1.Secret(
    "orders-credentials",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="orders-credentials", namespace="payments"),
    string_data={"username": "orders", "password": pulumi.Output.secret(password.random_password)},
    opts=opts,
)

pulumi.export("ingressNamespace", ingress_namespace.metadata.name)
pulumi.export("ingressRelease", ingress.status.name)
pulumi.export("clusterName", cluster.get_output("clusterName"))
