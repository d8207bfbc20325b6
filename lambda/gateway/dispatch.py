"""process_message's logic: after the wait, claim the conversation's batch and hand it to its app."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any, Iterator

from . import aws, metrics
from .errors import AppInvocationError, NotDueYet
from .log import correlate, get_logger
from .models import LAMBDA_PAYLOAD_LIMIT_BYTES, PAYLOAD_CAP_BYTES, Batch, StoredMessage, conversation_id, encode_payload
from .scheduler import wait_timestamp
from .settings import ProcessorSettings
from .store import ConversationStore

# How soon to look again when an earlier batch of the same conversation is still being delivered.
IN_FLIGHT_RECHECK_SECONDS = 2.0
INLINE_WAKE_MARGIN_SECONDS = 0.05  # sleep just past the due moment, so the claim finds it due
# How late a Wait may end a burst, as a share of its quiet period, rather than process_message
# sleeping out the fraction of a second to the due moment (the release's bound is 1.05 x; the claim,
# load and invoke after it take the rest).
LATE_SHARE_OF_QUIET = 0.04
# Messages read from the store at a time when a batch is delivered from CHUNK items (32 KB each at most).
LOAD_WINDOW_MESSAGES = 64

logger = get_logger("process_message")


# An asynchronous (Event) invoke carries at most 256 KB, and Lambda's on-failure record, which holds
# the payload, must fit an SQS message (256 KB): an async app's bursts go out in parts of at most this.
ASYNC_PAYLOAD_CAP_BYTES = 200_000
# What process_message needs besides the bot's own time, per attempt (claim, load, mark delivered).
SYNC_INVOKE_MARGIN_SECONDS = 5.0


class NotEnoughTimeForBot(AppInvocationError):
    """process_message has less time left than the bot's budget: invoking it now could let
    process_message time out while the bot runs, and the state machine's retry would invoke the bot
    again beside it. Failing before the invoke, the retry starts with a whole timeout."""


class LambdaInvoker:
    """Hands a batch to the per-app processing Lambda: synchronously ("sync", its failure is ours and
    the state machine retries it) or as an Event ("async": Lambda queues, retries and, at the end,
    sends it to the bot's on-failure destination, the failed-batch queue)."""

    def invoke(self, function_name: str, payload: dict, *, invocation: str = "sync") -> None:
        body = encode_payload(payload)
        limit = ASYNC_PAYLOAD_CAP_BYTES if invocation == "async" else LAMBDA_PAYLOAD_LIMIT_BYTES
        if len(body) > limit:  # Batch.parts keeps every payload under the cap
            raise AppInvocationError(f"a payload of {len(body)} bytes is over Lambda's {invocation} invoke limit")
        response = aws.client("lambda").invoke(
            FunctionName=function_name,
            InvocationType="Event" if invocation == "async" else "RequestResponse",
            Payload=body,
        )
        if response.get("FunctionError"):
            detail = response["Payload"].read()[:500].decode("utf-8", "replace")
            raise AppInvocationError(f"{function_name} failed: {response['FunctionError']}: {detail}")


class Dispatcher:
    def __init__(self, settings: ProcessorSettings, *, store: ConversationStore | None = None,
                 invoker: LambdaInvoker | None = None, failed_batches: "FailedBatchQueue | None" = None,
                 clock=time.time, sleep=time.sleep):
        self.settings = settings
        self.sleep = sleep
        self.store = store or ConversationStore(settings.table_name, clock=clock,
                                                lease_seconds=settings.batch_lease_seconds)
        self.failed_batches = failed_batches or FailedBatchQueue(settings.failed_batches_queue_url)
        self.invoker = invoker or LambdaInvoker()
        self.clock = clock
        self.payload_cap_bytes = PAYLOAD_CAP_BYTES

    def handle(self, event: dict[str, Any], context: Any = None) -> dict:
        """Claim and deliver the execution's burst. A short remainder of the quiet period (up to
        ``inline_wait_seconds``) is waited out here, which costs less than another Wait state;
        a longer one raises NotDueYet, and the state machine waits until the moment it names."""
        app_id, sender, seq = str(event["app_id"]), str(event["sender"]), int(event["seq"])
        log = {"app_id": app_id, "conversation": conversation_id(app_id, sender), "seq": seq}
        correlate(logger, log["conversation"], batch_id=None)
        if event.get("park"):
            return self.park(app_id, sender, seq, event.get("error") or {}, log)
        state = {"app_id": app_id, "sender": sender, "seq": seq}
        # The same debounce rule post_message applied, now to the stored burst: the batch is claimed
        # once it is due, up to the conversation's current seq (one timer stands for the burst).
        policy = self.settings.policy_for(app_id)
        inline_until = self.clock() + self.settings.inline_wait_seconds
        while True:
            outcome = self.store.claim(app_id, sender, seq, policy=policy)
            if outcome.status == "claimed":
                if outcome.taken_over:
                    logger.warning("taking over a stale batch", extra={**log, "batch_id": outcome.batch.batch_id})
                reason = outcome.due.reason if outcome.due else ("takeover" if outcome.taken_over else "retry")
                self.deliver(outcome.batch, {**log, "due_reason": reason},
                             delivered_seq=outcome.state.delivered_seq if outcome.state else 0, context=context)
                if outcome.batch.last_seq >= seq:
                    return {**state, "action": "done"}
                continue  # an earlier batch taken over and delivered: now this execution's own burst
            if outcome.status == "not_due":
                wake_at = outcome.due.at
            elif outcome.status == "previous_in_flight":
                wake_at = self.clock() + IN_FLIGHT_RECHECK_SECONDS
            else:
                logger.info("nothing to dispatch", extra={**log, "outcome": outcome.status})
                return {**state, "action": "done"}
            if wake_at > inline_until:
                logger.debug("waiting again", extra={**log, "outcome": outcome.status,
                                                    "wait_seconds": round(wake_at - self.clock(), 3)})
                # (Not "at least a second from now": that rounded a Wait meant to end on the second
                # before the due moment up to the second after it, up to 1 s late.)
                metrics.wait_handed_back()  # Lambda counts the raise as an error; the alarm subtracts these
                raise NotDueYet(wait_timestamp(max(self._resume_at(wake_at, policy.quiet_seconds), self.clock())))
            self.sleep(max(0.0, wake_at - self.clock()) + INLINE_WAKE_MARGIN_SECONDS)

    def _resume_at(self, wake_at: float, quiet_seconds: float) -> float:
        """When the Wait state should end. Wait states count whole seconds (wait_timestamp rounds up),
        and rounding ``wake_at`` up dispatches up to a second late (10 % of a 10 s quiet period).
        When the second after ``wake_at`` is at most LATE_SHARE_OF_QUIET of the quiet period away,
        the Wait ends there (late by that much, nothing slept); otherwise, with an inline wait of a
        second or more, it ends on the whole second before ``wake_at`` and process_message sleeps
        out the fraction. With a 10 s quiet period and the due moment's fraction of a second spread
        evenly, 60 % of the bursts sleep (0.18 s on average, against 0.5 s when every burst slept
        the fraction) and the others end 0.08 s late on average, 0.4 s at most."""
        late_by = math.ceil(wake_at) - wake_at
        if self.settings.inline_wait_seconds >= 1 and late_by > LATE_SHARE_OF_QUIET * quiet_seconds:
            return float(math.floor(wake_at))
        return wake_at

    def deliver(self, batch: Batch, log: dict, *, delivered_seq: int = 0, context: Any = None) -> None:
        """Hand the claimed batch to its app: as one invoke, or, when its payload would pass the
        cap, as consecutive parts with their own batch ids, each recorded as delivered in turn (a
        retry skips the parts up to ``delivered_seq``, the store's count when the claim read it)."""
        function_name = self.settings.processing_lambdas.get(batch.app_id)
        if not function_name:
            raise AppInvocationError(f"no processing Lambda is configured for app {batch.app_id!r}")
        if batch.messages:  # read with the claim: the batch was inline on the conversation item
            full, messages = batch, batch.messages
        else:  # sealed into chunks, or a retry (the parts delivered before it are trimmed)
            start = max(batch.first_seq, delivered_seq + 1)
            full = dataclasses.replace(batch, first_seq=start, messages=[])
            messages = self._load(batch.app_id, batch.sender, start, batch.last_seq)
        invocation = self.settings.invocation_for(batch.app_id)
        cap = min(self.payload_cap_bytes, ASYNC_PAYLOAD_CAP_BYTES) if invocation == "async" else self.payload_cap_bytes
        for part in full.stream_parts(messages, cap):
            if part.last_seq <= delivered_seq:
                continue  # delivered before this retry
            waited = self.clock() - part.messages[-1].received_at_ms / 1000
            correlate(logger, log["conversation"], batch_id=part.batch_id)
            if invocation == "sync" and context is not None:
                self._check_time_for_bot(batch.app_id, context.get_remaining_time_in_millis() / 1000)
            self.invoker.invoke(function_name, part.payload(), invocation=invocation)
            self.store.mark_delivered(part, final=part.last_seq == batch.last_seq)
            metrics.batch_dispatched(len(part.messages), waited)
            logger.info(
                "batch dispatched",
                extra={**log, "batch_id": part.batch_id, "batch_size": len(part.messages),
                       "waited_seconds": round(waited, 3)},
            )

    def _check_time_for_bot(self, app_id: str, left: float) -> None:
        """``left``: seconds this invocation of process_message has left."""
        budget = self.settings.bot_timeouts.get(app_id)
        if budget is not None and left < budget + SYNC_INVOKE_MARGIN_SECONDS:
            raise NotEnoughTimeForBot(f"{left:.1f} s left, the bot of {app_id!r} may take {budget:g} s: "
                                      "process_message_timeout_seconds is too short for it")

    def _load(self, app_id: str, sender: str, first_seq: int, last_seq: int) -> Iterator[StoredMessage]:
        """The messages first_seq..last_seq in order, read LOAD_WINDOW_MESSAGES at a time (from one
        read of the conversation item, and the CHUNK items, which never change): a burst of any
        size is delivered without holding all of it."""
        state = self.store.get(app_id, sender)
        for lo in range(first_seq, last_seq + 1, LOAD_WINDOW_MESSAGES):
            yield from self.store.load_messages(app_id, sender, lo, min(lo + LOAD_WINDOW_MESSAGES - 1, last_seq),
                                                state=state)

    def park(self, app_id: str, sender: str, seq: int, error: dict, log: dict) -> dict:
        """The state machine's retries are spent: keep the undelivered batch on the failed-batch queue
        (everything a redrive needs) and let the conversation's later batches go on."""
        state = self.store.get(app_id, sender)
        result = {"app_id": app_id, "sender": sender, "seq": seq, "action": "parked"}
        claimed = state.undelivered_batch if state is not None else None
        if claimed is None:
            # Nothing was claimed: the messages are still pending and the sweeper re-arms them.
            logger.error("execution failed before claiming; left for the sweeper", extra=log)
            return {**result, "action": "left_pending"}
        if claimed.owner != seq:
            # Another execution claimed or took over that batch: it delivers or parks it (or, if it
            # died, the next claim after its lease takes the batch over and owns it).
            logger.error("execution failed; the batch in flight is another execution's", extra=log)
            return {**result, "action": "left_pending"}
        # What is left of it: the parts of a split batch up to delivered_seq went out.
        first = max(claimed.first_seq, state.delivered_seq + 1)
        batch = Batch(app_id, sender, first, claimed.last_seq, epoch=state.epoch)
        self.store.seal_through(app_id, sender, batch.last_seq)  # the texts outlive the trim, for a redrive
        self.failed_batches.put(batch, error, failed_at=self.clock())
        # Delivered to the failed-batch queue. Messages pending behind it may have had this very
        # execution as their timer: the sweeper re-arms them at its next run (recheck now).
        self.store.mark_delivered(batch, recheck_seconds=0)
        logger.error("batch parked on the failed-batch queue",
                     extra={**log, "batch_id": batch.batch_id, "error": str(error.get("Error", ""))[:100]})
        return {**result, "batch_id": batch.batch_id}


class FailedBatchQueue:
    """SQS queue of batches whose delivery failed after every retry; `util/redrive.py` replays them."""

    def __init__(self, queue_url: str):
        self.queue_url = queue_url

    def put(self, batch: Batch, error: dict, *, failed_at: float) -> None:
        body = {
            "batch_id": batch.batch_id,
            "app_id": batch.app_id,
            "sender": batch.sender,
            "first_seq": batch.first_seq,
            "last_seq": batch.last_seq,
            "epoch": batch.epoch,
            "error": str(error.get("Error", ""))[:200],
            "cause": str(error.get("Cause", ""))[:1000],
            "failed_at": int(failed_at),
        }
        aws.client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))
