"""`crosswalk init`: the starter files, refusing to overwrite, clean output for
every cloud, and the same bytes every time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crosswalk.compiler.cli import main as cli
from crosswalk.compiler.starter import StarterExists, starter_files, write_starter
from crosswalk.providers import CLOUDS
from crosswalk.schema import schema_text

FILES = (
    "platform.yaml",
    "platform.schema.json",
    ".vscode/settings.json",
    ".vscode/extensions.json",
    ".gitignore",
)
MODELINE = "# yaml-language-server: $schema=platform.schema.json"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory`, by relative path."""
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_init_writes_the_starter_files(tmp_path):
    target = tmp_path / "my-platform"

    result = run("init", "--cloud", "aws", str(target))

    assert result.exit_code == 0, result.output
    assert sorted(snapshot(target)) == sorted(FILES)
    for name in FILES:
        assert f"wrote {target / name}" in result.output
    assert f"next: crosswalk validate {target / 'platform.yaml'}" in result.output

    platform = (target / "platform.yaml").read_text(encoding="utf-8")
    assert platform.split("\n", 1)[0] == MODELINE
    assert (target / "platform.schema.json").read_text(encoding="utf-8") == schema_text()
    settings = json.loads((target / ".vscode/settings.json").read_text(encoding="utf-8"))
    assert settings == {
        "yaml.schemas": {"./platform.schema.json": ["platform.yaml", "*.platform.yaml"]}
    }
    extensions = json.loads((target / ".vscode/extensions.json").read_text(encoding="utf-8"))
    assert extensions == {"recommendations": ["redhat.vscode-yaml"]}


def test_init_defaults_to_aws_in_the_current_directory(tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path) as here:
        result = runner.invoke(cli, ["init"])
        assert result.exit_code == 0, result.output
        assert sorted(snapshot(Path(here))) == sorted(FILES)
        assert "  provider: aws" in Path(here, "platform.yaml").read_text(encoding="utf-8")


OWNED = FILES[:2]  # the VS Code files are merged into, never refused or replaced


@pytest.mark.parametrize("existing", OWNED)
def test_init_refuses_to_overwrite_the_platform_or_the_schema(tmp_path, existing):
    target = tmp_path / "platform"
    (target / existing).parent.mkdir(parents=True)
    (target / existing).write_text("mine\n", encoding="utf-8")
    before = snapshot(target)

    result = run("init", "--cloud", "gcp", str(target))

    assert result.exit_code == 2
    assert str(target / existing) in result.output
    assert "--force" in result.output
    assert "Traceback" not in result.output
    assert snapshot(target) == before  # nothing written, nothing changed


def test_init_names_every_file_in_the_way(tmp_path):
    write_starter(tmp_path, "aws", force=False)

    with pytest.raises(StarterExists) as refused:
        write_starter(tmp_path, "azure", force=False)

    assert refused.value.paths == [tmp_path / name for name in OWNED]
    for name in OWNED:
        assert str(tmp_path / name) in str(refused.value)


def test_init_merges_into_the_repository_s_vscode_settings(tmp_path):
    vscode = tmp_path / ".vscode"
    vscode.mkdir()
    (vscode / "settings.json").write_text(
        json.dumps({"editor.tabSize": 4, "yaml.schemas": {"./ci.json": ["ci.yaml"]}}),
        encoding="utf-8",
    )
    (vscode / "extensions.json").write_text(
        json.dumps({"recommendations": ["ms-python.python"]}), encoding="utf-8"
    )

    result = run("init", "--cloud", "aws", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert json.loads((vscode / "settings.json").read_text(encoding="utf-8")) == {
        "editor.tabSize": 4,
        "yaml.schemas": {
            "./ci.json": ["ci.yaml"],
            "./platform.schema.json": ["platform.yaml", "*.platform.yaml"],
        },
    }
    assert json.loads((vscode / "extensions.json").read_text(encoding="utf-8")) == {
        "recommendations": ["ms-python.python", "redhat.vscode-yaml"]
    }
    again = snapshot(tmp_path)
    (tmp_path / "platform.yaml").unlink()
    (tmp_path / "platform.schema.json").unlink()
    result = run("init", "--cloud", "aws", str(tmp_path))
    assert snapshot(tmp_path) == again  # merged once: a second init adds nothing
    assert f"wrote {vscode / 'settings.json'}" not in result.output


def test_init_leaves_settings_with_comments_alone_and_says_what_to_add(tmp_path):
    vscode = tmp_path / ".vscode"
    vscode.mkdir()
    commented = '{\n  // spaces, please\n  "editor.tabSize": 4,\n}\n'
    (vscode / "settings.json").write_text(commented, encoding="utf-8")

    result = run("init", "--cloud", "aws", "--force", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert (vscode / "settings.json").read_text(encoding="utf-8") == commented
    assert f"note: {vscode / 'settings.json'} is not plain JSON" in result.output
    assert '"./platform.schema.json": ["platform.yaml", "*.platform.yaml"]' in result.output


def test_init_force_overwrites(tmp_path):
    assert run("init", "--cloud", "aws", str(tmp_path)).exit_code == 0
    (tmp_path / "platform.yaml").write_text("mine\n", encoding="utf-8")

    result = run("init", "--cloud", "azure", "--force", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert snapshot(tmp_path) == {
        name: text.encode() for name, text in starter_files("azure").items()
    }
    assert not [p for p in tmp_path.rglob("*.tmp")], "temporary files left behind"


def test_init_where_a_file_is_in_the_way_is_a_usage_error(tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("", encoding="utf-8")

    result = run("init", str(blocker / "platform"))

    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {blocker / 'platform'}: cannot write: ")
    assert "Traceback" not in result.output


def test_init_rejects_an_unknown_cloud(tmp_path):
    result = run("init", "--cloud", "openstack", str(tmp_path))

    assert result.exit_code == 2
    assert not list(tmp_path.iterdir())


def test_every_cloud_has_a_starter():
    starters = Path(__file__).resolve().parents[1] / "compiler" / "starters"
    assert sorted(p.stem for p in starters.glob("*.yaml")) == sorted(CLOUDS)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_init_output_validates_clean(tmp_path, cloud):
    assert run("init", "--cloud", cloud, str(tmp_path)).exit_code == 0
    platform = tmp_path / "platform.yaml"

    result = run("validate", "--strict", "--format", "json", str(platform))

    assert (result.exit_code, json.loads(result.stdout)) == (0, [])  # no errors, no warnings
    text = platform.read_text(encoding="utf-8")
    assert text.split("\n", 1)[0] == MODELINE
    assert f"  provider: {cloud}" in text
    assert ("  project: " in text) == (cloud == "gcp")  # GCP needs cloud.project, others refuse it


@pytest.mark.parametrize("cloud", CLOUDS)
def test_init_output_is_the_same_bytes_every_time(tmp_path, cloud):
    """Two runs of the installed command under different hash seeds (and one in
    process) write identical trees."""
    command = shutil.which("crosswalk")
    command = [command] if command else [sys.executable, "-m", "crosswalk.compiler.cli"]
    trees = []
    for seed in ("0", "1"):
        target = tmp_path / f"seed-{seed}"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run(
            [*command, "init", "--cloud", cloud, str(target)],
            check=True,
            env=env,
            capture_output=True,
        )
        trees.append(snapshot(target))
    assert run("init", "--cloud", cloud, str(tmp_path / "in-process")).exit_code == 0
    trees.append(snapshot(tmp_path / "in-process"))

    assert trees[0] == trees[1] == trees[2]
    assert all(b"\r\n" not in data for data in trees[0].values())


def test_init_keeps_crosswalks_working_files_out_of_git(tmp_path):
    target = tmp_path / "platform"
    assert run("init", str(target)).exit_code == 0
    ignored = (target / ".gitignore").read_text(encoding="utf-8")
    patterns = [line for line in ignored.splitlines() if line and not line.startswith("#")]
    assert patterns == [".crosswalk/", "venv/", "__pycache__/", "crosswalk.cache.json"]


def test_init_adds_only_the_missing_patterns_to_an_existing_gitignore(tmp_path):
    target = tmp_path / "repo"
    target.mkdir()
    (target / ".gitignore").write_text("node_modules/\nvenv\n", encoding="utf-8")
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    text = (target / ".gitignore").read_text(encoding="utf-8")
    assert text.startswith("node_modules/\nvenv\n\n# crosswalk:")
    assert text.endswith(".crosswalk/\n__pycache__/\ncrosswalk.cache.json\n")
    assert text.count("\nvenv") == 1
    again = run("init", "--force", str(target))
    assert again.exit_code == 0
    assert (target / ".gitignore").read_text(encoding="utf-8") == text
    assert f"wrote {target / '.gitignore'}" not in again.output
