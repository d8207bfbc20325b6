"""The local stand-in for the messaging providers: /outbox records every reply POSTed to it."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timezone
from typing import Any


class Outbox:
    def __init__(self):
        self._items: list[dict] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def record(self, headers: dict[str, str], body: Any) -> dict:
        with self._lock:
            item = {
                "id": f"local-{next(self._ids)}",
                "received_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "headers": headers,
                "body": body,
            }
            self._items.append(item)
            return item

    def items(self) -> list[dict]:
        with self._lock:
            return list(self._items)
