"""The local stand-in for the messaging providers: the outbox records every reply POSTed to it and
answers as the provider's send API would.

It takes each provider's send request, under /outbox (an app's local URL) or at the server's root (a
provider's API base pointed at this server):

| provider       | path                                             | answer |
| zapi           | /outbox, or any path ending in /send-text        | 200 {"zaapId", "messageId", "id"} |
| whatsapp_cloud | a path ending in /messages                       | 200 {"messaging_product", "contacts", "messages": [{"id": "wamid..."}]} |
| telegram       | /bot<token>/sendMessage (any /bot<token>/<method>) | 200 {"ok": true, "result": {message}} |
| evolution      | /message/sendText/<instance>                     | 201 {"key": {...}, "status": "PENDING", ...} |
| twilio         | /2010-04-01/Accounts/<sid>/Messages.json (form)  | 201 {"sid": "SM...", "status": "queued", ...} |
| generic        | /outbox (or any path under it), JSON             | 200 {"id"} |

Under /outbox, a path that names no provider is read by the body's shape. Each item of the listing
(GET /outbox) names the provider, the recipient and the text, with the request's path, headers and
body; credentials (a Telegram bot token in the path, Authorization, apikey, Client-Token) are
masked to their last 4 characters.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any

CREDENTIAL_HEADERS = ("authorization", "apikey", "client-token")

TELEGRAM = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>\w+)$")
TWILIO = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
EVOLUTION = re.compile(r"^/message/sendText/(?P<instance>[^/]+)$")
CLOUD = re.compile(r"^(?:/v[\d.]+/[^/]+)?/messages$")  # {base}/messages, base .../v21.0/PHONE_NUMBER_ID
ZAPI = re.compile(r"^(?:/instances/[^/]+/token/[^/]+)?/send-text$")


def provider_of_path(path: str) -> tuple[str, dict] | None:
    """(provider, path parameters) of a provider send path (below /outbox, or at the root)."""
    for provider, pattern in (("telegram", TELEGRAM), ("twilio", TWILIO), ("evolution", EVOLUTION),
                              ("whatsapp_cloud", CLOUD), ("zapi", ZAPI)):
        match = pattern.match(path)
        if match:
            return provider, match.groupdict()
    return None


def provider_of_body(body: Any) -> str:
    """The provider whose send request a JSON body is, by its fields."""
    if not isinstance(body, dict):
        return "generic"
    if "messaging_product" in body:
        return "whatsapp_cloud"
    if "chat_id" in body:
        return "telegram"
    if "number" in body:
        return "evolution"
    if "phone" in body and "message" in body:
        return "zapi"
    if "To" in body and "Body" in body:
        return "twilio"
    return "generic"


def recipient_and_text(provider: str, body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    fields = {
        "zapi": ("phone", "message"),
        "telegram": ("chat_id", "text"),
        "evolution": ("number", "text"),
        "twilio": ("To", "Body"),
        "generic": ("phone_number", "text"),
    }
    if provider == "whatsapp_cloud":
        text = body.get("text")
        to = body.get("to", body.get("recipient"))
        return _str(to), _str(text.get("body") if isinstance(text, dict) else text)
    to, text = fields.get(provider, fields["generic"])
    return _str(body.get(to)), _str(body.get(text))


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def mask(value: str) -> str:
    """A credential, down to its last 4 characters (a scheme such as "Bearer " is kept)."""
    scheme, _, secret = value.rpartition(" ")
    hidden = "*" * max(len(secret) - 4, 3) + secret[-4:] if len(secret) > 4 else "*" * len(secret)
    return f"{scheme} {hidden}" if scheme else hidden


@dataclass
class Answer:
    status: int
    body: Any


class Outbox:
    def __init__(self):
        self._items: list[dict] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def record(self, headers: dict[str, str], body: Any, *, provider: str = "generic", path: str = "/outbox",
               recipient: str | None = None, text: str | None = None) -> dict:
        shown = {k: (mask(v) if k.lower() in CREDENTIAL_HEADERS else v) for k, v in headers.items()}
        with self._lock:
            item = {
                "id": f"local-{next(self._ids)}",
                "received_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "provider": provider,
                "recipient": recipient,
                "text": text,
                "path": path,
                "headers": shown,
                "body": body,
            }
            self._items.append(item)
            return item

    def items(self) -> list[dict]:
        with self._lock:
            return list(self._items)

    def clear(self) -> int:
        with self._lock:
            count = len(self._items)
            self._items.clear()
            return count

    def send(self, path: str, headers: dict[str, str], body: Any, *, form: bool = False) -> Answer:
        """A provider's send request: recorded, and answered as that provider answers it. ``path`` is
        relative to /outbox (or the root); ``body`` the JSON value, or the form fields when ``form``."""
        found = provider_of_path(path)
        provider, params = found if found else (("twilio" if form else provider_of_body(body)), {})
        to, text = recipient_and_text(provider, body)
        shown_path = path
        if provider == "telegram" and params.get("token"):
            shown_path = f"/bot{mask(params['token'])}/{params['method']}"
        missing = _missing(provider, to, text) if provider != "generic" else None
        if missing:
            return Answer(400, _refusal(provider, missing))
        item = self.record(headers, body, provider=provider, path=shown_path, recipient=to, text=text)
        return Answer(*_accepted(provider, params, item, to, text, body))


def _missing(provider: str, to: str | None, text: str | None) -> str | None:
    if to is None or not to.strip():
        return "recipient"
    if text is None or text == "":
        return "text"
    return None


def _refusal(provider: str, missing: str) -> dict:
    """What each provider answers a send without a recipient or a text (in its own error shape)."""
    message = f"the request has no {missing}"
    if provider == "telegram":
        return {"ok": False, "error_code": 400,
                "description": "Bad Request: chat_id is empty" if missing == "recipient" else
                "Bad Request: message text is empty"}
    if provider == "whatsapp_cloud":
        return {"error": {"message": f"(#100) {message}", "type": "OAuthException", "code": 100}}
    if provider == "twilio":
        return {"code": 21604 if missing == "recipient" else 21602, "message": message, "status": 400}
    return {"error": "bad_request", "message": message}


def _accepted(provider: str, params: dict, item: dict, to: str, text: str, body: Any) -> tuple[int, Any]:
    now = int(time.time())
    number = int(item["id"].split("-")[1])
    if provider == "telegram":
        token = params.get("token", "")
        bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 1
        chat_id: Any = int(to) if re.fullmatch(r"-?\d+", to) else to
        return 200, {"ok": True, "result": {
            "message_id": number, "from": {"id": bot_id, "is_bot": True, "first_name": "local"},
            "chat": {"id": chat_id, "type": "private" if not str(to).startswith("-") else "group"},
            "date": now, "text": text}}
    if provider == "whatsapp_cloud":
        address = "recipient" if isinstance(body, dict) and "recipient" in body and "to" not in body else "input"
        contact = {"input": to, "wa_id": to} if address == "input" else {"user_id": to}
        return 200, {"messaging_product": "whatsapp", "contacts": [contact],
                     "messages": [{"id": "wamid.LOCAL" + secrets.token_hex(16).upper()}]}
    if provider == "twilio":
        sid = "SM" + secrets.token_hex(16)
        account = params.get("sid", "AC" + "0" * 32)
        form = body if isinstance(body, dict) else {}
        return 201, {"sid": sid, "account_sid": account, "to": to, "from": form.get("From"),
                     "messaging_service_sid": form.get("MessagingServiceSid"), "body": text,
                     "status": "queued", "direction": "outbound-api", "num_segments": "1", "num_media": "0",
                     "api_version": "2010-04-01", "date_created": formatdate(now, usegmt=True),
                     "date_updated": formatdate(now, usegmt=True), "date_sent": None, "price": None,
                     "error_code": None, "error_message": None,
                     "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"}
    if provider == "evolution":
        jid = to if "@" in to else f"{to}@s.whatsapp.net"
        return 201, {"key": {"remoteJid": jid, "fromMe": True, "id": "BAE5" + secrets.token_hex(6).upper()},
                     "pushName": "", "status": "PENDING", "message": {"conversation": text},
                     "messageType": "conversation", "messageTimestamp": now,
                     "instanceId": params.get("instance", "local"), "source": "unknown"}
    if provider == "zapi":
        message_id = secrets.token_hex(10).upper()
        return 200, {"zaapId": secrets.token_hex(16).upper(), "messageId": message_id, "id": message_id}
    return 200, {"id": item["id"]}
