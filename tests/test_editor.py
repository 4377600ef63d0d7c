"""The editor integration, checked with the real yaml-language-server.

The server (the one inside VS Code's Red Hat YAML extension, pinned in
tests/editor/package.json) runs over stdio through tests/editor/lsp.py. These
tests prove that schema/platform.schema.json works in an editor as it does in
`crosswalk validate`: the same problems on the same lines, completion of
allowed values, descriptions on hover; that every sample is clean through its
modeline; and that `crosswalk init` output is wired to its schema both through
the modeline and through the .vscode/settings.json it writes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crosswalk.compiler.cli import main as cli

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schema" / "platform.schema.json"
SAMPLES = sorted(REPO.glob("samples/*/platform.yaml"))
CLOUDS = ("aws", "gcp", "azure")


def _load_client():
    """tests/editor/lsp.py, imported by path so it works whatever the rootdir."""
    spec = importlib.util.spec_from_file_location(
        "crosswalk_editor_lsp", REPO / "tests/editor/lsp.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lsp = _load_client()
_MISSING = lsp.unavailable()
if _MISSING and os.environ.get("CI"):
    # CI installs node and the server (.ci/run); a skip there would hide a broken setup.
    raise RuntimeError(f"editor tests cannot run in CI: {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

# A small valid platform; each case below breaks one line of it.
CASE = """\
# yaml-language-server: $schema={schema}
apiVersion: crosswalk/v1
kind: Platform
name: acme
cloud:
  provider: aws
  region: us-west-2
network:
  cidr: 10.0.0.0/16
  natGateways: single
cluster:
  endpoint: {public: false}
  nodePools:
    - {name: general, size: medium, min: 1, max: 3}
  namespaces:
    - name: shop
apps:
  - name: storefront
    namespace: shop
    image: ghcr.io/acme/storefront:1.0.0
    replicas: 2
"""

# (line as written, the same line broken, the text the diagnostic starts at,
#  what the server's message says)
BROKEN = {
    "wrong-type": (
        "    replicas: 2",
        "    replicas: two",
        "two",
        'Incorrect type. Expected "integer"',
    ),
    "unknown-key": (
        "    replicas: 2",
        "    replica: 2",
        "replica",
        "Property replica is not allowed",
    ),
    "enum-typo": (
        "  natGateways: single",
        "  natGateways: singel",
        "singel",
        "Value is not accepted",
    ),
    "non-dns-name": ("name: acme", "name: Acme_Corp", "Acme_Corp", "does not match the pattern"),
}


def schema_node(*path: str) -> dict:
    """The schema of the value at `path`; "[]" steps into a list's items."""
    node = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for key in path:
        node = node["items"] if key == "[]" else node["properties"][key]
    return node


def case_text() -> str:
    return CASE.replace("{schema}", lsp.file_uri(SCHEMA))


def line_of(text: str, prefix: str) -> int:
    """The number of the one line of `text` that starts with `prefix`."""
    found = [i for i, line in enumerate(text.split("\n"), 1) if line.startswith(prefix)]
    assert len(found) == 1, f"{prefix!r} must start exactly one line, not {len(found)}"
    return found[0]


def replace_line(text: str, prefix: str, new: str) -> tuple[str, int]:
    """`text` with the line starting with `prefix` replaced by `new`, and its number."""
    number = line_of(text, prefix)
    lines = text.split("\n")
    lines[number - 1] = new
    return "\n".join(lines), number


def unescape_markdown(text: str) -> str:
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!<>])", r"\1", text)


def crosswalk_diagnostics(path: Path) -> list[dict]:
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def server():
    """One server for the module: documents name their schema through a modeline."""
    with lsp.LanguageServer(REPO) as running:
        yield running
        assert running.network_attempts == [], "the server tried to reach the network"


@pytest.fixture
def editor(server):
    """Opens documents on the module's server and closes them after the test."""
    opened = []

    def open_document(path: Path, text: str | None = None) -> str:
        uri = server.open(path, text)
        opened.append(uri)
        return uri

    yield open_document
    for uri in opened:
        server.close(uri)


def test_the_server_is_the_pinned_one(server):
    manifest = json.loads((REPO / "tests/editor/package.json").read_text(encoding="utf-8"))
    assert server.server_info == {
        "name": "yaml-language-server",
        "version": manifest["dependencies"]["yaml-language-server"],
    }


def test_the_unbroken_case_is_clean(editor, server, tmp_path):
    path = tmp_path / "platform.yaml"
    path.write_text(case_text(), encoding="utf-8")
    uri = editor(path)
    assert server.schemas(uri) == [lsp.file_uri(SCHEMA)]
    assert server.diagnostics(uri) == []
    assert crosswalk_diagnostics(path) == []


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_line_is_reported_there_by_the_server_and_by_validate(
    editor, server, tmp_path, case
):
    old, new, marked, message = BROKEN[case]
    text, line = replace_line(case_text(), old, new)
    column = new.index(marked) + 1
    path = tmp_path / "platform.yaml"
    path.write_text(text, encoding="utf-8")

    found = server.diagnostics(editor(path))

    assert [(d.line, d.column) for d in found] == [(line, column)], found
    assert found[0].severity == "error"
    assert message in found[0].message
    errors = [d for d in crosswalk_diagnostics(path) if d["severity"] == "error"]
    assert [(d["line"], d["column"]) for d in errors] == [(line, column)], errors


def test_completion_offers_every_provider(editor, server, tmp_path):
    text, line = replace_line(case_text(), "  provider: aws", "  provider: ")
    uri = editor(tmp_path / "platform.yaml", text)
    server.diagnostics(uri)

    labels = server.completion(uri, line, len("  provider: ") + 1)

    assert labels == schema_node("cloud", "provider")["enum"] == ["aws", "gcp", "azure"]


@pytest.mark.parametrize(
    ("prefix", "path"),
    [
        ("name:", ("name",)),
        ("  region:", ("cloud", "region")),
        ("    image:", ("apps", "[]", "image")),
    ],
    ids=["name", "cloud.region", "apps.image"],
)
def test_hover_on_a_key_shows_its_description(editor, server, tmp_path, prefix, path):
    text = case_text()
    uri = editor(tmp_path / "platform.yaml", text)
    server.diagnostics(uri)
    node = schema_node(*path)
    key_column = len(prefix) - len(prefix.lstrip()) + 1

    shown = unescape_markdown(server.hover(uri, line_of(text, prefix), key_column + 1))

    assert node.get("markdownDescription", node["description"]) in shown


def test_every_sample_is_checked():
    assert SAMPLES, "samples/*/platform.yaml: no samples found"


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.parent.name for p in SAMPLES])
def test_a_sample_is_clean_through_its_modeline(editor, server, sample):
    first_line = sample.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first_line == "# yaml-language-server: $schema=../../schema/platform.schema.json"

    uri = editor(sample)

    assert server.schemas(uri) == [lsp.file_uri(SCHEMA)]
    assert server.diagnostics(uri) == []


def init(directory: Path, cloud: str) -> Path:
    result = CliRunner().invoke(cli, ["init", "--cloud", cloud, str(directory)])
    assert result.exit_code == 0, result.output
    return directory / "platform.yaml"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_init_output_is_clean_and_wired_to_its_schema(editor, server, tmp_path, cloud):
    platform = init(tmp_path / cloud, cloud)
    validated = CliRunner().invoke(cli, ["validate", str(platform)])
    assert (validated.exit_code, validated.output) == (0, f"{platform}: ok\n")

    uri = editor(platform)
    assert server.schemas(uri) == [lsp.file_uri(platform.with_name("platform.schema.json"))]
    assert server.diagnostics(uri) == []

    # The schema is really applied: a typo planted in the file is reported there.
    text, line = replace_line(
        platform.read_text(encoding="utf-8"), "  natGateways: single", "  natGateways: singel"
    )
    server.change(uri, text)
    found = server.diagnostics(uri)
    assert [d.line for d in found] == [line], found
    assert "Value is not accepted" in found[0].message


def test_init_vscode_settings_associate_platform_files_with_the_schema(tmp_path):
    """What VS Code does with .vscode/settings.json: it sends `yaml.schemas` as is,
    and the server resolves the schema path against the workspace folder."""
    workspace = tmp_path / "workspace"
    platform = init(workspace, "aws")
    settings = json.loads((workspace / ".vscode/settings.json").read_text(encoding="utf-8"))
    schema_uri = lsp.file_uri(workspace / "platform.schema.json")
    # The modeline would win over the settings; without it only the settings apply.
    starter = platform.read_text(encoding="utf-8").split("\n", 1)[1]
    broken, line = replace_line(starter, "  provider: aws", "  provider: aws-cloud")

    with lsp.LanguageServer(workspace, settings["yaml.schemas"]) as server:
        clean = server.open(platform, starter)
        assert server.schemas(clean) == [schema_uri]
        assert server.diagnostics(clean) == []

        staging = server.open(workspace / "envs" / "staging.platform.yaml", broken)
        assert server.schemas(staging) == [schema_uri]
        found = server.diagnostics(staging)
        assert [d.line for d in found] == [line], found
        assert "Value is not accepted" in found[0].message

        other = server.open(workspace / "values.yaml", "replicas: two\n")
        assert server.schemas(other) == []
        assert server.diagnostics(other) == []
        assert server.network_attempts == []
