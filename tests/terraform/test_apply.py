"""The real root, applied by the real Terraform to moto, proven, and destroyed (`make test-terraform`).

One module-scoped cycle, in file order: apply with the committed terraform.tfvars → plan again
(no changes) → read back what was created through boto3 → a webhook burst carried end to end
through it → least privilege where moto can judge → values plan must refuse → an async bot applied
and back → the observability switches flipped on the applied stack (tracing on, alarms and
dashboard off) and back to the defaults (test_observability_tf.py checks the same switches in the
HCL) → destroy, leaving nothing. One applied stack serves every check: an apply and a destroy of
the whole root are most of the time this file takes.

The plans that need no state (those that must fail: a value a validation or a precondition
refuses; and the switched stack's before anything of it exists) run in the background from the
start, two at a time, in a copy of the root that has none, while the apply waits on the AWS
provider's pollers; their tests read the results.

moto runs in this process as a server (tests/terraform/harness.py: its gaps are patched there,
never in the Terraform), so Lambda invocations — from the API's integration target, from moto's
executing state machine, from the SQS event source mapping — run the project's handlers here,
each with the handler string and environment that Terraform gave its function.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import shutil
import threading
import time
import urllib.request
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import boto3
import hcl2
import pytest

import harness
from helpers import api_event, wait_for, zapi_text
from http_server import RecordingServer
from test_observability_tf import PREFIX, XRAY_WRITE, _parse_root, lambda_modules

REGION = "us-east-1"
# The committed example values (hcl2 wraps each value in a list).
TFVARS = {k: v[0] for k, v in hcl2.loads((harness.REPO / "terraform.tfvars").read_text()).items()}
APP = next(iter(TFVARS["apps"]))  # "demo", a Z-API app
WEBHOOK_TOKEN = "webhook-token-for-the-test"
CLIENT_TOKEN = "client-token-for-the-test"
# Z-API's send URL holds the instance token: it comes from the app's secrets, never from Terraform.
ZAPI_SEND_URL = "https://api.z-api.io/instances/3C0FFEE/token/INSTANCE-TOKEN-FOR-THE-TEST/send-text"
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


@contextlib.contextmanager
def _background(workers: int):
    """A pool for commands that run beside the tests; what has not started is dropped on the way out."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="terraform")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _plan_args(assignments: list[str]) -> tuple[str, ...]:
    return tuple(arg for assignment in assignments for arg in ("-var", assignment))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """apply once for the module; destroyed by test_destroy_leaves_nothing (or here, if it never ran).

    ``blank``: a second copy of the root, initialised, with no state, where the plans that need none
    run in the background from the start: the switched stack's, before anything of it exists
    (``switched_plan``: its JSON), and the plans that must be refused (``refused``: -var arguments
    => the finished plan). Its provider waits for the validation of the variables those plans give
    bad values (harness.write_provider_override), so a refused value ends its plan early."""
    root = harness.copy_root(tmp_path_factory.mktemp("root"))
    blank = shutil.copytree(root, tmp_path_factory.mktemp("blank") / "root")
    cli_config = harness.write_cli_config()
    with harness.moto_server() as url, _endpoint_env(url), _background(2) as pool:
        harness.write_provider_override(root, url, REGION)
        harness.write_provider_override(blank, url, REGION, validated_first=REFUSED_VARIABLES)
        tf, blank_tf = harness.Terraform(root, cli_config), harness.Terraform(blank, cli_config)
        tf.init()
        blank_tf.init()
        switched_plan = pool.submit(_plan_json, blank_tf, "switched.plan", *_vars(SWITCHED))
        refused: dict[tuple[str, ...], Future] = {
            args: pool.submit(blank_tf.run, "plan", "-input=false", "-refresh=false", "-lock=false", *args, check=False)
            for args in REFUSED_PLANS
        }  # fmt: skip
        clients = SimpleNamespace(**{
            name: boto3.client(service, region_name=REGION, endpoint_url=url)
            for name, service in [("lambda_", "lambda"), ("sfn", "stepfunctions"), ("sqs", "sqs"), ("ddb", "dynamodb"),
                                  ("apigw", "apigatewayv2"), ("iam", "iam"), ("events", "events"), ("logs", "logs"),
                                  ("cloudwatch", "cloudwatch"), ("ssm", "ssm"), ("sts", "sts"), ("sns", "sns")]
        })  # fmt: skip
        state = SimpleNamespace(tf=tf, blank=blank_tf, url=url, outputs={}, aws=clients, switched_plan=switched_plan,
                                refused=refused, destroyed=False, timings=TIMINGS)  # fmt: skip
        try:
            started = time.monotonic()
            tf.run("apply", "-auto-approve", "-input=false", timeout=400)
            TIMINGS["apply"] = time.monotonic() - started
            state.outputs = _outputs(state)
            yield state
        finally:
            if not state.destroyed:  # a test failed before test_destroy_leaves_nothing
                tf.run("destroy", "-auto-approve", "-input=false", timeout=400, check=False)
            # Figures, not assertions: the README's "Testing" quotes them.
            figures = {k: round(v, 1) for k, v in TIMINGS.items()}
            (harness.BUILD / "terraform-cycle.json").write_text(json.dumps(figures, indent=2) + "\n")
            print(f"\nterraform cycle on moto (s): {figures}")


def _outputs(stack) -> dict:
    return {k: v["value"] for k, v in json.loads(stack.tf.run("output", "-json").stdout).items()}


def _plan_json(tf: harness.Terraform, name: str, *args: str) -> dict:
    tf.run("plan", "-input=false", f"-out={name}", *args)
    return json.loads(tf.run("show", "-json", name).stdout)


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
    assert webhook.processing_lambdas == {app: spec.get("bot") or out["bot_function_names"][app]
                                          for app, spec in TFVARS["apps"].items()}
    assert webhook.providers == {app: spec.get("provider", "zapi") for app, spec in TFVARS["apps"].items()}
    assert webhook.secrets_parameters == {app: spec["secrets_parameter"] for app, spec in TFVARS["apps"].items()}
    assert webhook.unauthenticated_apps == frozenset()  # a deployment refuses apps without authentication
    assert webhook.debounce_seconds == TFVARS["debounce_seconds"]

    processor = settings.ProcessorSettings.from_env(env[out["process_message_function_name"]])
    assert processor.table_name == out["table_name"]
    assert processor.processing_lambdas == webhook.processing_lambdas
    assert processor.failed_batches_queue_url == out["failed_batches_queue_url"]
    assert processor.inline_wait_seconds == 15  # STANDARD's default, from the null variable
    assert processor.bot_timeouts == {app: 30.0 for app in TFVARS["apps"]}  # the default budget
    assert processor.bot_invocations == {app: "sync" for app in TFVARS["apps"]}
    # 15 s inline wait + a 30 s bot + 15 s: the default process_message_timeout_seconds (60) holds it
    assert _configuration(stack, out["process_message_function_name"])["Timeout"] == out["process_message_timeout_seconds"] == 60
    assert processor.batch_lease_seconds == out["batch_lease_seconds"] == 900

    sender = settings.SenderSettings.from_env(env[out["send_message_api_function_name"]])
    assert sender.api_urls == {app: spec["url"] for app, spec in TFVARS["apps"].items() if "url" in spec}
    assert sender.secrets_parameters == webhook.secrets_parameters and sender.providers == webhook.providers
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

    def bot_handler(self, name: str, package: Path):
        """A bot deployed from its own zip: its handler module loaded from the unpacked zip. It runs
        inside process_message's invoke, which holds the environment lock: the variables of its own
        that no gateway function has (REPLY_QUEUE_URL, APP_ID) stay set for the test instead."""
        unpacked = package.parent / f"{package.stem}-unpacked"
        shutil.rmtree(unpacked, ignore_errors=True)
        with zipfile.ZipFile(package) as archive:
            archive.extractall(unpacked)
        module_file, attribute = self.configs[name]["Handler"].rsplit(".", 1)
        spec = importlib.util.spec_from_file_location(f"deployed_bot_{package.stem}", unpacked / f"{module_file}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        variables = self.configs[name].get("Environment", {}).get("Variables", {})
        own = {key: value for key, value in variables.items() if key not in self.all_keys}
        assert "REPLY_QUEUE_URL" in own, variables
        os.environ.update(own)
        self.bot_keys = set(own)
        return getattr(module, attribute)

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
    reply really leaves send_message_api over HTTP, to the URL the app is configured with."""
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
    # The committed tfvars deploys the example echo bot (bot_source): it runs from the zip Terraform
    # deployed, with the environment Terraform gave it.
    assert bot_name == out["bot_function_names"][APP] == f"debouncer-bot-{APP}"
    bot_config = functions.configs[bot_name] = aws.lambda_.get_function_configuration(FunctionName=bot_name)
    assert bot_config["Timeout"] == 30 and bot_config["Handler"] == "handler.lambda_handler"  # the default budget
    echo_bot = functions.bot_handler(bot_name, stack.tf.workdir / "build" / "bots" / f"{APP}.zip")
    del functions.configs[bot_name]
    batches: list[dict] = []

    def bot(event, context):
        batches.append(event)
        return echo_bot(event, context)

    handlers = {name: functions.handler(name) for name in functions.configs}
    handlers[bot_name] = bot
    # moto runs the SQS event source mapping inside the SendMessage call, here the echo bot's, while
    # process_message (holding the environment lock) waits for the bot: send_message_api runs in a
    # thread of its own instead, as Lambda's pollers would run it.
    send_name, send_handler = out["send_message_api_function_name"], handlers[out["send_message_api_function_name"]]
    sent: list[dict] = []

    def send_later(event, context):
        thread = threading.Thread(target=lambda: sent.append(send_handler(event, context)), daemon=True)
        thread.start()
        return {"batchItemFailures": []}

    handlers[send_name] = send_later
    parameter = TFVARS["apps"][APP]["secrets_parameter"]
    aws.ssm.put_parameter(Name=parameter, Type="SecureString",  # out of band, as the README says
                          Value=json.dumps({"api_url": ZAPI_SEND_URL, "client_token": CLIENT_TOKEN,
                                            "webhook_token": WEBHOOK_TOKEN}))
    api_url = urlsplit(ZAPI_SEND_URL)
    functions.cold_start()
    try:
        with RecordingServer() as provider, redirect_https(api_url.hostname, provider.url) as redirected, \
                route_lambda_invocations(handlers) as invocations:
            # WHEN three messages arrive through the API's integration target, 0.2 s apart
            phone = "5544999999999"
            for number, text in enumerate(["hi", "I have a question", "about my order"], 1):
                event = api_event(zapi_text(phone, text, message_id=f"TF-{number}"), app_id=APP,
                                  headers={"X-Webhook-Token": WEBHOOK_TOKEN})
                response = aws.lambda_.invoke(FunctionName=webhook_function, Payload=json.dumps(event).encode())
                assert "FunctionError" not in response, response["Payload"].read()
                assert json.loads(response["Payload"].read())["statusCode"] == 200
                time.sleep(0.2)

            # THEN the state machine Terraform created delivers exactly one batch to the app's Lambda
            executions = lambda: aws.sfn.list_executions(stateMachineArn=out["state_machine_arn"])["executions"]
            assert wait_for(lambda: batches and all(e["status"] != "RUNNING" for e in executions()), timeout=60), (
                executions(), [aws.sfn.get_execution_history(executionArn=e["executionArn"])["events"][-3:]
                               for e in executions()], invocations)
            assert [e["status"] for e in executions()] == ["SUCCEEDED"]
            assert len(batches) == 1
            assert batches[0]["app_id"] == APP and batches[0]["phone_number"] == phone
            assert [m["text"] for m in batches[0]["messages"]] == ["hi", "I have a question", "about my order"]

            # THEN the echo bot put its reply on the send queue Terraform created, the event source
            # mapping ran send_message_api, and the provider got one POST
            assert wait_for(lambda: provider.requests and sent, timeout=30)
            time.sleep(1)  # nothing else may arrive
            assert sent == [{"batchItemFailures": []}]
            assert provider.json_bodies() == [{"phone": phone, "message": "hi\nI have a question\nabout my order"}]
            assert provider.requests[0]["path"] == api_url.path
            assert provider.requests[0]["headers"].get("Client-Token") == CLIENT_TOKEN
            assert redirected == [ZAPI_SEND_URL]
            assert "INSTANCE-TOKEN-FOR-THE-TEST" not in json.dumps(functions.configs)  # not in any environment
            called = [name for name, _ in invocations]
            assert called.count(bot_name) == 1 and called.count(out["send_message_api_function_name"]) == 1
            assert aws.sqs.get_queue_attributes(QueueUrl=out["send_queue_url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"] == {
                "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
            assert aws.sqs.receive_message(QueueUrl=out["send_dlq_url"]).get("Messages", []) == []
    finally:
        aws.ssm.delete_parameter(Name=parameter)
        functions.cold_start()
        for key in getattr(functions, "bot_keys", ()):
            os.environ.pop(key, None)


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


BAD_VALUES = [
    ('apps={"bad app"={bot="fn", secrets_parameter="/s"}}', 'apps: app id "bad app" must be 1-64 characters'),
    ('apps={demo={bot="fn", providr="telegram", secrets_parameter="/s"}}', "apps: app demo: unknown key(s) providr"),
    ('apps={demo={bot="fn", provider="signal", secrets_parameter="/s"}}', 'apps: app demo: provider "signal" must be one of'),
    ('apps={demo={bot="fn", url="https://api.z-api.io/instances/I/token/T/send-text", secrets_parameter="/s"}}',
     "apps: app demo: a zapi app takes no url: its send URL embeds the instance token"),
    ('apps={demo={bot="fn", provider="generic", url="https://example.com"}}',
     "apps: app demo (generic) has no secrets_parameter"),
    ('apps={demo={bot="fn", provider="telegram", allow_unauthenticated=true}}',
     "apps: app demo (telegram) has no secrets_parameter"),
    ('apps={demo={bot="fn", provider="evolution", secrets_parameter="/s"}}', "apps: app demo: a evolution app needs url"),
    ('apps={demo={bot="fn", provider="generic", url="http://example.com", secrets_parameter="/s"}}',
     "apps: app demo: url must be an https:// URL"),
    ('apps={demo={bot="fn", secrets_parameter="/s", debounce={mode="adaptiv"}}}', "apps: app demo: debounce takes mode"),
    ('apps={demo={bot="fn", secrets_parameter="/s", debounce={quiet_seconds=400}}}',
     "apps: app demo: debounce quiet_seconds must be 0.1-300"),
    ('apps={demo={bot="fn", secrets_parameter="/s", debounce={min_quiet_seconds=40, max_quiet_seconds=3}}}',
     "apps: app demo: debounce min_quiet_seconds must not exceed max_quiet_seconds"),
    ("apps={}", "apps must be a map of app id => app object with at least one app"),
    ("inline_wait_seconds=601", "inline_wait_seconds must be between 0 and 600"),
]  # fmt: skip


@pytest.mark.parametrize(("assignment", "message"), BAD_VALUES)
def test_plan_refuses_bad_values_with_their_message(stack, assignment, message):
    proc = stack.refused[_plan_args([assignment])].result()
    assert proc.returncode == 1
    assert message in " ".join(proc.stderr.split()), proc.stderr[-3000:]


def test_plan_accepts_optional_values_left_null(stack):
    """Validations must not dereference a null (Terraform before 1.12 evaluates both sides of
    || and &&): a policy with most fields left out, and an alarm e-mail, plan without error."""
    apps = ('{demo={bot="demo-echo-bot", secrets_parameter="/s", debounce={mode="adaptive", max_wait_seconds=90}},'
            ' tg={bot="arn:aws:lambda:us-east-1:123456789012:function:tg-bot", provider="telegram", secrets_parameter="/t",'
            ' bot_timeout_seconds=120},'
            ' llm={bot_source="lambda/examples/echo_bot", provider="telegram", secrets_parameter="/l", invocation="async",'
            ' bot_timeout_seconds=600, bot_memory_mb=512},'
            ' open={bot="open-bot", provider="generic", url="https://example.com/in", allow_unauthenticated=true,'
            ' debounce={quiet_seconds=5, max_messages=20}}}')
    proc = stack.tf.run("plan", "-input=false", "-refresh=false", "-detailed-exitcode", "-out=apps.tfplan",
                        "-var", f"apps={apps}", "-var", "alarm_email=ops@example.com", check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]  # 2: a valid plan with changes
    assert "aws_sns_topic_subscription.email" in proc.stdout

    # THEN the functions' environment is rendered from the one map, defaults filled in
    plan = json.loads(stack.tf.run("show", "-json", "apps.tfplan").stdout)
    env = {change["address"].split(".")[1]: change["change"]["after"]["environment"][0]["variables"]
           for change in plan["resource_changes"]
           if change["type"] == "aws_lambda_function" and change["change"]["after"]}
    post, process, send = env["post_message_lambda"], env["process_message_lambda"], env["send_message_api_lambda"]
    assert json.loads(post["PROCESSING_LAMBDAS_MAP"]) == json.loads(process["PROCESSING_LAMBDAS_MAP"]) == {
        "demo": "demo-echo-bot", "tg": "arn:aws:lambda:us-east-1:123456789012:function:tg-bot",
        "llm": "debouncer-bot-llm", "open": "open-bot"}
    assert json.loads(post["PROVIDERS_MAP"]) == json.loads(send["PROVIDERS_MAP"]) == {
        "demo": "zapi", "tg": "telegram", "llm": "telegram", "open": "generic"}
    assert json.loads(send["API_URLS_MAP"]) == {"tg": "https://api.telegram.org", "llm": "https://api.telegram.org",
                                                "open": "https://example.com/in"}
    assert json.loads(post["SECRETS_PARAMETERS_MAP"]) == {"demo": "/s", "tg": "/t", "llm": "/l"}
    assert json.loads(process["BOT_INVOCATIONS_MAP"]) == {"demo": "sync", "tg": "sync", "llm": "async", "open": "sync"}
    assert json.loads(process["BOT_TIMEOUTS_MAP"]) == {"demo": 30, "tg": 120, "llm": 600, "open": 30}

    # AND the budgets follow: process_message outlives the slowest sync bot (15 s inline wait + 120 s
    # + 15 s; the async bot's 600 s waits for nobody), the lease the retry schedule of such attempts
    functions = {change["address"]: change["change"]["after"] for change in plan["resource_changes"]
                 if change["type"] == "aws_lambda_function"}
    assert functions["module.process_message_lambda.aws_lambda_function.this"]["timeout"] == 150
    assert int(process["BATCH_LEASE_SECONDS"]) == 7 * 150 + 2 * (2**6 - 1) + 60
    bot = functions['module.bot_lambda["llm"].aws_lambda_function.this']
    assert (bot["function_name"], bot["timeout"], bot["memory_size"]) == ("debouncer-bot-llm", 600, 512)
    assert bot["environment"][0]["variables"]["REPLY_QUEUE_URL"]
    invoke_configs = [change for change in plan["resource_changes"]
                      if change["type"] == "aws_lambda_function_event_invoke_config"]
    assert [c["index"] for c in invoke_configs] == ["llm"]
    assert invoke_configs[0]["change"]["after"]["maximum_retry_attempts"] == 2
    assert json.loads(post["UNAUTHENTICATED_APPS"]) == ["open"]
    policies = json.loads(process["DEBOUNCE_POLICIES"])
    assert set(policies) == {"demo", "open"}  # tg has none: the default policy
    assert policies["demo"]["mode"] == "adaptive" and policies["demo"]["max_wait_seconds"] == 90
    assert policies["open"]["quiet_seconds"] == 5 and policies["open"]["max_messages"] == 20
    assert policies["open"]["max_wait_seconds"] == 60 and policies["open"]["min_quiet_seconds"] == 1


BAD_BUDGETS = [
    (["apps={demo={bot=\"fn\", secrets_parameter=\"/s\", bot_timeout_seconds=901}}"],
     "apps: app demo: bot_timeout_seconds must be a whole number of seconds, 1-900"),
    (["apps={demo={bot=\"fn\", secrets_parameter=\"/s\", bot_timeout_seconds=880}}"],
     "must be at most 900 s (Lambda's longest timeout)"),
    (["apps={demo={bot=\"fn\", secrets_parameter=\"/s\", bot_timeout_seconds=240}}", "workflow_type=EXPRESS"],
     "workflow_type = EXPRESS stops executions after 5 minutes"),
    (["apps={demo={bot=\"fn\", secrets_parameter=\"/s\", bot_timeout_seconds=870}}", "inline_wait_seconds=30"],
     "must be at most 900 s (Lambda's longest timeout)"),
    (["apps={demo={bot=\"fn\", bot_source=\"lambda/examples/echo_bot\", secrets_parameter=\"/s\"}}"],
     "apps: app demo: set either bot"),
    (["apps={demo={bot=\"fn\", secrets_parameter=\"/s\", invocation=\"later\"}}"], "apps: app demo: invocation must be sync"),
]  # fmt: skip


@pytest.mark.parametrize(("assignments", "message"), BAD_BUDGETS)
def test_plan_refuses_a_bot_budget_the_stack_cannot_honour(stack, assignments, message):
    proc = stack.refused[_plan_args(assignments)].result()
    assert proc.returncode == 1
    assert message in " ".join(proc.stderr.split()), proc.stderr[-3000:]


def test_an_async_bot_of_the_stack_sends_its_failures_to_the_failed_batch_queue(stack):
    """The async app's bot, deployed by Terraform: Lambda's retries and on-failure destination set."""
    apps = '{demo={bot_source="lambda/examples/echo_bot", secrets_parameter="/debouncer/demo/secrets", invocation="async"}}'
    stack.tf.run("apply", "-auto-approve", "-input=false", "-var", f"apps={apps}", timeout=400)
    try:
        config = stack.aws.lambda_.get_function_event_invoke_config(FunctionName=stack.outputs["bot_function_names"][APP])
        assert config["MaximumRetryAttempts"] == 2
        failed_arn = stack.aws.sqs.get_queue_attributes(QueueUrl=stack.outputs["failed_batches_queue_url"],
                                                        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == failed_arn
        role = stack.aws.lambda_.get_function_configuration(FunctionName=stack.outputs["bot_function_names"][APP])["Role"]
        policies = stack.aws.iam.list_role_policies(RoleName=role.rsplit("/", 1)[1])["PolicyNames"]
        documents = json.dumps([stack.aws.iam.get_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName=p)["PolicyDocument"]
                                for p in policies])
        assert failed_arn in documents  # the bot's role may send to its destination
    finally:
        stack.tf.run("apply", "-auto-approve", "-input=false", timeout=400)  # back to the committed tfvars


# --------------------------------------------------------------------------
# the observability switches on the applied stack: flipped (tracing on, alarms and dashboard off),
# then back to the defaults with an e-mail and an existing topic, each read back through boto3 and
# planned again without changes. Switching both ways on a deployed stack is what an operator does.


SWITCHED = {"tracing_enabled": "true", "alarms_enabled": "false", "dashboard_enabled": "false", "alarm_email": "ops@example.com"}
EXISTING_TOPIC = "oncall"  # an SNS topic the operator already has, created in moto before the apply


def _vars(values: dict[str, str]) -> list[str]:
    return [arg for name, value in values.items() for arg in ("-var", f"{name}={value}")]


BAD_ALARM_ACTIONS = [
    ('["arn:aws:lambda:us-east-1:123456789012:function:x"]', "alarm_actions must be SNS topic ARNs"),
    ('["oncall"]', "alarm_actions must be SNS topic ARNs"),
    ('["arn:aws:sns:us-east-1:123456789012:a","arn:aws:sns:us-east-1:123456789012:a"]', "must not repeat a topic"),
]
# Every plan the stack fixture runs in the background in its blank copy, and the variables they give bad values.
REFUSED_PLANS = [
    *(_plan_args([assignment]) for assignment, _ in BAD_VALUES),
    *(_plan_args(assignments) for assignments, _ in BAD_BUDGETS),
    *(_plan_args([f"alarm_actions={value}"]) for value, _ in BAD_ALARM_ACTIONS),
]
REFUSED_VARIABLES = ("apps", "inline_wait_seconds", "workflow_type", "alarm_actions")


def _functions(stack) -> dict[str, dict]:
    """name => configuration of every Lambda function in the (moto) account: the stack's."""
    names = [f["FunctionName"] for f in stack.aws.lambda_.list_functions()["Functions"]]
    return {name: stack.aws.lambda_.get_function_configuration(FunctionName=name) for name in names}


def _state_machine(stack) -> dict:
    (machine,) = stack.aws.sfn.list_state_machines()["stateMachines"]
    return stack.aws.sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])


def _actions_of(document: dict) -> set[str]:
    actions = set()
    for statement in document["Statement"]:
        action = statement["Action"]
        actions |= {action} if isinstance(action, str) else set(action)
    return actions


def _role_policies(stack) -> dict[str, dict]:
    """role name => its logs/X-Ray (functions) or permissions (state machine) policy document."""
    documents = {}
    for name, config in _functions(stack).items():
        role = config["Role"].rsplit("/", 1)[-1]
        documents[role] = stack.aws.iam.get_role_policy(RoleName=role, PolicyName="logs-and-tracing")["PolicyDocument"]
    role = _state_machine(stack)["roleArn"].rsplit("/", 1)[-1]
    documents[role] = stack.aws.iam.get_role_policy(RoleName=role, PolicyName="state-machine-permissions")["PolicyDocument"]
    return documents


def _apply(stack, values: dict[str, str], label: str) -> None:
    started = time.monotonic()
    stack.tf.run("apply", "-auto-approve", "-input=false", *_vars(values), timeout=600)
    stack.timings[label] = time.monotonic() - started


def _assert_plan_is_empty(stack, values: dict[str, str]) -> None:
    proc = stack.tf.run("plan", "-detailed-exitcode", "-input=false", *_vars(values), check=False)
    assert proc.returncode == 0, f"plan after apply is not empty (exit {proc.returncode}):\n{proc.stdout[-6000:]}{proc.stderr[-3000:]}"


@pytest.mark.slow
def test_plan_with_tracing_on_and_alarms_and_dashboard_off(stack):
    """What the switches add and take away, before anything exists: with an alarm e-mail given,
    still no alarm, topic, key or subscription (the topic belongs to the alarms), no dashboard;
    every function Active, the state machine traced. (Planned in the stack fixture's blank copy.)"""
    plan = stack.switched_plan.result()
    created = [c for c in plan["resource_changes"] if c["change"]["actions"] == ["create"]]
    types = {c["type"] for c in created}
    assert not types & {"aws_cloudwatch_metric_alarm", "aws_cloudwatch_dashboard", "aws_sns_topic",
                        "aws_sns_topic_subscription", "aws_sns_topic_policy", "aws_kms_key", "aws_kms_alias"}, sorted(types)  # fmt: skip
    functions = [c for c in created if c["type"] == "aws_lambda_function"]
    assert {c["module_address"].split("[")[0].removeprefix("module.") for c in functions} == lambda_modules(_parse_root())
    assert all(c["change"]["after"]["tracing_config"] == [{"mode": "Active"}] for c in functions)
    (machine,) = [c for c in created if c["type"] == "aws_sfn_state_machine"]
    assert machine["change"]["after"]["tracing_configuration"] == [{"enabled": True}]


@pytest.mark.slow
def test_switched_apply_traces_everything_and_creates_no_alarm_or_dashboard(stack):
    _apply(stack, SWITCHED, "apply switched")
    functions = _functions(stack)
    assert len(functions) >= 4
    assert {name: c["TracingConfig"]["Mode"] for name, c in functions.items()} == dict.fromkeys(functions, "Active")
    assert _state_machine(stack)["tracingConfiguration"] == {"enabled": True}
    for role, document in _role_policies(stack).items():
        xray = [s for s in document["Statement"] if "xray:" in json.dumps(s["Action"])]
        assert len(xray) == 1 and xray[0]["Resource"] == "*", f"{role}: {document}"
        assert XRAY_WRITE <= _actions_of({"Statement": xray}), role

    assert stack.aws.cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert stack.aws.cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert stack.aws.sns.list_topics()["Topics"] == []
    outputs = _outputs(stack)
    assert outputs["alarm_names"] == [] and outputs["alarm_actions"] == []
    # terraform output -json leaves out the outputs that are null
    assert outputs.get("dashboard_name") is None and outputs.get("alarm_topic_arn") is None
    _assert_plan_is_empty(stack, SWITCHED)


@pytest.mark.slow
def test_plan_refuses_alarm_actions_that_are_not_sns_topic_arns(stack):
    for value, message in BAD_ALARM_ACTIONS:
        proc = stack.refused[_plan_args([f"alarm_actions={value}"])].result()
        assert proc.returncode == 1, value
        assert message in " ".join(proc.stderr.split()), proc.stderr[-3000:]


@pytest.mark.slow
def test_back_to_the_defaults_every_function_has_its_alarms_and_the_dashboard_returns(stack):
    """Tracing off again (PassThrough, no X-Ray grant left), and every alarm of the stack: each
    function's Errors and Throttles (the sweeper's too), each notifying the e-mail topic and the
    operator's existing topic on ALARM and on OK."""
    existing = stack.aws.sns.create_topic(Name=EXISTING_TOPIC)["TopicArn"]
    defaults = {"alarm_email": "ops@example.com", "alarm_actions": json.dumps([existing])}
    _apply(stack, defaults, "apply defaults")

    functions = _functions(stack)
    assert {name: c["TracingConfig"]["Mode"] for name, c in functions.items()} == dict.fromkeys(functions, "PassThrough")
    assert _state_machine(stack)["tracingConfiguration"] == {"enabled": False}
    for role, document in _role_policies(stack).items():
        assert not any(a.startswith("xray:") for a in _actions_of(document)), f"{role} keeps an X-Ray grant: {document}"

    alarms = {a["AlarmName"]: a for a in stack.aws.cloudwatch.describe_alarms()["MetricAlarms"]}
    fixed = {f"{PREFIX}-{name}" for name in ("send-dlq-not-empty", "failed-batches-dlq-not-empty", "executions-failed", "api-5xx")}
    def lambda_metric(alarm: dict) -> tuple[str, str] | None:
        """(metric, function) an alarm watches: its own metric, or the AWS/Lambda metric of its
        metric math (process_message's errors less the waits it handed back)."""
        if alarm.get("Namespace") == "AWS/Lambda":
            (function,) = [d["Value"] for d in alarm["Dimensions"] if d["Name"] == "FunctionName"]
            return alarm["MetricName"], function
        for query in alarm.get("Metrics") or []:
            metric = (query.get("MetricStat") or {}).get("Metric") or {}
            if metric.get("Namespace") == "AWS/Lambda":
                (function,) = [d["Value"] for d in metric["Dimensions"] if d["Name"] == "FunctionName"]
                return metric["MetricName"], function
        return None

    per_function = {name: lambda_metric(a) for name, a in alarms.items() if lambda_metric(a)}
    assert set(alarms) == fixed | set(per_function)
    # Errors and Throttles for every function of the account (the stack's), and nothing else:
    # a function missing from the table shows here even if the HCL check above were fooled.
    assert sorted(per_function.values()) == sorted((metric, name) for name in functions for metric in ("Errors", "Throttles")), "a function of the stack has no alarm"
    for name, (metric, _) in per_function.items():
        assert name.startswith(f"{PREFIX}-") and name.endswith(f"-{metric.lower()}"), name
    # process_message's NotDueYet raises (waits handed back to the state machine) are not errors
    net = alarms[f"{PREFIX}-process-message-errors"]["Metrics"]
    assert [q["Expression"] for q in net if q.get("ReturnData")] == ["errors - FILL(waits, 0)"]
    assert {q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in net if "MetricStat" in q} == {
        "errors": "Errors", "waits": "WaitsHandedBack"}
    expected = set(alarms)

    outputs = _outputs(stack)
    topic = outputs["alarm_topic_arn"]
    assert topic and topic != existing and sorted(t["TopicArn"] for t in stack.aws.sns.list_topics()["Topics"]) == sorted([topic, existing])
    assert outputs["alarm_actions"] == [topic, existing]
    for name, alarm in alarms.items():
        assert sorted(alarm["AlarmActions"]) == sorted(alarm["OKActions"]) == sorted([topic, existing]), name
    assert sorted(outputs["alarm_names"]) == sorted(expected)

    (dashboard,) = stack.aws.cloudwatch.list_dashboards()["DashboardEntries"]
    assert dashboard["DashboardName"] == outputs["dashboard_name"] == PREFIX
    body = json.loads(stack.aws.cloudwatch.get_dashboard(DashboardName=PREFIX)["DashboardBody"])
    lines = [line for widget in body["widgets"] for line in widget["properties"]["metrics"]]
    # CloudWatch refuses a body whose metrics are not arrays of [namespace, name, dimension..., {options}];
    # moto takes anything.
    assert all(isinstance(line, list) and isinstance(line[-1], dict) and all(isinstance(v, str) for v in line[:-1])
               for line in lines), [line for line in lines if not isinstance(line, list)][:5]  # fmt: skip
    graphed = {(line[1], line[3]) for line in lines if line[0] == "AWS/Lambda"}
    assert graphed == {(metric, name) for name in functions for metric in ("Invocations", "Errors", "Throttles", "Duration")}
    _assert_plan_is_empty(stack, defaults)


# --------------------------------------------------------------------------
# destroy


def test_destroy_leaves_nothing(stack):
    # as `make destroy` after `make clean`: the build is gone, destroy needs none
    (stack.tf.workdir / "build" / "lambda.zip").unlink()
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


@pytest.mark.slow
def test_destroy_takes_the_alarms_topic_and_dashboard_with_it(stack):
    assert stack.destroyed, "test_destroy_leaves_nothing destroys the stack"
    assert stack.aws.cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert stack.aws.cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert [t["TopicArn"].rsplit(":", 1)[-1] for t in stack.aws.sns.list_topics()["Topics"]] == [EXISTING_TOPIC]
    assert stack.aws.lambda_.list_functions()["Functions"] == []
