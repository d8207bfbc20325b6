"""Redrive failed batches: replay each batch on the failed-batch queue to its app's Lambda.

    .venv/bin/python util/redrive.py --name-prefix debouncer --dry-run   # list them, change nothing
    .venv/bin/python util/redrive.py --name-prefix debouncer             # replay them

The queue, the table and the app -> Lambda map are read from the deployed process_message
function's environment (FAILED_BATCHES_QUEUE_URL, TABLE_NAME, PROCESSING_LAMBDAS_MAP of
"<name-prefix>-process-message", or of --function NAME). --queue-url, --table and
--processing-lambdas, or those environment variables, override them one by one. Uses the AWS
credentials and region of the environment (or --region).

A batch is re-sent with its original batch_id, so a bot that deduplicates ignores one it already
handled. Messages are held (invisible) only while the run looks at them: a dry run puts every
message back, visible, as soon as it has listed them; a real run deletes each batch it delivered
and puts each batch that failed again back, visible, when it ends (the queue's alarm sees it
again, the next run tries it again). Exit status: 1 when a batch failed again, else 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda"))

from gateway import aws  # noqa: E402
from gateway.dispatch import LambdaInvoker  # noqa: E402
from gateway.errors import AppInvocationError  # noqa: E402
from gateway.models import Batch  # noqa: E402
from gateway.store import ConversationStore  # noqa: E402

# How long a dry run hides the messages it received while it lists the queue: long enough that a
# message it has listed is not received again before the listing ends (it then puts them all back
# at once); short enough that a listing killed outright leaves them hidden only for a minute.
LIST_HOLD_SECONDS = 60
# How long a real run hides the one batch it is delivering: longer than an invoke can last (a
# Lambda runs 15 minutes at most). Renewed before each further part of a batch split in parts.
INVOKE_HOLD_SECONDS = 960
# Long polling (asks every SQS server): a short poll samples some of them and can answer "empty"
# while the queue holds messages.
WAIT_SECONDS = 1
# Receives in a row that bring only messages this run has seen before (SQS delivers at least
# once, and a hold can run out) before the run stops looking.
MAX_STALE_RECEIVES = 3

# Where each setting comes from in the deployed process_message function's environment.
DEPLOYED_VARIABLES = {"queue_url": "FAILED_BATCHES_QUEUE_URL", "table": "TABLE_NAME",
                      "processing_lambdas": "PROCESSING_LAMBDAS_MAP"}


def redrive(queue_url: str, table_name: str, processing_lambdas: dict[str, str], *, dry_run: bool = False,
            invoker: LambdaInvoker | None = None, out=None, wait_seconds: int = WAIT_SECONDS) -> dict:
    """List (``dry_run``) or replay every batch on the failed-batch queue; returns the counts
    ``{"redriven", "failed", "listed"}``. Whatever the run does not delete is visible again when it
    returns (or raises). Reports to ``out`` (default stdout)."""
    out = sys.stdout if out is None else out
    sqs = aws.client("sqs")
    store = ConversationStore(table_name)
    invoker = invoker or LambdaInvoker()
    counts = {"redriven": 0, "failed": 0, "listed": 0}
    outcome: dict[str, str] = {}  # MessageId -> "listed", "redriven" or "failed"
    held: dict[str, str] = {}  # MessageId -> latest receipt handle, of the messages to put back
    stale = 0
    try:
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10 if dry_run else 1,  # a real run holds only the batch it delivers
                VisibilityTimeout=LIST_HOLD_SECONDS if dry_run else INVOKE_HOLD_SECONDS,
                WaitTimeSeconds=wait_seconds,
            ).get("Messages", [])
            if not messages:
                break
            new = [m for m in messages if m["MessageId"] not in outcome]
            for message in messages:
                if message["MessageId"] in outcome:
                    _seen_again(sqs, queue_url, message, outcome, held)
            if not new:
                stale += 1
                if stale >= MAX_STALE_RECEIVES:
                    break
                continue
            stale = 0
            for message in new:
                message_id, handle = message["MessageId"], message["ReceiptHandle"]
                held[message_id] = handle  # until it is delivered and deleted, put back whatever happens
                try:
                    record = json.loads(message["Body"])
                    batch, problem = _batch_of(record), None
                except (ValueError, KeyError, TypeError) as exc:
                    record, batch, problem = {}, None, f"unreadable record {message_id}: {str(exc)[:100]}"
                if isinstance(batch, AsyncFailure):
                    record = {"error": batch.error}
                if dry_run:
                    outcome[message_id] = "listed"
                    counts["listed"] += 1
                    if batch is None:
                        print(problem, file=out)
                    else:
                        print(f"{batch.batch_id}  app={batch.app_id}  messages={batch.message_count}"
                              f"  error={record.get('error', '')}", file=out)
                    continue
                try:
                    if batch is None:
                        raise ValueError(problem)
                    _deliver(batch, store, invoker, processing_lambdas,
                             renew=functools.partial(sqs.change_message_visibility, QueueUrl=queue_url,
                                                     ReceiptHandle=handle, VisibilityTimeout=INVOKE_HOLD_SECONDS))
                except Exception as exc:  # noqa: BLE001 - reported; the batch goes back on the queue
                    outcome[message_id] = "failed"
                    counts["failed"] += 1
                    print(f"{batch.batch_id if batch else message_id}  still failing: {str(exc)[:200]}", file=out)
                    continue
                outcome[message_id] = "redriven"
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
                del held[message_id]
                counts["redriven"] += 1
                print(f"{batch.batch_id}  redriven", file=out)
    finally:
        _put_back(sqs, queue_url, held, out, LIST_HOLD_SECONDS if dry_run else INVOKE_HOLD_SECONDS)
    if not outcome:
        print("no failed batches on the queue", file=out)
    elif counts["failed"]:
        print(f"{counts['failed']} batch(es) failed again and are back on the queue, visible: "
              "fix the cause and run again", file=out)
    print(json.dumps(counts), file=out)
    return counts


class ParkedBatch(Batch):
    """A batch process_message parked after the state machine's retries: its messages are read back
    from the table."""

    @property
    def message_count(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclasses.dataclass(frozen=True)
class AsyncFailure:
    """Lambda's on-failure record of an app invoked asynchronously: the batch event it could not
    process after Lambda's retries is in it whole (requestPayload)."""

    payload: dict
    error: str

    @property
    def batch_id(self) -> str:
        return str(self.payload["batch_id"])

    @property
    def app_id(self) -> str:
        return str(self.payload["app_id"])

    @property
    def message_count(self) -> int:
        return len(self.payload.get("messages") or [])


def _batch_of(record: dict) -> "ParkedBatch | AsyncFailure":
    if "requestPayload" in record:
        payload = record["requestPayload"]
        if not isinstance(payload, dict) or not payload.get("batch_id") or not payload.get("app_id"):
            raise ValueError("a Lambda on-failure record without a batch event")
        response = record.get("responsePayload") or {}
        error = response.get("errorMessage", "") if isinstance(response, dict) else str(response)
        condition = (record.get("requestContext") or {}).get("condition", "")
        return AsyncFailure(payload, f"{condition}: {error}"[:200] if condition else str(error)[:200])
    return ParkedBatch(str(record["app_id"]), str(record["sender"]), int(record["first_seq"]),
                       int(record["last_seq"]), epoch=int(record["epoch"]))


def _deliver(batch: "ParkedBatch | AsyncFailure", store: ConversationStore, invoker: LambdaInvoker,
             processing_lambdas: dict[str, str], *, renew) -> None:
    function_name = processing_lambdas.get(batch.app_id)
    if not function_name:
        raise AppInvocationError(f"no processing Lambda is configured for app {batch.app_id!r}")
    if isinstance(batch, AsyncFailure):  # the same event again, batch_id and all
        invoker.invoke(function_name, batch.payload)
        return
    messages = store.load_messages(batch.app_id, batch.sender, batch.first_seq, batch.last_seq)
    full = Batch(batch.app_id, batch.sender, batch.first_seq, batch.last_seq, messages, epoch=batch.epoch)
    for number, part in enumerate(full.parts()):  # a batch whose payload passes the cap goes out in parts
        if number:
            renew()  # each invoke may take up to the hold: keep the batch hidden for the next one
        invoker.invoke(function_name, part.payload())


def _seen_again(sqs, queue_url: str, message: dict, outcome: dict[str, str], held: dict[str, str]) -> None:
    """A message this run received before (SQS delivers at least once; a hold can run out): the copy
    of a delivered batch is deleted, the handle of one to put back is replaced by this newer one."""
    if outcome[message["MessageId"]] == "redriven":
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    else:
        held[message["MessageId"]] = message["ReceiptHandle"]


def _put_back(sqs, queue_url: str, held: dict[str, str], out, hold_seconds: int) -> None:
    """Make the held messages visible again now (visibility timeout 0), ten per call."""
    handles = list(held.values())
    failed = 0
    for start in range(0, len(handles), 10):
        entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                   for i, h in enumerate(handles[start:start + 10])]
        try:
            failed += len(sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries).get("Failed", []))
        except Exception:  # noqa: BLE001 - reported below; their hold runs out on its own
            failed += len(entries)
    if failed:
        print(f"warning: {failed} message(s) could not be put back at once; they are visible again within "
              f"{hold_seconds} s", file=out)


def process_message_function(name_prefix: str) -> str:
    """The process_message function's name, as main.tf names it."""
    return f"{name_prefix}-process-message"


def deployed_settings(function_name: str) -> dict[str, str]:
    """``queue_url``, ``table`` and ``processing_lambdas`` (JSON) from the deployed function's
    environment (lambda:GetFunctionConfiguration); the variables it lacks are left out."""
    config = aws.client("lambda").get_function_configuration(FunctionName=function_name)
    environment = config.get("Environment") or {}
    if environment.get("Error"):  # e.g. no kms:Decrypt on the environment's customer managed key
        error = environment["Error"]
        raise RuntimeError(f"the environment of {function_name} is unreadable: "
                           f"{error.get('ErrorCode', '')} {error.get('Message', '')}".strip())
    variables = environment.get("Variables") or {}
    return {key: variables[name] for key, name in DEPLOYED_VARIABLES.items() if variables.get(name)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="list the failed batches, change nothing")
    parser.add_argument("--name-prefix", default="debouncer",
                        help="the stack's name_prefix (default debouncer): reads <prefix>-process-message")
    parser.add_argument("--function", help="the process_message function to read the settings from "
                                           "(default <name-prefix>-process-message)")
    parser.add_argument("--queue-url", default=os.environ.get("FAILED_BATCHES_QUEUE_URL"),
                        help="failed-batch queue URL (env FAILED_BATCHES_QUEUE_URL; default: the function's)")
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"),
                        help="conversation table (env TABLE_NAME; default: the function's)")
    parser.add_argument("--processing-lambdas", default=os.environ.get("PROCESSING_LAMBDAS_MAP"),
                        help='JSON {"app": "function"} (env PROCESSING_LAMBDAS_MAP; default: the function\'s)')
    parser.add_argument("--region", help="AWS region (default: the environment's, AWS_DEFAULT_REGION)")
    args = parser.parse_args(argv)
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
        aws.reset()
    given = {"queue_url": args.queue_url, "table": args.table, "processing_lambdas": args.processing_lambdas}
    if not all(given.values()):
        function_name = args.function or process_message_function(args.name_prefix)
        try:
            deployed = deployed_settings(function_name)
        except Exception as exc:  # noqa: BLE001 - told to the operator with what to do instead
            parser.error(f"could not read the settings of {function_name}: {str(exc)[:300]} "
                         "(check --name-prefix/--function, --region and the credentials, or pass "
                         "--queue-url, --table and --processing-lambdas)")
        missing = [DEPLOYED_VARIABLES[key] for key, value in given.items() if not value and key not in deployed]
        if missing:
            parser.error(f"{function_name} has no {', '.join(missing)} in its environment: pass them as flags")
        read = [DEPLOYED_VARIABLES[key] for key, value in given.items() if not value]
        given = {key: value or deployed[key] for key, value in given.items()}
        print(f"{', '.join(read)} read from {function_name}", file=sys.stderr)
    try:
        processing_lambdas = json.loads(given["processing_lambdas"])
        if not isinstance(processing_lambdas, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        parser.error(f"--processing-lambdas must be a JSON object of app id -> function: {exc}")
    print(f"queue {given['queue_url']}  table {given['table']}  apps {', '.join(sorted(processing_lambdas))}",
          file=sys.stderr)
    counts = redrive(given["queue_url"], given["table"], processing_lambdas, dry_run=args.dry_run)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
