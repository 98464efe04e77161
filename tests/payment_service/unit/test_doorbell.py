"""The doorbell that wakes idle charging workers (application/charging.py): each ring lets one
worker through, waiting or the next to wait, and no more rings are kept than there are workers."""

from __future__ import annotations

import threading

from payment_service.application.charging import Doorbell


def test_a_ring_lets_one_waiter_through_at_once() -> None:
    doorbell = Doorbell(workers=2)
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(doorbell.wait(60)))
    waiter.start()
    doorbell.ring()
    waiter.join(10)
    assert woke == [True]
    assert doorbell.wait(0) is False  # the ring was taken


def test_rings_before_anyone_waits_are_kept_up_to_the_number_of_workers() -> None:
    doorbell = Doorbell(workers=2)
    doorbell.ring(5)
    assert [doorbell.wait(0) for _ in range(3)] == [True, True, False]


def test_without_a_ring_a_wait_ends_at_its_timeout() -> None:
    assert Doorbell(workers=1).wait(0.01) is False


def test_ringing_n_times_wakes_n_of_the_waiting_workers() -> None:
    doorbell = Doorbell(workers=3)
    woke: list[bool] = []
    ready = threading.Barrier(4)

    def worker() -> None:
        ready.wait()
        woke.append(doorbell.wait(2))

    workers = [threading.Thread(target=worker) for _ in range(3)]
    for thread in workers:
        thread.start()
    ready.wait()
    doorbell.ring(2)
    for thread in workers:
        thread.join(10)
    assert sorted(woke) == [False, True, True]
