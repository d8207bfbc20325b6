"""Structured JSON logging (Powertools Logger) with phone numbers masked and texts never logged.

Log lines are most of the gateway's CloudWatch Logs bill, so an INFO line (one per event: a message
stored, a batch dispatched, a reply sent) carries only what tells events apart: ``level``,
``message``, ``function_request_id``, ``correlation_id`` (the conversation) and ``batch_id``, and
the event's own keys. What every line of an invocation would repeat (the function's name, ARN and
memory, cold start, service, logger name, source location, X-Ray trace id) and the timestamp
(CloudWatch stamps each event) are written on DEBUG, WARNING and ERROR lines only.
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "debouncer")

# Keys an INFO line leaves out (see the module docstring).
INFO_OMITS = frozenset({"location", "timestamp", "service", "logger_name", "cold_start", "function_name",
                        "function_memory_size", "function_arn", "xray_trace_id", "sampling_rate"})


class CompactFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with RFC 3339 UTC timestamps; INFO lines without ``INFO_OMITS``.
    A ``conversation`` key equal to the ``correlation_id`` is written once, as the latter."""

    def __init__(self) -> None:
        super().__init__(utc=True, use_rfc3339=True)

    def serialize(self, log: dict) -> str:
        if "conversation" in log and log.get("conversation") == log.get("correlation_id"):
            del log["conversation"]
        if log.get("level") == "INFO":
            log = {key: value for key, value in log.items() if key not in INFO_OMITS}
        return super().serialize(log)


def get_logger(name: str) -> Logger:
    logger = Logger(service=SERVICE, child=False, logger_name=name, logger_formatter=CompactFormatter())
    # On the standard logger underneath (one per service, shared by every name): Powertools' own
    # setLevel would put Lambda's level first again.
    logging.getLogger(SERVICE).setLevel(effective_level())
    return logger


def effective_level() -> int:
    """The stricter of ``LOG_LEVEL`` and Lambda's application log level (``AWS_LAMBDA_LOG_LEVEL``).

    Powertools alone would follow Lambda's level, which the deployment keeps at INFO or lower so the
    EMF metric lines (no ``level``, so INFO to Lambda) are never filtered out; ``LOG_LEVEL=WARNING``
    must still silence the INFO lines."""
    return max(_level(os.environ.get("LOG_LEVEL")), _level(os.environ.get("AWS_LAMBDA_LOG_LEVEL")))


def _level(name: str | None) -> int:
    level = logging.getLevelName(str(name or "INFO").upper())
    return level if isinstance(level, int) else logging.INFO


def mask_phone(phone: str) -> str:
    """Keep the last 4 characters: enough to tell senders apart in a log, not to identify them."""
    if not phone:
        return ""
    tail = phone[-4:] if len(phone) > 6 else ""
    return "*" * max(len(phone) - len(tail), 3) + tail


def correlate(logger: Logger, conversation: str | None, **keys: object) -> None:
    """Tag the following log lines of this invocation with ``correlation_id`` = the conversation's
    id (never the phone number) and ``keys`` such as ``batch_id``; a None value removes a key.
    Thread-local, so concurrent handlers in one process (the moto world) do not mix them."""
    logger.thread_safe_append_keys(correlation_id=conversation, **keys)


def clear_correlation(logger: Logger) -> None:
    """Forget the previous invocation's correlation keys (a warm Lambda reuses the thread)."""
    logger.thread_safe_clear_keys()
