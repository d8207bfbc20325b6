"""process_message's logic: after the wait, claim the conversation's batch and hand it to its app."""

from __future__ import annotations

import json
import time
from typing import Any

from . import aws
from .conversations import ConversationStore
from .errors import AppInvocationError
from .log import get_logger
from .models import Batch, conversation_id
from .scheduler import wait_timestamp
from .settings import ProcessorSettings

# How soon to look again when an earlier batch of the same conversation is still being delivered.
IN_FLIGHT_RECHECK_SECONDS = 2.0

logger = get_logger("process_message")


class LambdaInvoker:
    """Hands a batch to the per-app processing Lambda, synchronously, so its failure is ours."""

    def invoke(self, function_name: str, payload: dict) -> None:
        response = aws.client("lambda").invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        if response.get("FunctionError"):
            detail = response["Payload"].read()[:500].decode("utf-8", "replace")
            raise AppInvocationError(f"{function_name} failed: {response['FunctionError']}: {detail}")


class Dispatcher:
    def __init__(self, settings: ProcessorSettings, *, store: ConversationStore | None = None,
                 invoker: LambdaInvoker | None = None, clock=time.time):
        self.settings = settings
        self.store = store or ConversationStore(settings.table_name, clock=clock)
        self.invoker = invoker or LambdaInvoker()
        self.clock = clock

    def handle(self, event: dict[str, Any]) -> dict:
        """The state machine's next state: ``action`` "done", or "wait" until ``wait_until``."""
        app_id, sender, seq = str(event["app_id"]), str(event["sender"]), int(event["seq"])
        log = {"app_id": app_id, "conversation": conversation_id(app_id, sender), "seq": seq}
        state = {"app_id": app_id, "sender": sender, "seq": seq, "wait_until": event.get("wait_until")}
        # The same debounce rule post_message applied, now to the stored state: a batch is claimed
        # only once it is due, and a flush (the max-wait cap, a size limit) claims up to the
        # conversation's current seq.
        policy = self.settings.policy_for(app_id)
        for _ in range(3):
            outcome = self.store.claim(app_id, sender, seq, policy=policy)
            if outcome.status == "claimed":
                reason = outcome.due.reason if outcome.due else "retry"
                self.deliver(outcome.batch, {**log, "due_reason": reason})
                return {**state, "action": "done"}
            if outcome.status == "not_due":
                fire_at = outcome.due.at
                return {**state, "action": "wait", "wait_until": wait_timestamp(max(fire_at, self.clock() + 1))}
            if outcome.status != "previous_in_flight":
                logger.info("nothing to dispatch", extra={**log, "outcome": outcome.status})
                return {**state, "action": "done"}
            stale = self.store.take_over_stale_batch(outcome.state, self.settings.batch_lease_seconds)
            if stale is None:
                logger.info("earlier batch still in flight; waiting", extra=log)
                return {**state, "action": "wait", "wait_until": wait_timestamp(self.clock() + IN_FLIGHT_RECHECK_SECONDS)}
            logger.warning("taking over a stale batch", extra={**log, "batch_id": stale.batch_id})
            self.deliver(stale, log)
        return {**state, "action": "wait", "wait_until": wait_timestamp(self.clock() + IN_FLIGHT_RECHECK_SECONDS)}

    def deliver(self, batch: Batch, log: dict) -> None:
        messages = self.store.load_messages(batch.app_id, batch.sender, batch.first_seq, batch.last_seq)
        full = Batch(batch.app_id, batch.sender, batch.first_seq, batch.last_seq, messages)
        function_name = self.settings.processing_lambdas.get(batch.app_id)
        if not function_name:
            raise AppInvocationError(f"no processing Lambda is configured for app {batch.app_id!r}")
        waited = self.clock() - messages[-1].received_at_ms / 1000
        self.invoker.invoke(function_name, full.payload())
        self.store.mark_delivered(batch)
        logger.info(
            "batch dispatched",
            extra={**log, "batch_id": batch.batch_id, "batch_size": len(messages),
                   "waited_seconds": round(waited, 3)},
        )
