"""Layer 4 on Azure: workload identities for the services that call Azure, and the
shared charts.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.kubernetes import charts


def emit_cluster_services(az: AzureProgram) -> None:
    p, ctx = az.p, az.ctx
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("clusterServices",))
    )
    if p.services.logging:
        # Container Insights (the cluster's monitoring add-on) ships logs to
        # the platform's Log Analytics workspace, as this rule says.
        az.use("monitor")
        line = ctx.line(("clusterServices", "logging"))
        streams = ["Microsoft-ContainerInsights-Group-Default"]
        rule = az.res(
            "container_insights",
            "monitor.DataCollectionRule",
            f"{p.name}-container-insights",
            {
                "resource_group_name": az.resource_group(),
                "data_collection_rule_name": f"MSCI-{p.name}",
                "location": az.location,
                "kind": "Linux",
                "data_sources": {
                    "extensions": [
                        {
                            "name": "ContainerInsightsExtension",
                            "extension_name": "ContainerInsights",
                            "streams": streams,
                            "extension_settings": {
                                "dataCollectionSettings": {
                                    "interval": "1m",
                                    "namespaceFilteringMode": "Off",
                                    "enableContainerLogV2": True,
                                }
                            },
                        }
                    ]
                },
                "destinations": {
                    "log_analytics": [
                        {
                            "name": "workspace",
                            "workspace_resource_id": ctx.upstream(
                                "02-managed-infra", "log_workspace_id"
                            ),
                        }
                    ]
                },
                "data_flows": [{"streams": streams, "destinations": ["workspace"]}],
                "tags": az.tags,
            },
            line,
        )
        az.res(
            "container_insights_association",
            "monitor.DataCollectionRuleAssociation",
            f"{p.name}-container-insights",
            {
                "association_name": "ContainerInsightsExtension",
                "resource_uri": ctx.upstream("03-cluster", "cluster_id"),
                "data_collection_rule_id": Code(f"{rule}.id"),
            },
            line,
        )
    # AKS runs these itself: Container Insights, its cluster autoscaler
    # (pool settings) and metrics-server; a release would collide with them.
    charts.emit_cluster_services(
        ctx,
        k8s_provider,
        cloud="azure",
        cloud_values={},
        native=frozenset({"logging", "autoscaler", "metricsServer"}),
    )
