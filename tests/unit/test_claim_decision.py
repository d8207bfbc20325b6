"""The claim's decision (gateway.store.claim.decide_claim), branch by branch: pure, no table."""

from __future__ import annotations

import pytest

from gateway.debounce import DebouncePolicy, Due
from gateway.store import ClaimedBatch, ConversationState
from gateway.store.claim import (CLAIM, DELIVERED, EARLY_TOLERANCE_MS, NOT_DUE, NOTHING, PREVIOUS_IN_FLIGHT, REDELIVER,
                                 TAKE_OVER, TAKEN, burst_due, decide_claim)

NOW = 1_700_000_000.0
LEASE = 900


def state(seq, claimed, delivered, *, claimed_at=NOW, claimed_by=None, fire_at=None, burst_at=None,
          recent=()) -> ConversationState:
    """A conversation: messages up to ``seq``, claimed up to ``claimed``, delivered up to ``delivered``;
    its last batch (delivered + 1..claimed) claimed at ``claimed_at`` by ``claimed_by`` (default: claimed)."""
    last_batch = None
    if claimed:
        last_batch = ClaimedBatch(first_seq=delivered + 1 if claimed > delivered else 1, last_seq=claimed,
                                  claimed_at=int(claimed_at), claimed_by=claimed_by or claimed)
    burst_ms = int(burst_at * 1000) if burst_at is not None else None
    return ConversationState(app_id="bot1", sender="5544", seq=seq, claimed_seq=claimed, delivered_seq=delivered,
                             msgs_base=delivered, msgs=[{"id": f"m{n}", "t": "x", "at": 0} for n in range(delivered, seq)],
                             last_batch=last_batch, burst_started_at_ms=burst_ms, last_at_ms=burst_ms,
                             fire_at_ms=int(fire_at * 1000) if fire_at is not None else None,
                             recent_at_ms=(burst_ms,) if burst_ms is not None else tuple(recent), epoch=1)


def decide(st, expected, *, now=NOW, policy=None):
    return decide_claim(st, expected, now=now, lease_seconds=LEASE, policy=policy)


def test_no_conversation_item_is_nothing_to_claim():
    decision = decide(None, 3)
    assert (decision.action, decision.due) == (NOTHING, None)


def test_an_undelivered_batch_whose_lease_ran_out_is_taken_over_by_any_claimer():
    stale = state(5, 3, 1, claimed_at=NOW - LEASE, claimed_by=2)
    assert decide(stale, 5).action == TAKE_OVER
    assert decide(stale, 2).action == TAKE_OVER  # its own owner, back after the lease: a takeover too
    assert decide(state(5, 3, 1, claimed_at=NOW - LEASE + 1, claimed_by=2), 5).action != TAKE_OVER


def test_the_owners_retry_redelivers_its_undelivered_batch_while_the_lease_runs():
    own = state(5, 3, 1, claimed_at=NOW - 10, claimed_by=3)
    decision = decide(own, 3)
    assert (decision.action, decision.due) == (REDELIVER, None)
    # the owner is the execution that took it over, not the one whose seq ends the batch
    taken_over = state(5, 3, 1, claimed_at=NOW - 10, claimed_by=4)
    assert decide(taken_over, 4).action == REDELIVER
    assert decide(taken_over, 3).action == TAKEN


def test_a_delivered_sequence_number_is_delivered():
    assert decide(state(4, 4, 4), 4).action == DELIVERED
    assert decide(state(6, 4, 4, fire_at=NOW - 1), 2).action == DELIVERED


def test_a_sequence_number_claimed_by_another_execution_is_taken():
    decision = decide(state(6, 4, 2, claimed_at=NOW - 10, claimed_by=4), 3)
    assert (decision.action, decision.due) == (TAKEN, None)


def test_without_a_policy_the_stored_fire_at_decides_with_a_little_tolerance():
    early = decide(state(3, 0, 0, fire_at=NOW + 1), 3)
    assert (early.action, early.due) == (NOT_DUE, Due(NOW + 1, "quiet"))
    just_early = decide(state(3, 0, 0, fire_at=NOW + (EARLY_TOLERANCE_MS - 1) / 1000), 3)
    assert just_early.action == CLAIM
    # no fire_at stored: due at once
    at_once = decide(state(3, 0, 0), 3)
    assert (at_once.action, at_once.due, at_once.first_seq, at_once.last_seq) == (CLAIM, None, 1, 3)


def test_with_a_policy_the_rule_on_the_stored_burst_decides():
    policy = DebouncePolicy(quiet_seconds=10)
    pending = state(3, 0, 0, burst_at=NOW - 4, fire_at=NOW - 100)  # fire_at is not what decides here
    decision = decide(pending, 3, policy=policy)
    assert decision.action == NOT_DUE and decision.due.at == pytest.approx(NOW - 4 + 10)
    assert decide(pending, 3, now=NOW + 6, policy=policy).action == CLAIM


def test_a_due_burst_waits_while_an_earlier_batch_is_in_flight():
    decision = decide(state(6, 4, 2, claimed_at=NOW - 10, claimed_by=4, fire_at=NOW - 1), 6)
    assert (decision.action, decision.due) == (PREVIOUS_IN_FLIGHT, Due(NOW - 1, "quiet"))


def test_a_due_burst_not_yet_due_is_not_due_even_behind_a_batch_in_flight():
    decision = decide(state(6, 4, 2, claimed_at=NOW - 10, claimed_by=4, fire_at=NOW + 5), 6)
    assert decision.action == NOT_DUE


def test_the_claim_takes_every_pending_message_up_to_the_current_seq():
    decision = decide(state(7, 3, 3, fire_at=NOW - 1), 5)  # the timer of message 5; 6 and 7 came since
    assert (decision.action, decision.first_seq, decision.last_seq) == (CLAIM, 4, 7)
    assert decision.due == Due(NOW - 1, "quiet")


def test_burst_due_is_none_when_nothing_is_pending():
    assert burst_due(state(3, 3, 3), DebouncePolicy(quiet_seconds=10)) is None
    assert burst_due(state(3, 3, 3), None) is None


def test_the_lease_is_one_test_for_claim_take_over_and_sweeper():
    batch = ClaimedBatch(first_seq=1, last_seq=2, claimed_at=int(NOW), claimed_by=2)
    assert not batch.lease_expired(NOW + LEASE - 1, LEASE)
    assert batch.lease_expired(NOW + LEASE, LEASE)
    assert batch.owner == 2
