"""The store's conditional writes: append, seal, commit a claim, take over a stale batch, mark a batch
delivered. Each is conditional on what its writer read, so a writer that loses a race to another
re-reads and tries again (retry_lost_races); none reads and then writes unconditionally."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from botocore.exceptions import ClientError

from ..models import AppendResult, Batch, InboundMessage
from .batches import BatchReads
from .codec import (RETENTION_SECONDS, RHYTHM_BITS, TEXT_RETENTION_SECONDS, chunk_item, entry_details, entry_size,
                    from_ddb, kept_arrivals, new_entry, split_text, text_item, to_ddb)
from .keys import sweep_bucket
from .remembered_ids import CURRENT, PREVIOUS, id_digest, remembers, rotation, rotation_due, too_many
from .state import ClaimedBatch, ConversationState

# Pending texts kept on the conversation item before they are sealed into a CHUNK item. Small
# enough that an append's returned attributes stay cheap, far below DynamoDB's 400 KB item limit.
INLINE_LIMIT_BYTES = 64 * 1024
# ... and at most this many of them: each append rewrites (and returns) the whole item, so a long
# burst of short (or well-compressed) texts is sealed every 64 messages instead of growing to ~700.
INLINE_LIMIT_MESSAGES = 64
PENDING_RECHECK_SECONDS = 60  # sweep deadline of a burst still pending when the batch before it is delivered
RACE_ATTEMPTS = 20  # reads and conditional writes a writer makes before it gives up (RuntimeError)

T = TypeVar("T")
LOST = object()  # what an attempt of retry_lost_races returns when its conditional write lost a race


def retry_lost_races(attempt: Callable[[], Any], gave_up: str) -> Any:
    """``attempt()`` (a read, and a conditional write on what it read) again while it returns LOST,
    at most RACE_ATTEMPTS times; then RuntimeError(gave_up): the caller's retry takes it from there."""
    for _ in range(RACE_ATTEMPTS):
        result = attempt()
        if result is not LOST:
            return result
    raise RuntimeError(gave_up)


def conditional(write: Callable[[], T]) -> T | None:
    """``write()``, a conditional write: its response, or None when its condition failed (another
    writer changed the item since it was read). Any other failure is raised."""
    try:
        return write()
    except ClientError as exc:
        if race_lost(exc):
            return None
        raise


def race_lost(exc: ClientError) -> bool:
    """A conditional check failed, in a write or in every failing part of a transaction."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        # Only a lost race is retried here; throttling or validation inside a transaction is not.
        if reasons:
            return all(r.get("Code") in ("None", "ConditionalCheckFailed", None) for r in reasons)
        return "ConditionalCheckFailed" in str(exc)
    return False


APPEND_UPDATE = (
    "SET seq = if_not_exists(seq, :zero) + :one,"
    " claimed_seq = if_not_exists(claimed_seq, :zero),"
    " delivered_seq = if_not_exists(delivered_seq, :zero),"
    " msgs_base = if_not_exists(msgs_base, :zero),"
    " msgs = list_append(if_not_exists(msgs, :empty), :entry),"
    " msgs_bytes = if_not_exists(msgs_bytes, :zero) + :size,"
    " burst_started_at = if_not_exists(burst_started_at, :now_ms),"
    " burst_bytes = if_not_exists(burst_bytes, :zero) + :text_bytes,"
    " recent_at = list_append(if_not_exists(recent_at, :empty), :arrival),"
    " last_at = :now_ms, app_id = :app_id, sender = :sender,"
    " fire_at_ms = :fire_at_ms, expires_at = :expires_at,"
    # Set once per burst: the index entry does not move with every message.
    " due_at = if_not_exists(due_at, :due_at), sweep_bucket = if_not_exists(sweep_bucket, :bucket),"
    " ids_rotated_at = if_not_exists(ids_rotated_at, :now_s),"
    # The conversation's life: set when the item is created (again, after a TTL expiry).
    " epoch = if_not_exists(epoch, :now_ms)"
    f" ADD {CURRENT} :digests"
)
# Room for the entry (else the append seals the item first), and the message id not remembered.
APPEND_CONDITION = (
    "(attribute_not_exists(msgs_bytes) OR msgs_bytes <= :room)"
    " AND (attribute_not_exists(msgs) OR size(msgs) < :max_inline)"
    f" AND NOT contains({CURRENT}, :digest) AND NOT contains({PREVIOUS}, :digest)"
)


class ConversationWrites(BatchReads):
    def append(self, app_id: str, message: InboundMessage, *, latest_due: float) -> AppendResult:
        """Store one message and advance the conversation's sequence, atomically: ONE conditional
        UpdateItem appends it to ``msgs`` (no read-modify-write); its sequence number is
        ``msgs_base + its index + 1``. ``latest_due`` (epoch seconds) is the latest moment the burst
        can be due (the policy's latest_due): the claim's due moment without a policy
        (``fire_at_ms``), and, set by the burst's first message, its sweep deadline (``due_at``, 1 s
        later).

        Returns the new sequence number, or ``duplicate=True`` when this provider message id was
        already stored for this conversation (nothing is written then). An item without room for the
        message is sealed (its inline messages moved to a CHUNK item) before the append is tried again.
        """
        text, packed = split_text(message)  # compressed once, for the size and the entry
        if packed is not None:
            # Before the append that refers to it: a reader never finds a reference without its text.
            # An append that fails (or a duplicate) leaves the item to its TTL.
            self._ddb.put_item(TableName=self.table_name, Item=to_ddb(text_item(
                app_id, message.sender, text["r"], packed, int(self.clock()) + TEXT_RETENTION_SECONDS)))
        size = entry_size(text | {"id": message.message_id} | entry_details(message))

        def attempt():
            now = self.clock()
            values = {
                ":zero": 0,
                ":one": 1,
                ":empty": [],
                ":entry": [new_entry(message, now, text)],
                ":size": size,
                ":text_bytes": len(message.text.encode()),
                ":arrival": [int(now * 1000)],
                ":room": INLINE_LIMIT_BYTES - size,
                ":max_inline": INLINE_LIMIT_MESSAGES,
                ":now_ms": int(now * 1000),
                ":now_s": int(now),
                ":app_id": app_id,
                ":sender": message.sender,
                ":fire_at_ms": int(latest_due * 1000),
                ":due_at": int(latest_due) + 1,
                ":bucket": sweep_bucket(int(latest_due)),  # (the second before the deadline: any spread does)
                ":expires_at": int(now) + RETENTION_SECONDS,
                ":digests": {id_digest(message.message_id)},
                ":digest": id_digest(message.message_id),
            }
            response = conditional(lambda: self._ddb.update_item(
                TableName=self.table_name,
                Key=self._key(app_id, message.sender),
                UpdateExpression=APPEND_UPDATE,
                ConditionExpression=APPEND_CONDITION,
                ExpressionAttributeValues=to_ddb(values),
                # ALL_NEW, not UPDATED_NEW: an attribute the write left unchanged (claimed_seq,
                # burst_started_at) is missing from UPDATED_NEW, and the rule needs it.
                ReturnValues="ALL_NEW",
            ))
            if response is None:
                item = self.read_item(app_id, message.sender)
                if remembers(item, message.message_id):
                    return AppendResult(seq=int(item.get("seq", 0)), duplicate=True)
                self._seal(app_id, message.sender, item)
                return LOST
            # The item after this write: the same burst the dispatcher will derive from its read
            # of the item, as long as no newer message arrives.
            new = ConversationState.from_item(from_ddb(response["Attributes"]))
            started = new.burst_started_at_ms
            in_burst = [t for t in new.recent_at_ms if t >= started]
            return AppendResult(
                seq=new.seq,
                duplicate=False,
                epoch=new.epoch,
                burst_started_at_ms=started,
                gaps_ms=tuple(b - a for a, b in zip(in_burst, in_burst[1:])),
                burst=new.burst(),
            )

        return retry_lost_races(attempt, "append kept losing races to seal the conversation; giving up")

    def _seal(self, app_id: str, sender: str, item: dict) -> None:
        """Move the inline messages into a CHUNK item, iff nothing changed since ``item`` was read."""
        msgs = item.get("msgs") or []
        if not msgs:
            return  # another writer sealed or claimed already; just retry the append
        seq = int(item["seq"])
        first = int(item.get("msgs_base", 0)) + 1
        removes, sets = ["msgs"], ["msgs_bytes = :zero", "msgs_base = :seq", "recent_at = :recent"]
        values = {":zero": 0, ":seq": seq, ":recent": kept_arrivals(item)}
        if too_many(item):
            # A long burst: rotate the remembered ids here too, so the item stays small. The
            # condition on seq guarantees the sets are still the ones read in ``item``.
            rotate_removes, rotate_sets, rotated = rotation(item)
            removes += rotate_removes
            sets += rotate_sets
            values.update(rotated)
        conditional(lambda: self._ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_ddb(chunk_item(app_id, sender, first, seq, msgs,
                                                  int(self.clock()) + RETENTION_SECONDS)),
                        "ConditionExpression": "attribute_not_exists(sk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": self._key(app_id, sender),
                        "UpdateExpression": f"REMOVE {', '.join(removes)} SET {', '.join(sets)}",
                        "ConditionExpression": "seq = :seq",
                        "ExpressionAttributeValues": to_ddb(values),
                    }
                },
            ]
        ))

    def _commit_claim(self, app_id: str, sender: str, state: ConversationState, item: dict, first: int, last: int,
                      *, claimed_by: int) -> bool:
        """Claim first..last (the pending messages) as the batch ``claimed_by`` owns: a write
        conditional on ``seq`` and ``claimed_seq`` as read. False when it lost that race."""
        now = self.clock()
        values = {
            ":last": last,
            ":claimed": state.claimed_seq,
            ":batch": ClaimedBatch(first, last, int(now), claimed_by).as_item(),
            ":recent": kept_arrivals(item),
        }
        # The texts stay on the item: the claimer delivers them from its read, and the delivery
        # trims them (mark_delivered). Nothing is copied, and the sweep index entry (the sweep
        # deadline: the burst's max-wait cap) is left alone: the sweeper judges an undelivered batch
        # by its lease.
        removes = ["burst_started_at", "burst_bytes", "fire_at_ms"]
        sets = "claimed_seq = :last, last_batch = :batch, recent_at = :recent"
        # (the condition on claimed_seq below guarantees the bits read are the ones shifted)
        recorded = state.recorded_after_claim(last)
        if recorded:
            sets += ", recorded = :recorded"
            values[":recorded"] = recorded
        elif state.recorded:
            removes.append("recorded")
        if rotation_due(item, now):
            # Ids older than the window move to the previous set and drop out one rotation later.
            # The condition on seq below guarantees the sets are still the ones read in ``item``.
            rotate_removes, rotate_sets, rotated = rotation(item)
            removes += rotate_removes
            sets += "".join(", " + clause for clause in [*rotate_sets, "ids_rotated_at = :now_s"])
            values.update(rotated)
            values[":now_s"] = int(now)
        return conditional(lambda: self._ddb.update_item(
            TableName=self.table_name,
            Key=self._key(app_id, sender),
            UpdateExpression=f"REMOVE {', '.join(removes)} SET {sets}",
            ConditionExpression="seq = :last AND claimed_seq = :claimed",
            ExpressionAttributeValues=to_ddb(values),
        )) is not None

    def take_over_stale_batch(self, state: ConversationState, *, owner: int) -> Batch | None:
        """The undelivered batch of an execution that stopped without delivering it, once its lease
        (``lease_seconds``) ran out: ``owner`` (the taker's sequence number) becomes its owner, with a
        new lease (and the sweep deadline at its end), by a write conditional on the state read; None
        while the lease runs, or when another taker won."""
        stale = state.undelivered_batch
        if stale is None:
            return None
        now = self.clock()
        if not stale.lease_expired(now, self.lease_seconds):
            return None
        deliver_by = int(now + self.lease_seconds)
        written = conditional(lambda: self._ddb.update_item(
            TableName=self.table_name,
            Key=self._key(state.app_id, state.sender),
            UpdateExpression=("SET last_batch.claimed_by = :owner, last_batch.claimed_at = :now,"
                              " due_at = :deliver_by, sweep_bucket = :bucket"),
            ConditionExpression=("claimed_seq = :claimed AND delivered_seq = :delivered"
                                 " AND last_batch.claimed_at = :old_at"),
            ExpressionAttributeValues=to_ddb({
                ":owner": owner, ":now": int(now), ":deliver_by": deliver_by,
                ":bucket": sweep_bucket(deliver_by), ":claimed": state.claimed_seq,
                ":delivered": state.delivered_seq, ":old_at": stale.claimed_at,
            }),
        ))
        if written is None:
            return None
        return self._batch_on_item(state, stale.first_seq, stale.last_seq)

    def mark_delivered(self, batch: Batch, *, recheck_seconds: float = PENDING_RECHECK_SECONDS,
                       final: bool = True) -> None:
        """Record the batch as delivered and trim its texts from the item (the next appends rewrite
        only what is pending). With nothing pending the conversation leaves the sweep index; with
        messages pending, the sweeper looks at them ``recheck_seconds`` from now (plus its grace).
        ``final=False``: a part of a split batch, not its last (the sweep index is left alone)."""

        def attempt():
            item = self.read_item(batch.app_id, batch.sender)
            if not item or int(item.get("delivered_seq", 0)) >= batch.last_seq:
                return None  # already marked by a concurrent delivery of the same batch: fine
            base, msgs = int(item.get("msgs_base", 0)), list(item.get("msgs") or [])
            trim = max(0, min(batch.last_seq - base, len(msgs)))  # delivered texts still inline
            removes, sets = [], ["delivered_seq = :last"]
            delivered = int(item.get("delivered_seq", 0))
            values: dict[str, Any] = {":last": batch.last_seq, ":base": base, ":delivered": delivered}
            # ``turns`` follows delivered_seq; the last batch delivered with nothing pending after it
            # ends a turn: the sender's next message comes after the answer (the condition on
            # delivered_seq below guarantees the bits read are the ones shifted).
            old_turns = int(item.get("turns", 0))
            turns = (old_turns << (batch.last_seq - delivered)) & RHYTHM_BITS
            if final and int(item["seq"]) == batch.last_seq:
                turns |= 1
            if turns:
                sets.append("turns = :turns")
                values[":turns"] = turns
            elif old_turns:
                removes.append("turns")
            if trim:
                removes.append("msgs" if trim == len(msgs) else ", ".join(f"msgs[{i}]" for i in range(trim)))
                # Relative, not the count read: an append between the read and this write adds its own
                # size (msgs_base = :base guarantees the trimmed entries are the ones read).
                sets += ["msgs_base = :new_base", "msgs_bytes = msgs_bytes - :trimmed"]
                values[":new_base"] = base + trim
                values[":trimmed"] = sum(entry_size(e) for e in msgs[:trim])
            condition = "delivered_seq = :delivered AND msgs_base = :base"
            if final and int(item["seq"]) == batch.last_seq:
                removes += ["due_at", "sweep_bucket"]  # nothing pending: out of the sweep index
                condition += " AND seq = :last"
            elif final:
                # Newer messages are pending: a near sweep deadline, so a lost timer of theirs is found soon.
                recheck = int(self.clock() + recheck_seconds)
                sets += ["due_at = :soon", "sweep_bucket = :bucket"]
                values.update({":soon": recheck, ":bucket": sweep_bucket(recheck)})
            update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
            written = conditional(lambda: self._ddb.update_item(
                TableName=self.table_name, Key=self._key(batch.app_id, batch.sender),
                UpdateExpression=update, ConditionExpression=condition,
                ExpressionAttributeValues=to_ddb(values)))
            return LOST if written is None else None

        retry_lost_races(attempt, "marking the batch delivered kept losing races; the state machine will retry")

    def seal_through(self, app_id: str, sender: str, last_seq: int) -> None:
        """Move the inline messages up to ``last_seq`` (and those after them) into CHUNK items, so
        they outlive the trim (a parked batch, replayed later by util/redrive.py)."""

        def attempt():
            item = self.read_item(app_id, sender)
            if not item or int(item.get("msgs_base", 0)) >= last_seq or not item.get("msgs"):
                return None
            self._seal(app_id, sender, item)
            return LOST  # read again: sealed, or lost to another writer

        retry_lost_races(attempt, "sealing kept losing races; the state machine will retry")
