"""Money, currencies and the stock reservation rules. Pure Python: no framework imports.

Stock conservation, per product: ``initial + adjusted = available + reserved + sold``. Orders only
move units between available, reserved and sold; an admin setting the available quantity records
the difference in ``adjusted``. The database enforces the equation with a CHECK constraint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

CENT = Decimal("0.01")
# numeric(12, 2): at most ten digits before the point.
MAX_PRICE = Decimal("9999999999.99")
MAX_STOCK = 1_000_000_000
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"

_PRICE = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")

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
    """A price from a decimal string (or a JSON number): > 0, at most two decimal places."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError('price must be a decimal string such as "19.99"')
    text = str(value).strip()
    if not _PRICE.fullmatch(text):
        raise ValueError(
            'price must be a positive decimal with at most two decimal places, such as "19.99"'
        )
    try:
        price = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError("price is not a decimal number") from None
    if price <= 0:
        raise ValueError("price must be greater than 0")
    if price > MAX_PRICE:
        raise ValueError(f"price must be at most {MAX_PRICE}")
    return price


def check_currency(code: str) -> str:
    """An ISO 4217 currency code, three uppercase letters."""
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError("currency must be a three-letter uppercase ISO 4217 code, such as EUR")
    if code not in ISO_4217_CURRENCIES:
        raise ValueError(f"currency {code} is not an ISO 4217 currency code")
    return code


class ReservationStatus(StrEnum):
    """Where one order's reservation stands; only RESERVED still holds stock."""

    RESERVED = "RESERVED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class StockLevel:
    """What the reservation rules need to know of one product."""

    product_id: str
    price: Decimal
    currency: str
    available: int


@dataclass(frozen=True, slots=True)
class ReservedLine:
    """One product of a reservation, at the price it was reserved at."""

    product_id: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class ReservationPlan:
    """Every line of an order, reservable together."""

    lines: tuple[ReservedLine, ...]
    total: Decimal


class ReservationRefused(Exception):
    """Nothing can be reserved for this order; the message says why."""


def requested_quantities(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Quantity per product, lines of the same product summed, in product id order."""
    totals: dict[str, int] = {}
    for product_id, quantity in items:
        totals[product_id] = totals.get(product_id, 0) + quantity
    return dict(sorted(totals.items()))


def plan_reservation(
    requested: Mapping[str, int], stock: Mapping[str, StockLevel], *, currency: str
) -> ReservationPlan:
    """Reserve every line or none: raises ReservationRefused with every reason at once."""
    if not requested:
        raise ReservationRefused("order has no items")
    problems: list[str] = []
    bad_quantities = [f"{pid} ({qty})" for pid, qty in requested.items() if qty < 1]
    if bad_quantities:
        problems.append(f"quantity must be at least 1: {', '.join(bad_quantities)}")
    unknown = [pid for pid in requested if pid not in stock]
    if unknown:
        problems.append(f"unknown product: {', '.join(unknown)}")
    for pid, quantity in requested.items():
        level = stock.get(pid)
        if level is None or quantity < 1:
            continue
        if level.currency != currency:
            problems.append(
                f"currency mismatch for product {pid}: priced in {level.currency}, "
                f"order in {currency}"
            )
        elif level.available < quantity:
            problems.append(
                f"insufficient stock for product {pid}: requested {quantity}, "
                f"available {level.available}"
            )
    if problems:
        raise ReservationRefused("; ".join(problems))
    lines = tuple(
        ReservedLine(pid, quantity, stock[pid].price) for pid, quantity in requested.items()
    )
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    return ReservationPlan(lines=lines, total=total.quantize(CENT))
