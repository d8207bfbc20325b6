"""lambda/gateway/schemas/batch.schema.json describes the batch a bot receives, Batch.payload()."""

from __future__ import annotations

import copy
import json

import batch_schema
import pytest
from hypothesis import given, strategies as st

from gateway.models import Author, Batch, StoredMessage, conversation_id, encode_payload

GROUP = "120363019502650977-group"


def batch(epoch: int = 1_700_000_000_000) -> Batch:
    messages = [
        StoredMessage(7, "3EB0A1", "who is coming?", 1700000001, 0, author=Author("5511911110001", "Ana")),
        StoredMessage(8, "3EB0A2", "[image] https://x", 1700000002, 0, kind="image", author=Author(None, "Bruno")),
        StoredMessage(9, "3EB0A3", "[location] 52.5,13.4", None, 0, kind="location", author=Author("22220002@lid")),
        StoredMessage(10, "3EB0A4", "me too", 1700000004, 0),
    ]
    return Batch("bot1", GROUP, 7, 10, messages, epoch=epoch)


def test_the_schema_is_valid_draft_2020_12_and_a_payload_matches_it():
    payload = batch().payload()
    assert batch_schema.problems(payload) == []
    assert batch_schema.problems(json.loads(encode_payload(payload))) == []  # as the bot decodes it


def test_every_message_says_its_kind_and_a_group_message_its_author_when_known():
    assert batch().payload()["messages"] == [
        {"id": "3EB0A1", "text": "who is coming?", "timestamp": 1700000001, "kind": "text",
         "author": {"id": "5511911110001", "name": "Ana"}},
        {"id": "3EB0A2", "text": "[image] https://x", "timestamp": 1700000002, "kind": "image",
         "author": {"name": "Bruno"}},
        {"id": "3EB0A3", "text": "[location] 52.5,13.4", "timestamp": None, "kind": "location",
         "author": {"id": "22220002@lid"}},
        {"id": "3EB0A4", "text": "me too", "timestamp": 1700000004, "kind": "text"},
    ]


def test_the_batch_id_format_is_the_one_the_schema_documents():
    payload = batch().payload()
    assert payload["batch_id"] == f"{conversation_id('bot1', GROUP)}-1700000000000-7-10"
    assert batch(epoch=0).payload()["batch_id"].endswith("-0-7-10")  # an item written before epochs
    assert batch_schema.problems(batch(epoch=0).payload()) == []


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30), st.integers(0, 2**45),
       st.integers(1, 10**9), st.integers(0, 10**6))
def test_any_batch_id_matches_the_documented_pattern(app_id, sender, epoch, first, length):
    message = StoredMessage(first, "m", "t", None, 0)
    payload = Batch(app_id, sender, first, first + length, [message], epoch=epoch).payload()
    assert batch_schema.problems(payload) == []


def broken(change) -> dict:
    payload = copy.deepcopy(batch().payload())
    change(payload)
    return payload


@pytest.mark.parametrize(("change", "where"), [
    (lambda p: p["messages"][3].pop("kind"), "messages/3: 'kind' is a required property"),
    (lambda p: p["messages"][0].update(kind=None), "messages/0/kind"),
    (lambda p: p["messages"][0].update(kind=""), "messages/0/kind"),
    (lambda p: p["messages"][1].update(author={}), "messages/1/author"),
    (lambda p: p["messages"][1].update(author={"name": 5}), "messages/1/author/name"),
    (lambda p: p["messages"][1].update(author={"name": "B", "phone": "1"}), "messages/1/author"),
    (lambda p: p["messages"][0].pop("timestamp"), "messages/0: 'timestamp' is a required property"),
    (lambda p: p["messages"][0].update(timestamp="1700000001"), "messages/0/timestamp"),
    (lambda p: p["messages"][0].update(sender="x"), "messages/0"),
    (lambda p: p.update(messages=[]), "messages"),
    (lambda p: p.pop("batch_id"), "(top): 'batch_id' is a required property"),
    (lambda p: p.update(batch_id="5794b5e36adbc2391081-1-3"), "batch_id"),
    (lambda p: p.update(batch_id="5794B5E36ADBC2391081-1700000000000-1-3"), "batch_id"),
    (lambda p: p.update(batch_id="5794b5e36adbc2391081-1700000000000-0-3"), "batch_id"),
    (lambda p: p.update(extra=1), "(top)"),
])
def test_a_payload_that_breaks_the_contract_fails_the_schema(change, where):
    found = batch_schema.problems(broken(change))
    assert found and any(problem.startswith(where) for problem in found), found
    with pytest.raises(AssertionError, match="batch.schema.json"):
        batch_schema.check(broken(change))


def test_the_schema_describes_every_field_it_names():
    schema = batch_schema.validator().schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    message = schema["$defs"]["message"]
    for properties in (schema["properties"], message["properties"], message["properties"]["author"]["properties"]):
        for name, field in properties.items():
            assert field.get("description"), name
    assert set(schema["required"]) == set(batch().payload())
    assert set(message["required"]) == {"id", "text", "timestamp", "kind"}  # author only when known
