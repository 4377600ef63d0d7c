"""The platform.yaml v1 JSON Schema (draft-07): the single source of truth for
the language. Editors use the JSON file directly; crosswalk loads it here."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA_FILE = Path(__file__).with_name("platform.schema.json")


def schema_text() -> str:
    return SCHEMA_FILE.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(schema_text())
