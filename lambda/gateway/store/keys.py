"""The table's keys: a conversation's items (pk, sk) and the sweep index's partitions. Pure."""

from __future__ import annotations

META = "META"  # sk of the conversation item
CHUNK_PREFIX = "CHUNK#"  # sk of a CHUNK item: CHUNK#{first_seq:012d}
TEXT_PREFIX = "TEXT#"  # sk of a TEXT item: TEXT#{ref}
# The sweep index (pending_by_due: hash key sweep_bucket, range key due_at) spreads the conversations
# it holds over this many partitions; the sweeper queries each of them (SWEEP_BUCKET_NAMES).
SWEEP_BUCKETS = 16


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


def item_key(app_id: str, sender: str, sk: str = META) -> dict:
    """The DynamoDB key (wire format) of one of the conversation's items: by default its conversation item."""
    return {"pk": {"S": conversation_pk(app_id, sender)}, "sk": {"S": sk}}


def sweep_bucket(deadline_s: int) -> str:
    """The sweep index partition (``sweep_bucket``) of an entry whose deadline is about ``deadline_s``
    (epoch seconds): ``B00`` to ``B15``. Any spread would do; the sweeper reads every bucket."""
    return f"B{deadline_s % SWEEP_BUCKETS:02d}"


SWEEP_BUCKET_NAMES = tuple(sweep_bucket(n) for n in range(SWEEP_BUCKETS))  # what the sweeper queries, in order
