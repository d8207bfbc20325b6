"""The conversation store applying the debounce rule on moto: due-ness derived from the stored
state, flushes that claim up to the current seq, the sender's rhythm kept across claims and seals."""

from __future__ import annotations

import random
import string

from gateway.conversations import INLINE_LIMIT_MESSAGES, RECENT_ARRIVALS_KEPT
from gateway.debounce import ADAPTIVE_FACTOR, DebouncePolicy
from gateway.models import InboundMessage

APP, PHONE = "bot1", "5544999999999"
T0 = 1_700_000_000.0  # the clock fixture's start (tests/conftest.py)

_ids = iter(range(1, 10**6))


def send(store, clock, policy, text="m", at=None):
    """post_message's part: append, then the rule on the append's result."""
    if at is not None:
        clock.now = at
    appended = store.append(APP, InboundMessage(sender=PHONE, text=text, message_id=f"id{next(_ids)}"),
                            due_at=policy.latest_due(clock.now))
    return appended, policy.due(appended.burst)


def delivered_texts(store, batch):
    texts = [m.text for m in store.load_messages(APP, PHONE, batch.first_seq, batch.last_seq)]
    store.mark_delivered(batch)
    return texts


def test_the_append_and_the_dispatcher_see_the_same_burst(store, clock):
    policy = DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=30)
    for i, at in enumerate([T0, T0 + 3, T0 + 7.5]):
        appended, due = send(store, clock, policy, text="é" * (i + 1), at=at)
    assert appended.burst == store.get(APP, PHONE).burst()
    assert appended.burst.gaps == (3, 4.5)
    assert appended.gaps_ms == (3000, 4500)
    assert (appended.burst.messages, appended.burst.bytes) == (3, 12)
    assert due.at == T0 + 7.5 + ADAPTIVE_FACTOR * 3.75  # the median gap, stretched


def test_a_timer_is_told_to_wait_until_the_rule_says_and_then_claims(store, clock):
    policy = DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=30)
    send(store, clock, policy, at=T0)
    _, due = send(store, clock, policy, at=T0 + 10)
    assert due.at == T0 + 10 + 25  # a slow typer: 10 s gaps, a 25 s wait
    clock.now = T0 + 10 + 10  # a fixed 10 s timer would have fired here
    outcome = store.claim(APP, PHONE, 2, policy=policy)
    assert outcome.status == "not_due" and outcome.due.at == due.at
    assert store.get(APP, PHONE).claimed_seq == 0
    clock.now = due.at
    outcome = store.claim(APP, PHONE, 2, policy=policy)
    assert outcome.status == "claimed"
    assert (outcome.batch.first_seq, outcome.batch.last_seq) == (1, 2)


def test_the_cap_claims_up_to_the_current_seq_for_a_superseded_execution(store, clock):
    """quiet 2 s, cap 4 s, a message every second: the execution of seq 4 wakes at the cap while
    seq 5 and 6 have arrived; it claims 1..6, and the later executions find their seq taken."""
    policy = DebouncePolicy(quiet_seconds=2, max_wait_seconds=4)
    dues = [send(store, clock, policy, text=f"m{i}", at=T0 + i)[1] for i in range(6)]
    assert [d.reason for d in dues] == ["quiet", "quiet", "quiet", "max_wait", "max_wait", "max_wait"]
    assert [d.at for d in dues[2:]] == [T0 + 4, T0 + 4, T0 + 4, T0 + 5]
    clock.now = T0 + 5.2
    outcome = store.claim(APP, PHONE, 4, policy=policy)
    assert outcome.status == "claimed" and outcome.due.reason == "max_wait"
    assert (outcome.batch.first_seq, outcome.batch.last_seq) == (1, 6)
    assert store.claim(APP, PHONE, 6, policy=policy).status == "taken"  # the owner delivers it
    assert store.claim(APP, PHONE, 4, policy=policy).status == "claimed"  # the owner's retry: same batch
    assert delivered_texts(store, outcome.batch) == [f"m{i}" for i in range(6)]
    assert store.claim(APP, PHONE, 6, policy=policy).status == "delivered"
    # the next message starts a new burst, and with it a new cap
    appended, due = send(store, clock, policy, text="m6", at=T0 + 6)
    assert appended.burst.started_at == T0 + 6 and appended.burst.messages == 1
    assert (due.at, due.reason) == (T0 + 8, "quiet")


def test_the_bursts_timer_waits_for_the_quiet_period_after_its_latest_message_then_claims_it_all(store, clock):
    policy = DebouncePolicy(quiet_seconds=2, max_wait_seconds=60)
    send(store, clock, policy, at=T0)
    send(store, clock, policy, at=T0 + 1)
    clock.now = T0 + 2.5  # seq 1's own quiet period is over, not the burst's
    outcome = store.claim(APP, PHONE, 1, policy=policy)
    assert (outcome.status, outcome.due.at) == ("not_due", T0 + 3)
    clock.now = T0 + 3
    outcome = store.claim(APP, PHONE, 1, policy=policy)
    assert (outcome.status, outcome.batch.first_seq, outcome.batch.last_seq) == ("claimed", 1, 2)


def test_the_cap_flush_loses_cleanly_to_a_message_that_lands_between_its_read_and_write(store, clock, monkeypatch):
    policy = DebouncePolicy(quiet_seconds=2, max_wait_seconds=4)
    for i in range(5):
        send(store, clock, policy, text=f"m{i}", at=T0 + i)
    clock.now = T0 + 4.5
    real_commit = store._commit_claim
    raced = []

    def racing_commit(*args, **kwargs):
        if not raced:
            raced.append(send(store, clock, policy, text="racer"))
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(store, "_commit_claim", racing_commit)
    outcome = store.claim(APP, PHONE, 3, policy=policy)
    assert outcome.status == "claimed"
    assert (outcome.batch.first_seq, outcome.batch.last_seq) == (1, 6)  # the racer is in, exactly once
    assert delivered_texts(store, outcome.batch) == ["m0", "m1", "m2", "m3", "m4", "racer"]
    state = store.get(APP, PHONE)
    assert (state.seq, state.claimed_seq, state.delivered_seq) == (6, 6, 6)


def test_max_messages_flushes_the_full_burst_and_the_next_message_starts_afresh(store, clock):
    policy = DebouncePolicy(quiet_seconds=10, max_messages=3)
    dues = [send(store, clock, policy, text=f"m{i}", at=T0 + i)[1] for i in range(3)]
    assert [d.reason for d in dues] == ["quiet", "quiet", "max_messages"]
    assert dues[-1].at == T0 + 2
    outcome = store.claim(APP, PHONE, 3, policy=policy)
    assert delivered_texts(store, outcome.batch) == ["m0", "m1", "m2"]
    appended, due = send(store, clock, policy, text="m3", at=T0 + 3)
    assert (appended.burst.messages, due.reason) == (1, "quiet")


def test_max_bytes_counts_the_pending_text_only(store, clock):
    policy = DebouncePolicy(quiet_seconds=10, max_bytes=10)
    assert send(store, clock, policy, text="12345", at=T0)[1].reason == "quiet"
    appended, due = send(store, clock, policy, text="67890", at=T0 + 1)
    assert (appended.burst.bytes, due.reason) == (10, "max_bytes")
    store.claim(APP, PHONE, 2, policy=policy)
    assert store.get(APP, PHONE).burst_bytes == 0


def test_the_senders_rhythm_outlives_the_claim_and_is_kept_short(store, clock):
    policy = DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=30,
                            max_wait_seconds=600)
    for i in range(12):
        send(store, clock, policy, at=T0 + 10 * i)  # a slow typer, all in one burst
    clock.now = T0 + 10 * 11 + 25
    outcome = store.claim(APP, PHONE, 12, policy=policy)
    assert outcome.status == "claimed"
    state = store.get(APP, PHONE)
    assert len(state.recent_at_ms) == RECENT_ARRIVALS_KEPT
    # the first message of the next request already waits like a slow typer
    appended, due = send(store, clock, policy, at=T0 + 500)
    assert appended.burst.messages == 1 and appended.burst.started_at == T0 + 500
    assert due.at == T0 + 500 + 25


def test_the_rhythm_survives_sealing_the_burst_into_chunks(store, clock):
    policy = DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=30,
                            max_wait_seconds=600)
    rng = random.Random(4)  # printable noise: stored compressed to about 83 %, not to nothing
    text = "".join(rng.choice(string.ascii_letters + string.digits + string.punctuation) for _ in range(4000))
    n = INLINE_LIMIT_MESSAGES + 6  # 280 KB in TEXT items; the burst is sealed into a chunk at 64 messages
    for i in range(n):
        appended, due = send(store, clock, policy, text=text, at=T0 + 3 * i)
    state = store.get(APP, PHONE)
    assert state.inline_base > 0  # sealed
    assert len(state.recent_at_ms) <= RECENT_ARRIVALS_KEPT + 20
    assert appended.burst.started_at == T0 and appended.burst.messages == n
    assert appended.burst.bytes == n * 4000
    assert due.at == T0 + 3 * (n - 1) + ADAPTIVE_FACTOR * 3  # still the 3 s rhythm
    clock.now = due.at
    outcome = store.claim(APP, PHONE, n, policy=policy)
    assert delivered_texts(store, outcome.batch) == [text] * n
