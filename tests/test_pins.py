"""The SDK versions generated requirements.txt files pin, the versions the
extras install, and the version the mock runtime is written against agree."""

import re
import tomllib
from pathlib import Path

from crosswalk.compiler.emit import SDK_VERSIONS
from crosswalk.compiler.mocks import PINNED_PULUMI

PYPROJECT = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())


def test_extras_pin_what_generated_programs_require() -> None:
    pins = {}
    for extra in ("aws", "gcp", "azure"):
        for requirement in PYPROJECT["project"]["optional-dependencies"][extra]:
            name, version = re.fullmatch(r"([\w-]+)==([\w.]+)", requirement).groups()
            assert pins.setdefault(name, version) == version
    for package, version in SDK_VERSIONS.items():
        assert pins[package] == version, package
    assert PINNED_PULUMI == pins["pulumi"]
