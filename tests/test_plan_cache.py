"""Recorded plans: a stack is planned again exactly when its files, its environment or an upstream
output it reads changed; a recorded plan is the plan a fresh run gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from crosswalk.compiler.cli import main
from crosswalk.compiler.diff import Source, diff_sources
from crosswalk.compiler.diff_render import render_json as render_diff
from crosswalk.compiler.emit import CACHE_FILE, compile_file
from crosswalk.compiler.mock_run import run_program
from crosswalk.compiler.mock_values import UNKNOWN, Secret
from crosswalk.compiler.plan import plan_tree
from crosswalk.compiler.plan_cache import load_plan, plan_data, plan_key, read_outputs
from crosswalk.compiler.plan_render import render_json, render_text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "aws" / "platform.yaml"
LAYERS = [
    "01-identity",
    "02-managed-infra",
    "03-cluster",
    "04-cluster-services",
    "05-app-services",
]
APPS = [
    "06-apps/admin",
    "06-apps/checkout",
    "06-apps/nightly-report",
    "06-apps/order-worker",
    "06-apps/search",
    "06-apps/storefront",
]


class Counting:
    """run_program, noting which stacks really ran (a custom runner plans in this process)."""

    def __init__(self):
        self.ran: list[str] = []

    def __call__(self, program_dir, **options):
        self.ran.append(f"{Path(program_dir).parent.name}/{Path(program_dir).name}".lstrip("/"))
        return run_program(program_dir, **options)


def _plan(out: Path, env: str = "dev", **options):
    counting = Counting()
    result = plan_tree(out, env, cache=True, runner=counting, **options)
    return result, sorted(_dir(name) for name in counting.ran)


def _dir(ran: str) -> str:
    """'out/01-identity' or '06-apps/admin' -> the stack dir."""
    parent, name = ran.split("/")
    return f"06-apps/{name}" if parent == "06-apps" else name


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> tuple[Path, str]:
    """A compiled sample planned once with the cache on: (tree, its JSON plan)."""
    root = tmp_path_factory.mktemp("cache")
    shutil.copy(SAMPLE, root / "platform.yaml")
    out = root / "out"
    assert compile_file(root / "platform.yaml", out).files
    result, ran = _plan(out)
    assert ran == sorted(LAYERS + APPS) and not any(s.cached for s in result.stacks)
    return out, render_json(result)


@pytest.fixture
def tree(planned, tmp_path: Path) -> Path:
    shutil.copytree(planned[0].parent, tmp_path / "copy")
    return tmp_path / "copy" / "out"


def test_a_recorded_plan_equals_a_fresh_one(planned, tree: Path) -> None:
    cached, ran = _plan(tree)
    assert ran == [] and all(s.cached for s in cached.stacks)
    fresh = plan_tree(tree, "dev")  # no cache: every stack runs
    assert render_json(cached) == render_json(fresh) == planned[1]
    for before, after in zip(fresh.stacks, cached.stacks, strict=True):
        assert after.resources == before.resources  # every field, origins and outputs included
        assert after.exports == before.exports and after.logs == before.logs
    assert "(cached)" in render_text(cached) and "(cached)" not in render_text(fresh)


def test_a_changed_app_is_the_only_stack_planned_again(tree: Path) -> None:
    source = tree.parent / "platform.yaml"
    text = source.read_text()
    source.write_text(text.replace("storefront:1.4.2", "storefront:1.4.3"))
    compile_file(source, tree)
    result, ran = _plan(tree)
    assert ran == ["06-apps/storefront"]
    image = json.dumps(render_json(result))
    assert "storefront:1.4.3" in image and "storefront:1.4.2" not in image
    assert render_json(result) == render_json(plan_tree(tree, "dev"))


def test_an_upstream_output_change_replans_exactly_its_readers(tree: Path) -> None:
    """checkout and storefront read gateway_namespace; admin and order-worker do not, and no one
    reads what 05-app-services reads from."""
    program = tree / "05-app-services" / "__main__.py"
    text = program.read_text()
    old = 'pulumi.export("gateway_namespace", pulumi.Output.from_input("gateway"))'
    assert old in text
    program.write_text(text.replace(old, old.replace('"gateway")', '"edge-gateway")')))
    result, ran = _plan(tree)
    assert ran == ["05-app-services", "06-apps/checkout", "06-apps/storefront"]
    assert result.stack("05-app-services").exports["gateway_namespace"] == "edge-gateway"
    assert render_json(result) == render_json(plan_tree(tree, "dev"))
    # Back as it was: the file holds the last plan of each stack, so the same three run again.
    program.write_text(text)
    result, ran = _plan(tree)
    assert ran == ["05-app-services", "06-apps/checkout", "06-apps/storefront"]
    assert _plan(tree)[1] == []


def test_environments_are_recorded_side_by_side(tree: Path) -> None:
    prod, ran = _plan(tree, "prod")
    assert ran == sorted(LAYERS + APPS)
    assert _plan(tree, "dev")[1] == [] and _plan(tree, "prod")[1] == []
    assert render_json(prod) == render_json(plan_tree(tree, "prod"))


def test_only_the_stacks_asked_for_are_planned_and_recorded(planned, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert compile_file(SAMPLE, out).files
    _, ran = _plan(out, only=["03-cluster"])
    assert ran == ["01-identity", "02-managed-infra", "03-cluster"]
    assert _plan(out)[1] == ["04-cluster-services", "05-app-services", *APPS]


def test_a_recompile_keeps_the_recorded_plans(tree: Path) -> None:
    cache = tree / CACHE_FILE
    before = cache.read_text()
    assert before.count("\n") == 1 + len(LAYERS + APPS)  # the compile's record, then a plan each
    assert compile_file(tree.parent / "platform.yaml", tree).changed == []
    assert cache.read_text() == before
    source = tree.parent / "platform.yaml"
    source.write_text(source.read_text().replace("checkout:2.0.1", "checkout:2.0.2"))
    compile_file(source, tree)
    after = cache.read_text()
    assert after.splitlines()[0] != before.splitlines()[0]
    assert after.splitlines()[1:] == before.splitlines()[1:]
    assert _plan(tree)[1] == ["06-apps/checkout"]


def test_deleting_or_damaging_the_cache_only_costs_time(planned, tree: Path) -> None:
    cache = tree / CACHE_FILE
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join([lines[0], "{not json", lines[1][:40], *lines[2:]]) + "\n")
    result, ran = _plan(tree)
    assert ran == [json.loads(lines[1])["stack"]] and render_json(result) == planned[1]
    cache.unlink()
    result, ran = _plan(tree)  # no compile record: nothing is recorded, everything runs
    assert ran == sorted(LAYERS + APPS) and render_json(result) == planned[1]
    assert not cache.exists()


def test_a_cache_of_an_older_version_is_not_read(planned, tree: Path) -> None:
    cache = tree / CACHE_FILE
    first, rest = cache.read_text().split("\n", 1)
    record = json.loads(first)
    record["version"] -= 1
    cache.write_text(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n" + rest)
    assert _plan(tree)[1] == sorted(LAYERS + APPS)


def test_failed_stacks_are_not_recorded(tree: Path) -> None:
    program = tree / "06-apps" / "admin" / "__main__.py"
    program.write_text(program.read_text() + "\nraise RuntimeError('half done')\n")
    for _ in range(2):
        result, ran = _plan(tree)
        assert ran == ["06-apps/admin"] and result.stack("06-apps/admin").status == "failed"


def test_the_key_covers_the_outputs_a_program_reads_and_no_others() -> None:
    files = [("__main__.py", b'x = ref.require_output("a")\ny = ref.get_output(\n    "b"\n)\n')]
    upstream = {"up": {"a": 1, "b": Secret("s"), "c": 3}}
    key = plan_key(files, "p", "dev", upstream)
    assert plan_key(files, "p", "dev", {"up": {**upstream["up"], "c": 4}}) == key
    assert plan_key(files, "p", "dev", {"up": {**upstream["up"], "a": 2}}) != key
    assert plan_key(files, "p", "dev", {"up": {**upstream["up"], "b": "s"}}) != key  # not secret
    assert plan_key(files, "p", "prod", upstream) != key
    assert plan_key(files, "q", "dev", upstream) != key
    assert plan_key([("__main__.py", files[0][1] + b"#")], "p", "dev", upstream) != key
    assert plan_key([*files, ("helper.py", b"")], "p", "dev", upstream) != key


@pytest.mark.parametrize(
    "program",
    [
        b'name = "a"\nx = ref.require_output(name)\n',
        b'x = ref.require_output(f"{prefix}_host")\n',
        b"x = ref.outputs\n",
        b'x = ref.get_output_details("a" + suffix)\n',
    ],
)
def test_a_program_that_reads_outputs_by_computed_names_is_keyed_on_them_all(program) -> None:
    files = [("__main__.py", program)]
    assert read_outputs(files) is None
    key = plan_key(files, "p", "dev", {"up": {"a": 1, "c": 3}})
    assert plan_key(files, "p", "dev", {"up": {"a": 1, "c": 4}}) != key


def test_a_plan_survives_its_json_form() -> None:
    from crosswalk.compiler.mocks import ResourceRecord
    from crosswalk.compiler.plan import StackPlan

    record = ResourceRecord(
        urn="urn:pulumi:dev::p::t::n",
        type="t",
        name="n",
        operation="register",
        custom=True,
        remote=False,
        id=None,
        parent=None,
        provider=None,
        dependencies=["urn:a"],
        property_dependencies={"x": ["urn:a"]},
        inputs={"s": Secret({"k": [1, 1.5, None]}), "u": UNKNOWN, "n": 1.0},
        outputs={"o": Secret("v")},
        source_line=3,
        origin="apps.x",
        aliases=[{"name": "old"}],
        protect=True,
    )
    plan = StackPlan("d", "p", "apps", [record], {"e": Secret("x")}, logs=[("warning", "w")])
    again = load_plan(json.loads(json.dumps(plan_data(plan))), "d", "p", "apps")
    assert again.resources == plan.resources and again.exports == plan.exports
    assert again.resources[0].inputs["u"] is UNKNOWN and again.logs == plan.logs


def test_diff_keeps_both_versions_and_reuses_their_plans(tmp_path: Path) -> None:
    text = SAMPLE.read_text()
    old = Source("old.yaml", text.encode())
    new = Source("new.yaml", text.replace("storefront:1.4.2", "storefront:1.5.0").encode())
    fresh = diff_sources(old, new, "dev")
    first, second = Counting(), Counting()
    cached = tmp_path / ".crosswalk" / "diff"
    warm = diff_sources(old, new, "dev", runner=first, cache_dir=cached)
    again = diff_sources(old, new, "dev", runner=second, cache_dir=cached)
    assert render_diff(warm) == render_diff(again) == render_diff(fresh)
    assert sorted({_dir(r) for r in first.ran}) == [
        "01-identity",
        "02-managed-infra",
        "03-cluster",
        "04-cluster-services",
        "05-app-services",
        "06-apps/checkout",  # storefront depends on it
        "06-apps/storefront",
    ]
    assert second.ran == []
    # Another change on the same base: only the stacks that differ run.
    third = Counting()
    newer = Source("new.yaml", text.replace("checkout:2.0.1", "checkout:2.0.9").encode())
    result = diff_sources(old, newer, "dev", runner=third, cache_dir=cached)
    assert [s.dir for s in result.environments[0].stacks] == ["06-apps/checkout"]
    assert third.ran == ["06-apps/checkout"]  # the new one: the old one's plan is recorded


def test_the_diff_command_keeps_its_cache_next_to_the_platform_file(tmp_path: Path) -> None:
    text = SAMPLE.read_text()
    (tmp_path / "old.yaml").write_text(text)
    (tmp_path / "platform.yaml").write_text(text.replace("admin:0.9.0", "admin:0.9.1"))
    runner = CliRunner()
    args = ["diff", str(tmp_path / "old.yaml"), str(tmp_path / "platform.yaml"), "--env", "dev"]
    cold = runner.invoke(main, [*args, "--json"])
    assert cold.exit_code == 1, cold.output
    assert (tmp_path / ".crosswalk" / "diff" / "new" / CACHE_FILE).is_file()
    warm = runner.invoke(main, [*args, "--json", "-j", "2"])
    bare = runner.invoke(main, [*args, "--json", "--no-cache"])
    assert cold.output == warm.output == bare.output
