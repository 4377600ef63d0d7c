"""acme-cluster: network and EKS control plane (hand-written plan fixture)."""

import json

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
region = config.require("region")
zones = config.require_int("zones")
tags = config.require_object("tags")

# cloud
aws_provider = aws.Provider(
    "aws",
    region=region,
    default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
)
opts = pulumi.ResourceOptions(provider=aws_provider)

available = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(provider=aws_provider))

# network
vpc = aws.ec2.Vpc(
    "acme-vpc",
    cidr_block="10.0.0.0/16",
    enable_dns_hostnames=True,
    enable_dns_support=True,
    tags={"Name": "acme-vpc"},
    opts=opts,
)

subnets = []
for index, zone in enumerate(available.names[:zones]):
    # network
    subnets.append(
        aws.ec2.Subnet(
            f"acme-private-{zone}",
            vpc_id=vpc.id,
            cidr_block=f"10.0.{index * 16}.0/20",
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={"kubernetes.io/role/internal-elb": "1"},
            opts=pulumi.ResourceOptions(provider=aws_provider, parent=vpc),
        )
    )

partition = aws.get_partition(opts=pulumi.InvokeOptions(provider=aws_provider))
assume_role = aws.iam.get_policy_document(
    statements=[
        aws.iam.GetPolicyDocumentStatementArgs(
            actions=["sts:AssumeRole"],
            principals=[
                aws.iam.GetPolicyDocumentStatementPrincipalArgs(
                    type="Service", identifiers=[f"eks.{partition.dns_suffix}"]
                )
            ],
        )
    ],
    opts=pulumi.InvokeOptions(provider=aws_provider),
)

# cluster
cluster_role = aws.iam.Role(
    "acme-cluster-role",
    assume_role_policy=assume_role.json,
    opts=opts,
)

# cluster
cluster = aws.eks.Cluster(
    "acme-cluster",
    name="acme-dev",
    role_arn=cluster_role.arn,
    version=config.require("clusterVersion"),
    vpc_config=aws.eks.ClusterVpcConfigArgs(
        subnet_ids=[subnet.id for subnet in subnets],
        endpoint_public_access=config.require_bool("publicEndpoint"),
        endpoint_private_access=True,
        public_access_cidrs=config.require_object("allowedCidrs"),
    ),
    enabled_cluster_log_types=["api", "audit", "authenticator"],
    opts=pulumi.ResourceOptions(provider=aws_provider, depends_on=[cluster_role]),
)


def kubeconfig(args):
    name, endpoint, ca = args
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", name],
                        }
                    },
                }
            ],
        }
    )


pulumi.export("clusterName", cluster.name)
pulumi.export("vpcId", vpc.id)
pulumi.export("privateSubnetIds", [subnet.id for subnet in subnets])
pulumi.export("oidcIssuer", cluster.identities[0].oidcs[0].issuer)
pulumi.export(
    "kubeconfig",
    pulumi.Output.secret(
        pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(kubeconfig)
    ),
)
