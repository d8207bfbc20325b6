"""Replay synthetic typing traces through the debounce rule and print what each policy does to them.

Every trace is labelled with the requests the person meant. The replay uses the same pure function
the Lambdas use (gateway.debounce.DebouncePolicy.due) on a simulated clock: no AWS, no sleeping.
A batch fires at the rule's moment rounded up to the whole second, as the state machine's Wait
state does (scheduler.wait_timestamp); a message that arrives before that moment joins the batch
and the rule is applied again, as post_message does.

    python util/bench_debounce.py            # the table in README "Adaptive debounce"
    python util/bench_debounce.py --senders 200 --seed 7
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda"))

from gateway.conversations import RECENT_ARRIVALS_KEPT  # noqa: E402
from gateway.debounce import Burst, DebouncePolicy  # noqa: E402

EPOCH = 1_700_000_000.0
NO_CAP = 10**9

POLICIES = {
    "fixed 10 s, no cap (reference)": DebouncePolicy(quiet_seconds=10, max_wait_seconds=NO_CAP),
    "fixed 10 s, 60 s cap": DebouncePolicy(quiet_seconds=10, max_wait_seconds=60),
    "adaptive 2-30 s, 60 s cap": DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2,
                                                max_quiet_seconds=30, max_wait_seconds=60),
}


@dataclass(frozen=True)
class Message:
    at: float
    request: int  # the request the person meant (unique across the whole trace)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0, sigma))


def _sender(rng: random.Random, requests: int, parts, gap, pause, first_request: int) -> list[Message]:
    """``requests`` requests of ``parts()`` messages, ``gap()`` apart, ``pause()`` between requests."""
    t = EPOCH + rng.random()  # a random fraction of a second: the Wait state rounds up
    messages = []
    for r in range(first_request, first_request + requests):
        for i in range(parts()):
            if i:
                t += gap(i)
            messages.append(Message(t, r))
        t += pause()
    return messages


def traces(senders: int, seed: int) -> dict[str, list[list[Message]]]:
    """Per profile, one message list per sender. Request ids are unique within a profile."""
    rng = random.Random(seed)
    per_sender = 8
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
        out[name] = [_sender(rng, per_sender, first_request=s * per_sender, **shape) for s in range(senders)]
    # one request each: a message every 1-3 s for 5 minutes, never a pause
    out["never pauses"] = [
        _sender(rng, 1, parts=lambda: 150, gap=lambda i: rng.uniform(1, 3), pause=lambda: 0, first_request=s)
        for s in range(max(1, senders // 4))
    ]
    return out


def replay(policy: DebouncePolicy, messages: list[Message]) -> list[tuple[float, list[Message]]]:
    """The batches (dispatch time, messages) that ``policy`` makes of one sender's messages."""
    batches: list[tuple[float, list[Message]]] = []
    pending: list[Message] = []
    arrivals: list[float] = []  # what the conversation item keeps in recent_at
    i = 0
    while i < len(messages) or pending:
        if pending:
            burst = Burst(started_at=pending[0].at, last_at=pending[-1].at,
                          arrivals=tuple(arrivals[-RECENT_ARRIVALS_KEPT:]), messages=len(pending))
            fire = math.ceil(policy.due(burst).at)
            if i >= len(messages) or messages[i].at >= fire:
                batches.append((fire, pending))
                pending = []
                continue
        pending.append(messages[i])
        arrivals.append(messages[i].at)
        i += 1
    return batches


def measure(policy: DebouncePolicy, senders: list[list[Message]]) -> dict[str, float]:
    requests_batches: dict[int, set[int]] = {}
    last_message: dict[int, float] = {}
    dispatched: dict[int, float] = {}
    merge_errors = batch_count = 0
    oldest_waits: list[float] = []
    for messages in senders:
        for fire, batch in replay(policy, messages):
            batch_count += 1
            if len({m.request for m in batch}) > 1:
                merge_errors += 1
            oldest_waits.append(fire - batch[0].at)
            for m in batch:
                requests_batches.setdefault(m.request, set()).add(batch_count)
                if m.at >= last_message.get(m.request, -1):
                    last_message[m.request] = m.at
                    dispatched[m.request] = fire
    latencies = sorted(dispatched[r] - last_message[r] for r in dispatched)
    return {
        "requests": len(requests_batches),
        "batches": batch_count,
        "fragmentation": statistics.fmean(len(b) for b in requests_batches.values()),
        "split": sum(len(b) > 1 for b in requests_batches.values()) / len(requests_batches),
        "merge_errors": merge_errors,
        "latency_p50": statistics.median(latencies),
        "latency_p95": _quantile(latencies, 0.95),
        "oldest_wait_max": max(oldest_waits),
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def table(senders: int = 40, seed: int = 5) -> str:
    rows = [
        "| trace | policy | requests | batches / request | requests split | merge errors "
        "| latency after last msg p50 / p95 | longest wait of a message |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for profile, trace in traces(senders, seed).items():
        for name, policy in POLICIES.items():
            m = measure(policy, trace)
            rows.append(
                f"| {profile} | {name} | {m['requests']} | {m['fragmentation']:.2f} | {m['split']:.0%} "
                f"| {m['merge_errors']} | {m['latency_p50']:.1f} s / {m['latency_p95']:.1f} s "
                f"| {m['oldest_wait_max']:.0f} s |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=40, help="senders per profile (8 requests each)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    print(table(args.senders, args.seed))


if __name__ == "__main__":
    main()
