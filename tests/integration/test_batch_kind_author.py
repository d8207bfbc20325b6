"""What the bot is told about each message: its kind, and in a group chat its author, from the
webhook through the store to the batch (checked against lambda/gateway/schemas/batch.schema.json)."""

from __future__ import annotations

import copy
import json
import time

import batch_schema
import boto3
import pytest
from conftest import load_fixture, fixture_bytes
from helpers import api_event, zapi_text

from gateway import settings
from gateway.store import MESSAGE_OVERHEAD_BYTES, item_key, message_size
from gateway.models import Author, Batch, InboundMessage
from util.cost import item_size
from util.local_aws import LambdaContext

APP, PHONE = "bot1", "5544999999999"
ZAPI_GROUP = "120363019502650977-group"
TOKENS = {"zapi": {"webhook_token": "zapi-token"}, "evolution": {"webhook_token": "evo-token"},
          "telegram": {"secret_token": "tg-secret"}}
HEADERS = {"zapi": {"X-Webhook-Token": "zapi-token"}, "evolution": {"X-Webhook-Token": "evo-token"},
           "telegram": {"X-Telegram-Bot-Api-Secret-Token": "tg-secret"}}


@pytest.fixture
def gateway(world, monkeypatch):
    """The world with its timers disarmed: the test runs process_message itself once the burst is due."""
    monkeypatch.setattr(world.post_handler.service().scheduler, "start", lambda *a, **k: True)
    return world


def speak(world, provider: str) -> None:
    world.monkeypatch.setenv("PROVIDERS_MAP", json.dumps({APP: provider}))
    world.monkeypatch.setenv("APP_SECRETS_JSON", json.dumps({APP: TOKENS[provider]}))
    settings.reset()
    world.post_handler.service.cache_clear()
    world.monkeypatch.setattr(world.post_handler.service().scheduler, "start", lambda *a, **k: True)


def post(world, provider: str, body: dict | bytes) -> None:
    raw = body.decode() if isinstance(body, bytes) else json.dumps(body)
    response = world.post(api_event(raw, raw=True, headers=HEADERS[provider]))
    assert response["statusCode"] == 200 and json.loads(response["body"])["status"] == "accepted", response


def dispatch(world, sender: str, seq: int) -> dict:
    """The burst, once due, delivered: the one batch the bot got."""
    time.sleep(1.2)  # past the world's 1 s quiet period
    event = {"app_id": APP, "sender": sender, "seq": seq, "wait_until": "2020-01-01T00:00:00Z"}
    assert world.process_handler.lambda_handler(event, LambdaContext("process_message"))["action"] == "done"
    [batch] = world.bot_events[APP]
    batch_schema.check(batch)
    return batch


def entries(world) -> list[dict]:
    return [e for item in world.items() if item["sk"] == "META" for e in item.get("msgs", [])]


def zapi_group(message_id: str, base: dict | None = None, **fields) -> dict:
    body = copy.deepcopy(base) if base is not None else zapi_text(ZAPI_GROUP, "x", message_id)
    return body | {"isGroup": True, "phone": ZAPI_GROUP, "messageId": message_id, "instanceId": "i"} | fields


# --- through the whole gateway ---------------------------------------------------------------------

def test_a_zapi_group_burst_tells_the_bot_each_messages_kind_and_author(gateway):
    speak(gateway, "zapi")
    post(gateway, "zapi", zapi_group("G1", zapi_text(ZAPI_GROUP, "who is coming?"), participantPhone="5511911110001",
                                     participantLid="11110001@lid", senderName="Ana"))
    post(gateway, "zapi", zapi_group("G2", load_fixture("zapi", "image.json"), participantPhone=None,
                                     participantLid="22220002@lid", senderName="Bruno"))
    post(gateway, "zapi", zapi_group("G3", load_fixture("zapi", "location.json"), participantPhone="5511911110001",
                                     senderName="Ana"))
    post(gateway, "zapi", zapi_group("G4", load_fixture("zapi", "audio_ptt.json"), participantPhone=None,
                                     participantLid=None, senderName=None))
    batch = dispatch(gateway, ZAPI_GROUP, 4)
    assert batch["phone_number"] == ZAPI_GROUP
    assert [(m["id"], m["kind"], m.get("author")) for m in batch["messages"]] == [
        ("G1", "text", {"id": "5511911110001", "name": "Ana"}),
        ("G2", "image", {"id": "22220002@lid", "name": "Bruno"}),  # no participantPhone: the LID
        ("G3", "location", {"id": "5511911110001", "name": "Ana"}),
        ("G4", "audio", None),  # the provider named nobody: no author
    ]
    assert batch["messages"][2]["text"] == "[location] -100.0,-100.0"


def test_a_private_chat_gets_kinds_and_no_author(gateway):
    speak(gateway, "zapi")
    post(gateway, "zapi", zapi_text(PHONE, "hello", "P1") | {"senderName": "Carla"})
    post(gateway, "zapi", load_fixture("zapi", "audio_ptt.json") | {"messageId": "P2", "instanceId": "i"})
    post(gateway, "zapi", load_fixture("zapi", "location.json") | {"messageId": "P3"})
    # the text's entry is what it was before kinds and authors reached the bot: not a byte more
    text_entry, audio_entry, location_entry = entries(gateway)
    assert set(text_entry) == {"id", "t", "at", "ts"}
    assert (audio_entry["k"], location_entry["k"]) == ("audio", "location")
    assert "a" not in audio_entry and "n" not in audio_entry  # a private chat's sender is no author
    batch = dispatch(gateway, PHONE, 3)
    assert batch["messages"] == [
        {"id": "P1", "text": "hello", "timestamp": 1632228638, "kind": "text"},
        {"id": "P2", "text": "[audio] https://", "timestamp": 1632228849, "kind": "audio"},
        {"id": "P3", "text": "[location] -100.0,-100.0", "timestamp": 1632228970, "kind": "location"},
    ]


def test_a_telegram_group_tells_the_bot_who_wrote_including_an_anonymous_admin(gateway):
    speak(gateway, "telegram")
    post(gateway, "telegram", fixture_bytes("telegram", "supergroup_command_reply.json"))
    post(gateway, "telegram", fixture_bytes("telegram", "supergroup_anonymous_admin.json"))
    voice = json.loads(fixture_bytes("telegram", "voice.json"))
    voice["message"]["chat"] = load_fixture("telegram", "supergroup_command_reply.json")["message"]["chat"]
    post(gateway, "telegram", voice)
    batch = dispatch(gateway, "-1001293752024", 3)
    assert [(m["text"], m["kind"], m["author"]) for m in batch["messages"]] == [
        ("/report", "text", {"id": "5964236329", "name": "the Cable Guy"}),
        ("Reminder: meeting at 10", "text", {"id": "-1001293752024", "name": "Example supergroup"}),
        ("[audio] AwADBAADbXXXXXXXXXXXGBdhD2l6_XX", "audio", {"id": "1111111", "name": "Test Firstname Test Lastname"}),
    ]


def test_an_evolution_group_tells_the_bot_the_participant(gateway):
    speak(gateway, "evolution")
    post(gateway, "evolution", fixture_bytes("evolution", "messages_upsert_group_participant.json"))
    image = load_fixture("evolution", "messages_upsert_group_participant.json")
    image["data"]["key"] |= {"id": "IMG1", "participant": "99999999999999@lid"}
    image["data"] |= {"pushName": "Zé", "messageType": "imageMessage",
                      "message": {"imageMessage": {"url": "https://mmg.whatsapp.net/v/x.enc"}}}
    post(gateway, "evolution", image)
    batch = dispatch(gateway, "120363025246125486@g.us", 2)
    assert [(m["text"], m["kind"], m["author"]) for m in batch["messages"]] == [
        ("Bom dia, grupo!", "text", {"id": "5511900000002", "name": "João"}),
        ("[image] https://mmg.whatsapp.net/v/x.enc", "image", {"id": "99999999999999@lid", "name": "Zé"}),
    ]


# --- the store --------------------------------------------------------------------------------------

def group_message(text: str, message_id: str, kind: str = "text", author: Author | None = None) -> InboundMessage:
    return InboundMessage(sender=ZAPI_GROUP, text=text, message_id=message_id, timestamp=1700000000, kind=kind,
                          author=author)


def raw_item(store, sender: str) -> dict:
    return boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=store.table_name, Key=item_key(APP, sender), ConsistentRead=True)["Item"]


def test_a_text_messages_entry_and_item_are_the_bytes_they_were(store, clock):
    """The store's cost per text message (make cost: WRU at a 1 KB text) depends on these bytes."""
    text = "a plain chat line, as most are"
    store.append(APP, InboundMessage(PHONE, text, "wamid.1", 1700000000), latest_due=0)
    raw = store.read_item(APP, PHONE)
    # the entry the store wrote before it kept kinds and authors
    assert raw["msgs"] == [{"id": "wamid.1", "t": text, "at": int(clock() * 1000), "ts": 1700000000}]
    assert raw["msgs_bytes"] == message_size(InboundMessage(PHONE, text, "wamid.1")) \
        == len(text) + len("wamid.1") + MESSAGE_OVERHEAD_BYTES
    # a group message's author adds its own bytes, and nothing else does
    store.append(APP, group_message(text, "wamid.1", author=Author("5511911110001", "Ana")), latest_due=0)
    group = raw_item(store, ZAPI_GROUP)
    entry = group["msgs"]["L"][0]["M"]
    assert set(entry) == {"id", "t", "at", "ts", "a", "n"}
    # (the group's pk and sender attribute are longer; each map entry costs 1 byte, its name and value)
    assert (item_size(group) - item_size(raw_item(store, PHONE))
            == 2 * (len(ZAPI_GROUP) - len(PHONE)) + (1 + len("a5511911110001")) + (1 + len("nAna")))


def test_kind_and_author_survive_a_seal_into_a_chunk_and_old_entries_read_as_texts(store, clock):
    store.append(APP, group_message("hi", "m1", author=Author("5511911110001", "Ana")), latest_due=0)
    store.append(APP, group_message("[image] https://x", "m2", "image", Author(None, "Bruno")), latest_due=0)
    store.append(APP, group_message("[audio]", "m3", "audio", Author("22220002@lid")), latest_due=0)
    store.seal_through(APP, ZAPI_GROUP, 2)  # m1..m3 now in a CHUNK item
    # an entry written before authors were kept (and kinds read): "k" alone, or nothing
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.update_item(TableName=store.table_name, Key=item_key(APP, ZAPI_GROUP),
                       UpdateExpression="SET msgs = :old, seq = :four, msgs_bytes = :size",
                       ExpressionAttributeValues={
                           ":old": {"L": [{"M": {"id": {"S": "m4"}, "t": {"S": "old"}, "at": {"N": "1"}}},
                                          {"M": {"id": {"S": "m5"}, "t": {"S": "[video]"}, "at": {"N": "2"},
                                                 "k": {"S": "video"}}}]},
                           ":four": {"N": "5"}, ":size": {"N": "0"}})
    messages = store.load_messages(APP, ZAPI_GROUP, 1, 5)
    assert [(m.message_id, m.kind, m.author) for m in messages] == [
        ("m1", "text", Author("5511911110001", "Ana")),
        ("m2", "image", Author(None, "Bruno")),
        ("m3", "audio", Author("22220002@lid", None)),
        ("m4", "text", None),
        ("m5", "video", None),
    ]
    payload = Batch(APP, ZAPI_GROUP, 1, 5, messages, epoch=store.get(APP, ZAPI_GROUP).epoch).payload()
    batch_schema.check(payload)
    assert [m["kind"] for m in payload["messages"]] == ["text", "image", "audio", "text", "video"]
    assert [m.get("author") for m in payload["messages"]] == [
        {"id": "5511911110001", "name": "Ana"}, {"name": "Bruno"}, {"id": "22220002@lid"}, None, None]
