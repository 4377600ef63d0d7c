"""`crosswalk init`: a commented starter platform.yaml, wired to the schema.

A starter is four files: the platform for one cloud (from the package data in
``starters/<cloud>.yaml``), a copy of the JSON Schema beside it that the
platform's modeline points at, and VS Code settings that associate
``platform.yaml`` and ``*.platform.yaml`` with that schema. Nothing is
overwritten unless asked: every target is checked before the first is
written, and each file is swapped into place whole.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from crosswalk.providers import CLOUDS

PLATFORM_FILE = "platform.yaml"
SCHEMA_FILE = "platform.schema.json"
VSCODE_SETTINGS = ".vscode/settings.json"
VSCODE_EXTENSIONS = ".vscode/extensions.json"

# The Red Hat YAML extension bundles yaml-language-server, which reads both the
# modeline and `yaml.schemas`; the latter also covers files without a modeline.
YAML_EXTENSION = "redhat.vscode-yaml"
SCHEMA_GLOBS = ("platform.yaml", "*.platform.yaml")


class StarterExists(Exception):
    """Some of the files a starter would write exist already."""

    def __init__(self, paths: list[Path]):
        self.paths = list(paths)
        names = [str(path) for path in self.paths]
        if len(names) == 1:
            message = f"{names[0]} already exists"
        else:
            message = f"{', '.join(names[:-1])} and {names[-1]} already exist"
        super().__init__(message)


def _json(data: dict) -> str:
    return json.dumps(data, indent=2) + "\n"


def starter_platform(cloud: str) -> str:
    """The commented starter platform.yaml for `cloud`."""
    if cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}; expected one of {', '.join(CLOUDS)}")
    template = resources.files("crosswalk.compiler").joinpath("starters", f"{cloud}.yaml")
    return template.read_text(encoding="utf-8")


def starter_files(cloud: str) -> dict[str, str]:
    """{path relative to the starter directory: text}, in the order they are written."""
    from crosswalk.schema import schema_text

    return {
        PLATFORM_FILE: starter_platform(cloud),
        SCHEMA_FILE: schema_text(),
        VSCODE_SETTINGS: _json({"yaml.schemas": {f"./{SCHEMA_FILE}": list(SCHEMA_GLOBS)}}),
        VSCODE_EXTENSIONS: _json({"recommendations": [YAML_EXTENSION]}),
    }


def write_starter(directory: Path, cloud: str, *, force: bool) -> list[Path]:
    """Write the starter for `cloud` into `directory` (created if needed) and
    return the paths written. Raises StarterExists, writing nothing, when any
    target exists and `force` is false; OSError when the directory cannot be
    written."""
    files = starter_files(cloud)
    targets = {directory / relative: text for relative, text in files.items()}
    existing = [path for path in targets if path.exists() or path.is_symlink()]
    if existing and not force:
        raise StarterExists(existing)
    for path, text in targets.items():
        _replace(path, text)
    return list(targets)


def _replace(path: Path, text: str) -> None:
    """Write `text` to a sibling temporary file, then rename it over `path`, so
    an interrupted write never leaves a half-written platform.yaml behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # os.open with 0o666 lets the umask decide the mode, as for any new file.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
