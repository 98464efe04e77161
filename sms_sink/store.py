"""The sink's messages: in memory for reading, appended to a JSON-lines file for keeping.

A message is written and fsynced before it is acknowledged, so an accepted message survives a
crash; on start the file is read back, which rebuilds the idempotency index too. A line cut short
by a crash mid-write was never acknowledged: it is dropped (and the file trimmed to the last
whole line, so the next message starts on a line of its own).
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import orjson

from servicekit.logging import get_logger

log = get_logger(__name__)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used for a different message."""


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """One accepted message."""

    message_id: str
    idempotency_key: str
    to: str
    body: str
    received_at: datetime


class MessageStore:
    """Accepts each Idempotency-Key once; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._messages: list[SmsMessage] = []
        self._by_key: dict[str, SmsMessage] = {}
        self._file: BinaryIO | None = None

    def open(self) -> int:
        """Read back what the file holds and open it for appending; returns the message count."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            content = self.path.read_bytes() if self.path.exists() else b""
            whole = content[: content.rfind(b"\n") + 1]
            if len(whole) != len(content):
                log.warning("sms_store_partial_line_dropped", bytes=len(content) - len(whole))
                with self.path.open("r+b") as handle:
                    handle.truncate(len(whole))
            for number, line in enumerate(whole.splitlines(), start=1):
                try:
                    record = orjson.loads(line)
                    record["received_at"] = datetime.fromisoformat(record["received_at"])
                    message = SmsMessage(**record)
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning("sms_store_line_skipped", line=number, error=repr(exc))
                    continue
                self._messages.append(message)
                self._by_key[message.idempotency_key] = message
            self._file = self.path.open("ab")
            return len(self._messages)

    @property
    def is_open(self) -> bool:
        """True once open() succeeded and until close()."""
        return self._file is not None

    def accept(
        self, *, idempotency_key: str, to: str, body: str, now: datetime
    ) -> tuple[SmsMessage, bool]:
        """The stored message for this key, and True if it is new (written before returning)."""
        with self._lock:
            existing = self._by_key.get(idempotency_key)
            if existing is not None:
                if (existing.to, existing.body) != (to, body):
                    raise IdempotencyConflict(
                        "this Idempotency-Key was already used for a different message"
                    )
                return existing, False
            if self._file is None:
                raise RuntimeError("the message store is not open")
            message = SmsMessage(
                message_id=uuid.uuid4().hex,
                idempotency_key=idempotency_key,
                to=to,
                body=body,
                received_at=now,
            )
            self._file.write(orjson.dumps(asdict(message)) + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._messages.append(message)
            self._by_key[idempotency_key] = message
            return message, True

    def messages(self, *, to: str | None = None, limit: int) -> list[SmsMessage]:
        """The latest ``limit`` messages (to one number, if given), oldest first."""
        with self._lock:
            chosen = [m for m in self._messages if to is None or m.to == to]
        return chosen[-limit:]

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
