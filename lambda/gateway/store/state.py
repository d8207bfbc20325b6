"""The conversation item as typed values: ConversationState, and its last claimed batch (ClaimedBatch).
Attribute by attribute in codec.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..debounce import RECORDED_KINDS, Burst
from .codec import RECENT_ARRIVALS_KEPT, RHYTHM_BITS, bit


@dataclass(frozen=True)
class ClaimedBatch:
    """The conversation's last claimed batch (``last_batch``): undelivered while ``claimed_seq >
    delivered_seq``. Its owner redelivers it on a retry and parks it when its retries are spent;
    once its lease runs out, another execution takes it over and owns it."""

    first_seq: int
    last_seq: int
    claimed_at: int  # epoch seconds: when it was claimed, or last taken over; its lease runs from here
    claimed_by: int  # the sequence number of the execution that claimed it or took it over last

    @classmethod
    def from_item(cls, value: dict[str, Any]) -> "ClaimedBatch":
        return cls(first_seq=int(value["first_seq"]), last_seq=int(value["last_seq"]),
                   claimed_at=int(value["claimed_at"]), claimed_by=int(value["claimed_by"]))

    def as_item(self) -> dict[str, int]:
        return {"first_seq": self.first_seq, "last_seq": self.last_seq, "claimed_at": self.claimed_at,
                "claimed_by": self.claimed_by}

    @property
    def owner(self) -> int:
        """The sequence number of the execution that owns the batch (claimed it or took it over)."""
        return self.claimed_by

    def lease_expired(self, now: float, lease_seconds: float) -> bool:
        """Its owner had ``lease_seconds`` to deliver it and did not: another execution may take it over."""
        return self.claimed_at <= now - lease_seconds


@dataclass(frozen=True)
class ConversationState:
    """A consistent snapshot of a conversation item."""

    app_id: str
    sender: str
    seq: int
    claimed_seq: int
    delivered_seq: int
    msgs_base: int
    msgs: list[dict]
    last_batch: ClaimedBatch | None
    burst_started_at_ms: int | None
    last_at_ms: int | None
    fire_at_ms: int | None
    recent_at_ms: tuple[int, ...] = ()
    burst_bytes: int = 0
    epoch: int = 0  # when the item was created (ms): names the conversation's executions and batches
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
            msgs_base=int(item.get("msgs_base", 0)),
            msgs=list(item.get("msgs", [])),
            last_batch=ClaimedBatch.from_item(item["last_batch"]) if "last_batch" in item else None,
            burst_started_at_ms=int(item["burst_started_at"]) if "burst_started_at" in item else None,
            last_at_ms=int(item["last_at"]) if "last_at" in item else None,
            fire_at_ms=int(item["fire_at_ms"]) if "fire_at_ms" in item else None,
            recent_at_ms=tuple(int(t) for t in item.get("recent_at") or ()),
            burst_bytes=int(item.get("burst_bytes", 0)),
            epoch=int(item["epoch"]),
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
                tuple(at for n, at in zip(seqs, arrivals) if bit(self.turns, self.delivered_seq - n)),
                tuple(at for n, at in zip(seqs, arrivals) if self.was_recorded(n)))

    def was_recorded(self, seq: int) -> bool:
        """Was message ``seq`` a voice note: its entry's kind while it is on the item, else ``recorded``."""
        index = seq - self.msgs_base - 1
        if 0 <= index < len(self.msgs):
            return self.msgs[index].get("k") in RECORDED_KINDS
        return bit(self.recorded, self.claimed_seq - seq)

    def recorded_after_claim(self, last_seq: int) -> int:
        """``recorded`` once the pending messages up to ``last_seq`` are claimed: the claimed messages
        leave the pending ones, and which of them were voice notes moves to the bit set."""
        recorded = (self.recorded << (last_seq - self.claimed_seq)) & RHYTHM_BITS
        for seq in range(max(self.claimed_seq + 1, last_seq - RECENT_ARRIVALS_KEPT + 1), last_seq + 1):
            recorded |= (1 << (last_seq - seq)) if self.was_recorded(seq) else 0
        return recorded

    @property
    def pending(self) -> int:
        return self.seq - self.claimed_seq

    @property
    def batch_in_flight(self) -> bool:
        return self.claimed_seq > self.delivered_seq

    @property
    def undelivered_batch(self) -> ClaimedBatch | None:
        """The claimed batch still to be delivered (``last_batch`` while a batch is in flight)."""
        return self.last_batch if self.batch_in_flight else None
