"""process_message on moto: claim, invoke the app's Lambda, answer the state machine."""

from __future__ import annotations

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


def test_an_early_timer_is_told_to_wait_and_nothing_is_invoked(stored):
    result = run(stored, 2)
    assert result["action"] == "wait" and result["wait_until"].endswith("Z")
    assert stored.bot_events["bot1"] == []


def test_a_superseded_execution_ends_without_invoking(stored, monkeypatch):
    time.sleep(1.2)
    assert run(stored, 1)["action"] == "done"
    assert stored.invocations == []


def test_a_failing_app_lambda_fails_the_task_and_the_batch_stays_claimed_for_the_retry(stored, monkeypatch):
    time.sleep(1.2)
    stored.bot_failures["bot1"] = 1
    with pytest.raises(AppInvocationError, match="bot crashed"):
        run(stored, 2)
    assert run(stored, 2)["action"] == "done"  # the state machine's retry
    [first, second] = [e for _, e in stored.invocations]
    assert first["batch_id"] == second["batch_id"]
    assert [e["message"] for e in stored.bot_events["bot1"]] == ["one\ntwo"]
