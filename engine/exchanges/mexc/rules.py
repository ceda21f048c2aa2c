"""Trading rules of a MEXC symbol, read from exchangeInfo, and the checks and
formatting an order needs before it is sent.

exchangeInfo's field names mislead (ccxt reads them the same way):
- ``baseAssetPrecision`` / ``quoteAssetPrecision`` are decimal places: the quantity
  step and the price tick.
- ``baseSizePrecision`` is the minimum order quantity ("0" means none).
- ``quoteAmountPrecision`` is the minimum order notional in the quote asset.
Values may be strings with trailing zeros ("1.000000000000000000000000000000").

Amounts are truncated (never more than asked for), prices rounded half-up to the
tick, quote amounts truncated; all rendered without exponent or trailing zeros.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import msgspec

from engine.errors import BelowMinimum, InvalidPrice, InvalidQuantity, ValidationFailed
from engine.model import SymbolInfo
from engine.money import LEDGER, fits_places, fmt, truncate

# status "1" is online since 2024-08; older answers said "ENABLED".
_ONLINE = frozenset({"1", "ENABLED"})


class MexcSymbolInfo(msgspec.Struct, frozen=True):
    """One exchangeInfo symbol: the engine's rules plus what only MEXC has."""

    info: SymbolInfo
    status: str  # MEXC's own: "1" online, "2" paused, "3" offline
    order_types: tuple[str, ...] = ()
    max_notional: Decimal | None = None
    min_notional_market: Decimal | None = None
    max_notional_market: Decimal | None = None
    maker_commission: Decimal | None = None
    taker_commission: Decimal | None = None

    @property
    def symbol(self) -> str:
        return self.info.symbol


def symbol_info(raw: Mapping[str, object]) -> SymbolInfo:
    """The engine's ``SymbolInfo`` from one entry of exchangeInfo's ``symbols``."""
    symbol = _str(raw, "symbol")
    quote_places = raw.get("quoteAssetPrecision", raw.get("quotePrecision"))
    defaults: dict[str, Decimal] = {}
    min_qty = _decimal_or_none(raw.get("baseSizePrecision"), "baseSizePrecision", symbol)
    if min_qty is not None:
        defaults["min_quantity"] = min_qty
    # Absent means unknown: keep the model's default (MEXC's usual 1 USDT) rather than 0.
    min_notional = _decimal_or_none(raw.get("quoteAmountPrecision"), "quoteAmountPrecision", symbol)
    if min_notional is not None:
        defaults["min_notional"] = min_notional
    return SymbolInfo(
        max_notional=_decimal_or_none(raw.get("maxQuoteAmount"), "maxQuoteAmount", symbol),
        min_notional_market=_decimal_or_none(raw.get("quoteAmountPrecisionMarket"), "quoteAmountPrecisionMarket", symbol),
        max_notional_market=_decimal_or_none(raw.get("maxQuoteAmountMarket"), "maxQuoteAmountMarket", symbol),
        symbol=symbol,
        base=_str(raw, "baseAsset"),
        quote=_str(raw, "quoteAsset"),
        base_precision=_places(raw.get("baseAssetPrecision"), "baseAssetPrecision", symbol),
        quote_precision=_places(quote_places, "quoteAssetPrecision", symbol),
        status="TRADING" if _is_trading(raw) else "HALTED",
        **defaults,
    )


def mexc_symbol_info(raw: Mapping[str, object]) -> MexcSymbolInfo:
    info = symbol_info(raw)
    types = raw.get("orderTypes")
    return MexcSymbolInfo(
        info=info,
        status=str(raw.get("status", "")),
        order_types=tuple(str(t) for t in types) if isinstance(types, list) else (),
        max_notional=_decimal_or_none(raw.get("maxQuoteAmount"), "maxQuoteAmount", info.symbol),
        min_notional_market=_decimal_or_none(
            raw.get("quoteAmountPrecisionMarket"), "quoteAmountPrecisionMarket", info.symbol),
        max_notional_market=_decimal_or_none(
            raw.get("maxQuoteAmountMarket"), "maxQuoteAmountMarket", info.symbol),
        maker_commission=_decimal_or_none(raw.get("makerCommission"), "makerCommission", info.symbol),
        taker_commission=_decimal_or_none(raw.get("takerCommission"), "takerCommission", info.symbol),
    )


def format_quantity(info: SymbolInfo, quantity: Decimal) -> str:
    return fmt(truncate(quantity, info.base_precision))


def format_price(info: SymbolInfo, price: Decimal) -> str:
    step = Decimal(1).scaleb(-info.quote_precision)
    return fmt(price.quantize(step, rounding=ROUND_HALF_UP, context=LEDGER))


def format_quote(info: SymbolInfo, amount: Decimal) -> str:
    return fmt(truncate(amount, info.quote_precision))


def check_order(
    info: SymbolInfo,
    quantity: Decimal | None,
    price: Decimal | None,
    quote_amount: Decimal | None,
) -> None:
    """Raise what MEXC would refuse, before anything is sent.

    ``quantity`` (base) or ``quote_amount`` (quote, MARKET only), not both. Values
    must already fit the symbol's decimals: silently cutting them here would send an
    order nobody asked for, so use the ``format_*`` functions first.
    """
    if info.status != "TRADING":
        raise ValidationFailed(f"{info.symbol} is not trading now", details={"symbol": info.symbol})
    if (quantity is None) == (quote_amount is None):
        raise InvalidQuantity("give exactly one of quantity or quote amount", details={"symbol": info.symbol})
    if price is not None:
        _check_amount(info, price, "price", info.quote_precision, InvalidPrice)
    if quantity is not None:
        _check_amount(info, quantity, "quantity", info.base_precision, InvalidQuantity)
        if quantity < info.min_quantity:
            raise InvalidQuantity(
                f"quantity {fmt(quantity)} is below the minimum {fmt(info.min_quantity)} for {info.symbol}",
                details={"symbol": info.symbol, "min_quantity": fmt(info.min_quantity)},
            )
        if price is not None:
            _check_notional(info, LEDGER.multiply(quantity, price))
    if quote_amount is not None:
        _check_amount(info, quote_amount, "quote amount", info.quote_precision, InvalidQuantity)
        _check_notional(info, quote_amount)


def _check_amount(
    info: SymbolInfo, value: Decimal, name: str, places: int, error: type[ValidationFailed]
) -> None:
    if not value.is_finite():
        raise error(f"{name} must be a finite number", details={"symbol": info.symbol})
    if value <= 0:
        raise error(f"{name} must be greater than zero", details={"symbol": info.symbol})
    if not fits_places(value, places):
        raise error(
            f"{name} {fmt(value)} has more than {places} decimal places for {info.symbol}",
            details={"symbol": info.symbol, "max_places": places},
        )


def _check_notional(info: SymbolInfo, notional: Decimal) -> None:
    if notional < info.min_notional:
        raise BelowMinimum(
            f"order value {fmt(notional)} {info.quote} is below the minimum {fmt(info.min_notional)} {info.quote}",
            details={"symbol": info.symbol, "min_notional": fmt(info.min_notional)},
        )


def _is_trading(raw: Mapping[str, object]) -> bool:
    allowed = raw.get("isSpotTradingAllowed")
    allowed_ok = allowed is True or (isinstance(allowed, str) and allowed.lower() == "true")
    return str(raw.get("status", "")).strip().upper() in _ONLINE and allowed_ok


def _str(raw: Mapping[str, object], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"exchangeInfo symbol: {key} missing or not a string: {value!r}")
    return value


def _decimal_or_none(value: object, key: str, symbol: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        # A JSON float would already be inexact: refuse rather than guess.
        raise ValueError(f"{symbol}: {key} is not a decimal string: {value!r}")
    try:
        d = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"{symbol}: {key} is not a decimal: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"{symbol}: {key} is not a non-negative number: {value!r}")
    return _plain(d)


def _plain(d: Decimal) -> Decimal:
    """Without trailing zeros, and without an exponent either: normalize() alone turns
    2000000 into 2E+6, which is how msgspec would then write it."""
    if d == d.to_integral_value():
        return d.quantize(Decimal(1), context=LEDGER)
    return d.normalize(LEDGER)


def _places(value: object, key: str, symbol: str) -> int:
    d = _decimal_or_none(value, key, symbol)
    if d is None or d != d.to_integral_value():
        raise ValueError(f"{symbol}: {key} is not a whole number of decimal places: {value!r}")
    return int(d)
