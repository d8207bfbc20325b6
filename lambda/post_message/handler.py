"""API Gateway → post_message: store the message, restart the conversation's wait."""

from __future__ import annotations

import os
from functools import cache

from gateway.log import get_logger
from gateway.metrics import log_metrics
from gateway.settings import webhook_settings
from gateway.webhook import WebhookService

logger = get_logger("post_message")


@cache
def service() -> WebhookService:
    return WebhookService(webhook_settings())


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    service()  # validate the configuration during the cold start, with a message naming the variable


@logger.inject_lambda_context(log_event=False)
@log_metrics
def lambda_handler(event, context):
    return service().handle(event)
