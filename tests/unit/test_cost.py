"""util/cost.py: the sizing rules it prices with, and that the instrumented run produces its figures.

The figures themselves are benchmark output (README "Operations"), not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from util import cost

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value, size", [
    ({"S": "hello"}, 5),
    ({"S": "olá"}, 4),  # UTF-8 bytes, not characters
    ({"N": "0"}, 2),
    ({"N": "123456"}, 4),  # 1 byte per two significant digits, plus 1
    ({"N": "-1.500"}, 2),  # sign, point and trailing zeroes do not count
    ({"BOOL": True}, 1),
    ({"NULL": True}, 1),
    ({"SS": ["ab", "cde"]}, 5),
    ({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
    ({"M": {"k": {"S": "v"}}}, 3 + 1 + 1 + 1),
])
def test_attribute_sizes_follow_dynamodb_rules(value, size) -> None:
    assert cost.attribute_size(value) == size


def test_item_size_counts_attribute_names() -> None:
    assert cost.item_size({"pk": {"S": "abc"}, "seq": {"N": "12"}}) == (2 + 3) + (3 + 2)
    assert cost.item_size(None) == 0


@pytest.mark.parametrize("size, wru", [(0, 1), (1, 1), (1024, 1), (1025, 2), (3 * 1024 + 1, 4)])
def test_a_write_costs_one_unit_per_started_kilobyte(size, wru) -> None:
    assert cost.write_units(size) == wru


def test_reads_cost_one_unit_per_4kb_and_half_when_eventually_consistent() -> None:
    assert cost.read_units(4096, True) == 1
    assert cost.read_units(4097, True) == 2
    assert cost.read_units(4097, False) == 1


def test_gsi_writes_for_an_item_entering_moving_within_and_leaving_the_index() -> None:
    schema = {
        "KeySchema": [{"AttributeName": "pk"}, {"AttributeName": "sk"}],
        "GlobalSecondaryIndexes": [{"KeySchema": [{"AttributeName": "bucket"}, {"AttributeName": "due"}],
                                    "Projection": {"NonKeyAttributes": ["seq"]}}],
    }
    meter = cost.Meter(schema)
    base = {"pk": {"S": "p"}, "sk": {"S": "s"}, "text": {"S": "x" * 5000}}
    indexed = {**base, "bucket": {"S": "B01"}, "due": {"N": "100"}, "seq": {"N": "1"}}
    assert meter._gsi_units(base, base) == 0  # not in the index: nothing
    assert meter._gsi_units(base, indexed) == 1  # enters: a put of the small projected item
    assert meter._gsi_units(indexed, {**indexed, "seq": {"N": "2"}}) == 1  # projected attribute changes
    assert meter._gsi_units(indexed, {**indexed, "due": {"N": "200"}}) == 2  # key moves: delete + put
    assert meter._gsi_units(indexed, base) == 1  # leaves
    assert meter._gsi_units(indexed, {**indexed, "text": {"S": "y"}}) == 0  # unprojected change


def test_billed_lambda_time_is_own_compute_plus_assumed_latency_per_call() -> None:
    invocation = cost.Invocation("post_message", wall_ms=40.0, aws_ms=30.0,
                                 calls=[("dynamodb", "UpdateItem"), ("stepfunctions", "StartExecution")])
    expected = 10 + cost.ASSUMED_CALL_LATENCY_MS["dynamodb"] + cost.ASSUMED_CALL_LATENCY_MS["stepfunctions"]
    assert invocation.billed_ms() == pytest.approx(expected)


@pytest.mark.slow
def test_cost_json_runs_and_reports_positive_figures() -> None:
    proc = subprocess.run([sys.executable, "util/cost.py", "--quick", "--json", "--senders", "4"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON object on stdout, got {len(lines)} lines"
    report = json.loads(lines[0])
    assert set(report["usd_per_million"]) == {"standard", "express", "seed"}
    assert all(value > 0 for value in report["usd_per_million"].values())
    assert report["webhook_path_calls"] > 0
    standard = report["per_message"]["standard"]
    assert standard["transitions"] > 0 and standard["wru"] > 0 and standard["lambda_invocations"] >= 1
    assert report["per_message"]["express"]["express_gb_seconds"] > 0
    assert "Step Functions transitions" not in report["usd_per_million_by_component"]["express"]
    # the seed is priced from its published call pattern: 5 calls on the webhook path
    assert report["per_message"]["seed"]["webhook_path_calls"] == 5
