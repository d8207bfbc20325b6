"""Fixtures of the integration tests: a conversation store on moto with a clock the test moves."""

from __future__ import annotations

import pytest
from moto import mock_aws

from gateway.conversations import ConversationStore
from util import local_aws

STORE_TABLE = "conversations"


class Clock:
    """A clock the test sets: ``clock.now += 301`` passes a lease without waiting for it."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    with mock_aws():
        local_aws.create_table(STORE_TABLE)
        yield ConversationStore(STORE_TABLE, clock=clock)
