"""post_message's logic: an API Gateway v2 event in, messages stored and timers restarted, an answer out."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .conversations import MAX_TEXT_BYTES, ConversationStore
from .debounce import DebouncePolicy
from .errors import BadRequest, GatewayError, PayloadTooLarge, StoreUnavailable, UnknownApp
from .log import get_logger, mask_phone
from .models import Ignored, InboundMessage, conversation_id
from .providers import WebhookRequest, get_provider
from .scheduler import Scheduler
from .settings import WebhookSettings

MAX_BODY_BYTES = 256 * 1024

logger = get_logger("post_message")


def response(status: int, body: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }


def parse_event(event: dict[str, Any]) -> WebhookRequest:
    """Decode an HTTP API payload-format-2.0 event."""
    if not isinstance(event, dict):
        raise BadRequest("the event is not an API Gateway HTTP API event", code="invalid_event")
    http = (event.get("requestContext") or {}).get("http") or {}
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the request body is not valid base64", code="invalid_body") from None
    else:
        body = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    return WebhookRequest(
        method=str(http.get("method") or "POST").upper(),
        headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
        query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        raw_body=body,
        path=str(event.get("rawPath") or "/webhook"),
        source_ip=str(http.get("sourceIp") or ""),
    )


class WebhookService:
    def __init__(self, settings: WebhookSettings, *, store: ConversationStore | None = None,
                 scheduler: Scheduler | None = None, clock=time.time):
        self.settings = settings
        self.store = store or ConversationStore(settings.table_name, clock=clock)
        self.scheduler = scheduler or Scheduler(settings.state_machine_arn)
        self.policy = DebouncePolicy(quiet_seconds=settings.debounce_seconds)
        self.clock = clock

    def handle(self, event: dict[str, Any]) -> dict:
        try:
            return response(200, self._handle(event))
        except GatewayError as exc:
            logger.info("webhook refused", extra={"status": exc.status, "error": exc.code})
            return response(exc.status, exc.body())

    def _handle(self, event: dict[str, Any]) -> dict:
        request = parse_event(event)
        app_id = request.query.get("appId", "").strip()
        if not app_id:
            raise BadRequest("the query parameter appId is required", code="missing_app_id")
        if app_id not in self.settings.processing_lambdas:
            raise UnknownApp(f"no app is configured with appId {app_id[:64]!r}")
        result = get_provider("zapi").normalize(request)
        if isinstance(result, Ignored):
            logger.info("webhook ignored", extra={"app_id": app_id, "reason": result.reason})
            return {"status": "ignored", "reason": result.reason}
        for message in result:
            _check_size(message)
        stored = duplicates = 0
        for message in result:
            if self._accept(app_id, message):
                stored += 1
            else:
                duplicates += 1
        return {"status": "accepted", "stored": stored, "duplicates": duplicates}

    def _accept(self, app_id: str, message: InboundMessage) -> bool:
        now = self.clock()
        fire_at = self.policy.fire_at(last_message_at=now)
        log = {"app_id": app_id, "conversation": conversation_id(app_id, message.sender),
               "sender": mask_phone(message.sender)}
        try:
            appended = self.store.append(app_id, message, due_at=fire_at)
        except (ClientError, BotoCoreError) as exc:
            logger.error("store failed", extra={**log, "error": type(exc).__name__, "detail": str(exc)[:300]})
            raise StoreUnavailable("the message could not be stored; retry later") from None
        if appended.duplicate:
            logger.info("duplicate ignored", extra=log)
            return False
        log["seq"] = appended.seq
        logger.info("message stored", extra=log)
        self._restart_timer(app_id, message.sender, appended.seq, fire_at, log)
        return True

    def _restart_timer(self, app_id: str, sender: str, seq: int, fire_at: float, log: dict) -> None:
        # The message is durable now: a failure below must not make the provider send it again.
        # A conversation whose timer was not armed is found by its overdue due_at and re-armed.
        if seq > 1:
            try:
                self.scheduler.stop_superseded(app_id, sender, seq - 1)
            except (ClientError, BotoCoreError) as exc:
                logger.info("stop of superseded execution failed", extra={**log, "error": type(exc).__name__})
        try:
            self.scheduler.start(app_id, sender, seq, fire_at)
        except (ClientError, BotoCoreError) as exc:
            logger.error("timer start failed; left for the sweeper", extra={**log, "error": type(exc).__name__})
        else:
            logger.info("wait restarted", extra={**log, "wait_seconds": round(fire_at - self.clock(), 3)})


def _check_size(message: InboundMessage) -> None:
    if len(message.text.encode()) > MAX_TEXT_BYTES:
        raise PayloadTooLarge(f"a message text is longer than {MAX_TEXT_BYTES} bytes", code="text_too_long")
