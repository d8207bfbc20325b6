"""How much memory process_message needs: its peak RSS delivering a normal burst and the largest ones.

A measurement, not a test: it prints figures (``--json``: one JSON object). Each case runs in a
fresh interpreter, which records ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KB on Linux, the
peak resident set): ``interpreter`` at its start (this image's own high-water mark), ``+import``
what ``import process_message.handler`` adds (the cold import), and ``peak`` after
``lambda_handler`` claimed the burst, loaded its texts (inline on the conversation item, sealed runs
from CHUNK items), split it at PAYLOAD_CAP_BYTES and invoked the per-app Lambda synchronously once
per part, its clients created on the way as on a first invocation. ``delivery`` = peak - before.

moto keeps the table in the memory of the process it runs in, and builds every response and takes
in every invoke body there. The two modes:

* ``server``, the figure to size the function by: moto runs as an HTTP server in a process of its
  own, a separate process fills the table through it, and the measured child only imports the
  handler and delivers, talking to moto through ``AWS_ENDPOINT_URL`` as the function talks to AWS.
  No moto in it: ``before`` is the import's figure and the peak is the handler's own.
* ``inprocess``, moto in the measured process as the tests and util/cost/run.py run it: the child fills
  the table, forgets the gateway's clients (``aws.reset()``), resets its high-water mark
  (``echo 5 > /proc/self/clear_refs``, which resets ru_maxrss too) and takes ``before`` = its
  resident set, so the table's contents and moto's own imports are subtracted. It reads LOW, not
  high: the delivery reuses memory the fill freed but the allocator kept. Shown for comparison.

The per-app Lambda is a stub (in whichever process runs moto) that records the payload's size and
answers ``{}`` without parsing it. The parent process imports neither moto nor botocore: Linux keeps
the RSS a process had when it forked as a floor of its exec'd child's ru_maxrss.

Cases (``CASES``): the reference 3-message burst; a burst of 32 KB messages (MAX_TEXT_BYTES) one
message longer than a full 6 MB invoke, so split at the cap; the same with one emoji in each text
(a str with one character outside the BMP holds 4 bytes per character in Python, and so do the
joined "message" and the encoded payload's str); and bursts of 2 and 4 full parts: a burst is not
capped in bytes by default (max_wait_seconds x the API's rate bounds it), and process_message loads
and encodes the whole burst before splitting it, so its memory grows with the burst, not the part.

    python util/measure_process_memory.py            # the table
    python util/measure_process_memory.py --json     # one JSON object
    python util/measure_process_memory.py --mode server --cases burst3,split2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

APP = "memo"
BOT_FUNCTION = "memo-bot"
SENDER = "5544999999999"
RESULT_MARK = "MEASURE-RESULT "

# What a Lambda's Python runtime itself takes before the handler is imported (its bootstrap, the
# runtime interface client, the interpreter): an assumption, ~40 MB for python3.12.
RUNTIME_BOOTSTRAP_MB = 40
MEMORY_CHOICES_MB = (128, 160, 192, 256)
HEADROOM = 0.25  # the memory size must exceed the estimated peak by at least this fraction

# The bursts delivered. "parts": a burst of 32 KB messages (MAX_TEXT_BYTES) that many full 6 MB
# parts long (+ "extra" messages); "kind": the texts' characters. "sizing": the memory size is chosen
# over these: the largest batch one invoke carries (the bigger bursts show that memory no longer
# grows with the burst: delivery reads it window by window and hands out each part as it fills).
CASES: dict[str, dict[str, Any]] = {
    "burst3": {"texts": "burst3", "sizing": True, "about": "3 short messages (the reference burst)"},
    "cap": {"parts": 1, "extra": 1, "kind": "ascii", "sizing": True, "about": "one full 6 MB part and 1 message"},
    "cap-emoji": {"parts": 1, "extra": 1, "kind": "emoji", "sizing": True, "about": "as cap, one emoji in each text"},
    "split2": {"parts": 2, "kind": "ascii", "about": "two full 6 MB parts"},
    "split2-emoji": {"parts": 2, "kind": "emoji", "about": "as split2, one emoji in each text"},
    "split4": {"parts": 4, "kind": "ascii", "about": "four full 6 MB parts"},
    "split4-emoji": {"parts": 4, "kind": "emoji", "about": "as split4, one emoji in each text"},
}


def maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_kb() -> int:
    return _status_kb("VmRSS") or maxrss_kb()


def reset_peak() -> bool:
    """Reset the process's peak RSS (Linux >= 4.0); False where /proc does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def texts_for(case: dict[str, Any]) -> list[str]:
    from gateway.store import MAX_TEXT_BYTES
    from gateway.models import PAYLOAD_CAP_BYTES

    if case.get("texts") == "burst3":
        return ["hi", "I have a question", "about my order"]
    rng = random.Random(7)
    words = ["order", "delivery", "please", "tomorrow", "invoice", "thanks", "question", "address",
             "the", "and", "my", "is", "not", "yet", "when", "will", "it", "arrive", "number"]
    words += ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(400)]

    def text(i: int) -> str:
        head = f"{i} " + ("\N{SLIGHTLY SMILING FACE} " if case["kind"] == "emoji" else "")
        body = []
        size = len(head.encode())
        while size < MAX_TEXT_BYTES:
            word = rng.choice(words) + " "
            body.append(word)
            size += len(word)
        return (head + "".join(body)).encode()[:MAX_TEXT_BYTES].decode("utf-8", "ignore")

    # Each text is counted twice in a payload (in "message" and in "messages"): a part holds
    # PAYLOAD_CAP_BYTES // (2 x 32 KB + its entry) messages; the burst is ``parts`` such parts.
    per_part = PAYLOAD_CAP_BYTES // (2 * MAX_TEXT_BYTES + 80)
    return [text(i) for i in range(case["parts"] * per_part + case.get("extra", 0))]


# --------------------------------------------------------------------------- the per-app Lambda stub


@contextlib.contextmanager
def stub_bot(records: "list[int] | RecordsFile") -> Iterator[None]:
    """moto Lambda invocations (in whichever process runs moto) answered by a stub that records the
    payload's size. Unlike util.local_aws.route_lambda_invocations it does not parse the payload."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        records.append(len(body or b""))
        return b"{}"

    LambdaSimpleBackend.invoke = invoke
    try:
        yield
    finally:
        LambdaSimpleBackend.invoke = original


# --------------------------------------------------------------------------- the measured child


def _environment(table: str) -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
        POWERTOOLS_SERVICE_NAME="debouncer", POWERTOOLS_METRICS_NAMESPACE="Debouncer", LOG_LEVEL="INFO",
        TABLE_NAME=table, PROCESSING_LAMBDAS_MAP=json.dumps({APP: BOT_FUNCTION}),
        DEBOUNCE_SECONDS="0.1", INLINE_WAIT_SECONDS="15",
        FAILED_BATCHES_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/memo-failed",
    )
    os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)


def fill(case_name: str, table: str) -> dict[str, Any]:
    """The table, the stub bot's function, and the case's burst appended through the store (as
    post_message appends: inline on the conversation item, sealed runs into CHUNK items)."""
    from gateway.store import ConversationStore
    from gateway.models import InboundMessage
    from util import local_aws as la

    la.create_table(table)
    try:
        la.create_function(BOT_FUNCTION)
    except Exception as exc:  # noqa: BLE001 - the server keeps it from an earlier case
        if "ResourceConflict" not in repr(exc):
            raise
    texts = texts_for(CASES[case_name])
    store = ConversationStore(table)
    started = time.time()
    for i, text in enumerate(texts):
        store.append(APP, InboundMessage(SENDER, text, f"M{i:06d}", timestamp=int(started)),
                     latest_due=time.time() + 0.1)
    time.sleep(0.3)  # the burst is due (quiet period 0.1 s)
    return {"text_bytes": sum(len(t.encode()) for t in texts), "fill_seconds": round(time.time() - started, 1)}


def child(case_name: str, mode: str) -> dict[str, Any]:
    """``fill``: fill the server's table. ``server``: deliver the filled burst, nothing else in the
    process. ``inprocess``: start moto, fill, reset the peak, deliver."""
    interpreter = _status_kb("VmHWM") or maxrss_kb()  # this image's own (ru_maxrss has the parent's as a floor)
    table = f"memo-{case_name}"
    _environment(table)
    if mode == "fill":
        return fill(case_name, table)

    from util import local_aws as la

    import process_message.handler as handler

    handler_imported = maxrss_kb()
    records: list[int] = []
    filled: dict[str, Any] = {}
    peak_reset = True
    with contextlib.ExitStack() as stack:
        if mode == "inprocess":
            import gc

            from moto import mock_aws

            from gateway import aws, settings

            stack.enter_context(mock_aws(config=la.MOTO_CONFIG))
            stack.enter_context(stub_bot(records))
            filled = fill(case_name, table)
            aws.reset()  # the delivery makes its own clients, as a first invocation does
            settings.reset()
            handler.dispatcher.cache_clear()
            gc.collect()
            peak_reset = reset_peak()
            before = rss_kb() if peak_reset else maxrss_kb()
        else:
            before = handler_imported
        t0 = time.perf_counter()
        result = handler.lambda_handler({"app_id": APP, "sender": SENDER, "seq": 1}, la.LambdaContext("process"))
        delivery_seconds = time.perf_counter() - t0
        peak, hwm = maxrss_kb(), _status_kb("VmHWM")
        state = handler.dispatcher().store.get(APP, SENDER)
    return {
        "case": case_name, "mode": mode, "messages": state.seq, "delivered_seq": state.delivered_seq,
        "action": result.get("action"), "payload_bytes": records, **filled,
        "delivery_seconds": round(delivery_seconds, 2), "peak_reset": peak_reset,
        "kb": {"interpreter": interpreter, "handler_imported": handler_imported, "before": before,
               "peak": peak, "vmhwm_peak": hwm},
    }


# --------------------------------------------------------------------------- the moto server


def serve(records_file: str) -> None:
    """moto as an HTTP endpoint (Lambda without docker, invocations stubbed, their payload sizes
    appended to ``records_file``), in a process of its own, until stdin closes."""
    import urllib.request

    from moto.server import ThreadedMotoServer

    records = RecordsFile(Path(records_file))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        request = urllib.request.Request(
            f"{url}/moto-api/config", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        )
        urllib.request.urlopen(request, timeout=10).read()
        with stub_bot(records):
            print(url, flush=True)
            sys.stdin.read()
    finally:
        server.stop()


class RecordsFile:
    """A list of payload sizes kept in a file, one a line, so the parent can read the server's."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, size: int) -> None:
        with self.path.open("a") as f:
            f.write(f"{size}\n")


# --------------------------------------------------------------------------- the parent
# The parent stays small (no moto, no botocore): Linux carries the RSS a process had when it forked
# into its child's ru_maxrss (the exec'd image's high-water mark is kept as a floor), so a parent
# holding moto would put its own size under every child's figure.


@contextlib.contextmanager
def moto_server(records_file: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(records_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the moto server did not start")
        yield url
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def run_child(case: str, mode: str, endpoint: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL", None)
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", case, "--mode", mode],
        env=env, capture_output=True, text=True, timeout=1800,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    raise RuntimeError(f"case {case} ({mode}) failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def mb(kb: float) -> float:
    return round(kb / 1024, 1)


def measure(cases: list[str], modes: list[str]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="measure-memory-") as tmp, contextlib.ExitStack() as stack:
        records_file = Path(tmp) / "invocations"
        records_file.touch()
        endpoint = stack.enter_context(moto_server(records_file)) if "server" in modes else None
        for case in cases:
            for mode in modes:
                records_file.write_text("")
                if mode == "server":
                    filled = run_child(case, "fill", endpoint)
                result = run_child(case, mode, endpoint if mode == "server" else None)
                if mode == "server":
                    result.update(filled, payload_bytes=[int(n) for n in records_file.read_text().split()])
                kb = result["kb"]
                result["mb"] = {
                    "interpreter": mb(kb["interpreter"]), "handler_imported": mb(kb["handler_imported"]),
                    "import": mb(kb["handler_imported"] - kb["interpreter"]),
                    "before": mb(kb["before"]), "peak": mb(kb["peak"]),
                    "delivery": mb(kb["peak"] - kb["before"]),
                }
                results.append(result)
    return {"results": results, "estimate": estimate(results)}


def estimate(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each case's peak on Lambda: the runtime's bootstrap (assumed) + what importing the handler
    adds to an interpreter + what the delivery adds, from the moto-free (server) runs when there
    are any; and the smallest memory size with HEADROOM over the worst of the SIZING cases."""
    runs = [r for r in results if r["mode"] == "server"] or results
    per_case = {}
    for r in runs:
        peak = RUNTIME_BOOTSTRAP_MB + r["mb"]["import"] + r["mb"]["delivery"]
        fits = [m for m in MEMORY_CHOICES_MB if m >= peak * (1 + HEADROOM)]
        per_case[r["case"]] = {
            "estimated_peak_mb": round(peak, 1), "smallest_mb": fits[0] if fits else None,
            "headroom_at": {m: round(m / peak - 1, 2) for m in MEMORY_CHOICES_MB},
        }
    sizing = [c for c in per_case if CASES[c].get("sizing")]
    worst = max(sizing or per_case, key=lambda c: per_case[c]["estimated_peak_mb"])
    return {
        "from_mode": runs[0]["mode"], "runtime_bootstrap_mb": RUNTIME_BOOTSTRAP_MB, "headroom": HEADROOM,
        "cases": per_case, "sizing_cases": sizing, "worst_sizing_case": worst,
        "choice_mb": per_case[worst]["smallest_mb"],
    }


def print_table(report: dict[str, Any]) -> None:
    print("process_message peak memory (ru_maxrss, MB = 1024 KB); each row a fresh interpreter;")
    print("server: moto in another process (the handler's own figure); inprocess: moto in the measured one\n")
    header = (f"{'case':<13} {'mode':<9} {'msgs':>5} {'text MB':>7} {'parts':>5} {'max part MB':>11} "
              f"{'interp':>6} {'+import':>7} {'before':>6} {'peak':>6} {'delivery':>8} {'s':>5}")
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        m, parts = r["mb"], r["payload_bytes"]
        print(f"{r['case']:<13} {r['mode']:<9} {r['messages']:>5} {r['text_bytes'] / 2**20:>7.2f} "
              f"{len(parts):>5} {max(parts or [0]) / 2**20:>11.2f} {m['interpreter']:>6} {m['import']:>7} "
              f"{m['before']:>6} {m['peak']:>6} {m['delivery']:>8} {r['delivery_seconds']:>5}")
    print("\n" + "; ".join(f"{case}: {CASES[case]['about']}" for case in dict.fromkeys(r["case"] for r in report["results"])))
    by = {(r["case"], r["mode"]): r for r in report["results"]}
    shares = [(case, by[(case, "inprocess")]["mb"]["delivery"] - by[(case, "server")]["mb"]["delivery"])
              for case, mode in by if mode == "server" and (case, "inprocess") in by]
    if shares:
        print("\ndelivery inprocess - server: " + ", ".join(f"{case} {share:+.1f} MB" for case, share in shares))
        print("  (inprocess measures from after the fill, whose freed memory the delivery reuses: it reads low)")
    if not all(r["peak_reset"] for r in report["results"]):
        print("\nnote: /proc/self/clear_refs was not writable: inprocess 'before' is the fill's peak, and a "
              "delivery below it reads as 0")
    e = report["estimate"]
    print(f"\non Lambda ({e['from_mode']} runs): runtime bootstrap {e['runtime_bootstrap_mb']} MB (assumed) "
          f"+ import + delivery; headroom = memory / estimate - 1")
    sizes = "  ".join(f"{m:>5} MB" for m in MEMORY_CHOICES_MB)
    print(f"{'case':<13} {'estimate MB':>11}  {sizes}  smallest with >= {e['headroom']:.0%}")
    for case, c in e["cases"].items():
        cells = "  ".join(f"{h:>+8.0%}" for h in c["headroom_at"].values())
        print(f"{case:<13} {c['estimated_peak_mb']:>11}  {cells}  {c['smallest_mb'] or 'none'}")
    print(f"\nsized for the bursts one invoke carries ({', '.join(e['sizing_cases'])}): worst "
          f"{e['worst_sizing_case']}, {e['cases'][e['worst_sizing_case']]['estimated_peak_mb']} MB -> "
          f"{e['choice_mb'] or 'none of ' + '/'.join(map(str, MEMORY_CHOICES_MB))} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--mode", choices=["both", "server", "inprocess", "fill"], default="both")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.child:
        print(RESULT_MARK + json.dumps(child(args.child, args.mode)), flush=True)
        return
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    modes = ["server", "inprocess"] if args.mode == "both" else [args.mode]
    report = measure(cases, modes)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
