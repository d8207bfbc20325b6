"""Per-app credentials: SSM SecureString parameters read once per cold start, or the environment locally."""

from __future__ import annotations

from . import aws
from .settings import SenderSettings


class CredentialStore:
    def __init__(self, settings: SenderSettings):
        self.settings = settings
        self._cache: dict[str, str | None] = {}

    def client_token(self, app_id: str) -> str | None:
        if app_id not in self._cache:
            self._cache[app_id] = self._load(app_id)
        return self._cache[app_id]

    def _load(self, app_id: str) -> str | None:
        parameter = self.settings.client_token_parameters.get(app_id)
        if parameter:
            response = aws.client("ssm").get_parameter(Name=parameter, WithDecryption=True)
            return response["Parameter"]["Value"]
        return self.settings.client_tokens.get(app_id)
