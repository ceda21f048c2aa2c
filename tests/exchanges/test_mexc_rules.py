"""engine.exchanges.mexc.rules: exchangeInfo's misnamed fields, formatting, pre-send checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from engine.errors import BelowMinimum, InvalidPrice, InvalidQuantity, ValidationFailed
from engine.exchanges.mexc.rules import (
    check_order,
    format_price,
    format_quantity,
    format_quote,
    mexc_symbol_info,
    symbol_info,
)
from engine.model import SymbolInfo

D = Decimal

# A real symbol object (Mexc.Net fixture, recorded 2025-01).
BROCK: dict[str, Any] = {
    "symbol": "BROCKUSDT", "status": "1", "baseAsset": "BROCK", "baseAssetPrecision": 2, "quoteAsset": "USDT",
    "quotePrecision": 5, "quoteAssetPrecision": 5, "baseCommissionPrecision": 2, "quoteCommissionPrecision": 5,
    "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"], "isSpotTradingAllowed": True,
    "isMarginTradingAllowed": False, "quoteAmountPrecision": "1", "baseSizePrecision": "0",
    "permissions": ["SPOT"], "filters": [], "maxQuoteAmount": "2000000", "makerCommission": "0.0005",
    "takerCommission": "0.0005", "quoteAmountPrecisionMarket": "1", "maxQuoteAmountMarket": "100000",
    "fullName": "Bitrock", "tradeSideType": 1,
}

BTC = SymbolInfo(symbol="BTCUSDT", base="BTC", quote="USDT", base_precision=6, quote_precision=2,
                 min_quantity=D("0.000001"), min_notional=D("1"))


def raw(**changes: Any) -> dict[str, Any]:
    return {**BROCK, **changes}


def test_symbol_info_reads_precisions_as_decimal_places_and_misnamed_fields_as_limits() -> None:
    info = symbol_info(BROCK)
    assert info == SymbolInfo(symbol="BROCKUSDT", base="BROCK", quote="USDT", base_precision=2,
                              quote_precision=5, min_quantity=D(0), min_notional=D(1), status="TRADING",
                              max_notional=D(2000000), min_notional_market=D(1), max_notional_market=D(100000))


@pytest.mark.parametrize(
    ("symbol", "base_places", "quote_places", "min_qty"),
    [("ATLASUSDT", 2, 6, "0.0001"), ("ADAUSDT", 2, 4, "0.1"), ("LTCUSDT", 4, 2, "0.001"),
     ("PYTHUSDT", 2, 4, "0"), ("BTCUSDT", 6, 2, "0.000001"), ("ETHUSDT", 5, 2, "0.0001")],
)
def test_symbol_info_matches_ccxts_test_markets(symbol: str, base_places: int, quote_places: int, min_qty: str) -> None:
    info = symbol_info(raw(symbol=symbol, baseAssetPrecision=base_places, quoteAssetPrecision=quote_places,
                           baseSizePrecision=min_qty))
    assert (info.base_precision, info.quote_precision, info.min_quantity) == (base_places, quote_places, D(min_qty))


def test_trailing_zeros_in_limits_are_tolerated_and_dropped() -> None:
    info = symbol_info(raw(quoteAmountPrecision="1.000000000000000000000000000000", baseSizePrecision="0.00100000"))
    assert info.min_notional == D(1) and str(info.min_notional) == "1"
    assert str(info.min_quantity) == "0.001"


def test_precisions_sent_as_strings_are_accepted() -> None:
    info = symbol_info(raw(baseAssetPrecision="6", quoteAssetPrecision="2.000"))
    assert (info.base_precision, info.quote_precision) == (6, 2)


def test_quote_precision_falls_back_to_the_deprecated_field() -> None:
    entry = raw(quotePrecision=3)
    del entry["quoteAssetPrecision"]
    assert symbol_info(entry).quote_precision == 3


def test_a_fractional_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="baseAssetPrecision"):
        symbol_info(raw(baseAssetPrecision="2.5"))


def test_a_float_limit_is_refused_rather_than_trusted() -> None:
    with pytest.raises(ValueError, match="quoteAmountPrecision"):
        symbol_info(raw(quoteAmountPrecision=0.1))


def test_missing_min_notional_keeps_the_models_default_instead_of_zero() -> None:
    entry = dict(BROCK)
    del entry["quoteAmountPrecision"]
    assert symbol_info(entry).min_notional == SymbolInfo(symbol="X", base="X", quote="Y", base_precision=0,
                                                         quote_precision=0).min_notional


@pytest.mark.parametrize(
    ("status", "allowed", "expected"),
    [("1", True, "TRADING"), ("ENABLED", True, "TRADING"), ("2", True, "HALTED"), ("3", True, "HALTED"),
     ("1", False, "HALTED"), ("1", None, "HALTED"), ("1", "true", "TRADING")],
)
def test_trading_only_when_online_and_spot_trading_is_allowed(status: str, allowed: object, expected: str) -> None:
    assert symbol_info(raw(status=status, isSpotTradingAllowed=allowed)).status == expected


def test_mexc_symbol_info_keeps_the_exchange_only_limits() -> None:
    info = mexc_symbol_info(BROCK)
    assert info.symbol == "BROCKUSDT" and info.info == symbol_info(BROCK)
    assert info.order_types == ("LIMIT", "MARKET", "LIMIT_MAKER")
    assert (info.max_notional, info.min_notional_market, info.max_notional_market) == (D(2000000), D(1), D(100000))
    assert str(info.max_notional) == "2000000"  # not 2E+6 once encoded
    assert (info.maker_commission, info.taker_commission) == (D("0.0005"), D("0.0005"))


def test_missing_symbol_name_is_refused() -> None:
    with pytest.raises(ValueError, match="symbol"):
        symbol_info(raw(symbol=None))


# -- formatting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "text"),
    [(D("0.1234567"), "0.123456"), (D("0.9999999"), "0.999999"), (D("1.500000"), "1.5"), (D("2"), "2"),
     (D("0.0000001"), "0")],
)
def test_format_quantity_truncates_to_base_places_without_trailing_zeros(quantity: Decimal, text: str) -> None:
    assert format_quantity(BTC, quantity) == text


@pytest.mark.parametrize(
    ("price", "text"),
    [(D("123.455"), "123.46"), (D("123.454"), "123.45"), (D("100.10"), "100.1"), (D("95000"), "95000"),
     (D("0.005"), "0.01")],
)
def test_format_price_rounds_half_up_to_the_tick(price: Decimal, text: str) -> None:
    assert format_price(BTC, price) == text


def test_format_quote_truncates_to_quote_places() -> None:
    assert format_quote(BTC, D("10.999")) == "10.99"
    assert format_quote(BTC, D("10.50")) == "10.5"


# -- check_order ---------------------------------------------------------------------------


def test_a_valid_limit_order_passes() -> None:
    check_order(BTC, D("0.001"), D("95000.5"), None)


def test_a_valid_market_buy_by_quote_amount_passes() -> None:
    check_order(BTC, None, None, D("25.5"))


def test_too_many_quantity_decimals_is_an_invalid_quantity() -> None:
    with pytest.raises(InvalidQuantity, match="decimal places"):
        check_order(BTC, D("0.0000015"), D("95000"), None)


def test_quantity_below_the_minimum_is_an_invalid_quantity() -> None:
    info = SymbolInfo(symbol="ADAUSDT", base="ADA", quote="USDT", base_precision=2, quote_precision=4,
                      min_quantity=D("0.1"), min_notional=D(1))
    with pytest.raises(InvalidQuantity, match="minimum"):
        check_order(info, D("0.09"), D("100"), None)


def test_zero_or_negative_quantity_is_an_invalid_quantity() -> None:
    with pytest.raises(InvalidQuantity):
        check_order(BTC, D("0"), D("95000"), None)
    with pytest.raises(InvalidQuantity):
        check_order(BTC, D("-1"), D("95000"), None)


def test_too_many_price_decimals_is_an_invalid_price() -> None:
    with pytest.raises(InvalidPrice, match="decimal places"):
        check_order(BTC, D("0.001"), D("95000.123"), None)


def test_non_positive_price_is_an_invalid_price() -> None:
    with pytest.raises(InvalidPrice):
        check_order(BTC, D("0.001"), D("0"), None)


def test_limit_notional_below_the_minimum_is_below_minimum() -> None:
    with pytest.raises(BelowMinimum) as caught:
        check_order(BTC, D("0.00001"), D("95000"), None)  # 0.95 USDT
    assert caught.value.details["min_notional"] == "1"


def test_quote_amount_below_the_minimum_is_below_minimum() -> None:
    with pytest.raises(BelowMinimum):
        check_order(BTC, None, None, D("0.99"))


def test_quote_amount_with_too_many_decimals_is_invalid() -> None:
    with pytest.raises(InvalidQuantity, match="decimal places"):
        check_order(BTC, None, None, D("10.001"))


def test_both_or_neither_quantity_and_quote_amount_are_refused() -> None:
    with pytest.raises(InvalidQuantity):
        check_order(BTC, D("0.001"), None, D("10"))
    with pytest.raises(InvalidQuantity):
        check_order(BTC, None, D("95000"), None)


def test_a_halted_symbol_is_refused_before_sending() -> None:
    halted = SymbolInfo(symbol="BTCUSDT", base="BTC", quote="USDT", base_precision=6, quote_precision=2,
                        status="HALTED")
    with pytest.raises(ValidationFailed, match="not trading"):
        check_order(halted, D("0.001"), D("95000"), None)
