"""A group message's author (the participant's id and display name) as each provider gives it; none
in a private chat, and none from WhatsApp Cloud, Twilio or generic (no groups there)."""

from __future__ import annotations

import copy

import pytest
from conftest import fixture_bytes, load_fixture
from helpers import form_body, provider_request, zapi_text

from gateway.models import Author
from gateway.providers import get_provider
from gateway.providers.base import MAX_AUTHOR_ID_CHARS, MAX_AUTHOR_NAME_CHARS, author


def one(provider: str, body) -> object:
    [message] = get_provider(provider).normalize(provider_request(body))
    return message


# --- Z-API ------------------------------------------------------------------------------------------

def zapi_group(**fields) -> dict:
    return zapi_text("120363019502650977-group", "oi", "G1") | {"isGroup": True} | fields


@pytest.mark.parametrize(("fields", "expected"), [
    ({"participantPhone": "5511911110001", "participantLid": "11110001@lid", "senderName": "Ana"},
     Author("5511911110001", "Ana")),
    ({"participantPhone": None, "participantLid": "11110001@lid", "senderName": "Ana"}, Author("11110001@lid", "Ana")),
    ({"participantPhone": "", "participantLid": "11110001@lid"}, Author("11110001@lid", None)),
    ({"participantPhone": None, "participantLid": None, "senderName": "  Ana  "}, Author(None, "Ana")),
    ({"participantPhone": None, "participantLid": None, "senderName": ""}, None),
    ({}, None),
])
def test_zapi_group_author_is_the_participant_and_sender_name(fields, expected):
    assert one("zapi", zapi_group(**fields)).author == expected


def test_zapi_group_is_known_by_is_group_or_the_group_suffix():
    body = zapi_group(participantPhone="5511911110001", senderName="Ana") | {"isGroup": None}
    assert one("zapi", body).author == Author("5511911110001", "Ana")  # "…-group"


def test_zapi_private_chat_has_no_author_even_with_a_sender_name():
    message = one("zapi", fixture_bytes("zapi", "text.json"))  # senderName "name", isGroup false
    assert (message.kind, message.author) == ("text", None)


def test_zapi_group_media_keeps_its_kind_and_author():
    body = load_fixture("zapi", "image.json") | {"isGroup": True, "phone": "120363019502650977-group",
                                                 "participantLid": "22220002@lid", "senderName": "Bruno"}
    message = one("zapi", body)
    assert (message.kind, message.author) == ("image", Author("22220002@lid", "Bruno"))


# --- Evolution ----------------------------------------------------------------------------------------

def evolution(participant=None, push_name=None, remote="120363025246125486@g.us") -> dict:
    body = load_fixture("evolution", "messages_upsert_group_participant.json")
    body["data"]["key"]["remoteJid"] = remote
    body["data"]["key"]["participant"] = participant
    body["data"]["pushName"] = push_name
    return body


@pytest.mark.parametrize(("participant", "push_name", "expected"), [
    ("5511900000002@s.whatsapp.net", "João", Author("5511900000002", "João")),  # a phone, as a private chat's
    ("99999999999999@lid", "João", Author("99999999999999@lid", "João")),  # a LID keeps its JID
    (None, "João", Author(None, "João")),
    ("5511900000002@s.whatsapp.net", None, Author("5511900000002", None)),
    (None, None, None),
])
def test_evolution_group_author_is_key_participant_and_push_name(participant, push_name, expected):
    assert one("evolution", evolution(participant, push_name)).author == expected


def test_evolution_private_chat_has_no_author():
    message = one("evolution", fixture_bytes("evolution", "messages_upsert_conversation.json"))
    assert message.author is None
    assert one("evolution", evolution(None, "João", remote="5511900000001@s.whatsapp.net")).author is None


# --- Telegram ---------------------------------------------------------------------------------------

def telegram_group(chat_type: str = "supergroup", **sender) -> dict:
    update = load_fixture("telegram", "supergroup_command_reply.json")
    update["message"]["chat"]["type"] = chat_type
    update["message"]["from"] = {"id": 5964236329, "is_bot": False, **sender}
    return update


@pytest.mark.parametrize(("sender", "name"), [
    ({"first_name": "Ada", "last_name": "Lovelace", "username": "ada"}, "Ada Lovelace"),
    ({"first_name": "Ada", "username": "ada"}, "Ada"),
    ({"username": "ada"}, "ada"),
    ({}, None),
])
def test_telegram_group_author_is_from_with_its_names(sender, name):
    assert one("telegram", telegram_group(**sender)).author == Author("5964236329", name)
    assert one("telegram", telegram_group("group", **sender)).author == Author("5964236329", name)


def test_telegram_anonymous_admin_and_channel_poster_are_their_sender_chat():
    admin = one("telegram", fixture_bytes("telegram", "supergroup_anonymous_admin.json"))
    assert admin.author == Author("-1001293752024", "Example supergroup")
    as_channel = load_fixture("telegram", "supergroup_anonymous_admin.json")
    as_channel["message"]["from"] |= {"id": 136817688, "username": "Channel_Bot"}
    as_channel["message"]["sender_chat"] = {"id": -1002149282975, "title": "TON Spin", "type": "channel"}
    assert one("telegram", as_channel).author == Author("-1002149282975", "TON Spin")


def test_telegram_private_chat_has_no_author():
    message = one("telegram", fixture_bytes("telegram", "voice.json"))
    assert (message.kind, message.author) == ("audio", None)


# --- providers without groups -------------------------------------------------------------------------

def test_whatsapp_cloud_twilio_and_generic_messages_have_no_author():
    assert one("whatsapp_cloud", fixture_bytes("whatsapp_cloud", "text.json")).author is None
    twilio = get_provider("twilio").normalize(provider_request(
        form_body(load_fixture("twilio", "whatsapp_inbound_text_profile_name.json"))))
    assert [m.author for m in twilio] == [None]  # ProfileName is a private chat's sender
    assert one("generic", {"phone_number": "1", "text": "hi"}).author is None


# --- what an author may hold ----------------------------------------------------------------------------

def test_an_author_keeps_what_it_can_and_never_refuses_the_message():
    assert author(5964236329, "Ana") == Author("5964236329", "Ana")  # a numeric id, as a string
    assert author(True, "Ana") == Author(None, "Ana")  # not an id
    assert author("x" * (MAX_AUTHOR_ID_CHARS + 1), "Ana") == Author(None, "Ana")  # no id is that long
    assert author("1", "é" * (MAX_AUTHOR_NAME_CHARS + 5)) == Author("1", "é" * MAX_AUTHOR_NAME_CHARS)  # cut
    assert author("1", "Ana\ud800") == Author("1", None)  # a lone surrogate: no UTF-8 store takes it
    assert author(None, {"name": "Ana"}) is None and author("  ", " ") is None


def test_a_bad_author_name_leaves_the_message_accepted():
    body = copy.deepcopy(zapi_group(participantPhone="5511911110001")) | {"senderName": "x" * 10_000}
    message = one("zapi", body)
    assert message.text == "oi" and message.author == Author("5511911110001", "x" * MAX_AUTHOR_NAME_CHARS)
