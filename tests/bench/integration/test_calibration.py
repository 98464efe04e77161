"""The machine figures every saga benchmark carries (bench/calibration.py), against the running
PostgreSQL, in the fresh interpreter the benchmark starts for them."""

from __future__ import annotations

from bench import calibration


def test_both_workloads_are_measured_the_database_one_on_both_sides() -> None:
    machine = calibration.measure_apart()
    assert machine["python_ms"] > 0
    assert machine["cpus"] >= 1
    # 20,000 statements keep the backend busy for many clock ticks: a server part of zero would
    # mean its CPU was read from some other process, and the figure were the client's alone.
    assert machine["pg_select_server_us"] > 0
    assert machine["pg_select_us"] > machine["pg_select_server_us"]
