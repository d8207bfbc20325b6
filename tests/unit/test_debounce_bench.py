"""The debounce replay (util/bench_debounce.py, `make bench-debounce`) holds the adaptive rule to its
targets on the default run, and the figures docs/benchmarks.md quotes about the rule given less
(every gap counted, burst gaps only, kinds ignored) stay true."""

from __future__ import annotations

import pytest

from util import bench_debounce as bench

ADAPTIVE, FIXED_10 = "adaptive 2-30 s", "fixed 10 s"


@pytest.fixture(scope="module")
def results():
    return bench.results(variants=True)  # the default run: 40 senders per trace, seed 5 (~1 s)


def test_the_adaptive_rule_meets_its_targets(results):
    for text, met in bench.targets(results):
        assert met, text


def test_counting_the_gaps_across_answers_makes_a_live_chat_wait_at_the_ceiling(results):
    """The live-chat case: one or two messages a turn, 10-30 s between turns."""
    fixed = results["live fast", FIXED_10]["latency_p95"]
    assert results["live fast", "adaptive, every gap counted"]["latency_p95"] > 2.5 * fixed
    assert results["live fast", ADAPTIVE]["latency_p95"] <= 1.2 * fixed


def test_counting_only_the_gaps_inside_bursts_doubles_slow_typers_splits(results):
    for trace in ("slow", "live slow"):
        assert results[trace, "adaptive, burst gaps only"]["split"] >= 1.8 * results[trace, ADAPTIVE]["split"]


def test_the_kind_keeps_voice_notes_whole_and_their_senders_text_quick(results):
    voice, text = f"{bench.VOICE}: the voice requests", f"{bench.VOICE}: the text requests"
    assert results[voice, ADAPTIVE]["split"] <= 0.05 < 0.3 <= results[voice, "adaptive, kinds ignored"]["split"]
    assert results[text, ADAPTIVE]["latency_p95"] <= 1.2 * results[text, FIXED_10]["latency_p95"]
    assert results[text, "adaptive, kinds ignored"]["latency_p95"] > 2 * results[text, FIXED_10]["latency_p95"]


def test_the_cap_holds_for_every_policy_and_trace(results):
    for (trace, policy), m in results.items():
        assert m["oldest_wait_max"] <= bench.ADAPTIVE.max_wait_seconds + 1, (trace, policy)


def test_a_bot_that_answers_at_once_costs_slow_typers_what_burst_gaps_only_does():
    """The limit docs/design.md states: the gap that split a slow typer counts when the next part
    comes before the answer, and with an answer at once it never does."""
    instant = bench.results(traces="one-off", bot_seconds=(0.0, 0.0), variants=True)
    assert instant["slow", ADAPTIVE]["split"] == instant["slow", "adaptive, burst gaps only"]["split"]
