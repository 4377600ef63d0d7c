"""The Automation-API runner up to the Pulumi CLI boundary: the missing-CLI
message, backend and passphrase handling, the workspace and config built for
a stack, engine events turned into progress, changes and drift, and the
runner's calls into the SDK (with a stand-in for the CLI-driven parts)."""

from __future__ import annotations

import os
import shutil
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from crosswalk.compiler import apply_cli, automation
from crosswalk.compiler.apply import StackFailed, StackIO, StackSpec, load_manifest
from crosswalk.compiler.automation import (
    AutomationRunner,
    EventRecorder,
    StateError,
    check_secrets,
    cli_problem,
    drift_op,
    failure_message,
    link_virtualenv,
    prepare_virtualenv,
    requirements,
    resolve_state,
    workspace_options,
    workspace_spec,
)
from crosswalk.compiler.emit import compile_file

auto = pytest.importorskip("pulumi.automation")
events = pytest.importorskip("pulumi.automation.events")

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [apply_cli.preview, apply_cli.apply, apply_cli.destroy, apply_cli.drift]


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    target = tmp_path / "demo" / "platform.yaml"
    target.parent.mkdir()
    shutil.copy(ROOT / "samples" / "minimal" / "platform.yaml", target)
    return target


@pytest.fixture
def no_pulumi(tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text("#!/bin/sh\necho v3.200.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return fake


# --- the missing CLI ----------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_without_the_pulumi_cli_every_command_stops_first_with_exit_2(
    command, platform, no_pulumi, monkeypatch
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "x")
    result = CliRunner().invoke(
        command,
        [str(platform), "--yes"] if command.name in ("apply", "destroy") else [str(platform)],
    )
    assert result.exit_code == 2
    message = result.output
    assert f"crosswalk {command.name} runs the compiled stacks with the Pulumi CLI" in message
    assert "'pulumi' is not on PATH" in message
    assert "https://www.pulumi.com/docs/install/" in message
    assert "curl -fsSL https://get.pulumi.com | sh" in message
    assert "brew install pulumi/tap/pulumi" in message
    assert "'crosswalk plan FILE --offline'" in message
    assert not (platform.parent / ".crosswalk").exists(), "nothing may happen before the check"


def test_the_missing_cli_is_reported_even_for_a_file_that_does_not_exist(
    tmp_path, no_pulumi
) -> None:
    result = CliRunner().invoke(apply_cli.drift, [str(tmp_path / "nowhere.yaml")])
    assert result.exit_code == 2 and "'pulumi' is not on PATH" in result.output


def test_with_the_cli_on_path_nothing_is_missing(fake_pulumi) -> None:
    assert cli_problem("apply") is None
    assert "not on PATH" in cli_problem("apply", which=lambda name: None)


# --- state: backend URL and secrets ------------------------------------------------------------


def test_the_default_backend_is_a_local_file_backend_beside_platform_yaml(tmp_path: Path) -> None:
    state = resolve_state(tmp_path, None, {})
    assert state.backend_url == f"file://{tmp_path.resolve()}/.crosswalk/state"
    assert state.source == "default"
    assert state.secrets_provider == "passphrase"
    assert state.local_dir == tmp_path.resolve() / ".crosswalk" / "state"


def test_state_backend_in_platform_yaml_overrides_the_default(tmp_path: Path) -> None:
    state = resolve_state(tmp_path, "s3://acme-pulumi-state", {})
    assert (state.backend_url, state.source) == (
        "s3://acme-pulumi-state",
        "state.backend in platform.yaml",
    )
    assert state.secrets_provider == "passphrase" and state.local_dir is None
    relative = resolve_state(tmp_path, "file://shared/state", {})
    assert relative.backend_url == f"file://{tmp_path.resolve()}/shared/state"
    home = resolve_state(tmp_path, "file://~/pulumi-state", {})
    assert home.local_dir == Path("~/pulumi-state").expanduser()


def test_pulumi_backend_url_overrides_everything(tmp_path: Path) -> None:
    environ = {"PULUMI_BACKEND_URL": "gs://ci-state"}
    state = resolve_state(tmp_path, "s3://acme-pulumi-state", environ)
    assert (state.backend_url, state.source) == ("gs://ci-state", "PULUMI_BACKEND_URL")
    assert resolve_state(tmp_path, None, {"PULUMI_BACKEND_URL": "  "}).source == "default"


def test_pulumi_cloud_manages_its_own_secrets(tmp_path: Path) -> None:
    state = resolve_state(tmp_path, "https://api.pulumi.com", {})
    assert state.secrets_provider is None
    check_secrets(state, {})  # no passphrase needed


def test_a_backend_that_is_not_a_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="'acme-state' is not a Pulumi backend URL"):
        resolve_state(tmp_path, None, {"PULUMI_BACKEND_URL": "acme-state"})


def test_the_passphrase_must_be_set_one_way_or_the_other(tmp_path: Path) -> None:
    state = resolve_state(tmp_path, None, {})
    with pytest.raises(StateError) as missing:
        check_secrets(state, {})
    assert "PULUMI_CONFIG_PASSPHRASE" in str(missing.value)
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" in str(missing.value)
    assert state.backend_url in str(missing.value)
    check_secrets(state, {"PULUMI_CONFIG_PASSPHRASE": ""})  # Pulumi accepts an empty one
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse\n")
    check_secrets(state, {"PULUMI_CONFIG_PASSPHRASE_FILE": str(secret)})
    with pytest.raises(StateError, match="is not a readable file"):
        check_secrets(state, {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "nope")})


def test_a_missing_passphrase_stops_the_command_with_exit_2(
    platform, fake_pulumi, monkeypatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setattr(apply_cli, "make_runner", lambda session: pytest.fail("must not run"))
    result = CliRunner().invoke(apply_cli.preview, [str(platform)])
    assert result.exit_code == 2
    assert "encrypts secrets with a passphrase, and none is set" in result.output


def test_the_command_uses_state_backend_from_platform_yaml(
    platform, fake_pulumi, monkeypatch
) -> None:
    platform.write_text(platform.read_text() + "state: {backend: 's3://acme-pulumi-state'}\n")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "x")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    seen = []

    def stop(session):
        seen.append(session.state)
        raise apply_cli.Stop("stopped by the test")

    monkeypatch.setattr(apply_cli, "make_runner", stop)
    result = CliRunner().invoke(apply_cli.drift, [str(platform)])
    assert result.exit_code == 2
    assert seen[0].backend_url == "s3://acme-pulumi-state"
    assert "state s3://acme-pulumi-state" in result.output


# --- the workspace a stack gets ----------------------------------------------------------------


@pytest.fixture
def build(platform: Path) -> Path:
    out = platform.parent / ".crosswalk" / "build" / "dev"
    result = compile_file(str(platform), out, "dev")
    assert result.files, [d.render() for d in result.report.errors]
    return out


def test_the_workspace_spec_of_a_stack(build: Path, tmp_path: Path) -> None:
    manifest = load_manifest(build)
    cluster = manifest.stack("03-cluster")
    state = resolve_state(build.parent.parent.parent, None, {})
    venv = tmp_path / "venv"
    spec = workspace_spec(build, cluster, "dev", state, virtualenv=venv)
    assert spec.work_dir == build.resolve() / "03-cluster"
    assert spec.stack_name == "dev"  # so the CLI reads Pulumi.dev.yaml
    assert spec.project == "demo-cluster"
    assert spec.config_file == spec.work_dir / "Pulumi.dev.yaml"
    assert spec.secrets_provider == "passphrase"
    assert spec.env_vars == {
        "PULUMI_BACKEND_URL": state.backend_url,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
    }
    assert not any("PASSPHRASE" in key for key in spec.env_vars), "secrets stay in the environment"
    settings = spec.project_settings
    assert settings["name"] == "demo-cluster"
    assert settings["runtime"]["name"] == "python"
    assert settings["runtime"]["options"] == {"toolchain": "pip", "virtualenv": "venv"}
    compiled = automation._load_yaml(spec.config_file) or {}
    assert spec.config == compiled.get("config", {})
    assert spec.virtualenv == venv.resolve()


def test_a_stack_gets_a_link_to_the_shared_virtualenv_unless_it_has_its_own(
    build: Path, tmp_path: Path
) -> None:
    manifest = load_manifest(build)
    venv = tmp_path / "shared-venv"
    venv.mkdir()
    cluster = workspace_spec(
        build, manifest.stack("03-cluster"), "dev", resolve_state(build, None, {}), virtualenv=venv
    )
    link = link_virtualenv(cluster)
    assert link == cluster.work_dir / "venv" and link.resolve() == venv.resolve()
    assert link_virtualenv(cluster) is None  # there already
    identity = workspace_spec(
        build, manifest.stack("01-identity"), "dev", resolve_state(build, None, {}), virtualenv=venv
    )
    (identity.work_dir / "venv").mkdir()  # made by a plain `pulumi up`: Pulumi's, kept
    assert link_virtualenv(identity) is None and not (identity.work_dir / "venv").is_symlink()
    # A recompile keeps the link and says nothing about it.
    before = (build / "03-cluster" / "Pulumi.yaml").read_text()
    compile_file(str(build.parent.parent.parent / "platform.yaml"), build, "dev")
    assert (build / "03-cluster" / "venv").is_symlink()
    assert (build / "03-cluster" / "Pulumi.yaml").read_text() == before


def test_config_comes_from_the_compiled_environment_file(build: Path) -> None:
    manifest = load_manifest(build)
    spec = workspace_spec(
        build, manifest.stack("03-cluster"), "dev", resolve_state(build, None, {})
    )
    (spec.config_file).write_text("# Stack\nconfig:\n  demo-cluster:size: 3\n")
    again = workspace_spec(
        build, manifest.stack("03-cluster"), "dev", resolve_state(build, None, {})
    )
    assert again.config == {"demo-cluster:size": 3}
    missing = workspace_spec(
        build, manifest.stack("03-cluster"), "qa", resolve_state(build, None, {})
    )
    assert missing.config == {} and missing.stack_name == "qa"


def test_on_pulumi_cloud_no_organization_is_set_and_secrets_use_its_keys(build: Path) -> None:
    manifest = load_manifest(build)
    state = resolve_state(build, "https://api.pulumi.com", {})
    spec = workspace_spec(build, manifest.stack("04-cluster-services"), "dev", state)
    assert spec.secrets_provider is None
    assert spec.env_vars["PULUMI_BACKEND_URL"] == "https://api.pulumi.com"
    # StackReferences name the stack's own organization; nothing to configure.
    program = (spec.work_dir / "__main__.py").read_text()
    assert "org = pulumi.get_organization()" in program and "organization" not in spec.config


@pytest.mark.parametrize(
    "declared, backend, expected",
    [
        (None, None, "passphrase"),
        (None, "https://api.pulumi.com", None),
        ("passphrase", "https://api.pulumi.com", "passphrase"),
        ("default", "https://api.pulumi.com", None),
        ("awskms://alias/x?region=us-west-2", "s3://b", "awskms://alias/x?region=us-west-2"),
    ],
)
def test_the_secrets_provider_follows_state_secrets_provider(
    tmp_path: Path, declared, backend, expected
) -> None:
    state = resolve_state(tmp_path, backend, {}, declared)
    assert state.secrets_provider == expected
    if expected != "passphrase":
        check_secrets(state, {})  # no passphrase needed


def test_a_directory_holding_another_project_is_refused(build: Path) -> None:
    wrong = StackSpec("03-cluster", "demo-identity", "cluster")
    with pytest.raises(StackFailed, match="is not project 'demo-identity'"):
        workspace_spec(build, wrong, "dev", resolve_state(build, None, {}))


def test_the_local_workspace_options_it_would_pass(build: Path, no_pulumi) -> None:
    manifest = load_manifest(build)
    state = resolve_state(build, None, {})
    spec = workspace_spec(
        build, manifest.stack("01-identity"), "dev", state, virtualenv=build / "venv"
    )
    options = workspace_options(spec)  # builds options only: no CLI needed (PATH is empty)
    assert isinstance(options, auto.LocalWorkspaceOptions)
    assert options.work_dir == str(spec.work_dir)
    assert options.env_vars == spec.env_vars
    assert options.secrets_provider == "passphrase"
    assert options.program is None  # a local program: the compiled __main__.py
    # No project settings: the SDK would write them over the compiled Pulumi.yaml.
    assert options.project_settings is None


# --- engine events ------------------------------------------------------------------------------

STACK_URN = "urn:pulumi:dev::demo-cluster::pulumi:pulumi:Stack::demo-cluster-dev"
CLUSTER_URN = "urn:pulumi:dev::demo-cluster::aws:eks/cluster:Cluster::demo"
ROLE_URN = "urn:pulumi:dev::demo-cluster::aws:iam/role:Role::nodes"


def step(op: str, urn: str, kind: str, **extra) -> dict:
    return {"op": op, "urn": urn, "type": kind, "provider": "", **extra}


def state_of(urn: str, kind: str, outputs: dict) -> dict:
    return {"type": kind, "urn": urn, "id": "x", "parent": "", "provider": "", "outputs": outputs}


def engine_event(kind: str, payload: dict, sequence: int = 1) -> events.EngineEvent:
    return events.EngineEvent.from_json({"sequence": sequence, "timestamp": 0, kind: payload})


def test_preview_events_drive_the_counter_and_list_the_changes() -> None:
    io = StackIO(StackSpec("03-cluster", "demo-cluster", "cluster"))
    recorder = EventRecorder(io)
    for event in [
        engine_event("resourcePreEvent", {"metadata": step("same", STACK_URN, "pulumi:pulumi:Stack")}),
        engine_event("resourcePreEvent", {"metadata": step("create", "urn:pulumi:dev::demo-cluster::pulumi:providers:aws::default", "pulumi:providers:aws")}),
        engine_event("resourcePreEvent", {"metadata": step("create", CLUSTER_URN, "aws:eks/cluster:Cluster")}),
        engine_event("resourcePreEvent", {"metadata": step("create-replacement", ROLE_URN, "aws:iam/role:Role")}),
        engine_event("resourcePreEvent", {"metadata": step("replace", ROLE_URN, "aws:iam/role:Role")}),
        engine_event("resOutputsEvent", {"metadata": step("create", CLUSTER_URN, "aws:eks/cluster:Cluster")}),
        engine_event("resOpFailedEvent", {"metadata": step("replace", ROLE_URN, "aws:iam/role:Role"), "status": 1, "steps": 1}),
        engine_event("diagnosticEvent", {"message": "error: update failed\n", "color": "never", "severity": "error"}),
        engine_event("diagnosticEvent", {"message": "aws:iam/role:Role: AccessDenied: not allowed\n", "color": "never", "severity": "error"}),
    ]:  # fmt: skip
        recorder(event)
    assert recorder.resources() == [("create", CLUSTER_URN), ("replace", ROLE_URN)]
    assert io.started == {CLUSTER_URN, ROLE_URN}  # not the stack itself, not providers
    assert io.finished == {CLUSTER_URN, ROLE_URN} and io.failed == {ROLE_URN}
    assert (
        failure_message(Exception("x"), recorder.errors)
        == "aws:iam/role:Role: AccessDenied: not allowed"
    )


def test_drift_is_judged_from_refresh_steps() -> None:
    kind = "aws:eks/cluster:Cluster"
    before = state_of(CLUSTER_URN, kind, {"version": "1.31"})
    after = state_of(CLUSTER_URN, kind, {"version": "1.32"})

    def metadata(**fields):
        return events.StepEventMetadata.from_json(step("refresh", CLUSTER_URN, kind, **fields))

    assert drift_op(metadata(old=before, new=before)) is None
    assert drift_op(metadata(old=before, new=after)) == "update"
    assert drift_op(metadata(old=before, new=before, diffs=["version"])) == "update"
    assert drift_op(metadata(old=before)) == "delete"
    assert (
        drift_op(events.StepEventMetadata.from_json(step("update", CLUSTER_URN, kind))) == "update"
    )
    assert drift_op(events.StepEventMetadata.from_json(step("same", CLUSTER_URN, kind))) is None

    io = StackIO(StackSpec("03-cluster", "demo-cluster", "cluster"))
    recorder = EventRecorder(io, drift=True)
    recorder(
        engine_event(
            "resourcePreEvent", {"metadata": step("refresh", CLUSTER_URN, kind, old=before)}
        )
    )
    assert recorder.resources() == []  # no verdict before the refresh step ran
    recorder(
        engine_event(
            "resOutputsEvent",
            {"metadata": step("refresh", CLUSTER_URN, kind, old=before, new=after)},
        )
    )
    recorder(engine_event("resOutputsEvent", {"metadata": step("refresh", ROLE_URN, "aws:iam/role:Role", old=state_of(ROLE_URN, "aws:iam/role:Role", {}), new=state_of(ROLE_URN, "aws:iam/role:Role", {}))}))  # fmt: skip
    assert recorder.resources() == [("update", CLUSTER_URN)]


def command_error(kind=None, stderr="error: something broke", stdout=""):
    from pulumi.automation._cmd import CommandResult

    kind = kind or auto.errors.CommandError
    return kind(CommandResult(stdout=stdout, stderr=stderr, code=255))


def test_failure_messages_are_one_line() -> None:
    error = command_error(
        stderr="warning: x\nerror: getting secrets manager: incorrect passphrase\n"
    )
    assert failure_message(error) == "error: getting secrets manager: incorrect passphrase"
    locked = command_error(
        auto.errors.ConcurrentUpdateError,
        stderr="error: the stack is currently locked by 1 lock(s)",
    )
    assert failure_message(locked).startswith("another Pulumi update holds this stack's lock")


# --- the runner against a stand-in for the CLI-driven SDK calls --------------------------------


class StubWorkspace:
    """The CLI-driven workspace calls: stack listing and tags, kept in `backend`."""

    def __init__(self, backend, log):
        self.backend, self.log = backend, log

    def list_stacks(self, include_all=None):
        self.log.append(("list_stacks", include_all))
        return [types.SimpleNamespace(name=name) for name in sorted(self.backend.tags)]

    def list_tags(self, stack_name):
        return dict(self.backend.tags.get(self.backend.qualified(stack_name), {}))

    def set_tag(self, stack_name, key, value):
        self.backend.tags.setdefault(self.backend.qualified(stack_name), {})[key] = value

    def remove_tag(self, stack_name, key):
        del self.backend.tags[self.backend.qualified(stack_name)][key]


class StubStack:
    def __init__(self, name, opts, log, backend=None, project=None):
        self.name, self.opts, self.log = name, opts, log
        self.config = {}
        self.project = project
        self.backend = backend
        self.workspace = StubWorkspace(backend, log) if backend is not None else None

    def set_config(self, key, value):
        self.config[key] = value.value

    def _emit(self, on_event, op):
        on_event(
            engine_event(
                "resourcePreEvent", {"metadata": step(op, CLUSTER_URN, "aws:eks/cluster:Cluster")}
            )
        )

    def preview(self, on_output, on_error, on_event, color):
        self.log.append(("preview", self.name, color))
        on_output("Previewing update (dev)")
        self._emit(on_event, "create")
        return types.SimpleNamespace(change_summary={auto.OpType.CREATE: 1, auto.OpType.SAME: 2})

    def up(self, on_output, on_error, on_event, color):
        self.log.append(("up", self.name, color))
        if self.backend is None or self.backend.up_fails:
            raise command_error(stderr="error: creating EKS cluster: AccessDenied")
        self.backend.current = self.project
        summary = types.SimpleNamespace(resource_changes={"update": 1})
        return types.SimpleNamespace(summary=summary)

    def destroy(self, on_output, on_error, on_event, color, remove=False):
        self.log.append(("destroy", self.name, color, remove))
        summary = types.SimpleNamespace(resource_changes={"delete": 4})
        return types.SimpleNamespace(summary=summary)

    def preview_destroy(self, on_output, on_error, on_event, color):
        self.log.append(("preview_destroy", self.project, color))
        return types.SimpleNamespace(change_summary={auto.OpType.DELETE: 4})

    def preview_refresh(self, on_output, on_error, on_event, color):
        self.log.append(("preview_refresh", self.name, color))
        return types.SimpleNamespace(change_summary={"same": 3, "update": 1})


class StubBackend:
    """Stacks by fully qualified name, each with its tags."""

    def __init__(self):
        self.tags: dict[str, dict[str, str]] = {}
        self.up_fails = True
        self.current = None  # the project of the workspace a short stack name means

    def qualified(self, name: str) -> str:
        return name if "/" in name else f"organization/{self.current}/{name}"


@pytest.fixture
def stub_sdk(monkeypatch):
    log: list = []
    missing: set[str] = set()
    backend = StubBackend()
    state = types.SimpleNamespace(refuse_create=False)

    def project_of(work_dir):
        return automation._load_yaml(Path(work_dir) / "Pulumi.yaml")["name"]

    def create_or_select_stack(name, work_dir, opts):
        log.append(("create_or_select_stack", work_dir, opts.secrets_provider))
        if state.refuse_create:
            raise command_error(auto.errors.CommandError, stderr="error: PutObject: AccessDenied")
        backend.current = project_of(work_dir)
        return StubStack(name, opts, log, backend, backend.current)

    def select_stack(name, work_dir=None, opts=None, project_name=None, program=None):
        if program is not None:  # a stack no longer in the tree: inline, by project name
            log.append(("select_stack", project_name, program()))
            backend.current = project_name
            return StubStack(name, opts, log, backend, project_name)
        log.append(("select_stack", work_dir))
        if work_dir.endswith(tuple(missing)):
            raise command_error(
                auto.errors.StackNotFoundError, stderr="error: no stack named 'dev' found"
            )
        backend.current = project_of(work_dir)
        return StubStack(name, opts, log, backend, backend.current)

    stub = types.SimpleNamespace(
        PulumiCommand=lambda skip_version_check=False: "pulumi-command",
        LocalWorkspace=lambda **kwargs: StubWorkspace(backend, log),
        LocalWorkspaceOptions=auto.LocalWorkspaceOptions,
        ProjectSettings=auto.ProjectSettings,
        ConfigValue=auto.ConfigValue,
        errors=auto.errors,
        create_or_select_stack=create_or_select_stack,
        select_stack=select_stack,
    )
    monkeypatch.setattr(automation, "_automation", lambda: stub)
    state.log, state.missing, state.backend = log, missing, backend
    return state


def test_the_runner_maps_each_operation_to_the_sdk(build: Path, stub_sdk) -> None:
    manifest = load_manifest(build)
    cluster = manifest.stack("03-cluster")
    runner = AutomationRunner(build, "dev", resolve_state(build, None, {}))
    io = StackIO(cluster)

    outcome = runner.preview(cluster, io)
    assert outcome.changes == {"create": 1, "same": 2}
    assert outcome.resources == [("create", CLUSTER_URN)]
    assert stub_sdk.log[:2] == [
        ("select_stack", str(build.resolve() / "03-cluster")),
        ("preview", "dev", "never"),
    ]
    # A stack never deployed is made for its preview...
    stub_sdk.log.clear()
    stub_sdk.missing.add("03-cluster")
    assert runner.preview(cluster, io).changes == {"create": 1, "same": 2}
    assert [entry[0] for entry in stub_sdk.log[:3]] == [
        "select_stack",
        "create_or_select_stack",
        "preview",
    ]
    # ...unless the credentials may not make it (a pull request's read-only
    # identity): said, and nothing previewed rather than a failure.
    stub_sdk.refuse_create = True
    lines = []
    io.output = lines.append
    assert runner.preview(cluster, io).changes == {}
    assert "is not deployed yet and cannot be created" in lines[-1]
    assert "AccessDenied" in lines[-1]
    stub_sdk.missing.clear()
    stub_sdk.refuse_create = False
    io = StackIO(cluster)

    with pytest.raises(StackFailed, match="^error: creating EKS cluster: AccessDenied$"):
        runner.up(cluster, io)

    stub_sdk.log.clear()
    assert runner.destroy(cluster, io).changes == {"delete": 4}
    assert stub_sdk.log[0][0] == "select_stack", "destroy never creates a stack"
    drift = runner.refresh(cluster, io)
    assert drift.changes == {"same": 3, "update": 1} and drift.changed
    assert ("preview_refresh", "dev", "never") in stub_sdk.log

    stub_sdk.missing.add("03-cluster")
    assert runner.destroy(cluster, io).changes == {}  # never deployed: nothing to destroy


def test_the_runner_sets_no_config_and_leaves_the_tree_as_compiled(build: Path, stub_sdk) -> None:
    manifest = load_manifest(build)
    before = {p: p.read_bytes() for p in build.rglob("*") if p.is_file()}
    runner = AutomationRunner(build, "dev", resolve_state(build, "https://api.pulumi.com", {}))
    stack = runner._stack(manifest.stack("03-cluster"), create=True)
    assert stack.config == {}
    assert {p: p.read_bytes() for p in build.rglob("*") if p.is_file()} == before


def test_the_runner_lists_this_platforms_stacks_and_reads_their_tags(build: Path, stub_sdk) -> None:
    backend = stub_sdk.backend
    backend.tags = {
        "organization/demo-cluster/dev": {"crosswalk:platform": "demo", "other": "x"},
        "organization/demo-app-old/dev": {"crosswalk:platform": "demo"},
        "organization/demo-app-old/prod": {},
        "organization/someone-else/dev": {},
        "organization/demo-billing/dev": {},
    }
    runner = AutomationRunner(build, "dev", resolve_state(build, None, {}), platform="demo")
    assert runner.deployed_projects() == ["demo-app-old", "demo-cluster"]
    assert ("list_stacks", True) in stub_sdk.log
    assert runner.stack_tags("demo-cluster") == {"crosswalk:platform": "demo"}


def test_an_update_records_what_the_stack_exports_and_reads(build: Path, stub_sdk) -> None:
    backend = stub_sdk.backend
    backend.up_fails = False
    backend.tags["organization/demo-cluster/dev"] = {"crosswalk:reads.2": "stale", "team": "ops"}
    cluster = load_manifest(build).stack("03-cluster")
    runner = AutomationRunner(build, "dev", resolve_state(build, None, {}), platform="demo")
    runner.up(cluster, StackIO(cluster))
    tags = backend.tags["organization/demo-cluster/dev"]
    assert tags["crosswalk:platform"] == "demo" and tags["crosswalk:stack"] == "03-cluster"
    assert tags["crosswalk:exports"] == ",".join(cluster.exports)
    assert tags["crosswalk:reads"].startswith("01-identity=")
    assert "crosswalk:reads.2" not in tags, "a stale chunk goes"
    assert tags["team"] == "ops", "tags crosswalk does not own stay"


def test_a_removed_stack_is_previewed_and_destroyed_by_its_project_then_removed(
    build: Path, stub_sdk
) -> None:
    gone = StackSpec("06-apps/old", "demo-app-old", "apps", removed=True)
    runner = AutomationRunner(build, "dev", resolve_state(build, None, {}), platform="demo")
    preview = runner.preview(gone, StackIO(gone))
    assert preview.changes == {"delete": 4}
    assert ("select_stack", "demo-app-old", None) in stub_sdk.log
    assert ("preview_destroy", "demo-app-old", "never") in stub_sdk.log
    done = runner.destroy(gone, StackIO(gone))
    assert done.changes == {"delete": 4}
    assert ("destroy", "dev", "never", True) in stub_sdk.log, "destroyed, then removed"
    with pytest.raises(StackFailed, match="only destroy"):
        runner.up(gone, StackIO(gone))


# --- the shared virtualenv ----------------------------------------------------------------------


def test_requirements_of_all_stacks_once_each(build: Path) -> None:
    wanted = requirements(build, load_manifest(build).stacks)
    assert wanted == sorted(set(wanted))
    assert any(line.startswith("pulumi==") for line in wanted)
    assert any(line.startswith("pulumi-aws==") for line in wanted)


def test_the_virtualenv_is_installed_once_per_set_of_requirements(
    tmp_path: Path, monkeypatch
) -> None:
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        if command[1:3] == ["-m", "venv"]:
            (Path(command[3]) / "bin").mkdir(parents=True)
            (Path(command[3]) / "bin" / "python").write_text("")
        return types.SimpleNamespace(returncode=0)

    monkeypatch.setattr(automation.subprocess, "run", fake_run)
    venv = tmp_path / ".crosswalk" / "venv"
    log = tmp_path / "logs" / "_virtualenv.log"
    assert prepare_virtualenv(venv, ["pulumi==3.272.0"], log) is True
    assert commands[0] == [sys.executable, "-m", "venv", str(venv)]
    assert commands[1][:5] == [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
    ]
    assert prepare_virtualenv(venv, ["pulumi==3.272.0"], log) is False  # unchanged: nothing runs
    assert len(commands) == 2
    assert prepare_virtualenv(venv, ["pulumi==3.272.0", "pulumi-aws==7.51.1"], log) is True
    assert len(commands) == 3 and commands[2][1:4] == ["-m", "pip", "install"]  # venv kept

    monkeypatch.setattr(
        automation.subprocess, "run", lambda command, **kwargs: types.SimpleNamespace(returncode=1)
    )
    with pytest.raises(StackFailed, match="failed; see"):
        prepare_virtualenv(venv, ["broken==0"], log)


def test_prepare_says_when_it_installs_and_stays_quiet_after(
    build: Path, stub_sdk, monkeypatch
) -> None:
    def fake_run(command, **kwargs):
        if command[1:3] == ["-m", "venv"]:
            (Path(command[3]) / "bin").mkdir(parents=True)
            (Path(command[3]) / "bin" / "python").write_text("")
        return types.SimpleNamespace(returncode=0)

    monkeypatch.setattr(automation.subprocess, "run", fake_run)
    state = resolve_state(build, None, {})
    venv = build.parent.parent / "venv"
    runner = AutomationRunner(build, "dev", state, virtualenv=venv)
    said: list[str] = []
    stacks = list(load_manifest(build).stacks)
    runner.prepare(stacks, build / "venv.log", notify=said.append)
    assert len(said) == 1 and "installing the stacks' Python packages" in said[0]
    assert state.local_dir is not None and state.local_dir.is_dir()
    runner.prepare(stacks, build / "venv.log", notify=said.append)
    assert len(said) == 1
