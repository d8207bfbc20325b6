"""workflow_type = EXPRESS on moto: no StopExecution, and at-least-once execution.

An EXPRESS execution cannot be stopped, so every superseded execution wakes up, finds that a newer
message moved the conversation on, and ends. EXPRESS runs each execution AT LEAST once; moto runs
each exactly once, so a duplicate is made by hand: the same input started again under another
name, or the dispatcher run twice at once. What must hold: each message is delivered in exactly one
batch (one batch_id), a batch may be delivered more than once but always with the same batch_id and
the same messages, and nothing is lost.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import boto3
import pytest

from conftest import World
from gateway import settings
from gateway.scheduler import Scheduler, execution_input
from faults import FaultInjector
from helpers import api_event, wait_for, zapi_text
from util.local_aws import REGION, render_definition

pytestmark = pytest.mark.e2e

QUIET = 1  # seconds; moto's Wait counts whole seconds


def make_express(world: World, monkeypatch) -> None:
    """Point post_message at an EXPRESS state machine with the same (rendered) definition."""
    functions = boto3.client("lambda", region_name=REGION)
    process_arn = functions.get_function(FunctionName=World.PROCESS_FUNCTION)["Configuration"]["FunctionArn"]
    arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="debouncer-test-express",
        definition=render_definition(process_arn, retry_interval_seconds=1, retry_max_attempts=3),
        roleArn="arn:aws:iam::123456789012:role/local-state-machine",
        type="EXPRESS",
    )["stateMachineArn"]
    world.state_machine_arn = arn
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    settings.reset()
    world.post_handler.service.cache_clear()
    world.process_handler.dispatcher.cache_clear()


@pytest.fixture
def express(monkeypatch):
    with World(monkeypatch, debounce_seconds=QUIET) as world:
        make_express(world, monkeypatch)
        yield world


@pytest.fixture
def express_waiting(monkeypatch):
    """EXPRESS, with a quiet period (60 s) that outlasts the test: only the test dispatches."""
    with World(monkeypatch, debounce_seconds=60) as world:
        make_express(world, monkeypatch)
        yield world


@pytest.fixture
def no_stop(monkeypatch):
    """Counts every AWS call the gateway's own clients make (none fails): StopExecution must be 0
    (an EXPRESS execution cannot be stopped, and one timer per burst leaves nothing to stop)."""
    return FaultInjector().install(monkeypatch)


STOPS = ("stepfunctions", "stop_execution")


def finished(world: World) -> bool:
    executions = world.executions()
    return bool(executions) and all(e["status"] != "RUNNING" for e in executions)


def deliveries(world: World, app: str = "bot1") -> dict[str, list[list[str]]]:
    """batch_id -> the message ids of each delivery of that batch."""
    found = defaultdict(list)
    for event in world.bot_events[app]:
        found[event["batch_id"]].append([m["id"] for m in event["messages"]])
    return found


def assert_each_message_in_exactly_one_batch(world: World, posted: set[str]) -> dict[str, list[list[str]]]:
    batches = deliveries(world)
    for batch_id, copies in batches.items():
        assert all(copy == copies[0] for copy in copies), f"{batch_id} was delivered with different messages"
    owner: dict[str, str] = {}
    for batch_id, copies in batches.items():
        for message_id in copies[0]:
            assert message_id not in owner, f"{message_id} is in batches {owner.get(message_id)} and {batch_id}"
            owner[message_id] = batch_id
    assert set(owner) == posted, f"lost: {sorted(posted - set(owner))}"
    return batches


def test_express_runs_one_execution_per_burst_and_never_stops_one(express, no_stop):
    # GIVEN an EXPRESS state machine, WHEN one sender types three messages
    ids = []
    for number, text in enumerate(["hi", "I have a question", "about my order"]):
        ids.append(f"EXP-{number}")
        assert express.post(api_event(zapi_text("5544999990001", text, ids[-1])))["statusCode"] == 200
        time.sleep(0.2)
    assert wait_for(lambda: express.bot_events["bot1"] and finished(express))
    time.sleep(QUIET + 1)
    # THEN no stop was attempted, the burst's one execution ran to its end with all three
    assert no_stop.calls[STOPS] == 0
    assert [e["status"] for e in express.executions()] == ["SUCCEEDED"]
    assert [e["message"] for e in express.bot_events["bot1"]] == ["hi\nI have a question\nabout my order"]
    process_calls = [event for name, event in express.invocations if name == World.PROCESS_FUNCTION]
    assert {event["seq"] for event in process_calls} == {1}


def test_duplicate_executions_of_every_start_deliver_each_message_in_exactly_one_batch(express, no_stop, monkeypatch):
    # GIVEN every execution started twice with the same input (as EXPRESS at-least-once may do)
    original = Scheduler.start

    def start_twice(self, app_id, sender, seq, wait_until, suffix="", *, epoch):
        started = original(self, app_id, sender, seq, wait_until, suffix, epoch=epoch)
        original(self, app_id, sender, seq, wait_until, suffix + "-dup", epoch=epoch)
        return started

    monkeypatch.setattr(Scheduler, "start", start_twice)
    # WHEN three senders type bursts, interleaved, and one of them a second burst later
    posted = set()
    senders = ["5544999990011", "5544999990012", "5544999990013"]
    for round_ in range(3):
        for index, sender in enumerate(senders):
            message_id = f"DUP-{index}-{round_}"
            posted.add(message_id)
            express.post(api_event(zapi_text(sender, f"s{index} m{round_}", message_id)))
        time.sleep(0.15)
    assert wait_for(lambda: len(deliveries(express)) >= 3 and finished(express))
    express.post(api_event(zapi_text(senders[0], "later", "DUP-0-later")))
    posted.add("DUP-0-later")
    assert wait_for(lambda: len(deliveries(express)) >= 4 and finished(express))
    time.sleep(QUIET + 1)
    # THEN each message is in exactly one batch, a batch's copies are identical, nothing is lost
    batches = assert_each_message_in_exactly_one_batch(express, posted)
    # (how the bursts split into batches depends on timing on a loaded machine; that they do not
    # overlap does not) a batch goes out at most once per copy of its execution
    assert all(1 <= len(copies) <= 2 for copies in batches.values())
    assert [ids for ids in (c[0] for c in batches.values()) if "DUP-0-later" in ids] == [["DUP-0-later"]]
    assert len(express.executions()) == 2 * len(batches)  # one timer per burst, each started twice
    assert no_stop.calls[STOPS] == 0
    # and the conversations' counters agree: everything claimed was delivered
    for item in (i for i in express.items() if i["sk"] == "META"):
        assert item["claimed_seq"] == item["delivered_seq"] == item["seq"]


def test_the_same_execution_input_dispatched_twice_at_once_delivers_one_batch_id(express_waiting):
    world = express_waiting
    # GIVEN a burst whose quiet period is over (the dispatcher's clock runs 2 minutes ahead)
    posted = {"TWICE-1", "TWICE-2", "TWICE-3"}
    for message_id in sorted(posted):
        world.post(api_event(zapi_text("5544999990021", message_id.lower(), message_id)))
    from gateway.dispatch import Dispatcher

    dispatcher = Dispatcher(settings.processor_settings(), clock=lambda: time.time() + 120)
    event = execution_input("bot1", "5544999990021", 3, time.time())
    # WHEN two copies of the execution run the dispatcher with the same input, overlapping: the
    # first is still inside the app's Lambda when the second claims
    first_in_bot, second_done = threading.Event(), threading.Event()
    received = []

    def slow_bot(payload, context):
        received.append(payload)
        if len(received) == 1:
            first_in_bot.set()
            second_done.wait(10)
        return {"ok": True}

    world.set_bot("bot1", slow_bot)
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", dispatcher.handle(dict(event))))
    first.start()
    assert first_in_bot.wait(10)
    results["second"] = dispatcher.handle(dict(event))
    second_done.set()
    first.join(10)
    # THEN both report done, the batch went out at least once, every copy with the same batch_id
    assert results["first"]["action"] == results["second"]["action"] == "done"
    assert len(received) == 2, "the second copy found the batch claimed by the same execution input and delivered it again"
    assert len({payload["batch_id"] for payload in received}) == 1
    assert all([m["id"] for m in payload["messages"]] == ["TWICE-1", "TWICE-2", "TWICE-3"] for payload in received)
    # AND a third copy, arriving after the delivery, sends nothing
    assert dispatcher.handle(dict(event))["action"] == "done"
    assert len(received) <= 2
    # AND the next message forms a batch of only itself
    world.post(api_event(zapi_text("5544999990021", "next", "TWICE-4")))
    dispatcher.handle(execution_input("bot1", "5544999990021", 4, time.time()))
    assert [m["id"] for m in received[-1]["messages"]] == ["TWICE-4"]
    assert received[-1]["batch_id"] != received[0]["batch_id"]
    meta = next(i for i in world.items() if i["sk"] == "META")
    assert int(meta["delivered_seq"]) == int(meta["seq"]) == 4
