"""CPU time and memory of one process tree, read from /proc (Linux only): what a peer comparison
charges to each contender, whatever language it is written in."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found: list[int] = []
        for task in tasks:
            found.extend(int(c) for c in (task / "children").read_text().split())
        return found
    except OSError:
        return []


def tree(pid: int) -> list[int]:
    """The process and all its descendants that are alive now."""
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        pending.extend(_children(current))
    return pids


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds used so far by the process tree (reaped children included)."""
    total = 0.0
    for member in tree(pid):
        try:
            raw = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields start after the last ')'.
        fields = raw[raw.rindex(")") + 2 :].split()
        total += sum(int(x) for x in fields[11:15]) / _TICKS
    return total


def rss_mib(pid: int) -> float:
    """Resident memory of the process tree now, in MiB."""
    pages = 0
    for member in tree(pid):
        try:
            pages += int(Path(f"/proc/{member}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return pages * _PAGE_KIB / 1024


def peak_rss_mib(pid: int) -> float:
    """The largest resident memory each member of the tree has had, added up, in MiB."""
    kib = 0
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    kib += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return kib / 1024
