"""The Helm charts crosswalk pins: each release current (dated, with its
source), and each supporting the Kubernetes version the samples, the starters
and the schema's default use."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from crosswalk.providers.kubernetes.charts import CHARTS, autoscaler_image_tag
from crosswalk.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent


def minor(version: str) -> tuple[int, int]:
    major, minor_ = version.split(".")
    return int(major), int(minor_)


def declared_versions() -> set[str]:
    """The cluster version of every sample and starter, and the schema's default."""
    found = {load_schema()["properties"]["cluster"]["properties"]["version"]["default"]}
    for path in [*ROOT.glob("samples/*/platform.yaml"), *ROOT.glob("compiler/starters/*.yaml")]:
        found.update(re.findall(r'^  version: "(1\.[0-9]+)"', path.read_text(), re.MULTILINE))
    return found


def test_the_samples_starters_and_default_agree() -> None:
    assert declared_versions() == {"1.35"}


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_each_pin_supports_the_declared_version(key: str) -> None:
    chart = CHARTS[key]
    low, high = chart.kubernetes
    for version in declared_versions():
        assert low is None or minor(low) <= minor(version), f"{key} {chart.version}: {version}"
        assert high is None or minor(version) <= minor(high), f"{key} {chart.version}: {version}"
    if low is not None and high is not None:
        assert minor(low) <= minor(high)


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_each_pin_is_dated_and_sourced(key: str) -> None:
    chart = CHARTS[key]
    released = date.fromisoformat(chart.released)
    # The pins were read from the projects' repositories in August 2026.
    assert date(2026, 1, 1) <= released <= date(2026, 8, 31), key
    assert chart.support_source and chart.version and chart.namespace
    assert (chart.repo is None) == chart.chart.startswith("oci://")


def test_a_chart_outside_its_range_is_caught() -> None:
    """The check above can fail: Kyverno 3.9 supports Kubernetes 1.33 to 1.35."""
    low, high = CHARTS["kyverno"].kubernetes
    assert (low, high) == ("1.33", "1.35")
    assert minor("1.36") > minor(high)


def test_the_autoscaler_image_follows_the_cluster_version() -> None:
    assert autoscaler_image_tag("1.35") == "v1.35.2"
    assert autoscaler_image_tag("1.36") == "v1.36.1"
    assert autoscaler_image_tag("1.34") == "v1.34.0"


def test_the_readme_lists_every_pin_and_namespace_level() -> None:
    from crosswalk.providers.kubernetes.charts import PLATFORM_NAMESPACES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for chart in CHARTS.values():
        assert f"| `{chart.chart}` | {chart.version} | {chart.released} |" in readme, chart
    for namespace, (level, _) in PLATFORM_NAMESPACES.items():
        assert f"| `{namespace}` | {level} |" in readme, namespace
