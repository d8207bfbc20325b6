"""Builders shared by the tests."""

from __future__ import annotations

import base64
import itertools
import json

_ids = itertools.count(1)


def zapi_text(phone: str, text: str, message_id: str | None = None, *, from_me: bool = False,
              momment: int = 1632228638000) -> dict:
    """A Z-API ReceivedCallback text payload, shaped like tests/fixtures/providers/zapi/text.json."""
    return {
        "isGroup": False,
        "messageId": message_id or f"MSG{next(_ids):08d}",
        "phone": phone,
        "fromMe": from_me,
        "momment": momment,
        "status": "RECEIVED",
        "type": "ReceivedCallback",
        "text": {"message": text},
    }


API_DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"


def api_event(body, *, app_id: str | None = "bot1", method: str = "POST", headers: dict | None = None,
              raw: bool = False, base64_body: bool = False, query: dict | None = None) -> dict:
    """An API Gateway HTTP API payload-format-2.0 event for POST /webhook (its public URL is
    https://API_DOMAIN/webhook?<rawQueryString>)."""
    if raw:
        text = body
    else:
        text = json.dumps(body)
    params = dict(query or {})
    if app_id is not None:
        params["appId"] = app_id
    event = {
        "version": "2.0",
        "routeKey": f"{method} /webhook",
        "rawPath": "/webhook",
        "rawQueryString": "&".join(f"{k}={v}" for k, v in params.items()),
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"domainName": API_DOMAIN,
                           "http": {"method": method, "path": "/webhook", "sourceIp": "203.0.113.9"}},
        "isBase64Encoded": base64_body,
        "body": base64.b64encode(text.encode() if isinstance(text, str) else text).decode() if base64_body else text,
    }
    if params:
        event["queryStringParameters"] = params
    return event


def response_json(response: dict) -> dict:
    return json.loads(response["body"])


def provider_request(body: bytes | str | dict, *, headers: dict | None = None, query: dict | None = None,
                     method: str = "POST", url: str = ""):
    """A decoded webhook request (what parse_event gives a provider) for provider unit tests."""
    from gateway.providers import WebhookRequest

    if isinstance(body, dict):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body
    return WebhookRequest(method=method, headers={k.lower(): v for k, v in (headers or {}).items()},
                          query=dict(query or {}), raw_body=raw, url=url)


def form_body(fields: dict | list) -> str:
    """application/x-www-form-urlencoded, as Twilio posts it."""
    from urllib.parse import urlencode

    return urlencode(fields)


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; returns its last value. Bounded
    polling for things that happen on moto's timers, not a timed assertion."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def text_reader(items: list[dict]):
    """entry -> its text, for a scan of the table's items: a long text is in the TEXT item its entry
    refers to (``r``), which the scan holds too."""
    from gateway.store import TEXT_PREFIX, entry_text

    texts = {i["sk"][len(TEXT_PREFIX):]: entry_text(i) for i in items if i["sk"].startswith(TEXT_PREFIX)}
    return lambda entry: entry_text(entry, texts)
