"""The secure defaults platform.yaml may relax on purpose: each relaxed one is
a warning (CW6xx) at the key that relaxes it, never an error."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crosswalk.compiler.checks import _Checker


def check_relaxed_defaults(c: _Checker) -> None:
    """Warnings (CW6xx) where platform.yaml relaxes a secure default on purpose."""
    p = c.platform
    endpoint = p.cluster.endpoint
    everyone = [i for i, cidr in enumerate(endpoint.allowed_cidrs) if cidr.endswith("/0")]
    if endpoint.public and (not endpoint.allowed_cidrs or everyone):
        c.warn(
            "CW601",
            "the cluster API endpoint is public and open to the whole internet",
            ("cluster", "endpoint", "allowedCidrs", everyone[0])
            if everyone
            else ("cluster", "endpoint", "public"),
            help="list your office or VPN ranges under cluster.endpoint.allowedCidrs",
        )
    for ns in p.cluster.namespaces:
        if ns.pod_security != "restricted":
            c.warn(
                "CW602",
                f"namespace '{ns.name}' enforces Pod Security '{ns.pod_security}', not 'restricted'",
                ns.path + ("podSecurity",),
                help="keep 'restricted' and move pods that need more into a namespace of their own",
            )
        if ns.network_policy == "allow-all":
            c.warn(
                "CW603",
                f"namespace '{ns.name}' allows all network traffic",
                ns.path + ("networkPolicy",),
                help="'default-deny' allows DNS, same-namespace traffic and declared dependencies",
            )
        if ns.quota is None:
            c.warn(
                "CW604",
                f"namespace '{ns.name}' has no resource quota",
                ns.path + ("quota",),
                help="remove 'quota: false' for the default quota, or set cpu, memory and pods",
            )
    for registry in p.registries:
        for flag, on in (
            ("scanOnPush", registry.scan_on_push),
            ("immutableTags", registry.immutable_tags),
        ):
            if not on:
                c.warn(
                    "CW605",
                    f"registry '{registry.name}' turns {flag} off",
                    registry.path + (flag,),
                    help=f"remove '{flag}: false'; it is on by default",
                )
    if p.app_services.ingress == "nginx":
        c.warn(
            "CW607",
            "ingress-nginx is retired upstream and receives no more security fixes",
            ("appServices", "ingress", "controller"),
            help="use 'envoy-gateway' (Gateway API) or 'traefik'",
        )
    for store in p.app_services.datastores:
        if store.enhanced_monitoring is False and p.cloud.provider == "aws":
            c.warn(
                "CW619",
                f"datastore '{store.name}' turns enhanced monitoring off: no per-minute "
                "metrics of its host's CPU, memory and disks",
                store.path + ("enhancedMonitoring",),
                help="remove 'enhancedMonitoring: false'; it costs a few CloudWatch Logs entries "
                "a minute",
            )
    for vm in p.vms:
        if vm.public_address:
            c.warn(
                "CW630",
                f"VM '{vm.name}' has a public address: its instances sit in public subnets, "
                "reachable from the internet wherever a rule lets traffic in",
                vm.path + ("publicAddress",),
                help="remove 'publicAddress: true': logins come through the cloud's "
                "identity-aware path either way, and private instances reach out through NAT",
            )
    for bucket in p.buckets:
        if bucket.public:
            c.warn(
                "CW631",
                f"bucket '{bucket.name}' is readable by anyone on the internet: every "
                "object written to it is published",
                bucket.path + ("public",),
                help="keep only static assets there, and their sources elsewhere; remove "
                "'public: true' for anything else (apps read private buckets with their "
                "own identities)",
            )
    if not p.deletion_protection:
        c.warn(
            "CW611",
            "deletion protection is off: databases, caches, queues, keys, DNS zones, registries "
            "and the cluster can be deleted, and replaced by a change",
            ("deletionProtection",),
            help="keep it on where data matters; turn it off only in environments you rebuild",
        )
    if p.cloud.provider == "gcp" and not p.cluster.binary_authorization:
        c.warn(
            "CW612",
            "Binary Authorization is off: GKE runs any image, whatever the project's or the "
            "organization's policy requires",
            ("cluster", "binaryAuthorization"),
            help="remove 'binaryAuthorization: false'; it is on by default and enforces the "
            "project's policy, which allows every image until you tighten it",
        )
    for team in p.teams:
        if not team.members:
            c.warn(
                "CW618",
                f"team '{team.name}' has no members: it grants nothing, neither a cloud role "
                "nor access to the cluster or its namespaces",
                team.path,
                help="list who makes up the team under 'members' (the cloud's principals: IAM role ARNs, "
                "Google accounts or groups, Entra object ids)",
            )
    if p.cluster.encryption_at_host is False and p.cloud.provider == "azure":
        c.warn(
            "CW615",
            "encryption at host is off: the nodes' temporary disks and disk caches are not "
            "encrypted on their hosts",
            ("cluster", "encryptionAtHost"),
            key=True,
            help="remove 'encryptionAtHost: false' once the subscription has registered the "
            "Microsoft.Compute/EncryptionAtHost feature",
        )
    if p.services.policy == "none":
        c.warn(
            "CW608",
            "no policy engine: nothing enforces baseline policies at admission",
            ("clusterServices", "policy", "engine"),
            help="use 'kyverno' or 'gatekeeper'",
        )
    elif p.services.policy_mode == "audit":
        c.warn(
            "CW610",
            f"{p.services.policy} audits its policies: what breaks them is reported, not refused",
            ("clusterServices", "policy", "mode"),
            help="remove 'mode: audit' once the reports are clean; 'enforce' is the default",
        )
