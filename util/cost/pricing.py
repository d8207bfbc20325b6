"""The per-1M table: what a run's meter counted, per message, times the one price table.

Each workflow type's run is counted and priced as it ran; the seed project this design comes from
is priced from its call pattern (``run.seed_run``: per message GetItem, StopExecution, UpdateItem
or PutItem, StartExecution, UpdateItem; per burst GetItem, Invoke, DeleteItem; one Standard
execution per message), with item sizes and compute time taken from the STANDARD run.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from util.cost.inventory import (PLATFORM_LOG_BYTES_PER_INVOCATION, lambda_memory_mb, memory_of,
                                 platform_log_bytes_per_invocation)
from util.cost.meter import Invocation, Meter
from util.cost.prices import EXPRESS_MEMORY_MB, PRICES
from util.cost.run import REFERENCE, RunResult, run, seed_run

# What the ISSUE's done-when asks of the reference traffic (USD per 1M messages).
TARGETS = {"express_usd": 8.00, "standard_vs_seed": 0.6, "wru_per_message": 4.0}


@dataclass
class Priced:
    label: str
    lines: dict[str, float]  # bill line -> USD per message
    counts: dict[str, float]  # what was counted, per message

    @property
    def per_million(self) -> float:
        return sum(self.lines.values()) * 1e6


def price(label: str, counts: dict[str, float]) -> Priced:
    """Each count times its price from the one table; a line only for the counts the run has."""
    lines: dict[str, float] = {}
    for p in PRICES.values():
        if p.count is not None and p.count in counts:
            lines[p.line] = lines.get(p.line, 0.0) + counts[p.count] / p.per * p.usd
    return Priced(label, lines, counts)


def count(result: RunResult, memory_mb: int | dict[str, int],
          platform_log_bytes: int = PLATFORM_LOG_BYTES_PER_INVOCATION) -> dict[str, float]:
    """What the meter counted, per message. An EXPRESS execution's first Wait is billed as if the
    quiet period were the reference one (a time-scaled run waits less, by the difference).
    ``platform_log_bytes``: Lambda's own log bytes per invocation (START/END/REPORT)."""
    m = result.meter
    n = result.messages
    by_function = _by_function(m)
    process_ms = [i.billed_ms() for i in by_function["process_message"]] or [0.0]
    lambda_requests = sum(len(v) for v in by_function.values())
    gb_seconds = sum(i.billed_ms() / 1000 * memory_of(memory_mb, i.function) / 1024 for i in m.invocations)
    calls_by_service = _gateway_calls_by_service(m)
    counts = {
        "api_requests": len(by_function["post_message"]) / n,  # one webhook request per post_message
        "webhook_path_calls": sum(c for (f, _, _), c in m.calls.items() if f == "post_message") / n,
        "aws_calls": sum(calls_by_service.values()) / n,
        "lambda_invocations": lambda_requests / n,
        "lambda_gb_seconds": gb_seconds / n,
        "wru": sum(m.wru.values()) / n,
        "wru_gsi": sum(m.gsi_wru.values()) / n,
        "rru": sum(m.rru.values()) / n,
        "executions": len(result.executions) / n,
        "log_bytes": (result.log_bytes + platform_log_bytes * lambda_requests) / n,
        "function_log_bytes": result.log_bytes / n,  # what the functions print: JSON logs and EMF lines
        "post_message_ms": statistics.mean(i.billed_ms() for i in by_function["post_message"]),
        "process_message_ms": statistics.mean(process_ms),
    }
    if calls_by_service["sqs"]:
        counts["sqs_requests"] = calls_by_service["sqs"] / n
    counts.update(_step_functions_counts(result, statistics.mean(process_ms)))
    return counts


def _by_function(meter: Meter) -> defaultdict[str, list[Invocation]]:
    by_function = defaultdict(list)
    for invocation in meter.invocations:
        by_function[invocation.function].append(invocation)
    return by_function


def _gateway_calls_by_service(meter: Meter) -> Counter:
    """AWS calls of post_message and process_message, by service."""
    calls_by_service = Counter()
    for (function, service, operation), calls in meter.calls.items():
        if function in ("post_message", "process_message"):
            calls_by_service[service] += calls
    return calls_by_service


def _step_functions_counts(result: RunResult, process_ms: float) -> dict[str, float]:
    """STANDARD: transitions per message. EXPRESS: executions and GB-s per message, each execution
    billed from its Waits (the first at the reference quiet period) and its tasks (``process_ms``
    each), in 100 ms steps."""
    n = result.messages
    if result.workflow_type == "STANDARD":
        return {"transitions": sum(e["transitions"] for e in result.executions) / n}
    billed = 0.0
    for execution in result.executions:
        shift = REFERENCE["quiet_seconds"] - result.traffic["quiet_seconds"] if execution["waits"] else 0
        seconds = sum(execution["waits"]) + shift + execution["tasks"] * process_ms / 1000
        billed += math.ceil(seconds * 10) / 10 * EXPRESS_MEMORY_MB / 1024
    return {"express_executions": len(result.executions) / n, "express_gb_seconds": billed / n}


def price_run(result: RunResult, memory_mb: int | dict[str, int]) -> Priced:
    return price(result.workflow_type.lower(), count(result, memory_mb, platform_log_bytes_per_invocation()))


def price_seed(standard: RunResult, memory_mb: int | dict[str, int]) -> Priced:
    """The seed's functions all run at the shared lambda_memory_mb (it has no per-function setting)."""
    return price("seed", count(seed_run(standard), memory_of(memory_mb, "*")))


def express_floor(traffic: dict) -> dict[str, float]:
    """USD per 1M messages that no EXPRESS build of this design can go below at ``traffic``: per message
    one HTTP API request and one post_message invocation; per burst one execution request, one
    process_message invocation, and one execution alive at least from the burst's first message to its
    last plus the quiet period (a timer stands for the burst; an Express execution cannot be stopped, and
    its duration is billed at 64 MB or more). DynamoDB, Lambda duration and logs come on top."""
    burst = traffic["burst"]
    alive_s = (burst - 1) * traffic["gap_seconds"] + REFERENCE["quiet_seconds"]
    lines = {
        "API Gateway (HTTP API)": PRICES["api_gateway_http_per_request"].usd,
        "Lambda requests": (1 + 1 / burst) * PRICES["lambda_per_request"].usd,
        "Step Functions requests": PRICES["sfn_express_per_request"].usd / burst,
        "Step Functions duration": alive_s * EXPRESS_MEMORY_MB / 1024 * PRICES["sfn_express_per_gb_second"].usd / burst,
    }
    return {line: round(usd * 1e6, 3) for line, usd in lines.items()}


def measure(traffic: dict) -> tuple[dict[str, RunResult], list[Priced]]:
    """A STANDARD and an EXPRESS run at ``traffic``, priced, and the seed's pattern priced beside them."""
    memory = lambda_memory_mb()
    runs = {t: run(t, traffic) for t in ("STANDARD", "EXPRESS")}
    priced = [price_run(runs["STANDARD"], memory), price_run(runs["EXPRESS"], memory),
              price_seed(runs["STANDARD"], memory)]
    return runs, priced
