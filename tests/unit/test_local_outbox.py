"""`make run`'s outbox answers each provider's send request as that provider does, and lists it."""

from __future__ import annotations

import pytest

from gateway.outbound import Reply, build_requests
from util.local_gateway.outbox import Outbox, provider_of_path

SECRETS = {
    "zapi": {"client_token": "zapi-client-token"},
    "whatsapp_cloud": {"access_token": "cloud-access-token"},
    "telegram": {"bot_token": "123456:ABC-local-token"},
    "evolution": {"apikey": "evolution-api-key"},
    "twilio": {"auth_token": "twilio-auth", "account_sid": "AC0123", "from": "whatsapp:+14155238886"},
    "generic": {"access_token": "generic-token"},
}
# the app's url when it replies to the local outbox (a Z-API app's api_url, an Evolution instance's URL)
URLS = {
    "zapi": "http://127.0.0.1:8080/outbox",
    "whatsapp_cloud": "http://127.0.0.1:8080/outbox",
    "telegram": "http://127.0.0.1:8080/outbox",
    "evolution": "http://127.0.0.1:8080/outbox/message/sendText/local",
    "twilio": "http://127.0.0.1:8080/outbox",
    "generic": "http://127.0.0.1:8080/outbox",
}
TO = {"telegram": "408258968", "twilio": "whatsapp:+5541988887777"}


def send_as_the_gateway(outbox: Outbox, provider: str, url: str, to: str, text: str = "hi"):
    """What send_message_api's request for this provider becomes at the local server."""
    request = build_requests(provider, url, Reply("app", to, text), SECRETS[provider])[0]
    path = request.url.split("127.0.0.1:8080", 1)[1]
    path = path[len("/outbox"):] or "/" if path.startswith("/outbox") else path
    body = request.json if request.json is not None else request.data
    return outbox.send(path, {k.lower(): v for k, v in request.headers.items()}, body, form=request.data is not None)


@pytest.mark.parametrize("provider", sorted(SECRETS))
def test_every_provider_s_request_is_answered_as_the_provider_would_and_listed(provider):
    outbox = Outbox()
    to = TO.get(provider, "5544999999999")
    answer = send_as_the_gateway(outbox, provider, URLS[provider], to)
    assert 200 <= answer.status < 300
    [item] = outbox.items()
    assert (item["provider"], item["recipient"], item["text"]) == (provider, to, "hi")
    body = answer.body
    if provider == "telegram":
        assert body["ok"] is True and body["result"]["chat"]["id"] == 408258968 and body["result"]["text"] == "hi"
        assert "ABC-local-token" not in item["path"] and item["path"].endswith("oken/sendMessage")
    elif provider == "whatsapp_cloud":
        assert body["messages"][0]["id"].startswith("wamid.") and body["contacts"][0]["wa_id"] == to
        assert item["headers"]["authorization"] == "Bearer " + "*" * 14 + "oken"
    elif provider == "twilio":
        assert answer.status == 201 and body["sid"].startswith("SM") and body["status"] == "queued"
        assert body["account_sid"] == "AC0123" and body["to"] == to and body["from"] == "whatsapp:+14155238886"
        assert item["body"] == {"To": to, "Body": "hi", "From": "whatsapp:+14155238886"}
    elif provider == "evolution":
        assert answer.status == 201 and body["key"]["remoteJid"] == f"{to}@s.whatsapp.net"
        assert body["key"]["fromMe"] is True and body["instanceId"] == "local"
        assert item["headers"]["apikey"].endswith("-key") and "evolution" not in item["headers"]["apikey"]
    elif provider == "zapi":
        assert set(body) == {"zaapId", "messageId", "id"}
        assert item["body"] == {"phone": to, "message": "hi"} and item["headers"]["client-token"].endswith("oken")
    else:
        assert body == {"id": item["id"]}


@pytest.mark.parametrize("path, provider", [
    ("/bot123:abc/sendMessage", "telegram"),
    ("/2010-04-01/Accounts/AC1/Messages.json", "twilio"),
    ("/message/sendText/my-instance", "evolution"),
    ("/messages", "whatsapp_cloud"),
    ("/v21.0/1122334455667/messages", "whatsapp_cloud"),
    ("/instances/ID/token/TOKEN/send-text", "zapi"),
    ("/send-text", "zapi"),
])
def test_provider_paths_are_recognised(path, provider):
    assert provider_of_path(path)[0] == provider


def test_a_path_that_names_no_provider_is_read_by_the_body_and_anything_else_is_kept_as_generic():
    outbox = Outbox()
    assert outbox.send("/", {}, {"phone": "1", "message": "m"}).body.keys() == {"zaapId", "messageId", "id"}
    assert outbox.send("/hooks/anything", {}, {"free": "form"}).status == 200
    assert [i["provider"] for i in outbox.items()] == ["zapi", "generic"]


def test_a_send_without_recipient_or_text_is_refused_in_the_provider_s_own_words():
    outbox = Outbox()
    answer = outbox.send("/bot1:a/sendMessage", {}, {"chat_id": "1", "text": ""})
    assert answer.status == 400 and answer.body["ok"] is False and "text is empty" in answer.body["description"]
    assert outbox.send("/messages", {}, {"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}
                       ).body["error"]["code"] == 100
    assert outbox.items() == []


def test_the_listing_can_be_cleared():
    outbox = Outbox()
    outbox.send("/", {}, {"phone_number": "1", "text": "t"})
    assert outbox.clear() == 1 and outbox.items() == []
