"""The fault schedule: seeded, one fault per period, and only on what each kind may hit; and
the injector, which keeps all but one member of each redundant group up."""

from __future__ import annotations

import random
import threading

from chaos.faults import PAUSE_SECONDS, Fault, Injector, group_of, schedule, targets
from tests.support import wait_for

SINGLE = [
    "postgres", "kafka", "eureka", "mailsink", "sms_sink", "postgres_exporter", "alertmanager",
    "prometheus", "outbox_relay", "gateway", "order_service", "payment_service",
]  # fmt: skip


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    first = schedule(random.Random(7), SINGLE, duration=40, every=2)
    again = schedule(random.Random(7), SINGLE, duration=40, every=2)
    other = schedule(random.Random(8), SINGLE, duration=40, every=2)
    assert first == again
    assert first != other


def test_one_fault_per_period_while_the_load_lasts() -> None:
    faults = schedule(random.Random(1), SINGLE, duration=20, every=2)
    assert [f.at for f in faults] == [2.0 * n for n in range(1, 11)]
    assert schedule(random.Random(1), SINGLE, duration=1.5, every=2) == []


def test_each_kind_hits_only_what_it_may() -> None:
    faults = schedule(random.Random(3), SINGLE, duration=2000, every=1)
    by_kind = {kind: {f.target for f in faults if f.kind == kind} for kind in targets(SINGLE)}
    assert by_kind["broker_restart"] == {"kafka"}
    assert by_kind["postgres_restart"] == {"postgres"}
    assert not by_kind["pause"] & {"kafka", "postgres"}
    spared = {"prometheus", "alertmanager", "postgres_exporter"}
    assert not any(f.target in spared for f in faults)
    assert all(PAUSE_SECONDS[0] <= f.pause <= PAUSE_SECONDS[1] for f in faults if f.kind == "pause")
    assert {f.kind for f in faults} == {"kill", "pause", "broker_restart", "postgres_restart"}


def test_every_broker_of_a_cluster_may_be_restarted() -> None:
    cluster = [*SINGLE[:1], "kafka-1", "kafka-2", "kafka-3", *SINGLE[2:]]
    assert targets(cluster)["broker_restart"] == ["kafka-1", "kafka-2", "kafka-3"]


def test_a_fault_on_a_program_still_restarting_is_skipped_and_recorded() -> None:
    injector = Injector([])
    injector._busy.add("kafka")  # a restart of the broker is still under way
    worker = threading.Thread(target=injector._deal, args=(Fault(2.0, "kill", "kafka"),))
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "dealing a fault on a busy program must not block"
    assert injector.done == [(Fault(2.0, "kill", "kafka"), "skipped: still restarting or paused")]
    assert injector._busy == {"kafka"}  # still the restart's to release


def test_the_instances_of_a_program_form_its_redundant_group() -> None:
    assert [group_of(p) for p in ("kafka-2", "order_service-1", "eureka-2", "outbox_relay-1")] == [
        "kafka",
        "order_service",
        "eureka",
        "outbox_relay",
    ]
    assert [group_of(p) for p in ("kafka", "postgres", "sms_sink", "-1")] == [
        "kafka",
        "postgres",
        "sms_sink",
        "-1",
    ]


HA = ["kafka-1", "kafka-2", "kafka-3", "order_service-1", "order_service-2", "postgres"]


def test_a_fault_on_a_member_while_another_of_its_group_recovers_is_skipped() -> None:
    # kafka-3 was restarted and is not in sync yet: a second broker out of three would be an
    # outage by design (min ISR 2), so the fault is skipped and recorded.
    injector = Injector([], programs=HA)
    injector._recovering.add("kafka-3")
    injector._deal(Fault(8.0, "broker_restart", "kafka-2"))
    injector._deal(Fault(10.0, "kill", "kafka-1"))
    assert injector.done == [
        (Fault(8.0, "broker_restart", "kafka-2"), "skipped: kafka-3 of its group still recovering"),
        (Fault(10.0, "kill", "kafka-1"), "skipped: kafka-3 of its group still recovering"),
    ]
    assert injector._busy == set() and injector._recovering == {"kafka-3"}


def test_single_programs_have_no_group_to_keep_up() -> None:
    injector = Injector([], programs=HA)
    assert injector._siblings("postgres") == []
    assert injector._siblings("order_service-2") == ["order_service-1"]
    assert sorted(injector._siblings("kafka-1")) == ["kafka-2", "kafka-3"]
    assert Injector([], programs=SINGLE)._siblings("kafka") == []


def test_a_program_recovers_once_its_readiness_check_passes() -> None:
    ready = threading.Event()
    looks: list[bool] = []

    def check() -> bool:
        looks.append(ready.is_set())
        return looks[-1]

    injector = Injector([], programs=HA, readiness={"kafka-3": check})
    injector._recovering.add("kafka-3")
    stop = threading.Event()
    watcher = threading.Thread(target=injector._watch_recovery, args=(stop,))
    watcher.start()
    try:
        # Not ready: it stays recovering however often it is looked at.
        wait_for(lambda: len(looks) >= 2, what="two looks at kafka-3")
        assert injector._recovering == {"kafka-3"}
        ready.set()
        wait_for(lambda: not injector._recovering, what="kafka-3 recovered")
    finally:
        stop.set()
        watcher.join(timeout=5)
