"""Virtual machines on AWS (`vms[]`, in layer 2): EC2 instances in the private
subnets, reached only through SSM Session Manager.

Each instance has no public address, no SSH key and a security group with
no inbound rule; IMDSv2 is required (hop limit 1, so no container on it
reads the instance's credentials); its root volume is encrypted with the
platform key. Its identity is an instance profile the identity layer makes
(`emit_vm_identities`), whose role may do nothing but hold Session Manager's
channels. The identity layer also lets each team that logs in start sessions
on exactly its VMs' instances (`emit_vm_logins`): they are told apart by the
tags managed-infra puts on them, since the team role exists before they do."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code, joined
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.aws.cluster import NODE_SIZES
from crosswalk.providers.aws.common import (
    ENVIRONMENT_TAG,
    PLATFORM_TAG,
    opts,
    region,
    service_role,
    unique_name,
)
from crosswalk.providers.common import environment_tags
from crosswalk.providers.images import vm_image

# The tag that names an instance's VM: a team's sessions are held to it.
VM_TAG = "crosswalk/vm"
# What the SSM Agent needs for Session Manager and nothing more (AWS's
# "custom instance profile for Session Manager"): report its instance, and
# hold a session's channels (ssmmessages names no resource). No Run Command,
# no parameters, no inventory.
SESSION_MANAGER_ACTIONS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]
# The shell document Session Manager starts when a session names none.
SESSION_DOCUMENT = "SSM-SessionManagerRunShell"
# What a team needs to find its instances and watch its sessions (reads AWS
# offers on "*" only).
SESSION_READS = [
    "ec2:DescribeInstances",
    "ssm:DescribeInstanceInformation",
    "ssm:DescribeSessions",
]


def vm_var(vm) -> str:
    return vm.name.replace("-", "_")


def profile_output(vm) -> str:
    """The identity output with the name of a VM's instance profile."""
    return f"vm_{vm_var(vm)}_instance_profile"


def emit_vm_identities(ctx: StackContext, provider: Code) -> None:
    """Each VM's role (EC2 may assume it) and instance profile, in the
    identity layer as every role the platform's services assume."""
    p, prog = ctx.platform, ctx.program
    for vm in p.vms:
        line = ctx.line(vm.path)
        name = f"{p.name}-vm-{vm.name}"
        role = service_role(
            ctx,
            provider,
            f"vm-{vm.name}",
            f"VM {vm.name} of platform {p.name}: Session Manager only",
            "ec2.amazonaws.com",
            vm.path,
        )
        prog.resource(
            ("vm", vm_var(vm), "policy"),
            "aws.iam.RolePolicy",
            name,
            {
                "role": Code(f"{role}.id"),
                "policy": Call(
                    "json.dumps",
                    [
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "ssm:UpdateInstanceInformation",
                                    "Resource": "arn:aws:ec2:*:*:instance/*",
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": SESSION_MANAGER_ACTIONS,
                                    "Resource": "*",
                                },
                            ],
                        }
                    ],
                ),
            },
            line,
            opts(provider),
        )
        profile = prog.resource(
            ("vm", vm_var(vm), "profile"),
            "aws.iam.InstanceProfile",
            name,
            {"role": Code(f"{role}.name")},
            line,
            opts(provider),
        )
        prog.export(profile_output(vm), Code(f"{profile}.name"))


def emit_vm_logins(ctx: StackContext, provider: Code, caller: Code, team_roles: dict) -> None:
    """The policy of each team that logs in to VMs: sessions on the instances
    of those VMs in this environment (by their tags), through the shell
    document, and its own sessions only to end or resume."""
    p, prog = ctx.platform, ctx.program
    account = Code(f"{caller}.account_id")
    here = region(ctx)
    for team in p.teams:
        vms = [vm.name for vm in p.vms if team.name in vm.teams]
        if not vms or team.name not in team_roles:
            continue  # a team without members has no role (CW618)
        instances = Call(
            "pulumi.Output.concat", ["arn:aws:ec2:", here, ":", account, ":instance/*"]
        )
        document = Call(
            "pulumi.Output.concat",
            ["arn:aws:ssm:", here, ":", account, f":document/{SESSION_DOCUMENT}"],
        )
        statements = [
            {
                "Sid": "SessionsOnItsVms",
                "Effect": "Allow",
                "Action": "ssm:StartSession",
                "Resource": instances,
                "Condition": {
                    "StringEquals": {
                        f"ssm:resourceTag/{PLATFORM_TAG}": p.name,
                        # The stack's name is its environment's.
                        f"ssm:resourceTag/{ENVIRONMENT_TAG}": Code("stack"),
                        f"ssm:resourceTag/{VM_TAG}": vms,
                    },
                    # The session's document must be one the team may use.
                    "BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"},
                },
            },
            {
                "Sid": "TheShellDocument",
                "Effect": "Allow",
                "Action": "ssm:StartSession",
                "Resource": document,
            },
            {
                "Sid": "ItsOwnSessions",
                "Effect": "Allow",
                "Action": ["ssm:ResumeSession", "ssm:TerminateSession"],
                "Resource": "arn:aws:ssm:*:*:session/${aws:userid}-*",
            },
            {
                "Sid": "ConnectionStatus",
                "Effect": "Allow",
                "Action": "ssm:GetConnectionStatus",
                "Resource": instances,
            },
            {"Sid": "FindInstances", "Effect": "Allow", "Action": SESSION_READS, "Resource": "*"},
        ]
        prog.resource(
            ("team", team.name, "vm_logins"),
            "aws.iam.RolePolicy",
            f"{p.name}-team-{team.name}-vm-logins",
            {
                "role": Code(f"{team_roles[team.name]}.id"),
                "policy": Call(
                    "pulumi.Output.json_dumps",
                    [{"Version": "2012-10-17", "Statement": statements}],
                ),
            },
            ctx.line(team.path),
            opts(provider),
        )


def emit_vms(ctx: StackContext, provider: Code, vpc: Code, subnets: dict, key: Code) -> None:
    """Each VM's security group (no inbound rule; out: HTTP and HTTPS for
    Session Manager and package mirrors, anything inside the network) and
    its instances, `count` of them (per environment), spread over the zones.
    `subnets`: the public and private subnets by kind."""
    p, prog = ctx.platform, ctx.program
    for vm in p.vms:
        line = ctx.line(vm.path)
        var = vm_var(vm)
        name = f"{p.name}-vm-{vm.name}"

        def per_env(setting: str, value_in, vm=vm):
            return ctx.setting(f"vms.{vm.name}.{setting}", lambda q, env: value_in(q.vm(vm.name)))

        group = prog.resource(
            ("vm", var, "sg"),
            "aws.ec2.SecurityGroup",
            name,
            {
                "name": unique_name(ctx, f"vm.{vm.name}.securityGroup", "vm", vm.name),
                "description": f"VM {vm.name}: no inbound; out HTTP(S) and the platform network",
                "vpc_id": Code(f"{vpc}.id"),
                "egress": [
                    {
                        "description": "HTTPS: Session Manager, package mirrors",
                        "protocol": "tcp",
                        "from_port": 443,
                        "to_port": 443,
                        "cidr_blocks": ["0.0.0.0/0"],
                    },
                    {
                        "description": "HTTP: package mirrors",
                        "protocol": "tcp",
                        "from_port": 80,
                        "to_port": 80,
                        "cidr_blocks": ["0.0.0.0/0"],
                    },
                    {
                        "description": "the platform network: its datastores and services",
                        "protocol": "-1",
                        "from_port": 0,
                        "to_port": 0,
                        "cidr_blocks": [Code(f"{vpc}.cidr_block")],
                    },
                ],
                "tags": {"Name": name},
            },
            line,
            opts(provider),
        )
        image = prog.assign(
            prog.name("vm", var, "image"),
            Call(
                "aws.ssm.get_parameter",
                kwargs={
                    "name": vm_image("aws", vm.image),
                    "opts": Call("pulumi.InvokeOptions", kwargs={"provider": provider}),
                },
            ),
            ctx.line(vm.path + ("image",)),
        )
        kind = "public" if vm.public_address else "private"
        choices = Code("[" + ", ".join(f"{s}.id" for s in subnets[kind]) + "]")
        count = per_env("count", lambda v: v.count)
        index = prog.name("vm", var, "index")
        start = len(prog.statements)
        prog.resource(
            ("vm", var),
            "aws.ec2.Instance",
            joined(f"{p.name}-{vm.name}-", index),
            {
                "ami": Code(f"{image}.value"),
                "instance_type": per_env(
                    "instanceType", lambda v: v.machine_type or NODE_SIZES[v.size]
                ),
                "subnet_id": Code(f"{choices}[{index} % {len(subnets[kind])}]"),
                "vpc_security_group_ids": [Code(f"{group}.id")],
                "associate_public_ip_address": vm.public_address,
                "iam_instance_profile": ctx.upstream("01-identity", profile_output(vm)),
                # IMDSv2 only, one hop: no container on the host reaches it.
                "metadata_options": {
                    "http_endpoint": "enabled",
                    "http_tokens": "required",
                    "http_put_response_hop_limit": 1,
                    "instance_metadata_tags": "disabled",
                },
                "root_block_device": {
                    "encrypted": True,
                    "kms_key_id": Code(f"{key}.arn"),
                    "volume_type": "gp3",
                    "volume_size": per_env("diskSizeGb", lambda v: v.disk_size_gb),
                    "delete_on_termination": True,
                    "tags": environment_tags(ctx, PLATFORM_TAG, ENVIRONMENT_TAG),
                },
                "tags": {"Name": joined(f"{p.name}-{vm.name}-", index), VM_TAG: vm.name},
            },
            line,
            # A newer image of the family reaches a VM when it is replaced,
            # never by surprise on the next deploy.
            opts(provider, ignore_changes=["ami"]),
        )
        prog.block(f"for {index} in range({count}):", start)
