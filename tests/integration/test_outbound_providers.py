"""send_message_api, one provider per app, against a real local HTTP server: method, URL, headers, body."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import boto3
import pytest
from moto import mock_aws

from gateway import settings
from http_server import RecordingServer
from util.local_aws import LambdaContext

APPS = {
    "zap": ("zapi", "/instances/I1/token/T1/send-text"),
    "wac": ("whatsapp_cloud", "/v21.0/1122334455667"),
    "tg": ("telegram", ""),
    "evo": ("evolution", "/message/sendText/my-instance"),
    "tw": ("twilio", ""),
    "gen": ("generic", "/hooks/reply"),
}
SECRETS = {
    "zap": {"client_token": "zapi-client-token"},
    "wac": {"access_token": "EAAG-cloud-token", "app_secret": "unused-here"},
    "tg": {"bot_token": "123456:TG-bot-token"},
    "evo": {"apikey": "EVO-API-KEY"},
    "tw": {"account_sid": "AC0123456789abcdef", "auth_token": "tw-auth-token", "from": "whatsapp:+14155238886"},
    "gen": {"access_token": "generic-bearer"},
}


def sqs_event(*replies) -> dict:
    return {"Records": [
        {"messageId": f"m{i}", "receiptHandle": f"rh{i}", "body": json.dumps(r),
         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
         "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:debouncer-send",
         "awsRegion": "us-east-1"}
        for i, r in enumerate(replies)
    ]}


def failed_ids(result) -> list[str]:
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


@pytest.fixture(scope="module")
def shared_server():
    with RecordingServer() as recording:
        yield recording


@pytest.fixture
def server(shared_server):
    shared_server.requests.clear()
    shared_server.statuses = []
    yield shared_server


def configure(monkeypatch, server, *, secrets_env: bool = True):
    import send_message_api.handler as handler

    monkeypatch.setenv("API_URLS_MAP", json.dumps({app: server.url + path for app, (_, path) in APPS.items()}))
    monkeypatch.setenv("PROVIDERS_MAP", json.dumps({app: provider for app, (provider, _) in APPS.items()}))
    if secrets_env:
        monkeypatch.setenv("APP_SECRETS_JSON", json.dumps(SECRETS))
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "2")
    settings.reset()
    handler.sender.cache_clear()
    return lambda event: handler.lambda_handler(event, LambdaContext("send_message_api"))


@pytest.fixture
def send(monkeypatch, server):
    import send_message_api.handler as handler

    yield configure(monkeypatch, server)
    handler.sender.cache_clear()


def only_request(server) -> dict:
    assert len(server.requests) == 1
    return server.requests[0]


def test_zapi_send_text_with_client_token(send, server):
    assert failed_ids(send(sqs_event({"app_id": "zap", "phone_number": "5544999999999", "message_to_send": "Oi"}))) == []
    request = only_request(server)
    assert (request["method"], request["path"]) == ("POST", "/instances/I1/token/T1/send-text")
    assert request["headers"]["Client-Token"] == "zapi-client-token"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"phone": "5544999999999", "message": "Oi"}


def test_whatsapp_cloud_messages_with_bearer_token(send, server):
    assert failed_ids(send(sqs_event({"app_id": "wac", "phone_number": "972987654321", "message_to_send": "Hi"}))) == []
    request = only_request(server)
    assert (request["method"], request["path"]) == ("POST", "/v21.0/1122334455667/messages")
    assert request["headers"]["Authorization"] == "Bearer EAAG-cloud-token"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"messaging_product": "whatsapp", "to": "972987654321", "type": "text",
                                           "text": {"body": "Hi"}}


@pytest.mark.parametrize("bsuid", ["US.13491208655302741918", "BR.ENT.11815799212886844830"])
def test_whatsapp_cloud_addresses_a_business_scoped_user_id_as_recipient(send, server, bsuid):
    """A user known only by a BSUID (username, no shared phone number) is answered through `recipient`."""
    assert failed_ids(send(sqs_event({"app_id": "wac", "phone_number": bsuid, "message_to_send": "Hi"}))) == []
    assert json.loads(only_request(server)["body"]) == {"messaging_product": "whatsapp", "recipient": bsuid,
                                                        "type": "text", "text": {"body": "Hi"}}


def test_telegram_send_message_to_the_chat(send, server):
    assert failed_ids(send(sqs_event({"app_id": "tg", "phone_number": "-1001293752024", "message_to_send": "Hi"}))) == []
    request = only_request(server)
    assert (request["method"], request["path"]) == ("POST", "/bot123456:TG-bot-token/sendMessage")
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"chat_id": "-1001293752024", "text": "Hi"}


def test_evolution_send_text_with_apikey(send, server):
    assert failed_ids(send(sqs_event({"app_id": "evo", "phone_number": "5511900000001", "message_to_send": "Olá"}))) == []
    request = only_request(server)
    assert (request["method"], request["path"]) == ("POST", "/message/sendText/my-instance")
    assert request["headers"]["apikey"] == "EVO-API-KEY"
    assert "Authorization" not in request["headers"]
    assert json.loads(request["body"]) == {"number": "5511900000001", "text": "Olá"}


def test_twilio_messages_form_encoded_with_basic_auth(send, server):
    event = sqs_event({"app_id": "tw", "phone_number": "whatsapp:+5541988887777", "message_to_send": "Olá & bye"})
    assert failed_ids(send(event)) == []
    request = only_request(server)
    assert (request["method"], request["path"]) == ("POST", "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json")
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    scheme, credentials = request["headers"]["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == "AC0123456789abcdef:tw-auth-token"
    assert dict(parse_qsl(request["body"].decode())) == {"To": "whatsapp:+5541988887777", "Body": "Olá & bye",
                                                         "From": "whatsapp:+14155238886"}


def test_twilio_messaging_service_instead_of_from(monkeypatch, server):
    import send_message_api.handler as handler

    send = configure(monkeypatch, server)
    monkeypatch.setenv("APP_SECRETS_JSON", json.dumps(
        {"tw": {"account_sid": "AC1", "auth_token": "t", "messaging_service_sid": "MG123"}}))
    settings.reset()
    handler.sender.cache_clear()
    assert failed_ids(send(sqs_event({"app_id": "tw", "phone_number": "+15550001111", "message_to_send": "x"}))) == []
    assert dict(parse_qsl(only_request(server)["body"].decode())) == {"To": "+15550001111", "Body": "x",
                                                                      "MessagingServiceSid": "MG123"}


def test_generic_json_with_optional_bearer(send, server):
    assert failed_ids(send(sqs_event({"app_id": "gen", "phone_number": "42", "message_to_send": "hey"}))) == []
    request = only_request(server)
    assert (request["method"], request["path"]) == ("POST", "/hooks/reply")
    assert request["headers"]["Authorization"] == "Bearer generic-bearer"
    assert json.loads(request["body"]) == {"phone_number": "42", "text": "hey"}


def long_reply(lines: int) -> str:
    """`lines` lines of 788 characters, each made of short sentences."""
    return "\n".join((f"Part {i:02d}: " + "Every sentence of this reply is short. " * 20).strip() for i in range(lines))


@pytest.mark.parametrize(("app", "limit", "lines_per_part"), [("wac", 4096, 5), ("tg", 4096, 5), ("tw", 1600, 2)])
def test_a_long_reply_is_split_at_line_ends_and_sent_in_order(send, server, app, limit, lines_per_part):
    text = long_reply(12)  # 9,467 characters
    lines = text.split("\n")
    assert {len(line) for line in lines} == {788}
    assert failed_ids(send(sqs_event({"app_id": app, "phone_number": "1555", "message_to_send": text}))) == []
    if app == "tw":
        sent = [dict(parse_qsl(r["body"].decode()))["Body"] for r in server.requests]
    else:
        sent = [b["text"]["body"] if app == "wac" else b["text"] for b in server.json_bodies()]
    # as many whole lines as fit in each message, in order
    assert sent == ["\n".join(lines[i:i + lines_per_part]) for i in range(0, len(lines), lines_per_part)]
    assert all(len(part) <= limit for part in sent)


def test_a_long_line_is_split_at_sentence_ends(send, server):
    text = "A fairly ordinary sentence, repeated. " * 60  # one line of 2,280 characters
    assert failed_ids(send(sqs_event({"app_id": "tw", "phone_number": "+1555", "message_to_send": text}))) == []
    sent = [dict(parse_qsl(r["body"].decode()))["Body"] for r in server.requests]
    assert len(sent) == 2 and all(len(part) <= 1600 and part.endswith("repeated.") for part in sent)
    assert " ".join(sent) == text.strip()


def test_part_k_failing_fails_the_record_and_stops_there(send, server):
    server.statuses = [200, 503]
    text = long_reply(12)
    assert failed_ids(send(sqs_event({"app_id": "wac", "phone_number": "1555", "message_to_send": text}))) == ["m0"]
    assert len(server.requests) == 2  # part 3 was not attempted
    # the redelivered record sends every part again, the first one included (documented in the README)
    server.requests.clear()
    assert failed_ids(send(sqs_event({"app_id": "wac", "phone_number": "1555", "message_to_send": text}))) == []
    assert len(server.requests) == 3 and server.json_bodies()[0]["text"]["body"].startswith("Part 00:")


def test_zapi_and_generic_are_not_split_below_their_limits(send, server):
    text = "word " * 1000  # 5000 characters
    send(sqs_event({"app_id": "zap", "phone_number": "1", "message_to_send": text},
                   {"app_id": "gen", "phone_number": "1", "message_to_send": text}))
    assert [r["path"].rsplit("/", 1)[-1] for r in server.requests] == ["send-text", "send-text", "reply"]


@pytest.mark.parametrize(("app", "missing"), [("wac", "access_token"), ("tg", "bot_token"), ("evo", "apikey"),
                                              ("tw", "auth_token")])
def test_a_missing_credential_fails_the_record_without_a_request(monkeypatch, server, app, missing):
    import send_message_api.handler as handler

    send = configure(monkeypatch, server)
    monkeypatch.setenv("APP_SECRETS_JSON", json.dumps(
        {app: {k: v for k, v in SECRETS[app].items() if k != missing}}))
    settings.reset()
    handler.sender.cache_clear()
    assert failed_ids(send(sqs_event({"app_id": app, "phone_number": "1", "message_to_send": "x"}))) == ["m0"]
    assert server.requests == []


def test_credentials_come_from_ssm_read_once(monkeypatch, server):
    import send_message_api.handler as handler

    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/debouncer/wac/secrets", Type="SecureString",
                          Value=json.dumps({"access_token": "from-ssm"}))
        send = configure(monkeypatch, server, secrets_env=False)
        monkeypatch.setenv("SECRETS_PARAMETERS_MAP", json.dumps({"wac": "/debouncer/wac/secrets",
                                                                 "tg": "/debouncer/tg/absent"}))
        settings.reset()
        handler.sender.cache_clear()
        message = {"app_id": "wac", "phone_number": "1", "message_to_send": "x"}
        assert failed_ids(send(sqs_event(message, message))) == []
        ssm.delete_parameter(Name="/debouncer/wac/secrets")
        assert failed_ids(send(sqs_event(message))) == []  # cached for the life of the container
        assert [r["headers"]["Authorization"] for r in server.requests] == ["Bearer from-ssm"] * 3
        # an unreadable parameter fails the record (SQS retries it), and nothing is sent
        assert failed_ids(send(sqs_event({"app_id": "tg", "phone_number": "1", "message_to_send": "x"}))) == ["m0"]
        assert len(server.requests) == 3
    handler.sender.cache_clear()
