"""`crosswalk init`: a commented starter platform.yaml, wired to the schema.

A starter is five files: the platform for one cloud (from the package data in
``starters/<cloud>.yaml``), a copy of the JSON Schema beside it that the
platform's modeline points at, VS Code settings that associate
``platform.yaml`` and ``*.platform.yaml`` with that schema, and a
``.gitignore`` that keeps what is not to be committed out of git: what
`crosswalk apply` keeps in ``.crosswalk/``, the virtualenvs and bytecode Pulumi
and Python put in each compiled stack, and the compile cache.

The platform and the schema are never overwritten unless asked: both are
checked before the first file is written. The VS Code files belong to the
whole repository, so they are merged instead: crosswalk's schema association
and extension recommendation are added to what is there, and a file that is
not plain JSON (VS Code allows comments) is left alone with advice on what to
add. An existing ``.gitignore`` gets the patterns it lacks. Each file is
swapped into place whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from crosswalk.compiler.writer import replace_file
from crosswalk.providers import CLOUDS

PLATFORM_FILE = "platform.yaml"
SCHEMA_FILE = "platform.schema.json"
VSCODE_SETTINGS = ".vscode/settings.json"
VSCODE_EXTENSIONS = ".vscode/extensions.json"
GITIGNORE = ".gitignore"
IGNORED = (".crosswalk/", "venv/", "__pycache__/", "crosswalk.cache.json")
IGNORE_COMMENT = (
    "# crosswalk: apply's state, logs and builds (.crosswalk/), what Pulumi and Python\n"
    "# put in each compiled stack (venv/, __pycache__/), and the compile cache.\n"
)

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
        GITIGNORE: IGNORE_COMMENT + "".join(f"{pattern}\n" for pattern in IGNORED),
    }


@dataclass
class StarterWritten:
    written: list[Path] = field(default_factory=list)  # created, replaced or merged into
    advice: list[str] = field(default_factory=list)  # what to add by hand, and where


def write_starter(directory: Path, cloud: str, *, force: bool) -> StarterWritten:
    """Write the starter for `cloud` into `directory` (created if needed).
    Raises StarterExists, writing nothing, when the platform or the schema
    exists and `force` is false; OSError when the directory cannot be written."""
    files = starter_files(cloud)
    owned = [directory / name for name in (PLATFORM_FILE, SCHEMA_FILE)]
    existing = [path for path in owned if path.exists() or path.is_symlink()]
    if existing and not force:
        raise StarterExists(existing)
    done = StarterWritten()
    for name, text in files.items():
        path = directory / name
        if name in (VSCODE_SETTINGS, VSCODE_EXTENSIONS) and path.exists():
            text, advice = _merged(path, text)
            if advice:
                done.advice.append(advice)
            if text is None:
                continue
        if name == GITIGNORE and path.exists():
            text = _ignored(path)
            if text is None:
                continue
        replace_file(path, text)
        done.written.append(path)
    return done


def _merged(path: Path, ours: str) -> tuple[str | None, str | None]:
    """(the text to write, advice) for an editor file that exists: our one
    setting (a mapping or a list) merged into it; None to leave it as it is."""
    ((key, value),) = json.loads(ours).items()
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = None
    held = current.get(key, type(value)()) if isinstance(current, dict) else None
    if isinstance(value, dict) and isinstance(held, dict):
        merged = {**current, key: {**held, **value}}
    elif isinstance(value, list) and isinstance(held, list):
        merged = {**current, key: held + [item for item in value if item not in held]}
    else:
        addition = json.dumps({key: value})
        return None, f"{path} is not plain JSON crosswalk can merge into; add {addition}"
    if merged == current:
        return None, None
    return _json(merged), None


def _ignored(path: Path) -> str | None:
    """The repository's .gitignore with crosswalk's patterns it lacks added
    at the end; None when it has them all."""
    current = path.read_text(encoding="utf-8")
    have = {line.strip().rstrip("/") for line in current.splitlines()}
    missing = [pattern for pattern in IGNORED if pattern.rstrip("/") not in have]
    if not missing:
        return None
    lead = "" if not current or current.endswith("\n") else "\n"
    return (
        current
        + lead
        + ("\n" if current else "")
        + IGNORE_COMMENT
        + "".join(f"{pattern}\n" for pattern in missing)
    )
