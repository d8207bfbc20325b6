"""ConversationStore against a simple model, on moto: any interleaving of append (new ids and
retried ones), claim (with current and stale sequence numbers), delivery, crash-and-retry, takeover
of an abandoned batch and seal pressure (an inline limit a few entries long, so runs of pending
messages spill into CHUNK items; long texts in TEXT items, medium ones on their entries) keeps the
invariants:

* sequence numbers are 1, 2, 3, ... with no gap and no repeat; a retried provider id is never stored again;
* claimed batches are disjoint, contiguous ranges: a message is in at most one batch;
* a batch reads back exactly its messages, in order; a retried claim gives back the same batch_id;
* at most one batch is undelivered, and no new batch is claimed while one is;
* the undelivered batch has one owner: the claimer, or whoever took it over after its lease ran out
  (by a claim or explicitly); only the owner's claim hands it out again;
* at the end, draining the conversation (claim the latest, deliver, until nothing is pending) delivers
  every accepted message exactly once, in order, once deliveries are deduplicated by batch_id;
* what the debounce rule is told of the sender's recent messages: their arrivals (the last at least
  RECENT_ARRIVALS_KEPT, the latest message's last), those after which the sender was answered (a
  delivery with nothing pending after it, among the last RECENT_ARRIVALS_KEPT delivered), and the
  voice notes among them (pending ones by their entries, claimed ones among the last
  RECENT_ARRIVALS_KEPT claimed, if their entries were still on the item when they were claimed).

Without a debounce policy the model predicts every claim's status exactly; with one (a flush on
max_messages and on the max-wait cap), it checks the batch each claim hands out.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from moto import mock_aws

from gateway import aws
from gateway.store import (EARLY_TOLERANCE_MS, RECENT_ARRIVALS_KEPT, ConversationStore, chunk_sk, conversation_pk,
                           entry_text, from_ddb, message_size, split_text)
from gateway.store import writes
from gateway.debounce import DebouncePolicy
from gateway.models import Batch, InboundMessage
from util import local_aws

TABLE = "property-conversations"
APP = "bot1"
SENDERS = ("5544999990001", "5544999990002")
QUIET_SECONDS = 2
LEASE_SECONDS = 60
START = 1_700_000_000
# Seal pressure at a smaller scale: the inline limit is lowered from 64 KiB to 400 bytes for these runs
# (moto moves 64 KiB items slowly). A "big" text is stored in a TEXT item, its entry a ~110-byte
# reference: three fit, a fourth makes the store seal. A "medium" one stays on its entry (~290 bytes
# with its id): a second makes the store seal.
INLINE_LIMIT_FOR_TESTS = 400
BIG_TEXT_BYTES = 900
MEDIUM_TEXT_BYTES = 200


def _noise(seed: int, length: int) -> str:
    """Printable ASCII that DEFLATE barely shrinks (stored at ~80 %): two big texts fit inline, three do not."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits + string.punctuation) for _ in range(length))


def _entry_size(size: str) -> int:
    length = {"big": BIG_TEXT_BYTES, "medium": MEDIUM_TEXT_BYTES}[size]
    return message_size(InboundMessage(SENDERS[0], "100:" + _noise(100, length), "id-100"))


assert "r" in split_text(InboundMessage(SENDERS[0], "1:" + _noise(1, BIG_TEXT_BYTES), "id-1"))[0]
assert 3 * _entry_size("big") <= INLINE_LIMIT_FOR_TESTS < 4 * _entry_size("big")
assert _entry_size("medium") <= INLINE_LIMIT_FOR_TESTS < 2 * _entry_size("medium")


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class ConversationModel:
    messages: list[tuple[str, str]] = field(default_factory=list)  # (provider id, text); seq = index + 1
    ids: set[str] = field(default_factory=set)
    claimed: int = 0
    delivered: int = 0
    fire_at_ms: int | None = None
    last_batch: dict | None = None  # first, last, claimed_by, claimed_at
    batches: dict[str, tuple[int, int]] = field(default_factory=dict)  # batch_id -> range, every batch handed out
    deliveries: list[str] = field(default_factory=list)  # batch_ids, in delivery order, repeats included
    delivered_texts: dict[str, list] = field(default_factory=dict)  # batch_id -> (id, text) as first delivered
    arrivals_ms: list[int] = field(default_factory=list)  # per seq - 1
    kinds: list[str] = field(default_factory=list)  # per seq - 1
    turn_ends: set[int] = field(default_factory=set)  # seqs delivered with nothing pending after them
    inline_at_claim: set[int] = field(default_factory=set)  # seqs whose entries were on the item when claimed

    @property
    def seq(self) -> int:
        return len(self.messages)

    @property
    def in_flight(self) -> bool:
        return self.claimed > self.delivered


class StoreMachine(RuleBasedStateMachine):
    policy: DebouncePolicy | None = None

    def __init__(self):
        super().__init__()
        self._mock = mock_aws()
        self._mock.start()
        aws.reset()
        local_aws.create_table(TABLE)
        self.clock = Clock(float(START))
        self.store = ConversationStore(TABLE, clock=self.clock, lease_seconds=LEASE_SECONDS)
        self.model = {sender: ConversationModel() for sender in SENDERS}
        self.used_ids: list[str] = []
        self.numbers = iter(range(1, 10**9))
        self.touched: set[str] = set()  # conversations a rule wrote to since the invariants last looked

    # ------------------------------------------------------------------ rules

    @rule(sender=st.sampled_from(SENDERS), retry=st.sampled_from([None, None, "oldest", "own", "any"]),
          pick=st.integers(0, 10**6), size=st.sampled_from(["small", "small", "medium", "big", "big", "long-id"]),
          kind=st.sampled_from(["text", "text", "audio", "image"]))
    def append(self, sender, retry, pick, size, kind):
        """A webhook: a new provider id, or a retried one (this sender's first, another of its own, or
        any id, maybe the other sender's, which is no duplicate here)."""
        model = self.model[sender]
        self.touched.add(sender)
        number = next(self.numbers)
        own = [message_id for message_id, _ in model.messages]
        if retry == "any" and self.used_ids:
            message_id = self.used_ids[pick % len(self.used_ids)]
        elif retry in ("oldest", "own") and own:
            message_id = own[0] if retry == "oldest" else own[pick % len(own)]
        else:
            # Long ids too: every id is remembered by a digest of it.
            message_id = f"{'L' * 70 if size == 'long-id' else 'id'}-{number}"
            self.used_ids.append(message_id)
        length = {"big": BIG_TEXT_BYTES, "medium": MEDIUM_TEXT_BYTES}.get(size)
        text = f"{number}:" + (_noise(number, length) if length else "hello")
        latest_due = self.clock() + QUIET_SECONDS
        result = self.store.append(APP, InboundMessage(sender, text, message_id, timestamp=START, kind=kind),
                                   latest_due=latest_due)
        if message_id in model.ids:
            assert result.duplicate, "a retried provider id was stored again"
            assert result.seq == model.seq
            return
        assert not result.duplicate, "a new provider id was taken for a duplicate"
        model.messages.append((message_id, text))
        model.arrivals_ms.append(int(self.clock() * 1000))
        model.kinds.append(kind)
        model.ids.add(message_id)
        model.fire_at_ms = int(latest_due * 1000)
        assert result.seq == model.seq, "sequence numbers must be contiguous"

    @rule(seconds=st.sampled_from([0, 1, 1, 2, 3, 7]))
    def tick(self, seconds):
        self.clock.now += seconds

    @precondition(lambda self: any(m.messages for m in self.model.values()))
    @rule(data=st.data(), pick=st.integers(0, 10**6), latest=st.booleans(), on_time=st.booleans())
    def claim(self, data, pick, latest, on_time):
        """An execution wakes for ``expected_seq`` (the burst's first message's, or any earlier
        timer's), on time or early, and claims the whole burst once due; it may then crash before
        delivering (nothing else is done here)."""
        sender = data.draw(st.sampled_from([s for s in SENDERS if self.model[s].messages]))
        model = self.model[sender]
        expected = model.seq if latest else pick % model.seq + 1
        if on_time and model.fire_at_ms is not None:
            self.clock.now = max(self.clock.now, model.fire_at_ms / 1000)
        self._claim(sender, expected)

    @precondition(lambda self: any(m.in_flight for m in self.model.values()))
    @rule(data=st.data())
    def retry_claim(self, data):
        """The crashed execution is retried by the state machine: the same batch comes back."""
        sender = data.draw(st.sampled_from([s for s in SENDERS if self.model[s].in_flight]))
        owner = self.model[sender].last_batch["claimed_by"]
        outcome = self._claim(sender, owner)
        assert outcome.status == "claimed"

    @precondition(lambda self: any(m.batches for m in self.model.values()))
    @rule(data=st.data())
    def deliver(self, data):
        """The app's Lambda is given a batch (the one in flight, or, at least once, an earlier one again)."""
        sender = data.draw(st.sampled_from([s for s in SENDERS if self.model[s].batches]))
        model = self.model[sender]
        batch_id = data.draw(st.sampled_from(sorted(model.batches)))
        first, last = model.batches[batch_id]
        self._deliver(sender, Batch(APP, sender, first, last, epoch=self.store.get(APP, sender).epoch))

    @precondition(lambda self: any(m.in_flight for m in self.model.values()))
    @rule(data=st.data(), wait=st.booleans(), deliver=st.booleans())
    def take_over(self, data, wait, deliver):
        """The execution that claimed died for good: once its lease ran out, another one takes the
        batch and owns it (and may die too, before delivering)."""
        sender = data.draw(st.sampled_from([s for s in SENDERS if self.model[s].in_flight]))
        model = self.model[sender]
        if wait:
            self.clock.now += LEASE_SECONDS + 1
        taker = model.seq + 1000  # like a sweeper's execution: any sequence number may take over
        batch = self.store.take_over_stale_batch(self.store.get(APP, sender), owner=taker)
        if model.last_batch["claimed_at"] > self.clock() - LEASE_SECONDS:
            assert batch is None, "a batch was taken over before its lease ran out"
            return
        assert batch is not None
        assert (batch.first_seq, batch.last_seq) == (model.last_batch["first"], model.last_batch["last"])
        assert batch.batch_id in model.batches
        model.last_batch.update(claimed_by=taker, claimed_at=int(self.clock()))
        assert self.store.get(APP, sender).last_batch.claimed_by == taker
        if deliver:
            self._deliver(sender, batch)

    # ------------------------------------------------------------------ steps shared with the drain

    def _claim(self, sender: str, expected: int):
        model = self.model[sender]
        self.touched.add(sender)
        predicted = self._predict(model, expected)
        before = self.store.get(APP, sender)
        outcome = self.store.claim(APP, sender, expected, policy=self.policy)
        if predicted is not None:
            assert outcome.status == predicted, (expected, model.seq, model.claimed, model.delivered)
        if outcome.status != "claimed":
            assert outcome.batch is None
            return outcome
        batch = outcome.batch
        if model.in_flight and (outcome.taken_over or model.last_batch["claimed_by"] == expected):
            # the batch in flight again: its owner's retry, or a takeover after its lease ran out
            assert outcome.taken_over == (model.last_batch["claimed_at"] <= self.clock() - LEASE_SECONDS)
            assert (batch.first_seq, batch.last_seq) == (model.last_batch["first"], model.last_batch["last"])
            assert batch.batch_id in model.batches
            if outcome.taken_over:
                model.last_batch.update(claimed_by=expected, claimed_at=int(self.clock()))
            return outcome
        assert not model.in_flight, "a batch was claimed while the previous one was undelivered"
        assert batch.first_seq == model.claimed + 1, "a message was skipped or claimed twice"
        assert batch.last_seq == model.seq and batch.last_seq >= expected
        assert batch.batch_id not in model.batches
        model.batches[batch.batch_id] = (batch.first_seq, batch.last_seq)
        model.last_batch = {"first": batch.first_seq, "last": batch.last_seq, "claimed_by": expected,
                            "claimed_at": int(self.clock())}
        model.inline_at_claim |= {n for n in range(batch.first_seq, batch.last_seq + 1) if n > before.msgs_base}
        model.claimed = batch.last_seq
        model.fire_at_ms = None
        return outcome

    def _predict(self, model: ConversationModel, expected: int) -> str | None:
        """The claim's status as the model sees it; None where the debounce policy decides."""
        if not model.messages:
            return "nothing"
        if model.in_flight:
            if model.last_batch["claimed_at"] <= self.clock() - LEASE_SECONDS:
                return "claimed"  # taken over
            if model.last_batch["claimed_by"] == expected:
                return "claimed"
        if model.delivered >= expected:
            return "delivered"
        if model.claimed >= expected:
            return "taken"
        if self.policy is not None:
            return None
        if self.clock() * 1000 < model.fire_at_ms - EARLY_TOLERANCE_MS:
            return "not_due"
        if model.in_flight:
            return "previous_in_flight"
        return "claimed"

    def _deliver(self, sender: str, batch: Batch) -> None:
        model = self.model[sender]
        self.touched.add(sender)
        if batch.last_seq > model.delivered:  # the batch in flight: read from the store (or from the claim)
            messages = batch.messages or self.store.load_messages(APP, sender, batch.first_seq, batch.last_seq)
            assert [m.seq for m in messages] == list(range(batch.first_seq, batch.last_seq + 1))
            model.delivered_texts[batch.batch_id] = [(m.message_id, m.text) for m in messages]
        # (a delivered batch again, at least once: its texts were trimmed, the app gets its earlier copy)
        assert model.delivered_texts[batch.batch_id] == model.messages[batch.first_seq - 1:batch.last_seq]
        self.store.mark_delivered(batch)
        if batch.last_seq > model.delivered and batch.last_seq == model.seq:
            model.turn_ends.add(batch.last_seq)  # nothing pending: the sender was answered
        model.delivered = max(model.delivered, batch.last_seq)
        model.deliveries.append(batch.batch_id)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def the_store_agrees_with_the_model(self):
        for sender in sorted(self.touched):  # (the others' items have not changed since they were checked)
            model = self.model[sender]
            state = self.store.get(APP, sender)
            if not model.messages:
                assert state is None
                continue
            assert (state.seq, state.claimed_seq, state.delivered_seq) == (model.seq, model.claimed, model.delivered)
            assert state.delivered_seq <= state.claimed_seq <= state.seq
            # The pending messages are inline, after those sealed into CHUNK items.
            assert state.msgs_base + len(state.msgs) == state.seq
            assert [e["id"] for e in state.msgs] == [i for i, _ in model.messages[state.msgs_base:]]
            self._check_rhythm(model, state)
        self.touched.clear()

    def _check_rhythm(self, model: ConversationModel, state) -> None:
        arrivals, turn_ends, recorded = state.rhythm()
        assert len(arrivals) >= min(model.seq, RECENT_ARRIVALS_KEPT)
        seqs = range(model.seq - len(arrivals) + 1, model.seq + 1)
        assert list(state.recent_at_ms) == [model.arrivals_ms[n - 1] for n in seqs]

        def at(n: int) -> float:
            return model.arrivals_ms[n - 1] / 1000

        assert set(turn_ends) == {at(n) for n in seqs
                                  if n in model.turn_ends and model.delivered - n < RECENT_ARRIVALS_KEPT}
        known = {n for n in seqs if n > state.msgs_base  # the entry is on the item
                 or (n <= model.claimed and model.claimed - n < RECENT_ARRIVALS_KEPT and n in model.inline_at_claim)}
        assert set(recorded) == {at(n) for n in known if model.kinds[n - 1] == "audio"}

    @invariant()
    def batches_are_disjoint_and_contiguous(self):
        for model in self.model.values():
            ranges = sorted(model.batches.values())
            expected_first = 1
            for first, last in ranges:
                assert first == expected_first and last >= first
                expected_first = last + 1
            assert expected_first - 1 == model.claimed

    # ------------------------------------------------------------------ the end

    def teardown(self):
        try:
            for sender in SENDERS:
                self._drain(sender)
                self._check_delivered_once_in_order(sender)
                self._check_stored_once(sender)
        finally:
            self._mock.stop()
            aws.reset()

    def _drain(self, sender: str) -> None:
        model = self.model[sender]
        for _ in range(4):
            if model.in_flight:
                self.clock.now += LEASE_SECONDS + 1
                outcome = self._claim(sender, model.seq)  # takes the stale batch over
                assert outcome.status == "claimed" and outcome.taken_over
                assert outcome.batch.batch_id in model.batches
                self._deliver(sender, outcome.batch)
            elif model.claimed < model.seq:
                self.clock.now += 3600  # past any quiet period and cap
                outcome = self._claim(sender, model.seq)
                assert outcome.status == "claimed"
                self._deliver(sender, outcome.batch)
            else:
                break
        state = self.store.get(APP, sender)
        if model.messages:
            assert state.seq == state.claimed_seq == state.delivered_seq == model.seq, "messages left pending"

    def _check_delivered_once_in_order(self, sender: str) -> None:
        model = self.model[sender]
        delivered: list[tuple[str, str]] = []
        for batch_id in dict.fromkeys(model.deliveries):  # a downstream deduplicates by batch_id
            delivered += model.delivered_texts[batch_id]
        assert delivered == model.messages
        ids = [message_id for message_id, _ in delivered]
        assert len(ids) == len(set(ids)), "a provider id was delivered twice"

    def _check_stored_once(self, sender: str) -> None:
        """Sealed messages are in one CHUNK item each, none copied; delivered texts leave the item."""
        import boto3

        pages = boto3.client("dynamodb", region_name="us-east-1").get_paginator("query").paginate(
            TableName=TABLE, KeyConditionExpression="pk = :pk AND begins_with(sk, :chunk)",
            ExpressionAttributeValues={":pk": {"S": conversation_pk(APP, sender)}, ":chunk": {"S": "CHUNK#"}})
        chunks = sorted((from_ddb(i) for page in pages for i in page["Items"]), key=lambda c: int(c["first_seq"]))
        seqs = []
        for chunk in chunks:
            assert chunk["sk"] == chunk_sk(int(chunk["first_seq"]))
            first = int(chunk["first_seq"])
            texts = self.store.read_texts(APP, sender, [e["r"] for e in chunk["messages"] if "r" in e])
            assert [(e["id"], entry_text(e, texts)) for e in chunk["messages"]] == self.model[sender].messages[first - 1:first - 1 + len(chunk["messages"])]
            seqs += range(first, first + len(chunk["messages"]))
            assert seqs[-1] == int(chunk["last_seq"])
        assert seqs == sorted(set(seqs)), "a message was copied into two chunks"
        state = self.store.get(APP, sender)
        if state is not None:  # delivered texts are trimmed from the conversation item
            assert state.msgs == [] and state.msgs_base == state.seq


class FlushingStoreMachine(StoreMachine):
    """The same, with the debounce rule deciding when a claim is due: a burst of three messages, or
    one older than the cap, is flushed even by an execution whose sequence number was superseded."""

    policy = DebouncePolicy(quiet_seconds=QUIET_SECONDS, max_wait_seconds=5, max_messages=3)


SETTINGS = settings(max_examples=25, stateful_step_count=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(autouse=True)
def small_inline_limit(monkeypatch):
    monkeypatch.setattr(writes, "INLINE_LIMIT_BYTES", INLINE_LIMIT_FOR_TESTS)


@pytest.mark.slow
def test_the_store_keeps_its_invariants_under_any_interleaving():
    run_state_machine_as_test(StoreMachine, settings=SETTINGS)


@pytest.mark.slow
def test_the_store_keeps_its_invariants_when_the_debounce_rule_flushes():
    run_state_machine_as_test(FlushingStoreMachine, settings=settings(SETTINGS, max_examples=15))
