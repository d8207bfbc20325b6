"""Plain data shapes shared by the handlers; no AWS in here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .debounce import Burst


def conversation_id(app_id: str, sender: str) -> str:
    """A stable, non-reversible id for a conversation, safe for logs and execution names."""
    return hashlib.sha256(f"{app_id}\x1f{sender}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class InboundMessage:
    """One message a sender typed, normalised from any provider's webhook."""

    sender: str
    text: str
    message_id: str
    timestamp: int | None = None  # provider's epoch seconds, when it sends one
    kind: str = "text"  # "text", or the media type of a placeholder ("image", "audio", ...)


@dataclass(frozen=True)
class Ignored:
    """A webhook the provider must not retry but that carries nothing to store."""

    reason: str


@dataclass(frozen=True)
class AppendResult:
    seq: int
    duplicate: bool
    epoch: int = 0  # when the conversation's item was created (ms): names its executions and batches
    burst_started_at_ms: int = 0
    gaps_ms: tuple[int, ...] = ()  # between the arrivals of the burst's recent messages
    burst: Burst | None = None  # the conversation right after this append, as the debounce rule sees it


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    message_id: str
    text: str
    timestamp: int | None
    received_at_ms: int

    def as_payload(self) -> dict:
        return {"id": self.message_id, "text": self.text, "timestamp": self.timestamp}


@dataclass(frozen=True)
class Batch:
    """A claimed range of a conversation's sequence numbers. `batch_id` is stable across retries and
    unique over the conversation's whole life: ``epoch`` (when its item was created, in ms) tells a
    conversation that came back after its item expired, and restarted at seq 1, from its earlier life."""

    app_id: str
    sender: str
    first_seq: int
    last_seq: int
    messages: list[StoredMessage] = field(default_factory=list)
    epoch: int = 0

    @property
    def batch_id(self) -> str:
        return f"{conversation_id(self.app_id, self.sender)}-{self.epoch}-{self.first_seq}-{self.last_seq}"

    def payload(self) -> dict:
        """What the per-app processing Lambda receives."""
        return {
            "app_id": self.app_id,
            "phone_number": self.sender,
            "message": "\n".join(m.text for m in self.messages),
            "messages": [m.as_payload() for m in self.messages],
            "batch_id": self.batch_id,
        }
