"""How Azure changes the resources crosswalk emits, for `crosswalk diff`.

`REPLACED_ON_CHANGE`: per type token, the inputs (wire names, dotted paths)
that cannot change in place: an Azure resource is its URL (subscription,
resource group, parent names, its own name), so those replace it, as do the
location and the properties Azure Resource Manager refuses to update.
`STATEFUL`: the types whose deletion or replacement loses data or what others
rely on, with what is lost.

Source: the pulumi-azure-native 3.29 resource documentation and the Azure
REST API reference of each service, as of December 2026. A type crosswalk
emits with no entry here is a test failure (tests/test_diff.py), so a new
resource kind adds its row.
"""

from __future__ import annotations

REPLACED_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "azure-native:authorization:ManagementLockByScope": ("scope", "lockName"),
    "azure-native:authorization:RoleAssignment": (
        "scope",
        "roleAssignmentName",
        "principalId",
        "roleDefinitionId",
    ),
    "azure-native:authorization:RoleDefinition": ("scope", "roleDefinitionId"),
    "azure-native:compute:DiskEncryptionSet": (
        "diskEncryptionSetName",
        "resourceGroupName",
        "location",
    ),
    # A VM's OS disk is made from its image with it; Azure moves no VM across zones.
    "azure-native:compute:VirtualMachine": (
        "vmName",
        "resourceGroupName",
        "location",
        "zones",
        "storageProfile.imageReference",
        "storageProfile.osDisk.createOption",
        "osProfile.adminUsername",
        "osProfile.computerName",
        "securityProfile.securityType",
    ),
    "azure-native:compute:VirtualMachineExtension": (
        "vmExtensionName",
        "vmName",
        "resourceGroupName",
        "location",
    ),
    "azure-native:containerregistry:Registry": ("registryName", "resourceGroupName", "location"),
    "azure-native:containerservice:AgentPool": (
        "agentPoolName",
        "resourceName",
        "resourceGroupName",
        "vmSize",
        "osType",
        "osDiskType",
        "osDiskSizeGB",
        "vnetSubnetID",
        "availabilityZones",
        "scaleSetPriority",
        "scaleSetEvictionPolicy",
        "enableNodePublicIP",
        "type",
    ),
    "azure-native:containerservice:ManagedCluster": (
        "resourceName",
        "resourceGroupName",
        "location",
        "dnsPrefix",
        "networkProfile.networkPlugin",
        "networkProfile.podCidr",
        "networkProfile.serviceCidr",
        "networkProfile.dnsServiceIP",
        "apiServerAccessProfile.enablePrivateCluster",
    ),
    "azure-native:cosmosdb:DatabaseAccount": ("accountName", "resourceGroupName", "kind"),
    "azure-native:cosmosdb:SqlResourceSqlContainer": (
        "containerName",
        "databaseName",
        "accountName",
        "resourceGroupName",
        "resource.id",
        "resource.partitionKey",
    ),
    "azure-native:cosmosdb:SqlResourceSqlDatabase": (
        "databaseName",
        "accountName",
        "resourceGroupName",
        "resource.id",
    ),
    "azure-native:cosmosdb:SqlResourceSqlRoleAssignment": (
        "roleAssignmentId",
        "accountName",
        "resourceGroupName",
        "principalId",
        "roleDefinitionId",
        "scope",
    ),
    "azure-native:dbformysql:Database": (
        "databaseName",
        "serverName",
        "resourceGroupName",
        "charset",
        "collation",
    ),
    "azure-native:dbformysql:Server": ("serverName", "resourceGroupName", "location", "network"),
    "azure-native:dbforpostgresql:Administrator": ("objectId", "serverName", "resourceGroupName"),
    "azure-native:dbforpostgresql:Database": (
        "databaseName",
        "serverName",
        "resourceGroupName",
        "charset",
        "collation",
    ),
    "azure-native:dbforpostgresql:Server": (
        "serverName",
        "resourceGroupName",
        "location",
        "network",
    ),
    "azure-native:dns:Zone": ("zoneName", "resourceGroupName", "zoneType"),
    "azure-native:keyvault:Key": ("keyName", "vaultName", "resourceGroupName", "properties.kty"),
    "azure-native:keyvault:Secret": ("secretName", "vaultName", "resourceGroupName"),
    "azure-native:keyvault:Vault": ("vaultName", "resourceGroupName", "location"),
    "azure-native:managedidentity:FederatedIdentityCredential": (
        "federatedIdentityCredentialResourceName",
        "resourceName",
        "resourceGroupName",
    ),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "resourceName",
        "resourceGroupName",
        "location",
    ),
    "azure-native:monitor:DataCollectionRule": (
        "dataCollectionRuleName",
        "resourceGroupName",
        "location",
        "kind",
    ),
    "azure-native:monitor:DataCollectionRuleAssociation": ("associationName", "resourceUri"),
    "azure-native:monitor:DiagnosticSetting": ("name", "resourceUri"),
    "azure-native:network:NatGateway": ("natGatewayName", "resourceGroupName", "location"),
    "azure-native:network:NetworkInterface": (
        "networkInterfaceName",
        "resourceGroupName",
        "location",
    ),
    "azure-native:network:NetworkSecurityGroup": (
        "networkSecurityGroupName",
        "resourceGroupName",
        "location",
    ),
    "azure-native:network:PrivateDnsZoneGroup": (
        "privateDnsZoneGroupName",
        "privateEndpointName",
        "resourceGroupName",
    ),
    "azure-native:network:PrivateEndpoint": (
        "privateEndpointName",
        "resourceGroupName",
        "location",
        "subnet",
    ),
    "azure-native:network:PublicIPAddress": (
        "publicIpAddressName",
        "resourceGroupName",
        "location",
        "sku",
    ),
    "azure-native:network:Subnet": ("subnetName", "virtualNetworkName", "resourceGroupName"),
    "azure-native:network:VirtualNetwork": (
        "virtualNetworkName",
        "resourceGroupName",
        "location",
    ),
    "azure-native:operationalinsights:Workspace": (
        "workspaceName",
        "resourceGroupName",
        "location",
    ),
    "azure-native:privatedns:PrivateZone": ("privateZoneName", "resourceGroupName"),
    "azure-native:privatedns:VirtualNetworkLink": (
        "virtualNetworkLinkName",
        "privateZoneName",
        "resourceGroupName",
        "virtualNetwork",
    ),
    "azure-native:redis:AccessPolicyAssignment": (
        "accessPolicyAssignmentName",
        "cacheName",
        "resourceGroupName",
    ),
    "azure-native:redis:Redis": ("name", "resourceGroupName", "location"),
    "azure-native:resources:ResourceGroup": ("resourceGroupName", "location"),
    "azure-native:servicebus:Namespace": ("namespaceName", "resourceGroupName", "location"),
    "azure-native:servicebus:Queue": (
        "queueName",
        "namespaceName",
        "resourceGroupName",
        "requiresSession",
        "requiresDuplicateDetection",
        "enablePartitioning",
    ),
    "azure-native:eventhub:Namespace": ("namespaceName", "resourceGroupName", "location"),
    # A Standard hub's partitions are fixed once made.
    "azure-native:eventhub:EventHub": (
        "eventHubName",
        "namespaceName",
        "resourceGroupName",
        "partitionCount",
    ),
    "azure-native:kusto:Cluster": (
        "clusterName",
        "resourceGroupName",
        "location",
        "zones",
        "enableDoubleEncryption",
    ),
    "azure-native:kusto:DatabasePrincipalAssignment": (
        "principalAssignmentName",
        "databaseName",
        "clusterName",
        "resourceGroupName",
        "principalId",
        "principalType",
        "role",
        "tenantId",
    ),
    "azure-native:kusto:ReadWriteDatabase": (
        "databaseName",
        "clusterName",
        "resourceGroupName",
        "location",
    ),
    "azure-native:storage:BlobContainer": (
        "containerName",
        "accountName",
        "resourceGroupName",
        # Set when the container is made (`retainDays`).
        "immutableStorageWithVersioning",
    ),
    "azure-native:storage:BlobContainerImmutabilityPolicy": (
        "immutabilityPolicyName",
        "containerName",
        "accountName",
        "resourceGroupName",
    ),
    "azure-native:storage:BlobServiceProperties": (
        "blobServicesName",
        "accountName",
        "resourceGroupName",
    ),
    "azure-native:storage:ManagementPolicy": (
        "managementPolicyName",
        "accountName",
        "resourceGroupName",
    ),
    "azure-native:storage:StorageAccount": (
        "accountName",
        "resourceGroupName",
        "location",
        "encryption.requireInfrastructureEncryption",
    ),
    # The provider itself: replacing it replaces every resource it manages.
    "pulumi:providers:azure-native": ("subscriptionId",),
}

STATEFUL: dict[str, str] = {
    "azure-native:containerregistry:Registry": "the registry and its images",
    "azure-native:cosmosdb:DatabaseAccount": "the account and every database in it",
    "azure-native:cosmosdb:SqlResourceSqlContainer": "the container and its documents",
    "azure-native:cosmosdb:SqlResourceSqlDatabase": "the database and its documents",
    "azure-native:dbformysql:Database": "the database and its data",
    "azure-native:dbformysql:Server": "the database server and its data",
    "azure-native:dbforpostgresql:Database": "the database and its data",
    "azure-native:dbforpostgresql:Server": "the database server and its data",
    "azure-native:dns:Zone": "the DNS zone, its records and its delegation",
    "azure-native:keyvault:Key": "the key (what it encrypted cannot be decrypted)",
    "azure-native:keyvault:Vault": "the key vault and its keys and secrets",
    "azure-native:redis:Redis": "the cache and its data",
    "azure-native:resources:ResourceGroup": "the resource group and every resource in it",
    "azure-native:servicebus:Namespace": "the namespace and every queue in it",
    "azure-native:servicebus:Queue": "the queue and its messages",
    "azure-native:eventhub:Namespace": "the namespace and every event hub in it",
    "azure-native:eventhub:EventHub": "the event hub and the events it keeps",
    "azure-native:kusto:Cluster": "the warehouse cluster and its databases",
    "azure-native:kusto:ReadWriteDatabase": "the warehouse and its tables",
    "azure-native:storage:BlobContainer": "the container and its blobs",
    "azure-native:storage:StorageAccount": "the storage account and its data",
}
