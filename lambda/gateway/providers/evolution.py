"""Evolution API (Baileys): the `messages.upsert` webhook event, authenticated by a per-app shared
secret; replies through sendText."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from ..errors import UnprocessablePayload
from ..models import Author, Ignored, InboundMessage
from .base import (OutboundRequest, WebhookRequest, author, check_shared_secret, non_empty_str, optional_int,
                   placeholder, send_credential)

PRIVATE_SUFFIX = "@s.whatsapp.net"
GROUP_SUFFIX = "@g.us"
# Baileys message keys -> our kind. documentWithCaptionMessage nests a documentMessage.
MEDIA_KINDS = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
# Content types that are no new message: reactions, deletions and other protocol messages, edits,
# poll vote updates (encrypted), keep-in-chat and pin actions. An edit also comes wrapped (editedMessage).
SKIPPED = frozenset({"reactionMessage", "protocolMessage", "editedMessage", "pollUpdateMessage",
                     "keepInChatMessage", "pinInChatMessage", "encReactionMessage"})
EDIT_WRAPPERS = frozenset({"editedMessage"})
# Keys that ride along with the content but are not it (Baileys' getContentType skips them too).
NOT_CONTENT = frozenset({"senderKeyDistributionMessage", "messageContextInfo"})
# Wrappers (ephemeralMessage, viewOnceMessage, viewOnceMessageV2, viewOnceMessageV2Extension,
# documentWithCaptionMessage, editedMessage, botInvokeMessage, ...) are FutureProofMessage objects,
# {"message": {...}}: they are opened, in general, down to this depth.
MAX_WRAP_DEPTH = 8
POLL_KINDS = ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3", "pollCreationMessageV4")
# A button or list row the user picked: the chosen title is the text (as Cloud's list_reply.title).
REPLY_TITLES = {
    "listResponseMessage": (("title",), ("singleSelectReply", "selectedRowId")),
    "buttonsResponseMessage": (("selectedDisplayText",), ("selectedButtonId",)),
    "templateButtonReplyMessage": (("selectedDisplayText",), ("selectedId",)),
    "interactiveResponseMessage": (("body", "text"), ("nativeFlowResponseMessage", "name")),
}
UNKNOWN_DETAIL = ("title", "name", "text", "caption", "description", "displayName")


class EvolutionProvider:
    name = "evolution"
    text_limit = 4096

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

    def build_request(self, url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
        """POST the full sendText URL (https://EVOLUTION_HOST/message/sendText/INSTANCE) with the
        instance's apikey."""
        apikey = send_credential(secrets, "apikey", self.name)
        return OutboundRequest("POST", url, {"apikey": apikey, "Content-Type": "application/json"},
                               json={"number": to, "text": text})


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
    content, wrappers = _unwrap(content)
    kind = _content_type(content)
    if (kind in SKIPPED or data.get("messageType") in SKIPPED or EDIT_WRAPPERS.intersection(wrappers)):
        return Ignored("evolution reaction, edit or protocol message")
    if kind is None and any(name in content for name in NOT_CONTENT):
        return Ignored("evolution key distribution without content")
    found = _text_of(content, kind, message_id)
    if found is None:
        raise UnprocessablePayload("the payload has no text", code="missing_text")
    text, kind = found
    # A private chat is keyed (and answered) by the phone number; a group or a LID keeps its full JID,
    # which is what sendText needs to answer there.
    sender = remote[: -len(PRIVATE_SUFFIX)] if remote.endswith(PRIVATE_SUFFIX) else remote
    return InboundMessage(sender=sender, text=text, message_id=message_id,
                          timestamp=_timestamp(data.get("messageTimestamp")), kind=kind,
                          author=_group_author(remote, key, data))


def _group_author(remote: str, key: dict, data: dict) -> Author | None:
    """In a group (``remoteJid`` …@g.us): the participant who wrote (``key.participant``, a phone
    number without ``@s.whatsapp.net`` as a private chat's is, a LID as its full JID) and ``pushName``.
    None in a private chat."""
    if not remote.endswith(GROUP_SUFFIX):
        return None
    participant = non_empty_str(key.get("participant"))
    if participant is not None and participant.endswith(PRIVATE_SUFFIX):
        participant = participant[: -len(PRIVATE_SUFFIX)]
    return author(participant, data.get("pushName"))


def _content_type(content: dict) -> str | None:
    """The key that holds the message: "conversation" or the first "...Message" (Baileys' rule)."""
    for name in content:
        if (name == "conversation" or "Message" in name) and name not in NOT_CONTENT:
            return name
    return None


def _unwrap(content: dict) -> tuple[dict, list[str]]:
    """Open FutureProofMessage wrappers ({"<wrapper>": {"message": {...}}}), however they nest."""
    wrappers: list[str] = []
    for _ in range(MAX_WRAP_DEPTH):
        name = _content_type(content)
        inner = content.get(name) if name else None
        if not (isinstance(inner, dict) and isinstance(inner.get("message"), dict)):
            break
        wrappers.append(name)
        content = inner["message"]
    return content, wrappers


def _path(part: Any, path: tuple[str, ...]) -> str | None:
    for name in path:
        part = part.get(name) if isinstance(part, dict) else None
    return non_empty_str(part)


Found = tuple[str, str]  # (text, kind)


def _text_of(content: dict, kind: str | None, message_id: str) -> Found | None:
    """The first of READERS that finds the message's text; a kind none knows is kept as a placeholder."""
    for read in READERS:
        found = read(content, message_id)
        if found is not None:
            return found
    if kind is not None:  # a kind this module does not know (order, product, event, ...): kept, never dropped
        return _unknown(content.get(kind), kind, message_id)
    return None


def _first_object(content: dict, keys: Iterable[str]) -> tuple[str, dict] | None:
    """(key, value) of the first of `keys` whose value in `content` is an object."""
    return next(((key, content[key]) for key in keys if isinstance(content.get(key), dict)), None)


def _conversation(content: dict, _: str) -> Found | None:
    text = non_empty_str(content.get("conversation"))
    return (text, "text") if text else None


def _extended_text(content: dict, _: str) -> Found | None:
    extended = content.get("extendedTextMessage")
    if isinstance(extended, dict) and non_empty_str(extended.get("text")):
        return extended["text"], "text"
    return None


def _media(content: dict, message_id: str) -> Found | None:
    found = _first_object(content, MEDIA_KINDS)
    if found is None:
        return None
    key, part = found
    kind = MEDIA_KINDS[key]
    # The media reference: its URL when Evolution sends one, else the message id
    # (Evolution's getBase64FromMediaMessage fetches the media by it).
    return non_empty_str(part.get("caption")) or placeholder(kind, part.get("url") or message_id), kind


def _location(content: dict, _: str) -> Found | None:
    location = content.get("locationMessage") or content.get("liveLocationMessage")
    if not isinstance(location, dict):
        return None
    latitude, longitude = location.get("degreesLatitude"), location.get("degreesLongitude")
    where = f"{latitude},{longitude}" if latitude is not None and longitude is not None else None
    name = non_empty_str(location.get("name")) or non_empty_str(location.get("address"))
    return placeholder("location", " ".join(x for x in (where, name) if x)), "location"


def _contact(content: dict, _: str) -> Found | None:
    contact = content.get("contactMessage")
    return (placeholder("contact", contact.get("displayName")), "contact") if isinstance(contact, dict) else None


def _contacts(content: dict, _: str) -> Found | None:
    contacts = content.get("contactsArrayMessage")
    if not isinstance(contacts, dict):
        return None
    items = contacts.get("contacts") if isinstance(contacts.get("contacts"), list) else []
    names = [c["displayName"] for c in items if isinstance(c, dict) and non_empty_str(c.get("displayName"))]
    return placeholder("contacts", ", ".join(names) or contacts.get("displayName")), "contacts"


def _choice(content: dict, _: str) -> Found | None:
    """A button or list row the user picked: its title, else "[kind] <its id>"."""
    found = _first_object(content, REPLY_TITLES)
    if found is None:
        return None
    key, reply = found
    title_path, id_path = REPLY_TITLES[key]
    title = _path(reply, title_path)
    name = key.removesuffix("Message")
    return (title, "text") if title else (placeholder(name, _path(reply, id_path)), name)


def _poll(content: dict, _: str) -> Found | None:
    found = _first_object(content, POLL_KINDS)
    return (placeholder("poll", found[1].get("name")), "poll") if found else None


def _unknown(part: Any, kind: str, message_id: str) -> Found:
    detail = next((part[f] for f in UNKNOWN_DETAIL if isinstance(part, dict) and non_empty_str(part.get(f))), None)
    return placeholder(kind.removesuffix("Message")[:40], (detail or message_id)[:200]), "unknown"


# In the order they are looked for: the first that finds a text decides.
READERS: tuple[Callable[[dict, str], Found | None], ...] = (
    _conversation, _extended_text, _media, _location, _contact, _contacts, _choice, _poll)


def _timestamp(value: Any) -> int | None:
    if isinstance(value, dict):  # protobuf Long from older versions: {"low": ..., "high": ..., "unsigned": ...}
        low = value.get("low")
        return low if isinstance(low, int) and low > 0 else None
    return optional_int(value)
