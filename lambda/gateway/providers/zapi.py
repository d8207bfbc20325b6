"""Z-API: the "on message received" webhook (ReceivedCallback); authenticated by a per-app shared secret."""

from __future__ import annotations

from typing import Mapping

from ..errors import UnprocessablePayload
from ..models import Ignored, InboundMessage
from .base import WebhookRequest, check_shared_secret, optional_int, placeholder, require_str

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker", "location", "contact")


class ZApiProvider:
    name = "zapi"

    def authenticate(self, request: WebhookRequest, secrets: Mapping[str, str]) -> None:
        # Z-API does not sign its webhooks; the token is put in the webhook URL (?token=) we give it.
        check_shared_secret(request, secrets, self.name)

    def normalize(self, request: WebhookRequest) -> list[InboundMessage] | Ignored:
        body = request.json_object()
        kind = body.get("type")
        if kind is not None and kind != "ReceivedCallback":
            return Ignored(f"zapi event {kind!s:.40}")  # status and delivery callbacks
        from_me = body.get("fromMe")
        if from_me is True:
            return Ignored("own message echo")
        if from_me not in (None, False):  # "true" as a string: an echo or not, it is no Z-API payload
            raise UnprocessablePayload("fromMe must be a boolean", code="invalid_from_me")
        if body.get("notification"):
            return Ignored("group notification")
        if body.get("waitingMessage") is True:
            return Ignored("message still waiting to be decrypted")
        if isinstance(body.get("reaction"), dict):
            return Ignored("reaction")
        # The conversation is the chat: a private chat's phone, or a group's "<id>-group".
        sender = require_str(body.get("phone"), "sender")
        text, media = _text_of(body)
        if text is None:
            raise UnprocessablePayload("the payload has no text", code="missing_text")
        message_id = body.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise UnprocessablePayload("the payload has no messageId", code="missing_message_id")
        momment = optional_int(body.get("momment"))
        return [
            InboundMessage(
                sender=sender,
                text=text,
                message_id=message_id,
                timestamp=momment // 1000 if momment else None,
                kind=media or "text",
            )
        ]


def _text_of(body: dict) -> tuple[str | None, str | None]:
    text = body.get("text")
    if isinstance(text, dict):
        message = text.get("message")
        if isinstance(message, str) and message.strip():
            return message, None
        return None, None
    for kind in MEDIA_KINDS:
        media = body.get(kind)
        if isinstance(media, dict):
            caption = media.get("caption")
            if isinstance(caption, str) and caption.strip():
                return caption, kind
            url = media.get(f"{kind}Url") or media.get("url") or ""
            return (f"[{kind}] {url}".strip() if isinstance(url, str) else f"[{kind}]"), kind
    for key in ("buttonsResponseMessage", "listResponseMessage"):  # a button or list row the user picked
        reply = body.get(key)
        if isinstance(reply, dict):
            for name in ("message", "title"):
                if isinstance(reply.get(name), str) and reply[name].strip():
                    return reply[name], None
    for kind, name_field in (("event", "name"), ("poll", "question")):
        part = body.get(kind)
        if isinstance(part, dict):
            return placeholder(kind, part.get(name_field)), kind
    return None, None
