"""process_message on moto: claim, invoke the app's Lambda, answer the state machine."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import pytest

from gateway.errors import AppInvocationError
from helpers import api_event, zapi_text
from util.local_aws import LambdaContext

PHONE = "5544999999999"


def run(world, seq, **extra):
    event = {"app_id": "bot1", "sender": PHONE, "seq": seq, "wait_until": "2020-01-01T00:00:00Z", **extra}
    return world.process_handler.lambda_handler(event, LambdaContext("process_message"))


@pytest.fixture
def stored(world, monkeypatch):
    """Two messages stored; the timers are disarmed so only the test runs process_message."""
    monkeypatch.setattr(world.post_handler.service().scheduler, "start", lambda *a, **k: True)
    world.post(api_event(zapi_text(PHONE, "one")))
    world.post(api_event(zapi_text(PHONE, "two")))
    return world


def test_the_latest_execution_claims_and_invokes_the_app_lambda(stored, monkeypatch):
    time.sleep(1.2)  # past the 1 s quiet period
    result = run(stored, 2)
    assert result["action"] == "done" and result["seq"] == 2
    [event] = stored.bot_events["bot1"]
    assert event["message"] == "one\ntwo"
    assert [name for name, _ in stored.invocations] == ["bot1-chat-lambda"]


def test_an_early_timer_waits_out_a_short_remainder_itself(stored):
    slept = []
    dispatcher = stored.process_handler.dispatcher()
    dispatcher.sleep = lambda seconds: (slept.append(seconds), time.sleep(seconds))
    assert run(stored, 1)["action"] == "done"  # woke before the quiet period ended
    assert len(slept) == 1 and 0 < slept[0] <= 1.2
    assert [e["message"] for e in stored.bot_events["bot1"]] == ["one\ntwo"]


def test_a_remainder_longer_than_the_inline_wait_is_sent_back_to_the_state_machine(stored, monkeypatch):
    from gateway.errors import NotDueYet

    dispatcher = stored.process_handler.dispatcher()
    monkeypatch.setattr(dispatcher, "settings", dataclasses.replace(dispatcher.settings, inline_wait_seconds=0.0))
    with pytest.raises(NotDueYet) as raised:
        run(stored, 1)
    assert str(raised.value).endswith("Z")  # the Wait state's TimestampPath value
    assert stored.bot_events["bot1"] == []


def test_a_wait_handed_back_is_counted_so_the_errors_alarm_can_leave_it_out(stored, monkeypatch, capsys):
    """Lambda counts the NotDueYet raise in Errors; the handler's EMF line counts it as
    WaitsHandedBack, which the process-message errors alarm subtracts (modules/monitoring)."""
    from gateway import metrics
    from gateway.errors import NotDueYet

    dispatcher = stored.process_handler.dispatcher()
    monkeypatch.setattr(dispatcher, "settings", dataclasses.replace(dispatcher.settings, inline_wait_seconds=0.0))
    capsys.readouterr()
    with pytest.raises(NotDueYet):
        run(stored, 1)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [blob.get(metrics.WAITS_HANDED_BACK) for blob in blobs] == [[1.0]] or \
        [blob.get(metrics.WAITS_HANDED_BACK) for blob in blobs] == [1.0]


def test_the_bursts_timer_claims_every_message_of_the_burst(stored):
    time.sleep(1.2)
    assert run(stored, 1)["action"] == "done"
    assert [e["message"] for e in stored.bot_events["bot1"]] == ["one\ntwo"]
    assert run(stored, 2)["action"] == "done"  # a second timer of the same burst finds it delivered
    assert len(stored.bot_events["bot1"]) == 1


def test_a_failing_app_lambda_fails_the_task_and_the_batch_stays_claimed_for_the_retry(stored, monkeypatch):
    time.sleep(1.2)
    stored.bot_failures["bot1"] = 1
    with pytest.raises(AppInvocationError, match="bot crashed"):
        run(stored, 2)
    assert run(stored, 2)["action"] == "done"  # the state machine's retry
    [first, second] = [e for _, e in stored.invocations]
    assert first["batch_id"] == second["batch_id"]
    assert [e["message"] for e in stored.bot_events["bot1"]] == ["one\ntwo"]


class PayloadMeter:
    """Wraps the gateway's Lambda client: the encoded size of every invoke payload (moto takes any size)."""

    def __init__(self, monkeypatch):
        from gateway import aws

        self.sizes: list[int] = []
        real = aws.client

        def client(service):
            inner = real(service)
            if service != "lambda":
                return inner
            meter = self

            class Metered:
                def __getattr__(self, name):
                    return getattr(inner, name)

                def invoke(self, **kwargs):
                    meter.sizes.append(len(kwargs["Payload"]))
                    return inner.invoke(**kwargs)

            return Metered()

        monkeypatch.setattr(aws, "client", client)


def test_a_burst_over_the_payload_cap_reaches_the_app_in_consecutive_batches_each_under_it(world, monkeypatch):
    monkeypatch.setattr(world.post_handler.service().scheduler, "start", lambda *a, **k: True)
    texts = [f"{i:02d}" + "é" * 16000 for i in range(40)]  # 40 messages of ~32 KB of "é"
    for text in texts:
        world.post(api_event(zapi_text(PHONE, text)))
    dispatcher = world.process_handler.dispatcher()
    dispatcher.payload_cap_bytes = 1_000_000  # smaller than Lambda's 6 MB, so the test stays quick
    meter = PayloadMeter(monkeypatch)
    time.sleep(1.2)
    # WHEN the app fails on the second part, and the state machine retries
    world.bot_failures["bot1"] = 0
    calls = []
    real = world.handlers[world.BOT_FUNCTIONS["bot1"]]

    def fail_second_once(event, context):
        calls.append(event["batch_id"])
        if len(calls) == 2:
            raise RuntimeError("bot crashed")
        return real(event, context)

    world.set_bot("bot1", fail_second_once)
    with pytest.raises(AppInvocationError):
        run(world, 40)
    assert run(world, 40)["action"] == "done"
    # THEN every payload fit the cap, counted as encoded, and the parts are consecutive, in order
    assert meter.sizes and max(meter.sizes) <= 1_000_000
    events = world.bot_events["bot1"]
    assert len(events) >= 3
    assert [m["text"] for e in events for m in e["messages"]] == texts  # none lost, none twice
    assert all(e["message"] == "\n".join(m["text"] for m in e["messages"]) for e in events)
    assert len({e["batch_id"] for e in events}) == len(events)
    assert calls[1] == calls[2] and calls.count(calls[0]) == 1  # the retry resumed at the failed part
    state = dispatcher.store.get("bot1", PHONE)
    assert state.seq == state.claimed_seq == state.delivered_seq == 40


def test_a_longer_remainder_ends_its_wait_on_a_whole_second_late_by_at_most_4_percent_of_the_quiet_period(
        quiet_world, monkeypatch):
    """Wait states count whole seconds: the second after the due moment when that is at most 4 % of
    the quiet period late (nothing slept), else the second before it and the fraction slept inline."""
    from gateway.errors import NotDueYet
    from gateway.scheduler import wait_timestamp

    monkeypatch.setattr(quiet_world.post_handler.service().scheduler, "start", lambda *a, **k: True)
    quiet_world.post(api_event(zapi_text(PHONE, "one")))
    dispatcher = quiet_world.process_handler.dispatcher()
    monkeypatch.setattr(dispatcher, "settings", dataclasses.replace(dispatcher.settings, inline_wait_seconds=1.0))
    due = dispatcher.store.get("bot1", PHONE).burst().last_at + 60
    with pytest.raises(NotDueYet) as raised:
        run(quiet_world, 1)
    assert str(raised.value) == wait_timestamp(due)  # < 1 s late of a 60 s quiet period: within 4 %
    # a 10 s quiet period allows 0.4 s
    assert dispatcher._resume_at(1000.3, 10) == 1000.0  # 0.7 s late: the second before, 0.3 s slept
    assert dispatcher._resume_at(1000.5, 10) == 1000.0
    assert dispatcher._resume_at(1000.6, 10) == 1000.6  # 0.4 s late: the second after
    assert math.ceil(dispatcher._resume_at(1000.3, 2)) == 1000  # 0.08 s allowed
    assert dispatcher._resume_at(1000.95, 2) == 1000.95
    # a Wait meant to end on the second before the due moment is not pushed to a second from now
    monkeypatch.setattr("gateway.dispatch.LATE_SHARE_OF_QUIET", 0.0)
    monkeypatch.setattr(dispatcher, "clock", lambda: due - 1.05)
    with pytest.raises(NotDueYet) as raised:
        run(quiet_world, 1)
    assert str(raised.value) == wait_timestamp(math.floor(due))
    monkeypatch.setattr(dispatcher, "clock", time.time)
    monkeypatch.setattr(dispatcher, "settings", dataclasses.replace(dispatcher.settings, inline_wait_seconds=0.0))
    assert dispatcher._resume_at(1000.3, 10) == 1000.3  # no inline wait: never before the due moment


def test_a_burst_sealed_into_chunks_is_read_window_by_window_and_delivered_whole_in_order(world, monkeypatch):
    from gateway.dispatch import LOAD_WINDOW_MESSAGES

    monkeypatch.setattr(world.post_handler.service().scheduler, "start", lambda *a, **k: True)
    texts = [f"message {i:03d} " + "abc" * (i % 7) for i in range(150)]  # sealed every 64 messages
    for i, text in enumerate(texts):
        world.post(api_event(zapi_text(PHONE, text, message_id=f"wamid.{i:03d}")))
    dispatcher = world.process_handler.dispatcher()
    dispatcher.payload_cap_bytes = 4_000  # several parts
    windows = []
    real_load = dispatcher.store.load_messages

    def spy(app_id, sender, first_seq, last_seq, state=None):
        windows.append(last_seq - first_seq + 1)
        return real_load(app_id, sender, first_seq, last_seq, state=state)

    monkeypatch.setattr(dispatcher.store, "load_messages", spy)
    time.sleep(1.2)
    assert run(world, 150)["action"] == "done"
    # THEN the store was read in windows, never the whole burst at once, and the app got every
    # message once, in order, in parts under the cap
    assert windows and max(windows) <= LOAD_WINDOW_MESSAGES and sum(windows) == 150
    events = world.bot_events["bot1"]
    assert len(events) >= 3
    assert [m["text"] for e in events for m in e["messages"]] == texts
