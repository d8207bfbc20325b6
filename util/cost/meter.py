"""The meter: what the gateway's code does while it runs, counted, and the unit accounting behind it.

* every AWS API call, by function, service and operation (botocore's ``BaseClient._make_api_call``);
* Lambda invocations (``Invocation``): the handler's own compute time measured, plus an assumed
  latency for each AWS call it makes (moto answers in-process, far faster than AWS);
* DynamoDB request units from item sizes (DynamoDB's size rules): a write costs 1 WRU per KB of
  the larger of the item before and after, a transaction twice that, a conditional write that
  fails still costs; a strongly consistent read 1 RRU per 4 KB; each write that adds, changes or
  removes an item of the sparse GSI costs that index's writes too.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

# Assumptions, all in one place. Latencies are typical in-region round trips; they turn the
# in-process moto calls into billed Lambda time.
ASSUMED_CALL_LATENCY_MS = {
    ("dynamodb", "TransactWriteItems"): 15.0,
    "dynamodb": 6.0,
    "stepfunctions": 25.0,
    "lambda": 25.0,  # an Invoke's round trip (sync or async); the bot's run time is the bill's (bot_time)
    "ssm": 15.0,
    "sqs": 10.0,
}

GSI_ENTRY_OVERHEAD_BYTES = 100  # what DynamoDB adds to each index entry's size


# --------------------------------------------------------------------------- DynamoDB sizes


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _binary_size(inner) -> int:
    return len(inner) if isinstance(inner, (bytes, bytearray)) else len(inner.encode())


# attribute type -> size in bytes of its value (the inner part of the AttributeValue JSON)
_ATTRIBUTE_SIZES = {
    "S": lambda inner: len(inner.encode()),
    "N": _number_size,
    "B": _binary_size,
    "BOOL": lambda inner: 1,
    "NULL": lambda inner: 1,
    "SS": lambda inner: sum(len(s.encode()) for s in inner),
    "NS": lambda inner: sum(attribute_size({"N": n}) for n in inner),
    "BS": lambda inner: sum(len(b) for b in inner),
    "L": lambda inner: 3 + sum(1 + attribute_size(v) for v in inner),
    "M": lambda inner: 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items()),
}


def attribute_size(value: dict) -> int:
    """Size in bytes of one DynamoDB attribute value (AttributeValue JSON), by DynamoDB's rules."""
    (kind, inner), = value.items()
    if kind not in _ATTRIBUTE_SIZES:
        raise ValueError(f"unknown attribute type {kind}")
    return _ATTRIBUTE_SIZES[kind](inner)


def item_size(item: dict | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def uncompressed(item: dict, texts: dict[str, str] | None = None) -> dict:
    """``item`` (AttributeValue JSON) with each text of its ``msgs`` as plain text on its entry: a
    DEFLATE-compressed one expanded, one kept in a TEXT item (``r``) taken from ``texts`` (ref -> text),
    as the seed stores them."""
    from util.cost.store_view import entry_text

    if "msgs" not in item:
        return item
    entries = []
    for entry in item["msgs"]["L"]:
        fields = dict(entry["M"])
        if "z" in fields:
            fields["t"] = {"S": entry_text({"z": fields.pop("z")["B"]})}
        elif "r" in fields:
            fields["t"] = {"S": (texts or {})[fields.pop("r")["S"]]}
        entries.append({"M": fields})
    return {**item, "msgs": {"L": entries}}


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


# --------------------------------------------------------------------------- Lambda time


@dataclass
class Invocation:
    function: str
    wall_ms: float
    started_at: float = field(default_factory=time.time)
    aws_ms: float = 0.0
    slept_ms: float = 0.0  # process_message waiting out a burst's last seconds (billed, not compute)
    calls: list[tuple[str, str]] = field(default_factory=list)
    wru: float = 0.0  # DynamoDB units of this invocation's calls (the Meter's counters by function hold them too)
    rru: float = 0.0
    log_bytes: int = 0  # what it printed (JSON log lines, EMF lines), through the run's log tap

    def own_ms(self) -> float:
        """Own compute: wall time minus the time inside moto."""
        return max(self.wall_ms - self.aws_ms, 0.0)

    def billed_ms(self) -> float:
        """Own compute plus the assumed AWS latency of each call."""
        return math.ceil(self.own_ms() + sum(call_latency_ms(s, o) for s, o in self.calls))


def call_latency_ms(service: str, operation: str) -> float:
    return ASSUMED_CALL_LATENCY_MS.get((service, operation), ASSUMED_CALL_LATENCY_MS.get(service, 10.0))


# --------------------------------------------------------------------------- the meter


class Meter:
    """Counts AWS calls (botocore), DynamoDB units and Lambda invocations while installed."""

    def __init__(self, schema: dict | None = None):
        schema = schema or {"KeySchema": []}
        self.calls: Counter = Counter()  # (function, service, operation) -> count
        self.wru: Counter = Counter()  # function -> write request units (table + GSI)
        self.rru: Counter = Counter()
        self.gsi_wru: Counter = Counter()
        self.invocations: list[Invocation] = []
        # conversation item size after each webhook UpdateItem, with its texts as the seed stores them:
        # uncompressed (the seed's call pattern is priced with these sizes)
        self.append_sizes: list[int] = []
        self.texts: dict[str, str] = {}  # the TEXT items written (ref -> text), to expand the seed's items
        self._local = threading.local()
        self._lock = threading.Lock()
        self.key_names = [k["AttributeName"] for k in schema["KeySchema"]]
        self.indexes = [
            ([k["AttributeName"] for k in index["KeySchema"]], index["Projection"].get("NonKeyAttributes", []))
            for index in schema.get("GlobalSecondaryIndexes", [])
        ]

    def book(self, function: str, own_ms: float, calls: list[tuple[str, str]], *, wru: float = 0.0,
             rru: float = 0.0) -> None:
        """Count an invocation that was not run (the seed's call pattern) as the hook counts a run one."""
        with self._lock:
            self.invocations.append(Invocation(function, own_ms, calls=list(calls)))
            for service, operation in calls:
                self.calls[(function, service, operation)] += 1
            self.wru[function] += wru
            self.rru[function] += rru

    # -- phases: which function is running on this thread

    @contextlib.contextmanager
    def function(self, name: str):
        outer = getattr(self._local, "invocation", None)
        invocation = Invocation(name, 0.0)
        self._local.invocation = invocation
        start = time.perf_counter()
        try:
            yield invocation
        finally:
            invocation.wall_ms = (time.perf_counter() - start) * 1000
            self._local.invocation = outer
            with self._lock:
                self.invocations.append(invocation)

    @contextlib.contextmanager
    def uncounted(self):
        """The run's own bookkeeping calls (polling for the end) are not the gateway's."""
        self._local.internal = True
        try:
            yield
        finally:
            self._local.internal = False

    @property
    def current(self) -> str:
        invocation = getattr(self._local, "invocation", None)
        return invocation.function if invocation else "stepfunctions-service"

    @property
    def invocation(self) -> Invocation | None:
        """The invocation running on this thread (``function``), if any."""
        return getattr(self._local, "invocation", None)

    # -- botocore hook

    @contextlib.contextmanager
    def installed(self):
        from botocore.client import BaseClient

        from util.local_aws import moto_lock

        original = BaseClient._make_api_call
        meter = self

        def counted(client, operation, params):
            if getattr(meter._local, "internal", False):
                return original(client, operation, params)
            service = client.meta.service_model.service_name
            invocation = getattr(meter._local, "invocation", None)
            started = time.perf_counter()
            if service == "dynamodb":
                with moto_lock:
                    response = meter._dynamodb(original, client, operation, params)
            else:
                response = original(client, operation, params)
            if invocation is not None:
                invocation.aws_ms += (time.perf_counter() - started) * 1000
                invocation.calls.append((service, operation))
            with meter._lock:
                meter.calls[(meter.current, service, operation)] += 1
            return response

        BaseClient._make_api_call = counted
        try:
            yield self
        finally:
            BaseClient._make_api_call = original

    # -- DynamoDB: each operation's request units (OPERATIONS, at the end of the class)

    def _dynamodb(self, original, client, operation, params):
        """Make one DynamoDB call and count its units: the writes' from the items before and after it
        (read back uncounted), the reads' from the response; a failed write is billed, then raised."""
        function = self.current
        writes_of, reads_of, booked = self.OPERATIONS.get(operation, (None, None, None))
        writes = writes_of(self, params) if writes_of else []  # (table, key, multiplier)
        before = [self._internal_get(original, client, t, k) for t, k, _ in writes]
        failed = None
        try:
            response = original(client, operation, params)
        except Exception as exc:  # a failed conditional write is still billed
            response, failed = None, exc
        after = [self._internal_get(original, client, t, k) for t, k, _ in writes]
        units, gsi = self._write_units(writes, before, after, changed=failed is None)
        read = reads_of(self, params, response) if reads_of and response is not None else 0.0
        self.rru[function] += read
        invocation = getattr(self._local, "invocation", None)
        if invocation is not None:
            invocation.wru += units + gsi
            invocation.rru += read
        with self._lock:
            self.wru[function] += units + gsi
            self.gsi_wru[function] += gsi
            if booked:
                booked(self, function, params, after, failed)
        if failed is not None:
            raise failed
        return response

    def _internal_get(self, original, client, table: str, key: dict) -> dict | None:
        self._local.internal = True
        try:
            return original(client, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}).get("Item")
        finally:
            self._local.internal = False

    def _key(self, item: dict) -> dict:
        return {k: item[k] for k in self.key_names}

    def _write_units(self, writes, before, after, changed: bool) -> tuple[float, float]:
        """(table WRU, sparse index WRU) of the writes, from the items before and after the call."""
        units = 0.0
        gsi = 0.0
        for (_table, _key, multiplier), old, new in zip(writes, before, after):
            units += multiplier * write_units(max(item_size(old), item_size(new) if changed else 0))
            if changed:  # index upkeep counted once, also inside a transaction (an assumption)
                gsi += self._gsi_units(old, new)
        return units, gsi

    def _gsi_units(self, old: dict | None, new: dict | None) -> float:
        units = 0.0
        for keys, projected in self.indexes:
            def image(item):
                if not item or not all(k in item for k in keys):
                    return None
                names = [*self.key_names, *keys, *projected]
                return {n: item[n] for n in names if n in item}

            a, b = image(old), image(new)
            size = lambda img: write_units(item_size(img) + GSI_ENTRY_OVERHEAD_BYTES)  # noqa: E731
            if a is None and b is None:
                continue
            if a is None or b is None:
                units += size(a or b)
            elif any(a.get(k) != b.get(k) for k in keys):
                units += size(a) + size(b)  # the index entry moves: a delete and a put
            elif a != b:
                units += size(b)
        return units

    # -- the operations' handlers: what an operation writes, what it reads, what is noted after it

    def _item_write(self, params) -> list[tuple[str, dict, int]]:
        """PutItem, UpdateItem, DeleteItem: one item, one write."""
        key = params["Key"] if "Key" in params else self._key(params["Item"])
        return [(params["TableName"], key, 1)]

    def _transaction_writes(self, params) -> list[tuple[str, dict, int]]:
        """TransactWriteItems: each item written at twice the units."""
        writes = []
        for entry in params["TransactItems"]:
            (_kind, body), = entry.items()
            key = body["Key"] if "Key" in body else self._key(body["Item"])
            writes.append((body["TableName"], key, 2))
        return writes

    def _get_reads(self, params, response) -> float:
        return read_units(item_size(response.get("Item")), params.get("ConsistentRead", False))

    def _query_reads(self, params, response) -> float:
        size = sum(item_size(i) for i in response.get("Items", []))
        return read_units(size, params.get("ConsistentRead", False))

    def _batch_get_reads(self, params, response) -> float:
        read = 0.0
        for table, items in response.get("Responses", {}).items():  # each item is read (and rounded) alone
            consistent = params["RequestItems"][table].get("ConsistentRead", False)
            read += sum(read_units(item_size(i), consistent) for i in items)
        return read

    def _text_item_written(self, function, params, after, failed) -> None:
        """PutItem of a TEXT item: its text, to expand the seed's items with (uncompressed)."""
        if failed is not None:
            return
        from util.cost.store_view import TEXT_PREFIX, entry_text, from_ddb

        sk = params["Item"]["sk"]["S"]
        if sk.startswith(TEXT_PREFIX):
            self.texts[sk[len(TEXT_PREFIX):]] = entry_text(from_ddb(params["Item"]))

    def _conversation_appended(self, function, params, after, failed) -> None:
        """A webhook's UpdateItem: the conversation item's size as the seed would store it."""
        if function == "post_message" and after and after[0]:
            self.append_sizes.append(item_size(uncompressed(after[0], self.texts)))

    # operation -> (its writes, its read units, what is noted once it is counted); None: nothing
    OPERATIONS = {
        "PutItem": (_item_write, None, _text_item_written),
        "UpdateItem": (_item_write, None, _conversation_appended),
        "DeleteItem": (_item_write, None, None),
        "TransactWriteItems": (_transaction_writes, None, None),
        "GetItem": (None, _get_reads, None),
        "Query": (None, _query_reads, None),
        "BatchGetItem": (None, _batch_get_reads, None),
    }
