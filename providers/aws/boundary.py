"""The permissions boundary of every role a layer but identity makes (the
workloads' IRSA roles). Whatever a deploy identity writes into such a role,
the role can do no more than this: no IAM, STS, organization or account
action, and each service's actions only on this platform's resources, so a
deployer of apps cannot hand an app another team's bucket, table, queue or
key. By service, what the platform's workloads use: their inline policies and
the AWS managed policies the cluster attaches (AmazonEKS_CNI_Policy,
AmazonEBSCSIDriverPolicy); tests/test_aws_cloud_checks.py checks each is
within it.

Left out on purpose: the actions that share or expose a resource rather than
use it (ec2:ModifySnapshotAttribute makes a snapshot public,
ec2:CreateNetworkInterfacePermission lends an interface to another account,
s3:PutObjectAcl grants an object), and kms:CreateGrant (no workload passes the
platform key to a service).
"""

from __future__ import annotations

from crosswalk.providers.aws.common import KEY_USE_ACTIONS, PLATFORM_TAG

# What the VPC CNI does to the nodes' network interfaces (AmazonEKS_CNI_Policy).
NETWORK_INTERFACE_ACTIONS = [
    "ec2:AssignIpv6Addresses",
    "ec2:AssignPrivateIpAddresses",
    "ec2:AttachNetworkInterface",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DetachNetworkInterface",
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:UnassignIpv6Addresses",
    "ec2:UnassignPrivateIpAddresses",
]
# What the EBS CSI driver does to volumes and their snapshots
# (AmazonEBSCSIDriverPolicy); tags only as it creates or deletes them.
VOLUME_ACTIONS = [
    "ec2:AttachVolume",
    "ec2:CopyVolumes",
    "ec2:CreateSnapshot",
    "ec2:CreateTags",
    "ec2:CreateVolume",
    "ec2:DeleteSnapshot",
    "ec2:DeleteTags",
    "ec2:DeleteVolume",
    "ec2:DetachVolume",
    "ec2:EnableFastSnapshotRestores",
    "ec2:LockSnapshot",
    "ec2:ModifyVolume",
]
# Reads AWS offers on "*" only (Describe, List of a whole service).
READ_ANYWHERE_ACTIONS = [
    "autoscaling:Describe*",
    "ec2:Describe*",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "route53:ListHostedZones",
    "route53:ListHostedZonesByName",
]
DATA_ACTIONS = {
    "dynamodb": [
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    ],
    "s3": [
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:GetObjectTagging",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:ListBucketVersions",
        "s3:ListMultipartUploadParts",
        "s3:PutObject",
        "s3:PutObjectTagging",
    ],
    "sqs": [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
    ],
}


def boundary_statements(platform: str, arn) -> list[dict]:
    """The boundary's statements. `arn(service, resource)` is an ARN of the
    account the program deploys into, in any region (deploy_policy._Arn)."""
    prefix = f"{platform}-"

    def allow(sid: str, actions, resources, condition=None) -> dict:
        statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions)}
        statement["Resource"] = resources
        if condition:
            statement["Condition"] = condition
        return statement

    return [
        allow("ReadAnywhere", READ_ANYWHERE_ACTIONS, "*"),
        allow("NodeNetworkInterfaces", NETWORK_INTERFACE_ACTIONS, arn("ec2", "*")),
        # A snapshot's ARN names no account: AWS's format is snapshot/<id> in the region.
        allow("Volumes", VOLUME_ACTIONS, [arn("ec2", "*"), "arn:aws:ec2:*::snapshot/*"]),
        # Only the node groups' groups that the autoscaler may manage (EKS tags them).
        allow(
            "ScaleNodeGroups",
            ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/eks-*",
            {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}},
        ),
        allow("NodeGroups", ["eks:DescribeNodegroup"], f"arn:aws:eks:*:*:nodegroup/{prefix}*"),
        allow(
            "LogGroups",
            ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            arn("logs", f"log-group:/{platform}*"),
        ),
        allow(
            "Records",
            [
                "route53:ChangeResourceRecordSets",
                "route53:ListResourceRecordSets",
                "route53:ListTagsForResource",
            ],
            "arn:aws:route53:::hostedzone/*",
        ),
        allow("RecordChanges", ["route53:GetChange"], "arn:aws:route53:::change/*"),
        # The apps' own secrets (providers/aws/app_secrets.py), not RDS's `rds!` ones.
        allow(
            "AppSecrets",
            ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            arn("secretsmanager", f"secret:{platform}/*"),
        ),
        allow("DatabaseUsers", ["rds-db:connect"], arn("rds-db", "dbuser:*/*")),
        # Signing in to a warehouse (workgroup ARNs carry an id, not a name).
        allow(
            "Warehouses",
            ["redshift-serverless:GetCredentials"],
            arn("redshift-serverless", "workgroup/*"),
        ),
        allow("Tables", DATA_ACTIONS["dynamodb"], arn("dynamodb", f"table/{prefix}*")),
        allow("Queues", DATA_ACTIONS["sqs"], arn("sqs", f"{prefix}*")),
        # Pipelines' pipes hand messages to their Firehose streams.
        allow(
            "Streams",
            ["firehose:PutRecord", "firehose:PutRecordBatch"],
            arn("firehose", f"deliverystream/{prefix}*"),
        ),
        # Bucket names are global: the platform's carry its name first.
        allow(
            "Buckets",
            DATA_ACTIONS["s3"],
            [f"arn:aws:s3:::{prefix}*", f"arn:aws:s3:::{prefix}*/*"],
        ),
        allow(
            "PlatformKeys",
            KEY_USE_ACTIONS,
            arn("kms", "key/*"),
            {"StringEquals": {f"aws:ResourceTag/{PLATFORM_TAG}": platform}},
        ),
    ]
