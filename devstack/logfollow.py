"""``make logs CID=...``: the lines of every process's log that carry one correlation id, those
already written (in time order) and then the new ones as they come."""

from __future__ import annotations

import codecs
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

# Correlation ids are request ids, event ids or client-chosen strings: printable, no spaces.
CORRELATION_ID = re.compile(r"[\x21-\x7e]{1,200}")
_CHUNK = 4 * 1024 * 1024


def check_correlation_id(value: str) -> str:
    """The id, or SystemExit naming what is wrong with it."""
    if not CORRELATION_ID.fullmatch(value):
        raise SystemExit(
            "CID must be 1 to 200 printable characters without spaces "
            "(the correlation_id of a log line or of an event's headers)"
        )
    return value


def _timestamp(line: str) -> str:
    """The line's ISO-8601 ``timestamp`` (structlog JSON), or "" when it has none."""
    try:
        record = json.loads(line)
    except ValueError:
        return ""
    stamp = record.get("timestamp") if isinstance(record, dict) else None
    return stamp if isinstance(stamp, str) else ""


@dataclass
class _Tail:
    """Where we are in one log file; a rotated or truncated file is read again from the top."""

    path: Path
    inode: int = -1
    offset: int = 0
    partial: str = ""
    # A character split between two reads is decoded whole on the second.
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def read_new(self) -> Iterator[str]:
        """The complete lines appended since the last call."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return
        if stat.st_ino != self.inode or stat.st_size < self.offset:
            self.inode, self.offset, self.partial = stat.st_ino, 0, ""
            self.decoder.reset()
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            # In bounded chunks up to the size seen now: memory stays flat for a 50 MB log.
            while self.offset < stat.st_size:
                chunk = handle.read(min(_CHUNK, stat.st_size - self.offset))
                if not chunk:
                    break
                self.offset += len(chunk)
                text = self.partial + self.decoder.decode(chunk)
                *lines, self.partial = text.split("\n")
                yield from lines


# (timestamp, process, line) of one log line.
Match = tuple[str, str, str]


def _new_matches(tails: dict[Path, _Tail], log_dir: Path, correlation_id: str) -> list[Match]:
    """The lines carrying the id appended to any log since ``tails`` last read it."""
    for path in sorted(log_dir.glob("*.log")):
        tails.setdefault(path, _Tail(path))
    return [
        (_timestamp(line), tail.path.stem, line)
        for tail in tails.values()
        for line in tail.read_new()
        if correlation_id in line
    ]


def written(log_dir: Path, correlation_id: str) -> list[Match]:
    """Every line already in ``log_dir/*.log`` carrying ``correlation_id``, in time order."""
    return sorted(_new_matches({}, log_dir, correlation_id), key=lambda match: match[0])


def follow(
    log_dir: Path,
    correlation_id: str,
    *,
    out: TextIO = sys.stdout,
    interval: float = 0.5,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Print every line of ``log_dir/*.log`` containing ``correlation_id``, prefixed with its
    process: first the lines already written, merged in time order, then new ones until
    ``keep_going`` says stop (Ctrl-C from the terminal)."""
    tails: dict[Path, _Tail] = {}

    def show(matches: list[Match]) -> None:
        for _, name, line in matches:
            out.write(f"{name:<22}{line}\n")
        out.flush()

    try:
        show(sorted(_new_matches(tails, log_dir, correlation_id), key=lambda match: match[0]))
        while keep_going():
            time.sleep(interval)
            show(_new_matches(tails, log_dir, correlation_id))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # piped into head or less, which closed: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
