"""Echo bot: the smallest app behind the gateway. Copy this folder to write your own bot.

The gateway invokes your Lambda once per burst ("batch") of one conversation, synchronously,
with this event (its JSON Schema is lambda/gateway/schemas/batch.schema.json; a whole one is
lambda/examples/events/batch.json):

    {"app_id": "demo", "phone_number": "5544999999999",
     "message": "hi\nI have a question",            # the burst's texts, joined by newlines
     "messages": [{"id": "3EB0...", "text": "hi", "timestamp": 1700000000, "kind": "text"}, ...],
     "batch_id": "4d56a977706f29732685-1700000000000-1-2"}

- messages[]: oldest first. `kind` is "text", or what else was sent ("image", "audio", "location",
  ...: its `text` is then the caption, or a placeholder such as "[image] <media id>"). In a group
  chat (`phone_number` is then the group's id) a message carries `author`, {"id", "name"} (either
  may be absent), when the provider says who wrote it.
- batch_id: `<conversation>-<epoch>-<first seq>-<last seq>`: the conversation's id (20 hex digits,
  a hash of app_id and phone_number), when the conversation's record was created (ms since 1970),
  and the range of its message sequence numbers this batch holds.

To answer, put one JSON message per reply on the send queue; the gateway POSTs it to the app's
messaging API. Raising an exception makes the gateway retry the same batch later.

Idempotency: a retried or redriven delivery carries the SAME batch_id and the same messages. If
your bot has side effects, remember the batch_ids you handled (e.g. a conditional put in DynamoDB)
and skip a repeat, so a retry does not answer twice: lambda/examples/llm_bot does.
"""

import json
import os
from functools import cache

import boto3
from botocore.config import Config


@cache
def sqs():
    # Made on first use, not at import, so tests can patch AWS first. Always set timeouts.
    return boto3.client("sqs", config=Config(connect_timeout=3, read_timeout=10))


def lambda_handler(event, context):
    reply = {
        "app_id": event["app_id"],
        "phone_number": event["phone_number"],
        "message_to_send": event["message"],  # your bot's answer goes here; we echo the burst
    }
    sqs().send_message(QueueUrl=os.environ["REPLY_QUEUE_URL"], MessageBody=json.dumps(reply))
    return {"ok": True}
