"""What each CI identity of an AWS platform may do, layer by layer: the IAM
statements of its deploy policy (providers/aws/identity.py makes the roles)
and their size, which validation checks against AWS's limit."""

from __future__ import annotations

import fnmatch
import json
from urllib.parse import parse_qs

from crosswalk.compiler.codegen import Call, Code, literal
from crosswalk.compiler.emit import app_project_prefix, project_name
from crosswalk.compiler.graph import LAYER_DIRS
from crosswalk.providers.aws.common import (
    GLOBAL_REGION,
    MANAGED,
    PLATFORM_TAG,
    WORKLOAD_BOUNDARY,
)

GITHUB_OIDC = "token.actions.githubusercontent.com"


# The AWS managed policies each layer attaches to the roles it makes (its
# deploy identity may attach these and no other: iam:PolicyARN).
RDS_MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"
LAYER_MANAGED_POLICIES = {
    "identity": (
        "AmazonEKSClusterPolicy",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        RDS_MONITORING_POLICY,
    ),
    "cluster": ("AmazonEKS_CNI_Policy", "service-role/AmazonEBSCSIDriverPolicy"),
}


def layer_roles(p, layer: str) -> list[str]:
    """The roles `layer` makes, by the name Pulumi gives them
    (`<platform>-<name>` and its random suffix): its deploy identity manages
    those and no other."""
    if layer == "identity":
        # It makes the CI roles, its own included: whatever a list said, it
        # would administer every role of the platform.
        return ["*"]
    if layer == "cluster":
        return ["vpc-cni", "ebs-csi"]
    if layer == "cluster-services":
        return ["fluent-bit"] * p.services.logging + ["cluster-autoscaler"] * p.services.autoscaler
    if layer == "app-services":
        zone = bool(p.app_services.dns_zone)
        return (
            ["external-dns"] * zone
            + ["cert-manager"] * (zone and bool(p.app_services.email))
            + ["pipeline-*"] * bool(p.pipelines)
        )
    if layer == "apps":
        return ["app-*"]
    return []


def engines(p) -> set[str]:
    return {store.engine for store in p.app_services.datastores}


def service_linked_roles(p, layer: str) -> list[str]:
    """The service-linked roles AWS creates on a layer's first use of a service."""
    if layer == "cluster":
        return ["eks.amazonaws.com", "eks-nodegroup.amazonaws.com", "autoscaling.amazonaws.com"]
    if layer == "managed-infra" and p.warehouses:
        return ["redshift.amazonaws.com"]
    if layer == "app-services":
        used = engines(p)
        return ["rds.amazonaws.com"] * bool(used & SQL) + ["elasticache.amazonaws.com"] * (
            "redis" in used
        )
    return []


SQL = frozenset({"postgres", "mysql"})

ROLE_ACTIONS = [
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:ListRoleTags",
    "iam:PutRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:GetRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
]
# What a layer but identity may do to its roles only with the workload
# boundary on them (the condition holds the role's boundary, as it will be):
# no deploy identity may make a role that does more than the boundary allows.
# Removing a boundary (iam:DeleteRolePermissionsBoundary) is no layer's.
BOUNDED_ROLE_ACTIONS = [
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:PutRolePermissionsBoundary",
]
# What the identity layer does to the boundary policy (an update is a new
# version; Pulumi deletes the oldest when there are five).
BOUNDARY_POLICY_ACTIONS = [
    "iam:CreatePolicy",
    "iam:DeletePolicy",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
    "iam:ListPolicyTags",
]
OIDC_PROVIDER_ACTIONS = [
    "iam:CreateOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:GetOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:UntagOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
]

# EC2: what managed-infra (the network) and app-services (datastore security
# groups) create, always tagged crosswalk/platform by the provider's
# default_tags; what they change or delete, only where it carries that tag.
EC2_CREATE = {
    "managed-infra": [
        "ec2:CreateVpc",
        "ec2:CreateSubnet",
        "ec2:CreateInternetGateway",
        "ec2:CreateRouteTable",
        "ec2:AllocateAddress",
        "ec2:CreateNatGateway",
        "ec2:CreateFlowLogs",
    ],
    "app-services": ["ec2:CreateSecurityGroup"],
}
# The creates that name existing resources besides what they make.
EC2_NAMING_CREATES = frozenset(
    {
        "ec2:CreateSubnet",
        "ec2:CreateRouteTable",
        "ec2:CreateNatGateway",
        "ec2:CreateSecurityGroup",
        "ec2:RunInstances",  # into the platform's subnets and security groups
    }
)
EC2_CHANGE = {
    "managed-infra": [
        "ec2:ModifyVpcAttribute",
        "ec2:DeleteVpc",
        "ec2:ModifySubnetAttribute",
        "ec2:DeleteSubnet",
        "ec2:AttachInternetGateway",
        "ec2:DetachInternetGateway",
        "ec2:DeleteInternetGateway",
        "ec2:CreateRoute",
        "ec2:ReplaceRoute",
        "ec2:DeleteRoute",
        "ec2:AssociateRouteTable",
        "ec2:DisassociateRouteTable",
        "ec2:ReplaceRouteTableAssociation",
        "ec2:DeleteRouteTable",
        "ec2:ReleaseAddress",
        "ec2:DisassociateAddress",
        "ec2:DeleteNatGateway",
        "ec2:DeleteFlowLogs",
        # The VPC's default security group, emptied of its rules.
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
    ],
    "app-services": [
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
        "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
        "ec2:ModifySecurityGroupRules",
        "ec2:DeleteSecurityGroup",
    ],
}

# VMs (providers/aws/vms.py): instances and their security groups, made with
# the platform's tag (their root volumes too) and changed or ended only where
# they carry it.
VM_EC2_CREATE = ["ec2:RunInstances", "ec2:CreateSecurityGroup"]
# Families by wildcard, each of actions on tagged instances or security
# groups only, as the deploy policy must fit one role (CW515).
VM_EC2_CHANGE = [
    # Start, stop (to resize), terminate; modify attributes and metadata
    # options; associate or replace the instance profile.
    "ec2:*Instance*",
    "ec2:ModifyVolume",
    "ec2:AuthorizeSecurityGroup*",  # egress (and ingress: none is made)
    "ec2:DeleteSecurityGroup",
]
# What EBS needs of the platform key to encrypt the VMs' volumes, besides
# the grant and description every user of the key has. The key policy lets
# the account use the key only through the platform's services (EC2 among
# them where there are VMs), so the statement needs no condition of its own.
VM_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"]
# What the identity layer does to the VMs' instance profiles (create, tag,
# add and remove the role, delete; list their tags).
INSTANCE_PROFILE_ACTIONS = ["iam:*InstanceProfile*"]

ROUTE53_ACTIONS = [
    "route53:GetHostedZone",
    "route53:UpdateHostedZoneComment",
    "route53:DeleteHostedZone",
    "route53:ChangeTagsForResource",
    "route53:ListTagsForResource",
    "route53:ListResourceRecordSets",
    "route53:GetChange",
]
# DNSSEC signing and query logging of the zone (providers/aws/app_services.py).
# DNSSEC signing and query logging of the zone (providers/aws/app_services.py).
# Families by wildcard, each of actions on hosted zones only, as the deploy
# policy must fit one role (CW515).
ROUTE53_DNSSEC_ACTIONS = [
    "route53:*KeySigningKey",
    "route53:*DNSSEC",  # enable, disable, get
    "route53:CreateQueryLoggingConfig",
    "route53:ListQueryLoggingConfigs",
]
# A bucket crosswalk makes, with its settings (providers/aws/storage.py):
# created, read back, secured, logged, versioned, expired, deleted.
BUCKET_ACTIONS = [
    "s3:CreateBucket",
    "s3:ListBucket",
    "s3:GetBucket*",
    "s3:PutBucket*",
    "s3:DeleteBucket*",
    "s3:Get*Configuration",
    "s3:Put*Configuration",
]
# A warehouse crosswalk makes (providers/aws/warehouses.py): its Redshift
# Serverless namespace and workgroup, created with the platform's tag and
# changed only where they carry it (by family: each family's actions are
# those on that one kind of resource).
WAREHOUSE_CREATE_ACTIONS = [
    "redshift-serverless:CreateNamespace",
    "redshift-serverless:CreateWorkgroup",
    "redshift-serverless:TagResource",
]
WAREHOUSE_ACTIONS = [
    "redshift-serverless:*Namespace",
    "redshift-serverless:*Workgroup",
    "redshift-serverless:*TagResource",
    "redshift-serverless:ListTagsForResource",
]
# Its security group, in the platform's VPC.
WAREHOUSE_SG_ACTIONS = [
    "ec2:CreateSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:DeleteSecurityGroup",
]
# The administrator's password Secrets Manager keeps for Redshift.
WAREHOUSE_SECRET_ACTIONS = [
    "secretsmanager:CreateSecret",
    "secretsmanager:TagResource",
    "secretsmanager:DescribeSecret",
    "secretsmanager:RotateSecret",
    "secretsmanager:DeleteSecret",
]
# A log group crosswalk makes: created, kept, encrypted, tagged, deleted.
LOG_GROUP_ACTIONS = [
    "logs:CreateLogGroup",
    "logs:DeleteLogGroup",
    "logs:PutRetentionPolicy",
    "logs:*KmsKey",  # associate, disassociate
    "logs:TagResource",
    "logs:UntagResource",
    "logs:ListTagsForResource",
]
# (ECR and EKS encrypt with the platform key on grants they make as the deployer.)
KEY_ACTIONS = [
    "kms:CreateGrant",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:ScheduleKeyDeletion",
]
ROUTE53_RESOURCES = [
    "arn:aws:route53:::hostedzone/*",
    "arn:aws:route53:::change/*",
    # ChangeTagsForResource's other resource: crosswalk makes no health checks.
    "arn:aws:route53:::healthcheck/*",
]
RDS_ACTIONS = [
    "rds:CreateDBInstance",
    "rds:ModifyDBInstance",
    "rds:DeleteDBInstance",
    "rds:RebootDBInstance",
    "rds:DescribeDBInstances",
    "rds:CreateDBSnapshot",
    "rds:CreateDBSubnetGroup",
    "rds:ModifyDBSubnetGroup",
    "rds:DeleteDBSubnetGroup",
    "rds:DescribeDBSubnetGroups",
    "rds:CreateDBParameterGroup",
    "rds:ModifyDBParameterGroup",
    "rds:DeleteDBParameterGroup",
    "rds:DescribeDBParameterGroups",
    "rds:DescribeDBParameters",
    "rds:AddTagsToResource",
    "rds:RemoveTagsFromResource",
    "rds:ListTagsForResource",
]
# The platform's instances, subnet groups and final snapshots; an instance is
# created with its engine's default parameter and option groups.
RDS_RESOURCES = [
    "db:{}-*",
    "subgrp:{}-*",
    "snapshot:{}-*",
    "pg:{}-*",
    "pg:default.*",
    "og:default:*",
]
AURORA_ACTIONS = [
    "rds:CreateDBCluster",
    "rds:ModifyDBCluster",
    "rds:DeleteDBCluster",
    "rds:DescribeDBClusters",
    "rds:CreateDBClusterSnapshot",
    "rds:*DBClusterParameterGroup",  # create, modify, delete
    "rds:DescribeDBClusterParameter*",
    "rds:AddTagsToResource",
    "rds:ListTagsForResource",
]
AURORA_RESOURCES = ["cluster:{}-*", "cluster-pg:{}-*", "cluster-snapshot:{}-*"]
RDS_SECRET_ACTIONS = [
    "secretsmanager:CreateSecret",
    "secretsmanager:TagResource",
    "secretsmanager:DescribeSecret",
    "secretsmanager:RotateSecret",
    "secretsmanager:DeleteSecret",
]
# The apps' secrets: made empty, described, tagged and deleted, never read
# (a person sets each value; only the app's role reads it).
APP_SECRET_ACTIONS = [
    "secretsmanager:CreateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:UpdateSecret",
]
CACHE_ACTIONS = [
    "elasticache:CreateReplicationGroup",
    "elasticache:ModifyReplicationGroup",
    "elasticache:DeleteReplicationGroup",
    "elasticache:DescribeReplicationGroups",
    "elasticache:CreateCacheCluster",
    "elasticache:DescribeCacheClusters",
    "elasticache:CreateCacheSubnetGroup",
    "elasticache:ModifyCacheSubnetGroup",
    "elasticache:DeleteCacheSubnetGroup",
    "elasticache:DescribeCacheSubnetGroups",
    "elasticache:AddTagsToResource",
    "elasticache:RemoveTagsFromResource",
    "elasticache:ListTagsForResource",
]
CACHE_RESOURCES = [
    "replicationgroup:{}-*",
    "cluster:{}-*",
    "subnetgroup:{}-*",
    "parametergroup:default.*",
]
QUEUE_ACTIONS = [
    "sqs:CreateQueue",
    "sqs:DeleteQueue",
    "sqs:GetQueueAttributes",
    "sqs:SetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:TagQueue",
    "sqs:UntagQueue",
    "sqs:ListQueueTags",
]
# Streams (`engine: stream`): Kinesis data streams, on demand, encrypted.
DATA_STREAM_ACTIONS = [
    "kinesis:CreateStream",
    "kinesis:DeleteStream",
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:IncreaseStreamRetentionPeriod",
    "kinesis:DecreaseStreamRetentionPeriod",
    "kinesis:StartStreamEncryption",
    "kinesis:StopStreamEncryption",
    "kinesis:UpdateStreamMode",
    "kinesis:AddTagsToStream",
    "kinesis:RemoveTagsFromStream",
    "kinesis:ListTagsForStream",
]
# Pipelines (providers/aws/pipelines.py): EventBridge pipes and Firehose streams.
PIPE_ACTIONS = [
    "pipes:CreatePipe",
    "pipes:DeletePipe",
    "pipes:DescribePipe",
    "pipes:UpdatePipe",
    "pipes:StartPipe",
    "pipes:StopPipe",
    "pipes:TagResource",
    "pipes:UntagResource",
    "pipes:ListTagsForResource",
]
STREAM_ACTIONS = [
    "firehose:CreateDeliveryStream",
    "firehose:DeleteDeliveryStream",
    "firehose:DescribeDeliveryStream",
    "firehose:UpdateDestination",
    "firehose:*DeliveryStreamEncryption",  # start, stop
    "firehose:TagDeliveryStream",
    "firehose:UntagDeliveryStream",
    "firehose:ListTagsForDeliveryStream",
]
TABLE_ACTIONS = [
    "dynamodb:CreateTable",
    "dynamodb:UpdateTable",
    "dynamodb:DeleteTable",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:TagResource",
    "dynamodb:UntagResource",
    "dynamodb:ListTagsOfResource",
]

# Read-only actions AWS offers on no resource narrower than "*".
LAYER_READS = {
    "identity": ["iam:ListOpenIDConnectProviders"],
    "managed-infra": ["ec2:Describe*", "kms:ListAliases", "logs:DescribeLogGroups"],
    "cluster": [
        "ec2:Describe*",
        "eks:DescribeAddonVersions",
        "eks:DescribeAddonConfiguration",
        "eks:ListClusters",
        "iam:ListOpenIDConnectProviders",
    ],
    "cluster-services": ["logs:DescribeLogGroups"],
    "app-services": [],
    "apps": [],
}

GLOBAL_SERVICES = frozenset({"iam", "route53"})

LAYERS = ("identity", "managed-infra", "cluster", "cluster-services", "app-services", "apps")


ACCOUNT_ARN = '''
def account_arn(service, resource, region=""):
    """An ARN in the account this program deploys into."""
    return f"arn:aws:{service}:{region}:{account}:{resource}"
'''


class _Arn:
    """ARNs of the account the program deploys into, as calls of the
    program's `account_arn` (the environment's region unless global)."""

    def __init__(self, region) -> None:
        self.region = region

    def __call__(self, service: str, resource: str, regional: bool = True) -> Call:
        return Call("account_arn", [service, resource] + ([self.region] if regional else []))


def _key(value) -> str:
    return literal(value)


def _matches(value, pattern) -> bool:
    """Whether the ARN `value` is among those `pattern` names."""
    if isinstance(value, Call) and isinstance(pattern, Call):
        same = value.func == pattern.func == "account_arn"
        if not same or value.args[0] != pattern.args[0] or value.args[2:] != pattern.args[2:]:
            return False
        value, pattern = value.args[1], pattern.args[1]
    if isinstance(value, Code) or isinstance(pattern, Code):
        return _key(value) == _key(pattern)
    if isinstance(value, str) and isinstance(pattern, str):
        return value == pattern or ("*" in pattern and fnmatch.fnmatchcase(value, pattern))
    return False


def _merged(statements) -> list[dict]:
    """The same grants in fewer statements (an inline policy holds 10,240
    characters): statements on the same resources under the same condition
    share one action list, statements of the same actions under the same
    condition one resource list."""

    def merge(items, same: str, other: str) -> list[dict]:
        merged: dict[str, dict] = {}
        for statement in items:
            key = _key([statement[same], statement.get("Condition")])
            if key not in merged:
                merged[key] = dict(statement)
                continue
            values = _unique(_as_list(merged[key][other]) + _as_list(statement[other]))
            merged[key][other] = values[0] if len(values) == 1 and other == "Resource" else values
        return list(merged.values())

    by_resource = merge(statements, "Resource", "Action")
    for statement in by_resource:
        # Actions are strings; one another of the list names by a pattern
        # (ec2:AuthorizeSecurityGroupEgress beside ec2:AuthorizeSecurityGroup*) goes.
        actions = set(statement["Action"])
        statement["Action"] = sorted(
            a
            for a in actions
            if not any(o != a and "*" in o and fnmatch.fnmatchcase(a, o) for o in actions)
        )
    out = merge(by_resource, "Action", "Resource")
    for statement in out:
        if isinstance(statement["Resource"], list):
            # A resource another of the list already names (role/<platform>-*
            # holds role/<platform>-app-*).
            resources = statement["Resource"]
            kept = [
                r
                for n, r in enumerate(resources)
                if not any(m != n and _matches(r, o) for m, o in enumerate(resources))
            ]
            statement["Resource"] = kept[0] if len(kept) == 1 else kept
    out = _one_condition_each(out)
    return [st for st in out if not any(_covers(other, st) for other in out)]


def _one_condition_each(statements: list[dict]) -> list[dict]:
    """Statements of the same actions and resources whose conditions test
    one key against values: one statement, the values together."""
    merged: dict[str, dict] = {}
    for statement in statements:
        condition = statement.get("Condition", {})
        tests = [(op, key) for op, keys in condition.items() for key in keys]
        if len(tests) != 1:
            merged[str(id(statement))] = statement
            continue
        (op, key), value = tests[0], condition[tests[0][0]][tests[0][1]]
        mark = _key([statement["Action"], statement["Resource"], op, key])
        if mark not in merged:
            merged[mark] = statement
            continue
        values = _unique(_as_list(merged[mark]["Condition"][op][key]) + _as_list(value))
        merged[mark] = {**merged[mark], "Condition": {op: {key: values}}}
    return list(merged.values())


def _covers(big: dict, small: dict) -> bool:
    """Whether `big` grants all `small` does (the same condition or none, its
    actions and resources among big's; a pattern covers what it matches)."""
    if big is small:
        return False
    if "Condition" in big and _key(big["Condition"]) != _key(small.get("Condition")):
        return False
    if not set(_as_list(small["Action"])) <= set(_as_list(big["Action"])):
        return False
    wide = _as_list(big["Resource"])
    return all(any(_matches(r, w) for w in wide) for r in _as_list(small["Resource"]))


def _unique(values: list) -> list:
    seen: dict[str, object] = {}
    for value in values:
        seen.setdefault(_key(value), value)
    return list(seen.values())


def _as_list(value) -> list:
    return list(value) if isinstance(value, list) else [value]


def deploy_statements(p, layer: str, arn: _Arn, passed: dict) -> list[dict]:
    """What the deploy identity of `layer` may do: each action on the
    platform's own resources (by name, or by the crosswalk/platform tag the
    provider puts on every resource it creates), reads on "*" where AWS offers
    nothing narrower. `passed`: the identity layer's roles other layers pass
    to AWS services (their ARNs). Only what the platform uses: the identity
    layer, deployed first, changes the policy with platform.yaml."""
    name, deployed_in = p.name, arn.region
    tagged = {"StringEquals": {f"aws:ResourceTag/{PLATFORM_TAG}": name}}
    # Keys and log groups in the environment's region and in us-east-1 (Route
    # 53's): one statement for both, held to the platform by tag or name.
    any_region = type(arn)("*")
    tagging = {"StringEquals": {f"aws:RequestTag/{PLATFORM_TAG}": name}}
    out: list[dict] = []

    def allow(actions, resources, condition=None) -> None:
        statement = {"Effect": "Allow", "Action": list(actions), "Resource": resources}
        if condition:
            statement["Condition"] = condition
        out.append(statement)

    def ec2(layer: str, more_create=(), more_change=()) -> None:
        create = EC2_CREATE[layer] + list(more_create)
        change = EC2_CHANGE[layer] + [a for a in more_change if a not in EC2_CHANGE[layer]]
        # What a create makes carries the tag in the request; what it names
        # besides (a subnet's VPC, a NAT gateway's subnet and address)
        # carries it already. Tags on create only for those creates.
        allow(create, "*", tagging)
        naming = [a for a in create if a in EC2_NAMING_CREATES]
        allow(naming + change + ["ec2:CreateTags", "ec2:DeleteTags"], "*", tagged)
        every_create = sorted({a.split(":")[1] for c in [*EC2_CREATE.values(), create] for a in c})
        allow(
            ["ec2:CreateTags"],
            "*",
            {"StringEquals": {**tagging["StringEquals"], "ec2:CreateAction": every_create}},
        )

    reads = list(LAYER_READS[layer])
    if layer == "app-services":
        used = engines(p)
        reads += ["ec2:Describe*"] * bool(used & (SQL | {"redis"}))
        reads += ["rds:DescribeDBEngineVersions"] * bool(used & SQL)
        reads += ["elasticache:DescribeCacheEngineVersions"] * ("redis" in used)
        # The provider's invoke for the cache's auth token.
        reads += ["secretsmanager:GetRandomPassword"] * ("redis" in used)
        reads += ["sqs:ListQueues"] * ("queue" in used)
        reads += ["dynamodb:ListTables"] * ("document" in used)
        if p.app_services.dns_zone:
            reads += ["route53:ListHostedZones", "route53:ListHostedZonesByName"]
            reads += ["logs:DescribeResourcePolicies"]
            # A zone is created on "*" (AWS offers nothing narrower).
            reads += ["route53:CreateHostedZone"]
    elif layer == "managed-infra" and p.registries:
        reads += ["ecr:DescribeRepositories"]
    # Reads of the global services' on "*"; the regional ones' in the
    # environment's region only (ec2:Describe* holds a few describes AWS
    # could scope, of resources the provider has yet to find).
    global_reads = [a for a in reads if a.split(":")[0] in GLOBAL_SERVICES]
    if global_reads:
        allow(global_reads, "*")
    if len(global_reads) < len(reads):
        allow(
            [a for a in reads if a not in global_reads],
            "*",
            {"StringEquals": {"aws:RequestedRegion": deployed_in}},
        )
    roles = [
        arn("iam", f"role/{name}-{role}" + ("" if role.endswith("*") else "-*"), False)
        for role in layer_roles(p, layer)
    ]
    boundary = arn("iam", f"policy/{name}-{WORKLOAD_BOUNDARY}-*", False)
    bounded = {"StringLike": {"iam:PermissionsBoundary": boundary}}
    if roles and layer == "identity":
        allow(ROLE_ACTIONS, roles)
        allow(BOUNDARY_POLICY_ACTIONS, boundary)
    elif roles:
        allow([a for a in ROLE_ACTIONS if a not in BOUNDED_ROLE_ACTIONS], roles)
        allow(BOUNDED_ROLE_ACTIONS, roles, bounded)
    if layer in LAYER_MANAGED_POLICIES:
        managed = {
            "ArnEquals": {"iam:PolicyARN": [MANAGED + m for m in LAYER_MANAGED_POLICIES[layer]]}
        }
        if layer != "identity":
            managed |= bounded
        allow(["iam:AttachRolePolicy", "iam:DetachRolePolicy"], roles, managed)
    if service_linked_roles(p, layer):
        allow(
            ["iam:CreateServiceLinkedRole"],
            arn("iam", "role/aws-service-role/*", False),
            {"StringEquals": {"iam:AWSServiceName": service_linked_roles(p, layer)}},
        )
    kubernetes = arn("eks", f"cluster/{name}-*")
    vm_roles = arn("iam", f"role/{name}-vm-*", False)
    to_ec2 = {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    if layer == "identity":
        allow(OIDC_PROVIDER_ACTIONS, arn("iam", f"oidc-provider/{GITHUB_OIDC}", False))
        if p.vms:
            # The VMs' instance profiles; putting a role in one passes it.
            allow(INSTANCE_PROFILE_ACTIONS, arn("iam", f"instance-profile/{name}-vm-*", False))
            allow(["iam:PassRole"], vm_roles, to_ec2)
    elif layer == "managed-infra":
        ec2(layer, *((VM_EC2_CREATE, VM_EC2_CHANGE) if p.vms else ()))
        if p.vms:
            # What a launch names besides the platform's subnets and security
            # groups: an AMI of any owner, the network interface it makes.
            allow(
                ["ec2:RunInstances"],
                ["arn:aws:ec2:*:*:network-interface/*", "arn:aws:ec2:*::image/*"],
            )
            # The newest AMI of an image family, from AWS's public parameters.
            allow(["ssm:GetParameter"], "arn:aws:ssm:*::parameter/aws/service/*")
            allow(["iam:PassRole"], vm_roles, to_ec2)
        # The VPC's default security group exists before it carries the tag:
        # it is tagged, then emptied of its rules.
        allow(["ec2:CreateTags"], arn("ec2", "security-group/*"), tagging)
        # KMS offers no narrower resource than "*" for CreateKey: the request's tag.
        allow(["kms:CreateKey", "kms:TagResource"], "*", tagging)
        # ECR encrypts its repositories with the key, EBS the VMs' volumes.
        allow(KEY_ACTIONS + VM_KEY_ACTIONS * bool(p.vms), any_region("kms", "key/*"), tagged)
        # The VPC's flow logs, to the platform's log group, with the identity layer's role.
        allow(LOG_GROUP_ACTIONS, any_region("logs", f"log-group:/{name}*"))
        allow(
            ["iam:PassRole"],
            passed["vpc-flow-logs"],
            {"StringEquals": {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}},
        )
        # An alias names a key: the platform's aliases, on any key (aliases
        # carry no tags, and naming a key grants nothing on it).
        allow(
            ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"],
            [arn("kms", f"alias/{name}-*"), arn("kms", "key/*")],
        )
        if p.buckets:
            # The platform's buckets and its access-log bucket, by name: S3
            # holds most bucket actions to no tags. Families by wildcard,
            # each of settings of buckets only, as the policy must fit one
            # role (CW515).
            # Their names end with the account's id: no other bucket of the
            # platform's name (its state's, say) matches.
            allow(BUCKET_ACTIONS, Code(literal(f"arn:aws:s3:::{name}-*-") + " + account"))
        if p.warehouses:
            # Redshift Serverless names its resources by ids: held by the tag.
            allow(WAREHOUSE_CREATE_ACTIONS, arn("redshift-serverless", "*"), tagging)
            allow(WAREHOUSE_ACTIONS, arn("redshift-serverless", "*"), tagged)
            allow(WAREHOUSE_SG_ACTIONS[:1], "*", tagging)
            allow(WAREHOUSE_SG_ACTIONS, "*", tagged)
            allow(WAREHOUSE_SECRET_ACTIONS, arn("secretsmanager", "secret:redshift!*"))
        if p.registries:
            allow(
                [
                    "ecr:CreateRepository",
                    "ecr:DeleteRepository",
                    "ecr:PutImageScanningConfiguration",
                    "ecr:PutImageTagMutability",
                    "ecr:GetLifecyclePolicy",
                    "ecr:GetRepositoryPolicy",
                    "ecr:ListTagsForResource",
                    "ecr:TagResource",
                    "ecr:UntagResource",
                ],
                [arn("ecr", f"repository/{name}/*"), arn("ecr", f"repository/{name}-*")],
            )
    elif layer == "cluster":
        allow(
            [
                "eks:DeleteCluster",
                "eks:DescribeCluster",
                "eks:DescribeUpdate",
                "eks:ListUpdates",
                "eks:ListTagsForResource",
                "eks:DescribeAccessEntry",
                "eks:ListAccessEntries",
                "eks:ListAssociatedAccessPolicies",
                "eks:DescribeAddon",
                "eks:ListAddons",
                "eks:DescribeNodegroup",
                "eks:ListNodegroups",
                "eks:UpdateClusterConfig",
                "eks:UpdateClusterVersion",
                "eks:TagResource",
                "eks:UntagResource",
                "eks:CreateAccessEntry",
                "eks:DeleteAccessEntry",
                "eks:UpdateAccessEntry",
                "eks:AssociateAccessPolicy",
                "eks:DisassociateAccessPolicy",
                "eks:CreateAddon",
                "eks:DeleteAddon",
                "eks:UpdateAddon",
                "eks:CreateNodegroup",
                "eks:DeleteNodegroup",
                "eks:UpdateNodegroupConfig",
                "eks:UpdateNodegroupVersion",
            ],
            [
                kubernetes,
                arn("eks", f"nodegroup/{name}-*"),
                arn("eks", f"addon/{name}-*"),
                arn("eks", f"access-entry/{name}-*"),
            ],
        )
        # Parliament knows CreateCluster on "*" only: the request's tag.
        allow(["eks:CreateCluster", "eks:TagResource"], "*", tagging)
        # The cluster's own OIDC provider (IRSA), which pulumi-eks makes.
        allow(OIDC_PROVIDER_ACTIONS, arn("iam", "oidc-provider/oidc.eks.*", False))
        # EKS encrypts the cluster's secrets with the managed-infra key.
        allow(["kms:DescribeKey", "kms:CreateGrant"], arn("kms", "key/*"), tagged)
        # pulumi-eks takes the control plane's role as a resource: read by name.
        allow(["iam:GetRole"], passed["cluster"])
        # The control plane's and nodes' roles (identity layer), the add-ons' (this one).
        allow(
            ["iam:PassRole"],
            [passed["cluster"], *roles],
            {"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}},
        )
        allow(
            ["iam:PassRole"],
            passed["node"],
            {"StringEquals": {"iam:PassedToService": ["eks.amazonaws.com", "ec2.amazonaws.com"]}},
        )
    elif layer == "cluster-services":
        allow(["eks:DescribeCluster"], kubernetes)
        if p.services.logging:
            allow(LOG_GROUP_ACTIONS, any_region("logs", f"log-group:/{name}*"))
    elif layer == "apps":
        allow(["eks:DescribeCluster"], kubernetes)
    elif layer == "app-services":
        allow(["eks:DescribeCluster"], kubernetes)
        if any(app.secrets for app in p.apps):
            allow(APP_SECRET_ACTIONS, arn("secretsmanager", f"secret:{name}/*"))
        used = engines(p)
        if used & (SQL | {"redis"}):
            ec2(layer)  # the datastores' security groups
        if p.app_services.dns_zone:
            # Route 53 offers no tag conditions and zone ids are AWS's: the
            # zone is changed as any hosted zone of the account.
            allow(ROUTE53_ACTIONS + ROUTE53_DNSSEC_ACTIONS, ROUTE53_RESOURCES)
            allow(
                ["route53:GetQueryLoggingConfig", "route53:DeleteQueryLoggingConfig"],
                "arn:aws:route53:::queryloggingconfig/*",
            )
            # Route 53 keeps its signing key and query log in us-east-1.
            allow(["kms:CreateKey", "kms:TagResource"], "*", tagging)
            allow(KEY_ACTIONS, any_region("kms", "key/*"), tagged)
            allow(LOG_GROUP_ACTIONS, any_region("logs", f"log-group:/aws/route53/{name}*"))
            # Resource policies name no resource: Route 53's region only.
            allow(
                ["logs:PutResourcePolicy", "logs:DeleteResourcePolicy"],
                "*",
                {"StringEquals": {"aws:RequestedRegion": GLOBAL_REGION}},
            )
        # Datastores, by the names Pulumi gives them (`<platform>-<datastore>-...`).
        if used & SQL:
            allow(RDS_ACTIONS, [arn("rds", r.format(name)) for r in RDS_RESOURCES])
            if any(store.aurora for store in p.app_services.datastores):
                # Aurora encrypts with the platform key, on a grant RDS makes.
                allow(["kms:DescribeKey", "kms:CreateGrant"], arn("kms", "key/*"), tagged)
            allow(
                ["iam:PassRole"],
                passed["rds-monitoring"],
                {"StringEquals": {"iam:PassedToService": "monitoring.rds.amazonaws.com"}},
            )
            # RDS keeps the master password in Secrets Manager, in a secret it
            # names rds!<id> and makes with the deployer's rights.
            allow(RDS_SECRET_ACTIONS, arn("secretsmanager", "secret:rds!*"))
            # It reads the master password (for the apps' database user Jobs)
            # of the platform's instances only: RDS tags each secret with its instance.
            allow(
                ["secretsmanager:GetSecretValue"],
                arn("secretsmanager", "secret:rds!*"),
                {
                    # A tag's value is a string, if it holds an ARN: StringLike.
                    "StringLike": {
                        "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn": arn(
                            "rds", f"db:{name}-*"
                        )
                    }
                },
            )
        if any(store.aurora for store in p.app_services.datastores):
            # Aurora clusters, their parameter groups and final snapshots
            # (their instances are the RDS instances above), and the master
            # passwords of the platform's clusters, which RDS tags with them.
            allow(
                AURORA_ACTIONS,
                [arn("rds", r.format(name)) for r in AURORA_RESOURCES + RDS_RESOURCES[:2]],
            )
            allow(
                ["secretsmanager:GetSecretValue"],
                arn("secretsmanager", "secret:rds!*"),
                {
                    "ArnLike": {
                        "secretsmanager:ResourceTag/aws:rds:primaryDBClusterArn": arn(
                            "rds", f"cluster:{name}-*"
                        )
                    }
                },
            )
        if "redis" in used:
            allow(CACHE_ACTIONS, [arn("elasticache", r.format(name)) for r in CACHE_RESOURCES])
        if "queue" in used:
            allow(QUEUE_ACTIONS, arn("sqs", f"{name}-*"))
        if "document" in used:
            allow(TABLE_ACTIONS, arn("dynamodb", f"table/{name}-*"))
        if "stream" in used:
            allow(DATA_STREAM_ACTIONS, arn("kinesis", f"stream/{name}-*"))
            # Kinesis checks the platform key when it starts encrypting with it.
            allow(["kms:DescribeKey"], arn("kms", "key/*"), tagged)
        if p.pipelines:
            allow(PIPE_ACTIONS, arn("pipes", f"pipe/{name}-*"))
            allow(STREAM_ACTIONS, arn("firehose", f"deliverystream/{name}-*"))
            allow(LOG_GROUP_ACTIONS, arn("logs", f"log-group:/{name}*"))
            # Firehose encrypts with the platform key on a grant it makes as the deployer.
            allow(["kms:DescribeKey", "kms:CreateGrant"], arn("kms", "key/*"), tagged)
            pipeline_roles = arn("iam", f"role/{name}-pipeline-*", False)
            allow(
                ["iam:PassRole"],
                pipeline_roles,
                {
                    "StringEquals": {
                        "iam:PassedToService": ["firehose.amazonaws.com", "pipes.amazonaws.com"]
                    }
                },
            )
    return out


def _state_bucket(backend: str) -> tuple[str, str]:
    """s3://BUCKET[/PREFIX][?query] -> the bucket, and the ARN its objects start with."""
    location = backend.removeprefix("s3://").split("?", 1)[0]
    bucket, _, prefix = location.partition("/")
    prefix = prefix.strip("/")
    return bucket, f"arn:aws:s3:::{bucket}/" + (f"{prefix}/" if prefix else "")


def state_statements(p, layers, arn, projects: list[str] | None = None) -> list[dict]:
    """What a CI identity needs of the platform's state: on an s3:// backend,
    read every stack's files (StackReferences read upstream outputs) and
    write those of its own layers' projects only (or of `projects`); with an
    awskms:// secrets provider, encrypt and decrypt with that one key."""
    out: list[dict] = []
    backend = p.state_backend or ""
    if backend.startswith("s3://"):
        bucket, root = _state_bucket(backend)
        if projects is None:
            projects = [
                project_name(p, stack) for layer, stack in LAYER_DIRS.items() if layer in layers
            ]
            if "apps" in layers:
                projects.append(app_project_prefix(p) + "*")
        out += [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{root}.pulumi/*"},
            {
                # .pulumi/{stacks,history,backups,locks}/[organization/]<project>/...
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{root}.pulumi/*/{project}/*" for project in projects],
            },
        ]
    provider = p.state_secrets_provider or ""
    if provider.startswith("awskms://"):
        key, _, query = provider.removeprefix("awskms://").partition("?")
        region = parse_qs(query).get("region", [arn.region])[0]
        in_region = type(arn)(region)
        statement = {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt"]}
        if key.startswith("/arn:"):
            statement["Resource"] = key[1:]
        elif key.startswith("alias/"):
            # IAM cannot name a key by its alias: any key of the account that carries it.
            statement["Resource"] = in_region("kms", "key/*")
            statement["Condition"] = {"ForAnyValue:StringEquals": {"kms:ResourceAliases": key}}
        else:
            statement["Resource"] = in_region("kms", f"key/{key}")
        out.append(statement)
    return out


def state_denials(p, layers) -> list[dict]:
    """The apps' projects are `<platform>-app-<name>`, and so, to a pattern,
    is app-services' `<platform>-app-services`: an apps deployer that does
    not deploy app-services is denied its state. (Kept out of `_merged`,
    which merges grants, not denials.)"""
    backend = p.state_backend or ""
    if not backend.startswith("s3://") or "apps" not in layers or "app-services" in layers:
        return []
    _bucket, root = _state_bucket(backend)
    return [
        {
            "Effect": "Deny",
            "Action": ["s3:DeleteObject", "s3:PutObject"],
            "Resource": f"{root}.pulumi/*/{project_name(p, LAYER_DIRS['app-services'])}/*",
        }
    ]


# What pushing an image to a repository takes (ECR's "Pushing an image"
# policy), and reading it back: the digest of what was pushed, or of an
# image a re-run finds already built.
ECR_PUSH_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]


def build_statements(p, app, arn: _Arn, repository) -> list[dict]:
    """What the push identity of an app built from its own repository may do:
    push to the app's ECR repository (`repository`, its name) and no other,
    and deploy that app's stack only: read the cluster, manage the app's own
    IAM role (`<platform>-app-<app>-` and Pulumi's 7-character suffix) with
    the workload boundary on it, and write that one stack's state."""
    name = p.name
    role = arn("iam", f"role/{name}-app-{app.name}-???????", False)
    boundary = arn("iam", f"policy/{name}-{WORKLOAD_BOUNDARY}-*", False)
    resource = Call("pulumi.Output.concat", [arn("ecr", "repository/"), repository])
    out = [
        # ECR's login token is the account's: AWS offers nothing narrower.
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {"Effect": "Allow", "Action": list(ECR_PUSH_ACTIONS), "Resource": resource},
        {
            "Effect": "Allow",
            "Action": ["eks:DescribeCluster"],
            "Resource": arn("eks", f"cluster/{name}-*"),
        },
        {
            "Effect": "Allow",
            "Action": [a for a in ROLE_ACTIONS if a not in BOUNDED_ROLE_ACTIONS],
            "Resource": role,
        },
        {
            "Effect": "Allow",
            "Action": list(BOUNDED_ROLE_ACTIONS),
            "Resource": role,
            "Condition": {"StringLike": {"iam:PermissionsBoundary": boundary}},
        },
    ]
    project = project_name(p, f"06-apps/{app.name}")
    return out + state_statements(p, ("apps",), arn, projects=[project])


# What a preview reads: the read actions of the deploy statements, on the same
# resources. Not the reads of data that a preview never needs.
READ_VERBS = ("Describe", "Get", "List")
NOT_PREVIEW_READS = frozenset({"secretsmanager:GetSecretValue", "secretsmanager:GetRandomPassword"})


def is_read(action: str) -> bool:
    verb = action.partition(":")[2]
    return verb.startswith(READ_VERBS) and action not in NOT_PREVIEW_READS


def preview_statements(p, layers, arn, passed) -> list[dict]:
    """What the preview identity of an entry deploying `layers` may do: read
    what the deploy identity may read, where it may (`pulumi preview` reads
    what exists and decides what would change), the state's files and, with
    an awskms:// provider, decrypt (a stack's config secrets). Nothing it
    may write: a preview on a self-managed backend takes no lock (since
    pulumi/pulumi#13948, 2023) and saves no checkpoint."""
    out: list[dict] = []
    for layer in LAYERS:
        if layer not in layers:
            continue
        for statement in deploy_statements(p, layer, arn, passed):
            reads = [a for a in _as_list(statement["Action"]) if is_read(a)]
            if reads:
                out.append({**statement, "Action": reads})
    for statement in state_statements(p, layers, arn):
        reads = [a for a in _as_list(statement["Action"]) if is_read(a) or a == "kms:Decrypt"]
        if "s3:GetObject" in reads or "s3:ListBucket" in reads or "kms:Decrypt" in reads:
            out.append({**statement, "Action": reads})
    return _merged(out)


# AWS holds this many characters (whitespace aside) of inline policy per role.
INLINE_POLICY_LIMIT = 10_240


class _TextArn:
    """ARNs as text, for measuring a policy before any account is known
    (an account id has 12 digits)."""

    def __init__(self, region: str) -> None:
        self.region = region

    def __call__(self, service: str, resource: str, regional: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if regional else ''}:123456789012:{resource}"


def policy_size(p, layers) -> int:
    """The characters of the deploy policy of an identity deploying `layers`,
    as AWS counts them."""
    arn = _TextArn(p.cloud.region)
    # Pulumi names roles after the resource, with a suffix of 8 characters.
    passed = {
        role: arn("iam", f"role/{p.name}-{role}-1a2b3c4", False)
        for role in ("cluster", "node", "vpc-flow-logs", "rds-monitoring")
    }
    statements = _merged(
        [
            *(
                statement
                for layer in LAYERS
                if layer in layers
                for statement in deploy_statements(p, layer, arn, passed)
            ),
            *state_statements(p, layers, arn),
        ]
    ) + state_denials(p, layers)
    document = {"Version": "2012-10-17", "Statement": statements}
    return len(json.dumps(document, separators=(",", ":")))
