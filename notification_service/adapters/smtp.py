"""Sending email over SMTP (smtplib): plain text, one connection reused for a sender pass."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from notification_service.domain.model import Mail

MESSAGE_ID_DOMAIN = "order-platform.local"

# The server answered and refused this one message; the connection itself is fine.
MESSAGE_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


class Mailer(Protocol):
    """Delivers one email; raises OSError (smtplib's errors included) when it could not."""

    def send(self, *, recipient: str, mail: Mail, message_id: str) -> None:
        """Hand the message to the mail server."""
        ...

    def close(self) -> None:
        """Drop the connection, if any."""
        ...


def build_message(*, mail_from: str, recipient: str, mail: Mail, message_id: str) -> EmailMessage:
    """The RFC 5322 message: plain text, a Message-ID so duplicates can be recognised."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = recipient
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{message_id}@{MESSAGE_ID_DOMAIN}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message


class SmtpMailer:
    """smtplib against one server; connects on the first send and reconnects after an error."""

    def __init__(self, *, host: str, port: int, timeout: float, mail_from: str) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.mail_from = mail_from
        self._smtp: smtplib.SMTP | None = None

    def send(self, *, recipient: str, mail: Mail, message_id: str) -> None:
        """Deliver one message; on any error the connection is dropped before re-raising."""
        message = build_message(
            mail_from=self.mail_from, recipient=recipient, mail=mail, message_id=message_id
        )
        try:
            if self._smtp is None:
                self._smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                self._smtp.ehlo_or_helo_if_needed()
            self._smtp.send_message(message)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        """QUIT politely if possible; forget the connection either way."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except OSError:
            smtp.close()
