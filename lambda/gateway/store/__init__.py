"""The conversation store: DynamoDB, race-free by construction.

One item per conversation (sk = "META") holds the sequence counters and the pending messages
inline (attribute ``msgs``); full runs of pending messages are sealed into CHUNK items. A text of
COMPRESS_MIN_BYTES or more is stored DEFLATE-compressed when that saves a tenth: every append,
the claim and the delivery rewrite the item, and DynamoDB bills each write per KB of it. A text still
TEXT_ITEM_MIN_BYTES or more after that gets a TEXT item of its own, written once, before the append
that refers to it, and never changed: the conversation item stays under 1 KB in a burst of long
texts, so its five writes per burst cost 1 WRU each. The invariants:

* ``append`` is ONE conditional UpdateItem: it advances ``seq`` and appends the message to ``msgs``
  atomically (no read-modify-write). The message's sequence number is ``msgs_base + its index + 1``.
  The same provider message id is refused atomically by the same write (remembered_ids.py).
* ``claim(expected_seq)`` succeeds only while ``seq == expected_seq`` (a conditional write): a
  message that arrives first makes the claim fail and lands in the next batch; a message that
  arrives after it advances ``seq`` past the claimed range. A sequence number is in exactly one
  claimed range ``(claimed_seq_before, expected_seq]``, so in exactly one batch.
* At most one claimed batch is undelivered (``claimed_seq > delivered_seq``); the next claim waits
  for it, which keeps batches of one conversation in order.
* The undelivered batch has an owner (``ClaimedBatch.owner``): the execution that claimed it, or
  the one that took it over once its lease ran out (a conditional write records the new owner).
  Only the owner redelivers it on a retry, and only the owner parks it when its retries are spent.
* ``batch_id`` is derived from the claimed range, so a retried delivery carries the same id.

The package, by job:

* keys.py: the items' keys and the sweep index's buckets;
* codec.py: every stored attribute (one table) and the pure encodings of messages and texts;
* remembered_ids.py: the provider ids remembered against duplicates (pure);
* state.py: the conversation item as typed values (ConversationState, ClaimedBatch);
* claim.py: what a claim does, decided from the state read (pure), and its outcome;
* table.py, batches.py, writes.py: the table's client and item reads, the batch reads, the
  conditional writes (with one retry loop for a lost race);
* conversation_store.py: ConversationStore, all of that as one object.
"""

from __future__ import annotations

from ..settings import DEFAULT_LEASE_SECONDS
from .claim import EARLY_TOLERANCE_MS, ClaimOutcome
from .codec import (COMPRESS_MIN_BYTES, MAX_TEXT_BYTES, MESSAGE_OVERHEAD_BYTES, RECENT_ARRIVALS_KEPT, RETENTION_SECONDS,
                    TEXT_ITEM_MIN_BYTES, entry_size, entry_text, from_ddb, message_size, pack_text, split_text, to_ddb)
from .conversation_store import ConversationStore
from .keys import SWEEP_BUCKET_NAMES, TEXT_PREFIX, chunk_sk, conversation_pk, item_key, sweep_bucket, text_sk
from .remembered_ids import DEDUP_MAX_IDS, DEDUP_WINDOW_SECONDS
from .state import ClaimedBatch, ConversationState
from .writes import INLINE_LIMIT_BYTES, INLINE_LIMIT_MESSAGES

__all__ = [
    "COMPRESS_MIN_BYTES", "DEDUP_MAX_IDS", "DEDUP_WINDOW_SECONDS", "DEFAULT_LEASE_SECONDS", "EARLY_TOLERANCE_MS",
    "INLINE_LIMIT_BYTES", "INLINE_LIMIT_MESSAGES", "MAX_TEXT_BYTES", "MESSAGE_OVERHEAD_BYTES",
    "RECENT_ARRIVALS_KEPT", "RETENTION_SECONDS", "SWEEP_BUCKET_NAMES", "TEXT_ITEM_MIN_BYTES", "TEXT_PREFIX",
    "ClaimOutcome", "ClaimedBatch", "ConversationState", "ConversationStore", "chunk_sk", "conversation_pk",
    "entry_size", "entry_text", "from_ddb", "item_key", "message_size", "pack_text", "split_text", "sweep_bucket", "text_sk",
    "to_ddb",
]
