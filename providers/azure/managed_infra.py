"""Layer 2 on Azure: the VNet and subnets, NAT, Key Vault with the platform key,
the container registry.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import PRIVATE_LINKS, AzureProgram
from crosswalk.providers.azure.rules import KEY_VAULT, REGISTRY, subnet_plan
from crosswalk.providers.azure.storage import emit_buckets
from crosswalk.providers.azure.vms import emit_vms
from crosswalk.providers.azure.warehouses import emit_warehouses
from crosswalk.providers.common import protect

DELEGATIONS = {
    "postgres": "Microsoft.DBforPostgreSQL/flexibleServers",
    "mysql": "Microsoft.DBforMySQL/flexibleServers",
    "apiserver": "Microsoft.ContainerService/managedClusters",
}


# The KMS key rotates yearly (as AWS's keys do); each version expires two years
# after it was made, durations rather than dates so that the program is the same
# for the same platform.yaml. AKS's KMS names one key version: 03-cluster reads
# the key's current version when it runs, so the first update of the cluster
# after a rotation moves it to the new version (AKS then wraps its data keys
# with it). That update must come within the year between the rotation and the
# old version's expiry, after which Key Vault no longer wraps with it (it still
# unwraps); Key Vault notifies 30 days before.
KEY_ROTATION = {
    "attributes": {"expiry_time": "P2Y"},
    "lifetime_actions": [
        {
            "trigger": {"time_after_create": "P1Y"},
            "action": {"type": Code("keyvault.KeyRotationPolicyActionType.ROTATE")},
        },
        {
            "trigger": {"time_before_expiry": "P30D"},
            "action": {"type": Code("keyvault.KeyRotationPolicyActionType.NOTIFY")},
        },
    ],
}


def _sql_engines(platform) -> list[str]:
    return [
        e
        for e in ("postgres", "mysql")
        if any(d.engine == e for d in platform.app_services.datastores)
    ]


def emit_managed_infra(az: AzureProgram) -> None:
    p, prog, ctx = az.p, az.prog, az.ctx
    az.use("network")
    net = p.network
    line = ctx.line(("network",))
    rg = az.resource_group()
    engines = _sql_engines(p)
    plan = subnet_plan(net.cidr, engines)
    vnet = az.res(
        "vnet",
        "network.VirtualNetwork",
        f"{p.name}-vnet",
        {
            "resource_group_name": rg,
            "virtual_network_name": f"{p.name}-vnet",
            "location": az.location,
            "address_space": {"address_prefixes": [net.cidr]},
            "tags": az.tags,
        },
        line,
        ignore_changes=["subnets"],
    )
    nat_line = ctx.line(("network", "natGateways"))
    nat_ip = az.res(
        "nat_ip",
        "network.PublicIPAddress",
        f"{p.name}-nat",
        {
            "resource_group_name": rg,
            "public_ip_address_name": f"{p.name}-nat",
            "location": az.location,
            "sku": {"name": "Standard"},
            "public_ip_allocation_method": "Static",
            "tags": az.tags,
        },
        nat_line,
    )
    nat = az.res(
        "nat",
        "network.NatGateway",
        f"{p.name}-nat",
        {
            "resource_group_name": rg,
            "nat_gateway_name": f"{p.name}-nat",
            "location": az.location,
            "sku": {"name": "Standard"},
            "public_ip_addresses": [{"id": Code(f"{nat_ip}.id")}],
            "idle_timeout_in_minutes": 4,
            "tags": az.tags,
        },
        nat_line,
    )
    node_rules = []
    if p.app_services.ingress:
        node_rules.append(
            {
                "name": "allow-ingress-http",
                "priority": 100,
                "direction": "Inbound",
                "access": "Allow",
                "protocol": "Tcp",
                "source_address_prefix": "Internet",
                "source_port_range": "*",
                "destination_address_prefix": "*",
                "destination_port_ranges": ["80", "443"],
                "description": "the ingress controller's load balancer",
            }
        )
    nodes_nsg = az.res(
        "nodes_nsg",
        "network.NetworkSecurityGroup",
        f"{p.name}-nodes",
        {
            "resource_group_name": rg,
            "network_security_group_name": f"{p.name}-nodes",
            "location": az.location,
            "security_rules": node_rules,
            "tags": az.tags,
        },
        line,
    )
    private_nsg = az.res(
        "private_nsg",
        "network.NetworkSecurityGroup",
        f"{p.name}-private",
        {
            "resource_group_name": rg,
            "network_security_group_name": f"{p.name}-private",
            "location": az.location,
            "security_rules": [],
            "tags": az.tags,
        },
        line,
    )
    subnets: dict[str, Code] = {}
    previous: Code | None = None
    for purpose, cidr in plan.items():
        args = {
            "resource_group_name": rg,
            "virtual_network_name": Code(f"{vnet}.name"),
            "subnet_name": purpose,
            "address_prefix": cidr,
            "default_outbound_access": False,
            "network_security_group": {
                "id": Code(f"{nodes_nsg if purpose == 'nodes' else private_nsg}.id")
            },
        }
        if purpose == "nodes":
            args["nat_gateway"] = {"id": Code(f"{nat}.id")}
        elif purpose == "endpoints":
            args["private_endpoint_network_policies"] = "Enabled"
        else:
            args["delegations"] = [{"name": purpose, "service_name": DELEGATIONS[purpose]}]
        # Azure changes one subnet of a network at a time.
        opts = {"depends_on": [previous]} if previous is not None else {}
        previous = subnets[purpose] = az.res(
            (purpose, "subnet"), "network.Subnet", f"{p.name}-{purpose}", args, line, **opts
        )
    az.use("operationalinsights")
    workspace = az.res(
        "log_workspace",
        "operationalinsights.Workspace",
        f"{p.name}-logs",
        {
            "resource_group_name": rg,
            "workspace_name": f"{p.name}-logs",
            "location": az.location,
            "sku": {"name": "PerGB2018"},
            "retention_in_days": 30,
            "tags": az.tags,
        },
        ctx.line(("clusterServices", "logging")) or line,
    )
    az.use("keyvault")
    key_line = ctx.line(("cluster",))
    vault = az.res(
        "key_vault",
        "keyvault.Vault",
        f"{p.name}-kv",
        {
            "resource_group_name": rg,
            "vault_name": az.name_of(KEY_VAULT),
            "location": az.location,
            "properties": {
                "tenant_id": Code(f"{az.client}.tenant_id"),
                "sku": {"family": "A", "name": Code("keyvault.SkuName.STANDARD")},
                "enable_rbac_authorization": True,
                "enable_soft_delete": True,
                "soft_delete_retention_in_days": 90,
                "enable_purge_protection": True,
                # No public endpoint. What reaches the vault: Azure Resource
                # Manager, which creates the key and the MySQL password secrets
                # (azure-native's Key and Secret are ARM resources, so the
                # deployers' programs work from outside the network); the KMS
                # plugin, from the API server's subnet (API Server VNet
                # Integration) through the private endpoint AKS makes; the apps
                # reading their password, from the nodes through the endpoint below.
                "public_network_access": "Disabled",
                "network_acls": {"default_action": "Deny", "bypass": "AzureServices"},
            },
            "tags": az.tags,
        },
        key_line,
        **protect(ctx),
    )
    key = az.res(
        "secrets_key",
        "keyvault.Key",
        f"{p.name}-secrets",
        {
            "resource_group_name": rg,
            "vault_name": Code(f"{vault}.name"),
            "key_name": "kubernetes-secrets",
            "properties": {
                "kty": "RSA",
                "key_size": 2048,
                "rotation_policy": KEY_ROTATION,
            },
            "tags": az.tags,
        },
        key_line,
        **protect(ctx),
    )
    az.private_endpoint(
        "key_vault",
        f"{p.name}-kv",
        "vault",
        vault,
        Code(f"{subnets['endpoints']}.id"),
        Code(f"{vnet}.id"),
        key_line,
    )
    for registry in p.registries:
        reg_line = ctx.line(registry.path)
        var = f"registry_{var_name(registry.name)}"
        acr = az.res(
            var,
            "containerregistry.Registry",
            f"{p.name}-{registry.name}",
            {
                "resource_group_name": rg,
                "registry_name": az.name_of(REGISTRY, registry.name),
                "location": az.location,
                "sku": {"name": "Premium"},  # private endpoints need Premium
                "admin_user_enabled": False,
                "anonymous_pull_enabled": False,
                "public_network_access": "Disabled",
                "network_rule_bypass_options": "AzureServices",
                "zone_redundancy": "Enabled" if net.zones > 1 else "Disabled",
                "policies": {
                    "export_policy": {"status": "disabled"},
                    "retention_policy": {"status": "enabled", "days": 30},
                },
                "tags": az.tags,
            },
            reg_line,
            **protect(ctx),
        )
        az.use("containerregistry")
        az.private_endpoint(
            var,
            f"{p.name}-{registry.name}",
            "registry",
            acr,
            Code(f"{subnets['endpoints']}.id"),
            Code(f"{vnet}.id"),
            reg_line,
        )
        prog.export(f"registry_{registry.name}_id", Code(f"{acr}.id"))
        prog.export(f"registry_{registry.name}_login_server", Code(f"{acr}.login_server"))
    emit_buckets(az, rg, vault, key, Code(f"{subnets['endpoints']}.id"), Code(f"{vnet}.id"))
    emit_warehouses(az, rg, vault, key, Code(f"{subnets['endpoints']}.id"), Code(f"{vnet}.id"))
    emit_vms(az, rg, {kind: Code(f"{s}.id") for kind, s in subnets.items()}, vault, key)
    prog.export("vnet_id", Code(f"{vnet}.id"))
    for purpose, subnet in subnets.items():
        prog.export(f"{purpose}_subnet_id", Code(f"{subnet}.id"))
    prog.export("log_workspace_id", Code(f"{workspace}.id"))
    prog.export("key_vault_id", Code(f"{vault}.id"))
    prog.export("key_vault_name", Code(f"{vault}.name"))
    if any(app.secrets for app in p.apps):
        # The apps' vault (app-services) registers its endpoint in the same
        # zone: a network links one zone of a name.
        zone = az.zones[PRIVATE_LINKS["vault"][0]]
        prog.export("key_vault_zone_id", Code(f"{zone}.id"))
    prog.export("secrets_key_name", Code(f"{key}.name"))
