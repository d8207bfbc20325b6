"""The monthly bill of util.cost: pure arithmetic on measured units, the operator's traffic and the
deployment's toggles (no AWS, no moto; util/cost/run.py measures, this module prices).

What comes in:

* ``Measured``: per-request units of one workflow type from the instrumented run (util/cost/run.py) at
  the run's traffic shape: per post_message invocation, per process_message invocation (the one that
  delivers a batch, and one that finds it not yet due), per batch (transitions, Express seconds,
  inline sleep);
* ``Traffic``: the operator's messages per month, messages per burst, gap inside a burst, bot
  seconds and memory, replies per burst, quiet period;
* ``Column``: per workflow type (and the original design's pattern), the per-message counts and how
  the bot is invoked: "sync" (process_message waits for it, billed for the bot's time, and an
  EXPRESS execution stays alive meanwhile) or "async" (an Event invoke: only the bot's own time);
* ``Options``: tracing, dashboard, alarms, alarm e-mail, API access logs;
* ``Inventory``: what is counted from the Terraform and the code (util/cost/inventory.py);
* ``SweeperUnits`` and ``ReplyUnits``: the sweeper's and send_message_api's measured invocation.

``scale`` turns a ``Measured`` into per-message counts at the operator's shape: the run's own
figures when the shape is the run's ("measured"), else the run's per-invocation units times the
invocations, transitions, sleeps and Express seconds a burst of that shape takes in ``burst_model``,
shifted so that the model reproduces the run at the run's shape ("scaled"). ``monthly_bill`` prices
it all with the one price table (util/cost/prices.py). ``bot_time`` is the same bill at several bot
durations, each workflow type with a sync and an async bot side by side: pure arithmetic on the
same columns.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterable

from util.cost.prices import EXPRESS_MEMORY_MB, PRICES

MONTH_SECONDS = 30 * 24 * 3600

# Stated assumptions of the bill (each printed with it).
PROVIDER_HTTP_MS = 300.0  # send_message_api's POST to the messaging API, a round trip billed as duration
SQS_REQUESTS_PER_REPLY = 3  # the bot's SendMessage, the event source mapping's ReceiveMessage and DeleteMessage
SEND_QUEUE_POLLERS = 5  # Lambda's SQS event source mapping keeps 5 long polls open on an idle queue
LONG_POLL_SECONDS = 20  # each an empty ReceiveMessage every 20 s

COLUMN_TITLES = {"standard": "STANDARD", "express": "EXPRESS", "seed": "original",
                 "standard_sync": "STANDARD sync", "standard_async": "STANDARD async",
                 "express_sync": "EXPRESS sync", "express_async": "EXPRESS async"}
BOT_INVOCATIONS = ("sync", "async")  # gateway/settings.py INVOCATIONS: BOT_INVOCATIONS_MAP, apps.<id>.invocation

BASIS = {
    "measured": "measured by the instrumented run at this traffic shape",
    "scaled": "computed from the run's measured per-invocation units for this traffic shape (burst model)",
    "computed": "computed from your inputs and the stated assumptions",
    "counted": "counted from the Terraform / code, at list price",
}


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Traffic:
    messages_per_month: float = 1_000_000
    messages_per_burst: int = 3
    gap_seconds: float = 1.0  # between two messages of a burst
    bot_seconds: float = 5.0  # the bot's run time per batch
    replies_per_burst: float = 1.0
    bot_memory_mb: int = 512
    quiet_seconds: float = 10.0  # debounce_seconds

    @property
    def bursts_per_month(self) -> float:
        return self.messages_per_month / self.messages_per_burst


@dataclass(frozen=True)
class Options:
    tracing: bool = False  # X-Ray active tracing on the functions and the state machine
    dashboard: bool = True
    alarms: bool = True
    alarm_email: bool = False  # the alarm topic and its KMS key (only with alarms)
    access_logs: bool = False  # API Gateway access logs


@dataclass(frozen=True)
class Inventory:
    dashboards: int
    alarms_standard: int
    alarms_high_resolution: int
    custom_metrics: int
    sweeps_per_month: int
    access_log_line_bytes: int


@dataclass(frozen=True)
class SweeperUnits:
    """One sweeper run, measured: billed ms (own compute + assumed latency of its Queries), read units
    of its Queries on the sparse index, log bytes."""
    billed_ms: float
    memory_mb: int
    rru: float
    log_bytes: float
    queries: float = 0.0


@dataclass(frozen=True)
class ReplyUnits:
    """One send_message_api invocation for one reply, measured (own compute and log bytes); the POST
    to the provider is ``provider_ms``, assumed."""
    own_ms: float
    memory_mb: int
    log_bytes: float
    provider_ms: float = PROVIDER_HTTP_MS


@dataclass(frozen=True)
class Measured:
    """Per-request units of one workflow type, from one instrumented run at (burst, gap, quiet)."""
    workflow: str  # STANDARD or EXPRESS
    burst: int
    gap_seconds: float
    quiet_seconds: float
    inline_wait_seconds: float
    post_memory_mb: int
    process_memory_mb: int
    # per post_message invocation (one per message)
    post_ms: float
    post_wru: float
    post_rru: float
    post_log_bytes: float
    # per batch, the process_message invocations that deliver it (normally one; compute: billed ms
    # less the inline sleep)
    deliver_invocations_per_batch: float
    deliver_ms: float
    deliver_wru: float
    deliver_rru: float
    deliver_log_bytes: float
    # per process_message invocation that finds the batch not yet due (NotDueYet) or nothing to do
    recheck_ms: float
    recheck_wru: float
    recheck_rru: float
    recheck_log_bytes: float
    # per batch
    batches_per_message: float
    rechecks_per_batch: float
    slept_seconds_per_batch: float
    executions_per_batch: float
    transitions_per_batch: float = 0.0  # STANDARD
    express_seconds_per_batch: float = 0.0  # EXPRESS, as billed (100 ms steps), process_message's time included
    other_log_bytes: float = 0.0  # per message: printed outside any invocation
    platform_log_bytes: int = 0  # START/END/REPORT per invocation at the deployed system log level


# --------------------------------------------------------------------------- the burst model


@dataclass(frozen=True)
class BurstModel:
    """What one sender's burst costs in executions: summed over the batches it becomes."""
    messages: int
    batches: int
    transitions: int
    rechecks: int  # process_message invocations that end in NotDueYet
    slept_seconds: float  # process_message sleeping out a remainder inline
    alive_seconds: float  # each execution from the burst's first message to the claim


def burst_model(burst: int, gap: float, quiet: float, inline_wait: float, max_wait: float) -> BurstModel:
    """A burst of ``burst`` messages ``gap`` s apart through the state machine (fixed debounce policy):
    post_message starts one execution per burst, due ``quiet`` s after the burst's first message; its
    Wait ends there and process_message claims the burst once ``quiet`` s passed since its latest
    message (capped at ``max_wait`` after the first), sleeping out a remainder of up to
    ``inline_wait`` s, else raising NotDueYet (ReadWaitUntil, WaitAgain, ProcessBatch again).
    Messages after a claim start the next batch. Whole-second Wait rounding is left out (the run
    measures it; ``scale`` keeps the run's figures at the run's shape)."""
    if burst < 1:
        raise ValueError("a burst has at least one message")
    arrivals = [k * gap for k in range(burst)]
    eps = 1e-9
    i = batches = transitions = rechecks = 0
    slept = alive = 0.0
    while i < burst:
        first = arrivals[i]
        t = first + quiet  # WaitForQuietPeriod ends
        transitions += 1
        claimed = 0
        while not claimed:
            transitions += 1  # ProcessBatch
            inline_until = t + inline_wait
            while True:
                arrived = [a for a in arrivals[i:] if a <= t + eps]
                due = min(arrived[-1] + quiet, first + max_wait)
                if t >= due - eps:
                    claimed = len(arrived)
                    break
                if due > inline_until + eps:
                    break
                slept += due - t
                t = due
            if not claimed:
                rechecks += 1
                transitions += 2  # ReadWaitUntil, WaitAgain
                t = due
        batches += 1
        alive += t - first
        i += claimed
    return BurstModel(burst, batches, transitions, rechecks, slept, alive)


def same_shape(m: Measured, traffic: Traffic) -> bool:
    return (m.burst, m.gap_seconds, m.quiet_seconds) == (traffic.messages_per_burst, traffic.gap_seconds,
                                                          traffic.quiet_seconds)


def scale(m: Measured, traffic: Traffic, max_wait: float | None = None) -> dict[str, float]:
    """Per-message counts of the gateway's own path (webhook to bot invoke; the bot's time and the
    replies are the bill's) at the operator's shape. Each per-batch figure is the run's, moved by
    what the burst model says changes between the run's shape and this one; at the run's shape it
    is exactly the run's."""
    cap = max_wait if max_wait is not None else max(60.0, traffic.quiet_seconds)
    run = burst_model(m.burst, m.gap_seconds, m.quiet_seconds, m.inline_wait_seconds, max(60.0, m.quiet_seconds))
    now = burst_model(traffic.messages_per_burst, traffic.gap_seconds, traffic.quiet_seconds, m.inline_wait_seconds, cap)

    def moved(measured: float, attribute: str, per: str = "batches") -> float:
        return max(0.0, measured + getattr(now, attribute) / getattr(now, per) - getattr(run, attribute) / getattr(run, per))

    batches = max(0.0, m.batches_per_message + now.batches / now.messages - run.batches / run.messages)
    rechecks = moved(m.rechecks_per_batch, "rechecks")
    slept = moved(m.slept_seconds_per_batch, "slept_seconds")
    process_invocations = m.deliver_invocations_per_batch + rechecks
    process_ms = m.deliver_ms + rechecks * m.recheck_ms + slept * 1000
    invocations = 1 + batches * process_invocations
    counts = {
        "api_requests": 1.0,
        "lambda_invocations": invocations,
        "lambda_gb_seconds": (m.post_ms / 1000 * m.post_memory_mb / 1024
                              + batches * process_ms / 1000 * m.process_memory_mb / 1024),
        "wru": m.post_wru + batches * (m.deliver_wru + rechecks * m.recheck_wru),
        "rru": m.post_rru + batches * (m.deliver_rru + rechecks * m.recheck_rru),
        "log_bytes": (m.post_log_bytes + m.other_log_bytes + batches * (m.deliver_log_bytes + rechecks * m.recheck_log_bytes)
                      + m.platform_log_bytes * invocations),
        "executions": batches * m.executions_per_batch,
        "batches": batches,
    }
    if m.workflow == "STANDARD":
        counts["transitions"] = batches * moved(m.transitions_per_batch, "transitions")
    else:
        # the model's alive time holds the inline sleeps; the compute of extra rechecks comes on top
        extra_compute = (rechecks - m.rechecks_per_batch) * m.recheck_ms / 1000
        seconds = max(0.0, moved(m.express_seconds_per_batch, "alive_seconds") + extra_compute)
        counts["express_executions"] = batches * m.executions_per_batch
        counts["express_gb_seconds"] = batches * seconds * EXPRESS_MEMORY_MB / 1024
    return counts


# --------------------------------------------------------------------------- the bill


@dataclass(frozen=True)
class Column:
    label: str  # standard, express, seed
    counts: dict[str, float]  # per message at the operator's shape (scale(), or the seed's pattern)
    process_memory_mb: int  # the memory process_message waits for a sync bot at
    basis: str  # measured or scaled
    fixed_items: bool = True  # this deployment's fixed items apply (not to the original design's pattern)
    bot_invocation: str = "sync"  # "sync": process_message (and an EXPRESS execution) waits for the bot; "async": not

    def __post_init__(self) -> None:
        if self.bot_invocation not in BOT_INVOCATIONS:
            raise ValueError(f"bot_invocation must be one of {BOT_INVOCATIONS}, not {self.bot_invocation!r}")

    @property
    def express(self) -> bool:
        return "express_gb_seconds" in self.counts


@dataclass
class Line:
    section: str  # "fixed" or "per message"
    name: str
    usd: dict[str, float | None]  # column -> USD per month; None: not part of that column
    basis: str
    detail: str
    prices: tuple[str, ...]


@dataclass(frozen=True)
class NotCounted:
    item: str
    reason: str
    prices: tuple[str, ...] = ()


# Every price item the deployment can incur that the bill leaves out, and why. Together with the
# bill's lines it covers the whole price table (tests/unit/test_cost.py).
NOT_COUNTED = (
    NotCounted("Free tiers", "not deducted: the bill is list price for what is used. Each month Lambda gives 1M "
               "requests and 400,000 GB-s, Step Functions Standard 4,000 transitions, SQS 1M requests, CloudWatch "
               "10 custom metrics, 10 alarms, 3 dashboards and 5 GB of logs, X-Ray 100,000 traces, KMS 20,000 "
               "requests, data transfer out 100 GB; at the default shape and 100k messages a month every Lambda item "
               "of the bill is within it"),
    NotCounted("Data transfer out (replies to the messaging APIs, webhook answers)",
               "depends on reply size: $0.09/GB after 100 GB a month free; 1M replies of 500 bytes are 0.5 GB",
               ("data_transfer_out_per_gb",)),
    NotCounted("The bot's own work beyond its run time", "LLM or other API fees, its own logs, tables, tracing "
               "and cold starts are the bot's bill, not the gateway's"),
    NotCounted("CloudWatch Logs storage", "$0.03 per GB-month compressed, kept log_retention_days (30): the "
               "ingested bytes above, about a month of them, compressed several times, cost cents",
               ("cloudwatch_logs_storage_per_gb_month",)),
    NotCounted("CloudWatch Logs Insights queries and X-Ray trace retrieval",
               "what operators read: $0.005 per GB scanned, $0.50 per 1M traces retrieved or scanned",
               ("cloudwatch_logs_insights_per_gb_scanned", "xray_per_trace_retrieved")),
    NotCounted("DynamoDB storage and point-in-time recovery", "$0.25 + $0.20 per GB-month of table: conversation "
               "items (under 2 KB each, kept 30 days idle) and TEXT items of long texts (about 0.6 KB per 1 KB text, "
               "TTL 31 days); 1M messages of 1 KB a month keep about 0.6 GB: about $0.30 a month",
               ("dynamodb_storage_per_gb_month", "dynamodb_pitr_per_gb_month")),
    NotCounted("Lambda cold starts", "the INIT phase of a cold start is billed as duration; how often the "
               "functions start cold depends on how traffic spreads over the day (make bench prints the import "
               "times)"),
    NotCounted("KMS requests", "$0.03 per 10,000: SSM SecureString decrypts (one per app per cold start of "
               "post_message and send_message_api), the alarm topic's data keys when an alarm fires, DynamoDB's "
               "AWS managed key (cached by DynamoDB)", ("kms_per_request",)),
    NotCounted("KMS key rotation of the alarm key", "enable_key_rotation: each of the first two yearly rotations "
               "adds $1 a month to the key (counted here at $1)"),
    NotCounted("SNS notifications", "only when an alarm changes state: e-mail $2 per 100,000 after 1,000 free, "
               "publishes $0.50 per 1M", ("sns_email_per_notification", "sns_per_publish")),
    NotCounted("SSM Parameter Store", "standard parameters and standard throughput are free"),
    NotCounted("EventBridge schedule of the sweeper", "scheduled rules are free (the sweeper's Lambda, Query and "
               "logs are counted)"),
    NotCounted("CloudWatch metrics of AWS services and dashboard reads", "Lambda, SQS, API Gateway, Step Functions "
               "and DynamoDB metrics, alarm evaluation and the console's graphs are free"),
    NotCounted("Failures and retries", "a retried process_message or bot invoke (an async bot: Lambda's up to 2 "
               "retries and the on-failure record SQS receives on the failed-batch queue), a reply retried by SQS "
               "(ChangeMessageVisibility), a dead-lettered reply, a parked batch (failed-batch queue), the sweeper "
               "re-arming a conversation, the state machine's ERROR log lines: in proportion to the failure rate, "
               "nothing in a healthy month"),
    NotCounted("Large payloads", "SQS bills a reply per started 64 KB, API Gateway a request per started 512 KB; "
               "replies and webhooks are assumed smaller"),
    NotCounted("Unused Lambda settings", "no provisioned concurrency, no ephemeral storage above the free 512 MB, "
               "no VPC (no NAT or endpoints)"),
)


def _p(key: str) -> float:
    price = PRICES[key]
    return price.usd / price.per


def bot_wait_usd(column: Column, traffic: Traffic) -> dict[str, float]:
    """USD per batch that the bot's run time costs ``column``: the bot's own duration at
    bot_memory_mb; with a sync bot, process_message waiting for it at its own memory and, for
    EXPRESS, the execution alive meanwhile (64 MB). An async bot costs the first only."""
    b = traffic.bot_seconds
    sync = column.bot_invocation == "sync"
    return {
        "bot": b * traffic.bot_memory_mb / 1024 * _p("lambda_per_gb_second"),
        "process_message": b * column.process_memory_mb / 1024 * _p("lambda_per_gb_second") if sync else 0.0,
        "express": b * EXPRESS_MEMORY_MB / 1024 * _p("sfn_express_per_gb_second") if sync and column.express else 0.0,
    }


def monthly_bill(columns: Iterable[Column], traffic: Traffic, options: Options, inventory: Inventory,
                 sweeper: SweeperUnits, reply: ReplyUnits) -> "Bill":
    """The month: fixed items (this deployment's; "-" for the original design's pattern), then the
    per-message items of each column at ``traffic``."""
    columns = list(columns)
    lines = _Lines(columns)
    _counted_fixed_lines(lines, options, inventory)
    _sweeper_and_queue_lines(lines, options, inventory, sweeper)
    _gateway_lines(lines, traffic.messages_per_month)
    _bot_lines(lines, traffic)
    _reply_lines(lines, traffic, reply)
    _toggle_lines(lines, traffic, options, inventory)
    return Bill(traffic, options, inventory, [c.label for c in columns], lines.lines, {c.label: c for c in columns},
                sweeper, reply)


class _Lines:
    """The bill's lines as they are added, each line's value computed for every column."""

    def __init__(self, columns: list[Column]):
        self.columns = columns
        self.lines: list[Line] = []

    def add(self, section: str, name: str, basis: str, detail: str, prices: Iterable[str],
            value: Callable[[Column], float | None]) -> None:
        self.lines.append(Line(section, name, {c.label: value(c) for c in self.columns}, basis, detail, tuple(prices)))


def _fixed(value: float) -> Callable[[Column], float | None]:
    """A fixed item: the deployment's, not the original design's pattern's (None)."""
    return lambda c: value if c.fixed_items else None


def _counted_fixed_lines(lines: _Lines, options: Options, inventory: Inventory) -> None:
    """Dashboard, alarms, custom metrics, the alarm topic's KMS key: counted from the Terraform and code."""
    n = inventory.dashboards if options.dashboard else 0
    lines.add("fixed", "CloudWatch dashboard", "counted",
              f"{n} x $3.00 (the account's 3 free dashboards assumed in use)" if options.dashboard else "off (--no-dashboard)",
              ["cloudwatch_dashboard_per_month"], _fixed(n * _p("cloudwatch_dashboard_per_month")))
    std, high = (inventory.alarms_standard, inventory.alarms_high_resolution) if options.alarms else (0, 0)
    lines.add("fixed", "CloudWatch alarms", "counted",
              (f"{std} standard x $0.10" + (f" + {high} high-resolution x $0.30" if high else "")
               + " (from the Terraform)") if options.alarms else "off (--no-alarms)",
              ["cloudwatch_alarm_per_month", "cloudwatch_high_resolution_alarm_per_month"],
              _fixed(std * _p("cloudwatch_alarm_per_month") + high * _p("cloudwatch_high_resolution_alarm_per_month")))
    lines.add("fixed", "CloudWatch custom metrics (EMF)", "counted",
              f"{inventory.custom_metrics} metrics x $0.30 (lambda/gateway/metrics.py; an upper bound: an hour a metric "
              "is not emitted in is not billed)",
              ["cloudwatch_custom_metric_per_month"],
              _fixed(inventory.custom_metrics * _p("cloudwatch_custom_metric_per_month")))
    key = options.alarm_email and options.alarms
    lines.add("fixed", "KMS key of the alarm e-mail topic", "counted",
              "1 x $1.00" if key else ("off (--alarm-email)" if not options.alarm_email else "off: no alarms, no topic"),
              ["kms_key_per_month"], _fixed(_p("kms_key_per_month") if key else 0.0))


def _sweeper_and_queue_lines(lines: _Lines, options: Options, inventory: Inventory, sweeper: SweeperUnits) -> None:
    """The sweeper's scheduled runs (measured) and the send queue's idle polling (computed)."""
    sweeps = inventory.sweeps_per_month
    sweeper_lambda = sweeps * (_p("lambda_per_request")
                               + sweeper.billed_ms / 1000 * sweeper.memory_mb / 1024 * _p("lambda_per_gb_second"))
    lines.add("fixed", "Sweeper Lambda", "measured",
              f"{sweeps:,} runs x ({sweeper.billed_ms:.0f} ms at {sweeper.memory_mb} MB + a request)",
              ["lambda_per_request", "lambda_per_gb_second"], _fixed(sweeper_lambda))
    lines.add("fixed", "Sweeper DynamoDB Query (sparse index)", "measured",
              f"{sweeps:,} runs x {sweeper.rru:g} RRU ({sweeper.queries:g} Queries, eventually consistent)",
              ["dynamodb_per_rru"], _fixed(sweeps * sweeper.rru * _p("dynamodb_per_rru")))
    lines.add("fixed", "Sweeper logs", "measured", f"{sweeps:,} runs x {sweeper.log_bytes:.0f} bytes",
              ["cloudwatch_logs_per_gb"], _fixed(sweeps * sweeper.log_bytes * _p("cloudwatch_logs_per_gb")))
    lines.add("fixed", "Sweeper X-Ray traces", "computed",
              f"{sweeps:,} traces" if options.tracing else "off (--tracing)", ["xray_per_trace_recorded"],
              _fixed(sweeps * _p("xray_per_trace_recorded") if options.tracing else 0.0))
    polls = SEND_QUEUE_POLLERS * MONTH_SECONDS / LONG_POLL_SECONDS
    lines.add("fixed", "Send queue polling (event source mapping)", "computed",
              f"{polls:,.0f} empty ReceiveMessage ({SEND_QUEUE_POLLERS} long polls of {LONG_POLL_SECONDS} s, assumed)",
              ["sqs_per_request"], _fixed(polls * _p("sqs_per_request")))


# The gateway's own path, per message: (line, count, price, how the detail shows the count, what it counts)
_GATEWAY_LINES = (
    ("Lambda requests (post_message, process_message)", "lambda_invocations", "lambda_per_request", "{:.2f}",
     "invocations"),
    ("Lambda duration (post_message, process_message)", "lambda_gb_seconds", "lambda_per_gb_second", "{:.4f}",
     "GB-s (own compute, assumed AWS call latency, inline waits)"),
    ("DynamoDB writes", "wru", "dynamodb_per_wru", "{:.2f}", "WRU (table and sparse index)"),
    ("DynamoDB reads", "rru", "dynamodb_per_rru", "{:.2f}", "RRU"),
    ("Step Functions transitions (STANDARD)", "transitions", "sfn_standard_per_transition", "{:.2f}",
     "transitions at $25 per 1M;"),
    ("Step Functions requests (EXPRESS)", "express_executions", "sfn_express_per_request", "{:.2f}",
     "executions at $1.00 per 1M;"),
    ("Step Functions duration (EXPRESS)", "express_gb_seconds", "sfn_express_per_gb_second", "{:.4f}",
     f"GB-s at {EXPRESS_MEMORY_MB} MB, first message to claim;"),
    ("CloudWatch Logs (the functions' lines)", "log_bytes", "cloudwatch_logs_per_gb", "{:.0f}",
     "log bytes (JSON and EMF lines; START/END/REPORT where logged)"),
)


def _gateway_lines(lines: _Lines, m: float) -> None:
    """Per message, the gateway's own path (webhook to bot invoke): each column's counts at list price."""
    columns = lines.columns

    def per(count: str, key: str):
        return lambda c: m * c.counts[count] * _p(key) if count in c.counts else None

    basis = columns[0].basis if columns else "measured"

    def counted(count: str, fmt: str, what: str) -> str:
        cells = [f"{COLUMN_TITLES.get(c.label, c.label)} {fmt.format(c.counts[count])}" for c in columns if count in c.counts]
        return f"{what} per message: " + ", ".join(cells)

    lines.add("per message", "API Gateway HTTP API requests", basis, "1 webhook request per message",
              ["api_gateway_http_per_request"], per("api_requests", "api_gateway_http_per_request"))
    for name, count, key, fmt, what in _GATEWAY_LINES:
        lines.add("per message", name, basis, counted(count, fmt, what), [key], per(count, key))


def _bot_lines(lines: _Lines, traffic: Traffic) -> None:
    """Per batch: the bot, invoked by process_message, sync (it waits) or async (an Event invoke)."""
    m = traffic.messages_per_month

    def batches(c: Column) -> float:
        return m * c.counts["batches"]

    modes = ", ".join(f"{COLUMN_TITLES.get(c.label, c.label)} {c.bot_invocation}" for c in lines.columns)
    lines.add("per message", "Bot Lambda requests", "computed", f"1 per batch (the invoke; {modes})",
              ["lambda_per_request"], lambda c: batches(c) * _p("lambda_per_request"))
    lines.add("per message", "Bot Lambda duration", "computed",
              f"{traffic.bot_seconds:g} s x {traffic.bot_memory_mb} MB per batch", ["lambda_per_gb_second"],
              lambda c: batches(c) * bot_wait_usd(c, traffic)["bot"])
    lines.add("per message", "process_message waiting for the bot", "computed",
              f"{traffic.bot_seconds:g} s per batch at process_message's memory, sync bots only (an async invoke "
              "returns at once)", ["lambda_per_gb_second"],
              lambda c: batches(c) * bot_wait_usd(c, traffic)["process_message"] if c.bot_invocation == "sync" else None)
    lines.add("per message", "EXPRESS execution alive while the bot runs", "computed",
              f"{traffic.bot_seconds:g} s x {EXPRESS_MEMORY_MB} MB per batch, sync bots only",
              ["sfn_express_per_gb_second"],
              lambda c: (batches(c) * bot_wait_usd(c, traffic)["express"] if c.express and c.bot_invocation == "sync"
                         else None))


def _reply_lines(lines: _Lines, traffic: Traffic, reply: ReplyUnits) -> None:
    """Per reply: SQS and send_message_api."""
    replies = traffic.bursts_per_month * traffic.replies_per_burst
    lines.add("per message", "Replies: SQS requests", "computed",
              f"{replies:,.0f} replies x {SQS_REQUESTS_PER_REPLY} (send, receive, delete; each alone)",
              ["sqs_per_request"], lambda c: replies * SQS_REQUESTS_PER_REPLY * _p("sqs_per_request"))
    reply_gb_s = (reply.own_ms + reply.provider_ms) / 1000 * reply.memory_mb / 1024
    lines.add("per message", "Replies: send_message_api Lambda", "computed",
              f"1 invocation per reply: {reply.own_ms:.0f} ms own work (measured) + {reply.provider_ms:.0f} ms POST to "
              f"the provider (assumed) at {reply.memory_mb} MB", ["lambda_per_request", "lambda_per_gb_second"],
              lambda c: replies * (_p("lambda_per_request") + reply_gb_s * _p("lambda_per_gb_second")))
    lines.add("per message", "Replies: send_message_api logs", "measured", f"{reply.log_bytes:.0f} bytes per reply",
              ["cloudwatch_logs_per_gb"], lambda c: replies * reply.log_bytes * _p("cloudwatch_logs_per_gb"))


def _toggle_lines(lines: _Lines, traffic: Traffic, options: Options, inventory: Inventory) -> None:
    """X-Ray traces and API Gateway access logs, when their toggles are on."""
    m = traffic.messages_per_month
    replies = traffic.bursts_per_month * traffic.replies_per_burst
    lines.add("per message", "X-Ray traces", "computed",
              "1 per post_message and per send_message_api invocation, every one recorded (upper bound)"
              if options.tracing else "off (--tracing)", ["xray_per_trace_recorded"],
              lambda c: (m + replies) * _p("xray_per_trace_recorded") if options.tracing else 0.0)
    lines.add("per message", "API Gateway access logs", "counted",
              f"{inventory.access_log_line_bytes} bytes per request (the Terraform's format)" if options.access_logs
              else "off (--access-logs)", ["cloudwatch_logs_per_gb"],
              lambda c: (m * c.counts.get("api_requests", 1.0) * inventory.access_log_line_bytes
                         * _p("cloudwatch_logs_per_gb") if options.access_logs else 0.0))


@dataclass
class Bill:
    traffic: Traffic
    options: Options
    inventory: Inventory
    labels: list[str]
    lines: list[Line]
    columns: dict[str, Column]
    sweeper: SweeperUnits
    reply: ReplyUnits

    def subtotal(self, label: str, section: str) -> float | None:
        values = [ln.usd[label] for ln in self.lines if ln.section == section]
        if all(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)

    def total(self, label: str) -> float:
        return sum(v for v in (self.subtotal(label, "fixed"), self.subtotal(label, "per message")) if v is not None)

    def per_million(self, label: str) -> float:
        """USD per 1M messages of the per-message items (bot and replies included)."""
        return (self.subtotal(label, "per message") or 0.0) / self.traffic.messages_per_month * 1e6

    def prices_used(self) -> set[str]:
        return {key for ln in self.lines for key in ln.prices}


def express_break_even(bill: Bill) -> dict[str, float] | None:
    """STANDARD against EXPRESS at this shape. Both have the same fixed items, so the difference is
    per message and scales with volume: there is no break-even volume. What can turn it is how long
    an EXPRESS execution lives (quiet period, spread of the burst, bot time), which STANDARD does not
    pay for: each second more costs ``usd_per_extra_second`` a month."""
    if "standard" not in bill.columns or "express" not in bill.columns:
        return None
    express = bill.columns["express"]
    batches = bill.traffic.messages_per_month * express.counts["batches"]
    alive = (express.counts["express_gb_seconds"] / express.counts["batches"] / (EXPRESS_MEMORY_MB / 1024)
             + (bill.traffic.bot_seconds if express.bot_invocation == "sync" else 0.0))
    slope = batches * EXPRESS_MEMORY_MB / 1024 * _p("sfn_express_per_gb_second")
    difference = bill.total("express") - bill.total("standard")
    extra = -difference / slope if slope > 0 else math.inf
    return {"express_minus_standard_usd": difference, "express_execution_seconds": alive,
            "usd_per_extra_second": slope, "extra_seconds_to_break_even": extra,
            "break_even_execution_seconds": alive + extra}


# --------------------------------------------------------------------------- output


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def render(bill: Bill) -> list[str]:
    return [*_render_heading(bill), *_render_tables(bill), *_render_notes(bill), *_render_break_even(bill),
            "", "Not counted:", *(f"  - {item.item}: {item.reason}" for item in NOT_COUNTED)]


def _render_heading(bill: Bill) -> list[str]:
    """The traffic, the bot and the toggles the bill is at."""
    t, o = bill.traffic, bill.options
    model = burst_model(t.messages_per_burst, t.gap_seconds, t.quiet_seconds, 0.0, max(60.0, t.quiet_seconds))
    out = [
        f"Monthly bill (USD, 30-day month): {t.messages_per_month:,.0f} messages in bursts of {t.messages_per_burst} "
        f"messages {t.gap_seconds:g} s apart ({t.bursts_per_month:,.0f} bursts), quiet period {t.quiet_seconds:g} s; "
        f"bot {t.bot_seconds:g} s at {t.bot_memory_mb} MB per batch ("
        + ", ".join(f"{COLUMN_TITLES.get(label, label)} {c.bot_invocation}" for label, c in bill.columns.items())
        + f"); {t.replies_per_burst:g} repl"
        f"{'y' if t.replies_per_burst == 1 else 'ies'} per burst",
        f"  tracing {_on(o.tracing)}, dashboard {_on(o.dashboard)}, alarms "
        f"{_on(o.alarms)} ({bill.inventory.alarms_standard + bill.inventory.alarms_high_resolution} in the "
        f"Terraform), alarm e-mail {_on(o.alarm_email)}, API access logs {_on(o.access_logs)}",
    ]
    if model.batches > 1:
        out.append(f"  note: a gap of {t.gap_seconds:g} s against a {t.quiet_seconds:g} s quiet period makes each burst "
                   f"{model.batches} batches (each its own execution and bot invocation)")
    out.append("")
    return out


def _on(toggle: bool) -> str:
    return "on" if toggle else "off"


BILL_TITLE_WIDTH = 52


def _render_tables(bill: Bill) -> list[str]:
    """The fixed and the per-message items, each with its subtotal, then the totals."""
    width = BILL_TITLE_WIDTH
    out = []
    for section, title in (("fixed", "Fixed items (independent of volume)"), ("per message", "Per-message items")):
        header = f"{title:{width}}{'basis':>9}" + "".join(f"{COLUMN_TITLES.get(label, label):>12}" for label in bill.labels)
        out += [header, "-" * len(header)]
        for ln in bill.lines:
            if ln.section == section:
                out.append(f"  {ln.name:{width - 2}}{ln.basis:>9}" + "".join(f"{_money(ln.usd[label]):>12}" for label in bill.labels))
                out.append(f"    {ln.detail}")
        out.append(f"  {'subtotal':{width - 2}}{'':>9}" + "".join(f"{_money(bill.subtotal(label, section)):>12}"
                                                                 for label in bill.labels))
        out.append("")
    out.append(f"{'MONTHLY TOTAL':{width}}{'':>9}" + "".join(f"{bill.total(label):>12,.2f}" for label in bill.labels))
    out.append(f"{'per 1M messages (per-message items)':{width}}{'':>9}"
               + "".join(f"{bill.per_million(label):>12,.2f}" for label in bill.labels))
    out.append("")
    return out


def _render_notes(bill: Bill) -> list[str]:
    out = ["basis: " + "; ".join(f"{k}: {v}" for k, v in BASIS.items())]
    if "seed" in bill.columns:
        out.append("original: the original design's call pattern (util/cost/run.py seed_run) at this shape, with the "
                   f"same bot ({bill.columns['seed'].bot_invocation}, as it invoked it) and reply path; its fixed items "
                   "are not priced ('-'), so its total is its per-message items")
    return out


def _render_break_even(bill: Bill) -> list[str]:
    """STANDARD or EXPRESS: which is cheaper, and how long an EXPRESS execution could live before it is not."""
    even = express_break_even(bill)
    if not even:
        return []
    cheaper = "EXPRESS" if even["express_minus_standard_usd"] < 0 else "STANDARD"
    out = ["", f"STANDARD or EXPRESS: {cheaper} is cheaper by ${abs(even['express_minus_standard_usd']):,.2f} a month "
               f"at this volume; the fixed items are the same for both, so the difference grows with volume and there "
               f"is no break-even volume."]
    if even["extra_seconds_to_break_even"] > 0 and math.isfinite(even["extra_seconds_to_break_even"]):
        out.append(f"  An EXPRESS execution lives {even['express_execution_seconds']:.1f} s per batch here (quiet period, "
                   f"the burst's spread, process_message, the bot); each second more costs "
                   f"${even['usd_per_extra_second']:,.2f} a month, so STANDARD becomes cheaper only past "
                   f"{even['break_even_execution_seconds']:.0f} s per batch (EXPRESS also ends executions at 5 minutes).")
    elif even["extra_seconds_to_break_even"] <= 0:
        out.append(f"  EXPRESS executions live {even['express_execution_seconds']:.1f} s per batch here; they would have "
                   f"to be {-even['extra_seconds_to_break_even']:.0f} s shorter for EXPRESS to be the cheaper one.")
    return out


def as_json(bill: Bill) -> dict:
    return {
        "traffic": asdict(bill.traffic),
        "options": asdict(bill.options),
        "inventory": asdict(bill.inventory),
        "sweeper": asdict(bill.sweeper),
        "reply": asdict(bill.reply),
        "per_message": {label: {k: round(v, 6) for k, v in c.counts.items()} for label, c in bill.columns.items()},
        "basis_of_columns": {label: c.basis for label, c in bill.columns.items()},
        "lines": [{"section": ln.section, "name": ln.name, "basis": ln.basis, "detail": ln.detail,
                   "usd_per_month": {k: (None if v is None else round(v, 4)) for k, v in ln.usd.items()}}
                  for ln in bill.lines],
        "fixed_usd_per_month": {label: _round(bill.subtotal(label, "fixed")) for label in bill.labels},
        "per_message_usd_per_month": {label: _round(bill.subtotal(label, "per message")) for label in bill.labels},
        "total_usd_per_month": {label: round(bill.total(label), 2) for label in bill.labels},
        "usd_per_million_messages": {label: round(bill.per_million(label), 2) for label in bill.labels},
        "break_even": express_break_even(bill),
        "not_counted": [{"item": n.item, "reason": n.reason} for n in NOT_COUNTED],
        "assumptions": {"provider_http_ms": bill.reply.provider_ms, "sqs_requests_per_reply": SQS_REQUESTS_PER_REPLY,
                        "send_queue_pollers": SEND_QUEUE_POLLERS, "long_poll_seconds": LONG_POLL_SECONDS,
                        "month_seconds": MONTH_SECONDS},
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --------------------------------------------------------------------------- bot time: sync or async


# The bot-time table's columns: each workflow type with a sync and with an async bot, then the original
# design's pattern with its bot invoked as the original invoked it (its column's bot_invocation).
BOT_TIME_COLUMNS = (("standard", "sync"), ("standard", "async"), ("express", "sync"), ("express", "async"),
                    ("seed", None))


@dataclass(frozen=True)
class BotTimeRow:
    bot_seconds: float
    usd_per_million: dict[str, float]  # per-message items (the gateway's path, the bot, the replies) per 1M messages
    usd_per_month: dict[str, float]  # the monthly total at the bill's traffic, fixed items included


@dataclass(frozen=True)
class BotTime:
    traffic: Traffic  # the bill's, at the first duration
    labels: list[str]
    invocations: dict[str, str]  # label -> sync or async
    rows: list[BotTimeRow]
    usd_per_million_per_bot_second: dict[str, float]  # what each second of the bot's run time adds per 1M messages


def bot_time_columns(columns: Iterable[Column]) -> list[Column]:
    """The bill's STANDARD and EXPRESS columns, each as a sync and as an async bot, and the original's."""
    by = {c.label: c for c in columns}
    out = []
    for label, invocation in BOT_TIME_COLUMNS:
        if label not in by:
            continue
        column = by[label]
        if invocation is not None:
            column = replace(column, label=f"{label}_{invocation}", bot_invocation=invocation)
        out.append(column)
    return out


def bot_seconds_usd(column: Column, traffic: Traffic) -> float:
    """USD per 1M messages that one second more of the bot's run time costs ``column`` (bot_wait_usd
    per second, times its batches per 1M messages)."""
    per_second = bot_wait_usd(column, replace(traffic, bot_seconds=1.0))
    return 1e6 * column.counts["batches"] * sum(per_second.values())


def bot_time(bill: "Bill", bot_seconds: Iterable[float]) -> BotTime:
    """``bill`` again at each bot duration, STANDARD and EXPRESS each with a sync and an async bot, and
    the original's pattern: per 1M messages and the monthly total. Pure arithmetic on the bill's
    columns (the measured run is the same for both modes: process_message's own work, the invoke
    included, does not change with it; only who waits for the bot does)."""
    columns = bot_time_columns(bill.columns.values())
    rows = []
    for b in bot_seconds:
        at = monthly_bill(columns, replace(bill.traffic, bot_seconds=float(b)), bill.options, bill.inventory,
                          bill.sweeper, bill.reply)
        rows.append(BotTimeRow(float(b), {c.label: at.per_million(c.label) for c in columns},
                               {c.label: at.total(c.label) for c in columns}))
    return BotTime(bill.traffic, [c.label for c in columns], {c.label: c.bot_invocation for c in columns}, rows,
                   {c.label: bot_seconds_usd(c, bill.traffic) for c in columns})


def _title(table: BotTime, label: str) -> str:
    title = COLUMN_TITLES.get(label, label)
    return title if "_" in label else f"{title} ({table.invocations[label]})"


def render_bot_time(table: BotTime) -> list[str]:
    t = table.traffic
    titles = [_title(table, label) for label in table.labels]
    widths = [max(len(title), 15) for title in titles]
    out = [f"Bot time: sync or async. USD per 1M messages (per-message items) / a month (total) at "
           f"{t.messages_per_month:,.0f} messages a month in bursts of {t.messages_per_burst}, the bot at "
           f"{t.bot_memory_mb} MB",
           "bot s | " + " | ".join(f"{title:>{w}}" for title, w in zip(titles, widths)),
           "------+-" + "-+-".join("-" * w for w in widths)]
    for row in table.rows:
        cells = [f"{row.usd_per_million[label]:,.2f} / {row.usd_per_month[label]:,.2f}" for label in table.labels]
        out.append(f"{row.bot_seconds:>5g} | " + " | ".join(f"{cell:>{w}}" for cell, w in zip(cells, widths)))
    out.append("per bot-second, USD per 1M messages: " + ", ".join(
        f"{title} {table.usd_per_million_per_bot_second[label]:.2f}" for title, label in zip(titles, table.labels)))
    out.append("  sync: process_message waits for the bot and is billed for its time at its own memory, and an EXPRESS "
               "execution stays alive meanwhile; async: an Event invoke returns at once, only the bot's own time is "
               "billed (its retries and on-failure records are failures, not counted)")
    return out


def bot_time_json(table: BotTime) -> dict:
    return {
        "columns": {label: {"title": _title(table, label), "bot_invocation": table.invocations[label]}
                    for label in table.labels},
        "bot_memory_mb": table.traffic.bot_memory_mb,
        "messages_per_month": table.traffic.messages_per_month,
        "rows": [{"bot_seconds": row.bot_seconds,
                  "usd_per_million": {k: round(v, 2) for k, v in row.usd_per_million.items()},
                  "usd_per_month": {k: round(v, 2) for k, v in row.usd_per_month.items()}} for row in table.rows],
        "usd_per_million_per_bot_second": {k: round(v, 4) for k, v in table.usd_per_million_per_bot_second.items()},
    }
