"""Draw docs/adaptive-wait.png: the adaptive wait against the sender's observed typing gaps.

    python util/plot_debounce.py [--out docs/adaptive-wait.png]

The curve is computed by the rule itself (gateway.debounce.DebouncePolicy.quiet_after) for the
example policy of the README (quiet 10 s, adaptive bounds 2-30 s), not re-implemented here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambda"))

from gateway.debounce import ADAPTIVE_FACTOR, RHYTHM_WINDOW, DebouncePolicy  # noqa: E402

POLICY = DebouncePolicy(quiet_seconds=10, mode="adaptive", min_quiet_seconds=2, max_quiet_seconds=30,
                        max_wait_seconds=60)
FIXED = DebouncePolicy(quiet_seconds=10)


def draw(out: Path) -> None:
    xs = [i / 20 for i in range(0, 40 * 20 + 1)]
    # a sender whose recent gaps all equal x; past max_quiet they count as request boundaries
    adaptive = [POLICY.quiet_after([x] * RHYTHM_WINDOW) for x in xs]
    fixed = [FIXED.quiet_after([x] * RHYTHM_WINDOW) for x in xs]

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    ax.axvspan(POLICY.max_quiet_seconds, xs[-1], color="0.93", zorder=0)
    ax.text(POLICY.max_quiet_seconds + 0.5, 36, "gaps > max_quiet:\nrequest boundaries,\nnot typing",
            fontsize=8, color="0.35", va="top")
    ax.plot(xs, xs, color="0.6", linestyle=":", linewidth=1, label="wait = gap (a longer gap splits)")
    ax.plot(xs, fixed, color="tab:gray", linewidth=1.5, label=f"fixed: {FIXED.quiet_seconds:g} s")
    ax.plot(xs, adaptive, color="tab:blue", linewidth=2.2,
            label=f"adaptive: clamp({ADAPTIVE_FACTOR:g} x median gap, min, max)")
    ax.axhline(POLICY.min_quiet_seconds, color="tab:green", linestyle="--", linewidth=1,
               label=f"min_quiet_seconds = {POLICY.min_quiet_seconds:g}")
    ax.axhline(POLICY.max_quiet_seconds, color="tab:red", linestyle="--", linewidth=1,
               label=f"max_quiet_seconds = {POLICY.max_quiet_seconds:g}")
    for gap, who in ((2, "fast typer"), (12, "slow typer")):
        wait = POLICY.quiet_after([gap] * RHYTHM_WINDOW)
        ax.plot([gap], [wait], "o", color="tab:blue")
        ax.annotate(f"{who}: gaps ~{gap} s -> waits {wait:g} s", (gap, wait), textcoords="offset points",
                    xytext=(8, 6 if gap > 5 else 8), fontsize=8)
    ax.set_xlim(0, xs[-1])
    ax.set_ylim(0, 40)
    ax.set_xlabel(f"median of the sender's last {RHYTHM_WINDOW} gaps between messages (s)")
    ax.set_ylabel("wait after the latest message (s)")
    ax.set_title("Adaptive debounce: wait against observed typing gaps\n"
                 f"(always capped at {POLICY.max_wait_seconds:g} s after the burst's first message)",
                 fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(0.34, 0.42), fontsize=8, framealpha=0.95)
    ax.grid(alpha=0.3)
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
