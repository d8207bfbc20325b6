"""The conversation store applying the debounce rule on moto: due-ness derived from the stored
state, flushes that claim up to the current seq, the sender's rhythm kept across claims and seals."""

from __future__ import annotations

import random
import string

from gateway.store import INLINE_LIMIT_MESSAGES, RECENT_ARRIVALS_KEPT, item_key
from gateway.debounce import ADAPTIVE_FACTOR, DebouncePolicy
from gateway.models import Batch, InboundMessage

APP, PHONE = "bot1", "5544999999999"
T0 = 1_700_000_000.0  # the clock fixture's start (tests/conftest.py)

_ids = iter(range(1, 10**6))


def send(store, clock, policy, text="m", at=None):
    """post_message's part: append, then the rule on the append's result."""
    if at is not None:
        clock.now = at
    appended = store.append(APP, InboundMessage(sender=PHONE, text=text, message_id=f"id{next(_ids)}"),
                            latest_due=policy.latest_due(clock.now))
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
    assert state.msgs_base > 0  # sealed
    assert len(state.recent_at_ms) <= RECENT_ARRIVALS_KEPT + 20
    assert appended.burst.started_at == T0 and appended.burst.messages == n
    assert appended.burst.bytes == n * 4000
    assert due.at == T0 + 3 * (n - 1) + ADAPTIVE_FACTOR * 3  # still the 3 s rhythm
    clock.now = due.at
    outcome = store.claim(APP, PHONE, n, policy=policy)
    assert delivered_texts(store, outcome.batch) == [text] * n


# ---------------------------------------------------------------------- turns (#19) and voice notes

ADAPTIVE = DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=30)


def send_kind(store, clock, policy, kind, at):
    clock.now = at
    appended = store.append(APP, InboundMessage(sender=PHONE, text=f"[{kind}]", message_id=f"id{next(_ids)}",
                                                kind=kind), latest_due=policy.latest_due(clock.now))
    return appended, policy.due(appended.burst)


def answer(store, clock, policy, seq, at):
    """The timer claims the burst at ``at`` and the bot's answer is recorded delivered at once."""
    clock.now = at
    outcome = store.claim(APP, PHONE, seq, policy=policy)
    assert outcome.status == "claimed", outcome.status
    delivered_texts(store, outcome.batch)
    return outcome.batch


def raw_item(store):
    return store.read_item(APP, PHONE)


def test_a_live_chat_is_waited_on_by_its_typing_not_by_the_time_between_turns(store, clock):
    """Issue #19: a fast typer chatting with the bot, one or two messages a turn, 20 s from one
    request's last message to the next request (the wait, the bot's answer, reading it, typing).
    The gaps that span an answer are not typing: the wait stays 2.5 x the 2 s typing gaps (before
    #19 they all counted and the wait rose to its 30 s ceiling)."""
    t, due = T0, None
    for turn in range(6):
        for part in range(1 + turn % 2):
            appended, due = send(store, clock, ADAPTIVE, text=f"t{turn}p{part}", at=t)
            t += 2
        answer(store, clock, ADAPTIVE, appended.seq, due.at)
        t = appended.burst.last_at + 20
    appended, due = send(store, clock, ADAPTIVE, text="next request", at=t)
    assert appended.burst.gaps == (2, 2, 2)  # only the typing inside the two-message turns
    assert due.at == t + ADAPTIVE_FACTOR * 2
    assert store.get(APP, PHONE).burst() == appended.burst  # the dispatcher sees the same
    # the item keeps it in one small number: the last 9 delivered messages, a bit each
    item = raw_item(store)
    assert item["delivered_seq"] == 9 and item["turns"] == 0b101101101  # after seqs 9, 7, 6, 4, 3, 1


def test_a_message_that_comes_before_the_answer_keeps_its_gap_as_typing(store, clock):
    """A slow typer split by the 10 s wait: the second part arrives while the first part is with
    the bot, so its delivery ends no turn and the 12 s gap teaches the next wait."""
    _, due = send(store, clock, ADAPTIVE, text="part 1", at=T0)
    assert due.at == T0 + 10  # no gap known yet: quiet_seconds
    clock.now = due.at
    outcome = store.claim(APP, PHONE, 1, policy=ADAPTIVE)
    appended, due = send(store, clock, ADAPTIVE, text="part 2", at=T0 + 12)  # the bot is still answering
    delivered_texts(store, outcome.batch)
    assert "turns" not in raw_item(store)
    burst = store.get(APP, PHONE).burst()
    assert burst.turn_ends == () and burst.gaps == (12,)
    assert ADAPTIVE.due(burst).at == T0 + 12 + 30  # 2.5 x 12 s, at the 30 s ceiling


def test_split_deliveries_shift_the_turns_and_only_the_last_part_ends_a_turn(store, clock):
    send(store, clock, ADAPTIVE, text="a", at=T0)
    answer(store, clock, ADAPTIVE, 1, T0 + 10)
    assert raw_item(store)["turns"] == 0b1
    for i in range(3):
        send(store, clock, ADAPTIVE, text=f"b{i}", at=T0 + 30 + i)
    clock.now = T0 + 60
    batch = store.claim(APP, PHONE, 2, policy=ADAPTIVE).batch
    first, second = (Batch(APP, PHONE, 2, 3, epoch=batch.epoch), Batch(APP, PHONE, 4, 4, epoch=batch.epoch))
    store.mark_delivered(first, final=False)
    assert raw_item(store)["turns"] == 0b100  # seq 1, now two deliveries back: no turn after seq 3
    store.mark_delivered(second)
    assert raw_item(store)["turns"] == 0b1001
    assert store.get(APP, PHONE).rhythm()[1] == (T0, T0 + 32)


def test_after_a_voice_note_the_wait_is_the_ceiling_and_its_recording_is_no_typing_gap(store, clock):
    for i in range(3):
        send(store, clock, ADAPTIVE, text=f"t{i}", at=T0 + 2 * i)
    appended, due = send_kind(store, clock, ADAPTIVE, "audio", at=T0 + 22)  # 18 s of recording
    assert appended.burst.recorded == (T0 + 22,) and appended.burst.gaps == (2, 2)
    assert due.at == T0 + 22 + 30
    # once the burst is claimed, the item's ``recorded`` bits remember the voice note
    answer(store, clock, ADAPTIVE, 4, due.at)
    assert raw_item(store)["recorded"] == 0b1
    appended, due = send(store, clock, ADAPTIVE, text="and a text", at=T0 + 80)
    assert appended.burst.recorded == (T0 + 22,)
    assert appended.burst.gaps == (2, 2)  # the recording and the turn left out
    assert due.at == T0 + 80 + ADAPTIVE_FACTOR * 2
    _, due = send(store, clock, ADAPTIVE, text="more", at=T0 + 83)
    assert due.at == T0 + 83 + ADAPTIVE_FACTOR * 2  # median(2, 2, 3)
    answer(store, clock, ADAPTIVE, 6, due.at)
    assert raw_item(store)["recorded"] == 0b100  # shifted by the two texts claimed after it
    # a voice note that is no longer among the last RECENT_ARRIVALS_KEPT claimed messages drops out
    for i in range(RECENT_ARRIVALS_KEPT):
        send(store, clock, ADAPTIVE, text=f"x{i}", at=T0 + 200 + i)
    answer(store, clock, ADAPTIVE, 6 + RECENT_ARRIVALS_KEPT, T0 + 400)
    assert "recorded" not in raw_item(store)


def test_an_item_written_before_turns_were_kept_reads_as_before_and_gains_them(store, clock):
    """An item in the format before #19 (no ``turns``/``recorded``): every gap counts, as the rule
    did then, and its next delivery starts recording turns."""
    send(store, clock, ADAPTIVE, text="a", at=T0)
    answer(store, clock, ADAPTIVE, 1, T0 + 10)
    store._ddb.update_item(TableName=store.table_name, Key=item_key(APP, PHONE), UpdateExpression="REMOVE turns")
    appended, due = send(store, clock, ADAPTIVE, text="b", at=T0 + 20)
    assert appended.burst.turn_ends == () and appended.burst.gaps == (20,)
    assert due.at == T0 + 20 + 30  # the rule before #19: the 20 s gap counted
    answer(store, clock, ADAPTIVE, 2, due.at)
    appended, due = send(store, clock, ADAPTIVE, text="c", at=T0 + 80)
    assert appended.burst.turn_ends == (T0 + 20,) and appended.burst.gaps == (20,)
