"""`plan --offline --jobs N`: stacks planned in worker processes give the bytes one process gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from crosswalk.compiler.cli import main
from crosswalk.compiler.emit import compile_file
from crosswalk.compiler.plan import (
    PlanRequest,
    PlanResult,
    StackPlanner,
    load_tree,
    plan_tree,
    sdk_modules,
)
from crosswalk.compiler.plan_cli import plan_command
from crosswalk.compiler.plan_render import render_json

ROOT = Path(__file__).resolve().parent.parent
ACME = Path(__file__).parent / "plan_fixtures" / "acme"  # one app fails, one depends on it


@pytest.fixture(scope="module")
def aws_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("jobs") / "out"
    assert compile_file(ROOT / "samples" / "aws" / "platform.yaml", out).files
    return out


def test_workers_plan_the_same_bytes_as_one_process(aws_tree: Path) -> None:
    one = render_json(plan_tree(aws_tree, "dev", jobs=1))
    tree = load_tree(aws_tree)
    requests = [PlanRequest(e.dir, tree.root, e, "dev", e.needs) for e in tree.stacks]
    plans: dict = {}
    with StackPlanner(jobs=2, min_parallel=2) as planner:
        planner.run(requests, plans)
        assert planner.workers_started  # the app stacks ran in worker processes
    assert render_json(plan_tree(aws_tree, "dev", jobs=2)) == one
    assert all(plans[e.dir].error is None for e in tree.stacks)
    assert '"status": "ok"' in one and '"status": "failed"' not in one


def test_a_failure_and_the_stacks_it_skips_read_the_same_with_workers() -> None:
    one = plan_tree(ACME, "dev", jobs=1)
    assert {s.status for s in one.stacks} == {"ok", "failed", "skipped"}
    tree = load_tree(ACME)
    requests = [PlanRequest(e.dir, tree.root, e, "dev", e.needs) for e in tree.stacks]
    plans: dict = {}
    with StackPlanner(jobs=3, min_parallel=2) as planner:
        planner.run(requests, plans)
        assert planner.workers_started
    again = PlanResult(one.platform, "dev", [plans[e.dir] for e in tree.stacks], one.warnings)
    assert render_json(again) == render_json(one)


def test_a_small_plan_stays_in_this_process() -> None:
    tree = load_tree(ACME)
    requests = [PlanRequest(e.dir, tree.root, e, "dev", e.needs) for e in tree.stacks]
    with StackPlanner(jobs=2) as planner:  # fewer stacks than workers pay for
        planner.run(requests, {})
        assert not planner.workers_started


def test_the_cli_plans_with_jobs_and_prints_the_same_json(aws_tree: Path, tmp_path: Path) -> None:
    tree = tmp_path / "out"
    shutil.copytree(aws_tree, tree)
    runner = CliRunner()
    args = ["plan", str(tree), "--offline", "--json", "--no-cache"]
    one = runner.invoke(main, [*args, "--jobs", "1"])
    two = runner.invoke(main, [*args, "-j", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert one.output == two.output


def test_help_documents_jobs_and_the_cache() -> None:
    text = CliRunner().invoke(plan_command, ["--help"]).output
    assert "--jobs N" in text and "one per core" in text and "--no-cache" in text
    diff_help = CliRunner().invoke(main, ["diff", "--help"]).output
    assert "--jobs N" in diff_help and "--no-cache" in diff_help and ".crosswalk/diff/" in diff_help


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_bad_jobs_value_is_a_usage_error(value: str, aws_tree: Path) -> None:
    result = CliRunner().invoke(main, ["plan", str(aws_tree), "--offline", "--jobs", value])
    assert result.exit_code == 2
    assert "--jobs" in result.output and "Traceback" not in result.output
    diff = CliRunner().invoke(main, ["diff", "a.yaml", "b.yaml", "--jobs", value])
    assert diff.exit_code == 2 and "--jobs" in diff.output


def test_a_planner_needs_at_least_one_job() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StackPlanner(jobs=0)


def test_the_workers_preload_the_sdk_submodules_programs_use() -> None:
    program = (
        "import pulumi\nimport pulumi_aws as aws\nimport pulumi_kubernetes as k8s\n"
        "vpc = aws.ec2.Vpc('v')\nns = k8s.core.v1.Namespace('n')\nnot_aws.s3.Bucket('b')\n"
    )
    modules = sdk_modules([program])
    assert {"pulumi_aws.ec2", "pulumi_kubernetes.core.v1", "pulumi_aws"} <= set(modules)
    assert not any(".s3" in m for m in modules)
