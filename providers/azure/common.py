"""Names and labels several Azure layers share."""

from __future__ import annotations

WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"


CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"


def var_name(name: str) -> str:
    """A user's name as part of a variable: at most 20 characters of it, so
    statements stay within ruff's line and format the same for long names."""
    return name[:20].replace("-", "_")
