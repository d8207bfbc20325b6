"""The real root, applied by the real Terraform to moto, proven, and destroyed (`make test-terraform`).

One module-scoped cycle, in file order: apply with the committed terraform.tfvars → plan again
(no changes) → read back what was created through boto3 → a webhook burst carried end to end
through it → least privilege where moto can judge → destroy, leaving nothing.

moto runs in this process as a server (tests/terraform/harness.py: its gaps are patched there,
never in the Terraform), so Lambda invocations — from the API's integration target, from moto's
executing state machine, from the SQS event source mapping — run the project's handlers here,
each with the handler string and environment that Terraform gave its function.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import boto3
import hcl2
import pytest

import harness
from helpers import api_event, wait_for, zapi_text
from http_server import RecordingServer

REGION = "us-east-1"
# The committed example values (hcl2 wraps each value in a list).
TFVARS = {k: v[0] for k, v in hcl2.loads((harness.REPO / "terraform.tfvars").read_text()).items()}
APP = next(iter(TFVARS["processing_lambdas_map"]))  # "demo"
CLIENT_TOKEN = "client-token-for-the-test"
TIMINGS: dict[str, float] = {}


@contextlib.contextmanager
def _endpoint_env(url: str):
    """boto3 clients made meanwhile (the handlers' too) talk to the moto server."""
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """apply once for the module; destroyed by test_destroy_leaves_nothing (or here, if it never ran)."""
    root = harness.copy_root(tmp_path_factory.mktemp("root"))
    cli_config = harness.write_cli_config()
    with harness.moto_server() as url, _endpoint_env(url):
        harness.write_provider_override(root, url, REGION)
        tf = harness.Terraform(root, cli_config)
        tf.init()
        started = time.monotonic()
        tf.run("apply", "-auto-approve", "-input=false", timeout=400)
        TIMINGS["apply"] = time.monotonic() - started
        outputs = {k: v["value"] for k, v in json.loads(tf.run("output", "-json").stdout).items()}
        clients = SimpleNamespace(**{
            name: boto3.client(service, region_name=REGION, endpoint_url=url)
            for name, service in [("lambda_", "lambda"), ("sfn", "stepfunctions"), ("sqs", "sqs"), ("ddb", "dynamodb"),
                                  ("apigw", "apigatewayv2"), ("iam", "iam"), ("events", "events"), ("logs", "logs"),
                                  ("cloudwatch", "cloudwatch"), ("ssm", "ssm"), ("sts", "sts")]
        })  # fmt: skip
        state = SimpleNamespace(tf=tf, url=url, outputs=outputs, aws=clients, destroyed=False)
        try:
            yield state
        finally:
            if not state.destroyed:  # a test failed before test_destroy_leaves_nothing
                tf.run("destroy", "-auto-approve", "-input=false", timeout=200, check=False)
            # Figures, not assertions: the README's "Testing" quotes them.
            figures = {k: round(v, 1) for k, v in TIMINGS.items()}
            (harness.BUILD / "terraform-cycle.json").write_text(json.dumps(figures, indent=2) + "\n")
            print(f"\nterraform cycle on moto (s): {figures}")


def test_plan_after_apply_shows_no_changes(stack):
    started = time.monotonic()
    proc = stack.tf.run("plan", "-detailed-exitcode", "-input=false", check=False)
    TIMINGS["plan"] = time.monotonic() - started
    # 0: no changes; 2: changes (a configuration that is not idempotent); 1: error.
    assert proc.returncode == 0, f"plan after apply is not empty (exit {proc.returncode}):\n{proc.stdout[-6000:]}{proc.stderr[-3000:]}"


# --------------------------------------------------------------------------
# read back what Terraform created


def _configuration(stack, name: str) -> dict:
    return stack.aws.lambda_.get_function_configuration(FunctionName=name)


FUNCTIONS = {  # output holding the name (or the name itself) -> handler
    "post_message_function_name": "post_message.handler.lambda_handler",
    "process_message_function_name": "process_message.handler.lambda_handler",
    "send_message_api_function_name": "send_message_api.handler.lambda_handler",
}


def test_each_function_has_its_handler_and_an_environment_its_settings_accept(stack):
    from gateway import settings

    out = stack.outputs
    for output, handler in FUNCTIONS.items():
        config = _configuration(stack, out[output])
        assert config["Handler"] == handler
        module, attribute = handler.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attribute))
        assert config["Runtime"] == "python3.12"
    sweeper = _configuration(stack, "debouncer-sweeper")
    assert sweeper["Handler"] == "sweeper.handler.lambda_handler"

    env = {name: _configuration(stack, name)["Environment"]["Variables"]
           for name in [out[o] for o in FUNCTIONS] + ["debouncer-sweeper"]}  # fmt: skip
    webhook = settings.WebhookSettings.from_env(env[out["post_message_function_name"]])
    assert webhook.table_name == out["table_name"] and webhook.state_machine_arn == out["state_machine_arn"]
    assert webhook.processing_lambdas == TFVARS["processing_lambdas_map"]
    assert webhook.debounce_seconds == TFVARS["debounce_seconds"]

    processor = settings.ProcessorSettings.from_env(env[out["process_message_function_name"]])
    assert processor.table_name == out["table_name"]
    assert processor.processing_lambdas == TFVARS["processing_lambdas_map"]
    assert processor.failed_batches_queue_url == out["failed_batches_queue_url"]
    assert processor.inline_wait_seconds == 15  # STANDARD's default, from the null variable

    sender = settings.SenderSettings.from_env(env[out["send_message_api_function_name"]])
    assert sender.api_urls == TFVARS["api_urls_map"]
    assert sender.client_token_parameters == TFVARS["client_token_parameters"]
    assert (sender.send_queue_url, sender.send_dlq_url) == (out["send_queue_url"], out["send_dlq_url"])

    sweeper_settings = settings.SweeperSettings.from_env(env["debouncer-sweeper"])
    assert (sweeper_settings.table_name, sweeper_settings.state_machine_arn) == (out["table_name"], out["state_machine_arn"])
    for variables in env.values():
        assert variables["POWERTOOLS_SERVICE_NAME"] == "debouncer" and variables["LOG_LEVEL"] == TFVARS["log_level"]


def _root_value(variable: str):
    """What the apply gave a root variable: the committed tfvars' value, else its default."""
    if variable in TFVARS:
        return TFVARS[variable]
    declared = hcl2.loads((harness.REPO / "variables.tf").read_text())["variable"]
    return next(body for block in declared for name, body in block.items() if name == variable)["default"][0]


def test_process_message_has_its_own_memory_size_and_the_others_the_shared_one(stack):
    """process_message mostly sleeps and Lambda bills GB-seconds: process_message_memory_mb sizes
    it (measured by util/measure_process_memory.py), lambda_memory_mb every other function."""
    own, shared = _root_value("process_message_memory_mb"), _root_value("lambda_memory_mb")
    assert own != shared, "the same value for both would not tell a miswired memory_size"
    out = stack.outputs
    sizes = {name: _configuration(stack, name)["MemorySize"]
             for name in [out[o] for o in FUNCTIONS] + ["debouncer-sweeper"]}  # fmt: skip
    assert sizes == {
        out["process_message_function_name"]: own,
        out["post_message_function_name"]: shared,
        out["send_message_api_function_name"]: shared,
        "debouncer-sweeper": shared,
    }


def test_each_function_logs_json_without_the_platform_start_end_report_lines(stack):
    """logging_config: JSON, so Lambda filters by level; system level WARN drops START/END/REPORT
    (INFO events); the application level keeps the INFO lines and the EMF metric lines (INFO to
    Lambda); each function writes to the log group its module created."""
    out = stack.outputs
    application_level = "DEBUG" if TFVARS["log_level"] == "DEBUG" else "INFO"
    for name in [out[o] for o in FUNCTIONS] + ["debouncer-sweeper"]:
        assert _configuration(stack, name)["LoggingConfig"] == {
            "LogFormat": "JSON", "SystemLogLevel": "WARN", "ApplicationLogLevel": application_level,
            "LogGroup": f"/aws/lambda/{name}",
        }, name


def test_state_machine_is_the_rendered_template_with_its_role_and_error_logging(stack):
    from util.local_aws import render_definition

    machine = stack.aws.sfn.describe_state_machine(stateMachineArn=stack.outputs["state_machine_arn"])
    process_arn = _configuration(stack, stack.outputs["process_message_function_name"])["FunctionArn"]
    assert json.loads(machine["definition"]) == json.loads(
        render_definition(process_arn, retry_interval_seconds=2, retry_max_attempts=6))
    assert machine["type"] == "STANDARD"
    logging = machine["loggingConfiguration"]
    assert logging["level"] == "ERROR" and not logging.get("includeExecutionData")  # moto leaves out false
    group = logging["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
    assert ":log-group:/aws/vendedlogs/states/debouncer-debounce" in group

    role_name = machine["roleArn"].rsplit("/", 1)[-1]
    trust = stack.aws.iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    policy = stack.aws.iam.get_role_policy(RoleName=role_name, PolicyName="state-machine-permissions")["PolicyDocument"]
    invoke = next(s for s in policy["Statement"] if s.get("Sid") == "InvokeProcessMessage")
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert sorted(invoke["Resource"]) == sorted([process_arn, f"{process_arn}:*"])


def test_send_queue_feeds_send_message_api_with_partial_batch_failures_and_dead_letters(stack):
    out, sqs = stack.outputs, stack.aws.sqs
    function_arn = _configuration(stack, out["send_message_api_function_name"])["FunctionArn"]
    mappings = [m for m in stack.aws.lambda_.list_event_source_mappings()["EventSourceMappings"] if m["FunctionArn"] == function_arn]
    assert len(mappings) == 1
    mapping = mappings[0]
    assert mapping["EventSourceArn"] == out["send_queue_arn"] and mapping["FunctionArn"] == function_arn
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    attributes = sqs.get_queue_attributes(QueueUrl=out["send_queue_url"], AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=out["send_dlq_url"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
    # 6 x send_message_api's timeout (10 replies x 10 s + 5 s), so a slow batch is not received twice.
    assert int(attributes["VisibilityTimeout"]) == 6 * _configuration(stack, out["send_message_api_function_name"])["Timeout"]
    allow = sqs.get_queue_attributes(QueueUrl=out["send_dlq_url"], AttributeNames=["All"])["Attributes"]
    assert json.loads(allow["RedriveAllowPolicy"]) == {"redrivePermission": "byQueue", "sourceQueueArns": [out["send_queue_arn"]]}


def test_webhook_route_integrates_post_message_and_only_that_api_may_invoke_it(stack):
    api = _the_api(stack)
    routes = stack.aws.apigw.get_routes(ApiId=api["ApiId"])["Items"]
    assert sorted(r["RouteKey"] for r in routes) == ["GET /webhook", "POST /webhook"]
    post_arn = _configuration(stack, stack.outputs["post_message_function_name"])["FunctionArn"]
    for route in routes:
        integration = stack.aws.apigw.get_integration(ApiId=api["ApiId"], IntegrationId=route["Target"].split("/", 1)[1])
        assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
        assert _function_arn_of(integration) == post_arn

    statement = _only_statement(stack, stack.outputs["post_message_function_name"])
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
    # The account is empty here only: skip_requesting_account_id leaves the provider without it.
    assert re.fullmatch(rf"arn:aws:execute-api:{REGION}:(\d{{12}})?:{api['ApiId']}/\*/\*/webhook", source), source


def test_sweeper_runs_every_minute_and_only_its_rule_may_invoke_it(stack):
    rule = stack.aws.events.describe_rule(Name="debouncer-sweeper")
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    sweeper_arn = _configuration(stack, "debouncer-sweeper")["FunctionArn"]
    assert [t["Arn"] for t in stack.aws.events.list_targets_by_rule(Rule="debouncer-sweeper")["Targets"]] == [sweeper_arn]
    statement = _only_statement(stack, "debouncer-sweeper")
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]


def test_table_has_the_keys_ttl_and_sweep_index_the_code_uses(stack):
    from util.local_aws import table_schema

    table = stack.aws.ddb.describe_table(TableName=stack.outputs["table_name"])["Table"]
    expected = table_schema()  # what every moto-backed test builds its table from
    assert table["KeySchema"] == expected["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    (index,) = table["GlobalSecondaryIndexes"]
    (expected_index,) = expected["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "pending_by_due" == expected_index["IndexName"]
    assert index["KeySchema"] == expected_index["KeySchema"]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert sorted(index["Projection"]["NonKeyAttributes"]) == ["app_id", "sender"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = stack.aws.ddb.describe_time_to_live(TableName=stack.outputs["table_name"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def _the_api(stack) -> dict:
    apis = [a for a in stack.aws.apigw.get_apis()["Items"] if a["Name"] == "debouncer-webhook"]
    assert len(apis) == 1
    return apis[0]


def _function_arn_of(integration: dict) -> str:
    return re.search(r"/functions/(arn:[^/]+)/invocations$", integration["IntegrationUri"]).group(1)


def _only_statement(stack, function_name: str) -> dict:
    policy = json.loads(stack.aws.lambda_.get_policy(FunctionName=function_name)["Policy"])
    assert len(policy["Statement"]) == 1, policy
    return policy["Statement"][0]


# --------------------------------------------------------------------------
# a webhook burst through what Terraform created


class AppliedFunctions:
    """Runs the project's handlers as the applied functions: each invocation gets the handler
    string and the environment of GetFunctionConfiguration (and only that function's variables),
    so a variable main.tf forgets fails here as it would in AWS."""

    def __init__(self, lambda_client, names: list[str]):
        self.configs = {n: lambda_client.get_function_configuration(FunctionName=n) for n in names}
        self.all_keys = {k for c in self.configs.values() for k in c.get("Environment", {}).get("Variables", {})}
        self.lock = threading.Lock()  # one function's environment at a time (os.environ is global)

    def handler(self, name: str):
        config = self.configs[name]
        module_name, attribute = config["Handler"].rsplit(".", 1)
        variables = config.get("Environment", {}).get("Variables", {})

        def run(event, context):
            with self.lock:
                saved = dict(os.environ)
                for key in self.all_keys:
                    os.environ.pop(key, None)
                os.environ.update(variables)
                try:
                    return getattr(importlib.import_module(module_name), attribute)(event, context)
                finally:
                    os.environ.clear()
                    os.environ.update(saved)

        return run

    @staticmethod
    def cold_start() -> None:
        """Forget settings, clients and the handlers' cached services: the next invocation of
        each function reads its environment anew."""
        from gateway import aws, settings

        settings.reset()
        aws.reset()
        for module_name in ("post_message.handler", "process_message.handler", "send_message_api.handler"):
            module = importlib.import_module(module_name)
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == module_name:
                    value.cache_clear()


@contextlib.contextmanager
def redirect_https(host: str, local_url: str):
    """Requests to https://<host>/... go to the local HTTP server instead (the path kept): the
    reply really leaves send_message_api over HTTP, to the URL Terraform configured."""
    import requests.adapters

    original = requests.adapters.HTTPAdapter.send
    local = urlsplit(local_url)
    seen: list[str] = []

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        if parts.scheme == "https" and parts.hostname == host:
            seen.append(request.url)
            request.url = urlunsplit(("http", local.netloc, parts.path, parts.query, parts.fragment))
        return original(self, request, **kwargs)

    requests.adapters.HTTPAdapter.send = send
    try:
        yield seen
    finally:
        requests.adapters.HTTPAdapter.send = original


def test_a_burst_through_the_applied_system_gives_one_batch_and_one_reply(stack):
    from util.local_aws import route_lambda_invocations

    out, aws = stack.outputs, stack.aws
    # GIVEN the function the webhook route integrates, and the app's bot as its map names it
    api = _the_api(stack)
    post_route = next(r for r in aws.apigw.get_routes(ApiId=api["ApiId"])["Items"] if r["RouteKey"] == "POST /webhook")
    integration = aws.apigw.get_integration(ApiId=api["ApiId"], IntegrationId=post_route["Target"].split("/", 1)[1])
    webhook_function = _function_arn_of(integration).split(":function:")[1]
    functions = AppliedFunctions(aws.lambda_, [webhook_function, out["process_message_function_name"],
                                               out["send_message_api_function_name"]])  # fmt: skip
    bot_name = json.loads(functions.configs[out["process_message_function_name"]]["Environment"]["Variables"]["PROCESSING_LAMBDAS_MAP"])[APP]
    batches: list[dict] = []

    def bot(event, context):
        batches.append(event)
        return {"ok": True}

    handlers = {name: functions.handler(name) for name in functions.configs}
    handlers[bot_name] = bot
    parameter = TFVARS["client_token_parameters"][APP]
    aws.ssm.put_parameter(Name=parameter, Type="SecureString", Value=CLIENT_TOKEN)  # out of band, as the README says
    api_url = urlsplit(TFVARS["api_urls_map"][APP])
    functions.cold_start()
    try:
        with RecordingServer() as provider, redirect_https(api_url.hostname, provider.url) as redirected, \
                route_lambda_invocations(handlers) as invocations:
            # WHEN three messages arrive through the API's integration target, 0.2 s apart
            phone = "5544999999999"
            for number, text in enumerate(["hi", "I have a question", "about my order"], 1):
                event = api_event(zapi_text(phone, text, message_id=f"TF-{number}"), app_id=APP)
                response = aws.lambda_.invoke(FunctionName=webhook_function, Payload=json.dumps(event).encode())
                assert "FunctionError" not in response, response["Payload"].read()
                assert json.loads(response["Payload"].read())["statusCode"] == 200
                time.sleep(0.2)

            # THEN the state machine Terraform created delivers exactly one batch to the app's Lambda
            executions = lambda: aws.sfn.list_executions(stateMachineArn=out["state_machine_arn"])["executions"]
            assert wait_for(lambda: batches and all(e["status"] != "RUNNING" for e in executions()), timeout=60)
            assert [e["status"] for e in executions()] == ["SUCCEEDED"]
            assert len(batches) == 1
            assert batches[0]["app_id"] == APP and batches[0]["phone_number"] == phone
            assert [m["text"] for m in batches[0]["messages"]] == ["hi", "I have a question", "about my order"]

            # WHEN the app puts its reply on the send queue Terraform created
            aws.sqs.send_message(QueueUrl=out["send_queue_url"], MessageBody=json.dumps(
                {"app_id": APP, "phone_number": phone, "message_to_send": batches[0]["message"]}))

            # THEN the event source mapping runs send_message_api and the provider gets one POST
            assert wait_for(lambda: provider.requests, timeout=30)
            time.sleep(1)  # nothing else may arrive
            assert provider.json_bodies() == [{"phone": phone, "message": "hi\nI have a question\nabout my order"}]
            assert provider.requests[0]["path"] == api_url.path
            assert provider.requests[0]["headers"].get("Client-Token") == CLIENT_TOKEN
            assert redirected == [TFVARS["api_urls_map"][APP]]
            called = [name for name, _ in invocations]
            assert called.count(bot_name) == 1 and called.count(out["send_message_api_function_name"]) == 1
            assert aws.sqs.get_queue_attributes(QueueUrl=out["send_queue_url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"] == {
                "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
            assert aws.sqs.receive_message(QueueUrl=out["send_dlq_url"]).get("Messages", []) == []
    finally:
        aws.ssm.delete_parameter(Name=parameter)
        functions.cold_start()


# --------------------------------------------------------------------------
# least privilege, where moto can judge it


def _auth(stack, enforced: bool) -> None:
    # How many requests moto lets through before enforcing IAM: none, or all of them again.
    request = urllib.request.Request(f"{stack.url}/moto-api/reset-auth", method="POST",
                                     data=(b"0" if enforced else b"inf"), headers={"Content-Type": "text/plain"})  # fmt: skip
    urllib.request.urlopen(request, timeout=10).read()


def test_function_roles_grant_their_queues_only(stack):
    """Each function's applied role, used through AssumeRole credentials with moto's IAM
    enforcement on, may do the SQS actions its code needs on its own queues and nothing else.

    Limits of what moto can judge (so only this is tested against applied policies): moto checks
    resource ARNs for SQS only (other services are judged on the action alone), it checks
    ``lambda:InvokeFunction`` as ``lambda:Invoke``, and it treats every policy condition as true.
    The code-versus-policy contract (tests/contract) covers the rest, offline.
    """
    from botocore.exceptions import ClientError

    out = stack.outputs
    failed_url = out["failed_batches_queue_url"]
    roles = {fn: _configuration(stack, out[f"{fn}_function_name"])["Role"] for fn in ("send_message_api", "process_message", "post_message")}
    credentials = {fn: stack.aws.sts.assume_role(RoleArn=arn, RoleSessionName=fn)["Credentials"] for fn, arn in roles.items()}

    def sqs_as(fn):
        c = credentials[fn]
        return boto3.client("sqs", region_name=REGION, endpoint_url=stack.url, aws_access_key_id=c["AccessKeyId"],
                            aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])

    def allowed(call) -> bool:
        try:
            call()
            return True
        except ClientError as exc:  # moto answers SQS's JSON protocol with an XML AccessDenied
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403, exc.response
            assert "AccessDenied" in json.dumps(exc.response["Error"]), exc.response
            return False

    sender, processor, webhook = sqs_as("send_message_api"), sqs_as("process_message"), sqs_as("post_message")
    _auth(stack, enforced=True)
    try:
        verdicts = {
            "send_message_api receives from the send queue": allowed(lambda: sender.receive_message(QueueUrl=out["send_queue_url"])),
            "send_message_api dead-letters to the DLQ": allowed(lambda: sender.send_message(QueueUrl=out["send_dlq_url"], MessageBody="{}")),
            "send_message_api sends to the send queue": allowed(lambda: sender.send_message(QueueUrl=out["send_queue_url"], MessageBody="{}")),
            "send_message_api parks a batch": allowed(lambda: sender.send_message(QueueUrl=failed_url, MessageBody="{}")),
            "send_message_api purges the send queue": allowed(lambda: sender.purge_queue(QueueUrl=out["send_queue_url"])),
            "process_message parks a batch": allowed(lambda: processor.send_message(QueueUrl=failed_url, MessageBody="{}")),
            "process_message sends a reply": allowed(lambda: processor.send_message(QueueUrl=out["send_queue_url"], MessageBody="{}")),
            "process_message reads the DLQ": allowed(lambda: processor.receive_message(QueueUrl=out["send_dlq_url"])),
            "post_message sends anywhere": allowed(lambda: webhook.send_message(QueueUrl=failed_url, MessageBody="{}")),
            "post_message deletes a queue": allowed(lambda: webhook.delete_queue(QueueUrl=failed_url)),
        }
    finally:
        _auth(stack, enforced=False)
    assert verdicts == {
        "send_message_api receives from the send queue": True,
        "send_message_api dead-letters to the DLQ": True,
        "send_message_api sends to the send queue": False,
        "send_message_api parks a batch": False,
        "send_message_api purges the send queue": False,
        "process_message parks a batch": True,
        "process_message sends a reply": False,
        "process_message reads the DLQ": False,
        "post_message sends anywhere": False,
        "post_message deletes a queue": False,
    }
    for url in (out["send_dlq_url"], failed_url):  # what the allowed sends left
        stack.aws.sqs.purge_queue(QueueUrl=url)


# --------------------------------------------------------------------------
# input validation that needs values (terraform validate does not evaluate them)


@pytest.mark.parametrize(("assignment", "message"), [
    ('processing_lambdas_map={"bad app"="fn"}', "processing_lambdas_map: every app id must be 1-64 characters"),
    ('api_urls_map={"demo/x"="https://example.com"}', "api_urls_map: every app id must be 1-64 characters"),
    ("inline_wait_seconds=601", "inline_wait_seconds must be between 0 and 600"),
])  # fmt: skip
def test_plan_refuses_bad_values_with_their_message(stack, assignment, message):
    proc = stack.tf.run("plan", "-input=false", "-refresh=false", "-var", assignment, check=False)
    assert proc.returncode == 1
    assert message in " ".join(proc.stderr.split()), proc.stderr[-3000:]


def test_plan_accepts_optional_values_left_null(stack):
    """Validations must not dereference a null (Terraform before 1.12 evaluates both sides of
    || and &&): a policy with most fields left out, and an alarm e-mail, plan without error."""
    policies = '{demo={mode="adaptive", max_wait_seconds=90}, other={quiet_seconds=5, max_messages=20}}'
    proc = stack.tf.run("plan", "-input=false", "-refresh=false", "-detailed-exitcode",
                        "-var", f"debounce_policies={policies}", "-var", "alarm_email=ops@example.com", check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]  # 2: a valid plan with changes
    assert "aws_sns_topic_subscription.email" in proc.stdout


# --------------------------------------------------------------------------
# destroy


def test_destroy_leaves_nothing(stack):
    started = time.monotonic()
    stack.tf.run("destroy", "-auto-approve", "-input=false", timeout=400)
    TIMINGS["destroy"] = time.monotonic() - started
    stack.destroyed = True
    aws = stack.aws
    left = {
        "tables": aws.ddb.list_tables()["TableNames"],
        "queues": aws.sqs.list_queues().get("QueueUrls", []),
        "functions": [f["FunctionName"] for f in aws.lambda_.list_functions()["Functions"]],
        "event source mappings": aws.lambda_.list_event_source_mappings()["EventSourceMappings"],
        "state machines": aws.sfn.list_state_machines()["stateMachines"],
        "roles": [r["RoleName"] for r in aws.iam.list_roles()["Roles"]],
        "log groups": [g["logGroupName"] for g in aws.logs.describe_log_groups()["logGroups"]],
        "alarms": [a["AlarmName"] for a in aws.cloudwatch.describe_alarms()["MetricAlarms"]],
        "dashboards": aws.cloudwatch.list_dashboards()["DashboardEntries"],
        "rules": aws.events.list_rules()["Rules"],
        "apis": aws.apigw.get_apis()["Items"],
        "parameters": aws.ssm.describe_parameters()["Parameters"],
    }
    assert {kind: items for kind, items in left.items() if items} == {}
    assert json.loads(stack.tf.run("show", "-json").stdout).get("values") is None
