"""Observability an operator can switch (issue §3): every Lambda of the stack in one function table
that feeds monitoring; X-Ray tracing, the alarms and the dashboard as root variables; alarm_actions
(existing SNS topics) beside the optional e-mail topic.

Here, the checks of the parsed HCL (python-hcl2) that need no AWS. The real Terraform on moto
switches the same variables on the stack test_apply.py applies (one applied stack serves both):
a plan with every switch flipped (tracing on, alarms and dashboard off) before anything exists, that
apply on the deployed stack, then back to the defaults with an e-mail and an existing topic, each
read back through boto3 and planned again without changes, then destroyed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import hcl2
import pytest

import harness

REPO = harness.REPO
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
