"""How AWS changes the resources crosswalk emits, for `crosswalk diff`.

`REPLACED_ON_CHANGE`: per type token, the inputs (wire names, dotted paths)
the provider cannot change in place: a change to one of them replaces the
resource. `STATEFUL`: the types whose deletion or replacement loses data or
what others rely on, with what is lost.

Source: the pulumi-aws 7.51 resource documentation (bridged from the
Terraform AWS provider, whose "forces new resource" marks these inputs) and
pulumi-eks 4.4's components (the inputs that reach those), as of December
2026. A type crosswalk emits with no entry here is a test
failure (tests/test_diff.py), so a new resource kind adds its row.
"""

from __future__ import annotations

REPLACED_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "aws:dynamodb/table:Table": ("name", "hashKey", "rangeKey", "localSecondaryIndexes"),
    # pulumi-eks components: replacing one replaces the AWS resources it holds.
    "eks:index:Addon": ("addonName", "cluster"),
    "eks:index:Cluster": (
        "name",
        "serviceRole",
        "kubernetesServiceIpAddressRange",
        "ipFamily",
        "bootstrapSelfManagedAddons",
    ),
    "eks:index:ManagedNodeGroup": (
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "cluster",
        "nodeRoleArn",
        "subnetIds",
        "amiType",
        "capacityType",
        "diskSize",
        "instanceTypes",
        "remoteAccess",
    ),
    "eks:index:VpcCniAddon": ("clusterName",),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "namePrefix"),
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": ("policyName",),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ("vpcId",),
    "aws:ec2/eip:Eip": ("domain", "networkBorderGroup", "publicIpv4Pool"),
    "aws:ec2/flowLog:FlowLog": (
        "vpcId",
        "trafficType",
        "logDestination",
        "logDestinationType",
        "iamRoleArn",
        "maxAggregationInterval",
        "logFormat",
    ),
    "aws:ec2/internetGateway:InternetGateway": (),
    "aws:ec2/natGateway:NatGateway": (
        "allocationId",
        "subnetId",
        "connectivityType",
        "privateIp",
    ),
    "aws:ec2/routeTable:RouteTable": ("vpcId",),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("subnetId", "gatewayId"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "description", "vpcId"),
    "aws:ec2/subnet:Subnet": ("vpcId", "cidrBlock", "availabilityZone", "availabilityZoneId"),
    "aws:ec2/vpc:Vpc": ("cidrBlock", "instanceTenancy"),
    "aws:ecr/repository:Repository": ("name", "encryptionConfigurations"),
    "aws:eks/accessEntry:AccessEntry": ("clusterName", "principalArn", "type"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": (
        "clusterName",
        "policyArn",
        "principalArn",
        "accessScope",
    ),
    "aws:eks/addon:Addon": ("addonName", "clusterName"),
    "aws:eks/cluster:Cluster": (
        "name",
        "roleArn",
        "vpcConfig.securityGroupIds",
        "kubernetesNetworkConfig",
        "bootstrapSelfManagedAddons",
        "accessConfig.bootstrapClusterCreatorAdminPermissions",
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "clusterName",
        "nodeRoleArn",
        "subnetIds",
        "amiType",
        "capacityType",
        "diskSize",
        "instanceTypes",
        "remoteAccess",
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "replicationGroupId",
        "atRestEncryptionEnabled",
        "subnetGroupName",
        "kmsKeyId",
        "port",
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": ("name",),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("url",),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", "role"),
    "aws:iam/policy:Policy": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("role", "policyArn"),
    "aws:kms/alias:Alias": ("name", "namePrefix"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"),
    "aws:rds/instance:Instance": (
        "identifier",
        "identifierPrefix",
        "dbName",
        "engine",
        "storageEncrypted",
        "kmsKeyId",
        "availabilityZone",
        "username",
        "characterSetName",
        "timezone",
    ),
    "aws:rds/cluster:Cluster": (
        "clusterIdentifier",
        "clusterIdentifierPrefix",
        "databaseName",
        "engine",
        "engineMode",
        "storageEncrypted",
        "kmsKeyId",
        "masterUsername",
        "availabilityZones",
        "dbSubnetGroupName",
    ),
    "aws:rds/clusterInstance:ClusterInstance": (
        "identifier",
        "identifierPrefix",
        "clusterIdentifier",
        "engine",
        "availabilityZone",
    ),
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": (
        "name",
        "namePrefix",
        "family",
        "description",
    ),
    "aws:route53/hostedZoneDnsSec:HostedZoneDnsSec": ("hostedZoneId",),
    "aws:route53/keySigningKey:KeySigningKey": ("hostedZoneId", "keyManagementServiceArn", "name"),
    "aws:route53/queryLog:QueryLog": ("zoneId", "cloudwatchLogGroupArn"),
    "aws:rds/parameterGroup:ParameterGroup": ("name", "namePrefix", "family", "description"),
    "aws:rds/subnetGroup:SubnetGroup": ("name", "namePrefix"),
    "aws:route53/zone:Zone": ("name", "delegationSetId"),
    "aws:redshiftserverless/namespace:Namespace": ("namespaceName",),
    "aws:redshiftserverless/workgroup:Workgroup": ("namespaceName", "workgroupName"),
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "bucketNamespace", "objectLockEnabled"),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("bucket",),
    "aws:s3/bucketLogging:BucketLogging": ("bucket",),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ("bucket",),
    "aws:s3/bucketPolicy:BucketPolicy": ("bucket",),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("bucket",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "bucket",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("bucket",),
    "aws:sqs/queue:Queue": ("name", "namePrefix", "fifoQueue"),
    # The provider itself: replacing it replaces every resource it manages.
    "pulumi:providers:aws": ("region",),
}

STATEFUL: dict[str, str] = {
    "aws:cloudwatch/logGroup:LogGroup": "the log group and the logs it keeps",
    "aws:dynamodb/table:Table": "the table and its items",
    "aws:ecr/repository:Repository": "the registry and its images",
    "aws:elasticache/replicationGroup:ReplicationGroup": "the cache and its data",
    "aws:kms/key:Key": "the key (what it encrypted cannot be decrypted after its deletion window)",
    "aws:rds/cluster:Cluster": "the database cluster and its data",
    "aws:rds/instance:Instance": "the database and its data",
    "aws:redshiftserverless/namespace:Namespace": "the warehouse and its data",
    "aws:route53/zone:Zone": "the DNS zone, its records and its delegation",
    "aws:s3/bucket:Bucket": "the bucket and its objects",
    "aws:s3/bucketV2:BucketV2": "the bucket and its objects",
    "aws:sqs/queue:Queue": "the queue and its messages",
}
