"""Fault injection for AWS calls: the project's clients come from gateway.aws.client(), so a test
swaps that factory for one whose clients raise on chosen operations, by count or at a rate."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from gateway import aws


@dataclass
class Fault:
    service: str
    operation: str  # the client method name, e.g. "update_item", "start_execution"
    code: str = "ThrottlingException"
    times: int | None = None  # fail this many calls, then succeed
    rate: float = 0.0  # or fail each call with this probability
    after: int = 0  # let this many calls through first


@dataclass
class FaultInjector:
    faults: list[Fault] = field(default_factory=list)
    seed: int = 7
    injected: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)

    def __post_init__(self):
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._real = aws.client

    def add(self, *args, **kwargs) -> "FaultInjector":
        self.faults.append(Fault(*args, **kwargs))
        return self

    def should_fail(self, service: str, operation: str) -> str | None:
        with self._lock:
            key = (service, operation)
            self.calls[key] += 1
            for fault in self.faults:
                if (fault.service, fault.operation) != key or self.calls[key] <= fault.after:
                    continue
                if fault.times is not None:
                    if self.injected[key] < fault.times:
                        self.injected[key] += 1
                        return fault.code
                elif self._random.random() < fault.rate:
                    self.injected[key] += 1
                    return fault.code
            return None

    def client(self, service: str):
        return _FaultyClient(self._real(service), service, self)

    def install(self, monkeypatch) -> "FaultInjector":
        monkeypatch.setattr(aws, "client", self.client)
        return self


class _FaultyClient:
    def __init__(self, real, service: str, injector: FaultInjector):
        self._real, self._service, self._injector = real, service, injector

    def __getattr__(self, name):
        attribute = getattr(self._real, name)
        if not callable(attribute) or name.startswith("_") or name in ("exceptions", "meta"):
            return attribute

        def call(*args, **kwargs):
            code = self._injector.should_fail(self._service, name)
            if code:
                raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, name)
            return attribute(*args, **kwargs)

        return call
