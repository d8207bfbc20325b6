"""Gateway benchmarks: figures printed, not asserted (README "Operations: monitoring, cost and benchmarks").

1. webhook-path AWS calls per message, and
2. dispatch delay / quiet period: how long after a burst's last message its batch reaches the app,
   in an end-to-end run on moto at the reference traffic (util/cost/run.py's run, STANDARD);
3. handler cold import time / a bare ``import boto3``, each in fresh interpreters, repeated, median,
   with the package as Lambda runs it (read-only, with and without the bytecode util/build.py ships),
   and the handler's first invocation after the import (CPU ms);
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


def end_to_end(traffic: dict, workflow_type: str = "STANDARD") -> dict:
    from util.cost.inventory import lambda_memory_mb
    from util.cost.pricing import price_run
    from util.cost.run import run

    result = run(workflow_type, traffic)
    priced = price_run(result, lambda_memory_mb())
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


# Measured as Lambda runs the code: the package laid out as in /var/task (util/build.py, the code
# only; the pinned dependencies are this virtualenv's, installed with their bytecode), read-only,
# so nothing is compiled and cached between cold starts (PYTHONDONTWRITEBYTECODE). Each probe is a
# fresh interpreter: it imports the handler, then sets up moto and times the first invocation, so
# an import deferred to the first call would show there. CPU time, not wall time: on a shared
# machine other processes stretch wall time at random, while the work is what a cold start pays.
PROBE = """
import time
t = time.process_time()
import {module} as handler
imported = time.process_time() - t
import json
from util.bench import first_invocation
print(json.dumps({{"import_s": imported, **first_invocation("{module}", handler)}}))
"""
BOTO3_PROBE = "import time; t = time.process_time(); import boto3; print(time.process_time() - t)"


def lambda_package(folder: Path, *, bytecode: bool) -> Path:
    from util import build

    build.build(folder, with_dependencies=False, bytecode=False)
    if bytecode:
        build.compile_package(folder, sys.executable)  # this interpreter's version: it runs the probes
    return folder


def _probe_env(package: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_FUNCTION_NAME"}
    env.update(PYTHONPATH=os.pathsep.join([str(package), str(ROOT)]), PYTHONDONTWRITEBYTECODE="1",
               AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing", LOG_LEVEL="WARNING")
    return env


def probe(module: str, package: Path) -> dict:
    code = BOTO3_PROBE if module == "boto3" else PROBE.format(module=module)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_probe_env(package),
                          cwd=package, timeout=120, check=True)
    last = proc.stdout.strip().splitlines()[-1]
    return {"import_s": float(last)} if module == "boto3" else json.loads(last)


def first_invocation(module: str, handler) -> dict:
    """In the probe, after the import: moto and the resources the handler needs (not timed), then
    the handler's first invocation and a second one, CPU seconds (moto answers in-process, so its
    own work is in both; the difference is the cold path: clients, settings, lazy work)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import boto3
    from moto import mock_aws

    from util import local_aws as la
    from util.cost.run import webhook_event

    mock = mock_aws()
    mock.start()
    la.create_table("bench")
    machine = boto3.client("stepfunctions").create_state_machine(
        name="bench", definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{la.ACCOUNT_ID}:role/bench")["stateMachineArn"]
    failed = boto3.client("sqs").create_queue(QueueName="bench-failed")["QueueUrl"]

    class Api(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the messaging API: 200 to every reply
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args):
            pass

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    os.environ.update(TABLE_NAME="bench", STATE_MACHINE_ARN=machine, DEBOUNCE_SECONDS="10",
                      PROCESSING_LAMBDAS_MAP=json.dumps({"bot1": "bench-bot"}), FAILED_BATCHES_QUEUE_URL=failed,
                      API_URLS_MAP=json.dumps({"bot1": f"http://127.0.0.1:{api.server_port}/send-text"}))

    def event(n: int) -> dict:
        if module.startswith("post_message"):
            return webhook_event("5511900000001", "hello", f"BENCH{n}")
        if module.startswith("process_message"):  # a timer with nothing (left) to deliver: read, decide
            return {"app_id": "bot1", "sender": "5511900000001", "seq": 1}
        if module.startswith("send_message_api"):
            body = json.dumps({"app_id": "bot1", "phone_number": "5511900000001", "message_to_send": "hi"})
            return {"Records": [{"messageId": f"m{n}", "receiptHandle": "h", "body": body, "attributes":
                                 {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs"}]}
        return {}

    timings = []
    for n in (1, 2):
        context = la.LambdaContext(module.split(".")[0])
        start = time.process_time()
        handler.lambda_handler(event(n), context)
        timings.append(time.process_time() - start)
    api.shutdown()
    mock.stop()
    return {"first_call_s": timings[0], "second_call_s": timings[1]}


def cold_imports(repeat: int) -> dict:
    """Median import time of boto3 and of each handler module, and of its first invocation, fresh
    interpreter each time, interleaved so that machine load hits all alike; the package with its
    bytecode (as util/build.py ships it) and without (as it shipped before)."""
    import tempfile

    modules = [h for h in HANDLERS if (ROOT / "lambda" / (h.replace(".", "/") + ".py")).is_file()]
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        packages = {"bytecode": lambda_package(Path(tmp) / "bytecode", bytecode=True),
                    "source": lambda_package(Path(tmp) / "source", bytecode=False)}
        samples: dict[tuple[str, str], list[dict]] = {}
        for _ in range(repeat):
            for kind, package in packages.items():
                for module in ["boto3", *modules]:
                    samples.setdefault((kind, module), []).append(probe(module, package))

    def median(kind: str, module: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[(kind, module)])

    base = statistics.median(s["import_s"] for kind in packages for s in samples[(kind, "boto3")])
    result: dict = {"boto3_ms": base * 1000, "handlers_ms": {}, "ratios": {}, "source_ratios": {},
                    "first_call_ms": {}, "second_call_ms": {}}
    for module in modules:
        result["handlers_ms"][module] = median("bytecode", module, "import_s") * 1000
        result["ratios"][module] = median("bytecode", module, "import_s") / base
        result["source_ratios"][module] = median("source", module, "import_s") / base
        result["first_call_ms"][module] = median("bytecode", module, "first_call_s") * 1000
        result["second_call_ms"][module] = median("bytecode", module, "second_call_s") * 1000
    result["cold_import_ratio"] = max(result["ratios"].values())
    return result


# --------------------------------------------------------------------------- 4: burst scaling


def burst_seconds(size: int, text_bytes: int) -> tuple[float, int]:
    """Append ``size`` messages to one conversation, claim them, load them: wall time on moto, and
    the size of the conversation item before the claim (what each append rewrites)."""
    import boto3
    from moto import mock_aws

    from gateway import aws
    from gateway.store import ConversationStore
    from gateway.models import InboundMessage
    from util import local_aws as la
    from util.cost.run import chat_text

    with mock_aws(config=la.MOTO_CONFIG):
        aws.reset()
        table = f"bench-burst-{size}"
        la.create_table(table)
        boto3.client("dynamodb", region_name=la.REGION)  # warm the client outside the timing
        store = ConversationStore(table, clock=lambda: time.time())
        later = ConversationStore(table, clock=lambda: time.time() + 3600)  # the claim finds the batch due
        # Prose, as util/cost/run.py sends: the store compresses long texts, and a repeated letter would
        # shrink to nothing (about 700 entries inline instead of about 100, and moto slows with them).
        texts = [chat_text(text_bytes, seq) for seq in range(1, size + 1)]
        start = time.perf_counter()
        for seq, text in enumerate(texts, start=1):
            message_id = f"3EB0{seq:016X}"  # shaped like a Z-API message id (20 characters)
            store.append("bench", InboundMessage(sender="5511999990000", text=text, message_id=message_id),
                         latest_due=time.time() + 10)
        item = boto3.client("dynamodb", region_name=la.REGION).get_item(
            TableName=table, Key={"pk": {"S": "CONV#bench#5511999990000"}, "sk": {"S": "META"}})["Item"]
        outcome = later.claim("bench", "5511999990000", size)
        assert outcome.status == "claimed", outcome.status
        messages = later.load_messages("bench", "5511999990000", outcome.batch.first_seq, outcome.batch.last_seq)
        elapsed = time.perf_counter() - start
        assert len(messages) == size
        aws.reset()
    from util.cost.meter import item_size

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
    parser.add_argument("--imports-only", action="store_true", help="only figure 3")
    args = parser.parse_args(argv)

    from util.cost import run as cost

    figures: dict = {}
    if not args.skip_e2e and not args.imports_only:
        figures["e2e"] = end_to_end({**cost.REFERENCE, **DELAY_TRAFFIC})
        figures["e2e_express"] = end_to_end({**cost.REFERENCE, **DELAY_TRAFFIC}, "EXPRESS")
    figures["imports"] = cold_imports(args.repeat)
    if not args.imports_only:
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
        express = figures["e2e_express"]  # the Wait ends on a whole second; a 1 s inline wait
        rows.append(("  EXPRESS (Wait on the whole second, late by <= 4 % or the rest slept), median",
                     f"{express['dispatch_delay_ratio']:.3f}", "<= 1.05"))
        rows.append(("  EXPRESS, worst batch", f"{express['dispatch_delay_ratio_max']:.3f}", ""))
    imports = figures["imports"]
    rows.append((f"cold import / import boto3 ({imports['boto3_ms']:.0f} ms), worst handler",
                 f"{imports['cold_import_ratio']:.2f}", "<= 1.3"))
    for module, ratio in imports["ratios"].items():
        rows.append((f"  {module} ({imports['handlers_ms'][module]:.0f} ms); without bytecode "
                     f"{imports['source_ratios'][module]:.2f}", f"{ratio:.2f}", ""))
    for module, first in imports["first_call_ms"].items():
        rows.append((f"  first invocation of {module}, ms (second: {imports['second_call_ms'][module]:.0f})",
                     f"{first:.0f}", ""))
    burst = figures.get("burst")
    if burst:
        rows.append((f"1,000-message burst / 100-message burst ({burst['burst_1000_s']:.2f} s / {burst['burst_100_s']:.2f} s)",
                     f"{burst['burst_ratio']:.2f}", "<= 12"))
        rows.append(("  conversation item before the claim, KB (100 / 1,000 messages)",
                     f"{burst['item_bytes_100'] / 1024:.0f} / {burst['item_bytes_1000'] / 1024:.0f}", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':{width}}  {'figure':>8}  target")
    print("-" * (width + 20))
    for name, value, target in rows:
        print(f"{name:{width}}  {value:>8}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
