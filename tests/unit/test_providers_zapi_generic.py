"""Z-API fixtures and the generic JSON format; the shared-secret token both use."""

from __future__ import annotations

import pytest
from conftest import fixture_bytes, load_fixture
from helpers import provider_request

from gateway.errors import BadRequest, Forbidden, Unauthorized, UnprocessablePayload
from gateway.models import Ignored, InboundMessage
from gateway.providers import get_provider

ZAPI = get_provider("zapi")
GENERIC = get_provider("generic")
ZAPI_ID = "A20DA9C0183A2D35A260F53F5D2B9244"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("text.json", InboundMessage("5544999999999", "test", ZAPI_ID, 1632228638, "text")),
        ("image.json", InboundMessage("5544999999999", "[image] https://", ZAPI_ID, 1632228828, "image")),
        ("audio_ptt.json", InboundMessage("5544999999999", "[audio] https://", ZAPI_ID, 1632228849, "audio")),
        ("group_event.json",
         InboundMessage("120363019502650977-group", "[event] Event name", ZAPI_ID, 1632228638, "event")),
    ],
)
def test_zapi_messages_are_normalised(name, expected):
    assert ZAPI.normalize(provider_request(fixture_bytes("zapi", name))) == [expected]


@pytest.mark.parametrize("name", ["delivery_callback.json", "from_me_broadcast_text.json",
                                  "group_notification_invite_link_admins.json", "status_read.json",
                                  "status_received.json", "status_sent.json"])
def test_zapi_callbacks_echoes_and_notifications_are_ignored(name):
    assert isinstance(ZAPI.normalize(provider_request(fixture_bytes("zapi", name))), Ignored)


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
