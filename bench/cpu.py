"""CPU time per process of the local stack, read from /proc (Linux only).

A program's figure is the user+system time of its whole process tree (PostgreSQL is one
postmaster with a backend per connection; Kafka and Eureka are JVMs), plus supervisord itself,
which relays every program's stdout to its log file. Use :func:`snapshot` before and after a run
and :func:`per_unit` to turn the difference into milliseconds of CPU per unit of work.
"""

from __future__ import annotations

import os
from pathlib import Path

from devstack import layout, supervisor

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, cpu seconds) of one live process, including its reaped children."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields start after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / _TICKS


def snapshot() -> dict[str, float]:
    """CPU seconds used so far by each supervised program (and by ``supervisord``)."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() if (s := _stat(int(p)))}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(pid: int) -> float:
        own = stats.get(pid, (0, 0.0))[1]
        return own + sum(tree(child) for child in children.get(pid, []))

    totals: dict[str, float] = {}
    for info in supervisor.process_info():
        if info.get("pid"):
            totals[info["name"]] = tree(int(info["pid"]))
    supervisord_pid = int((layout.RUN_DIR / "supervisord.pid").read_text().strip())
    totals["supervisord"] = stats.get(supervisord_pid, (0, 0.0))[1]
    return totals


def per_unit(before: dict[str, float], after: dict[str, float], units: int) -> dict[str, float]:
    """Milliseconds of CPU per unit of work, by program, largest first, with a total."""
    if units <= 0:
        return {}
    used = {name: (after[name] - before.get(name, 0.0)) * 1000 / units for name in after}
    ordered = dict(sorted(used.items(), key=lambda kv: -kv[1]))
    ordered = {name: round(ms, 2) for name, ms in ordered.items() if ms >= 0.005}
    ordered["total"] = round(sum(used.values()), 2)
    return ordered
