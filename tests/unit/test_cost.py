"""util.cost (python -m util.cost): the sizing rules it prices with, and that the instrumented run produces its figures.

The figures themselves are benchmark output (README "Operations"), not asserted here."""

from __future__ import annotations

import json
import math
import re
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
    # the bill at the quick run's own shape (bursts of 3, 0.2 s apart, 1 s quiet period): measured figures
    proc = subprocess.run([sys.executable, "-m", "util.cost", "--quick", "--json", "--senders", "4", "--gap-seconds", "0.2",
                           "--quiet-seconds", "1", "--tracing", "--bot-seconds", "5,0,20"],
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
    bill = report["monthly_bill"]
    assert bill["basis_of_columns"] == {"standard": "measured", "express": "measured", "seed": "measured"}
    for label in ("standard", "seed"):  # the per-1M counts, put back together from per-invocation units
        for key in ("lambda_invocations", "lambda_gb_seconds", "wru", "rru", "log_bytes", "transitions"):
            assert bill["per_message"][label][key] == pytest.approx(report["per_message"][label][key], abs=1e-3), key
    assert bill["fixed_usd_per_month"]["standard"] > 0 and bill["fixed_usd_per_month"]["seed"] is None
    assert bill["sweeper"]["rru"] > 0 and bill["reply"]["log_bytes"] > 0
    assert any(line["name"] == "X-Ray traces" and line["usd_per_month"]["standard"] > 0 for line in bill["lines"])
    assert bill["not_counted"]
    # the bot-time table: the bill (at the first duration, 5 s) again at each duration, both modes
    table = report["bot_time"]
    assert bill["traffic"]["bot_seconds"] == 5
    assert [row["bot_seconds"] for row in table["rows"]] == [5, 0, 20]
    assert table["columns"]["seed"]["bot_invocation"] == "async"
    five = table["rows"][0]
    for label in ("standard", "express", "seed"):
        mode = "" if label == "seed" else "_sync"
        assert five["usd_per_month"][label + mode] == pytest.approx(bill["total_usd_per_month"][label], abs=0.011)
    slope = table["usd_per_million_per_bot_second"]
    for label, per_1m in slope.items():
        rise = table["rows"][2]["usd_per_million"][label] - table["rows"][1]["usd_per_million"][label]
        assert rise == pytest.approx(20 * per_1m, abs=0.011), label
    assert slope["standard_sync"] > slope["standard_async"] > 0 and slope["express_sync"] > slope["express_async"] > 0


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
    from util.cost.store_view import pack_text

    text = cost.chat_text(1024, 3)
    packed = pack_text(text)
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
    from gateway.models import InboundMessage
    from util import local_aws as la
    from util.cost.store_view import ConversationStore

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        aws.reset()
        la.create_table(cost.TABLE)
        meter = cost.Meter(la.table_schema())
        store = ConversationStore(cost.TABLE)
        text = cost.chat_text(1024, 1)
        with meter.installed(), meter.function("post_message"):
            store.append(cost.APP, InboundMessage(sender="5511", text=text, message_id="m1"), latest_due=0)
        with meter.installed(), meter.function("process_message"):
            batch = store.claim(cost.APP, "5511", 1).batch
        assert [m.text for m in batch.messages] == [text]
        assert list(meter.texts.values()) == [text]  # the seed is priced with it
        assert meter.calls[("process_message", "dynamodb", "BatchGetItem")] == 1
        # the claim's strongly consistent GetItem (1) and the text item, read eventually consistently (0.5)
        assert meter.rru["process_message"] == 1.5
        assert meter.wru["post_message"] >= 2  # the text item and the append

        cost.earlier_messages(["5522"], 7, 3)
        state = store.get(cost.APP, "5522")
        assert (state.seq, state.delivered_seq) == (7, 7)
        raw = store.read_item(cost.APP, "5522")
        assert len(raw["idh_cur"]) == 7
    aws.reset()


# --------------------------------------------------------------------------- the monthly bill (util/cost/bill.py)

from util.cost import bill as cost_bill  # noqa: E402
from util.cost import inventory as cost_inventory  # noqa: E402
from util.cost.prices import PRICES  # noqa: E402


def _measured(workflow: str, **changes) -> cost_bill.Measured:
    """Per-request units like the reference run's (bursts of 3, 1 s apart, 10 s quiet period)."""
    express = workflow == "EXPRESS"
    fields = dict(
        workflow=workflow, burst=3, gap_seconds=1.0, quiet_seconds=10.0, inline_wait_seconds=1.0 if express else 15.0,
        post_memory_mb=256, process_memory_mb=192, post_ms=60.0, post_wru=2.33, post_rru=0.0, post_log_bytes=500.0,
        deliver_invocations_per_batch=1.0, deliver_ms=120.0, deliver_wru=3.0, deliver_rru=4.0, deliver_log_bytes=540.0,
        recheck_ms=20.0, recheck_wru=0.0, recheck_rru=1.0, recheck_log_bytes=0.0,
        batches_per_message=1 / 3, rechecks_per_batch=1.0 if express else 0.0,
        slept_seconds_per_batch=0.1 if express else 2.2, executions_per_batch=1.0,
        transitions_per_batch=0.0 if express else 2.0, express_seconds_per_batch=12.1 if express else 0.0,
    )
    fields.update(changes)
    return cost_bill.Measured(**fields)


INVENTORY = cost_bill.Inventory(dashboards=1, alarms_standard=12, alarms_high_resolution=0, custom_metrics=6,
                                sweeps_per_month=43_200, access_log_line_bytes=210)
SWEEPER = cost_bill.SweeperUnits(billed_ms=97.0, memory_mb=256, rru=8.0, log_bytes=176.0, queries=16)
REPLY = cost_bill.ReplyUnits(own_ms=2.0, memory_mb=256, log_bytes=250.0)
SEED_COUNTS = {"api_requests": 1.0, "lambda_invocations": 4 / 3, "lambda_gb_seconds": 0.02, "wru": 7.33, "rru": 0.67,
               "log_bytes": 467.0, "executions": 1.0, "transitions": 4 / 3, "batches": 1 / 3}


def _bill(traffic: cost_bill.Traffic | None = None, options: cost_bill.Options | None = None,
          inventory: cost_bill.Inventory = INVENTORY) -> cost_bill.Bill:
    traffic = traffic or cost_bill.Traffic()
    columns = []
    for workflow in ("STANDARD", "EXPRESS"):
        units = _measured(workflow)
        basis = "measured" if cost_bill.same_shape(units, traffic) else "scaled"
        columns.append(cost_bill.Column(workflow.lower(), cost_bill.scale(units, traffic), 192, basis))
    columns.append(cost_bill.Column("seed", SEED_COUNTS, 256, "measured", fixed_items=False,
                                    bot_invocation=cost.ORIGINAL_BOT_INVOCATION))
    return cost_bill.monthly_bill(columns, traffic, options or cost_bill.Options(), inventory, SWEEPER, REPLY)


def _usd(key: str) -> float:
    return PRICES[key].usd / PRICES[key].per


def test_the_burst_model_at_the_reference_shape() -> None:
    standard = cost_bill.burst_model(3, 1.0, 10.0, inline_wait=15.0, max_wait=60.0)
    # Wait, then process_message sleeps out the burst's last 2 s itself and claims
    assert (standard.batches, standard.transitions, standard.rechecks) == (1, 2, 0)
    assert standard.slept_seconds == pytest.approx(2.0) and standard.alive_seconds == pytest.approx(12.0)
    express = cost_bill.burst_model(3, 1.0, 10.0, inline_wait=1.0, max_wait=60.0)
    # 2 s left is over the 1 s inline wait: NotDueYet, ReadWaitUntil, WaitAgain, ProcessBatch
    assert (express.batches, express.transitions, express.rechecks) == (1, 5, 1)
    assert express.slept_seconds == 0 and express.alive_seconds == pytest.approx(12.0)


def test_the_burst_model_splits_bursts_at_the_quiet_period_and_the_max_wait() -> None:
    apart = cost_bill.burst_model(4, 12.0, 10.0, inline_wait=15.0, max_wait=60.0)
    assert apart.batches == 4 and apart.transitions == 8  # each message its own burst
    long = cost_bill.burst_model(30, 5.0, 10.0, inline_wait=1.0, max_wait=60.0)
    # 145 s of messages: two batches claimed at the 60 s cap after their first message (13 messages
    # each), the last 4 messages 10 s after the last of them
    assert long.batches == 3 and long.alive_seconds == pytest.approx(60 + 60 + 25)


def test_scaling_at_the_run_shape_gives_back_the_run() -> None:
    m = _measured("STANDARD")
    counts = cost_bill.scale(m, cost_bill.Traffic(messages_per_burst=3, gap_seconds=1.0, quiet_seconds=10.0))
    assert counts["transitions"] == pytest.approx(2.0 / 3)
    assert counts["lambda_invocations"] == pytest.approx(1 + 1 / 3)
    assert counts["wru"] == pytest.approx(2.33 + 3.0 / 3)
    process_ms = 120.0 + 2.2 * 1000
    assert counts["lambda_gb_seconds"] == pytest.approx(0.060 * 0.25 + process_ms / 1000 * 192 / 1024 / 3)
    e = cost_bill.scale(_measured("EXPRESS"), cost_bill.Traffic())
    assert e["express_gb_seconds"] == pytest.approx(12.1 * 64 / 1024 / 3)
    assert e["lambda_invocations"] == pytest.approx(1 + 2 / 3) and "transitions" not in e


def test_scaling_to_a_wider_burst_follows_the_model() -> None:
    traffic = cost_bill.Traffic(messages_per_burst=3, gap_seconds=2.0)  # spread 4 s instead of 2 s
    standard = cost_bill.scale(_measured("STANDARD"), traffic)
    process_ms = 120.0 + (2.2 + 2.0) * 1000  # process_message sleeps 2 s more
    assert standard["lambda_gb_seconds"] == pytest.approx(0.060 * 0.25 + process_ms / 1000 * 192 / 1024 / 3)
    assert standard["transitions"] == pytest.approx(2.0 / 3)
    express = cost_bill.scale(_measured("EXPRESS"), traffic)
    assert express["express_gb_seconds"] == pytest.approx((12.1 + 2.0) * 64 / 1024 / 3)  # alive 2 s longer
    # a spread of 20 s is over STANDARD's 15 s inline wait too: a second Wait (3 transitions more)
    far = cost_bill.scale(_measured("STANDARD"), cost_bill.Traffic(messages_per_burst=5, gap_seconds=5.0))
    assert far["transitions"] == pytest.approx(5 / 5)


def test_fixed_items_do_not_depend_on_volume_and_the_rest_scales_linearly() -> None:
    bills = {m: _bill(cost_bill.Traffic(messages_per_month=m)) for m in (100_000, 1_000_000, 10_000_000)}
    for label in ("standard", "express"):
        fixed = {m: b.subtotal(label, "fixed") for m, b in bills.items()}
        assert len(set(fixed.values())) == 1 and fixed[100_000] > 0
        variable = {m: b.total(label) - fixed[m] for m, b in bills.items()}
        assert variable[1_000_000] == pytest.approx(10 * variable[100_000])
        assert variable[10_000_000] == pytest.approx(100 * variable[100_000])
        assert bills[1_000_000].per_million(label) == pytest.approx(bills[10_000_000].per_million(label))
    assert all(b.subtotal("seed", "fixed") is None for b in bills.values())  # the original's fixed items: not priced
    assert bills[1_000_000].total("seed") == pytest.approx(bills[1_000_000].subtotal("seed", "per message"))


def test_doubling_bot_seconds_adds_exactly_the_bot_time() -> None:
    one, two = _bill(cost_bill.Traffic(bot_seconds=5)), _bill(cost_bill.Traffic(bot_seconds=10))
    batches = 1_000_000 / 3
    gb_s = lambda mb: 5 * mb / 1024  # noqa: E731 - the 5 s more, at that memory
    bot_and_wait = batches * (gb_s(512) + gb_s(192)) * _usd("lambda_per_gb_second")
    assert two.total("standard") - one.total("standard") == pytest.approx(bot_and_wait)
    express_alive = batches * gb_s(64) * _usd("sfn_express_per_gb_second")  # the execution waits for it too
    assert two.total("express") - one.total("express") == pytest.approx(bot_and_wait + express_alive)
    # the original invoked its bot asynchronously: only the bot's own time
    assert two.total("seed") - one.total("seed") == pytest.approx(batches * gb_s(512) * _usd("lambda_per_gb_second"))


def test_no_alarms_removes_exactly_the_alarms_counted_from_the_terraform() -> None:
    alarms = cost_inventory.alarms()
    assert alarms.total > 0
    inventory = cost_bill.Inventory(1, alarms.standard, alarms.high_resolution, 6, 43_200, 210)
    on, off = _bill(inventory=inventory), _bill(options=cost_bill.Options(alarms=False), inventory=inventory)
    expected = alarms.standard * 0.10 + alarms.high_resolution * 0.30
    for label in ("standard", "express"):
        assert on.total(label) - off.total(label) == pytest.approx(expected)


def test_every_alarm_resource_of_the_terraform_is_counted() -> None:
    """A new aws_cloudwatch_metric_alarm anywhere in the stack is found, and each counts at least once."""
    files = [ROOT / "main.tf", *sorted((ROOT / "modules").glob("*/*.tf"))]
    declared = {f"{path.relative_to(ROOT)}:{name}" for path in files
                for name in re.findall(r'resource\s+"aws_cloudwatch_metric_alarm"\s+"(\w+)"', path.read_text())}
    alarms = cost_inventory.alarms()
    assert set(alarms.by_resource) == declared
    assert all(n >= 1 for n in alarms.by_resource.values())
    assert alarms.total == sum(alarms.by_resource.values())
    other_kinds = {kind for path in files
                   for kind in re.findall(r'resource\s+"(aws_cloudwatch_\w*alarm\w*)"', path.read_text())}
    assert other_kinds <= {"aws_cloudwatch_metric_alarm"}, "composite/other alarm kinds need a price in the bill"


def test_alarm_counts_follow_count_for_each_and_the_callers_maps(tmp_path) -> None:
    (tmp_path / "modules" / "mon").mkdir(parents=True)
    (tmp_path / "variables.tf").write_text('variable "enabled" {\n  default = true\n}\n')
    (tmp_path / "main.tf").write_text('''
locals {
  functions = { a = "fa", b = "fb", c = "fc" }
}
module "mon" {
  source    = "./modules/mon"
  functions = local.functions
  queues    = { q1 = "x", q2 = "y" }
  enabled   = var.enabled
}
''')
    (tmp_path / "modules" / "mon" / "main.tf").write_text('''
locals {
  metrics = { errors = "Errors", throttles = "Throttles" }
  pairs = merge([for f, name in var.functions : { for s, m in local.metrics : "${f}-${s}" => m }]...)
}
resource "aws_cloudwatch_metric_alarm" "per_queue" {
  for_each = var.enabled ? var.queues : {}
  period   = 60
}
resource "aws_cloudwatch_metric_alarm" "per_pair" {
  for_each = var.enabled ? local.pairs : {}
  period   = 300
}
resource "aws_cloudwatch_metric_alarm" "one" {
  count  = var.enabled ? 1 : 0
  period = 10
}
resource "aws_cloudwatch_dashboard" "this" {
  count = var.enabled ? 1 : 0
}
''')
    cost_inventory.module_scopes.cache_clear()
    try:
        alarms = cost_inventory.alarms(tmp_path)
        assert alarms.by_resource == {"modules/mon/main.tf:per_queue": 2, "modules/mon/main.tf:per_pair": 6,
                                      "modules/mon/main.tf:one": 1}
        assert (alarms.standard, alarms.high_resolution) == (8, 1)  # a 10 s period is a high-resolution alarm
        assert cost_inventory.dashboards(tmp_path) == 1
    finally:
        cost_inventory.module_scopes.cache_clear()


def test_tracing_adds_a_trace_per_webhook_reply_and_sweep() -> None:
    off, on = _bill(), _bill(options=cost_bill.Options(tracing=True))
    traces = 1_000_000 + 1_000_000 / 3 * 1 + 43_200
    for label in ("standard", "express"):
        assert on.total(label) - off.total(label) == pytest.approx(traces * 5.00 / 1e6)


def test_alarm_email_adds_the_kms_key_and_access_logs_their_bytes() -> None:
    base = _bill()
    email = _bill(options=cost_bill.Options(alarm_email=True))
    assert email.total("express") - base.total("express") == pytest.approx(1.00)
    no_alarms = _bill(options=cost_bill.Options(alarm_email=True, alarms=False))  # no alarms: no topic, no key
    assert _bill(options=cost_bill.Options(alarms=False)).total("express") == pytest.approx(no_alarms.total("express"))
    logs = _bill(options=cost_bill.Options(access_logs=True))
    assert logs.total("standard") - base.total("standard") == pytest.approx(1_000_000 * 210 * 0.50 / 1e9)
    dashboard = _bill(options=cost_bill.Options(dashboard=False))
    assert base.total("standard") - dashboard.total("standard") == pytest.approx(3.00)


def test_replies_cost_three_sqs_requests_and_a_send_invocation_each() -> None:
    none, one = _bill(cost_bill.Traffic(replies_per_burst=0)), _bill(cost_bill.Traffic(replies_per_burst=1))
    replies = 1_000_000 / 3
    per_reply = (3 * _usd("sqs_per_request") + _usd("lambda_per_request")
                 + (2.0 + cost_bill.PROVIDER_HTTP_MS) / 1000 * 256 / 1024 * _usd("lambda_per_gb_second")
                 + 250.0 * _usd("cloudwatch_logs_per_gb"))
    assert one.total("seed") - none.total("seed") == pytest.approx(replies * per_reply)


def test_the_sweeper_and_send_queue_polling_are_fixed_items() -> None:
    bill = _bill()
    fixed = {ln.name: ln.usd["standard"] for ln in bill.lines if ln.section == "fixed"}
    assert fixed["Sweeper DynamoDB Query (sparse index)"] == pytest.approx(43_200 * 8.0 * _usd("dynamodb_per_rru"))
    assert fixed["Sweeper Lambda"] == pytest.approx(43_200 * (_usd("lambda_per_request")
                                                              + 0.097 * 0.25 * _usd("lambda_per_gb_second")))
    assert fixed["Send queue polling (event source mapping)"] == pytest.approx(5 * 30 * 86400 / 20 * 0.40 / 1e6)
    assert fixed["CloudWatch custom metrics (EMF)"] == pytest.approx(6 * 0.30)


def test_every_price_is_used_by_the_bill_or_listed_as_not_counted() -> None:
    assert cost_bill.NOT_COUNTED and all(item.reason for item in cost_bill.NOT_COUNTED)
    listed = {key for item in cost_bill.NOT_COUNTED for key in item.prices}
    used = _bill().prices_used()
    assert used | listed == set(PRICES), f"neither billed nor listed: {set(PRICES) - used - listed}"
    assert not used & listed, "a price both billed and listed as not counted"
    names = " ".join(item.item.lower() for item in cost_bill.NOT_COUNTED)
    for expected in ("free tier", "data transfer", "bot", "storage", "kms", "ssm"):
        assert expected in names


def test_express_break_even_is_where_the_totals_meet() -> None:
    bill = _bill(cost_bill.Traffic(bot_seconds=5))
    even = cost_bill.express_break_even(bill)
    assert even["express_minus_standard_usd"] == pytest.approx(bill.total("express") - bill.total("standard"))
    longer = _bill(cost_bill.Traffic(bot_seconds=5 + even["extra_seconds_to_break_even"]))
    assert longer.total("express") == pytest.approx(longer.total("standard"))


def test_the_bill_renders_every_line_and_the_not_counted_list() -> None:
    text = "\n".join(cost_bill.render(_bill(options=cost_bill.Options(tracing=True))))
    bill = _bill()
    for ln in bill.lines:
        assert ln.name in text
    assert "MONTHLY TOTAL" in text and "Not counted:" in text and "STANDARD or EXPRESS" in text
    report = cost_bill.as_json(bill)
    assert set(report["total_usd_per_month"]) == {"standard", "express", "seed"}
    assert report["fixed_usd_per_month"]["seed"] is None
    json.dumps(report)


def test_the_inventory_reads_the_metrics_the_schedule_and_the_access_log_format() -> None:
    import ast

    from gateway import metrics

    names = cost_inventory.custom_metric_names()
    assert names == list(metrics.METRIC_NAMES)
    source = (ROOT / "lambda" / "gateway" / "metrics.py").read_text()
    added = {node.args[0].id for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_add" and isinstance(node.args[0], ast.Name)}
    assert {getattr(metrics, name) for name in added} <= set(names)  # every metric the functions add is counted
    assert cost_inventory.schedule_runs_per_month("rate(1 minute)") == 43_200
    assert cost_inventory.schedule_runs_per_month("rate(5 minutes)") == 8_640
    expression = re.search(r'schedule_expression\s*=\s*"([^"]+)"', (ROOT / "main.tf").read_text()).group(1)
    assert cost_inventory.sweeps_per_month() == cost_inventory.schedule_runs_per_month(expression)
    fields = cost_inventory.access_log_format()
    assert fields and all(v.startswith("$context.") for v in fields.values())
    assert 50 * len(fields) > cost_inventory.access_log_line_bytes() > 10 * len(fields)


def test_measured_units_put_back_together_are_the_runs_counts() -> None:
    """A run's per-invocation units, scaled at the run's own shape, give back what count() bills."""
    meter = cost.Meter()
    posts = [cost.Invocation("post_message", 30.0 + n, aws_ms=20.0, calls=[("dynamodb", "UpdateItem")],
                             wru=2.0 + n, rru=0.0, log_bytes=400 + n) for n in range(3)]
    deliver = cost.Invocation("process_message", 2200.0, aws_ms=10.0, slept_ms=2000.0,
                              calls=[("dynamodb", "UpdateItem"), ("lambda", "Invoke")], wru=3.0, rru=4.0, log_bytes=600)
    meter.invocations = [*posts, deliver]
    run = cost.RunResult("STANDARD", {"burst": 3, "gap_seconds": 1.0, "quiet_seconds": 10, "message_bytes": 1024},
                         3, 1, [], meter, [{"transitions": 2, "waits": [10.0], "tasks": 1}], 1900, [])
    units = cost.measured_units(run, {"*": 256, "process_message": 192})
    assert units.other_log_bytes == pytest.approx((1900 - sum(i.log_bytes for i in meter.invocations)) / 3)
    scaled = cost_bill.scale(units, cost_bill.Traffic(messages_per_burst=3, gap_seconds=1.0, quiet_seconds=10))
    counted = cost.count(run, {"*": 256, "process_message": 192}, platform_log_bytes=0)
    for key in ("api_requests", "lambda_invocations", "lambda_gb_seconds", "log_bytes", "transitions", "executions"):
        assert scaled[key] == pytest.approx(counted[key]), key
    assert scaled["wru"] == pytest.approx((2 + 3 + 4 + 3.0) / 3)  # the invocations' own units


def test_the_original_pattern_at_another_burst_size() -> None:
    ran = cost.Meter()
    ran.invocations = [cost.Invocation("post_message", 40.0, aws_ms=30.0), cost.Invocation("process_message", 50.0)]
    ran.append_sizes = [500, 1500, 2500]
    standard = cost.RunResult("STANDARD", {"burst": 3, "message_bytes": 1024}, 3, 1, [], ran, [], 0, [])
    five = cost.seed_counts(standard, 1024, cost_bill.Traffic(messages_per_burst=5, gap_seconds=1.0, quiet_seconds=10))
    assert five["transitions"] == pytest.approx(6 / 5) and five["batches"] == pytest.approx(1 / 5)
    apart = cost.seed_counts(standard, 1024, cost_bill.Traffic(messages_per_burst=5, gap_seconds=12.0, quiet_seconds=10))
    assert apart["transitions"] == pytest.approx(2) and apart["batches"] == 1  # a message per burst
    same = cost.seed_counts(standard, 1024, cost_bill.Traffic(messages_per_burst=3))
    assert same["wru"] == pytest.approx(cost.count(cost.seed_run(standard), 1024)["wru"])


# --------------------------------------------------------------------------- the bot's time: sync or async


def _bot_time_bill(bot_seconds: float = 5.0, process_memory_mb: int = 192) -> cost_bill.Bill:
    """The four workflow/mode columns and the original's, at ``bot_seconds``; process_message waits
    for a sync bot at ``process_memory_mb``."""
    traffic = cost_bill.Traffic(bot_seconds=bot_seconds)
    columns = [cost_bill.Column(w.lower(), cost_bill.scale(_measured(w), traffic), process_memory_mb, "measured")
               for w in ("STANDARD", "EXPRESS")]
    columns.append(cost_bill.Column("seed", SEED_COUNTS, 256, "measured", fixed_items=False,
                                    bot_invocation=cost.ORIGINAL_BOT_INVOCATION))
    return cost_bill.monthly_bill(cost_bill.bot_time_columns(columns), traffic, cost_bill.Options(), INVENTORY,
                                  SWEEPER, REPLY)


EXACT = dict(rel=1e-12, abs=1e-9)


def test_an_async_bot_costs_only_its_own_duration() -> None:
    batches = 1_000_000 / 3
    bot_gb_s = 512 / 1024 * _usd("lambda_per_gb_second")  # per bot-second
    for workflow in ("standard", "express"):
        label = f"{workflow}_async"
        # process_message's memory does not matter: it does not wait
        assert _bot_time_bill(5, process_memory_mb=128).total(label) == pytest.approx(
            _bot_time_bill(5, process_memory_mb=3008).total(label), **EXACT)
        assert _bot_time_bill(5, 128).total(f"{workflow}_sync") < _bot_time_bill(5, 3008).total(f"{workflow}_sync")
        # the bot's seconds add its own GB-s and nothing else
        for b in (0, 1, 5, 20, 120):
            assert _bot_time_bill(b).total(label) - _bot_time_bill(0).total(label) == pytest.approx(
                batches * b * bot_gb_s, **EXACT)
        lines = {ln.name: ln.usd[label] for ln in _bot_time_bill(20).lines}
        assert lines["process_message waiting for the bot"] is None
        assert lines["EXPRESS execution alive while the bot runs"] is None
        assert lines["Bot Lambda requests"] == pytest.approx(batches * _usd("lambda_per_request"), **EXACT)
    assert _bot_time_bill(20).total("seed") - _bot_time_bill(0).total("seed") == pytest.approx(
        batches * 20 * bot_gb_s, **EXACT)  # the original invoked its bot asynchronously too


@pytest.mark.parametrize("process_memory_mb", [128, 192, 1024])
@pytest.mark.parametrize("b", [0, 0.5, 5, 20, 300])
def test_sync_minus_async_is_process_message_waiting_and_the_express_execution_alive(b, process_memory_mb) -> None:
    bill = _bot_time_bill(b, process_memory_mb)
    batches = 1_000_000 / 3
    waiting = b * process_memory_mb / 1024 * _usd("lambda_per_gb_second")  # per batch
    alive = b * cost_bill.EXPRESS_MEMORY_MB / 1024 * _usd("sfn_express_per_gb_second")
    assert bill.total("standard_sync") - bill.total("standard_async") == pytest.approx(batches * waiting, **EXACT)
    assert bill.total("express_sync") - bill.total("express_async") == pytest.approx(batches * (waiting + alive), **EXACT)
    assert bill.subtotal("standard_sync", "fixed") == bill.subtotal("standard_async", "fixed")  # per message only


def test_the_bot_time_table_is_the_bill_at_each_duration() -> None:
    bill = _bill(cost_bill.Traffic(bot_seconds=5))  # the bill's columns: STANDARD and EXPRESS sync, original async
    table = cost_bill.bot_time(bill, [0, 5, 20])
    assert table.labels == ["standard_sync", "standard_async", "express_sync", "express_async", "seed"]
    assert table.invocations == {"standard_sync": "sync", "standard_async": "async", "express_sync": "sync",
                                 "express_async": "async", "seed": "async"}
    assert [row.bot_seconds for row in table.rows] == [0, 5, 20]
    five = table.rows[1]
    for label, column in (("standard", "standard_sync"), ("express", "express_sync"), ("seed", "seed")):
        assert five.usd_per_month[column] == pytest.approx(bill.total(label), **EXACT)
        assert five.usd_per_million[column] == pytest.approx(bill.per_million(label), **EXACT)
    for label in table.labels:  # linear in the bot's time, at the per-bot-second figure
        rise = table.rows[2].usd_per_million[label] - table.rows[0].usd_per_million[label]
        assert rise == pytest.approx(20 * table.usd_per_million_per_bot_second[label], **EXACT)
    per_s = table.usd_per_million_per_bot_second
    batches = 1e6 / 3
    bot = batches * 512 / 1024 * _usd("lambda_per_gb_second")
    assert per_s["standard_async"] == pytest.approx(bot, **EXACT) and per_s["express_async"] == pytest.approx(bot, **EXACT)
    assert per_s["standard_sync"] == pytest.approx(bot + batches * 192 / 1024 * _usd("lambda_per_gb_second"), **EXACT)
    assert per_s["express_sync"] == pytest.approx(
        per_s["standard_sync"] + batches * 64 / 1024 * _usd("sfn_express_per_gb_second"), **EXACT)
    text = "\n".join(cost_bill.render_bot_time(table))
    for title in ("STANDARD sync", "STANDARD async", "EXPRESS sync", "EXPRESS async", "original (async)"):
        assert title in text
    assert len([ln for ln in text.splitlines() if re.match(r"\s*(0|5|20) \|", ln)]) == 3
    report = cost_bill.bot_time_json(table)
    json.dumps(report)
    assert report["rows"][2]["usd_per_month"]["express_async"] == round(table.rows[2].usd_per_month["express_async"], 2)
    # the EXPRESS break-even holds the bot's time only when the execution waits for it
    assert cost_bill.express_break_even(bill)["express_execution_seconds"] == pytest.approx(12.1 + 5)


def test_the_original_design_is_priced_with_its_bot_invoked_asynchronously() -> None:
    """Its process_message invoked the bot with InvocationType Event and returned: bill_columns says so."""
    assert cost.ORIGINAL_BOT_INVOCATION == "async"

    def ran(workflow: str) -> cost.RunResult:
        meter = cost.Meter()
        meter.invocations = [cost.Invocation("post_message", 40.0, aws_ms=30.0, calls=[("dynamodb", "UpdateItem")])] * 3 + [
            cost.Invocation("process_message", 90.0, aws_ms=10.0, calls=[("lambda", "Invoke")])]
        meter.append_sizes = [500, 1000, 1500]
        execution = {"transitions": 2, "waits": [10.0], "tasks": 1}
        return cost.RunResult(workflow, {"burst": 3, "gap_seconds": 1.0, "quiet_seconds": 10, "message_bytes": 1024},
                              3, 1, [], meter, [execution], 0, [])

    columns = cost.bill_columns({"STANDARD": ran("STANDARD"), "EXPRESS": ran("EXPRESS")}, cost_bill.Traffic(),
                                {"*": 256, "process_message": 192})
    assert {c.label: c.bot_invocation for c in columns} == {"standard": "sync", "express": "sync", "seed": "async"}
    with pytest.raises(ValueError):
        cost_bill.Column("x", {}, 128, "measured", bot_invocation="later")


@pytest.mark.parametrize("text, seconds", [("5", [5.0]), ("0,5,20", [0.0, 5.0, 20.0]), (" 2.5 , 0 ", [2.5, 0.0])])
def test_bot_seconds_takes_a_number_or_a_list(text, seconds) -> None:
    assert cost.durations(text) == seconds


@pytest.mark.parametrize("text", ["", "5,", "a", "-1", "1,-2", "nan", "inf"])
def test_bot_seconds_refuses_what_is_not_a_list_of_durations(text, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cost.main(["--bot-seconds", text])  # refused before anything is measured
    assert exit_.value.code == 2 and "--bot-seconds" in capsys.readouterr().err


def test_the_inventory_sizes_merged_maps_and_a_for_over_a_modules_instances(tmp_path) -> None:
    """main.tf's function table: a map written out merged with one entry per instance of a module
    called with for_each (a filtered for counts every element: an upper bound, as a toggle does)."""
    (tmp_path / "modules" / "mon").mkdir(parents=True)
    (tmp_path / "modules" / "fn").mkdir(parents=True)
    (tmp_path / "modules" / "fn" / "main.tf").write_text("")
    (tmp_path / "variables.tf").write_text('variable "apps" {\n  default = { a = { src = "x" }, b = {}, c = {} }\n}\n')
    (tmp_path / "main.tf").write_text('''
locals {
  deployed = { for id, app in var.apps : id => app if try(app.src, null) != null }
  functions = merge({
    post    = module.fn_post.name
    process = "p"
  }, { for id, bot in module.bots : "bot-${id}" => bot.name })
}
module "fn_post" {
  source = "./modules/fn"
}
module "bots" {
  source   = "./modules/fn"
  for_each = local.deployed
}
module "mon" {
  source    = "./modules/mon"
  functions = local.functions
}
''')
    (tmp_path / "modules" / "mon" / "main.tf").write_text('''
resource "aws_cloudwatch_metric_alarm" "per_function" {
  for_each = var.functions
  period   = 300
}
''')
    cost_inventory.module_scopes.cache_clear()
    try:
        assert cost_inventory.alarms(tmp_path).by_resource == {"modules/mon/main.tf:per_function": 2 + 3}
    finally:
        cost_inventory.module_scopes.cache_clear()
    deployed = cost_inventory.alarms()  # the repository's own Terraform: every function of the table counted
    functions = re.search(r"lambda_functions = merge\(\{(.*?)\}", (ROOT / "main.tf").read_text(), re.S).group(1)
    assert deployed.by_resource["modules/monitoring/main.tf:lambda"] >= 2 * len(re.findall(r"=", functions))
