"""Decimal arithmetic for money: parsing, precision checks and formatting.

All money in the engine is ``decimal.Decimal``. Arithmetic that can be inexact
(division) goes through ``CTX`` so results do not depend on a thread's context.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Context, Decimal, InvalidOperation
from typing import overload

# Python's default precision and rounding, pinned: a thread-local context changed
# elsewhere must never change what an order costs.
CTX = Context(prec=28, rounding=ROUND_HALF_EVEN)

# Balances and order totals add amounts of very different scales (a quantity
# bought for a quote amount carries 28 significant digits). Sums in this context
# are exact, so a balance always equals the sum of the fills that made it.
LEDGER = Context(prec=60, rounding=ROUND_HALF_EVEN)

# Fees are rounded to the scale of the amount they are charged on, and never to
# fewer than this many places: amount - fee is then exact.
MIN_FEE_PLACES = 18

ZERO = Decimal(0)


def to_decimal(value: object) -> Decimal | None:
    """Decimal from a str/int/Decimal, or None if it is not a finite number."""
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            d = Decimal(value)
        except (InvalidOperation, ValueError):
            return None
    else:
        return None
    return d if d.is_finite() else None


# No price, quantity or amount of any market comes near this; anything bigger is a
# typo or an attack, and would overflow the ledger's 60 digits once multiplied.
MAX_AMOUNT = Decimal(10) ** 18


def amount_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be a price, quantity or amount, or None if it can."""
    if not value.is_finite():
        return "must be a finite number"
    if value <= 0:
        return "must be greater than zero"
    if value >= MAX_AMOUNT:
        return f"must be less than {MAX_AMOUNT:,.0f}"
    return None


def decimal_places(value: Decimal) -> int:
    """Significant decimal places: 1.10 has one, 100 has none."""
    exponent = value.normalize(LEDGER).as_tuple().exponent
    return max(0, -int(exponent))


def fits_places(value: Decimal, places: int) -> bool:
    return decimal_places(value) <= places


def truncate(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN, context=LEDGER)


def round_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_UP, context=LEDGER)


def divide(a: Decimal, b: Decimal) -> Decimal:
    return CTX.divide(a, b)


def fee_on(amount: Decimal, rate: Decimal) -> Decimal:
    """``amount * rate`` rounded to the amount's scale (at least MIN_FEE_PLACES)."""
    fee = LEDGER.multiply(amount, rate)
    places = max(decimal_places(amount), MIN_FEE_PLACES)
    if decimal_places(fee) > places:
        fee = fee.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=LEDGER)
    return fee


@overload
def fmt(value: Decimal) -> str: ...
@overload
def fmt(value: None) -> None: ...
def fmt(value: Decimal | None) -> str | None:
    """Plain decimal string, no exponent, no trailing zeros: 0.0001, 9900, 0."""
    if value is None:
        return None
    if value == 0:
        return "0"
    text = format(value.normalize(LEDGER), "f")
    return text
