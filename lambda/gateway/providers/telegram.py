"""Telegram Bot API: an Update with a `message`, authenticated by X-Telegram-Bot-Api-Secret-Token;
replies through sendMessage."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..errors import Forbidden, Unauthorized, UnprocessablePayload
from ..models import Author, Ignored, InboundMessage
from .base import (OutboundRequest, WebhookRequest, author, non_empty_str, optional_int, placeholder,
                   require_secret, secret_equals, send_credential)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
# Media a message may carry instead of text, in the order they are looked for; the reference is the
# file_id the bot can download with getFile.
MEDIA_KINDS = ("photo", "video", "animation", "voice", "audio", "video_note", "document", "sticker")
KIND_NAMES = {"photo": "image", "animation": "video", "video_note": "video", "voice": "audio"}
GROUP_CHAT_TYPES = ("group", "supergroup")


class TelegramProvider:
    name = "telegram"
    text_limit = 4096

    def authenticate(self, request: WebhookRequest, secrets: Mapping[str, str]) -> None:
        expected = require_secret(secrets, "secret_token", self.name)
        given = request.headers.get(SECRET_HEADER, "")
        if not given:
            raise Unauthorized("the X-Telegram-Bot-Api-Secret-Token header is missing", code="missing_secret_token")
        if not secret_equals(given, expected):
            raise Forbidden("the X-Telegram-Bot-Api-Secret-Token is wrong", code="invalid_secret_token")

    def normalize(self, request: WebhookRequest) -> list[InboundMessage] | Ignored:
        update = request.json_object()
        message = update.get("message")
        if not isinstance(message, dict):
            kinds = sorted(k for k in update if k != "update_id")
            return Ignored(f"telegram update {','.join(kinds)[:60] or 'empty'}")  # edits, callbacks, channel posts
        sender = message.get("from") if isinstance(message.get("from"), dict) else {}
        # A person writing on behalf of a chat (an anonymous group admin: `from` is @GroupAnonymousBot;
        # a user posting as a channel: @Channel_Bot) comes with `sender_chat`; only a real bot has not.
        if sender.get("is_bot") is True and not isinstance(message.get("sender_chat"), dict):
            return Ignored("message from a bot")
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        chat_id = chat.get("id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, (int, str)) or not str(chat_id).strip():
            raise UnprocessablePayload("the payload has no chat id", code="missing_sender")
        message_id = message.get("message_id")
        if isinstance(message_id, bool) or not isinstance(message_id, (int, str)) or not str(message_id).strip():
            raise UnprocessablePayload("the payload has no message_id", code="missing_message_id")
        found = _text_of(message)
        if found is None:
            return Ignored("telegram service message")  # pinned, joined, left, title changed, ...
        text, kind = found
        # The conversation is the chat (a private chat's id is the user's id); the reply goes there too.
        return [InboundMessage(sender=str(chat_id), text=text, message_id=str(message_id),
                               timestamp=optional_int(message.get("date")), kind=kind,
                               author=_group_author(message, chat, sender))]

    def build_request(self, url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
        """POST <url>/bot<bot_token>/sendMessage, url being https://api.telegram.org: the URL holds the
        bot token, so it is never logged."""
        token = send_credential(secrets, "bot_token", self.name)
        return OutboundRequest("POST", f"{url.rstrip('/')}/bot{token}/sendMessage",
                               {"Content-Type": "application/json"}, json={"chat_id": to, "text": text})


def _group_author(message: dict, chat: dict, sender: dict) -> Author | None:
    """In a group or supergroup: who wrote, by ``from`` (its id; first and last name, else the
    username), or by ``sender_chat`` (its id and title) for an anonymous admin or a user posting as a
    channel. None in a private chat."""
    if chat.get("type") not in GROUP_CHAT_TYPES:
        return None
    on_behalf_of = message.get("sender_chat")
    if isinstance(on_behalf_of, dict):
        return author(on_behalf_of.get("id"), on_behalf_of.get("title") or on_behalf_of.get("username"))
    names = [n.strip() for n in (sender.get("first_name"), sender.get("last_name")) if non_empty_str(n)]
    return author(sender.get("id"), " ".join(names) or sender.get("username"))


def _text_of(message: dict) -> tuple[str, str] | None:
    text = non_empty_str(message.get("text"))
    if text:
        return text, "text"
    caption = non_empty_str(message.get("caption"))
    kind = _media_kind(message)
    if kind is not None:
        name = KIND_NAMES.get(kind, kind)
        return caption or placeholder(name, _file_id(message[kind])), name
    if caption:
        return caption, "text"
    for other, describe in DETAILS.items():
        part = message.get(other)
        if isinstance(part, dict):
            return placeholder(other, describe(part)), other
    return None


def _media_kind(message: dict) -> str | None:
    for kind in MEDIA_KINDS:
        if message.get(kind):
            return kind
    return None


def _file_id(part: Any) -> str | None:
    if isinstance(part, list):  # photo: several sizes, the largest last
        sizes = [p for p in part if isinstance(p, dict)]
        part = sizes[-1] if sizes else {}
    return part.get("file_id") if isinstance(part, dict) else None


def _where(part: dict) -> str | None:
    if "latitude" in part and "longitude" in part:
        return f"{part['latitude']},{part['longitude']}"
    return None


def _venue(part: dict) -> str | None:
    where = part.get("location", part)
    return _where(where) if isinstance(where, dict) else None


def _contact(part: dict) -> str | None:
    return non_empty_str(part.get("phone_number")) or non_empty_str(part.get("first_name"))


def _poll(part: dict) -> str | None:
    return non_empty_str(part.get("question"))


def _dice(part: dict) -> str | None:
    return f"{part.get('emoji', '')} {part.get('value', '')}".strip() or None


# Content other than text and media, in the order it is looked for -> its "[kind] detail" detail.
DETAILS: dict[str, Callable[[dict], str | None]] = {
    "location": _where,
    "venue": _venue,
    "contact": _contact,
    "poll": _poll,
    "dice": _dice,
}
