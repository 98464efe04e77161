"""New identifiers: UUIDs that begin with the millisecond they were made (version 7, RFC 9562).

Orders, events, payments and notifications are keys of indexes that only grow: every order adds
rows to ``orders``, ``order_items``, ``order_timeline``, each service's ``inbox`` and ``outbox``,
``reservations``, ``payments`` and ``notifications``, each under a new id. With random (version
4) ids every insert lands on a random leaf page of each index, so once the indexes outgrow the
buffer cache an insert reads a page back from the disk cache, dirties a page nobody else will
touch again, and after each checkpoint writes that whole page into the WAL. With ids that grow
with time, new rows go to the right-hand end of each index, a few pages that stay in memory.

The remaining 74 bits are random (``uuid_utils``, a Rust implementation: about 1.2 us an id,
less than ``uuid.uuid4``). An id tells the time it was made and nothing else; secrets (tokens,
refresh-token ids, signing key ids) keep ``uuid4`` and its 122 random bits.
"""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    """A new time-ordered UUID (version 7)."""
    return uuid7()
