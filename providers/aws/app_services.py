"""Layer 5 on AWS: the Route 53 zone (signed with DNSSEC, its queries logged),
IRSA roles for external-dns and cert-manager, the shared charts, and the
datastores.
"""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code
from crosswalk.compiler.emit import StackContext
from crosswalk.providers import kubernetes as k8s
from crosswalk.providers.aws.app_secrets import emit_app_secrets
from crosswalk.providers.aws.common import (
    GLOBAL_REGION,
    aws_provider,
    caller_identity,
    global_provider,
    irsa_role,
    key_administration,
    log_group,
    logs_may_use_key,
    opts,
    region,
    unique_name,
)
from crosswalk.providers.aws.datastores import emit_datastore
from crosswalk.providers.aws.pipelines import emit_pipelines
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
        _sign_and_log(ctx, zone)
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
    emit_app_secrets(ctx, provider)

    stores = p.app_services.datastores
    if not stores:
        return
    private_subnets = ctx.upstream("02-managed-infra", "private_subnet_ids")
    vpc_id = ctx.upstream("02-managed-infra", "vpc_id")
    nodes_sg = ctx.upstream("03-cluster", "cluster_security_group_id")
    # RDS Enhanced Monitoring's role is the identity layer's.
    monitoring_role = (
        ctx.upstream("01-identity", "rds_monitoring_role_arn")
        if any(s.engine in ("postgres", "mysql") for s in stores)
        else None
    )
    for store in stores:
        emit_datastore(
            ctx, provider, k8s_provider, store, private_subnets, vpc_id, nodes_sg, monitoring_role
        )
    emit_pipelines(ctx, provider)


def _sign_and_log(ctx: StackContext, zone: Code) -> None:
    """DNSSEC signing of the zone (resolvers can tell its answers from forged
    ones once the parent zone holds the DS record this exports) and a log of
    the queries it answers. Route 53 takes both keys and the log group from
    us-east-1 only."""
    p, prog = ctx.platform, ctx.program
    line = ctx.line(("appServices", "dns"))
    provider = global_provider(ctx)
    caller = caller_identity(ctx, provider)
    account = Code(f"{caller}.account_id")
    administer = key_administration(caller)
    from_zones = {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": "arn:aws:route53:::hostedzone/*"},
    }
    dnssec = {"Service": "dnssec-route53.amazonaws.com"}
    signing_key = prog.resource(
        "dnssec_key",
        "aws.kms.Key",
        f"{p.name}-dnssec",
        {
            "description": f"Signs the DNS zone of platform {p.name} (DNSSEC)",
            # Route 53's key-signing keys are ECDSA P-256; AWS does not rotate
            # asymmetric keys (a new key-signing key is a rollover).
            "customer_master_key_spec": "ECC_NIST_P256",
            "key_usage": "SIGN_VERIFY",
            "deletion_window_in_days": 30,
            "policy": Call(
                "pulumi.Output.json_dumps",
                [
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            administer,
                            {
                                "Sid": "Route53SignsWithIt",
                                "Effect": "Allow",
                                "Principal": dnssec,
                                "Action": ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"],
                                "Resource": "*",
                                "Condition": from_zones,
                            },
                            {
                                "Sid": "Route53GrantsForItsZones",
                                "Effect": "Allow",
                                "Principal": dnssec,
                                "Action": "kms:CreateGrant",
                                "Resource": "*",
                                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                            },
                        ],
                    }
                ],
            ),
        },
        line,
        opts(provider, **protect(ctx)),
    )
    ksk = prog.resource(
        "dnssec_key_signing_key",
        "aws.route53.KeySigningKey",
        f"{p.name}-zone",
        {
            "hosted_zone_id": Code(f"{zone}.zone_id"),
            "key_management_service_arn": Code(f"{signing_key}.arn"),
            "name": "crosswalk",
            "status": "ACTIVE",
        },
        line,
        opts(provider),
    )
    prog.resource(
        "dnssec",
        "aws.route53.HostedZoneDnsSec",
        f"{p.name}-zone",
        {"hosted_zone_id": Code(f"{ksk}.hosted_zone_id"), "signing_status": "SIGNING"},
        line,
        opts(provider),
    )
    prog.export("dns_ds_record", Code(f"{ksk}.ds_record"))

    logs_key = prog.resource(
        "dns_logs_key",
        "aws.kms.Key",
        f"{p.name}-dns-logs",
        {
            "description": f"Encrypts the DNS query log of platform {p.name}",
            "enable_key_rotation": True,
            "deletion_window_in_days": 30,
            "policy": Call(
                "pulumi.Output.json_dumps",
                [
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            administer,
                            logs_may_use_key(GLOBAL_REGION, caller),
                        ],
                    }
                ],
            ),
        },
        line,
        opts(provider, **protect(ctx)),
    )
    group = log_group(
        ctx,
        provider,
        "dns_query_logs",
        f"{p.name}-dns-queries",
        # Route 53 writes only to groups under /aws/route53/.
        unique_name(ctx, "dnsQueryLogGroup", template="/aws/route53/{}"),
        Code(f"{logs_key}.arn"),
        line,
    )
    write = prog.resource(
        "dns_query_logs_policy",
        "aws.cloudwatch.LogResourcePolicy",
        f"{p.name}-dns-queries",
        {
            "policy_name": Call("pulumi.Output.concat", ["route53-", Code(f"{zone}.zone_id")]),
            "policy_document": Call(
                "pulumi.Output.json_dumps",
                [
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "route53.amazonaws.com"},
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": Call(
                                    "pulumi.Output.concat", [Code(f"{group}.arn"), ":*"]
                                ),
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": account},
                                    "ArnLike": {"aws:SourceArn": Code(f"{zone}.arn")},
                                },
                            }
                        ],
                    }
                ],
            ),
        },
        line,
        opts(provider),
    )
    prog.resource(
        "dns_query_log",
        "aws.route53.QueryLog",
        f"{p.name}-zone",
        {"zone_id": Code(f"{zone}.zone_id"), "cloudwatch_log_group_arn": Code(f"{group}.arn")},
        line,
        opts(provider, depends_on=[write]),
    )
