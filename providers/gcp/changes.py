"""How GCP changes the resources crosswalk emits, for `crosswalk diff`.

`REPLACED_ON_CHANGE`: per type token, the inputs (wire names, dotted paths)
the provider cannot change in place: a change to one of them replaces the
resource. `STATEFUL`: the types whose deletion or replacement loses data or
what others rely on, with what is lost.

Source: the pulumi-gcp 10.2 resource documentation (bridged from the
Terraform Google provider: "changing this forces a new resource to be
created"), as of December 2026. A type crosswalk emits with no entry here is
a test failure (tests/test_diff.py), so a new resource kind adds its row.
"""

from __future__ import annotations

REPLACED_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "gcp:artifactregistry/repository:Repository": (
        "repositoryId",
        "location",
        "format",
        "kmsKeyName",
        "mode",
        "project",
    ),
    "gcp:compute/firewall:Firewall": ("name", "network", "direction", "project"),
    "gcp:compute/globalAddress:GlobalAddress": (
        "name",
        "address",
        "addressType",
        "purpose",
        "network",
        "prefixLength",
        "ipVersion",
        "project",
    ),
    # A VM's boot disk is made with it: its image, size and key replace it.
    "gcp:compute/instance:Instance": ("name", "zone", "bootDisk", "project"),
    "gcp:compute/instanceIAMMember:InstanceIAMMember": (
        "instanceName",
        "zone",
        "role",
        "member",
        "condition",
        "project",
    ),
    "gcp:compute/network:Network": ("name", "autoCreateSubnetworks", "project"),
    "gcp:compute/router:Router": ("name", "network", "region", "project"),
    "gcp:compute/routerNat:RouterNat": ("name", "router", "region", "project"),
    "gcp:compute/subnetwork:Subnetwork": ("name", "network", "region", "project"),
    "gcp:container/cluster:Cluster": (
        "name",
        "location",
        "project",
        "network",
        "subnetwork",
        "ipAllocationPolicy",
        "networkingMode",
        "enableAutopilot",
        "privateClusterConfig.enablePrivateNodes",
        "privateClusterConfig.masterIpv4CidrBlock",
        "initialNodeCount",
        "nodeConfig",
    ),
    "gcp:container/nodePool:NodePool": (
        "name",
        "namePrefix",
        "cluster",
        "location",
        "project",
        "nodeConfig.spot",
        "nodeConfig.preemptible",
        "nodeConfig.serviceAccount",
        "nodeConfig.oauthScopes",
        "networkConfig",
    ),
    "gcp:dns/dnsManagedZoneIamMember:DnsManagedZoneIamMember": (
        "managedZone",
        "role",
        "member",
        "project",
    ),
    "gcp:dns/managedZone:ManagedZone": ("name", "dnsName", "visibility", "project"),
    "gcp:firestore/backupSchedule:BackupSchedule": (
        "database",
        "dailyRecurrence",
        "weeklyRecurrence",
        "project",
    ),
    "gcp:firestore/database:Database": ("name", "locationId", "cmekConfig", "project"),
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": ("workloadIdentityPoolId", "project"),
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": (
        "workloadIdentityPoolId",
        "workloadIdentityPoolProviderId",
        "project",
    ),
    "gcp:iap/tunnelInstanceIAMMember:TunnelInstanceIAMMember": (
        "instance",
        "zone",
        "role",
        "member",
        "condition",
        "project",
    ),
    "gcp:kms/cryptoKey:CryptoKey": (
        "name",
        "keyRing",
        "purpose",
        "importOnly",
        "skipInitialVersionCreation",
        "versionTemplate.protectionLevel",
    ),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ("cryptoKeyId", "role", "member"),
    "gcp:kms/keyRing:KeyRing": ("name", "location", "project"),
    "gcp:projects/iAMCustomRole:IAMCustomRole": ("roleId", "project"),
    "gcp:projects/iAMMember:IAMMember": ("project", "role", "member", "condition"),
    "gcp:projects/service:Service": ("service", "project"),
    "gcp:pubsub/subscription:Subscription": ("name", "topic", "project"),
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": (
        "subscription",
        "role",
        "member",
        "project",
    ),
    "gcp:pubsub/topic:Topic": ("name", "project"),
    "gcp:pubsub/topicIAMMember:TopicIAMMember": ("topic", "role", "member", "project"),
    "gcp:redis/instance:Instance": (
        "name",
        "region",
        "project",
        "tier",
        "locationId",
        "alternativeLocationId",
        "authorizedNetwork",
        "connectMode",
        "transitEncryptionMode",
        "customerManagedKey",
        "reservedIpRange",
    ),
    "gcp:serviceaccount/account:Account": ("accountId", "project"),
    "gcp:serviceaccount/iAMMember:IAMMember": ("serviceAccountId", "role", "member", "condition"),
    "gcp:servicenetworking/connection:Connection": ("network", "service"),
    "gcp:sql/database:Database": ("name", "instance", "project"),
    "gcp:sql/databaseInstance:DatabaseInstance": (
        "name",
        "region",
        "project",
        "encryptionKeyName",
        "masterInstanceName",
    ),
    "gcp:sql/user:User": ("name", "instance", "project", "host", "type"),
    "gcp:storage/bucket:Bucket": ("name", "location", "project"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("bucket", "role", "member", "condition"),
    # The provider itself: replacing it replaces every resource it manages.
    "pulumi:providers:gcp": ("project", "region"),
}

STATEFUL: dict[str, str] = {
    "gcp:artifactregistry/repository:Repository": "the registry and its images",
    "gcp:dns/managedZone:ManagedZone": "the DNS zone, its records and its delegation",
    "gcp:firestore/database:Database": "the database and its documents",
    "gcp:kms/cryptoKey:CryptoKey": "the key (what it encrypted cannot be decrypted)",
    "gcp:kms/keyRing:KeyRing": "the key ring (its name cannot be used again in the project)",
    "gcp:pubsub/subscription:Subscription": "the subscription and its unacknowledged messages",
    "gcp:pubsub/topic:Topic": "the topic",
    "gcp:redis/instance:Instance": "the cache and its data",
    "gcp:sql/database:Database": "the database and its data",
    "gcp:sql/databaseInstance:DatabaseInstance": "the database server and its data",
    "gcp:storage/bucket:Bucket": "the bucket and its objects",
}
