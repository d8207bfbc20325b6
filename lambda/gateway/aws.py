"""AWS clients made lazily (so moto can patch them first), with timeouts and standard retries.

The clients come from botocore, which boto3 wraps: the gateway uses clients only, never boto3's
resource layer, and a cold start that skips importing boto3 on top of botocore is ~8 % shorter.
Same credentials chain, region (``AWS_REGION``/``AWS_DEFAULT_REGION``), retries and timeouts.
"""

from __future__ import annotations

from functools import cache

import botocore.session
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
def session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def client(service: str):
    return session().create_client(service, config=LAMBDA_INVOKE_CONFIG if service == "lambda" else CLIENT_CONFIG)


_client = client  # the cached factory, also when a test swaps ``client`` for a fault-injecting one


def reset() -> None:
    """Forget the clients and the session (its cached credentials and region) made so far."""
    _client.cache_clear()
    session.cache_clear()
