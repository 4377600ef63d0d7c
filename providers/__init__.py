"""Cloud provider backends.

Each cloud lives in its own module (`aws`, `gcp`, `azure`), imported only when
a platform names it, so heavy SDK knowledge never loads for another cloud.
A module exposes `RULES`, the facts validation needs about the cloud.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

CLOUDS = ("aws", "gcp", "azure")

# `validate` warns this long before a version leaves standard support.
SUPPORT_WARNING = timedelta(days=90)


@dataclass(frozen=True)
class KubernetesVersion:
    """One Kubernetes minor version on one cloud, from the cloud's calendar."""

    minor: str  # "1.35"
    released: date  # offered for new clusters from this day
    end_of_standard: date
    end_of_extended: date


def calendar(rows) -> tuple[KubernetesVersion, ...]:
    """A cloud's version calendar from (minor, released, end of standard,
    end of extended) rows of ISO dates."""
    return tuple(
        KubernetesVersion(minor, *(date.fromisoformat(day) for day in days))
        for minor, *days in rows
    )


@dataclass(frozen=True)
class ProviderRules:
    """What `crosswalk validate` knows about a cloud, without any SDK."""

    cloud: str
    title: str
    regions: frozenset[str]
    region_pattern: re.Pattern
    region_example: str
    machine_type_pattern: re.Pattern
    machine_type_example: str
    # The cloud's version calendar (newest first) and whether the clusters
    # crosswalk makes can run a version after standard support ends.
    kubernetes_service: str = ""  # "EKS"
    kubernetes_versions: tuple[KubernetesVersion, ...] = ()
    # What extended support is called, when crosswalk's clusters get it.
    extended_support: str | None = None
    # What enforces NetworkPolicies on the clusters crosswalk makes; None:
    # nothing does, so none are emitted (a policy nothing enforces is a lie).
    network_policy_enforcer: str | None = None
    needs_project: bool = False
    # Cloud-specific rules beyond the shared ones: Platform -> [Finding].
    extra_checks: Callable[[object], list[Finding]] = lambda platform: []
    # What starts an environment's names that must be unique (Platform -> the
    # parts), and whether they must be unique across every environment (Azure's
    # are global) or only among those sharing an account or project.
    name_scope: Callable[[object], tuple[str, ...]] = lambda platform: environment_scope(platform)
    global_names: bool = False


@dataclass(frozen=True)
class Finding:
    """A problem a cloud's own rules found; `path` points into platform.yaml
    (at the key itself when `key`)."""

    severity: str  # "error" | "warning"
    code: str  # CW5xx
    message: str
    path: tuple
    help: str | None = None
    key: bool = False


# A tag rule: the text -> what is wrong with it and a hint, or None when it is fine.
TagRule = Callable[[str], tuple[str, str] | None]


def check_tags(platform, what: str, key_rule: TagRule, value_rule: TagRule) -> list[Finding]:
    """CW513: the platform's tags by one cloud's rules (`what`: 'AWS tag',
    'GCP label'), each problem at its key or value."""
    found = []
    for key, value in platform.tags:
        problem = key_rule(key)
        if problem is not None:
            message, hint = problem
            found.append(
                Finding(
                    "error",
                    "CW513",
                    f"'{key}' is not {what} key: {message}",
                    ("tags", key),
                    hint,
                    key=True,
                )
            )
        problem = value_rule(value)
        if problem is not None:
            message, hint = problem
            found.append(
                Finding(
                    "error",
                    "CW513",
                    f"'{value}' is not {what} value: {message}",
                    ("tags", key),
                    hint,
                )
            )
    return found


def colliding_secret_names(platform, store: str, pattern: str) -> list[Finding]:
    """Two apps' secrets that the cloud would give one name, where it joins the
    app's and the secret's with a hyphen (app 'a-b' with secret 'c', app 'a'
    with secret 'b-c'). `store` names the secret manager, `pattern` its names."""
    found, seen = [], {}
    for app in platform.apps:
        for secret in app.secrets:
            name = f"{app.cloud_name}-{secret.name}"
            if name in seen:
                first_app, first_secret = seen[name]
                found.append(
                    Finding(
                        "error",
                        "CW509",
                        f"secret '{secret.name}' of app '{app.name}' would have the same "
                        f"{store} name as secret '{first_secret}' of app '{first_app}'",
                        secret.path + ("name",),
                        f"crosswalk names them {pattern}: rename one",
                    )
                )
            else:
                seen[name] = (app.name, secret.name)
    return found


def environment_scope(platform) -> tuple[str, ...]:
    """What starts the names a cloud keeps unique: the platform's name, then
    the environment's, unless the environment is the default one of its
    account, project or subscription (model.Placement), whose names stay as
    they were."""
    placement = platform.placement
    if placement is None or placement.first:
        return (platform.name,)
    return (platform.name, placement.environment)


def shortened(text: str, limit: int, separator: str = "-") -> str:
    """`text`, or when it is longer than `limit` a head of it and a stable hash
    of the whole (6 hex digits), so that two long names that differ only in
    their tails stay different."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return text[: limit - len(digest) - len(separator)].rstrip(separator) + separator + digest


def rules_for(cloud: str) -> ProviderRules:
    if cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}")
    return importlib.import_module(f"crosswalk.providers.{cloud}.rules").RULES


def kubernetes_version_findings(
    rules: ProviderRules, minor: str, today: date | None, path: tuple
) -> list[Finding]:
    """CW512 when the cloud does not offer `minor` (unknown, not yet released, or
    past its last day of support for crosswalk's clusters), CW609 from 90 days
    before its end of standard support. Without `today`, only unknown versions
    are judged: the calendar needs a date (the CLI passes the real one)."""
    known = {v.minor: v for v in rules.kubernetes_versions}
    found = known.get(minor)
    if found is None:
        return [
            Finding(
                "error",
                "CW512",
                f"Kubernetes {minor} is not a version {rules.kubernetes_service} offers",
                path,
                f"{rules.kubernetes_service} offers: {', '.join(_offered(rules, today))}",
            )
        ]
    if today is None:
        return []
    last_day = _last_day(rules, found)
    if today < found.released:
        return [
            Finding(
                "error",
                "CW512",
                f"Kubernetes {minor} is offered on {rules.kubernetes_service} from {found.released}",
                path,
                f"{rules.kubernetes_service} offers today: {', '.join(_offered(rules, today))}",
            )
        ]
    if today > last_day:
        ended = "extended" if rules.extended_support else "standard"
        return [
            Finding(
                "error",
                "CW512",
                f"Kubernetes {minor} left {ended} support on {rules.kubernetes_service} on {last_day}; "
                "new clusters cannot use it",
                path,
                _upgrade_help(rules, today),
            )
        ]
    if today > found.end_of_standard:
        return [
            Finding(
                "warning",
                "CW609",
                f"Kubernetes {minor} left standard support on {rules.kubernetes_service} on "
                f"{found.end_of_standard}; {rules.extended_support} ends {last_day}",
                path,
                _upgrade_help(rules, today),
            )
        ]
    if today >= found.end_of_standard - SUPPORT_WARNING:
        days = (found.end_of_standard - today).days
        when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
        return [
            Finding(
                "warning",
                "CW609",
                f"Kubernetes {minor} leaves standard support on {rules.kubernetes_service} on "
                f"{found.end_of_standard} ({when})",
                path,
                _upgrade_help(rules, today),
            )
        ]
    return []


def _offered(rules: ProviderRules, today: date | None) -> list[str]:
    """The versions a new cluster can use on `today` (all known ones without a date), oldest first."""
    return [
        v.minor
        for v in sorted(rules.kubernetes_versions, key=lambda v: v.released)
        if today is None or v.released <= today <= _last_day(rules, v)
    ]


def _last_day(rules: ProviderRules, version: KubernetesVersion) -> date:
    """The last day crosswalk's clusters may run `version` on the cloud."""
    return version.end_of_extended if rules.extended_support else version.end_of_standard


def _upgrade_help(rules: ProviderRules, today: date) -> str:
    lasting = [
        f"{v.minor} (until {v.end_of_standard})"
        for v in sorted(rules.kubernetes_versions, key=lambda v: v.released)
        if v.released <= today and v.end_of_standard - SUPPORT_WARNING > today
    ]
    return "upgrade to a version with more than 90 days of standard support left: " + ", ".join(
        lasting
    )
