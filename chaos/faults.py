"""Faults on a seeded schedule, dealt to the processes supervisord runs.

Four kinds, the way a machine fails: ``kill`` (SIGKILL to a program's whole process group, as a
power cut of that program; supervisord starts it again), ``pause`` (SIGSTOP, then SIGCONT a few
seconds later: a process that hangs while holding its connections, locks and partitions), and a
clean ``broker_restart`` or ``postgres_restart`` (stopped and started again through supervisord).
The same seed gives the same schedule: which fault, when and on which program.

Where the topology runs a program several times (the HA topology: two instances of every
service, relay, gateway and Eureka, three Kafka nodes), the members are a redundant group, and
the injector keeps all but one of them up: a fault on a member while another member of its group
is still recovering (restarting, paused, or back but not ready yet: a broker not in sync again)
is skipped and says so. Two of three brokers out is an outage by design (min ISR 2 refuses
writes rather than risk them), as both instances of a service are; the round measures how the
platform rides out a failure, not that. Single programs (PostgreSQL, the single topology) are
hit whenever the schedule says.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack import supervisor

KINDS = ("kill", "pause", "broker_restart", "postgres_restart")
KIND_WEIGHTS = (0.55, 0.15, 0.15, 0.15)
# Monitoring only: killing it proves nothing about orders.
SPARED = frozenset({"prometheus", "alertmanager", "postgres_exporter"})
PAUSE_SECONDS = (2.0, 6.0)
DOWN = frozenset({"STOPPED", "EXITED", "FATAL", "BACKOFF"})


@dataclass(frozen=True)
class Fault:
    """One planned fault: when (seconds from the start of the load), what, and its target."""

    at: float
    kind: str
    target: str
    pause: float = 0.0

    def describe(self) -> str:
        """One line for the run's log."""
        extra = f" for {self.pause:.1f} s" if self.kind == "pause" else ""
        return f"t={self.at:5.1f}s {self.kind:<16} {self.target}{extra}"


def targets(programs: list[str]) -> dict[str, list[str]]:
    """Which supervised programs each kind of fault may hit (the HA topology has several)."""
    victims = sorted(p for p in programs if p not in SPARED)
    brokers = [p for p in victims if p == "kafka" or p.startswith("kafka-")]
    databases = [p for p in victims if p == "postgres"]
    return {
        "kill": victims,
        # A paused PostgreSQL or broker stalls everything for its length; kill covers them.
        "pause": [p for p in victims if p not in brokers and p not in databases],
        "broker_restart": brokers,
        "postgres_restart": databases,
    }


def schedule(
    rng: random.Random, programs: list[str], *, duration: float, every: float
) -> list[Fault]:
    """One fault every ``every`` seconds while the load lasts, the first after ``every``."""
    by_kind = {kind: names for kind, names in targets(programs).items() if names}
    kinds = [k for k in KINDS if k in by_kind]
    weights = [w for k, w in zip(KINDS, KIND_WEIGHTS, strict=True) if k in by_kind]
    faults = []
    for number in range(1, math.floor(duration / every + 1e-9) + 1 if kinds else 1):
        kind = rng.choices(kinds, weights)[0]
        faults.append(
            Fault(
                at=number * every,
                kind=kind,
                target=rng.choice(by_kind[kind]),
                pause=round(rng.uniform(*PAUSE_SECONDS), 1) if kind == "pause" else 0.0,
            )
        )
    return faults


def group_of(program: str) -> str:
    """The redundant group a program belongs to: its name without the instance number
    (kafka-2 and kafka-3 are both "kafka", order_service-1 is "order_service")."""
    base, _, number = program.rpartition("-")
    return base if base and number.isdigit() else program


@dataclass
class Injector:
    """Deals the scheduled faults; restarts and pauses run beside the schedule, never twice at
    once on the same program, never on a second member of a redundant group while the first
    recovers, and everything is resumed and started again by ``heal``.

    ``readiness`` gives each program's readiness check (devstack's): a program hit by a fault
    recovers until its check passes again. Without one, running again is recovered.
    """

    faults: list[Fault]
    programs: list[str] = field(default_factory=list)
    readiness: Mapping[str, Callable[[], bool]] = field(default_factory=dict)
    done: list[tuple[Fault, str]] = field(default_factory=list)
    last_fault_ended: float = 0.0  # monotonic time the last fault's effect was over
    _busy: set[str] = field(default_factory=set)
    _recovering: set[str] = field(default_factory=set)
    _paused: set[int] = field(default_factory=set)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, started: float, stop: threading.Event) -> None:
        """Deal each fault at its time (``started`` is the load's monotonic start)."""
        watcher = threading.Thread(
            target=self._watch_recovery, args=(stop,), name="chaos-recovery", daemon=True
        )
        watcher.start()
        for fault in self.faults:
            if stop.wait(max(0.0, started + fault.at - time.monotonic())):
                return
            self._deal(fault)

    def _siblings(self, program: str) -> list[str]:
        group = group_of(program)
        return [p for p in self.programs if p != program and group_of(p) == group]

    def _deal(self, fault: Fault) -> None:
        with self._lock:
            busy = fault.target in self._busy
            out = sorted(
                sibling
                for sibling in self._siblings(fault.target)
                if sibling in self._busy or sibling in self._recovering
            )
            if not busy and not out:
                self._busy.add(fault.target)
        if busy:
            self._record(fault, "skipped: still restarting or paused")
            return
        if out:
            self._record(fault, f"skipped: {', '.join(out)} of its group still recovering")
            return
        if fault.kind == "kill":
            try:
                outcome = self._kill(fault.target)
            finally:
                self._release(fault.target)
            self._record(fault, outcome)
            return
        worker = threading.Thread(
            target=self._pause if fault.kind == "pause" else self._restart,
            args=(fault,),
            name=f"chaos-{fault.kind}",
            daemon=True,
        )
        self._threads.append(worker)
        worker.start()

    def _kill(self, program: str) -> str:
        pid = _pid(program)
        if pid is None:
            return "skipped: not running"
        os.killpg(pid, signal.SIGKILL)
        return f"SIGKILL to process group {pid}"

    def _pause(self, fault: Fault) -> None:
        try:
            pid = _pid(fault.target)
            if pid is None:
                self._record(fault, "skipped: not running")
                return
            with self._lock:
                self._paused.add(pid)
            os.killpg(pid, signal.SIGSTOP)
            time.sleep(fault.pause)
            self._resume(pid)
            self._record(fault, f"SIGSTOP/SIGCONT to process group {pid}")
        finally:
            self._release(fault.target)

    def _restart(self, fault: Fault) -> None:
        try:
            rpc = supervisor.rpc()  # one proxy per thread: xmlrpc proxies are not thread-safe
            rpc.stopProcess(fault.target, True)
            rpc.startProcess(fault.target, True)
            self._record(fault, "stopped and started by supervisord")
        except Exception as exc:  # noqa: BLE001 - reported in the run's log, healed afterwards
            self._record(fault, f"restart failed: {exc}")
        finally:
            self._release(fault.target)

    def _resume(self, pid: int) -> None:
        with self._lock:
            self._paused.discard(pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGCONT)

    def _release(self, program: str) -> None:
        with self._lock:
            self._busy.discard(program)
            self._recovering.add(program)
            self.last_fault_ended = time.monotonic()

    def _watch_recovery(self, stop: threading.Event) -> None:
        """Clear each program hit by a fault from ``_recovering`` once it is ready again."""
        while not stop.wait(0.25):
            with self._lock:
                recovering = sorted(self._recovering - self._busy)
            for program in recovering:
                if self._is_ready(program):
                    with self._lock:
                        self._recovering.discard(program)

    def _is_ready(self, program: str) -> bool:
        check = self.readiness.get(program)
        try:
            return check() if check is not None else _pid(program) is not None
        except Exception:  # noqa: BLE001 - a check that fails says: not ready yet
            return False

    def _record(self, fault: Fault, outcome: str) -> None:
        with self._lock:
            self.done.append((fault, outcome))
            self.last_fault_ended = time.monotonic()

    def heal(self, programs: list[str]) -> None:
        """Resume whatever is paused, wait for restarts, and start again whichever of
        ``programs`` (those that ran before the faults) is not running."""
        with self._lock:
            paused = list(self._paused)
        for pid in paused:
            self._resume(pid)
        for worker in self._threads:
            worker.join(timeout=120)
        rpc = supervisor.rpc()
        for info in rpc.getAllProcessInfo():
            if info["name"] in programs and info["statename"] in DOWN:
                # A failed start is left to the quiescence wait, which names what stays down.
                with contextlib.suppress(Exception):
                    rpc.startProcess(info["name"], True)


def _pid(program: str) -> int | None:
    info: dict[str, Any] = supervisor.rpc().getProcessInfo(program)
    pid = int(info.get("pid") or 0)
    return pid if info.get("statename") == "RUNNING" and pid > 0 else None


def running_programs() -> list[str]:
    """Every program supervisord runs for this stack right now."""
    return [
        str(info["name"])
        for info in supervisor.rpc().getAllProcessInfo()
        if info["statename"] == "RUNNING"
    ]
