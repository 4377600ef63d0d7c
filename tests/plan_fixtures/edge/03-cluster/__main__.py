"""edge-cluster: pulumi-eks components with resource-reference inputs and a component method."""

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

config = pulumi.Config()
aws_provider = aws.Provider("aws", region="eu-central-1")

# cluster.nodePools
node_role = aws.iam.Role(
    "nodes",
    assume_role_policy=aws.iam.get_policy_document(
        statements=[
            {
                "actions": ["sts:AssumeRole"],
                "principals": [{"type": "Service", "identifiers": ["ec2.amazonaws.com"]}],
            }
        ]
    ).json,
    opts=pulumi.ResourceOptions(provider=aws_provider),
)

# cluster
cluster = eks.Cluster(
    "edge",
    skip_default_node_group=True,
    authentication_mode=eks.AuthenticationMode.API,
    instance_roles=[node_role],
    opts=pulumi.ResourceOptions(providers={"aws": aws_provider}),
)

# cluster.nodePools.general
node_group = eks.ManagedNodeGroup(
    "general",
    cluster=cluster,
    node_role=node_role,
    scaling_config={"min_size": 1, "max_size": 3, "desired_size": config.require_int("nodeCount")},
    opts=pulumi.ResourceOptions(providers={"aws": aws_provider}),
)

k8s_provider = k8s.Provider("k8s", kubeconfig=cluster.kubeconfig_json)

# cluster.nodePools.batch
k8s.core.v1.Namespace(
    "team",
    metadata={"labels": {"team": "platform"}},
    opts=pulumi.ResourceOptions(provider=k8s_provider),
)

pulumi.export("kubeconfig", pulumi.Output.secret(cluster.get_kubeconfig(role_arn=node_role.arn)))
pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
