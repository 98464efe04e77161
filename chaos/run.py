"""``make chaos`` / ``python -m chaos``: one round of load and faults, then the invariants.

A round: prepare the run's customers and products (before any fault), place the orders at a
steady rate while the seeded faults are dealt, heal whatever is still down, wait until the
platform is quiet (nothing left in any outbox, no consumer behind, every order of the run ended,
no notification waiting), then check every invariant, print the figures and exit 1 on any
violation (2 when the round could not be run at all).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from chaos import faults, invariants, workload
from chaos.breakage import broken_relay
from devstack import layout, supervisor, topology
from devstack.cli import readiness

# How the run names the reason a saga ran out of time (order_service, payment_service).
TIMEOUT_REASONS = ("timed out", "deadline passed")


class ChaosSettings(BaseSettings):
    """Who the chaos kit logs in as to create its products, and where the gateway is."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    gateway_url: str = Field(
        default=f"http://localhost:{layout.GATEWAY_PORT}",
        validation_alias=AliasChoices("CHAOS_GATEWAY_URL"),
    )
    admin_email: str = Field(
        default="admin@example.com", validation_alias=AliasChoices("ADMIN_EMAIL")
    )
    admin_password: SecretStr = Field(
        default=SecretStr("Admin-password-1"), validation_alias=AliasChoices("ADMIN_PASSWORD")
    )
    # The pix customers pay their QR codes here, as their bank apps would.
    provider_url: str = Field(
        default=f"http://127.0.0.1:{layout.PAYMENT_PROVIDER_PORT}",
        validation_alias=AliasChoices("PAYMENT_PROVIDER_URL"),
    )


@dataclass(frozen=True)
class Options:
    """One round, as the command line asked for it."""

    rate: float
    orders: int
    fault_every: float
    seed: int
    customers: int
    quiesce_timeout: float
    broken: bool
    verbose: bool

    @property
    def duration(self) -> float:
        """How long the load lasts."""
        return self.orders / self.rate


def parse(argv: list[str] | None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second (10)")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long to load (40)")
    parser.add_argument(
        "--orders", type=int, default=None, help="orders to place (default rate x seconds)"
    )
    parser.add_argument(
        "--fault-every", type=float, default=2.0, help="seconds between faults; 0: none (2)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seeds the faults and orders (1)")
    parser.add_argument("--customers", type=int, default=8, help="customers ordering (8)")
    parser.add_argument(
        "--quiesce-timeout", type=float, default=300.0, help="wait for quiet at most (300 s)"
    )
    parser.add_argument(
        "--break",
        dest="broken",
        action="store_true",
        help="run against a relay that publishes every event twice: the checker must fail",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print every violation, and what keeps the stack from being quiet",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.customers < 1 or args.fault_every < 0:
        parser.error("--rate, --seconds and --customers must be positive, --fault-every >= 0")
    orders = args.orders if args.orders is not None else math.ceil(args.rate * args.seconds)
    if orders < 1:
        parser.error("--orders must be at least 1")
    return Options(
        rate=args.rate,
        orders=orders,
        fault_every=args.fault_every,
        seed=args.seed,
        customers=args.customers,
        quiesce_timeout=args.quiesce_timeout,
        broken=args.broken,
        verbose=args.verbose,
    )


@dataclass
class Quiet:
    """How the wait for quiet ended."""

    reached: bool
    after_last_fault: float
    blockers: list[str]


def blockers(scope: invariants.Scope, programs: list[str], groups: set[str]) -> list[str]:
    """What still moves: empty once the platform is quiet."""
    found = []
    states = {i["name"]: i["statename"] for i in supervisor.rpc().getAllProcessInfo()}
    found += [f"{name} is {states.get(name)}" for name in programs if states.get(name) != "RUNNING"]
    if found:
        return found
    found += [f"{name} not ready" for name in programs if not ready(name)]
    if found:
        return found
    try:
        orders = invariants.read_orders(scope.customer_ids)
        open_orders = sum(o["status"] not in invariants.FINAL for o in orders.values())
        accepted = {order_id for ids in scope.accepted.values() for order_id in ids}
        if open_orders or not accepted <= set(orders):
            found.append(f"{open_orders} orders open")
        unsettled = invariants.rows(
            "payment_service",
            "SELECT count(*) FROM payments WHERE order_id = ANY(%s::uuid[]) AND status = ANY(%s)",
            (list(orders), list(invariants.UNSETTLED_PAYMENT_STATUSES)),
        )[0][0]
        if unsettled:
            found.append(f"{unsettled} payments unsettled")
        pending = invariants.rows(
            "notification_service",
            "SELECT count(*) FROM notifications WHERE user_id = ANY(%s::uuid[])"
            " AND status = 'PENDING'",
            (scope.customer_ids,),
        )[0][0]
        if pending:
            found.append(f"{pending} notifications pending")
        found += [
            f"{db}: {n} outbox rows unpublished"
            for db, n in invariants.unpublished_outbox_rows().items()
            if n
        ]
        found += [
            f"consumer group {g}: " + ("not consuming" if n < 0 else f"{n} messages behind")
            for g, n in invariants.consumer_lag(groups).items()
            if n
        ]
    except Exception as exc:  # noqa: BLE001 - an engine still recovering is one more blocker
        found.append(f"not readable yet: {type(exc).__name__}: {str(exc)[:120]}")
    return found


def ready(program: str) -> bool:
    """What `make up` waits for before it calls a program started (devstack's readiness)."""
    check = readiness(topology.read_topology()).get(program)
    return check is None or check[0]()


def wait_quiet(
    scope: invariants.Scope,
    programs: list[str],
    groups: set[str],
    last_fault: float,
    timeout: float,
    *,
    verbose: bool = False,
) -> Quiet:
    """Wait until nothing moves twice in a row, a second apart (``verbose``: say what still
    moves whenever that changes)."""
    deadline = time.monotonic() + timeout
    calm = 0
    found: list[str] = []
    while time.monotonic() < deadline:
        before, found = found, blockers(scope, programs, groups)
        if verbose and found and found != before:
            say(f"  quiet? +{time.monotonic() - last_fault:.1f} s: {'; '.join(found)}")
        calm = calm + 1 if not found else 0
        if calm == 2:
            return Quiet(True, time.monotonic() - 1.0 - last_fault, [])
        time.sleep(1.0)
    return Quiet(False, time.monotonic() - last_fault, found)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def say(line: str = "") -> None:
    """One line of the report, at once."""
    print(line, flush=True)


@contextlib.contextmanager
def maybe_broken(broken: bool) -> Iterator[None]:
    """The broken relay while inside when asked for, else nothing."""
    if not broken:
        yield
        return
    with broken_relay() as replaced:
        say(f"--break: {replaced} replaced by a relay that publishes every event twice")
        yield


def run_round(options: Options, settings: ChaosSettings) -> int:
    """One round; the exit status."""
    run_id = f"{options.seed}-{uuid.uuid4().hex[:6]}"
    # Mails and Kafka records from here on are looked at (the welcome mails come before the load).
    since = time.time() - 1
    api = httpx.Client(base_url=settings.gateway_url, timeout=15)
    try:
        api.get("/health").raise_for_status()
    except httpx.HTTPError as exc:
        say(f"the gateway does not answer at {settings.gateway_url} ({exc}): run `make up`")
        return 2
    say(
        f"chaos {run_id}: {options.orders} orders at {options.rate:g}/s over "
        f"{options.duration:.0f} s, a fault every {options.fault_every:g} s, seed {options.seed}"
    )
    admin_token = workload.login(
        api, settings.admin_email, settings.admin_password.get_secret_value()
    )
    customers = workload.register_customers(api, options.customers, run_id)
    catalog = workload.create_catalog(
        api, admin_token, scarce_stock=max(3, options.orders // 10), run_id=run_id
    )
    rng = random.Random(options.seed)
    planned = workload.plan_orders(rng, customers, catalog, options.orders, options.rate)
    with maybe_broken(options.broken):
        programs = faults.running_programs()
        groups = invariants.live_consumer_groups()
        if not groups:
            say("no consumer group is consuming: is every service up? (make status)")
            return 2
        schedule = (
            faults.schedule(
                random.Random(options.seed + 1),
                programs,
                duration=options.duration,
                every=options.fault_every,
            )
            if options.fault_every > 0
            else []
        )
        load = workload.Load(
            settings.gateway_url,
            settings.provider_url,
            planned,
            workload.ClientPolicy(),
            options.seed,
        )
        injector = faults.Injector(
            schedule,
            programs=programs,
            readiness={
                name: check for name, (check, _) in readiness(topology.read_topology()).items()
            },
        )
        stop = threading.Event()
        started = time.monotonic()
        dealer = threading.Thread(
            target=injector.run, args=(started, stop), name="chaos-faults", daemon=True
        )
        dealer.start()
        try:
            load.run(started)
        finally:
            stop.set()
            dealer.join(timeout=30)
            injector.heal(programs)
        load_ended = time.monotonic()
        for fault, outcome in sorted(injector.done, key=lambda done: done[0].at):
            say(f"  fault {fault.describe():<46} {outcome}")
        skipped = sum(outcome.startswith("skipped") for _, outcome in injector.done)
        say(f"faults: {len(injector.done) - skipped} dealt, {skipped} skipped")
        scope = invariants.Scope(
            customer_ids=[c.user_id for c in customers],
            channels={c.user_id: c.channels for c in customers},
            product_ids=catalog.product_ids,
            keys={o.key for o in planned},
            accepted={o.key: set(o.order_ids) for o in planned if o.order_ids},
            since=since,
        )
        last_fault = max(injector.last_fault_ended, load_ended if not schedule else 0.0)
        quiet = wait_quiet(
            scope, programs, groups, last_fault, options.quiesce_timeout, verbose=options.verbose
        )
        if not quiet.reached:
            say(f"not quiet after {options.quiesce_timeout:.0f} s: {'; '.join(quiet.blockers)}")
        checks = invariants.check_all(scope, invariants.snapshot(scope))
    return report(options, planned, checks, quiet, time.monotonic() - started)


def report(
    options: Options,
    planned: list[workload.OrderRun],
    checks: list[invariants.Check],
    quiet: Quiet,
    elapsed: float,
) -> int:
    """Print the invariants and the figures; the exit status."""
    say()
    say(f"{'invariant':<46}{'checked':>8}{'violations':>12}")
    for check in checks:
        say(f"{check.name:<46}{check.checked:>8}{len(check.violations):>12}")
        for violation in check.violations[: None if options.verbose else 5]:
            say(f"    {violation}")
        if not options.verbose and len(check.violations) > 5:
            say(f"    ... and {len(check.violations) - 5} more (-v shows all)")
    accepted = [o for o in planned if o.order_ids]
    orders = invariants.read_orders(sorted({o.customer.user_id for o in planned}))
    outcomes = {
        status: sum(o["status"] == status for o in orders.values())
        for status in ("CONFIRMED", "REJECTED", "CANCELLED")
    }
    timed_out = sum(
        any(reason in (o["failure_reason"] or "") for reason in TIMEOUT_REASONS)
        for o in orders.values()
    )
    errors = [o for o in planned if o.error or o.cancel_error or o.pay_error]
    accept_times = [o.accepted_after for o in planned if o.accepted_after is not None]
    retried = sum(max(0, o.attempts - 1) for o in planned)
    say()
    say(
        f"orders: {len(planned)} placed, {len(accepted)} accepted "
        f"({', '.join(f'{n} {s.lower()}' for s, n in outcomes.items())}), {retried} retries"
    )
    say(
        f"sagas lost to the timeout: {timed_out} "
        f"({100 * timed_out / max(1, len(accepted)):.1f}% of accepted orders)"
    )
    say(f"client-visible errors after retries: {len(errors)}")
    for order in errors[:5]:
        what = order.error or (
            f"cancel: {order.cancel_error}" if order.cancel_error else f"pix: {order.pay_error}"
        )
        say(f"    {order.key}: {what}")
    say(
        f"time to accept an order: p50 {percentile(accept_times, 0.5):.2f} s, "
        f"p95 {percentile(accept_times, 0.95):.2f} s, max {max(accept_times, default=0):.2f} s"
    )
    say(
        f"from the last fault to quiescence: {quiet.after_last_fault:.1f} s"
        + ("" if quiet.reached else " (never quiet)")
    )
    say(f"round took {elapsed:.0f} s")
    failed = [c.name for c in checks if not c.ok]
    say(f"VIOLATED: {', '.join(failed)}" if failed else "every invariant holds")
    return 1 if failed or not quiet.reached else 0


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    options = parse(argv)
    try:
        status = run_round(options, ChaosSettings())
    except workload.SetupError as exc:
        say(f"could not prepare the round: {exc}")
        status = 2
    sys.exit(status)
