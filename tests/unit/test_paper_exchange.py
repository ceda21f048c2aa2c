"""engine.exchanges.paper: the in-memory exchange that fills against the top of book."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.clock import ManualClock
from engine.exchanges.base import ExchangeOrder, ExecutionReport
from engine.exchanges.paper import PaperExchange
from engine.model import BookTicker
from engine.symbols import SymbolCatalog, paper_symbol

D = Decimal
T0 = 1_700_000_000_000
MAKER = D("0.0002")
TAKER = D("0.0005")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def exchange(clock: ManualClock) -> PaperExchange:
    return PaperExchange(SymbolCatalog([paper_symbol("BTCUSDT")]), clock, maker_fee=MAKER, taker_fee=TAKER)


def top(bid: str, ask: str, time: int = T0) -> BookTicker:
    return BookTicker(symbol="BTCUSDT", bid=D(bid), bid_qty=D(1), ask=D(ask), ask_qty=D(1), last=D(bid), time=time)


def order(
    order_id: str = "o1", side: str = "BUY", type: str = "MARKET", quantity: str | None = None,
    quote: str | None = None, price: str | None = None, **kw: object,
) -> ExchangeOrder:
    return ExchangeOrder(
        user_id="alice",
        order_id=order_id,
        client_order_id=f"c-{order_id}",
        symbol="BTCUSDT",
        side=side,  # type: ignore[arg-type]
        type=type,  # type: ignore[arg-type]
        quantity=None if quantity is None else D(quantity),
        quote_quantity=None if quote is None else D(quote),
        price=None if price is None else D(price),
        **kw,  # type: ignore[arg-type]
    )


def only_fill(report: ExecutionReport):  # noqa: ANN201
    assert len(report.fills) == 1, report
    return report.fills[0]


# -- market orders ------------------------------------------------------------------------------


def test_market_buy_by_quantity_fills_at_the_ask_with_taker_fee_in_base(exchange: PaperExchange, clock: ManualClock) -> None:
    exchange.on_book(top("80000.00", "80000.50"))
    clock.advance(7)
    report = exchange.submit(order(quantity="0.01"))
    assert report.status == "FILLED"
    assert (report.user_id, report.order_id, report.time) == ("alice", "o1", T0 + 7)
    f = only_fill(report)
    assert f.trade_id == "o1-1"
    assert f.price == D("80000.50")
    assert f.quantity == D("0.01")
    assert f.quote == D("800.0050")
    assert (f.fee, f.fee_asset) == (D("0.000005"), "BTC")
    assert f.is_maker is False
    assert f.time == T0 + 7


def test_market_sell_by_quantity_fills_at_the_bid_with_taker_fee_in_quote(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.50"))
    f = only_fill(exchange.submit(order(side="SELL", quantity="0.01")))
    assert f.price == D(80000)
    assert f.quantity == D("0.01")
    assert f.quote == D(800)
    assert (f.fee, f.fee_asset) == (D("0.4"), "USDT")
    assert f.is_maker is False


def test_market_buy_by_quote_spends_exactly_the_quote_at_the_ask(exchange: PaperExchange) -> None:
    exchange.on_book(top("79999.99", "80000"))
    report = exchange.submit(order(quote="100", max_quote=D(100)))
    assert report.status == "FILLED"
    f = only_fill(report)
    assert f.price == D(80000)
    assert f.quote == D(100)
    assert f.quantity == D("0.00125")
    assert (f.fee, f.fee_asset) == (D("0.000000625"), "BTC")


def test_market_sell_by_quote_receives_exactly_the_quote_at_the_bid(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    f = only_fill(exchange.submit(order(side="SELL", quote="100", max_base=D("0.0013"))))
    assert f.price == D(80000)
    assert f.quote == D(100)
    assert f.quantity == D("0.00125")
    assert (f.fee, f.fee_asset) == (D("0.05"), "USDT")


def test_market_order_without_a_book_is_rejected(exchange: PaperExchange) -> None:
    report = exchange.submit(order(quote="100"))
    assert report.status == "REJECTED"
    assert report.fills == ()
    assert report.reason


def test_market_sell_with_no_bid_is_rejected(exchange: PaperExchange) -> None:
    exchange.on_book(top("0", "80000"))
    report = exchange.submit(order(side="SELL", quantity="0.01"))
    assert report.status == "REJECTED"
    assert report.fills == ()


def test_market_order_does_not_rest(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    exchange.submit(order(quantity="0.01"))
    assert exchange.open_order_count() == 0
    assert exchange.on_book(top("1", "2")) == []


# -- protection ------------------------------------------------------------------------------------


def test_max_quote_caps_a_market_buy_and_reports_canceled_with_a_partial_fill(exchange: PaperExchange) -> None:
    exchange.on_book(top("29999.99", "30000"))
    report = exchange.submit(order(quantity="1", max_quote=D(1000)))
    assert report.status == "CANCELED"
    assert report.reason is not None and "protection" in report.reason
    f = only_fill(report)
    assert f.quantity == D("0.033333")  # 1000 / 30000 truncated to the base precision
    assert f.quote == D("999.99")
    assert f.quote <= D(1000)
    assert f.price == D(30000)


def test_market_buy_within_max_quote_fills_completely(exchange: PaperExchange) -> None:
    exchange.on_book(top("29999.99", "30000"))
    report = exchange.submit(order(quantity="0.03", max_quote=D(1000)))
    assert report.status == "FILLED"
    assert only_fill(report).quantity == D("0.03")


def test_max_base_caps_a_market_sell_by_quote(exchange: PaperExchange) -> None:
    exchange.on_book(top("50000", "50000.01"))
    report = exchange.submit(order(side="SELL", quote="100", max_base=D("0.001")))  # 100 needs 0.002
    assert report.status == "CANCELED"
    f = only_fill(report)
    assert f.quantity == D("0.001")
    assert f.quote == D(50)


def test_protection_too_small_for_one_unit_cancels_without_a_fill(exchange: PaperExchange) -> None:
    exchange.on_book(top("99999", "100000"))
    report = exchange.submit(order(quantity="1", max_quote=D("0.05")))  # less than 0.000001 BTC
    assert report.status == "CANCELED"
    assert report.fills == ()


# -- limit orders --------------------------------------------------------------------------------


def test_limit_buy_below_the_market_rests_as_new(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    report = exchange.submit(order(type="LIMIT", quantity="0.01", price="79000"))
    assert report.status == "NEW"
    assert report.fills == ()
    assert exchange.open_order_count() == 1
    assert exchange.query("o1").status == "NEW"


def test_resting_buy_fills_as_maker_at_its_own_price_when_the_ask_reaches_it(
    exchange: PaperExchange, clock: ManualClock
) -> None:
    exchange.on_book(top("80000", "80000.01"))
    exchange.submit(order(type="LIMIT", quantity="0.01", price="79000"))
    assert exchange.on_book(top("79000.01", "79000.02")) == []  # not yet
    clock.advance(1000)
    reports = exchange.on_book(top("78999", "79000"))
    assert len(reports) == 1
    report = reports[0]
    assert report.status == "FILLED"
    assert report.time == T0 + 1000
    f = only_fill(report)
    assert f.trade_id == "o1-1"
    assert f.price == D(79000)
    assert f.quantity == D("0.01")
    assert f.quote == D(790)
    assert f.is_maker is True
    assert (f.fee, f.fee_asset) == (D("0.000002"), "BTC")
    assert exchange.open_order_count() == 0
    assert exchange.query("o1") == report


def test_resting_buy_fills_at_its_own_price_when_the_ask_gaps_below_it(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    exchange.submit(order(type="LIMIT", quantity="0.01", price="79000"))
    [report] = exchange.on_book(top("70000", "70000.01"))
    assert only_fill(report).price == D(79000)
    assert only_fill(report).is_maker is True


def test_resting_sell_fills_as_maker_with_fee_in_quote_when_the_bid_reaches_it(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    assert exchange.submit(order(side="SELL", type="LIMIT", quantity="0.5", price="81000")).status == "NEW"
    assert exchange.on_book(top("80999.99", "81000")) == []  # the ask is not what a sell waits for
    [report] = exchange.on_book(top("81000", "81000.01"))
    f = only_fill(report)
    assert report.status == "FILLED"
    assert f.price == D(81000)
    assert f.quote == D(40500)
    assert (f.fee, f.fee_asset) == (D("8.1"), "USDT")
    assert f.is_maker is True


def test_book_update_fills_crossed_orders_best_price_first_then_oldest(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    exchange.submit(order("low", type="LIMIT", quantity="0.01", price="79000"))
    exchange.submit(order("high", type="LIMIT", quantity="0.01", price="79500"))
    exchange.submit(order("high2", type="LIMIT", quantity="0.01", price="79500"))
    exchange.submit(order("far", type="LIMIT", quantity="0.01", price="70000"))
    reports = exchange.on_book(top("78000", "78500"))
    assert [r.order_id for r in reports] == ["high", "high2", "low"]
    assert exchange.open_order_count() == 1
    assert exchange.query("far").status == "NEW"


def test_limit_order_without_a_book_rests(exchange: PaperExchange) -> None:
    assert exchange.submit(order(type="LIMIT", quantity="0.01", price="79000")).status == "NEW"
    assert exchange.open_order_count() == 1


def test_crossing_limit_buy_fills_at_once_as_taker_at_the_ask(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    report = exchange.submit(order(type="LIMIT", quantity="0.01", price="81000"))
    assert report.status == "FILLED"
    f = only_fill(report)
    assert f.price == D("80000.01")  # the book's price, not the limit
    assert f.quote == D("800.0001")
    assert f.is_maker is False
    assert (f.fee, f.fee_asset) == (D("0.000005"), "BTC")
    assert exchange.open_order_count() == 0


def test_crossing_limit_sell_fills_at_once_as_taker_at_the_bid(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    report = exchange.submit(order(side="SELL", type="LIMIT", quantity="0.01", price="80000"))
    assert report.status == "FILLED"
    f = only_fill(report)
    assert f.price == D(80000)
    assert f.is_maker is False
    assert (f.fee, f.fee_asset) == (D("0.4"), "USDT")


# -- cancel ------------------------------------------------------------------------------------------


def test_cancel_of_a_resting_order_reports_canceled_and_it_never_fills(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    exchange.submit(order(type="LIMIT", quantity="0.01", price="79000"))
    report = exchange.cancel("o1")
    assert report is not None
    assert report.status == "CANCELED"
    assert report.fills == ()
    assert exchange.open_order_count() == 0
    assert exchange.on_book(top("70000", "70000.01")) == []
    assert exchange.query("o1") == report


def test_cancel_of_one_order_leaves_the_others_resting(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    exchange.submit(order("a", type="LIMIT", quantity="0.01", price="79000"))
    exchange.submit(order("b", type="LIMIT", quantity="0.01", price="79000"))
    exchange.submit(order("c", type="LIMIT", quantity="0.01", price="79000"))
    exchange.cancel("b")
    reports = exchange.on_book(top("78000", "78000.01"))
    assert [r.order_id for r in reports] == ["a", "c"]


def test_cancel_of_an_unknown_order_is_none(exchange: PaperExchange) -> None:
    assert exchange.cancel("nope") is None


def test_cancel_of_a_filled_order_returns_its_final_report(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    filled = exchange.submit(order(quantity="0.01"))
    assert exchange.cancel("o1") == filled


# -- resends and restarts -------------------------------------------------------------------------------


def test_submitting_the_same_limit_order_twice_creates_one_order(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    first = exchange.submit(order(type="LIMIT", quantity="0.01", price="79000"))
    again = exchange.submit(order(type="LIMIT", quantity="0.01", price="79000"))
    assert again.status == first.status == "NEW"
    assert exchange.open_order_count() == 1
    assert len(exchange.on_book(top("78000", "78000.01"))) == 1


def test_submitting_the_same_market_order_twice_fills_it_once(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    first = exchange.submit(order(quantity="0.01"))
    exchange.on_book(top("90000", "90000.01"))
    again = exchange.submit(order(quantity="0.01"))
    assert again == first
    assert only_fill(again).price == D("80000.01")


def test_restore_puts_back_a_resting_order(clock: ManualClock) -> None:
    fresh = PaperExchange(SymbolCatalog([paper_symbol("BTCUSDT")]), clock, maker_fee=MAKER, taker_fee=TAKER)
    fresh.restore(order(type="LIMIT", quantity="0.01", price="79000"))
    fresh.restore(order(type="LIMIT", quantity="0.01", price="79000"))  # twice is still one order
    assert fresh.open_order_count() == 1
    assert fresh.query("o1").status == "NEW"
    assert fresh.on_book(top("79500", "79500.01")) == []
    [report] = fresh.on_book(top("78000", "79000"))
    assert report.status == "FILLED"
    assert only_fill(report).price == D(79000)


def test_restore_ignores_market_orders(exchange: PaperExchange) -> None:
    exchange.restore(order(quantity="0.01"))
    assert exchange.open_order_count() == 0
    assert exchange.query("o1") is None


def test_restored_order_can_be_canceled(exchange: PaperExchange) -> None:
    exchange.restore(order(type="LIMIT", quantity="0.01", price="79000"))
    assert exchange.cancel("o1").status == "CANCELED"
    assert exchange.open_order_count() == 0


def test_trade_ids_of_a_restored_order_continue_after_fills_so_far(exchange: PaperExchange) -> None:
    exchange.restore(order(type="LIMIT", quantity="0.004", price="79000", fills_so_far=2))
    [report] = exchange.on_book(top("78000", "78500"))
    assert only_fill(report).trade_id == "o1-3"
    assert only_fill(report).quantity == D("0.004")


def test_trade_ids_of_a_resubmitted_resting_order_continue_after_fills_so_far(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    exchange.submit(order(type="LIMIT", quantity="0.004", price="79000", fills_so_far=1))
    [report] = exchange.on_book(top("78000", "78500"))
    assert only_fill(report).trade_id == "o1-2"


def test_trade_ids_of_a_resubmitted_crossing_order_continue_after_fills_so_far(exchange: PaperExchange) -> None:
    exchange.on_book(top("80000", "80000.01"))
    report = exchange.submit(order(type="LIMIT", quantity="0.004", price="81000", fills_so_far=1))
    assert report.status == "FILLED"
    assert only_fill(report).trade_id == "o1-2"


def test_top_returns_the_latest_book_per_symbol(exchange: PaperExchange) -> None:
    assert exchange.top("BTCUSDT") is None
    exchange.on_book(top("1", "2"))
    latest = top("3", "4")
    exchange.on_book(latest)
    assert exchange.top("BTCUSDT") == latest
