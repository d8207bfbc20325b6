"""util/cost.py: the sizing rules it prices with, and that the instrumented run produces its figures.

The figures themselves are benchmark output (README "Operations"), not asserted here."""

from __future__ import annotations

import json
import math
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


def test_a_line_is_billed_from_the_one_price_table_only_for_the_counts_a_run_has() -> None:
    priced = cost.price("x", {"wru": 4.0, "log_bytes": 2e9, "transitions": 2.0})
    assert priced.lines == {
        "DynamoDB writes": 4.0 * cost.PRICES["dynamodb_per_wru"].usd,
        "CloudWatch Logs": 2 * cost.PRICES["cloudwatch_logs_per_gb"].usd,  # log bytes are priced per GB
        "Step Functions transitions": 2.0 * cost.PRICES["sfn_standard_per_transition"].usd,
    }
    assert priced.per_million == pytest.approx(sum(priced.lines.values()) * 1e6)


def test_the_seed_is_booked_on_a_meter_and_counted_as_a_run_is() -> None:
    """The seed's published call pattern, per burst of 3, through the same count() as a run."""
    ran = cost.Meter()
    ran.invocations = [cost.Invocation("post_message", 40.0, aws_ms=30.0), cost.Invocation("process_message", 50.0)]
    ran.append_sizes = [500, 1500, 2500]
    standard = cost.RunResult("STANDARD", {"burst": 3, "message_bytes": 1024}, 3, 1, [], ran, [], 0, [])
    counts = cost.count(cost.seed_run(standard), memory_mb=1024)
    assert counts["webhook_path_calls"] == 5  # GetItem, StopExecution, UpdateItem, StartExecution, UpdateItem
    assert counts["aws_calls"] == pytest.approx(5 + 3 / 3)  # + GetItem, Invoke, DeleteItem per burst
    assert counts["api_requests"] == 1 and counts["lambda_invocations"] == pytest.approx(4 / 3)
    assert counts["executions"] == 1 and counts["transitions"] == pytest.approx(4 / 3)  # 2 stopped, 1 Wait+Task
    # two writes of the growing item (mean 1,500 B: 2 WRU) per message, the final one (2,500 B: 3 WRU) deleted
    assert counts["wru"] == pytest.approx((3 * 2 * 2 + 3) / 3)
    post_ms = math.ceil(10 + 6 + 25 + 6 + 25 + 6)  # own compute + the assumed latency of its 5 calls
    process_ms = math.ceil(50 + 6 + 25 + 6)
    assert counts["lambda_gb_seconds"] == pytest.approx((3 * post_ms + process_ms) / 1000 / 3)
    assert counts["log_bytes"] == pytest.approx(cost.PLATFORM_LOG_BYTES_PER_INVOCATION * 4 / 3)
    assert "sqs_requests" not in counts and "express_gb_seconds" not in counts


def test_the_seed_is_priced_with_its_texts_uncompressed() -> None:
    """Our store compresses long texts; the seed does not, so its item sizes come from the texts, not our bytes."""
    from gateway.conversations import _pack_text

    text = cost.chat_text(1024, 3)
    packed = _pack_text(text)
    assert "z" in packed and len(packed["z"]) < 0.7 * 1024  # the reference text compresses as prose does
    item = {"pk": {"S": "p"}, "msgs": {"L": [{"M": {"id": {"S": "a"}, "z": {"B": packed["z"]}}},
                                             {"M": {"id": {"S": "b"}, "t": {"S": "oi"}}}]}}
    expanded = cost.uncompressed(item)
    assert expanded["msgs"]["L"][0]["M"] == {"id": {"S": "a"}, "t": {"S": text}}
    assert expanded["msgs"]["L"][1] == item["msgs"]["L"][1]
    assert cost.item_size(expanded) - cost.item_size(item) == len(text.encode()) - len(packed["z"])


@pytest.mark.parametrize("size", [100, 1024, 5000])
def test_reference_texts_are_exactly_the_size_asked_and_differ_per_message(size) -> None:
    texts = {cost.chat_text(size, seed) for seed in range(30)}
    assert len(texts) == 30
    assert {len(t.encode()) for t in texts} == {size}


def test_each_function_is_priced_at_its_own_memory() -> None:
    ran = cost.Meter()
    ran.invocations = [cost.Invocation("post_message", 100.0), cost.Invocation("process_message", 100.0)]
    result = cost.RunResult("STANDARD", {"burst": 2}, 2, 1, [], ran, [], 0, [])
    counts = cost.count(result, memory_mb={"*": 1024, "process_message": 256})
    assert counts["lambda_gb_seconds"] == pytest.approx((0.1 * 1 + 0.1 * 0.25) / 2)
    from util import tfvars

    deployed = tfvars.load()
    assert cost.lambda_memory_mb() == {"*": deployed["lambda_memory_mb"],
                                       "process_message": deployed["process_message_memory_mb"]}


def test_the_seed_gets_the_texts_our_store_keeps_in_text_items() -> None:
    item = {"pk": {"S": "p"}, "msgs": {"L": [{"M": {"id": {"S": "a"}, "r": {"S": "ref1"}}}]}}
    expanded = cost.uncompressed(item, {"ref1": "the long text"})
    assert expanded["msgs"]["L"][0]["M"] == {"id": {"S": "a"}, "t": {"S": "the long text"}}


def test_the_meter_counts_text_items_written_and_read_and_an_established_conversation_is_built() -> None:
    import os

    from moto import mock_aws

    from gateway import aws
    from gateway.conversations import ConversationStore
    from gateway.models import InboundMessage
    from util import local_aws as la

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        aws.reset()
        la.create_table(cost.TABLE)
        meter = cost.Meter(la.table_schema())
        store = ConversationStore(cost.TABLE)
        text = cost.chat_text(1024, 1)
        with meter.installed(), meter.function("post_message"):
            store.append(cost.APP, InboundMessage(sender="5511", text=text, message_id="m1"), due_at=0)
        with meter.installed(), meter.function("process_message"):
            batch = store.claim(cost.APP, "5511", 1).batch
        assert [m.text for m in batch.messages] == [text]
        assert list(meter.texts.values()) == [text]  # the seed is priced with it
        assert meter.calls[("process_message", "dynamodb", "BatchGetItem")] == 1
        # the claim's strongly consistent GetItem (1) and the text item, read eventually consistently (0.5)
        assert meter.rru["process_message"] == 1.5
        assert meter.wru["post_message"] >= 2  # the text item and the append

        cost._earlier_messages(["5522"], 7, 3)
        state = store.get(cost.APP, "5522")
        assert (state.seq, state.delivered_seq) == (7, 7)
        raw = store._get_raw(cost.APP, "5522")
        assert len(raw["idh_cur"]) == 7
    aws.reset()
