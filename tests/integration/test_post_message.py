"""post_message on moto: stores, restarts the wait, and answers bad input with a specific 4xx."""

from __future__ import annotations

import json

import pytest

from conftest import load_fixture
from helpers import api_event, response_json, text_reader, zapi_text

PHONE = "5544999999999"


def stored_messages(world) -> list[str]:
    items = world.items()
    text_of = text_reader(items)
    texts = []
    for item in items:
        texts += [text_of(e) for e in item.get("msgs", [])]
        texts += [text_of(e) for e in item.get("messages", [])]
    return texts


def test_a_zapi_text_is_stored_and_its_wait_started(world):
    response = world.post(api_event(load_fixture("zapi", "text.json")))
    assert response["statusCode"] == 200
    assert response_json(response) == {"status": "accepted", "stored": 1, "duplicates": 0}
    assert response["headers"]["Content-Type"] == "application/json"
    assert stored_messages(world) == ["test"]
    executions = world.executions()
    assert len(executions) == 1 and executions[0]["name"].endswith("-1")


def test_one_timer_stands_for_the_burst_later_messages_start_none(quiet_world):
    for text in ("one", "two", "three"):
        quiet_world.post(api_event(zapi_text(PHONE, text)))
    executions = quiet_world.executions()
    assert [e["name"].rsplit("-", 1)[1] for e in executions] == ["1"]
    assert executions[0]["status"] == "RUNNING"
    quiet_world.post(api_event(zapi_text("5511888888888", "another sender")))
    assert len(quiet_world.executions()) == 2


def test_a_retried_webhook_is_answered_200_and_stored_once(world):
    body = zapi_text(PHONE, "hello", "3EB0A0")
    assert response_json(world.post(api_event(body)))["stored"] == 1
    again = world.post(api_event(body))
    assert again["statusCode"] == 200
    assert response_json(again) == {"status": "accepted", "stored": 0, "duplicates": 1}
    assert stored_messages(world) == ["hello"]
    assert len(world.executions()) == 1


def test_base64_bodies_are_decoded(world):
    response = world.post(api_event(zapi_text(PHONE, "olá 👋"), base64_body=True))
    assert response["statusCode"] == 200
    assert stored_messages(world) == ["olá 👋"]


@pytest.mark.parametrize(
    "event, status, code",
    [
        (api_event(zapi_text(PHONE, "x"), app_id=None), 400, "missing_app_id"),
        (api_event(zapi_text(PHONE, "x"), app_id=""), 400, "missing_app_id"),
        (api_event(zapi_text(PHONE, "x"), app_id="nobody"), 404, "unknown_app"),
        (api_event("{not json", raw=True), 400, "invalid_json"),
        (api_event("", raw=True), 400, "empty_body"),
        (api_event("[1, 2]", raw=True), 400, "not_an_object"),
        (api_event({"type": "ReceivedCallback", "text": {"message": "hi"}, "messageId": "1"}), 422, "missing_sender"),
        (api_event({"type": "ReceivedCallback", "phone": PHONE, "messageId": "1"}), 422, "missing_text"),
        (api_event({"type": "ReceivedCallback", "phone": PHONE, "text": {"message": "hi"}}), 422, "missing_message_id"),
        (api_event({**zapi_text(PHONE, "x"), "phone": 5544}), 422, "missing_sender"),
        (api_event("x" * (256 * 1024 + 1), raw=True), 413, "payload_too_large"),
        (api_event(zapi_text(PHONE, "x" * (32 * 1024 + 1))), 413, "text_too_long"),
    ],
    ids=["no-appId", "empty-appId", "unknown-app", "not-json", "empty", "array", "no-sender", "no-text",
         "no-id", "number-phone", "huge-body", "huge-text"],
)
def test_bad_input_gets_a_specific_4xx_with_a_json_error_and_nothing_is_stored(world, event, status, code):
    response = world.post(event)
    assert response["statusCode"] == status
    body = response_json(response)
    assert body["error"] == code and body["message"]
    assert world.items() == []
    assert world.executions() == []


@pytest.mark.parametrize(
    "fixture",
    ["status_read.json", "status_received.json", "status_sent.json", "delivery_callback.json",
     "from_me_broadcast_text.json", "group_notification_invite_link_admins.json"],
)
def test_callbacks_and_echoes_are_answered_200_and_ignored(world, fixture):
    response = world.post(api_event(load_fixture("zapi", fixture)))
    assert response["statusCode"] == 200
    assert response_json(response)["status"] == "ignored"
    assert world.items() == []


def test_from_me_true_is_ignored(world):
    response = world.post(api_event(zapi_text(PHONE, "echo", from_me=True)))
    assert response_json(response) == {"status": "ignored", "reason": "own message echo"}
    assert world.items() == []


def test_the_log_never_holds_the_phone_number_or_the_text(world, caplog):
    caplog.set_level("DEBUG")
    world.post(api_event(zapi_text(PHONE, "my secret order 123")))
    # The gateway's own records (botocore's DEBUG wire logs are off in Lambda and not ours).
    records = [r.__dict__ for r in caplog.records if not r.name.startswith(("botocore", "urllib3", "moto"))]
    assert any(r["msg"] == "message stored" for r in records)
    dumped = json.dumps(records, default=str)
    assert PHONE not in dumped and "secret order" not in dumped
    stored = next(r for r in records if r["msg"] == "message stored")
    assert stored["sender"].endswith("9999") and stored["conversation"]
