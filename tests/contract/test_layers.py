"""The rooms of the core and what each may import (docs/architecture.md), checked on the source.

rules     pure logic: no AWS, no network, no clock of its own; imports only other rules
adapters  AWS and HTTP access, logs and metrics; imports rules and other adapters
services  one per function: the use case, over rules and adapters; never another service
handlers  lambda/<function>/handler.py: settings, one service, logs and metrics
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAMBDA = Path(__file__).resolve().parents[2] / "lambda"
CORE = LAMBDA / "gateway"

RULES = {
    "errors", "debounce", "models", "segmenter", "settings",
    "providers", "providers.base", "providers.zapi", "providers.whatsapp_cloud", "providers.telegram",
    "providers.evolution", "providers.twilio", "providers.generic",
    "store.keys", "store.codec", "store.remembered_ids", "store.state", "store.claim",
}
ADAPTERS = {
    "aws", "log", "metrics", "scheduler", "secrets", "outbound",
    "store", "store.table", "store.batches", "store.writes", "store.conversation_store",
}
SERVICES = {"webhook", "dispatch", "replies", "sweeper"}
HANDLER_MAY_IMPORT = SERVICES | {"settings", "log", "metrics"}
# Third-party packages that reach AWS or the network; a rule imports none of them. The codec's
# one exception converts Python values to DynamoDB's wire format and back, without a client.
NETWORK_PACKAGES = ("boto3", "botocore", "requests", "urllib3", "aws_lambda_powertools")
RULE_EXCEPTIONS = {"store.codec": {"boto3.dynamodb.types"}}


def core_module(path: Path) -> str:
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(core modules, other top-level imports) that ``path`` imports, at any depth of the file."""
    package = core_module(path).split(".") if path.is_relative_to(CORE) else []
    if path.name != "__init__.py" and package:
        package = package[:-1]
    core, other = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (core if alias.name.startswith("gateway.") else other).add(alias.name.removeprefix("gateway."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                names = [alias.name for alias in node.names]
                if node.module is None:  # from . import aws, metrics
                    core |= {".".join([*base, name]) for name in names}
                else:
                    core.add(target)
            elif node.module and (node.module == "gateway" or node.module.startswith("gateway.")):
                module = node.module.removeprefix("gateway").lstrip(".")
                if module:
                    core.add(module)
                else:
                    core |= {alias.name for alias in node.names}
            elif node.module:
                other.add(node.module)
    return core, other


CORE_FILES = sorted(CORE.rglob("*.py"))
HANDLERS = sorted(LAMBDA.glob("*/handler.py"))
HANDLERS = [h for h in HANDLERS if h.parent.name != "examples"]


def test_every_core_module_is_in_one_room():
    modules = {core_module(path) for path in CORE_FILES} - {""}
    rooms = [RULES, ADAPTERS, SERVICES]
    assert modules == RULES | ADAPTERS | SERVICES, "a new module needs its room here and in docs/architecture.md"
    assert sum(len(room) for room in rooms) == len(modules)


@pytest.mark.parametrize("path", [p for p in CORE_FILES if core_module(p) in RULES], ids=core_module)
def test_a_rule_imports_only_rules_and_nothing_that_reaches_the_network(path):
    core, other = imports(path)
    assert core <= RULES, f"imports {sorted(core - RULES)}"
    allowed = RULE_EXCEPTIONS.get(core_module(path), set())
    assert not {m for m in other if m.split(".")[0] in NETWORK_PACKAGES and m not in allowed}


@pytest.mark.parametrize("path", [p for p in CORE_FILES if core_module(p) in ADAPTERS], ids=core_module)
def test_an_adapter_imports_no_service(path):
    core, _ = imports(path)
    assert core <= RULES | ADAPTERS, f"imports {sorted(core - RULES - ADAPTERS)}"


@pytest.mark.parametrize("path", [p for p in CORE_FILES if core_module(p) in SERVICES], ids=core_module)
def test_a_service_imports_no_other_service(path):
    core, _ = imports(path)
    assert core <= RULES | ADAPTERS, f"imports {sorted(core - RULES - ADAPTERS)}"


@pytest.mark.parametrize("path", HANDLERS, ids=lambda p: p.parent.name)
def test_a_handler_is_thin(path):
    core, other = imports(path)
    assert core <= HANDLER_MAY_IMPORT, f"imports {sorted(core - HANDLER_MAY_IMPORT)}"
    assert not {m for m in other if m.split(".")[0] in NETWORK_PACKAGES}
    assert len([c for c in core if c in SERVICES]) == 1


def test_the_import_reader_sees_relative_and_absolute_imports(tmp_path):
    sample = CORE / "store" / "claim.py"
    core, _ = imports(sample)
    assert {"debounce", "models", "store.state"} <= core
    handler = LAMBDA / "process_message" / "handler.py"
    assert "dispatch" in imports(handler)[0]
