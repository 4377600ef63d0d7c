"""Virtual machines (`vms[]`, in layer 2): what cannot run in the cluster.

The model's part (`Vm`, built from schema-valid data with defaults applied)
and the checks on it (`check_vms`, inside check_platform): the teams that may
log in must be declared, a machine type must be the cloud's, an image family
must be one the cloud offers. A public address is a relaxed default
(compiler/relaxed.py warns). Every cloud's VM is private, in the platform's
private subnets, its disk encrypted with a key of the platform, with an
identity of its own and no way in but the cloud's identity-aware one
(providers/<cloud>/vms.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crosswalk.compiler.validate import did_you_mean, quoted_list

if TYPE_CHECKING:
    from crosswalk.compiler.checks import _Checker


@dataclass(frozen=True)
class Vm:
    name: str
    size: str  # small | medium | large | xlarge: the node pools' sizes
    machine_type: str | None  # wins over size
    image: str  # a family of providers/images.py
    count: int
    disk_size_gb: int
    teams: tuple[str, ...]  # whose members may log in
    public_address: bool
    path: tuple


def build_vms(data: dict) -> tuple[Vm, ...]:
    return tuple(
        Vm(
            v["name"],
            v["size"],
            v.get("machineType"),
            v["image"],
            v["count"],
            v["diskSizeGb"],
            tuple(v["teams"]),
            v["publicAddress"],
            ("vms", i),
        )
        for i, v in enumerate(data.get("vms", []))
    )


def check_vms(c: _Checker) -> None:
    """CW302 for a team that logs in but is not declared, CW530 for an image
    family the cloud lacks (a machine type of another cloud is CW503, checked
    with the node pools')."""
    from crosswalk.providers import rules_for
    from crosswalk.providers.images import VM_IMAGES, images_of

    p = c.platform
    teams = {t.name for t in p.teams}
    rules = rules_for(p.cloud.provider)
    offered = images_of(p.cloud.provider)
    for vm in p.vms:
        for i, team in enumerate(vm.teams):
            if team not in teams:
                c.unknown("CW302", "team", team, teams, vm.path + ("teams", i))
        if vm.image not in offered:
            elsewhere = sorted(set(VM_IMAGES.get(vm.image, {})) - {p.cloud.provider})
            c.error(
                "CW530",
                f"'{vm.image}' is not an image family crosswalk knows on {rules.title}"
                + (
                    f" (it is {' and '.join(rules_for(o).title for o in elsewhere)}'s)"
                    if elsewhere
                    else ""
                ),
                vm.path + ("image",),
                help=did_you_mean(vm.image, offered)
                or f"{rules.title} families: {quoted_list(offered)}",
            )
