"""Packaging: the folders `compiler/`, `schema/` and `providers/` ship as
`crosswalk.compiler`, `crosswalk.schema` and `crosswalk.providers` (a PEP 420
namespace, no `crosswalk/__init__.py`), and the installed wheel works on its own.

The traps these tests guard (STYLE.md, "Packaging the requested top level"):
a subpackage or data file missing from pyproject.toml silently vanishes from
the wheel while the editable install and every in-repo test still see it; and
`python -m pytest` from the root puts the root on sys.path, so a bare
`import compiler` would work in tests and fail for users.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import crosswalk.compiler

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {
    "compiler": "crosswalk/compiler",
    "schema": "crosswalk/schema",
    "providers": "crosswalk/providers",
}
BARE_NAMES = set(FOLDERS)
# What setuptools reads besides the package folders.
BUILD_INPUTS = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
MINIMAL = """\
apiVersion: crosswalk/v1
kind: Platform
name: tiny
cloud: {provider: aws, region: us-west-2}
cluster:
  nodePools: [{name: general}]
"""


def _is_source(path: Path) -> bool:
    """A file of the package as written: not a cache, editor backup or dotfile."""
    return (
        path.is_file()
        and "__pycache__" not in path.parts
        and not path.name.startswith(".")
        and not path.name.endswith(("~", ".pyc", ".orig", ".rej", ".swp"))
    )


def expected_wheel_files() -> set[str]:
    """Every module and data file under the three folders, as the wheel names it."""
    return {
        f"{target}/{path.relative_to(REPO / folder).as_posix()}"
        for folder, target in FOLDERS.items()
        for path in (REPO / folder).rglob("*")
        if _is_source(path)
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the tree, without build isolation (no
    network: setuptools and wheel come from the test extra). The copy keeps
    setuptools' build/ and *.egg-info out of a checkout others work in."""
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(
            REPO / folder,
            source / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        check=False,
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"wheel build failed:\n{build.stdout}\n{build.stderr}"
    (built,) = out.glob("crosswalk-*.whl")
    return built


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _dist_info_file(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
        return archive.read(member).decode("utf-8")


# --- the wheel's contents ---------------------------------------------------------


def test_wheel_holds_every_module_and_data_file(wheel):
    expected = expected_wheel_files()
    assert any(name.endswith(".json") for name in expected), "schema/*.json not found in the tree"
    missing = sorted(expected - _names(wheel))
    assert not missing, (
        "in the tree but not in the wheel (add the subpackage to [tool.setuptools] packages"
        f" and package-dir, or the data file to package-data): {missing}"
    )


def test_wheel_ships_only_the_crosswalk_namespace(wheel):
    names = _names(wheel)
    top = {name.split("/", 1)[0] for name in names if ".dist-info/" not in name}
    assert top == {"crosswalk"}, f"unexpected top-level entries: {sorted(top - {'crosswalk'})}"
    assert "crosswalk/__init__.py" not in names, "crosswalk must stay a PEP 420 namespace"
    packages = {name.split("/")[1] for name in names if name.startswith("crosswalk/")}
    assert packages == BARE_NAMES, f"packages under crosswalk/: {sorted(packages)}"


def test_wheel_declares_the_console_script(wheel):
    entry_points = configparser.ConfigParser()
    entry_points.read_string(_dist_info_file(wheel, "entry_points.txt"))
    assert entry_points["console_scripts"]["crosswalk"].strip() == "crosswalk.compiler.cli:run"
    metadata = _dist_info_file(wheel, "METADATA")
    assert "Name: crosswalk\n" in metadata


# --- the installed wheel, away from the source tree -------------------------------


def _fresh_venv_with_wheel(wheel: Path, where: Path) -> Path:
    """A venv holding only the wheel, whose dependencies come from this
    interpreter's site-packages; returns the venv's site-packages.

    Why not `venv --system-site-packages`: that processes the machine's .pth
    files, including the editable install's `__editable__.crosswalk-*.pth`,
    whose finder maps `crosswalk.compiler.*` onto this checkout. A module
    missing from the wheel would then quietly load from the source tree. Here
    the venv is isolated and a `deps.pth` only *appends* the machine's
    site-packages to sys.path: .pth files inside a directory named that way are
    not processed, so the editable finder never loads, and no network is
    needed (pip installs the wheel alone, with --no-deps --no-index).
    """
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", "--no-build-isolation", str(wheel)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, f"{install.stdout}\n{install.stderr}"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # This interpreter's site-packages, and those a venv made with
    # --system-site-packages reaches beyond its own.
    machine = dict.fromkeys(
        [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
        + [path for path in sys.path if path.endswith("site-packages")]
    )
    (site_packages / "deps.pth").write_text("".join(f"{path}\n" for path in machine))
    return site_packages


def _isolated_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONNOUSERSITE"] = "1"
    return env


PROBE = """\
import importlib, importlib.util, json, sys
modules = [m for m in sys.argv[1:]]
for name in modules:
    importlib.import_module(name)
import crosswalk.compiler
print(json.dumps({
    "compiler": crosswalk.compiler.__file__,
    "crosswalk_file": getattr(sys.modules["crosswalk"], "__file__", None),
    "finders": [type(f).__module__ + "." + getattr(f, "__name__", type(f).__name__)
                for f in sys.meta_path],
    "bare": {n: getattr(importlib.util.find_spec(n), "origin", None)
             for n in ("compiler", "schema", "providers")},
}))
"""


@pytest.mark.slow
def test_installed_wheel_runs_without_the_source_tree(wheel, tmp_path):
    site_packages = _fresh_venv_with_wheel(wheel, tmp_path)
    bin_dir = site_packages.parents[2] / "bin"
    work = tmp_path / "elsewhere"  # outside the repo: nothing of the checkout nearby
    work.mkdir()
    env = _isolated_env()

    def run(*command: str):
        return subprocess.run(
            list(command),
            check=False,
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    modules = sorted(
        name[: -len(".py")].replace("/", ".").removesuffix(".__init__")
        for name in _names(wheel)
        if name.endswith(".py")
    )
    probe = run(str(bin_dir / "python"), "-c", PROBE, *modules)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert Path(found["compiler"]).is_relative_to(site_packages), found["compiler"]
    assert found["crosswalk_file"] is None, "crosswalk must stay a namespace package"
    assert not [f for f in found["finders"] if "editable" in f.lower()], found["finders"]
    for name, origin in found["bare"].items():
        assert origin is None or not Path(origin).is_relative_to(REPO), (name, origin)

    crosswalk = str(bin_dir / "crosswalk")
    sample = REPO / "samples" / "minimal" / "platform.yaml"
    platform = work / "platform.yaml"
    platform.write_text(sample.read_text() if sample.is_file() else MINIMAL)

    validate = run(crosswalk, "validate", str(platform))
    assert validate.returncode == 0, validate.stdout + validate.stderr

    schema = run(crosswalk, "schema")
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout) == json.loads(
        (REPO / "schema/platform.schema.json").read_text()
    )

    # The starters are package data of crosswalk.compiler, read from the install.
    init = run(crosswalk, "init", "--cloud", "gcp", str(work / "starter"))
    assert init.returncode == 0, init.stdout + init.stderr
    assert (work / "starter" / "platform.yaml").is_file()


# --- the bare top-level names stay out of reach -----------------------------------


def test_crosswalk_compiler_resolves_to_the_package():
    """Under the editable install the package maps onto the checkout's folder
    (or onto site-packages when tests run against an installed wheel)."""
    origin = Path(crosswalk.compiler.__file__).resolve()
    assert crosswalk.compiler.__name__ == "crosswalk.compiler"
    assert origin == REPO / "compiler" / "__init__.py" or origin.parts[-3:-1] == (
        "crosswalk",
        "compiler",
    ), origin
    assert getattr(sys.modules["crosswalk"], "__file__", None) is None


def test_bare_names_are_not_installed(tmp_path):
    """Outside the repo, `import compiler` must fail: the install exposes only
    `crosswalk.*` (an `editable_mode=compat` install would put the root on
    sys.path and make it work everywhere)."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        check=False,
        cwd=tmp_path,
        env=_isolated_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    for name, origin in json.loads(probe.stdout)["bare"].items():
        assert origin is None or not Path(origin).is_relative_to(REPO), (name, origin)


def _bare_imports(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError:  # a deliberately broken fixture
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.relative_to(REPO)}:{node.lineno}: {name}"
            for name in names
            if name.split(".")[0] in BARE_NAMES
        ]
    return found


def test_code_imports_crosswalk_not_the_bare_folders():
    """`python -m pytest` from the root would make `import compiler` work in
    tests, so a bare import would only break for users: forbid it in the code."""
    files = [
        path
        for folder in (*FOLDERS, "tests")
        for path in sorted((REPO / folder).rglob("*.py"))
        if _is_source(path) and "node_modules" not in path.parts
    ]
    offenders = [hit for path in files for hit in _bare_imports(path)]
    assert not offenders, f"use absolute `crosswalk.` imports: {offenders}"
