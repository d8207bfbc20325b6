"""AWS on moto, built from the same definitions as the Terraform, with Lambda invokes run in process.

Used by the tests and by the local gateway (`make run`). Nothing here ships in a Lambda package.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
DEFINITION_TEMPLATE = ROOT / "modules" / "step_functions" / "definition.asl.json"
DYNAMODB_MODULE = ROOT / "modules" / "dynamodb" / "main.tf"

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}

Handler = Callable[[dict, Any], Any]


def render_definition(process_message_function_arn: str, *, retry_interval_seconds: int = 1,
                      retry_max_attempts: int = 3) -> str:
    """Render the state machine template exactly as Terraform's templatefile() does for it."""
    values = {
        "process_message_function_arn": process_message_function_arn,
        "retry_interval_seconds": str(retry_interval_seconds),
        "retry_max_attempts": str(retry_max_attempts),
    }
    text = DEFINITION_TEMPLATE.read_text()
    missing = set(re.findall(r"\$\{(\w+)\}", text)) - set(values)
    if missing:
        raise KeyError(f"template variables without a value: {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


def table_schema() -> dict:
    """Key schema and indexes of the conversation table, read from modules/dynamodb/main.tf."""
    hcl = DYNAMODB_MODULE.read_text()
    table = re.search(r'resource\s+"aws_dynamodb_table"\s+"this"\s*\{(.*)', hcl, re.S).group(1)
    attributes = dict(re.findall(r'attribute\s*\{\s*name\s*=\s*"(\w+)"\s*type\s*=\s*"(\w)"\s*\}', table))
    hash_key = re.search(r'^\s*hash_key\s*=\s*"(\w+)"', table, re.M).group(1)
    range_key = re.search(r'^\s*range_key\s*=\s*"(\w+)"', table, re.M).group(1)
    indexes = []
    for block in re.findall(r"global_secondary_index\s*\{(.*?)\n\s*\}", table, re.S):
        index = {
            "IndexName": re.search(r'name\s*=\s*"([\w-]+)"', block).group(1),
            "KeySchema": [
                {"AttributeName": re.search(r'hash_key\s*=\s*"(\w+)"', block).group(1), "KeyType": "HASH"},
                {"AttributeName": re.search(r'range_key\s*=\s*"(\w+)"', block).group(1), "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": re.search(r'projection_type\s*=\s*"(\w+)"', block).group(1)},
        }
        extra = re.search(r"non_key_attributes\s*=\s*\[([^\]]*)\]", block)
        if extra:
            index["Projection"]["NonKeyAttributes"] = re.findall(r'"(\w+)"', extra.group(1))
        indexes.append(index)
    return {
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in attributes.items()],
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": indexes,
    }


def create_table(name: str) -> None:
    import boto3

    schema = table_schema()
    if not schema["GlobalSecondaryIndexes"]:
        del schema["GlobalSecondaryIndexes"]
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", **schema
    )


def create_function(name: str) -> str:
    """A Lambda function record in moto; its invocations are routed by route_lambda_invocations."""
    import boto3

    iam = boto3.client("iam", region_name=REGION)
    try:
        role_arn = iam.get_role(RoleName="local-lambda")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role_arn = iam.create_role(RoleName="local-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    response = boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="handler.lambda_handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},  # never run: invocations are routed in process
    )
    return response["FunctionArn"]


def create_state_machine(name: str, process_message_function_arn: str, **render_options: Any) -> str:
    import boto3

    return boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name=name,
        definition=render_definition(process_message_function_arn, **render_options),
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/local-state-machine",
    )["stateMachineArn"]


def create_queue(name: str, *, max_receive_count: int = 3, visibility_timeout: int = 30) -> tuple[str, str]:
    """The send queue and its dead-letter queue; returns (queue_url, dlq_url)."""
    import boto3

    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    return queue_url, dlq_url


class LambdaContext:
    """The few attributes of a Lambda context object the handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_seconds: float | None = None):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())  # as long as AWS's, so logs measure true to size
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        # None: a context kept for many calls (the local run's), which always has 60 s left
        self._deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        if self._deadline is None:
            return 60_000
        return max(0, int((self._deadline - time.monotonic()) * 1000))


moto_lock = threading.RLock()


@contextlib.contextmanager
def serialize_moto_requests() -> Iterator[None]:
    """Make each moto request atomic, as AWS is per item; moto itself is not thread-safe.

    Lambda invocations are left outside the lock: they run a handler whose own requests lock.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def locked(self, request):
        if "/functions/" in request.url and request.url.rstrip("/").endswith("/invocations"):
            return original(self, request)
        with moto_lock:
            return original(self, request)

    BotocoreStubber.process_request = locked
    try:
        yield
    finally:
        BotocoreStubber.process_request = original


@dataclass(frozen=True)
class AsyncRetries:
    """Lambda's handling of an asynchronous (Event) invoke that fails: it retries the event
    ``attempts - 1`` more times (AWS: 2 retries, about 1 and 2 minutes apart; shorter here), then
    sends an invocation record to the function's on-failure destination, if one is configured
    (put_function_event_invoke_config)."""

    delays_seconds: tuple[float, ...] = (0.5, 1.0)


@contextlib.contextmanager
def route_lambda_invocations(handlers: dict[str, Handler], *, timeouts: dict[str, float] | None = None,
                             async_retries: AsyncRetries = AsyncRetries()) -> Iterator[list[tuple[str, dict]]]:
    """Run moto Lambda invocations (from boto3 or from an executing state machine) in process.

    ``handlers`` maps function name to a callable(event, context). Yields the list of
    (function_name, event) of every invocation, in order. A handler that raises becomes a
    FunctionError "Unhandled" response, as in AWS. A function named in ``timeouts`` answers
    "Task timed out" once it has run that long, as Lambda does, while the handler's thread goes on
    (a call it made, e.g. to a bot, goes on too; in AWS the bot would). An asynchronous invoke
    (InvocationType Event) is accepted at once and run in a thread of its own, with Lambda's retries
    and on-failure destination (``async_retries``).
    """
    from moto.awslambda_simple.models import LambdaSimpleBackend

    calls: list[tuple[str, dict]] = []
    original = LambdaSimpleBackend.invoke
    timeouts = timeouts or {}

    def run(name: str, handler: Handler, event: dict) -> tuple[bool, Any]:
        """(ok, result or error dict), within the function's timeout when it has one."""
        timeout = timeouts.get(name)
        outcome: list[tuple[bool, Any]] = []

        def call() -> None:
            try:
                outcome.append((True, handler(event, LambdaContext(name, timeout))))
            except Exception as exc:  # noqa: BLE001 - reported to the caller as AWS does
                outcome.append((False, {"errorType": type(exc).__name__, "errorMessage": str(exc)}))

        if timeout is None:
            call()
        else:
            worker = threading.Thread(target=call, daemon=True, name=f"lambda-{name}")
            worker.start()
            worker.join(timeout)
            if not outcome:
                return False, {"errorType": "Sandbox.Timedout",
                               "errorMessage": f"Task timed out after {timeout:.2f} seconds"}
        return outcome[0]

    def run_async(name: str, handler: Handler, event: dict, function_arn: str) -> None:
        delays = (*async_retries.delays_seconds, None)
        for attempt, delay in enumerate(delays, start=1):
            if attempt > 1:
                calls.append((name, event))
            ok, result = run(name, handler, event)
            if ok:
                return
            if delay is not None:
                time.sleep(delay)
        _send_to_on_failure_destination(name, function_arn, event, result, attempts=len(delays))

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        name = function_name.split(":function:")[-1].split(":")[0]
        handler = handlers.get(name)
        if handler is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": "ResourceNotFound", "errorMessage": f"no local handler for {name}"}).encode()
        event = json.loads(body) if body else {}
        calls.append((name, event))
        if headers.get("X-Amz-Invocation-Type") == "Event":
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            threading.Thread(target=run_async, args=(name, handler, event, arn), daemon=True,
                             name=f"lambda-event-{name}").start()
            return b""
        ok, result = run(name, handler, event)
        if not ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke
    try:
        yield calls
    finally:
        LambdaSimpleBackend.invoke = original


def _send_to_on_failure_destination(name: str, function_arn: str, event: dict, error: dict, *, attempts: int) -> None:
    """The record Lambda sends to an on-failure destination (SQS) when an asynchronous invoke has
    failed every attempt."""
    import boto3

    client = boto3.client("lambda", region_name=REGION)
    try:
        config = client.get_function_event_invoke_config(FunctionName=name)
    except client.exceptions.ResourceNotFoundException:
        return  # no destination: Lambda drops the event
    destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if not destination or ":sqs:" not in destination:
        return
    queue_name = destination.rsplit(":", 1)[-1]
    sqs = boto3.client("sqs", region_name=REGION)
    record = {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": f"{function_arn}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": error,
    }
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"], MessageBody=json.dumps(record))


def sqs_event(messages: list[dict], queue_arn: str) -> dict:
    """The event a Lambda SQS event source mapping delivers for these received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()},
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def poll_queue_once(queue_url: str, handler: Handler, *, context: Any = None, wait_seconds: int = 0) -> int:
    """One round of an SQS event source mapping with ReportBatchItemFailures: receive up to 10,
    call the handler, delete what did not fail. Failed messages reappear after their visibility
    timeout and reach the DLQ after maxReceiveCount receives. Returns how many were received."""
    import boto3

    sqs = boto3.client("sqs", region_name=REGION)
    received = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds,
        AttributeNames=["ApproximateReceiveCount"],
    ).get("Messages", [])
    if not received:
        return 0
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    result = handler(sqs_event(received, queue_arn), context or LambdaContext("send_message_api")) or {}
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    done = [m for m in received if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
        )
    return len(received)
