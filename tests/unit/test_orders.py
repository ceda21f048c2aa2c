"""engine.orders: validation of order requests against symbol rules, and order ids."""

from __future__ import annotations

import re
from decimal import Decimal

import msgspec
import pytest

from engine.errors import InvalidPrice, InvalidQuantity, ValidationFailed
from engine.model import SymbolInfo
from engine.orders import CLIENT_ORDER_ID_RE, PlaceOrder, exchange_client_id, is_engine_id, new_order_id, validate
from engine.symbols import paper_symbol

D = Decimal
BTC = paper_symbol("BTCUSDT")  # base precision 6, quote precision 2, min quantity 0.000001
DOGE = paper_symbol("DOGEUSDT")  # base precision 2, quote precision 5, min quantity 1


def limit(side: str = "BUY", quantity: str | None = "0.01", price: str | None = "95000", **kw: object) -> PlaceOrder:
    return PlaceOrder(
        symbol="BTCUSDT",
        side=side,  # type: ignore[arg-type]
        type="LIMIT",
        quantity=None if quantity is None else D(quantity),
        price=None if price is None else D(price),
        **kw,  # type: ignore[arg-type]
    )


def market(side: str = "BUY", quantity: str | None = None, quote: str | None = None, **kw: object) -> PlaceOrder:
    return PlaceOrder(
        symbol="BTCUSDT",
        side=side,  # type: ignore[arg-type]
        type="MARKET",
        quantity=None if quantity is None else D(quantity),
        quote_quantity=None if quote is None else D(quote),
        **kw,  # type: ignore[arg-type]
    )


def refused(cmd: PlaceOrder, info: SymbolInfo = BTC) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        validate(cmd, info)
    return caught.value


# -- valid requests pass ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmd",
    [
        limit("BUY"),
        limit("SELL", quantity="0.000001", price="0.01"),
        market("BUY", quote="100"),
        market("BUY", quantity="0.5"),
        market("SELL", quantity="0.123456"),
        market("SELL", quote="99.99"),
        limit(quantity="0.0100000", price="95000.1000"),  # trailing zeros are not extra places
        limit(client_order_id="my-order_1", idempotency_key="key-123"),
        limit(client_order_id="a" * 36, idempotency_key="~" * 128),
    ],
)
def test_valid_request_passes(cmd: PlaceOrder) -> None:
    validate(cmd, BTC)  # does not raise


# -- LIMIT --------------------------------------------------------------------------------------


def test_limit_without_quantity_is_invalid_quantity() -> None:
    assert type(refused(limit(quantity=None))) is InvalidQuantity


def test_limit_without_price_is_invalid_price() -> None:
    assert type(refused(limit(price=None))) is InvalidPrice


def test_limit_with_quote_quantity_is_refused() -> None:
    cmd = msgspec.structs.replace(limit(), quote_quantity=D(100))
    error = refused(cmd)
    assert "quoteQuantity" in error.message


# -- MARKET -------------------------------------------------------------------------------------


def test_market_with_neither_quantity_nor_quote_is_invalid_quantity() -> None:
    assert type(refused(market())) is InvalidQuantity


def test_market_with_both_quantity_and_quote_is_invalid_quantity() -> None:
    assert type(refused(market(quantity="0.1", quote="100"))) is InvalidQuantity


def test_price_on_market_order_is_invalid_price() -> None:
    cmd = msgspec.structs.replace(market(quote="100"), price=D(95000))
    assert type(refused(cmd)) is InvalidPrice


# -- amounts --------------------------------------------------------------------------------------


BAD_AMOUNTS = ["0", "-1", "-0.01", "NaN", "Infinity", "-Infinity", "sNaN"]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_non_positive_or_non_finite_limit_quantity_is_invalid_quantity(amount: str) -> None:
    assert type(refused(limit(quantity=amount))) is InvalidQuantity


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_non_positive_or_non_finite_market_quantity_is_invalid_quantity(amount: str) -> None:
    assert type(refused(market(quantity=amount))) is InvalidQuantity


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_non_positive_or_non_finite_quote_quantity_is_invalid_quantity(amount: str) -> None:
    assert type(refused(market(quote=amount))) is InvalidQuantity


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_non_positive_or_non_finite_price_is_invalid_price(amount: str) -> None:
    assert type(refused(limit(price=amount))) is InvalidPrice


def test_quantity_with_more_places_than_base_precision_is_invalid_quantity() -> None:
    error = refused(limit(quantity="0.0000011"))  # 7 places, BTC allows 6
    assert type(error) is InvalidQuantity
    assert "6" in error.message


def test_quantity_precision_is_the_base_precision_of_the_symbol() -> None:
    validate(market(quantity="1.25"), DOGE)  # does not raise
    assert type(refused(market(quantity="1.255"), DOGE)) is InvalidQuantity


def test_price_with_more_places_than_quote_precision_is_invalid_price() -> None:
    error = refused(limit(price="95000.001"))  # 3 places, BTC allows 2
    assert type(error) is InvalidPrice
    assert "2" in error.message


def test_price_precision_is_the_quote_precision_of_the_symbol() -> None:
    doge_limit = msgspec.structs.replace(limit(quantity="10", price="0.32001"), symbol="DOGEUSDT")
    validate(doge_limit, DOGE)  # does not raise
    too_fine = msgspec.structs.replace(doge_limit, price=D("0.320001"))
    assert type(refused(too_fine, DOGE)) is InvalidPrice


def test_quote_quantity_with_more_places_than_quote_precision_is_invalid_quantity() -> None:
    assert type(refused(market(quote="100.001"))) is InvalidQuantity


def test_quantity_below_symbol_minimum_is_invalid_quantity() -> None:
    error = refused(market(quantity="0.5"), DOGE)  # DOGE minimum is 1
    assert type(error) is InvalidQuantity
    assert "minimum" in error.message


def test_quantity_equal_to_symbol_minimum_passes() -> None:
    validate(market(quantity="1"), DOGE)  # does not raise


# -- ids on the request ----------------------------------------------------------------------------


@pytest.mark.parametrize("client_order_id", ["", "a" * 37, "has space", "semi;colon", "ünïcode", "a/b"])
def test_bad_client_order_id_is_refused(client_order_id: str) -> None:
    error = refused(limit(client_order_id=client_order_id))
    assert type(error) is ValidationFailed
    assert "clientOrderId" in error.message


@pytest.mark.parametrize("key", ["", "k" * 129, "has space", "tab\tkey", "ключ", "new\nline"])
def test_bad_idempotency_key_is_refused(key: str) -> None:
    error = refused(limit(idempotency_key=key))
    assert type(error) is ValidationFailed
    assert "Idempotency-Key" in error.message


def test_client_order_id_with_trailing_newline_is_refused() -> None:
    error = refused(limit(client_order_id="abc\n"))
    assert "clientOrderId" in error.message


def test_idempotency_key_with_trailing_newline_is_refused() -> None:
    error = refused(limit(idempotency_key="key-1\n"))
    assert "Idempotency-Key" in error.message


def test_order_on_halted_symbol_is_refused() -> None:
    halted = msgspec.structs.replace(BTC, status="HALTED")
    error = refused(limit(), halted)
    assert type(error) is ValidationFailed
    assert "not trading" in error.message


# -- ids ----------------------------------------------------------------------------------------------


def test_an_exchange_id_from_an_idempotency_key_is_the_same_for_a_retry() -> None:
    first = exchange_client_id("alice", "order-a", idempotency_key="key-1")
    again = exchange_client_id("alice", "order-b", idempotency_key="key-1")  # a retry gets a new order id
    assert first == again


def test_an_exchange_id_from_a_client_order_id_is_the_same_for_a_retry_and_never_the_raw_id() -> None:
    first = exchange_client_id("alice", "order-a", client_order_id="dip-1")
    assert first == exchange_client_id("alice", "order-b", client_order_id="dip-1")
    assert "dip-1" not in first


def test_a_key_and_a_client_order_id_of_the_same_text_name_different_orders() -> None:
    assert exchange_client_id("alice", "o", idempotency_key="x") != exchange_client_id("alice", "o", client_order_id="x")


def test_exchange_ids_differ_across_users_with_the_same_key() -> None:
    assert exchange_client_id("alice", "o", idempotency_key="key-1") != exchange_client_id("bob", "o", idempotency_key="key-1")


def test_exchange_ids_differ_across_keys_of_one_user() -> None:
    assert exchange_client_id("alice", "o", idempotency_key="key-1") != exchange_client_id("alice", "o", idempotency_key="key-2")


def test_exchange_ids_are_not_confused_by_user_and_key_boundaries() -> None:
    assert exchange_client_id("ab", "o", idempotency_key="c") != exchange_client_id("a", "o", idempotency_key="bc")


def test_an_exchange_id_without_a_key_comes_from_the_order_id_and_names_its_user() -> None:
    order_id = new_order_id(1_700_000_000_000)
    alice, bob = exchange_client_id("alice", order_id), exchange_client_id("bob", order_id)
    assert alice.endswith(order_id) and bob.endswith(order_id) and alice != bob
    assert is_engine_id(alice, "alice") and not is_engine_id(alice, "bob")


def test_ids_made_elsewhere_are_not_the_engines() -> None:
    assert not is_engine_id("my-own-id", "alice")
    assert not is_engine_id(None, "alice")
    assert not is_engine_id("", "alice")


def test_exchange_ids_are_short_plain_client_order_ids() -> None:
    for made in (
        exchange_client_id("alice", "x", idempotency_key="k" * 128),
        exchange_client_id("alice", "x", client_order_id="c" * 36),
        exchange_client_id("alice", new_order_id(2**48 - 1)),
    ):
        assert CLIENT_ORDER_ID_RE.match(made) and made.isalnum() and len(made) <= 32, made


def test_new_order_id_is_time_ordered() -> None:
    times = [0, 1, 15, 16, 255, 256, 1_700_000_000_000, 1_700_000_000_001, 2**48 - 1]
    ids = [new_order_id(t) for t in times]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_new_order_id_starts_with_the_time_in_fixed_width_hex() -> None:
    order_id = new_order_id(1_700_000_000_000)
    assert re.fullmatch(r"[0-9a-f]{22}", order_id)
    assert int(order_id[:12], 16) == 1_700_000_000_000


def test_new_order_ids_in_the_same_millisecond_are_distinct() -> None:
    ids = {new_order_id(1_700_000_000_000) for _ in range(1000)}
    assert len(ids) == 1000
