"""SQS → send_message_api: POST each reply to its app's messaging API; failures are per record."""

from __future__ import annotations

import os
from functools import cache

from gateway.log import get_logger
from gateway.metrics import log_metrics
from gateway.replies import ReplySender
from gateway.settings import sender_settings

logger = get_logger("send_message_api")


@cache
def sender() -> ReplySender:
    return ReplySender(sender_settings())


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    sender()  # validate the configuration during the cold start


@logger.inject_lambda_context(log_event=False)
@log_metrics
def lambda_handler(event, context):
    return sender().handle(event, context)
