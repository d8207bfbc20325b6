"""Send a provider's webhook to a running `make run`, as that provider would: signed or with its token.

    python -m util.local_gateway.send lambda/examples/events/telegram.json --app demo
    python -m util.local_gateway.send lambda/examples/events/zapi.json --text hi --text "I have a question"

The event file is one webhook body (lambda/examples/events/ has one per provider; Twilio's is its
form-encoded body). Its provider is read from its shape and must be the app's (GET / of the running
gateway says which provider each app has). Each webhook gets fresh message ids and the current time,
so sending a file again is a new message; --keep-ids sends it exactly as it is (a duplicate the second
time). --text replaces the text; given several times it sends one webhook per text, a burst.
--phone replaces the sender.

Authentication comes from the app's secrets, read from APP_SECRETS_JSON (the variable `make run`
reads; export the same value in both terminals) or --secrets: X-Webhook-Token (`webhook_token`) for
Z-API, Evolution and generic, X-Telegram-Bot-Api-Secret-Token (`secret_token`), X-Hub-Signature-256
(`app_secret`) for WhatsApp Cloud, X-Twilio-Signature (`auth_token`; signed over `webhook_url` when
the secrets have one, else the URL the gateway rebuilds, https://127.0.0.1/webhook?appId=APP).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from gateway.providers import PROVIDERS


@dataclass
class Webhook:
    url: str
    headers: dict[str, str]
    body: bytes


def provider_of(event: dict | list[tuple[str, str]]) -> str:
    """Which provider's webhook a body is: a form is Twilio's; JSON by its fields."""
    if isinstance(event, list):
        return "twilio"
    if "update_id" in event or "message" in event and isinstance(event.get("message"), dict) and "chat" in event["message"]:
        return "telegram"
    if event.get("object") == "whatsapp_business_account" or "entry" in event:
        return "whatsapp_cloud"
    if "event" in event and isinstance(event.get("data"), dict):
        return "evolution"
    if "phone_number" in event:
        return "generic"
    if "phone" in event or event.get("type") == "ReceivedCallback":
        return "zapi"
    raise ValueError("cannot tell which provider's webhook this is")


def read_event(path: Path) -> dict | list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("{"):
        return json.loads(text)
    return parse_qsl(text, keep_blank_values=True, strict_parsing=True)


def _new_id(prefix: str = "", size: int = 10, upper: bool = True) -> str:
    value = secrets.token_hex(size)
    return prefix + (value.upper() if upper else value)


def refresh(provider: str, event, *, text: str | None = None, phone: str | None = None, fresh: bool = True):
    """A copy of the webhook with new message ids and the current time (fresh), and a text or sender
    of your own."""
    event = copy.deepcopy(event)
    now = int(time.time())
    if provider == "twilio":
        form = dict(event)
        if fresh:
            sid = _new_id("SM", 16, upper=False)
            for key in ("MessageSid", "SmsMessageSid", "SmsSid"):
                if key in form:
                    form[key] = sid
        if text is not None:
            form["Body"] = text
        if phone is not None:
            form["From"] = phone
        return list(form.items())
    if provider == "zapi":
        if fresh:
            event["messageId"], event["momment"] = _new_id(), now * 1000
        if text is not None:
            event["text"] = {"message": text}
        if phone is not None:
            event["phone"] = phone
    elif provider == "whatsapp_cloud":
        for entry in event.get("entry", []):
            for change in entry.get("changes", []):
                value = change.get("value", {})
                for message in value.get("messages", []):
                    if fresh:
                        message["id"], message["timestamp"] = _new_id("wamid.LOCAL", 12), str(now)
                    if text is not None:
                        message["type"], message["text"] = "text", {"body": text}
                        for media in ("image", "audio", "video", "document", "sticker"):
                            message.pop(media, None)
                    if phone is not None:
                        message["from"] = phone
                if phone is not None:
                    for contact in value.get("contacts", []):
                        contact["wa_id"] = phone
    elif provider == "telegram":
        message = event.get("message", {})
        if fresh:
            event["update_id"] = secrets.randbelow(10**9)
            message["message_id"], message["date"] = secrets.randbelow(10**6), now
        if text is not None:
            message["text"] = text
            message.pop("caption", None)
        if phone is not None:
            chat_id = int(phone) if phone.lstrip("-").isdigit() else phone
            message.setdefault("chat", {})["id"] = chat_id
            if isinstance(message.get("from"), dict) and message.get("chat", {}).get("type", "private") == "private":
                message["from"]["id"] = chat_id
    elif provider == "evolution":
        data = event.get("data", {})
        if fresh:
            data.setdefault("key", {})["id"] = _new_id(size=16)
            data["messageTimestamp"] = now
        if text is not None:
            data["message"], data["messageType"] = {"conversation": text}, "conversation"
        if phone is not None:
            data.setdefault("key", {})["remoteJid"] = phone if "@" in phone else f"{phone}@s.whatsapp.net"
    elif provider == "generic":
        if fresh:
            event["message_id"], event["timestamp"] = _new_id("local-", 8, upper=False), now
        if text is not None:
            event["text"] = text
        if phone is not None:
            event["phone_number"] = phone
    return event


def webhook(base_url: str, app: str, provider: str, event, app_secrets: dict[str, str]) -> Webhook:
    """The request the provider would make: body bytes and its authentication headers."""
    url = f"{base_url.rstrip('/')}/webhook?appId={app}"
    if provider == "twilio":
        body = urlencode(event).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    else:
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
    if PROVIDERS[provider].shared_token and app_secrets.get("webhook_token"):
        headers["X-Webhook-Token"] = app_secrets["webhook_token"]
    elif provider == "telegram" and app_secrets.get("secret_token"):
        headers["X-Telegram-Bot-Api-Secret-Token"] = app_secrets["secret_token"]
    elif provider == "whatsapp_cloud" and app_secrets.get("app_secret"):
        digest = hmac.new(app_secrets["app_secret"].encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    elif provider == "twilio" and app_secrets.get("auth_token"):
        headers["X-Twilio-Signature"] = twilio_signature(app_secrets["auth_token"],
                                                         app_secrets.get("webhook_url") or gateway_view(url), event)
    return Webhook(url, headers, body)


def gateway_view(url: str) -> str:
    """The URL post_message rebuilds from the API Gateway event (https, the host without its port)."""
    parts = urlsplit(url)
    return f"https://{parts.hostname}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """base64 HMAC-SHA1 over the URL and the form parameters, sorted by name (Twilio's scheme)."""
    payload = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def post(hook: Webhook, timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(hook.url, data=hook.body, headers=hook.headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def get_json(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def app_secrets_from(raw: str | None, app: str) -> dict[str, str]:
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the secrets must be a JSON object")
    inner = value.get(app, value if not any(isinstance(v, dict) for v in value.values()) else {})
    return {str(k): str(v) for k, v in inner.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m util.local_gateway.send", description=__doc__.split("\n\n")[0])
    parser.add_argument("event", type=Path, help="a webhook body, e.g. lambda/examples/events/telegram.json")
    parser.add_argument("--app", default="demo", help="the app it is posted to (?appId=; default demo)")
    parser.add_argument("--text", action="append", help="the message's text; repeat it to send a burst")
    parser.add_argument("--phone", help="the sender (a phone number, chat id, ...)")
    parser.add_argument("--keep-ids", action="store_true", help="send the file's message ids and times as they are")
    parser.add_argument("--secrets", help="the app's secrets (a JSON object); default: APP_SECRETS_JSON[app]")
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8080')}",
                        help="the local gateway (default http://127.0.0.1:$GATEWAY_PORT, 8080)")
    args = parser.parse_args(argv)
    try:
        event = read_event(args.event)
        provider = provider_of(event if isinstance(event, (dict, list)) else {})
        app_secrets = app_secrets_from(args.secrets or os.environ.get("APP_SECRETS_JSON"), args.app)
    except (OSError, ValueError) as exc:
        print(f"{args.event}: {exc}", file=sys.stderr)
        return 2
    try:
        info = get_json(f"{args.url.rstrip('/')}/")
    except (urllib.error.URLError, OSError):
        print(f"no gateway answers on {args.url}: start `make run` in another terminal first", file=sys.stderr)
        return 1
    app = (info.get("apps") or {}).get(args.app)
    if app is None:
        print(f"the gateway has no app {args.app!r} (it has {', '.join(sorted(info.get('apps') or {}))})",
              file=sys.stderr)
        return 1
    if app.get("provider", "zapi") != provider:
        print(f"{args.event} is a {provider} webhook but app {args.app} is {app.get('provider', 'zapi')}: run "
              f"make run with PROVIDERS_MAP='{{\"{args.app}\":\"{provider}\"}}'", file=sys.stderr)
        return 1
    worst = 0
    for text in args.text or [None]:
        body = refresh(provider, event, text=text, phone=args.phone, fresh=not args.keep_ids)
        status, answer = post(webhook(args.url, args.app, provider, body, app_secrets))
        print(f"HTTP {status} {answer.strip()}")
        worst = max(worst, status)
    return 0 if worst < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
