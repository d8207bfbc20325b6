"""End to end on moto: the state machine Terraform renders runs for real (waits included) and its
lambda:invoke runs the project's own handlers in process."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

from conftest import World
from gateway import settings
from helpers import api_event, wait_for, zapi_text
from http_server import RecordingServer
from util.local_aws import poll_queue_once

pytestmark = pytest.mark.e2e

QUIET = 2  # seconds; moto's Wait counts whole seconds


@pytest.fixture
def world2(monkeypatch):
    with World(monkeypatch, debounce_seconds=QUIET) as world:
        yield world


def executions_finished(world):
    return all(e["status"] != "RUNNING" for e in world.executions())


def test_a_burst_from_one_sender_reaches_the_app_once_with_the_texts_in_order(world2):
    for text in ["hi", "I have a question", "about my order"]:
        assert world2.post(api_event(zapi_text("5544999999999", text)))["statusCode"] == 200
        time.sleep(0.3)
    assert wait_for(lambda: world2.bot_events["bot1"] and executions_finished(world2))
    time.sleep(QUIET + 1)  # nothing else may arrive
    events = world2.bot_events["bot1"]
    assert len(events) == 1
    assert events[0]["message"] == "hi\nI have a question\nabout my order"
    assert [m["text"] for m in events[0]["messages"]] == ["hi", "I have a question", "about my order"]
    assert events[0]["phone_number"] == "5544999999999" and events[0]["app_id"] == "bot1"
    assert [e["status"] for e in world2.executions()] == ["SUCCEEDED"]  # one timer for the burst


def test_two_senders_interleaved_get_one_batch_each(world2):
    for a, b in [("a1", "b1"), ("a2", "b2"), ("a3", "b3")]:
        world2.post(api_event(zapi_text("5511000000001", a)))
        world2.post(api_event(zapi_text("5511000000002", b), app_id="bot2"))
        time.sleep(0.2)
    assert wait_for(lambda: world2.bot_events["bot1"] and world2.bot_events["bot2"] and executions_finished(world2))
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["a1\na2\na3"]
    assert [e["message"] for e in world2.bot_events["bot2"]] == ["b1\nb2\nb3"]


def test_a_message_posted_while_a_batch_is_processed_makes_a_second_batch_of_only_itself(world2):
    processing, release = threading.Event(), threading.Event()
    received = []

    def slow_bot(event, context):
        received.append(event)
        if len(received) == 1:
            processing.set()
            release.wait(10)
        return {"ok": True}


    world2.set_bot("bot1", slow_bot)
    world2.post(api_event(zapi_text("5544999999999", "first")))
    world2.post(api_event(zapi_text("5544999999999", "second")))
    assert processing.wait(15), "the first batch was never dispatched"
    world2.post(api_event(zapi_text("5544999999999", "while processing")))
    release.set()
    assert wait_for(lambda: len(received) == 2 and executions_finished(world2), timeout=25)
    time.sleep(0.5)
    assert [e["message"] for e in received] == ["first\nsecond", "while processing"]
    assert received[0]["batch_id"] != received[1]["batch_id"]


def test_a_failing_app_lambda_is_retried_by_the_state_machine_with_the_same_batch_id(world2):
    world2.bot_failures["bot1"] = 1
    world2.post(api_event(zapi_text("5544999999999", "hello")))
    assert wait_for(lambda: world2.bot_events["bot1"] and executions_finished(world2), timeout=25)
    attempts = [e for name, e in world2.invocations if name == "bot1-chat-lambda"]
    assert len(attempts) == 2
    assert attempts[0]["batch_id"] == attempts[1]["batch_id"]
    assert [e["message"] for e in world2.bot_events["bot1"]] == ["hello"]


def test_a_reply_dropped_on_the_queue_is_posted_once_to_the_mapped_url(world2, monkeypatch):
    with RecordingServer() as provider:
        monkeypatch.setenv("API_URLS_MAP", json.dumps({"bot1": f"{provider.url}/send-text"}))
        settings.reset()
        world2.send_handler.sender.cache_clear()
        sqs = boto3.client("sqs", region_name="us-east-1")
        sqs.send_message(
            QueueUrl=world2.queue_url,
            MessageBody=json.dumps({"app_id": "bot1", "phone_number": "5544999999999", "message_to_send": "On its way!"}),
        )
        assert poll_queue_once(world2.queue_url, world2.send_handler.lambda_handler) == 1
        assert poll_queue_once(world2.queue_url, world2.send_handler.lambda_handler) == 0
        assert provider.json_bodies() == [{"phone": "5544999999999", "message": "On its way!"}]


def test_a_reply_the_provider_keeps_refusing_ends_in_the_dead_letter_queue(world2, monkeypatch):
    with RecordingServer() as provider:
        provider.statuses = [503] * 10
        monkeypatch.setenv("API_URLS_MAP", json.dumps({"bot1": f"{provider.url}/send-text"}))
        settings.reset()
        world2.send_handler.sender.cache_clear()
        sqs = boto3.client("sqs", region_name="us-east-1")
        sqs.set_queue_attributes(QueueUrl=world2.queue_url, Attributes={"VisibilityTimeout": "0"})
        sqs.send_message(
            QueueUrl=world2.queue_url,
            MessageBody=json.dumps({"app_id": "bot1", "phone_number": "5544999999999", "message_to_send": "x"}),
        )
        for _ in range(5):
            poll_queue_once(world2.queue_url, world2.send_handler.lambda_handler)
        dead = sqs.receive_message(QueueUrl=world2.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        assert len(dead) == 1 and json.loads(dead[0]["Body"])["message_to_send"] == "x"
        assert len(provider.requests) == 3  # maxReceiveCount of the test queue


def test_a_conversation_that_returns_after_its_items_expired_gets_a_timer_and_a_new_batch_id(world2):
    # GIVEN a conversation delivered once, whose items then expired (TTL deletes them after 30 days)
    world2.post(api_event(zapi_text("5544999999999", "first life", "wamid.life1")))
    assert wait_for(lambda: world2.bot_events["bot1"] and executions_finished(world2))
    client = boto3.client("dynamodb", region_name="us-east-1")
    for item in world2.items():
        client.delete_item(TableName=World.TABLE, Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}})
    time.sleep(0.01)  # a new life starts a millisecond later at the very least
    # WHEN the sender writes again: its seq restarts at 1
    world2.post(api_event(zapi_text("5544999999999", "second life", "wamid.life2")))
    # THEN its own timer delivers it (no ExecutionAlreadyExists swallowed, no wait for the sweeper)
    assert wait_for(lambda: len(world2.bot_events["bot1"]) == 2 and executions_finished(world2), timeout=QUIET + 8)
    first, second = world2.bot_events["bot1"]
    assert [first["message"], second["message"]] == ["first life", "second life"]
    assert first["batch_id"] != second["batch_id"]  # an app that deduplicates by batch_id keeps both
    names = [e["name"] for e in world2.executions()]
    assert len(names) == len(set(names)) == 2 and all(e["status"] == "SUCCEEDED" for e in world2.executions())


def test_an_execution_name_collision_is_logged_and_the_timer_still_started(world2, caplog):
    from gateway.scheduler import Scheduler, execution_name

    scheduler = Scheduler(world2.state_machine_arn)
    name = scheduler.start("bot1", "5544999999999", 1, time.time(), epoch=42)
    assert name == execution_name("bot1", "5544999999999", 42, 1)
    assert wait_for(lambda: executions_finished(world2))  # closed: its name can never be used again
    again = scheduler.start("bot1", "5544999999999", 1, time.time(), epoch=42)
    assert again != name and again.startswith(name)
    assert sorted(e["name"] for e in world2.executions()) == sorted([name, again])
    assert any("collision" in r.getMessage() for r in caplog.records)
