"""The compiled tree as a committed artifact: stable source references, recompiles
that keep what Pulumi and users put in OUT, `compile --check`, and programs that
run on their own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from crosswalk.compiler.cli import main
from crosswalk.compiler.emit import CACHE_FILE, compile_file, yaml_path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ["aws", "gcp", "azure", "minimal"]


def sample(name: str) -> Path:
    return ROOT / "samples" / name / "platform.yaml"


def files_of(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def reversed_keys(value):
    if isinstance(value, dict):
        return {k: reversed_keys(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def commented(text: str) -> str:
    """The same platform with a comment block on top, and a comment and blank
    lines before every top-level section."""
    lines = ["# Platform of the payments team.", "#", "# Owners: platform@example.com", ""]
    for line in text.splitlines():
        if line[:1].isalpha() and not line.startswith(("apiVersion", "kind")):
            lines += ["", "", f"# --- {line.split(':')[0]} ---"]
        lines.append(line)
    return "\n".join(lines) + "\n"


# --- stable source references ----------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_comments_and_blank_lines_rewrite_nothing_and_diff_sees_nothing(
    name: str, tmp_path: Path
) -> None:
    source = tmp_path / "platform.yaml"
    original = sample(name).read_text()
    source.write_text(original)
    out = tmp_path / "out"
    assert compile_file(source, out).files
    before = files_of(out)

    source.write_text(commented(original))
    assert compile_file(source, out).changed == []
    (out / CACHE_FILE).unlink()  # not thanks to the cache: the same bytes come out
    assert compile_file(source, out).changed == [CACHE_FILE]
    after = files_of(out)
    del before[CACHE_FILE], after[CACHE_FILE]
    assert after == before

    (tmp_path / "old.yaml").write_text(original)
    result = CliRunner().invoke(main, ["diff", str(tmp_path / "old.yaml"), str(source)])
    assert result.exit_code == 0 and "no stack changes" in result.output


@pytest.mark.parametrize("name", SAMPLES)
def test_reordered_keys_rewrite_nothing(name: str, tmp_path: Path) -> None:
    source = tmp_path / "platform.yaml"
    source.write_text(sample(name).read_text())
    out = tmp_path / "out"
    compile_file(source, out)
    data = yaml.safe_load(sample(name).read_text())
    source.write_text(yaml.safe_dump(reversed_keys(data), sort_keys=False))
    (out / CACHE_FILE).unlink()
    assert compile_file(source, out).changed == [CACHE_FILE]


def test_generated_comments_cite_yaml_paths_not_lines(tmp_path: Path) -> None:
    out = tmp_path / "out"
    compile_file(sample("aws"), out)
    program = (out / "06-apps" / "storefront" / "__main__.py").read_text()
    assert "# apps.storefront.ingress\n" in program
    assert "platform.yaml:" not in "".join(p.read_text() for p in out.rglob("*.py"))


@pytest.mark.parametrize(
    "path, expected",
    [
        (("apps", 1, "ingress"), "apps.shop.ingress"),
        (("apps", 0), "apps[0]"),  # no usable name
        (("apps", 1, "uses", 0), "apps.shop.uses[0]"),
        (("tags", "example.com/team"), 'tags["example.com/team"]'),
        (("tags", "a\nimport os"), 'tags["a\\nimport os"]'),  # cannot end the comment
        (("apps", 7), "apps[7]"),  # beyond the list (a default)
        (("cluster", "endpoint", "public"), "cluster.endpoint.public"),
    ],
)
def test_yaml_path(path: tuple, expected: str) -> None:
    data = {
        "apps": [{"name": "bad name"}, {"name": "shop", "uses": ["orders"]}],
        "tags": {"example.com/team": "x"},
    }
    assert yaml_path(data, path) == expected
    assert "\n" not in yaml_path(data, path)


def test_a_removed_line_moves_no_citation(tmp_path: Path) -> None:
    text = sample("gcp").read_text()
    first = tmp_path / "a" / "platform.yaml"
    second = tmp_path / "b" / "platform.yaml"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text(text)
    second.write_text("\n".join(line for line in text.splitlines() if line.strip()) + "\n")
    compile_file(first, tmp_path / "out-a")
    compile_file(second, tmp_path / "out-b")
    a, b = files_of(tmp_path / "out-a"), files_of(tmp_path / "out-b")
    del a[CACHE_FILE], b[CACHE_FILE]
    assert a == b
    shutil.rmtree(tmp_path / "out-b")
