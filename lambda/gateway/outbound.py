"""Replies out: the provider request (pure) and the HTTP call with a timeout and a verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import requests

from .errors import SendError

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Reply:
    app_id: str
    phone_number: str
    message_to_send: str

    @classmethod
    def from_record(cls, value: object) -> "Reply":
        if not isinstance(value, dict):
            raise ValueError("the record body must be a JSON object")
        fields = {}
        for name in ("app_id", "phone_number", "message_to_send"):
            item = value.get(name)
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"the record has no {name}")
            fields[name] = item
        return cls(**fields)


@dataclass(frozen=True)
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict | None = None
    data: dict | None = None


def zapi_send_text(url: str, reply: Reply, client_token: str | None) -> OutboundRequest:
    headers = {"Content-Type": "application/json"}
    if client_token:
        headers["Client-Token"] = client_token
    return OutboundRequest("POST", url, headers, json={"phone": reply.phone_number, "message": reply.message_to_send})


@cache
def _session() -> requests.Session:
    return requests.Session()


def send(request: OutboundRequest, timeout_seconds: float) -> int:
    """Perform the request; returns the status of a 2xx, raises SendError otherwise."""
    try:
        response = _session().request(
            request.method,
            request.url,
            headers=request.headers,
            json=request.json,
            data=request.data,
            timeout=(min(3.0, timeout_seconds), timeout_seconds),
            allow_redirects=False,
        )
    except requests.Timeout:
        raise SendError("the provider did not answer in time", retryable=True) from None
    except requests.RequestException as exc:
        raise SendError(f"could not reach the provider: {type(exc).__name__}", retryable=True) from None
    if 200 <= response.status_code < 300:
        return response.status_code
    raise SendError(
        f"the provider answered HTTP {response.status_code}",
        retryable=response.status_code in RETRYABLE_STATUSES,
    )
