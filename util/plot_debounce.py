"""Draw docs/adaptive-wait.png: the adaptive wait against the sender's typing gaps, and message by
message in a live chat with the bot.

    python util/plot_debounce.py [--out docs/adaptive-wait.png]

Both panels are computed by the rule itself (gateway.debounce.DebouncePolicy), for the example policy
of docs/design.md (quiet 10 s, adaptive bounds 2-30 s, 60 s cap), not re-implemented here: the left
one by ``quiet_after``, the right one by replaying a live-chat sender of util/bench_debounce.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from gateway.debounce import ADAPTIVE_FACTOR, RHYTHM_WINDOW  # noqa: E402
from util import bench_debounce as bench  # noqa: E402

POLICY = bench.ADAPTIVE
FIXED = bench.POLICIES["fixed 10 s"]
# A fast typer chatting with the bot: one or two messages a turn, 2 s apart (the benchmark's "live
# fast" persona sends 1-3); the bot's answers and the sender's reading times drawn as it draws them.
LIVE_PARTS = (1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 1, 2, 1, 2)
LIVE_SEED = 5


def _wait_against_gaps(ax) -> None:
    xs = [i / 20 for i in range(0, 40 * 20 + 1)]
    # a sender whose recent typing gaps all equal x; past max_quiet they count as request boundaries
    adaptive = [POLICY.quiet_after([x] * RHYTHM_WINDOW) for x in xs]
    fixed = [FIXED.quiet_after([x] * RHYTHM_WINDOW) for x in xs]
    ax.axvspan(POLICY.max_quiet_seconds, xs[-1], color="0.93", zorder=0)
    ax.text(POLICY.max_quiet_seconds + 0.5, 39, "gaps > max_quiet:\nrequest\nboundaries,\nnot typing",
            fontsize=7.5, color="0.35", va="top")
    ax.plot(xs, xs, color="0.6", linestyle=":", linewidth=1, label="wait = gap (a longer gap splits)")
    ax.plot(xs, fixed, color="tab:gray", linewidth=1.5, label=f"fixed: {FIXED.quiet_seconds:g} s")
    ax.plot(xs, adaptive, color="tab:blue", linewidth=2.2,
            label=f"adaptive: clamp({ADAPTIVE_FACTOR:g} x median typing gap, min, max)")
    ax.axhline(POLICY.min_quiet_seconds, color="tab:green", linestyle="--", linewidth=1,
               label=f"min_quiet_seconds = {POLICY.min_quiet_seconds:g}")
    ax.axhline(POLICY.max_quiet_seconds, color="tab:red", linestyle="--", linewidth=1,
               label=f"max_quiet_seconds = {POLICY.max_quiet_seconds:g}: also after a voice note")
    for gap, who in ((2, "fast typer"), (12, "slow typer")):
        wait = POLICY.quiet_after([gap] * RHYTHM_WINDOW)
        ax.plot([gap], [wait], "o", color="tab:blue")
        ax.annotate(f"{who}: gaps ~{gap} s -> waits {wait:g} s", (gap, wait), textcoords="offset points",
                    xytext=(8, 6 if gap > 5 else 8), fontsize=8)
    ax.set_xlim(0, xs[-1])
    ax.set_ylim(0, 40)
    ax.set_xlabel(f"median of the sender's last {RHYTHM_WINDOW} typing gaps (s)\n"
                  "(a gap across the bot's answer, or one spent recording a voice note, is none)")
    ax.set_ylabel("wait after the latest message (s)")
    ax.set_title("The wait against the sender's typing gaps", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(0.3, 0.5), fontsize=7.5, framealpha=0.95)
    ax.grid(alpha=0.3)


def _live_chat(ax) -> None:
    turns = [[(2.0 * i, request, "text") for i in range(parts)] for request, parts in enumerate(LIVE_PARTS)]
    lines = (
        (POLICY, "store", "adaptive: gaps across an answer left out", "tab:blue", "o", 2.2),
        (POLICY, "every gap", "adaptive, if every gap up to max_quiet counted", "tab:red", "x", 1.2),
        (FIXED, "store", f"fixed {FIXED.quiet_seconds:g} s", "tab:gray", None, 1.5),
    )
    for policy, inputs, label, color, marker, width in lines:
        waits = [wait for _, wait in bench.replay_live(policy, turns, LIVE_SEED, inputs).waits]
        ax.plot(range(1, len(waits) + 1), waits, color=color, marker=marker, linewidth=width, markersize=5,
                label=label)
    first = 1
    for number, turn in enumerate(turns, 1):  # the sender's turns, each after the bot's answer
        if number % 2:
            ax.axvspan(first - 0.5, first + len(turn) - 0.5, color="0.92", zorder=0)
        first += len(turn)
    ax.set_xlim(0.5, first - 0.5)
    ax.set_ylim(0, 40)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel(f"message; every other turn shaded (the bot answers {bench.BOT_SECONDS[0]:g}-"
                  f"{bench.BOT_SECONDS[1]:g} s after a batch is\ndispatched, the sender starts the next turn "
                  f"{bench.READ_SECONDS[0]:g}-{bench.READ_SECONDS[1]:g} s after the answer)")
    ax.set_ylabel("wait after the message (s)")
    ax.set_title("A fast typer chatting with the bot: one or two messages a turn, 2 s apart", fontsize=10)
    ax.legend(loc="upper left", fontsize=7.5, framealpha=0.95)
    ax.grid(alpha=0.3)


def draw(out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), dpi=110)
    _wait_against_gaps(left)
    _live_chat(right)
    fig.suptitle("Adaptive debounce (quiet 10 s, bounds 2-30 s; always capped at "
                 f"{POLICY.max_wait_seconds:g} s after the burst's first message)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "adaptive-wait.png")
    args = parser.parse_args(argv)
    draw(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
