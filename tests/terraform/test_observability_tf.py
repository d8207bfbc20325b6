"""Observability an operator can switch (issue §3): every Lambda of the stack in one function table
that feeds monitoring; X-Ray tracing, the alarms and the dashboard as root variables; alarm_actions
(existing SNS topics) beside the optional e-mail topic.

Two parts: checks of the parsed HCL (python-hcl2) that need no AWS, and one cycle of the real
Terraform on moto (tests/terraform/harness.py): plan and apply with every switch flipped (tracing
on, alarms and dashboard off), then back to the defaults with an e-mail and an existing topic, each
read back through boto3 and planned again without changes, then destroyed. Switching both ways is
what an operator does, so the cycle applies both directions rather than two fresh stacks.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import boto3
import hcl2
import pytest

import harness

REPO = harness.REPO
REGION = "us-east-1"
LAMBDA_MODULE_SOURCE = "./modules/lambda"
FUNCTION_TABLE = "lambda_functions"  # the root local that feeds module "monitoring"
TFVARS = {k: v[0] for k, v in hcl2.loads((REPO / "terraform.tfvars").read_text()).items()}
PREFIX = TFVARS.get("name_prefix", "debouncer")
XRAY_WRITE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _parse_root(directory: Path = REPO) -> dict[str, list]:
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            for block_type, blocks in hcl2.load(handle).items():
                merged.setdefault(block_type, []).extend(blocks)
    return merged


def _modules(parsed: dict) -> dict[str, dict]:
    return {name: body for block in parsed.get("module", []) for name, body in block.items()}


def _local(parsed: dict, name: str):
    for block in parsed.get("locals", []):
        if name in block:
            return block[name][0] if isinstance(block[name], list) else block[name]
    raise AssertionError(f"main.tf defines no local.{name}")


def lambda_modules(parsed: dict) -> set[str]:
    """Every module call of modules/lambda: each is one Lambda function of the stack."""
    return {name for name, body in _modules(parsed).items() if body.get("source", [None])[0] == LAMBDA_MODULE_SOURCE}


def table_modules(parsed: dict) -> list[str]:
    """The modules whose functions the function table lists, once per mention: a map of
    ``label = module.X.function_name``, or a merge() of such a map with
    ``{ for id, f in module.Y : ... => f.function_name }`` for a module called with for_each."""
    expression = json.dumps(_local(parsed, FUNCTION_TABLE))
    direct = re.findall(r"module\.([A-Za-z0-9_-]+)\.function_name", expression)
    iterated = re.findall(r"for [A-Za-z0-9_]+ ?, ?([A-Za-z0-9_]+) in module\.([A-Za-z0-9_-]+) ?:(?:(?!\bfor\b).)*?\b\1\.function_name", expression)
    return direct + [module for _, module in iterated]


def coverage_gaps(parsed: dict) -> tuple[set[str], set[str]]:
    """(Lambda modules missing from the table, table entries naming no Lambda module)."""
    functions, listed = lambda_modules(parsed), set(table_modules(parsed))
    return functions - listed, listed - functions


# --------------------------------------------------------------------------
# the function table and the switches, read from the HCL


def test_every_lambda_module_is_in_the_function_table() -> None:
    parsed = _parse_root()
    missing, unknown = coverage_gaps(parsed)
    assert lambda_modules(parsed) >= {"post_message_lambda", "process_message_lambda", "send_message_api_lambda", "sweeper_lambda"}
    assert not missing, f"module(s) {sorted(missing)} have no Errors/Throttles alarms: add them to local.{FUNCTION_TABLE} in main.tf"
    assert not unknown, f"local.{FUNCTION_TABLE} names {sorted(unknown)}, which are not module \"*_lambda\" calls"
    listed = table_modules(parsed)
    assert len(set(listed)) == len(listed), f"a function is listed twice: {sorted(listed)}"


def _synthetic(table: str, *modules: str) -> dict:
    """A parsed root (as python-hcl2 gives it) with these modules/lambda calls and this table."""
    calls = [{name: {"source": [LAMBDA_MODULE_SOURCE], "handler": ["x.handler.lambda_handler"]}} for name in modules]
    return {"module": [*calls, {"dynamodb": {"source": ["./modules/dynamodb"]}}], "locals": [{FUNCTION_TABLE: [table]}]}


def test_the_coverage_check_notices_a_function_left_out_and_a_stale_entry() -> None:
    """Guard for the check above, on both forms of the table."""
    plain = "${{'a': '${module.a_lambda.function_name}', 'b': '${module.b_lambda.function_name}'}}"
    merged = ("${merge({'a': '${module.a_lambda.function_name}'},"
              '{for id , fn in module.each_lambda : "each-${id}" => fn.function_name})}')  # fmt: skip
    assert coverage_gaps(_synthetic(plain, "a_lambda", "b_lambda")) == (set(), set())
    assert coverage_gaps(_synthetic(merged, "a_lambda", "each_lambda")) == (set(), set())
    # a new module "*_lambda" nobody added to the table
    assert coverage_gaps(_synthetic(plain, "a_lambda", "b_lambda", "reports_lambda")) == ({"reports_lambda"}, set())
    assert coverage_gaps(_synthetic(merged, "a_lambda", "each_lambda", "b_lambda")) == ({"b_lambda"}, set())
    # an entry whose module is gone
    assert coverage_gaps(_synthetic(plain, "a_lambda")) == (set(), {"b_lambda"})
    # a for over a module that does not take the function names is no coverage
    wrong = "${merge({}, {for id , fn in module.each_lambda : id => fn.role_arn})}"
    assert coverage_gaps(_synthetic(wrong, "each_lambda")) == ({"each_lambda"}, set())
    # the real root parses as one of the two forms
    assert table_modules(_parse_root())


def test_monitoring_takes_the_function_table_and_the_switches() -> None:
    monitoring = _modules(_parse_root())["monitoring"]
    assert monitoring["function_names"][0] == f"${{local.{FUNCTION_TABLE}}}"
    for argument in ("alarm_email", "alarm_actions", "alarms_enabled", "dashboard_enabled"):
        assert monitoring[argument][0] == f"${{var.{argument}}}", argument


def test_every_function_and_the_state_machine_take_the_tracing_switch() -> None:
    modules = _modules(_parse_root())
    for name in sorted(lambda_modules(_parse_root()) | {"step_functions"}):
        assert modules[name].get("tracing_enabled", [None])[0] == "${var.tracing_enabled}", f"module {name}: tracing_enabled not passed"


@pytest.mark.parametrize(("name", "kind", "default"), [
    ("alarm_actions", "${list(string)}", []),
    ("alarms_enabled", "${bool}", True),
    ("dashboard_enabled", "${bool}", True),
    ("tracing_enabled", "${bool}", False),
])  # fmt: skip
def test_the_switches_are_root_variables_with_their_defaults(name, kind, default) -> None:
    variables = {n: b for block in _parse_root().get("variable", []) for n, b in block.items()}
    assert variables[name]["type"][0] == kind and variables[name]["default"][0] == default
    assert variables[name].get("nullable", [True])[0] is False, f"{name} = null would slip past its validations"


def test_the_lambda_and_state_machine_grant_x_ray_only_when_tracing_is_on() -> None:
    """The X-Ray statements (Resource "*", which X-Ray requires) are dynamic blocks on
    var.tracing_enabled; nothing else in the two modules grants xray:* ."""
    for module, document in (("lambda", "logs_and_tracing"), ("step_functions", "permissions")):
        parsed = _parse_root(REPO / "modules" / module)
        body = next(b for block in parsed["data"] for kind, named in block.items()
                    if kind == "aws_iam_policy_document" for n, b in named.items() if n == document)  # fmt: skip
        static = json.dumps(body.get("statement", []))
        assert "xray:" not in static, f"modules/{module}: an X-Ray grant outside the tracing switch"
        (dynamic,) = [d["statement"] for d in body.get("dynamic", []) if "xray:" in json.dumps(d)]
        assert "var.tracing_enabled" in dynamic["for_each"][0]
        (content,) = dynamic["content"]
        assert XRAY_WRITE <= set(content["actions"][0]) and content["resources"][0] == ["*"]


# --------------------------------------------------------------------------
# the real Terraform on moto: switched, then back to the defaults


SWITCHED = {"tracing_enabled": "true", "alarms_enabled": "false", "dashboard_enabled": "false", "alarm_email": "ops@example.com"}
EXISTING_TOPIC = "oncall"  # an SNS topic the operator already has, created in moto before the apply


def _vars(values: dict[str, str]) -> list[str]:
    return [arg for name, value in values.items() for arg in ("-var", f"{name}={value}")]


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    root = harness.copy_root(tmp_path_factory.mktemp("observability"))
    with harness.moto_server() as url:
        harness.write_provider_override(root, url, REGION)
        tf = harness.Terraform(root, harness.write_cli_config())
        tf.init()
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
        aws = SimpleNamespace(**{name: session.client(service, endpoint_url=url) for name, service in [
            ("lambda_", "lambda"), ("sfn", "stepfunctions"), ("iam", "iam"), ("cloudwatch", "cloudwatch"), ("sns", "sns"),
        ]})  # fmt: skip
        state = SimpleNamespace(tf=tf, aws=aws, destroyed=False, timings={})
        try:
            yield state
        finally:
            if not state.destroyed:
                tf.run("destroy", "-auto-approve", "-input=false", *_vars(SWITCHED), timeout=400, check=False)
            print(f"\nobservability cycle on moto (s): { {k: round(v, 1) for k, v in state.timings.items()} }")


def _outputs(cycle) -> dict:
    return {k: v["value"] for k, v in json.loads(cycle.tf.run("output", "-json").stdout).items()}


def _functions(cycle) -> dict[str, dict]:
    """name => configuration of every Lambda function in the (moto) account: the stack's."""
    names = [f["FunctionName"] for f in cycle.aws.lambda_.list_functions()["Functions"]]
    return {name: cycle.aws.lambda_.get_function_configuration(FunctionName=name) for name in names}


def _state_machine(cycle) -> dict:
    (machine,) = cycle.aws.sfn.list_state_machines()["stateMachines"]
    return cycle.aws.sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])


def _actions_of(document: dict) -> set[str]:
    actions = set()
    for statement in document["Statement"]:
        action = statement["Action"]
        actions |= {action} if isinstance(action, str) else set(action)
    return actions


def _role_policies(cycle) -> dict[str, dict]:
    """role name => its logs/X-Ray (functions) or permissions (state machine) policy document."""
    documents = {}
    for name, config in _functions(cycle).items():
        role = config["Role"].rsplit("/", 1)[-1]
        documents[role] = cycle.aws.iam.get_role_policy(RoleName=role, PolicyName="logs-and-tracing")["PolicyDocument"]
    role = _state_machine(cycle)["roleArn"].rsplit("/", 1)[-1]
    documents[role] = cycle.aws.iam.get_role_policy(RoleName=role, PolicyName="state-machine-permissions")["PolicyDocument"]
    return documents


def _apply(cycle, values: dict[str, str], label: str) -> None:
    started = time.monotonic()
    cycle.tf.run("apply", "-auto-approve", "-input=false", *_vars(values), timeout=600)
    cycle.timings[label] = time.monotonic() - started


def _assert_plan_is_empty(cycle, values: dict[str, str]) -> None:
    proc = cycle.tf.run("plan", "-detailed-exitcode", "-input=false", *_vars(values), check=False)
    assert proc.returncode == 0, f"plan after apply is not empty (exit {proc.returncode}):\n{proc.stdout[-6000:]}{proc.stderr[-3000:]}"


@pytest.mark.slow
def test_plan_with_tracing_on_and_alarms_and_dashboard_off(cycle):
    """What the switches add and take away, before anything exists: with an alarm e-mail given,
    still no alarm, topic, key or subscription (the topic belongs to the alarms), no dashboard;
    every function Active, the state machine traced."""
    cycle.tf.run("plan", "-input=false", "-out=switched.plan", *_vars(SWITCHED))
    plan = json.loads(cycle.tf.run("show", "-json", "switched.plan").stdout)
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
def test_switched_apply_traces_everything_and_creates_no_alarm_or_dashboard(cycle):
    _apply(cycle, SWITCHED, "apply switched")
    functions = _functions(cycle)
    assert len(functions) >= 4
    assert {name: c["TracingConfig"]["Mode"] for name, c in functions.items()} == dict.fromkeys(functions, "Active")
    assert _state_machine(cycle)["tracingConfiguration"] == {"enabled": True}
    for role, document in _role_policies(cycle).items():
        xray = [s for s in document["Statement"] if "xray:" in json.dumps(s["Action"])]
        assert len(xray) == 1 and xray[0]["Resource"] == "*", f"{role}: {document}"
        assert XRAY_WRITE <= _actions_of({"Statement": xray}), role

    assert cycle.aws.cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert cycle.aws.cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert cycle.aws.sns.list_topics()["Topics"] == []
    outputs = _outputs(cycle)
    assert outputs["alarm_names"] == [] and outputs["alarm_actions"] == []
    # terraform output -json leaves out the outputs that are null
    assert outputs.get("dashboard_name") is None and outputs.get("alarm_topic_arn") is None
    _assert_plan_is_empty(cycle, SWITCHED)


@pytest.mark.slow
def test_plan_refuses_alarm_actions_that_are_not_sns_topic_arns(cycle):
    for value, message in [
        ('["arn:aws:lambda:us-east-1:123456789012:function:x"]', "alarm_actions must be SNS topic ARNs"),
        ('["oncall"]', "alarm_actions must be SNS topic ARNs"),
        ('["arn:aws:sns:us-east-1:123456789012:a","arn:aws:sns:us-east-1:123456789012:a"]', "must not repeat a topic"),
    ]:
        proc = cycle.tf.run("plan", "-input=false", "-refresh=false", "-var", f"alarm_actions={value}", check=False)
        assert proc.returncode == 1, value
        assert message in " ".join(proc.stderr.split()), proc.stderr[-3000:]


@pytest.mark.slow
def test_back_to_the_defaults_every_function_has_its_alarms_and_the_dashboard_returns(cycle):
    """Tracing off again (PassThrough, no X-Ray grant left), and every alarm of the stack: each
    function's Errors and Throttles (the sweeper's too), each notifying the e-mail topic and the
    operator's existing topic on ALARM and on OK."""
    existing = cycle.aws.sns.create_topic(Name=EXISTING_TOPIC)["TopicArn"]
    defaults = {"alarm_email": "ops@example.com", "alarm_actions": json.dumps([existing])}
    _apply(cycle, defaults, "apply defaults")

    functions = _functions(cycle)
    assert {name: c["TracingConfig"]["Mode"] for name, c in functions.items()} == dict.fromkeys(functions, "PassThrough")
    assert _state_machine(cycle)["tracingConfiguration"] == {"enabled": False}
    for role, document in _role_policies(cycle).items():
        assert not any(a.startswith("xray:") for a in _actions_of(document)), f"{role} keeps an X-Ray grant: {document}"

    alarms = {a["AlarmName"]: a for a in cycle.aws.cloudwatch.describe_alarms()["MetricAlarms"]}
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

    outputs = _outputs(cycle)
    topic = outputs["alarm_topic_arn"]
    assert topic and topic != existing and sorted(t["TopicArn"] for t in cycle.aws.sns.list_topics()["Topics"]) == sorted([topic, existing])
    assert outputs["alarm_actions"] == [topic, existing]
    for name, alarm in alarms.items():
        assert sorted(alarm["AlarmActions"]) == sorted(alarm["OKActions"]) == sorted([topic, existing]), name
    assert sorted(outputs["alarm_names"]) == sorted(expected)

    (dashboard,) = cycle.aws.cloudwatch.list_dashboards()["DashboardEntries"]
    assert dashboard["DashboardName"] == outputs["dashboard_name"] == PREFIX
    body = json.loads(cycle.aws.cloudwatch.get_dashboard(DashboardName=PREFIX)["DashboardBody"])
    lines = [line for widget in body["widgets"] for line in widget["properties"]["metrics"]]
    # CloudWatch refuses a body whose metrics are not arrays of [namespace, name, dimension..., {options}];
    # moto takes anything.
    assert all(isinstance(line, list) and isinstance(line[-1], dict) and all(isinstance(v, str) for v in line[:-1])
               for line in lines), [line for line in lines if not isinstance(line, list)][:5]  # fmt: skip
    graphed = {(line[1], line[3]) for line in lines if line[0] == "AWS/Lambda"}
    assert graphed == {(metric, name) for name in functions for metric in ("Invocations", "Errors", "Throttles", "Duration")}
    _assert_plan_is_empty(cycle, defaults)


@pytest.mark.slow
def test_destroy_takes_the_alarms_topic_and_dashboard_with_it(cycle):
    started = time.monotonic()
    cycle.tf.run("destroy", "-auto-approve", "-input=false", timeout=400)
    cycle.timings["destroy"] = time.monotonic() - started
    cycle.destroyed = True
    assert cycle.aws.cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert cycle.aws.cloudwatch.list_dashboards()["DashboardEntries"] == []
    assert [t["TopicArn"].rsplit(":", 1)[-1] for t in cycle.aws.sns.list_topics()["Topics"]] == [EXISTING_TOPIC]
    assert cycle.aws.lambda_.list_functions()["Functions"] == []
