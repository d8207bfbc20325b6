"""Echo bot: the smallest app behind the gateway. Copy this folder to write your own bot.

The gateway invokes your Lambda once per burst ("batch") of one conversation, synchronously,
with this event:

    {"app_id": "demo", "phone_number": "5544999999999",
     "message": "hi\nI have a question",            # the burst's texts, joined by newlines
     "messages": [{"id": "...", "text": "hi", "timestamp": 1700000000}, ...],
     "batch_id": "<conversation>-<first seq>-<last seq>"}

To answer, put one JSON message per reply on the send queue; the gateway POSTs it to the app's
messaging API. Raising an exception makes the gateway retry the same batch later.

Idempotency: a retried delivery carries the SAME batch_id (it is derived from the batch's sequence
range). If your bot has side effects, remember the batch_ids you handled (e.g. a conditional put in
DynamoDB) and skip a repeat, so a retry does not answer twice.
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
