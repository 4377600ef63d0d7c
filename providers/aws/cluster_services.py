"""Layer 4 on AWS: the container log group, IRSA roles for fluent-bit and the
cluster autoscaler (each limited to this platform's resources), and the shared
charts.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.aws.common import (
    aws_provider,
    irsa_role,
    log_group,
    log_group_arns,
    region,
    unique_name,
)
from crosswalk.providers.kubernetes import charts

AUTOSCALER_OWNED = '''
def autoscaler_owned(cluster_name):
    """The tag EKS puts on the Auto Scaling groups of the cluster's node groups."""
    return pulumi.Output.from_input(cluster_name).apply(
        lambda name: {"aws:ResourceTag/k8s.io/cluster-autoscaler/" + name: "owned"}
    )
'''


def emit_cluster_services(ctx: StackContext) -> None:
    p = ctx.platform
    provider = aws_provider(ctx)
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("clusterServices",))
    )
    cloud_values: dict[str, dict] = {}
    if p.services.logging:
        # The log group is made here, encrypted and kept a year, so fluent-bit
        # needs no right to create groups and may write only to this one.
        group = log_group(
            ctx,
            provider,
            "container_logs",
            f"{p.name}-containers",
            unique_name(ctx, "logGroup", template="/{}/containers"),
            ctx.upstream("02-managed-infra", "secrets_key_arn"),
            ctx.line(("clusterServices", "logging")),
        )
        role = irsa_role(
            ctx,
            provider,
            "fluent_bit",
            f"{p.name}-fluent-bit",
            "logging",
            "fluent-bit",
            ("clusterServices", "logging"),
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": log_group_arns(Code(f"{group}.arn")),
                }
            ],
        )
        cloud_values["logging"] = {
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")}},
            "cloudWatchLogs": {
                "enabled": True,
                "region": region(ctx),
                "logGroupName": Code(f"{group}.name"),
                "autoCreateGroup": False,
            },
        }
    if p.services.autoscaler:
        cluster_name = ctx.upstream("03-cluster", "cluster_name")
        ctx.program.helpers["autoscaler_owned"] = AUTOSCALER_OWNED
        role = irsa_role(
            ctx,
            provider,
            "cluster_autoscaler",
            f"{p.name}-cluster-autoscaler",
            "kube-system",
            "cluster-autoscaler",
            ("clusterServices", "autoscaler"),
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "autoscaling:DescribeTags",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                    ],
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Action": ["eks:DescribeNodegroup"],
                    "Resource": Call(
                        "pulumi.Output.concat",
                        ["arn:aws:eks:*:*:nodegroup/", cluster_name, "/*"],
                    ),
                },
                {
                    # Only the groups EKS made for this cluster's node groups.
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:SetDesiredCapacity",
                        "autoscaling:TerminateInstanceInAutoScalingGroup",
                    ],
                    "Resource": "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/eks-*",
                    "Condition": {"StringEquals": Call("autoscaler_owned", [cluster_name])},
                },
            ],
        )
        cloud_values["autoscaler"] = {
            "cloudProvider": "aws",
            "awsRegion": region(ctx),
            "autoDiscovery": {"clusterName": cluster_name},
            "rbac": {
                "serviceAccount": {
                    "name": "cluster-autoscaler",
                    "annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")},
                }
            },
        }
    charts.emit_cluster_services(ctx, k8s_provider, cloud="aws", cloud_values=cloud_values)
