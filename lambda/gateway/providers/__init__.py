"""The messaging providers, one module per provider (gateway/providers/<name>.py): its webhooks in
(authentication, normalising), its send request out, and its limits.

PROVIDERS is the one list of providers, with the facts about each that other code needs without
loading the provider (settings validates app configurations against it, post_message decides which
webhooks may come unauthenticated, and tests hold the Terraform validations to it). A provider's
module is imported the first time an app uses it, so a function pays at cold start only for the
providers its apps are configured with.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .base import Provider

# Where an app's send URL (API_URLS_MAP; apps.<id>.url in Terraform) comes from:
URL_IN_SECRETS = "secrets"  # it holds a credential: the api_url of the app's secrets, never apps.<id>.url
URL_REQUIRED = "required"  # apps.<id>.url, which every app of the provider must give
URL_DEFAULTED = "default"  # apps.<id>.url, else the provider's public API (main.tf's local.default_api_urls)


class ProviderInfo(NamedTuple):
    """What is known of a provider without importing its module.

    cls: the provider's class in gateway/providers/<name>.py (its ``name`` is the same name).
    shared_token: its webhooks are not signed; the app's webhook_token authenticates them, and an
        app without one is open (refused unless it allows unauthenticated webhooks).
    url: where an app's send URL comes from: URL_IN_SECRETS, URL_REQUIRED or URL_DEFAULTED.
    digits_sender: a sender's phone number is its conversation key as digits, country code first.
    """

    cls: str
    shared_token: bool
    url: str
    digits_sender: bool = False


# Z-API first: an app that names no provider uses it.
PROVIDERS: dict[str, ProviderInfo] = {
    "zapi": ProviderInfo("ZApiProvider", shared_token=True, url=URL_IN_SECRETS, digits_sender=True),
    "whatsapp_cloud": ProviderInfo("WhatsAppCloudProvider", shared_token=False, url=URL_REQUIRED, digits_sender=True),
    "telegram": ProviderInfo("TelegramProvider", shared_token=False, url=URL_DEFAULTED),
    "evolution": ProviderInfo("EvolutionProvider", shared_token=True, url=URL_REQUIRED, digits_sender=True),
    "twilio": ProviderInfo("TwilioProvider", shared_token=False, url=URL_DEFAULTED),
    "generic": ProviderInfo("GenericProvider", shared_token=True, url=URL_REQUIRED),
}
PROVIDER_NAMES = tuple(PROVIDERS)

_loaded: dict[str, Provider] = {}


def get_provider(name: str) -> Provider:
    """The provider called ``name``; KeyError for an unknown name."""
    provider = _loaded.get(name)
    if provider is None:
        cls = PROVIDERS[name].cls
        provider = _loaded[name] = getattr(importlib.import_module(f"{__name__}.{name}"), cls)()
    return provider


# Re-exported from .base, which is imported on first use: settings reads the names above without it.
_FROM_BASE = ("OutboundRequest", "Provider", "WebhookRequest")


def __getattr__(name: str) -> Any:
    if name in _FROM_BASE:
        return getattr(importlib.import_module(f"{__name__}.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PROVIDERS", "PROVIDER_NAMES", "URL_DEFAULTED", "URL_IN_SECRETS", "URL_REQUIRED", "OutboundRequest",
           "Provider", "ProviderInfo", "WebhookRequest", "get_provider"]
