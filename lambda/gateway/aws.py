"""boto3 clients made lazily (so moto can patch them first), with timeouts and standard retries."""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
)


# A per-app bot may think for minutes; its invoke is retried by the state machine, not by botocore.
LAMBDA_INVOKE_CONFIG = Config(
    connect_timeout=3,
    read_timeout=900,
    retries={"mode": "standard", "max_attempts": 1},
)


@cache
def client(service: str):
    return boto3.client(service, config=LAMBDA_INVOKE_CONFIG if service == "lambda" else CLIENT_CONFIG)


def reset() -> None:
    client.cache_clear()
