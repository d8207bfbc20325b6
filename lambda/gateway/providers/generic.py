"""Generic JSON: {"phone_number", "text", "message_id"?, "timestamp"?} in, {"phone_number", "text"} out,
for any sender we write ourselves."""

from __future__ import annotations

import uuid
from typing import Mapping

from ..errors import UnprocessablePayload
from ..models import InboundMessage
from .base import OutboundRequest, WebhookRequest, check_shared_secret, non_empty_str, optional_int, require_str


class GenericProvider:
    name = "generic"
    text_limit = None  # our own endpoint: a reply goes whole

    def authenticate(self, request: WebhookRequest, secrets: Mapping[str, str]) -> None:
        check_shared_secret(request, secrets, self.name)

    def normalize(self, request: WebhookRequest) -> list[InboundMessage]:
        body = request.json_object()
        sender = require_str(body.get("phone_number"), "sender")
        text = body.get("text")
        if not non_empty_str(text):
            raise UnprocessablePayload("the payload has no text", code="missing_text")
        message_id = body.get("message_id")
        if message_id is None:
            # No id, no deduplication: a retried POST is stored twice. Send message_id to get it.
            message_id = f"generic-{uuid.uuid4().hex}"
        elif isinstance(message_id, int) and not isinstance(message_id, bool):
            message_id = str(message_id)
        elif not non_empty_str(message_id):
            raise UnprocessablePayload("message_id must be a non-empty string", code="missing_message_id")
        timestamp = body.get("timestamp")
        if timestamp is not None and optional_int(timestamp) is None:
            raise UnprocessablePayload("timestamp must be epoch seconds", code="invalid_timestamp")
        return [InboundMessage(sender=sender, text=text, message_id=message_id,
                               timestamp=optional_int(timestamp), kind="text")]

    def build_request(self, url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
        """POST the full URL given; a Bearer access_token when the app has one."""
        headers = {"Content-Type": "application/json"}
        if secrets.get("access_token"):
            headers["Authorization"] = f"Bearer {secrets['access_token']}"
        return OutboundRequest("POST", url, headers, json={"phone_number": to, "text": text})
