"""EventBridge schedule → sweeper: re-arm conversations whose timer was lost."""

from __future__ import annotations

import os
from functools import cache

from gateway.log import get_logger
from gateway.settings import sweeper_settings
from gateway.sweeper import Sweeper

logger = get_logger("sweeper")


@cache
def sweeper() -> Sweeper:
    settings = sweeper_settings()
    return Sweeper(settings.table_name, settings.state_machine_arn, grace_seconds=settings.grace_seconds,
                   lease_seconds=settings.batch_lease_seconds)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    sweeper()  # validate the configuration during the cold start


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event, context):
    return sweeper().sweep()
