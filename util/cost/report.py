"""What ``python -m util.cost`` prints: the per-1M table (per-message counts and USD per 1M messages
of each run and the seed's pattern, the targets, the EXPRESS floor), the monthly bill and the
bot-time table, as text or as one JSON object."""

from __future__ import annotations

import json
from decimal import Decimal

from util.cost import bill
from util.cost.meter import ASSUMED_CALL_LATENCY_MS
from util.cost.prices import PRICES
from util.cost.pricing import TARGETS, Priced, express_floor
from util.cost.run import REFERENCE, RunResult

# The per-message counts of the per-1M table: (count, title, format)
COUNT_ROWS = (
    ("webhook_path_calls", "webhook-path AWS calls", "{:.2f}"), ("aws_calls", "AWS API calls (all)", "{:.2f}"),
    ("transitions", "Step Functions transitions", "{:.2f}"), ("executions", "executions", "{:.2f}"),
    ("express_gb_seconds", "Express GB-s", "{:.4f}"),
    ("lambda_invocations", "Lambda invocations", "{:.2f}"), ("lambda_gb_seconds", "Lambda GB-s", "{:.4f}"),
    ("wru", "DynamoDB WRU (incl. GSI)", "{:.2f}"), ("wru_gsi", "  of which GSI", "{:.2f}"),
    ("rru", "DynamoDB RRU", "{:.2f}"), ("log_bytes", "log bytes", "{:.0f}"),
    ("function_log_bytes", "  of which the functions' output", "{:.0f}"),
)
TITLE_WIDTH = 34


def print_report(runs: dict[str, RunResult], priced: list[Priced], monthly: bill.Bill, bot_time: bill.BotTime,
                 *, as_json_object: bool = False) -> None:
    """The per-1M table, the monthly bill and the bot-time table; or all of it as one JSON object
    (the bill under "monthly_bill", the bot-time table under "bot_time")."""
    if as_json_object:
        report = as_json(runs, priced)
        report["monthly_bill"] = bill.as_json(monthly)
        report["bot_time"] = bill.bot_time_json(bot_time)
        print(json.dumps(report, default=lambda o: float(o) if isinstance(o, Decimal) else str(o)))
        return
    print_table(runs, priced)
    print()
    print("\n".join(bill.render(monthly)))
    print()
    print("\n".join(bill.render_bot_time(bot_time)))


# --------------------------------------------------------------------------- the per-1M table


def print_table(runs: dict[str, RunResult], priced: list[Priced]) -> None:
    print("\n".join([*_traffic_lines(runs), "", *_counts_table(priced), "", *_usd_table(priced), "",
                     *_targets_lines(runs, priced)]))


def _traffic_lines(runs: dict[str, RunResult]) -> list[str]:
    traffic = runs["STANDARD"].traffic
    out = [f"Reference traffic: {traffic['senders']} senders x bursts of {traffic['burst']} messages of "
           f"{traffic['message_bytes']} B, {traffic['gap_seconds']} s apart"
           + (f", senders starting {traffic['stagger_seconds']} s apart" if traffic.get("stagger_seconds") else "")
           + f"; quiet period {traffic['quiet_seconds']} s "
           f"(EXPRESS waits billed at {REFERENCE['quiet_seconds']} s)"
           + (f"; each conversation with {traffic['history']} earlier messages (Cloud API ids)"
              if traffic.get("history") else "")]
    for t, r in runs.items():
        out.append(f"  {t}: {r.messages} messages -> {r.batches} batches, {len(r.executions)} executions")
    return out


def _header(title: str, priced: list[Priced]) -> list[str]:
    header = f"{title:{TITLE_WIDTH}}" + "".join(f"{p.label:>12}" for p in priced)
    return [header, "-" * len(header)]


def _counts_table(priced: list[Priced]) -> list[str]:
    out = _header("per message", priced)
    for key, title, fmt in COUNT_ROWS:
        cells = [fmt.format(p.counts[key]) if key in p.counts else "-" for p in priced]
        out.append(f"{title:{TITLE_WIDTH}}" + "".join(f"{c:>12}" for c in cells))
    return out


def _usd_table(priced: list[Priced]) -> list[str]:
    out = _header("USD per 1M messages", priced)
    components = list(dict.fromkeys(k for p in priced for k in p.lines))
    for component in components:
        out.append(f"{component:{TITLE_WIDTH}}" + "".join(f"{p.lines.get(component, 0.0) * 1e6:>12.2f}" for p in priced))
    out.append(f"{'total':{TITLE_WIDTH}}" + "".join(f"{p.per_million:>12.2f}" for p in priced))
    return out


def _targets_lines(runs: dict[str, RunResult], priced: list[Priced]) -> list[str]:
    by = {p.label: p for p in priced}
    floor = express_floor(runs["EXPRESS"].traffic)
    return [f"targets: EXPRESS <= ${TARGETS['express_usd']:.2f} per 1M: {by['express'].per_million:.2f}; "
            f"STANDARD <= {TARGETS['standard_vs_seed']} x seed: "
            f"{by['standard'].per_million / by['seed'].per_million:.3f} x; "
            f"DynamoDB <= {TARGETS['wru_per_message']:g} WRU per message: {by['standard'].counts['wru']:.2f}",
            f"EXPRESS floor of this design at this traffic: ${sum(floor.values()):.2f} per 1M ("
            + ", ".join(f"{line} {usd:.2f}" for line, usd in floor.items())
            + "), before any DynamoDB, Lambda duration or logs"]


# --------------------------------------------------------------------------- JSON


def as_json(runs: dict[str, RunResult], priced: list[Priced]) -> dict:
    return {**_priced_json(priced), **_runs_json(runs),
            "prices": {name: p.usd for name, p in PRICES.items()},
            "targets": TARGETS,
            "express_floor_usd_per_million": round(sum(express_floor(runs["EXPRESS"].traffic).values()), 2),
            "express_floor_by_component": express_floor(runs["EXPRESS"].traffic),
            "assumed_call_latency_ms": {"/".join(k) if isinstance(k, tuple) else k: v
                                        for k, v in ASSUMED_CALL_LATENCY_MS.items()}}


def _priced_json(priced: list[Priced]) -> dict:
    """The per-1M table: USD per 1M, the per-message counts and the USD by component of each column."""
    by = {p.label: p for p in priced}
    return {
        "usd_per_million": {label: round(p.per_million, 2) for label, p in by.items()},
        "webhook_path_calls": round(by["standard"].counts["webhook_path_calls"], 3),
        "webhook_path_calls_by_workflow": {label: round(by[label].counts["webhook_path_calls"], 3)
                                           for label in ("standard", "express")},
        "per_message": {label: {k: round(v, 4) for k, v in p.counts.items()} for label, p in by.items()},
        "usd_per_million_by_component": {label: {k: round(v * 1e6, 3) for k, v in p.lines.items()}
                                         for label, p in by.items()},
    }


def _runs_json(runs: dict[str, RunResult]) -> dict:
    """What the runs were and did: traffic, messages, batches, write units by function, calls."""
    return {
        "traffic": runs["STANDARD"].traffic,
        "messages": runs["STANDARD"].messages,
        "batches": {t.lower(): r.batches for t, r in runs.items()},
        "wru_per_message_by_function": {t.lower(): {f: round(u / r.messages, 3) for f, u in r.meter.wru.items()}
                                        for t, r in runs.items()},
        "calls": {t.lower(): {f"{f} {s}.{o}": c for (f, s, o), c in sorted(r.meter.calls.items())}
                  for t, r in runs.items()},
    }
