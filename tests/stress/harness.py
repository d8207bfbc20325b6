"""Stress harness: many conversations × many messages from concurrent senders through the real
post_message and process_message logic and the sweeper, on moto, with faults injected at rates.

Step Functions is stood in for by ``TimerService``, which keeps its semantics: executions named
per sequence number (a second start with the same name is refused), a wait until the time the
webhook computed, NotDueYet caught into another wait, the task retried with backoff, and a Catch
that parks the batch after the last retry. The real state machine definition is exercised
by tests/e2e; this harness is about volume, interleaving and faults.

    python -m tests.stress.harness --messages 10000 --conversations 500 --senders 16
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "lambda", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import os  # noqa: E402

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # the report, not 10,000 log lines

from botocore.exceptions import ClientError  # noqa: E402

from gateway import aws  # noqa: E402
from gateway.dispatch import Dispatcher, FailedBatchQueue  # noqa: E402
from gateway.errors import AppInvocationError, NotDueYet  # noqa: E402
from gateway.scheduler import execution_name  # noqa: E402
from gateway.settings import ProcessorSettings, WebhookSettings  # noqa: E402
from gateway.sweeper import Sweeper  # noqa: E402
from gateway.webhook import WebhookService  # noqa: E402

TABLE = "stress-conversations"
APP = "bot1"
QUIET = 0.1  # seconds: the smallest quiet period the settings allow
RETRY_ATTEMPTS = 3  # the task's retries after the first attempt, as in the state machine
LEASE = 2.0
GRACE = 0.5


@dataclass
class Rates:
    store_write: float = 0.02  # UpdateItem / TransactWriteItems throttled
    store_read: float = 0.01  # GetItem / Query throttled
    start_execution: float = 0.1
    app_invoke: float = 0.1  # the per-app Lambda fails (after the claim)
    provider_duplicate: float = 0.05  # the provider delivers an accepted webhook twice


@dataclass
class Report:
    sent: int = 0
    accepted: int = 0
    retried_5xx: int = 0
    duplicates_posted: int = 0
    duplicates_answered: int = 0
    deliveries: int = 0
    batches: int = 0
    parked: int = 0
    redriven: int = 0
    rearmed: int = 0
    faults: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"messages sent              {self.sent}",
            f"messages accepted          {self.accepted}",
            f"webhooks retried after 5xx {self.retried_5xx}",
            f"duplicate webhooks posted  {self.duplicates_posted} (answered as duplicates: {self.duplicates_answered})",
            f"deliveries to the app      {self.deliveries} (distinct batches: {self.batches})",
            f"batches parked / redriven  {self.parked} / {self.redriven}",
            f"conversations re-armed     {self.rearmed}",
            "faults injected            " + ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items())),
            f"wall time                  {self.seconds:.1f} s",
        ]


class Faults:
    """Makes gateway.aws clients raise at rates; thread-safe and seeded."""

    WRITE = {"update_item", "transact_write_items", "put_item"}
    READ = {"get_item", "query", "batch_get_item"}

    def __init__(self, rates: Rates, seed: int):
        self.rates, self.random, self.lock = rates, random.Random(seed), threading.Lock()
        self.counts: Counter = Counter()
        self.enabled = True
        self.real = aws.client

    def roll(self, rate: float, name: str) -> bool:
        with self.lock:
            hit = self.enabled and self.random.random() < rate
            if hit:
                self.counts[name] += 1
            return hit

    def client(self, service: str):
        real, faults = self.real(service), self

        class Client:
            def __getattr__(self, name):
                attribute = getattr(real, name)
                if service != "dynamodb" or not callable(attribute):
                    return attribute
                rate = faults.rates.store_write if name in Faults.WRITE else (
                    faults.rates.store_read if name in Faults.READ else 0.0)

                def call(*args, **kwargs):
                    if rate and faults.roll(rate, f"dynamodb.{name}"):
                        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                                     "Message": "injected"}}, name)
                    return attribute(*args, **kwargs)

                return call

        return Client()


class TimerService:
    """Stands in for Step Functions (see the module docstring)."""

    def __init__(self, faults: Faults, workers: int = 4):
        self.faults = faults
        self.heap: list[tuple[float, int, dict]] = []
        self.names: set[str] = set()
        self.lock = threading.Condition()
        self.counter = 0
        self.active = 0
        self.dispatcher: Dispatcher | None = None
        self.running = True
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    # --- the Scheduler interface post_message and the sweeper use
    def start(self, app_id, sender, seq, wait_until, suffix="", *, epoch):
        if self.faults.roll(self.faults.rates.start_execution, "stepfunctions.start_execution"):
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, "StartExecution")
        name = execution_name(app_id, sender, epoch, seq, suffix)
        with self.lock:
            if name in self.names:
                return False
            self.names.add(name)
            self._push(wait_until, {"name": name, "input": {"app_id": app_id, "sender": sender, "seq": seq},
                                    "attempt": 0})
        return True

    # --- execution
    def _push(self, at: float, execution: dict) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (at, self.counter, execution))
        self.lock.notify()

    def idle(self) -> bool:
        with self.lock:
            return not self.heap and self.active == 0

    def _work(self) -> None:
        while True:
            with self.lock:
                while self.running and (not self.heap or self.heap[0][0] > time.time()):
                    self.lock.wait(timeout=0.02 if self.heap else 0.2)
                if not self.running:
                    return
                _, _, execution = heapq.heappop(self.heap)
                self.active += 1
            try:
                self._run(execution)
            finally:
                with self.lock:
                    self.active -= 1

    def _run(self, execution: dict) -> None:
        try:
            self.dispatcher.handle(dict(execution["input"]))
        except NotDueYet:  # Catch → WaitAgain → ProcessBatch (the Lambda's timestamp is whole-second)
            execution["attempt"] = 0
            with self.lock:
                self._push(time.time() + 0.2, execution)
            return
        except Exception as exc:  # noqa: BLE001 - the task failed: Retry, then Catch
            execution["attempt"] += 1
            if execution["attempt"] <= RETRY_ATTEMPTS:
                with self.lock:
                    self._push(time.time() + 0.05 * 2 ** execution["attempt"], execution)
                return
            error = {"Error": type(exc).__name__, "Cause": str(exc)[:200]}
            for _ in range(RETRY_ATTEMPTS + 1):  # ParkFailedBatch has its own Retry
                try:
                    self.dispatcher.handle({**execution["input"], "park": True, "error": error})
                    return
                except Exception:  # noqa: BLE001
                    time.sleep(0.05)
            return  # the execution fails; the sweeper re-arms the conversation

    def begin(self) -> None:
        for thread in self.threads:
            thread.start()

    def end(self) -> None:
        with self.lock:
            self.running = False
            self.lock.notify_all()
        for thread in self.threads:
            thread.join(timeout=5)


class App:
    """The per-app processing Lambda: records every delivery; fails at a rate."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.lock = threading.Lock()
        self.deliveries: list[dict] = []

    def invoke(self, function_name: str, payload: dict, *, invocation: str = "sync") -> None:
        if self.faults.roll(self.faults.rates.app_invoke, "lambda.invoke"):
            raise AppInvocationError("injected: the bot crashed")
        with self.lock:
            self.deliveries.append(payload)


def run(messages: int, conversations: int, senders: int, *, rates: Rates | None = None, seed: int = 1,
        timeout: float = 600.0, out=sys.stdout) -> tuple[Report, list[str]]:
    """Run the load; returns the report and the list of violated invariants (empty when all hold)."""
    import boto3
    from moto import mock_aws

    from util import local_aws
    from util.redrive import redrive

    rates = rates or Rates()
    report = Report()
    started = time.time()
    with mock_aws(), local_aws.serialize_moto_requests():
        local_aws.create_table(TABLE)
        failed_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="stress-failed")["QueueUrl"]
        aws.reset()
        faults = Faults(rates, seed)
        aws.client = faults.client  # the fault-injecting factory, for every adapter
        try:
            timers = TimerService(faults)
            app = App(faults)
            webhook_env = {"TABLE_NAME": TABLE, "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:x",
                           "PROCESSING_LAMBDAS_MAP": json.dumps({APP: "bot1-chat-lambda"}),
                           "DEBOUNCE_SECONDS": str(QUIET)}
            webhook = WebhookService(WebhookSettings.from_env(webhook_env), scheduler=timers)
            processor = ProcessorSettings.from_env({**webhook_env, "BATCH_LEASE_SECONDS": str(LEASE),
                                                    "FAILED_BATCHES_QUEUE_URL": failed_url})
            timers.dispatcher = Dispatcher(processor, invoker=app, failed_batches=FailedBatchQueue(failed_url))
            timers.dispatcher.store.lease_seconds = LEASE
            sweeper = Sweeper(TABLE, "arn:x", grace_seconds=GRACE, lease_seconds=LEASE, scheduler=timers)
            timers.begin()

            plan = _plan(messages, conversations, seed)
            accepted: dict[str, list[str]] = defaultdict(list)  # phone -> accepted texts in send order
            counters = Counter()
            lock = threading.Lock()
            stop_sweeping = threading.Event()

            def sweep_forever():
                while not stop_sweeping.wait(0.3):
                    try:
                        report.rearmed += sweeper.sweep()["rearmed"]
                    except ClientError:
                        pass  # a throttled sweep: the next one runs in 0.3 s

            sweeper_thread = threading.Thread(target=sweep_forever, daemon=True)
            sweeper_thread.start()

            def sender(index: int) -> None:
                rnd = random.Random(seed * 1000 + index)
                mine = [c for i, c in enumerate(plan) if i % senders == index]
                cursors = [0] * len(mine)
                while any(cursors[i] < len(c["texts"]) for i, c in enumerate(mine)):
                    i = rnd.randrange(len(mine))
                    conv = mine[i]
                    if cursors[i] >= len(conv["texts"]):
                        continue
                    text = conv["texts"][cursors[i]]
                    message_id = f"{conv['phone']}-{cursors[i]}"
                    body = {"type": "ReceivedCallback", "phone": conv["phone"], "messageId": message_id,
                            "momment": int(time.time() * 1000), "fromMe": False, "text": {"message": text}}
                    status = _post(webhook, body, counters, lock)
                    cursors[i] += 1
                    with lock:
                        accepted[conv["phone"]].append(text)
                    if rnd.random() < rates.provider_duplicate:
                        with lock:
                            counters["duplicates_posted"] += 1
                        answer = _post(webhook, body, counters, lock)
                        if answer.get("duplicates") == 1:
                            with lock:
                                counters["duplicates_answered"] += 1
                    del status
                    if rnd.random() < 0.3:
                        time.sleep(rnd.random() * 0.02)

            threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            report.sent = messages
            report.accepted = sum(len(v) for v in accepted.values())
            report.retried_5xx = counters["retried_5xx"]
            report.duplicates_posted = counters["duplicates_posted"]
            report.duplicates_answered = counters["duplicates_answered"]

            # Drain: wait until every conversation's last batch is delivered (or parked).
            deadline = time.time() + timeout
            store = timers.dispatcher.store
            while time.time() < deadline:
                if timers.idle() and _all_delivered(store, plan, faults):
                    break
                time.sleep(0.2)
            stop_sweeping.set()
            sweeper_thread.join(timeout=5)
            timers.end()
            faults.enabled = False
            parked = int(boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
                QueueUrl=failed_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"])
            report.parked = parked
            before = len(app.deliveries)
            redrive(failed_url, TABLE, {APP: "bot1-chat-lambda"}, invoker=app, out=open(os.devnull, "w"))
            report.redriven = len(app.deliveries) - before
            pending_left = _pending(store, plan)
        finally:
            aws.client = faults.real
            aws.reset()
    report.faults = faults.counts
    report.deliveries = len(app.deliveries)
    report.seconds = time.time() - started
    problems = _check(app.deliveries, accepted, pending_left)
    report.batches = len({d["batch_id"] for d in app.deliveries})
    for line in report.lines():
        print(line, file=out)
    print("invariants: " + ("all hold" if not problems else f"{len(problems)} violated"), file=out)
    for problem in problems[:20]:
        print("  " + problem, file=out)
    return report, problems


def _long_text(c: int, i: int) -> str:
    return "".join(hashlib.sha256(f"{c}.{i}.{k}".encode()).hexdigest() for k in range(10))


def _plan(messages: int, conversations: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    counts = [messages // conversations] * conversations
    for i in range(messages - sum(counts)):
        counts[i] += 1
    plan = []
    for c, count in enumerate(counts):
        phone = f"55{11_000_000_000 + c:011d}"
        # one in six a long text (about 640 bytes of hex, stored in a TEXT item of its own)
        texts = [f"c{c} m{i} " + rnd.choice(["oi", "olá 👋", "quero saber", "do meu pedido", "x" * 40, _long_text(c, i)])
                 for i in range(count)]
        plan.append({"phone": phone, "texts": texts})
    return plan


def _post(webhook: WebhookService, body: dict, counters: Counter, lock: threading.Lock) -> dict:
    """Post like a provider: a 5xx is retried (same message id) until it is accepted."""
    event = {"version": "2.0", "rawPath": "/webhook", "rawQueryString": f"appId={APP}",
             "queryStringParameters": {"appId": APP}, "headers": {"content-type": "application/json"},
             "requestContext": {"http": {"method": "POST", "path": "/webhook", "sourceIp": "203.0.113.1"}},
             "body": json.dumps(body), "isBase64Encoded": False}
    for attempt in range(100):
        response = webhook.handle(event)
        if response["statusCode"] < 500:
            assert response["statusCode"] == 200, response
            return json.loads(response["body"])
        with lock:
            counters["retried_5xx"] += 1
        time.sleep(0.01 * min(attempt + 1, 10))
    raise AssertionError("a webhook kept failing with 5xx")


def _state_of(store, phone):
    for _ in range(20):
        try:
            return store.get(APP, phone)
        except ClientError:
            time.sleep(0.01)
    return store.get(APP, phone)


def _all_delivered(store, plan, faults) -> bool:
    for conv in plan:
        state = _state_of(store, conv["phone"])
        if state is None or state.delivered_seq != state.seq:
            return False
    return True


def _pending(store, plan) -> list[str]:
    left = []
    for conv in plan:
        state = _state_of(store, conv["phone"])
        if state is None or state.delivered_seq != state.seq:
            left.append(f"{conv['phone'][-4:]}: seq={getattr(state, 'seq', None)} "
                        f"delivered={getattr(state, 'delivered_seq', None)}")
    return left


def _check(deliveries: list[dict], accepted: dict[str, list[str]], pending_left: list[str]) -> list[str]:
    """The invariants, as a downstream that deduplicates by batch_id sees them."""
    problems = [f"still pending {p}" for p in pending_left]
    batches: dict[str, dict] = {}
    for payload in deliveries:
        seen = batches.setdefault(payload["batch_id"], payload)
        if seen["messages"] != payload["messages"]:
            problems.append(f"batch {payload['batch_id']} delivered twice with different contents")
    by_phone: dict[str, list[dict]] = defaultdict(list)
    for payload in batches.values():
        by_phone[payload["phone_number"]].append(payload)
    for phone, texts in accepted.items():
        ordered = sorted(by_phone.get(phone, []), key=lambda p: int(p["batch_id"].rsplit("-", 2)[1]))
        got = [m["text"] for p in ordered for m in p["messages"]]
        ids = [m["id"] for p in ordered for m in p["messages"]]
        if len(ids) != len(set(ids)):
            problems.append(f"{phone[-4:]}: a message is in two batches")
        if got != texts:
            missing = len(set(texts) - set(got))
            problems.append(f"{phone[-4:]}: delivered {len(got)} of {len(texts)} in {len(ordered)} batches"
                            f" ({missing} missing, order {'kept' if sorted(got) == got else 'broken'})")
        for p in ordered:
            if p["message"] != "\n".join(m["text"] for m in p["messages"]):
                problems.append(f"batch {p['batch_id']}: message is not the texts joined")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description="Stress the gateway on moto with faults injected.")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import contextlib

    real_stdout = sys.stdout
    with contextlib.redirect_stdout(open(os.devnull, "w")):  # EMF metric lines
        _, problems = run(args.messages, args.conversations, args.senders, seed=args.seed, out=real_stdout)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
