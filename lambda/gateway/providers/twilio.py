"""Twilio Messaging (SMS and WhatsApp): form-encoded webhooks signed with X-Twilio-Signature; replies
through the Messages resource."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..errors import Forbidden, Unauthorized, UnprocessablePayload
from ..models import Ignored, InboundMessage
from .base import (OutboundRequest, WebhookRequest, non_empty_str, placeholder, require_secret, secret_equals,
                   send_credential)

SIGNATURE_HEADER = "x-twilio-signature"
DEFAULT_PORTS = {"https": 443, "http": 80}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(auth token, url + every name+value, names sorted, each name's distinct values sorted))."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    payload = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """The URL as given, plus the same with the default port added or the port removed.

    Twilio may have signed either form (twilio-python's RequestValidator tries both).
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    variants = [url]
    if port is None and parts.scheme in DEFAULT_PORTS:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{DEFAULT_PORTS[parts.scheme]}")))
    elif port is not None:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])))
    return variants


def signature_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str,
                    raw_body: bytes = b"") -> bool:
    """Twilio's request validation, including the bodySHA256 form used for JSON bodies."""
    params = list(params)
    body_hashes = parse_qs(urlsplit(url).query).get("bodySHA256")
    if body_hashes:
        if not secret_equals(hashlib.sha256(raw_body).hexdigest(), body_hashes[0]):
            return False
        params = []  # a JSON body is signed through its hash in the URL, not as parameters
    valid = False
    for candidate in url_variants(url):
        valid |= secret_equals(compute_signature(auth_token, candidate, params), signature)
    return valid


class TwilioProvider:
    name = "twilio"
    text_limit = 1600

    def authenticate(self, request: WebhookRequest, secrets: Mapping[str, str]) -> None:
        auth_token = require_secret(secrets, "auth_token", self.name)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise Unauthorized("the X-Twilio-Signature header is missing", code="missing_signature")
        # Twilio signs the URL configured in its console. API Gateway's view of it is rebuilt from the
        # event; `webhook_url` overrides it when they differ (a custom domain with a base path mapping).
        url = secrets.get("webhook_url") or request.url
        is_json = request.headers.get("content-type", "").startswith("application/json")
        params = [] if is_json else request.form_pairs()
        if not signature_valid(auth_token, url, params, signature.strip(), request.raw_body):
            raise Forbidden("the X-Twilio-Signature signature is wrong", code="invalid_signature")

    def normalize(self, request: WebhookRequest) -> list[InboundMessage] | Ignored:
        form = request.form()
        if "MessageStatus" in form or form.get("SmsStatus", "received") != "received":
            return Ignored("twilio status callback")
        # "whatsapp:+E164" is kept as it is: the reply's To must carry the same channel prefix.
        sender = non_empty_str(form.get("From"))
        if sender is None:
            raise UnprocessablePayload("the payload has no From", code="missing_sender")
        message_id = next((form[k] for k in ("MessageSid", "SmsMessageSid", "SmsSid") if non_empty_str(form.get(k))),
                          None)
        if message_id is None:
            raise UnprocessablePayload("the payload has no MessageSid", code="missing_message_id")
        text, kind = _text_of(form)
        if not text:
            raise UnprocessablePayload("the payload has no Body and no media", code="missing_text")
        return [InboundMessage(sender=sender, text=text, message_id=message_id, timestamp=None, kind=kind)]

    def acknowledge(self) -> dict:
        """Twilio expects TwiML back; an empty <Response/> means "no reply from the webhook"."""
        return {"statusCode": 200, "headers": {"Content-Type": "text/xml"}, "body": EMPTY_TWIML}

    def build_request(self, url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
        """POST <url>/2010-04-01/Accounts/<account_sid>/Messages.json, url being https://api.twilio.com,
        form-encoded with Basic auth; from the messaging service when the app has one, else `from`."""
        account_sid = send_credential(secrets, "account_sid", self.name)
        auth_token = send_credential(secrets, "auth_token", self.name)
        form = {"To": to, "Body": text}
        if secrets.get("messaging_service_sid"):
            form["MessagingServiceSid"] = secrets["messaging_service_sid"]
        else:
            form["From"] = send_credential(secrets, "from", self.name)  # "+1555..." or "whatsapp:+1555..."
        basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        return OutboundRequest(
            "POST", f"{url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json",
            {"Authorization": f"Basic {basic}"}, data=form,
        )


def _text_of(form: Mapping[str, str]) -> tuple[str | None, str]:
    """The Body; media or a location make the kind (and, without a Body, the text)."""
    body = non_empty_str(form.get("Body"))
    for read in (_media, _location):
        found = read(form, body)
        if found is not None:
            return found
    return body, "text"


def _media(form: Mapping[str, str], body: str | None) -> tuple[str, str] | None:
    count = _media_count(form)
    if count <= 0:
        return None
    kind = _media_kind(form.get("MediaContentType0", ""))
    urls = " ".join(form[f"MediaUrl{i}"] for i in range(count) if non_empty_str(form.get(f"MediaUrl{i}")))
    return body or placeholder(kind, urls), kind


def _media_count(form: Mapping[str, str]) -> int:
    try:
        return int(form.get("NumMedia") or 0)
    except ValueError:
        return 0


def _location(form: Mapping[str, str], body: str | None) -> tuple[str, str] | None:
    if not (form.get("MessageType") == "location" or ("Latitude" in form and "Longitude" in form)):
        return None
    where = f"{form.get('Latitude', '')},{form.get('Longitude', '')}".strip(",")
    return body or placeholder("location", where), "location"


def _media_kind(content_type: str) -> str:
    major = content_type.split("/", 1)[0].strip().lower()
    return major if major in ("image", "video", "audio") else "document"
