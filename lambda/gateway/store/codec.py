"""The item codec: what the store's items hold, attribute by attribute, and the pure encodings of
the messages on them (no client calls). The layout is the bytes every write is billed for (make cost).

A conversation has one conversation item (sk ``META``), CHUNK items (sealed runs of its messages)
and TEXT items (its long texts). The Python names, where they differ from the attribute's, are in
brackets: ``state`` is a ConversationState (state.py), an entry is one stored message (below).

Conversation item (sk = META). Written by: A append, S seal, C claim (commit), O take over,
D mark_delivered.

================  ====  ====================================================================  ==============
attribute         type  meaning (Python name)                                                 written by
================  ====  ====================================================================  ==============
pk                S     ``CONV#{app}#{sender}`` (keys.conversation_pk)                        A
sk                S     ``META``                                                              A
app_id, sender    S     the conversation                                                      A
epoch             N     when the item was created, ms (``state.epoch``): in batch ids         A (once)
seq               N     the last sequence number given out                                    A
claimed_seq       N     the last sequence number claimed into a batch                         A (0), C
delivered_seq     N     the last sequence number delivered (or parked)                        A (0), D
msgs              L     the entries still on the item, oldest first (``state.msgs``)          A, S, D
msgs_base         N     the sequence number before ``msgs[0]`` (``state.msgs_base``)          A (0), S, D
msgs_bytes        N     entry_size of the entries in ``msgs`` (append seals past a limit)     A, S, D
burst_started_at  N     arrival (ms) of the first pending message                             A, C (removes)
                        (``state.burst_started_at_ms``)
burst_bytes       N     UTF-8 bytes of the pending texts (``state.burst_bytes``)              A, C (removes)
last_at           N     arrival (ms) of the latest message (``state.last_at_ms``)             A
recent_at         L     the latest arrivals (ms), the last one message ``seq``'s; cut to      A, S, C
                        RECENT_ARRIVALS_KEPT by a claim or seal (``state.recent_at_ms``)
turns             N     bit k: the sender was answered after message ``delivered_seq - k``    D
                        (absent while 0)
recorded          N     bit k: message ``claimed_seq - k`` was a voice note (RECORDED_KINDS;  C
                        absent while 0)
fire_at_ms        N     the latest due moment (ms) the newest append was given: when the      A, C (removes)
                        claim finds the burst due without a debounce policy
due_at            N     the sweep deadline, s (``sweep_deadline``): range key of the sweep    A (once), O, D
                        index pending_by_due. The burst's latest due moment + 1 s (set by
                        its first append); an undelivered batch's lease end after a take
                        over; a near recheck when a delivery leaves messages pending;
                        removed when nothing is pending
sweep_bucket      S     the sweep index's hash key, ``B00``..``B15`` (keys.sweep_bucket)      with due_at
last_batch        M     the last claimed batch (``state.last_batch``, a ClaimedBatch):        C, O
                        first_seq, last_seq, claimed_at (s: its lease runs from here),
                        claimed_by (the seq of the execution that owns it: claimed it or
                        took it over)
idh_cur           BS    8-byte digests of the provider ids remembered lately                  A (adds), C, S
                        (remembered_ids.py)
idh_prev          BS    the digests of the window before                                      C, S
ids_rotated_at    N     when the remembered ids last rotated, s                               A (once), C
expires_at        N     TTL, s: RETENTION_SECONDS after the latest append                     A
================  ====  ====================================================================  ==============

Entry: a message in ``msgs`` or in a CHUNK's ``messages``, read back as a StoredMessage.

=========  =====  ====================================================================================
attribute  type   meaning (StoredMessage field)
=========  =====  ====================================================================================
id         S      the provider's message id (``message_id``)
t | z | r  S|B|S  the text (``text``): as it is (``t``); raw DEFLATE when that saves a tenth (``z``,
                  COMPRESS_MIN_BYTES up); or the ref of its TEXT item (``r``: a stored form
                  TEXT_ITEM_MIN_BYTES or longer)
at         N      arrival, ms (``received_at_ms``)
ts         N      the provider's timestamp, s (``timestamp``); absent when it sends none
k          S      the kind (``kind``); absent for "text"
a, n       S      a group message's author: id and display name (``author``); each absent when unknown
=========  =====  ====================================================================================

A text message in a private chat has none of ``k``, ``a``, ``n``: it costs no byte more.

CHUNK item (sk = ``CHUNK#{first_seq:012d}``), written once by a seal, never changed: ``first_seq``,
``last_seq``, ``messages`` (L of entries), ``expires_at`` (RETENTION_SECONDS).

TEXT item (sk = ``TEXT#{ref}``), written once by append before the append that refers to it, never
changed: ``t`` or ``z`` (the text, as on an entry), ``expires_at`` (TEXT_RETENTION_SECONDS).
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..debounce import RHYTHM_WINDOW
from ..models import Author, InboundMessage, StoredMessage
from .keys import chunk_sk, conversation_pk, text_sk

MAX_TEXT_BYTES = 32 * 1024  # a single message; enforced by the webhook before it reaches the store
MESSAGE_OVERHEAD_BYTES = 64  # entry_size's allowance for an entry's other attributes (names, at, ts, k)
# Texts from this size up are stored DEFLATE-compressed (attribute ``z``) when that saves at least a
# tenth: a write is billed per KB of the item it rewrites, and a burst's appends rewrite its texts.
# Shorter texts (the typical chat line) are stored as they are (``t``).
COMPRESS_MIN_BYTES = 128
# A text whose stored form (compressed or not) is this long or longer is written to a TEXT item of its
# own (1 WRU per KB, once) instead of riding on every later write of the conversation item in its burst.
TEXT_ITEM_MIN_BYTES = 256
AUTHOR_KEYS = ("a", "n")
# Arrival times the conversation keeps in ``recent_at`` for the adaptive debounce rule, and the width
# of the ``turns`` and ``recorded`` bit sets (numbers under 2 ** RECENT_ARRIVALS_KEPT).
RECENT_ARRIVALS_KEPT = RHYTHM_WINDOW + 1
RHYTHM_BITS = (1 << RECENT_ARRIVALS_KEPT) - 1
RETENTION_SECONDS = 30 * 24 * 3600  # chunks and idle conversations expire (TTL) after this
# TEXT items expire a day after the retention: a chunk sealed (a parked batch) after its texts were
# written still finds them for as long as the chunk lives.
TEXT_RETENTION_SECONDS = RETENTION_SECONDS + 24 * 3600

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_ddb(value: dict[str, Any]) -> dict[str, Any]:
    """A dict of Python values in DynamoDB's wire format (an item, or expression attribute values)."""
    return {k: _serializer.serialize(v) for k, v in value.items()}


def from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's wire format as Python values (numbers as Decimal, binary as Binary)."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


# ---------------------------------------------------------------------------- texts


def pack_text(text: str) -> dict:
    """The entry's text attribute: ``{"z": raw DEFLATE}`` when that is at least a tenth smaller,
    else ``{"t": text}``."""
    raw = text.encode()
    if len(raw) >= COMPRESS_MIN_BYTES:
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = deflate.compress(raw) + deflate.flush()
        if len(packed) * 10 <= len(raw) * 9:
            return {"z": packed}
    return {"t": text}


def split_text(message: InboundMessage) -> tuple[dict, dict | None]:
    """The entry's text attribute, and the TEXT item's (None when the text stays on the entry).

    A text TEXT_ITEM_MIN_BYTES or longer as stored goes to its own item, keyed by a digest of the
    message id and the text: a retried append writes the same item again, and an item, once written,
    never changes (a reader may read it eventually consistently)."""
    packed = pack_text(message.text)
    if stored_length(packed) < TEXT_ITEM_MIN_BYTES:
        return packed, None
    digest = hashlib.sha256(message.message_id.encode() + b"\0" + message.text.encode()).hexdigest()[:32]
    return {"r": digest}, packed


def stored_length(entry: dict) -> int:
    """Bytes of the text attribute an entry carries: ``z``, ``r`` or ``t``."""
    if "z" in entry:
        return len(bytes(entry["z"]))
    if "r" in entry:
        return len(entry["r"])
    return len(entry["t"].encode())


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


# ---------------------------------------------------------------------------- entries


def message_size(message: InboundMessage) -> int:
    """What storing ``message`` adds to ``msgs_bytes``: its stored text (compressed or not) or the
    reference to its TEXT item, its id, its author's id and name (a group message's) and an
    allowance for the entry's other attributes."""
    return entry_size(split_text(message)[0] | {"id": message.message_id} | entry_details(message))


def entry_size(entry: dict) -> int:
    """message_size of a stored entry: what its append added to ``msgs_bytes``."""
    return (stored_length(entry) + len(entry["id"].encode()) + MESSAGE_OVERHEAD_BYTES
            + sum(len(entry[key].encode()) for key in AUTHOR_KEYS if key in entry))


def new_entry(message: InboundMessage, now: float, text: dict) -> dict:
    """The entry an append stores for ``message`` arriving at ``now``, with its text attribute ``text``."""
    entry = {"id": message.message_id, **text, "at": int(now * 1000)}
    if message.timestamp is not None:
        entry["ts"] = int(message.timestamp)
    return entry | entry_details(message)


def entry_details(message: InboundMessage) -> dict:
    """The entry's optional attributes: ``k`` (the kind, unless "text"), ``a`` and ``n`` (the author's
    id and name, when known). None of them for a text message in a private chat."""
    details = {} if message.kind == "text" else {"k": message.kind}
    if message.author is not None:
        details |= {key: value for key, value in zip(AUTHOR_KEYS, (message.author.id, message.author.name))
                    if value is not None}
    return details


def stored_message(seq: int, entry: dict, texts: dict[str, str]) -> StoredMessage:
    """The message of a stored entry. An entry without ``k`` is a text; without ``a`` and ``n``, it
    has no author."""
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


# ---------------------------------------------------------------------------- items and attributes


def chunk_item(app_id: str, sender: str, first_seq: int, last_seq: int, messages: list[dict],
               expires_at: int) -> dict:
    return {"pk": conversation_pk(app_id, sender), "sk": chunk_sk(first_seq), "first_seq": first_seq,
            "last_seq": last_seq, "messages": messages, "expires_at": expires_at}


def text_item(app_id: str, sender: str, ref: str, packed: dict, expires_at: int) -> dict:
    """The TEXT item of ``ref`` (split_text's reference), holding ``packed`` (its text attribute)."""
    return {"pk": conversation_pk(app_id, sender), "sk": text_sk(ref), **packed, "expires_at": expires_at}


def kept_arrivals(item: dict) -> list[int]:
    """The last arrival times the debounce rule needs, for a claim or seal to cut ``recent_at`` to."""
    return [int(t) for t in (item.get("recent_at") or [])][-RECENT_ARRIVALS_KEPT:]


def bit(bits: int, k: int) -> bool:
    """Bit ``k`` of a ``turns`` or ``recorded`` set (none below 0 or past RECENT_ARRIVALS_KEPT)."""
    return 0 <= k < RECENT_ARRIVALS_KEPT and bool(bits >> k & 1)
