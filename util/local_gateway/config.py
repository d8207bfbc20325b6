"""The local run's configuration: terraform.tfvars (over variables.tf defaults) with the shell's
overrides, and the environment main.tf gives the functions, filled in with the local resources."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from util import tfvars

from . import bots

if TYPE_CHECKING:
    from .resources import Resources

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PORT = 8080
EXAMPLES = ROOT / "lambda" / "examples"
ECHO_BOT = "echo_bot"  # the local function name of lambda/examples/echo_bot
DEMO_APP = "demo"

# The root module variables the local run reads itself from terraform.tfvars (or variables.tf
# defaults); the other values main.tf passes to the functions follow it (lambda_environment).
TFVARS_USED = ("name_prefix", "debounce_seconds", "apps", "log_level", "send_max_receive_count", "send_batch_size",
               "http_timeout_seconds")


class LocalConfigError(ValueError):
    pass


@dataclass
class LocalConfig:
    port: int
    name_prefix: str
    debounce_seconds: str
    processing_lambdas: dict[str, str]
    api_urls: dict[str, str]
    providers: dict[str, str]  # app_id -> messaging provider; absent: zapi
    log_level: str
    max_receive_count: int
    send_batch_size: int
    http_timeout_seconds: str
    retry_interval_seconds: int
    retry_max_attempts: int
    terraform: dict[str, Any] = field(default_factory=dict)  # every root variable's value
    shell: dict[str, str] = field(default_factory=dict)  # the environment it was made from
    notes: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def outbox_url(self) -> str:
        return f"{self.base_url}/outbox"


def _json_map_env(env: dict[str, str], name: str) -> dict[str, str]:
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LocalConfigError(f"{name} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                              for k, v in value.items()):
        raise LocalConfigError(f"{name} must be a JSON object of non-empty strings, e.g. '{{\"demo\": \"...\"}}'")
    return value


def _int_env(env: dict[str, str], name: str, default: Any, minimum: int) -> int:
    """A whole-number override of a module variable (the state machine's retries of a failing bot)."""
    raw = env.get(name, "").strip()
    if not raw:
        return int(default)
    if not raw.isdigit() or int(raw) < minimum:
        raise LocalConfigError(f"{name} must be a whole number of at least {minimum}, got {raw!r}")
    return int(raw)


def local_config(env: dict[str, str] | None = None, root: Path = ROOT) -> LocalConfig:
    """terraform.tfvars (over variables.tf defaults), then the local overrides from the environment."""
    env = dict(os.environ if env is None else env)
    values = tfvars.load(root)
    module_defaults = tfvars.variable_defaults(root / "modules" / "step_functions" / "variables.tf")
    raw_port = env.get("GATEWAY_PORT", "").strip() or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise LocalConfigError(f"GATEWAY_PORT must be a TCP port number, got {raw_port!r}")
    port = int(raw_port)
    outbox = f"http://127.0.0.1:{port}/outbox"
    apps = {str(app): spec for app, spec in (values.get("apps") or {}).items() if isinstance(spec, dict)}
    # bot: a function name (an example folder's name, locally); bot_source: a folder of handler.py
    lambdas = {app: str(spec.get("bot") or spec.get("bot_source")) for app, spec in apps.items()
               if spec.get("bot") or spec.get("bot_source")}
    providers = {app: str(spec.get("provider") or "zapi") for app, spec in apps.items()}
    default_urls = tfvars.root_local("default_api_urls", root)  # the API base of the providers that have one
    urls = {app: str(spec.get("url") or default_urls.get(providers[app], "")) for app, spec in apps.items()}
    urls = {app: url for app, url in urls.items() if url}
    lambdas[DEMO_APP], urls[DEMO_APP], providers[DEMO_APP] = ECHO_BOT, outbox, "zapi"
    overrides = _json_map_env(env, "PROCESSING_LAMBDAS_MAP")
    _check_bots(overrides)
    lambdas.update(overrides)
    urls.update(_json_map_env(env, "API_URLS_MAP"))
    providers.update(_json_map_env(env, "PROVIDERS_MAP"))
    notes = []
    for app in sorted(set(lambdas) - set(urls)):
        urls[app] = outbox
        notes.append(f"app {app} has no url in apps: its replies go to the local outbox")
    return LocalConfig(
        port=port,
        name_prefix=str(values.get("name_prefix") or "debouncer"),
        debounce_seconds=env.get("DEBOUNCE_SECONDS", "").strip() or str(values.get("debounce_seconds", 10)),
        processing_lambdas=lambdas,
        api_urls=urls,
        providers=providers,
        log_level=env.get("LOG_LEVEL", "").strip() or str(values.get("log_level") or "INFO"),
        max_receive_count=int(values.get("send_max_receive_count", 5)),
        send_batch_size=int(values.get("send_batch_size", 10)),
        http_timeout_seconds=env.get("HTTP_TIMEOUT_SECONDS", "").strip() or str(values.get("http_timeout_seconds", 10)),
        retry_interval_seconds=_int_env(env, "RETRY_INTERVAL_SECONDS", module_defaults.get("retry_interval_seconds", 2), 1),
        retry_max_attempts=_int_env(env, "RETRY_MAX_ATTEMPTS", module_defaults.get("retry_max_attempts", 6), 0),
        terraform=values,
        shell=env,
        notes=notes,
    )


def debounce_policies(tf: dict[str, Any]) -> dict[str, dict]:
    """The apps' debounce objects as DEBOUNCE_POLICIES (the settings loader fills in the defaults
    main.tf fills in)."""
    apps = tf.get("apps") or {}
    return {str(app): spec["debounce"] for app, spec in apps.items()
            if isinstance(spec, dict) and isinstance(spec.get("debounce"), dict)}


def function_name_of(value: str) -> str:
    """An app's bot may be a function name or an ARN (possibly qualified); locally also a path to
    its code (bots.py), whose function is named after its folder."""
    if value.startswith("arn:"):
        return value.split(":function:")[-1].split(":")[0]
    if bots.is_path(value):
        return bots.function_name(value)
    return value


def load_example(name: str) -> Callable[[dict, Any], Any] | None:
    """lambda/examples/<name>/handler.py's lambda_handler, if that folder exists."""
    source = bots.find(name) if re.fullmatch(r"[\w-]+", name) else None
    return None if source is None else bots.load(source)


def _check_bots(lambdas: dict[str, str]) -> None:
    """A bot given as a path must hold a handler, and two bots' code must not make one function name.
    (A bot_source in terraform.tfvars is checked when the local run starts.)"""
    named: dict[str, tuple[Path, str]] = {}  # local function name -> (handler file, as configured)
    for app, value in sorted({**lambdas, DEMO_APP: lambdas.get(DEMO_APP, ECHO_BOT)}.items()):
        try:
            source = bots.find(value)
        except bots.BotError as exc:
            raise LocalConfigError(f"app {app}: {exc}") from None
        if source is None:
            continue
        name = function_name_of(value)
        other = named.setdefault(name, (source.file, value))
        if other[0] != source.file:
            raise LocalConfigError(f"app {app}: the bots {value!r} and {other[1]!r} would both be the function "
                                   f"{name!r} locally; rename one of their folders")


def bot_timeouts(tf: dict[str, Any]) -> dict[str, int]:
    """main.tf's local.bot_timeouts_map: each app's bot_timeout_seconds, 30 by default."""
    return {str(app): int(spec.get("bot_timeout_seconds") or 30)
            for app, spec in (tf.get("apps") or {}).items() if isinstance(spec, dict)}


def bot_invocations(tf: dict[str, Any]) -> dict[str, str]:
    """main.tf's local.bot_invocations_map: each app's invocation, sync by default."""
    return {str(app): str(spec.get("invocation") or "sync")
            for app, spec in (tf.get("apps") or {}).items() if isinstance(spec, dict)}


def batch_lease_seconds(config: "LocalConfig", inline_wait_seconds: float) -> int:
    """main.tf's local.batch_lease_seconds: longer than the state machine's whole retry schedule of
    process_message attempts, each of which outlives the slowest synchronous bot."""
    tf = config.terraform
    invocations, timeouts = bot_invocations(tf), bot_timeouts(tf)
    sync_bot = max([timeouts[app] for app in timeouts if invocations.get(app) == "sync"], default=0)
    process_timeout = max(float(tf.get("process_message_timeout_seconds") or 60), inline_wait_seconds + sync_bot + 15)
    schedule = ((config.retry_max_attempts + 1) * process_timeout
                + config.retry_interval_seconds * (2 ** config.retry_max_attempts - 1))
    return int(max(float(tf.get("batch_lease_seconds") or 0), schedule + 60))


def use_fake_aws_credentials() -> None:
    """Whatever the shell holds, a local run never reaches an AWS account."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                      AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")


# Set by main.tf for a deployment, deliberately not locally: SSM parameter names (no SSM here; use
# APP_SECRETS_JSON in your shell instead).
# UNAUTHENTICATED_APPS unset: apps without a webhook_token are accepted, with a warning.
NOT_SET_LOCALLY = ("SECRETS_PARAMETERS_MAP", "UNAUTHENTICATED_APPS")


def terraform_environment(root: Path = ROOT) -> dict[str, str]:
    """NAME -> Terraform expression, for every variable main.tf puts in a function's environment."""
    text = (root / "main.tf").read_text()
    blocks = re.findall(r"common_environment = \{(.*?)\n  \}", text, re.S)
    # The gateway's functions' blocks; not the bots' (module "bot_lambda": APP_ID = each.key, ...).
    blocks += [block for block in re.findall(r"environment = merge\(local\.common_environment, \{(.*?)\}\)", text, re.S)
               if "each.key" not in block]
    return {name: expr.strip() for block in blocks for name, expr in re.findall(r"^\s*([A-Z_]+)\s*=\s*(.+)$", block, re.M)}


def _terraform_string(value: Any) -> str:
    """tostring() of a variable's value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lambda_environment(config: LocalConfig, resources: "Resources",
                       root: Path = ROOT) -> tuple[dict[str, str], list[str]]:
    """What main.tf puts in the functions' environment (one process here, so one environment), with
    the local resources; then (environment, names main.tf sets that have no local value).

    A value main.tf takes from a variable comes from terraform.tfvars, or from the shell when it sets
    the same name (DEBOUNCE_SECONDS=3, SEND_RETRY_BASE_SECONDS=1, ...); the app maps are merged."""
    tf, shell = config.terraform, config.shell
    resource_values = {
        "module.dynamodb.table_name": resources.table,
        "module.step_functions.state_machine_arn": resources.state_machine_arn,
        "aws_sqs_queue.failed_batches.url": resources.failed_batches_url,
        "module.sqs.queue_url": resources.queue_url,
        "module.sqs.dlq_url": resources.dlq_url,
    }
    local = {
        "PROCESSING_LAMBDAS_MAP": json.dumps({app: function_name_of(fn) for app, fn in config.processing_lambdas.items()}),
        "API_URLS_MAP": json.dumps(config.api_urls),
        "PROVIDERS_MAP": json.dumps(config.providers),
        "DEBOUNCE_SECONDS": config.debounce_seconds,
        "HTTP_TIMEOUT_SECONDS": config.http_timeout_seconds,
        "LOG_LEVEL": config.log_level,
        # main.tf fills in each policy's optional fields; the settings loader applies the same defaults.
        "DEBOUNCE_POLICIES": shell.get("DEBOUNCE_POLICIES", "").strip() or json.dumps(debounce_policies(tf)),
        "REPLY_QUEUE_URL": resources.queue_url,  # for the example bots
        # main.tf's local.inline_wait_seconds: var.inline_wait_seconds, else 15 (the local machine is STANDARD)
        "INLINE_WAIT_SECONDS": shell.get("INLINE_WAIT_SECONDS", "").strip()
        or (_terraform_string(tf["inline_wait_seconds"]) if tf.get("inline_wait_seconds") is not None else "15"),
        "BOT_TIMEOUTS_MAP": shell.get("BOT_TIMEOUTS_MAP", "").strip() or json.dumps(bot_timeouts(tf)),
        "BOT_INVOCATIONS_MAP": shell.get("BOT_INVOCATIONS_MAP", "").strip() or json.dumps(bot_invocations(tf)),
    }
    local["BATCH_LEASE_SECONDS"] = shell.get("BATCH_LEASE_SECONDS", "").strip() or str(
        batch_lease_seconds(config, float(local["INLINE_WAIT_SECONDS"])))
    env: dict[str, str] = {}
    unresolved = []
    for name, expression in terraform_environment(root).items():
        variable = re.fullmatch(r"(?:tostring\()?var\.(\w+)\)?", expression)
        encoded = re.fullmatch(r"jsonencode\(var\.(\w+)\)", expression)
        literal = re.fullmatch(r'"([^"$]*)"', expression)
        if name in NOT_SET_LOCALLY or name in local:
            continue
        if expression in resource_values:
            env[name] = resource_values[expression]
        elif literal:
            env[name] = literal.group(1)
        elif variable and variable.group(1) in tf:
            env[name] = shell.get(name, "").strip() or _terraform_string(tf[variable.group(1)])
        elif encoded and encoded.group(1) in tf:
            env[name] = shell.get(name, "").strip() or json.dumps(tf[encoded.group(1)])
        else:
            unresolved.append(name)
    env.update(local)
    return env, unresolved
