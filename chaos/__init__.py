"""``make chaos``: the platform's own fault injector and invariant checker.

Customers place orders through the gateway at a steady rate (``workload``) while processes of
the running stack are killed, paused and restarted on a seeded schedule (``faults``); once the
platform is quiet again, the invariants of the order saga are checked against the databases, the
broker and the mail and SMS sinks (``invariants``), and the run's figures printed (``run``).
``breakage`` switches on a deliberately broken relay to show that the checker catches it.
"""
