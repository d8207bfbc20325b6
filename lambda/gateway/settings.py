"""Environment → typed settings, parsed once per cold start; a bad value names its variable."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Mapping

from .debounce import DEFAULT_QUIET_SECONDS, MODES, DebouncePolicy
from .errors import ConfigError
from .providers import PROVIDER_NAMES


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required and is empty or missing")
    return value


# An app id is part of the conversation key (CONV#{app}#{sender}): no separator, no surprise.
# variables.tf validates `apps` keys with the same expression (tests/unit/test_one_source.py ties them).
APP_ID_REGEX = r"^[A-Za-z0-9_-]{1,64}$"
APP_ID_PATTERN = re.compile(APP_ID_REGEX)


def _check_app_ids(name: str, app_ids) -> None:
    for app_id in app_ids:
        if not APP_ID_PATTERN.fullmatch(app_id):
            raise ConfigError(f"environment variable {name}: app id {app_id[:80]!r} must match "
                              f"{APP_ID_REGEX} (letters, digits, '_' and '-')")


def _json_env(env: Mapping[str, str], name: str, *, secret: bool = False) -> Any:
    """The JSON value of environment variable ``name``; None when it is unset or blank. A value
    that is no JSON names its variable (and, unless ``secret``, the parser's complaint)."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"environment variable {name} is not valid JSON" + ("" if secret else f": {exc.msg}")) from None


def _json_map(env: Mapping[str, str], name: str, *, required: bool = True) -> dict[str, str]:
    value = _json_env(env, name)
    if value is None:
        if required:
            raise ConfigError(f"environment variable {name} is required: a JSON object app_id -> value")
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()
    ):
        raise ConfigError(f"environment variable {name} must be a JSON object of non-empty strings")
    _check_app_ids(name, value)  # every map is keyed by app id
    return value


DEFAULT_PROVIDER = "zapi"


def _providers(env: Mapping[str, str]) -> dict[str, str]:
    """PROVIDERS_MAP: app_id -> provider name; an app that is absent uses Z-API."""
    providers = _json_map(env, "PROVIDERS_MAP", required=False)
    for app_id, name in providers.items():
        if name not in PROVIDER_NAMES:
            raise ConfigError(
                f"environment variable PROVIDERS_MAP[{app_id!r}] must be one of {', '.join(PROVIDER_NAMES)}"
            )
    return providers


def _app_secrets(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """APP_SECRETS_JSON (local runs only): app_id -> {secret name: value}. Values never appear in errors."""
    name = "APP_SECRETS_JSON"
    value = _json_env(env, name, secret=True)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(app, str) and app and isinstance(secrets, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items())
        for app, secrets in value.items()
    ):
        raise ConfigError(f"environment variable {name} must be a JSON object app_id -> object of strings")
    _check_app_ids(name, value)
    return value


def _app_list(env: Mapping[str, str], name: str) -> frozenset[str] | None:
    """A JSON list of app ids; None when the variable is not set at all (local runs, tests)."""
    value = _json_env(env, name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(app, str) and app for app in value):
        raise ConfigError(f"environment variable {name} must be a JSON list of app ids")
    _check_app_ids(name, value)
    return frozenset(value)


INVOCATIONS = ("sync", "async")
MAX_BOT_TIMEOUT_SECONDS = 900  # Lambda's longest timeout


def _bot_invocations(env: Mapping[str, str]) -> dict[str, str]:
    """BOT_INVOCATIONS_MAP: app_id -> "sync" (process_message waits for the bot) or "async" (an Event
    invoke: Lambda queues it, retries it and sends a failure to the on-failure destination)."""
    invocations = _json_map(env, "BOT_INVOCATIONS_MAP", required=False)
    for app_id, mode in invocations.items():
        if mode not in INVOCATIONS:
            raise ConfigError(f"environment variable BOT_INVOCATIONS_MAP[{app_id!r}] must be sync or async")
    return invocations


def _bot_timeouts(env: Mapping[str, str]) -> dict[str, float]:
    """BOT_TIMEOUTS_MAP: app_id -> seconds its bot may run (the bot's time budget)."""
    name = "BOT_TIMEOUTS_MAP"
    value = _json_env(env, name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= MAX_BOT_TIMEOUT_SECONDS
        for v in value.values()
    ):
        raise ConfigError(f"environment variable {name} must be a JSON object app_id -> seconds (1-900)")
    _check_app_ids(name, value)
    return {app: float(seconds) for app, seconds in value.items()}


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"environment variable {name} must be between {low:g} and {high:g}, got {value:g}")
    return value


# DEBOUNCE_POLICIES fields: (low, high, integer?). Missing or null fields take their defaults.
POLICY_FIELDS = {
    "quiet_seconds": (0.1, 300, False),
    "max_wait_seconds": (0.1, 86400, False),
    "min_quiet_seconds": (0.02, 3600, False),  # its default, quiet_seconds / 5, may be 0.02
    "max_quiet_seconds": (0.1, 3600, False),
    "max_messages": (1, 100_000, True),
    "max_bytes": (1, 6_000_000, True),  # a synchronous Lambda invoke carries at most 6 MB
}


def _debounce_seconds(env: Mapping[str, str]) -> float:
    """DEBOUNCE_SECONDS: the quiet period of an app without its own (DebouncePolicy's default)."""
    low, high, _ = POLICY_FIELDS["quiet_seconds"]
    return _number(env, "DEBOUNCE_SECONDS", DEFAULT_QUIET_SECONDS, low, high)


def default_policy(debounce_seconds: float) -> DebouncePolicy:
    """An app without an entry in DEBOUNCE_POLICIES: fixed DEBOUNCE_SECONDS, capped at 60 s."""
    return DebouncePolicy(quiet_seconds=debounce_seconds)


def _debounce_policies(env: Mapping[str, str]) -> dict[str, DebouncePolicy]:
    """DEBOUNCE_POLICIES: app_id -> {"mode", "quiet_seconds", "max_wait_seconds", "max_messages",
    "max_bytes", "min_quiet_seconds", "max_quiet_seconds"}; every app of PROCESSING_LAMBDAS_MAP gets
    one, defaults from DEBOUNCE_SECONDS."""
    name = "DEBOUNCE_POLICIES"
    debounce_seconds = _debounce_seconds(env)
    apps = _json_map(env, "PROCESSING_LAMBDAS_MAP")
    value = _json_env(env, name)
    value = {} if value is None else value
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(f"environment variable {name} must be a JSON object app_id -> object")
    policies = {app: default_policy(debounce_seconds) for app in apps}
    for app_id, fields in value.items():
        where = f"environment variable {name}[{app_id!r}]"
        if app_id not in apps:
            raise ConfigError(f"{where}: no app {app_id!r} in PROCESSING_LAMBDAS_MAP")
        unknown = set(fields) - set(POLICY_FIELDS) - {"mode"}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        mode = fields.get("mode") or "fixed"
        if mode not in MODES:
            raise ConfigError(f"{where}: mode must be one of {', '.join(MODES)}, got {str(mode)[:20]!r}")
        numbers: dict[str, float | int] = {}
        for key, (low, high, integer) in POLICY_FIELDS.items():
            number = fields.get(key)
            if number is None:
                continue
            if isinstance(number, bool) or not isinstance(number, (int, float)) or (integer and number != int(number)):
                raise ConfigError(f"{where}: {key} must be {'an integer' if integer else 'a number'}")
            if not low <= number <= high:
                raise ConfigError(f"{where}: {key} must be between {low:g} and {high:g}, got {number:g}")
            numbers[key] = int(number) if integer else float(number)
        quiet = numbers.pop("quiet_seconds", debounce_seconds)
        try:
            policies[app_id] = DebouncePolicy(quiet_seconds=quiet, mode=mode, **numbers)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return policies


@dataclass(frozen=True)
class WebhookSettings:
    """post_message."""

    table_name: str
    state_machine_arn: str
    processing_lambdas: dict[str, str]
    debounce_seconds: float
    providers: dict[str, str] = field(default_factory=dict)  # app_id -> provider (PROVIDERS_MAP)
    secrets_parameters: dict[str, str] = field(default_factory=dict)  # app_id -> SSM SecureString name
    app_secrets: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)  # local runs only
    debounce_policies: dict[str, DebouncePolicy] = field(default_factory=dict)  # DEBOUNCE_POLICIES
    # UNAUTHENTICATED_APPS: the apps that may take webhooks without a webhook_token (Terraform's
    # allow_unauthenticated; always set by a deployment, which refuses every other such app).
    # None (not set: local runs) accepts them with a warning.
    unauthenticated_apps: frozenset[str] | None = None

    def provider_for(self, app_id: str) -> str:
        return self.providers.get(app_id, DEFAULT_PROVIDER)

    def policy_for(self, app_id: str) -> DebouncePolicy:
        return self.debounce_policies.get(app_id) or default_policy(self.debounce_seconds)

    def may_skip_authentication(self, app_id: str) -> bool:
        return self.unauthenticated_apps is None or app_id in self.unauthenticated_apps

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "WebhookSettings":
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            state_machine_arn=_required(env, "STATE_MACHINE_ARN"),
            processing_lambdas=_json_map(env, "PROCESSING_LAMBDAS_MAP"),
            debounce_seconds=_debounce_seconds(env),
            providers=_providers(env),
            secrets_parameters=_json_map(env, "SECRETS_PARAMETERS_MAP", required=False),
            app_secrets=_app_secrets(env),
            debounce_policies=_debounce_policies(env),
            unauthenticated_apps=_app_list(env, "UNAUTHENTICATED_APPS"),
        )


# BATCH_LEASE_SECONDS's default, and ConversationStore's and Sweeper's: how long a claimed batch stays
# with the execution that claimed it before another one may take it over. 900 s is Lambda's longest
# timeout, so no single process_message attempt outlives the lease and a bot is never invoked twice at
# once for one batch; it is variables.tf's default of batch_lease_seconds (tests/unit/test_settings.py
# ties the two). Here, not in gateway.store, so that the functions that read settings without the
# store (send_message_api) do not import it.
DEFAULT_LEASE_SECONDS = 900


@dataclass(frozen=True)
class ProcessorSettings:
    """process_message."""

    table_name: str
    processing_lambdas: dict[str, str]
    debounce_seconds: float
    batch_lease_seconds: float
    failed_batches_queue_url: str
    inline_wait_seconds: float = 15  # INLINE_WAIT_SECONDS: remainders up to this are waited out in process_message
    debounce_policies: dict[str, DebouncePolicy] = field(default_factory=dict)  # DEBOUNCE_POLICIES
    bot_invocations: dict[str, str] = field(default_factory=dict)  # BOT_INVOCATIONS_MAP; absent: sync
    bot_timeouts: dict[str, float] = field(default_factory=dict)  # BOT_TIMEOUTS_MAP: each bot's time budget

    def policy_for(self, app_id: str) -> DebouncePolicy:
        return self.debounce_policies.get(app_id) or default_policy(self.debounce_seconds)

    def invocation_for(self, app_id: str) -> str:
        return self.bot_invocations.get(app_id, "sync")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ProcessorSettings":
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            processing_lambdas=_json_map(env, "PROCESSING_LAMBDAS_MAP"),
            debounce_seconds=_debounce_seconds(env),
            batch_lease_seconds=_number(env, "BATCH_LEASE_SECONDS", DEFAULT_LEASE_SECONDS, 1, 86400),
            failed_batches_queue_url=_required(env, "FAILED_BATCHES_QUEUE_URL"),
            inline_wait_seconds=_number(env, "INLINE_WAIT_SECONDS", 15, 0, 600),
            debounce_policies=_debounce_policies(env),
            bot_invocations=_bot_invocations(env),
            bot_timeouts=_bot_timeouts(env),
        )


@dataclass(frozen=True)
class SenderSettings:
    """send_message_api."""

    api_urls: dict[str, str]
    http_timeout_seconds: float
    providers: dict[str, str] = field(default_factory=dict)  # app_id -> provider (PROVIDERS_MAP)
    secrets_parameters: dict[str, str] = field(default_factory=dict)  # app_id -> SSM SecureString name
    app_secrets: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)  # local runs only
    send_queue_url: str = ""  # SEND_QUEUE_URL: for the retry backoff (ChangeMessageVisibility)
    send_dlq_url: str = ""  # SEND_DLQ_URL: a reply that can never be sent goes here without retries
    retry_base_seconds: float = 30  # SEND_RETRY_BASE_SECONDS

    def provider_for(self, app_id: str) -> str:
        return self.providers.get(app_id, DEFAULT_PROVIDER)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SenderSettings":
        env = os.environ if env is None else env
        urls = _json_map(env, "API_URLS_MAP")
        for app_id, url in urls.items():
            if not url.startswith(("https://", "http://")):
                raise ConfigError(f"API_URLS_MAP[{app_id!r}] must be an http(s) URL")
        return cls(
            api_urls=urls,
            http_timeout_seconds=_number(env, "HTTP_TIMEOUT_SECONDS", 10, 0.5, 60),
            providers=_providers(env),
            secrets_parameters=_json_map(env, "SECRETS_PARAMETERS_MAP", required=False),
            app_secrets=_app_secrets(env),
            send_queue_url=env.get("SEND_QUEUE_URL", "").strip(),
            send_dlq_url=env.get("SEND_DLQ_URL", "").strip(),
            retry_base_seconds=_number(env, "SEND_RETRY_BASE_SECONDS", 30, 0, 900),
        )


@dataclass(frozen=True)
class SweeperSettings:
    """sweeper."""

    table_name: str
    state_machine_arn: str
    grace_seconds: float
    batch_lease_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SweeperSettings":
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            state_machine_arn=_required(env, "STATE_MACHINE_ARN"),
            grace_seconds=_number(env, "SWEEP_GRACE_SECONDS", 60, 0, 3600),
            batch_lease_seconds=_number(env, "BATCH_LEASE_SECONDS", DEFAULT_LEASE_SECONDS, 1, 86400),
        )


@cache
def sweeper_settings() -> SweeperSettings:
    return SweeperSettings.from_env()


@cache
def webhook_settings() -> WebhookSettings:
    return WebhookSettings.from_env()


@cache
def processor_settings() -> ProcessorSettings:
    return ProcessorSettings.from_env()


@cache
def sender_settings() -> SenderSettings:
    return SenderSettings.from_env()


def reset() -> None:
    """Forget the cached settings (tests; a new cold start)."""
    for loader in (webhook_settings, processor_settings, sender_settings, sweeper_settings):
        loader.cache_clear()
