"""Money on the wire: a decimal string with two places (``"19.99"``), the same in every service."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
# The largest amount any service stores (numeric(12, 2)): a price, an order total, a payment.
MAX_AMOUNT = Decimal("9999999999.99")


class InvalidAmount(ValueError):
    """An amount that is not a finite decimal."""


def to_amount(value: str | Decimal) -> Decimal:
    """A decimal amount rounded to cents (half up)."""
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidAmount(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise InvalidAmount(f"not a finite amount: {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: str | Decimal) -> str:
    """``Decimal("5")`` -> ``"5.00"``: what events and the API carry."""
    return f"{to_amount(value):.2f}"


_AMOUNT = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")

# ISO 4217 codes a price can be in: national currencies and fund codes, not precious metals,
# bond-market units, SDRs, the testing code (XTS) or "no currency" (XXX).
_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD
    XCG XOF XPF YER ZAR ZMW ZWG ZWL
"""
ISO_4217_CURRENCIES = frozenset(_ISO_4217_CODES.split())


def parse_price(value: object) -> Decimal:
    """A price or charge from a decimal string (or a JSON number): > 0, at most two decimal
    places, at most MAX_AMOUNT."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError('price must be a decimal string such as "19.99"')
    text = str(value).strip()
    if not _AMOUNT.fullmatch(text):
        raise ValueError(
            'price must be a positive decimal with at most two decimal places, such as "19.99"'
        )
    try:
        price = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError("price is not a decimal number") from None
    if price <= 0:
        raise ValueError("price must be greater than 0")
    if price > MAX_AMOUNT:
        raise ValueError(f"price must be at most {MAX_AMOUNT}")
    return price


def check_currency(code: str) -> str:
    """An ISO 4217 currency code, three uppercase letters."""
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError("currency must be a three-letter uppercase ISO 4217 code, such as EUR")
    if code not in ISO_4217_CURRENCIES:
        raise ValueError(f"currency {code} is not an ISO 4217 currency code")
    return code
