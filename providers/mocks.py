"""What the offline plan makes up for the resources of no cloud: pulumi-random's
passwords (the datastores that sign in with one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crosswalk.compiler.mock_outputs import Fabrication, InvokeContext
from crosswalk.compiler.mock_values import Secret

PACKAGES = ("random",)  # type-token packages whose outputs are made up here


def generic_outputs(f: Fabrication) -> tuple[str, dict[str, Any]]:
    """A password of the length asked, of letters and digits from the URN (the
    same in every plan), as a secret, as pulumi-random returns it."""
    length = int(f.inputs.get("length") or 16)
    made = (f.hex(64) * (length // 64 + 1))[:length]
    return "none", {"result": Secret(made), "bcryptHash": Secret("$2a$10$" + f.hex(53))}


OUTPUT_SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
RESOURCE_OUTPUTS: dict[str, Callable[[Fabrication], dict[str, Any]]] = {}
INVOKE_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {}
METHOD_RESULTS: dict[str, Callable[[InvokeContext], dict[str, Any]]] = {}
