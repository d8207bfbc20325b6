"""Gateway benchmarks: figures printed, not asserted (README "Operations: monitoring, cost and benchmarks").

1. webhook-path AWS calls per message, and
2. dispatch delay / quiet period: how long after a burst's last message its batch reaches the app,
   in an end-to-end run on moto at the reference traffic (util/cost.py's run, STANDARD);
3. handler cold import time / a bare ``import boto3``, each in fresh interpreters, repeated, median;
4. processing time of a 1,000-message burst / a 100-message burst, through the conversation store
   on moto: the appends, the claim and load_messages.

    python util/bench.py               # everything (make bench)
    python util/bench.py --skip-e2e    # without the ~30 s end-to-end run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

HANDLERS = ["post_message.handler", "process_message.handler", "send_message_api.handler", "sweeper.handler"]
TARGETS = {"webhook_path_calls": 3.0, "dispatch_delay_ratio": 1.05, "cold_import_ratio": 1.3, "burst_ratio": 12.0}


# --------------------------------------------------------------------------- 1 + 2: end to end


# The delay run: senders start 0.8 s apart, so their batches come due one after another instead of
# all in the same second (moto serialises every request under one lock; 30 dispatches due at once
# would measure that queue, not the timer).
DELAY_TRAFFIC = {"senders": 12, "stagger_seconds": 0.8}


def end_to_end(traffic: dict) -> dict:
    from util import cost

    result = cost.run("STANDARD", traffic)
    priced = cost.price_run(result, cost.lambda_memory_mb())
    delays = sorted(result.dispatch_delays)
    quiet = traffic["quiet_seconds"]
    return {
        "timer_late_median_s": statistics.median(d["timer_late_s"] for d in result.deliveries),
        "processing_median_s": statistics.median(d["processing_s"] for d in result.deliveries),
        "aws_delay_ratio": statistics.median(d["aws_delay_s"] for d in result.deliveries) / quiet,
        "aws_delay_ratio_max": max(d["aws_delay_s"] for d in result.deliveries) / quiet,
        "webhook_path_calls": priced.counts["webhook_path_calls"],
        "dispatch_delay_median_s": statistics.median(delays),
        "dispatch_delay_max_s": delays[-1],
        "dispatch_delay_ratio": statistics.median(delays) / quiet,
        "dispatch_delay_ratio_max": delays[-1] / quiet,
        "batches": result.batches,
        "messages": result.messages,
    }


# --------------------------------------------------------------------------- 3: cold imports


# CPU time of the import, not wall time: on a shared machine other processes stretch wall time
# at random, while the work an import does is what a Lambda cold start pays for.
IMPORT_PROBE = "import time; t = time.process_time(); import {module}; print(time.process_time() - t)"


def import_seconds(module: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_FUNCTION_NAME"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lambda"), str(ROOT)])
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE.format(module=module)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def cold_imports(repeat: int) -> dict:
    """Median import time of boto3 and of each handler module, fresh interpreter each time,
    interleaved so that machine load hits both alike."""
    modules = ["boto3", *[h for h in HANDLERS if (ROOT / "lambda" / (h.replace(".", "/") + ".py")).is_file()]]
    samples: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(repeat):
        for module in modules:
            samples[module].append(import_seconds(module))
    medians = {m: statistics.median(v) for m, v in samples.items()}
    base = medians.pop("boto3")
    return {"boto3_ms": base * 1000, "handlers_ms": {m: v * 1000 for m, v in medians.items()},
            "ratios": {m: v / base for m, v in medians.items()}, "cold_import_ratio": max(v / base for v in medians.values())}


# --------------------------------------------------------------------------- 4: burst scaling


def burst_seconds(size: int, text_bytes: int) -> tuple[float, int]:
    """Append ``size`` messages to one conversation, claim them, load them: wall time on moto, and
    the size of the conversation item before the claim (what each append rewrites)."""
    import boto3
    from moto import mock_aws

    from gateway import aws
    from gateway.conversations import ConversationStore
    from gateway.models import InboundMessage
    from util import local_aws as la

    with mock_aws(config=la.MOTO_CONFIG):
        aws.reset()
        table = f"bench-burst-{size}"
        la.create_table(table)
        boto3.client("dynamodb", region_name=la.REGION)  # warm the client outside the timing
        store = ConversationStore(table, clock=lambda: time.time())
        later = ConversationStore(table, clock=lambda: time.time() + 3600)  # the claim finds the batch due
        text = "x" * text_bytes
        start = time.perf_counter()
        for seq in range(1, size + 1):
            message_id = f"3EB0{seq:016X}"  # shaped like a Z-API message id (20 characters)
            store.append("bench", InboundMessage(sender="5511999990000", text=text, message_id=message_id),
                         due_at=time.time() + 10)
        item = boto3.client("dynamodb", region_name=la.REGION).get_item(
            TableName=table, Key={"pk": {"S": "CONV#bench#5511999990000"}, "sk": {"S": "META"}})["Item"]
        outcome = later.claim("bench", "5511999990000", size)
        assert outcome.status == "claimed", outcome.status
        messages = later.load_messages("bench", "5511999990000", outcome.batch.first_seq, outcome.batch.last_seq)
        elapsed = time.perf_counter() - start
        assert len(messages) == size
        aws.reset()
    from util.cost import item_size

    return elapsed, item_size(item)


def burst_scaling(repeat: int, text_bytes: int) -> dict:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    small = [burst_seconds(100, text_bytes) for _ in range(repeat)]
    large = [burst_seconds(1000, text_bytes)]  # ~1.5 minutes on moto; once
    small_s, large_s = statistics.median(s for s, _ in small), large[0][0]
    return {"burst_100_s": small_s, "burst_1000_s": large_s, "burst_ratio": large_s / small_s,
            "text_bytes": text_bytes, "item_bytes_100": small[0][1], "item_bytes_1000": large[0][1]}


# --------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-e2e", action="store_true", help="skip the end-to-end run (figures 1 and 2)")
    parser.add_argument("--repeat", type=int, default=7, help="fresh interpreters per module (figure 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from util import cost

    figures: dict = {}
    if not args.skip_e2e:
        figures["e2e"] = end_to_end({**cost.REFERENCE, **DELAY_TRAFFIC})
    figures["imports"] = cold_imports(args.repeat)
    figures["burst"] = burst_scaling(3, 1024)
    if args.json:
        print(json.dumps(figures))
        return 0

    rows = []
    if "e2e" in figures:
        e2e = figures["e2e"]
        rows.append(("webhook-path AWS calls per message", f"{e2e['webhook_path_calls']:.2f}", "<= 3"))
        rows.append((f"dispatch delay / quiet period ({cost.REFERENCE['quiet_seconds']} s), median",
                     f"{e2e['dispatch_delay_ratio']:.3f}", "<= 1.05"))
        rows.append(("  worst batch", f"{e2e['dispatch_delay_ratio_max']:.3f}", ""))
        rows.append(("  timer: process_message started after the quiet period, median s",
                     f"{e2e['timer_late_median_s']:.3f}", ""))
        rows.append(("  then claim + load + invoke until the app has the batch, median s",
                     f"{e2e['processing_median_s']:.3f}", ""))
        rows.append(("  modelled for AWS (timer at the whole second, rest waited in the Lambda), median",
                     f"{e2e['aws_delay_ratio']:.3f}", "<= 1.05"))
        rows.append(("  modelled for AWS, worst batch", f"{e2e['aws_delay_ratio_max']:.3f}", ""))
    imports = figures["imports"]
    rows.append((f"cold import / import boto3 ({imports['boto3_ms']:.0f} ms), worst handler",
                 f"{imports['cold_import_ratio']:.2f}", "<= 1.3"))
    for module, ratio in imports["ratios"].items():
        rows.append((f"  {module} ({imports['handlers_ms'][module]:.0f} ms)", f"{ratio:.2f}", ""))
    burst = figures["burst"]
    rows.append((f"1,000-message burst / 100-message burst ({burst['burst_1000_s']:.2f} s / {burst['burst_100_s']:.2f} s)",
                 f"{burst['burst_ratio']:.2f}", "<= 12"))
    rows.append((f"  conversation item before the claim, KB (100 / 1,000 messages)",
                 f"{burst['item_bytes_100'] / 1024:.0f} / {burst['item_bytes_1000'] / 1024:.0f}", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':{width}}  {'figure':>8}  target")
    print("-" * (width + 20))
    for name, value, target in rows:
        print(f"{name:{width}}  {value:>8}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
