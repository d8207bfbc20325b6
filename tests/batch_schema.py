"""The batch a bot receives, checked against lambda/gateway/schemas/batch.schema.json (JSON Schema
draft 2020-12). The World fixture's bots check every event they are handed (tests/conftest.py)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "lambda" / "gateway" / "schemas" / "batch.schema.json"


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def problems(payload: object) -> list[str]:
    """What is wrong with ``payload`` as a bot's event: [] when it matches the schema."""
    return [f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in sorted(validator().iter_errors(payload), key=lambda e: list(map(str, e.absolute_path)))]


def check(payload: object) -> None:
    """Raise AssertionError naming every place ``payload`` breaks the schema."""
    found = problems(payload)
    assert not found, "the batch does not match batch.schema.json:\n" + "\n".join(found)
