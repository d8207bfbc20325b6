"""Step Functions adapter: start a conversation's wait-then-process execution."""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime, timezone

from botocore.exceptions import ClientError

from . import aws
from .log import SERVICE
from .models import conversation_id

# The caller's Powertools logger (same service: one stdlib logger); a Logger of its own would
# re-initialise the shared one and rename the caller's lines.
logger = logging.getLogger(SERVICE)


def execution_name(app_id: str, sender: str, epoch: int, seq: int, suffix: str = "") -> str:
    """Deterministic, so a retried start for the same message is idempotent; unique over the
    conversation's whole life (``epoch``: when its item was created, so a conversation that comes
    back after its item expired does not reuse ``<conversation>-1``); no phone number in it."""
    return f"{conversation_id(app_id, sender)}-{epoch}-{seq}{suffix}"


def wait_timestamp(epoch_seconds: float) -> str:
    """The Wait state's TimestampPath value, rounded UP to the whole second: Wait states count whole
    seconds, and rounding down would fire before the quiet period ends."""
    return datetime.fromtimestamp(math.ceil(epoch_seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def execution_input(app_id: str, sender: str, seq: int, wait_until: float) -> dict:
    return {"app_id": app_id, "sender": sender, "seq": seq, "wait_until": wait_timestamp(wait_until)}


class Scheduler:
    def __init__(self, state_machine_arn: str, *, clock=time.time):
        self.state_machine_arn = state_machine_arn
        self.clock = clock

    @property
    def _sfn(self):
        return aws.client("stepfunctions")

    def start(self, app_id: str, sender: str, seq: int, wait_until: float, suffix: str = "", *,
              epoch: int) -> str:
        """Start the execution for ``seq``; returns the name it was started under.

        The same start retried while its execution is open is idempotent (same name, same input:
        Step Functions answers success). ExecutionAlreadyExists therefore means a genuine collision:
        the name belongs to a closed execution, or to one with another input. The burst must not be
        left without a timer, so the collision is logged and the execution started under a fresh
        name (a second execution for the same seq is harmless: the claim decides)."""
        name = execution_name(app_id, sender, epoch, seq, suffix)
        payload = json.dumps(execution_input(app_id, sender, seq, wait_until))
        try:
            self._sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=payload)
            return name
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
        fresh = f"{name}-c{int(self.clock() * 1000)}"
        logger.error("execution name collision; started under a fresh name",
                     extra={"app_id": app_id, "conversation": conversation_id(app_id, sender), "seq": seq,
                            "execution": name, "started_as": fresh})
        self._sfn.start_execution(stateMachineArn=self.state_machine_arn, name=fresh, input=payload)
        return fresh
