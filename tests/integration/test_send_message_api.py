"""send_message_api against a real local HTTP server: per-record verdicts, timeouts, tokens."""

from __future__ import annotations

import json

import pytest

from gateway import settings
from http_server import RecordingServer
from util.local_aws import LambdaContext

PHONE = "5544999999999"


def sqs_event(*bodies) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"rh{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:debouncer-send",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def reply(app="bot1", text="hello"):
    return {"app_id": app, "phone_number": PHONE, "message_to_send": text}


@pytest.fixture
def provider():
    with RecordingServer() as server:
        yield server


@pytest.fixture
def send(provider, monkeypatch):
    import send_message_api.handler as handler

    monkeypatch.setenv("API_URLS_MAP", json.dumps({"bot1": f"{provider.url}/send-text", "bot2": f"{provider.url}/b2"}))
    monkeypatch.setenv("APP_SECRETS_JSON", json.dumps({"bot1": {"client_token": "token-from-config"}}))
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "4")  # a loaded 2-core run can stall a local answer for a second
    settings.reset()
    handler.sender.cache_clear()
    yield lambda event: handler.lambda_handler(event, LambdaContext("send_message_api"))
    handler.sender.cache_clear()


def failed_ids(result) -> list[str]:
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def test_a_reply_is_posted_once_as_zapi_send_text_with_the_client_token(send, provider):
    result = send(sqs_event(reply(text="Your order ships today.")))
    assert failed_ids(result) == []
    assert len(provider.requests) == 1
    request = provider.requests[0]
    assert request["path"] == "/send-text"
    assert json.loads(request["body"]) == {"phone": PHONE, "message": "Your order ships today."}
    assert request["headers"]["Client-Token"] == "token-from-config"
    assert request["headers"]["Content-Type"] == "application/json"


def test_each_record_is_judged_on_its_own(send, provider):
    provider.statuses = [200, 500, 200]
    event = sqs_event(reply(text="a"), reply(text="b"), "not json", {"app_id": "bot1"}, reply(app="nourl"),
                      reply(text="c"))
    result = send(event)
    assert failed_ids(result) == ["m1", "m2", "m3", "m4"]
    assert [b["message"] for b in provider.json_bodies()] == ["a", "b", "c"]


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
def test_a_non_2xx_answer_fails_the_record(send, provider, status):
    provider.statuses = [status]
    assert failed_ids(send(sqs_event(reply()))) == ["m0"]


def test_a_slow_provider_times_out_and_fails_the_record(send, provider):
    provider.delay_seconds = 5  # HTTP_TIMEOUT_SECONDS is 4
    assert failed_ids(send(sqs_event(reply()))) == ["m0"]


def test_an_unreachable_provider_fails_the_record(send, monkeypatch):
    import send_message_api.handler as handler

    monkeypatch.setenv("API_URLS_MAP", json.dumps({"bot1": "http://127.0.0.1:9/closed"}))
    settings.reset()
    handler.sender.cache_clear()
    assert failed_ids(send(sqs_event(reply()))) == ["m0"]


def test_no_token_header_when_the_app_has_none(send, provider):
    send(sqs_event(reply(app="bot2")))
    assert "Client-Token" not in provider.requests[0]["headers"]


def test_a_zapi_send_url_from_the_secrets_api_url_is_used_and_never_configured_in_the_environment(
        send, provider, monkeypatch):
    """Z-API's send URL holds the instance token, so a deployment keeps it in the app's secrets
    (api_url), not in API_URLS_MAP: bot3 has no URL there, its secrets carry one."""
    import send_message_api.handler as handler

    send_url = f"{provider.url}/instances/3C0FFEE/token/SECRET-INSTANCE-TOKEN/send-text"
    monkeypatch.setenv("APP_SECRETS_JSON", json.dumps({"bot3": {"api_url": send_url, "client_token": "ct3"}}))
    settings.reset()
    handler.sender.cache_clear()
    assert failed_ids(send(sqs_event(reply(app="bot3", text="from the secret URL")))) == []
    request = provider.requests[0]
    assert request["path"] == "/instances/3C0FFEE/token/SECRET-INSTANCE-TOKEN/send-text"
    assert json.loads(request["body"]) == {"phone": PHONE, "message": "from the secret URL"}
    assert request["headers"]["Client-Token"] == "ct3"


def test_a_secret_api_url_that_is_not_http_is_dead_lettered_not_sent(send, provider, monkeypatch):
    import send_message_api.handler as handler

    monkeypatch.setenv("APP_SECRETS_JSON", json.dumps({"bot3": {"api_url": "ftp://example.com/x"}}))
    settings.reset()
    handler.sender.cache_clear()
    assert failed_ids(send(sqs_event(reply(app="bot3")))) == ["m0"]
    assert provider.requests == []
