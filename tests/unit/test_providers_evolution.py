"""Evolution API: every fixture normalised; the shared-secret token."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import fixture_bytes, load_fixture
from helpers import provider_request

from gateway.errors import Forbidden, Unauthorized, UnprocessablePayload
from gateway.models import Author, Ignored, InboundMessage
from gateway.providers import get_provider

PROVIDER = get_provider("evolution")


def normalize(body):
    return PROVIDER.normalize(provider_request(body))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("messages_upsert_conversation.json",
         InboundMessage("5511900000001", "Olá, tudo bem?", "A1B2C3D4E5F60718293A4B5C6D7E8F90", 1761057639, "text")),
        ("messages_upsert_extended_text_v1.json",
         InboundMessage("5511900000001", "Veja https://example.com", "D4E5F60718293A4B5C6D7E8F90A1B2C3", 1710674006,
                        "text")),
        # a group's conversation is the group JID, which is also where sendText answers
        ("messages_upsert_group_participant.json",
         InboundMessage("120363025246125486@g.us", "Bom dia, grupo!", "B2C3D4E5F60718293A4B5C6D7E8F90A1",
                        1761057700, "text", Author("5511900000002", "João"))),
    ],
)
def test_messages_are_normalised(name, expected):
    assert normalize(fixture_bytes("evolution", name)) == [expected]


@pytest.mark.parametrize("name", ["messages_upsert_from_me_echo.json", "send_message_api_echo.json",
                                  "messages_update_read.json"])
def test_echoes_and_status_updates_are_ignored(name):
    assert isinstance(normalize(fixture_bytes("evolution", name)), Ignored)


def with_content(content: dict) -> dict:
    body = load_fixture("evolution", "messages_upsert_conversation.json")
    body["data"]["message"] = content
    return body


def test_media_keeps_its_caption_or_becomes_a_placeholder():
    [captioned] = normalize(with_content({"imageMessage": {"caption": "look", "mimetype": "image/jpeg"}}))
    assert (captioned.text, captioned.kind) == ("look", "image")
    [bare] = normalize(with_content({"audioMessage": {"url": "https://mmg.whatsapp.net/v/x.enc", "ptt": True}}))
    assert (bare.text, bare.kind) == ("[audio] https://mmg.whatsapp.net/v/x.enc", "audio")
    [no_url] = normalize(with_content({"stickerMessage": {}}))
    assert no_url.text == "[sticker] A1B2C3D4E5F60718293A4B5C6D7E8F90"


def test_reactions_and_status_broadcasts_are_ignored_and_empty_messages_refused():
    assert isinstance(normalize(with_content({"reactionMessage": {"text": "👍"}})), Ignored)
    body = load_fixture("evolution", "messages_upsert_conversation.json")
    body["data"]["key"]["remoteJid"] = "status@broadcast"
    assert isinstance(normalize(body), Ignored)
    with pytest.raises(UnprocessablePayload):
        normalize(with_content({}))


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        # wrappers are opened to their content
        ("messages_upsert_ephemeral_text.json", "Mensagem temporária", "text"),
        ("messages_upsert_view_once_v2_image.json", "só uma vez", "image"),
        ("messages_upsert_document_with_caption.json", "segue o boleto", "document"),
        # a list row or button the user picked: its title
        ("messages_upsert_list_response.json", "Plano anual", "text"),
        ("messages_upsert_buttons_response.json", "Confirmar pedido", "text"),
        # a group's first message after a key rotation also carries senderKeyDistributionMessage
        ("messages_upsert_group_sender_key_distribution.json", "Primeira mensagem no grupo", "text"),
    ],
)
def test_wrapped_and_reply_messages_are_read(name, text, kind):
    [message] = normalize(fixture_bytes("evolution", name))
    assert (message.text, message.kind) == (text, kind)


WRAPPERS = ["ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension",
            "documentWithCaptionMessage", "botInvokeMessage", "groupMentionedMessage", "someFutureWrapperMessage"]


@pytest.mark.parametrize("wrappers", [[w] for w in WRAPPERS] + [WRAPPERS[:3], WRAPPERS[::-1]],
                         ids=lambda w: "+".join(w))
def test_any_wrapper_is_opened_however_deep(wrappers):
    content = {"conversation": "deep inside", "messageContextInfo": {}}
    for wrapper in reversed(wrappers):
        content = {wrapper: {"message": content}, "messageContextInfo": {}}
    [message] = normalize(with_content(content))
    assert message.text == "deep inside"


def test_wrapping_is_bounded():
    content = {"conversation": "too deep"}
    for _ in range(50):
        content = {"ephemeralMessage": {"message": content}}
    [message] = normalize(with_content(content))
    assert message.kind == "unknown" and message.text.startswith("[ephemeral]")


@pytest.mark.parametrize(
    "content",
    [
        {"editedMessage": {"message": {"protocolMessage": {"type": "MESSAGE_EDIT",
                                                           "editedMessage": {"conversation": "fixed"}}}}},
        {"ephemeralMessage": {"message": {"editedMessage": {"message": {"conversation": "fixed"}}}}},
        {"ephemeralMessage": {"message": {"reactionMessage": {"text": "👍"}}}},
        {"viewOnceMessageV2": {"message": {"protocolMessage": {"type": "REVOKE"}}}},
        {"senderKeyDistributionMessage": {"groupId": "x"}, "messageContextInfo": {}},
    ],
    ids=["edit", "wrapped-edit", "wrapped-reaction", "wrapped-revoke", "key-distribution-only"],
)
def test_edits_reactions_and_protocol_messages_are_ignored_inside_wrappers_too(content):
    assert isinstance(normalize(with_content(content)), Ignored)


def test_the_edited_message_fixture_is_ignored():
    assert isinstance(normalize(fixture_bytes("evolution", "messages_upsert_edited_message.json")), Ignored)


@pytest.mark.parametrize(
    ("content", "text", "kind"),
    [
        ({"templateButtonReplyMessage": {"selectedId": "t1", "selectedDisplayText": "Track my order"}},
         "Track my order", "text"),
        ({"interactiveResponseMessage": {"body": {"text": "Sim", "format": "DEFAULT"},
                                         "nativeFlowResponseMessage": {"name": "quick_reply"}}}, "Sim", "text"),
        ({"listResponseMessage": {"listType": "SINGLE_SELECT", "singleSelectReply": {"selectedRowId": "r7"}}},
         "[listResponse] r7", "listResponse"),
        ({"buttonsResponseMessage": {"selectedButtonId": "b2"}}, "[buttonsResponse] b2", "buttonsResponse"),
        ({"locationMessage": {"degreesLatitude": -23.55, "degreesLongitude": -46.63, "name": "Sé"}},
         "[location] -23.55,-46.63 Sé", "location"),
        ({"contactsArrayMessage": {"contacts": [{"displayName": "Ana"}, {"displayName": "Bia"}]}},
         "[contacts] Ana, Bia", "contacts"),
        ({"pollCreationMessageV3": {"name": "Pizza?", "options": [{"optionName": "yes"}]}}, "[poll] Pizza?", "poll"),
        ({"orderMessage": {"orderTitle": "x", "itemCount": 2}}, "[order] A1B2C3D4E5F60718293A4B5C6D7E8F90", "unknown"),
        ({"eventMessage": {"name": "Launch party"}}, "[event] Launch party", "unknown"),
    ],
)
def test_replies_and_other_kinds_give_their_title_or_a_placeholder(content, text, kind):
    [message] = normalize(with_content(content))
    assert (message.text, message.kind) == (text, kind)


def request(headers=None, query=None):
    return provider_request(fixture_bytes("evolution", "messages_upsert_conversation.json"),
                            headers=headers, query=query)


def test_the_token_is_accepted_in_the_header_or_the_query():
    secrets = {"webhook_token": "evo-token", "apikey": "k"}
    PROVIDER.authenticate(request(headers={"X-Webhook-Token": "evo-token"}), secrets)
    PROVIDER.authenticate(request(query={"token": "evo-token"}), secrets)


def test_an_app_without_a_webhook_token_is_open():
    PROVIDER.authenticate(request(), {"apikey": "k"})


@pytest.mark.parametrize(
    ("headers", "query", "error"),
    [
        (None, None, Unauthorized),
        ({"X-Webhook-Token": "evo-tokeN"}, None, Forbidden),
        (None, {"token": "evo"}, Forbidden),
        ({"apikey": "evo-token"}, None, Unauthorized),
    ],
)
def test_a_missing_or_wrong_token_is_refused(headers, query, error):
    with pytest.raises(error):
        PROVIDER.authenticate(request(headers, query), {"webhook_token": "evo-token"})


KNOWN = {"reactionMessage", "protocolMessage", "editedMessage", "pollUpdateMessage", "keepInChatMessage",
         "pinInChatMessage", "encReactionMessage", "senderKeyDistributionMessage", "extendedTextMessage",
         "listResponseMessage", "buttonsResponseMessage", "templateButtonReplyMessage", "interactiveResponseMessage"}


@settings(max_examples=200, deadline=None)
@given(name=st.from_regex(r"[a-z][A-Za-z0-9]{0,20}Message(V[0-9])?", fullmatch=True).filter(lambda n: n not in KNOWN),
       content=st.dictionaries(st.sampled_from(["title", "name", "url", "id", "items"]),
                               st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=3),
       wrappers=st.lists(st.sampled_from(WRAPPERS), max_size=3))
def test_no_content_type_is_ever_refused_wrapped_or_not(name, content, wrappers):
    message = {name: content, "messageContextInfo": {}}
    for wrapper in wrappers:
        message = {wrapper: {"message": message}}
    [stored] = normalize(with_content(message))
    assert stored.text.startswith("[") and stored.sender == "5511900000001"
