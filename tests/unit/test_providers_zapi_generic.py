"""Z-API fixtures and the generic JSON format; the shared-secret token both use."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import fixture_bytes, load_fixture
from helpers import provider_request

from gateway.errors import BadRequest, Forbidden, Unauthorized, UnprocessablePayload
from gateway.models import Author, Ignored, InboundMessage
from gateway.providers import get_provider

ZAPI = get_provider("zapi")
GENERIC = get_provider("generic")
ZAPI_ID = "A20DA9C0183A2D35A260F53F5D2B9244"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("text.json", InboundMessage("5544999999999", "test", ZAPI_ID, 1632228638, "text")),
        ("group_event.json",
         InboundMessage("120363019502650977-group", "[event] Event name", ZAPI_ID, 1632228638, "event",
                        Author(None, "name"))),  # participantPhone/Lid null: the senderName only
        # callbacks with no `text`: each becomes "[type] detail" (they were 422, and Z-API does not retry)
        ("location.json", InboundMessage("5544999999999", "[location] -100.0,-100.0", ZAPI_ID, 1632228970, "location")),
        ("contact.json", InboundMessage("5544999999999", "[contact] Cesar Baleco", ZAPI_ID, 1632228925, "contact")),
        ("product.json",
         InboundMessage("5544999999999", "[product] name 99999999999999999999", ZAPI_ID, 1632233527, "product")),
        ("order_cart.json", InboundMessage("5544999999999", "[order] name 422508169684569", ZAPI_ID, 1632233527, "order")),
        ("poll_vote.json", InboundMessage("5544999999999", "[pollVote] Z-API", ZAPI_ID, 1632228638, "pollVote")),
        ("payment_request.json",
         InboundMessage("5544999999999", "[requestPayment] 1 BRL", ZAPI_ID, 1632229683, "requestPayment")),
        ("payment_sent.json", InboundMessage("5544999999999", "[sendPayment] 1 BRL", ZAPI_ID, 1632230512, "sendPayment")),
        ("review_and_pay.json",
         InboundMessage("5544999999999", "[reviewAndPay] 4N9AVI38VOB 605 BRL", ZAPI_ID, 1632228925, "reviewAndPay")),
        # a button or list row the user picked: its label (a list row's title, not the list's text)
        ("buttons_response.json", InboundMessage("5544999999999", "Ótimo", ZAPI_ID, 1634645380, "text")),
        ("list_response.json", InboundMessage("5544999999999", "Z-API", ZAPI_ID, 1634645683, "text")),
    ],
)
def test_zapi_messages_are_normalised(name, expected):
    assert ZAPI.normalize(provider_request(fixture_bytes("zapi", name))) == [expected]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("image.json", InboundMessage("5544999999999", "[image] https://", ZAPI_ID, 1632228828, "image")),
        ("audio_ptt.json", InboundMessage("5544999999999", "[audio] https://", ZAPI_ID, 1632228849, "audio")),
    ],
)
def test_zapi_doc_examples_with_a_repeated_key_are_refused_and_read_without_it(name, expected):
    """The published examples repeat `instanceId` (hand-edited docs: the same blocks have trailing
    commas no serializer writes); such a body is refused, the same payload without the repeat is read."""
    with pytest.raises(BadRequest) as caught:
        ZAPI.normalize(provider_request(fixture_bytes("zapi", name)))
    assert caught.value.code == "duplicate_key"
    assert ZAPI.normalize(provider_request(load_fixture("zapi", name))) == [expected]


@pytest.mark.parametrize("name", ["delivery_callback.json", "from_me_broadcast_text.json",
                                  "group_notification_invite_link_admins.json", "status_read.json",
                                  "status_received.json", "status_sent.json", "reaction.json", "pin_message.json"])
def test_zapi_callbacks_echoes_and_notifications_are_ignored(name):
    assert isinstance(ZAPI.normalize(provider_request(fixture_bytes("zapi", name))), Ignored)


def test_zapi_pin_by_the_user_is_ignored_like_a_reaction():
    body = load_fixture("zapi", "pin_message.json")
    body["fromMe"] = False
    assert ZAPI.normalize(provider_request(body)) == Ignored("pinned message")


def test_zapi_an_edited_message_is_ignored_like_other_providers_edits():
    body = {**load_fixture("zapi", "text.json"), "isEdit": True}
    assert ZAPI.normalize(provider_request(body)) == Ignored("edited message")


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ({"carouselMessage": {"title": "Summer sale", "cards": []}}, "[carouselMessage] Summer sale"),
        ({"newsletterAdminInvite": {"newsletterName": "x", "message": "Join us"}}, "[newsletterAdminInvite] Join us"),
        ({"statusMention": {"mentions": 3}}, "[statusMention]"),
    ],
)
def test_zapi_any_unknown_content_type_is_kept_as_a_placeholder(content, text):
    body = {k: v for k, v in load_fixture("zapi", "text.json").items() if k != "text"}
    [message] = ZAPI.normalize(provider_request({**body, **content}))
    assert (message.text, message.kind) == (text, "unknown")


def test_zapi_location_keeps_its_coordinates_and_name():
    body = load_fixture("zapi", "location.json")
    body["location"].update(latitude=-23.5505, longitude=-46.6333, name="Praça da Sé")
    [message] = ZAPI.normalize(provider_request(body))
    assert message.text == "[location] -23.5505,-46.6333 Praça da Sé"


def test_zapi_a_payload_with_no_content_at_all_is_still_refused():
    body = {k: v for k, v in load_fixture("zapi", "text.json").items() if k != "text"}
    with pytest.raises(UnprocessablePayload) as caught:
        ZAPI.normalize(provider_request(body))
    assert caught.value.code == "missing_text"


def test_zapi_image_caption_is_kept():
    body = load_fixture("zapi", "image.json")
    body["image"]["caption"] = "my receipt"
    [message] = ZAPI.normalize(provider_request(body))
    assert (message.text, message.kind) == ("my receipt", "image")


@pytest.mark.parametrize("provider", [ZAPI, GENERIC], ids=["zapi", "generic"])
def test_shared_secret_in_header_or_query(provider):
    secrets = {"webhook_token": "s3cret-token"}
    provider.authenticate(provider_request(b"{}", headers={"X-Webhook-Token": "s3cret-token"}), secrets)
    provider.authenticate(provider_request(b"{}", query={"token": "s3cret-token"}), secrets)
    provider.authenticate(provider_request(b"{}"), {})  # no token configured: open (README)
    with pytest.raises(Unauthorized):
        provider.authenticate(provider_request(b"{}"), secrets)
    with pytest.raises(Forbidden):
        provider.authenticate(provider_request(b"{}", query={"token": "s3cret-tokeN"}), secrets)
    with pytest.raises(Forbidden):
        provider.authenticate(provider_request(b"{}", headers={"X-Webhook-Token": "x"},
                                               query={"token": "s3cret-token"}), secrets)


def test_generic_format():
    body = {"phone_number": "5511999990000", "text": "hello", "message_id": "m-1", "timestamp": 1700000000}
    assert GENERIC.normalize(provider_request(body)) == [InboundMessage("5511999990000", "hello", "m-1", 1700000000)]


def test_generic_optional_fields():
    [first] = GENERIC.normalize(provider_request({"phone_number": "5511", "text": "hi"}))
    [second] = GENERIC.normalize(provider_request({"phone_number": "5511", "text": "hi"}))
    assert first.timestamp is None
    assert first.message_id.startswith("generic-") and first.message_id != second.message_id


@pytest.mark.parametrize(
    ("body", "error", "code"),
    [
        ({"text": "hi"}, UnprocessablePayload, "missing_sender"),
        ({"phone_number": "1", "text": "  "}, UnprocessablePayload, "missing_text"),
        ({"phone_number": "1", "text": "hi", "message_id": ""}, UnprocessablePayload, "missing_message_id"),
        ({"phone_number": "1", "text": "hi", "timestamp": "yesterday"}, UnprocessablePayload, "invalid_timestamp"),
        ([1, 2], BadRequest, "not_an_object"),
    ],
)
def test_generic_refusals(body, error, code):
    with pytest.raises(error) as caught:
        GENERIC.normalize(provider_request(body if isinstance(body, dict) else str(body)))
    assert caught.value.code == code


ENVELOPE_KEYS = ({"text", "reaction", "pinMessage", "buttonsResponseMessage", "listResponseMessage"}
                 | set(load_fixture("zapi", "text.json")))


@settings(max_examples=200, deadline=None)
@given(name=st.from_regex(r"[a-z][A-Za-z0-9]{0,30}", fullmatch=True).filter(lambda n: n not in ENVELOPE_KEYS),
       content=st.dictionaries(st.sampled_from(["title", "name", "message", "id", "value", "items"]),
                               st.one_of(st.text(max_size=20), st.integers(), st.none(), st.lists(st.integers())),
                               min_size=1))
def test_zapi_no_content_type_is_ever_refused(name, content):
    body = {k: v for k, v in load_fixture("zapi", "text.json").items() if k != "text"}
    [message] = ZAPI.normalize(provider_request({**body, name: content}))
    assert message.text.startswith("[") and message.sender == "5544999999999"
