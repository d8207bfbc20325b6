"""Slow bots and asynchronous bots, on moto's executing state machine with the project's definition.

Lambda's timeouts are enforced by util.local_aws.route_lambda_invocations as Lambda enforces them:
a timed-out process_message answers the state machine "Task timed out" while the bot it invoked
goes on, so a retry that invokes the bot again runs beside it. Asynchronous invokes get Lambda's
two retries and on-failure destination."""

from __future__ import annotations

import io
import json
import threading
import time

import boto3
import pytest

from conftest import World
from helpers import api_event, wait_for, zapi_text
from util.redrive import redrive

pytestmark = pytest.mark.e2e

PHONE = "5544999999999"
BOT = World.BOT_FUNCTIONS["bot1"]


class SlowBot:
    """A bot that takes ``seconds`` per batch and records its calls and how many ran at once."""

    def __init__(self, seconds: float, *, fail: bool = False):
        self.seconds, self.fail = seconds, fail
        self.events: list[dict] = []
        self.running = self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, event, context):
        with self.lock:
            self.events.append(event)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.seconds)
            if self.fail:
                raise RuntimeError("the LLM API is down")
            return {"ok": True}
        finally:
            with self.lock:
                self.running -= 1


def finished(world) -> bool:
    return bool(world.executions()) and not world.executions("RUNNING")


def world_with(monkeypatch, *, process_timeout: float, env: dict[str, str]) -> World:
    monkeypatch.setenv("INLINE_WAIT_SECONDS", "0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return World(monkeypatch, debounce_seconds=1, timeouts={World.PROCESS_FUNCTION: process_timeout})


def test_a_bot_slower_than_process_messages_timeout_is_invoked_again_beside_itself(monkeypatch):
    """The hazard the bot's declared budget removes: process_message (2 s) times out while the bot
    (6 s, no budget declared) runs, and the state machine's retry (1 s later) invokes the bot again
    while the first call still has about 3 s to go."""
    bot = SlowBot(6.0)
    with world_with(monkeypatch, process_timeout=2, env={}) as world:
        world.set_bot("bot1", bot)
        world.post(api_event(zapi_text(PHONE, "hi")))
        assert wait_for(lambda: len(bot.events) >= 2, timeout=30)
        assert bot.most_at_once >= 2
        assert len({e["batch_id"] for e in bot.events}) == 1


def test_a_slow_sync_bot_within_its_budget_is_invoked_once_and_answered_once(monkeypatch):
    """process_message's timeout as main.tf derives it: the inline wait (0) + the bot's
    bot_timeout_seconds (4) + 15 s. A bot that takes 3.5 s, longer than the 2 s that failed above,
    gets one call, and its burst one delivery."""
    bot = SlowBot(3.5)
    with world_with(monkeypatch, process_timeout=0 + 4 + 15, env={"BOT_TIMEOUTS_MAP": json.dumps({"bot1": 4})}) as world:
        world.set_bot("bot1", bot)
        for text in ("hi", "I have a question"):
            world.post(api_event(zapi_text(PHONE, text)))
        assert wait_for(lambda: finished(world) and bot.events, timeout=30)
        time.sleep(1)
        assert [e["message"] for e in bot.events] == ["hi\nI have a question"]
        assert [e["status"] for e in world.executions()] == ["SUCCEEDED"]


def test_with_too_short_a_timeout_for_the_declared_budget_the_bot_is_never_invoked_beside_itself(monkeypatch):
    """A process_message timeout (2 s) shorter than the bot's budget (3 s) + 5 s: process_message
    refuses to invoke the bot rather than time out under it; the batch is parked for a redrive."""
    bot = SlowBot(3.0)
    with world_with(monkeypatch, process_timeout=2, env={"BOT_TIMEOUTS_MAP": json.dumps({"bot1": 3})}) as world:
        world.set_bot("bot1", bot)
        world.post(api_event(zapi_text(PHONE, "hi")))
        assert wait_for(lambda: finished(world), timeout=40)
        assert bot.events == []
        parked = boto3.client("sqs", region_name="us-east-1").receive_message(
            QueueUrl=world.failed_batches_url).get("Messages", [])
        assert len(parked) == 1 and "may take 3 s" in json.loads(parked[0]["Body"])["cause"]


def test_an_async_bot_is_invoked_once_and_the_execution_does_not_wait_for_it(monkeypatch):
    bot = SlowBot(3.0)
    with world_with(monkeypatch, process_timeout=19, env={"BOT_INVOCATIONS_MAP": json.dumps({"bot1": "async"})}) as world:
        world.set_bot("bot1", bot)
        world.post(api_event(zapi_text(PHONE, "hi")))
        assert wait_for(lambda: finished(world), timeout=20)
        assert bot.running == 1  # the execution is done while the bot still runs
        assert wait_for(lambda: bot.running == 0, timeout=10)
        assert [e["message"] for e in bot.events] == ["hi"]
        assert [e["status"] for e in world.executions()] == ["SUCCEEDED"]

        world.post(api_event(zapi_text(PHONE, "and then")))  # the conversation goes on
        assert wait_for(lambda: len(bot.events) == 2 and bot.running == 0, timeout=20)
        assert [e["message"] for e in bot.events] == ["hi", "and then"]


def test_an_async_bot_that_keeps_failing_lands_its_batch_on_the_failed_batch_queue_and_is_redriven(monkeypatch):
    bot = SlowBot(0.1, fail=True)
    with world_with(monkeypatch, process_timeout=19, env={"BOT_INVOCATIONS_MAP": json.dumps({"bot1": "async"})}) as world:
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_arn = sqs.get_queue_attributes(QueueUrl=world.failed_batches_url,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # what main.tf's aws_lambda_function_event_invoke_config sets on an async bot
        boto3.client("lambda", region_name="us-east-1").put_function_event_invoke_config(
            FunctionName=BOT, MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": queue_arn}})
        world.set_bot("bot1", bot)
        world.post(api_event(zapi_text(PHONE, "doomed")))

        def on_failure_record():
            messages = sqs.receive_message(QueueUrl=world.failed_batches_url, VisibilityTimeout=0).get("Messages", [])
            return messages and json.loads(messages[0]["Body"])

        assert wait_for(on_failure_record, timeout=30)
        record = on_failure_record()
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert len(bot.events) == 3  # Lambda's first attempt and its two retries
        assert record["requestPayload"]["batch_id"] == bot.events[0]["batch_id"]
        assert [e["status"] for e in world.executions()] == ["SUCCEEDED"]  # the gateway handed it over

        # WHEN the bot is fixed and the batch redriven THEN it gets the same batch again, once
        bot.fail = False
        out = io.StringIO()
        assert redrive(world.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, out=out, wait_seconds=0) == {
            "redriven": 1, "failed": 0, "listed": 0}, out.getvalue()
        assert [e["batch_id"] for e in bot.events[3:]] == [record["requestPayload"]["batch_id"]]
        assert bot.events[3]["messages"] == record["requestPayload"]["messages"]
