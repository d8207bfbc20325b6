"""WhatsApp Cloud API: every fixture normalised; X-Hub-Signature-256 and the GET handshake."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json

import pytest
from conftest import fixture_bytes, load_fixture
from helpers import provider_request

from gateway.errors import BadRequest, Forbidden, Unauthorized
from gateway.models import Ignored, InboundMessage
from gateway.providers import get_provider

PROVIDER = get_provider("whatsapp_cloud")
VECTOR = load_fixture("whatsapp_cloud", "signature_vector.json")
SECRETS = {"app_secret": VECTOR["app_secret"], "verify_token": "verify-me"}


def normalize(body):
    return PROVIDER.normalize(provider_request(body))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("text.json", InboundMessage("972987654321", "Body Text", "wamid.xyzxyz", 1697043223, "text")),
        ("video_caption.json", InboundMessage("972987654321", "caption", "wamid.xyzxyz", 1697044362, "video")),
        ("image.json", InboundMessage("972987654321", "[image] 65463453", "wamid.xyzxyz", 1697043379, "image")),
        ("audio_voice.json",
         InboundMessage("972987654321", "[audio] 1234567890987654321", "wamid.xyzxyz", 1697043473, "audio")),
    ],
)
def test_messages_are_normalised(name, expected):
    assert normalize(fixture_bytes("whatsapp_cloud", name)) == [expected]


@pytest.mark.parametrize("name", ["status_sent.json", "status_delivered.json", "status_read.json",
                                  "status_failed.json", "smb_message_echo_text.json"])
def test_statuses_and_echoes_are_ignored(name):
    assert isinstance(normalize(fixture_bytes("whatsapp_cloud", name)), Ignored)


def test_a_batched_notification_becomes_every_message_in_order():
    text, image, video = (load_fixture("whatsapp_cloud", n) for n in ("text.json", "image.json", "video_caption.json"))
    batched = copy.deepcopy(text)
    change = batched["entry"][0]["changes"][0]
    second = copy.deepcopy(image["entry"][0]["changes"][0]["value"]["messages"][0])
    second.update({"id": "wamid.second", "from": "15550001111"})
    change["value"]["messages"].append(second)
    # a second change of the same entry carrying statuses only, and a second entry with a message
    batched["entry"][0]["changes"].append(load_fixture("whatsapp_cloud", "status_read.json")["entry"][0]["changes"][0])
    batched["entry"].append(copy.deepcopy(video["entry"][0]))
    batched["entry"][1]["changes"][0]["value"]["messages"][0]["id"] = "wamid.third"

    result = normalize(batched)

    assert [(m.sender, m.text, m.message_id, m.kind) for m in result] == [
        ("972987654321", "Body Text", "wamid.xyzxyz", "text"),
        ("15550001111", "[image] 65463453", "wamid.second", "image"),
        ("972987654321", "caption", "wamid.third", "video"),
    ]


def test_reactions_are_skipped_and_interactive_replies_keep_their_title():
    body = load_fixture("whatsapp_cloud", "text.json")
    messages = body["entry"][0]["changes"][0]["value"]["messages"]
    messages[0] = {"from": "1", "id": "wamid.r", "timestamp": "1", "type": "reaction",
                   "reaction": {"message_id": "wamid.x", "emoji": "👍"}}
    assert isinstance(normalize(body), Ignored)
    messages.append({"from": "1", "id": "wamid.b", "timestamp": "2", "type": "interactive",
                     "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes please"}}})
    messages.append({"from": "1", "id": "wamid.u", "timestamp": "3", "type": "unsupported", "errors": []})
    assert [(m.text, m.kind) for m in normalize(body)] == [("Yes please", "text"), ("[unsupported]", "unsupported")]


BSUID = "US.13491208655302741918"


def test_a_user_with_a_username_and_no_phone_number_is_keyed_by_the_bsuid():
    """No `from`: the message's `from_user_id` (business-scoped user id) is the sender; it was dropped
    as "status update or reaction" before."""
    assert normalize(fixture_bytes("whatsapp_cloud", "text_username_bsuid_only.json")) == [
        InboundMessage(BSUID, "Does it come in another color?",
                       "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", 1739321024, "text")]


def test_a_message_with_no_sender_field_belongs_to_the_one_contact_of_its_notification():
    """Meta's REQUEST_CONTACT_INFO example: the message names no sender; contacts[0].user_id does."""
    [message] = normalize(fixture_bytes("whatsapp_cloud", "contacts_request_contact_info_bsuid.json"))
    assert (message.sender, message.kind) == (BSUID, "contacts")


def test_the_phone_number_wins_over_the_bsuid_when_meta_shares_both():
    body = load_fixture("whatsapp_cloud", "text_username_bsuid_only.json")
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = "16505551234"
    [from_contact] = normalize(body)
    value["messages"][0]["from"] = "16505551234"
    [from_message] = normalize(body)
    assert from_contact.sender == from_message.sender == "16505551234"


def test_statuses_carrying_bsuids_are_still_ignored():
    body = load_fixture("whatsapp_cloud", "status_read.json")
    for status in body["entry"][0]["changes"][0]["value"]["statuses"]:
        status.pop("recipient_id", None)
        status["recipient_user_id"] = BSUID
    assert isinstance(normalize(body), Ignored)
    reaction = load_fixture("whatsapp_cloud", "text_username_bsuid_only.json")
    reaction["entry"][0]["changes"][0]["value"]["messages"][0].update(
        type="reaction", reaction={"message_id": "wamid.x", "emoji": "👍"})
    assert isinstance(normalize(reaction), Ignored)


def test_published_signature_vector_is_accepted():
    raw = fixture_bytes("whatsapp_cloud", "text.json")
    assert len(raw) == VECTOR["payload_bytes"]
    assert hashlib.sha256(raw).hexdigest() == VECTOR["payload_sha256"]
    PROVIDER.authenticate(provider_request(raw, headers={VECTOR["header"]: VECTOR["signature"]}), SECRETS)


@pytest.mark.parametrize(
    ("body_change", "signature", "secrets", "error", "code"),
    [
        (None, None, SECRETS, Unauthorized, "missing_signature"),
        (None, VECTOR["signature"], {"verify_token": "x"}, Unauthorized, "not_configured"),
        (None, VECTOR["signature"], {**SECRETS, "app_secret": "another-secret"}, Forbidden, "invalid_signature"),
        (None, "sha256=" + "0" * 64, SECRETS, Forbidden, "invalid_signature"),
        (None, VECTOR["signature"].removeprefix("sha256="), SECRETS, Forbidden, "invalid_signature"),
        ("Body Text", VECTOR["signature"], SECRETS, Forbidden, "invalid_signature"),  # one byte changed
        ("reserialise", VECTOR["signature"], SECRETS, Forbidden, "invalid_signature"),  # same JSON, other bytes
    ],
)
def test_bad_or_missing_signatures_are_refused(body_change, signature, secrets, error, code):
    raw = fixture_bytes("whatsapp_cloud", "text.json")
    if body_change == "Body Text":
        raw = raw.replace(b"Body Text", b"Body Texu")
    elif body_change == "reserialise":
        raw = json.dumps(json.loads(raw)).encode()
    headers = {VECTOR["header"]: signature} if signature else {}
    with pytest.raises(error) as caught:
        PROVIDER.authenticate(provider_request(raw, headers=headers), secrets)
    assert caught.value.code == code


def test_signature_is_computed_over_the_raw_bytes():
    raw = b'{"object":"whatsapp_business_account","entry":[]}\n'
    good = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    PROVIDER.authenticate(provider_request(raw, headers={"X-Hub-Signature-256": good}), {"app_secret": "s3cret"})
    PROVIDER.authenticate(provider_request(raw, headers={"X-Hub-Signature-256": good.upper().replace("SHA256", "sha256")}),
                          {"app_secret": "s3cret"})


def handshake(query, secrets=SECRETS):
    return PROVIDER.handshake(provider_request(b"", method="GET", query=query), secrets)


def test_verification_handshake_echoes_the_challenge():
    assert handshake({"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}) \
        == "1158201444"


@pytest.mark.parametrize(
    ("query", "secrets", "error", "code"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, SECRETS, Forbidden,
         "invalid_verify_token"),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, SECRETS, Unauthorized, "missing_verify_token"),
        ({"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"}, {"app_secret": "x"},
         Unauthorized, "not_configured"),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"}, SECRETS, BadRequest,
         "invalid_verification"),
        ({"hub.mode": "subscribe", "hub.verify_token": "verify-me"}, SECRETS, BadRequest, "invalid_verification"),
    ],
)
def test_verification_handshake_refusals(query, secrets, error, code):
    with pytest.raises(error) as caught:
        handshake(query, secrets)
    assert caught.value.code == code
