"""`make run`'s console: one line per failed attempt of a bot, with the state machine's retry
schedule; quiet sweeps print nothing; no line carries a phone number."""

from __future__ import annotations

import io
import logging

import pytest

from gateway.errors import AppInvocationError, NotDueYet
from util import local_aws
from util.local_gateway import bots
from util.local_gateway.timeline import DeliveryAttempts, Timeline, bot_error, retry_policy

PHONE = "5544999999999"
EVENT = {"app_id": "demo", "sender": PHONE, "seq": 3}


def console() -> tuple[Timeline, io.StringIO]:
    out = io.StringIO()
    return Timeline(out, start=0), out


def test_the_retry_policy_is_read_from_the_state_machine_terraform_renders():
    definition = local_aws.render_definition("arn:aws:lambda:us-east-1:123456789012:function:p",
                                             retry_interval_seconds=2, retry_max_attempts=6)
    assert retry_policy(definition) == (2, 6, 2.0)


def failing_bot(event, context):
    raise RuntimeError(f"the LLM API answered HTTP 503 for {PHONE}")


def process_message_invoking(bot):
    """A process_message that invokes ``bot`` in this thread, as moto routes it, and raises what the
    dispatcher raises when the bot failed."""
    wrapped = bots.wrap(bot)

    def handler(event, context):
        try:
            wrapped({}, None)
        except Exception:
            raise AppInvocationError('bot failed: Unhandled: {"errorType": "RuntimeError", "errorMessage": "x"}')
        return {"action": "done"}

    return handler


def test_each_failed_attempt_is_one_line_with_its_number_and_when_it_is_retried():
    timeline, out = console()
    attempts = DeliveryAttempts(process_message_invoking(failing_bot), timeline, interval_seconds=2, max_attempts=3,
                                backoff_rate=2.0, bot_failure=bots.last_failure)
    for _ in range(4):
        with pytest.raises(AppInvocationError):
            attempts(dict(EVENT), None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    raising_line = failing_bot.__code__.co_firstlineno + 1
    assert lines[0].endswith("bot failed (attempt 1 of 4): RuntimeError: the LLM API answered HTTP 503 for "
                             f"*********9999 (test_local_timeline.py line {raising_line}); retry in 2 s")
    assert [line.rsplit("; ", 1)[1] for line in lines] == ["retry in 2 s", "retry in 4 s", "retry in 8 s",
                                                           "no retries left"]
    assert all("demo *********9999" in line for line in lines) and PHONE not in out.getvalue()


def test_a_success_or_a_park_starts_the_count_again_and_the_wait_is_no_failure():
    calls = []

    def process(event, context):
        calls.append(event)
        if event.get("park"):
            return {"action": "parked"}
        if len(calls) == 2:
            raise NotDueYet("2030-01-01T00:00:00Z")
        if len(calls) in (1, 3):
            raise AppInvocationError('b failed: Unhandled: {"errorType": "ValueError", "errorMessage": "bad"}')
        return {"action": "done"}

    timeline, out = console()
    attempts = DeliveryAttempts(process, timeline, interval_seconds=1, max_attempts=2, backoff_rate=2.0)
    with pytest.raises(AppInvocationError):
        attempts(dict(EVENT), None)
    with pytest.raises(NotDueYet):
        attempts(dict(EVENT), None)
    with pytest.raises(AppInvocationError):
        attempts(dict(EVENT), None)
    attempts({**EVENT, "park": True}, None)
    attempts(dict(EVENT), None)
    lines = out.getvalue().splitlines()
    assert [line.split("bot failed ")[1] for line in lines] == [
        "(attempt 1 of 3): ValueError: bad; retry in 1 s", "(attempt 2 of 3): ValueError: bad; retry in 2 s"]
    assert attempts._failed == {}


def test_a_failure_that_is_not_the_bot_s_is_named_as_such():
    def process(event, context):
        raise KeyError("TABLE_NAME")

    timeline, out = console()
    with pytest.raises(KeyError):
        DeliveryAttempts(process, timeline, interval_seconds=1, max_attempts=0, backoff_rate=2.0)(dict(EVENT), None)
    assert "batch not delivered (attempt 1 of 1): KeyError: 'TABLE_NAME'; no retries left" in out.getvalue()


@pytest.mark.parametrize("message, shown", [
    ('my-bot failed: Unhandled: {"errorType": "LLMError", "errorMessage": "the LLM API answered HTTP 503"}',
     "LLMError: the LLM API answered HTTP 503"),
    ('my-bot failed: Unhandled: {"errorType": "LLMError", "errorMessage": "cut off by the 500-byte li',  # truncated
     "LLMError: cut off by the 500-byte li"),
    ("no processing Lambda is configured for app 'x'", "no processing Lambda is configured for app 'x'"),
])
def test_the_bot_s_error_is_read_out_of_process_message_s(message, shown):
    assert bot_error(message) == shown


def record(message: str, level=logging.INFO, **fields) -> logging.LogRecord:
    item = logging.LogRecord("debouncer", level, __file__, 1, message, (), None)
    item.__dict__.update(fields)
    return item


def test_a_sweep_that_did_nothing_prints_nothing_and_one_that_acted_says_what_it_did():
    timeline, out = console()
    timeline.record(record("sweep done", overdue=0, rearmed=0, failed=0))
    timeline.record(record("sweep done", overdue=3, rearmed=0, failed=0))  # overdue but within their lease
    assert out.getvalue() == ""
    timeline.record(record("sweep done", overdue=2, rearmed=1, failed=1))
    assert out.getvalue().split("sweep done")[1].strip() == "re-armed 1 conversation(s), 1 failed"


def test_a_parked_batch_is_one_plain_line():
    timeline, out = console()
    timeline.record(record("batch parked on the failed-batch queue", logging.ERROR, app_id="demo",
                           conversation="abc", batch_id="abc-0-1-2", error="AppInvocationError"))
    line = out.getvalue()
    assert "batch parked" in line and "error:" not in line and "failed-batch queue" in line
