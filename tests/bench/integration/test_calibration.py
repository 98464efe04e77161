"""The machine figures every saga benchmark carries (bench/calibration.py), against the running
PostgreSQL: both workloads run and give a CPU figure, the database one through the same Unix
socket the services use."""

from __future__ import annotations

from bench import calibration


def test_both_workloads_run_and_give_a_cpu_figure() -> None:
    machine = calibration.measure_apart()
    assert machine["python_ms"] > 0
    # Client and server CPU over 20,000 statements: at least one clock tick of either.
    assert machine["pg_select_us"] > 0
    assert machine["cpus"] >= 1
