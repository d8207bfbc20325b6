"""Replay synthetic typing traces through the debounce rule and print what each policy does to them.

Every trace is labelled with the requests the person meant. The replay uses the same pure function
the Lambdas use (gateway.debounce.DebouncePolicy.due) on a simulated clock: no AWS, no sleeping.
What the rule is given is what the conversation item would hold (gateway.store): the
arrivals kept at the last claim (RECENT_ARRIVALS_KEPT) and every one since, the turn ends the
deliveries recorded (a batch delivered with nothing pending after it; those of the last
RECENT_ARRIVALS_KEPT delivered messages), the voice notes (pending, and among the last
RECENT_ARRIVALS_KEPT claimed messages).

* A batch fires at the rule's moment rounded up to the whole second, as the state machine's Wait
  state does (scheduler.wait_timestamp); a message that arrives before that moment joins the batch
  and the rule is applied again, as post_message does.
* The bot answers each batch BOT_SECONDS after it fires (a sync bot: process_message records the
  batch delivered when the bot returns, its reply sent by then). A sync bot holding the next batch
  back while it answers is not modelled: the figures are the rule's.
* One-off traces (``--traces one-off``): each sender's messages are fixed in advance, whatever
  the policy does. Live chat (``--traces live``): the sender waits for the bot's answer to their
  latest message, then reads it and answers READ_SECONDS later, so when a turn starts depends on
  the policy.

    python util/bench_debounce.py                   # both tables (docs/benchmarks.md)
    python util/bench_debounce.py --traces live --variants   # + the adaptive rule told less (VARIANTS)
    python util/bench_debounce.py --senders 200 --seed 7
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda"))

from gateway.debounce import RECORDED_KINDS, Burst, DebouncePolicy  # noqa: E402
from gateway.store import RECENT_ARRIVALS_KEPT  # noqa: E402

EPOCH = 1_700_000_000.0
BOT_SECONDS = (2.0, 10.0)  # the bot's answer, after its batch fires (uniform)
READ_SECONDS = (5.0, 30.0)  # live chat: from the answer to the sender's next message (uniform)
REQUESTS_PER_SENDER = 8
ONE_OFF = ("fast", "slow", "bursty", "never pauses")  # the one-off traces; the others are live chat
VOICE = "live, voice notes"

ADAPTIVE = DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=30,
                          max_wait_seconds=60)
POLICIES = {
    "adaptive 2-30 s": ADAPTIVE,
    "fixed 10 s": DebouncePolicy(quiet_seconds=10, max_wait_seconds=60),
    "fixed 3 s": DebouncePolicy(quiet_seconds=3, max_wait_seconds=60),
}
# What the adaptive rule does when told less (--variants): the same function, given other inputs.
#   every gap counted: no turn ends, no voice notes (every gap up to max_quiet_seconds is typing);
#   burst gaps only: every batch ends a turn when it fires, answered or not;
#   kinds ignored: the turn ends, but no voice notes.
VARIANTS = {"adaptive, every gap counted": "every gap", "adaptive, burst gaps only": "burst gaps",
            "adaptive, kinds ignored": "kinds ignored"}


@dataclass(frozen=True)
class Message:
    at: float
    request: int  # the request the person meant (unique across the whole trace)
    kind: str = "text"


@dataclass
class Fired:
    at: float  # when the batch fired
    messages: list[Message]
    answered_at: float  # when the bot's answer was sent (and the batch recorded delivered)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0, sigma))


# --------------------------------------------------------------------------- the conversation


@dataclass
class Conversation:
    """One sender's conversation item, as far as the rule is concerned, and the batches it made."""

    policy: DebouncePolicy
    bot: random.Random  # draws the bot's answer times
    inputs: str = "store"  # "store", or a VARIANTS value
    bot_seconds: tuple[float, float] = BOT_SECONDS
    arrivals: list[tuple[int, float, str]] = field(default_factory=list)  # (seq, at, kind), as kept
    turn_ends: set[int] = field(default_factory=set)  # seqs the deliveries recorded as turn ends
    pending: list[Message] = field(default_factory=list)
    seq: int = 0
    claimed_seq: int = 0
    delivered_seq: int = 0
    deliveries: list[tuple[float, int]] = field(default_factory=list)  # (answered_at, last seq), in flight
    fired: list[Fired] = field(default_factory=list)
    waits: list[tuple[Message, float]] = field(default_factory=list)  # the quiet wait chosen after each message

    def burst(self) -> Burst:
        # What the item tells: the turn ends of the last RECENT_ARRIVALS_KEPT delivered messages
        # (``turns``), the voice notes pending and among the last RECENT_ARRIVALS_KEPT claimed ones.
        ends = tuple(at for s, at, _ in self.arrivals
                     if s in self.turn_ends and s > self.delivered_seq - RECENT_ARRIVALS_KEPT)
        recorded = tuple(at for s, at, kind in self.arrivals
                         if kind in RECORDED_KINDS and s > self.claimed_seq - RECENT_ARRIVALS_KEPT)
        if self.inputs == "every gap":
            ends = recorded = ()
        elif self.inputs == "kinds ignored":
            recorded = ()
        return Burst(started_at=self.pending[0].at, last_at=self.pending[-1].at,
                     arrivals=tuple(at for _, at, _ in self.arrivals), messages=len(self.pending),
                     turn_ends=ends, recorded=recorded)

    def advance(self, until: float) -> None:
        """Fire and deliver what is due before a message that arrives at ``until``."""
        while True:
            fire = math.ceil(self.policy.due(self.burst()).at) if self.pending else math.inf
            answer = min(self.deliveries)[0] if self.deliveries else math.inf
            if min(fire, answer) > until or (fire == answer == math.inf):
                return
            if answer < fire and answer < until:  # an answer the next message finds delivered
                _, last = self.deliveries.pop(self.deliveries.index(min(self.deliveries)))
                if self.seq == last:  # nothing pending: the sender was answered
                    self.turn_ends.add(last)
                self.delivered_seq = max(self.delivered_seq, last)
                continue
            if fire <= until:  # a message arriving at the due moment finds the batch fired
                answered_at = fire + self.bot.uniform(*self.bot_seconds)
                self.fired.append(Fired(fire, self.pending, answered_at))
                self.deliveries.append((answered_at, self.seq))
                if self.inputs == "burst gaps":
                    self.turn_ends.add(self.seq)
                self.pending = []
                self.claimed_seq = self.seq
                self.arrivals = self.arrivals[-RECENT_ARRIVALS_KEPT:]  # the claim cuts recent_at
                continue
            return

    def send(self, message: Message) -> None:
        self.advance(message.at)
        self.seq += 1
        self.pending.append(message)
        self.arrivals.append((self.seq, message.at, message.kind))
        self.waits.append((message, self.policy.due(self.burst()).wait))

    def settle(self) -> Fired:
        """Let every batch fire and be answered; the batch that holds the latest message."""
        self.advance(math.inf)
        return self.fired[-1]


# --------------------------------------------------------------------------- traces


Turn = list[tuple[float, int, str]]  # (offset from the turn's start, request, kind)


def _burst_turn(rng: random.Random, request: int, parts: int, gap: Callable[[int], float],
                kind: str = "text") -> Turn:
    offsets, t = [], 0.0
    for i in range(parts):
        if i:
            t += gap(i)
        offsets.append((t, request, kind))
    return offsets


def one_off_traces(senders: int, seed: int) -> dict[str, list[list[Message]]]:
    """Per profile, one message list per sender, fixed whatever the policy does."""
    rng = random.Random(seed)
    profiles = {
        # 1-5 messages about 2 s apart; 20 s to 2 min between requests
        "fast": dict(parts=lambda: rng.choice([1, 2, 2, 3, 3, 4, 5]),
                     gap=lambda i: max(0.3, _lognormal(rng, 2.0, 0.5)),
                     pause=lambda: rng.uniform(20, 120)),
        # 2-5 messages about 12 s apart; 40 s to 3 min between requests
        "slow": dict(parts=lambda: rng.choice([2, 3, 3, 4, 5]),
                     gap=lambda i: _lognormal(rng, 12.0, 0.25),
                     pause=lambda: rng.uniform(40, 180)),
        # fast typing with a thinking pause of 8-20 s after every 2nd to 3rd message
        "bursty": dict(parts=lambda: rng.choice([3, 4, 5, 6, 8]),
                       gap=lambda i: rng.uniform(8, 20) if i % rng.choice([2, 3]) == 0
                       else max(0.3, _lognormal(rng, 2.0, 0.5)),
                       pause=lambda: rng.uniform(40, 180)),
    }
    out: dict[str, list[list[Message]]] = {}
    for name, shape in profiles.items():
        out[name] = []
        for s in range(senders):
            t, messages = EPOCH + rng.random(), []  # a random fraction of a second: the Wait state rounds up
            for r in range(s * REQUESTS_PER_SENDER, (s + 1) * REQUESTS_PER_SENDER):
                turn = _burst_turn(rng, r, shape["parts"](), shape["gap"])
                messages += [Message(t + offset, request, kind) for offset, request, kind in turn]
                t = messages[-1].at + shape["pause"]()
            out[name].append(messages)
    # one request each: a message every 1-3 s for 5 minutes, never a pause
    out["never pauses"] = []
    for s in range(max(1, senders // 4)):
        t = EPOCH + rng.random()
        turn = _burst_turn(rng, s, 150, lambda i: rng.uniform(1, 3))
        out["never pauses"].append([Message(t + offset, request, kind) for offset, request, kind in turn])
    return out


def live_traces(senders: int, seed: int) -> dict[str, list[list[Turn]]]:
    """Per persona, one list of turns per sender: what the sender types after each answer of the bot,
    with offsets from the moment they start (READ_SECONDS after the answer)."""
    rng = random.Random(seed)

    def fast_gap(i: int) -> float:
        return max(0.3, _lognormal(rng, 2.0, 0.5))

    def slow_gap(i: int) -> float:
        return _lognormal(rng, 12.0, 0.25)

    def fast(r: int) -> Turn:  # 1-3 messages ~2 s apart, mostly one or two
        return _burst_turn(rng, r, rng.choice([1, 1, 1, 2, 2, 3]), fast_gap)

    def slow(r: int) -> Turn:  # 1-4 messages ~12 s apart
        return _burst_turn(rng, r, rng.choice([1, 2, 2, 3, 4]), slow_gap)

    def pauses(r: int) -> Turn:  # 2-4 messages ~2 s apart, one 10-25 s pause inside
        parts = rng.choice([2, 3, 4])
        at = rng.randrange(1, parts)
        return _burst_turn(rng, r, parts, lambda i: rng.uniform(10, 25) if i == at else fast_gap(i))

    def correction(r: int) -> Turn:  # a fast turn; one in three followed ~30 s later by a correction
        turn = fast(r)
        if rng.random() < 1 / 3:
            # A request of its own: it comes after the bot's answer to the turn (a reply to it).
            turn.append((turn[-1][0] + rng.uniform(25, 35), r + 10**6, "text"))
        return turn

    def record() -> float:  # a voice note lasts ~10 s (3-60 s), and takes as long to record
        return min(60.0, max(3.0, _lognormal(rng, 10.0, 0.6)))

    def voice(r: int) -> Turn:  # half the turns 1-3 voice notes, the others a fast text turn
        if rng.random() < 0.5:
            return fast(r)
        turn = _burst_turn(rng, r, rng.choice([1, 1, 2, 3]), lambda i: record() + rng.uniform(0.5, 2), "audio")
        first = record()  # the first note arrives once it is recorded too
        return [(offset + first, request, kind) for offset, request, kind in turn]

    personas = {"live fast": fast, "live slow": slow, "live, pauses mid-thought": pauses,
                "live, corrects ~30 s later": correction, VOICE: voice}
    return {name: [[make(s * REQUESTS_PER_SENDER + r) for r in range(REQUESTS_PER_SENDER)]
                   for s in range(senders)] for name, make in personas.items()}


# --------------------------------------------------------------------------- replay


def replay_one_off(policy: DebouncePolicy, messages: list[Message], seed: int, inputs: str = "store",
                   bot_seconds: tuple[float, float] = BOT_SECONDS) -> Conversation:
    conversation = Conversation(policy, random.Random(seed), inputs, bot_seconds)
    for message in messages:
        conversation.send(message)
    conversation.settle()
    return conversation


def replay_live(policy: DebouncePolicy, turns: list[Turn], seed: int, inputs: str = "store",
                bot_seconds: tuple[float, float] = BOT_SECONDS) -> Conversation:
    """The sender starts each turn READ_SECONDS after the bot answered the batch holding their
    latest message (the first turn at the epoch)."""
    reader = random.Random(seed)
    conversation = Conversation(policy, random.Random(seed + 1), inputs, bot_seconds)
    start = EPOCH + reader.random()
    for turn in turns:
        for offset, request, kind in turn:
            conversation.send(Message(start + offset, request, kind))
        start = conversation.settle().answered_at + reader.uniform(*READ_SECONDS)
    return conversation


def measure(batches_per_sender: Iterable[list[Fired]], kind: str | None = None) -> dict[str, float]:
    """What the batches did to the requests (those whose messages are of ``kind``, if given)."""
    requests_batches: dict[int, set[int]] = {}
    last_message: dict[int, float] = {}
    dispatched: dict[int, float] = {}
    merged: set[int] = set()
    merge_errors = batch_count = 0
    oldest_waits: list[float] = []
    for fired in batches_per_sender:
        for batch in fired:
            batch_count += 1
            requests = {m.request for m in batch.messages}
            counted = [m for m in batch.messages if kind is None or m.kind == kind]
            if not counted:
                continue
            if len(requests) > 1:
                merge_errors += 1
                merged |= {m.request for m in counted}
            oldest_waits.append(batch.at - counted[0].at)
            for m in counted:
                requests_batches.setdefault(m.request, set()).add(batch_count)
                if m.at >= last_message.get(m.request, -1):
                    last_message[m.request] = m.at
                    dispatched[m.request] = batch.at
    latencies = sorted(dispatched[r] - last_message[r] for r in dispatched)
    return {
        "requests": len(requests_batches),
        "fragmentation": statistics.fmean(len(b) for b in requests_batches.values()),
        "split": sum(len(b) > 1 for b in requests_batches.values()) / len(requests_batches),
        "merged": len(merged) / len(requests_batches),
        "merge_errors": merge_errors,
        "latency_p50": statistics.median(latencies),
        "latency_p95": _quantile(latencies, 0.95),
        "oldest_wait_max": max(oldest_waits),
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def results(senders: int = 40, seed: int = 5, traces: str = "both", variants: bool = False,
            bot_seconds: tuple[float, float] = BOT_SECONDS) -> dict[tuple[str, str], dict[str, float]]:
    """(trace, policy) -> measure(): one-off traces first, then live chat."""
    policies = [(name, policy, "store") for name, policy in POLICIES.items()]
    if variants:
        policies += [(name, ADAPTIVE, inputs) for name, inputs in VARIANTS.items()]
    out = {}
    if traces in ("both", "one-off"):
        for profile, trace in one_off_traces(senders, seed).items():
            for name, policy, inputs in policies:
                out[profile, name] = measure(
                    replay_one_off(policy, messages, seed * 7919 + s, inputs, bot_seconds).fired
                    for s, messages in enumerate(trace))
    if traces in ("both", "live"):
        for persona, trace in live_traces(senders, seed).items():
            fired = {name: [replay_live(policy, turns, seed * 7919 + 2 * s, inputs, bot_seconds).fired
                            for s, turns in enumerate(trace)] for name, policy, inputs in policies}
            out |= {(persona, name): measure(batches) for name, batches in fired.items()}
            if persona == VOICE:  # and its voice and text requests apart
                for kind, label in (("audio", "the voice requests"), ("text", "the text requests")):
                    out |= {(f"{persona}: {label}", name): measure(batches, kind) for name, batches in fired.items()}
    return out


def table(results_: dict[tuple[str, str], dict[str, float]], traces: tuple[str, ...] | None = None) -> str:
    rows = [
        "| trace | policy | requests | batches / request | requests split | requests merged "
        "| latency after last msg p50 / p95 | longest wait of a message |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (trace, name), m in results_.items():
        if traces is not None and trace not in traces:
            continue
        rows.append(
            f"| {trace} | {name} | {m['requests']} | {m['fragmentation']:.2f} | {m['split']:.0%} "
            f"| {m['merged']:.0%} | {m['latency_p50']:.1f} s / {m['latency_p95']:.1f} s "
            f"| {m['oldest_wait_max']:.0f} s |"
        )
    return "\n".join(rows)


def targets(results_: dict[tuple[str, str], dict[str, float]]) -> list[tuple[str, bool]]:
    """What the adaptive rule is held to: a fast typer chatting live waits at p95 at most 1.2 x
    the fixed 10 s wait's p95; slow typers (one-off and live) have at most 15 % of their requests
    split; no message waits longer than the cap (60 s), to the second the Wait state rounds up to."""
    out = []
    adaptive, fixed = "adaptive 2-30 s", "fixed 10 s"
    if ("live fast", adaptive) in results_:
        ours, theirs = results_["live fast", adaptive]["latency_p95"], results_["live fast", fixed]["latency_p95"]
        out.append((f"live fast p95 {ours:.1f} s <= 1.2 x fixed 10 s's {theirs:.1f} s = {1.2 * theirs:.1f} s",
                    ours <= 1.2 * theirs))
    for trace in ("slow", "live slow"):
        if (trace, adaptive) in results_:
            split = results_[trace, adaptive]["split"]
            out.append((f"{trace}: {split:.0%} of requests split <= 15 %", split <= 0.15))
    longest = max(m["oldest_wait_max"] for (_, name), m in results_.items() if name == adaptive)
    cap = ADAPTIVE.max_wait_seconds
    out.append((f"longest wait of a message {longest:.0f} s <= the {cap:g} s cap + 1 s", longest <= cap + 1))
    return out


def _span(text: str) -> tuple[float, float]:
    lo, hi = (float(x) for x in text.split(","))
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError("LO,HI with 0 <= LO <= HI")
    return lo, hi


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=40,
                        help=f"senders per profile ({REQUESTS_PER_SENDER} requests each)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--traces", choices=("both", "one-off", "live"), default="both")
    parser.add_argument("--bot-seconds", type=_span, default=BOT_SECONDS, metavar="LO,HI",
                        help="the bot's answer after its batch fires, uniform (default "
                             f"{BOT_SECONDS[0]:g},{BOT_SECONDS[1]:g}; 0,0: an async bot, "
                             "recorded delivered when invoked)")
    parser.add_argument("--variants", action="store_true",
                        help="add the adaptive rule told less: every gap counted, burst gaps only, kinds ignored")
    args = parser.parse_args(argv)
    measured = results(args.senders, args.seed, args.traces, args.variants, args.bot_seconds)
    if args.traces != "live":
        print("One-off traces (each sender's messages fixed in advance):\n")
        print(table(measured, ONE_OFF), end="\n\n")
    if args.traces != "one-off":
        lo, hi = args.bot_seconds
        print(f"Live chat (the bot answers {lo:g}-{hi:g} s after a batch fires; "
              f"the sender answers {READ_SECONDS[0]:g}-{READ_SECONDS[1]:g} s after that):\n")
        print(table(measured, tuple(trace for trace, _ in measured if trace not in ONE_OFF)), end="\n\n")
    print("Targets of the adaptive rule:")
    for text, met in targets(measured):
        print(f"- [{'x' if met else ' '}] {text}")


if __name__ == "__main__":
    main()
