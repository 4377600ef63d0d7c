"""Run one emitted program the way Pulumi's language host would, in-process and
isolated (its own context, event loop, working directory and modules), against
the recording monitor of `mocks`, and explain a failure by the program line
that caused it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import os
import runpy
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from crosswalk.compiler.mock_outputs import MockError
from crosswalk.compiler.mocks import ResourceRecord, monitor_class


class Engine:
    """The engine's `Log` endpoint: messages are kept for the report."""

    def __init__(self, logs: list[tuple[str, str]]):
        self._logs = logs

    def Log(self, request: Any) -> None:
        from pulumi.runtime.proto import engine_pb2

        severity = {
            engine_pb2.DEBUG: "debug",
            engine_pb2.INFO: "info",
            engine_pb2.WARNING: "warning",
            engine_pb2.ERROR: "error",
        }.get(request.severity, "info")
        if severity != "debug":
            self._logs.append((severity, request.message))


@dataclass
class ProgramRun:
    """The outcome of running one program: its records, exports and, if it failed, why."""

    project: str
    stack: str
    resources: list[ResourceRecord]
    exports: dict[str, Any]  # may hold Secret values
    logs: list[tuple[str, str]]  # (severity, message)
    error: BaseException | None
    error_line: int | None  # line in __main__.py the failure points at
    error_detail: str | None  # what the program was doing, when the error itself does not say
    error_traceback: str | None  # the formatted traceback, for debugging crosswalk itself
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


@contextlib.contextmanager
def _program_environment(program_dir: Path) -> Iterator[None]:
    """cwd = the program's folder, on sys.path first, its helper modules fresh and purged after."""
    local_names = {p.stem for p in program_dir.glob("*.py")} | {
        p.name for p in program_dir.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    shadowed = {
        name: module
        for name, module in sys.modules.items()
        if name.split(".")[0] in local_names and name != "__main__"
    }
    for name in shadowed:
        del sys.modules[name]
    before = set(sys.modules)
    old_cwd, old_path, old_argv = os.getcwd(), list(sys.path), list(sys.argv)
    os.chdir(program_dir)
    sys.path.insert(0, str(program_dir))
    sys.argv = [str(program_dir / "__main__.py")]
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        sys.argv = old_argv
        root = str(program_dir) + os.sep
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            origin = getattr(module, "__file__", None) or ""
            if name.split(".")[0] in local_names or origin.startswith(root):
                del sys.modules[name]
        sys.modules.update(shadowed)


@dataclass
class _FailureSite:
    line: int | None  # in __main__.py
    detail: str | None  # e.g. "while registering kubernetes:core/v1:ConfigMap 'settings'"


def _tb_frames(tb: Any) -> Iterator[tuple[Any, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _frames(exc: BaseException) -> Iterator[tuple[BaseException, Any, int]]:
    """(exception, frame, line) for an exception and its causes, innermost frames last."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame, line in _tb_frames(current.__traceback__):
            yield current, frame, line
        current = current.__cause__ or current.__context__


def _main_line(exc: BaseException, main: Path) -> int | None:
    lines = [line for _, frame, line in _frames(exc) if frame.f_code.co_filename == str(main)]
    return lines[-1] if lines else None


def _failure_site(
    exc: BaseException, main: Path, program_line: int | None, tracebacks: list[Any]
) -> _FailureSite:
    """Where in the program a failure comes from.

    First the deepest frame in `main` when the failure passed through the program (captured as
    it did: the SDK re-raises the same exception object from its RPC queue, which replaces its
    traceback); else the line a mock noted; else, for failures that surface asynchronously (an
    Output that raised while a resource's inputs were being resolved), the construction site the
    SDK captured for the first registration that failed.
    """
    line = program_line or _main_line(exc, main)
    if line:
        return _FailureSite(line, None)
    for current, _, _ in _frames(exc):
        if isinstance(current, MockError) and current.source_line:
            return _FailureSite(current.source_line, None)
    for tb in tracebacks:
        for frame, _ in _tb_frames(tb):
            if frame.f_code.co_name != "do_register" or "ty" not in frame.f_locals:
                continue
            local = frame.f_locals
            detail = f"while registering {local['ty']} {local.get('name')!r}"
            position = local.get("source_position")
            line = None
            if position is not None and unquote(urlparse(position.uri).path) == str(main):
                line = position.line or None
            return _FailureSite(line, detail)
    return _FailureSite(None, None)


def _explain(exc: BaseException, tracebacks: list[Any]) -> str | None:
    """A plainer reading of failures whose own message says little."""
    if isinstance(exc, KeyError):
        for tb in tracebacks:
            for frame, _ in _tb_frames(tb):
                if not frame.f_code.co_filename.endswith(
                    os.path.join("pulumi", "stack_reference.py")
                ):
                    continue
                pair = frame.f_locals.get("l")
                if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], dict):
                    known = ", ".join(sorted(pair[1])) or "none"
                    return (
                        f"StackReference.require_output({pair[0]!r}): the upstream stack exports "
                        f"no {pair[0]!r} (it exports: {known})"
                    )
    return None


def run_program(
    program_dir: Path,
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    organization: str = "organization",
) -> ProgramRun:
    """Run `program_dir/__main__.py` under the mock runtime and record what it registers.

    `config` maps `<namespace>:<key>` to strings (objects as JSON), as the CLI passes them.
    `stack_outputs` maps upstream project names to their exports (values may be `Secret`):
    `StackReference("<org>/<project>/<stack>")` reads them when `<org>` is `organization`,
    what `pulumi.get_organization()` returns (a self-managed backend's is "organization";
    Pulumi Cloud's is the account's). Runs in a copy of the current
    context with its own settings, config and event loop, so runs do not see each other, and a
    failed run leaves nothing behind.
    """
    program_dir = Path(program_dir).resolve()
    try:
        import pulumi.runtime.mocks  # noqa: F401 - the one import everything here needs
    except ImportError as exc:
        return ProgramRun(
            project=project,
            stack=stack,
            resources=[],
            exports={},
            logs=[],
            error=exc,
            error_line=None,
            error_detail=None,
            error_traceback=None,
            seconds=0.0,
        )
    context = contextvars.copy_context()
    with _without_shell_config():
        return context.run(
            _run_in_context,
            program_dir,
            project,
            stack,
            dict(config),
            list(secret_keys or []),
            dict(stack_outputs or {}),
            organization,
        )


@contextlib.contextmanager
def _without_shell_config() -> Iterator[None]:
    """The SDK falls back to PULUMI_CONFIG* environment variables for config a
    program does not find; a plan must see only the stack's own config."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("PULUMI_CONFIG")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def _run_in_context(
    program_dir: Path,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    stack_outputs: dict[str, Mapping[str, Any]],
    organization: str,
) -> ProgramRun:
    started = time.perf_counter()
    main = program_dir / "__main__.py"
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.mocks import MockSettings
    from pulumi.runtime.stack import run_in_stack

    monitor = monitor_class()(
        program=main,
        stack_outputs=stack_outputs,
        stack=stack,
        config=config,
        organization=organization,
    )
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
    settings = MockSettings(
        monitor=monitor,
        engine=Engine(monitor.logs),
        monitor_features=features,
        project=project,
        stack=stack,
        dry_run=False,
        organization=organization,
        root_directory=str(program_dir),
        parallel=None,
        legacy_apply_enabled=False,
        callbacks=None,
        outputs=set(),
        lock=threading.Lock(),
        package_refs={},
        base_providers_by_ref={},
    )
    runtime_settings.configure(settings)
    runtime_settings.ROOT.set(None)
    runtime_config.set_all_config(config, secret_keys)

    rpc_manager = runtime_settings._get_rpc_manager()  # MockSettings made a fresh one
    previous_loop = _current_loop()
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet_exception_handler)
    asyncio.set_event_loop(loop)
    error: BaseException | None = None
    failure = _Failure()
    program_lines: list[int | None] = []

    def program() -> None:
        try:
            runpy.run_path(str(main), run_name="__main__")
        except BaseException as exc:
            program_lines.append(_main_line(exc, main))
            raise

    try:
        with _program_environment(program_dir):
            loop.run_until_complete(run_in_stack(program))
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a program is a failure too
        error = exc
        failure.tracebacks.append(exc.__traceback__)  # before the SDK re-raises it with another
    finally:
        with warnings.catch_warnings():
            # A failed program leaves coroutines that never ran; they warn when collected.
            warnings.simplefilter("ignore", RuntimeWarning)
            if error is not None:
                _settle(loop)
                failure.analyse(
                    error,
                    main,
                    program_lines[0] if program_lines else None,
                    _rpc_failures(rpc_manager),
                )
                error = failure.error
                rpc_manager.clear()
            _close_loop(loop, failed=error is not None)
        asyncio.set_event_loop(previous_loop)

    with monitor._lock:
        records = sorted(monitor.records.values(), key=lambda r: r.urn)
    return ProgramRun(
        project=project,
        stack=stack,
        resources=records,
        exports=dict(sorted(monitor.exports.items())),
        logs=list(monitor.logs),
        error=error,
        error_line=failure.line,
        error_detail=failure.detail,
        error_traceback=failure.text,
        seconds=time.perf_counter() - started,
    )


@dataclass
class _Failure:
    """What a failed run's tracebacks say, read once and then let go.

    The tracebacks hold the frames of everything the failed program left half done (coroutines
    that never ran among them); dropping them before the loop closes lets that garbage go quietly
    instead of warning at interpreter exit.
    """

    tracebacks: list[Any] = field(default_factory=list)
    error: BaseException | None = None
    line: int | None = None
    detail: str | None = None
    text: str | None = None

    def analyse(
        self,
        error: BaseException,
        main: Path,
        program_line: int | None,
        rpc_failures: list[tuple[BaseException, Any]],
    ) -> None:
        """Pick the failure to report and where it comes from.

        When several registrations fail, which one the SDK raises depends on thread timing; the
        one earliest in the program is reported, so the same program always gives one answer.
        """
        own = self.tracebacks + [tb for exc, tb in rpc_failures if exc is error]
        chosen, site, tracebacks = error, _failure_site(error, main, program_line, own), own
        for exc, tb in rpc_failures:
            if exc is error:
                continue
            other = _failure_site(exc, main, None, [tb])
            if other.line is not None and (site.line is None or other.line < site.line):
                chosen, site, tracebacks = exc, other, [tb]
        self.error = chosen
        self.line = site.line
        self.detail = "; ".join(p for p in (_explain(chosen, tracebacks), site.detail) if p) or None
        self.text = "".join(traceback.format_exception(chosen))
        self.tracebacks.clear()
        for exc in [error, chosen, *(exc for exc, _ in rpc_failures)]:
            _drop_tracebacks(exc)


def _drop_tracebacks(error: BaseException) -> None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A failed program leaves Output futures nobody awaited; their failure is already reported."""
    if "exception was never retrieved" in str(context.get("message", "")):
        return
    loop.default_exception_handler(context)


def _settle(loop: asyncio.AbstractEventLoop, timeout: float = 2.0) -> None:
    """Give registrations still in flight after a failure a moment to fail with their own error."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=timeout))


def _rpc_failures(rpc_manager: Any) -> list[tuple[BaseException, Any]]:
    """The RPCs that failed, each with its traceback as it was when it failed."""
    failures = []
    if rpc_manager.unhandled_exception is not None:
        failures.append((rpc_manager.unhandled_exception, rpc_manager.exception_traceback))
    for rpc in list(rpc_manager.rpcs):
        if isinstance(rpc, asyncio.Future) and rpc.done() and not rpc.cancelled():
            exc = rpc.exception()
            if exc is not None:
                failures.append((exc, getattr(rpc, "_exception_tb", None) or exc.__traceback__))
    return failures


def _current_loop() -> asyncio.AbstractEventLoop | None:
    policy = asyncio.get_event_loop_policy()
    local = getattr(policy, "_local", None)
    return getattr(local, "_loop", None) if local is not None else None


def _close_loop(loop: asyncio.AbstractEventLoop, *, failed: bool = False) -> None:
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
        if failed:
            gc.collect()  # the failed run's garbage, while its warnings are silenced
