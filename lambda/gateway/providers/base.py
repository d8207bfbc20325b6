"""The provider interface: a webhook request in, authenticated, normalised messages (or a reason to
ignore) out; a reply's text out as the provider's send request."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol
from urllib.parse import parse_qsl

from ..errors import BadRequest, Forbidden, SendError, Unauthorized, UnprocessablePayload
from ..models import Author, Ignored, InboundMessage

# The header (or, where the provider cannot send headers, the query parameter) that carries the
# per-app shared secret of providers that do not sign their webhooks (Z-API, Evolution API, generic).
TOKEN_HEADER = "x-webhook-token"
TOKEN_QUERY = "token"


@dataclass(frozen=True)
class WebhookRequest:
    """What API Gateway HTTP API (payload format 2.0) delivered, decoded once."""

    method: str
    headers: dict[str, str]  # lower-cased names
    query: dict[str, str]
    raw_body: bytes
    path: str = "/webhook"
    source_ip: str = ""
    url: str = ""  # the public URL the provider called, as API Gateway saw it (Twilio signs it)
    _json: Any = field(default=None, compare=False, repr=False)

    def json_object(self) -> dict:
        """The body as a JSON object, or a 400 naming what is wrong with it.

        A name that appears twice in one object is refused (400 `duplicate_key`), at any depth:
        parsers disagree on which value wins, so the text we would store might not be the one the
        sender signed or another reader of the same bytes sees.
        """
        if not self.raw_body.strip():
            raise BadRequest("the request body is empty", code="empty_body")
        try:
            value = json.loads(self.raw_body, object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:
            raise BadRequest(f"the request body repeats the JSON key {exc.key[:40]!r} in one object",
                             code="duplicate_key") from None
        except (ValueError, RecursionError):  # also bad UTF-8, too deep, an int of more than 4,300 digits
            raise BadRequest("the request body is not valid JSON", code="invalid_json") from None
        if not isinstance(value, dict):
            raise BadRequest("the request body must be a JSON object", code="not_an_object")
        return value

    def form_pairs(self) -> list[tuple[str, str]]:
        """The body as application/x-www-form-urlencoded pairs, in order, blanks kept."""
        try:
            text = self.raw_body.decode("utf-8")
            return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text.strip()))
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the request body is not form-encoded", code="invalid_form") from None

    def form(self) -> dict[str, str]:
        """The form fields. A repeated name is refused (400 `duplicate_parameter`), for the reason
        json_object refuses a repeated key: which value counts would be a guess."""
        fields: dict[str, str] = {}
        for name, value in self.form_pairs():
            if name in fields:
                raise BadRequest(f"the request body repeats the form parameter {name[:40]!r}",
                                 code="duplicate_parameter")
            fields[name] = value
        return fields


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """json.loads' object_pairs_hook: the object, unless a key appears twice in it."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return value


@dataclass(frozen=True)
class OutboundRequest:
    """One HTTP request to a provider's send API (outbound.send performs it)."""

    method: str
    url: str = field(repr=False)  # may hold a credential (Telegram's bot token)
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a credential
    json: dict | None = None
    data: dict | None = None


class Provider(Protocol):
    name: str
    # Longest text one message may carry, in UTF-16 code units (what Telegram counts; never fewer than
    # the characters WhatsApp and Twilio count). None: no limit, a reply is never split.
    text_limit: int | None

    def authenticate(self, request: WebhookRequest, secrets: Mapping[str, str]) -> None:
        """Check the request came from the provider, before its body is parsed.

        Raises Unauthorized (401) when the signature or token is missing (or the app has no secret
        to check it with), Forbidden (403) when it is wrong.
        """
        ...

    def normalize(self, request: WebhookRequest) -> list[InboundMessage] | Ignored:
        """The messages a webhook carries, or Ignored for events that must not be retried.

        Raises UnprocessablePayload (422) for a payload that is a message but lacks what we need.
        """
        ...

    def build_request(self, url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
        """The request that sends `text` (at most text_limit units) to `to`, the conversation's sender
        key, through the app's send URL (API_URLS_MAP, or the api_url of its secrets).

        Raises SendError (not retryable) when a credential it needs is not in the app's secrets.
        URLs built with a credential in them (Telegram) must never be logged; nothing here logs.
        """
        ...


def secret_equals(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (or signatures)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_shared_secret(request: WebhookRequest, secrets: Mapping[str, str], provider: str) -> None:
    """For providers that do not sign: the app's `webhook_token`, in the X-Webhook-Token header or ?token=.

    An app with no `webhook_token` accepts unauthenticated webhooks (see the README); once one is
    configured, it is required.
    """
    expected = secrets.get("webhook_token")
    if not expected:
        return
    given = request.headers.get(TOKEN_HEADER) or request.query.get(TOKEN_QUERY) or ""
    if not given:
        raise Unauthorized(f"the {provider} webhook token is missing (X-Webhook-Token header or token "
                           "query parameter)", code="missing_token")
    if not secret_equals(given, expected):
        raise Forbidden(f"the {provider} webhook token is wrong", code="invalid_token")


def send_credential(secrets: Mapping[str, str], name: str, provider: str) -> str:
    """A secret the provider cannot be sent to without: absent means a reply that can never be sent."""
    value = secrets.get(name)
    if not value:
        raise SendError(f"no {name} is configured for this {provider} app", retryable=False)
    return value


def require_secret(secrets: Mapping[str, str], name: str, provider: str) -> str:
    """A secret the provider cannot be authenticated without: absent means 401, never an open door."""
    value = secrets.get(name)
    if not value:
        raise Unauthorized(f"this app has no {provider} {name} configured; its webhooks are refused",
                           code="not_configured")
    return value


def require_str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UnprocessablePayload(f"the payload has no {what}", code=f"missing_{what.replace(' ', '_')}")
    return value


def placeholder(kind: str, reference: Any = None) -> str:
    """The text of a media message without a caption: "[image] <media id or url>"."""
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        reference = str(reference)
    if isinstance(reference, str) and reference.strip():
        return f"[{kind}] {reference.strip()}"
    return f"[{kind}]"


def non_empty_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


# Timestamps (epoch seconds or milliseconds) are below this; a larger or negative one is not a time.
MAX_EPOCH = 10**15


def optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():  # not "²", which int() refuses
        value = int(value) if len(value) <= 16 else None
    if isinstance(value, int) and 0 <= value < MAX_EPOCH:
        return value
    return None


# An author's id or name longer than this is no id or name we keep (an id is dropped, a name cut):
# they ride on the message's stored entry. WhatsApp push names are at most 25 characters; Telegram's
# first and last names 64 each.
MAX_AUTHOR_ID_CHARS = 128
MAX_AUTHOR_NAME_CHARS = 128


def author(author_id: Any = None, name: Any = None) -> Author | None:
    """A group message's author, or None when the provider names neither an id nor a name. An id
    may be a number (Telegram's); a value that is empty, too long (an id), not a string or number,
    or not encodable as UTF-8 (a lone surrogate) is left out: the author is an extra, never a reason
    to refuse the message."""
    if isinstance(author_id, int) and not isinstance(author_id, bool):
        author_id = str(author_id)
    author_id = _label(author_id)
    if author_id is not None and len(author_id) > MAX_AUTHOR_ID_CHARS:
        author_id = None
    name = _label(name)
    if name is not None:
        name = name[:MAX_AUTHOR_NAME_CHARS].rstrip()
    return Author(author_id, name) if author_id is not None or name is not None else None


def _label(value: Any) -> str | None:
    value = non_empty_str(value)
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value.strip()
