"""Cloud provider backends.

Each cloud lives in its own module (`aws`, `gcp`, `azure`), imported only when
a platform names it, so heavy SDK knowledge never loads for another cloud.
A module exposes `RULES`, the facts validation needs about the cloud.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

CLOUDS = ("aws", "gcp", "azure")


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
    needs_project: bool = False
    # Cloud-specific rules beyond the shared ones: Platform -> [Finding].
    extra_checks: Callable[[object], list[Finding]] = lambda platform: []


@dataclass(frozen=True)
class Finding:
    """A problem a cloud's own rules found; `path` points into platform.yaml."""

    severity: str  # "error" | "warning"
    code: str  # CW5xx
    message: str
    path: tuple
    help: str | None = None


def rules_for(cloud: str) -> ProviderRules:
    if cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}")
    return importlib.import_module(f"crosswalk.providers.{cloud}.rules").RULES
