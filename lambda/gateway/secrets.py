"""Per-app secrets: SSM SecureString parameters read once per cold start, or the environment locally.

Each app's secrets are one flat object of names to strings, e.g. for a WhatsApp Cloud app
``{"app_secret": "...", "verify_token": "...", "access_token": "..."}``, for a Z-API app
``{"api_url": "https://api.z-api.io/instances/ID/token/TOKEN/send-text", "client_token": "...",
"webhook_token": "..."}``. Where they come from, later sources overriding earlier ones:

1. ``APP_SECRETS_JSON`` (local runs): app_id -> secrets object;
2. ``SECRETS_PARAMETERS_MAP`` (deployments: each app's ``secrets_parameter``): app_id -> SSM
   SecureString whose value is the JSON secrets object.

A successful read is cached for the life of the process; a failed one is not, so the next request
tries again. No secret value is ever put in an exception message or a log line.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Mapping

from botocore.exceptions import BotoCoreError, ClientError

from . import aws

EMPTY: Mapping[str, str] = MappingProxyType({})


class SecretsError(RuntimeError):
    """An app's secrets could not be read (SSM failed, or the parameter is not a JSON object of strings)."""


class CredentialStore:
    """Reads an app's secrets on first use and keeps them. Works with WebhookSettings and SenderSettings."""

    def __init__(self, settings: object):
        self.parameters: Mapping[str, str] = getattr(settings, "secrets_parameters", None) or {}
        self.local: Mapping[str, Mapping[str, str]] = getattr(settings, "app_secrets", None) or {}
        self._cache: dict[str, Mapping[str, str]] = {}

    def secrets(self, app_id: str) -> Mapping[str, str]:
        """The app's secrets (read-only); empty when none are configured. Raises SecretsError."""
        cached = self._cache.get(app_id)
        if cached is None:
            cached = self._cache[app_id] = MappingProxyType(self._load(app_id))
        return cached

    def _load(self, app_id: str) -> dict[str, str]:
        found: dict[str, str] = dict(self.local.get(app_id) or {})
        name = self.parameters.get(app_id)
        if name:
            found.update(_parse_secrets(name, _read_parameter(name)))
        return found


def _read_parameter(name: str) -> str:
    try:
        response = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise SecretsError(f"SSM parameter {name} could not be read: {code}") from None
    except BotoCoreError as exc:
        raise SecretsError(f"SSM parameter {name} could not be read: {type(exc).__name__}") from None
    return response["Parameter"]["Value"]


def _parse_secrets(name: str, raw: str) -> dict[str, str]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise SecretsError(f"SSM parameter {name} is not a JSON object") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SecretsError(f"SSM parameter {name} must be a JSON object of strings")
    return value
