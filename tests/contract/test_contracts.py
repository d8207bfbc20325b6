"""Contract between the code and the Terraform, checked from the source of both (see code_model.py).

For every Lambda function Terraform declares (a module call with a ``handler`` argument in the root
module, so functions added later are covered without editing this file):

* its handler string names a real function under lambda/;
* every AWS call its code can make is allowed by its own policy document, and the policy grants
  nothing the code does not need (besides what the SQS event source mapping needs, and kms:Decrypt
  through SSM for SecureString parameters); no data-access statement uses ``Resource = "*"``;
* every environment variable its code reads is set by Terraform for that function, or is
  documented below as local-only / provided by the Lambda runtime; and every variable Terraform
  sets for it is read by its code.
"""

from __future__ import annotations

import ast
import json
import re

import pytest

from code_model import LAMBDA_DIR, REPO, Analyzer, Package, TerraformRoot, iam_actions, parse_tf_dir

# Read by the code but never set by Terraform, on purpose.
LOCAL_ONLY_ENV = {
    "APP_SECRETS_JSON": "local runs: per-app secrets from the environment instead of SSM (make run, tests)",
}
# Set by the Lambda runtime itself (AWS_LAMBDA_LOG_LEVEL: from logging_config's application level).
RUNTIME_ENV = {"AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
               "LAMBDA_TASK_ROOT", "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_LAMBDA_LOG_LEVEL"}
# What the Lambda service needs in the function's role to poll an SQS event source
# (the actions of the AWSLambdaSQSQueueExecutionRole managed policy).
SQS_EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# modules/lambda gives every function these, and nothing else (X-Ray only with tracing_enabled).
LOGS_AND_TRACING_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                            "xray:PutTelemetryRecords"}

TERRAFORM = TerraformRoot()
ANALYZER = Analyzer()
FUNCTIONS = {f.name: f for f in TERRAFORM.functions()}


@pytest.fixture(scope="module")
def usages():
    return {name: ANALYZER.usage(f.handler) for name, f in FUNCTIONS.items()}


def test_terraform_declares_the_gateway_functions() -> None:
    handlers = {f.handler for f in FUNCTIONS.values()}
    assert {"post_message.handler.lambda_handler", "process_message.handler.lambda_handler",
            "send_message_api.handler.lambda_handler"} <= handlers


# --------------------------------------------------------------------------- handler strings


def _handler_strings() -> list[str]:
    """Every handler string in the Terraform: module arguments and aws_lambda_function resources,
    but the bots' (a ``for_each`` module call over the apps' bot_source folders: their handler is
    relative to each folder, checked below)."""
    found = []
    for directory in [REPO, *sorted(p for p in (REPO / "modules").iterdir() if p.is_dir())]:
        parsed = parse_tf_dir(directory)
        parsed["module"] = [{name: body for name, body in block.items() if "for_each" not in body}
                            for block in parsed.get("module", [])]
        text = json.dumps(parsed)
        found += re.findall(r'"handler": \["([A-Za-z0-9_.]+)"\]', text)
    return sorted(set(found))


def test_every_bot_source_of_the_committed_and_example_tfvars_holds_its_handler() -> None:
    """A bot Terraform deploys runs handler.lambda_handler (main.tf's bot_lambda) from its folder."""
    import hcl2

    bot_handler = [body for block in parse_tf_dir(REPO)["module"] for name, body in block.items()
                   if name == "bot_lambda"][0]["handler"][0]
    module_file, function = bot_handler.rsplit(".", 1)
    sources = set()
    for tfvars in [REPO / "terraform.tfvars", *(REPO / "examples").glob("*.tfvars")]:
        apps = (hcl2.loads(tfvars.read_text()).get("apps") or [{}])[0]
        sources |= {app["bot_source"] for app in apps.values() if "bot_source" in app}
    assert "lambda/examples/echo_bot" in sources
    for source in sorted(sources):
        path = REPO / source / f"{module_file}.py"
        assert path.is_file(), f"bot_source {source}: no {module_file}.py"
        tree = ast.parse(path.read_text())
        assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, f"{path}: no {function}"


def test_handler_strings_are_found() -> None:
    assert set(_handler_strings()) >= {f.handler for f in FUNCTIONS.values()}


@pytest.mark.parametrize("handler", _handler_strings())
def test_every_handler_string_points_at_a_real_function(handler: str) -> None:
    module_path, _, function = handler.rpartition(".")
    path = LAMBDA_DIR.joinpath(*module_path.split(".")).with_suffix(".py")
    assert path.is_file(), f"{handler}: {path.relative_to(REPO)} does not exist"
    tree = ast.parse(path.read_text())
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert function in defined, f"{handler}: {path.relative_to(REPO)} defines no {function}"


# --------------------------------------------------------------------------- IAM


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_aws_call_is_allowed_by_the_functions_own_policy(name: str, usages) -> None:
    function, usage = FUNCTIONS[name], usages[name]
    missing = {call: sorted(call.actions - function.granted) for call in usage.boto_calls
               if not call.actions <= function.granted}
    assert not missing, f"{name}: calls not allowed by its policy: " + "; ".join(
        f"{c.service}.{c.operation} at {c.where} needs {a}" for c, a in sorted(missing.items(), key=lambda i: i[0].where))
    for source in function.event_sources:
        if "sqs" in source.lower():
            assert SQS_EVENT_SOURCE_ACTIONS <= function.granted, f"{name}: its SQS event source needs {SQS_EVENT_SOURCE_ACTIONS}"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_policy_grants_nothing_the_code_does_not_need(name: str, usages) -> None:
    function, usage = FUNCTIONS[name], usages[name]
    needed = set(usage.actions)
    if any("sqs" in source.lower() for source in function.event_sources):
        needed |= SQS_EVENT_SOURCE_ACTIONS
    if "ssm:GetParameter" in needed:
        needed.add("kms:Decrypt")  # SecureString parameters under a customer managed key
    extra = function.granted - needed
    assert not extra, f"{name}: its policy grants {sorted(extra)}, which its code never uses"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_policy_statements_are_scoped_to_resources(name: str) -> None:
    for statement in FUNCTIONS[name].statements:
        assert statement.resources, f"{name}: statement {statement.sid} has no resources"
        assert "*" not in statement.resources, f"{name}: statement {statement.sid} allows Resource = \"*\""
        if statement.actions == {"kms:Decrypt"}:
            via = [c for c in statement.conditions if "kms:ViaService" in json.dumps(c)]
            assert via, f"{name}: kms:Decrypt without a kms:ViaService condition"


def test_lambda_module_grants_only_its_own_logs_and_tracing() -> None:
    parsed = parse_tf_dir(REPO / "modules" / "lambda")
    documents = {n: b for block in parsed["data"] for kind, named in block.items()
                 if kind == "aws_iam_policy_document" for n, b in named.items()}
    # The X-Ray statement is a dynamic block, present with tracing_enabled only (its switch:
    # tests/terraform/test_observability_tf.py).
    document = documents["logs_and_tracing"]
    statements = document["statement"] + [c for d in document.get("dynamic", []) for c in d["statement"]["content"]]
    actions = {a for s in statements for a in s["actions"][0]}
    assert actions == LOGS_AND_TRACING_ACTIONS
    text = json.dumps(documents["logs_and_tracing"])
    assert "aws_cloudwatch_log_group.this.arn" in text, "log permissions must be scoped to the function's log group"


def test_state_machine_role_may_invoke_only_what_the_definition_invokes() -> None:
    definition = (REPO / "modules" / "step_functions" / "definition.asl.json").read_text()
    targets = set(re.findall(r'"FunctionName":\s*"([^"]+)"', definition))
    assert targets == {"${process_message_function_arn}"}
    parsed = parse_tf_dir(REPO / "modules" / "step_functions")
    permissions = next(b for block in parsed["data"] for kind, named in block.items()
                       if kind == "aws_iam_policy_document" for n, b in named.items() if n == "permissions")
    invoke = [s for s in permissions["statement"] if s["actions"][0] == ["lambda:InvokeFunction"]]
    assert len(invoke) == 1
    assert all("var.process_message_function_arn" in r for r in invoke[0]["resources"][0])


# --------------------------------------------------------------------------- environment


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_env_var_the_code_reads_is_set_by_terraform(name: str, usages) -> None:
    function, usage = FUNCTIONS[name], usages[name]
    unset = {var: where for var, where in usage.env_reads.items()
             if var not in function.environment and var not in LOCAL_ONLY_ENV and var not in RUNTIME_ENV}
    assert not unset, f"{name}: reads environment variables Terraform does not set: " + ", ".join(
        f"{var} ({where})" for var, where in sorted(unset.items()))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_env_var_terraform_sets_is_read(name: str, usages) -> None:
    function, usage = FUNCTIONS[name], usages[name]
    common = TERRAFORM.common_environment()  # service-wide settings, read by Powertools too
    unused = function.environment - set(usage.env_reads) - common
    assert not unused, f"{name}: Terraform sets {sorted(unused)}, which its code never reads"


def test_local_only_variables_are_not_set_by_terraform() -> None:
    for function in FUNCTIONS.values():
        assert not set(LOCAL_ONLY_ENV) & function.environment, function.name


# --------------------------------------------------------------------------- the analysis itself


def test_analysis_finds_the_calls_each_function_is_known_to_make(usages) -> None:
    """Guard against a contract that passes because the analysis sees nothing."""
    by_handler = {FUNCTIONS[name].handler: usage for name, usage in usages.items()}
    post = by_handler["post_message.handler.lambda_handler"]
    assert {"dynamodb:UpdateItem", "states:StartExecution"} <= post.actions
    assert {"TABLE_NAME", "STATE_MACHINE_ARN", "LOG_LEVEL"} <= set(post.env_reads)
    assert "lambda:InvokeFunction" not in post.actions
    process = by_handler["process_message.handler.lambda_handler"]
    assert {"lambda:InvokeFunction", "dynamodb:Query", "dynamodb:PutItem"} <= process.actions
    assert "states:StartExecution" not in process.actions
    send = by_handler["send_message_api.handler.lambda_handler"]
    assert "ssm:GetParameter" in send.actions and "API_URLS_MAP" in send.env_reads
    assert not {a for a in send.actions if a.startswith("dynamodb:")}


def test_analysis_follows_properties_attributes_transactions_and_callbacks(tmp_path) -> None:
    pkg = tmp_path / "lambda"
    (pkg / "core").mkdir(parents=True)
    (pkg / "fn").mkdir()
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "aws.py").write_text(
        "import boto3\n\ndef client(service):\n    return boto3.client(service, region_name='x')\n")
    (pkg / "core" / "store.py").write_text(
        "import os\nfrom . import aws\n\n"
        "class Store:\n"
        "    @property\n    def _ddb(self):\n        return aws.client('dynamodb')\n\n"
        "    def save(self):\n        self._ddb.transact_write_items(TransactItems=[{'Delete': {}}, {'ConditionCheck': {}}])\n\n"
        "    def unused(self):\n        self._ddb.scan(TableName='t')\n\n"
        "class Service:\n"
        "    def __init__(self, store=None):\n        self.store = store or Store()\n\n"
        "    def run(self, records):\n        return list(map(self.each, records))\n\n"
        "    def each(self, record):\n        self.store.save()\n"
        "        queue = aws.client('sqs')\n        queue.send_message(QueueUrl=os.environ['QUEUE_URL'], MessageBody='')\n\n"
        "def settings(env=os.environ):\n    name = 'TABLE'\n    return env.get(name), _required(env, 'OTHER_NAME')\n\n"
        "def _required(env, name):\n    return env[name]\n")
    (pkg / "fn" / "handler.py").write_text(
        "import os\nfrom core.store import Service, settings\n\nREGION = os.environ.get('AWS_REGION')\n\n"
        "def make() -> Service:\n    settings()\n    return Service()\n\n"
        "def lambda_handler(event, context):\n    return make().run(event['Records'])\n")
    usage = Analyzer(Package(pkg)).usage("fn.handler.lambda_handler")
    assert usage.actions == {"dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "sqs:SendMessage"}
    assert set(usage.env_reads) == {"AWS_REGION", "QUEUE_URL", "TABLE", "OTHER_NAME"}


@pytest.mark.parametrize("service, operation, expected", [
    ("dynamodb", "update_item", {"dynamodb:UpdateItem"}),
    ("stepfunctions", "start_execution", {"states:StartExecution"}),
    ("lambda", "invoke", {"lambda:InvokeFunction"}),
    ("ssm", "get_parameter", {"ssm:GetParameter"}),
    ("sqs", "send_message", {"sqs:SendMessage"}),
    ("sqs", "send_message_batch", {"sqs:SendMessage"}),
])
def test_operation_to_iam_action(service, operation, expected) -> None:
    assert iam_actions(service, operation) == expected


def test_every_provider_settings_accepts_can_be_loaded_by_name() -> None:
    """Providers are imported on first use (cold start pays only for the ones configured): the
    names settings validates and the lazily loaded classes must agree."""
    from gateway.providers import PROVIDER_NAMES, get_provider

    for name in PROVIDER_NAMES:
        assert get_provider(name).name == name
    with pytest.raises(KeyError):
        get_provider("carrier-pigeon")
