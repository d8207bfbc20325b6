import json

from gateway.log import mask_phone
from gateway.models import Batch, StoredMessage, conversation_id
from gateway.outbound import Reply
from gateway.scheduler import execution_name, wait_timestamp

import pytest
from hypothesis import given, strategies as st


def _batch(first, last):
    messages = [StoredMessage(s, f"id{s}", f"text {s}", 1700000000 + s, 0) for s in range(first, last + 1)]
    return Batch("bot1", "5544999999999", first, last, messages)


def test_batch_payload_joins_texts_in_order_and_lists_each_message():
    payload = _batch(1, 3).payload()
    assert payload["message"] == "text 1\ntext 2\ntext 3"
    assert [m["id"] for m in payload["messages"]] == ["id1", "id2", "id3"]
    assert payload["messages"][0] == {"id": "id1", "text": "text 1", "timestamp": 1700000001, "kind": "text"}
    assert payload["app_id"] == "bot1" and payload["phone_number"] == "5544999999999"


def test_batch_id_is_derived_from_the_range_so_retries_carry_the_same_id():
    assert _batch(4, 6).batch_id == _batch(4, 6).batch_id
    assert _batch(4, 6).batch_id != _batch(4, 7).batch_id
    assert "5544999999999" not in _batch(4, 6).batch_id


def test_conversation_ids_differ_per_app_and_sender_and_hide_the_phone():
    a = conversation_id("bot1", "5544999999999")
    assert a != conversation_id("bot2", "5544999999999")
    assert a != conversation_id("bot1", "5544999999998")
    assert "9999" not in a


def test_execution_names_are_deterministic_and_valid():
    name = execution_name("bot1", "5544999999999", 1_700_000_000_123, 12)
    assert name == execution_name("bot1", "5544999999999", 1_700_000_000_123, 12)
    assert name.endswith("-12") and len(name) <= 80 and "5544" not in name
    assert len(execution_name("bot1", "5544999999999", 1_700_000_000_123, 10**9, "-sweep1700000000")) <= 80


def test_a_conversation_that_comes_back_after_its_item_expired_gets_new_names_and_batch_ids():
    """Its seq restarts at 1; the epoch (the item's creation time) keeps names and ids unique."""
    first_life, second_life = 1_700_000_000_000, 1_702_600_000_000
    assert execution_name("bot1", "5544999999999", first_life, 1) != execution_name("bot1", "5544999999999", second_life, 1)
    old = Batch("bot1", "5544999999999", 1, 3, epoch=first_life)
    new = Batch("bot1", "5544999999999", 1, 3, epoch=second_life)
    assert old.batch_id != new.batch_id


def test_wait_timestamp_rounds_up_to_the_whole_second():
    assert wait_timestamp(1700000000.0) == "2023-11-14T22:13:20Z"
    assert wait_timestamp(1700000000.01) == "2023-11-14T22:13:21Z"


def test_mask_phone_keeps_only_the_last_four_digits():
    assert mask_phone("5544999991234") == "*********1234"
    assert "5544" not in mask_phone("5544999991234")
    assert mask_phone("12345") == "*****"


@pytest.mark.parametrize(
    "record, problem",
    [([], "JSON object"), ({"app_id": "a", "phone_number": "1"}, "message_to_send"),
     ({"app_id": "a", "phone_number": 5, "message_to_send": "x"}, "phone_number")],
)
def test_reply_records_are_validated(record, problem):
    with pytest.raises(ValueError, match=problem):
        Reply.from_record(record)


def test_no_sender_string_can_forge_another_conversations_key():
    from gateway.store import conversation_pk

    senders = ["5511999", "vip#5511999", "vip%235511999", "vip%5511999", "#", "%", "%23", "a#b#c", "a%23b%23c"]
    keys = {conversation_pk("shop", s) for s in senders}
    assert len(keys) == len(senders)
    assert all(key.count("#") == 2 for key in keys)  # CONV#shop#<sender>: the sender holds no separator
    with pytest.raises(ValueError):
        conversation_pk("shop#vip", "5511999")  # settings refuse such an app id at cold start
    assert conversation_pk("bot1", "5544999999999") == "CONV#bot1#5544999999999"  # plain senders unchanged


def _burst(count, text, first=1):
    messages = [StoredMessage(s, f"wamid.{s:04d}", text, 1700000000 + s, 0) for s in range(first, first + count)]
    return Batch("bot1", "5544999999999", first, first + count - 1, messages, epoch=1_700_000_000_000)


def test_the_audits_burst_of_40_messages_of_32_kb_of_e_acute_encodes_under_the_invoke_limit():
    from gateway.models import LAMBDA_PAYLOAD_LIMIT_BYTES, encode_payload

    batch = _burst(40, "é" * 16384)  # 32 KB of UTF-8 each: 7.9 MB with json.dumps' \\u00e9 escapes
    [part] = batch.parts()
    assert part is batch
    size = len(encode_payload(batch.payload()))
    assert size < 2.7e6 < LAMBDA_PAYLOAD_LIMIT_BYTES  # each text twice, 2 bytes per "é"
    assert json.loads(encode_payload(batch.payload())) == batch.payload()


def test_a_burst_over_the_cap_is_split_into_consecutive_batches_each_under_it():
    from gateway.models import PAYLOAD_CAP_BYTES, encode_payload

    batch = _burst(120, "é" * 16384)  # 7.9 MB even as UTF-8
    parts = batch.parts()
    assert len(parts) == 2
    sizes = [len(encode_payload(p.payload())) for p in parts]
    assert all(size <= PAYLOAD_CAP_BYTES for size in sizes) and sum(sizes) > PAYLOAD_CAP_BYTES
    assert [m.seq for p in parts for m in p.messages] == list(range(1, 121))  # in order, none twice
    assert [(p.first_seq, p.last_seq) for p in parts] == [(1, parts[0].last_seq), (parts[0].last_seq + 1, 120)]
    assert len({p.batch_id for p in parts}) == 2 and batch.batch_id not in {p.batch_id for p in parts}
    assert [p.batch_id for p in batch.parts()] == [p.batch_id for p in parts]  # a retry: the same ids
    rest = _burst(120 - parts[0].last_seq, "é" * 16384, first=parts[0].last_seq + 1)
    assert [p.batch_id for p in rest.parts()] == [parts[1].batch_id]  # a redrive of the rest, too


def test_the_cap_counts_the_whole_encoded_payload_not_only_the_texts():
    from gateway.models import encode_payload

    batch = _burst(50, 'a"\\\n' * 100)  # every character escaped to 2 bytes, in the text and in messages[]
    cap = 10_000
    texts = sum(len(m.text.encode()) for m in batch.messages)
    parts = batch.parts(cap)
    assert texts == 2 * cap and len(parts) >= 8  # counting texts alone would make 2 parts
    assert all(len(encode_payload(p.payload())) <= cap for p in parts)
    assert all(len(encode_payload(p.payload())) > cap * 0.8 for p in parts[:-1])  # and packs them


@given(texts=st.lists(st.text(max_size=40), min_size=0, max_size=6),
       timestamps=st.lists(st.one_of(st.none(), st.integers(0, 2**40)), min_size=6, max_size=6))
def test_the_encoded_size_summed_message_by_message_is_the_size_of_the_encoded_payload(texts, timestamps):
    """Batch.parts measures a batch without building its payload; the sum must be exact (any
    character JSON escapes: quotes, backslashes, newlines, controls, surrogates' neighbours, emoji)."""
    from gateway.models import encode_payload

    messages = [StoredMessage(s + 1, f"wamid.{s}", text, timestamps[s], 0) for s, text in enumerate(texts)]
    batch = Batch("bot1", "5544999999999", 1, max(len(texts), 1), messages, epoch=1_700_000_000_000)
    assert batch.encoded_size() == len(encode_payload(batch.payload()))


def _parts_built_whole(batch: Batch, cap: int) -> list[tuple[int, int]]:
    """The split as it was defined before it was streamed: encode the whole payload, then greedy."""
    import dataclasses

    from gateway.models import encode_payload

    if len(encode_payload(batch.payload())) <= cap or len(batch.messages) <= 1:
        return [(batch.first_seq, batch.last_seq)]
    base = len(encode_payload(dataclasses.replace(batch, messages=[], first_seq=batch.last_seq).payload()))
    ranges, start, size = [], 0, base
    for index, message in enumerate(batch.messages):
        share = len(json.dumps(message.text, ensure_ascii=False).encode()) + len(encode_payload(message.as_payload())) + 1
        if index > start and size + share > cap:
            ranges.append((batch.messages[start].seq, batch.messages[index - 1].seq))
            start, size = index, base
        size += share
    ranges.append((batch.messages[start].seq, batch.messages[-1].seq))
    return ranges


@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=30), cap=st.integers(200, 3000))
def test_streamed_parts_are_the_parts_of_the_whole_batch(texts, cap):
    """Delivery reads a long burst window by window and hands parts out as they fill: the parts (and
    so their batch ids, which a retry or a redrive must find again) are those of the whole batch."""
    messages = [StoredMessage(s + 1, f"wamid.{s}", text, None, 0) for s, text in enumerate(texts)]
    batch = Batch("bot1", "5544999999999", 1, len(texts), messages, epoch=1_700_000_000_000)
    expected = _parts_built_whole(batch, cap)
    streamed = list(Batch("bot1", "5544999999999", 1, len(texts), [], epoch=1_700_000_000_000)
                    .stream_parts(iter(messages), cap))
    assert [(p.first_seq, p.last_seq) for p in streamed] == expected
    assert [m for p in streamed for m in p.messages] == messages
    assert [(p.first_seq, p.last_seq) for p in batch.parts(cap)] == expected


@pytest.mark.parametrize("texts", [["a", "b", "c"], ['say "hi"\n', "olá 👋", "\\x"], ["x" * 50] * 7])
def test_streamed_parts_split_a_batch_exactly_one_byte_over_the_cap_and_not_one_that_fits(texts):
    messages = [StoredMessage(s + 1, f"wamid.{s}", text, None, 0) for s, text in enumerate(texts)]
    batch = Batch("bot1", "5544999999999", 1, len(texts), messages, epoch=1_700_000_000_000)
    header = Batch("bot1", "5544999999999", 1, len(texts), [], epoch=1_700_000_000_000)
    size = batch.encoded_size()
    assert len(list(header.stream_parts(iter(messages), size))) == 1
    assert len(list(header.stream_parts(iter(messages), size - 1))) >= 2
