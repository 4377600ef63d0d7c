"""Made-up outputs for the offline plan: what a fabricator is told about the
resource it answers for, deterministic fake values, and the tables of every
cloud's mocks module (`crosswalk.providers.<cloud>.mocks`) merged by type token."""

from __future__ import annotations

import base64
import hashlib
import importlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from crosswalk.compiler.mock_values import reveal


class MockError(Exception):
    """A request the mocks cannot answer, or that failed, with the program line that made it."""

    def __init__(self, message: str, source_line: int | None = None):
        super().__init__(message)
        self.source_line = source_line


class UnknownInvokeError(MockError):
    """An invoke or method call with no entry in the mock tables."""


def digest(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def fake_uuid(*parts: str) -> str:
    return str(uuid.UUID(hex=digest(*parts, length=32)))


def fake_ip(prefix: str, *parts: str) -> str:
    raw = bytes.fromhex(digest(*parts, length=4))
    return f"{prefix}.{raw[0] % 250 + 1}.{raw[1] % 250 + 1}"


def fake_cert(*parts: str) -> str:
    body = (
        f"-----BEGIN CERTIFICATE-----\nMOCK{digest(*parts, length=48)}\n-----END CERTIFICATE-----\n"
    )
    return base64.b64encode(body.encode()).decode()


def fake_kubeconfig(name: str, endpoint: str, ca: str, user: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": user}],
        "preferences": {},
    }


@dataclass
class Fabrication:
    """What a fabricator knows about the resource it makes outputs for."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    region: str
    project: str  # GCP project
    location: str  # Azure location
    account: str | None = None  # AWS: the one the provider allows, if it names one

    @property
    def module(self) -> str:
        parts = self.type.split(":")
        return parts[1].split("/")[0] if len(parts) > 1 else ""

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @property
    def physical_name(self) -> str:
        """The name the cloud would show: an explicit `name` input, else the resource name."""
        value = reveal(self.inputs.get("name"))
        return value if isinstance(value, str) and value else self.name

    def hex(self, length: int = 17) -> str:
        return digest(self.urn, length=length)


@dataclass
class InvokeContext:
    token: str
    args: dict[str, Any]
    region: str
    project: str
    location: str
    monitor: Any  # the RecordingMonitor answering the request
    account: str | None = None  # AWS: the one the provider allows, if it names one


def fixed_outputs(**values: Any) -> Callable[[Fabrication], dict[str, Any]]:
    return lambda f: dict(values)


def merge_outputs(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` updated with `over`, recursively for nested mappings; `over` wins."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_outputs(merged[key], value)
        else:
            merged[key] = value
    return merged


# Where each cloud's made-up values live (one mocks module each, beside its emitters).
MOCK_MODULES = (
    "crosswalk.providers.aws.mocks",
    "crosswalk.providers.gcp.mocks",
    "crosswalk.providers.azure.mocks",
    "crosswalk.providers.kubernetes.mocks",
    "crosswalk.providers.mocks",  # pulumi-random's, for every cloud
)


@dataclass(frozen=True)
class MockTables:
    """Every mocks module's tables, merged; `generic` by type-token package."""

    resource_outputs: dict[str, Callable[[Fabrication], dict[str, Any]]]
    output_shapes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]
    invoke_results: dict[str, Callable[[InvokeContext], dict[str, Any]]]
    method_results: dict[str, Callable[[InvokeContext], dict[str, Any]]]
    generic: dict[str, Callable[[Fabrication], tuple[str, dict[str, Any]]]]


@cache
def mock_tables() -> MockTables:
    tables = MockTables({}, {}, {}, {}, {})
    for name in MOCK_MODULES:
        module = importlib.import_module(name)
        tables.resource_outputs.update(module.RESOURCE_OUTPUTS)
        tables.output_shapes.update(module.OUTPUT_SHAPES)
        tables.invoke_results.update(module.INVOKE_RESULTS)
        tables.method_results.update(module.METHOD_RESULTS)
        for package in module.PACKAGES:
            tables.generic[package] = module.generic_outputs
    return tables


def generic_outputs(f: Fabrication) -> tuple[str, dict[str, Any]]:
    """Defaults for every resource: an id, a name, and the cloud's usual identifiers."""
    package = f.type.split(":", 1)[0]
    cloud = mock_tables().generic.get(package)
    if cloud is not None:
        ident, out = cloud(f)
    elif package == "pulumi" and f.type.startswith("pulumi:providers:"):
        ident, out = fake_uuid(f.urn), {}
    else:
        ident, out = f.physical_name, {"name": f.physical_name}
    out["id"] = ident
    return ident, out
