"""Virtual machines on GCP (`vms[]`, in layer 2): Shielded VMs in the nodes'
subnetwork, reached only with OS Login through IAP TCP forwarding.

Each instance has no external address; its boot disk is encrypted with a
disks key of the platform's key ring; OS Login is on and project-wide SSH
keys are blocked, so an SSH key in metadata opens nothing. The firewall lets
in IAP's forwarding range only, to port 22, and to the VM's own service
account only. That service account is the identity layer's (every Google
service account is: `emit_vm_accounts`), and may write logs and metrics.
Each member of a team that logs in gets, on each instance only, OS Login
(an admin team's members: with sudo) and IAP tunnel access; on the VM's
service account, Service Account User, which OS Login asks of whoever logs
in to a VM that runs as one."""

from __future__ import annotations

from crosswalk.compiler.codegen import Call, Code, joined
from crosswalk.compiler.emit import StackContext
from crosswalk.providers.gcp.cluster import NODE_SIZES
from crosswalk.providers.gcp.common import (
    account_id,
    agent_key,
    invoke_opts,
    opts,
    project,
    region,
    short_role,
    unique_name,
    var_part,
)
from crosswalk.providers.images import vm_image

# Where IAP's TCP forwarding connects from (Google's documented range).
IAP_RANGE = "35.235.240.0/20"
IAP_API, OS_LOGIN_API = "iap.googleapis.com", "oslogin.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# What a VM's own service account may do: write its logs and metrics.
VM_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
# Who logs in, by team access: admins with sudo.
LOGIN_ROLES = {
    "admin": "roles/compute.osAdminLogin",
    "developer": "roles/compute.osLogin",
    "viewer": "roles/compute.osLogin",
}
TUNNEL_ROLE = "roles/iap.tunnelResourceAccessor"


def account_output(vm) -> str:
    """The identity output with the email of a VM's service account."""
    return f"vm_{vm.name.replace('-', '_')}_service_account"


def emit_vm_accounts(ctx: StackContext, provider: Code, apis) -> dict[str, Code]:
    """Each VM's service account, what it may write, and, for the members of
    the teams that log in, the right OS Login asks for to act as it. The
    accounts, by VM, for the deployer that attaches them."""
    p, prog = ctx.platform, ctx.program
    accounts = {}
    for vm in p.vms:
        line = ctx.line(vm.path)
        var = var_part(vm.name)
        account = prog.resource(
            ("vm", var, "account"),
            "gcp.serviceaccount.Account",
            f"{p.name}-vm-{vm.name}",
            {
                "account_id": account_id(ctx, f"vm-{vm.name}", "vm", vm.name),
                "display_name": f"VM {vm.name} of platform {p.name}"[:100],
                "description": "Least privilege for a VM: writes its logs and metrics",
            },
            line,
            opts(provider, apis),
        )
        for role in VM_ROLES:
            prog.resource(
                ("vm", var, short_role(role)),
                "gcp.projects.IAMMember",
                f"{p.name}-vm-{vm.name}-{short_role(role)}",
                {"project": project(ctx), "role": role, "member": Code(f"{account}.member")},
                line,
                opts(provider, apis),
            )
        for i, team in enumerate(vm.teams):
            for j, member in enumerate(p.team(team).members):
                prog.resource(
                    ("vm", var, team, str(j), "user"),
                    "gcp.serviceaccount.IAMMember",
                    f"{p.name}-vm-{vm.name}-{team}-{j}-user",
                    {
                        "service_account_id": Code(f"{account}.name"),
                        "role": "roles/iam.serviceAccountUser",
                        "member": member,
                    },
                    ctx.line(vm.path + ("teams", i)),
                    opts(provider, apis),
                )
        prog.export(account_output(vm), Code(f"{account}.email"))
        accounts[vm.name] = account
    return accounts


def emit_vm_attach_grants(ctx, provider, apis, bot, member: Code, accounts: dict) -> None:
    """The managed-infra deployer may attach each VM's service account to its
    instances (Service Account User on that account alone)."""
    p, prog = ctx.platform, ctx.program
    for vm in p.vms:
        prog.resource(
            ("ci", var_part(bot.name), "vm", var_part(vm.name), "user"),
            "gcp.serviceaccount.IAMMember",
            f"{p.name}-ci-{bot.name}-vm-{vm.name}-user",
            {
                "service_account_id": Code(f"{accounts[vm.name]}.name"),
                "role": "roles/iam.serviceAccountUser",
                "member": member,
            },
            ctx.line(bot.path + ("layers",)),
            opts(provider, apis),
        )


def emit_vms(ctx: StackContext, provider: Code, apis, vpc, subnet, ring, project_info) -> None:
    """The disks key (Compute Engine's service agent may use it), and each
    VM's IAP firewall rule and instances (`count` per environment, spread
    over the zones) with their logins."""
    p, prog = ctx.platform, ctx.program
    if not p.vms:
        return
    line = ctx.line(("vms",))
    # Compute Engine's service agent encrypts the VMs' disks with the key.
    key, grant = agent_key(ctx, provider, apis, ring, project_info, "disks", "compute-system", line)
    zones = prog.assign(
        prog.name("vm_zones"),
        Call(
            "gcp.compute.get_zones", kwargs={"region": region(ctx), "opts": invoke_opts(provider)}
        ),
    )
    for vm in p.vms:
        _vm(ctx, provider, apis, vm, vpc, subnet, key, grant, zones)


def _vm(ctx, provider, apis, vm, vpc, subnet, key, grant, zones) -> None:
    p, prog = ctx.platform, ctx.program
    line = ctx.line(vm.path)
    var = var_part(vm.name)
    email = ctx.upstream("01-identity", account_output(vm))

    def per_env(setting: str, value_in):
        return ctx.setting(f"vms.{vm.name}.{setting}", lambda q, env: value_in(q.vm(vm.name)))

    prog.resource(
        ("vm", var, "iap"),
        "gcp.compute.Firewall",
        f"{p.name}-vm-{vm.name}-iap",
        {
            "name": unique_name(ctx, f"firewall.vm.{vm.name}", 63, "vm", vm.name, "iap"),
            "description": f"VM {vm.name}: SSH from IAP's TCP forwarding only",
            "network": Code(f"{vpc}.id"),
            "direction": "INGRESS",
            "source_ranges": [IAP_RANGE],
            "allows": [{"protocol": "tcp", "ports": ["22"]}],
            "target_service_accounts": [email],
            "log_config": {"metadata": "INCLUDE_ALL_METADATA"},
        },
        line,
        opts(provider, apis),
    )
    name = unique_name(ctx, f"vm.{vm.name}", 59, vm.name)
    count = per_env("count", lambda v: v.count)
    index = prog.name("vm", var, "index")
    start = len(prog.statements)
    interface: dict = {"subnetwork": Code(f"{subnet}.id")}
    if vm.public_address:
        interface["access_configs"] = [{}]  # an ephemeral external address
    instance = prog.resource(
        ("vm", var),
        "gcp.compute.Instance",
        joined(f"{p.name}-{vm.name}-", index),
        {
            "name": joined(name, "-", index),
            "machine_type": per_env("machineType", lambda v: v.machine_type or NODE_SIZES[v.size]),
            "zone": Code(f"{zones}.names[{index} % {p.network.zones}]"),
            "boot_disk": {
                "initialize_params": {
                    "image": vm_image("gcp", vm.image),
                    "size": per_env("diskSizeGb", lambda v: v.disk_size_gb),
                    "type": "pd-balanced",
                },
                "kms_key_self_link": Code(f"{key}.id"),
                "auto_delete": True,
            },
            "network_interfaces": [interface],
            "service_account": {"email": email, "scopes": [CLOUD_PLATFORM_SCOPE]},
            "shielded_instance_config": {
                "enable_secure_boot": True,
                "enable_vtpm": True,
                "enable_integrity_monitoring": True,
            },
            # OS Login only: SSH keys in the project's metadata open nothing.
            "metadata": {
                "enable-oslogin": "TRUE",
                "block-project-ssh-keys": "TRUE",
                "serial-port-enable": "FALSE",
            },
            "labels": {"crosswalk-vm": vm.name},
            "allow_stopping_for_update": True,
        },
        line,
        # The key must be usable by Compute Engine before a disk names it.
        {"provider": provider, "depends_on": Code(f"[*{apis}, {grant}]")},
    )
    for i, team_name in enumerate(vm.teams):
        team = p.team(team_name)
        for j, member in enumerate(team.members):
            at = ctx.line(vm.path + ("teams", i))
            logical = (f"{p.name}-{vm.name}-", index, f"-{team.name}-{j}")
            prog.resource(
                ("vm", var, team.name, str(j), "login"),
                "gcp.compute.InstanceIAMMember",
                joined(*logical, "-login"),
                {
                    "project": project(ctx),
                    "zone": Code(f"{instance}.zone"),
                    "instance_name": Code(f"{instance}.name"),
                    "role": LOGIN_ROLES[team.access],
                    "member": member,
                },
                at,
                opts(provider, apis),
            )
            prog.resource(
                ("vm", var, team.name, str(j), "tunnel"),
                "gcp.iap.TunnelInstanceIAMMember",
                joined(*logical, "-tunnel"),
                {
                    "project": project(ctx),
                    "zone": Code(f"{instance}.zone"),
                    "instance": Code(f"{instance}.name"),
                    "role": TUNNEL_ROLE,
                    "member": member,
                },
                at,
                opts(provider, apis),
            )
    prog.block(f"for {index} in range({count}):", start)
