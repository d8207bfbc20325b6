"""LLM bot: answers each batch with a chat-completions API, by the gateway's send queue.

The shape of a real bot behind the gateway; the standard library and boto3 (in the Lambda Python
runtime) only, so this one file is the whole deployment package. Copy the folder to start yours.

The event (one batch: the burst of one conversation) is described by
lambda/gateway/schemas/batch.schema.json; lambda/examples/events/batch.json is one. The bot:

1. skips a batch_id it has answered (a retried or redriven batch carries the same batch_id);
2. POSTs the batch to LLM_API_URL, an OpenAI-style chat-completions endpoint, with a timeout that
   fits the time the invocation has left;
3. puts the answer on the send queue (REPLY_QUEUE_URL) as {"app_id", "phone_number",
   "message_to_send"}; the gateway sends it through the app's provider, split if it is too long;
4. raises on any failure (the API's error status, a timeout, an unreadable answer, the queue), so the
   gateway retries the batch with backoff and, when the retries are spent, parks it on the
   failed-batch queue for a redrive.

Environment:

    LLM_API_URL         https://api.openai.com/v1/chat/completions, or any compatible endpoint
                        (a local Ollama: http://127.0.0.1:11434/v1/chat/completions)
    LLM_API_KEY         sent as "Authorization: Bearer ..." (optional: a local server needs none)
    LLM_MODEL           default "gpt-4o-mini"
    LLM_SYSTEM_PROMPT   optional
    LLM_TIMEOUT_SECONDS the most one API call may take (default 20); never more than the time left
    REPLY_QUEUE_URL     the gateway's send queue (the `send_queue_url` output; `make run` sets it)
    ANSWERED_TABLE      optional: a DynamoDB table (partition key `batch_id`, a string; TTL on
                        `expires_at`) remembering the batches answered, across containers

Timeouts: the gateway's process_message waits for this bot (60 s by default) and this bot's own
Lambda timeout ends it. The API call gets LLM_TIMEOUT_SECONDS, cut to what is left of the
invocation (context.get_remaining_time_in_millis()) minus RESERVE_SECONDS for the queue and the
bookkeeping; with too little left it raises at once rather than start a call it cannot finish.

Idempotency: the gateway delivers a batch at least once. Here a batch_id is remembered once its
answer is on the queue: in memory (a warm container, and the whole of a `make run`) and, when
ANSWERED_TABLE is set, by a conditional put in DynamoDB, read back before answering. Production
choice: keep the table. Memory alone forgets on every cold start and is not shared between
concurrent containers. The table leaves one window: a crash after the answer is queued and before
the put, whose retry answers again. To close it too, claim the batch_id before the call (a
conditional put with a lease, released on failure), which Powertools' idempotency utility does
(aws_lambda_powertools.utilities.idempotency with event_key_jmespath="batch_id").
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from functools import cache

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

RESERVE_SECONDS = 3.0  # kept back from the API call for the queue and the idempotency write
MIN_CALL_SECONDS = 1.0  # less than this left for the call: fail now, the retry gets a whole invocation
ANSWERED_DAYS = 15  # how long the table remembers a batch_id: past the failed-batch queue's 14 days

_answered: set[str] = set()  # the batch_ids this container answered


class LLMError(RuntimeError):
    """The API failed this batch; raised, so the gateway retries it."""


@cache
def sqs():
    return boto3.client("sqs", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2}))


@cache
def dynamodb():
    return boto3.client("dynamodb", config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2}))


def lambda_handler(event, context):
    batch_id = event["batch_id"]
    if already_answered(batch_id):
        print(f"batch {batch_id} already answered: skipped")
        return {"skipped": True, "batch_id": batch_id}
    timeout = call_timeout(context)
    answer = complete(conversation(event), timeout)
    reply = {"app_id": event["app_id"], "phone_number": event["phone_number"], "message_to_send": answer}
    sqs().send_message(QueueUrl=os.environ["REPLY_QUEUE_URL"], MessageBody=json.dumps(reply))
    remember(batch_id)
    return {"answered": True, "batch_id": batch_id}


def call_timeout(context) -> float:
    """Seconds the API call may take: LLM_TIMEOUT_SECONDS, or less if the invocation ends sooner."""
    wanted = float(os.environ.get("LLM_TIMEOUT_SECONDS") or 20)
    left = context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
    if left < MIN_CALL_SECONDS:
        raise LLMError(f"only {left + RESERVE_SECONDS:.1f} s left in this invocation: not calling the API")
    return min(wanted, left)


def conversation(event) -> list[dict]:
    """The chat messages for the API: the system prompt, then the burst as one user turn. In a group
    each line says who wrote it; media arrive as placeholders ("[image] <id>"), kept as they are."""
    lines = []
    for message in event["messages"]:
        author = message.get("author") or {}
        who = author.get("name") or author.get("id")
        lines.append(f"{who}: {message['text']}" if who else message["text"])
    chat = [{"role": "user", "content": "\n".join(lines)}]
    system = os.environ.get("LLM_SYSTEM_PROMPT")
    return ([{"role": "system", "content": system}] if system else []) + chat


def complete(messages: list[dict], timeout: float) -> str:
    """One chat-completions call; the answer's text, or LLMError."""
    body = {"model": os.environ.get("LLM_MODEL") or "gpt-4o-mini", "messages": messages}
    headers = {"Content-Type": "application/json"}
    if os.environ.get("LLM_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['LLM_API_KEY']}"
    url = os.environ.get("LLM_API_URL")
    if not url:
        raise LLMError("LLM_API_URL is not set: the chat-completions endpoint to call")
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        # The timeout bounds the connection and each read (a server that trickles bytes can take
        # longer in all; the Lambda's own timeout ends that, and the gateway retries).
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        # 429 and 5xx pass; 401, 403, 404 need you (a key, a URL): raised all the same, so the batch
        # is parked when the retries are spent and can be redriven once fixed.
        raise LLMError(f"the LLM API answered HTTP {exc.code}") from None
    except (TimeoutError, socket.timeout):
        raise LLMError(f"the LLM API did not answer within {timeout:.1f} s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise LLMError(f"the LLM API did not answer within {timeout:.1f} s") from None
        raise LLMError(f"could not reach the LLM API: {exc.reason}") from None
    try:
        text = json.loads(data)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError("the LLM API's answer has no choices[0].message.content") from None
    if not isinstance(text, str) or not text.strip():
        raise LLMError("the LLM API answered with an empty message")
    return text.strip()


def already_answered(batch_id: str) -> bool:
    if batch_id in _answered:
        return True
    table = os.environ.get("ANSWERED_TABLE")
    if not table:
        return False
    item = dynamodb().get_item(TableName=table, Key={"batch_id": {"S": batch_id}}, ConsistentRead=True).get("Item")
    if item:
        _answered.add(batch_id)
    return bool(item)


def remember(batch_id: str) -> None:
    _answered.add(batch_id)
    table = os.environ.get("ANSWERED_TABLE")
    if not table:
        return
    try:
        dynamodb().put_item(
            TableName=table,
            Item={"batch_id": {"S": batch_id},
                  "expires_at": {"N": str(int(time.time()) + ANSWERED_DAYS * 86400)}},
            ConditionExpression="attribute_not_exists(batch_id)",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return  # another delivery of the same batch answered it too
        problem = exc.response["Error"]["Code"]
    except BotoCoreError as exc:
        problem = type(exc).__name__
    else:
        return
    # The answer is on the queue already: raising would make the gateway retry and answer again.
    print(f"batch {batch_id} answered but not remembered in {table}: {problem}")
