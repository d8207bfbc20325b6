"""Inbound webhook authentication and normalising, one module per provider."""

from __future__ import annotations

from .base import InboundProvider, WebhookRequest
from .evolution import EvolutionProvider
from .generic import GenericProvider
from .telegram import TelegramProvider
from .twilio import TwilioProvider
from .whatsapp_cloud import WhatsAppCloudProvider
from .zapi import ZApiProvider

PROVIDERS: dict[str, InboundProvider] = {
    provider.name: provider
    for provider in (ZApiProvider(), WhatsAppCloudProvider(), TelegramProvider(), EvolutionProvider(),
                     TwilioProvider(), GenericProvider())
}


def get_provider(name: str) -> InboundProvider:
    return PROVIDERS[name]


__all__ = ["InboundProvider", "WebhookRequest", "PROVIDERS", "get_provider"]
