"""The mail sink's handler: every message aiosmtpd receives is stored, as it came, in a Maildir.

aiosmtpd's own Mailbox handler parses each message into an email object and renders it again
to store it, which cost the sink more CPU per order confirmation than the SMTP conversation
itself. This one prepends the same envelope headers (X-Peer, X-MailFrom, X-RcptTo) to the bytes
received and stores those, so a reader of var/mail sees what Mailbox stored.
"""

from __future__ import annotations

import mailbox
import os
from argparse import ArgumentParser
from typing import Any


class RawMailbox:
    """aiosmtpd handler (``-c devstack.mailsink.RawMailbox <maildir>``)."""

    def __init__(self, mail_dir: str | os.PathLike[str]) -> None:
        self.mailbox = mailbox.Maildir(mail_dir)

    @classmethod
    def from_cli(cls, parser: ArgumentParser, *args: str) -> RawMailbox:
        """The handler for aiosmtpd's command line: one argument, the Maildir."""
        if len(args) != 1:
            parser.error("RawMailbox takes one argument: the Maildir")
        return cls(args[0])

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
        self.mailbox.add(headers + bytes(content).replace(b"\r\n", b"\n"))
        return "250 Message accepted for delivery"
