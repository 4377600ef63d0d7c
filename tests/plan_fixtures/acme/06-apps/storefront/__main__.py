"""acme-app-storefront: one app (hand-written plan fixture)."""

import pulumi
import pulumi_kubernetes as k8s

from labels import labels

config = pulumi.Config()
org = pulumi.get_organization()
cluster = pulumi.StackReference(f"{org}/acme-cluster/{pulumi.get_stack()}")
services = pulumi.StackReference(f"{org}/acme-app-services/{pulumi.get_stack()}")

# cluster
k8s_provider = k8s.Provider("k8s", kubeconfig=cluster.require_output("kubeconfig"))

# apps.storefront
namespace = k8s.core.v1.Namespace(
    "payments",
    metadata={"name": "payments", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    opts=pulumi.ResourceOptions(provider=k8s_provider),
)

env = config.require_object("env")

# apps.storefront
deployment = k8s.apps.v1.Deployment(
    "storefront",
    metadata={"name": "storefront", "namespace": namespace.metadata.name, "labels": labels("web")},
    spec={
        "replicas": config.require_int("replicas"),
        "selector": {"match_labels": labels("web")},
        "template": {
            "metadata": {"labels": labels("web")},
            "spec": {
                "service_account_name": "storefront",
                "security_context": {"run_as_non_root": True, "seccomp_profile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "storefront",
                        "image": config.require("image"),
                        "ports": [{"container_port": 8080, "name": "http"}],
                        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
                        "resources": {
                            "requests": {"cpu": "250m", "memory": "256Mi"},
                            "limits": {"cpu": "250m", "memory": "256Mi"},
                        },
                        "security_context": {
                            "allow_privilege_escalation": False,
                            "read_only_root_filesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "readiness_probe": {"http_get": {"path": "/healthz", "port": "http"}},
                    }
                ],
            },
        },
    },
    opts=pulumi.ResourceOptions(provider=k8s_provider, depends_on=[namespace]),
)

# apps.storefront.ingress
service = k8s.core.v1.Service(
    "storefront",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="storefront", namespace="payments", labels=labels("web")),
    spec=k8s.core.v1.ServiceSpecArgs(
        selector=labels("web"),
        ports=[k8s.core.v1.ServicePortArgs(port=80, target_port="http", name="http")],
    ),
    opts=pulumi.ResourceOptions(provider=k8s_provider, parent=deployment),
)

pulumi.export("url", pulumi.Output.concat("http://", service.metadata.name, ".payments.svc"))
pulumi.export("ingressNamespace", services.get_output("ingressNamespace"))
