"""The monthly bill's inputs from the runs: each workflow type's per-request units, the original
design's counts at the operator's burst size, and the bill at the operator's traffic (util/cost/bill.py
prices them: as measured when the traffic has the run's shape, else computed from the units)."""

from __future__ import annotations

import dataclasses
import math
import statistics

from util.cost.bill import (PROVIDER_HTTP_MS, Bill, Column, Measured, Options, Traffic, same_shape, scale)
from util.cost.bill import monthly_bill as price_month
from util.cost.inventory import bill_inventory, lambda_memory_mb, memory_of, platform_log_bytes_per_invocation
from util.cost.meter import Invocation, Meter
from util.cost.pricing import count
from util.cost.run import (ORIGINAL_BOT_INVOCATION, RUN_INLINE_WAIT_SECONDS, RunResult, measure_side_paths,
                           seed_run)


def measured_units(result: RunResult, memory_mb: int | dict[str, int], platform_log_bytes: int = 0,
                   rechecks_from: RunResult | None = None) -> Measured:
    """The run's per-request units for the monthly bill (bill.Measured): per post_message
    invocation, per batch of the process_message invocations that delivered (their compute: billed
    time less the inline sleep), per process_message invocation that delivered nothing (a NotDueYet;
    from ``rechecks_from`` when this run had none), and per batch the transitions, Express seconds
    (as count() bills them, without its quick-run shift) and sleeps. Put back together by
    bill.scale at the run's shape, they are count()'s figures."""
    n, batches = result.messages, max(result.batches, 1)
    posts = [i for i in result.meter.invocations if i.function == "post_message"]
    process = [i for i in result.meter.invocations if i.function == "process_message"]
    delivering = [i for i in process if _delivered(i)]
    rechecks = [i for i in process if not _delivered(i)]
    attributed = sum(i.log_bytes for i in result.meter.invocations)
    return Measured(
        workflow=result.workflow_type, burst=result.traffic["burst"], gap_seconds=float(result.traffic["gap_seconds"]),
        quiet_seconds=float(result.traffic["quiet_seconds"]),
        inline_wait_seconds=float(RUN_INLINE_WAIT_SECONDS[result.workflow_type]),
        post_memory_mb=memory_of(memory_mb, "post_message"), process_memory_mb=memory_of(memory_mb, "process_message"),
        **_post_units(posts, n), **_deliver_units(delivering, batches),
        **_recheck_units(rechecks or _rechecks(rechecks_from)),
        **_batch_units(result, process, rechecks, batches),
        other_log_bytes=(result.log_bytes - attributed) / n, platform_log_bytes=platform_log_bytes,
    )


def _post_units(posts: list[Invocation], messages: int) -> dict[str, float]:
    """Per post_message invocation (one per message)."""
    return {"post_ms": _mean(posts, Invocation.billed_ms), "post_wru": sum(i.wru for i in posts) / messages,
            "post_rru": sum(i.rru for i in posts) / messages,
            "post_log_bytes": sum(i.log_bytes for i in posts) / messages}


def _deliver_units(delivering: list[Invocation], batches: int) -> dict[str, float]:
    """Per batch, the process_message invocations that delivered it."""
    return {"deliver_invocations_per_batch": len(delivering) / batches,
            "deliver_ms": sum(_compute_ms(i) for i in delivering) / batches,
            "deliver_wru": sum(i.wru for i in delivering) / batches,
            "deliver_rru": sum(i.rru for i in delivering) / batches,
            "deliver_log_bytes": sum(i.log_bytes for i in delivering) / batches}


def _recheck_units(pool: list[Invocation]) -> dict[str, float]:
    """Per process_message invocation that delivered nothing (the mean of ``pool``; 0 when empty)."""
    return {"recheck_ms": _mean(pool, _compute_ms), "recheck_wru": _mean(pool, lambda i: i.wru),
            "recheck_rru": _mean(pool, lambda i: i.rru), "recheck_log_bytes": _mean(pool, lambda i: i.log_bytes)}


def _batch_units(result: RunResult, process: list[Invocation], rechecks: list[Invocation],
                 batches: int) -> dict[str, float]:
    """Per batch: re-checks, inline sleep, executions, transitions, Express seconds (EXPRESS only)."""
    express = result.workflow_type == "EXPRESS"
    return {"batches_per_message": batches / result.messages, "rechecks_per_batch": len(rechecks) / batches,
            "slept_seconds_per_batch": sum(i.slept_ms for i in process) / 1000 / batches,
            "executions_per_batch": len(result.executions) / batches,
            "transitions_per_batch": sum(e["transitions"] for e in result.executions) / batches,
            "express_seconds_per_batch": _express_seconds(result, process) / batches if express else 0.0}


def _delivered(invocation: Invocation) -> bool:
    """A process_message invocation that delivered a batch (it invoked the bot)."""
    return ("lambda", "Invoke") in invocation.calls


def _rechecks(result: RunResult | None) -> list[Invocation]:
    """``result``'s process_message invocations that delivered nothing."""
    invocations = result.meter.invocations if result else []
    return [i for i in invocations if i.function == "process_message" and not _delivered(i)]


def _mean(items, value) -> float:
    return statistics.mean(value(i) for i in items) if items else 0.0


def _compute_ms(invocation: Invocation) -> float:
    return invocation.billed_ms() - invocation.slept_ms


def _express_seconds(result: RunResult, process: list[Invocation]) -> float:
    """The run's Express execution seconds as billed (100 ms steps), each task as long as the mean
    process_message invocation."""
    process_ms = statistics.mean(i.billed_ms() for i in process) if process else 0.0
    return sum(math.ceil((sum(e["waits"]) + e["tasks"] * process_ms / 1000) * 10) / 10 for e in result.executions)


def seed_counts(standard: RunResult, memory_mb: int | dict[str, int], traffic: Traffic) -> dict[str, float]:
    """The original design's per-message counts at the operator's burst size (its item sizes grown
    from the run's, linearly per message); a gap of the quiet period or more makes each message a
    burst of its own. At the run's burst size: the per-1M table's seed figures."""
    burst = 1 if traffic.gap_seconds >= traffic.quiet_seconds else traffic.messages_per_burst
    shaped = standard
    if burst != standard.traffic["burst"]:
        sizes = standard.meter.append_sizes or [standard.traffic["message_bytes"]]
        ran = standard.traffic["burst"]
        growth = (max(sizes) - min(sizes)) / (ran - 1) if ran > 1 else standard.traffic["message_bytes"]
        meter = Meter()
        meter.invocations = standard.meter.invocations
        meter.append_sizes = [round(min(sizes) + k * growth) for k in range(burst)]
        shaped = RunResult("STANDARD", {**standard.traffic, "burst": burst}, standard.messages, standard.batches,
                           [], meter, standard.executions, standard.log_bytes, [])
    counts = count(seed_run(shaped), memory_of(memory_mb, "*"))
    counts["batches"] = 1 / burst
    return counts


def bill_columns(runs: dict[str, RunResult], traffic: Traffic, memory_mb: int | dict[str, int]) -> list[Column]:
    """STANDARD and EXPRESS from their runs' units at ``traffic``, and the original design's pattern."""
    platform = platform_log_bytes_per_invocation()
    columns = []
    for workflow in ("STANDARD", "EXPRESS"):
        other = runs["EXPRESS" if workflow == "STANDARD" else "STANDARD"]
        units = measured_units(runs[workflow], memory_mb, platform, rechecks_from=other)
        basis = "measured" if same_shape(units, traffic) else "scaled"
        columns.append(Column(workflow.lower(), scale(units, traffic), units.process_memory_mb, basis))
    columns.append(Column("seed", seed_counts(runs["STANDARD"], memory_mb, traffic), memory_of(memory_mb, "*"),
                          columns[0].basis, fixed_items=False, bot_invocation=ORIGINAL_BOT_INVOCATION))
    return columns


def monthly_bill(runs: dict[str, RunResult], traffic: Traffic, options: Options,
                 provider_ms: float = PROVIDER_HTTP_MS) -> Bill:
    """The month at the operator's traffic: the runs' units (scaled when the shape differs), the
    sweeper and a reply measured on moto, the fixed items counted from the Terraform and code."""
    memory = lambda_memory_mb()
    sweeper, reply = measure_side_paths(memory)
    reply = dataclasses.replace(reply, provider_ms=provider_ms)
    return price_month(bill_columns(runs, traffic, memory), traffic, options, bill_inventory(), sweeper, reply)
