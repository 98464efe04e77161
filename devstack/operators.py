"""``make trace ORDER=<id>`` and ``make dlq``: the operators' API (``/api/ops`` through the
gateway, as the admin) in the terminal.

The trace prints as one timeline: the saga's steps, the order's Kafka messages and the inbox
entries they left, in time order; then every local log line carrying the order's correlation id,
from every process, in time order (devstack.logfollow).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TextIO

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack import layout, logfollow

# Log fields every line has, or that the prefix already shows.
_PLAIN_FIELDS = {"event", "level", "timestamp", "service", "logger", "correlation_id", "trace_id"}


class OperatorSettings(BaseSettings):
    """Who the commands log in as, and where: the admin account auth_service creates
    (ADMIN_EMAIL / ADMIN_PASSWORD from the environment, then .env, then the local defaults),
    through the gateway at GATEWAY_URL."""

    model_config = SettingsConfigDict(env_file=layout.REPO / ".env", extra="ignore")

    admin_email: str = "admin@example.com"
    admin_password: SecretStr = SecretStr("Admin-password-1")
    gateway_url: str = f"http://localhost:{layout.GATEWAY_PORT}"


@contextmanager
def admin_api(settings: OperatorSettings | None = None) -> Iterator[httpx.Client]:
    """A client of the gateway carrying the admin's access token; SystemExit when the gateway
    does not answer or refuses the login."""
    settings = settings or OperatorSettings()
    with httpx.Client(base_url=settings.gateway_url, timeout=20) as client:
        try:
            login = client.post(
                "/api/auth/login",
                json={
                    "email": settings.admin_email,
                    "password": settings.admin_password.get_secret_value(),
                },
            )
        except httpx.HTTPError as exc:
            raise SystemExit(
                f"the gateway does not answer at {settings.gateway_url} ({exc}): run `make up`"
            ) from exc
        if login.status_code != 200:
            raise SystemExit(
                f"logging in as {settings.admin_email} failed ({login.status_code}): "
                "check ADMIN_EMAIL and ADMIN_PASSWORD"
            )
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield client


def _answer(response: httpx.Response) -> Any:
    """The JSON of a 2xx, or SystemExit with what the API said."""
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = response.text
    raise SystemExit(
        f"{response.request.method} {response.request.url.path}: {response.status_code} {detail}"
    )


def trace(order_id: str, *, out: TextIO = sys.stdout) -> None:
    """Print one order's trace and its log lines."""
    try:
        order_id = str(uuid.UUID(order_id))
    except ValueError:
        raise SystemExit("ORDER must be an order id (a UUID), e.g. make trace ORDER=<id>") from None
    with admin_api() as api:
        body = _answer(api.get(f"/api/ops/orders/{order_id}/trace"))
    correlation_id = body.get("correlation_id")
    lines = logfollow.written(layout.LOG_DIR, correlation_id) if correlation_id else []
    _print(out, render_trace(body, lines))


def dead_letters(*, out: TextIO = sys.stdout) -> None:
    """Print every dead letter, one per line."""
    with admin_api() as api:
        letters = _answer(api.get("/api/ops/dlq"))
    _print(out, [render_dead_letter(letter) for letter in letters] or ["no dead letters"])


def _print(out: TextIO, lines: list[str]) -> None:
    try:
        out.write("".join(f"{line}\n" for line in lines))
        out.flush()
    except BrokenPipeError:  # piped into head or less, which closed: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# -- rendering ---------------------------------------------------------------------------------


def render_trace(trace: dict[str, Any], log_lines: list[logfollow.Match]) -> list[str]:
    """The trace as lines: a heading, one timeline of steps, messages and inbox entries, then
    the log lines."""
    messages, inbox = trace["messages"], trace["inbox"]
    events: list[tuple[datetime | None, str]] = [
        *(
            (_moment(s["at"]), _row("saga", s["service"], s["event_type"], s["step"]))
            for s in trace["timeline"]
        ),
        *(
            (
                _moment(m["timestamp"]),
                _row(
                    "kafka",
                    f"{m['topic']}[{m['partition']}]@{m['offset']}",
                    m["event_type"] or "-",
                    f"event {m['event_id'] or '-'}",
                ),
            )
            for m in messages
        ),
        *(
            (
                _moment(e["processed_at"]),
                _row(
                    "inbox",
                    e["consumer"],
                    e["event_type"],
                    f"applied from {e['topic']}[{e['partition']}]@{e['offset']}",
                ),
            )
            for e in inbox
        ),
    ]
    events.sort(key=lambda event: (event[0] is None, event[0] or datetime.min))
    day = next((moment.date() for moment, _ in events if moment), None)
    lines = [
        f"order {trace['order_id']}",
        f"correlation id {trace.get('correlation_id') or '(unknown)'}",
        f"{len(messages)} Kafka messages, {len(inbox)} inbox entries"
        + (" (cut short by a bound: more may exist)" if trace.get("truncated") else ""),
    ]
    lines += [
        f"inbox of {s['service']} unavailable: {s.get('detail')}"
        for s in trace.get("inbox_sources", [])
        if not s["available"]
    ]
    lines += ["", f"timeline{f' ({day.isoformat()}, UTC)' if day else ''}"]
    lines += [f"  {_clock(moment, day)}  {text}" for moment, text in events]
    lines += ["", f"log lines with this correlation id ({len(log_lines)})"]
    lines += [f"  {_log_line(stamp, process, line, day)}" for stamp, process, line in log_lines]
    return lines


def render_dead_letter(letter: dict[str, Any]) -> str:
    """One dead letter on one line: when, where, what, who gave up and why."""
    error = str(letter.get("error") or "").splitlines()[0:1]
    replayed = f"  [replayed {letter['replayed_at']}]" if letter.get("replayed_at") else ""
    return (
        f"{letter.get('dead_at') or '-'}  {letter['topic']}[{letter['partition']}]"
        f"@{letter['offset']}  {letter.get('event_type') or '-'}  "
        f"event {letter.get('event_id') or '-'}  key {letter.get('key') or '-'}  "
        f"by {letter.get('consumer') or '-'} after {letter.get('attempts') or '?'} attempt(s): "
        f"{(error[0] if error else '-')[:200]}{replayed}"
    )


def _row(kind: str, where: str, event_type: str, detail: str) -> str:
    return f"{kind:<6} {where:<36} {event_type:<28} {detail}"


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _clock(moment: datetime | None, day: date | None) -> str:
    """HH:MM:SS.mmm, with the date when it is not the trace's first day."""
    if moment is None:
        return "?" * 12
    clock = moment.strftime("%H:%M:%S.%f")[:-3]
    return clock if moment.date() == day else f"{moment.date().isoformat()} {clock}"


def _log_line(stamp: str, process: str, line: str, day: date | None) -> str:
    """A JSON log line as: time, process, level, event, then its other fields."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return f"{_clock(_moment(stamp), day)}  {process:<22} {line.strip()}"
    fields = " ".join(
        f"{key}={_short(value)}" for key, value in record.items() if key not in _PLAIN_FIELDS
    )
    return (
        f"{_clock(_moment(stamp), day)}  {process:<22} {record.get('level', ''):<7} "
        f"{record.get('event', '')}  {fields}"
    ).rstrip()


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
