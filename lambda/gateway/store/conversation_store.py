"""ConversationStore: the store's reads (batches.py), its conditional writes (writes.py), and the claim,
which carries out decide_claim's decision (claim.py)."""

from __future__ import annotations

from ..debounce import DebouncePolicy
from ..models import Batch
from .claim import CLAIM, NOTHING, REDELIVER, TAKE_OVER, ClaimOutcome, decide_claim
from .state import ConversationState
from .writes import LOST, ConversationWrites, retry_lost_races


class ConversationStore(ConversationWrites):
    """A table's conversations (the invariants: gateway/store/__init__.py)."""

    def claim(self, app_id: str, sender: str, expected_seq: int, *,
              policy: DebouncePolicy | None = None) -> ClaimOutcome:
        """Claim the burst ``expected_seq`` belongs to, once it is due, as one batch (decide_claim).

        The claim is a write conditional on the ``seq`` read, so a message that lands between the read
        and the write makes it read again, and a sequence number is in exactly one batch.

        An undelivered batch whose lease ran out is taken over by this claim (``taken_over``): it is
        handed out again, owned by ``expected_seq`` from now on.
        """

        def attempt():
            item = self.read_item(app_id, sender)
            state = ConversationState.from_item(item) if item else None
            decision = decide_claim(state, expected_seq, now=self.clock(), lease_seconds=self.lease_seconds,
                                    policy=policy)
            if decision.action == NOTHING:
                return ClaimOutcome(NOTHING)
            if decision.action == TAKE_OVER:
                # Its owner stopped without delivering it (or parking it): this execution takes it
                # over and owns it from now on (a retry redelivers it, a failure parks it).
                batch = self.take_over_stale_batch(state, owner=expected_seq)
                if batch is None:
                    return LOST  # another execution took it over or delivered it first: look again
                return ClaimOutcome("claimed", batch=batch, state=state, taken_over=True)
            if decision.action == REDELIVER:
                # Claimed by this execution's earlier attempt (or taken over by it): deliver it again.
                claimed = state.last_batch
                return ClaimOutcome("claimed", batch=self._batch_on_item(state, claimed.first_seq, claimed.last_seq),
                                    state=state)
            if decision.action == CLAIM:
                first, last = decision.first_seq, decision.last_seq
                if not self._commit_claim(app_id, sender, state, item, first, last, claimed_by=expected_seq):
                    return LOST  # a message (or another claimer) came between the read and the write
                return ClaimOutcome("claimed", batch=Batch(app_id, sender, first, last,
                                                           self._messages_on_item(state, first, last),
                                                           epoch=state.epoch),
                                    state=state, due=decision.due)
            # delivered, taken, not_due, previous_in_flight: the status is the decision
            return ClaimOutcome(decision.action, state=state, due=decision.due)

        return retry_lost_races(attempt, "claim kept losing races; the state machine will retry")
