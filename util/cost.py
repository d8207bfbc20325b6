"""What the gateway costs per message, measured: an instrumented end-to-end run on moto, priced.

The run: SENDERS people each type a burst of BURST messages of MESSAGE_BYTES, GAP seconds apart,
and stop; the real state machine (rendered from modules/step_functions) waits the quiet period and
runs process_message, which hands each batch to a bot. Everything the code does is counted:

* every AWS API call, by function, service and operation (botocore's ``BaseClient._make_api_call``);
  the calls post_message makes are the webhook path;
* state transitions (``*StateEntered`` events of each execution's history), and for EXPRESS the
  executions and their duration as AWS would bill it (each Wait lasts until its timestamp);
* Lambda invocations and durations: the handler's own compute time measured, plus an assumed
  latency for each AWS call it makes (moto answers in-process, far faster than AWS);
* DynamoDB request units from item sizes (DynamoDB's size rules): a write costs 1 WRU per KB of
  the larger of the item before and after, a transaction twice that, a conditional write that
  fails still costs; a strongly consistent read 1 RRU per 4 KB; each write that adds, changes or
  removes an item of the sparse GSI costs that index's writes too;
* CloudWatch Logs bytes: what the functions print (JSON logs, EMF metric lines) plus the runtime's
  START/END/REPORT lines where the deployed system log level (lambda_system_log_level) keeps them:
  none at WARN, the default; the seed's always.

The same run is made with workflow_type STANDARD and EXPRESS. The seed project this design comes
from is priced from its call pattern (per message: GetItem, StopExecution, UpdateItem or PutItem,
StartExecution, UpdateItem; per burst: GetItem, Invoke, DeleteItem; one Standard execution per
message), with item sizes and compute time taken from this run.

Then the monthly bill at the operator's traffic (util/cost_bill.py, docs/cost.md): fixed items
counted from the Terraform and the code (dashboard, alarms, custom metrics, the alarm topic's KMS key,
the sweeper, the send queue's polling), per-message items from the run's measured units (as measured
when the traffic has the run's shape, else computed from its per-invocation units), the bot's time
and the replies (SQS, send_message_api) from the operator's inputs, X-Ray and access logs when on;
and the list of what is not counted, with why. The sweeper and send_message_api are measured on
moto too (a few invocations each).

Then the bot's time, sync or async (cost_bill.bot_time): at each ``--bot-seconds`` duration the bill's
per-1M and monthly totals of STANDARD and EXPRESS with a sync bot (process_message waits for it,
billed at its memory; an EXPRESS execution stays alive meanwhile) and with an async one (an Event
invoke: only the bot's own duration), and the original design's pattern, whose process_message
invoked its bot asynchronously (InvocationType Event). Arithmetic on the one measured run: the run
invokes its bot synchronously and the bot answers at once, so process_message's measured work (the
Invoke's round trip included) is what either mode costs besides the wait.

    python util/cost.py            # the per-1M table and the monthly bill (make cost)
    python util/cost.py --json     # one JSON object (the bill under "monthly_bill")
    python util/cost.py --quick    # a small, time-scaled run (tests)
    python util/cost.py --messages-per-month 2000000 --messages-per-burst 3 --gap-seconds 2 \
        --bot-seconds 5 --bot-memory-mb 512 --replies-per-burst 1 [--tracing] [--no-dashboard] \
        [--no-alarms] [--alarm-email] [--access-logs]
    python util/cost.py --bot-seconds 0,5,20   # the bot-time table at 0, 5 and 20 s (the bill at 0 s)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

# --------------------------------------------------------------------------- prices (ONE table)

# Published list prices, us-east-1, USD, in util/cost_prices.py: the per-1M table below and the
# monthly bill (util/cost_bill.py) both price from it. Free tiers are ignored.
from util import cost_bill, cost_inventory  # noqa: E402 - after the sys.path line above
from util.cost_prices import PRICES, Price  # noqa: E402,F401 - Price: part of this module's interface

# Assumptions, all in one place. Latencies are typical in-region round trips; they turn the
# in-process moto calls into billed Lambda time.
ASSUMED_CALL_LATENCY_MS = {
    ("dynamodb", "TransactWriteItems"): 15.0,
    "dynamodb": 6.0,
    "stepfunctions": 25.0,
    "lambda": 25.0,  # an Invoke's round trip (sync or async); the bot's run time is the bill's (bot_time)
    "ssm": 15.0,
    "sqs": 10.0,
}
PLATFORM_LOG_BYTES_PER_INVOCATION = 350  # START, END and REPORT lines of the Lambda runtime
# Lambda's system log level per setting: START, END and REPORT are INFO events, so at WARN (the
# functions' logging_config, variable lambda_system_log_level) a normal invocation writes none;
# what still gets logged (errors, timeouts, out-of-memory) is rare and not counted here. The
# original design logs them as text (350 bytes per invocation).
PLATFORM_LOG_BYTES_BY_SYSTEM_LEVEL = {"DEBUG": PLATFORM_LOG_BYTES_PER_INVOCATION,
                                      "INFO": PLATFORM_LOG_BYTES_PER_INVOCATION, "WARN": 0}
EXPRESS_MEMORY_MB = cost_bill.EXPRESS_MEMORY_MB  # the smallest billing step; the execution's state is a few hundred bytes
# How the original design's process_message invoked its bot: Lambda invoke with InvocationType "Event",
# then it deleted the item and returned. Its process Lambda is not billed for the bot's time.
ORIGINAL_BOT_INVOCATION = "async"

# Senders start 0.35 s apart (30 of them over one quiet period), as independent people do: started in
# the same instant, their 30 executions would wake in the same second and queue for moto's one lock
# (AWS runs them side by side), and process_message would sleep out that queue, billed.
REFERENCE = {"senders": 30, "burst": 3, "message_bytes": 1024, "gap_seconds": 1.0, "quiet_seconds": 10,
             "stagger_seconds": 0.35}
QUICK = {"senders": 6, "burst": 3, "message_bytes": 1024, "gap_seconds": 0.2, "quiet_seconds": 1}
# process_message's inline wait in the run: main.tf's local.inline_wait_seconds default for each workflow type
RUN_INLINE_WAIT_SECONDS = {"STANDARD": 15, "EXPRESS": 1}
# What the ISSUE's done-when asks of the reference traffic (USD per 1M messages).
TARGETS = {"express_usd": 8.00, "standard_vs_seed": 0.6, "wru_per_message": 4.0}

# The messages' text: windows of this natural chat prose (customer messages, Portuguese and English),
# each message its own window, cut to message_bytes. Texts are stored DEFLATE-compressed from
# gateway.conversations.COMPRESS_MIN_BYTES up, so the run's text must compress as real text does
# (1 KB windows of this prose: to about 60 %); a repeated letter would compress to nothing.
CHAT_PROSE = (
    "Oi, boa tarde! Eu fiz um pedido na semana passada, o número é 48213, e até agora não recebi nenhuma "
    "atualização sobre a entrega. No site aparece que o pagamento foi aprovado, mas o status continua como "
    "em separação desde segunda-feira. Vocês conseguem verificar o que aconteceu? Preciso do produto até sexta "
    "porque é presente de aniversário da minha mãe. Se não der para chegar a tempo, prefiro cancelar e receber "
    "o reembolso no cartão. Hi there, I ordered a pair of running shoes last Tuesday (order A-77120) and the "
    "tracking page still says the label was created, but nothing has moved since. I paid for express shipping "
    "because I have a race on Sunday morning, so I really need them by Friday. Could you check with the carrier "
    "what is going on? Also, I think I picked the wrong size: I usually wear a 42 but the confirmation email says "
    "41. If it is not too late, can you change it before it ships? Otherwise tell me how the exchange works and "
    "whether I have to pay for the return label. Bom dia, tudo bem? Queria saber se vocês têm a geladeira duplex "
    "de 480 litros na cor inox com entrega para Curitiba, e em quantas vezes dá para parcelar sem juros. Meu "
    "cunhado comprou uma parecida no mês passado e disse que a instalação foi rápida. Também preciso retirar a "
    "geladeira antiga, vocês fazem esse serviço? Hello, my internet has been dropping every evening around eight "
    "for the past week. I already restarted the router twice and replaced the cable, but the light keeps blinking "
    "orange. The technician who came on Monday said the signal was fine, yet it happened again last night during "
    "a video call with my team. Can you send someone who can actually check the line outside the building? "
)


def chat_text(size: int, seed: int) -> str:
    """Exactly ``size`` bytes (UTF-8) of CHAT_PROSE, from an offset that ``seed`` picks."""
    start = (seed * 7919) % len(CHAT_PROSE)
    raw = ((CHAT_PROSE[start:] + CHAT_PROSE) * (size // len(CHAT_PROSE) + 1)).encode()[:size]
    text = raw.decode("utf-8", errors="ignore")  # a character cut in two is dropped,
    return text + " " * (size - len(text.encode()))  # and its bytes made up with spaces


APP = "bot1"
BOT_FUNCTION = "bot1-chat-lambda"
PROCESS_FUNCTION = "debouncer-process-message"
TABLE = "debouncer-cost"


def lambda_memory_mb() -> dict[str, int]:
    """Each function's memory as deployed (terraform.tfvars over variables.tf): process_message has its
    own (process_message_memory_mb), every other function lambda_memory_mb; key "*" is the latter."""
    from util import tfvars

    values = tfvars.load()
    shared = int(values["lambda_memory_mb"])
    return {"*": shared, "process_message": int(values.get("process_message_memory_mb", shared))}


def _memory_of(memory_mb: int | dict[str, int], function: str) -> int:
    return memory_mb if isinstance(memory_mb, int) else memory_mb.get(function, memory_mb["*"])


def platform_log_bytes_per_invocation() -> int:
    """START/END/REPORT bytes per invocation at the deployed lambda_system_log_level (terraform.tfvars
    over the default in variables.tf)."""
    from util import tfvars

    return PLATFORM_LOG_BYTES_BY_SYSTEM_LEVEL[tfvars.load()["lambda_system_log_level"]]


# --------------------------------------------------------------------------- DynamoDB sizes


def attribute_size(value: dict) -> int:
    """Size in bytes of one DynamoDB attribute value (AttributeValue JSON), by DynamoDB's rules."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(inner) if isinstance(inner, (bytes, bytearray)) else len(inner.encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def uncompressed(item: dict, texts: dict[str, str] | None = None) -> dict:
    """``item`` (AttributeValue JSON) with each text of its ``msgs`` as plain text on its entry: a
    DEFLATE-compressed one expanded, one kept in a TEXT item (``r``) taken from ``texts`` (ref -> text),
    as the seed stores them."""
    from gateway.conversations import entry_text

    if "msgs" not in item:
        return item
    entries = []
    for entry in item["msgs"]["L"]:
        fields = dict(entry["M"])
        if "z" in fields:
            fields["t"] = {"S": entry_text({"z": fields.pop("z")["B"]})}
        elif "r" in fields:
            fields["t"] = {"S": (texts or {})[fields.pop("r")["S"]]}
        entries.append({"M": fields})
    return {**item, "msgs": {"L": entries}}


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


# --------------------------------------------------------------------------- the meter


@dataclass
class Invocation:
    function: str
    wall_ms: float
    started_at: float = field(default_factory=time.time)
    aws_ms: float = 0.0
    slept_ms: float = 0.0  # process_message waiting out a burst's last seconds (billed, not compute)
    calls: list[tuple[str, str]] = field(default_factory=list)
    wru: float = 0.0  # DynamoDB units of this invocation's calls (the Meter's counters by function hold them too)
    rru: float = 0.0
    log_bytes: int = 0  # what it printed (JSON log lines, EMF lines), through the run's log tap

    def own_ms(self) -> float:
        """Own compute: wall time minus the time inside moto."""
        return max(self.wall_ms - self.aws_ms, 0.0)

    def billed_ms(self) -> float:
        """Own compute plus the assumed AWS latency of each call."""
        return math.ceil(self.own_ms() + sum(call_latency_ms(s, o) for s, o in self.calls))


def call_latency_ms(service: str, operation: str) -> float:
    return ASSUMED_CALL_LATENCY_MS.get((service, operation), ASSUMED_CALL_LATENCY_MS.get(service, 10.0))


class Meter:
    """Counts AWS calls (botocore), DynamoDB units and Lambda invocations while installed."""

    def __init__(self, schema: dict | None = None):
        schema = schema or {"KeySchema": []}
        self.calls: Counter = Counter()  # (function, service, operation) -> count
        self.wru: Counter = Counter()  # function -> write request units (table + GSI)
        self.rru: Counter = Counter()
        self.gsi_wru: Counter = Counter()
        self.invocations: list[Invocation] = []
        # conversation item size after each webhook UpdateItem, with its texts as the seed stores them:
        # uncompressed (the seed's call pattern is priced with these sizes)
        self.append_sizes: list[int] = []
        self.texts: dict[str, str] = {}  # the TEXT items written (ref -> text), to expand the seed's items
        self._local = threading.local()
        self._lock = threading.Lock()
        self.key_names = [k["AttributeName"] for k in schema["KeySchema"]]
        self.indexes = [
            ([k["AttributeName"] for k in index["KeySchema"]], index["Projection"].get("NonKeyAttributes", []))
            for index in schema.get("GlobalSecondaryIndexes", [])
        ]

    def book(self, function: str, own_ms: float, calls: list[tuple[str, str]], *, wru: float = 0.0,
             rru: float = 0.0) -> None:
        """Count an invocation that was not run (the seed's call pattern) as the hook counts a run one."""
        with self._lock:
            self.invocations.append(Invocation(function, own_ms, calls=list(calls)))
            for service, operation in calls:
                self.calls[(function, service, operation)] += 1
            self.wru[function] += wru
            self.rru[function] += rru

    # -- phases: which function is running on this thread

    @contextlib.contextmanager
    def function(self, name: str):
        outer = getattr(self._local, "invocation", None)
        invocation = Invocation(name, 0.0)
        self._local.invocation = invocation
        start = time.perf_counter()
        try:
            yield invocation
        finally:
            invocation.wall_ms = (time.perf_counter() - start) * 1000
            self._local.invocation = outer
            with self._lock:
                self.invocations.append(invocation)

    @contextlib.contextmanager
    def uncounted(self):
        """The run's own bookkeeping calls (polling for the end) are not the gateway's."""
        self._local.internal = True
        try:
            yield
        finally:
            self._local.internal = False

    @property
    def current(self) -> str:
        invocation = getattr(self._local, "invocation", None)
        return invocation.function if invocation else "stepfunctions-service"

    # -- botocore hook

    @contextlib.contextmanager
    def installed(self):
        from botocore.client import BaseClient

        from util.local_aws import _moto_lock

        original = BaseClient._make_api_call
        meter = self

        def counted(client, operation, params):
            if getattr(meter._local, "internal", False):
                return original(client, operation, params)
            service = client.meta.service_model.service_name
            invocation = getattr(meter._local, "invocation", None)
            started = time.perf_counter()
            if service == "dynamodb":
                with _moto_lock:
                    response = meter._dynamodb(original, client, operation, params)
            else:
                response = original(client, operation, params)
            if invocation is not None:
                invocation.aws_ms += (time.perf_counter() - started) * 1000
                invocation.calls.append((service, operation))
            with meter._lock:
                meter.calls[(meter.current, service, operation)] += 1
            return response

        BaseClient._make_api_call = counted
        try:
            yield self
        finally:
            BaseClient._make_api_call = original

    def _internal_get(self, original, client, table: str, key: dict) -> dict | None:
        self._local.internal = True
        try:
            return original(client, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}).get("Item")
        finally:
            self._local.internal = False

    def _key(self, item: dict) -> dict:
        return {k: item[k] for k in self.key_names}

    def _dynamodb(self, original, client, operation, params):
        function = self.current
        writes: list[tuple[str, dict, int]] = []  # (table, key, multiplier)
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            key = params["Key"] if "Key" in params else self._key(params["Item"])
            writes.append((params["TableName"], key, 1))
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                key = body["Key"] if "Key" in body else self._key(body["Item"])
                writes.append((body["TableName"], key, 2))
        before = [self._internal_get(original, client, t, k) for t, k, _ in writes]
        failed = None
        try:
            response = original(client, operation, params)
        except Exception as exc:  # a failed conditional write is still billed
            response, failed = None, exc
        after = [self._internal_get(original, client, t, k) for t, k, _ in writes]
        units = 0.0
        gsi = 0.0
        for (table, key, multiplier), old, new in zip(writes, before, after):
            changed = failed is None
            units += multiplier * write_units(max(item_size(old), item_size(new) if changed else 0))
            if changed:  # index upkeep counted once, also inside a transaction (an assumption)
                gsi += self._gsi_units(old, new)
        read = 0.0
        if operation == "GetItem" and response is not None:
            read = read_units(item_size(response.get("Item")), params.get("ConsistentRead", False))
        elif operation == "Query" and response is not None:
            size = sum(item_size(i) for i in response.get("Items", []))
            read = read_units(size, params.get("ConsistentRead", False))
        elif operation == "BatchGetItem" and response is not None:
            for table, items in response.get("Responses", {}).items():  # each item is read (and rounded) alone
                consistent = params["RequestItems"][table].get("ConsistentRead", False)
                read += sum(read_units(item_size(i), consistent) for i in items)
        self.rru[function] += read
        invocation = getattr(self._local, "invocation", None)
        if invocation is not None:
            invocation.wru += units + gsi
            invocation.rru += read
        if operation == "PutItem" and failed is None:
            from gateway.conversations import TEXT_PREFIX, _from_ddb, entry_text

            sk = params["Item"]["sk"]["S"]
            if sk.startswith(TEXT_PREFIX):
                self.texts[sk[len(TEXT_PREFIX):]] = entry_text(_from_ddb(params["Item"]))
        with self._lock:
            self.wru[function] += units + gsi
            self.gsi_wru[function] += gsi
            if function == "post_message" and operation == "UpdateItem" and after and after[0]:
                self.append_sizes.append(item_size(uncompressed(after[0], self.texts)))
        if failed is not None:
            raise failed
        return response

    def _gsi_units(self, old: dict | None, new: dict | None) -> float:
        units = 0.0
        for keys, projected in self.indexes:
            def image(item):
                if not item or not all(k in item for k in keys):
                    return None
                names = [*self.key_names, *keys, *projected]
                return {n: item[n] for n in names if n in item}

            a, b = image(old), image(new)
            size = lambda img: write_units(item_size(img) + 100)  # noqa: E731 - 100 bytes of index overhead
            if a is None and b is None:
                continue
            if a is None or b is None:
                units += size(a or b)
            elif any(a.get(k) != b.get(k) for k in keys):
                units += size(a) + size(b)  # the index entry moves: a delete and a put
            elif a != b:
                units += size(b)
        return units


# --------------------------------------------------------------------------- the run


@dataclass
class RunResult:
    workflow_type: str
    traffic: dict
    messages: int
    batches: int
    deliveries: list[dict]
    meter: Meter
    executions: list[dict]  # per execution: transitions, express billed seconds
    log_bytes: int
    dispatch_delays: list[float]  # seconds from a burst's last message to its batch reaching the bot

    def per_message(self, value: float) -> float:
        return value / self.messages


def webhook_event(sender: str, text: str, message_id: str) -> dict:
    """What API Gateway hands post_message for a Z-API text message (payload format 2.0)."""
    body = {"isGroup": False, "messageId": message_id, "phone": sender, "fromMe": False,
            "momment": int(time.time() * 1000), "status": "RECEIVED", "type": "ReceivedCallback",
            "text": {"message": text}}
    return {
        "version": "2.0", "routeKey": "POST /webhook", "rawPath": "/webhook", "rawQueryString": f"appId={APP}",
        "headers": {"content-type": "application/json"}, "queryStringParameters": {"appId": APP},
        "requestContext": {"domainName": "example.execute-api.us-east-1.amazonaws.com",
                           "http": {"method": "POST", "path": "/webhook", "sourceIp": "203.0.113.9"}},
        "isBase64Encoded": False, "body": json.dumps(body),
    }


def _history(sfn, arn: str) -> list[dict]:
    events, kwargs = [], {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


class _LogTap(io.TextIOBase):
    """``sys.stdout`` while a run is measured: what is written goes on to the stream it wraps (fd 1,
    the run's log file), and its bytes are added to the invocation running on the writing thread
    (``Meter.function`` of ``meter``), so the bill can tell per-message from per-batch log bytes.
    The functions' loggers keep the tap as their stream once made during a run."""

    def __init__(self, stream):
        self.stream = stream
        self.meter: Meter | None = None

    def write(self, text: str) -> int:
        meter = self.meter
        invocation = getattr(meter._local, "invocation", None) if meter is not None else None
        if invocation is not None:
            invocation.log_bytes += len(text.encode())
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


_TAP: _LogTap | None = None


@contextlib.contextmanager
def _stdout_to(path: Path, meter: "Meter | None" = None):
    """Send fd 1 (the functions' JSON logs and EMF lines) to a file, to count its bytes; with
    ``meter``, through the log tap that adds them to each invocation too."""
    global _TAP
    sys.stdout.flush()
    saved = os.dup(1)
    saved_stdout = sys.stdout
    if _TAP is None:
        _TAP = _LogTap(sys.stdout)
    with path.open("wb") as sink:
        os.dup2(sink.fileno(), 1)
        sys.stdout = _TAP
        try:
            yield _TAP
        finally:
            sys.stdout.flush()
            _TAP.meter = None
            sys.stdout = saved_stdout
            os.dup2(saved, 1)
            os.close(saved)


def _aws_environment() -> None:
    """What every measured function sees: fake credentials for moto, the deployment's logging."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
        POWERTOOLS_SERVICE_NAME="debouncer", POWERTOOLS_METRICS_NAMESPACE="Debouncer", LOG_LEVEL="INFO",
    )
    os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)


def run(workflow_type: str, traffic: dict, *, timeout: float = 120.0) -> RunResult:
    """One end-to-end run on moto with ``traffic``; returns everything measured."""
    _aws_environment()
    import boto3
    from moto import mock_aws

    from util import local_aws as la

    log_file = Path(tempfile.mkstemp(prefix="cost-logs-")[1])
    deliveries: list[dict] = []
    with mock_aws(config=la.MOTO_CONFIG), _stdout_to(log_file) as tap, _waits_end_at_their_timestamp():
        la.create_table(TABLE)
        process_arn = la.create_function(PROCESS_FUNCTION)
        la.create_function(BOT_FUNCTION)
        sfn = boto3.client("stepfunctions", region_name=la.REGION)
        machine = sfn.create_state_machine(
            name=f"debouncer-cost-{workflow_type.lower()}",
            definition=la.render_definition(process_arn, retry_interval_seconds=1, retry_max_attempts=3),
            roleArn=f"arn:aws:iam::{la.ACCOUNT_ID}:role/local-state-machine",
            type=workflow_type,
        )["stateMachineArn"]
        failed_url = boto3.client("sqs", region_name=la.REGION).create_queue(QueueName="cost-failed")["QueueUrl"]
        os.environ.update(
            TABLE_NAME=TABLE, STATE_MACHINE_ARN=machine,
            DEBOUNCE_SECONDS=str(traffic["quiet_seconds"]), PROCESSING_LAMBDAS_MAP=json.dumps({APP: BOT_FUNCTION}),
            FAILED_BATCHES_QUEUE_URL=failed_url,
            # main.tf's local.inline_wait_seconds default for each workflow type
            INLINE_WAIT_SECONDS=str(RUN_INLINE_WAIT_SECONDS[workflow_type]),
        )
        from gateway import aws, settings

        settings.reset()
        aws.reset()
        import post_message.handler as post_handler
        import process_message.handler as process_handler

        post_handler.service.cache_clear()
        process_handler.dispatcher.cache_clear()
        meter = Meter(la.table_schema())
        tap.meter = meter

        def metered_sleep(seconds: float) -> None:
            invocation = getattr(meter._local, "invocation", None)
            if invocation is not None:
                invocation.slept_ms += seconds * 1000
            time.sleep(seconds)

        process_handler.dispatcher().sleep = metered_sleep

        def process(event, context):
            with meter.function("process_message"):
                return process_handler.lambda_handler(event, context)

        def bot(event, context):
            invocation = getattr(meter._local, "invocation", None)  # the process_message run delivering it
            deliveries.append({**event, "delivered_at": time.time(),
                               "dispatch_started_at": invocation.started_at if invocation else None})
            return {"ok": True}

        senders = [f"55119{n:08d}" for n in range(traffic["senders"])]
        _earlier_messages(senders, traffic.get("history", 0), traffic["burst"])
        last_sent: dict[str, float] = {}
        first_sent: dict[str, float] = {}
        with la.serialize_moto_requests(), la.route_lambda_invocations({PROCESS_FUNCTION: process, BOT_FUNCTION: bot}), \
                meter.installed():
            # sender i sends message r at i * stagger + r * gap (posted in that order, one at a time)
            stagger = traffic.get("stagger_seconds", 0.0)
            plan = sorted((i * stagger + r * traffic["gap_seconds"], r, sender)
                          for i, sender in enumerate(senders) for r in range(traffic["burst"]))
            started = time.monotonic()
            for offset, round_, sender in plan:
                time.sleep(max(0.0, started + offset - time.monotonic()))
                event = webhook_event(sender, chat_text(traffic["message_bytes"], senders.index(sender) * traffic["burst"] + round_),
                                      f"{sender}-{round_}")
                with meter.function("post_message"):
                    answer = post_handler.lambda_handler(event, la.LambdaContext("post_message"))
                assert answer["statusCode"] == 200, answer
                last_sent[sender] = time.time()
                first_sent.setdefault(sender, last_sent[sender])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with meter.uncounted():
                    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
                if len({d["batch_id"] for d in deliveries}) >= len(senders) and all(e["status"] != "RUNNING" for e in executions):
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError("the run did not finish in time")
        executions = []
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
            executions.append(_execution_cost(_history(sfn, execution["executionArn"])))
    log_bytes = log_file.stat().st_size
    log_file.unlink()
    delays = []
    for delivery in deliveries:
        last = last_sent[delivery["phone_number"]]
        first = first_sent[delivery["phone_number"]]
        delivery["timer_late_s"] = (delivery["dispatch_started_at"] or last) - (last + traffic["quiet_seconds"])
        due = last + traffic["quiet_seconds"]
        started = delivery["dispatch_started_at"] or due
        delivery["processing_s"] = delivery["delivered_at"] - started
        # On AWS the burst's timer fires at the first message's moment rounded UP to the whole
        # second (Step Functions timestamps have no fractions; the run's Waits end at it too);
        # process_message then waits out the rest until the burst is due (or its second Wait ended
        # on the whole second after it, ``started``), and claims, loads and invokes (the time it
        # measurably spent after that here).
        work_after_due = delivery["delivered_at"] - max(started, due)
        aws_start = max(math.ceil(first + traffic["quiet_seconds"]), due, started)
        delivery["aws_delay_s"] = aws_start - last + work_after_due
        delays.append(delivery["delivered_at"] - last)
    return RunResult(workflow_type, traffic, traffic["senders"] * traffic["burst"],
                     len({d["batch_id"] for d in deliveries}), deliveries, meter, executions, log_bytes, delays)


@contextlib.contextmanager
def _waits_end_at_their_timestamp():
    """moto's Wait truncates the time to its timestamp to whole seconds and so ends up to 1 s early,
    which AWS never does; process_message then sleeps out that second too, and the run would bill
    it. For the run, a Wait ends at its timestamp (moto still validates the timestamp first)."""
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    original_seconds, original_interval = Timestamp._get_wait_seconds, WaitFunction._wait_interval

    def exact_seconds(self, env):
        original_seconds(self, env)  # a bad timestamp fails the execution as it does in moto
        self.string.eval(env=env)
        return max(0.0, (self._from_timestamp_string(timestamp=env.stack.pop()) - datetime.now()).total_seconds())

    def exact_interval(self, env, wait_seconds):
        deadline = time.time() + wait_seconds
        while env.is_running() and time.time() < deadline:
            env.program_state_event.wait(deadline - time.time())

    Timestamp._get_wait_seconds, WaitFunction._wait_interval = exact_seconds, exact_interval
    try:
        yield
    finally:
        Timestamp._get_wait_seconds, WaitFunction._wait_interval = original_seconds, original_interval


def cloud_message_id(sender: str, n: int) -> str:
    """An id as long as a WhatsApp Cloud API ``wamid.`` (58 characters), unique per sender and n."""
    return "wamid.HBgN" + hashlib.sha256(f"{sender}.{n}".encode()).hexdigest()[:48]


def _earlier_messages(senders: list[str], messages: int, burst: int) -> None:
    """Give each sender's conversation ``messages`` earlier messages (100-byte chat lines, Cloud API
    ids), delivered in bursts of ``burst``, before the measured run: an established conversation, whose
    item remembers their ids. Not metered."""
    if not messages:
        return
    from gateway.conversations import ConversationStore
    from gateway.models import InboundMessage

    store = ConversationStore(TABLE)
    for sender in senders:
        for n in range(messages):
            appended = store.append(APP, InboundMessage(sender=sender, text=chat_text(100, n),
                                                        message_id=cloud_message_id(sender, n)), due_at=0)
            if (n + 1) % burst == 0 or n + 1 == messages:
                store.mark_delivered(store.claim(APP, sender, appended.seq).batch)


def _execution_cost(events: list[dict]) -> dict:
    """State transitions, and the duration AWS would bill an EXPRESS execution for: each Wait lasts
    until its timestamp, each task as long as the process_message invocation (added later).

    moto's Wait would end up to 1 s before its timestamp, which AWS never does: the run makes each
    Wait end at its timestamp (_waits_end_at_their_timestamp), so the execution takes the path, and
    process_message sleeps the time, it would on AWS."""
    transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
    waits: list[float] = []
    for event in events:
        if event["type"] == "WaitStateEntered":
            state = json.loads(event["stateEnteredEventDetails"]["input"])
            until = state.get("wait_until") or (state.get("not_due") or {}).get("errorMessage")
            target = datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=event["timestamp"].tzinfo)
            waits.append(max(0.0, (target - event["timestamp"]).total_seconds()))
    tasks = sum(1 for e in events if e["type"] == "TaskStateEntered")
    return {"transitions": transitions, "waits": waits, "tasks": tasks,
            "status": events[-1]["type"] if events else ""}


# --------------------------------------------------------------------------- pricing


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
    by_function = defaultdict(list)
    for invocation in m.invocations:
        by_function[invocation.function].append(invocation)
    process_ms = [i.billed_ms() for i in by_function["process_message"]] or [0.0]
    lambda_requests = sum(len(v) for v in by_function.values())
    gb_seconds = sum(i.billed_ms() / 1000 * _memory_of(memory_mb, i.function) / 1024 for i in m.invocations)
    calls_by_service = Counter()
    for (function, service, operation), calls in m.calls.items():
        if function in ("post_message", "process_message"):
            calls_by_service[service] += calls
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
    if result.workflow_type == "STANDARD":
        counts["transitions"] = sum(e["transitions"] for e in result.executions) / n
    else:
        billed = 0.0
        for execution in result.executions:
            shift = REFERENCE["quiet_seconds"] - result.traffic["quiet_seconds"] if execution["waits"] else 0
            seconds = sum(execution["waits"]) + shift + execution["tasks"] * statistics.mean(process_ms) / 1000
            billed += math.ceil(seconds * 10) / 10 * EXPRESS_MEMORY_MB / 1024
        counts["express_executions"] = len(result.executions) / n
        counts["express_gb_seconds"] = billed / n
    return counts


def price_run(result: RunResult, memory_mb: int | dict[str, int]) -> Priced:
    return price(result.workflow_type.lower(), count(result, memory_mb, platform_log_bytes_per_invocation()))


def seed_run(standard: RunResult) -> RunResult:
    """One burst of the seed project's pattern, booked on a meter as if it had run, with this run's
    item sizes and compute time. Per message: GetItem (boto3's default, eventually consistent),
    StopExecution, UpdateItem or PutItem, StartExecution, UpdateItem (the two writes rewrite the
    growing item); per burst: GetItem, Invoke (an Event: the bot's time is not its process Lambda's,
    ORIGINAL_BOT_INVOCATION), DeleteItem of the final item. One Standard execution per message: the
    superseded ones are stopped in their Wait, the last one runs Wait, Task."""
    b = standard.traffic["burst"]
    ran = standard.meter
    sizes = ran.append_sizes or [standard.traffic["message_bytes"]]
    item = statistics.mean(sizes)  # the conversation item while the burst accumulates
    final = max(sizes)
    post_own = statistics.mean(i.own_ms() for i in ran.invocations if i.function == "post_message")
    # The seed's process Lambda does not wait out a remainder: its compute only.
    process_own = statistics.mean(max(i.own_ms() - i.slept_ms, 0)
                                  for i in ran.invocations if i.function == "process_message")
    meter = Meter()
    for _ in range(b):
        meter.book("post_message", post_own, [("dynamodb", "GetItem"), ("stepfunctions", "StopExecution"),
                                              ("dynamodb", "UpdateItem"), ("stepfunctions", "StartExecution"),
                                              ("dynamodb", "UpdateItem")],
                   wru=2 * write_units(item), rru=read_units(item, False))
    meter.book("process_message", process_own, [("dynamodb", "GetItem"), ("lambda", "Invoke"), ("dynamodb", "DeleteItem")],
               wru=write_units(final), rru=read_units(final, False))
    executions = [{"transitions": 1, "waits": [], "tasks": 0}] * (b - 1) + [{"transitions": 2, "waits": [], "tasks": 1}]
    return RunResult("STANDARD", standard.traffic, b, 1, [], meter, executions, 0, [])


def price_seed(standard: RunResult, memory_mb: int | dict[str, int]) -> Priced:
    """The seed's functions all run at the shared lambda_memory_mb (it has no per-function setting)."""
    return price("seed", count(seed_run(standard), _memory_of(memory_mb, "*")))


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


# --------------------------------------------------------------------------- the monthly bill's units


def measured_units(result: RunResult, memory_mb: int | dict[str, int], platform_log_bytes: int = 0,
                   rechecks_from: RunResult | None = None) -> cost_bill.Measured:
    """The run's per-request units for the monthly bill (util/cost_bill.Measured): per post_message
    invocation, per batch of the process_message invocations that delivered (their compute: billed
    time less the inline sleep), per process_message invocation that delivered nothing (a NotDueYet;
    from ``rechecks_from`` when this run had none), and per batch the transitions, Express seconds
    (as count() bills them, without its quick-run shift) and sleeps. Put back together by
    cost_bill.scale at the run's shape, they are count()'s figures."""
    n, batches = result.messages, max(result.batches, 1)
    posts = [i for i in result.meter.invocations if i.function == "post_message"]
    process = [i for i in result.meter.invocations if i.function == "process_message"]
    delivering = [i for i in process if ("lambda", "Invoke") in i.calls]
    rechecks = [i for i in process if ("lambda", "Invoke") not in i.calls]
    pool = rechecks or [i for i in (rechecks_from.meter.invocations if rechecks_from else [])
                        if i.function == "process_message" and ("lambda", "Invoke") not in i.calls]

    def mean(items, value) -> float:
        return statistics.mean(value(i) for i in items) if items else 0.0

    def compute_ms(invocation: Invocation) -> float:
        return invocation.billed_ms() - invocation.slept_ms

    attributed = sum(i.log_bytes for i in result.meter.invocations)
    process_ms = statistics.mean(i.billed_ms() for i in process) if process else 0.0
    express_seconds = sum(math.ceil((sum(e["waits"]) + e["tasks"] * process_ms / 1000) * 10) / 10
                          for e in result.executions)
    return cost_bill.Measured(
        workflow=result.workflow_type, burst=result.traffic["burst"], gap_seconds=float(result.traffic["gap_seconds"]),
        quiet_seconds=float(result.traffic["quiet_seconds"]),
        inline_wait_seconds=float(RUN_INLINE_WAIT_SECONDS[result.workflow_type]),
        post_memory_mb=_memory_of(memory_mb, "post_message"), process_memory_mb=_memory_of(memory_mb, "process_message"),
        post_ms=mean(posts, Invocation.billed_ms), post_wru=sum(i.wru for i in posts) / n,
        post_rru=sum(i.rru for i in posts) / n, post_log_bytes=sum(i.log_bytes for i in posts) / n,
        deliver_invocations_per_batch=len(delivering) / batches,
        deliver_ms=sum(compute_ms(i) for i in delivering) / batches, deliver_wru=sum(i.wru for i in delivering) / batches,
        deliver_rru=sum(i.rru for i in delivering) / batches,
        deliver_log_bytes=sum(i.log_bytes for i in delivering) / batches,
        recheck_ms=mean(pool, compute_ms), recheck_wru=mean(pool, lambda i: i.wru), recheck_rru=mean(pool, lambda i: i.rru),
        recheck_log_bytes=mean(pool, lambda i: i.log_bytes),
        batches_per_message=batches / n, rechecks_per_batch=len(rechecks) / batches,
        slept_seconds_per_batch=sum(i.slept_ms for i in process) / 1000 / batches,
        executions_per_batch=len(result.executions) / batches,
        transitions_per_batch=sum(e["transitions"] for e in result.executions) / batches,
        express_seconds_per_batch=express_seconds / batches if result.workflow_type == "EXPRESS" else 0.0,
        other_log_bytes=(result.log_bytes - attributed) / n, platform_log_bytes=platform_log_bytes,
    )


def seed_counts(standard: RunResult, memory_mb: int | dict[str, int], traffic: cost_bill.Traffic) -> dict[str, float]:
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
    counts = count(seed_run(shaped), _memory_of(memory_mb, "*"))
    counts["batches"] = 1 / burst
    return counts


def measure_side_paths(memory_mb: int | dict[str, int], runs: int = 5) -> tuple[cost_bill.SweeperUnits,
                                                                                   cost_bill.ReplyUnits]:
    """The sweeper and send_message_api, each invoked ``runs`` times (after one warm-up) on moto with
    the meter and the log tap: the sweeper on the table's empty sparse index (a healthy minute: nothing
    overdue), send_message_api with one reply per SQS event (the POST to the provider answered at once;
    its latency is the bill's assumption)."""
    _aws_environment()
    from moto import mock_aws

    from util import local_aws as la

    log_file = Path(tempfile.mkstemp(prefix="cost-side-logs-")[1])
    try:
        with mock_aws(config=la.MOTO_CONFIG), _stdout_to(log_file) as tap:
            la.create_table(TABLE)
            os.environ.update(
                TABLE_NAME=TABLE, SWEEP_GRACE_SECONDS="60", BATCH_LEASE_SECONDS="300",
                STATE_MACHINE_ARN=f"arn:aws:states:{la.REGION}:{la.ACCOUNT_ID}:stateMachine:debouncer-cost-sweeper",
                API_URLS_MAP=json.dumps({APP: "https://api.example.com/send"}), PROVIDERS_MAP=json.dumps({APP: "generic"}),
                HTTP_TIMEOUT_SECONDS="10",
                SEND_QUEUE_URL=f"https://sqs.{la.REGION}.amazonaws.com/{la.ACCOUNT_ID}/debouncer-send",
                SEND_DLQ_URL=f"https://sqs.{la.REGION}.amazonaws.com/{la.ACCOUNT_ID}/debouncer-send-dlq",
            )
            from gateway import aws, replies, settings

            settings.reset()
            aws.reset()
            import send_message_api.handler as send_handler
            import sweeper.handler as sweeper_handler

            sweeper_handler.sweeper.cache_clear()
            send_handler.sender.cache_clear()
            meter = Meter(la.table_schema())
            tap.meter = meter
            swept, sent = [], []
            original_send = replies.send
            replies.send = lambda request, timeout_seconds: 200
            try:
                with meter.installed():
                    for n in range(runs + 1):
                        with meter.function("sweeper") as invocation:
                            sweeper_handler.lambda_handler({}, la.LambdaContext("sweeper"))
                        swept.append(invocation)
                    for n in range(runs + 1):
                        body = {"app_id": APP, "phone_number": "5511900000000",
                                "message_to_send": chat_text(200, n)}
                        event = {"Records": [{"messageId": f"m{n}", "receiptHandle": f"rh{n}", "body": json.dumps(body),
                                              "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs"}]}
                        with meter.function("send_message_api") as invocation:
                            answer = send_handler.lambda_handler(event, la.LambdaContext("send_message_api"))
                        if answer.get("batchItemFailures"):
                            raise RuntimeError(f"send_message_api failed the measured reply: {answer}")
                        sent.append(invocation)
            finally:
                replies.send = original_send
                send_handler.sender.cache_clear()
                sweeper_handler.sweeper.cache_clear()
    finally:
        log_file.unlink()
    swept, sent = swept[1:], sent[1:]  # the first of each made its clients (a cold start's work)
    platform = platform_log_bytes_per_invocation()
    sweeper = cost_bill.SweeperUnits(
        billed_ms=statistics.mean(i.billed_ms() for i in swept), memory_mb=_memory_of(memory_mb, "sweeper"),
        rru=statistics.mean(i.rru for i in swept), log_bytes=statistics.mean(i.log_bytes for i in swept) + platform,
        queries=statistics.mean(sum(1 for c in i.calls if c == ("dynamodb", "Query")) for i in swept))
    reply = cost_bill.ReplyUnits(own_ms=statistics.mean(i.billed_ms() for i in sent),
                                 memory_mb=_memory_of(memory_mb, "send_message_api"),
                                 log_bytes=statistics.mean(i.log_bytes for i in sent) + platform)
    return sweeper, reply


def inventory() -> cost_bill.Inventory:
    alarms = cost_inventory.alarms()
    return cost_bill.Inventory(
        dashboards=cost_inventory.dashboards(), alarms_standard=alarms.standard,
        alarms_high_resolution=alarms.high_resolution, custom_metrics=len(cost_inventory.custom_metric_names()),
        sweeps_per_month=cost_inventory.sweeps_per_month(), access_log_line_bytes=cost_inventory.access_log_line_bytes())


def bill_columns(runs: dict[str, RunResult], traffic: cost_bill.Traffic,
                 memory_mb: int | dict[str, int]) -> list[cost_bill.Column]:
    """STANDARD and EXPRESS from their runs' units at ``traffic``, and the original design's pattern."""
    platform = platform_log_bytes_per_invocation()
    columns = []
    for workflow in ("STANDARD", "EXPRESS"):
        other = runs["EXPRESS" if workflow == "STANDARD" else "STANDARD"]
        units = measured_units(runs[workflow], memory_mb, platform, rechecks_from=other)
        basis = "measured" if cost_bill.same_shape(units, traffic) else "scaled"
        columns.append(cost_bill.Column(workflow.lower(), cost_bill.scale(units, traffic), units.process_memory_mb, basis))
    columns.append(cost_bill.Column("seed", seed_counts(runs["STANDARD"], memory_mb, traffic),
                                    _memory_of(memory_mb, "*"), columns[0].basis, fixed_items=False,
                                    bot_invocation=ORIGINAL_BOT_INVOCATION))
    return columns


# --------------------------------------------------------------------------- report


def measure(traffic: dict) -> tuple[dict[str, RunResult], list[Priced]]:
    memory = lambda_memory_mb()
    runs = {t: run(t, traffic) for t in ("STANDARD", "EXPRESS")}
    priced = [price_run(runs["STANDARD"], memory), price_run(runs["EXPRESS"], memory),
              price_seed(runs["STANDARD"], memory)]
    return runs, priced


def as_json(runs: dict[str, RunResult], priced: list[Priced]) -> dict:
    by = {p.label: p for p in priced}
    return {
        "usd_per_million": {label: round(p.per_million, 2) for label, p in by.items()},
        "webhook_path_calls": round(by["standard"].counts["webhook_path_calls"], 3),
        "webhook_path_calls_by_workflow": {label: round(by[label].counts["webhook_path_calls"], 3)
                                           for label in ("standard", "express")},
        "per_message": {label: {k: round(v, 4) for k, v in p.counts.items()} for label, p in by.items()},
        "usd_per_million_by_component": {label: {k: round(v * 1e6, 3) for k, v in p.lines.items()}
                                         for label, p in by.items()},
        "traffic": runs["STANDARD"].traffic,
        "messages": runs["STANDARD"].messages,
        "batches": {t.lower(): r.batches for t, r in runs.items()},
        "wru_per_message_by_function": {t.lower(): {f: round(u / r.messages, 3) for f, u in r.meter.wru.items()}
                                        for t, r in runs.items()},
        "calls": {t.lower(): {f"{f} {s}.{o}": c for (f, s, o), c in sorted(r.meter.calls.items())}
                  for t, r in runs.items()},
        "prices": {name: p.usd for name, p in PRICES.items()},
        "targets": TARGETS,
        "express_floor_usd_per_million": round(sum(express_floor(runs["EXPRESS"].traffic).values()), 2),
        "express_floor_by_component": express_floor(runs["EXPRESS"].traffic),
        "assumed_call_latency_ms": {"/".join(k) if isinstance(k, tuple) else k: v for k, v in ASSUMED_CALL_LATENCY_MS.items()},
    }


def print_table(runs: dict[str, RunResult], priced: list[Priced]) -> None:
    traffic = runs["STANDARD"].traffic
    print(f"Reference traffic: {traffic['senders']} senders x bursts of {traffic['burst']} messages of "
          f"{traffic['message_bytes']} B, {traffic['gap_seconds']} s apart"
          + (f", senders starting {traffic['stagger_seconds']} s apart" if traffic.get("stagger_seconds") else "")
          + f"; quiet period {traffic['quiet_seconds']} s "
          f"(EXPRESS waits billed at {REFERENCE['quiet_seconds']} s)"
          + (f"; each conversation with {traffic['history']} earlier messages (Cloud API ids)" if traffic.get("history") else ""))
    for t, r in runs.items():
        print(f"  {t}: {r.messages} messages -> {r.batches} batches, {len(r.executions)} executions")
    print()
    labels = [p.label for p in priced]
    header = f"{'per message':34}" + "".join(f"{label:>12}" for label in labels)
    print(header)
    print("-" * len(header))
    rows = [("webhook_path_calls", "webhook-path AWS calls", "{:.2f}"), ("aws_calls", "AWS API calls (all)", "{:.2f}"),
            ("transitions", "Step Functions transitions", "{:.2f}"), ("executions", "executions", "{:.2f}"),
            ("express_gb_seconds", "Express GB-s", "{:.4f}"),
            ("lambda_invocations", "Lambda invocations", "{:.2f}"), ("lambda_gb_seconds", "Lambda GB-s", "{:.4f}"),
            ("wru", "DynamoDB WRU (incl. GSI)", "{:.2f}"), ("wru_gsi", "  of which GSI", "{:.2f}"),
            ("rru", "DynamoDB RRU", "{:.2f}"), ("log_bytes", "log bytes", "{:.0f}"),
            ("function_log_bytes", "  of which the functions' output", "{:.0f}")]
    for key, title, fmt in rows:
        cells = [fmt.format(p.counts[key]) if key in p.counts else "-" for p in priced]
        print(f"{title:34}" + "".join(f"{c:>12}" for c in cells))
    print()
    header = f"{'USD per 1M messages':34}" + "".join(f"{label:>12}" for label in labels)
    print(header)
    print("-" * len(header))
    components = list(dict.fromkeys(k for p in priced for k in p.lines))
    for component in components:
        print(f"{component:34}" + "".join(f"{p.lines.get(component, 0.0) * 1e6:>12.2f}" for p in priced))
    print(f"{'total':34}" + "".join(f"{p.per_million:>12.2f}" for p in priced))
    by = {p.label: p for p in priced}
    print()
    floor = express_floor(runs["EXPRESS"].traffic)
    print(f"targets: EXPRESS <= ${TARGETS['express_usd']:.2f} per 1M: {by['express'].per_million:.2f}; "
          f"STANDARD <= {TARGETS['standard_vs_seed']} x seed: {by['standard'].per_million / by['seed'].per_million:.3f} x; "
          f"DynamoDB <= {TARGETS['wru_per_message']:g} WRU per message: {by['standard'].counts['wru']:.2f}")
    print(f"EXPRESS floor of this design at this traffic: ${sum(floor.values()):.2f} per 1M ("
          + ", ".join(f"{line} {usd:.2f}" for line, usd in floor.items())
          + "), before any DynamoDB, Lambda duration or logs")


def monthly_bill(runs: dict[str, RunResult], traffic: cost_bill.Traffic, options: cost_bill.Options,
                 provider_ms: float = cost_bill.PROVIDER_HTTP_MS) -> cost_bill.Bill:
    """The month at the operator's traffic: the runs' units (scaled when the shape differs), the
    sweeper and a reply measured on moto, the fixed items counted from the Terraform and code."""
    memory = lambda_memory_mb()
    sweeper, reply = measure_side_paths(memory)
    reply = dataclasses.replace(reply, provider_ms=provider_ms)
    return cost_bill.monthly_bill(bill_columns(runs, traffic, memory), traffic, options, inventory(), sweeper, reply)


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text} is negative")
        return value
    return parse


def _durations(text: str) -> list[float]:
    """``--bot-seconds``: one duration or a comma-separated list of them (seconds, none negative)."""
    pieces = [piece.strip() for piece in text.split(",")]
    if not all(pieces):
        raise argparse.ArgumentTypeError(f"{text!r}: a number or a comma-separated list of numbers")
    try:
        values = [float(piece) for piece in pieces]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: a number or a comma-separated list of numbers") from exc
    if any(v < 0 or not math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: the durations must be finite and not negative")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="a small run with a 1 s quiet period (per-message figures)")
    parser.add_argument("--senders", type=int, help="number of senders (default: 30, quick: 6)")
    parser.add_argument("--message-bytes", type=int, help="bytes of text per message (default: 1024; 100 is a typical chat line)")
    parser.add_argument("--history", type=int, default=0,
                        help="earlier messages in each conversation before the run (an established conversation; default 0)")
    bill = parser.add_argument_group("monthly bill: your traffic (the run measures the reference shape; another "
                                     "shape is computed from its per-invocation units)")
    bill.add_argument("--messages-per-month", type=_positive(float), default=1_000_000, help="default 1,000,000")
    bill.add_argument("--messages-per-burst", type=_positive(int), default=REFERENCE["burst"],
                      help=f"messages a sender sends in a row (default {REFERENCE['burst']})")
    bill.add_argument("--gap-seconds", type=_positive(float), default=REFERENCE["gap_seconds"],
                      help=f"seconds between two messages of a burst (default {REFERENCE['gap_seconds']:g})")
    bill.add_argument("--quiet-seconds", type=_positive(float),
                      help="the quiet period (default: debounce_seconds of terraform.tfvars / variables.tf)")
    bill.add_argument("--bot-seconds", type=_durations, default=[5.0],
                      help="the bot's run time per batch, or a comma-separated list of them (e.g. 0,5,20): the "
                           "bot-time table shows each, sync and async; the bill is at the first (default 5)")
    bill.add_argument("--bot-memory-mb", type=_positive(int), default=512, help="the bot Lambda's memory (default 512)")
    bill.add_argument("--replies-per-burst", type=_positive(float), default=1.0, help="replies the bot sends per burst (default 1)")
    bill.add_argument("--provider-ms", type=_positive(float), default=cost_bill.PROVIDER_HTTP_MS,
                      help=f"round trip of one reply's POST to the messaging API (default {cost_bill.PROVIDER_HTTP_MS:g})")
    toggles = parser.add_argument_group("monthly bill: the deployment's toggles (Terraform variables)")
    toggles.add_argument("--tracing", action="store_true", help="X-Ray active tracing (tracing_enabled; default off)")
    toggles.add_argument("--no-dashboard", action="store_true", help="no CloudWatch dashboard (dashboard_enabled = false)")
    toggles.add_argument("--no-alarms", action="store_true", help="no CloudWatch alarms (alarms_enabled = false)")
    toggles.add_argument("--alarm-email", action="store_true", help="alarm_email set: an SNS topic and its KMS key")
    toggles.add_argument("--access-logs", action="store_true", help="API Gateway access logs on (default off)")
    args = parser.parse_args(argv)
    if args.messages_per_burst < 1:
        parser.error("--messages-per-burst must be at least 1")
    traffic = dict(QUICK if args.quick else REFERENCE)
    if args.senders:
        traffic["senders"] = args.senders
    if args.message_bytes:
        traffic["message_bytes"] = args.message_bytes
    if args.history:
        traffic["history"] = args.history
    yours = cost_bill.Traffic(
        messages_per_month=args.messages_per_month, messages_per_burst=args.messages_per_burst,
        gap_seconds=args.gap_seconds, bot_seconds=args.bot_seconds[0], replies_per_burst=args.replies_per_burst,
        bot_memory_mb=args.bot_memory_mb,
        quiet_seconds=args.quiet_seconds if args.quiet_seconds is not None else cost_inventory.deployed().debounce_seconds)
    options = cost_bill.Options(tracing=args.tracing, dashboard=not args.no_dashboard, alarms=not args.no_alarms,
                                alarm_email=args.alarm_email, access_logs=args.access_logs)
    runs, priced = measure(traffic)
    monthly = monthly_bill(runs, yours, options, provider_ms=args.provider_ms)
    bot_time = cost_bill.bot_time(monthly, args.bot_seconds)
    if args.json:
        report = as_json(runs, priced)
        report["monthly_bill"] = cost_bill.as_json(monthly)
        report["bot_time"] = cost_bill.bot_time_json(bot_time)
        print(json.dumps(report, default=lambda o: float(o) if isinstance(o, Decimal) else str(o)))
    else:
        print_table(runs, priced)
        print()
        print("\n".join(cost_bill.render(monthly)))
        print()
        print("\n".join(cost_bill.render_bot_time(bot_time)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
