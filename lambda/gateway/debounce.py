"""When to fire a conversation's batch. Pure: no clock, no AWS.

Both sides apply the same rule to the same stored state: ``post_message`` to the state its append
returned (to tell the state machine how long to wait), ``process_message`` to the state it reads
before claiming (to decide whether the batch is due, or how much longer to wait).

The rule, per app (``DebouncePolicy``):

* the batch fires ``wait`` seconds after the latest message, where ``wait`` is
  ``quiet_seconds`` in ``fixed`` mode; in ``adaptive`` mode it is learned from the sender's rhythm:
  ``clamp(ADAPTIVE_FACTOR x median(typing gaps), min_quiet_seconds, max_quiet_seconds)``. The typing
  gaps are the last ``RHYTHM_WINDOW`` of the gaps between the sender's consecutive recent messages
  (the current burst's and, before it, the previous ones'), leaving out
  - a gap across the bot's answer (``Burst.turn_ends``): the batch its first message ended was
    delivered before its second message arrived, with nothing else pending. It holds the wait, the
    bot's answer and the sender reading it, not typing. A gap across a batch still being delivered
    when the next message came (the sender typed on: a request split too early) counts, and teaches
    the longer wait that would have kept it whole;
  - a gap that ends in a voice note (``RECORDED_KINDS``, ``Burst.recorded``): recording, not typing;
  - a gap longer than ``max_quiet_seconds``: no wait bridges it.
  With no typing gap the wait is ``quiet_seconds``. After a voice note it is ``max_quiet_seconds``:
  a second note takes as long to arrive as it lasts. Every wait is clamped to the bounds;
* but never later than ``max_wait_seconds`` after the first message of the burst (the cap), so a
  sender who never pauses is still answered;
* and at once when the burst holds ``max_messages`` messages or ``max_bytes`` bytes of text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

TIMER_SLACK_SECONDS = 1.0  # a burst's timer may wake this much after a shrunk due time
MODES = ("fixed", "adaptive")
RHYTHM_WINDOW = 8  # typing gaps the adaptive rule looks at; the store keeps RHYTHM_WINDOW + 1 arrivals
ADAPTIVE_FACTOR = 2.5  # chosen with util/bench_debounce.py: see docs/benchmarks.md "Debounce replay"
# The policy defaults, in one place: DebouncePolicy fills them in, settings.py leaves them to it, and
# main.tf fills in the same ones (tests/unit/test_one_source.py ties the two).
DEFAULT_QUIET_SECONDS = 10.0  # DEBOUNCE_SECONDS and variable "debounce_seconds"
DEFAULT_MAX_WAIT_SECONDS = 60.0  # max_wait_seconds: this, or quiet_seconds when that is longer
MIN_QUIET_DIVISOR = 5  # min_quiet_seconds: quiet_seconds / 5
MAX_QUIET_FACTOR = 3  # max_quiet_seconds: 3 x quiet_seconds
# Message kinds that take as long to make as they last (a voice note is recorded, a text typed):
# after one the adaptive wait is max_quiet_seconds, and the gap before one is no typing gap.
RECORDED_KINDS = frozenset({"audio"})


@dataclass(frozen=True)
class Burst:
    """What the rule sees of a conversation's pending messages. Times are epoch seconds."""

    started_at: float  # arrival of the first pending (unclaimed) message
    last_at: float  # arrival of the latest message
    arrivals: tuple[float, ...] = ()  # the sender's recent arrivals, oldest first; may reach back before the burst
    messages: int = 1  # pending messages
    bytes: int = 0  # pending text, UTF-8 bytes
    # Those of ``arrivals`` after which the sender was answered: each ended a batch that was delivered
    # before the sender's next message arrived (ConversationStore.mark_delivered records them). The
    # gap that follows one is no typing gap.
    turn_ends: tuple[float, ...] = ()
    # Those of ``arrivals`` that are recorded messages (voice notes, RECORDED_KINDS): the gap before
    # one is recording, not typing; after one (``last_at`` among them) the wait is the longest.
    recorded: tuple[float, ...] = ()

    @property
    def gaps(self) -> tuple[float, ...]:
        """The typing gaps between the sender's consecutive recent messages, oldest first: every gap
        but those that start at a turn end and those that end in a recorded message."""
        ends, recorded = set(self.turn_ends), set(self.recorded)
        times = sorted(self.arrivals)
        return tuple(b - a for a, b in zip(times, times[1:]) if a not in ends and b not in recorded)

    @property
    def after_recording(self) -> bool:
        """Is the latest message a recorded one (a voice note)?"""
        return self.last_at in self.recorded


@dataclass(frozen=True)
class Due:
    """When a burst fires and why: ``quiet`` (the wait after the latest message ended), or a flush:
    ``max_wait`` (the cap), ``max_messages``, ``max_bytes``."""

    at: float
    reason: str
    wait: float = field(default=0.0, compare=False)  # the quiet wait the rule chose, for logs

    @property
    def flush(self) -> bool:
        """Fires on a limit, not on silence: the pending messages are claimed even though newer
        executions are still waiting."""
        return self.reason != "quiet"


@dataclass(frozen=True)
class DebouncePolicy:
    quiet_seconds: float = DEFAULT_QUIET_SECONDS
    mode: str = "fixed"
    max_wait_seconds: float | None = None  # None: DEFAULT_MAX_WAIT_SECONDS, or quiet_seconds if longer
    max_messages: int | None = None
    max_bytes: int | None = None
    min_quiet_seconds: float | None = None  # adaptive bounds; None: quiet_seconds / 5 and 3 x quiet_seconds
    max_quiet_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.max_wait_seconds is None:
            object.__setattr__(self, "max_wait_seconds", max(DEFAULT_MAX_WAIT_SECONDS, self.quiet_seconds))
        if self.min_quiet_seconds is None:
            object.__setattr__(self, "min_quiet_seconds", self.quiet_seconds / MIN_QUIET_DIVISOR)
        if self.max_quiet_seconds is None:
            object.__setattr__(self, "max_quiet_seconds", MAX_QUIET_FACTOR * self.quiet_seconds)
        if not self.quiet_seconds > 0:
            raise ValueError("quiet_seconds must be positive")
        if not 0 < self.min_quiet_seconds <= self.max_quiet_seconds:
            raise ValueError("min_quiet_seconds must be positive and at most max_quiet_seconds")
        floor = self.min_quiet_seconds if self.mode == "adaptive" else self.quiet_seconds
        if not self.max_wait_seconds >= floor:
            raise ValueError(
                "max_wait_seconds must be at least the shortest wait "
                f"({'min_quiet_seconds' if self.mode == 'adaptive' else 'quiet_seconds'} = {floor:g})"
            )
        if self.max_messages is not None and self.max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")

    # ------------------------------------------------------------------ the rule

    def quiet_after(self, gaps: Sequence[float], *, after_recording: bool = False) -> float:
        """The wait after the latest message, given the sender's recent typing gaps (oldest first)
        and whether that message is a recorded one (a voice note)."""
        if self.mode == "fixed":
            return self.quiet_seconds
        if after_recording:
            return self.max_quiet_seconds
        typing = [g for g in list(gaps)[-RHYTHM_WINDOW:] if g <= self.max_quiet_seconds]
        base = ADAPTIVE_FACTOR * _median(typing) if typing else self.quiet_seconds
        return min(max(base, self.min_quiet_seconds), self.max_quiet_seconds)

    def due(self, burst: Burst) -> Due:
        """When ``burst`` fires if no other message arrives."""
        if self.max_messages is not None and burst.messages >= self.max_messages:
            return Due(burst.last_at, "max_messages")
        if self.max_bytes is not None and burst.bytes >= self.max_bytes:
            return Due(burst.last_at, "max_bytes")
        wait = self.quiet_after(burst.gaps, after_recording=burst.after_recording)
        quiet_at = burst.last_at + wait
        cap_at = burst.started_at + self.max_wait_seconds
        if cap_at < quiet_at:
            return Due(max(cap_at, burst.last_at), "max_wait", wait)
        return Due(quiet_at, "quiet", wait)

    def needs_timer(self, burst: Burst, latest_bytes: int = 0) -> bool:
        """One timer per burst: does the message just appended (the latest of ``burst``) need a timer
        of its own? Yes when it opens the burst, or when it brings the moment the burst is due more
        than TIMER_SLACK_SECONDS earlier than before it (a limit reached now; adaptive: the gaps got
        shorter, or a text came after a voice note). Otherwise the burst's timer wakes no later than
        due (within the slack) and the dispatcher waits out the rest."""
        if burst.messages <= 1:
            return True
        due = self.due(burst)  # a limit reached now makes it due at once: earlier than before
        before = Burst(
            started_at=burst.started_at,
            last_at=burst.arrivals[-2] if len(burst.arrivals) >= 2 else burst.started_at,
            arrivals=burst.arrivals[:-1],
            messages=burst.messages - 1,
            bytes=max(0, burst.bytes - latest_bytes),
            turn_ends=burst.turn_ends,
            recorded=burst.recorded,
        )
        return due.at < self.due(before).at - TIMER_SLACK_SECONDS

    def latest_due(self, now: float) -> float:
        """An upper bound of ``due(...).at`` for a whole burst opened at ``now``: the max-wait cap
        (the append stores it once per burst, before it knows the burst; the sweeper looks for it)."""
        return now + self.max_wait_seconds


def _median(values: Sequence[float]) -> float:
    """statistics.median, without importing statistics (and fractions) at every cold start."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
