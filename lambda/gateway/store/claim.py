"""What a claim does, decided from the conversation as read. Pure: ConversationStore.claim reads the
item, asks decide_claim, and carries the decision out with a conditional write (reading again when
that write loses a race)."""

from __future__ import annotations

from dataclasses import dataclass

from ..debounce import DebouncePolicy, Due
from ..models import Batch
from .state import ConversationState

EARLY_TOLERANCE_MS = 50  # timers may fire a little early: a burst due this soon is claimed

# decide_claim's actions
NOTHING = "nothing"  # no conversation item
TAKE_OVER = "take_over"  # the undelivered batch's lease ran out: take it over, then deliver it
REDELIVER = "redeliver"  # the undelivered batch is the claimer's own (a retry): deliver it again
DELIVERED = "delivered"  # the claimer's sequence number was delivered
TAKEN = "taken"  # another execution claimed the claimer's sequence number and delivers it
NOT_DUE = "not_due"  # the burst is not due yet: wait until ``due.at``
PREVIOUS_IN_FLIGHT = "previous_in_flight"  # due, but an earlier batch is still being delivered
CLAIM = "claim"  # claim first_seq..last_seq (the pending messages) as one batch


@dataclass(frozen=True)
class ClaimDecision:
    action: str
    due: Due | None = None  # when the pending messages are due, and why (NOT_DUE, PREVIOUS_IN_FLIGHT, CLAIM)
    first_seq: int = 0  # CLAIM: the batch's range
    last_seq: int = 0


def decide_claim(state: ConversationState | None, expected_seq: int, *, now: float, lease_seconds: float,
                 policy: DebouncePolicy | None) -> ClaimDecision:
    """What the execution of ``expected_seq`` does with the conversation as read (``state``; None
    when there is no item) at ``now``.

    An undelivered batch comes first: once its lease ran out the claimer takes it over (its owner
    stopped without delivering or parking it), and its owner's retry delivers it again. Otherwise, as
    long as ``expected_seq`` is unclaimed, the claim takes every pending message (up to the CURRENT
    ``seq``: one timer stands for a whole burst) once the burst is due and no earlier batch is in flight.
    Whether it is due: by ``policy``'s rule applied to the stored burst (the rule post_message applied
    to its append's result); without a policy, by the stored ``fire_at_ms``."""
    if state is None:
        return ClaimDecision(NOTHING)
    undelivered = state.undelivered_batch
    if undelivered is not None:
        if undelivered.lease_expired(now, lease_seconds):
            return ClaimDecision(TAKE_OVER)
        if undelivered.owner == expected_seq:
            return ClaimDecision(REDELIVER)
    if state.delivered_seq >= expected_seq:
        return ClaimDecision(DELIVERED)
    if state.claimed_seq >= expected_seq:  # (and so in flight)
        return ClaimDecision(TAKEN)
    due = burst_due(state, policy)
    if due is not None and now * 1000 < due.at * 1000 - EARLY_TOLERANCE_MS:
        return ClaimDecision(NOT_DUE, due)
    if state.batch_in_flight:
        return ClaimDecision(PREVIOUS_IN_FLIGHT, due)
    return ClaimDecision(CLAIM, due, state.claimed_seq + 1, state.seq)


def burst_due(state: ConversationState, policy: DebouncePolicy | None) -> Due | None:
    """When the pending messages are due: ``policy``'s rule on the stored burst, or without a policy
    the stored ``fire_at_ms``; None when that says nothing (nothing pending, or no fire_at_ms)."""
    if policy is None:
        return Due(state.fire_at_ms / 1000, "quiet") if state.fire_at_ms else None
    burst = state.burst()
    return policy.due(burst) if burst else None


@dataclass(frozen=True)
class ClaimOutcome:
    """``claimed`` (deliver ``batch``),
    ``not_due`` (the timer fired before the batch is due: wait until ``due.at``),
    ``previous_in_flight`` (an earlier batch is still being delivered), ``taken`` (another
    execution flushed this sequence number and delivers it), ``delivered``, ``nothing``."""

    status: str
    batch: Batch | None = None
    state: ConversationState | None = None
    due: Due | None = None  # when the pending messages are due, and why (not for delivered/claimed-again)
    taken_over: bool = False  # ``batch`` is an earlier batch whose owner's lease ran out: now this claimer's
