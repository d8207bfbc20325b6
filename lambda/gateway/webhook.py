"""post_message's logic: an API Gateway v2 event in, messages stored and timers restarted, an answer out."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import metrics
from .debounce import Burst
from .errors import (BadRequest, GatewayError, PayloadTooLarge, StoreUnavailable, Unauthorized, UnknownApp,
                     UnprocessablePayload)
from .log import clear_correlation, correlate, get_logger, mask_phone
from .models import Ignored, InboundMessage, conversation_id
from .providers import PROVIDERS, WebhookRequest, get_provider
from .scheduler import Scheduler
from .secrets import CredentialStore, SecretsError
from .settings import WebhookSettings
from .store import MAX_TEXT_BYTES, ConversationStore

MAX_BODY_BYTES = 256 * 1024
# A sender is a key (DynamoDB refuses a partition key over 2,048 bytes); ids are short in every provider.
MAX_SENDER_BYTES = 256
MAX_MESSAGE_ID_BYTES = 1024

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
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    path = str(event.get("rawPath") or "/webhook")
    return WebhookRequest(
        method=str(http.get("method") or "POST").upper(),
        headers=headers,
        query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        raw_body=body,
        path=path,
        source_ip=str(http.get("sourceIp") or ""),
        url=_public_url(event, headers, path),
    )


def _public_url(event: dict[str, Any], headers: dict[str, str], path: str) -> str:
    """https://{domainName}{rawPath}?{rawQueryString}: the URL the provider called (Twilio signs it)."""
    domain = (event.get("requestContext") or {}).get("domainName") or headers.get("host") or ""
    if not domain:
        return ""
    query = str(event.get("rawQueryString") or "")
    return f"https://{domain}{path}" + (f"?{query}" if query else "")


class WebhookService:
    def __init__(self, settings: WebhookSettings, *, store: ConversationStore | None = None,
                 scheduler: Scheduler | None = None, clock=time.time,
                 credentials: CredentialStore | None = None):
        self.settings = settings
        self.store = store or ConversationStore(settings.table_name, clock=clock)
        self.scheduler = scheduler or Scheduler(settings.state_machine_arn)
        self.clock = clock
        self.credentials = credentials or CredentialStore(settings)
        self._warned_open: set[str] = set()

    def handle(self, event: dict[str, Any]) -> dict:
        clear_correlation(logger)
        try:
            result = self._handle(event)
        except GatewayError as exc:
            logger.info("webhook refused", extra={"status": exc.status, "error": exc.code})
            return response(exc.status, exc.body())
        if "statusCode" in result:  # a provider-specific answer: the GET handshake, Twilio's TwiML
            return result
        return response(200, result)

    def _handle(self, event: dict[str, Any]) -> dict:
        request = parse_event(event)
        app_id = request.query.get("appId", "").strip()
        if not app_id:
            raise BadRequest("the query parameter appId is required", code="missing_app_id")
        if app_id not in self.settings.processing_lambdas:
            raise UnknownApp(f"no app is configured with appId {app_id[:64]!r}")
        provider = get_provider(self.settings.provider_for(app_id))
        handshake = getattr(provider, "handshake", None)
        if request.method not in ("POST", "GET") or (request.method == "GET" and handshake is None):
            raise GatewayError(f"{request.method[:10]} is not accepted here", code="method_not_allowed", status=405)
        secrets = self._secrets(app_id)
        if request.method == "GET":
            challenge = handshake(request, secrets)
            logger.info("webhook verification answered", extra={"app_id": app_id, "provider": provider.name})
            return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": challenge}
        # Authentication comes before the body is parsed and before anything is stored.
        provider.authenticate(request, secrets)
        # A provider that does not sign its webhooks (shared_token) is open without a webhook_token (see README).
        if not secrets.get("webhook_token") and PROVIDERS[provider.name].shared_token:
            self._check_open(app_id, provider.name)
        acknowledge = getattr(provider, "acknowledge", None)
        outcome = self._store(app_id, provider.normalize(request))
        return acknowledge() if acknowledge is not None else outcome

    def _check_open(self, app_id: str, provider: str) -> None:
        """An app whose provider does not sign and that has no webhook_token: refused unless the
        deployment allows it (apps.<id>.allow_unauthenticated), else accepted with a warning."""
        if not self.settings.may_skip_authentication(app_id):
            raise Unauthorized(f"this app has no {provider} webhook_token configured and does not allow "
                               "unauthenticated webhooks; its webhooks are refused", code="not_configured")
        if app_id not in self._warned_open:
            self._warned_open.add(app_id)
            logger.warning("webhooks accepted without authentication: no webhook_token configured",
                           extra={"app_id": app_id, "provider": provider})

    def _secrets(self, app_id: str):
        try:
            return self.credentials.secrets(app_id)
        except SecretsError as exc:
            logger.error("app secrets unavailable", extra={"app_id": app_id, "detail": str(exc)[:200]})
            raise GatewayError("the app's webhook secrets could not be read; retry later",
                               code="secrets_unavailable", status=503) from None

    def _store(self, app_id: str, result: list[InboundMessage] | Ignored) -> dict:
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
        policy = self.settings.policy_for(app_id)
        now = self.clock()
        log = {"app_id": app_id, "conversation": conversation_id(app_id, message.sender),
               "sender": mask_phone(message.sender)}
        correlate(logger, log["conversation"])
        try:
            # The burst (its gaps, size, start) is known only after the write: the append stores an
            # upper bound for the sweeper, and the exact moment is the rule applied to the result.
            appended = self.store.append(app_id, message, latest_due=policy.latest_due(now))
        except (ClientError, BotoCoreError) as exc:
            logger.error("store failed", extra={**log, "error": type(exc).__name__, "detail": str(exc)[:300]})
            raise StoreUnavailable("the message could not be stored; retry later") from None
        if appended.duplicate:
            logger.info("duplicate ignored", extra=log)
            metrics.duplicate_dropped()
            return False
        metrics.message_received()
        log["seq"] = appended.seq
        burst = appended.burst or Burst(started_at=now, last_at=now, arrivals=(now,))
        due = policy.due(burst)
        # One timer per burst: a later message of the burst moves its due time, and the burst's
        # execution, when it wakes, waits out the rest (process_message reads the stored burst).
        if policy.needs_timer(burst, len(message.text.encode())):
            timer = self._start_timer(app_id, message.sender, appended.seq, due.at, log, epoch=appended.epoch)
        else:
            timer = "extended"
        # One INFO line per stored message (log.py); the burst's detail at DEBUG.
        logger.info("message stored", extra={**log, "due_reason": due.reason, "timer": timer,
                                             "wait_seconds": round(due.at - self.clock(), 3)})
        logger.debug("burst", extra={**log, "quiet_seconds": round(due.wait, 3), "recent_arrivals": len(burst.arrivals)})
        return True

    def _start_timer(self, app_id: str, sender: str, seq: int, fire_at: float, log: dict, *, epoch: int) -> str:
        # The message is durable now: a failure below must not make the provider send it again.
        # A conversation whose timer was not armed is found by its overdue due_at and re-armed.
        try:
            self.scheduler.start(app_id, sender, seq, fire_at, epoch=epoch)
        except (ClientError, BotoCoreError) as exc:
            logger.error("timer start failed; left for the sweeper", extra={**log, "error": type(exc).__name__})
            return "failed"
        return "started"


def _check_size(message: InboundMessage) -> None:
    for name, value in (("sender", message.sender), ("message_id", message.message_id), ("text", message.text)):
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): no UTF-8 store or provider takes it
            raise UnprocessablePayload(f"the {name.replace('_', ' ')} is not valid Unicode",
                                       code=f"invalid_{name}") from None
    if len(message.sender.encode()) > MAX_SENDER_BYTES:
        raise UnprocessablePayload(f"the sender is longer than {MAX_SENDER_BYTES} bytes", code="invalid_sender")
    if len(message.message_id.encode()) > MAX_MESSAGE_ID_BYTES:
        raise UnprocessablePayload(f"the message id is longer than {MAX_MESSAGE_ID_BYTES} bytes",
                                   code="invalid_message_id")
    if len(message.text.encode()) > MAX_TEXT_BYTES:
        raise PayloadTooLarge(f"a message text is longer than {MAX_TEXT_BYTES} bytes", code="text_too_long")
