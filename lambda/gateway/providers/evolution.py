"""Evolution API (Baileys): the `messages.upsert` webhook event; authenticated by a per-app shared secret."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import UnprocessablePayload
from ..models import Ignored, InboundMessage
from .base import WebhookRequest, check_shared_secret, non_empty_str, optional_int, placeholder

PRIVATE_SUFFIX = "@s.whatsapp.net"
# Baileys message keys -> our kind. documentWithCaptionMessage nests a documentMessage.
MEDIA_KINDS = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
SKIPPED = frozenset({"reactionMessage", "protocolMessage", "editedMessage", "pollUpdateMessage",
                     "senderKeyDistributionMessage"})


class EvolutionProvider:
    name = "evolution"

    def authenticate(self, request: WebhookRequest, secrets: Mapping[str, str]) -> None:
        check_shared_secret(request, secrets, self.name)

    def normalize(self, request: WebhookRequest) -> list[InboundMessage] | Ignored:
        body = request.json_object()
        event = str(body.get("event") or "").lower().replace("_", ".")
        if event != "messages.upsert":
            return Ignored(f"evolution event {event:.40}")  # send.message echoes, messages.update statuses, ...
        data = body.get("data")
        items = data if isinstance(data, list) else [data]
        messages, reasons = [], set()
        for item in items:
            result = _message(item)
            if isinstance(result, Ignored):
                reasons.add(result.reason)
            else:
                messages.append(result)
        return messages or Ignored(", ".join(sorted(reasons)) or "evolution event without messages")


def _message(data: Any) -> InboundMessage | Ignored:
    if not isinstance(data, dict):
        raise UnprocessablePayload("the payload has no data object", code="missing_data")
    key = data.get("key") if isinstance(data.get("key"), dict) else {}
    if key.get("fromMe") is True:
        return Ignored("own message echo")
    remote = non_empty_str(key.get("remoteJid"))
    if remote is None:
        raise UnprocessablePayload("the payload has no sender", code="missing_sender")
    if remote == "status@broadcast":
        return Ignored("status broadcast")
    message_id = non_empty_str(key.get("id"))
    if message_id is None:
        raise UnprocessablePayload("the payload has no message id", code="missing_message_id")
    content = data.get("message") if isinstance(data.get("message"), dict) else {}
    if any(name in content for name in SKIPPED) or data.get("messageType") in SKIPPED:
        return Ignored("evolution reaction, edit or protocol message")
    found = _text_of(content, message_id)
    if found is None:
        raise UnprocessablePayload("the payload has no text", code="missing_text")
    text, kind = found
    # A private chat is keyed (and answered) by the phone number; a group or a LID keeps its full JID,
    # which is what sendText needs to answer there.
    sender = remote[: -len(PRIVATE_SUFFIX)] if remote.endswith(PRIVATE_SUFFIX) else remote
    return InboundMessage(sender=sender, text=text, message_id=message_id,
                          timestamp=_timestamp(data.get("messageTimestamp")), kind=kind)


def _text_of(content: dict, message_id: str) -> tuple[str, str] | None:
    text = non_empty_str(content.get("conversation"))
    if text:
        return text, "text"
    extended = content.get("extendedTextMessage")
    if isinstance(extended, dict) and non_empty_str(extended.get("text")):
        return extended["text"], "text"
    wrapped = content.get("documentWithCaptionMessage")
    if isinstance(wrapped, dict) and isinstance(wrapped.get("message"), dict):
        content = {**content, **wrapped["message"]}
    for key, kind in MEDIA_KINDS.items():
        part = content.get(key)
        if isinstance(part, dict):
            caption = non_empty_str(part.get("caption"))
            # The media reference: its URL when Evolution sends one, else the message id
            # (Evolution's getBase64FromMediaMessage fetches the media by it).
            return caption or placeholder(kind, part.get("url") or message_id), kind
    location = content.get("locationMessage") or content.get("liveLocationMessage")
    if isinstance(location, dict):
        latitude, longitude = location.get("degreesLatitude"), location.get("degreesLongitude")
        where = f"{latitude},{longitude}" if latitude is not None and longitude is not None else None
        return placeholder("location", where), "location"
    contact = content.get("contactMessage")
    if isinstance(contact, dict):
        return placeholder("contact", contact.get("displayName")), "contact"
    others = [name for name in content if name.endswith("Message")]
    if others:  # a kind this module does not know (poll, list, order, ...): kept, never dropped
        return placeholder(others[0].removesuffix("Message"), message_id), "unknown"
    return None


def _timestamp(value: Any) -> int | None:
    if isinstance(value, dict):  # protobuf Long from older versions: {"low": ..., "high": ..., "unsigned": ...}
        low = value.get("low")
        return low if isinstance(low, int) and low > 0 else None
    return optional_int(value)
