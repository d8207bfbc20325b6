"""What the gateway costs per message, measured: an instrumented end-to-end run on moto, priced.

    python -m util.cost            # the per-1M table and the monthly bill (make cost)
    python -m util.cost --json     # one JSON object (the bill under "monthly_bill")
    python -m util.cost --quick    # a small, time-scaled run (tests)
    python -m util.cost --messages-per-month 2000000 --messages-per-burst 3 --gap-seconds 2 \\
        --bot-seconds 5 --bot-memory-mb 512 --replies-per-burst 1 [--tracing] [--no-dashboard] \\
        [--no-alarms] [--alarm-email] [--access-logs]
    python -m util.cost --bot-seconds 0,5,20   # the bot-time table at 0, 5 and 20 s (the bill at 0 s)
"""

from __future__ import annotations

import argparse
import math

from util.cost import bill
from util.cost.bill_units import monthly_bill
from util.cost.inventory import deployed
from util.cost.pricing import measure
from util.cost.report import print_report
from util.cost.run import QUICK, REFERENCE


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text} is negative")
        return value
    return parse


def durations(text: str) -> list[float]:
    """``--bot-seconds``: one duration or a comma-separated list of them (seconds, none negative)."""
    pieces = [piece.strip() for piece in text.split(",")]
    if not all(pieces):
        raise argparse.ArgumentTypeError(f"{text!r}: a number or a comma-separated list of numbers")
    try:
        values = [float(piece) for piece in pieces]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: a number or a comma-separated list of numbers") from exc
    if any(v < 0 or not math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: the durations must be finite and not negative")
    return values


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m util.cost", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="a small run with a 1 s quiet period (per-message figures)")
    parser.add_argument("--senders", type=int, help="number of senders (default: 30, quick: 6)")
    parser.add_argument("--message-bytes", type=int, help="bytes of text per message (default: 1024; 100 is a typical chat line)")
    parser.add_argument("--history", type=int, default=0,
                        help="earlier messages in each conversation before the run (an established conversation; default 0)")
    _traffic_arguments(parser.add_argument_group(
        "monthly bill: your traffic (the run measures the reference shape; another shape is computed from its "
        "per-invocation units)"))
    toggles = parser.add_argument_group("monthly bill: the deployment's toggles (Terraform variables)")
    toggles.add_argument("--tracing", action="store_true", help="X-Ray active tracing (tracing_enabled; default off)")
    toggles.add_argument("--no-dashboard", action="store_true", help="no CloudWatch dashboard (dashboard_enabled = false)")
    toggles.add_argument("--no-alarms", action="store_true", help="no CloudWatch alarms (alarms_enabled = false)")
    toggles.add_argument("--alarm-email", action="store_true", help="alarm_email set: an SNS topic and its KMS key")
    toggles.add_argument("--access-logs", action="store_true", help="API Gateway access logs on (default off)")
    return parser


def _traffic_arguments(group) -> None:
    """The operator's traffic, the bot and the reply path: what the monthly bill is at."""
    group.add_argument("--messages-per-month", type=_positive(float), default=1_000_000, help="default 1,000,000")
    group.add_argument("--messages-per-burst", type=_positive(int), default=REFERENCE["burst"],
                       help=f"messages a sender sends in a row (default {REFERENCE['burst']})")
    group.add_argument("--gap-seconds", type=_positive(float), default=REFERENCE["gap_seconds"],
                       help=f"seconds between two messages of a burst (default {REFERENCE['gap_seconds']:g})")
    group.add_argument("--quiet-seconds", type=_positive(float),
                       help="the quiet period (default: debounce_seconds of terraform.tfvars / variables.tf)")
    group.add_argument("--bot-seconds", type=durations, default=[5.0],
                       help="the bot's run time per batch, or a comma-separated list of them (e.g. 0,5,20): the "
                            "bot-time table shows each, sync and async; the bill is at the first (default 5)")
    group.add_argument("--bot-memory-mb", type=_positive(int), default=512, help="the bot Lambda's memory (default 512)")
    group.add_argument("--replies-per-burst", type=_positive(float), default=1.0,
                       help="replies the bot sends per burst (default 1)")
    group.add_argument("--provider-ms", type=_positive(float), default=bill.PROVIDER_HTTP_MS,
                       help=f"round trip of one reply's POST to the messaging API (default {bill.PROVIDER_HTTP_MS:g})")


def _run_traffic(args: argparse.Namespace) -> dict:
    """The measured run's traffic: the reference (or quick) shape, with the arguments' changes."""
    traffic = dict(QUICK if args.quick else REFERENCE)
    if args.senders:
        traffic["senders"] = args.senders
    if args.message_bytes:
        traffic["message_bytes"] = args.message_bytes
    if args.history:
        traffic["history"] = args.history
    return traffic


def _bill_traffic(args: argparse.Namespace) -> bill.Traffic:
    """The operator's traffic the monthly bill is at (the quiet period as deployed unless given)."""
    return bill.Traffic(
        messages_per_month=args.messages_per_month, messages_per_burst=args.messages_per_burst,
        gap_seconds=args.gap_seconds, bot_seconds=args.bot_seconds[0], replies_per_burst=args.replies_per_burst,
        bot_memory_mb=args.bot_memory_mb,
        quiet_seconds=args.quiet_seconds if args.quiet_seconds is not None else deployed().debounce_seconds)


def main(argv: list[str] | None = None) -> int:
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.messages_per_burst < 1:
        arguments.error("--messages-per-burst must be at least 1")
    traffic = _run_traffic(args)
    yours = _bill_traffic(args)
    options = bill.Options(tracing=args.tracing, dashboard=not args.no_dashboard, alarms=not args.no_alarms,
                           alarm_email=args.alarm_email, access_logs=args.access_logs)
    runs, priced = measure(traffic)
    monthly = monthly_bill(runs, yours, options, provider_ms=args.provider_ms)
    bot_time = bill.bot_time(monthly, args.bot_seconds)
    print_report(runs, priced, monthly, bot_time, as_json_object=args.json)
    return 0
