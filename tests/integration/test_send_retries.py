"""send_message_api's retries on moto SQS, against a real local HTTP server.

A reply that may pass later (a timeout, an unreachable provider, a 5xx, a 429) fails its record and
stays on the queue, hidden for ``SEND_RETRY_BASE_SECONDS × 2^(receives−1)``; SQS dead-letters it
after maxReceiveCount receives. One that never will (another 4xx, a malformed record, an app without
a URL) is put on the DLQ at once with an ``error`` attribute, and its record succeeds — after one
HTTP attempt, or none. Every record of a batch is judged on its own.

The send queue's own visibility timeout is 0 here, so a failed record without a backoff would be
received again at once: "not receivable right after the failure" is the backoff at work, seen
without any timing. The backoff's elapsing is simulated by setting the message's visibility to 0.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto import mock_aws

from gateway import aws, settings
from gateway.replies import MAX_BACKOFF_SECONDS, backoff_seconds
from util.local_aws import LambdaContext, create_queue, poll_queue_once

PHONE = "5544999999999"
BASE_SECONDS = 30
MAX_RECEIVES = 3
SLOW = "slow"  # a reply with this text is answered after the client's timeout


class ScriptedProvider:
    """A messaging API that answers each reply with the status its text names ("503" → HTTP 503),
    200 for any other text, and too late for SLOW; once ``healthy``, 200 to all. Records every request."""

    def __init__(self):
        self.texts: list[str] = []
        self.healthy = False
        self.release = threading.Event()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                text = body.get("message", "")
                provider.texts.append(text)
                if text == SLOW and not provider.healthy:
                    provider.release.wait(5)
                status = int(text) if text.isdigit() and not provider.healthy else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/send-text"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class VisibilitySpy:
    """Records the ChangeMessageVisibility calls the handler makes through gateway.aws."""

    def __init__(self, monkeypatch):
        self.calls: list[dict] = []
        real = aws.client
        spy = self

        class Client:
            def __init__(self, client):
                self._client = client

            def __getattr__(self, name):
                attribute = getattr(self._client, name)
                if name != "change_message_visibility":
                    return attribute

                def change(**kwargs):
                    spy.calls.append(kwargs)
                    return attribute(**kwargs)

                return change

        monkeypatch.setattr(aws, "client", lambda service: Client(real(service)) if service == "sqs" else real(service))

    @property
    def timeouts(self) -> list[int]:
        return [call["VisibilityTimeout"] for call in self.calls]


class Queues:
    def __init__(self, monkeypatch):
        import send_message_api.handler as handler

        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.url, self.dlq_url = create_queue("replies", max_receive_count=MAX_RECEIVES, visibility_timeout=0)
        self.provider = ScriptedProvider()
        self.handler = handler
        for name, value in {
            "API_URLS_MAP": json.dumps({"bot1": self.provider.url}),
            "SEND_QUEUE_URL": self.url,
            "SEND_DLQ_URL": self.dlq_url,
            "SEND_RETRY_BASE_SECONDS": str(BASE_SECONDS),
            "HTTP_TIMEOUT_SECONDS": "2",  # SLOW is answered after 5 s; a loaded run can stall a local answer past 0.5 s
        }.items():
            monkeypatch.setenv(name, value)
        for name in ("PROVIDERS_MAP", "SECRETS_PARAMETERS_MAP", "APP_SECRETS_MAP"):
            monkeypatch.delenv(name, raising=False)
        settings.reset()
        handler.sender.cache_clear()
        self.spy = VisibilitySpy(monkeypatch)
        self.results: list[dict] = []

    def put(self, *bodies) -> None:
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body if isinstance(body, str) else json.dumps(body))

    def poll(self) -> int:
        """One round of the event source mapping: receive, run send_message_api, delete what succeeded."""
        def handle(event, context):
            result = self.handler.lambda_handler(event, context)
            self.results.append({"event": event, "result": result})
            return result

        return poll_queue_once(self.url, handle, context=LambdaContext("send_message_api"))

    def failed_bodies(self) -> list[str]:
        """The bodies of the records the last poll reported as failed."""
        last = self.results[-1]
        failed = {f["itemIdentifier"] for f in last["result"]["batchItemFailures"]}
        return sorted(r["body"] for r in last["event"]["Records"] if r["messageId"] in failed)

    def receivable(self) -> list[dict]:
        """What a receive would get right now (taking it: only for checks at a test's end)."""
        return self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])

    def counts(self) -> tuple[int, int]:
        """(visible, in flight) messages on the send queue; SQS's approximate counts are exact on moto."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self) -> list[dict]:
        messages = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10,
                                            MessageAttributeNames=["All"]).get("Messages", [])
        return [{"body": m["Body"], "error": (m.get("MessageAttributes") or {}).get("error", {}).get("StringValue")}
                for m in messages]

    def let_the_backoff_pass(self) -> None:
        """The hidden messages' backoff has elapsed: make them visible again."""
        for call in self.spy.calls:
            try:
                self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=call["ReceiptHandle"],
                                                   VisibilityTimeout=0)
            except self.sqs.exceptions.ClientError:
                pass  # a receipt handle of a message received again since


@pytest.fixture
def queues(monkeypatch):
    with mock_aws():
        aws.reset()
        q = Queues(monkeypatch)
        try:
            yield q
        finally:
            q.provider.close()
            q.handler.sender.cache_clear()  # (conftest's autouse fixture resets the clients, once the spy is gone)


def reply(text: str, app: str = "bot1") -> dict:
    return {"app_id": app, "phone_number": PHONE, "message_to_send": text}


# ------------------------------------------------------------------ backoff_seconds


@pytest.mark.parametrize(
    "receives, base, expected",
    [(1, 30, 30), (2, 30, 60), (3, 30, 120), (5, 30, 480), (6, 30, 900), (50, 30, 900),
     (0, 30, 30), (1, 0, 0), (4, 0, 0), (1, 1.5, 1), (2, 1.5, 3), (1, 900, 900), (2, 900, 900),
     (5000, 30, 900), (10**6, 0.5, 900)],
)
def test_backoff_doubles_per_receive_from_the_base_and_is_capped_at_15_minutes(receives, base, expected):
    assert backoff_seconds(receives, base) == expected


def test_backoff_never_shrinks_as_receives_grow():
    values = [backoff_seconds(n, 7) for n in range(1, 2000)]
    assert values == sorted(values)
    assert values[0] == 7 and max(values) == MAX_BACKOFF_SECONDS
    assert all(isinstance(v, int) for v in values)


# ------------------------------------------------------------------ retryable failures


@pytest.mark.parametrize("text", ["500", "502", "503", "504", "429", "408", "501", "522", SLOW],
                         ids=["500", "502", "503", "504", "429", "408", "501", "522", "timeout"])
def test_a_failure_that_may_pass_fails_the_record_and_hides_it_for_the_backoff(queues, text):
    queues.put(reply(text))
    assert queues.poll() == 1
    assert queues.failed_bodies() == [json.dumps(reply(text))]
    assert queues.provider.texts == [text]
    assert queues.spy.timeouts == [BASE_SECONDS]  # first receive: the base
    assert queues.spy.calls[0]["QueueUrl"] == queues.url
    # Not receivable now, though the queue's own visibility timeout is 0; not on the DLQ either.
    assert queues.counts() == (0, 1)
    assert queues.dead_letters() == []


def test_an_unreachable_provider_is_retried_with_the_backoff(queues, monkeypatch):
    monkeypatch.setenv("API_URLS_MAP", json.dumps({"bot1": "http://127.0.0.1:9/closed"}))
    settings.reset()
    queues.handler.sender.cache_clear()
    queues.put(reply("hello"))
    queues.poll()
    assert len(queues.failed_bodies()) == 1
    assert queues.spy.timeouts == [BASE_SECONDS]
    assert queues.counts() == (0, 1)


def test_without_the_backoff_the_failed_record_would_be_received_again_at_once(queues, monkeypatch):
    """The control for the tests above: no SEND_QUEUE_URL, no ChangeMessageVisibility."""
    monkeypatch.delenv("SEND_QUEUE_URL")
    settings.reset()
    queues.handler.sender.cache_clear()
    queues.put(reply("503"))
    queues.poll()
    assert queues.spy.calls == []
    assert [m["Body"] for m in queues.receivable()] == [json.dumps(reply("503"))]


def test_a_reply_that_keeps_failing_backs_off_exponentially_then_reaches_the_dlq(queues):
    queues.put(reply("503"))
    for attempt in range(1, MAX_RECEIVES + 1):
        assert queues.poll() == 1
        assert queues.counts() == (0, 1)  # hidden by the backoff, until it passes
        queues.let_the_backoff_pass()
    assert queues.spy.timeouts == [BASE_SECONDS * 2 ** (n - 1) for n in range(1, MAX_RECEIVES + 1)]
    assert queues.provider.texts == ["503"] * MAX_RECEIVES
    # The next receive is one too many: SQS moves it to the DLQ (its redrive policy, no error attribute).
    assert queues.poll() == 0
    assert queues.dead_letters() == [{"body": json.dumps(reply("503")), "error": None}]
    assert queues.counts() == (0, 0)
    assert queues.provider.texts == ["503"] * MAX_RECEIVES


def test_a_reply_that_passes_on_a_retry_is_sent_once_more_and_deleted(queues):
    queues.put(reply("429"))
    queues.poll()
    queues.let_the_backoff_pass()
    queues.provider.healthy = True
    assert queues.poll() == 1
    assert queues.failed_bodies() == []
    assert queues.provider.texts == ["429", "429"]
    assert queues.spy.timeouts == [BASE_SECONDS]
    assert queues.counts() == (0, 0)
    assert queues.dead_letters() == []


# ------------------------------------------------------------------ permanent failures


@pytest.mark.parametrize("status", ["400", "401", "403", "404", "410", "413", "422"])
def test_another_4xx_goes_to_the_dlq_at_once_after_one_attempt_and_the_record_succeeds(queues, status):
    queues.put(reply(status))
    assert queues.poll() == 1
    assert queues.failed_bodies() == []  # not in batchItemFailures: SQS deletes it
    assert queues.provider.texts == [status]  # exactly one HTTP attempt
    assert queues.spy.calls == []  # no backoff: nothing to retry
    dead = queues.dead_letters()
    assert [d["body"] for d in dead] == [json.dumps(reply(status))]
    assert dead[0]["error"] == f"the provider answered HTTP {status}"
    assert queues.counts() == (0, 0)
    assert queues.receivable() == []


@pytest.mark.parametrize(
    "body, error",
    [
        ("not json", "Expecting value"),
        ("[1, 2]", "the record body must be a JSON object"),
        ('"text"', "the record body must be a JSON object"),
        (json.dumps({"app_id": "bot1", "phone_number": PHONE}), "the record has no message_to_send"),
        (json.dumps({"app_id": "bot1", "message_to_send": "hi"}), "the record has no phone_number"),
        (json.dumps({**reply("hi"), "message_to_send": 42}), "the record has no message_to_send"),
        (json.dumps({**reply("hi"), "message_to_send": "   "}), "the record has no message_to_send"),
        (json.dumps(reply("hi", app="nourl")), "no API URL is configured for app 'nourl'"),
    ],
    ids=["not-json", "array", "string", "no-text", "no-phone", "text-a-number", "blank-text", "app-without-url"],
)
def test_a_malformed_record_goes_to_the_dlq_without_any_http_call(queues, body, error):
    queues.put(body)
    assert queues.poll() == 1
    assert queues.failed_bodies() == []
    assert queues.provider.texts == []
    assert queues.spy.calls == []
    dead = queues.dead_letters()
    assert [d["body"] for d in dead] == [body]
    assert dead[0]["error"].startswith(error)
    assert queues.counts() == (0, 0)


def test_without_a_dlq_a_permanent_failure_fails_the_record_for_sqs_to_dead_letter(queues, monkeypatch):
    monkeypatch.delenv("SEND_DLQ_URL")
    settings.reset()
    queues.handler.sender.cache_clear()
    queues.put(reply("404"))
    queues.poll()
    assert queues.failed_bodies() == [json.dumps(reply("404"))]
    assert queues.spy.calls == []  # not retried with a backoff: SQS's own redrive takes it
    assert queues.dead_letters() == []


# ------------------------------------------------------------------ a mixed batch


def test_each_record_of_a_mixed_batch_is_judged_on_its_own(queues):
    bodies = {
        "ok-1": reply("first reply"),
        "5xx": reply("503"),
        "4xx": reply("404"),
        "malformed": "{not json",
        "429": reply("429"),
        "ok-2": reply("second reply"),
        "no-url": reply("hi", app="nourl"),
        "timeout": reply(SLOW),
    }
    queues.put(*bodies.values())
    assert queues.poll() == len(bodies)
    encoded = {name: b if isinstance(b, str) else json.dumps(b) for name, b in bodies.items()}

    assert queues.failed_bodies() == sorted(encoded[n] for n in ("5xx", "429", "timeout"))
    assert sorted(queues.provider.texts) == sorted(["first reply", "503", "404", "429", "second reply", SLOW])
    assert queues.spy.timeouts == [BASE_SECONDS] * 3
    assert sorted(d["body"] for d in queues.dead_letters()) == sorted(encoded[n] for n in ("4xx", "malformed", "no-url"))
    # The two sent and the three dead-lettered are deleted; the three retryable ones wait out their backoff.
    assert queues.counts() == (0, 3)
