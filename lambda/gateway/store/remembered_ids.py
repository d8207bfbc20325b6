"""The provider ids a conversation remembers, so that a retried webhook's message is stored once. Pure.

The conversation item holds them as 8-byte digests in two binary sets, so the sets that ride on every
write stay small whatever the provider's id length: ``idh_cur`` (every append ADDs its id's digest,
in the same conditional write that refuses a remembered one) and ``idh_prev``. A rotation makes the
current set the previous one and drops the previous one: the claim rotates once the window has passed
or the current set holds more than DEDUP_MAX_IDS, a seal when it holds more than DEDUP_MAX_IDS. An id
is so remembered for 24 to 48 hours, or for the last 256 to 512 messages of a conversation if fewer.
"""

from __future__ import annotations

import hashlib

DEDUP_WINDOW_SECONDS = 24 * 3600
DEDUP_MAX_IDS = 256  # the set rides on every append
ID_DIGEST_BYTES = 8  # a new message taken for a remembered one: ~512 / 2**64 per append
CURRENT, PREVIOUS = "idh_cur", "idh_prev"


def id_digest(message_id: str) -> bytes:
    """What the remembered-id sets hold of a provider id: 8 bytes, whatever its length (a Cloud API
    ``wamid.`` id is about 60)."""
    return hashlib.sha256(message_id.encode()).digest()[:ID_DIGEST_BYTES]


def remembers(item: dict, message_id: str) -> bool:
    """Does the conversation item ``item`` remember ``message_id``."""
    digest = id_digest(message_id)
    return any(digest in (item.get(name) or set()) for name in (CURRENT, PREVIOUS))


def remembered(item: dict) -> int:
    """How many ids the item's current set holds."""
    return len(item.get(CURRENT) or ())


def too_many(item: dict) -> bool:
    """The current set holds more than DEDUP_MAX_IDS: a rotation is due."""
    return remembered(item) > DEDUP_MAX_IDS


def rotation_due(item: dict, now: float) -> bool:
    """The window has passed since the last rotation (``ids_rotated_at``), or the set is too large."""
    return int(item["ids_rotated_at"]) < now - DEDUP_WINDOW_SECONDS or too_many(item)


def rotation(item: dict) -> tuple[list[str], list[str], dict]:
    """REMOVE names, SET clauses and values that rotate the remembered ids read in ``item``: the
    current set becomes the previous one; with no current set, the previous one drops out."""
    if item.get(CURRENT):
        return [CURRENT], [f"{PREVIOUS} = :{PREVIOUS}"], {f":{PREVIOUS}": set(item[CURRENT])}
    if item.get(PREVIOUS):
        return [PREVIOUS], [], {}
    return [], [], {}
