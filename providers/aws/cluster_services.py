"""Layer 4 on AWS: IRSA roles for fluent-bit and the cluster autoscaler, and the
shared charts.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.aws.common import aws_provider, irsa_role, region, unique_name
from crosswalk.providers.kubernetes import charts


def emit_cluster_services(ctx: StackContext) -> None:
    p = ctx.platform
    provider = aws_provider(ctx)
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("clusterServices",))
    )
    cloud_values: dict[str, dict] = {}
    if p.services.logging:
        role = irsa_role(
            ctx,
            provider,
            "fluent_bit",
            f"{p.name}-fluent-bit",
            "logging",
            "fluent-bit",
            ("clusterServices", "logging"),
            [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
        )
        cloud_values["logging"] = {
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")}},
            "cloudWatchLogs": {
                "enabled": True,
                "region": region(ctx),
                "logGroupName": unique_name(ctx, "logGroup", template="/{}/containers"),
                "autoCreateGroup": True,
            },
        }
    if p.services.autoscaler:
        role = irsa_role(
            ctx,
            provider,
            "cluster_autoscaler",
            f"{p.name}-cluster-autoscaler",
            "kube-system",
            "cluster-autoscaler",
            ("clusterServices", "autoscaler"),
            [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeTags",
                "autoscaling:SetDesiredCapacity",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:DescribeInstanceTypes",
                "eks:DescribeNodegroup",
            ],
        )
        cloud_values["autoscaler"] = {
            "cloudProvider": "aws",
            "awsRegion": region(ctx),
            "autoDiscovery": {"clusterName": ctx.upstream("03-cluster", "cluster_name")},
            "rbac": {
                "serviceAccount": {
                    "name": "cluster-autoscaler",
                    "annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")},
                }
            },
        }
    charts.emit_cluster_services(ctx, k8s_provider, cloud="aws", cloud_values=cloud_values)
