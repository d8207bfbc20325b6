"""Z-API: the "on message received" webhook (ReceivedCallback), authenticated by a per-app shared
secret; replies through send-text."""

from __future__ import annotations

from typing import Callable, Mapping

from ..errors import UnprocessablePayload
from ..models import Author, Ignored, InboundMessage
from .base import (OutboundRequest, WebhookRequest, author, check_shared_secret, non_empty_str, optional_int,
                   placeholder, require_str)

# Media: the caption is the text, else "[kind] <kind>Url".
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
# Other callback contents, and the fields that describe each in "[type] detail" (a dotted path reads
# a nested object; a list field joins the names of its items). A content object under a name that
# is not here is kept as "[name] <its title, name or message>": a type Z-API adds is never refused.
DETAILS = {
    "event": ("name",),
    "poll": ("question",),
    "pollVote": ("options",),
    "product": ("title", "productId"),
    "order": ("orderTitle", "orderId"),
    "requestPayment": ("value", "currencyCode"),
    "sendPayment": ("paymentInfo.value", "paymentInfo.currencyCode"),
    "reviewAndPay": ("referenceId", "total", "currency"),
    "reviewOrder": ("referenceId", "orderStatus"),
}
UNKNOWN_DETAIL = ("title", "name", "message", "text", "caption", "description")
# A button or list row the user picked: the fields that hold its label, in order.
CHOICE_LABELS = {"buttonsResponseMessage": ("message", "title"), "listResponseMessage": ("title", "message")}
# Actions on an earlier message, not new messages: answered 200 and not stored, as reactions are.
SKIPPED = {"reaction": "reaction", "pinMessage": "pinned message"}


class ZApiProvider:
    name = "zapi"
    text_limit = 4096

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
        if body.get("isEdit") is True:  # the edited text of an earlier message, ignored like other providers' edits
            return Ignored("edited message")
        skipped = next((name for name in SKIPPED if isinstance(body.get(name), dict)), None)
        if skipped:
            return Ignored(SKIPPED[skipped])
        # The conversation is the chat: a private chat's phone, or a group's "<id>-group".
        sender = require_str(body.get("phone"), "sender")
        text, media = _text_of(body)
        if text is None:
            raise UnprocessablePayload("the payload has no text", code="missing_text")
        message_id = body.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise UnprocessablePayload("the payload has no messageId", code="missing_message_id")
        momment = optional_int(body.get("momment", body.get("moment")))  # "moment" in the poll examples
        return [
            InboundMessage(
                sender=sender,
                text=text,
                message_id=message_id,
                timestamp=momment // 1000 if momment else None,
                kind=media or "text",
                author=_group_author(body, sender),
            )
        ]

    def build_request(self, url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
        """POST the full send-text URL (https://api.z-api.io/instances/ID/token/TOKEN/send-text, the
        api_url of the app's secrets); the Client-Token header when the account has one (client_token)."""
        headers = {"Content-Type": "application/json"}
        if secrets.get("client_token"):
            headers["Client-Token"] = secrets["client_token"]
        return OutboundRequest("POST", url, headers, json={"phone": to, "message": text})


def _group_author(body: dict, chat: str) -> Author | None:
    """In a group (``isGroup``, ``phone`` "<id>-group"): the participant who wrote, by
    ``participantPhone`` (else ``participantLid``), and ``senderName``. None in a private chat."""
    if body.get("isGroup") is not True and not chat.endswith("-group"):
        return None
    return author(non_empty_str(body.get("participantPhone")) or body.get("participantLid"), body.get("senderName"))


def _text_of(body: dict) -> tuple[str | None, str | None]:
    """(text, kind); (None, None) when the payload carries no content at all (or a malformed `text`).
    The first content type of CONTENT that the body holds as an object decides; else any other object."""
    for key, extract in CONTENT.items():
        part = body.get(key)
        if isinstance(part, dict):
            return extract(key, part)
    return _unknown(body)


def _text(_: str, text: dict) -> tuple[str | None, str | None]:
    message = text.get("message")
    if isinstance(message, str) and message.strip():
        return message, None
    return None, None


def _media(kind: str, media: dict) -> tuple[str, str]:
    """The caption, else "[kind] <kind>Url"."""
    caption = media.get("caption")
    if isinstance(caption, str) and caption.strip():
        return caption, kind
    return placeholder(kind, media.get(f"{kind}Url") or media.get("url")), kind


def _location(_: str, location: dict) -> tuple[str, str]:
    latitude, longitude = location.get("latitude"), location.get("longitude")
    where = f"{latitude},{longitude}" if _number(latitude) and _number(longitude) else None
    name = non_empty_str(location.get("name")) or non_empty_str(location.get("address"))
    return placeholder("location", " ".join(x for x in (where, name) if x)), "location"


def _contact(_: str, contact: dict) -> tuple[str, str]:
    phones = contact.get("phones") if isinstance(contact.get("phones"), list) else []
    name = non_empty_str(contact.get("displayName")) or next((p for p in phones if non_empty_str(p)), None)
    return placeholder("contact", name), "contact"


def _choice(key: str, reply: dict) -> tuple[str, None]:
    """A button or list row the user picked: its label (a list row's title, as Cloud's list_reply.title)."""
    label = next((reply[f] for f in CHOICE_LABELS[key] if non_empty_str(reply.get(f))), None)
    return (label, None) if label else (placeholder(key.removesuffix("Message")), None)


def _detail(kind: str, part: dict) -> tuple[str, str]:
    return placeholder(kind, _describe(part, DETAILS[kind])), kind


def _unknown(body: dict) -> tuple[str | None, str | None]:
    """A content type this module does not know: kept, never refused."""
    for kind, part in body.items():
        if isinstance(part, dict) and part:
            return placeholder(kind[:40], _describe(part, UNKNOWN_DETAIL, first_only=True)), "unknown"
    return None, None


# Content type (the body's key holding it) -> its (text, kind), in the order they are looked for.
CONTENT: dict[str, Callable[[str, dict], tuple[str | None, str | None]]] = {
    "text": _text,
    **dict.fromkeys(MEDIA_KINDS, _media),
    "location": _location,
    "contact": _contact,
    **dict.fromkeys(CHOICE_LABELS, _choice),
    **dict.fromkeys(DETAILS, _detail),
}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(part: dict, fields: tuple[str, ...], *, first_only: bool = False) -> str | None:
    """The non-empty values of `fields` in `part`, joined by spaces (short: a detail, not a dump)."""
    found = []
    for path in fields:
        value = part
        for name in path.split("."):
            value = value.get(name) if isinstance(value, dict) else None
        if isinstance(value, list):  # poll options: [{"name": ...}, ...]
            value = ", ".join(v["name"] for v in value if isinstance(v, dict) and non_empty_str(v.get("name")))
        if _number(value):
            value = str(value)
        if non_empty_str(value):
            found.append(value.strip())
            if first_only:
                break
    return " ".join(found)[:200] or None
