"""A pytest plugin (pytest.ini: ``-p tests.terraform.longest_first``): the test files are collected
longest first, so `make test` hands them to its two workers in that order.

`make test` runs pytest-xdist with ``--dist loadfile --no-loadscope-reorder``: each file's tests stay
on one worker, in file order (test_apply.py's applied stack is made once), and the files are handed
out in collection order, the next one to whichever worker runs low. Longest first keeps both
workers busy to the end: test_apply.py (the Terraform cycle, ~5 minutes, mostly spent waiting on
the AWS provider's pollers) goes to one worker at once while the other takes the rest, and the last
files handed out are short ones, not the stress run. The Terraform cycle lives in one file so that
one applied stack serves all of it.

It orders every collected file: the files below first, in this order, then the others in their
usual order. A file missing from the list only runs later; the order within a file never changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

# From `pytest --durations=0` on 2 cores, longest first; a new file of half a minute or more belongs here.
LONGEST_FIRST = (
    "terraform/test_apply.py",
    "integration/test_conversation_store.py",
    "stress/test_stress.py",
    "terraform/test_terraform.py",
    "property/test_store_stateful.py",
    "e2e/test_faults_e2e.py",
    "e2e/test_local_gateway.py",
    "e2e/test_bot_invocation_e2e.py",
    "e2e/test_pipeline_e2e.py",
    "e2e/test_debounce_e2e.py",
    "integration/test_redrive.py",
    "integration/test_process_message.py",
    "e2e/test_express_at_least_once.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {TESTS / name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # stable: everything else keeps its order
