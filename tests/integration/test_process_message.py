"""process_message on moto: claim, invoke the app's Lambda, answer the state machine."""

from __future__ import annotations

import dataclasses
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
