"""Per-app debounce policies end to end on moto: the rendered state machine waits until the moment
post_message computed, process_message re-derives it from the stored state, the cap flushes a
sender who never pauses, and the adaptive wait follows the sender's rhythm."""

from __future__ import annotations

import json
import statistics
import threading
import time

import pytest

from conftest import World
from gateway.debounce import ADAPTIVE_FACTOR
from helpers import api_event, wait_for, zapi_text

pytestmark = pytest.mark.e2e

FAST, SLOW, NONSTOP = "5511000000001", "5511000000002", "5511000000003"


class Recorder:
    """bot1's processing Lambda: keeps each batch with the moment it arrived."""

    def __init__(self):
        self.lock = threading.Lock()
        self.batches: list[tuple[float, dict]] = []

    def __call__(self, event, context):
        with self.lock:
            self.batches.append((time.time(), event))
        return {"ok": True}

    def of(self, phone: str) -> list[tuple[float, dict]]:
        with self.lock:
            return [(at, e) for at, e in self.batches if e["phone_number"] == phone]


def policy_world(monkeypatch, policy: dict, debounce_seconds: float = 2):
    # Settings are read on the first call after World resets them, so the variable is in place then.
    monkeypatch.setenv("DEBOUNCE_POLICIES", json.dumps({"bot1": policy}))
    return World(monkeypatch, debounce_seconds=debounce_seconds)


def post(world, phone: str, text: str) -> float:
    """Post one message; returns the moment just before it was sent: the gateway received it at or
    after that moment, so a delay measured from it is never shorter than the real one (a slow
    handler on a loaded machine would otherwise eat into the measured quiet period)."""
    sent_at = time.time()
    response = world.post(api_event(zapi_text(phone, text)))
    assert response["statusCode"] == 200, response
    return sent_at


def all_finished(world) -> bool:
    return all(e["status"] != "RUNNING" for e in world.executions())


def test_the_cap_dispatches_a_sender_who_never_pauses_while_messages_keep_coming(monkeypatch):
    # GIVEN quiet 2 s and a 4 s cap; WHEN a message arrives every second for 8 s
    with policy_world(monkeypatch, {"mode": "fixed", "quiet_seconds": 2, "max_wait_seconds": 4}) as world:
        bot = Recorder()
        world.set_bot("bot1", bot)
        texts = [f"part {i}" for i in range(9)]
        posted_before_first_batch = None
        start = time.monotonic()
        for i, text in enumerate(texts):
            time.sleep(max(0.0, start + i - time.monotonic()))
            if posted_before_first_batch is None and bot.of(NONSTOP):
                posted_before_first_batch = i
            post(world, NONSTOP, text)
        assert wait_for(lambda: sum(len(e["messages"]) for _, e in bot.of(NONSTOP)) >= len(texts)
                        and all_finished(world))
        batches = [e for _, e in bot.of(NONSTOP)]

    # THEN a batch was dispatched before the sender stopped (a 2 s quiet period alone never ends)
    assert posted_before_first_batch is not None and posted_before_first_batch < len(texts)
    assert len(batches) >= 2
    # and every message is in exactly one batch, in order, the batches in sequence
    assert [m["text"] for b in batches for m in b["messages"]] == texts
    ranges = [tuple(int(x) for x in b["batch_id"].rsplit("-", 2)[1:]) for b in batches]
    assert ranges[0][0] == 1 and ranges[-1][1] == len(texts)
    assert all(prev[1] + 1 == nxt[0] for prev, nxt in zip(ranges, ranges[1:]))
    assert len(batches[0]["messages"]) < len(texts)


def test_the_adaptive_wait_is_longer_after_a_slow_trace_than_after_a_fast_one(monkeypatch):
    # GIVEN an adaptive policy: wait = clamp(2.5 x median gap, 1 s, 6 s), 3 s before any gap is seen
    policy = {"mode": "adaptive", "quiet_seconds": 3, "min_quiet_seconds": 1, "max_quiet_seconds": 6,
              "max_wait_seconds": 30}
    with policy_world(monkeypatch, policy) as world:
        bot = Recorder()
        world.set_bot("bot1", bot)
        # WHEN one sender types three messages 0.3 s apart and another three 2 s apart
        schedule = sorted([(0.0, FAST, "f1"), (0.3, FAST, "f2"), (0.6, FAST, "f3"),
                           (0.1, SLOW, "s1"), (2.1, SLOW, "s2"), (4.1, SLOW, "s3")])
        last_post: dict[str, float] = {}
        start = time.monotonic()
        for offset, phone, text in schedule:
            time.sleep(max(0.0, start + offset - time.monotonic()))
            last_post[phone] = post(world, phone, text)
        assert wait_for(lambda: bot.of(FAST) and bot.of(SLOW) and all_finished(world))
        fast, slow = bot.of(FAST), bot.of(SLOW)
        # the arrivals as the gateway recorded them (a loaded machine posts later than scheduled)
        arrivals = {item["sender"]: sorted(int(t) / 1000 for t in item["recent_at"]) for item in world.items()}

    # THEN each gets one batch with its three messages
    assert [[m["text"] for m in e["messages"]] for _, e in fast] == [["f1", "f2", "f3"]]
    assert [[m["text"] for m in e["messages"]] for _, e in slow] == [["s1", "s2", "s3"]]
    fast_delay = fast[0][0] - last_post[FAST]
    slow_delay = slow[0][0] - last_post[SLOW]
    # and the slow typer's batch waited longer after its last message: 2.5 x its median gap (2 s
    # as scheduled: 5 s) against the 1 s floor for the fast one (the Wait state rounds up to whole
    # seconds, hence the generous upper bound)
    slow_gaps = [b - a for a, b in zip(arrivals[SLOW], arrivals[SLOW][1:])]
    assert len(slow_gaps) == 2 and min(slow_gaps) > 1.5, f"too loaded to tell the rhythms apart: {slow_gaps}"
    expected_slow_wait = min(6.0, max(1.0, ADAPTIVE_FACTOR * statistics.median(slow_gaps)))
    assert slow_delay > fast_delay
    assert slow_delay >= expected_slow_wait - 0.1  # timers may fire up to 50 ms early
    assert fast_delay < 4.5
