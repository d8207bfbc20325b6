"""What the functions print: JSON logs with a correlation id per conversation (and batch), phone
numbers masked, no message text; EMF metric lines with the names the dashboard and alarms use."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest

from code_model import REPO
from gateway import metrics
from gateway.models import conversation_id
from helpers import api_event, zapi_text
from util.local_aws import LambdaContext

PHONE = "5544977553311"  # no 8-digit run of it occurs in ARNs or ids
TEXTS = ["first-secret-text-7f3a", "second-secret-text-9c1d"]


@pytest.fixture
def capfd(capsys):
    """stdout as the functions write it: EMF lines are printed (capsys sees them); the Powertools
    loggers hold the stream they were created with, so theirs is swapped for the test."""
    stream = io.StringIO()
    swapped = []
    from gateway.log import SERVICE

    for name in (SERVICE, "post_message", "process_message", "send_message_api"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                swapped.append((handler, handler.setStream(stream)))

    class Both:
        def readouterr(self):
            out = capsys.readouterr().out + stream.getvalue()
            stream.seek(0)
            stream.truncate()
            return type("Captured", (), {"out": out})

    yield Both()
    for handler, original in swapped:
        handler.setStream(original)


def printed(capfd) -> tuple[list[dict], list[dict]]:
    """(log records, EMF blobs) printed to stdout so far."""
    logs, emf = [], []
    for line in capfd.readouterr().out.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        (emf if "_aws" in record else logs).append(record)
    return logs, emf


def metric_values(emf: list[dict], name: str) -> list[float]:
    values = []
    for blob in emf:
        assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Debouncer"
        if name in blob:
            value = blob[name]
            values += value if isinstance(value, list) else [value]
    return values


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)
    return condition()


@pytest.mark.e2e
def test_a_burst_is_logged_by_conversation_and_batch_without_phone_or_text(world, capfd):
    # Metrics an earlier test of this process recorded outside a handler (the stress run calls the
    # Dispatcher directly) wait in Powertools' buffer for the next flush: print and drop them first.
    metrics.flush()
    capfd.readouterr()
    # GIVEN a sender typing two messages, one of them delivered twice by the provider
    for number, text in enumerate(TEXTS):
        world.post(api_event(zapi_text(PHONE, text, f"OBS-{number}")))
    world.post(api_event(zapi_text(PHONE, TEXTS[1], "OBS-1")))
    assert wait_for(lambda: world.bot_events["bot1"])
    time.sleep(0.5)  # let process_message flush its metrics
    logs, emf = printed(capfd)
    conversation = conversation_id("bot1", PHONE)

    # THEN every line about this conversation carries its id as correlation_id
    stored = [r for r in logs if r.get("message") == "message stored"]
    assert len(stored) == 2 and all(r["correlation_id"] == conversation for r in stored)
    dispatched = [r for r in logs if r.get("message") == "batch dispatched"]
    assert len(dispatched) == 1
    assert dispatched[0]["correlation_id"] == conversation
    assert dispatched[0]["batch_id"] == world.bot_events["bot1"][0]["batch_id"]
    # AND no line holds the phone number or a text, at any level
    everything = json.dumps(logs)
    leaks = [r for r in logs if PHONE[-8:] in json.dumps(r)]
    assert not leaks, f"phone number in: {leaks}"
    assert not any(text in everything for text in TEXTS)
    assert any(r.get("sender", "").endswith(PHONE[-4:]) for r in stored)  # masked, not dropped
    # AND the metrics say the same
    assert sum(metric_values(emf, metrics.MESSAGES_RECEIVED)) == 2
    assert sum(metric_values(emf, metrics.DUPLICATES_DROPPED)) == 1
    assert sum(metric_values(emf, metrics.BATCHES_DISPATCHED)) == 1
    assert metric_values(emf, metrics.BATCH_SIZE) == [2]
    waited = metric_values(emf, metrics.WAITED_SECONDS)
    assert len(waited) == 1 and 0.5 <= waited[0] < 30


def test_correlation_keys_do_not_leak_into_the_next_invocation(world, capfd):
    world.post(api_event(zapi_text(PHONE, "hello", "OBS-LEAK")))
    world.post(api_event({"not": "a z-api payload"}, app_id="nope"))  # refused: unknown app
    logs, _ = printed(capfd)
    refused = [r for r in logs if r.get("message") == "webhook refused"]
    assert refused and "correlation_id" not in refused[-1]


def test_send_failures_are_counted(world, capfd, monkeypatch):
    import send_message_api.handler as handler
    from gateway import settings

    monkeypatch.setenv("API_URLS_MAP", json.dumps({"bot1": "http://127.0.0.1:9/send-text"}))  # nothing listens
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "1")
    settings.reset()
    handler.sender.cache_clear()
    record = {"messageId": "r1", "receiptHandle": "h1", "attributes": {"ApproximateReceiveCount": "1"},
              "body": json.dumps({"app_id": "bot1", "phone_number": PHONE, "message_to_send": TEXTS[0]}),
              "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:debouncer-send", "awsRegion": "us-east-1"}
    result = handler.lambda_handler({"Records": [record]}, LambdaContext("send_message_api"))
    handler.sender.cache_clear()
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["r1"]
    logs, emf = printed(capfd)
    assert metric_values(emf, metrics.SEND_FAILURES) == [1]
    assert not any(TEXTS[0] in json.dumps(r) or PHONE in json.dumps(r) for r in logs)


def test_the_dashboard_and_alarms_use_the_metric_names_the_code_emits() -> None:
    names = set(metrics.METRIC_NAMES)
    dashboard = (REPO / "modules" / "monitoring" / "main.tf").read_text()
    used = set(re.findall(r'"(MessagesReceived|DuplicatesDropped|BatchesDispatched|BatchSize|WaitedSeconds|SendFailures|[A-Z][A-Za-z]+)"',
                          dashboard))
    assert names <= used, f"not on the dashboard: {sorted(names - used)}"
    main = (REPO / "main.tf").read_text()
    assert "POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace" in main
    assert "metrics_namespace = var.metrics_namespace" in main


def test_no_log_call_passes_a_message_text_or_a_raw_phone_number() -> None:
    """Source check: in the gateway, a log call's extra never names text/phone fields unmasked."""
    suspicious = re.compile(r"logger\.\w+\([^)]*extra=\{[^}]*(\.text\b|message_to_send|\"text\"|phone_number\b(?!\)))")
    offenders = []
    for path in (REPO / "lambda" / "gateway").rglob("*.py"):
        source = path.read_text()
        for match in suspicious.finditer(source):
            if "mask_phone(" not in match.group(0):
                offenders.append(f"{path.name}: {match.group(0)[:80]}")
    assert not offenders, offenders


def test_a_stored_message_is_one_compact_info_line(world, capfd):
    """Log bytes are most of the logs bill: one INFO line per message, without the keys every line
    of an invocation would repeat; a WARNING or DEBUG line keeps them (lambda/gateway/log.py)."""
    world.post(api_event(zapi_text(PHONE, "hello", "OBS-ONE")))
    logs, emf = printed(capfd)
    info = [r for r in logs if r["level"] == "INFO"]
    assert [r["message"] for r in info] == ["message stored"]
    (stored,) = info
    assert stored["correlation_id"] == conversation_id("bot1", PHONE) and stored["function_request_id"]
    assert stored["timer"] == "started" and stored["seq"] == 1 and "wait_seconds" in stored
    from gateway.log import INFO_OMITS

    assert not INFO_OMITS & set(stored), sorted(INFO_OMITS & set(stored))
    assert "conversation" not in stored  # the correlation_id says it
    assert sum(metric_values(emf, metrics.MESSAGES_RECEIVED)) == 1  # the EMF line is still there


def test_debug_and_warning_lines_keep_the_invocation_context() -> None:
    from gateway.log import CompactFormatter

    formatter = CompactFormatter()
    formatter.thread_safe_clear_keys()  # the correlation keys an earlier test's handler left on this thread
    formatter.append_keys(function_name="post_message", cold_start=True, correlation_id="c1")

    def line(level: int) -> dict:
        record = logging.LogRecord("post_message", level, __file__, 1, "event", None, None)
        record.conversation = "c1"
        return json.loads(formatter.format(record))

    for level in (logging.DEBUG, logging.WARNING):
        full = line(level)
        assert full["function_name"] == "post_message" and full["cold_start"] is True and "location" in full
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", full["timestamp"])  # RFC 3339, UTC
        assert full["correlation_id"] == "c1" and "conversation" not in full
    assert set(line(logging.INFO)) == {"level", "message", "correlation_id"}
