"""Inbound webhook normalising and outbound reply building, one module per provider."""

from __future__ import annotations

from .base import InboundProvider, WebhookRequest
from .zapi import ZApiProvider

PROVIDERS: dict[str, InboundProvider] = {"zapi": ZApiProvider()}


def get_provider(name: str) -> InboundProvider:
    return PROVIDERS[name]


__all__ = ["InboundProvider", "WebhookRequest", "PROVIDERS", "get_provider"]
