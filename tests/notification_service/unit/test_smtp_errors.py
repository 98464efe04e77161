"""What the SMTP transport says about a failure: the code and the reason, never the address (a
recipient's email is personal data, and these texts go to the logs)."""

from __future__ import annotations

import smtplib

import pytest

from notification_service.adapters.smtp import _describe

ADDRESS = "maria.silva@example.com"


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"5.1.1 <maria.silva@example.com> unknown")}),
        smtplib.SMTPDataError(554, b"message for maria.silva@example.com rejected"),
        smtplib.SMTPSenderRefused(553, b"sender refused", ADDRESS),
        OSError(f"connection to {ADDRESS} failed"),
    ],
)
def test_a_failure_is_described_without_the_recipient(error: OSError) -> None:
    described = _describe(error)
    assert ADDRESS not in described
    assert "maria.silva" not in described
    assert described.startswith(type(error).__name__)


def test_the_server_code_is_kept() -> None:
    assert "550" in _describe(smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"unknown")}))
    assert "554" in _describe(smtplib.SMTPDataError(554, b"rejected"))
