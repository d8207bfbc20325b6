"""Structured JSON logging (Powertools Logger) with phone numbers masked and texts never logged."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "debouncer")


def get_logger(name: str) -> Logger:
    return Logger(service=SERVICE, child=False, logger_name=name, level=os.environ.get("LOG_LEVEL", "INFO"))


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
