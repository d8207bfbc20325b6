"""When to fire a conversation's batch. Pure: no clock, no AWS."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DebouncePolicy:
    quiet_seconds: float = 10.0

    def fire_at(self, *, last_message_at: float) -> float:
        """The moment the batch is dispatched if nothing else arrives: the quiet period after the
        latest message."""
        return last_message_at + self.quiet_seconds
