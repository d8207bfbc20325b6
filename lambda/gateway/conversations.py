"""DynamoDB adapter: the conversation store. Race-free by construction.

One item per conversation (sk = "META") holds the sequence counters and the pending messages
inline (attribute ``msgs``); full runs of pending messages are sealed into CHUNK items. A text of
COMPRESS_MIN_BYTES or more is stored DEFLATE-compressed (``z``) when that saves a tenth: every append,
the claim and the delivery rewrite the item, and DynamoDB bills each write per KB of it. A text still
TEXT_ITEM_MIN_BYTES or more after that gets a TEXT item of its own, written once, before the append
that refers to it (``r``), and never changed: the conversation item stays under 1 KB in a burst of
long texts, so its five writes per burst cost 1 WRU each. The invariants:

* ``append`` is ONE conditional UpdateItem: it advances ``seq`` and appends the message to ``msgs``
  atomically (no read-modify-write). The message's sequence number is ``msgs_base + its index + 1``.
  The same provider message id is refused atomically by the same write (``idh_cur``/``idh_prev``:
  8-byte digests of the ids, so the sets that ride on every write stay small whatever the
  provider's id length).
* ``claim(expected_seq)`` succeeds only while ``seq == expected_seq`` (a conditional write): a
  message that arrives first makes the claim fail and lands in the next batch; a message that
  arrives after it advances ``seq`` past the claimed range. A sequence number is in exactly one
  claimed range ``(claimed_seq_before, expected_seq]``, so in exactly one batch.
* At most one claimed batch is undelivered (``claimed_seq > delivered_seq``); the next claim waits
  for it, which keeps batches of one conversation in order.
* The undelivered batch has an owner (``last_batch.claimed_by``): the execution that claimed it, or
  the one that took it over once its lease ran out (a conditional write records the new owner).
  Only the owner redelivers it on a retry, and only the owner parks it when its retries are spent.
* ``batch_id`` is derived from the claimed range, so a retried delivery carries the same id.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from . import aws
from .debounce import RECORDED_KINDS, RHYTHM_WINDOW, Burst, DebouncePolicy, Due
from .models import AppendResult, Author, Batch, InboundMessage, StoredMessage

META = "META"
CHUNK_PREFIX = "CHUNK#"
# Pending texts kept on the conversation item before they are sealed into a CHUNK item. Small
# enough that an append's returned attributes stay cheap, far below DynamoDB's 400 KB item limit.
INLINE_LIMIT_BYTES = 64 * 1024
# ... and at most this many of them: each append rewrites (and returns) the whole item, so a long
# burst of short (or well-compressed) texts is sealed every 64 messages instead of growing to ~700.
INLINE_LIMIT_MESSAGES = 64
MAX_TEXT_BYTES = 32 * 1024  # a single message; enforced by the webhook before it reaches the store
MESSAGE_OVERHEAD_BYTES = 64
# Texts from this size up are stored DEFLATE-compressed (attribute ``z``) when that saves at least a
# tenth: a write is billed per KB of the item it rewrites, and a burst's appends rewrite its texts.
# Shorter texts (the typical chat line) are stored as they are (``t``).
COMPRESS_MIN_BYTES = 128
# A text whose stored form (compressed or not) is this long or longer is written to a TEXT item of its
# own (1 WRU per KB, once) instead of riding on every later write of the conversation item in its burst.
TEXT_ITEM_MIN_BYTES = 256
TEXT_PREFIX = "TEXT#"
DEDUP_WINDOW_SECONDS = 24 * 3600  # provider ids are remembered for 24 to 48 hours,
DEDUP_MAX_IDS = 256  # or for the last 256 to 512 messages of a conversation, if fewer: the set rides on every append
DEDUP_KEY_MAX = 64
ID_DIGEST_BYTES = 8  # a new message taken for a remembered one: ~512 / 2**64 per append
# The remembered-id sets, (current, previous): digests in binary sets, and the provider ids as strings
# that items written before the digests still hold (checked, and rotated out by the next two rotations).
ID_SETS = (("idh_cur", "idh_prev"), ("ids_cur", "ids_prev"))
SWEEP_BUCKETS = 16
PENDING_RECHECK_SECONDS = 60  # due_at of a burst still pending when the batch before it is delivered
# Arrival times (ms) the conversation keeps in ``recent_at`` for the adaptive debounce rule: appended
# by every append, cut back to this many by every claim and seal. The last of them is message ``seq``'s,
# the one before it ``seq - 1``'s, and so on. What the rule needs to know of those messages rides on
# the item as two small bit sets (numbers under 2 ** RECENT_ARRIVALS_KEPT, absent while 0), each
# written by one writer that rewrites the item anyway:
# ``turns``, bit k: the sender was answered after message ``delivered_seq - k`` (its batch was
#   delivered while nothing was pending after it), so the gap after it is no typing gap; set by
#   mark_delivered;
# ``recorded``, bit k: message ``claimed_seq - k`` was recorded (a voice note, RECORDED_KINDS), the
#   gap before it no typing gap; set by the claim (the pending messages' kinds are on their entries).
RECENT_ARRIVALS_KEPT = RHYTHM_WINDOW + 1
RHYTHM_BITS = (1 << RECENT_ARRIVALS_KEPT) - 1
EARLY_TOLERANCE_MS = 50
RETENTION_SECONDS = 30 * 24 * 3600  # chunks and idle conversations expire (TTL) after this
# TEXT items expire a day after the retention: a chunk sealed (a parked batch) after its texts were
# written still finds them for as long as the chunk lives.
TEXT_RETENTION_SECONDS = RETENTION_SECONDS + 24 * 3600
BATCH_GET_MAX_KEYS = 100  # DynamoDB's limit per BatchGetItem
# A stored entry (in ``msgs`` or a CHUNK's ``messages``): ``id``, the text (``t``, ``z`` or ``r``),
# ``at`` (arrival, ms), ``ts`` (the provider's timestamp, when it sends one), ``k`` (the kind, absent
# for "text"), and for a group message its author's id (``a``) and display name (``n``), each absent
# when unknown. A text message in a private chat has none of the last three: it costs no byte more.
AUTHOR_KEYS = ("a", "n")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_ddb(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in value.items()}


def _from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def conversation_pk(app_id: str, sender: str) -> str:
    """``CONV#{app}#{sender}``, unambiguous: app ids hold no ``#`` (settings.APP_ID_PATTERN) and the
    sender's ``%`` and ``#`` are escaped, so no sender string can reach into another conversation's key."""
    if "#" in app_id:
        raise ValueError("an app id may not contain '#'")
    return f"CONV#{app_id}#{sender.replace('%', '%25').replace('#', '%23')}"


def chunk_sk(first_seq: int) -> str:
    return f"{CHUNK_PREFIX}{first_seq:012d}"


def text_sk(ref: str) -> str:
    return f"{TEXT_PREFIX}{ref}"


def message_size(message: InboundMessage) -> int:
    """What storing ``message`` adds to ``msgs_bytes``: its stored text (compressed or not) or the
    reference to its TEXT item, its id, its author's id and name (a group message's) and an
    allowance for the entry's other attributes."""
    return _entry_size(_split_text(message)[0] | {"id": message.message_id} | _about(message))


def _entry_size(entry: dict) -> int:
    """message_size of a stored entry: what its append added to ``msgs_bytes``."""
    return (_stored_length(entry) + len(entry["id"].encode()) + MESSAGE_OVERHEAD_BYTES
            + sum(len(entry[key].encode()) for key in AUTHOR_KEYS if key in entry))


def _stored_length(entry: dict) -> int:
    """Bytes of the text attribute an entry carries: ``z``, ``r`` or ``t``."""
    if "z" in entry:
        return len(bytes(entry["z"]))
    if "r" in entry:
        return len(entry["r"])
    return len(entry["t"].encode())


def _split_text(message: InboundMessage) -> tuple[dict, dict | None]:
    """The entry's text attribute, and the TEXT item's (None when the text stays on the entry).

    A text TEXT_ITEM_MIN_BYTES or longer as stored goes to its own item, keyed by a digest of the
    message id and the text: a retried append writes the same item again, and an item, once written,
    never changes (a reader may read it eventually consistently)."""
    packed = _pack_text(message.text)
    if _stored_length(packed) < TEXT_ITEM_MIN_BYTES:
        return packed, None
    digest = hashlib.sha256(message.message_id.encode() + b"\0" + message.text.encode()).hexdigest()[:32]
    return {"r": digest}, packed


def _pack_text(text: str) -> dict:
    """The entry's text attribute: ``{"z": raw DEFLATE}`` when that is at least a tenth smaller,
    else ``{"t": text}``."""
    raw = text.encode()
    if len(raw) >= COMPRESS_MIN_BYTES:
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = deflate.compress(raw) + deflate.flush()
        if len(packed) * 10 <= len(raw) * 9:
            return {"z": packed}
    return {"t": text}


def entry_text(entry: dict, texts: dict[str, str] | None = None) -> str:
    """The text of a stored entry (inline ``msgs`` or a CHUNK's ``messages``) or TEXT item,
    compressed or not; an entry that refers to a TEXT item (``r``) takes it from ``texts`` (ref ->
    text, as ``ConversationStore.read_texts`` returns them)."""
    if "r" in entry:
        if texts is None:
            raise ValueError("the entry's text is in a TEXT item: ConversationStore.read_texts reads it")
        return texts[entry["r"]]
    if "z" in entry:
        return zlib.decompress(bytes(entry["z"]), -15).decode()
    return entry["t"]


def _is_condition_failure(exc: ClientError) -> bool:
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


@dataclass(frozen=True)
class ConversationState:
    """A consistent snapshot of a conversation item."""

    app_id: str
    sender: str
    seq: int
    claimed_seq: int
    delivered_seq: int
    inline_base: int
    inline: list[dict]
    last_batch: dict | None
    burst_started_at_ms: int | None
    last_at_ms: int | None
    fire_at_ms: int | None
    recent_at_ms: tuple[int, ...] = ()
    burst_bytes: int = 0
    epoch: int = 0  # when the item was created (ms); 0 for an item written before epochs existed
    turns: int = 0  # bit k: the sender was answered after message delivered_seq - k
    recorded: int = 0  # bit k: message claimed_seq - k was a voice note

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "ConversationState":
        return cls(
            app_id=item["app_id"],
            sender=item["sender"],
            seq=int(item.get("seq", 0)),
            claimed_seq=int(item.get("claimed_seq", 0)),
            delivered_seq=int(item.get("delivered_seq", 0)),
            inline_base=int(item.get("msgs_base", 0)),
            inline=list(item.get("msgs", [])),
            last_batch=item.get("last_batch"),
            burst_started_at_ms=int(item["burst_started_at"]) if "burst_started_at" in item else None,
            last_at_ms=int(item["last_at"]) if "last_at" in item else None,
            fire_at_ms=int(item["fire_at_ms"]) if "fire_at_ms" in item else None,
            recent_at_ms=tuple(int(t) for t in item.get("recent_at") or ()),
            burst_bytes=int(item.get("burst_bytes", 0)),
            epoch=int(item.get("epoch", 0)),
            turns=int(item.get("turns", 0)),
            recorded=int(item.get("recorded", 0)),
        )

    def burst(self) -> Burst | None:
        """The pending messages as the debounce rule sees them; None when nothing is pending."""
        if self.seq <= self.claimed_seq or self.burst_started_at_ms is None or self.last_at_ms is None:
            return None
        arrivals, turn_ends, recorded = self.rhythm()
        return Burst(
            started_at=self.burst_started_at_ms / 1000,
            last_at=self.last_at_ms / 1000,
            arrivals=arrivals,
            messages=self.seq - self.claimed_seq,
            bytes=self.burst_bytes,
            turn_ends=turn_ends,
            recorded=recorded,
        )

    def rhythm(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        """The sender's recent arrivals (epoch seconds, oldest first), those after which the sender
        was answered (``turns``), and those of voice notes (``recorded``, or the entries' kinds)."""
        arrivals = tuple(t / 1000 for t in self.recent_at_ms)
        seqs = range(self.seq - len(arrivals) + 1, self.seq + 1)  # the messages they are the arrivals of
        return (arrivals,
                tuple(at for n, at in zip(seqs, arrivals) if _bit(self.turns, self.delivered_seq - n)),
                tuple(at for n, at in zip(seqs, arrivals) if self._recorded(n)))

    def _recorded(self, seq: int) -> bool:
        """Was message ``seq`` a voice note: its entry's kind while it is on the item, else ``recorded``."""
        index = seq - self.inline_base - 1
        if 0 <= index < len(self.inline):
            return self.inline[index].get("k") in RECORDED_KINDS
        return _bit(self.recorded, self.claimed_seq - seq)

    @property
    def pending(self) -> int:
        return self.seq - self.claimed_seq

    @property
    def batch_in_flight(self) -> bool:
        return self.claimed_seq > self.delivered_seq


class ConversationStore:
    def __init__(self, table_name: str, *, clock=time.time, lease_seconds: float = 300):
        self.table_name = table_name
        self.clock = clock
        self.lease_seconds = lease_seconds  # how long a claimed batch may stay undelivered

    @property
    def _ddb(self):
        return aws.client("dynamodb")

    def _key(self, app_id: str, sender: str, sk: str = META) -> dict:
        return {"pk": {"S": conversation_pk(app_id, sender)}, "sk": {"S": sk}}

    # ------------------------------------------------------------------ reads

    def get(self, app_id: str, sender: str) -> ConversationState | None:
        response = self._ddb.get_item(
            TableName=self.table_name, Key=self._key(app_id, sender), ConsistentRead=True
        )
        item = response.get("Item")
        return ConversationState.from_item(_from_ddb(item)) if item else None

    def load_messages(self, app_id: str, sender: str, first_seq: int, last_seq: int,
                      state: ConversationState | None = None) -> list[StoredMessage]:
        """The messages with sequence numbers first_seq..last_seq, in order: those still inline from
        the conversation item (``state``, or read now), the sealed ones from their CHUNK items, and
        the long texts from their TEXT items."""
        state = state or self.get(app_id, sender)
        entries: list[tuple[int, dict]] = []
        base = state.inline_base if state else 0
        if first_seq <= base:
            entries += self._load_chunks(app_id, sender, first_seq, min(last_seq, base))
        if state is not None and last_seq > base:
            lo = max(first_seq, base + 1)
            entries += [(base + 1 + i, e) for i, e in enumerate(state.inline) if lo <= base + 1 + i <= last_seq]
        seqs = [seq for seq, _ in entries]
        if seqs != list(range(first_seq, last_seq + 1)):
            raise RuntimeError(
                f"batch {first_seq}..{last_seq} is incomplete in the store ({len(seqs)} messages found)"
            )
        return self._stored_messages(app_id, sender, entries)

    def _load_chunks(self, app_id: str, sender: str, first_seq: int, last_seq: int) -> list[tuple[int, dict]]:
        """The entries (with their sequence numbers) from the CHUNK items, newest first down to the
        one that holds ``first_seq`` (a seal moves all inline messages at once, so a chunk may start
        before a batch)."""
        chunks: list[list[tuple[int, dict]]] = []
        kwargs = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": conversation_pk(app_id, sender)},
                ":lo": {"S": chunk_sk(0)},
                ":hi": {"S": chunk_sk(last_seq)},
            },
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            for raw in page.get("Items", []):
                chunk = _from_ddb(raw)
                base = int(chunk["first_seq"])
                chunks.append([(base + offset, entry) for offset, entry in enumerate(chunk["messages"])
                               if first_seq <= base + offset <= last_seq])
                if base <= first_seq:
                    return [e for chunk_entries in reversed(chunks) for e in chunk_entries]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [e for chunk_entries in reversed(chunks) for e in chunk_entries]

    def _stored_messages(self, app_id: str, sender: str, entries: list[tuple[int, dict]]) -> list[StoredMessage]:
        """The messages of numbered entries, the texts of those that refer to TEXT items read for them."""
        texts = self.read_texts(app_id, sender, [e["r"] for _, e in entries if "r" in e])
        return [_stored(seq, entry, texts) for seq, entry in entries]

    def read_texts(self, app_id: str, sender: str, refs: list[str]) -> dict[str, str]:
        """The texts of TEXT items, by reference: BatchGetItem, eventually consistent first (an item
        is written before the append that refers to it and never changes, so a read that finds it
        finds it right); what that misses, strongly consistent. A text that is not there is an error."""
        wanted = sorted(set(refs))
        texts: dict[str, str] = {}
        pk = conversation_pk(app_id, sender)
        for consistent in (False, True):
            missing = [ref for ref in wanted if ref not in texts]
            for start in range(0, len(missing), BATCH_GET_MAX_KEYS):
                keys = [{"pk": {"S": pk}, "sk": {"S": text_sk(ref)}} for ref in missing[start:start + BATCH_GET_MAX_KEYS]]
                request = {self.table_name: {"Keys": keys, "ConsistentRead": consistent}}
                for attempt in range(10):
                    response = self._ddb.batch_get_item(RequestItems=request)
                    for raw in response.get("Responses", {}).get(self.table_name, []):
                        item = _from_ddb(raw)
                        texts[item["sk"][len(TEXT_PREFIX):]] = entry_text(item)
                    request = response.get("UnprocessedKeys") or {}
                    if not request:
                        break
                    time.sleep(min(0.05 * 2 ** attempt, 1.0))  # throttled: back off, then ask for the rest
                else:
                    raise RuntimeError("reading the TEXT items kept being throttled; the state machine will retry")
        missing = [ref for ref in wanted if ref not in texts]
        if missing:
            raise RuntimeError(f"{len(missing)} TEXT item(s) of the batch are missing from the store")
        return texts

    # ------------------------------------------------------------------ append

    def append(self, app_id: str, message: InboundMessage, *, due_at: float) -> AppendResult:
        """Store one message and advance the conversation's sequence, atomically.

        Returns the new sequence number, or ``duplicate=True`` when this provider message id was
        already stored for this conversation (nothing is written then).
        """
        text, text_item = _split_text(message)  # compressed once, for the size and the entry
        if text_item is not None:
            # Before the append that refers to it: a reader never finds a reference without its text.
            # An append that fails (or a duplicate) leaves the item to its TTL.
            self._ddb.put_item(TableName=self.table_name, Item=_to_ddb({
                "pk": conversation_pk(app_id, message.sender), "sk": text_sk(text["r"]), **text_item,
                "expires_at": int(self.clock()) + TEXT_RETENTION_SECONDS,
            }))
        size = _entry_size(text | {"id": message.message_id} | _about(message))
        for _ in range(20):
            now = self.clock()
            try:
                response = self._ddb.update_item(
                    TableName=self.table_name,
                    Key=self._key(app_id, message.sender),
                    UpdateExpression=(
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
                        " ADD idh_cur :digests"
                    ),
                    ConditionExpression=(
                        "(attribute_not_exists(msgs_bytes) OR msgs_bytes <= :room)"
                        " AND (attribute_not_exists(msgs) OR size(msgs) < :max_inline)"
                        " AND NOT contains(idh_cur, :digest) AND NOT contains(idh_prev, :digest)"
                        " AND NOT contains(ids_cur, :id) AND NOT contains(ids_prev, :id)"
                    ),
                    ExpressionAttributeValues=_to_ddb(
                        {
                            ":zero": 0,
                            ":one": 1,
                            ":empty": [],
                            ":entry": [_entry(message, now, text)],
                            ":size": size,
                            ":text_bytes": len(message.text.encode()),
                            ":arrival": [int(now * 1000)],
                            ":room": INLINE_LIMIT_BYTES - size,
                            ":max_inline": INLINE_LIMIT_MESSAGES,
                            ":now_ms": int(now * 1000),
                            ":now_s": int(now),
                            ":app_id": app_id,
                            ":sender": message.sender,
                            ":fire_at_ms": int(due_at * 1000),
                            ":due_at": int(due_at) + 1,
                            ":bucket": f"B{int(due_at) % SWEEP_BUCKETS:02d}",
                            ":expires_at": int(now) + RETENTION_SECONDS,
                            ":digests": {id_digest(message.message_id)},
                            ":digest": id_digest(message.message_id),
                            ":id": dedup_key(message.message_id),
                        }
                    ),
                    # ALL_NEW, not UPDATED_NEW: an attribute the write left unchanged (claimed_seq,
                    # burst_started_at) is missing from UPDATED_NEW, and the rule needs it.
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise
                state_item = self._get_raw(app_id, message.sender)
                if _remembers(state_item, message.message_id):
                    return AppendResult(seq=int(state_item.get("seq", 0)), duplicate=True)
                self._seal(app_id, message.sender, state_item)
                continue
            # The item after this write: the same burst the dispatcher will derive from its read
            # of the item, as long as no newer message arrives.
            new = ConversationState.from_item(_from_ddb(response["Attributes"]))
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
        raise RuntimeError("append kept losing races to seal the conversation; giving up")

    def _get_raw(self, app_id: str, sender: str) -> dict:
        response = self._ddb.get_item(
            TableName=self.table_name, Key=self._key(app_id, sender), ConsistentRead=True
        )
        return _from_ddb(response.get("Item", {}))

    def _seal(self, app_id: str, sender: str, item: dict) -> None:
        """Move the inline messages into a CHUNK item, iff nothing changed since ``item`` was read."""
        inline = item.get("msgs") or []
        if not inline:
            return  # another writer sealed or claimed already; just retry the append
        seq = int(item["seq"])
        first = int(item.get("msgs_base", 0)) + 1
        update = "REMOVE msgs SET msgs_bytes = :zero, msgs_base = :seq, recent_at = :recent"
        values = {":zero": 0, ":seq": seq, ":recent": _recent(item)}
        if _remembered(item) > DEDUP_MAX_IDS:
            # A long burst: rotate the remembered ids here too, so the item stays small. The
            # condition on seq guarantees the sets are still the ones read in ``item``.
            removes, sets, rotated = _rotation(item)
            update = (f"REMOVE {', '.join(['msgs', *removes])} SET msgs_bytes = :zero, msgs_base = :seq,"
                      f" recent_at = :recent{''.join(', ' + c for c in sets)}")
            values.update(rotated)
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _to_ddb(
                                {
                                    "pk": conversation_pk(app_id, sender),
                                    "sk": chunk_sk(first),
                                    "first_seq": first,
                                    "last_seq": seq,
                                    "messages": inline,
                                    "expires_at": int(self.clock()) + RETENTION_SECONDS,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(sk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": self._key(app_id, sender),
                            "UpdateExpression": update,
                            "ConditionExpression": "seq = :seq",
                            "ExpressionAttributeValues": _to_ddb(values),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    # ------------------------------------------------------------------ claim / deliver

    def claim(self, app_id: str, sender: str, expected_seq: int, *,
              policy: DebouncePolicy | None = None) -> "ClaimOutcome":
        """Claim the burst ``expected_seq`` belongs to, once it is due, as one batch.

        One timer stands for a whole burst: as long as ``expected_seq`` is unclaimed, the pending
        messages are claimed up to the CURRENT ``seq`` (newer messages of the burst never supersede
        the execution; they only move the moment the burst is due). The claim is a write conditional
        on that ``seq``, so a message that lands between the read and the write makes it read again,
        and a sequence number is in exactly one batch.

        With a ``policy``, whether the burst is due is derived from the stored state by the debounce
        rule (the same rule post_message applied to its append's result); without one, from the
        stored ``fire_at_ms``.

        An undelivered batch whose lease ran out is taken over by this claim (``taken_over``): it is
        handed out again, owned by ``expected_seq`` from now on.
        """
        for _ in range(20):
            item = self._get_raw(app_id, sender)
            if not item:
                return ClaimOutcome("nothing")
            state = ConversationState.from_item(item)
            if state.batch_in_flight and state.last_batch:
                if int(state.last_batch.get("claimed_at", 0)) <= self.clock() - self.lease_seconds:
                    # Its owner stopped without delivering it (or parking it): this execution takes
                    # it over and owns it from now on (a retry redelivers it, a failure parks it).
                    batch = self.take_over_stale_batch(state, owner=expected_seq)
                    if batch is None:
                        continue  # another execution took it over or delivered it first: look again
                    return ClaimOutcome("claimed", batch=batch, state=state, taken_over=True)
                if batch_owner(state.last_batch) == expected_seq:
                    # Claimed by this execution's earlier attempt (or taken over by it): deliver it again.
                    return ClaimOutcome("claimed", batch=self._batch_from_last(state), state=state)
            if state.delivered_seq >= expected_seq:
                return ClaimOutcome("delivered", state=state)
            if state.claimed_seq >= expected_seq:  # (and so in flight)
                return ClaimOutcome("taken", state=state)  # flushed by another execution, which delivers it
            if policy is None:
                due = Due(state.fire_at_ms / 1000, "quiet") if state.fire_at_ms else None
            else:
                burst = state.burst()
                due = policy.due(burst) if burst else None
            # timers may fire a little early
            is_due = due is None or self.clock() * 1000 >= due.at * 1000 - EARLY_TOLERANCE_MS
            if not is_due:
                return ClaimOutcome("not_due", state=state, due=due)
            if state.batch_in_flight:
                return ClaimOutcome("previous_in_flight", state=state, due=due)
            first, last = state.claimed_seq + 1, state.seq
            if self._commit_claim(app_id, sender, state, item, first, last, claimed_by=expected_seq):
                batch = Batch(app_id, sender, first, last, self._inline_messages(state, first, last),
                              epoch=state.epoch)
                return ClaimOutcome("claimed", batch=batch, state=state, due=due)
        raise RuntimeError("claim kept losing races; the state machine will retry")

    def _commit_claim(self, app_id, sender, state: ConversationState, item: dict, first: int, last: int,
                      *, claimed_by: int | None = None) -> bool:
        now = self.clock()
        rotate = (int(item.get("ids_rotated_at", now)) < now - DEDUP_WINDOW_SECONDS
                  or _remembered(item) > DEDUP_MAX_IDS)
        values = {
            ":last": last,
            ":claimed": state.claimed_seq,
            ":batch": {"first_seq": first, "last_seq": last, "claimed_at": int(now),
                       "claimed_by": last if claimed_by is None else claimed_by},
            ":recent": _recent(item),
        }
        # The texts stay on the item: the claimer delivers them from its read, and the delivery
        # trims them (mark_delivered). Nothing is copied, and the sweep index entry (due_at: the
        # burst's max-wait cap) is left alone: the sweeper judges an undelivered batch by its lease.
        removes = ["burst_started_at", "burst_bytes", "fire_at_ms"]
        sets = "claimed_seq = :last, last_batch = :batch, recent_at = :recent"
        # The claimed messages leave the pending ones: which were voice notes moves to ``recorded``
        # (the condition on claimed_seq below guarantees the bits read are the ones shifted).
        recorded = (state.recorded << (last - state.claimed_seq)) & RHYTHM_BITS
        for seq in range(max(first, last - RECENT_ARRIVALS_KEPT + 1), last + 1):
            recorded |= (1 << (last - seq)) if state._recorded(seq) else 0
        if recorded:
            sets += ", recorded = :recorded"
            values[":recorded"] = recorded
        elif state.recorded:
            removes.append("recorded")
        if rotate:
            # Ids older than the window move to the previous set and drop out one rotation later.
            # The condition on seq below guarantees the sets are still the ones read in ``item``.
            rotate_removes, rotate_sets, rotated = _rotation(item)
            removes += rotate_removes
            sets += "".join(", " + clause for clause in [*rotate_sets, "ids_rotated_at = :now_s"])
            values.update(rotated)
            values[":now_s"] = int(now)
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key=self._key(app_id, sender),
                UpdateExpression=f"REMOVE {', '.join(removes)} SET {sets}",
                ConditionExpression="seq = :last AND claimed_seq = :claimed",
                ExpressionAttributeValues=_to_ddb(values),
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def _batch_from_last(self, state: ConversationState) -> Batch:
        last = state.last_batch or {}
        first_seq, last_seq = int(last["first_seq"]), int(last["last_seq"])
        return Batch(state.app_id, state.sender, first_seq, last_seq,
                     self._inline_messages(state, first_seq, last_seq), epoch=state.epoch)

    def _inline_messages(self, state: ConversationState, first_seq: int, last_seq: int) -> list[StoredMessage]:
        """The batch's messages from the item as read, when they are all still inline (else []),
        with the texts of their TEXT items."""
        if first_seq <= state.inline_base or last_seq > state.inline_base + len(state.inline):
            return []
        start = first_seq - state.inline_base - 1
        entries = state.inline[start:start + last_seq - first_seq + 1]
        return self._stored_messages(state.app_id, state.sender, [(first_seq + i, e) for i, e in enumerate(entries)])

    def take_over_stale_batch(self, state: ConversationState, *, owner: int) -> Batch | None:
        """The undelivered batch of an execution that stopped without delivering it, once its lease
        (``lease_seconds``) ran out: ``owner`` (the taker's sequence number) becomes its owner, with a new lease, by a write
        conditional on the state read; None while the lease runs, or when another taker won."""
        if not state.batch_in_flight or not state.last_batch:
            return None
        now = self.clock()
        claimed_at = int(state.last_batch.get("claimed_at", 0))
        if claimed_at > now - self.lease_seconds:
            return None
        deliver_by = int(now + self.lease_seconds)
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key=self._key(state.app_id, state.sender),
                UpdateExpression=("SET last_batch.claimed_by = :owner, last_batch.claimed_at = :now,"
                                  " due_at = :deliver_by, sweep_bucket = :bucket"),
                ConditionExpression=("claimed_seq = :claimed AND delivered_seq = :delivered"
                                     " AND last_batch.claimed_at = :old_at"),
                ExpressionAttributeValues=_to_ddb({
                    ":owner": owner, ":now": int(now), ":deliver_by": deliver_by,
                    ":bucket": f"B{deliver_by % SWEEP_BUCKETS:02d}", ":claimed": state.claimed_seq,
                    ":delivered": state.delivered_seq, ":old_at": claimed_at,
                }),
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return self._batch_from_last(state)

    def mark_delivered(self, batch: Batch, *, recheck_seconds: float = PENDING_RECHECK_SECONDS,
                       final: bool = True) -> None:
        """Record the batch as delivered and trim its texts from the item (the next appends rewrite
        only what is pending). With nothing pending the conversation leaves the sweep index; with
        messages pending, the sweeper looks at them ``recheck_seconds`` from now (plus its grace).
        ``final=False``: a part of a split batch, not its last (the sweep index is left alone)."""
        for _ in range(20):
            item = self._get_raw(batch.app_id, batch.sender)
            if not item or int(item.get("delivered_seq", 0)) >= batch.last_seq:
                return  # already marked by a concurrent delivery of the same batch: fine
            base, inline = int(item.get("msgs_base", 0)), list(item.get("msgs") or [])
            trim = max(0, min(batch.last_seq - base, len(inline)))  # delivered texts still inline
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
                removes.append("msgs" if trim == len(inline) else ", ".join(f"msgs[{i}]" for i in range(trim)))
                # Relative, not the count read: an append between the read and this write adds its own
                # size (msgs_base = :base guarantees the trimmed entries are the ones read).
                sets += ["msgs_base = :new_base", "msgs_bytes = msgs_bytes - :trimmed"]
                values[":new_base"] = base + trim
                values[":trimmed"] = sum(_entry_size(e) for e in inline[:trim])
            condition = "delivered_seq = :delivered AND msgs_base = :base"
            if final and int(item["seq"]) == batch.last_seq:
                removes += ["due_at", "sweep_bucket"]
                condition += " AND seq = :last"
            elif final:
                # Newer messages are pending: they get a near due_at, so a lost timer of theirs is found soon.
                recheck = int(self.clock() + recheck_seconds)
                sets += ["due_at = :soon", "sweep_bucket = :bucket"]
                values.update({":soon": recheck, ":bucket": f"B{recheck % SWEEP_BUCKETS:02d}"})
            update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
            try:
                self._ddb.update_item(TableName=self.table_name, Key=self._key(batch.app_id, batch.sender),
                                      UpdateExpression=update, ConditionExpression=condition,
                                      ExpressionAttributeValues=_to_ddb(values))
                return
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise
        raise RuntimeError("marking the batch delivered kept losing races; the state machine will retry")

    def seal_through(self, app_id: str, sender: str, last_seq: int) -> None:
        """Move the inline messages up to ``last_seq`` (and those after them) into CHUNK items, so
        they outlive the trim (a parked batch, replayed later by util/redrive.py)."""
        for _ in range(20):
            item = self._get_raw(app_id, sender)
            if not item or int(item.get("msgs_base", 0)) >= last_seq or not item.get("msgs"):
                return
            self._seal(app_id, sender, item)
        raise RuntimeError("sealing kept losing races; the state machine will retry")


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


def _entry(message: InboundMessage, now: float, text: dict) -> dict:
    entry = {"id": message.message_id, **text, "at": int(now * 1000)}
    if message.timestamp is not None:
        entry["ts"] = int(message.timestamp)
    return entry | _about(message)


def _about(message: InboundMessage) -> dict:
    """The entry's optional attributes: ``k`` (the kind, unless "text"), ``a`` and ``n`` (the author's
    id and name, when known). None of them for a text message in a private chat."""
    about = {} if message.kind == "text" else {"k": message.kind}
    if message.author is not None:
        about |= {key: value for key, value in zip(AUTHOR_KEYS, (message.author.id, message.author.name))
                  if value is not None}
    return about


def _stored(seq: int, entry: dict, texts: dict[str, str]) -> StoredMessage:
    """The message of a stored entry. An entry without ``k``, ``a`` or ``n`` (a text message, a
    private chat's, or one stored before these were kept) is a text with no author."""
    author_id, author_name = (entry.get(key) for key in AUTHOR_KEYS)
    return StoredMessage(
        seq=seq,
        message_id=entry["id"],
        text=entry_text(entry, texts),
        timestamp=int(entry["ts"]) if "ts" in entry else None,
        received_at_ms=int(entry["at"]),
        kind=entry.get("k") or "text",
        author=Author(author_id, author_name) if author_id is not None or author_name is not None else None,
    )


def dedup_key(message_id: str) -> str:
    """Provider ids are short; a long one is hashed so the remembered set stays small."""
    if len(message_id) <= DEDUP_KEY_MAX:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def _recent(item: dict) -> list[int]:
    """The last arrival times the debounce rule needs, for a claim or seal to cut ``recent_at`` to."""
    return [int(t) for t in (item.get("recent_at") or [])][-RECENT_ARRIVALS_KEPT:]


def _bit(bits: int, k: int) -> bool:
    """Bit ``k`` of a ``turns`` or ``recorded`` set (none below 0 or past RECENT_ARRIVALS_KEPT)."""
    return 0 <= k < RECENT_ARRIVALS_KEPT and bool(bits >> k & 1)


def batch_owner(last_batch: dict) -> int:
    """The sequence number of the execution that owns the undelivered batch (claimed or took it over)."""
    return int(last_batch.get("claimed_by", last_batch["last_seq"]))


def id_digest(message_id: str) -> bytes:
    """What the remembered-id sets hold of a provider id: 8 bytes, whatever its length (a Cloud API
    ``wamid.`` id is about 60)."""
    return hashlib.sha256(message_id.encode()).digest()[:ID_DIGEST_BYTES]


def _remembers(item: dict, message_id: str) -> bool:
    digest, legacy = id_digest(message_id), dedup_key(message_id)
    return any(digest in (item.get(name) or set()) for name in ID_SETS[0]) or \
        any(legacy in (item.get(name) or set()) for name in ID_SETS[1])


def _remembered(item: dict) -> int:
    """How many ids the item's current sets hold (a rotation is due past DEDUP_MAX_IDS)."""
    return sum(len(item.get(current) or ()) for current, _ in ID_SETS)


def _rotation(item: dict) -> tuple[list[str], list[str], dict]:
    """REMOVE names, SET clauses and values that rotate the remembered ids read in ``item``: each
    current set becomes the previous one, and a previous set with no current one drops out."""
    removes, sets, values = [], [], {}
    for current, previous in ID_SETS:
        if item.get(current):
            removes.append(current)
            sets.append(f"{previous} = :{previous}")
            values[f":{previous}"] = set(item[current])
        elif item.get(previous):
            removes.append(previous)
    return removes, sets, values
