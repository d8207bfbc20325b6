"""Business metrics, written as CloudWatch Embedded Metric Format (Powertools Metrics).

EMF lines go to the function's log and CloudWatch turns them into metrics: no API call, no extra
IAM permission, nothing on the request path. Namespace: ``POWERTOOLS_METRICS_NAMESPACE`` (Terraform
sets it; ``Debouncer`` when unset, so a local run never fails for want of it). One dimension,
``service``: per-app dimensions would multiply the custom-metric bill by the number of apps.

The metrics a handler records are printed once, when it returns or raises (``log_metrics``).
Powertools keeps them in one dict shared by every ``Metrics`` object of the process; the lock
makes adding and flushing safe when handlers run in threads (the moto world, ``make run``).
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any, Callable

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from .log import SERVICE

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or "Debouncer"

# Metric names: the dashboard and alarms in modules/monitoring use the same strings.
MESSAGES_RECEIVED = "MessagesReceived"
DUPLICATES_DROPPED = "DuplicatesDropped"
BATCHES_DISPATCHED = "BatchesDispatched"
BATCH_SIZE = "BatchSize"
WAITED_SECONDS = "WaitedSeconds"
SEND_FAILURES = "SendFailures"
# process_message hands a longer wait back to the state machine by raising NotDueYet, which Lambda
# counts in its Errors metric: the process-message errors alarm subtracts these.
WAITS_HANDED_BACK = "WaitsHandedBack"
METRIC_NAMES = (MESSAGES_RECEIVED, DUPLICATES_DROPPED, BATCHES_DISPATCHED, BATCH_SIZE, WAITED_SECONDS, SEND_FAILURES,
                WAITS_HANDED_BACK)

metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
_lock = threading.Lock()


def _add(name: str, unit: MetricUnit, value: float) -> None:
    with _lock:
        metrics.add_metric(name=name, unit=unit, value=value)


def message_received(count: int = 1) -> None:
    """A message was stored (post_message)."""
    if count:
        _add(MESSAGES_RECEIVED, MetricUnit.Count, count)


def duplicate_dropped(count: int = 1) -> None:
    """A provider redelivery was recognised and not stored again (post_message)."""
    if count:
        _add(DUPLICATES_DROPPED, MetricUnit.Count, count)


def batch_dispatched(batch_size: int, waited_seconds: float) -> None:
    """A batch was handed to its app (process_message): how many messages, and how long after the
    latest of them."""
    _add(BATCHES_DISPATCHED, MetricUnit.Count, 1)
    _add(BATCH_SIZE, MetricUnit.Count, batch_size)
    _add(WAITED_SECONDS, MetricUnit.Seconds, round(max(waited_seconds, 0.0), 3))


def wait_handed_back() -> None:
    """process_message raised NotDueYet: the state machine waits, not an error (process_message)."""
    _add(WAITS_HANDED_BACK, MetricUnit.Count, 1)


def send_failed(count: int = 1) -> None:
    """Replies that could not be delivered to the messaging API this time (send_message_api)."""
    if count:
        _add(SEND_FAILURES, MetricUnit.Count, count)


def flush() -> None:
    """Print the recorded metrics as one EMF line; nothing when none were recorded."""
    with _lock:
        if metrics.metric_set:
            metrics.flush_metrics()


def log_metrics(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Handler decorator: flush this invocation's metrics when it returns or raises (what
    ``Metrics.log_metrics`` does, under the lock and without a warning for an empty set)."""

    @functools.wraps(handler)
    def wrapper(event, context):
        try:
            return handler(event, context)
        finally:
            flush()

    return wrapper
