"""The conversation store on moto: appends, claims, races, dedup, sealing."""

from __future__ import annotations

import hashlib
import threading

import pytest

from gateway.store import (DEDUP_MAX_IDS, INLINE_LIMIT_BYTES, INLINE_LIMIT_MESSAGES, TEXT_ITEM_MIN_BYTES, entry_size,
                           entry_text, message_size, text_sk)
from gateway.models import InboundMessage
from util import local_aws

APP, PHONE = "bot1", "5544999999999"


def msg(text: str, message_id: str | None = None, sender: str = PHONE) -> InboundMessage:
    return InboundMessage(sender=sender, text=text, message_id=message_id or f"id-{text}", timestamp=1700000000)


def append(store, text, clock=None, **kwargs):
    due = (clock() if clock else 1_700_000_000.0) - 1  # already due unless a test says otherwise
    return store.append(APP, msg(text, **kwargs), latest_due=due)


def deliver(store, outcome):
    messages = store.load_messages(APP, PHONE, outcome.batch.first_seq, outcome.batch.last_seq)
    store.mark_delivered(outcome.batch)
    return [m.text for m in messages]


def test_appends_advance_the_sequence_and_one_claim_takes_them_all_in_order(store):
    seqs = [append(store, t).seq for t in ("hi", "I have a question", "about my order")]
    assert seqs == [1, 2, 3]
    outcome = store.claim(APP, PHONE, 3)
    assert outcome.status == "claimed"
    assert (outcome.batch.first_seq, outcome.batch.last_seq) == (1, 3)
    assert deliver(store, outcome) == ["hi", "I have a question", "about my order"]


def test_the_timer_of_a_bursts_first_message_claims_the_whole_burst_and_a_later_timer_finds_it_taken(store):
    append(store, "a")
    append(store, "b")
    outcome = store.claim(APP, PHONE, 1)  # one timer per burst: seq 1's execution stands for it
    assert (outcome.status, outcome.batch.first_seq, outcome.batch.last_seq) == ("claimed", 1, 2)
    assert [m.text for m in outcome.batch.messages] == ["a", "b"]  # read with the claim
    assert store.claim(APP, PHONE, 2).status == "taken"  # a second timer of the same burst
    assert deliver(store, outcome) == ["a", "b"]
    assert store.claim(APP, PHONE, 2).status == "delivered"


def test_a_message_arriving_after_the_claim_lands_in_the_next_batch_only(store):
    append(store, "a")
    first = store.claim(APP, PHONE, 1)
    append(store, "late")  # arrives while batch 1 is being processed
    assert deliver(store, first) == ["a"]
    second = store.claim(APP, PHONE, 2)
    assert second.status == "claimed"
    assert deliver(store, second) == ["late"]
    assert first.batch.batch_id != second.batch.batch_id


def test_a_newer_message_between_the_claims_read_and_write_makes_the_claim_read_again(store, monkeypatch):
    append(store, "a")
    real_commit = store._commit_claim
    injected = []

    def racing_commit(*args, **kwargs):
        if not injected:
            injected.append(append(store, "racer"))  # lands after claim() read seq == 1
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(store, "_commit_claim", racing_commit)
    outcome = store.claim(APP, PHONE, 1)  # the write fails on seq; the claim reads again
    assert (outcome.status, outcome.batch.first_seq, outcome.batch.last_seq) == ("claimed", 1, 2)
    assert deliver(store, outcome) == ["a", "racer"]  # the racer is in, exactly once
    state = store.get(APP, PHONE)
    assert (state.seq, state.claimed_seq, state.delivered_seq) == (2, 2, 2)


def test_a_retried_claim_returns_the_same_batch_with_the_same_id(store):
    append(store, "a")
    append(store, "b")
    first = store.claim(APP, PHONE, 2)
    again = store.claim(APP, PHONE, 2)  # the state machine retried after a crash
    assert again.status == "claimed"
    assert again.batch.batch_id == first.batch.batch_id
    assert deliver(store, again) == ["a", "b"]
    assert store.claim(APP, PHONE, 2).status == "delivered"


def test_the_next_batch_waits_while_the_previous_one_is_undelivered_and_takes_it_over_after_the_lease(store, clock):
    append(store, "a")
    first = store.claim(APP, PHONE, 1)
    append(store, "b")
    assert store.claim(APP, PHONE, 2).status == "previous_in_flight"
    clock.now += 301  # the owner of batch 1 died: its lease (300 s) ran out
    takeover = store.claim(APP, PHONE, 2)
    assert (takeover.status, takeover.taken_over) == ("claimed", True)
    assert takeover.batch.batch_id == first.batch.batch_id
    assert store.get(APP, PHONE).last_batch.claimed_by == 2  # the taker owns it now, with a new lease
    assert store.claim(APP, PHONE, 1).status == "taken"  # the old owner, back: no longer its batch
    again = store.claim(APP, PHONE, 2)  # the new owner's retry redelivers it
    assert (again.status, again.taken_over, again.batch.batch_id) == ("claimed", False, first.batch.batch_id)
    assert deliver(store, takeover) == ["a"]
    assert deliver(store, store.claim(APP, PHONE, 2)) == ["b"]


def test_two_executions_racing_to_take_over_a_stale_batch_make_one_owner(store, clock):
    append(store, "a")
    store.claim(APP, PHONE, 1)
    clock.now += 301
    state = store.get(APP, PHONE)  # both read the same stale batch
    assert store.take_over_stale_batch(state, owner=7) is not None
    assert store.take_over_stale_batch(state, owner=8) is None
    assert store.get(APP, PHONE).last_batch.claimed_by == 7
    assert store.take_over_stale_batch(store.get(APP, PHONE), owner=8) is None  # a fresh lease


def test_a_timer_that_fires_early_is_told_to_wait(store, clock):
    store.append(APP, msg("a"), latest_due=clock.now + 10)
    assert store.claim(APP, PHONE, 1).status == "not_due"
    clock.now += 10
    assert store.claim(APP, PHONE, 1).status == "claimed"


def test_a_retried_webhook_is_stored_once_even_after_its_batch(store):
    assert not append(store, "a", message_id="wamid.1").duplicate
    repeat = append(store, "a", message_id="wamid.1")
    assert repeat.duplicate and repeat.seq == 1
    deliver(store, store.claim(APP, PHONE, 1))
    assert append(store, "a", message_id="wamid.1").duplicate
    assert store.get(APP, PHONE).seq == 1


def test_a_long_provider_id_is_remembered_by_its_hash(store):
    long_id = "x" * 500
    assert not append(store, "a", message_id=long_id).duplicate
    assert append(store, "a", message_id=long_id).duplicate
    assert not append(store, "b", message_id="x" * 499 + "y").duplicate


def test_remembered_ids_are_8_byte_digests_so_a_long_conversation_keeps_a_small_item(store, clock):
    """Cloud API ids are ~60 characters: 300 of them remembered as strings made every write of the
    conversation item cost ~18 WRU; as digests the item stays under 3 KB."""
    from util import cost

    for burst in range(100):
        for i in range(3):
            append(store, "ok", clock, message_id=f"wamid.HBgNNTU0NDk5OTk5OTk5ORUCABIYFjNFQjB{burst:04d}{i}RDI2QTFEMUI0RTUxAA==")
            clock.now += 1
        clock.now += 60
        deliver(store, store.claim(APP, PHONE, store.get(APP, PHONE).seq))
    raw = store._ddb.get_item(TableName=store.table_name, Key={"pk": {"S": f"CONV#{APP}#{PHONE}"}, "sk": {"S": "META"}})["Item"]
    assert {len(digest) for name in ("idh_cur", "idh_prev") for digest in raw[name]["BS"]} == {8}
    assert 256 < len(raw["idh_cur"]["BS"]) + len(raw["idh_prev"]["BS"]) == 300
    assert cost.item_size(raw) < 3 * 1024
    assert append(store, "ok", clock, message_id="wamid.HBgNNTU0NDk5OTk5OTk5ORUCABIYFjNFQjB00000RDI2QTFEMUI0RTUxAA==").duplicate


def test_duplicate_ids_are_per_conversation(store):
    assert not append(store, "a", message_id="same").duplicate
    other = store.append(APP, msg("a", message_id="same", sender="5511888888888"), latest_due=0)
    assert not other.duplicate


def test_a_burst_far_larger_than_one_item_is_sealed_into_chunks_and_delivered_whole(store):
    # 1,000 messages of 1 KB of hex: stored compressed, still about 600 bytes each
    texts = [f"{i:04d} " + "".join(hashlib.sha512(f"{i}.{k}".encode()).hexdigest() for k in range(8))
             for i in range(1000)]
    for i, text in enumerate(texts):
        store.append(APP, msg(text, message_id=f"wamid.{i}"), latest_due=0)
    state = store.get(APP, PHONE)
    assert state.seq == 1000
    assert state.msgs_base > 0  # most of it lives in chunks
    assert sum(entry_size(e) for e in state.msgs) <= INLINE_LIMIT_BYTES
    raw = store.read_item(APP, PHONE)
    remembered = len(raw.get("idh_cur", ())) + len(raw.get("idh_prev", ()))
    # rotated at the seals (idh_cur past DEDUP_MAX_IDS moves to idh_prev): the item stays small
    per_seal = min(INLINE_LIMIT_MESSAGES, INLINE_LIMIT_BYTES // message_size(msg(texts[0], message_id="wamid.0")) + 1)
    assert remembered <= 2 * (DEDUP_MAX_IDS + per_seal)
    assert store.append(APP, msg(texts[-1], message_id="wamid.999"), latest_due=0).duplicate  # a recent retry
    outcome = store.claim(APP, PHONE, 1000)
    assert deliver(store, outcome) == texts


def test_concurrent_appends_get_distinct_sequence_numbers_and_all_reach_one_batch(store):
    texts = [f"m{i}" for i in range(60)]
    errors = []

    def send(chunk):
        try:
            for text in chunk:
                store.append(APP, msg(text), latest_due=0)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with local_aws.serialize_moto_requests():
        threads = [threading.Thread(target=send, args=(texts[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    state = store.get(APP, PHONE)
    assert state.seq == 60
    delivered = deliver(store, store.claim(APP, PHONE, 60))
    assert sorted(delivered) == sorted(texts) and len(delivered) == 60
    for i in range(4):  # each sender's own messages keep their order
        mine = [t for t in delivered if t in texts[i::4]]
        assert mine == texts[i::4]


def test_a_message_appended_while_a_delivery_trims_the_item_keeps_its_bytes_counted(store, monkeypatch):
    # GIVEN a claimed batch ("a") with a message pending behind it ("b")
    append(store, "a")
    outcome = store.claim(APP, PHONE, 1)
    append(store, "b")
    real_get_raw = store.read_item
    racers = []

    def get_raw_then_an_append(*args, **kwargs):
        item = real_get_raw(*args, **kwargs)
        if not racers:  # WHEN a message lands between mark_delivered's read and its write
            racers.append(append(store, "c" * 1000))
        return item

    monkeypatch.setattr(store, "read_item", get_raw_then_an_append)
    store.mark_delivered(outcome.batch)
    monkeypatch.setattr(store, "read_item", real_get_raw)
    # THEN the item counts exactly the texts still on it (the seal-before-400-KB rule reads this count)
    raw = store.read_item(APP, PHONE)
    assert [entry_text(e) for e in raw["msgs"]] == ["b", "c" * 1000]
    assert int(raw["msgs_bytes"]) == sum(message_size(msg(t)) for t in ("b", "c" * 1000))


ORDER_QUESTION = (
    "Oi, boa tarde! Eu fiz um pedido na semana passada, o número é 48213, e até agora não recebi nenhuma "
    "atualização sobre a entrega. No site aparece que o pagamento foi aprovado, mas o status continua como "
    "'em separação' desde segunda-feira. Vocês conseguem verificar o que aconteceu? Preciso do produto até "
    "sexta porque é presente de aniversário da minha mãe. Se não der para chegar a tempo, prefiro cancelar e "
    "receber o reembolso no cartão. O endereço de entrega está com o complemento errado: é apartamento 302 e "
    "não 320. Obrigada pela atenção, fico no aguardo. 🙏"
)


def test_long_texts_are_stored_compressed_and_every_reader_gets_them_back_exact(store):
    import random
    import string

    rng = random.Random(7)

    def noise(n):  # DEFLATE saves less than a tenth of it
        return "".join(rng.choice(string.ascii_letters + string.digits + string.punctuation) for _ in range(n))

    medium = ORDER_QUESTION[:300]  # compressed under TEXT_ITEM_MIN_BYTES: stays on the entry
    texts = ["oi", medium, ORDER_QUESTION, ORDER_QUESTION.upper() + " 👍🏽", noise(200), noise(300)]
    for i, text in enumerate(texts):
        append(store, text, message_id=f"wamid.{i}")
    raw = store.read_item(APP, PHONE)
    # chat lines and short incompressible texts as they are, a medium one compressed on the entry,
    # the long ones in TEXT items of their own (compressed when that saves a tenth), counted so
    assert [sorted(k for k in e if k in ("t", "z", "r")) for e in raw["msgs"]] == [["t"], ["z"], ["r"], ["r"], ["t"], ["r"]]
    assert len(bytes(raw["msgs"][1]["z"])) < TEXT_ITEM_MIN_BYTES <= len(medium.encode())
    text_items = {item["sk"]: item for item in _items(store) if item["sk"].startswith("TEXT#")}
    stored = [text_items[text_sk(raw["msgs"][i]["r"])] for i in (2, 3, 5)]
    assert [sorted(k for k in item if k in ("t", "z")) for item in stored] == [["z"], ["z"], ["t"]]
    assert len(bytes(stored[0]["z"])) < 0.7 * len(ORDER_QUESTION.encode())
    assert int(raw["msgs_bytes"]) == sum(entry_size(e) for e in raw["msgs"]) < 6 * 200
    assert [entry_text(e) for e in raw["msgs"] if "r" not in e] == [texts[i] for i in (0, 1, 4)]
    outcome = store.claim(APP, PHONE, 6)
    assert [m.text for m in outcome.batch.messages] == texts  # delivered from the claim's read
    store.seal_through(APP, PHONE, 6)  # as a parked batch is: into a CHUNK item
    assert store.read_item(APP, PHONE).get("msgs") is None
    assert [m.text for m in store.load_messages(APP, PHONE, 1, 6)] == texts


def test_a_long_text_is_written_to_its_text_item_before_the_append_that_refers_to_it(store, monkeypatch):
    """A failed append leaves no reference without its text, and its retry (the provider's) appends once."""
    from botocore.exceptions import ClientError

    real_update = store._ddb.update_item
    calls = []

    class Ddb:
        def __getattr__(self, name):
            return getattr(local_ddb, name)

        def put_item(self, **kwargs):
            calls.append("PutItem")
            return local_ddb.put_item(**kwargs)

        def update_item(self, **kwargs):
            calls.append("UpdateItem")
            if len(calls) == 2:
                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
            return real_update(**kwargs)

    local_ddb = store._ddb
    monkeypatch.setattr(type(store), "_ddb", property(lambda self: Ddb()))
    try:
        append(store, ORDER_QUESTION, message_id="wamid.long")
    except ClientError:
        pass
    else:
        raise AssertionError("the injected UpdateItem failure did not surface")
    assert calls == ["PutItem", "UpdateItem"]  # the text first
    assert store.get(APP, PHONE) is None  # nothing refers to it: the message was not accepted
    assert not append(store, ORDER_QUESTION, message_id="wamid.long").duplicate  # the provider's retry
    assert append(store, ORDER_QUESTION, message_id="wamid.long").duplicate
    assert len([i for i in _items(store) if i["sk"].startswith("TEXT#")]) == 1  # the same item, written again
    outcome = store.claim(APP, PHONE, 1)
    assert [m.text for m in outcome.batch.messages] == [ORDER_QUESTION]


def test_a_missing_text_item_fails_the_read_loudly(store):
    append(store, ORDER_QUESTION, message_id="wamid.long")
    (text_item,) = [i for i in _items(store) if i["sk"].startswith("TEXT#")]
    store._ddb.delete_item(TableName=store.table_name, Key={"pk": {"S": text_item["pk"]}, "sk": {"S": text_item["sk"]}})
    with pytest.raises(RuntimeError, match="missing"):
        store.claim(APP, PHONE, 1)


def _items(store) -> list[dict]:
    from gateway.store import from_ddb

    return [from_ddb(i) for i in store._ddb.scan(TableName=store.table_name)["Items"]]


def test_a_long_burst_of_short_texts_is_sealed_every_inline_limit_messages(store):
    """Each append rewrites the whole item: 150 chat lines must not pile up on it (64 at most)."""
    texts = [f"ok {i}" for i in range(150)]
    sizes = []
    for i, text in enumerate(texts):
        append(store, text, message_id=f"wamid.{i}")
        sizes.append(len(store.read_item(APP, PHONE).get("msgs") or []))
    assert max(sizes) == INLINE_LIMIT_MESSAGES == 64
    state = store.get(APP, PHONE)
    assert state.msgs_base == 128 and len(state.msgs) == 22  # sealed twice, at 64 and 128
    assert deliver(store, store.claim(APP, PHONE, 150)) == texts
