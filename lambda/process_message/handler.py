"""Step Functions → process_message: claim the conversation's batch and invoke its app's Lambda."""

from __future__ import annotations

import os
from functools import cache

from gateway.dispatch import Dispatcher
from gateway.log import get_logger
from gateway.metrics import log_metrics
from gateway.settings import processor_settings

logger = get_logger("process_message")


@cache
def dispatcher() -> Dispatcher:
    return Dispatcher(processor_settings())


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    dispatcher()  # validate the configuration during the cold start


@logger.inject_lambda_context(log_event=False)
@log_metrics
def lambda_handler(event, context):
    return dispatcher().handle(event, context)
