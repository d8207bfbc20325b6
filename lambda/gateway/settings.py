"""Environment → typed settings, parsed once per cold start; a bad value names its variable."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Mapping

from .errors import ConfigError


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required and is empty or missing")
    return value


def _json_map(env: Mapping[str, str], name: str, *, required: bool = True) -> dict[str, str]:
    raw = env.get(name, "").strip()
    if not raw:
        if required:
            raise ConfigError(f"environment variable {name} is required: a JSON object app_id -> value")
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"environment variable {name} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()
    ):
        raise ConfigError(f"environment variable {name} must be a JSON object of non-empty strings")
    return value


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


@dataclass(frozen=True)
class WebhookSettings:
    """post_message."""

    table_name: str
    state_machine_arn: str
    processing_lambdas: dict[str, str]
    debounce_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "WebhookSettings":
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            state_machine_arn=_required(env, "STATE_MACHINE_ARN"),
            processing_lambdas=_json_map(env, "PROCESSING_LAMBDAS_MAP"),
            debounce_seconds=_number(env, "DEBOUNCE_SECONDS", 10, 0.1, 300),
        )


@dataclass(frozen=True)
class ProcessorSettings:
    """process_message."""

    table_name: str
    processing_lambdas: dict[str, str]
    debounce_seconds: float
    batch_lease_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ProcessorSettings":
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            processing_lambdas=_json_map(env, "PROCESSING_LAMBDAS_MAP"),
            debounce_seconds=_number(env, "DEBOUNCE_SECONDS", 10, 0.1, 300),
            batch_lease_seconds=_number(env, "BATCH_LEASE_SECONDS", 300, 1, 86400),
        )


@dataclass(frozen=True)
class SenderSettings:
    """send_message_api."""

    api_urls: dict[str, str]
    client_token_parameters: dict[str, str]  # app_id -> SSM SecureString name (deployments)
    client_tokens: dict[str, str]  # app_id -> token, local runs only (CLIENT_TOKENS_MAP)
    http_timeout_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SenderSettings":
        env = os.environ if env is None else env
        urls = _json_map(env, "API_URLS_MAP")
        for app_id, url in urls.items():
            if not url.startswith(("https://", "http://")):
                raise ConfigError(f"API_URLS_MAP[{app_id!r}] must be an http(s) URL")
        return cls(
            api_urls=urls,
            client_token_parameters=_json_map(env, "CLIENT_TOKEN_PARAMETERS_MAP", required=False),
            client_tokens=_json_map(env, "CLIENT_TOKENS_MAP", required=False),
            http_timeout_seconds=_number(env, "HTTP_TIMEOUT_SECONDS", 10, 0.5, 60),
        )


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
    for loader in (webhook_settings, processor_settings, sender_settings):
        loader.cache_clear()
