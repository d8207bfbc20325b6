"""The provider interface: a webhook request in, normalised messages (or a reason to ignore) out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import BadRequest, UnprocessablePayload
from ..models import Ignored, InboundMessage


@dataclass(frozen=True)
class WebhookRequest:
    """What API Gateway HTTP API (payload format 2.0) delivered, decoded once."""

    method: str
    headers: dict[str, str]  # lower-cased names
    query: dict[str, str]
    raw_body: bytes
    path: str = "/webhook"
    source_ip: str = ""
    _json: Any = field(default=None, compare=False, repr=False)

    def json_object(self) -> dict:
        """The body as a JSON object, or a 400 naming what is wrong with it."""
        if not self.raw_body.strip():
            raise BadRequest("the request body is empty", code="empty_body")
        try:
            value = json.loads(self.raw_body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise BadRequest("the request body is not valid JSON", code="invalid_json") from None
        if not isinstance(value, dict):
            raise BadRequest("the request body must be a JSON object", code="not_an_object")
        return value


class InboundProvider(Protocol):
    name: str

    def normalize(self, request: WebhookRequest) -> list[InboundMessage] | Ignored:
        """The messages a webhook carries, or Ignored for events that must not be retried.

        Raises UnprocessablePayload (422) for a payload that is a message but lacks what we need.
        """
        ...


def require_str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UnprocessablePayload(f"the payload has no {what}", code=f"missing_{what.replace(' ', '_')}")
    return value


def optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
