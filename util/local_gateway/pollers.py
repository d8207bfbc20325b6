"""What AWS would drive on its own: the SQS event source mapping of send_message_api and the
EventBridge schedule of the sweeper."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .config import ROOT
from .timeline import Timeline, mask_digits

POLL_INTERVAL = 0.2


class SendQueuePoller(threading.Thread):
    """Consumes the send queue as the Lambda event source mapping does, with ReportBatchItemFailures."""

    def __init__(self, sqs, queue_url: str, queue_arn: str, handler: Callable[[dict, Any], dict],
                 context, timeline: Timeline, *, batch_size: int, max_receive_count: int):
        super().__init__(name="send-queue-poller")
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.handler, self.context, self.timeline = handler, context, timeline
        self.batch_size, self.max_receive_count = batch_size, max_receive_count
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                worked = self.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep consuming, as the event source mapping does
                self.timeline.line("queue poll failed", f"{type(exc).__name__}: {mask_digits(str(exc))[:200]}")
                worked = False
            if not worked:
                self.stopping.wait(POLL_INTERVAL)

    def poll_once(self) -> bool:
        # Short polling: moto requests are serialised, a long poll would hold everyone up.
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        event = {"Records": [self.sqs_record(m) for m in messages]}
        try:
            result = self.handler(event, self.context) or {}
            failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures", [])}
        except Exception as exc:  # noqa: BLE001 - the whole batch failed, as in AWS
            self.timeline.line("send handler failed", f"{type(exc).__name__}: {mask_digits(str(exc))[:200]}")
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                continue
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if receives >= self.max_receive_count:
                self.timeline.line("reply dead-lettered",
                                   f"moved to the DLQ after {receives} attempts", self._who(message))
        return True

    def _who(self, message: dict) -> str:
        try:
            reply = json.loads(message["Body"])
            return self.timeline.conversation(str(reply["app_id"]), str(reply["phone_number"]))
        except (TypeError, ValueError, KeyError):
            return "-"

    def sqs_record(self, message: dict) -> dict:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
                "ApproximateFirstReceiveTimestamp": attributes.get(
                    "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))),
            },
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }


def sweeper_interval_seconds(root: Path = ROOT) -> float:
    """The sweeper rule's rate in main.tf (`rate(1 minute)`), in seconds."""
    text = (root / "main.tf").read_text()
    rule = re.search(r'resource\s+"aws_cloudwatch_event_rule"\s+"sweeper"\s*\{(.*?)\n\}', text, re.S)
    rate = rule and re.search(r'schedule_expression\s*=\s*"rate\((\d+) (minute|minutes|hour|hours)\)"', rule.group(1))
    if not rate:
        return 60.0
    return int(rate.group(1)) * (3600 if rate.group(2).startswith("hour") else 60)


class Schedule(threading.Thread):
    """An EventBridge schedule rule: invokes a handler with a Scheduled Event every `every` seconds."""

    def __init__(self, name: str, every: float, handler: Callable[[dict, Any], Any], context, timeline: Timeline):
        super().__init__(name=name)
        self.every, self.handler, self.context, self.timeline = every, handler, context, timeline
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": "123456789012", "region": "us-east-1",
                     "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "resources": [], "detail": {}}
            try:
                self.handler(event, self.context)
            except Exception as exc:  # noqa: BLE001 - the next tick tries again, as EventBridge would
                self.timeline.line(f"{self.name} failed", f"{type(exc).__name__}: {mask_digits(str(exc))[:200]}")
