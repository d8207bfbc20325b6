"""The store's access to its table: the client, a conversation's item keys, and the consistent read
of its conversation item. The base of the store's reads (batches.py) and writes (writes.py)."""

from __future__ import annotations

import time

from .. import aws
from ..settings import DEFAULT_LEASE_SECONDS
from .codec import from_ddb
from .keys import META, item_key
from .state import ConversationState


class ConversationTable:
    def __init__(self, table_name: str, *, clock=time.time, lease_seconds: float = DEFAULT_LEASE_SECONDS):
        self.table_name = table_name
        self.clock = clock
        self.lease_seconds = lease_seconds  # how long a claimed batch may stay undelivered

    @property
    def _ddb(self):
        return aws.client("dynamodb")

    def _key(self, app_id: str, sender: str, sk: str = META) -> dict:
        return item_key(app_id, sender, sk)

    def get(self, app_id: str, sender: str) -> ConversationState | None:
        response = self._ddb.get_item(
            TableName=self.table_name, Key=self._key(app_id, sender), ConsistentRead=True
        )
        item = response.get("Item")
        return ConversationState.from_item(from_ddb(item)) if item else None

    def read_item(self, app_id: str, sender: str) -> dict:
        """The conversation item as Python values ({} when there is none), strongly consistent."""
        response = self._ddb.get_item(
            TableName=self.table_name, Key=self._key(app_id, sender), ConsistentRead=True
        )
        return from_ddb(response.get("Item", {}))
