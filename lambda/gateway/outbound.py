"""Replies out: the provider requests (pure), the split of long replies, and the HTTP call with a timeout.

One builder per provider turns (base URL, recipient, text, the app's secrets) into an OutboundRequest.
API_URLS_MAP[app] is, per provider:

- zapi:           the full send-text URL  https://api.z-api.io/instances/ID/token/TOKEN/send-text
- whatsapp_cloud: https://graph.facebook.com/v21.0/PHONE_NUMBER_ID  (/messages is appended)
- telegram:       https://api.telegram.org  (/bot<bot_token>/sendMessage is appended)
- evolution:      the full sendText URL  https://EVOLUTION_HOST/message/sendText/INSTANCE
- twilio:         https://api.twilio.com  (/2010-04-01/Accounts/<account_sid>/Messages.json is appended)
- generic:        the full URL that receives {"phone_number", "text"}

URLs built with a credential in them (Telegram) must never be logged; nothing here logs.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import Callable, Mapping

import requests

from .errors import SendError

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

# Longest text one message may carry, in UTF-16 code units (what Telegram counts; never fewer than
# the characters WhatsApp and Twilio count). None: no limit, never split.
TEXT_LIMITS: dict[str, int | None] = {
    "zapi": 4096,
    "whatsapp_cloud": 4096,
    "evolution": 4096,
    "telegram": 4096,
    "twilio": 1600,
    "generic": None,
}


@dataclass(frozen=True)
class Reply:
    app_id: str
    phone_number: str
    message_to_send: str

    @classmethod
    def from_record(cls, value: object) -> "Reply":
        if not isinstance(value, dict):
            raise ValueError("the record body must be a JSON object")
        fields = {}
        for name in ("app_id", "phone_number", "message_to_send"):
            item = value.get(name)
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"the record has no {name}")
            fields[name] = item
        return cls(**fields)


@dataclass(frozen=True)
class OutboundRequest:
    method: str
    url: str = field(repr=False)  # may hold a credential (Telegram's bot token)
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a credential
    json: dict | None = None
    data: dict | None = None


# --- splitting ----------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’)\]]*(?=\s)")


def text_units(text: str) -> int:
    """Length in UTF-16 code units: an emoji outside the BMP counts 2, as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int | None) -> list[str]:
    """Split a reply into parts of at most `limit` units, in order.

    Each cut is made at the last line break that fits; failing that, the last sentence end
    (. ! ? … followed by whitespace); failing that, the last whitespace; failing that, a hard cut.
    A cut never falls inside a grapheme cluster (a flag, a ZWJ emoji sequence, a skin tone, a
    keycap, a letter and its accents, a Hangul syllable): it moves back to the cluster's start. Only
    a single cluster longer than the limit is cut inside, between code points.
    The whitespace at a cut (and around a text that has to be split) is dropped; nothing else is
    lost or reordered. A text that fits is returned unchanged.
    """
    if limit is None or text_units(text) <= limit:
        return [text]
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts: list[str] = []
    rest = _strip(text)
    while text_units(rest) > limit:
        window = _fitting_prefix(rest, limit)
        cut = _cluster_start(rest, _cut(rest, len(window)))
        head, rest = _strip(rest[:cut], start=False), _strip(rest[cut:], end=False)
        if head:
            parts.append(head)
    if rest:
        parts.append(rest)
    return parts


# --- grapheme cluster boundaries (UAX #29), conservative -------------------------------------------
# A cut between two code points is allowed only where UAX #29 puts a cluster boundary; where this
# code is unsure it keeps the code points together (a part may end a little earlier, never inside a
# cluster). unicodedata has no Grapheme_Cluster_Break property, so the classes are derived here.

_ZWJ = "\u200d"
_PREPEND = frozenset([*range(0x600, 0x606), 0x6DD, 0x70F, 0x890, 0x891, 0x8E2, 0xD4E, 0x110BD, 0x110CD,
                      0x111C2, 0x111C3, 0x1193F, 0x11941, 0x11A3A, *range(0x11A84, 0x11A8A), 0x11D46, 0x11F02])


def _joins_previous(char: str) -> bool:
    """Extend, ZWJ or SpacingMark: never starts a cluster (GB9, GB9a)."""
    code = ord(char)
    return (unicodedata.category(char) in ("Mn", "Me", "Mc")  # accents, variation selectors, keycap U+20E3
            or code in (0x200C, 0x200D, 0xE33, 0xEB3, 0xFF9E, 0xFF9F)
            or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
            or 0xE0020 <= code <= 0xE007F)  # tags (subdivision flags)


# Extended_Pictographic, taken a little wide (unicodedata lacks it): wider only keeps more together.
_PICTOGRAPHIC = ((0x2194, 0x21AA), (0x2300, 0x23FF), (0x25A0, 0x25FF), (0x2600, 0x27BF), (0x2934, 0x2935),
                 (0x2B00, 0x2BFF), (0x1F000, 0x1F1E5), (0x1F200, 0x1F3FA), (0x1F400, 0x1FAFF), (0x1FC00, 0x1FFFD))
_PICTOGRAPHIC_SINGLE = frozenset([0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299])


def _pictographic(char: str) -> bool:
    code = ord(char)
    return code in _PICTOGRAPHIC_SINGLE or any(low <= code <= high for low, high in _PICTOGRAPHIC)


def _emoji_before_zwj(text: str, zwj: int) -> bool:
    """GB11: is the ZWJ at text[zwj] preceded by a pictograph and only Extend characters?"""
    for position in range(zwj - 1, -1, -1):
        if _pictographic(text[position]):
            return True
        if not _joins_previous(text[position]) or text[position] == _ZWJ:
            return False
    return False


def _control(char: str) -> bool:
    """CR, LF and the other controls and separators: a cluster of their own (GB4, GB5)."""
    category = unicodedata.category(char)
    if category == "Cf":
        code = ord(char)
        return not (code in (0x200C, 0x200D) or code in _PREPEND or 0xE0020 <= code <= 0xE007F)
    return category in ("Cc", "Zl", "Zp")


def _hangul(char: str) -> str:
    code = ord(char)
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _is_boundary(text: str, index: int) -> bool:
    """May a part end before text[index]?"""
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if before == "\r" and after == "\n":  # GB3
        return False
    if _control(before) or _control(after):  # GB4, GB5
        return True
    if _joins_previous(after) or ord(before) in _PREPEND:  # GB9, GB9a, GB9b
        return False
    if before == _ZWJ and _pictographic(after) and _emoji_before_zwj(text, index - 1):  # GB11
        return False
    if unicodedata.category(after) == "Lo" and _after_virama(text, index):  # GB9c: conjunct consonant
        return False
    jamo_before, jamo_after = _hangul(before), _hangul(after)
    if jamo_before and jamo_after and (  # GB6, GB7, GB8
            jamo_before == "L" and jamo_after in ("L", "V", "LV", "LVT")
            or jamo_before in ("LV", "V") and jamo_after in ("V", "T")
            or jamo_before in ("LVT", "T") and jamo_after == "T"):
        return False
    if _regional(before) and _regional(after):  # GB12, GB13: flags are pairs, counted from the run's start
        run = 0
        while index - run - 1 >= 0 and _regional(text[index - run - 1]):
            run += 1
        return run % 2 == 0
    return True


# GB9c: a virama links the next consonant into a conjunct. Unicode 15.1 does it for six scripts and
# later versions for more; here any virama (ccc 9) and any letter of a Brahmic-script block.
_BRAHMIC = ((0x900, 0xDFF), (0xF00, 0xFFF), (0x1000, 0x109F), (0x1700, 0x17FF), (0x1900, 0x1AAF),
            (0x1B00, 0x1C4F), (0xA800, 0xA8FF), (0xA900, 0xAAFF), (0xABC0, 0xABFF), (0x10A00, 0x10A5F),
            (0x11000, 0x11FFF))


def _after_virama(text: str, index: int) -> bool:
    """Is text[index] a consonant joined to the one before by a virama (क्ष), marks or ZWJ between?"""
    code = ord(text[index])
    if not any(low <= code <= high for low, high in _BRAHMIC):
        return False
    for position in range(index - 1, -1, -1):
        if unicodedata.combining(text[position]) == 9 or text[position] in "\u1cf5\u1cf6":  # viramas, Vedic signs
            return True
        if not _joins_previous(text[position]):
            return False
    return False


def _cluster_start(text: str, index: int) -> int:
    """The nearest cluster boundary at or before `index`, above 0; `index` itself when one cluster
    fills the whole window (it cannot be sent whole)."""
    for candidate in range(index, 0, -1):
        if _is_boundary(text, candidate):
            return candidate
    return index


def _strip(text: str, *, start: bool = True, end: bool = True) -> str:
    """str.strip by whole clusters: CR LF goes as one; a space that carries a combining mark stays."""
    first, last = 0, len(text)
    while start and first < last and text[first].isspace():
        after = first + 1
        while after < last and not _is_boundary(text, after):
            after += 1
        if not text[first:after].isspace():
            break
        first = after
    while end and last > first and text[last - 1].isspace():
        begin = last - 1
        while begin > first and not _is_boundary(text, begin):
            begin -= 1
        if not text[begin:last].isspace():
            break
        last = begin
    return text[first:last]


def _fitting_prefix(text: str, limit: int) -> str:
    if len(text) * 2 <= limit:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index] or text[:1]
    return text


def _cut(rest: str, size: int) -> int:
    """Where the part ends: an index in (0, size]. `probe` also sees the character just after the
    window, so a separator right after a part that fits exactly still counts."""
    probe = rest[: size + 1]
    line = probe.rfind("\n")
    if line > 0:
        return line
    best = 0
    for match in _SENTENCE_END.finditer(probe):
        if match.end() <= size:
            best = match.end()
    if best:
        return best
    space = max(probe.rfind(" "), probe.rfind("\t"))
    if space > 0:
        return space
    return size


# --- builders -----------------------------------------------------------------------------------

Builder = Callable[[str, str, str, Mapping[str, str]], OutboundRequest]


def _secret(secrets: Mapping[str, str], name: str, provider: str) -> str:
    value = secrets.get(name)
    if not value:
        raise SendError(f"no {name} is configured for this {provider} app", retryable=False)
    return value


def zapi(url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
    """Z-API send-text; the Client-Token header when the account has one."""
    headers = {"Content-Type": "application/json"}
    if secrets.get("client_token"):
        headers["Client-Token"] = secrets["client_token"]
    return OutboundRequest("POST", url, headers, json={"phone": to, "message": text})


def zapi_send_text(url: str, reply: Reply, client_token: str | None) -> OutboundRequest:
    """The first version's Z-API builder, kept for its callers."""
    return zapi(url, reply.phone_number, reply.message_to_send, {"client_token": client_token or ""})


# A business-scoped user id: a two-letter country code, a period, then letters and digits
# ("US.13491208655302741918"; a parent BSUID has "ENT." after the country: "US.ENT.1181...").
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


def whatsapp_cloud(url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
    """Cloud API /messages. A phone number goes in `to`; a user known only by a BSUID (a WhatsApp
    username without a shared phone number) is addressed by `recipient` instead."""
    token = _secret(secrets, "access_token", "whatsapp_cloud")
    endpoint = url if url.rstrip("/").endswith("/messages") else url.rstrip("/") + "/messages"
    address = "recipient" if _BSUID.fullmatch(to) else "to"
    return OutboundRequest(
        "POST", endpoint,
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        json={"messaging_product": "whatsapp", address: to, "type": "text", "text": {"body": text}},
    )


def telegram(url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
    token = _secret(secrets, "bot_token", "telegram")
    return OutboundRequest("POST", f"{url.rstrip('/')}/bot{token}/sendMessage",
                           {"Content-Type": "application/json"}, json={"chat_id": to, "text": text})


def evolution(url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
    apikey = _secret(secrets, "apikey", "evolution")
    return OutboundRequest("POST", url, {"apikey": apikey, "Content-Type": "application/json"},
                           json={"number": to, "text": text})


def twilio(url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
    account_sid = _secret(secrets, "account_sid", "twilio")
    auth_token = _secret(secrets, "auth_token", "twilio")
    form = {"To": to, "Body": text}
    if secrets.get("messaging_service_sid"):
        form["MessagingServiceSid"] = secrets["messaging_service_sid"]
    else:
        form["From"] = _secret(secrets, "from", "twilio")  # "+1555..." or "whatsapp:+1555..."
    basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
    return OutboundRequest(
        "POST", f"{url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json",
        {"Authorization": f"Basic {basic}"}, data=form,
    )


def generic(url: str, to: str, text: str, secrets: Mapping[str, str]) -> OutboundRequest:
    headers = {"Content-Type": "application/json"}
    if secrets.get("access_token"):
        headers["Authorization"] = f"Bearer {secrets['access_token']}"
    return OutboundRequest("POST", url, headers, json={"phone_number": to, "text": text})


BUILDERS: dict[str, Builder] = {
    "zapi": zapi,
    "whatsapp_cloud": whatsapp_cloud,
    "telegram": telegram,
    "evolution": evolution,
    "twilio": twilio,
    "generic": generic,
}


def build_requests(provider: str, url: str, reply: Reply, secrets: Mapping[str, str]) -> list[OutboundRequest]:
    """The requests that deliver one reply, in order: one per part of the split text."""
    builder = BUILDERS[provider]
    return [builder(url, reply.phone_number, part, secrets)
            for part in split_text(reply.message_to_send, TEXT_LIMITS[provider])]


# --- the call ------------------------------------------------------------------------------------


@cache
def _session() -> requests.Session:
    return requests.Session()


def send(request: OutboundRequest, timeout_seconds: float) -> int:
    """Perform the request; returns the status of a 2xx, raises SendError otherwise."""
    try:
        response = _session().request(
            request.method,
            request.url,
            headers=request.headers,
            json=request.json,
            data=request.data,
            timeout=(min(3.0, timeout_seconds), timeout_seconds),
            allow_redirects=False,
        )
    except requests.Timeout:
        raise SendError("the provider did not answer in time", retryable=True) from None
    except requests.RequestException as exc:
        raise SendError(f"could not reach the provider: {type(exc).__name__}", retryable=True) from None
    if 200 <= response.status_code < 300:
        return response.status_code
    raise SendError(
        f"the provider answered HTTP {response.status_code}",
        retryable=response.status_code in RETRYABLE_STATUSES or response.status_code >= 500,  # 501, a CDN's 52x
    )
