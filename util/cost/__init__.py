"""What the gateway costs per message, measured: an instrumented end-to-end run on moto, priced.

``python -m util.cost`` (make cost; its arguments: util/cost/cli.py). The modules, each its job:

* ``prices``: the one price table (list prices, us-east-1, each with its unit) and the billing steps;
* ``meter``: the Meter, hooked into botocore while a run goes, and its unit accounting: every AWS
  call by function, service and operation; Lambda time (own compute plus an assumed latency per
  call); DynamoDB request units from item sizes by DynamoDB's size rules (writes, transactions,
  failed conditional writes, reads, the sparse GSI's writes);
* ``run``: the instrumented runs on moto. SENDERS people each type a burst of BURST messages of
  MESSAGE_BYTES, GAP seconds apart, and stop; the real state machine (rendered from
  modules/step_functions) waits the quiet period and runs process_message, which hands each batch
  to a bot. Besides the meter's counts: state transitions, EXPRESS executions and their billed
  duration, and the functions' log bytes. Made with workflow_type STANDARD and EXPRESS; the seed
  project this design comes from booked from its call pattern (``seed_run``) with this run's item
  sizes and compute time; the sweeper and send_message_api measured too (a few invocations each);
* ``pricing``: the per-1M table: each run's counts per message, priced;
* ``inventory``: what the bill counts from the Terraform and the code (alarms, dashboards, custom
  metrics, the sweeper's schedule, an access log line) and the deployed settings (memory, quiet
  period, system log level);
* ``bill``: the monthly bill at the operator's traffic, pure arithmetic (docs/cost.md): fixed items,
  per-message items from the runs' units (as measured when the traffic has the run's shape, else
  computed from its per-invocation units), the bot's time and the replies, X-Ray and access logs
  when on, what is not counted and why; and the bot-time table (``bot_time``): STANDARD and EXPRESS
  with a sync and an async bot, and the original design's pattern (an async invoke), at each
  ``--bot-seconds`` duration;
* ``bill_units``: the bill's inputs from the runs (per-request units, the original's counts);
* ``report``: the printed tables and the JSON object;
* ``store_view``: the one place the package imports the gateway's conversation store from.

The names below are the package's interface for its callers and tests (util/bench.py,
tests/unit/test_cost.py, tests/integration).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from util.cost.bill_units import bill_columns, measured_units, monthly_bill, seed_counts  # noqa: E402
from util.cost.cli import durations, main  # noqa: E402
from util.cost.inventory import PLATFORM_LOG_BYTES_PER_INVOCATION, lambda_memory_mb  # noqa: E402
from util.cost.meter import (ASSUMED_CALL_LATENCY_MS, Invocation, Meter, attribute_size, item_size,  # noqa: E402
                             read_units, uncompressed, write_units)
from util.cost.prices import PRICES, Price  # noqa: E402
from util.cost.pricing import Priced, count, measure, price, price_run, price_seed  # noqa: E402
from util.cost.run import (APP, ORIGINAL_BOT_INVOCATION, QUICK, REFERENCE, TABLE, RunResult,  # noqa: E402
                           earlier_messages, chat_text, seed_run, webhook_event)

__all__ = [
    "APP", "ASSUMED_CALL_LATENCY_MS", "Invocation", "Meter", "ORIGINAL_BOT_INVOCATION",
    "PLATFORM_LOG_BYTES_PER_INVOCATION", "PRICES", "Price", "Priced", "QUICK", "REFERENCE", "ROOT", "RunResult",
    "TABLE", "durations", "earlier_messages", "attribute_size", "bill_columns", "chat_text", "count", "item_size",
    "lambda_memory_mb", "main", "measure", "measured_units", "monthly_bill", "price", "price_run", "price_seed",
    "read_units", "seed_counts", "seed_run", "uncompressed", "webhook_event", "write_units",
]
