"""engine.portfolio: deciding events from commands and evolving state from events."""

from __future__ import annotations

import copy
import random
from decimal import Context, Decimal

import msgspec
import pytest

from engine.errors import AboveMaximum, BelowMinimum, InsufficientBalance, MarketDataUnavailable
from engine.events import AccountOpened, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected
from engine.model import BalanceChange, BookTicker, Fill, Order
from engine.money import divide, round_up
from engine.orders import PlaceOrder, validate
from engine.portfolio import (
    MARKET_RESERVE_BUFFER,
    SNAPSHOT_VERSION,
    PortfolioState,
    decide_close,
    decide_fill,
    decide_open,
    decide_place,
    evolve,
    snapshot_of,
    state_from,
)
from engine.symbols import paper_symbol

D = Decimal
BTC = paper_symbol("BTCUSDT")  # base precision 6, quote precision 2
T0 = 1_700_000_000_000
TAKER = D("0.0005")
MAKER = D("0.0002")
# Expected values are computed without rounding, so "exactly" means exactly.
EXACT = Context(prec=200)


def book(bid: str = "95000", ask: str = "95000.01", symbol: str = "BTCUSDT") -> BookTicker:
    return BookTicker(
        symbol=symbol, bid=D(bid), bid_qty=D(1), ask=D(ask), ask_qty=D(1), last=D(bid), time=T0
    )


def opened(usdt: str = "10000", btc: str = "0", user: str = "alice") -> PortfolioState:
    state = PortfolioState(user)
    evolve(state, decide_open(state, {"USDT": D(usdt), "BTC": D(btc)}, T0, "test"))
    return state


def limit(side: str, quantity: str, price: str, **kw: object) -> PlaceOrder:
    return PlaceOrder(symbol="BTCUSDT", side=side, type="LIMIT", quantity=D(quantity), price=D(price), **kw)  # type: ignore[arg-type]


def market(side: str, quantity: str | None = None, quote: str | None = None) -> PlaceOrder:
    return PlaceOrder(
        symbol="BTCUSDT",
        side=side,  # type: ignore[arg-type]
        type="MARKET",
        quantity=None if quantity is None else D(quantity),
        quote_quantity=None if quote is None else D(quote),
    )


def place(state: PortfolioState, cmd: PlaceOrder, top: BookTicker | None = None, order_id: str = "o1") -> Order:
    event = decide_place(state, cmd, BTC, top, order_id=order_id, client_order_id=f"c-{order_id}", now=T0 + 1)
    evolve(state, event)
    return state.orders[order_id]


def fill(
    order: Order, trade: int, price: str | Decimal, quantity: str | Decimal, *, quote: Decimal | None = None,
    rate: Decimal = D(0), maker: bool = True,
) -> Fill:
    price, quantity = D(price), D(quantity)
    quote = quantity * price if quote is None else quote
    fee, fee_asset = (EXACT.multiply(quantity, rate), "BTC") if order.side == "BUY" else (EXACT.multiply(quote, rate), "USDT")
    return Fill(
        trade_id=f"{order.id}-{trade}", price=price, quantity=quantity, quote=quote, fee=fee,
        fee_asset=fee_asset, is_maker=maker, time=T0 + 10 + trade,
    )


def apply_fill(state: PortfolioState, order: Order, f: Fill, status: str) -> OrderFilled:
    event = decide_fill(order, BTC, f, status)  # type: ignore[arg-type]
    assert event is not None
    evolve(state, event)
    return event


def bal(state: PortfolioState, asset: str) -> tuple[Decimal, Decimal]:
    balance = state.balance(asset)
    return balance.free, balance.locked


def balances(state: PortfolioState) -> dict[str, tuple[Decimal, Decimal]]:
    return {asset: (b.free, b.locked) for asset, b in state.balances.items()}


# -- decide_open ------------------------------------------------------------------------------------


def test_decide_open_deposits_each_nonzero_asset_as_free_balance() -> None:
    state = PortfolioState("alice")
    event = decide_open(state, {"USDT": D("10000"), "BTC": D("0.5"), "ETH": D(0)}, T0, "paper start")
    assert isinstance(event, AccountOpened)
    assert event.user_id == "alice"
    assert event.reason == "paper start"
    assert event.changes == (BalanceChange("BTC", free=D("0.5")), BalanceChange("USDT", free=D("10000")))
    assert not state.opened and state.balances == {}  # deciding changes nothing
    evolve(state, event)
    assert state.opened
    assert balances(state) == {"BTC": (D("0.5"), D(0)), "USDT": (D(10000), D(0))}


# -- decide_place: reservations ------------------------------------------------------------------------


def test_limit_buy_reserves_quantity_times_price_in_quote() -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.01", "95000.01"))
    assert order.status == "NEW"
    assert order.reserved_asset == "USDT"
    assert order.reserved == D("950.0001")
    assert bal(state, "USDT") == (D("9049.9999"), D("950.0001"))


def test_limit_sell_reserves_the_base_quantity() -> None:
    state = opened("0", btc="0.5")
    order = place(state, limit("SELL", "0.2", "96000"))
    assert order.reserved_asset == "BTC"
    assert order.reserved == D("0.2")
    assert bal(state, "BTC") == (D("0.3"), D("0.2"))
    assert bal(state, "USDT") == (D(0), D(0))


def test_market_buy_by_quote_reserves_exactly_the_quote() -> None:
    state = opened("10000")
    order = place(state, market("BUY", quote="100"), book())
    assert order.reserved_asset == "USDT"
    assert order.reserved == D("100")
    assert bal(state, "USDT") == (D(9900), D(100))


def test_market_buy_by_quantity_reserves_ask_times_quantity_plus_buffer_rounded_up() -> None:
    assert D("0.005") == MARKET_RESERVE_BUFFER
    state = opened("10000")
    order = place(state, market("BUY", quantity="0.01"), book("95000", "95000.01"))
    # 0.01 * 95000.01 * 1.005 = 954.7501005, rounded up to 2 places
    assert order.reserved == D("954.76")
    assert bal(state, "USDT") == (D("9045.24"), D("954.76"))


def test_market_buy_by_quantity_reservation_that_is_exact_is_not_rounded_further() -> None:
    state = opened("10000")
    order = place(state, market("BUY", quantity="0.1"), book("999", "1000"))
    assert order.reserved == D("100.50")  # 0.1 * 1000 * 1.005 exactly


def test_market_sell_by_quantity_reserves_the_base_quantity() -> None:
    state = opened("0", btc="1")
    order = place(state, market("SELL", quantity="0.25"), book())
    assert order.reserved_asset == "BTC"
    assert order.reserved == D("0.25")
    assert bal(state, "BTC") == (D("0.75"), D("0.25"))


def test_market_sell_by_quote_reserves_quote_over_bid_plus_buffer_in_base() -> None:
    state = opened("0", btc="1")
    order = place(state, market("SELL", quote="100"), book("95000", "95000.01"))
    # 100 / 95000 = 0.00105263..., * 1.005 = 0.00105789..., rounded up to 6 places
    assert order.reserved_asset == "BTC"
    assert order.reserved == D("0.001058")
    assert order.reserved == round_up(divide(D(100), D(95000)) * D("1.005"), 6)
    assert bal(state, "BTC") == (D("0.998942"), D("0.001058"))


def test_market_sell_by_quote_reserves_at_most_the_free_base() -> None:
    state = opened("0", btc="0.001055")  # enough for 100/95000, not for the buffer
    order = place(state, market("SELL", quote="100"), book("95000", "95000.01"))
    assert order.reserved == D("0.001055")
    assert bal(state, "BTC") == (D(0), D("0.001055"))


def test_market_sell_by_quote_without_enough_base_is_refused_in_base_terms() -> None:
    state = opened("100000", btc="0.001")
    before = copy.deepcopy(balances(state))
    with pytest.raises(InsufficientBalance) as caught:
        decide_place(state, market("SELL", quote="100"), BTC, book("95000", "95000.01"), order_id="o1",
                     client_order_id="c", now=T0)
    assert caught.value.details["asset"] == "BTC"
    assert caught.value.details["free"] == "0.001"
    assert balances(state) == before and state.orders == {}


def test_market_sell_by_quote_with_zero_bid_is_market_data_unavailable() -> None:
    state = opened("0", btc="1")
    with pytest.raises(MarketDataUnavailable):
        decide_place(state, market("SELL", quote="100"), BTC, book("0", "1"), order_id="o1",
                     client_order_id="c", now=T0)


def test_placed_order_carries_the_request_and_the_ids() -> None:
    state = opened("10000")
    cmd = limit("BUY", "0.01", "90000", idempotency_key="idem-1", client_order_id="mine")
    event = decide_place(state, cmd, BTC, None, order_id="o9", client_order_id="cbkxyz", now=T0 + 5)
    assert isinstance(event, OrderAccepted)
    assert event.order.id == "o9"
    assert event.order.user_id == "alice"
    assert event.order.client_order_id == "cbkxyz"
    assert (event.order.side, event.order.type, event.order.quantity, event.order.price) == (
        "BUY", "LIMIT", D("0.01"), D("90000"))
    assert event.order.created_at == event.time == T0 + 5
    assert event.changes == (BalanceChange("USDT", free=D(-900), locked=D(900)),)
    evolve(state, event)
    assert state.existing_order_id(cmd) == "o9"
    assert state.existing_order_id(msgspec.structs.replace(cmd, client_order_id=None)) == "o9"
    # Found by the client order id the order has, not by one the request carried.
    assert state.existing_order_id(msgspec.structs.replace(cmd, idempotency_key=None)) is None
    assert state.existing_order_id(msgspec.structs.replace(cmd, idempotency_key=None, client_order_id="cbkxyz")) == "o9"
    assert state.existing_order_id(limit("BUY", "0.01", "90000", idempotency_key="other")) is None


# -- decide_place: refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usdt", "btc", "cmd", "asset"),
    [
        ("949", "0", limit("BUY", "0.01", "95000"), "USDT"),
        ("99.99", "0", market("BUY", quote="100"), "USDT"),
        ("954.75", "0", market("BUY", quantity="0.01"), "USDT"),  # needs 954.76 with the buffer
        ("100000", "0.009", limit("SELL", "0.01", "95000"), "BTC"),
        ("100000", "0.009", market("SELL", quantity="0.01"), "BTC"),
    ],
)
def test_reservation_above_free_balance_is_insufficient_and_changes_nothing(
    usdt: str, btc: str, cmd: PlaceOrder, asset: str
) -> None:
    state = opened(usdt, btc)
    place(state, limit("BUY", "0.0001", "95000"), order_id="existing")  # 9.5 USDT already locked
    before_balances = copy.deepcopy(balances(state))
    before_orders = copy.deepcopy(state.orders)
    with pytest.raises(InsufficientBalance) as caught:
        decide_place(state, cmd, BTC, book("95000", "95000.01"), order_id="o1", client_order_id="c", now=T0)
    assert caught.value.details["asset"] == asset
    assert balances(state) == before_balances
    assert state.orders == before_orders


def test_reservation_equal_to_free_balance_is_accepted() -> None:
    state = opened("950")
    order = place(state, limit("BUY", "0.01", "95000"))
    assert order.reserved == D(950)
    assert bal(state, "USDT") == (D(0), D(950))


def test_second_order_cannot_use_funds_locked_by_the_first() -> None:
    state = opened("1000")
    place(state, limit("BUY", "0.01", "95000"), order_id="first")
    with pytest.raises(InsufficientBalance):
        decide_place(state, limit("BUY", "0.001", "95000"), BTC, None, order_id="second", client_order_id="c", now=T0)


@pytest.mark.parametrize(
    ("cmd", "top"),
    [
        (limit("BUY", "0.00001", "95000"), None),  # 0.95 USDT
        (market("BUY", quote="0.99"), book()),
        (market("SELL", quantity="0.00001"), book("95000", "95000.01")),  # 0.95 at the bid
    ],
)
def test_order_worth_less_than_min_notional_is_below_minimum(cmd: PlaceOrder, top: BookTicker | None) -> None:
    state = opened("10000", btc="1")
    validate(cmd, BTC)  # passes the symbol's own rules
    with pytest.raises(BelowMinimum):
        decide_place(state, cmd, BTC, top, order_id="o1", client_order_id="c", now=T0)
    assert state.orders == {}


def test_order_worth_exactly_min_notional_is_accepted() -> None:
    state = opened("10000")
    order = place(state, market("BUY", quote="1"), book())
    assert order.reserved == D(1)


LIMITED = msgspec.structs.replace(BTC, max_notional=D(2000), min_notional_market=D(5), max_notional_market=D(1000))


@pytest.mark.parametrize(
    "cmd,top,error",
    [
        (limit("BUY", "0.03", "95000"), None, AboveMaximum),  # 2850 > 2000
        (market("BUY", quote="1001"), book(), AboveMaximum),  # a MARKET order has its own maximum
        (market("BUY", quantity="0.011"), book(), AboveMaximum),  # ~1045 at the ask
        (market("BUY", quote="4"), book(), BelowMinimum),  # and its own minimum
    ],
)
def test_the_exchanges_notional_limits_are_checked_per_order_type(cmd: PlaceOrder, top: BookTicker | None, error: type) -> None:
    state = opened("100000")
    with pytest.raises(error):
        decide_place(state, cmd, LIMITED, top, order_id="o1", client_order_id="c1", now=T0)
    assert state.orders == {}


def test_orders_within_the_exchanges_limits_are_accepted() -> None:
    state = opened("100000")
    for n, (cmd, top) in enumerate([(limit("BUY", "0.02", "95000"), None), (market("BUY", quote="1000"), book()), (limit("BUY", "0.0001", "95000"), None)]):
        evolve(state, decide_place(state, cmd, LIMITED, top, order_id=f"o{n}", client_order_id=f"c{n}", now=T0))
    assert len(state.orders) == 3  # 9.5 USDT LIMIT is fine: the MARKET minimum is not its


@pytest.mark.parametrize(
    "cmd", [market("BUY", quote="100"), market("BUY", quantity="0.01"), market("SELL", quantity="0.01"),
            market("SELL", quote="100")]
)
def test_market_order_without_a_book_is_market_data_unavailable(cmd: PlaceOrder) -> None:
    state = opened("10000", btc="1")
    with pytest.raises(MarketDataUnavailable):
        decide_place(state, cmd, BTC, None, order_id="o1", client_order_id="c", now=T0)
    assert state.orders == {}


def test_limit_order_without_a_book_is_accepted() -> None:
    state = opened("10000")
    assert place(state, limit("BUY", "0.01", "95000"), None).status == "NEW"


# -- decide_fill -----------------------------------------------------------------------------------------


def test_market_buy_by_quote_fill_moves_exactly_the_quote_and_the_net_base() -> None:
    price = D("95123.47")
    state = opened("10000")
    order = place(state, market("BUY", quote="100"), book("95123.46", str(price)))
    quantity = divide(D(100), price)  # what the exchange buys for 100 USDT: 28 significant digits
    fee = EXACT.multiply(quantity, TAKER)
    event = apply_fill(state, order, fill(order, 1, price, quantity, quote=D(100), rate=TAKER, maker=False), "FILLED")
    assert bal(state, "USDT") == (D(9900), D(0))
    assert EXACT.subtract(EXACT.add(*bal(state, "USDT")), D(10000)) == D(-100)
    assert bal(state, "BTC") == (EXACT.subtract(quantity, fee), D(0))
    assert event.status == "FILLED"
    assert order.status == "FILLED"
    assert order.reserved == D(0)
    assert order.executed_quantity == quantity
    assert order.executed_quote == D(100)
    assert (order.fee, order.fee_asset) == (fee, "BTC")


def test_a_fill_completing_the_quantity_ends_the_order_though_reported_as_partial() -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.01", "94000"))
    first = apply_fill(state, order, fill(order, 1, "93000", "0.004"), "PARTIALLY_FILLED")
    assert first.status == "PARTIALLY_FILLED" and order.is_open
    last = apply_fill(state, order, fill(order, 2, "93000", "0.006"), "PARTIALLY_FILLED")  # a deal push ahead of the order push
    assert last.status == "FILLED" and order.status == "FILLED"
    assert order.reserved == D(0)
    assert balances(state) == {"USDT": (D(10000) - D(930), D(0)), "BTC": (D("0.01"), D(0))}  # the price improvement came back


def test_limit_buy_filling_at_its_price_spends_the_reservation() -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.01", "95000"))
    event = apply_fill(state, order, fill(order, 1, "95000", "0.01", rate=MAKER), "FILLED")
    assert event.changes == (
        BalanceChange("BTC", free=D("0.01") - D("0.000002")),
        BalanceChange("USDT", free=D(0), locked=D(-950)),
    )
    assert balances(state) == {"USDT": (D(9050), D(0)), "BTC": (D("0.009998"), D(0))}
    assert order.status == "FILLED"
    assert order.reserved == D(0)
    assert len(order.fills) == 1


def test_limit_buy_filling_below_its_price_releases_the_difference() -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.01", "95000"))
    apply_fill(state, order, fill(order, 1, "94000", "0.01", maker=False), "FILLED")
    assert bal(state, "USDT") == (D(9060), D(0))  # paid 940, 10 returned
    assert bal(state, "BTC") == (D("0.01"), D(0))


def test_limit_sell_fill_pays_the_fee_in_quote() -> None:
    state = opened("0", btc="1")
    order = place(state, limit("SELL", "0.5", "100000"))
    apply_fill(state, order, fill(order, 1, "100000", "0.5", rate=MAKER), "FILLED")
    assert bal(state, "BTC") == (D("0.5"), D(0))
    assert bal(state, "USDT") == (D(50000) - D(10), D(0))
    assert order.fee_asset == "USDT"


def test_market_buy_by_quantity_fill_releases_the_unused_buffer() -> None:
    state = opened("10000")
    order = place(state, market("BUY", quantity="0.01"), book("95000", "95000.01"))
    assert order.reserved == D("954.76")
    apply_fill(state, order, fill(order, 1, "95000.01", "0.01", rate=TAKER, maker=False), "FILLED")
    assert bal(state, "USDT") == (D(10000) - D("950.0001"), D(0))
    assert bal(state, "BTC") == (D("0.01") - D("0.000005"), D(0))


def test_market_sell_by_quote_fill_releases_the_unsold_base() -> None:
    state = opened("0", btc="1")
    order = place(state, market("SELL", quote="100"), book("95000", "95000.01"))
    quantity = divide(D(100), D(95000))
    apply_fill(state, order, fill(order, 1, "95000", quantity, quote=D(100), rate=TAKER, maker=False), "FILLED")
    assert bal(state, "BTC") == (EXACT.subtract(D(1), quantity), D(0))
    assert bal(state, "USDT") == (D("99.95"), D(0))


def test_partial_fills_then_cancel_release_the_rest() -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.03", "90000"))  # reserves 2700
    apply_fill(state, order, fill(order, 1, "90000", "0.01"), "PARTIALLY_FILLED")
    assert order.status == "PARTIALLY_FILLED"
    assert order.reserved == D(1800)
    assert bal(state, "USDT") == (D(7300), D(1800))
    apply_fill(state, order, fill(order, 2, "90000", "0.005"), "PARTIALLY_FILLED")
    assert order.reserved == D(1350)
    assert order.executed_quantity == D("0.015")
    event = decide_close(order, "CANCELED", "canceled by user", T0 + 100)
    assert isinstance(event, OrderCanceled)
    assert event.changes == (BalanceChange("USDT", free=D(1350), locked=D(-1350)),)
    evolve(state, event)
    # evolve() changed the status; mypy still holds it narrowed by the assertion above.
    assert order.status == "CANCELED"  # type: ignore[comparison-overlap]
    assert order.reason == "canceled by user"
    assert order.reserved == D(0)
    assert balances(state) == {"USDT": (D(10000) - D(1350), D(0)), "BTC": (D("0.015"), D(0))}


@pytest.mark.parametrize(
    "reported, ends_as",
    [
        pytest.param("PARTIALLY_FILLED", "CANCELED", id="a late fill reported as partial leaves the order as it ended"),
        pytest.param("CANCELED", "CANCELED", id="a late fill of a canceled order keeps it canceled"),
        pytest.param("FILLED", "FILLED", id="the exchange naming another end sets it"),
    ],
)
def test_a_fill_that_comes_after_the_order_closed_is_applied_from_free(reported: str, ends_as: str) -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.02", "90000"))  # reserves 1800
    apply_fill(state, order, fill(order, 1, "90000", "0.01"), "PARTIALLY_FILLED")
    evolve(state, decide_close(order, "CANCELED", "canceled by user", T0 + 100))  # releases 900
    assert balances(state) == {"USDT": (D(9100), D(0)), "BTC": (D("0.01"), D(0))}

    late = apply_fill(state, order, fill(order, 2, "89000", "0.01"), reported)  # it traded before the cancel landed
    assert late.changes == (BalanceChange("BTC", free=D("0.01")), BalanceChange("USDT", free=D(-890)))
    assert balances(state) == {"USDT": (D(8210), D(0)), "BTC": (D("0.02"), D(0))}
    assert (order.status, order.executed_quantity, order.executed_quote) == (ends_as, D("0.02"), D(1790))
    assert order.reserved == 0 and not order.is_open


def test_duplicate_trade_id_is_ignored() -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.02", "90000"))
    first = fill(order, 1, "90000", "0.01")
    apply_fill(state, order, first, "PARTIALLY_FILLED")
    after_first = copy.deepcopy(balances(state))
    assert decide_fill(order, BTC, first, "PARTIALLY_FILLED") is None
    assert decide_fill(order, BTC, first, "FILLED") is None
    assert balances(state) == after_first
    assert decide_fill(order, BTC, fill(order, 2, "90000", "0.01"), "FILLED") is not None


def test_decide_fill_does_not_change_the_order() -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.01", "90000"))
    before = order.snapshot()
    decide_fill(order, BTC, fill(order, 1, "90000", "0.01"), "FILLED")
    assert order == before


# -- decide_close ----------------------------------------------------------------------------------------


def test_cancel_of_an_open_order_releases_its_whole_reservation() -> None:
    state = opened("0", btc="1")
    order = place(state, limit("SELL", "0.4", "99000"))
    evolve(state, decide_close(order, "CANCELED", "canceled by user", T0 + 5))
    assert bal(state, "BTC") == (D(1), D(0))
    assert order.status == "CANCELED"
    assert order.updated_at == T0 + 5
    assert state.open_orders() == []


def test_reject_releases_the_reservation_as_order_rejected() -> None:
    state = opened("10000")
    order = place(state, market("BUY", quote="250"), book())
    event = decide_close(order, "REJECTED", "no market price", T0 + 5)
    assert isinstance(event, OrderRejected)
    evolve(state, event)
    assert order.status == "REJECTED"
    assert order.reason == "no market price"
    assert bal(state, "USDT") == (D(10000), D(0))


def test_close_of_an_order_with_nothing_reserved_changes_no_balance() -> None:
    state = opened("10000")
    order = place(state, limit("BUY", "0.01", "90000"))
    apply_fill(state, order, fill(order, 1, "90000", "0.01"), "FILLED")
    assert decide_close(order, "CANCELED", "late", T0 + 9).changes == ()


# -- retired orders and the key index ---------------------------------------------------------------------


def test_an_order_retired_from_memory_keeps_its_keys_in_the_index_and_a_snapshot_adds_them_from_rows() -> None:
    state = opened()
    state.max_closed = 1
    for n in range(3):
        order = place(state, limit("BUY", "0.001", "90000", idempotency_key=f"key-{n}"), order_id=f"o{n}")
        evolve(state, decide_close(order, "CANCELED", "canceled by user", T0 + 2))
    assert list(state.orders) == ["o2"]  # the newest closed one only
    assert state.by_idempotency_key == {"key-0": "o0", "key-1": "o1", "key-2": "o2"}
    assert state.by_client_id == {"c-o0": "o0", "c-o1": "o1", "c-o2": "o2"}
    assert state.existing_order_id(limit("BUY", "0.001", "90000", idempotency_key="key-0")) == "o0"
    assert state.existing_order_id(limit("BUY", "0.001", "90000", client_order_id="c-o1")) == "o1"

    # A snapshot holds the orders in memory (bounded); the rest of the index comes from
    # the journal's projection, as (id, client order id, key, exchange client id) rows.
    restored = state_from(snapshot_of(state), SNAPSHOT_VERSION, max_closed=1)
    assert restored is not None and list(restored.orders) == ["o2"]
    assert restored.by_idempotency_key == {"key-2": "o2"}
    restored.index_keys([("o0", "c-o0", "key-0", None), ("o1", "c-o1", "key-1", None), ("o2", "c-o2", "key-2", None)])
    assert (restored.by_client_id, restored.by_idempotency_key) == (state.by_client_id, state.by_idempotency_key)
    restored.index_keys([("o1", "c-o1", "key-1", "cb-sent-o1")])  # an order the exchange knows by another id
    assert restored.by_client_id["cb-sent-o1"] == "o1"
    assert state_from(snapshot_of(state), SNAPSHOT_VERSION + 1) is None  # another format: replay instead


# -- replay -----------------------------------------------------------------------------------------------


class Session:
    """A random but seeded trading session, with balances tracked independently."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.state = PortfolioState("prop")
        self.events: list[object] = []
        self.now = T0
        self.mid = D(95000)
        self.next_id = 0
        self.expected_total = {"USDT": D(10000), "BTC": D("0.5")}
        self.apply(decide_open(self.state, dict(self.expected_total), self.now, "test"))

    def apply(self, event: object) -> None:
        evolve(self.state, event)  # type: ignore[arg-type]
        self.events.append(event)
        self.check_invariants()

    def book(self) -> BookTicker:
        return book(str(self.mid), str(self.mid + D("0.01")))

    def step(self) -> None:
        self.now += 1000
        action = self.rng.choice(["limit", "limit", "market", "fill", "fill", "cancel", "move", "duplicate"])
        getattr(self, f"do_{action}")()

    def do_move(self) -> None:
        self.mid = max(D(1000), self.mid + D(self.rng.randint(-2000, 2000)))

    def try_place(self, cmd: PlaceOrder) -> Order | None:
        validate(cmd, BTC)
        self.next_id += 1
        order_id = f"o{self.next_id:04d}"
        before = copy.deepcopy(balances(self.state))
        try:
            event = decide_place(self.state, cmd, BTC, self.book(), order_id=order_id,
                                 client_order_id=f"c{order_id}", now=self.now)
        except (InsufficientBalance, BelowMinimum):
            assert balances(self.state) == before
            assert order_id not in self.state.orders
            return None
        self.apply(event)
        return self.state.orders[order_id]

    def do_limit(self) -> None:
        side = self.rng.choice(["BUY", "SELL"])
        quantity = D(self.rng.randint(1, 50_000)).scaleb(-6)
        price = (self.mid * (1 + D(self.rng.randint(-300, 300)).scaleb(-4))).quantize(D("0.01"))
        self.try_place(limit(side, str(quantity), str(price)))

    def do_market(self) -> None:
        side = self.rng.choice(["BUY", "SELL"])
        top = self.book()
        if self.rng.random() < 0.5:
            cmd = market(side, quantity=str(D(self.rng.randint(1, 30_000)).scaleb(-6)))
        else:
            cmd = market(side, quote=str(D(self.rng.randint(100, 300_000)).scaleb(-2)))
        order = self.try_place(cmd)
        if order is None:
            return
        price = top.ask if side == "BUY" else top.bid
        if cmd.quote_quantity is not None:
            quantity, quote = divide(cmd.quote_quantity, price), cmd.quote_quantity
        else:
            assert cmd.quantity is not None
            quantity, quote = cmd.quantity, EXACT.multiply(cmd.quantity, price)
        self.fill(order, price, quantity, quote, TAKER, "FILLED")

    def do_fill(self) -> None:
        open_limits = [o for o in self.state.open_orders() if o.type == "LIMIT"]
        if not open_limits:
            return
        order = self.rng.choice(open_limits)
        assert order.quantity is not None and order.price is not None  # a limit order has both
        remaining = order.quantity - order.executed_quantity
        steps = int(remaining.scaleb(6))
        quantity = D(self.rng.randint(1, steps)).scaleb(-6)
        status = "FILLED" if quantity == remaining else "PARTIALLY_FILLED"
        self.fill(order, order.price, quantity, EXACT.multiply(quantity, order.price), MAKER, status)

    def do_cancel(self) -> None:
        if self.state.open_orders():
            order = self.rng.choice(self.state.open_orders())
            self.apply(decide_close(order, "CANCELED", "canceled by user", self.now))

    def do_duplicate(self) -> None:
        with_fills = [o for o in self.state.orders.values() if o.fills]
        if with_fills:
            order = self.rng.choice(with_fills)
            assert decide_fill(order, BTC, self.rng.choice(order.fills), "FILLED") is None

    def fill(self, order: Order, price: Decimal, quantity: Decimal, quote: Decimal, rate: Decimal, status: str) -> None:
        f = Fill(
            trade_id=f"{order.id}-{len(order.fills) + 1}", price=price, quantity=quantity, quote=quote,
            fee=EXACT.multiply(quantity if order.side == "BUY" else quote, rate),
            fee_asset="BTC" if order.side == "BUY" else "USDT", is_maker=rate == MAKER, time=self.now,
        )
        sign = 1 if order.side == "BUY" else -1
        total = self.expected_total
        total["BTC"] = EXACT.add(total["BTC"], sign * quantity)
        total["USDT"] = EXACT.subtract(total["USDT"], sign * quote)
        total[f.fee_asset] = EXACT.subtract(total[f.fee_asset], f.fee)
        event = decide_fill(order, BTC, f, status)  # type: ignore[arg-type]
        assert event is not None
        self.apply(event)

    def check_invariants(self) -> None:
        for asset, balance in self.state.balances.items():
            assert balance.free >= 0, (asset, balance)
            assert balance.locked >= 0, (asset, balance)
            reserved = sum((o.reserved for o in self.state.open_orders() if o.reserved_asset == asset), D(0))
            assert balance.locked == reserved, (asset, balance, reserved)
            assert EXACT.add(balance.free, balance.locked) == self.expected_total[asset], asset
        for order in self.state.orders.values():
            if not order.is_open:
                assert order.reserved == 0, order


def replay(events: list[object], user: str) -> PortfolioState:
    fresh = PortfolioState(user)
    for event in events:
        evolve(fresh, event)  # type: ignore[arg-type]
    return fresh


@pytest.mark.parametrize("seed", [1, 2, 3, 42, 1234, 99991])
def test_replaying_the_events_into_a_fresh_state_gives_identical_balances_and_orders(seed: int) -> None:
    session = Session(random.Random(seed))
    for _ in range(150):
        session.step()
    live = session.state
    assert any(isinstance(e, OrderFilled) for e in session.events)
    assert any(isinstance(e, OrderCanceled) for e in session.events)

    # The journal's round trip: events are encoded and decoded before replay.
    encoded = [msgspec.json.encode(e) for e in session.events]
    decoded = [msgspec.json.decode(raw, type=AccountOpened | OrderAccepted | OrderFilled | OrderCanceled | OrderRejected)
               for raw in encoded]
    for events in (session.events, decoded):
        again = replay(events, live.user_id)
        assert again.opened is True
        assert balances(again) == balances(live)
        assert {a: (str(f), str(lk)) for a, (f, lk) in balances(again).items()} == {
            a: (str(f), str(lk)) for a, (f, lk) in balances(live).items()
        }
        assert again.orders == live.orders
        assert again.by_client_id == live.by_client_id
        assert again.by_idempotency_key == live.by_idempotency_key
