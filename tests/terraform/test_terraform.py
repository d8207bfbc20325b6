"""Checks of the Terraform configuration that need no AWS: the real terraform binary and provider
(`fmt -check -recursive`, `init -backend=false`, `validate` of the root and, through it, every
module), checkov, and contracts read from the parsed HCL (python-hcl2) that Terraform itself does
not check: tfvars against the declared variables, the Python side's handlers and environment, the
state machine template, the module layout. `test_apply.py` applies the root to moto.

Without a terraform binary or an AWS provider (mirror or registry) these tests fail and say so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

import harness

# checkov pins an old boto3, so it lives in its own virtualenv (made by `make test`, see Makefile).
CHECKOV = Path(os.environ.get("CHECKOV", Path(__file__).resolve().parents[2] / ".venv" / "tools" / "checkov" / "bin" / "checkov"))

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
            "UNAUTHENTICATED_APPS",
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
            "PROVIDERS_MAP",
            "SECRETS_PARAMETERS_MAP",
            "HTTP_TIMEOUT_SECONDS",
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
            "LOG_LEVEL",
        },
    ),
}


@pytest.fixture(scope="module")
def validated_copy(tmp_path_factory) -> harness.Terraform:
    """A copy of the root (code-only build/lambda.zip) initialised without a backend."""
    tf = harness.Terraform(harness.copy_root(tmp_path_factory.mktemp("validate")), harness.write_cli_config())
    tf.init("-backend=false")
    return tf


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


# --------------------------------------------------------------------------
# (a) the real terraform: fmt, init, validate


def test_terraform_fmt_check_recursive() -> None:
    tf = harness.Terraform(REPO, harness.write_cli_config())
    proc = tf.run("fmt", "-check", "-recursive", "-diff", check=False)
    assert proc.returncode == 0, f"terraform fmt would change files:\n{proc.stdout}{proc.stderr}"


def test_init_installs_only_the_aws_provider(validated_copy) -> None:
    lock = (validated_copy.workdir / ".terraform.lock.hcl").read_text()
    assert re.findall(r'provider "([^"]+)"', lock) == ["registry.terraform.io/hashicorp/aws"]


def test_root_and_every_module_validate(validated_copy) -> None:
    proc = validated_copy.run("validate", "-json", check=False)
    result = json.loads(proc.stdout)
    assert result["valid"] and proc.returncode == 0, json.dumps(result["diagnostics"], indent=2)
    assert result["warning_count"] == 0, json.dumps(result["diagnostics"], indent=2)
    modules = json.loads((validated_copy.workdir / ".terraform" / "modules" / "modules.json").read_text())
    called = {m["Source"].removeprefix("./modules/") for m in modules["Modules"] if m["Key"]}
    assert called == set(MODULE_NAMES), "a module folder is not called by the root, so validate never sees it"


def test_a_fresh_clone_validates_without_a_build(tmp_path) -> None:
    """`terraform validate` (and so `make destroy`) needs no build/lambda.zip: a fresh clone or
    `make clean` has none."""
    root = harness.copy_root(tmp_path / "fresh")
    shutil.rmtree(root / "build")
    tf = harness.Terraform(root, harness.write_cli_config())
    tf.init("-backend=false")
    proc = tf.run("validate", "-json", check=False)
    assert proc.returncode == 0 and json.loads(proc.stdout)["valid"], proc.stdout[-3000:]


def test_the_committed_lock_file_pins_the_aws_provider_the_mirror_serves(validated_copy) -> None:
    committed = (REPO / ".terraform.lock.hcl").read_text()
    assert re.findall(r'provider "([^"]+)"', committed) == ["registry.terraform.io/hashicorp/aws"]
    version = re.search(r'version\s*=\s*"([^"]+)"', committed).group(1)
    # init in the copy (which carries the lock) kept it: same version, no new selection
    assert re.search(r'version\s*=\s*"([^"]+)"', (validated_copy.workdir / ".terraform.lock.hcl").read_text()).group(1) == version


@pytest.mark.parametrize(("text", "summary"), [
    ('output "x" {\n  value = var.not_declared\n}\n', "Reference to undeclared input variable"),
    ('module "y" {\n  source  = "./modules/dynamodb"\n  name    = "t"\n  no_such = 1\n}\n', "Unsupported argument"),
    ('output "x" {\n  value = module.dynamodb.no_such_output\n}\n', "Unsupported attribute"),
])  # fmt: skip
def test_validate_catches_broken_references(validated_copy, text, summary) -> None:
    """Guard for the check above (and what the hcl2 reference checks did before)."""
    broken = validated_copy.workdir / "broken.tf"
    broken.write_text(text)
    try:
        validated_copy.run("init", "-backend=false", "-input=false")
        result = json.loads(validated_copy.run("validate", "-json", check=False).stdout)
    finally:
        broken.unlink()
    assert not result["valid"]
    assert summary in [d["summary"] for d in result["diagnostics"]], result["diagnostics"]


def _dummy(type_expression: str) -> str:
    """An HCL value of a variable's type that its validations accept (for the null check below)."""
    kind = type_expression.strip("${} ")
    if kind.startswith("map(string)"):
        return '{ a = "b" }'
    # -var takes a string variable's value as it is, other types in HCL syntax.
    return {"string": "x1", "number": "1", "bool": "false"}.get(kind, "{}" if kind.startswith("map") else "[]")


@pytest.mark.parametrize("directory", ALL_DIRS, ids=DIR_IDS)
def test_validations_evaluate_with_the_defaults_left_null(directory: Path, tmp_path: Path) -> None:
    """Every variable block of a module alone, planned with only the required values set: each
    validation runs with its variable's default, null included. Terraform before 1.12 does not
    short-circuit || and &&, so `var.x == null || var.x >= 0` fails here with "argument must not
    be null" (the root takes terraform.tfvars, the optional debounce policy fields left null)."""
    shutil.copy2(directory / "variables.tf", tmp_path / "variables.tf")
    tf = harness.Terraform(tmp_path, harness.write_cli_config())
    tf.init("-backend=false")
    if directory == REPO:
        shutil.copy2(REPO / "terraform.tfvars", tmp_path / "terraform.tfvars")
        extra = ["-var", 'apps={demo={bot="x", secrets_parameter="/s", debounce={mode="adaptive"}}, other={bot="y", '
                         'provider="generic", url="https://e.example", allow_unauthenticated=true, debounce={max_messages=5}}}']
    else:
        declared = _named(_parse_dir(directory).get("variable", []))
        extra = []
        for name, body in declared.items():
            if "default" not in body:
                extra += ["-var", f"{name}={_dummy(str(body['type'][0]))}"]
    proc = tf.run("plan", "-input=false", *extra, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.tfvars")), ids=lambda p: p.name)
def test_every_example_tfvars_passes_the_root_validations(example: Path, tmp_path: Path) -> None:
    """examples/*.tfvars, planned against the root's variables alone: every value is accepted."""
    shutil.copy2(REPO / "variables.tf", tmp_path / "variables.tf")
    tf = harness.Terraform(tmp_path, harness.write_cli_config())
    tf.init("-backend=false")
    proc = tf.run("plan", "-input=false", f"-var-file={example}", check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_backend_example_is_valid_terraform() -> None:
    with (REPO / "examples" / "backend.tf.example").open() as handle:
        backend = hcl2.load(handle)["terraform"][0]["backend"][0]["s3"]
    assert {"bucket", "key", "region", "encrypt"} <= set(backend)


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
    # Only the AWS provider: build/lambda.zip comes from util/build.py, not hashicorp/archive.
    assert root == {"aws": {"source": "hashicorp/aws", "version": "~> 5.80"}}
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
        assert "local.lambda_package_hash" in call["source_code_hash"][0]
        assert re.fullmatch(r"\$\{local\.lambda_package\}", call["filename"][0]), call["filename"][0]


# Which root variable sizes each function: process_message its own (it mostly sleeps, and Lambda
# bills GB-seconds; util/measure_process_memory.py measured what it needs), every other its shared one.
MEMORY_VARIABLE = {"process_message_lambda": "process_message_memory_mb"}


def test_each_function_takes_its_memory_size_from_its_variable() -> None:
    parsed = _parse_dir(REPO)
    functions = {name: call for name, call in _named(parsed["module"]).items()
                 if call["source"][0] == "./modules/lambda"}  # fmt: skip
    assert set(MEMORY_VARIABLE) <= set(functions)
    for name, call in functions.items():
        if "for_each" in call:  # the bots: each app's bot_memory_mb (variables.tf validates 128-10240)
            assert call["memory_size"][0] == "${each.value.bot_memory_mb}", f"{name}: memory_size = {call['memory_size'][0]}"
            continue
        expected = MEMORY_VARIABLE.get(name, "lambda_memory_mb")
        assert call["memory_size"][0] == f"${{var.{expected}}}", f"{name}: memory_size = {call['memory_size'][0]}"
    variables = _named(parsed["variable"])
    for variable in {"lambda_memory_mb", *MEMORY_VARIABLE.values()}:
        assert variables[variable]["type"][0] == "${number}", variable
        conditions = " ".join(v["condition"][0] for v in variables[variable]["validation"])
        assert f"var.{variable} >= 128" in conditions and f"var.{variable} <= 10240" in conditions, variable
