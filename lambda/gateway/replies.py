"""send_message_api's logic: each SQS record is one reply, judged on its own."""

from __future__ import annotations

import json
from dataclasses import dataclass


from . import aws, metrics
from .errors import SendError
from .log import clear_correlation, correlate, get_logger, mask_phone
from .models import conversation_id
from .outbound import Reply, build_requests, send
from .secrets import CredentialStore, SecretsError
from .settings import SenderSettings

logger = get_logger("send_message_api")


MAX_BACKOFF_SECONDS = 900


def backoff_seconds(receive_count: int, base_seconds: float) -> int:
    """Visibility timeout before the next attempt: base × 2^(receives−1), capped at 15 minutes."""
    doublings = min(max(0, receive_count - 1), 64)  # past the cap long before; 2.0 ** 1024 overflows a float
    return int(min(MAX_BACKOFF_SECONDS, base_seconds * 2 ** doublings))


@dataclass(frozen=True)
class SQSRecord:
    """The fields of an SQS event record this function reads. (Powertools' batch utility would do
    the loop below too, at ~27 ms more cold-start import: asyncio and every event data class.)"""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int

    @classmethod
    def from_event(cls, raw: dict) -> "SQSRecord":
        attributes = raw.get("attributes") or {}
        return cls(
            message_id=str(raw.get("messageId", "")),
            receipt_handle=str(raw.get("receiptHandle", "")),
            body=str(raw.get("body", "")),
            receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
        )


class InvalidReply(ValueError):
    """The record can never be sent as it is: it fails, and SQS moves it to the DLQ."""


class ReplySender:
    def __init__(self, settings: SenderSettings, *, credentials: CredentialStore | None = None):
        self.settings = settings
        self.credentials = credentials or CredentialStore(settings)

    def handle(self, event: dict, context=None) -> dict:
        """An SQS event in; the partial batch response (``batchItemFailures``) out."""
        failures = []
        for raw in event.get("Records") or []:
            record = SQSRecord.from_event(raw)
            try:
                self.judge_record(record)
            except Exception as exc:  # noqa: BLE001 - a failure fails its own record only
                if not isinstance(exc, (InvalidReply, SendError)):
                    logger.error("reply failed unexpectedly",
                                 extra={"message_id": record.message_id, "error": type(exc).__name__})
                failures.append({"itemIdentifier": record.message_id})
        return {"batchItemFailures": failures}

    def judge_record(self, record: SQSRecord) -> int | None:
        """Send one record. A failure that can pass (timeout, 5xx, 429) fails the record, later by an
        exponential backoff; one that cannot (a malformed record, an app with no URL, another 4xx)
        goes straight to the dead-letter queue instead of being retried."""
        try:
            return self.send_record(record)
        except (InvalidReply, SendError) as exc:
            metrics.send_failed()  # retried later or dead-lettered now: either way not delivered this time
            if isinstance(exc, SendError) and exc.retryable:
                self._back_off(record)
                raise
            if not self.settings.send_dlq_url:
                raise  # no DLQ configured here: SQS retries it and dead-letters it after maxReceiveCount
            aws.client("sqs").send_message(
                QueueUrl=self.settings.send_dlq_url,
                MessageBody=record.body,
                MessageAttributes={"error": {"DataType": "String", "StringValue": str(exc)[:256] or "invalid"}},
            )
            logger.error("reply dead-lettered without retry",
                         extra={"message_id": record.message_id, "error": str(exc)[:120]})
            return None

    def _back_off(self, record: SQSRecord) -> None:
        if not self.settings.send_queue_url:
            return
        receives = record.receive_count
        delay = backoff_seconds(receives, self.settings.retry_base_seconds)
        try:
            aws.client("sqs").change_message_visibility(
                QueueUrl=self.settings.send_queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
            )
        except Exception as exc:  # noqa: BLE001 - the queue's own visibility timeout still applies
            logger.warning("backoff not set", extra={"message_id": record.message_id, "error": type(exc).__name__})

    def send_record(self, record: SQSRecord) -> int:
        clear_correlation(logger)
        try:
            reply = Reply.from_record(json.loads(record.body))
        except (ValueError, TypeError) as exc:
            logger.error("invalid reply record", extra={"message_id": record.message_id, "error": str(exc)[:120]})
            raise InvalidReply(str(exc)) from None
        log = {"app_id": reply.app_id, "conversation": conversation_id(reply.app_id, reply.phone_number),
               "recipient": mask_phone(reply.phone_number), "message_id": record.message_id}
        correlate(logger, log["conversation"])
        provider = self.settings.provider_for(reply.app_id)
        log["provider"] = provider
        try:
            secrets = self.credentials.secrets(reply.app_id)
        except SecretsError as exc:
            logger.error("app secrets unavailable", extra={**log, "detail": str(exc)[:200]})
            raise SendError("the app's credentials could not be read", retryable=True) from None
        # A URL that holds a credential (Z-API's .../token/<token>/send-text) is the secrets' api_url.
        url = secrets.get("api_url") or self.settings.api_urls.get(reply.app_id)
        if not url:
            logger.error("no API URL for app", extra=log)
            raise InvalidReply(f"no API URL is configured for app {reply.app_id!r} (API_URLS_MAP, or api_url "
                               "in its secrets)")
        if not url.startswith(("https://", "http://")):
            logger.error("API URL is not http(s)", extra=log)
            raise InvalidReply(f"the API URL of app {reply.app_id!r} is not an http(s) URL")
        # A reply longer than the provider's limit goes out as several messages, in order. If part k
        # fails, the record fails and SQS redelivers it whole: parts 1..k-1 are sent again (which
        # parts were already delivered is not remembered).
        try:
            calls = build_requests(provider, url, reply, secrets)
        except SendError as exc:  # a credential the provider needs is not configured
            logger.error("reply not sent", extra={**log, "error": str(exc), "retryable": exc.retryable})
            raise
        status = 0
        for number, call in enumerate(calls, start=1):
            try:
                status = send(call, self.settings.http_timeout_seconds)
            except SendError as exc:
                logger.warning("reply not sent", extra={**log, "error": str(exc), "retryable": exc.retryable,
                                                        "part": number, "parts": len(calls)})
                raise
        logger.info("reply sent", extra={**log, "http_status": status, "parts": len(calls)})
        return status
