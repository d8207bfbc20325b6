"""The sweeper: re-arms conversations whose timer was lost (a StartExecution that failed, an
execution that died, a batch claimed but never delivered). Runs every minute from EventBridge.

It reads only the sparse index ``pending_by_due``: a conversation is in it while it has pending
messages or an undelivered batch, by its sweep deadline (attribute ``due_at``: when the pending messages
should have been dispatched, or the undelivered batch's lease end), and leaves it when its last batch
is delivered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from . import aws
from .log import get_logger
from .models import conversation_id
from .scheduler import Scheduler
from .store import DEFAULT_LEASE_SECONDS, SWEEP_BUCKET_NAMES, ConversationState, ConversationStore, from_ddb

INDEX_NAME = "pending_by_due"

logger = get_logger("sweeper")


@dataclass(frozen=True)
class Rearm:
    seq: int  # the sequence number the new execution is started for
    reason: str


def rearm_decision(state: ConversationState, *, now: float, sweep_deadline: float, grace_seconds: float,
                   lease_seconds: float) -> Rearm | None:
    """Pure: does this conversation need a new execution, and for which sequence number?"""
    if sweep_deadline > now - grace_seconds:
        return None  # its own timer still has time
    undelivered = state.undelivered_batch
    if undelivered is not None:
        if not undelivered.lease_expired(now, lease_seconds):
            return None  # being delivered, or retried by its execution
        # Its owner is gone: the new execution's claim takes the batch over and becomes its owner,
        # so it redelivers it and, if the app keeps failing, parks it; then the pending messages.
        return Rearm(state.seq, "undelivered batch" + (" and pending messages" if state.pending else ""))
    if state.pending > 0:
        return Rearm(state.seq, "overdue pending messages")
    return None


class Sweeper:
    def __init__(self, table_name: str, state_machine_arn: str, *, grace_seconds: float = 60,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS, clock=time.time, store: ConversationStore | None = None,
                 scheduler: Scheduler | None = None):
        self.table_name = table_name
        self.grace_seconds = grace_seconds
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.store = store or ConversationStore(table_name, clock=clock, lease_seconds=lease_seconds)
        self.scheduler = scheduler or Scheduler(state_machine_arn)

    def overdue(self):
        """(app_id, sender, sweep deadline) of every conversation in the index whose deadline has passed the grace."""
        cutoff = int(self.clock() - self.grace_seconds)
        for bucket in SWEEP_BUCKET_NAMES:
            kwargs = {
                "TableName": self.table_name,
                "IndexName": INDEX_NAME,
                "KeyConditionExpression": "sweep_bucket = :b AND due_at <= :cutoff",
                "ExpressionAttributeValues": {":b": {"S": bucket}, ":cutoff": {"N": str(cutoff)}},
            }
            while True:
                page = aws.client("dynamodb").query(**kwargs)
                for raw in page.get("Items", []):
                    item = from_ddb(raw)
                    if "app_id" in item and "sender" in item:
                        yield str(item["app_id"]), str(item["sender"]), float(item["due_at"])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def sweep(self) -> dict:
        counts = {"overdue": 0, "rearmed": 0, "failed": 0}
        now = self.clock()
        for app_id, sender, sweep_deadline in self.overdue():
            counts["overdue"] += 1
            state = self.store.get(app_id, sender)  # the index is eventually consistent: re-read
            if state is None:
                continue
            decision = rearm_decision(state, now=now, sweep_deadline=sweep_deadline, grace_seconds=self.grace_seconds,
                                      lease_seconds=self.lease_seconds)
            if decision is None:
                continue
            log = {"app_id": app_id, "conversation": conversation_id(app_id, sender), "seq": decision.seq,
                   "reason": decision.reason}
            try:
                # Named per sweep: two sweeps in the same second start one execution; extra ones
                # would be harmless anyway, the claim decides.
                self.scheduler.start(app_id, sender, decision.seq, now, suffix=f"-sweep{int(now)}",
                                     epoch=state.epoch)
            except (ClientError, BotoCoreError) as exc:
                counts["failed"] += 1
                logger.error("re-arm failed", extra={**log, "error": type(exc).__name__})
                continue
            counts["rearmed"] += 1
            logger.warning("conversation re-armed", extra=log)
        logger.info("sweep done", extra=counts)
        return counts
