"""`make demo`: with `make run` going in another terminal, send a scripted burst from two senders to
app `demo` and print what reached the local outbox. Exits 1 if nothing arrived."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

SCRIPT = [  # (sender, text, pause before the next one in seconds) - two people typing in bursts
    ("5511900000001", "hi", 0.4),
    ("5511900000002", "good evening", 0.3),
    ("5511900000001", "I'd like to order a pizza", 0.5),
    ("5511900000002", "are you open on Sundays?", 0.4),
    ("5511900000001", "a large one, with olives", 0.0),
]
MARGIN_SECONDS = 8  # Step Functions waits whole seconds, then the reply goes through the queue


def call(method: str, url: str, payload: dict | None = None, timeout: float = 5) -> tuple[int, object]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def zapi_text(phone: str, text: str) -> dict:
    """What Z-API POSTs for a received text message."""
    return {"type": "ReceivedCallback", "phone": phone, "messageId": uuid.uuid4().hex[:20].upper(),
            "momment": int(time.time() * 1000), "fromMe": False, "isGroup": False,
            "status": "RECEIVED", "text": {"message": text}}


def main() -> int:
    base = f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8080')}"
    try:
        _, info = call("GET", f"{base}/", timeout=3)
        _, before = call("GET", f"{base}/outbox", timeout=3)
    except (urllib.error.URLError, OSError):
        print(f"no gateway answers on {base}: start `make run` in another terminal first", file=sys.stderr)
        return 1
    quiet = float(info.get("debounce_seconds", 10)) if isinstance(info, dict) else 10.0
    seen = len(before)
    print(f"sending {len(SCRIPT)} messages from 2 senders to {base}/webhook?appId=demo (quiet period {quiet:g} s)")
    for phone, text, pause in SCRIPT:
        status, answer = call("POST", f"{base}/webhook?appId=demo", zapi_text(phone, text))
        print(f"  {phone}: {text!r:32} -> HTTP {status} {json.dumps(answer)}")
        time.sleep(pause)
    senders = {phone for phone, _, _ in SCRIPT}
    deadline = time.monotonic() + quiet + MARGIN_SECONDS
    print(f"waiting up to {quiet + MARGIN_SECONDS:g} s for the replies ...")
    new: list = []
    while time.monotonic() < deadline:
        _, items = call("GET", f"{base}/outbox")
        new = items[seen:]
        if {item.get("body", {}).get("phone") for item in new} >= senders:
            break
        time.sleep(0.5)
    print(f"the outbox received {len(new)} repl{'y' if len(new) == 1 else 'ies'}:")
    for item in new:
        body = item.get("body", {})
        print(f"  to {body.get('phone')}: {json.dumps(body.get('message'))}")
    return 0 if new else 1


if __name__ == "__main__":
    sys.exit(main())
