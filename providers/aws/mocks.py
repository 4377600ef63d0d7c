"""What the offline plan makes up for AWS resources, invokes and component methods:
the values AWS (or pulumi-eks) would compute, keyed by type token."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from crosswalk.compiler.mock_outputs import (
    Fabrication,
    InvokeContext,
    UnknownInvokeError,
    digest,
    fake_cert,
    fake_ip,
    fake_kubeconfig,
    fake_uuid,
    fixed_outputs,
)
from crosswalk.compiler.mock_values import Secret, reveal
from crosswalk.providers.aws.rules import availability_zones
from crosswalk.schema import load_schema

PACKAGES = ("aws", "eks", "awsx")  # type-token packages whose outputs are made up here


ACCOUNT_ID = "123456789012"


def arn(f: Fabrication, service: str, resource: str, *, regional: bool = True) -> str:
    region = f.region if regional else ""
    return f"arn:aws:{service}:{region}:{f.account or ACCOUNT_ID}:{resource}"


def _eks_user(cluster_name: str, region: str) -> dict[str, Any]:
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
        }
    }


def _eks_endpoint(f: Fabrication) -> str:
    return f"https://{f.hex(32).upper()}.gr7.{f.region}.eks.amazonaws.com"


def _aws_eks_cluster(f: Fabrication) -> dict[str, Any]:
    oidc = f"https://oidc.eks.{f.region}.amazonaws.com/id/{f.hex(32).upper()}"
    return {
        "arn": arn(f, "eks", f"cluster/{f.physical_name}"),
        "endpoint": _eks_endpoint(f),
        "certificateAuthority": {"data": fake_cert(f.urn)},
        "identities": [{"oidcs": [{"issuer": oidc}]}],
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "version": "1.31",
        "vpcConfig": {"clusterSecurityGroupId": f"sg-{f.hex()}", "vpcId": f"vpc-{f.hex()}"},
    }


def _eks_component_cluster(f: Fabrication) -> dict[str, Any]:
    name = f.physical_name
    endpoint = _eks_endpoint(f)
    kubeconfig = fake_kubeconfig(name, endpoint, fake_cert(f.urn), _eks_user(name, f.region))
    oidc_url = f"oidc.eks.{f.region}.amazonaws.com/id/{f.hex(32).upper()}"
    return {
        "kubeconfig": kubeconfig,
        "kubeconfigJson": json.dumps(kubeconfig, sort_keys=True),
        "oidcIssuer": oidc_url,
        "oidcProviderUrl": oidc_url,
        "oidcProviderArn": arn(f, "iam", f"oidc-provider/{oidc_url}", regional=False),
        "clusterSecurityGroupId": f"sg-{f.hex()}",
        "nodeSecurityGroupId": f"sg-{digest(f.urn, 'nodes', length=17)}",
        "defaultNodeGroupAsgName": f"{name}-default",
    }


def _aws_rds_instance(f: Fabrication) -> dict[str, Any]:
    engine = str(reveal(f.inputs.get("engine", "postgres")))
    port = f.inputs.get("port") or (3306 if "mysql" in engine or "maria" in engine else 5432)
    address = f"{f.physical_name}.c{f.hex(12)}.{f.region}.rds.amazonaws.com"
    identifier = reveal(f.inputs.get("identifier")) or f.physical_name
    return {
        "identifier": identifier,
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
        "arn": arn(f, "rds", f"db:{identifier}"),
        "resourceId": f"db-{f.hex(26).upper()}",
        "status": "available",
        "masterUserSecrets": [
            {
                "secretArn": arn(f, "secretsmanager", f"secret:rds!db-{f.hex(8)}-{f.hex(6)}"),
                "kmsKeyId": arn(f, "kms", f"key/{fake_uuid(f.urn, 'kms')}"),
                "secretStatus": "active",
            }
        ],
    }


def _aws_rds_cluster(f: Fabrication) -> dict[str, Any]:
    outputs = _aws_rds_instance(f)
    host = f"{f.physical_name}.cluster-c{f.hex(12)}.{f.region}.rds.amazonaws.com"
    outputs.update(
        endpoint=host,
        readerEndpoint=host.replace(".cluster-", ".cluster-ro-"),
        arn=arn(f, "rds", f"cluster:{f.physical_name}"),
        clusterIdentifier=reveal(f.inputs.get("clusterIdentifier")) or f.physical_name,
        clusterResourceId=f"cluster-{f.hex(26).upper()}",
        engine=reveal(f.inputs.get("engine")) or "aurora-postgresql",
        port=3306 if "mysql" in str(reveal(f.inputs.get("engine"))) else 5432,
    )
    return outputs


MOST_ZONES = load_schema()["properties"]["network"]["properties"]["zones"]["maximum"]


def _region_code(region: str) -> str:
    """`us-west-2` -> `usw2`, as AWS abbreviates regions in hostnames and zone ids."""
    parts = region.split("-")
    return parts[0] + "".join(p[0] for p in parts[1:-1]) + parts[-1] if len(parts) > 2 else region


def _aws_elasticache_replication_group(f: Fabrication) -> dict[str, Any]:
    group = reveal(f.inputs.get("replicationGroupId")) or f.physical_name
    host = f"{group}.{f.hex(6)}.ng.0001.{_region_code(f.region)}.cache.amazonaws.com"
    return {
        "replicationGroupId": group,
        "primaryEndpointAddress": f"master.{host}",
        "readerEndpointAddress": f"replica.{host}",
        "port": f.inputs.get("port") or 6379,
        "arn": arn(f, "elasticache", f"replicationgroup:{group}"),
        "memberClusters": [f"{group}-001"],
    }


def _aws_sqs_queue(f: Fabrication) -> dict[str, Any]:
    name = f.physical_name
    if f.inputs.get("fifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    url = f"https://sqs.{f.region}.amazonaws.com/{f.account or ACCOUNT_ID}/{name}"
    return {"name": name, "url": url, "id": url, "arn": arn(f, "sqs", name)}


def _aws_redshift_workgroup(f: Fabrication) -> dict[str, Any]:
    name = reveal(f.inputs.get("workgroupName")) or f.physical_name
    workgroup_id = f"{f.hex(8)}-{f.hex(4)}-{f.hex(4)}-{f.hex(4)}-{f.hex(12)}"
    address = f"{name}.{f.account or ACCOUNT_ID}.{f.region}.redshift-serverless.amazonaws.com"
    return {
        "workgroupName": name,
        "workgroupId": workgroup_id,
        "arn": arn(f, "redshift-serverless", f"workgroup/{workgroup_id}"),
        "endpoints": [{"address": address, "port": 5439, "vpcEndpoints": []}],
    }


def _aws_redshift_namespace(f: Fabrication) -> dict[str, Any]:
    name = reveal(f.inputs.get("namespaceName")) or f.physical_name
    namespace_id = f"{f.hex(8)}-{f.hex(4)}-{f.hex(4)}-{f.hex(4)}-{f.hex(12)}"
    return {
        "namespaceName": name,
        "namespaceId": namespace_id,
        "arn": arn(f, "redshift-serverless", f"namespace/{namespace_id}"),
        "adminPasswordSecretArn": arn(f, "secretsmanager", f"secret:redshift!{name}-admin"),
    }


def _aws_s3_bucket(f: Fabrication) -> dict[str, Any]:
    bucket = reveal(f.inputs.get("bucket")) or f.physical_name
    return {
        "bucket": bucket,
        "id": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{f.region}.amazonaws.com",
        "region": f.region,
    }


def _aws_iam_oidc_provider(f: Fabrication) -> dict[str, Any]:
    url = str(reveal(f.inputs.get("url", f.name))).removeprefix("https://")
    return {"arn": arn(f, "iam", f"oidc-provider/{url}", regional=False)}


def _aws_iam(kind: str) -> Callable[[Fabrication], dict[str, Any]]:
    def fabricate(f: Fabrication) -> dict[str, Any]:
        path = str(reveal(f.inputs.get("path", "/")) or "/")
        return {
            "arn": arn(f, "iam", f"{kind}{path}{f.physical_name}", regional=False),
            "uniqueId": f"AROA{f.hex(17).upper()}",
        }

    return fabricate


def _aws_ecr_repository(f: Fabrication) -> dict[str, Any]:
    return {
        "repositoryUrl": f"{f.account or ACCOUNT_ID}.dkr.ecr.{f.region}.amazonaws.com/"
        + f.physical_name,
        "registryId": f.account or ACCOUNT_ID,
        "arn": arn(f, "ecr", f"repository/{f.physical_name}"),
    }


def _aws_kms_key(f: Fabrication) -> dict[str, Any]:
    key_id = fake_uuid(f.urn)
    return {"id": key_id, "keyId": key_id, "arn": arn(f, "kms", f"key/{key_id}")}


def _aws_route53_zone(f: Fabrication) -> dict[str, Any]:
    zone = f"Z{f.hex(20).upper()}"
    return {
        "id": zone,
        "zoneId": zone,
        "arn": f"arn:aws:route53:::hostedzone/{zone}",
        "nameServers": [f"ns-{i}.awsdns-{i:02d}.net" for i in (1, 2, 3, 4)],
    }


def _aws_route53_key_signing_key(f: Fabrication) -> dict[str, Any]:
    # The DS record the parent zone publishes: key tag, ECDSA P-256 (13), SHA-256 (2), digest.
    key_tag = int(f.hex(4), 16) % 65536
    return {"keyTag": key_tag, "dsRecord": f"{key_tag} 13 2 {f.hex(64).upper()}"}


def _aws_acm_certificate(f: Fabrication) -> dict[str, Any]:
    domain = str(reveal(f.inputs.get("domainName", f.name)))
    return {
        "arn": arn(f, "acm", f"certificate/{fake_uuid(f.urn)}"),
        "status": "ISSUED",
        "domainValidationOptions": [
            {
                "domainName": domain,
                "resourceRecordName": f"_{f.hex(32)}.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{f.hex(32)}.acm-validations.aws.",
            }
        ],
    }


def _aws_eks_node_group(f: Fabrication) -> dict[str, Any]:
    cluster = str(reveal(f.inputs.get("clusterName", "cluster")))
    name = reveal(f.inputs.get("nodeGroupName")) or f.physical_name
    return {
        "nodeGroupName": name,
        "arn": arn(f, "eks", f"nodegroup/{cluster}/{name}/{fake_uuid(f.urn)}"),
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{name}-{f.hex(8)}"}]}],
    }


def _aws_secret(f: Fabrication) -> dict[str, Any]:
    secret = arn(f, "secretsmanager", f"secret:{f.physical_name}-{f.hex(6)}")
    return {"arn": secret, "id": secret}


def _aws_instance(f: Fabrication) -> dict[str, Any]:
    ident = f"i-{f.hex()}"
    return {
        "id": ident,
        "arn": arn(f, "ec2", f"instance/{ident}"),
        "privateIp": fake_ip("10.0", f.urn),
        "instanceState": "running",
    }


def _aws_id(prefix: str) -> Callable[[Fabrication], dict[str, Any]]:
    def fabricate(f: Fabrication) -> dict[str, Any]:
        ident = f"{prefix}-{f.hex()}"
        out = {"id": ident, "arn": arn(f, "ec2", f"{prefix}/{ident}")}
        if prefix == "vpc":
            out.update(
                defaultSecurityGroupId=f"sg-{digest(f.urn, 'sg', length=17)}",
                mainRouteTableId=f"rtb-{digest(f.urn, 'rtb', length=17)}",
                defaultNetworkAclId=f"acl-{digest(f.urn, 'acl', length=17)}",
            )
        if prefix == "eipalloc":
            out.update(publicIp=fake_ip("52.10", f.urn), allocationId=ident)
        if prefix == "subnet" and "availabilityZone" not in f.inputs:
            out["availabilityZone"] = f"{f.region}a"
        return out

    return fabricate


def generic_outputs(f: Fabrication) -> tuple[str, dict[str, Any]]:
    """What every AWS resource has: an ARN, its tags as tagsAll, a name."""
    out: dict[str, Any] = {"arn": arn(f, f.module.lower(), f"{f.kind.lower()}/{f.physical_name}")}
    if "tags" in f.inputs:
        out["tagsAll"] = f.inputs["tags"]
    out["name"] = f.physical_name
    return f.physical_name, out


OUTPUT_SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


# Type token -> outputs beyond the generic defaults (inputs are echoed back over them).
RESOURCE_OUTPUTS: dict[str, Callable[[Fabrication], dict[str, Any]]] = {
    "aws:eks/cluster:Cluster": _aws_eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _aws_eks_node_group,
    "aws:eks/addon:Addon": fixed_outputs(status="ACTIVE"),
    "aws:eks/accessEntry:AccessEntry": fixed_outputs(),
    "aws:rds/instance:Instance": _aws_rds_instance,
    "aws:rds/cluster:Cluster": _aws_rds_cluster,
    "aws:rds/clusterInstance:ClusterInstance": lambda f: {"status": "available", "writer": False},
    "aws:elasticache/replicationGroup:ReplicationGroup": _aws_elasticache_replication_group,
    "aws:sqs/queue:Queue": _aws_sqs_queue,
    "aws:s3/bucket:Bucket": _aws_s3_bucket,
    "aws:redshiftserverless/namespace:Namespace": _aws_redshift_namespace,
    "aws:redshiftserverless/workgroup:Workgroup": _aws_redshift_workgroup,
    "aws:s3/bucketV2:BucketV2": _aws_s3_bucket,
    "aws:iam/role:Role": _aws_iam("role"),
    "aws:iam/policy:Policy": _aws_iam("policy"),
    "aws:iam/user:User": _aws_iam("user"),
    "aws:iam/instanceProfile:InstanceProfile": _aws_iam("instance-profile"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _aws_iam_oidc_provider,
    "aws:ecr/repository:Repository": _aws_ecr_repository,
    "aws:kms/key:Key": _aws_kms_key,
    "aws:route53/zone:Zone": _aws_route53_zone,
    "aws:route53/keySigningKey:KeySigningKey": _aws_route53_key_signing_key,
    "aws:acm/certificate:Certificate": _aws_acm_certificate,
    "aws:secretsmanager/secret:Secret": _aws_secret,
    "aws:ec2/vpc:Vpc": _aws_id("vpc"),
    "aws:ec2/subnet:Subnet": _aws_id("subnet"),
    "aws:ec2/securityGroup:SecurityGroup": _aws_id("sg"),
    "aws:ec2/internetGateway:InternetGateway": _aws_id("igw"),
    "aws:ec2/natGateway:NatGateway": _aws_id("nat"),
    "aws:ec2/eip:Eip": _aws_id("eipalloc"),
    "aws:ec2/routeTable:RouteTable": _aws_id("rtb"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _aws_id("vpce"),
    "aws:ec2/launchTemplate:LaunchTemplate": _aws_id("lt"),
    "aws:ec2/instance:Instance": _aws_instance,
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": lambda f: {
        "arn": arn(f, "firehose", f"deliverystream/{f.physical_name}")
    },
    "aws:pipes/pipe:Pipe": lambda f: {"arn": arn(f, "pipes", f"pipe/{f.physical_name}")},
    "aws:cloudwatch/logGroup:LogGroup": lambda f: {
        "arn": arn(f, "logs", f"log-group:{f.physical_name}")
    },
    # pulumi-eks remote components: one opaque record each, so their outputs must be whole.
    "eks:index:Cluster": _eks_component_cluster,
    "eks:index:ManagedNodeGroup": fixed_outputs(),
    "eks:index:VpcCniAddon": fixed_outputs(),
    "eks:index:Addon": fixed_outputs(),
    "eks:index:NodeGroupV2": fixed_outputs(),
}


def _policy_document(c: InvokeContext) -> dict[str, Any]:
    def principals(items: list[dict[str, Any]]) -> dict[str, Any]:
        grouped: dict[str, list[str]] = {}
        for item in items:
            grouped.setdefault(item["type"], []).extend(item.get("identifiers", []))
        return {k: v[0] if len(v) == 1 else v for k, v in grouped.items()}

    statements = []
    for raw in reveal(c.args.get("statements", [])):
        statement: dict[str, Any] = {}
        if "sid" in raw:
            statement["Sid"] = raw["sid"]
        statement["Effect"] = raw.get("effect", "Allow")
        for key, name in (("actions", "Action"), ("notActions", "NotAction")):
            if key in raw:
                statement[name] = raw[key][0] if len(raw[key]) == 1 else raw[key]
        for key, name in (("resources", "Resource"), ("notResources", "NotResource")):
            if key in raw:
                statement[name] = raw[key][0] if len(raw[key]) == 1 else raw[key]
        if "principals" in raw:
            statement["Principal"] = principals(raw["principals"])
        if "notPrincipals" in raw:
            statement["NotPrincipal"] = principals(raw["notPrincipals"])
        conditions: dict[str, dict[str, Any]] = {}
        for cond in raw.get("conditions", []):
            values = cond.get("values", [])
            conditions.setdefault(cond["test"], {})[cond["variable"]] = (
                values[0] if len(values) == 1 else values
            )
        if conditions:
            statement["Condition"] = conditions
        statements.append(statement)
    document = {"Version": c.args.get("version", "2012-10-17"), "Statement": statements}
    text = json.dumps(document, indent=2)
    return {
        "json": text,
        "minifiedJson": json.dumps(document, separators=(",", ":")),
        "id": digest(text, length=10),
    }


def _session_context(c: InvokeContext) -> dict[str, Any]:
    """An assumed role's session ARN traced back to its role (other ARNs are their own issuer)."""
    session_arn = str(c.args.get("arn", ""))
    issuer = session_arn
    parts = session_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        _, role, session = parts[5].split("/", 2)
        issuer = f"arn:aws:iam::{parts[4]}:role/{role}"
        return {
            "arn": session_arn,
            "issuerArn": issuer,
            "issuerName": role,
            "sessionName": session,
            "issuerId": f"AROA{digest(role, length=17).upper()}",
            "id": session_arn,
        }
    return {
        "arn": session_arn,
        "issuerArn": issuer,
        "issuerName": issuer.rsplit("/", 1)[-1],
        "sessionName": "",
        "issuerId": "",
        "id": session_arn,
    }


def _get_oidc_provider(c: InvokeContext) -> dict[str, Any]:
    """The account's OIDC provider for a URL (or ARN), as if it exists: another
    environment of the account creates it."""
    arn_given = c.args.get("arn")
    url = str(c.args.get("url") or str(arn_given).split("oidc-provider/", 1)[-1])
    host = url.removeprefix("https://")
    found = arn_given or f"arn:aws:iam::{c.account or ACCOUNT_ID}:oidc-provider/{host}"
    return {
        "arn": found,
        "url": host,
        "clientIdLists": ["sts.amazonaws.com"],
        "thumbprintLists": [],
        "tags": {},
        "id": found,
    }


def _random_password(c: InvokeContext) -> dict[str, Any]:
    length = int(c.args.get("passwordLength", 32))
    password = ("Mock" + digest(json.dumps(c.args, sort_keys=True, default=str), length=64))[
        :length
    ]
    return {"randomPassword": Secret(password), "id": digest(password, length=8)}


def _eks_get_kubeconfig(c: InvokeContext) -> dict[str, Any]:
    record = c.monitor.record(str(c.args.get("__self__", "")))
    if record is None or "kubeconfig" not in record.outputs:
        raise UnknownInvokeError(
            f"{c.token}: no eks:index:Cluster recorded at {c.args.get('__self__')!r}"
        )
    config = json.loads(json.dumps(reveal(record.outputs["kubeconfig"])))
    if c.args.get("roleArn"):
        config["users"][0]["user"]["exec"]["args"] += ["--role-arn", c.args["roleArn"]]
    if c.args.get("profileName"):
        config["users"][0]["user"]["exec"]["env"] = [
            {"name": "AWS_PROFILE", "value": c.args["profileName"]}
        ]
    return {"result": json.dumps(config, sort_keys=True)}


def _availability_zones(c: InvokeContext) -> dict[str, Any]:
    """As many zones as the region has (validate holds platforms to that); a
    region crosswalk does not know gets as many as a platform may ask for."""
    count = availability_zones(c.region) or MOST_ZONES
    return {
        "names": [f"{c.region}{letter}" for letter in "abcdef"[:count]],
        "zoneIds": [f"{_region_code(c.region)}-az{i}" for i in range(1, count + 1)],
        "groupNames": [c.region],
        "state": c.args.get("state", "available"),
        "id": c.region,
    }


INVOKE_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:index/getCallerIdentity:getCallerIdentity": lambda c: {
        "accountId": c.account or ACCOUNT_ID,
        "arn": f"arn:aws:iam::{c.account or ACCOUNT_ID}:user/crosswalk-plan",
        "userId": "AIDACROSSWALKPLAN",
        "id": c.account or ACCOUNT_ID,
    },
    "aws:index/getPartition:getPartition": lambda c: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
        "id": "aws",
    },
    "aws:index/getRegion:getRegion": lambda c: {
        "name": c.region,
        "region": c.region,
        "description": c.region,
        "endpoint": f"ec2.{c.region}.amazonaws.com",
        "id": c.region,
    },
    "aws:iam/getPolicyDocument:getPolicyDocument": _policy_document,
    "aws:iam/getSessionContext:getSessionContext": _session_context,
    "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": _get_oidc_provider,
    "aws:secretsmanager/getRandomPassword:getRandomPassword": _random_password,
    "aws:secretsmanager/getSecretVersion:getSecretVersion": lambda c: {
        "arn": c.args.get("secretId"),
        "id": c.args.get("secretId"),
        "secretId": c.args.get("secretId"),
        "versionId": "00000000-0000-0000-0000-000000000000",
        "secretString": Secret(
            '{"username": "crosswalk", "password": "mock-'
            + digest(str(c.args.get("secretId")))
            + '"}'
        ),
    },
    "aws:eks/getClusterAuth:getClusterAuth": lambda c: {
        "name": c.args.get("name"),
        "token": Secret("k8s-aws-v1.mock-token"),
        "id": c.args.get("name"),
    },
    # A public parameter of an image family (providers/images.py): its newest AMI.
    "aws:ssm/getParameter:getParameter": lambda c: {
        "name": c.args.get("name"),
        "type": "String",
        "value": f"ami-{digest(str(c.args.get('name')), length=17)}",
        "arn": f"arn:aws:ssm:{c.region}::parameter{c.args.get('name')}",
        "id": c.args.get("name"),
    },
    "aws:route53/getZone:getZone": lambda c: {
        "name": c.args.get("name"),
        "zoneId": f"Z{digest(str(c.args.get('name')), length=20).upper()}",
        "id": f"Z{digest(str(c.args.get('name')), length=20).upper()}",
        "arn": f"arn:aws:route53:::hostedzone/Z{digest(str(c.args.get('name')), length=20).upper()}",
        "nameServers": [f"ns-{i}.awsdns-{i:02d}.net" for i in (1, 2, 3, 4)],
        "privateZone": bool(c.args.get("privateZone", False)),
    },
}


# Component methods (`Call`), e.g. `eks.Cluster.get_kubeconfig()`.
METHOD_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {
    "eks:index:Cluster/getKubeconfig": _eks_get_kubeconfig,
}
