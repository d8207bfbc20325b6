"""Replies out: the Reply a bot queues, the requests that deliver it, and the HTTP call with a timeout.

The app's provider (gateway.providers) builds each request from the app's send URL (API_URLS_MAP,
or the api_url of its secrets), the recipient, a part of the text and the app's secrets; a reply
longer than the provider's text_limit is split first (gateway.segmenter), one request per part.
Requests may hold a credential (Telegram's bot token in the URL); nothing here logs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Mapping

import requests

from .errors import SendError
from .providers import get_provider
from .providers.base import OutboundRequest
from .segmenter import split_text

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


def build_requests(provider: str, url: str, reply: Reply, secrets: Mapping[str, str]) -> list[OutboundRequest]:
    """The requests that deliver one reply, in order: one per part of the split text."""
    sender = get_provider(provider)
    return [sender.build_request(url, reply.phone_number, part, secrets)
            for part in split_text(reply.message_to_send, sender.text_limit)]


# --- the call ------------------------------------------------------------------------------------


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
        retryable=response.status_code in RETRYABLE_STATUSES or response.status_code >= 500,  # 501, a CDN's 52x
    )
