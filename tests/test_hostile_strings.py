"""Every free-text value of platform.yaml reaches the cloud exactly as written:
hostile strings go through the code generator as literals (never pasted as
code), the programs run under the offline plan, and the recorded inputs equal
the input strings byte for byte."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import yaml

from crosswalk.compiler.document import parse_document
from crosswalk.compiler.emit import compile_document
from crosswalk.compiler.plan import plan_tree
from crosswalk.compiler.writer import write_tree

ROOT = Path(__file__).resolve().parent.parent

HOSTILE = [
    'double " quote',
    "single ' quote",
    "both ' and \" quotes",
    'triple """ quotes',
    "triple ''' quotes",
    "back\\slash \\n not a newline \\",
    "real\nnew\nlines\n",
    "tab\tand\rcarriage",
    "${HOME} $(whoami) `id`",
    "{} {0} {name} %s %(x)s",
    "]]}}) ; import os; os.system('x') #",
    "unicode: ü 漢字 🙂 \u2028 \u00a0",
    "\\u0041 is not A",
    "--flag=value with spaces",
]
# Paths allow no whitespace, but everything else.
HOSTILE_PATHS = ["/a'b\"c\\d{e}${f}ü漢🙂%s", '/"""', "/'''\\"]


def hostile_platform() -> dict:
    data = yaml.safe_load((ROOT / "samples" / "aws" / "platform.yaml").read_text())
    storefront = data["apps"][0]
    assert storefront["name"] == "storefront"
    storefront["env"] = {f"VAR_{i}": text for i, text in enumerate(HOSTILE)}
    storefront["command"] = HOSTILE[:7]
    storefront["args"] = HOSTILE[7:]
    storefront["health"] = {"path": HOSTILE_PATHS[0]}
    storefront["ingress"]["path"] = HOSTILE_PATHS[1]
    data["identity"]["teams"][0]["members"] = HOSTILE[:4]
    # A config volume's files and a migration's command.
    (search,) = [a for a in data["apps"] if a["name"] == "search"]
    search["volumes"][1]["files"] = {f"file-{i}.txt": text for i, text in enumerate(HOSTILE)}
    (checkout,) = [a for a in data["apps"] if a["name"] == "checkout"]
    checkout["migrations"][0]["command"] = HOSTILE[7:]
    return data


def plan_of(data: dict, tmp_path: Path):
    raw = yaml.safe_dump(data, allow_unicode=True).encode("utf-8")
    document, problems = parse_document(raw, "platform.yaml")
    assert document is not None, problems
    result = compile_document(document)
    assert not result.report.errors, [d.render() for d in result.report.errors]
    write_tree(result.files, tmp_path / "out")
    plan = plan_tree(tmp_path / "out", "dev")
    assert plan.ok, [(s.dir, s.error) for s in plan.stacks if s.error]
    return plan


def resource(plan, stack: str, type_: str, name_part: str):
    found = [r for r in plan.stack(stack).resources if r.type == type_ and name_part in r.name]
    assert len(found) == 1, [r.name for r in plan.stack(stack).resources if r.type == type_]
    return found[0]


def test_hostile_strings_round_trip_exactly(tmp_path: Path) -> None:
    plan = plan_of(hostile_platform(), tmp_path)

    config = resource(plan, "06-apps/storefront", "kubernetes:core/v1:ConfigMap", "storefront")
    assert config.inputs["data"] == {f"VAR_{i}": text for i, text in enumerate(HOSTILE)}

    deployment = resource(plan, "06-apps/storefront", "kubernetes:apps/v1:Deployment", "storefront")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == HOSTILE[:7]
    assert container["args"] == HOSTILE[7:]
    assert container["livenessProbe"]["httpGet"]["path"] == HOSTILE_PATHS[0]
    assert container["readinessProbe"]["httpGet"]["path"] == HOSTILE_PATHS[0]

    route = resource(
        plan,
        "06-apps/storefront",
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
        "storefront",
    )
    matches = route.inputs["spec"]["rules"][0]["matches"]
    assert matches[0]["path"]["value"] == HOSTILE_PATHS[1]

    files = resource(plan, "06-apps/search", "kubernetes:core/v1:ConfigMap", "search.settings")
    assert files.inputs["data"] == {f"file-{i}.txt": text for i, text in enumerate(HOSTILE)}
    migration = resource(plan, "06-apps/checkout", "kubernetes:batch/v1:Job", "checkout.schema")
    assert migration.inputs["spec"]["template"]["spec"]["containers"][0]["command"] == HOSTILE[7:]

    role = resource(plan, "01-identity", "aws:iam/role:Role", "team-platform")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"]["AWS"] == HOSTILE[:4]


def test_generated_code_holds_them_only_as_literals() -> None:
    raw = yaml.safe_dump(hostile_platform(), allow_unicode=True).encode("utf-8")
    document, _ = parse_document(raw, "platform.yaml")
    files = compile_document(document).files
    for path in ("06-apps/storefront/__main__.py", "01-identity/__main__.py"):
        tree = ast.parse(files[path])
        imports = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert imports <= {"json", "pulumi", "pulumi_aws", "pulumi_kubernetes"}, imports
        called = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        assert not any("system" in name or name in ("eval", "exec") for name in called), called
        strings = {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
        # Each hostile value used in this program is one whole string constant.
        used = [
            text for text in HOSTILE if text in files[path] or json.dumps(text)[1:-1] in files[path]
        ]
        for text in HOSTILE[:4]:
            assert text in strings, f"{text!r} is not a literal of {path}"
        assert used


def test_control_characters_in_an_environments_env_reach_the_app_as_written(tmp_path: Path):
    """C0 and C1 controls, U+0085, U+2028/2029 and a byte order mark in one
    environment's env value: Pulumi.<env>.yaml must carry them unchanged
    (YAML readers refused some and folded others into a space)."""
    case = ROOT / "tests" / "cases" / "valid" / "override-env-control-characters.yaml"
    document, problems = parse_document(case.read_bytes(), "platform.yaml")
    assert document is not None, problems
    written = document.data["environments"]["prod"]["overrides"]["apps"][0]["env"]["GREETING"]
    assert {"\x01", "\x7f", "\x80", "\x85", "\u2028", "\u2029", "\ufeff"} <= set(written)
    result = compile_document(document)
    assert not result.report.errors
    write_tree(result.files, tmp_path / "out")
    for env, expected in (("prod", written), ("dev", "hello")):
        plan = plan_tree(tmp_path / "out", env)
        assert plan.ok, [(s.dir, s.error) for s in plan.stacks if s.error]
        config = resource(plan, "06-apps/shop", "kubernetes:core/v1:ConfigMap", "shop")
        assert config.inputs["data"] == {"GREETING": expected}
