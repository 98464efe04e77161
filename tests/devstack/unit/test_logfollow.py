"""``make logs CID=...`` (devstack/logfollow.py) over log files a test writes."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.logfollow import check_correlation_id, follow

CID = "c0ffee42"


def line(timestamp: str, event: str, correlation_id: str = CID) -> str:
    """One structlog JSON line."""
    record = {"event": event, "correlation_id": correlation_id, "timestamp": timestamp}
    return json.dumps(record) + "\n"


def steps(*actions: Callable[[], None]) -> Callable[[], bool]:
    """A keep_going callback running one action per poll, then stopping."""
    pending = list(actions)

    def keep_going() -> bool:
        if not pending:
            return False
        pending.pop(0)()
        return True

    return keep_going


def test_past_lines_of_the_id_come_first_in_time_order_then_new_ones(tmp_path: Path) -> None:
    (tmp_path / "order_service.log").write_text(
        line("2026-01-01T10:00:02Z", "order_created")
        + line("2026-01-01T10:00:03Z", "other_order", correlation_id="someone-else")
    )
    (tmp_path / "gateway.log").write_text(line("2026-01-01T10:00:01Z", "http_request"))
    (tmp_path / "kafka.log").write_text("[2026-01-01T10:00:00] INFO broker chatter\n")

    def more() -> None:
        with (tmp_path / "payment_service.log").open("a") as log:
            log.write(line("2026-01-01T10:00:04Z", "payment_authorized"))
            log.write('{"event": "half a li')  # not finished yet: not shown

    def rest() -> None:
        with (tmp_path / "payment_service.log").open("a") as log:
            log.write('ne", "correlation_id": "' + CID + '"}\n')

    out = io.StringIO()
    follow(tmp_path, CID, out=out, interval=0, keep_going=steps(more, rest))

    shown = [
        (text[:22].strip(), json.loads(text[22:])["event"]) for text in out.getvalue().splitlines()
    ]
    assert shown == [
        ("gateway", "http_request"),
        ("order_service", "order_created"),
        ("payment_service", "payment_authorized"),
        ("payment_service", "half a line"),
    ]


def test_a_rotated_log_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "order_service.log"
    log.write_text(line("2026-01-01T10:00:00Z", "before") * 3)

    def rotate() -> None:
        log.replace(tmp_path / "order_service.log.1")
        log.write_text(line("2026-01-01T10:00:05Z", "after"))

    out = io.StringIO()
    follow(tmp_path, CID, out=out, interval=0, keep_going=steps(rotate))

    events = [json.loads(text[22:])["event"] for text in out.getvalue().splitlines()]
    assert events == ["before", "before", "before", "after"]


@pytest.mark.parametrize("bad", ["", "two words", "x" * 201, "tab\there"])
def test_a_malformed_id_is_refused_with_what_is_wrong(bad: str) -> None:
    with pytest.raises(SystemExit, match="CID must be"):
        check_correlation_id(bad)


def test_a_well_formed_id_is_kept() -> None:
    assert check_correlation_id("6f1c2d3e-aaaa-4bbb-8ccc-123456789abc") == (
        "6f1c2d3e-aaaa-4bbb-8ccc-123456789abc"
    )
