"""Layer 5 on AWS: the Route 53 zone, IRSA roles for external-dns and
cert-manager, the shared charts, and the datastores.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.aws.common import (
    MANAGED,
    aws_provider,
    irsa_role,
    opts,
    region,
    trust_policy,
)
from crosswalk.providers.aws.datastores import emit_datastore
from crosswalk.providers.common import protect
from crosswalk.providers.kubernetes import charts


def emit_app_services(ctx: StackContext) -> None:
    p, prog = ctx.platform, ctx.program
    prog.imports.add("import json")
    provider = aws_provider(ctx)
    k8s_provider = k8s.emit_provider(
        ctx, ctx.upstream("03-cluster", "kubeconfig"), ctx.line(("appServices",))
    )
    cloud_values: dict[str, dict] = {}
    if p.app_services.dns_zone:
        zone = prog.resource(
            "dns_zone",
            "aws.route53.Zone",
            f"{p.name}-zone",
            {
                "name": k8s.dns_zone(ctx),
                "comment": f"Managed by crosswalk for platform {p.name}",
            },
            ctx.line(("appServices", "dns")),
            opts(provider, **protect(ctx)),
        )
        # external-dns and cert-manager may change records of this zone only.
        zone_arn = Code(f"{zone}.arn")
        role = irsa_role(
            ctx,
            provider,
            "external_dns",
            f"{p.name}-external-dns",
            "external-dns",
            "external-dns",
            ("appServices", "dns"),
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "route53:ChangeResourceRecordSets",
                        "route53:ListResourceRecordSets",
                        "route53:ListTagsForResource",
                    ],
                    "Resource": zone_arn,
                },
                # Listing zones names no zone: it cannot be narrowed.
                {"Effect": "Allow", "Action": ["route53:ListHostedZones"], "Resource": "*"},
            ],
        )
        cloud_values["dns"] = {
            "provider": {"name": "aws"},
            "env": [{"name": "AWS_DEFAULT_REGION", "value": region(ctx)}],
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")}},
        }
        prog.export("dns_zone_id", Code(f"{zone}.zone_id"))
        prog.export("dns_name_servers", Code(f"{zone}.name_servers"))
        if p.app_services.email:
            role = irsa_role(
                ctx,
                provider,
                "cert_manager",
                f"{p.name}-cert-manager",
                "cert-manager",
                "cert-manager",
                ("appServices", "certificates"),
                [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "route53:ChangeResourceRecordSets",
                            "route53:ListResourceRecordSets",
                        ],
                        "Resource": zone_arn,
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["route53:GetChange"],
                        "Resource": "arn:aws:route53:::change/*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["route53:ListHostedZonesByName"],
                        "Resource": "*",
                    },
                ],
            )
            cloud_values["certificates"] = {
                "serviceAccount": {
                    "annotations": {"eks.amazonaws.com/role-arn": Code(f"{role}.arn")}
                },
                "securityContext": {"fsGroup": 1001},
            }
            cloud_values["certificates_solver"] = {
                "dns01": {
                    "route53": {
                        "region": region(ctx),
                        "hostedZoneID": Code(f"{zone}.zone_id"),
                    }
                }
            }
    charts.emit_app_services(ctx, k8s_provider, cloud="aws", cloud_values=cloud_values)

    stores = p.app_services.datastores
    if not stores:
        return
    private_subnets = ctx.upstream("02-managed-infra", "private_subnet_ids")
    vpc_id = ctx.upstream("02-managed-infra", "vpc_id")
    nodes_sg = ctx.upstream("03-cluster", "cluster_security_group_id")
    monitoring_role = None
    if any(s.engine in ("postgres", "mysql") for s in stores):
        # RDS Enhanced Monitoring publishes each host's metrics through this role.
        monitoring_role = prog.resource(
            "rds_monitoring",
            "aws.iam.Role",
            f"{p.name}-rds-monitoring",
            {
                "description": f"RDS Enhanced Monitoring of platform {p.name}",
                "assume_role_policy": trust_policy({"Service": "monitoring.rds.amazonaws.com"}),
            },
            ctx.line(("appServices", "datastores")),
            opts(provider),
        )
        prog.resource(
            ("rds_monitoring", "policy"),
            "aws.iam.RolePolicyAttachment",
            f"{p.name}-rds-monitoring",
            {
                "role": Code(f"{monitoring_role}.name"),
                "policy_arn": MANAGED + "service-role/AmazonRDSEnhancedMonitoringRole",
            },
            ctx.line(("appServices", "datastores")),
            opts(provider),
        )
    for store in stores:
        emit_datastore(ctx, provider, store, private_subnets, vpc_id, nodes_sg, monitoring_role)
