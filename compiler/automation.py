"""The real `Runner`: each compiled stack through the Pulumi Automation API.

The only module that imports `pulumi.automation`, and only when a runner is
made, so every other command works without the Pulumi SDK or CLI. Everything
up to the CLI boundary is a pure function that tests can call:

- `cli_problem`: what is missing (the `pulumi` CLI, the SDK) and how to get it;
- `resolve_state`: the backend URL (PULUMI_BACKEND_URL, then `state.backend`,
  then a local file backend under `.crosswalk/state/` next to platform.yaml)
  and its secrets provider (`state.secretsProvider`, else the backend's
  default); `check_secrets`: the passphrase is there;
- `workspace_spec` / `workspace_options`: the LocalWorkspaceOptions,
  environment and config one stack's workspace gets.

Each stack gets one `LocalWorkspace` on its project directory of the compiled
tree and `create_or_select_stack(<env>)`, so the CLI reads the project and the
stack's config from the compiled `Pulumi.yaml` and `Pulumi.<env>.yaml`, exactly
as a plain `pulumi up` in that directory would; nothing in the tree is
rewritten (what Pulumi adds to a stack's file, such as the passphrase salt,
survives recompiles). StackReferences name the stack's own organization
(`pulumi.get_organization()`). All stacks share one virtualenv,
`.crosswalk/venv/`: a stack directory without a `venv/` of its own gets a
link to it, where Pulumi.yaml's `virtualenv: venv` looks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crosswalk.compiler.apply import UNCHANGED_OPS, StackFailed, StackIO, StackOutcome, StackSpec

INSTALL_URL = "https://www.pulumi.com/docs/install/"
STATE_DIR = Path(".crosswalk") / "state"
VENV_DIR = Path(".crosswalk") / "venv"
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
# Backends whose stacks encrypt secrets with a passphrase by default ("DIY"
# backends); Pulumi Cloud (https://) manages secrets itself.
PASSPHRASE_SCHEMES = ("file", "s3", "gs", "azblob", "postgres")


# --- what must be installed --------------------------------------------------


def cli_problem(command: str, which=shutil.which) -> str | None:
    """Why `crosswalk <command>` cannot run here, or None when it can."""
    if which("pulumi") is None:
        return (
            f"crosswalk {command} runs the compiled stacks with the Pulumi CLI, and 'pulumi' "
            "is not on PATH.\n"
            f"Install it ({INSTALL_URL}):\n"
            "  curl -fsSL https://get.pulumi.com | sh     # Linux, macOS\n"
            "  brew install pulumi/tap/pulumi             # macOS (Homebrew)\n"
            "  winget install pulumi                      # Windows\n"
            "then open a new shell (or add ~/.pulumi/bin to PATH) and run this again.\n"
            "Without it, 'crosswalk plan FILE --offline' shows every resource each stack "
            "would create, with no cloud and no Pulumi CLI."
        )
    if importlib.util.find_spec("pulumi") is None:
        return (
            f"crosswalk {command} needs the Pulumi Python SDK, which is not installed: "
            "pip install 'crosswalk[aws]' (or [gcp], [azure])"
        )
    return None


# --- state ---------------------------------------------------------------------


class StateError(Exception):
    """The state backend or its secrets cannot be used as configured."""


@dataclass(frozen=True)
class StateSettings:
    """Where Pulumi keeps the stacks' state, and how it encrypts secrets."""

    backend_url: str
    source: str  # what chose it: PULUMI_BACKEND_URL, state.backend, or the default
    # "passphrase", a key URL (awskms://...), or None: Pulumi Cloud's own keys
    secrets_provider: str | None
    local_dir: Path | None = None  # the directory of a file:// backend

    @property
    def scheme(self) -> str:
        return self.backend_url.split("://", 1)[0].lower()


def resolve_state(
    platform_dir: Path | str,
    declared: str | None,
    environ: Mapping[str, str],
    secrets: str | None = None,
) -> StateSettings:
    """PULUMI_BACKEND_URL wins (CI can point any platform elsewhere), then
    `state.backend` in platform.yaml, then a local file backend in
    `.crosswalk/state/` next to platform.yaml, which needs no account.
    `secrets`: `state.secretsProvider`; without it, self-managed backends use
    a passphrase and Pulumi Cloud its own keys."""
    platform_dir = Path(platform_dir).resolve()
    from_env = environ.get("PULUMI_BACKEND_URL", "").strip()
    if from_env:
        url, source = from_env, "PULUMI_BACKEND_URL"
    elif declared:
        url, source = declared.strip(), "state.backend in platform.yaml"
    else:
        url, source = "file://" + (platform_dir / STATE_DIR).as_posix(), "default"
    if "://" not in url:
        raise StateError(f"{source}: '{url}' is not a Pulumi backend URL (e.g. s3://bucket)")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    local_dir = None
    if scheme == "file":
        if not rest:
            raise StateError(f"{source}: 'file://' needs a directory")
        if rest.startswith("~"):
            local_dir = Path(rest).expanduser()
        else:
            local_dir = Path(rest)
            if not local_dir.is_absolute():  # relative to platform.yaml, not to the cwd
                local_dir = (platform_dir / local_dir).resolve()
        url = "file://" + local_dir.as_posix()
    if secrets == "default":
        provider = None
    elif secrets:
        provider = secrets
    else:
        provider = "passphrase" if scheme in PASSPHRASE_SCHEMES else None
    return StateSettings(url, source, provider, local_dir)


def check_secrets(state: StateSettings, environ: Mapping[str, str]) -> None:
    """The passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE or
    PULUMI_CONFIG_PASSPHRASE_FILE; say so now rather than from every stack."""
    if state.secrets_provider != "passphrase":
        return
    if "PULUMI_CONFIG_PASSPHRASE" in environ:
        return
    passphrase_file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if passphrase_file:
        path = Path(passphrase_file).expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            raise StateError(
                f"PULUMI_CONFIG_PASSPHRASE_FILE is '{passphrase_file}', which is not a "
                "readable file"
            )
        return
    raise StateError(
        f"the state backend {state.backend_url} ({state.source}) encrypts secrets with a "
        "passphrase, and none is set: export PULUMI_CONFIG_PASSPHRASE, or "
        "PULUMI_CONFIG_PASSPHRASE_FILE naming a file that holds it. Use the same passphrase "
        "every time and keep it safe: the stacks' secrets cannot be read without it"
    )


# --- one stack's workspace ----------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceSpec:
    """Everything one stack's LocalWorkspace is made from (plain data)."""

    work_dir: Path
    stack_name: str
    project: str
    project_settings: dict[str, Any]  # Pulumi.yaml as compiled (read, never rewritten)
    env_vars: dict[str, str]
    secrets_provider: str | None
    config_file: Path
    config: dict[str, Any] = field(default_factory=dict)  # Pulumi.<env>.yaml, as compiled
    virtualenv: Path | None = None  # the stack's `venv/`, linked to this shared one


def _load_yaml(path: Path) -> Any:
    import yaml  # Pulumi's own settings files; JSON bodies are YAML too

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def workspace_spec(
    build_dir: Path | str,
    stack: StackSpec,
    env: str,
    state: StateSettings,
    *,
    virtualenv: Path | str | None = None,
) -> WorkspaceSpec:
    """The workspace of `stack` in the compiled tree at `build_dir`, for
    environment `env` (the stack's name, so the CLI reads Pulumi.<env>.yaml).

    Reads the compiled Pulumi.yaml and Pulumi.<env>.yaml; runs nothing."""
    work_dir = Path(build_dir).resolve() / stack.dir
    settings = _load_yaml(work_dir / "Pulumi.yaml")
    if not isinstance(settings, dict) or settings.get("name") != stack.project:
        raise StackFailed(f"{work_dir / 'Pulumi.yaml'} is not project '{stack.project}'")
    config_file = work_dir / f"Pulumi.{env}.yaml"
    config: dict[str, Any] = {}
    if config_file.is_file():
        data = _load_yaml(config_file) or {}
        config = dict(data.get("config") or {})
    env_vars = {
        "PULUMI_BACKEND_URL": state.backend_url,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # A stack file that lost Pulumi's keys (a deleted tree compiled anew):
        # the secrets provider is in the state too.
        "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
    }
    return WorkspaceSpec(
        work_dir=work_dir,
        stack_name=env,
        project=stack.project,
        project_settings=settings,
        env_vars=env_vars,
        secrets_provider=state.secrets_provider,
        config_file=config_file,
        config=config,
        virtualenv=Path(virtualenv).resolve() if virtualenv is not None else None,
    )


def _automation():
    import pulumi.automation as auto

    return auto


def _no_program() -> None:
    """The program of a stack no longer in the tree: destroy never runs it."""


def _workspace_kwargs(options: Any) -> dict[str, Any]:
    return {
        "work_dir": options.work_dir,
        "env_vars": options.env_vars,
        "secrets_provider": options.secrets_provider,
        "pulumi_command": options.pulumi_command,
    }


def workspace_options(spec: WorkspaceSpec, pulumi_command: Any = None) -> Any:
    """The LocalWorkspaceOptions for `spec` (constructing them runs nothing).
    No project settings: given some, the SDK would rewrite Pulumi.yaml."""
    auto = _automation()
    return auto.LocalWorkspaceOptions(
        work_dir=str(spec.work_dir),
        env_vars=dict(spec.env_vars),
        secrets_provider=spec.secrets_provider,
        pulumi_command=pulumi_command,
    )


def link_virtualenv(spec: WorkspaceSpec) -> Path | None:
    """Point the stack's `virtualenv` directory (Pulumi.yaml's option) at the
    shared one, unless it has one of its own. Returns the link made."""
    if spec.virtualenv is None:
        return None
    runtime = spec.project_settings.get("runtime")
    options = runtime.get("options") if isinstance(runtime, dict) else None
    name = options.get("virtualenv") if isinstance(options, dict) else None
    if (
        not isinstance(name, str)
        or not name
        or Path(name).is_absolute()
        or ".." in Path(name).parts
    ):
        return None
    link = spec.work_dir / name
    if link.exists() or link.is_symlink():
        return None
    try:
        link.symlink_to(spec.virtualenv, target_is_directory=True)
    except OSError:
        return None  # Pulumi makes the stack a virtualenv of its own
    return link


# --- engine events -> progress, changes, drift ----------------------------------------


def _op(value: Any) -> str:
    return str(getattr(value, "value", value))


_REPLACE_STEPS = {"create-replacement": "replace", "delete-replaced": "replace"}


def drift_op(metadata: Any) -> str | None:
    """How a resource's real state differs from the last deployment, judged
    from a refresh step: "update", "delete", or None when it does not."""
    op = _op(metadata.op)
    if op in ("update", "delete", "replace"):
        return op
    if op != "refresh":
        return None
    if metadata.new is None:
        return "delete"
    if metadata.diffs or metadata.detailed_diff:
        return "update"
    old_outputs = getattr(metadata.old, "outputs", None)
    new_outputs = getattr(metadata.new, "outputs", None)
    if metadata.old is not None and old_outputs != new_outputs:
        return "update"
    return None


class EventRecorder:
    """An on_event callback: drives the stack's resource counter and keeps
    the changed (or drifted) resources and the error messages."""

    def __init__(self, io: StackIO, *, drift: bool = False):
        self.io = io
        self.drift = drift
        self.changed: dict[str, str] = {}
        self.errors: list[str] = []

    @staticmethod
    def _counted(metadata: Any) -> bool:
        kind = metadata.type or ""
        return kind != "pulumi:pulumi:Stack" and not kind.startswith("pulumi:providers:")

    def __call__(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            metadata = event.resource_pre_event.metadata
            if self._counted(metadata):
                self.io.resource_started(metadata.urn)
                op = _REPLACE_STEPS.get(_op(metadata.op), _op(metadata.op))
                if self.drift:  # a refresh step's verdict comes with its outputs
                    if op in ("update", "delete", "replace"):
                        self.changed[metadata.urn] = op
                elif op not in UNCHANGED_OPS:
                    self.changed.setdefault(metadata.urn, op)
        elif event.res_outputs_event is not None:
            metadata = event.res_outputs_event.metadata
            if self._counted(metadata):
                self.io.resource_finished(metadata.urn)
                if self.drift:
                    op = drift_op(metadata)
                    if op:
                        self.changed[metadata.urn] = op
        elif event.res_op_failed_event is not None:
            self.io.resource_finished(event.res_op_failed_event.metadata.urn, failed=True)
        elif event.diagnostic_event is not None:
            diagnostic = event.diagnostic_event
            if diagnostic.severity == "error":
                self.errors.append(diagnostic.message.strip())

    def resources(self) -> list[tuple[str, str]]:
        return [(op, urn) for urn, op in self.changed.items()]


def _counts(summary: Mapping[Any, int] | None) -> dict[str, int]:
    return {_op(op): int(n) for op, n in (summary or {}).items() if n}


_GENERIC = ("update failed", "preview failed", "destroy failed", "refresh failed")


def failure_message(exc: Exception, errors: Iterable[str] = ()) -> str:
    """One line for the summary: the engine's first real error, else the
    CLI's last error line. The whole output is in the stack's log."""
    for message in errors:
        first = next((line.strip() for line in message.splitlines() if line.strip()), "")
        if first and not first.lower().rstrip(".").endswith(_GENERIC):
            return first
    name = type(exc).__name__
    text = str(exc)
    stderr = text.split(" stderr:", 1)[1] if " stderr:" in text else text
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = next((line for line in lines if line.lower().startswith("error:")), None)
    chosen = chosen or (lines[-1] if lines else name)
    if name == "ConcurrentUpdateError":
        return (
            "another Pulumi update holds this stack's lock (" + chosen + "); wait for it, or "
            "if it crashed, 'pulumi cancel' (Pulumi Cloud) or remove the stack's lock in the state"
        )
    return chosen


# --- the runner --------------------------------------------------------------------


class AutomationRunner:
    """`Runner` over the Pulumi Automation API, one LocalWorkspace per stack."""

    def __init__(
        self,
        build_dir: Path | str,
        env: str,
        state: StateSettings,
        *,
        virtualenv: Path | str | None = None,
        platform: str = "",
    ):
        self.build_dir = Path(build_dir)
        self.env = env
        self.state = state
        self.virtualenv = Path(virtualenv) if virtualenv else None
        self.platform = platform
        auto = _automation()
        self._auto = auto
        self._command = auto.PulumiCommand(skip_version_check=False)  # `pulumi version`, once
        self._stack_names: dict[str, str] = {}  # project -> its stack's fully qualified name

    # Before the first stack runs.

    def prepare(
        self, stacks: list[StackSpec], log: Path, notify: Callable[[str], object] = print
    ) -> None:
        """Create the state directory and the shared virtualenv."""
        if self.state.local_dir is not None:
            self.state.local_dir.mkdir(parents=True, exist_ok=True)
        if self.virtualenv is not None:
            wanted = requirements(self.build_dir, stacks)
            if not virtualenv_ready(self.virtualenv, wanted):
                notify(
                    f"installing the stacks' Python packages into {self.virtualenv} "
                    f"(only when they change; log: {log})"
                )
                prepare_virtualenv(self.virtualenv, wanted, log)

    # The Runner protocol.

    def preview(self, stack: StackSpec, io: StackIO) -> StackOutcome:
        return self._run(stack, io, "preview")

    def up(self, stack: StackSpec, io: StackIO) -> StackOutcome:
        return self._run(stack, io, "up")

    def destroy(self, stack: StackSpec, io: StackIO) -> StackOutcome:
        return self._run(stack, io, "destroy")

    def refresh(self, stack: StackSpec, io: StackIO) -> StackOutcome:
        return self._run(stack, io, "refresh")

    # What the backend holds (see lifecycle.py).

    def _workspace(self) -> Any:
        """A workspace on the tree's first stack: listing and tags need a project."""
        first = next(p.parent for p in sorted(self.build_dir.glob("*/Pulumi.yaml")))
        spec = WorkspaceSpec(
            work_dir=first.resolve(),
            stack_name=self.env,
            project="",
            project_settings={},
            env_vars={
                "PULUMI_BACKEND_URL": self.state.backend_url,
                "PULUMI_SKIP_UPDATE_CHECK": "true",
            },
            secrets_provider=self.state.secrets_provider,
            config_file=first / f"Pulumi.{self.env}.yaml",
        )
        return self._auto.LocalWorkspace(
            **_workspace_kwargs(workspace_options(spec, self._command))
        )

    def deployed_projects(self) -> list[str]:
        """The projects with a stack for this environment in the backend whose
        names crosswalk gives this platform's stacks (`pulumi stack ls --all`)."""
        from crosswalk.compiler.lifecycle import could_belong

        try:
            summaries = self._workspace().list_stacks(include_all=True)
        except self._auto.errors.CommandError as exc:
            raise StackFailed(
                f"cannot list the stacks in {self.state.backend_url}: {exc}"
            ) from None
        found = []
        for summary in summaries:
            parts = summary.name.split("/")
            if len(parts) < 2 or parts[-1] != self.env:
                continue
            project = parts[-2]
            if could_belong(self.platform, project):
                self._stack_names[project] = summary.name
                found.append(project)
        return sorted(set(found))

    def stack_tags(self, project: str) -> dict[str, str]:
        """crosswalk's tags on the project's stack; none when it has none or
        the backend keeps no tags."""
        from crosswalk.compiler.lifecycle import is_crosswalk_tag

        name = self._stack_names.get(project, f"{project}/{self.env}")
        try:
            tags = self._workspace().list_tags(name)
        except self._auto.errors.CommandError:
            return {}
        return {k: str(v) for k, v in (tags or {}).items() if is_crosswalk_tag(k)}

    def _record(self, pulumi_stack: Any, stack: StackSpec, io: StackIO) -> None:
        """After an update: tag the stack with what it now exports and reads."""
        from crosswalk.compiler.lifecycle import is_crosswalk_tag, record_tags

        wanted = record_tags(self.platform, stack)
        workspace = pulumi_stack.workspace
        try:
            existing = workspace.list_tags(pulumi_stack.name) or {}
            for key in sorted(existing):
                if is_crosswalk_tag(key) and key not in wanted:
                    workspace.remove_tag(pulumi_stack.name, key)
            for key, value in wanted.items():
                if existing.get(key) != value:
                    workspace.set_tag(pulumi_stack.name, key, value)
        except self._auto.errors.CommandError as exc:
            io.output(
                "crosswalk: could not record what this stack exports and reads as stack tags "
                f"({failure_message(exc)}); removed stacks and dropped outputs cannot be "
                "checked against it"
            )

    def _removed_stack(self, stack: StackSpec) -> Any:
        """A stack whose program left the tree: selected by its project name
        with an empty inline program, which destroy never runs."""
        auto = self._auto
        options = auto.LocalWorkspaceOptions(
            env_vars={
                "PULUMI_BACKEND_URL": self.state.backend_url,
                "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
            },
            secrets_provider=self.state.secrets_provider,
            pulumi_command=self._command,
        )
        return auto.select_stack(
            self.env, project_name=stack.project, program=_no_program, opts=options
        )

    def _stack(self, stack: StackSpec, create: bool) -> Any:
        spec = workspace_spec(
            self.build_dir, stack, self.env, self.state, virtualenv=self.virtualenv
        )
        link_virtualenv(spec)
        auto = self._auto
        options = workspace_options(spec, self._command)
        if create:
            pulumi_stack = auto.create_or_select_stack(
                spec.stack_name, work_dir=str(spec.work_dir), opts=options
            )
        else:
            pulumi_stack = auto.select_stack(
                spec.stack_name, work_dir=str(spec.work_dir), opts=options
            )
        return pulumi_stack

    def _preview_stack(self, stack: StackSpec, io: StackIO) -> Any:
        """The stack to preview: the deployed one, else a new one, unless these
        credentials may not create it (a pull request's read-only identity),
        which is said, and None: nothing is deployed to preview against."""
        auto = self._auto
        try:
            return self._stack(stack, create=False)
        except auto.errors.StackNotFoundError:
            pass
        try:
            return self._stack(stack, create=True)
        except auto.errors.CommandError as exc:
            io.output(
                f"crosswalk: stack '{self.env}' of {stack.project} is not deployed yet and "
                f"cannot be created with these credentials ({failure_message(exc)}); its "
                "first apply creates it"
            )
            return None

    def _run(self, stack: StackSpec, io: StackIO, operation: str) -> StackOutcome:
        auto = self._auto
        recorder = EventRecorder(io, drift=operation == "refresh")
        streams = {"on_output": io.output, "on_error": io.output, "on_event": recorder}
        try:
            try:
                if stack.removed:
                    pulumi_stack = self._removed_stack(stack)
                elif operation == "preview":
                    pulumi_stack = self._preview_stack(stack, io)
                    if pulumi_stack is None:
                        return StackOutcome()
                else:
                    # destroy and drift look at what exists; they never create a stack
                    pulumi_stack = self._stack(stack, create=operation == "up")
            except auto.errors.StackNotFoundError:
                io.output(f"crosswalk: stack '{self.env}' of {stack.project} does not exist")
                return StackOutcome()
            if stack.removed:
                return self._run_removed(pulumi_stack, operation, streams)
            if operation == "preview":
                result = pulumi_stack.preview(color="never", **streams)
                counts = _counts(result.change_summary)
            elif operation == "up":
                result = pulumi_stack.up(color="never", **streams)
                counts = _counts(result.summary.resource_changes)
                self._record(pulumi_stack, stack, io)
            elif operation == "destroy":
                result = pulumi_stack.destroy(color="never", **streams)
                counts = _counts(result.summary.resource_changes)
            else:  # drift: a refresh that only previews
                result = pulumi_stack.preview_refresh(color="never", **streams)
                counts = _counts(result.change_summary)
        except auto.errors.CommandError as exc:
            io.output(str(exc))
            raise StackFailed(failure_message(exc, recorder.errors)) from None
        return StackOutcome(counts, recorder.resources())

    def _run_removed(self, pulumi_stack: Any, operation: str, streams: dict) -> StackOutcome:
        """A removed stack is only ever destroyed: previewed as its destroy,
        and once destroyed, removed from the backend."""
        if operation == "preview":
            result = pulumi_stack.preview_destroy(color="never", **streams)
            return StackOutcome(_counts(result.change_summary), streams["on_event"].resources())
        if operation != "destroy":
            raise StackFailed(f"{operation} of a stack no longer in the platform: only destroy")
        result = pulumi_stack.destroy(color="never", remove=True, **streams)
        return StackOutcome(
            _counts(result.summary.resource_changes), streams["on_event"].resources()
        )


# --- the shared virtualenv -------------------------------------------------------------


def requirements(build_dir: Path | str, stacks: Iterable[StackSpec]) -> list[str]:
    """Every pinned requirement of the stacks, once each."""
    found: set[str] = set()
    for stack in stacks:
        path = Path(build_dir) / stack.dir / "requirements.txt"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    found.add(line)
    return sorted(found)


def virtualenv_ready(venv: Path, wanted: list[str]) -> bool:
    stamp = venv / "crosswalk-requirements.txt"
    text = "".join(f"{line}\n" for line in wanted)
    return stamp.is_file() and stamp.read_text(encoding="utf-8") == text


def prepare_virtualenv(venv: Path, wanted: list[str], log: Path) -> bool:
    """Make `venv` hold `wanted` (pip). Returns whether it had to install;
    a stamp file keeps an unchanged set from reinstalling."""
    if virtualenv_ready(venv, wanted):
        return False
    text = "".join(f"{line}\n" for line in wanted)
    stamp = venv / "crosswalk-requirements.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    wanted_file = venv.parent / f".requirements-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    with log.open("w", encoding="utf-8") as out:
        steps = []
        if not python.exists():
            steps.append([sys.executable, "-m", "venv", str(venv)])
        steps.append([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r"])
        venv.parent.mkdir(parents=True, exist_ok=True)
        wanted_file.write_text(text, encoding="utf-8")
        try:
            for step in steps:
                if step[-1] == "-r":
                    step = [*step, str(wanted_file)]
                out.write("$ " + " ".join(step) + "\n")
                out.flush()
                done = subprocess.run(step, check=False, stdout=out, stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    raise StackFailed(
                        f"installing the stacks' Python packages into {venv} failed; see {log}"
                    )
        finally:
            wanted_file.unlink(missing_ok=True)
    stamp.write_text(text, encoding="utf-8")
    return True
