"""What util.cost (and its tests) use of the gateway's conversation store, imported in this one place.

The meter reads the texts the store writes (TEXT items, DEFLATE-compressed entries) to price the
original design with its texts uncompressed, and the run builds established conversations with the
store. Imported lazily by the modules that need it (inside functions), after the run has set the
environment the gateway reads.
"""

from __future__ import annotations

from gateway.store import TEXT_PREFIX, ConversationStore, entry_text, from_ddb, pack_text

__all__ = ["TEXT_PREFIX", "ConversationStore", "entry_text", "from_ddb", "pack_text"]
