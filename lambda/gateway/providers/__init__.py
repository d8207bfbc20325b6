"""Inbound webhook authentication and normalising, one module per provider.

A provider's module is imported the first time an app uses it, so a function pays at cold start
only for the providers its apps are configured with (settings.PROVIDER_NAMES lists them all).
"""

from __future__ import annotations

import importlib

from .base import InboundProvider, WebhookRequest

# provider name -> (module, class); the class's ``name`` attribute is the same name
_CLASSES = {
    "zapi": ("zapi", "ZApiProvider"),
    "whatsapp_cloud": ("whatsapp_cloud", "WhatsAppCloudProvider"),
    "telegram": ("telegram", "TelegramProvider"),
    "evolution": ("evolution", "EvolutionProvider"),
    "twilio": ("twilio", "TwilioProvider"),
    "generic": ("generic", "GenericProvider"),
}
_loaded: dict[str, InboundProvider] = {}


def get_provider(name: str) -> InboundProvider:
    """The provider called ``name``; KeyError for an unknown name."""
    provider = _loaded.get(name)
    if provider is None:
        module, cls = _CLASSES[name]
        provider = _loaded[name] = getattr(importlib.import_module(f"{__name__}.{module}"), cls)()
    return provider


__all__ = ["InboundProvider", "WebhookRequest", "get_provider"]
