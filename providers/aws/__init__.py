"""The AWS (EKS) backend. Which module emits what, and the path a new resource
kind takes, are in providers/README.md; `rules` holds what validation knows
about AWS and loads without the emitters.
"""

from __future__ import annotations

from functools import cache


@cache
def backend():
    from crosswalk.compiler.emit import assemble_backend

    return assemble_backend("aws")
