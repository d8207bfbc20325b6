from gateway.store import ClaimedBatch, ConversationState
from gateway.sweeper import rearm_decision

NOW = 1_700_000_000


def state(seq, claimed, delivered, claimed_at=None, claimed_by=None):
    last_batch = None
    if claimed:
        last_batch = ClaimedBatch(first_seq=delivered + 1, last_seq=claimed, claimed_at=claimed_at or NOW,
                                  claimed_by=claimed_by or claimed)
    return ConversationState(app_id="a", sender="s", seq=seq, claimed_seq=claimed, delivered_seq=delivered,
                             msgs_base=claimed, msgs=[], last_batch=last_batch, burst_started_at_ms=None,
                             last_at_ms=None, fire_at_ms=None)


def decide(st, sweep_deadline, grace=60, lease=900):
    return rearm_decision(st, now=NOW, sweep_deadline=sweep_deadline, grace_seconds=grace, lease_seconds=lease)


def test_pending_messages_whose_timer_is_overdue_are_rearmed_for_the_latest_seq():
    assert decide(state(5, 2, 2), sweep_deadline=NOW - 61).seq == 5


def test_a_timer_within_its_grace_is_left_alone():
    assert decide(state(5, 2, 2), sweep_deadline=NOW - 59) is None


def test_an_undelivered_batch_is_left_to_its_execution_until_the_lease_runs_out():
    assert decide(state(4, 4, 2, claimed_at=NOW - 100), sweep_deadline=NOW - 61) is None
    rearm = decide(state(4, 4, 2, claimed_at=NOW - 901, claimed_by=3), sweep_deadline=NOW - 61)
    assert rearm.seq == 4  # its claim takes the batch over and owns it (the owner, 3, is gone)


def test_an_undelivered_batch_with_newer_pending_messages_is_rearmed_for_the_latest_seq():
    assert decide(state(6, 4, 2, claimed_at=NOW - 901), sweep_deadline=NOW - 61).seq == 6


def test_a_delivered_conversation_needs_nothing():
    assert decide(state(4, 4, 4), sweep_deadline=NOW - 1000) is None
