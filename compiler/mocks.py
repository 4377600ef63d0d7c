"""Run one emitted Pulumi program in-process under the SDK's mock runtime and record it.

This is the engine half of `crosswalk plan --offline`: no Pulumi CLI, no provider plugins, no
cloud. The program runs the way the language host runs it (`run_in_stack` around
`runpy.run_path`), with the real provider SDKs, against `RecordingMonitor`, a subclass of the
SDK's `MockMonitor` that records every request exactly as the engine would receive it (type,
name, parent, provider, dependencies, property dependencies, inputs) and answers it with
outputs made up from tables by type token (`RESOURCE_OUTPUTS`, `INVOKE_RESULTS`,
`METHOD_RESULTS` in each cloud's `crosswalk.providers.<cloud>.mocks`, merged by
`mock_outputs.mock_tables`) plus generic defaults.

Why not the stock `pulumi.runtime.set_mocks`: it never shows parents, providers or
dependencies to the mocks, has no `Call`, hangs when an input is a resource reference (it
rehydrates the resource on an executor thread whose event loop never runs) and finishes the
root stack at once, so exports never arrive (see notes/pulumi-without-cli.md). The price is that
this module touches SDK internals; they are pinned to `PINNED_PULUMI` and
`check_sdk()` says loudly what moved when an upgrade breaks them.

Nothing here knows about platform.yaml: `plan.py` owns the tree. Values on the wire are
`mock_values`'; made-up outputs are `mock_outputs`'s.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from crosswalk.compiler.mock_outputs import (
    Fabrication,
    InvokeContext,
    MockError,
    UnknownInvokeError,
    fixed_outputs,
    generic_outputs,
    merge_outputs,
    mock_tables,
)
from crosswalk.compiler.mock_values import (
    WIRE_SIGNATURES,
    contains_secret,
    decode_struct,
    encode_struct,
)

PINNED_PULUMI = "3.272.0"


@dataclass
class ResourceRecord:
    """One resource as the engine would have seen it."""

    urn: str
    type: str
    name: str
    operation: str  # "register" or "read"
    custom: bool
    remote: bool
    id: str | None
    parent: str | None
    provider: str | None  # the provider's URN
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict[str, Any]  # may hold Secret / UNKNOWN values: use mask() before display
    outputs: dict[str, Any] = field(repr=False, default_factory=dict)
    source_line: int | None = None  # line in the program's __main__.py that created it
    origin: str | None = None  # set by the caller: the YAML path cited, e.g. "apps.shop.ingress"
    # Resource options the engine acts on: the names this resource had before
    # (each a dict of the alias spec's set fields, or {"urn": ...}), `protect`
    # (Pulumi refuses to delete or replace it) and `retain_on_delete` (a destroy
    # leaves it in the cloud), `delete_before_replace` (a replacement deletes
    # the old resource before it creates the new one, which takes its name),
    # `custom_timeouts` (how long the engine waits for it: {"create": "660s"}),
    # `ignore_changes` (the inputs an update leaves as they are in the cloud).
    aliases: list[dict[str, Any]] = field(default_factory=list)
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    ignore_changes: list[str] = field(default_factory=list)


# Package of a type token -> the cloud whose provider settings (region...) apply to it.
# --------------------------------------------------------------------------------------------
# The monitor.


_CLOUD_OF_PACKAGE = {
    "aws": "aws",
    "eks": "aws",
    "awsx": "aws",
    "gcp": "gcp",
    "azure-native": "azure-native",
}


def _provider_urn(reference: str) -> str | None:
    """`urn::id` -> `urn` (provider references carry the provider's id after the URN)."""
    if not reference:
        return None
    urn, sep, _ = reference.rpartition("::")
    return urn if sep else reference


def _aliases(request: Any) -> list[dict[str, Any]]:
    """The aliases of a register request, as plain data: the SDK sends full
    specs (the mock monitor supports them) or, from older SDKs, bare URNs."""
    found: list[dict[str, Any]] = []
    for alias in request.aliases:
        if alias.HasField("spec"):
            spec = alias.spec
            fields = {
                "name": spec.name,
                "type": spec.type,
                "stack": spec.stack,
                "project": spec.project,
                "parentUrn": spec.parentUrn,
            }
            entry: dict[str, Any] = {key: value for key, value in fields.items() if value}
            if spec.noParent:
                entry["noParent"] = True
            found.append(entry)
        elif alias.urn:
            found.append({"urn": alias.urn})
    found += [{"urn": urn} for urn in request.aliasURNs]
    return found


def _first_identity(request: Any, urn: str) -> tuple[str, str]:
    """The name and URN a resource's outputs are made up from: a renamed one
    (its first alias names it by its first name) keeps what it was created
    with, as Pulumi keeps its real outputs; any other, its own."""
    aliases = list(getattr(request, "aliases", ()))
    if aliases and aliases[0].HasField("spec") and aliases[0].spec.name:
        spec = aliases[0].spec
        if not (spec.type or spec.stack or spec.project or spec.parentUrn or spec.noParent):
            return spec.name, urn.rsplit("::", 1)[0] + "::" + spec.name
    return request.name, urn


def _stack_output_record(exports: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "outputs": dict(exports),
        "secretOutputNames": sorted(k for k, v in exports.items() if contains_secret(v)),
    }


def _make_monitor_class() -> type:
    from pulumi.runtime.mocks import MockMonitor, Mocks

    class _NoMocks(Mocks):
        """`MockMonitor.mocks`: every request is answered by RecordingMonitor itself; only the
        stack transforms the stock monitor hands over arrive here, and they are not run."""

        def __init__(self, logs: list[tuple[str, str]]):
            self._logs = logs

        def register_transform(self, transform: Any) -> None:
            name = getattr(transform, "__name__", transform)
            message = (
                f"stack transform {name!r} is not applied offline: resources are shown before it"
            )
            self._logs.append(("warning", message))

        def register_invoke_transform(self, transform: Any) -> None:
            name = getattr(transform, "__name__", transform)
            self._logs.append(("warning", f"invoke transform {name!r} is not applied offline"))

        def call(self, args: Any) -> Any:  # pragma: no cover - never reached
            raise MockError(f"unexpected mock call {args.token!r}")

        def new_resource(self, args: Any) -> Any:  # pragma: no cover - never reached
            raise MockError(f"unexpected mock resource {args.typ!r}")

    class RecordingMonitor(MockMonitor):  # type: ignore[misc, valid-type]
        """A `MockMonitor` that records raw requests and never rehydrates resource references."""

        def __init__(
            self,
            *,
            program: Path,
            stack_outputs: Mapping[str, Mapping[str, Any]],
            stack: str,
            config: Mapping[str, str],
            organization: str,
        ):
            self.logs: list[tuple[str, str]] = []
            super().__init__(mocks=_NoMocks(self.logs))
            self.program = program
            self.stack_outputs = stack_outputs
            self.stack_name = stack
            self.organization = organization
            self.config = config
            self.records: dict[str, ResourceRecord] = {}
            self.stack_urn: str | None = None
            self.exports: dict[str, Any] = {}
            self._lock = threading.Lock()

        # -- bookkeeping -----------------------------------------------------------------
        def record(self, urn: str) -> ResourceRecord | None:
            with self._lock:
                return self.records.get(urn)

        def _source_line(self, request: Any) -> int | None:
            main = str(self.program)
            for frame in request.stackTrace.frames:
                uri = frame.pc.uri
                if uri and unquote(urlparse(uri).path) == main:
                    return frame.pc.line or None
            return None

        def _setting(self, provider: str | None, key: str, config_key: str, default: str) -> str:
            record = self.record(provider) if provider else None
            if record is not None and isinstance(record.inputs.get(key), str):
                return record.inputs[key]
            return self.config.get(config_key) or default

        def _context(
            self, provider: str | None, typ: str, providers: Mapping[str, str] | None = None
        ):
            """Region, GCP project and Azure location for made-up values, from the provider in use."""
            cloud = _CLOUD_OF_PACKAGE.get(typ.split(":", 1)[0], "aws")
            if providers and cloud in providers:
                provider = provider or _provider_urn(providers[cloud])
            return {
                "region": self._setting(
                    provider,
                    "region",
                    f"{cloud}:region",
                    "us-central1" if cloud == "gcp" else "us-west-2",
                ),
                "project": self._setting(provider, "project", "gcp:project", "crosswalk-plan"),
                "location": self._setting(
                    provider, "location", "azure-native:location", "westeurope"
                ),
                "account": self._account(provider),
            }

        def _account(self, provider: str | None) -> str | None:
            """The AWS account a provider allows (its first), if it names one."""
            record = self.record(provider) if provider else None
            allowed = record.inputs.get("allowedAccountIds") if record is not None else None
            if isinstance(allowed, str):
                try:
                    allowed = json.loads(allowed)
                except ValueError:
                    return None
            if isinstance(allowed, list) and allowed and isinstance(allowed[0], str):
                return allowed[0]
            return None

        def _fabricate(self, request: Any, urn: str, inputs: dict[str, Any], provider: str | None):
            typ = request.type
            providers = dict(getattr(request, "providers", None) or {})
            name, urn = _first_identity(request, urn)
            fabrication = Fabrication(
                typ, name, urn, inputs, **self._context(provider, typ, providers)
            )
            tables = mock_tables()
            ident, generic = generic_outputs(fabrication)
            specific = tables.resource_outputs.get(typ, fixed_outputs())(fabrication)
            echoed = tables.output_shapes.get(typ, dict)(inputs)
            outputs = merge_outputs(merge_outputs(generic, specific), echoed)
            if "id" in specific:
                ident = specific["id"]
            outputs["id"] = ident
            return str(ident), outputs

        # -- the ResourceMonitor service ---------------------------------------------------
        def RegisterResource(self, request: Any) -> Any:
            from pulumi.runtime.proto import resource_pb2

            urn = self.make_urn(request.parent, request.type, request.name)
            if request.type == "pulumi:pulumi:Stack":
                self.stack_urn = urn
                return resource_pb2.RegisterResourceResponse(urn=urn)
            source_line = self._source_line(request)
            if len(request.transforms):
                self.logs.append(
                    (
                        "warning",
                        f"{request.type} {request.name!r}: its transforms are not applied offline",
                    )
                )
            try:
                inputs = decode_struct(request.object)
                provider = _provider_urn(request.provider)
                ident: str | None = None
                outputs: dict[str, Any] = {}
                if request.custom or request.remote:
                    ident, outputs = self._fabricate(request, urn, inputs, provider)
                record = ResourceRecord(
                    urn=urn,
                    type=request.type,
                    name=request.name,
                    operation="register",
                    custom=bool(request.custom),
                    remote=bool(request.remote),
                    id=ident if request.custom else None,
                    parent=request.parent or None,
                    provider=provider,
                    dependencies=sorted(set(request.dependencies)),
                    property_dependencies={
                        key: sorted(set(deps.urns))
                        for key, deps in request.propertyDependencies.items()
                    },
                    inputs=inputs,
                    outputs=outputs,
                    source_line=source_line,
                    aliases=_aliases(request),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    custom_timeouts={
                        key: value
                        for key in ("create", "update", "delete")
                        if (value := getattr(request.customTimeouts, key))
                    },
                    ignore_changes=sorted(request.ignoreChanges),
                )
            except MockError:
                raise
            except Exception as exc:
                raise MockError(
                    f"mock failed on {request.type} {request.name!r}: {exc}", source_line
                ) from exc
            with self._lock:
                if urn in self.records:
                    raise MockError(f"duplicate resource URN {urn}", source_line)
                self.records[urn] = record
            if not (request.custom or request.remote):
                return resource_pb2.RegisterResourceResponse(urn=urn)
            return resource_pb2.RegisterResourceResponse(
                urn=urn, id=record.id or "", object=encode_struct(outputs)
            )

        def RegisterResourceOutputs(self, request: Any) -> Any:
            from google.protobuf import empty_pb2

            outputs = decode_struct(request.outputs)
            if request.urn == self.stack_urn:
                self.exports = outputs
            else:
                record = self.record(request.urn)
                if record is not None:
                    record.outputs = merge_outputs(record.outputs, outputs)
            return empty_pb2.Empty()

        def ReadResource(self, request: Any) -> Any:
            from pulumi.runtime.proto import resource_pb2

            urn = self.make_urn(request.parent, request.type, request.name)
            source_line = self._source_line(request)
            inputs = decode_struct(request.properties)
            provider = _provider_urn(request.provider)
            if request.type == "pulumi:pulumi:StackReference":
                name = str(inputs.get("name") or request.id)
                own = urn.split("::")[1]
                ident, outputs = (
                    name,
                    {
                        "name": name,
                        **self._stack_reference(name, source_line, own),
                    },
                )
            else:
                ident, outputs = self._fabricate(request, urn, inputs, provider)
                ident = request.id or ident
            record = ResourceRecord(
                urn=urn,
                type=request.type,
                name=request.name,
                operation="read",
                custom=True,
                remote=False,
                id=ident,
                parent=request.parent or None,
                provider=provider,
                dependencies=sorted(set(request.dependencies)),
                property_dependencies={},
                inputs=inputs,
                outputs=outputs,
                source_line=source_line,
            )
            with self._lock:
                self.records[urn] = record
            return resource_pb2.ReadResourceResponse(urn=urn, properties=encode_struct(outputs))

        def _stack_reference(
            self, name: str, source_line: int | None, own: str = ""
        ) -> dict[str, Any]:
            parts = name.split("/")
            if len(parts) != 3:
                raise MockError(
                    f"StackReference {name!r}: expected 'organization/project/stack'", source_line
                )
            organization, project, stack = parts
            if organization != self.organization:
                raise MockError(
                    f"StackReference {name!r} reads organization {organization!r}, but this plan "
                    f"runs in {self.organization!r} (pulumi.get_organization())",
                    source_line,
                )
            if stack != self.stack_name:
                raise MockError(
                    f"StackReference {name!r} reads stack {stack!r}, but this plan is for {self.stack_name!r}",
                    source_line,
                )
            if project == own and project not in self.stack_outputs:
                # A stack reading its own last outputs: offline, it was never deployed.
                return _stack_output_record({})
            if project not in self.stack_outputs:
                known = ", ".join(sorted(self.stack_outputs)) or "none"
                raise MockError(
                    f"StackReference {name!r}: project {project!r} has not been planned before this "
                    f"stack (is it missing from dependsOn?); planned so far: {known}",
                    source_line,
                )
            return _stack_output_record(self.stack_outputs[project])

        def Invoke(self, request: Any) -> Any:
            from pulumi.runtime.proto import resource_pb2

            args = decode_struct(request.args)
            if request.tok == "pulumi:pulumi:getResource":
                record = self.record(str(args.get("urn")))
                if record is None:
                    raise MockError(f"getResource: unknown resource {args.get('urn')!r}")
                result = {"urn": record.urn, "id": record.id or "", "state": record.outputs}
            else:
                result = self._answer(
                    mock_tables().invoke_results, "invoke", request.tok, args, request.provider
                )
            return resource_pb2.ResourceInvokeResponse(**{"return": encode_struct(result)})

        def Call(self, request: Any) -> Any:
            from pulumi.runtime.proto import provider_pb2

            args = decode_struct(request.args)
            result = self._answer(
                mock_tables().method_results, "method", request.tok, args, request.provider
            )
            return provider_pb2.CallResponse(**{"return": encode_struct(result)})

        def _answer(self, table, what: str, token: str, args: dict[str, Any], provider: str):
            handler = table.get(token)
            if handler is None:
                raise UnknownInvokeError(
                    f"no offline answer for {what} {token!r}: add it to "
                    f"{'INVOKE_RESULTS' if what == 'invoke' else 'METHOD_RESULTS'} in the "
                    "mocks module of its cloud (crosswalk.providers.<cloud>.mocks)"
                )
            context = InvokeContext(
                token, args, monitor=self, **self._context(_provider_urn(provider), token)
            )
            return handler(context)

        def SignalAndWaitForShutdown(self, request: Any) -> Any:
            from google.protobuf import empty_pb2

            return empty_pb2.Empty()

    return RecordingMonitor


_MONITOR_CLASS: type | None = None


def monitor_class() -> type:
    """`RecordingMonitor`, built on first use so that importing this module needs no pulumi."""
    global _MONITOR_CLASS
    if _MONITOR_CLASS is None:
        _MONITOR_CLASS = _make_monitor_class()
    return _MONITOR_CLASS


def check_sdk() -> list[str]:
    """The SDK internals this module relies on that are missing or changed (empty when fine)."""
    problems: list[str] = []
    try:
        from importlib.metadata import version

        found = version("pulumi")
    except Exception as exc:  # noqa: BLE001
        return [f"pulumi is not installed ({exc})"]
    if found != PINNED_PULUMI:
        problems.append(f"pulumi {found} is installed; crosswalk plan is pinned to {PINNED_PULUMI}")
    import inspect

    from pulumi.runtime import config, mocks, rpc, settings, stack

    expectations = [
        (mocks, "MockMonitor"),
        (mocks, "MockSettings"),
        (settings, "configure"),
        (settings, "ROOT"),
        (stack, "run_in_stack"),
        (config, "set_all_config"),
        (rpc, "_special_sig_key"),
    ]
    for module, name in expectations:
        if not hasattr(module, name):
            problems.append(f"{module.__name__}.{name} is gone")
    for name, expected in WIRE_SIGNATURES.items():
        if getattr(rpc, name, None) != expected:
            problems.append(f"pulumi.runtime.rpc.{name} changed")
    if hasattr(mocks, "MockMonitor"):
        for method in (
            "RegisterResource",
            "RegisterResourceOutputs",
            "ReadResource",
            "Invoke",
            "make_urn",
        ):
            if not hasattr(mocks.MockMonitor, method):
                problems.append(f"MockMonitor.{method} is gone")
    if hasattr(stack, "run_in_stack") and list(
        inspect.signature(stack.run_in_stack).parameters
    ) != ["func"]:
        problems.append("pulumi.runtime.stack.run_in_stack(func) changed its signature")
    settings_names = [
        "monitor",
        "engine",
        "project",
        "stack",
        "dry_run",
        "organization",
        "root_directory",
        "rpc_manager",
        "outputs",
        "lock",
        "monitor_features",
        "package_refs",
        "base_providers_by_ref",
        "callbacks",
        "legacy_apply_enabled",
        "parallel",
    ]
    for name in settings_names:
        if not hasattr(settings.Settings, name):
            problems.append(f"pulumi.runtime.settings.Settings.{name} is gone")
    return problems
