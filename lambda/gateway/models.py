"""Plain data shapes shared by the handlers; no AWS in here."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .debounce import Burst


# A synchronous Lambda invoke carries at most 6 MB of request payload. The dispatcher never builds a
# larger one: a burst whose encoded payload would pass PAYLOAD_CAP_BYTES is split into consecutive
# batches (Batch.parts). The cap counts the whole encoded payload, every text twice included.
LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
PAYLOAD_CAP_BYTES = 6_000_000  # under the limit however "6 MB" is counted


def encode_payload(payload: dict) -> bytes:
    """UTF-8 JSON as the per-app Lambda receives it: non-ASCII as itself (1-4 bytes), not a 6-byte
    ``\\uXXXX`` escape, and no padding after separators."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _encoded_lengths(message: "StoredMessage") -> tuple[int, int]:
    """Bytes of the message's text as a JSON string (quotes included) and of its entry in ``messages``."""
    return len(json.dumps(message.text, ensure_ascii=False).encode()), len(encode_payload(message.as_payload()))


def conversation_id(app_id: str, sender: str) -> str:
    """A stable, non-reversible id for a conversation, safe for logs and execution names."""
    return hashlib.sha256(f"{app_id}\x1f{sender}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Author:
    """Who wrote a message in a group chat, as far as the provider says: the participant's id
    and display name, either of which may be unknown (None), not both."""

    id: str | None = None
    name: str | None = None

    def as_payload(self) -> dict:
        return {k: v for k, v in (("id", self.id), ("name", self.name)) if v is not None}


@dataclass(frozen=True)
class InboundMessage:
    """One message a sender typed, normalised from any provider's webhook."""

    sender: str
    text: str
    message_id: str
    timestamp: int | None = None  # provider's epoch seconds, when it sends one
    kind: str = "text"  # "text", or the media type of a placeholder ("image", "audio", ...)
    author: Author | None = None  # in a group chat (the conversation is the group): who wrote it


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
    kind: str = "text"
    author: Author | None = None

    def as_payload(self) -> dict:
        """The message's item in the batch's ``messages`` (lambda/gateway/schemas/batch.schema.json):
        ``kind`` always, ``author`` only when the provider named one."""
        payload = {"id": self.message_id, "text": self.text, "timestamp": self.timestamp, "kind": self.kind}
        if self.author is not None:
            payload["author"] = self.author.as_payload()
        return payload


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

    def parts(self, cap_bytes: int = PAYLOAD_CAP_BYTES) -> list["Batch"]:
        """This batch as consecutive batches whose encoded payloads each fit ``cap_bytes``: itself
        when it fits. Greedy from ``first_seq``, so the split (and every part's ``batch_id``) is the
        same on every retry, and the same from any part's first message onwards."""
        parts = list(self.stream_parts(self.messages, cap_bytes))
        return [self] if len(parts) == 1 else parts

    def stream_parts(self, messages: Iterable[StoredMessage], cap_bytes: int = PAYLOAD_CAP_BYTES) -> Iterator["Batch"]:
        """``parts()`` of this batch holding ``messages`` (its messages in order, read as they come):
        a part is handed out as soon as it is complete, so no more than about two parts' texts are
        held at once, whatever the size of the burst."""
        rest = iter(messages)
        # the batch so far, while it may still fit as one invoke: each message with its _encoded_lengths
        whole: list[tuple[StoredMessage, tuple[int, int]]] = []
        size = self._empty_size()
        for message in rest:
            text, entry = lengths = _encoded_lengths(message)
            size += text - 2 + entry + (3 if whole else 0)  # encoded_size(), message by message
            whole.append((message, lengths))
            if size > cap_bytes and len(whole) > 1:
                break
        else:
            yield dataclasses.replace(self, messages=[m for m, _ in whole])
            return
        # It does not fit: greedy parts. A message counts for an upper bound of its share of a part's
        # payload: its text in ``message`` (escaped, with the "\n" joining it: 2 bytes, as many as
        # the quotes json.dumps adds) and its entry in ``messages`` (with a comma); a part starts
        # from the widest batch_id it can have.
        base = len(encode_payload(dataclasses.replace(self, messages=[], first_seq=self.last_seq).payload()))
        held: list[StoredMessage] = []
        size = base
        for message, lengths in itertools.chain(whole, ((m, _encoded_lengths(m)) for m in rest)):
            share = sum(lengths) + 1
            if held and size + share > cap_bytes:
                yield self._part_of(held)
                held, size = [], base
            held.append(message)
            size += share
        yield self._part_of(held)

    def _part_of(self, messages: list[StoredMessage]) -> "Batch":
        return dataclasses.replace(self, first_seq=messages[0].seq, last_seq=messages[-1].seq, messages=messages)

    def encoded_size(self) -> int:
        """``len(encode_payload(self.payload()))``, summed message by message: the whole payload of a
        large batch (MBs, 4 bytes per character once a text has an emoji) is never built to be measured.
        JSON escapes character by character, so the joined text's escape is the texts' escapes joined
        by an escaped "\n" (2 bytes); the list adds a comma between entries."""
        lengths = [_encoded_lengths(m) for m in self.messages]
        return (self._empty_size() + sum(text - 2 + entry for text, entry in lengths)
                + 3 * max(len(lengths) - 1, 0))

    def _empty_size(self) -> int:
        """The encoded payload of this batch (its batch_id) without messages."""
        return len(encode_payload(dataclasses.replace(self, messages=[]).payload()))

    def payload(self) -> dict:
        """What the per-app processing Lambda receives: lambda/gateway/schemas/batch.schema.json."""
        return {
            "app_id": self.app_id,
            "phone_number": self.sender,
            "message": "\n".join(m.text for m in self.messages),
            "messages": [m.as_payload() for m in self.messages],
            "batch_id": self.batch_id,
        }
