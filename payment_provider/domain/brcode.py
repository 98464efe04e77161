"""Pix "copia e cola" payloads: the EMV QR Code format as Banco Central do Brasil profiles it
("BR Code", Manual de Padrões para Iniciação do Pix).

A payload is a string of TLV fields: a two-digit id, a two-digit length and the value, values
nested the same way inside templates (26, 62). It ends with field 63, a CRC-16/CCITT-FALSE
(polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR) written as four uppercase
hex digits and computed over the whole payload *including* the "6304" that introduces it.

Only what a static pix charge needs is built here: 00 payload format, 26 merchant account (GUI
``br.gov.bcb.pix`` and the pix key), 52 merchant category (0000), 53 currency (986, the real),
54 amount (optional), 58 country, 59 merchant name, 60 city, 62 additional data (05 txid), 63 CRC.
Pure functions, no framework: the provider and any test or tool may import it.
"""

from __future__ import annotations

import re
from decimal import Decimal

PIX_GUI = "br.gov.bcb.pix"
CURRENCY_BRL = "986"  # ISO 4217 numeric code of the real
NO_TXID = "***"  # the manual's value for a static payload without a transaction id

MAX_NAME = 25
MAX_CITY = 15
MAX_TXID = 25
MAX_AMOUNT_CHARS = 13
MAX_AMOUNT_EXCLUSIVE = Decimal("10000000000")  # "9999999999.99" is the longest that fits
# Field 26 holds at most 99 characters: "0014br.gov.bcb.pix" (18) + "01" + length (4) + the key.
MAX_PIX_KEY = 99 - 18 - 4

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_TXID = re.compile(r"[A-Za-z0-9]{1,25}")


class BrCodeError(ValueError):
    """A value that a BR Code field cannot carry."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (the catalogue's check value: "123456789" -> 0x29B1)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def static_pix_payload(
    *,
    pix_key: str,
    merchant_name: str,
    merchant_city: str,
    amount: Decimal | None = None,
    txid: str = NO_TXID,
) -> str:
    """The "copia e cola" text of a static pix QR code, CRC included."""
    _text("pix key", pix_key, MAX_PIX_KEY)
    _text("merchant name", merchant_name, MAX_NAME)
    _text("merchant city", merchant_city, MAX_CITY)
    if txid != NO_TXID and not _TXID.fullmatch(txid):
        raise BrCodeError(f'txid must be 1 to {MAX_TXID} letters and digits, or "{NO_TXID}"')
    payload = [
        _field("00", "01"),
        _field("26", _field("00", PIX_GUI) + _field("01", pix_key)),
        _field("52", "0000"),
        _field("53", CURRENCY_BRL),
    ]
    if amount is not None:
        payload.append(_field("54", _amount_text(amount)))
    payload += [
        _field("58", "BR"),
        _field("59", merchant_name),
        _field("60", merchant_city),
        _field("62", _field("05", txid)),
        "6304",
    ]
    text = "".join(payload)
    return f"{text}{crc16(text.encode('ascii')):04X}"


def parse_fields(payload: str) -> dict[str, str]:
    """The top-level fields of a payload, id -> value (templates left as their raw text)."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(payload):
        header = payload[position : position + 4]
        if len(header) < 4 or not header.isdigit():
            raise BrCodeError(f"malformed field at position {position}")
        length = int(header[2:])
        value = payload[position + 4 : position + 4 + length]
        if len(value) != length:
            raise BrCodeError(f"field {header[:2]} is shorter than its length {length}")
        fields[header[:2]] = value
        position += 4 + length
    return fields


def has_valid_crc(payload: str) -> bool:
    """True when the payload ends in "6304" + the CRC of everything before those four digits."""
    if len(payload) < 8 or payload[-8:-4] != "6304":
        return False
    return payload[-4:] == f"{crc16(payload[:-4].encode('ascii')):04X}"


def _field(field_id: str, value: str) -> str:
    if len(value) > 99:
        raise BrCodeError(f"field {field_id} is longer than 99 characters")
    return f"{field_id}{len(value):02d}{value}"


def _text(what: str, value: str, maximum: int) -> None:
    # The payload is read by every bank's app: plain ASCII only, no accents (a name such as
    # "São Paulo" is written "Sao Paulo").
    if not value or len(value) > maximum or not _PRINTABLE_ASCII.fullmatch(value):
        raise BrCodeError(f"{what} must be 1 to {maximum} printable ASCII characters")


def _amount_text(amount: Decimal) -> str:
    if not amount.is_finite() or amount <= 0:
        raise BrCodeError("amount must be a positive number")
    if amount >= MAX_AMOUNT_EXCLUSIVE:
        raise BrCodeError(f"amount must be below {MAX_AMOUNT_EXCLUSIVE} ({MAX_AMOUNT_CHARS} chars)")
    if amount != amount.quantize(Decimal("0.01")):
        raise BrCodeError("amount must have at most two decimal places")
    return f"{amount:.2f}"
