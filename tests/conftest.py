"""Fixtures: fake credentials, a moto world built from the Terraform definitions, handler wiring."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_SERVICE_NAME="debouncer",
    POWERTOOLS_METRICS_NAMESPACE="Debouncer",
)
os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)

import batch_schema  # noqa: E402
from gateway import aws, settings  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "providers"


def load_fixture(provider: str, name: str) -> dict:
    return json.loads((FIXTURES / provider / name).read_text())


def fixture_bytes(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


@pytest.fixture(autouse=True)
def fresh_clients_and_settings():
    """Each test builds its clients and settings anew, inside its own moto context."""
    aws.reset()
    settings.reset()
    yield
    aws.reset()
    settings.reset()


class World:
    """A moto AWS with the project's table, state machine, queues and functions, handlers in process."""

    TABLE = "debouncer-test-conversations"
    PROCESS_FUNCTION = "debouncer-process-message"
    BOT_FUNCTIONS = {"bot1": "bot1-chat-lambda", "bot2": "bot2-chat-lambda"}

    def __init__(self, monkeypatch, debounce_seconds: float, *, timeouts: dict[str, float] | None = None):
        from moto import mock_aws

        from util import local_aws

        self.local_aws = local_aws
        self.debounce_seconds = debounce_seconds
        self.monkeypatch = monkeypatch
        self._mock = mock_aws(config=local_aws.MOTO_CONFIG)
        self.bot_events: dict[str, list[dict]] = {app: [] for app in self.BOT_FUNCTIONS}
        self.bot_failures: dict[str, int] = {}
        self.timeouts = timeouts  # function name -> Lambda timeout, enforced as Lambda does
        self.schema_problems: list[str] = []  # events a bot was handed that break batch.schema.json

    def __enter__(self):
        import boto3

        self._mock.start()
        la = self.local_aws
        la.create_table(self.TABLE)
        process_arn = la.create_function(self.PROCESS_FUNCTION)
        for name in self.BOT_FUNCTIONS.values():
            la.create_function(name)
        self.state_machine_arn = la.create_state_machine(
            "debouncer-test", process_arn, retry_interval_seconds=1, retry_max_attempts=3
        )
        self.queue_url, self.dlq_url = la.create_queue("debouncer-send", max_receive_count=3)
        self.failed_batches_url = boto3.client("sqs", region_name="us-east-1").create_queue(
            QueueName="debouncer-failed-batches")["QueueUrl"]
        env = {
            "TABLE_NAME": self.TABLE,
            "STATE_MACHINE_ARN": self.state_machine_arn,
            "DEBOUNCE_SECONDS": str(self.debounce_seconds),
            "PROCESSING_LAMBDAS_MAP": json.dumps(self.BOT_FUNCTIONS),
            "API_URLS_MAP": json.dumps({"bot1": "http://127.0.0.1:9/unused"}),
            "FAILED_BATCHES_QUEUE_URL": self.failed_batches_url,
        }
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        settings.reset()
        aws.reset()
        import post_message.handler as post_handler
        import process_message.handler as process_handler
        import send_message_api.handler as send_handler

        for module in (post_handler, process_handler, send_handler):
            for name in ("service", "dispatcher", "sender"):
                if hasattr(module, name):
                    getattr(module, name).cache_clear()
        self.post_handler, self.process_handler, self.send_handler = post_handler, process_handler, send_handler
        handlers = self.handlers = {self.PROCESS_FUNCTION: process_handler.lambda_handler}
        for app, name in self.BOT_FUNCTIONS.items():
            handlers[name] = self._bot(app)
        self._serial = la.serialize_moto_requests()
        self._serial.__enter__()
        self._routes = la.route_lambda_invocations(handlers, timeouts=self.timeouts)
        self.invocations = self._routes.__enter__()
        return self

    def set_bot(self, app: str, handler) -> None:
        """Replace an app's processing Lambda with ``handler(event, context)``."""
        self.handlers[self.BOT_FUNCTIONS[app]] = self._checked(handler)

    def _checked(self, bot):
        """``bot``, handed only events that match lambda/gateway/schemas/batch.schema.json: one that
        does not fails the invoke and, when the world closes, the test."""
        def handler(event, context):
            found = batch_schema.problems(event)
            if found:
                self.schema_problems += found
                raise AssertionError(f"the batch breaks batch.schema.json: {found}")
            return bot(event, context)

        return handler

    def _bot(self, app: str):
        @self._checked
        def handler(event, context):
            if self.bot_failures.get(app, 0) > 0:
                self.bot_failures[app] -= 1
                raise RuntimeError("bot crashed")
            self.bot_events[app].append(event)
            return {"ok": True}

        return handler

    def __exit__(self, *exc):
        # Stop executions still waiting, so their threads do not outlive this moto world.
        import boto3

        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        for execution in self.executions("RUNNING"):
            try:
                sfn.stop_execution(executionArn=execution["executionArn"])
            except Exception:  # noqa: BLE001 - best effort clean-up
                pass
        self._routes.__exit__(*exc)
        self._serial.__exit__(*exc)
        self._mock.stop()
        assert exc[0] is not None or not self.schema_problems, f"batches broke batch.schema.json: {self.schema_problems}"

    def post(self, event: dict) -> dict:
        from util.local_aws import LambdaContext

        return self.post_handler.lambda_handler(event, LambdaContext("post_message"))

    def items(self) -> list[dict]:
        import boto3

        from gateway.store import from_ddb

        client = boto3.client("dynamodb", region_name="us-east-1")
        items, kwargs = [], {"TableName": self.TABLE}
        while True:
            page = client.scan(**kwargs)
            items += [from_ddb(i) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def executions(self, status: str | None = None) -> list[dict]:
        import boto3

        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        kwargs = {"stateMachineArn": self.state_machine_arn}
        if status:
            kwargs["statusFilter"] = status
        return sfn.list_executions(**kwargs)["executions"]


@pytest.fixture
def world(monkeypatch):
    with World(monkeypatch, debounce_seconds=1) as w:
        yield w


@pytest.fixture
def quiet_world(monkeypatch):
    """A world whose quiet period (60 s) outlasts the test: executions stay RUNNING until inspected."""
    with World(monkeypatch, debounce_seconds=60) as w:
        yield w


class Clock:
    """A clock the test sets: ``clock.now += 301`` passes the store fixture's lease without waiting for it."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    """A conversation store on moto (no state machine) with the test's clock and a 300 s lease."""
    from moto import mock_aws

    from gateway.store import ConversationStore
    from util import local_aws

    with mock_aws():
        local_aws.create_table("conversations")
        yield ConversationStore("conversations", clock=clock, lease_seconds=300)
