"""Twilio: every fixture normalised; X-Twilio-Signature against twilio-python's published vectors."""

from __future__ import annotations

import pytest
from conftest import load_fixture
from helpers import form_body, provider_request

from gateway.errors import Forbidden, Unauthorized, UnprocessablePayload
from gateway.models import Ignored, InboundMessage
from gateway.providers import get_provider
from gateway.providers.twilio import compute_signature, signature_valid, url_variants

PROVIDER = get_provider("twilio")
VECTORS = load_fixture("twilio", "signature_vectors.json")
TOKEN = VECTORS["auth_token"]
BY_NAME = {v["name"]: v for v in VECTORS["vectors"]}


def params_of(vector) -> list[tuple[str, str]]:
    if "params_list" in vector:
        return [tuple(pair) for pair in vector["params_list"]]
    return list(vector["params"].items())


def normalize(fields: dict):
    return PROVIDER.normalize(provider_request(form_body(fields),
                                               headers={"Content-Type": "application/x-www-form-urlencoded"}))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sms_inbound_text.json",
         InboundMessage("+541138050810", "Hello", "SMc56324aa4a31735561b7205472192d68", None, "text")),
        # media with a body keeps the body; the media type ("json" in this edited fixture) names the kind
        ("sms_inbound_media.json",
         InboundMessage("+571138050810", "Hello", "SMa56324aa4a31735561b7205472192d68", None, "document")),
        # the WhatsApp channel prefix stays: the reply's To needs it
        ("whatsapp_inbound_text_ctwa_referral.json",
         InboundMessage("whatsapp:+491741763110", "Hallo! Kann ich hierzu mehr Informationen erhalten?", "SMxx", None,
                        "text")),
        ("whatsapp_inbound_text_profile_name.json",
         InboundMessage("whatsapp:+5541988887777", "Test message from Brazil", "SMxx", None, "text")),
        ("inbound_location.json",
         InboundMessage("+12345", "[location] 12.160894393921,75.265205383301", "SMxx", None, "location")),
    ],
)
def test_messages_are_normalised(name, expected):
    assert normalize(load_fixture("twilio", name)) == [expected]


@pytest.mark.parametrize("name", ["status_delivered.json", "status_failed_30008.json"])
def test_status_callbacks_are_ignored(name):
    assert isinstance(normalize(load_fixture("twilio", name)), Ignored)


def test_media_without_body_is_a_placeholder_with_every_url():
    fields = {**load_fixture("twilio", "sms_inbound_media.json"), "Body": "", "NumMedia": "2",
              "MediaContentType0": "image/jpeg", "MediaUrl0": "https://api.twilio.com/m/ME1",
              "MediaContentType1": "image/png", "MediaUrl1": "https://api.twilio.com/m/ME2"}
    [message] = normalize(fields)
    assert (message.text, message.kind) == ("[image] https://api.twilio.com/m/ME1 https://api.twilio.com/m/ME2", "image")


def test_a_message_without_body_or_media_is_refused():
    with pytest.raises(UnprocessablePayload):
        normalize({**load_fixture("twilio", "sms_inbound_text.json"), "Body": ""})


# --- the published signature vectors --------------------------------------------------------------

@pytest.mark.parametrize("name", ["form_params", "repeated_params", "http_with_port", "json_body_with_bodySHA256"])
def test_compute_signature_matches_the_published_vectors(name):
    vector = BY_NAME[name]
    url = vector.get("signed_url", vector["url"])
    assert compute_signature(TOKEN, url, params_of(vector)) == vector["expected_signature"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_every_published_vector_validates(vector):
    body = vector.get("body", "").encode()
    assert signature_valid(TOKEN, vector["url"], params_of(vector), vector["expected_signature"], body)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_every_published_vector_fails_with_another_token_or_a_changed_url(vector):
    body = vector.get("body", "").encode()
    params = params_of(vector)
    assert not signature_valid("54321", vector["url"], params, vector["expected_signature"], body)
    changed_url = vector["url"].replace("foo=1", "foo=2")
    assert not signature_valid(TOKEN, changed_url, params, vector["expected_signature"], body)


def test_a_changed_parameter_or_body_breaks_the_signature():
    vector = BY_NAME["form_params"]
    params = {**vector["params"], "Digits": "1235"}
    assert not signature_valid(TOKEN, vector["url"], params.items(), vector["expected_signature"])
    assert not signature_valid(TOKEN, vector["url"], list(vector["params"].items())[:-1], vector["expected_signature"])
    json_vector = BY_NAME["json_body_with_bodySHA256"]
    assert not signature_valid(TOKEN, json_vector["url"], [], json_vector["expected_signature"],
                               json_vector["body"].replace("true", "false").encode())


def test_url_variants_add_or_remove_the_port():
    assert url_variants("https://a.example/x?y=1") == ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
    assert url_variants("http://a.example:8080/x") == ["http://a.example:8080/x", "http://a.example/x"]


# --- through the provider, with a form-encoded body ----------------------------------------------

def signed_request(vector, signature=None, headers=None):
    body = form_body(params_of(vector))
    sig = vector["expected_signature"] if signature is None else signature
    all_headers = {"Content-Type": "application/x-www-form-urlencoded", **({"X-Twilio-Signature": sig} if sig else {}),
                   **(headers or {})}
    return provider_request(body, headers=all_headers, url=vector["url"])


@pytest.mark.parametrize("name", ["form_params", "https_with_port_validates_against_portless_signature",
                                  "https_default_port_added", "repeated_params"])
def test_provider_accepts_the_published_form_vectors(name):
    PROVIDER.authenticate(signed_request(BY_NAME[name]), {"auth_token": TOKEN})


def test_provider_accepts_a_json_body_signed_through_bodySHA256():
    vector = BY_NAME["json_body_with_bodySHA256"]
    request = provider_request(vector["body"], url=vector["url"],
                               headers={"Content-Type": "application/json",
                                        "X-Twilio-Signature": vector["expected_signature"]})
    PROVIDER.authenticate(request, {"auth_token": TOKEN})


def test_webhook_url_secret_overrides_the_url_api_gateway_saw():
    vector = BY_NAME["form_params"]
    request = provider_request(form_body(params_of(vector)), url="https://internal.example/webhook?appId=x",
                               headers={"X-Twilio-Signature": vector["expected_signature"]})
    with pytest.raises(Forbidden):
        PROVIDER.authenticate(request, {"auth_token": TOKEN})
    PROVIDER.authenticate(request, {"auth_token": TOKEN, "webhook_url": vector["url"]})


@pytest.mark.parametrize(
    ("signature", "secrets", "error", "code"),
    [
        ("", {"auth_token": TOKEN}, Unauthorized, "missing_signature"),
        ("RSOYDt4T1cUTdK1PDd93/VVr8B8=", {}, Unauthorized, "not_configured"),
        ("RSOYDt4T1cUTdK1PDd93/VVr8B9=", {"auth_token": TOKEN}, Forbidden, "invalid_signature"),
        ("RSOYDt4T1cUTdK1PDd93/VVr8B8=", {"auth_token": "12346"}, Forbidden, "invalid_signature"),
    ],
)
def test_provider_refuses_missing_or_wrong_signatures(signature, secrets, error, code):
    with pytest.raises(error) as caught:
        PROVIDER.authenticate(signed_request(BY_NAME["form_params"], signature=signature), secrets)
    assert caught.value.code == code
