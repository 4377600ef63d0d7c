"""Layer 3 on Azure: the AKS cluster, node pools, team role assignments and RBAC,
namespaces.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.rules import (
    address_plan,
    os_disk_type,
    premium_storage,
    system_pool,
    vm_size,
)
from crosswalk.providers.common import moved_from

AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"  # Entra application of every AKS API server


TEAM_ROLES = {
    "admin": "Azure Kubernetes Service RBAC Cluster Admin",  # cluster scope
    "developer": "Azure Kubernetes Service RBAC Writer",  # namespace scope
    "viewer": "Azure Kubernetes Service RBAC Reader",  # namespace scope
}


CLUSTER_ACCESS = '''
def cluster_access(credentials):
    """The API server and its CA, read from the cluster's own user kubeconfig."""
    text = base64.b64decode(credentials.kubeconfigs[0].value).decode()
    access = {}
    for key, name in (("server", "server"), ("certificate-authority-data", "ca")):
        match = re.search(key + r"""["']?\\s*:\\s*["']?([^\\s"',]+)""", text)
        if match is None:
            raise ValueError("the cluster's kubeconfig has no " + key)
        access[name] = match.group(1)
    return access
'''


def _taint(t) -> str:
    return f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"


def _bound_namespaces(platform, team) -> list[str]:
    """The namespaces a team works in: those it owns and those it lists."""
    owned = [n.name for n in platform.cluster.namespaces if n.team == team.name]
    return list(dict.fromkeys(owned + list(team.namespaces)))


def emit_cluster(az: AzureProgram) -> None:
    p, prog, ctx = az.p, az.prog, az.ctx
    az.use("containerservice")
    line = ctx.line(("cluster",))
    rg = az.resource_group()
    up = ctx.upstream
    cluster_principal = up("01-identity", "cluster_identity_principal_id")
    node_subnet = up("02-managed-infra", "nodes_subnet_id")
    # The control plane's identity must reach the nodes' subnet and the KMS key before it exists.
    subnet_access = az.assign_role(
        "cluster_network",
        f"{p.name}-cluster-network",
        "Network Contributor",
        cluster_principal,
        node_subnet,
        ctx.line(("network",)),
        "ServicePrincipal",
    )
    apiserver_subnet = up("02-managed-infra", "apiserver_subnet_id")
    apiserver_access = az.assign_role(
        "cluster_apiserver_network",
        f"{p.name}-cluster-apiserver-network",
        "Network Contributor",
        cluster_principal,
        apiserver_subnet,
        ctx.line(("network",)),
        "ServicePrincipal",
    )
    vault_id = up("02-managed-infra", "key_vault_id")
    key_access = az.assign_role(
        "cluster_kms",
        f"{p.name}-cluster-kms",
        "Key Vault Crypto User",
        cluster_principal,
        vault_id,
        line,
        "ServicePrincipal",
    )
    # A private vault: AKS makes the private endpoint its KMS plugin uses,
    # which takes Key Vault Contributor on the vault (management plane only;
    # under the vault's RBAC model it reads no key and assigns no role).
    vault_link = az.assign_role(
        "cluster_kms_link",
        f"{p.name}-cluster-kms-link",
        "Key Vault Contributor",
        cluster_principal,
        vault_id,
        line,
        "ServicePrincipal",
    )
    # The key's current version, read when the program runs: after a rotation
    # the next update moves the cluster to the new version (see KEY_ROTATION).
    az.use("keyvault")
    secrets_key = prog.assign(
        prog.name("secrets_key"),
        Call(
            "keyvault.get_key_output",
            kwargs={
                "resource_group_name": rg,
                "vault_name": up("02-managed-infra", "key_vault_name"),
                "key_name": up("02-managed-infra", "secrets_key_name"),
                "opts": Call("pulumi.InvokeOutputOptions", kwargs={"provider": az.provider}),
            },
        ),
    )
    pods, service, dns = address_plan(p.network)
    endpoint = p.cluster.endpoint
    if not endpoint.public:
        api_access = {"enable_private_cluster": True, "private_dns_zone": "system"}
    else:
        api_access = {"authorized_ip_ranges": list(endpoint.allowed_cidrs)}
    # The API server in a delegated subnet of the network: how its KMS plugin
    # reaches the private vault (AKS supports a private vault only so).
    api_access |= {"enable_vnet_integration": True, "subnet_id": apiserver_subnet}
    addons: dict = {"azurepolicy": {"enabled": True, "config": {"version": "v2"}}}
    if p.services.logging:
        addons["omsagent"] = {
            "enabled": True,
            "config": {
                "logAnalyticsWorkspaceResourceID": up("02-managed-infra", "log_workspace_id"),
                "useAADAuth": "true",
            },
        }
    system = system_pool(p)
    cluster_kwargs = {
        "resource_group_name": rg,
        "resource_name_": p.name,
        "location": az.location,
        "dns_prefix": p.name,
        "kubernetes_version": p.cluster.version,
        "sku": {"name": "Base", "tier": "Standard"},
        "identity": {
            "type": Code("containerservice.ResourceIdentityType.USER_ASSIGNED"),
            "user_assigned_identities": [up("01-identity", "cluster_identity_id")],
        },
        "identity_profile": {
            "kubeletidentity": {
                "resource_id": up("01-identity", "kubelet_identity_id"),
                "client_id": up("01-identity", "kubelet_identity_client_id"),
                "object_id": up("01-identity", "kubelet_identity_principal_id"),
            }
        },
        "aad_profile": {"managed": True, "enable_azure_rbac": True},
        "enable_rbac": True,
        "disable_local_accounts": True,
        "oidc_issuer_profile": {"enabled": True},
        "security_profile": {
            "workload_identity": {"enabled": True},
            "azure_key_vault_kms": {
                "enabled": True,
                "key_id": Code(f"{secrets_key}.key_uri_with_version"),
                "key_vault_network_access": "Private",
                "key_vault_resource_id": vault_id,
            },
            "image_cleaner": {"enabled": True, "interval_hours": 168},
        },
        "network_profile": {
            "network_plugin": "azure",
            "network_plugin_mode": "overlay",
            "network_dataplane": "cilium",
            "network_policy": "cilium",
            "pod_cidr": pods,
            "service_cidr": service,
            "dns_service_ip": dns,
            "outbound_type": "userAssignedNATGateway",
            "load_balancer_sku": "standard",
        },
        "api_server_access_profile": api_access,
        "auto_upgrade_profile": {
            "upgrade_channel": "patch",
            "node_os_upgrade_channel": "NodeImage",
        },
        "addon_profiles": addons,
        "storage_profile": {
            "disk_csi_driver": {"enabled": True},
            "snapshot_controller": {"enabled": True},
        },
        "agent_pool_profiles": [{"name": system.cloud_name} | _pool_args(az, system, node_subnet)],
    }
    if p.services.autoscaler:
        cluster_kwargs["auto_scaler_profile"] = {
            "expander": "least-waste",
            "balance_similar_node_groups": "true",
        }
    cluster_kwargs["tags"] = az.tags
    cluster = az.res(
        "cluster",
        "containerservice.ManagedCluster",
        p.name,
        cluster_kwargs,
        line,
        depends_on=[subnet_access, apiserver_access, key_access, vault_link],
        ignore_changes=["agentPoolProfiles[0].count"],
    )
    az.use("monitor")
    az.res(
        "cluster_audit",
        "monitor.DiagnosticSetting",
        f"{p.name}-audit",
        {
            "name": "control-plane-logs",
            "resource_uri": Code(f"{cluster}.id"),
            "workspace_id": up("02-managed-infra", "log_workspace_id"),
            "log_analytics_destination_type": "Dedicated",
            "logs": [
                {"category": category, "enabled": True}
                for category in (
                    "kube-audit-admin",
                    "kube-apiserver",
                    "kube-controller-manager",
                    "kube-scheduler",
                    "cluster-autoscaler",
                    "guard",
                )
            ],
        },
        line,
    )
    for pool in p.cluster.node_pools:
        if pool is system:
            continue
        az.res(
            ("node_pool", pool.name),
            "containerservice.AgentPool",
            f"{p.name}-{pool.name}",
            {
                "resource_group_name": rg,
                "resource_name_": Code(f"{cluster}.name"),
                "agent_pool_name": pool.cloud_name,  # AKS cannot rename a pool
            }
            | _pool_args(az, pool, node_subnet),
            ctx.line(pool.path),
            ignore_changes=["count"],
            **moved_from(lambda n: f"{p.name}-{n}", pool),
        )
    cluster_id = Code(f"{cluster}.id")
    for team in p.teams:
        team_line = ctx.line(team.path)
        for member in team.members:
            az.assign_role(
                ("team", var_name(team.name), "user"),
                f"{p.name}-team-{team.name}-{member}-cluster-user",
                "Azure Kubernetes Service Cluster User Role",
                member,
                cluster_id,
                team_line,
            )
            if team.access == "admin":
                az.assign_role(
                    ("team", var_name(team.name), "admin"),
                    f"{p.name}-team-{team.name}-{member}-cluster-admin",
                    TEAM_ROLES["admin"],
                    member,
                    cluster_id,
                    ctx.line(team.path + ("access",)),
                )
                continue
            for namespace in _bound_namespaces(p, team):
                bound = p.namespace(namespace)
                az.assign_role(
                    ("team", var_name(team.name), var_name(namespace)),
                    f"{p.name}-team-{team.name}-{member}-{namespace}",
                    TEAM_ROLES[team.access],
                    member,
                    Call(
                        "pulumi.Output.concat",
                        [cluster_id, f"/namespaces/{bound.cloud_name}"],
                    ),
                    ctx.line(team.path + ("access",)),
                    opts=moved_from(
                        lambda n, t=team.name, m=member: f"{p.name}-team-{t}-{m}-{n}", bound
                    ),
                )
    for registry in p.registries:
        az.assign_role(
            ("registry", var_name(registry.name), "pull"),
            f"{p.name}-{registry.name}-pull",
            "AcrPull",
            up("01-identity", "kubelet_identity_principal_id"),
            up("02-managed-infra", f"registry_{registry.name}_id"),
            ctx.line(registry.path),
            "ServicePrincipal",
        )
    prog.imports.update({"import base64", "import re"})
    prog.helpers["cluster_access"] = CLUSTER_ACCESS
    credentials = prog.assign(
        prog.name("credentials"),
        Call(
            "containerservice.list_managed_cluster_user_credentials_output",
            kwargs={
                "resource_group_name": rg,
                "resource_name": Code(f"{cluster}.name"),
                "opts": Call("pulumi.InvokeOutputOptions", kwargs={"provider": az.provider}),
            },
        ),
    )
    access = prog.assign(prog.name("access"), Code(f"{credentials}.apply(cluster_access)"))
    # Sign in through kubelogin with the Azure CLI's Entra ID login (people
    # after `az login`, CI after azure/login): the cluster has no local accounts.
    kubeconfig = prog.assign(
        prog.name("kubeconfig"),
        Call(
            "pulumi.Output.secret",
            [
                Call(
                    "pulumi.Output.json_dumps",
                    [
                        {
                            "apiVersion": "v1",
                            "kind": "Config",
                            "clusters": [
                                {
                                    "name": p.name,
                                    "cluster": {
                                        "server": Code(f'{access}["server"]'),
                                        "certificate-authority-data": Code(f'{access}["ca"]'),
                                    },
                                }
                            ],
                            "contexts": [
                                {"name": p.name, "context": {"cluster": p.name, "user": p.name}}
                            ],
                            "current-context": p.name,
                            "users": [
                                {
                                    "name": p.name,
                                    "user": {
                                        "exec": {
                                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                                            "command": "kubelogin",
                                            "args": [
                                                "get-token",
                                                "--login",
                                                "azurecli",
                                                "--server-id",
                                                AKS_SERVER_ID,
                                            ],
                                            "interactiveMode": "Never",
                                        }
                                    },
                                }
                            ],
                        }
                    ],
                )
            ],
        ),
    )
    k8s_provider = k8s.emit_provider(ctx, kubeconfig, line)
    k8s_opts = {"provider": k8s_provider}
    sku = ctx.setting(
        "storageClass.skuName",
        lambda q, env: (
            "Premium_LRS"
            if all(premium_storage(vm_size(pool)) for pool in q.cluster.node_pools)
            else "StandardSSD_LRS"
        ),
    )
    prog.resource(
        "default_storage_class",
        "kubernetes.storage.v1.StorageClass",
        k8s.STORAGE_CLASSES["azure"],
        {
            "metadata": {
                "name": k8s.STORAGE_CLASSES["azure"],
                "labels": k8s.MANAGED_BY,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "disk.csi.azure.com",
            # Azure encrypts managed disks at rest; DenyAll keeps them from being exported.
            "parameters": {"skuName": sku, "networkAccessPolicy": "DenyAll"},
            "reclaim_policy": "Retain",
            "volume_binding_mode": "WaitForFirstConsumer",
            "allow_volume_expansion": True,
        },
        line,
        k8s_opts,
    )
    k8s.emit_route_roles(ctx, k8s_provider, line)
    for namespace in p.cluster.namespaces:
        k8s.emit_namespace(ctx, k8s_provider, namespace)
    prog.export("cluster_name", Code(f"{cluster}.name"))
    prog.export("cluster_id", cluster_id)
    prog.export("kubeconfig", kubeconfig)
    prog.export("oidc_issuer_url", Code(f"{cluster}.oidc_issuer_profile.issuer_url"))


def _pool_args(az: AzureProgram, pool, node_subnet) -> dict:
    """What a node pool is, inline in the cluster (the system pool) or an AgentPool."""
    p, ctx = az.p, az.ctx
    key = f"nodePools.{pool.name}"
    name = pool.name
    system = pool is system_pool(p)
    zones = [str(z) for z in range(1, p.network.zones + 1)] if p.network.zones > 1 else None
    taints = [_taint(t) for t in pool.taints]
    if pool.spot:
        taints.append("{}={}:{}".format(*k8s.AZURE_SPOT_TAINT))
    args = {
        "mode": "System" if system else "User",
        "vm_size": ctx.setting(f"{key}.vmSize", lambda q, env: vm_size(q.node_pool(name))),
        "os_type": "Linux",
        "os_sku": "AzureLinux",
        # Ephemeral OS disks on the size's local disk where it holds them: nothing
        # the node wrote outlives it, and nodes start and reimage faster.
        "os_disk_type": ctx.setting(
            f"{key}.osDiskType",
            lambda q, env: os_disk_type(vm_size(q.node_pool(name)), q.node_pool(name).disk_size_gb),
        ),
        # Temporary disks and disk caches encrypted on the host too (the
        # subscription registers Microsoft.Compute/EncryptionAtHost).
        "enable_encryption_at_host": True if p.cluster.encryption_at_host is not False else None,
        "os_disk_size_gb": ctx.setting(
            f"{key}.diskSizeGb", lambda q, env: q.node_pool(name).disk_size_gb
        ),
        "type": "VirtualMachineScaleSets",
        "vnet_subnet_id": node_subnet,
        "availability_zones": zones,
        "enable_node_public_ip": False,
        "count": ctx.setting(
            f"{key}.count", lambda q, env: max(q.node_pool(name).min, 1 if system else 0)
        ),
    }
    if p.services.autoscaler:
        args |= {
            "enable_auto_scaling": True,
            "min_count": ctx.setting(f"{key}.min", lambda q, env: q.node_pool(name).min),
            "max_count": ctx.setting(f"{key}.max", lambda q, env: q.node_pool(name).max),
        }
    if pool.spot:
        args |= {
            "scale_set_priority": "Spot",
            "scale_set_eviction_policy": "Delete",
            "spot_max_price": -1,  # up to the on-demand price
        }
    args |= {
        "node_labels": dict(pool.labels) | {k8s.NODE_POOL_LABEL: pool.cloud_name},
        "node_taints": taints or None,
        "upgrade_settings": {"max_surge": "33%"} if not pool.spot else None,
        "tags": az.tags,
    }
    return {k: v for k, v in args.items() if v is not None}
