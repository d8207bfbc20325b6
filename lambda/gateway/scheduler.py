"""Step Functions adapter: (re)start a conversation's wait-then-process execution."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

from botocore.exceptions import ClientError

from . import aws
from .models import conversation_id


def execution_name(app_id: str, sender: str, seq: int, suffix: str = "") -> str:
    """Deterministic, so a retried start for the same message is idempotent; no phone number in it."""
    return f"{conversation_id(app_id, sender)}-{seq}{suffix}"


def wait_timestamp(epoch_seconds: float) -> str:
    """The Wait state's TimestampPath value, rounded UP to the whole second: Wait states count whole
    seconds, and rounding down would fire before the quiet period ends."""
    return datetime.fromtimestamp(math.ceil(epoch_seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def execution_input(app_id: str, sender: str, seq: int, wait_until: float) -> dict:
    return {"app_id": app_id, "sender": sender, "seq": seq, "wait_until": wait_timestamp(wait_until)}


class Scheduler:
    def __init__(self, state_machine_arn: str):
        self.state_machine_arn = state_machine_arn

    @property
    def _sfn(self):
        return aws.client("stepfunctions")

    def start(self, app_id: str, sender: str, seq: int, wait_until: float, suffix: str = "") -> bool:
        """Start the execution for ``seq``. Returns False if one with that name already exists."""
        try:
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=execution_name(app_id, sender, seq, suffix),
                input=json.dumps(execution_input(app_id, sender, seq, wait_until)),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise
        return True
