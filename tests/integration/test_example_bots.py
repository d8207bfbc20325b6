"""The example bots of lambda/examples/ on the sample batch of lambda/examples/events/, with the send
queue on moto and a local HTTP server standing in for the LLM API."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import batch_schema
from llm_server import FakeLLM
from gateway.models import conversation_id
from util.local_gateway import bots, invoke

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "lambda" / "examples" / "events"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


class Context:
    function_name = "llm-bot"

    def __init__(self, seconds: float = 30):
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


@pytest.fixture
def queue(monkeypatch):
    with mock_aws():
        url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="debouncer-send")["QueueUrl"]
        monkeypatch.setenv("REPLY_QUEUE_URL", url)
        yield url


def replies(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    found = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return found
        for message in got:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def llm(monkeypatch):
    fake = FakeLLM()
    monkeypatch.setenv("LLM_API_URL", fake.url)
    monkeypatch.setenv("LLM_API_KEY", "sk-local")
    monkeypatch.delenv("ANSWERED_TABLE", raising=False)
    yield fake
    fake.close()


def llm_bot():
    """A fresh container of the LLM bot (its module loaded anew, its memory empty): its handler as it
    is, called with the test's Context."""
    return bots.load(bots.find("llm_bot")).__wrapped__


# --- the sample events --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["batch.json", "batch_group.json"])
def test_the_sample_batches_match_the_schema_and_the_real_batch_id(name):
    event = load_event(name)
    batch_schema.check(event)
    assert event["message"] == "\n".join(m["text"] for m in event["messages"])
    conversation, epoch, first, last = event["batch_id"].rsplit("-", 3)
    assert conversation == conversation_id(event["app_id"], event["phone_number"])
    assert int(last) - int(first) + 1 == len(event["messages"]) and int(epoch) > 0


def test_the_echo_bot_answers_the_sample_batch_once(queue):
    event = load_event("batch.json")
    assert bots.load(bots.find("echo_bot"))(event, Context()) == {"ok": True}
    assert replies(queue) == [{"app_id": "demo", "phone_number": "5544999999999", "message_to_send": event["message"]}]


# --- the LLM bot --------------------------------------------------------------------------------


def test_the_llm_bot_asks_the_api_and_answers_by_the_queue(queue, llm, monkeypatch):
    monkeypatch.setenv("LLM_MODEL", "local-model")
    monkeypatch.setenv("LLM_SYSTEM_PROMPT", "You answer a shop's customers.")
    result = llm_bot()(load_event("batch.json"), Context())
    assert result == {"answered": True, "batch_id": load_event("batch.json")["batch_id"]}
    assert replies(queue) == [{"app_id": "demo", "phone_number": "5544999999999",
                               "message_to_send": "Your order ships today."}]
    [request] = llm.requests
    assert request["headers"]["Authorization"] == "Bearer sk-local"
    assert request["body"] == {"model": "local-model", "messages": [
        {"role": "system", "content": "You answer a shop's customers."},
        {"role": "user", "content": "hi\nI have a question\nabout my order\n[image] 65463453"}]}


def test_in_a_group_each_line_says_who_wrote_it(queue, llm):
    llm_bot()(load_event("batch_group.json"), Context())
    assert llm.requests[0]["body"]["messages"] == [
        {"role": "user", "content": "Ana: who is bringing the cake?\nBia: I can\nAna: perfect, thanks Bia"}]


def test_a_repeated_batch_id_is_skipped(queue, llm):
    bot, event = llm_bot(), load_event("batch.json")
    bot(event, Context())
    assert bot(event, Context()) == {"skipped": True, "batch_id": event["batch_id"]}
    assert len(llm.requests) == 1 and len(replies(queue)) == 1
    llm_bot()(event, Context())  # another container, without the table: it answers again
    assert len(llm.requests) == 2


def test_with_the_table_a_repeat_is_skipped_by_every_container(queue, llm, monkeypatch):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(TableName="llm-bot-answered", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "batch_id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "batch_id", "KeyType": "HASH"}])
    monkeypatch.setenv("ANSWERED_TABLE", "llm-bot-answered")
    event = load_event("batch.json")
    llm_bot()(event, Context())
    assert llm_bot()(event, Context())["skipped"] is True
    assert len(llm.requests) == 1 and len(replies(queue)) == 1
    item = dynamodb.get_item(TableName="llm-bot-answered", Key={"batch_id": {"S": event["batch_id"]}})["Item"]
    assert int(item["expires_at"]["N"]) > time.time() + 14 * 86400


def test_a_slow_api_times_out_within_the_invocation_s_budget_and_raises(queue, llm, monkeypatch):
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "20")
    llm.delay_seconds = 3
    started = time.monotonic()
    with pytest.raises(Exception, match=r"did not answer within 1\.5 s") as error:
        llm_bot()(load_event("batch.json"), Context(seconds=4.5))  # 4.5 s left, 3 s kept for the queue
    assert type(error.value).__name__ == "LLMError"
    assert time.monotonic() - started < 2.9 and replies(queue) == []
    # not remembered: the gateway's retry is answered
    llm.delay_seconds = 0
    assert llm_bot()(load_event("batch.json"), Context())["answered"] is True


def test_an_api_error_raises_so_the_gateway_retries_and_too_little_time_left_calls_nothing(queue, llm):
    bot, event = llm_bot(), load_event("batch.json")
    llm.statuses = [503]
    with pytest.raises(Exception, match="the LLM API answered HTTP 503"):
        bot(event, Context())
    with pytest.raises(Exception, match="not calling the API"):
        bot(event, Context(seconds=3.5))
    assert len(llm.requests) == 1 and replies(queue) == []
    assert bot(event, Context())["answered"] is True  # the retry, once the API is back


def test_an_unreachable_or_unset_api_raises(queue, monkeypatch):
    monkeypatch.setenv("LLM_API_URL", "http://127.0.0.1:9/v1/chat/completions")  # nothing listens on port 9
    with pytest.raises(Exception, match="could not reach the LLM API"):
        llm_bot()(load_event("batch.json"), Context())
    monkeypatch.delenv("LLM_API_URL")
    with pytest.raises(Exception, match="LLM_API_URL is not set"):
        llm_bot()(load_event("batch.json"), Context())


# --- python -m util.local_gateway.invoke --------------------------------------------------------


def test_invoke_runs_one_bot_on_one_batch_and_prints_its_replies():
    out = io.StringIO()
    assert invoke.invoke("echo_bot", load_event("batch.json"), out) == 0
    lines = out.getvalue().splitlines()
    assert lines[:2] == ['returned {"ok": true}', "1 reply queued"]
    assert json.loads(lines[2])["message_to_send"] == load_event("batch.json")["message"]


def test_invoke_shows_what_the_bot_raised_from_the_bot_s_frames(monkeypatch, llm):
    llm.statuses = [500]
    out = io.StringIO()
    assert invoke.invoke("llm_bot", load_event("batch.json"), out) == 1
    text = out.getvalue()
    assert "LLMError: the LLM API answered HTTP 500" in text and "llm_bot/handler.py" in text
    assert "util/local_gateway" not in text and text.rstrip().endswith("0 replies queued")
