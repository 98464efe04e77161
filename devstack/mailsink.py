"""The mail sink of `make up`: aiosmtpd's SMTP server, on uvloop, storing every message it
receives, as it came, in a Maildir (``python -m devstack.mailsink HOST:PORT MAILDIR``).

Two mails go out per order, so the sink's CPU is part of every order's: it was about as much as
notification_service's own (docs/performance.md). What it does not do, on purpose:

- parse each message into an email object and render it again, as aiosmtpd's Mailbox handler
  does: the bytes received are stored, after the same envelope headers (X-Peer, X-MailFrom,
  X-RcptTo) that Mailbox prepends, so a reader of var/mail sees what Mailbox stored;
- ``fsync`` each file, as the standard library's ``mailbox.Maildir`` does: a message is in the
  kernel's page cache when the sink answers 250, so it survives a kill of the sink (the chaos
  rounds kill it) but not a crash of the machine, which a sink for tests does not need;
- parse the same address again for every MAIL and RCPT command: the results of aiosmtpd's
  parser are remembered for the few thousand addresses most recently seen.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import uvloop
from aiosmtpd.smtp import SMTP

# The largest message accepted (aiosmtpd's command-line default).
DATA_SIZE_LIMIT = 33_554_432


class MaildirStore:
    """Delivers into a Maildir as the convention says (a file with a unique name written in
    tmp/, then renamed into new/, where readers find only complete messages), without fsync."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        for folder in ("tmp", "new", "cur"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._tmp = str(self.root / "tmp")
        self._new = str(self.root / "new")
        # Unique per delivery: the time, this process, a counter, and the host (the same parts
        # as mailbox.Maildir's names, which readers split on ':' and '.').
        self._host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
        self._counter = itertools.count(1)

    def add(self, message: bytes) -> str:
        """Store one message; its key (the file's name in new/)."""
        key = f"{time.time():.6f}.M{os.getpid()}Q{next(self._counter)}.{self._host}"
        temporary = os.path.join(self._tmp, key)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(message)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            os.unlink(temporary)
            raise
        os.close(fd)
        os.rename(temporary, os.path.join(self._new, key))
        return key


class RawMailbox:
    """aiosmtpd handler: every message stored with its envelope headers, 250 once it is."""

    def __init__(self, mail_dir: str | os.PathLike[str]) -> None:
        self.store = MaildirStore(mail_dir)

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        """Store the message with its envelope headers; 250 once it is in the Maildir."""
        content = envelope.content
        if isinstance(content, str):
            content = content.encode()
        headers = (
            f"X-Peer: {session.peer}\n"
            f"X-MailFrom: {envelope.mail_from}\n"
            f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\n"
        ).encode()
        # Stored with the platform's line ends, as Mailbox stored them.
        self.store.add(headers + bytes(content).replace(b"\r\n", b"\n"))
        return "250 Message accepted for delivery"


# aiosmtpd's parse of a MAIL or RCPT argument, by (argument, local part limit).
_ADDRESSES: dict[tuple[str, int], tuple[str | None, str | None]] = {}
_ADDRESSES_KEPT = 4096


class SinkSMTP(SMTP):
    """aiosmtpd's SMTP session, remembering what its address parser made of an argument.

    aiosmtpd parses every MAIL FROM and RCPT TO argument with the email package's header
    parser, and builds a class for the result's annotation on each call: for the sink about a
    quarter of its CPU per message. The result depends only on the argument and the local part
    limit, and is a pair of strings, so it is kept (the last few thousand arguments).
    """

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        key = (arg, self.local_part_limit)
        parsed = _ADDRESSES.get(key)
        if parsed is None:
            parsed = super()._getaddr(arg)
            if len(_ADDRESSES) >= _ADDRESSES_KEPT:
                _ADDRESSES.clear()
            _ADDRESSES[key] = parsed
        return parsed


def _arguments(argv: list[str]) -> tuple[str, int, Path]:
    parser = ArgumentParser(prog="python -m devstack.mailsink", description=__doc__)
    parser.add_argument("listen", help="HOST:PORT to accept SMTP on")
    parser.add_argument("maildir", type=Path, help="the Maildir to store messages in")
    ns = parser.parse_args(argv)
    host, _, port = ns.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"listen must be HOST:PORT, got {ns.listen!r}")
    return host, int(port), ns.maildir


async def serve(host: str, port: int, maildir: Path) -> None:
    """Accept SMTP until SIGTERM or SIGINT, then stop; open sessions end with the loop (a
    message is stored before its 250, so none that was accepted is lost)."""
    handler = RawMailbox(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SinkSMTP(handler, data_size_limit=DATA_SIZE_LIMIT), host=host, port=port
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"mail sink: smtp://{host}:{port} -> {maildir}", file=sys.stderr, flush=True)
    await stop.wait()
    # Stop accepting; sessions still open (notification_service keeps one) end with the loop.
    server.close()


def main(argv: list[str] | None = None) -> None:
    """The sink's command line."""
    host, port, maildir = _arguments(sys.argv[1:] if argv is None else argv)
    uvloop.run(serve(host, port, maildir))


if __name__ == "__main__":
    main()
