"""Redrive failed batches: replay each batch on the failed-batch queue to its app's Lambda.

    python util/redrive.py --queue-url URL --table TABLE --processing-lambdas '{"bot1": "bot1-chat-lambda"}'
    (or set FAILED_BATCHES_QUEUE_URL, TABLE_NAME, PROCESSING_LAMBDAS_MAP; add --dry-run to list only)

A batch is re-sent with its original batch_id, so a bot that deduplicates ignores one it already
handled. A batch that fails again stays on the queue. Uses the AWS credentials of the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda"))

from gateway import aws  # noqa: E402
from gateway.conversations import ConversationStore  # noqa: E402
from gateway.dispatch import LambdaInvoker  # noqa: E402
from gateway.errors import AppInvocationError  # noqa: E402
from gateway.models import Batch  # noqa: E402


def redrive(queue_url: str, table_name: str, processing_lambdas: dict[str, str], *, dry_run: bool = False,
            invoker: LambdaInvoker | None = None, out=sys.stdout) -> dict:
    sqs = aws.client("sqs")
    store = ConversationStore(table_name)
    invoker = invoker or LambdaInvoker()
    counts = {"redriven": 0, "failed": 0, "listed": 0}
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                       WaitTimeSeconds=0).get("Messages", [])
        messages = [m for m in messages if m["MessageId"] not in seen]
        if not messages:
            break
        for message in messages:
            seen.add(message["MessageId"])
            record = json.loads(message["Body"])
            batch = Batch(record["app_id"], record["sender"], int(record["first_seq"]), int(record["last_seq"]),
                          epoch=int(record.get("epoch", 0)))
            if dry_run:
                counts["listed"] += 1
                print(f"{batch.batch_id}  app={batch.app_id}  messages={batch.last_seq - batch.first_seq + 1}"
                      f"  error={record.get('error', '')}", file=out)
                continue
            try:
                messages_ = store.load_messages(batch.app_id, batch.sender, batch.first_seq, batch.last_seq)
                full = Batch(batch.app_id, batch.sender, batch.first_seq, batch.last_seq, messages_, epoch=batch.epoch)
                function_name = processing_lambdas.get(batch.app_id)
                if not function_name:
                    raise AppInvocationError(f"no processing Lambda is configured for app {batch.app_id!r}")
                for part in full.parts():  # a batch whose payload passes the cap goes out in parts
                    invoker.invoke(function_name, part.payload())
            except Exception as exc:  # noqa: BLE001 - reported, the batch stays on the queue
                counts["failed"] += 1
                print(f"{batch.batch_id}  still failing: {str(exc)[:200]}", file=out)
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            counts["redriven"] += 1
            print(f"{batch.batch_id}  redriven", file=out)
    print(json.dumps(counts), file=out)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", default=os.environ.get("FAILED_BATCHES_QUEUE_URL"))
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"))
    parser.add_argument("--processing-lambdas", default=os.environ.get("PROCESSING_LAMBDAS_MAP"))
    parser.add_argument("--dry-run", action="store_true", help="list the failed batches, change nothing")
    args = parser.parse_args()
    if not (args.queue_url and args.table and args.processing_lambdas):
        parser.error("--queue-url, --table and --processing-lambdas (or their env vars) are required")
    counts = redrive(args.queue_url, args.table, json.loads(args.processing_lambdas), dry_run=args.dry_run)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
