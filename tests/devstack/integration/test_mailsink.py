"""The mail sink `make up` runs (python -m devstack.mailsink), as a process on a port of its own:
what it accepts lands in its Maildir, readable by the standard library's Maildir reader with
the envelope headers in front and the body as sent; it refuses addresses it cannot parse, the
same way each time (its parses are remembered); and it stops on SIGTERM with a session open."""

from __future__ import annotations

import mailbox
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP

from devstack import layout
from devstack.mailsink import MaildirStore, SinkSMTP

# The running sink: its port, its Maildir, its process.
Sink = tuple[int, Path, subprocess.Popen[bytes]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    port = _free_port()
    maildir = tmp_path / "mail"
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.mailsink", f"127.0.0.1:{port}", str(maildir)],
        cwd=layout.REPO,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the sink did not listen within 30 s"
            time.sleep(0.05)
    yield port, maildir, process
    process.kill()
    process.wait(10)


def test_messages_land_in_the_maildir_as_sent(sink: Sink) -> None:
    port, maildir, _ = sink
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for n in range(3):
            client.sendmail(
                "Orders <orders@example.com>",
                [f"customer-{n % 2}@example.com"],
                f"Subject: order {n}\r\nMessage-ID: <n{n}@example.com>\r\n\r\n"
                "line one\r\nline two\r\n",
            )
    box = mailbox.Maildir(maildir, create=False)
    mails = sorted(box, key=lambda m: str(m["Subject"]))
    assert [m["Subject"] for m in mails] == ["order 0", "order 1", "order 2"]
    assert [m["X-RcptTo"] for m in mails] == [
        "customer-0@example.com",
        "customer-1@example.com",
        "customer-0@example.com",
    ]
    assert {m["X-MailFrom"] for m in mails} == {"orders@example.com"}
    assert mails[1].get_payload() == "line one\nline two\n"
    assert not list((maildir / "tmp").iterdir()), "a delivered message stays in tmp/"


def test_an_address_it_cannot_parse_is_refused_every_time(sink: Sink) -> None:
    port, maildir, _ = sink
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        assert client.docmd("MAIL", "FROM:<orders@example.com>")[0] == 250
        for _ in range(2):
            assert client.docmd("RCPT", "TO:<@@>")[0] == 553
            assert client.docmd("RCPT", "TO:<customer@example.com>")[0] == 250
    assert not list((maildir / "new").iterdir())


@pytest.mark.parametrize(
    "arg",
    [
        "<orders@example.com>",
        "orders@example.com",
        "<>",
        "<@@>",
        '<"a name"@example.com>',
        "<" + "x" * 80 + "@example.com>",
        "",
    ],
)
def test_a_remembered_parse_is_aiosmtpds(arg: str) -> None:
    session = SinkSMTP.__new__(SinkSMTP)
    session.local_part_limit = 64
    expected = SMTP._getaddr(session, arg)
    assert SinkSMTP._getaddr(session, arg) == expected
    assert SinkSMTP._getaddr(session, arg) == expected
    session.local_part_limit = 0
    assert SinkSMTP._getaddr(session, arg) == SMTP._getaddr(session, arg)


def test_it_stops_on_sigterm_with_a_session_open(sink: Sink) -> None:
    port, _, process = sink
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        process.terminate()
        assert process.wait(10) == 0


def test_each_delivery_gets_a_name_of_its_own(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "box")
    keys = [store.add(b"Subject: same\n\nsame body\n") for _ in range(50)]
    assert len(set(keys)) == 50
    assert sorted(p.name for p in (tmp_path / "box" / "new").iterdir()) == sorted(keys)
    assert len(mailbox.Maildir(tmp_path / "box", create=False)) == 50
