"""Telegram: every fixture normalised; X-Telegram-Bot-Api-Secret-Token."""

from __future__ import annotations

import pytest
from conftest import fixture_bytes, load_fixture
from helpers import provider_request

from gateway.errors import Forbidden, Unauthorized
from gateway.models import Author, Ignored, InboundMessage
from gateway.providers import get_provider

PROVIDER = get_provider("telegram")
SECRETS = {"secret_token": "tg-Secret_123", "bot_token": "123:ABC"}


def normalize(body):
    return PROVIDER.normalize(provider_request(body))


def photo_update(**changes) -> dict:
    """photo_caption_message_only.json is a bare Message: wrapped in an Update, as SOURCES.md says."""
    message = {**load_fixture("telegram", "photo_caption_message_only.json"), **changes}
    return {"update_id": 1, "message": {k: v for k, v in message.items() if v is not None}}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("private_text.json", InboundMessage("408258968", "4", "154", 1581448857, "text")),
        ("private_text_link_preview.json", InboundMessage("218485655", "hello there", "6557", 1569518342, "text")),
        # a group conversation is the chat; the reply goes to the chat
        ("supergroup_command_reply.json",
         InboundMessage("-1001293752024", "/report", "134546", 1721592580, "text",
                        Author("5964236329", "the Cable Guy"))),
        ("voice.json",
         InboundMessage("1111111", "[audio] AwADBAADbXXXXXXXXXXXGBdhD2l6_XX", "1365", 1441645532, "audio")),
    ],
)
def test_messages_are_normalised(name, expected):
    assert normalize(fixture_bytes("telegram", name)) == [expected]


def test_photo_with_caption_keeps_the_caption():
    assert normalize(photo_update()) == [InboundMessage("27433968", "www.example.com", "3460", 1655671349, "image")]


def test_photo_without_caption_is_a_placeholder_with_the_largest_size():
    largest = load_fixture("telegram", "photo_caption_message_only.json")["photo"][-1]["file_id"]
    [message] = normalize(photo_update(caption=None, caption_entities=None))
    assert (message.text, message.kind) == (f"[image] {largest}", "image")


@pytest.mark.parametrize("name", ["edited_message.json", "supergroup_pinned_service_message.json"])
def test_edits_and_service_messages_are_ignored(name):
    assert isinstance(normalize(fixture_bytes("telegram", name)), Ignored)


def test_an_anonymous_group_admin_is_a_person_and_the_group_is_the_conversation():
    """`from` is @GroupAnonymousBot (is_bot) with `sender_chat`: the message was refused as a bot's."""
    assert normalize(fixture_bytes("telegram", "supergroup_anonymous_admin.json")) == [
        InboundMessage("-1001293752024", "Reminder: meeting at 10", "4501", 1721592600, "text",
                       Author("-1001293752024", "Example supergroup"))]


def test_a_user_posting_as_a_channel_is_accepted_but_a_bot_without_sender_chat_is_not():
    update = load_fixture("telegram", "supergroup_anonymous_admin.json")
    update["message"]["from"] = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
    update["message"]["sender_chat"] = {"id": -1001000000001, "title": "A channel", "type": "channel"}
    [message] = normalize(update)
    assert message.sender == "-1001293752024"
    del update["message"]["sender_chat"]
    assert normalize(update) == Ignored("message from a bot")


def test_messages_from_bots_and_other_updates_are_ignored():
    update = load_fixture("telegram", "private_text.json")
    update["message"]["from"]["is_bot"] = True
    assert isinstance(normalize(update), Ignored)
    assert isinstance(normalize({"update_id": 5, "callback_query": {"id": "1"}}), Ignored)


def test_location_becomes_a_placeholder():
    update = load_fixture("telegram", "private_text.json")
    del update["message"]["text"]
    update["message"]["location"] = {"latitude": 52.5, "longitude": 13.4}
    [message] = normalize(update)
    assert (message.text, message.kind) == ("[location] 52.5,13.4", "location")


def request(token):
    headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token is not None else {}
    return provider_request(fixture_bytes("telegram", "private_text.json"), headers=headers)


def test_the_right_secret_token_is_accepted():
    PROVIDER.authenticate(request("tg-Secret_123"), SECRETS)


@pytest.mark.parametrize(
    ("token", "secrets", "error", "code"),
    [
        (None, SECRETS, Unauthorized, "missing_secret_token"),
        ("", SECRETS, Unauthorized, "missing_secret_token"),
        ("tg-Secret_124", SECRETS, Forbidden, "invalid_secret_token"),
        ("tg-secret_123", SECRETS, Forbidden, "invalid_secret_token"),
        ("tg-Secret_123", {"bot_token": "123:ABC"}, Unauthorized, "not_configured"),
    ],
)
def test_missing_or_wrong_secret_tokens_are_refused(token, secrets, error, code):
    with pytest.raises(error) as caught:
        PROVIDER.authenticate(request(token), secrets)
    assert caught.value.code == code
