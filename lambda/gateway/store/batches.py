"""The store's batch reads: a batch's messages from the conversation item as read, its CHUNK items
and the TEXT items of its long texts."""

from __future__ import annotations

import time

from ..models import Batch, StoredMessage
from .codec import entry_text, from_ddb, stored_message
from .keys import TEXT_PREFIX, chunk_sk, conversation_pk, text_sk
from .state import ConversationState
from .table import ConversationTable

BATCH_GET_MAX_KEYS = 100  # DynamoDB's limit per BatchGetItem


class BatchReads(ConversationTable):
    def load_messages(self, app_id: str, sender: str, first_seq: int, last_seq: int,
                      state: ConversationState | None = None) -> list[StoredMessage]:
        """The messages with sequence numbers first_seq..last_seq, in order: those still inline from
        the conversation item (``state``, or read now), the sealed ones from their CHUNK items, and
        the long texts from their TEXT items."""
        state = state or self.get(app_id, sender)
        entries: list[tuple[int, dict]] = []
        base = state.msgs_base if state else 0
        if first_seq <= base:
            entries += self._load_chunks(app_id, sender, first_seq, min(last_seq, base))
        if state is not None and last_seq > base:
            lo = max(first_seq, base + 1)
            entries += [(base + 1 + i, e) for i, e in enumerate(state.msgs) if lo <= base + 1 + i <= last_seq]
        seqs = [seq for seq, _ in entries]
        if seqs != list(range(first_seq, last_seq + 1)):
            raise RuntimeError(
                f"batch {first_seq}..{last_seq} is incomplete in the store ({len(seqs)} messages found)"
            )
        return self._stored_messages(app_id, sender, entries)

    def _load_chunks(self, app_id: str, sender: str, first_seq: int, last_seq: int) -> list[tuple[int, dict]]:
        """The entries (with their sequence numbers) from the CHUNK items, newest first down to the
        one that holds ``first_seq`` (a seal moves all inline messages at once, so a chunk may start
        before a batch)."""
        chunks: list[list[tuple[int, dict]]] = []
        kwargs = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": conversation_pk(app_id, sender)},
                ":lo": {"S": chunk_sk(0)},
                ":hi": {"S": chunk_sk(last_seq)},
            },
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            for raw in page.get("Items", []):
                chunk = from_ddb(raw)
                base = int(chunk["first_seq"])
                chunks.append([(base + offset, entry) for offset, entry in enumerate(chunk["messages"])
                               if first_seq <= base + offset <= last_seq])
                if base <= first_seq:
                    return [e for chunk_entries in reversed(chunks) for e in chunk_entries]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [e for chunk_entries in reversed(chunks) for e in chunk_entries]

    def _stored_messages(self, app_id: str, sender: str, entries: list[tuple[int, dict]]) -> list[StoredMessage]:
        """The messages of numbered entries, the texts of those that refer to TEXT items read for them."""
        texts = self.read_texts(app_id, sender, [e["r"] for _, e in entries if "r" in e])
        return [stored_message(seq, entry, texts) for seq, entry in entries]

    def read_texts(self, app_id: str, sender: str, refs: list[str]) -> dict[str, str]:
        """The texts of TEXT items, by reference: BatchGetItem, eventually consistent first (an item
        is written before the append that refers to it and never changes, so a read that finds it
        finds it right); what that misses, strongly consistent. A text that is not there is an error."""
        wanted = sorted(set(refs))
        texts: dict[str, str] = {}
        pk = conversation_pk(app_id, sender)
        for consistent in (False, True):
            missing = [ref for ref in wanted if ref not in texts]
            for start in range(0, len(missing), BATCH_GET_MAX_KEYS):
                keys = [{"pk": {"S": pk}, "sk": {"S": text_sk(ref)}} for ref in missing[start:start + BATCH_GET_MAX_KEYS]]
                request = {self.table_name: {"Keys": keys, "ConsistentRead": consistent}}
                for attempt in range(10):
                    response = self._ddb.batch_get_item(RequestItems=request)
                    for raw in response.get("Responses", {}).get(self.table_name, []):
                        item = from_ddb(raw)
                        texts[item["sk"][len(TEXT_PREFIX):]] = entry_text(item)
                    request = response.get("UnprocessedKeys") or {}
                    if not request:
                        break
                    time.sleep(min(0.05 * 2 ** attempt, 1.0))  # throttled: back off, then ask for the rest
                else:
                    raise RuntimeError("reading the TEXT items kept being throttled; the state machine will retry")
        missing = [ref for ref in wanted if ref not in texts]
        if missing:
            raise RuntimeError(f"{len(missing)} TEXT item(s) of the batch are missing from the store")
        return texts

    def _batch_on_item(self, state: ConversationState, first_seq: int, last_seq: int) -> Batch:
        """The batch first_seq..last_seq of the conversation as read, with its messages when they are
        all still on the item (else none: the deliverer loads them from the CHUNK items)."""
        return Batch(state.app_id, state.sender, first_seq, last_seq,
                     self._messages_on_item(state, first_seq, last_seq), epoch=state.epoch)

    def _messages_on_item(self, state: ConversationState, first_seq: int, last_seq: int) -> list[StoredMessage]:
        """The batch's messages from the item as read, when they are all still inline (else []),
        with the texts of their TEXT items."""
        if first_seq <= state.msgs_base or last_seq > state.msgs_base + len(state.msgs):
            return []
        start = first_seq - state.msgs_base - 1
        entries = state.msgs[start:start + last_seq - first_seq + 1]
        return self._stored_messages(state.app_id, state.sender, [(first_seq + i, e) for i, e in enumerate(entries)])
