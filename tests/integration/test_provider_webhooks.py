"""post_message on moto with each provider: authenticated before anything is stored, then normalised."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json

import boto3
import pytest
from conftest import fixture_bytes, load_fixture
from helpers import API_DOMAIN, api_event, form_body, response_json, text_reader

from gateway import settings
from gateway.providers.twilio import compute_signature

WA_VECTOR = load_fixture("whatsapp_cloud", "signature_vector.json")
SECRETS = {
    "whatsapp_cloud": {"app_secret": WA_VECTOR["app_secret"], "verify_token": "meta-verify-token"},
    "telegram": {"secret_token": "tg-secret-token"},
    "twilio": {"auth_token": "twilio-auth-token"},
    "evolution": {"webhook_token": "evo-webhook-token"},
    "zapi": {"webhook_token": "zapi-webhook-token"},
    "generic": {"webhook_token": "generic-webhook-token"},
}
ALL_SECRET_VALUES = [v for secrets in SECRETS.values() for v in secrets.values()]


def use_provider(world, provider: str, secrets: dict | None = None, *, env: dict | None = None) -> None:
    """bot1 speaks `provider`; its secrets come from APP_SECRETS_JSON unless `env` says otherwise."""
    world.monkeypatch.setenv("PROVIDERS_MAP", json.dumps({"bot1": provider}))
    world.monkeypatch.setenv("APP_SECRETS_JSON", json.dumps({"bot1": SECRETS[provider] if secrets is None else secrets}))
    for key, value in (env or {}).items():
        world.monkeypatch.setenv(key, value)
    settings.reset()
    world.post_handler.service.cache_clear()


def wa_signature(raw: bytes) -> str:
    return "sha256=" + hmac.new(WA_VECTOR["app_secret"].encode(), raw, hashlib.sha256).hexdigest()


def raw_event(body: bytes | str, headers: dict | None = None, **kwargs) -> dict:
    text = body.decode() if isinstance(body, bytes) else body
    return api_event(text, raw=True, headers=headers, **kwargs)


def stored_texts(world) -> list[str]:
    items = world.items()
    text_of = text_reader(items)
    texts = []
    for item in items:
        texts += [text_of(e) for e in item.get("msgs", [])]
    return texts


def assert_refused(world, response, status: int, code: str) -> None:
    assert response["statusCode"] == status
    assert response_json(response)["error"] == code
    assert world.items() == []
    assert world.executions() == []


# --- WhatsApp Cloud -------------------------------------------------------------------------------

def test_whatsapp_cloud_signed_with_the_published_vector_is_stored(world):
    use_provider(world, "whatsapp_cloud")
    event = raw_event(fixture_bytes("whatsapp_cloud", "text.json"), {"X-Hub-Signature-256": WA_VECTOR["signature"]})
    response = world.post(event)
    assert response["statusCode"] == 200, response
    assert response_json(response) == {"status": "accepted", "stored": 1, "duplicates": 0}
    assert stored_texts(world) == ["Body Text"]
    assert [i["pk"] for i in world.items() if i["sk"] == "META"] == ["CONV#bot1#972987654321"]
    assert len(world.executions()) == 1


def test_whatsapp_cloud_signature_survives_base64_encoding_by_api_gateway(world):
    use_provider(world, "whatsapp_cloud")
    event = api_event(fixture_bytes("whatsapp_cloud", "text.json").decode(), raw=True, base64_body=True,
                      headers={"X-Hub-Signature-256": WA_VECTOR["signature"]})
    assert world.post(event)["statusCode"] == 200
    assert stored_texts(world) == ["Body Text"]


@pytest.mark.parametrize(
    ("headers", "secrets", "tamper", "status", "code"),
    [
        ({}, None, False, 401, "missing_signature"),
        ({"X-Hub-Signature-256": WA_VECTOR["signature"]}, {"verify_token": "v"}, False, 401, "not_configured"),
        ({"X-Hub-Signature-256": WA_VECTOR["signature"]}, {"app_secret": "other"}, False, 403, "invalid_signature"),
        ({"X-Hub-Signature-256": WA_VECTOR["signature"]}, None, True, 403, "invalid_signature"),
    ],
)
def test_whatsapp_cloud_bad_or_missing_signature_stores_nothing(world, headers, secrets, tamper, status, code):
    use_provider(world, "whatsapp_cloud", secrets)
    body = fixture_bytes("whatsapp_cloud", "text.json")
    if tamper:
        body = body.replace(b'"972987654321"', b'"972987654322"')
    assert_refused(world, world.post(raw_event(body, headers)), status, code)


def test_whatsapp_cloud_batched_notification_stores_every_message(world):
    use_provider(world, "whatsapp_cloud")
    body = load_fixture("whatsapp_cloud", "text.json")
    extra = copy.deepcopy(body["entry"][0])
    extra["changes"][0]["value"]["messages"][0].update(id="wamid.two", **{"from": "15550001111"})
    extra["changes"][0]["value"]["messages"][0]["text"]["body"] = "second sender"
    body["entry"].append(extra)
    raw = json.dumps(body).encode()
    signature = wa_signature(raw)
    response = world.post(raw_event(raw, {"X-Hub-Signature-256": signature}))
    assert response_json(response) == {"status": "accepted", "stored": 2, "duplicates": 0}
    assert sorted(stored_texts(world)) == ["Body Text", "second sender"]
    assert len(world.executions()) == 2  # two conversations, two waits


def test_whatsapp_cloud_status_is_answered_200_and_ignored(world):
    use_provider(world, "whatsapp_cloud")
    raw = fixture_bytes("whatsapp_cloud", "status_read.json")
    signature = wa_signature(raw)
    response = world.post(raw_event(raw, {"X-Hub-Signature-256": signature}))
    assert response["statusCode"] == 200 and response_json(response)["status"] == "ignored"
    assert world.items() == []


def verification(token: str | None, method: str = "GET") -> dict:
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    if token is not None:
        query["hub.verify_token"] = token
    return api_event("", raw=True, method=method, query=query)


def test_whatsapp_cloud_get_handshake_echoes_the_challenge(world):
    use_provider(world, "whatsapp_cloud")
    response = world.post(verification("meta-verify-token"))
    assert response == {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "1158201444"}


@pytest.mark.parametrize(("token", "status", "code"), [("wrong", 403, "invalid_verify_token"),
                                                       (None, 401, "missing_verify_token")])
def test_whatsapp_cloud_get_handshake_refusals(world, token, status, code):
    use_provider(world, "whatsapp_cloud")
    assert_refused(world, world.post(verification(token)), status, code)


@pytest.mark.parametrize("provider", ["zapi", "telegram", "twilio", "evolution", "generic"])
def test_get_is_405_for_every_other_provider(world, provider):
    use_provider(world, provider)
    assert_refused(world, world.post(verification("meta-verify-token")), 405, "method_not_allowed")


def test_other_methods_are_405(world):
    use_provider(world, "whatsapp_cloud")
    event = raw_event(fixture_bytes("whatsapp_cloud", "text.json"), {"X-Hub-Signature-256": WA_VECTOR["signature"]},
                      method="PUT")
    assert_refused(world, world.post(event), 405, "method_not_allowed")


# --- Telegram -------------------------------------------------------------------------------------

def test_telegram_with_the_secret_token_is_stored_under_the_chat(world):
    use_provider(world, "telegram")
    event = raw_event(fixture_bytes("telegram", "supergroup_command_reply.json"),
                      {"X-Telegram-Bot-Api-Secret-Token": "tg-secret-token"})
    assert response_json(world.post(event))["stored"] == 1
    assert [i["pk"] for i in world.items() if i["sk"] == "META"] == ["CONV#bot1#-1001293752024"]


@pytest.mark.parametrize(("headers", "secrets", "status", "code"), [
    ({}, None, 401, "missing_secret_token"),
    ({"X-Telegram-Bot-Api-Secret-Token": "tg-secret-tokeN"}, None, 403, "invalid_secret_token"),
    ({"X-Telegram-Bot-Api-Secret-Token": "tg-secret-token"}, {}, 401, "not_configured"),
])
def test_telegram_bad_or_missing_secret_token_stores_nothing(world, headers, secrets, status, code):
    use_provider(world, "telegram", secrets)
    assert_refused(world, world.post(raw_event(fixture_bytes("telegram", "private_text.json"), headers)), status, code)


# --- Twilio ---------------------------------------------------------------------------------------

TWILIO_URL = f"https://{API_DOMAIN}/webhook?appId=bot1"


def twilio_event(fields: dict, signature: str | None = "compute") -> dict:
    body = form_body(fields)
    if signature == "compute":
        signature = compute_signature("twilio-auth-token", TWILIO_URL, fields.items())
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    # API Gateway hands form bodies to Lambda base64-encoded
    return api_event(body, raw=True, base64_body=True, headers=headers)


def test_twilio_signed_form_is_stored_and_answered_with_empty_twiml(world):
    use_provider(world, "twilio")
    response = world.post(twilio_event(load_fixture("twilio", "whatsapp_inbound_text_profile_name.json")))
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/xml"
    assert response["body"].endswith("<Response></Response>")
    assert stored_texts(world) == ["Test message from Brazil"]
    assert [i["pk"] for i in world.items() if i["sk"] == "META"] == ["CONV#bot1#whatsapp:+5541988887777"]


def test_twilio_status_callback_is_acknowledged_and_ignored(world):
    use_provider(world, "twilio")
    response = world.post(twilio_event(load_fixture("twilio", "status_delivered.json")))
    assert response["statusCode"] == 200 and "<Response>" in response["body"]
    assert world.items() == []


@pytest.mark.parametrize(("signature", "secrets", "status", "code"), [
    (None, None, 401, "missing_signature"),
    ("RSOYDt4T1cUTdK1PDd93/VVr8B8=", None, 403, "invalid_signature"),
    ("compute", {"auth_token": "another-token"}, 403, "invalid_signature"),
    ("compute", {}, 401, "not_configured"),
])
def test_twilio_bad_or_missing_signature_stores_nothing(world, signature, secrets, status, code):
    use_provider(world, "twilio", secrets)
    event = twilio_event(load_fixture("twilio", "sms_inbound_text.json"), signature)
    assert_refused(world, world.post(event), status, code)


def test_twilio_signature_covers_the_query_string(world):
    use_provider(world, "twilio")
    event = twilio_event(load_fixture("twilio", "sms_inbound_text.json"))
    event["rawQueryString"] += "&extra=1"  # the URL Twilio called is not the URL it signed
    event["queryStringParameters"]["extra"] = "1"
    assert_refused(world, world.post(event), 403, "invalid_signature")


# --- Evolution, Z-API, generic: the shared secret ---------------------------------------------------

def test_evolution_token_in_the_query_is_accepted_and_a_wrong_one_refused(world):
    use_provider(world, "evolution")
    body = fixture_bytes("evolution", "messages_upsert_conversation.json")
    assert_refused(world, world.post(raw_event(body, query={"token": "nope"})), 403, "invalid_token")
    assert_refused(world, world.post(raw_event(body)), 401, "missing_token")
    response = world.post(raw_event(body, query={"token": "evo-webhook-token"}))
    assert response_json(response)["stored"] == 1
    assert stored_texts(world) == ["Olá, tudo bem?"]


def test_generic_token_in_the_header(world):
    use_provider(world, "generic")
    body = {"phone_number": "5511988887777", "text": "hello", "message_id": "g-1"}
    assert_refused(world, world.post(api_event(body)), 401, "missing_token")
    response = world.post(api_event(body, headers={"X-Webhook-Token": "generic-webhook-token"}))
    assert response_json(response)["stored"] == 1


def test_zapi_token_from_ssm_is_required_once_configured(world):
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/debouncer/bot1/secrets", Type="SecureString", Value=json.dumps(SECRETS["zapi"]))
    use_provider(world, "zapi", {}, env={"SECRETS_PARAMETERS_MAP": json.dumps({"bot1": "/debouncer/bot1/secrets"})})
    body = fixture_bytes("zapi", "text.json")
    assert_refused(world, world.post(raw_event(body)), 401, "missing_token")
    assert_refused(world, world.post(raw_event(body, {"X-Webhook-Token": "zapi-webhook-tokem"})), 403, "invalid_token")
    assert response_json(world.post(raw_event(body, {"X-Webhook-Token": "zapi-webhook-token"})))["stored"] == 1


def gateway_records(caplog) -> list[dict]:
    return [r.__dict__ for r in caplog.records if not r.name.startswith(("botocore", "urllib3", "moto"))]


def test_zapi_without_a_token_stays_open_and_says_so_once(world, caplog):
    use_provider(world, "zapi", {})
    for message_id in ("A1", "A2"):
        body = {**load_fixture("zapi", "text.json"), "messageId": message_id}
        assert world.post(api_event(body))["statusCode"] == 200
    warnings = [r for r in gateway_records(caplog) if r["msg"].startswith("webhooks accepted without authentication")]
    assert len(warnings) == 1 and warnings[0]["app_id"] == "bot1"


@pytest.mark.parametrize("provider", ["zapi", "evolution", "generic"])
def test_a_deployed_app_without_a_token_is_refused_unless_it_allows_unauthenticated(world, provider):
    """A deployment always sets UNAUTHENTICATED_APPS (apps.<id>.allow_unauthenticated): an app of a
    provider that does not sign, with no webhook_token, is refused unless it is listed there."""
    body = {"zapi": load_fixture("zapi", "text.json"),
            "evolution": load_fixture("evolution", "messages_upsert_conversation.json"),
            "generic": {"phone_number": "5511999990000", "text": "hi", "message_id": "G1"}}[provider]
    use_provider(world, provider, {}, env={"UNAUTHENTICATED_APPS": "[]"})
    assert_refused(world, world.post(api_event(body)), 401, "not_configured")

    use_provider(world, provider, {}, env={"UNAUTHENTICATED_APPS": '["bot2", "bot1"]'})
    assert world.post(api_event(body))["statusCode"] == 200
    assert len(stored_texts(world)) == 1


def test_a_webhook_token_authenticates_whatever_unauthenticated_apps_says(world):
    use_provider(world, "zapi", env={"UNAUTHENTICATED_APPS": "[]"})
    body = load_fixture("zapi", "text.json")
    assert_refused(world, world.post(api_event(body)), 401, "missing_token")
    assert world.post(api_event(body, headers={"X-Webhook-Token": "zapi-webhook-token"}))["statusCode"] == 200


def test_unreadable_secrets_are_503_and_nothing_is_stored(world):
    use_provider(world, "whatsapp_cloud", {}, env={"SECRETS_PARAMETERS_MAP": json.dumps({"bot1": "/absent"})})
    event = raw_event(fixture_bytes("whatsapp_cloud", "text.json"), {"X-Hub-Signature-256": WA_VECTOR["signature"]})
    assert_refused(world, world.post(event), 503, "secrets_unavailable")


def test_no_secret_ever_reaches_the_log(world, caplog):
    caplog.set_level("DEBUG")
    for provider in ("whatsapp_cloud", "telegram", "evolution"):
        use_provider(world, provider)
        world.post(raw_event(fixture_bytes("whatsapp_cloud", "text.json"),
                             {"X-Hub-Signature-256": "sha256=00", "X-Telegram-Bot-Api-Secret-Token": "guess"},
                             query={"token": "guess"}))
    use_provider(world, "whatsapp_cloud")
    assert world.post(verification("meta-verify-token"))["statusCode"] == 200
    use_provider(world, "evolution")
    world.post(raw_event(fixture_bytes("evolution", "messages_upsert_conversation.json"),
                         query={"token": "evo-webhook-token"}))
    records = gateway_records(caplog)
    assert [r["msg"] for r in records].count("webhook refused") == 3
    assert "message stored" in [r["msg"] for r in records]
    dumped = json.dumps(records, default=str)
    assert not [value for value in ALL_SECRET_VALUES if value in dumped]


# --- a body that says two things: refused, whoever signed it ----------------------------------------

def test_whatsapp_cloud_signed_body_with_a_repeated_key_is_refused_and_nothing_stored(world):
    """Signed, so authentic; but `body` appears twice and parsers disagree on which one counts."""
    use_provider(world, "whatsapp_cloud")
    raw = fixture_bytes("whatsapp_cloud", "text.json").replace(
        b'"body": "Body Text"', b'"body": "Body Text", "body": "Pay to account 666"')
    response = world.post(raw_event(raw, {"X-Hub-Signature-256": wa_signature(raw)}))
    assert_refused(world, response, 400, "duplicate_key")
    assert "body" in response_json(response)["message"]


def test_telegram_update_with_a_repeated_key_is_refused_and_nothing_stored(world):
    use_provider(world, "telegram")
    raw = fixture_bytes("telegram", "private_text.json").decode()
    raw = raw.replace('"text": "4"', '"text": "4", "text": "5"', 1)
    assert '"text": "5"' in raw
    response = world.post(raw_event(raw, {"X-Telegram-Bot-Api-Secret-Token": "tg-secret-token"}))
    assert_refused(world, response, 400, "duplicate_key")


def test_twilio_signed_form_with_a_repeated_parameter_is_refused_and_nothing_stored(world):
    use_provider(world, "twilio")
    pairs = list(load_fixture("twilio", "sms_inbound_text.json").items()) + [("Body", "Pay to account 666")]
    signature = compute_signature("twilio-auth-token", TWILIO_URL, pairs)  # Twilio signs every value
    event = api_event(form_body(pairs), raw=True, base64_body=True,
                      headers={"content-type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
    assert_refused(world, world.post(event), 400, "duplicate_parameter")


# --- messages that were refused or dropped ----------------------------------------------------------

def test_whatsapp_cloud_user_known_only_by_bsuid_is_stored_under_it(world):
    use_provider(world, "whatsapp_cloud")
    raw = fixture_bytes("whatsapp_cloud", "text_username_bsuid_only.json")
    response = world.post(raw_event(raw, {"X-Hub-Signature-256": wa_signature(raw)}))
    assert response_json(response) == {"status": "accepted", "stored": 1, "duplicates": 0}
    assert stored_texts(world) == ["Does it come in another color?"]
    assert len(world.executions()) == 1


@pytest.mark.parametrize(("name", "text"), [("product.json", "[product] name 99999999999999999999"),
                                            ("order_cart.json", "[order] name 422508169684569"),
                                            ("poll_vote.json", "[pollVote] Z-API"),
                                            ("payment_request.json", "[requestPayment] 1 BRL")])
def test_zapi_callbacks_without_text_are_stored_not_refused(world, name, text):
    use_provider(world, "zapi")
    response = world.post(raw_event(fixture_bytes("zapi", name), {"X-Webhook-Token": "zapi-webhook-token"}))
    assert response["statusCode"] == 200, response
    assert stored_texts(world) == [text]


def test_telegram_anonymous_admin_is_stored_under_the_group(world):
    use_provider(world, "telegram")
    response = world.post(raw_event(fixture_bytes("telegram", "supergroup_anonymous_admin.json"),
                                    {"X-Telegram-Bot-Api-Secret-Token": "tg-secret-token"}))
    assert response_json(response)["stored"] == 1
    assert stored_texts(world) == ["Reminder: meeting at 10"]


@pytest.mark.parametrize(("name", "text"), [("messages_upsert_ephemeral_text.json", "Mensagem temporária"),
                                            ("messages_upsert_list_response.json", "Plano anual")])
def test_evolution_wrapped_and_list_reply_messages_are_stored(world, name, text):
    use_provider(world, "evolution")
    response = world.post(raw_event(fixture_bytes("evolution", name), {"X-Webhook-Token": "evo-webhook-token"}))
    assert response_json(response)["stored"] == 1
    assert stored_texts(world) == [text]
