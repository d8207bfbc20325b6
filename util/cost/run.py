"""The instrumented runs on moto: the real gateway, driven by a traffic shape, measured by the meter.

The run: SENDERS people each type a burst of BURST messages of MESSAGE_BYTES, GAP seconds apart,
and stop; the real state machine (rendered from modules/step_functions) waits the quiet period and
runs process_message, which hands each batch to a bot. The meter counts every AWS call, DynamoDB
unit and Lambda invocation (util/cost/meter.py); besides:

* state transitions (``*StateEntered`` events of each execution's history), and for EXPRESS the
  executions and their duration as AWS would bill it (each Wait lasts until its timestamp);
* CloudWatch Logs bytes: what the functions print (JSON logs, EMF metric lines), through a tap on
  stdout that adds them to the invocation printing them.

``seed_run`` books the seed project's call pattern on a meter as if it had run, with this run's
item sizes and compute time; ``measure_side_paths`` measures the sweeper and send_message_api (a
few invocations each).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from util.cost.bill import ReplyUnits, SweeperUnits
from util.cost.inventory import memory_of, platform_log_bytes_per_invocation
from util.cost.meter import Invocation, Meter, read_units, write_units

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

# The messages' text: windows of this natural chat prose (customer messages, Portuguese and English),
# each message its own window, cut to message_bytes. Texts are stored DEFLATE-compressed from
# gateway.store.COMPRESS_MIN_BYTES up, so the run's text must compress as real text does
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
        invocation = meter.invocation if meter is not None else None
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
    from moto import mock_aws

    from util import local_aws as la

    log_file = Path(tempfile.mkstemp(prefix="cost-logs-")[1])
    deliveries: list[dict] = []
    with mock_aws(config=la.MOTO_CONFIG), _stdout_to(log_file) as tap, _waits_end_at_their_timestamp():
        sfn, machine = _deploy(workflow_type, traffic)
        post_handler, process_handler = _fresh_gateway_handlers()
        meter = Meter(la.table_schema())
        tap.meter = meter
        routes = _metered_functions(meter, process_handler, deliveries)
        senders = [f"55119{n:08d}" for n in range(traffic["senders"])]
        earlier_messages(senders, traffic.get("history", 0), traffic["burst"])
        with la.serialize_moto_requests(), la.route_lambda_invocations(routes), meter.installed():
            first_sent, last_sent = _send_bursts(post_handler, meter, senders, traffic)
            _wait_for_the_batches(sfn, machine, meter, deliveries, len(senders), timeout)
        executions = []
        for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
            executions.append(_execution_cost(_history(sfn, execution["executionArn"])))
    log_bytes = log_file.stat().st_size
    log_file.unlink()
    delays = _time_deliveries(deliveries, first_sent, last_sent, traffic["quiet_seconds"])
    return RunResult(workflow_type, traffic, traffic["senders"] * traffic["burst"],
                     len({d["batch_id"] for d in deliveries}), deliveries, meter, executions, log_bytes, delays)


def _deploy(workflow_type: str, traffic: dict) -> tuple[object, str]:
    """The table, the two functions, the state machine (``workflow_type``) and the failed-batch queue
    on moto, and the environment post_message and process_message read: (Step Functions client,
    state machine ARN)."""
    import boto3

    from util import local_aws as la

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
    return sfn, machine


def _fresh_gateway_handlers():
    """post_message's and process_message's handler modules, their settings, clients and cached
    services made anew from the run's environment."""
    from gateway import aws, settings

    settings.reset()
    aws.reset()
    import post_message.handler as post_handler
    import process_message.handler as process_handler

    post_handler.service.cache_clear()
    process_handler.dispatcher.cache_clear()
    return post_handler, process_handler


def _metered_functions(meter: Meter, process_handler, deliveries: list[dict]) -> dict:
    """The Lambda functions the state machine and process_message invoke, metered: process_message
    as a metered invocation whose inline sleeps are counted, and a bot that records each delivery
    (appended to ``deliveries``) and answers at once. Function name -> handler."""

    def metered_sleep(seconds: float) -> None:
        invocation = meter.invocation
        if invocation is not None:
            invocation.slept_ms += seconds * 1000
        time.sleep(seconds)

    process_handler.dispatcher().sleep = metered_sleep

    def process(event, context):
        with meter.function("process_message"):
            return process_handler.lambda_handler(event, context)

    def bot(event, context):
        invocation = meter.invocation  # the process_message run delivering it
        deliveries.append({**event, "delivered_at": time.time(),
                           "dispatch_started_at": invocation.started_at if invocation else None})
        return {"ok": True}

    return {PROCESS_FUNCTION: process, BOT_FUNCTION: bot}


def _send_bursts(post_handler, meter: Meter, senders: list[str],
                 traffic: dict) -> tuple[dict[str, float], dict[str, float]]:
    """Each sender's burst through post_message, metered: sender i sends message r at i * stagger +
    r * gap (posted in that order, one at a time). (first, last) message time per sender."""
    from util import local_aws as la

    last_sent: dict[str, float] = {}
    first_sent: dict[str, float] = {}
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
    return first_sent, last_sent


def _wait_for_the_batches(sfn, machine: str, meter: Meter, deliveries: list[dict], batches: int,
                          timeout: float) -> None:
    """Until ``batches`` batches reached the bot and no execution runs (the polling uncounted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with meter.uncounted():
            executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        if len({d["batch_id"] for d in deliveries}) >= batches and all(e["status"] != "RUNNING" for e in executions):
            return
        time.sleep(0.2)
    raise RuntimeError("the run did not finish in time")


def _time_deliveries(deliveries: list[dict], first_sent: dict[str, float], last_sent: dict[str, float],
                     quiet_seconds: float) -> list[float]:
    """Each delivery's timings (timer_late_s, processing_s, aws_delay_s, added to it), and the
    dispatch delays: seconds from a burst's last message to its batch reaching the bot."""
    delays = []
    for delivery in deliveries:
        last = last_sent[delivery["phone_number"]]
        first = first_sent[delivery["phone_number"]]
        delivery["timer_late_s"] = (delivery["dispatch_started_at"] or last) - (last + quiet_seconds)
        due = last + quiet_seconds
        started = delivery["dispatch_started_at"] or due
        delivery["processing_s"] = delivery["delivered_at"] - started
        # On AWS the burst's timer fires at the first message's moment rounded UP to the whole
        # second (Step Functions timestamps have no fractions; the run's Waits end at it too);
        # process_message then waits out the rest until the burst is due (or its second Wait ended
        # on the whole second after it, ``started``), and claims, loads and invokes (the time it
        # measurably spent after that here).
        work_after_due = delivery["delivered_at"] - max(started, due)
        aws_start = max(math.ceil(first + quiet_seconds), due, started)
        delivery["aws_delay_s"] = aws_start - last + work_after_due
        delays.append(delivery["delivered_at"] - last)
    return delays


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


def earlier_messages(senders: list[str], messages: int, burst: int) -> None:
    """Give each sender's conversation ``messages`` earlier messages (100-byte chat lines, Cloud API
    ids), delivered in bursts of ``burst``, before the measured run: an established conversation, whose
    item remembers their ids. Not metered."""
    if not messages:
        return
    from gateway.models import InboundMessage
    from util.cost.store_view import ConversationStore

    store = ConversationStore(TABLE)
    for sender in senders:
        for n in range(messages):
            appended = store.append(APP, InboundMessage(sender=sender, text=chat_text(100, n),
                                                        message_id=cloud_message_id(sender, n)), latest_due=0)
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



# --------------------------------------------------------------------------- the original design's pattern


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


# --------------------------------------------------------------------------- the sweeper and the reply path


def measure_side_paths(memory_mb: int | dict[str, int], runs: int = 5) -> tuple[SweeperUnits, ReplyUnits]:
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
            _side_path_environment()
            from gateway import aws, replies, settings

            settings.reset()
            aws.reset()
            import send_message_api.handler as send_handler
            import sweeper.handler as sweeper_handler

            sweeper_handler.sweeper.cache_clear()
            send_handler.sender.cache_clear()
            meter = Meter(la.table_schema())
            tap.meter = meter
            original_send = replies.send
            replies.send = lambda request, timeout_seconds: 200
            try:
                with meter.installed():
                    swept = [_sweep(meter, sweeper_handler) for _ in range(runs + 1)]
                    sent = [_send_reply(meter, send_handler, n) for n in range(runs + 1)]
            finally:
                replies.send = original_send
                send_handler.sender.cache_clear()
                sweeper_handler.sweeper.cache_clear()
    finally:
        log_file.unlink()
    swept, sent = swept[1:], sent[1:]  # the first of each made its clients (a cold start's work)
    return _side_path_units(swept, sent, memory_mb)


def _side_path_environment() -> None:
    """What the sweeper and send_message_api read: the table, the state machine, one app's provider."""
    from util import local_aws as la

    os.environ.update(
        TABLE_NAME=TABLE, SWEEP_GRACE_SECONDS="60", BATCH_LEASE_SECONDS="300",
        STATE_MACHINE_ARN=f"arn:aws:states:{la.REGION}:{la.ACCOUNT_ID}:stateMachine:debouncer-cost-sweeper",
        API_URLS_MAP=json.dumps({APP: "https://api.example.com/send"}), PROVIDERS_MAP=json.dumps({APP: "generic"}),
        HTTP_TIMEOUT_SECONDS="10",
        SEND_QUEUE_URL=f"https://sqs.{la.REGION}.amazonaws.com/{la.ACCOUNT_ID}/debouncer-send",
        SEND_DLQ_URL=f"https://sqs.{la.REGION}.amazonaws.com/{la.ACCOUNT_ID}/debouncer-send-dlq",
    )


def _sweep(meter: Meter, sweeper_handler) -> Invocation:
    """One sweeper run, metered."""
    from util import local_aws as la

    with meter.function("sweeper") as invocation:
        sweeper_handler.lambda_handler({}, la.LambdaContext("sweeper"))
    return invocation


def _send_reply(meter: Meter, send_handler, n: int) -> Invocation:
    """One send_message_api invocation with one reply (an SQS event of one record), metered."""
    from util import local_aws as la

    body = {"app_id": APP, "phone_number": "5511900000000", "message_to_send": chat_text(200, n)}
    event = {"Records": [{"messageId": f"m{n}", "receiptHandle": f"rh{n}", "body": json.dumps(body),
                          "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs"}]}
    with meter.function("send_message_api") as invocation:
        answer = send_handler.lambda_handler(event, la.LambdaContext("send_message_api"))
    if answer.get("batchItemFailures"):
        raise RuntimeError(f"send_message_api failed the measured reply: {answer}")
    return invocation


def _side_path_units(swept: list[Invocation], sent: list[Invocation],
                     memory_mb: int | dict[str, int]) -> tuple[SweeperUnits, ReplyUnits]:
    """The mean sweeper run and reply, as the bill's units (START/END/REPORT bytes added)."""
    platform = platform_log_bytes_per_invocation()
    sweeper = SweeperUnits(
        billed_ms=statistics.mean(i.billed_ms() for i in swept), memory_mb=memory_of(memory_mb, "sweeper"),
        rru=statistics.mean(i.rru for i in swept), log_bytes=statistics.mean(i.log_bytes for i in swept) + platform,
        queries=statistics.mean(sum(1 for c in i.calls if c == ("dynamodb", "Query")) for i in swept))
    reply = ReplyUnits(own_ms=statistics.mean(i.billed_ms() for i in sent),
                       memory_mb=memory_of(memory_mb, "send_message_api"),
                       log_bytes=statistics.mean(i.log_bytes for i in sent) + platform)
    return sweeper, reply
