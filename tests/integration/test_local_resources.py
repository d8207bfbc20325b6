"""`make run` builds its AWS from the same definitions as the Terraform: the table's keys, the state
machine JSON, the queue and its redrive, the names, and the variable values in terraform.tfvars.

The Terraform side is read here with the `hcl2` parser, independently of the regexes and helpers
util/local_aws.py uses, so a drift on either side shows."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import boto3
import hcl2
import pytest
from moto import mock_aws

from util import local_aws, tfvars
from util.local_gateway.config import debounce_policies
from util.local_gateway import (ECHO_BOT, NOT_SET_LOCALLY, TFVARS_USED, LocalConfigError, create_resources,
                                function_name_of, lambda_environment, local_config)

ROOT = Path(__file__).resolve().parents[2]


def hcl(path: Path) -> dict:
    return hcl2.loads(path.read_text())


def one(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def module_block(name: str) -> dict:
    for entry in hcl(ROOT / "main.tf")["module"]:
        if name in entry:
            return {k: one(v) for k, v in entry[name].items()}
    raise KeyError(name)


def terraform_name(expression: str, prefix: str) -> str:
    """"${var.name_prefix}-messages" -> "debouncer-messages"."""
    return expression.replace("${var.name_prefix}", prefix)


@pytest.fixture
def built():
    config = local_config(env={})
    with mock_aws(config=local_aws.MOTO_CONFIG):
        yield config, create_resources(config)


def test_the_table_has_the_keys_and_index_that_modules_dynamodb_declares(built):
    config, resources = built
    table = one(hcl(ROOT / "modules" / "dynamodb" / "main.tf")["resource"][0]["aws_dynamodb_table"]["this"])
    described = boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=resources.table)["Table"]

    assert described["KeySchema"] == [
        {"AttributeName": one(table["hash_key"]), "KeyType": "HASH"},
        {"AttributeName": one(table["range_key"]), "KeyType": "RANGE"},
    ]
    declared = {one(a["name"]): one(a["type"]) for a in table["attribute"]}
    assert {a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]} == declared
    indexes = {i["IndexName"]: i for i in described.get("GlobalSecondaryIndexes", [])}
    assert set(indexes) == {one(g["name"]) for g in table["global_secondary_index"]}
    for gsi in table["global_secondary_index"]:
        index = indexes[one(gsi["name"])]
        assert index["KeySchema"] == [
            {"AttributeName": one(gsi["hash_key"]), "KeyType": "HASH"},
            {"AttributeName": one(gsi["range_key"]), "KeyType": "RANGE"},
        ]
        assert index["Projection"]["ProjectionType"] == one(gsi["projection_type"])
        assert sorted(index["Projection"].get("NonKeyAttributes", [])) == sorted(one(gsi.get("non_key_attributes", [[]])))


def test_the_state_machine_is_the_template_terraform_renders(built):
    config, resources = built
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    definition = sfn.describe_state_machine(stateMachineArn=resources.state_machine_arn)["definition"]
    process_arn = boto3.client("lambda", region_name="us-east-1").get_function(
        FunctionName=resources.functions["process"])["Configuration"]["FunctionArn"]
    defaults = {name: one(block["default"])
                for entry in hcl(ROOT / "modules" / "step_functions" / "variables.tf")["variable"]
                for name, block in entry.items() if "default" in block}
    values = {"process_message_function_arn": process_arn,
              "retry_interval_seconds": str(defaults["retry_interval_seconds"]),
              "retry_max_attempts": str(defaults["retry_max_attempts"])}
    template = (ROOT / "modules" / "step_functions" / "definition.asl.json").read_text()
    rendered = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)

    assert definition == rendered
    task = json.loads(definition)["States"]["ProcessBatch"]
    assert task["Parameters"]["FunctionName"] == process_arn
    assert resources.state_machine_arn.endswith(":stateMachine:" + terraform_name(
        module_block("step_functions")["name"], config.name_prefix))


def test_the_names_are_the_ones_the_root_module_gives(built):
    config, resources = built
    prefix = config.name_prefix
    assert resources.table == terraform_name(module_block("dynamodb")["name"], prefix)
    locals_block = {k: one(v) for entry in hcl(ROOT / "main.tf")["locals"] for k, v in entry.items()}
    names = locals_block["function_names"]
    assert resources.functions == {
        "post": terraform_name(names["post_message"], prefix),
        "process": terraform_name(names["process_message"], prefix),
        "send": terraform_name(names["send_message_api"], prefix),
    }


def test_the_send_queue_and_dlq_are_named_and_redriven_as_in_modules_sqs(built):
    config, resources = built
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_name = terraform_name(module_block("sqs")["name"], config.name_prefix)
    assert resources.queue_url.endswith("/" + queue_name)
    dlq_expression = one(hcl(ROOT / "modules" / "sqs" / "main.tf")["resource"][0]["aws_sqs_queue"]["dlq"]["name"])
    assert resources.dlq_url.endswith("/" + dlq_expression.replace("${var.name}", queue_name))
    attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=resources.dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == tfvars.load()["send_max_receive_count"]


def test_the_failed_batch_queue_is_named_as_in_main_tf(built):
    config, resources = built
    queues = [entry["aws_sqs_queue"] for entry in hcl(ROOT / "main.tf")["resource"] if "aws_sqs_queue" in entry]
    expression = one(next(q["failed_batches"]["name"] for q in queues if "failed_batches" in q))
    assert resources.failed_batches_url.endswith("/" + terraform_name(expression, config.name_prefix))


def terraform_environment() -> dict[str, str]:
    """NAME -> expression of every variable main.tf puts in a function's environment."""
    text = (ROOT / "main.tf").read_text()
    blocks = re.findall(r"common_environment = \{(.*?)\n  \}", text, re.S)
    blocks += [block for block in re.findall(r"environment = merge\(local\.common_environment, \{(.*?)\}\)", text, re.S)
               if "each.key" not in block]  # not the bots' (module "bot_lambda"): the apps' code reads those
    assert len(blocks) >= 4, "main.tf's environment blocks changed shape; update this test"
    return {name: expr.strip() for block in blocks for name, expr in re.findall(r"^\s*([A-Z_]+)\s*=\s*(.+)$", block, re.M)}


def test_the_functions_get_the_environment_main_tf_gives_them_with_the_tfvars_values(built):
    config, resources = built
    local, unresolved = lambda_environment(config, resources)
    values = tfvars.load()
    terraform = terraform_environment()
    assert unresolved == []
    assert set(terraform) - set(NOT_SET_LOCALLY) <= set(local)
    for name, expression in terraform.items():
        variable = re.fullmatch(r"(?:tostring\()?var\.(\w+)\)?", expression)
        literal = re.fullmatch(r'"([^"$]*)"', expression)
        if variable and name != "LOG_LEVEL":  # LOG_LEVEL may come from the shell
            assert local[name] == str(values[variable.group(1)]), name
        elif literal:
            assert local[name] == literal.group(1), name


def test_a_variable_main_tf_passes_through_can_be_set_from_the_shell():
    config = local_config(env={"SEND_RETRY_BASE_SECONDS": "0", "DEBOUNCE_SECONDS": "3"}, root=ROOT)
    with mock_aws(config=local_aws.MOTO_CONFIG):
        env, _ = lambda_environment(config, create_resources(config))
    if "SEND_RETRY_BASE_SECONDS" in terraform_environment():
        assert env["SEND_RETRY_BASE_SECONDS"] == "0"
    assert env["DEBOUNCE_SECONDS"] == "3"


def test_every_app_lambda_has_a_function_record(built):
    config, _ = built
    client = boto3.client("lambda", region_name="us-east-1")
    for value in config.processing_lambdas.values():
        assert client.get_function(FunctionName=function_name_of(value))["Configuration"]["FunctionName"]


def test_terraform_tfvars_sets_only_declared_variables_and_the_local_run_reads_declared_ones():
    declared = {name for entry in hcl(ROOT / "variables.tf")["variable"] for name in entry}
    assert set(hcl(ROOT / "terraform.tfvars")) <= declared
    assert set(TFVARS_USED) <= declared
    assert set(tfvars.load()) <= declared


# --- configuration: terraform.tfvars, then the environment ------------------------------------


@pytest.fixture
def project(tmp_path):
    """A copy of the Terraform variable files with a tfvars of our own."""
    (tmp_path / "modules" / "step_functions").mkdir(parents=True)
    shutil.copy(ROOT / "variables.tf", tmp_path / "variables.tf")
    shutil.copy(ROOT / "main.tf", tmp_path / "main.tf")  # its local.default_api_urls
    shutil.copy(ROOT / "modules" / "step_functions" / "variables.tf", tmp_path / "modules" / "step_functions")
    (tmp_path / "terraform.tfvars").write_text(
        'name_prefix = "shopgw"\n'
        "debounce_seconds = 7\n"
        "send_max_receive_count = 2\n"
        "apps = {\n"
        '  demo = { bot = "demo-bot", provider = "twilio", secrets_parameter = "/d" }\n'
        '  shop = { bot = "shop-bot", provider = "telegram", url = "https://shop.example.com/send", secrets_parameter = "/s",'
        ' debounce = { mode = "adaptive", max_wait_seconds = 30 } }\n'
        '  faq  = { bot = "faq-bot", secrets_parameter = "/f" }\n'
        '  tg   = { bot = "tg-bot", provider = "telegram", secrets_parameter = "/t" }\n'
        "}\n"
    )
    return tmp_path


def test_values_come_from_terraform_tfvars_and_demo_is_wired_to_the_echo_bot_and_outbox(project):
    config = local_config(env={"GATEWAY_PORT": "9123"}, root=project)
    assert (config.name_prefix, config.debounce_seconds, config.max_receive_count) == ("shopgw", "7", 2)
    assert config.processing_lambdas == {"demo": ECHO_BOT, "shop": "shop-bot", "faq": "faq-bot", "tg": "tg-bot"}
    assert config.api_urls == {"demo": "http://127.0.0.1:9123/outbox", "shop": "https://shop.example.com/send",
                               "faq": "http://127.0.0.1:9123/outbox", "tg": "https://api.telegram.org"}
    # the quick start posts Z-API to demo; faq names no provider: Z-API
    assert config.providers == {"demo": "zapi", "shop": "telegram", "faq": "zapi", "tg": "telegram"}
    assert any("faq" in note and "outbox" in note for note in config.notes)
    assert debounce_policies(config.terraform) == {"shop": {"mode": "adaptive", "max_wait_seconds": 30}}
    assert config.http_timeout_seconds == "10"  # the variables.tf default


def test_environment_variables_override_the_tfvars(project):
    config = local_config(root=project, env={
        "DEBOUNCE_SECONDS": "2",
        "PROCESSING_LAMBDAS_MAP": json.dumps({"shop": "arn:aws:lambda:us-east-1:111122223333:function:shop-v2:live"}),
        "API_URLS_MAP": json.dumps({"demo": "https://hooks.example.com/demo"}),
        "PROVIDERS_MAP": json.dumps({"demo": "generic"}),
    })
    assert config.providers == {"demo": "generic", "shop": "telegram", "faq": "zapi", "tg": "telegram"}
    assert config.debounce_seconds == "2"
    assert config.processing_lambdas["shop"].endswith("shop-v2:live")
    assert function_name_of(config.processing_lambdas["shop"]) == "shop-v2"
    assert config.processing_lambdas["demo"] == ECHO_BOT
    assert config.api_urls["demo"] == "https://hooks.example.com/demo"


@pytest.mark.parametrize("name, value", [
    ("PROCESSING_LAMBDAS_MAP", "{not json"),
    ("API_URLS_MAP", '["a list"]'),
    ("PROVIDERS_MAP", '{"demo": 1}'),
    ("GATEWAY_PORT", "eighty"),
])
def test_a_bad_override_names_its_variable(project, name, value):
    with pytest.raises(LocalConfigError, match=name):
        local_config(env={name: value}, root=project)
