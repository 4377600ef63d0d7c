"""Virtual machines on Azure (`vms[]`, in layer 2): Trusted Launch VMs in the
nodes' subnet, signed in to with Microsoft Entra ID only.

Each VM has no public IP; a network security group of its own with no rule
of crosswalk's (Azure's defaults: the network in, the internet not); its OS
disk encrypted with the platform's Key Vault key through a disk encryption
set (and at the host, as the nodes are, unless `encryptionAtHost: false`);
Secure Boot and a vTPM. Its identity is its own system-assigned one, which
the Entra ID login extension needs and which is granted nothing. Members of
the teams that log in get Virtual Machine User Login (an admin team's:
Administrator Login) on that VM alone, and sign in with `az ssh vm` over the
network's private paths (a Bastion or a VPN of the subscription's: the
platform's address plan keeps no room for a Bastion subnet).

Azure makes a Linux VM only with a local administrator, and a password or an
SSH key for it. crosswalk gives it neither a password nor a key anyone holds:
`UNHELD_SSH_KEY` is an Ed25519 public key derived from a hash, a point of the
curve nobody knows the private key of (finding it is the discrete logarithm
problem Ed25519 rests on); tests/test_azure.py derives it again."""

from __future__ import annotations

import base64
import hashlib

from crosswalk.compiler.codegen import Code, joined
from crosswalk.providers.azure.common import var_name
from crosswalk.providers.azure.program import AzureProgram
from crosswalk.providers.azure.rules import NODE_SIZES
from crosswalk.providers.images import vm_image

ADMIN_USER = "crosswalk"
# What the admin key is derived from: the first counter whose hash is a point
# of Ed25519 (see unheld_public_key).
UNHELD_KEY_LABEL = b"crosswalk: an SSH key whose private key nobody holds #"
LOGIN_ROLES = {
    "admin": "Virtual Machine Administrator Login",
    "developer": "Virtual Machine User Login",
    "viewer": "Virtual Machine User Login",
}
KEY_ROLE = "Key Vault Crypto Service Encryption User"

# Ed25519 (RFC 8032): the field's prime and the curve's constant d.
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P


def on_curve(encoded: bytes) -> bool:
    """Whether 32 bytes encode a point of Ed25519 (RFC 8032, 5.1.3): y below
    the prime, and (y² - 1) / (d·y² + 1) a square, x²."""
    y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
    if y >= _P:
        return False
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return not encoded[31] >> 7  # x = 0 has no negative
    return pow(x2, (_P - 1) // 2, _P) == 1


def unheld_public_key() -> bytes:
    """SHA-256 of the label and a counter, for the first counter whose hash
    encodes a point: a public key chosen with nothing up the sleeve."""
    counter = 0
    while True:
        encoded = hashlib.sha256(UNHELD_KEY_LABEL + str(counter).encode()).digest()
        if on_curve(encoded):
            return encoded
        counter += 1


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


UNHELD_SSH_KEY = (
    "ssh-ed25519 "
    + base64.b64encode(_ssh_string(b"ssh-ed25519") + _ssh_string(unheld_public_key())).decode()
    + " crosswalk-no-private-key"
)


def emit_vms(az: AzureProgram, rg, subnets: dict, vault: Code, key: Code) -> None:
    """The disk encryption set (its identity may wrap and unwrap with the
    platform key) and each VM's security group, network interfaces, VMs,
    Entra ID login extension and logins (`count` per environment, spread
    over the zones)."""
    p, ctx = az.p, az.ctx
    if not p.vms:
        return
    az.use("compute", "network")
    line = ctx.line(("vms",))
    disks = az.res(
        "disk_encryption_set",
        "compute.DiskEncryptionSet",
        f"{p.name}-disks",
        {
            "resource_group_name": rg,
            "disk_encryption_set_name": f"{p.name}-disks",
            "location": az.location,
            "encryption_type": Code(
                "compute.DiskEncryptionSetType.ENCRYPTION_AT_REST_WITH_CUSTOMER_KEY"
            ),
            # A key URL without a version: the set follows the key's rotations.
            "active_key": {
                "key_url": Code(f"{key}.key_uri"),
                "source_vault": {"id": Code(f"{vault}.id")},
            },
            "rotation_to_latest_key_version_enabled": True,
            "identity": {"type": Code("compute.DiskEncryptionSetIdentityType.SYSTEM_ASSIGNED")},
            "tags": az.tags,
        },
        line,
    )
    key_use = az.assign_role(
        "disk_encryption_set_key",
        f"{p.name}-disks-key",
        KEY_ROLE,
        Code(f"{disks}.identity.principal_id"),
        Code(f"{key}.id"),
        line,
        "ServicePrincipal",
    )
    for vm in p.vms:
        _vm(az, rg, subnets, vm, disks, key_use)


def _vm(az: AzureProgram, rg, subnets: dict, vm, disks: Code, key_use: Code) -> None:
    p, ctx, prog = az.p, az.ctx, az.prog
    line = ctx.line(vm.path)
    var = var_name(vm.name)
    base = f"{p.name}-{vm.name}"

    def per_env(setting: str, value_in):
        return ctx.setting(f"vms.{vm.name}.{setting}", lambda q, env: value_in(q.vm(vm.name)))

    nsg = az.res(
        ("vm", var, "nsg"),
        "network.NetworkSecurityGroup",
        f"{p.name}-vm-{vm.name}",
        {
            "resource_group_name": rg,
            "network_security_group_name": f"{p.name}-vm-{vm.name}",
            "location": az.location,
            "security_rules": [],
            "tags": az.tags,
        },
        line,
    )
    publisher, offer, sku = vm_image("azure", vm.image).split(":")
    count = per_env("count", lambda v: v.count)
    index = prog.name("vm", var, "index")
    start = len(prog.statements)
    name = joined(f"{base}-", index)
    ip_config: dict = {
        "name": "primary",
        "subnet": {"id": subnets["nodes"]},
        "private_ip_allocation_method": "Dynamic",
    }
    if vm.public_address:
        address = az.res(
            ("vm", var, "ip"),
            "network.PublicIPAddress",
            name,
            {
                "resource_group_name": rg,
                "public_ip_address_name": name,
                "location": az.location,
                "sku": {"name": "Standard"},
                "public_ip_allocation_method": "Static",
                "tags": az.tags,
            },
            ctx.line(vm.path + ("publicAddress",)),
        )
        ip_config["public_ip_address"] = {"id": Code(f"{address}.id")}
    nic = az.res(
        ("vm", var, "nic"),
        "network.NetworkInterface",
        name,
        {
            "resource_group_name": rg,
            "network_interface_name": name,
            "location": az.location,
            "ip_configurations": [ip_config],
            "network_security_group": {"id": Code(f"{nsg}.id")},
            "enable_ip_forwarding": False,
            "tags": az.tags,
        },
        line,
    )
    args = {
        "resource_group_name": rg,
        "vm_name": name,
        "location": az.location,
        "hardware_profile": {
            "vm_size": per_env("vmSize", lambda v: v.machine_type or NODE_SIZES[v.size])
        },
        "storage_profile": {
            "image_reference": {
                "publisher": publisher,
                "offer": offer,
                "sku": sku,
                "version": "latest",
            },
            "os_disk": {
                "create_option": "FromImage",
                "delete_option": "Delete",
                "disk_size_gb": per_env("diskSizeGb", lambda v: v.disk_size_gb),
                "managed_disk": {
                    "storage_account_type": "Premium_LRS",
                    "disk_encryption_set": {"id": Code(f"{disks}.id")},
                },
            },
        },
        "os_profile": {
            "computer_name": name,
            "admin_username": ADMIN_USER,
            "linux_configuration": {
                "disable_password_authentication": True,
                # A key nobody holds (see UNHELD_SSH_KEY): people sign in
                # with Entra ID.
                "ssh": {
                    "public_keys": [
                        {
                            "path": f"/home/{ADMIN_USER}/.ssh/authorized_keys",
                            "key_data": UNHELD_SSH_KEY,
                        }
                    ]
                },
                "provision_vm_agent": True,
                "patch_settings": {
                    "patch_mode": "AutomaticByPlatform",
                    "assessment_mode": "AutomaticByPlatform",
                },
            },
        },
        "network_profile": {
            "network_interfaces": [
                {"id": Code(f"{nic}.id"), "primary": True, "delete_option": "Delete"}
            ]
        },
        "security_profile": {
            "security_type": Code("compute.SecurityTypes.TRUSTED_LAUNCH"),
            "uefi_settings": {"secure_boot_enabled": True, "v_tpm_enabled": True},
            "encryption_at_host": p.cluster.encryption_at_host is not False,
        },
        # The Entra ID login extension signs in as the VM's own identity.
        "identity": {"type": Code("compute.ResourceIdentityType.SYSTEM_ASSIGNED")},
        "diagnostics_profile": {"boot_diagnostics": {"enabled": True}},
        "tags": az.tags,
    }
    if p.network.zones > 1:
        args["zones"] = [Code(f"str({index} % {p.network.zones} + 1)")]
    machine = az.res(("vm", var), "compute.VirtualMachine", name, args, line, depends_on=[key_use])
    az.res(
        ("vm", var, "entra_login"),
        "compute.VirtualMachineExtension",
        name,
        {
            "resource_group_name": rg,
            "vm_name": Code(f"{machine}.name"),
            "vm_extension_name": "AADSSHLoginForLinux",
            "location": az.location,
            "publisher": "Microsoft.Azure.ActiveDirectory",
            "type": "AADSSHLoginForLinux",
            "type_handler_version": "1.0",
            "auto_upgrade_minor_version": True,
            "tags": az.tags,
        },
        line,
    )
    for i, team_name in enumerate(vm.teams):
        team = p.team(team_name)
        for member in team.members:
            az.assign_role(
                ("vm", var, var_name(team.name), "login"),
                joined(f"{base}-", index, f"-{team.name}-{member}-login"),
                LOGIN_ROLES[team.access],
                member,
                Code(f"{machine}.id"),
                ctx.line(vm.path + ("teams", i)),
            )
    prog.block(f"for {index} in range({count}):", start)
