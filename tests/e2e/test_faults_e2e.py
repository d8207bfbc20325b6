"""Every failure has a path: faults injected into the real handlers on moto's executing state machine."""

from __future__ import annotations

import io
import json
import time

import boto3
import pytest

from conftest import World
from faults import FaultInjector
from helpers import api_event, response_json, wait_for, zapi_text
from util.local_aws import LambdaContext
from util.redrive import redrive

pytestmark = pytest.mark.e2e

PHONE = "5544999999999"


@pytest.fixture
def world2(monkeypatch):
    monkeypatch.setenv("SWEEP_GRACE_SECONDS", "0")
    monkeypatch.setenv("BATCH_LEASE_SECONDS", "3")
    # The sweeper looks for a burst once its max-wait cap has passed: keep it short here.
    monkeypatch.setenv("DEBOUNCE_POLICIES", json.dumps({"bot1": {"quiet_seconds": 1, "max_wait_seconds": 2}}))
    with World(monkeypatch, debounce_seconds=1) as world:
        yield world


def running(world):
    return [e for e in world.executions() if e["status"] == "RUNNING"]


def sweep(world):
    from gateway.settings import sweeper_settings
    from gateway.sweeper import Sweeper

    s = sweeper_settings()
    return Sweeper(s.table_name, s.state_machine_arn, grace_seconds=s.grace_seconds,
                   lease_seconds=s.batch_lease_seconds).sweep()


def test_a_throttled_store_answers_503_so_the_provider_retries_and_nothing_is_half_written(world2, monkeypatch):
    faults = FaultInjector().add("dynamodb", "update_item", "ProvisionedThroughputExceededException", times=1)
    faults.install(monkeypatch)
    body = zapi_text(PHONE, "hello", "wamid.1")
    response = world2.post(api_event(body))
    assert response["statusCode"] == 503
    assert response_json(response)["error"] == "store_unavailable"
    assert world2.items() == [] and world2.executions() == []
    retry = world2.post(api_event(body))  # the provider's retry
    assert response_json(retry)["stored"] == 1
    assert wait_for(lambda: world2.bot_events["bot1"] and not running(world2))
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["hello"]


def test_a_failed_start_execution_is_re_armed_by_the_sweeper(world2, monkeypatch):
    faults = FaultInjector().add("stepfunctions", "start_execution", "ServiceUnavailable", times=1)
    faults.install(monkeypatch)
    response = world2.post(api_event(zapi_text(PHONE, "lost timer")))
    assert response["statusCode"] == 200  # stored: the provider must not send it again
    assert world2.executions() == []
    time.sleep(3.2)  # past the burst's max-wait cap (2 s), stored in whole seconds rounded up
    counts = sweep(world2)
    assert counts["rearmed"] == 1
    assert wait_for(lambda: world2.bot_events["bot1"] and not running(world2))
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["lost timer"]
    assert sweep(world2)["overdue"] == 0  # delivered: out of the index


def test_a_crash_after_the_claim_is_retried_with_the_same_batch_id(world2, monkeypatch):
    faults = FaultInjector().add("lambda", "invoke", "ServiceException", times=1)
    faults.install(monkeypatch)
    world2.post(api_event(zapi_text(PHONE, "once")))
    assert wait_for(lambda: world2.bot_events["bot1"] and not running(world2))
    assert faults.injected[("lambda", "invoke")] == 1
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["once"]


def test_a_batch_the_app_keeps_failing_is_parked_then_redriven_and_later_batches_go_on(world2):
    world2.bot_failures["bot1"] = 4  # the first attempt and the state machine's 3 retries
    world2.post(api_event(zapi_text(PHONE, "doomed")))
    assert wait_for(lambda: not running(world2) and world2.executions(), timeout=40)
    assert [e["status"] for e in world2.executions()] == ["FAILED"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    parked = sqs.receive_message(QueueUrl=world2.failed_batches_url, VisibilityTimeout=0).get("Messages", [])
    assert len(parked) == 1
    record = json.loads(parked[0]["Body"])
    assert (record["first_seq"], record["last_seq"]) == (1, 1) and "bot crashed" in record["cause"]

    world2.post(api_event(zapi_text(PHONE, "next")))  # the conversation is not blocked
    assert wait_for(lambda: world2.bot_events["bot1"] and not running(world2))
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["next"]

    out = io.StringIO()
    counts = redrive(world2.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, out=out)
    assert counts == {"redriven": 1, "failed": 0, "listed": 0}
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["next", "doomed"]
    assert world2.bot_events["bot1"][1]["batch_id"] == record["batch_id"]
    assert redrive(world2.failed_batches_url, World.TABLE, World.BOT_FUNCTIONS, out=out)["redriven"] == 0


def test_a_batch_whose_execution_died_after_the_claim_is_taken_over(world2, monkeypatch):
    """The execution is stopped between claim and delivery (e.g. a StopExecution that raced)."""
    dispatcher = world2.process_handler.dispatcher()
    real_deliver = dispatcher.deliver
    died = []

    def die_once(batch, log, **kwargs):
        if not died:
            died.append(batch.batch_id)
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            for execution in running(world2):  # the execution is stopped mid-delivery: no retry
                sfn.stop_execution(executionArn=execution["executionArn"])
            raise RuntimeError("the execution died")
        return real_deliver(batch, log, **kwargs)

    monkeypatch.setattr(dispatcher, "deliver", die_once)
    world2.post(api_event(zapi_text(PHONE, "orphan")))
    assert wait_for(lambda: died and not running(world2))
    assert world2.bot_events["bot1"] == []
    time.sleep(3.2)  # the batch's lease runs out
    assert sweep(world2)["rearmed"] == 1
    assert wait_for(lambda: world2.bot_events["bot1"] and not running(world2))
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["orphan"]
    assert world2.bot_events["bot1"][0]["batch_id"] == died[0]


def test_a_poison_batch_whose_execution_was_stopped_is_parked_by_its_taker_and_later_messages_go_on(world2):
    """The app keeps failing on a batch; its execution is stopped before it could park it. The next
    execution that finds the batch's lease run out takes it over, owns it, retries it and parks it."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    attempts = []

    def poisoned_bot(event, context):
        attempts.append(event["batch_id"])
        if "doomed" in event["message"]:
            raise RuntimeError("bot crashed")
        world2.bot_events["bot1"].append(event)
        return {"ok": True}

    world2.set_bot("bot1", poisoned_bot)
    # GIVEN a batch the app fails on, whose execution is stopped after the first failure
    world2.post(api_event(zapi_text(PHONE, "doomed")))
    assert wait_for(lambda: attempts)
    for execution in running(world2):
        sfn.stop_execution(executionArn=execution["executionArn"])
    assert wait_for(lambda: not running(world2))
    # WHEN the sender writes again
    world2.post(api_event(zapi_text(PHONE, "next")))

    # THEN within lease + grace (3 s + 0 s here, plus the state machine's retries and a sweep),
    # the failed batch is on the failed-batch queue, parked once, and the new message is delivered
    def parked():
        return int(sqs.get_queue_attributes(QueueUrl=world2.failed_batches_url, AttributeNames=[
            "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])

    assert wait_for(lambda: parked() == 1 and not running(world2), timeout=40)

    def swept_and_delivered():
        sweep(world2)  # the sweeper runs every minute: its grace is 0 s here
        return wait_for(lambda: world2.bot_events["bot1"] and not running(world2), timeout=5)

    assert wait_for(swept_and_delivered, timeout=30, interval=1)
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["next"]
    [record] = [json.loads(m["Body"]) for m in sqs.receive_message(
        QueueUrl=world2.failed_batches_url, VisibilityTimeout=0, MaxNumberOfMessages=10)["Messages"]]
    assert (record["first_seq"], record["last_seq"]) == (1, 1) and "bot crashed" in record["cause"]
    assert record["batch_id"] == attempts[0]  # the batch the first execution claimed
    assert parked() == 1
    state = world2.process_handler.dispatcher().store.get("bot1", PHONE)
    assert state.seq == state.claimed_seq == state.delivered_seq == 2  # nothing left behind
