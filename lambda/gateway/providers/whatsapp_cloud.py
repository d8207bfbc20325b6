"""Meta WhatsApp Cloud API: the `messages` webhook, X-Hub-Signature-256 and the GET verification
handshake; replies through /messages."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, Callable, Mapping

from ..errors import BadRequest, Forbidden, Unauthorized
from ..models import Ignored, InboundMessage
from .base import (OutboundRequest, WebhookRequest, non_empty_str, optional_int, placeholder, require_secret,
                   secret_equals, send_credential)

SIGNATURE_HEADER = "x-hub-signature-256"
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
# Message types that carry nothing a bot should answer: a reaction to an earlier message, a system
# notice (number changed), a deleted or edited message.
SKIPPED_TYPES = frozenset({"reaction", "system", "ephemeral", "revoke", "edit", "request_welcome"})
# A business-scoped user id: a two-letter country code, a period, then letters and digits
# ("US.13491208655302741918"; a parent BSUID has "ENT." after the country: "US.ENT.1181...").
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


class WhatsAppCloudProvider:
    name = "whatsapp_cloud"
    text_limit = 4096

    def handshake(self, request: WebhookRequest, secrets: Mapping[str, str]) -> str:
        """GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=... -> the challenge, echoed."""
        mode = request.query.get("hub.mode")
        token = request.query.get("hub.verify_token")
        challenge = request.query.get("hub.challenge")
        if mode != "subscribe" or not challenge:
            raise BadRequest("a verification request needs hub.mode=subscribe and hub.challenge",
                             code="invalid_verification")
        expected = require_secret(secrets, "verify_token", self.name)
        if not token:
            raise Unauthorized("hub.verify_token is missing", code="missing_verify_token")
        if not secret_equals(token, expected):
            raise Forbidden("hub.verify_token is wrong", code="invalid_verify_token")
        return challenge

    def authenticate(self, request: WebhookRequest, secrets: Mapping[str, str]) -> None:
        app_secret = require_secret(secrets, "app_secret", self.name)
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given:
            raise Unauthorized("the X-Hub-Signature-256 header is missing", code="missing_signature")
        expected = "sha256=" + hmac.new(app_secret.encode("utf-8"), request.raw_body, hashlib.sha256).hexdigest()
        if not secret_equals(given.strip().lower(), expected):
            raise Forbidden("the X-Hub-Signature-256 signature is wrong", code="invalid_signature")

    def normalize(self, request: WebhookRequest) -> list[InboundMessage] | Ignored:
        body = request.json_object()
        if body.get("object") not in (None, "whatsapp_business_account"):
            return Ignored(f"whatsapp_cloud object {body.get('object')!s:.40}")
        messages: list[InboundMessage] = []
        seen_fields: set[str] = set()
        for entry in _dicts(body.get("entry")):
            for change in _dicts(entry.get("changes")):
                field_name = change.get("field")
                seen_fields.add(str(field_name)[:40])
                value = change.get("value")
                if field_name != "messages" or not isinstance(value, dict):
                    continue  # smb_message_echoes (our own echoes), account and template updates
                contacts = _dicts(value.get("contacts"))
                contact = contacts[0] if len(contacts) == 1 else {}  # whose the messages are, when they say not
                for message in _dicts(value.get("messages")):
                    normalized = _message(message, contact)
                    if normalized is not None:
                        messages.append(normalized)
        if messages:
            return messages
        if seen_fields == {"messages"}:
            return Ignored("whatsapp_cloud status update or reaction")
        return Ignored(f"whatsapp_cloud fields {','.join(sorted(seen_fields)) or 'none'}")

    def build_request(self, url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
        """POST <url>/messages, url being https://graph.facebook.com/v21.0/PHONE_NUMBER_ID. A phone number
        goes in `to`; a user known only by a BSUID (a WhatsApp username without a shared phone number)
        is addressed by `recipient` instead."""
        token = send_credential(secrets, "access_token", self.name)
        endpoint = url if url.rstrip("/").endswith("/messages") else url.rstrip("/") + "/messages"
        address = "recipient" if _BSUID.fullmatch(to) else "to"
        return OutboundRequest(
            "POST", endpoint,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            json={"messaging_product": "whatsapp", address: to, "type": "text", "text": {"body": text}},
        )


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _message(message: dict, contact: dict) -> InboundMessage | None:
    kind = message.get("type")
    if kind in SKIPPED_TYPES:
        return None
    # The phone number when Meta shares it (`from`, else the one contact's `wa_id`), so a user keeps
    # one conversation. A user with a WhatsApp username may come without it: then the business-scoped
    # user id (BSUID, "US.1349...": `from_user_id`, else the contact's `user_id`) is the conversation,
    # and the reply goes to it (build_request sends it as `recipient`).
    sender = next((value for value in (message.get("from"), contact.get("wa_id"), message.get("from_user_id"),
                                       contact.get("user_id")) if non_empty_str(value)), None)
    message_id = non_empty_str(message.get("id"))
    if sender is None or message_id is None:
        return None  # not something a person sent us
    text, kind = _text_of(message, kind if isinstance(kind, str) else "unknown")
    return InboundMessage(sender=sender, text=text, message_id=message_id,
                          timestamp=optional_int(message.get("timestamp")), kind=kind)


def _text_of(message: dict, kind: str) -> tuple[str, str]:
    """(text, kind) by the message's type (CONTENT); a type not there is kept as "[type]", never dropped."""
    part = message.get(kind) if isinstance(message.get(kind), dict) else {}
    extract = CONTENT.get(kind)
    return extract(kind, part, message) if extract is not None else (placeholder(kind), kind)  # "unsupported", ...


def _text(kind: str, part: dict, message: dict) -> tuple[str, str]:
    body = non_empty_str(part.get("body"))
    return (body, "text") if body else (placeholder("text"), "text")


def _media(kind: str, part: dict, message: dict) -> tuple[str, str]:
    caption = non_empty_str(part.get("caption"))
    if caption:
        return caption, kind
    return placeholder(kind, part.get("id") or part.get("link") or part.get("url")), kind


def _button(kind: str, part: dict, message: dict) -> tuple[str, str]:
    """A quick-reply button of a template."""
    text = non_empty_str(part.get("text")) or non_empty_str(part.get("payload"))
    return (text, "text") if text else (placeholder("button"), "button")


def _interactive(kind: str, part: dict, message: dict) -> tuple[str, str]:
    """A reply button or list row the user picked."""
    for reply_kind in ("button_reply", "list_reply"):
        reply = part.get(reply_kind)
        if isinstance(reply, dict) and non_empty_str(reply.get("title")):
            return reply["title"], "text"
    return placeholder("interactive", part.get("type")), "interactive"


def _location(kind: str, part: dict, message: dict) -> tuple[str, str]:
    latitude, longitude = part.get("latitude"), part.get("longitude")
    where = f"{latitude},{longitude}" if latitude is not None and longitude is not None else None
    name = non_empty_str(part.get("name"))
    return placeholder("location", " ".join(x for x in (where, name) if x)), "location"


def _contacts(kind: str, part: dict, message: dict) -> tuple[str, str]:
    contacts = message.get("contacts") if isinstance(message.get("contacts"), list) else []
    names = [c.get("name", {}).get("formatted_name") for c in contacts if isinstance(c, dict)
             and isinstance(c.get("name"), dict)]
    return placeholder("contacts", ", ".join(n for n in names if isinstance(n, str))), "contacts"


# Message type -> (text, kind) of a message of that type, given the object under the type's name.
CONTENT: dict[str, Callable[[str, dict, dict], tuple[str, str]]] = {
    "text": _text,
    **dict.fromkeys(MEDIA_KINDS, _media),
    "button": _button,
    "interactive": _interactive,
    "location": _location,
    "contacts": _contacts,
}
