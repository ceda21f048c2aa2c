"""The account adapter (orders in, execution reports out) against the simulator over
loopback HTTP: reports say what changed, and only once."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from engine.clock import ManualClock, SystemClock
from engine.exchanges.base import ExchangeOrder
from engine.exchanges.mexc.adapter import MexcAccountAdapter
from engine.exchanges.mexc.codec import PrivateDealPush, PrivateOrderPush, Push
from engine.exchanges.mexc.rest import MexcRestClient
from engine.exchanges.mexc_sim import Simulator
from engine.symbols import SymbolCatalog

KEY, SECRET = "adapter-key", "adapter-secret"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = Simulator(accounts={KEY: (SECRET, {"USDT": "10000"})}, speed=0, history_minutes=5).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def adapter(sim: Simulator) -> Iterator[MexcAccountAdapter]:
    with MexcRestClient(sim.rest_url, KEY, SECRET) as client:
        catalog = SymbolCatalog([s.info for s in client.exchange_info().symbols])
        yield MexcAccountAdapter(client, lambda: catalog, SystemClock(), name="test")


def market_buy(order_id: str, amount: str) -> ExchangeOrder:
    return ExchangeOrder(
        user_id="alice", order_id=order_id, client_order_id=f"c{order_id}", symbol="BTCUSDT", side="BUY",
        type="MARKET", quantity=None, quote_quantity=Decimal(amount), price=None,
    )


def order_push(adapter: MexcAccountAdapter, order: ExchangeOrder, status: int = 2) -> Push:
    """An order push as MEXC sends it for ``order`` (status 2: filled, 3: partially
    filled), built from the exchange's own answer."""
    found = adapter.rest.query_order(order.symbol, client_order_id=order.client_order_id)
    return Push(channel="spot@private.orders.v3.api.pb", symbol=order.symbol, body=PrivateOrderPush(
        id=found.order_id, client_id=order.client_order_id, price=Decimal(0), quantity=found.executed_qty,
        amount=found.cummulative_quote_qty, avg_price=Decimal(0), order_type=5, trade_type=1, is_maker=False,
        remain_amount=Decimal(0), remain_quantity=Decimal(0), cumulative_quantity=found.executed_qty,
        cumulative_amount=found.cummulative_quote_qty, status=status, create_time=found.time,
    ))


def test_a_late_push_repeating_a_reported_fill_yields_no_report(adapter: MexcAccountAdapter) -> None:
    order = market_buy("1", "100")
    [report] = adapter.submit(order, look_after=True)
    assert report.status == "FILLED" and report.fills
    push = order_push(adapter, order)
    assert adapter.on_push(push) == []  # the query already told it all
    assert adapter.on_push(order_push(adapter, order, status=3)) == []  # an update from before the end
    fill = report.fills[0]
    deal = Push(channel="spot@private.deals.v3.api.pb", symbol="BTCUSDT", body=PrivateDealPush(
        price=fill.price, quantity=fill.quantity, amount=fill.quote, trade_type=1, is_maker=False,
        is_self_trade=False, trade_id=fill.trade_id, client_order_id=order.client_order_id,
        order_id=push.body.id, fee_amount=fill.fee, fee_currency=fill.fee_asset, time=fill.time,
    ))
    assert adapter.on_push(deal) == []


def test_an_order_push_with_news_is_reported(adapter: MexcAccountAdapter) -> None:
    order = market_buy("2", "100")
    [ack] = adapter.submit(order)  # no look-after: the ack says NEW
    assert ack.status == "NEW"
    [report] = adapter.on_push(order_push(adapter, order))
    assert report.status == "FILLED" and report.fills  # the missing deals were fetched
    assert adapter.on_push(order_push(adapter, order)) == []  # and said once


@pytest.fixture
def on_a_manual_clock() -> Iterator[tuple[ManualClock, Simulator, MexcAccountAdapter]]:
    """A simulator and an adapter sharing a clock the test moves; no retry waits, no breaker."""
    clock = ManualClock(1_800_000_000_000)
    simulator = Simulator(accounts={KEY: (SECRET, {"USDT": "10000"})}, speed=0, history_minutes=5, clock=clock).start()
    try:
        with MexcRestClient(simulator.rest_url, KEY, SECRET, clock=clock, breaker_threshold=100, sleep=lambda _: None) as client:
            catalog = SymbolCatalog([s.info for s in client.exchange_info().symbols])
            yield clock, simulator, MexcAccountAdapter(client, lambda: catalog, clock, name="test")
    finally:
        simulator.stop()


def test_an_order_the_exchange_says_it_lacks_is_sent_again_only_once_that_stays_true(on_a_manual_clock) -> None:
    clock, simulator, adapter = on_a_manual_clock
    order = ExchangeOrder(
        user_id="alice", order_id="9", client_order_id="c9", symbol="BTCUSDT", side="BUY", type="LIMIT",
        quantity=Decimal("0.001"), quote_quantity=None, price=Decimal("50000"),
    )
    simulator.faults.fail_next(20, status=503)  # the order and every look for it fail unprocessed
    assert adapter.submit(order) == []  # the outcome is unknown
    simulator.faults.clear()
    clock.advance(2_000)
    assert adapter.follow_up() == []  # "no such order" may only mean "not yet"
    clock.advance(2_000)
    assert adapter.follow_up() == []  # still within the grace
    assert simulator.orders_seen(KEY) == []
    clock.advance(1_000)
    [report] = adapter.follow_up()  # still missing three seconds on: it never arrived
    assert report.status == "NEW"
    assert [o.client_order_id for o in simulator.orders_seen(KEY)] == ["c9"]


def test_a_market_order_that_did_not_reach_the_exchange_in_time_is_not_sent_late(on_a_manual_clock) -> None:
    clock, simulator, adapter = on_a_manual_clock
    order = market_buy("10", "100")
    simulator.faults.fail_next(20, status=503)
    assert adapter.submit(order) == []  # the outcome is unknown
    simulator.faults.fail_next(100, status=503)  # and the exchange stays away
    for _ in range(4):
        clock.advance(3_000)
        assert adapter.follow_up() == []
    simulator.faults.clear()
    clock.advance(1_000)
    assert adapter.follow_up() == []  # back, and says it has no such order: wait and see
    clock.advance(3_000)
    [report] = adapter.follow_up()  # 17 s after it was sent: too late for a MARKET order
    assert report.status == "REJECTED" and "in time" in (report.reason or "")
    assert simulator.orders_seen(KEY) == []
    assert adapter.follow_up() == []  # and it is not asked about again


class _PagedTrades:
    """myTrades as MEXC pages it: the newest ``limit`` up to ``end`` (pure logic, no server)."""

    def __init__(self, trades: list) -> None:
        self.trades = trades
        self.calls = 0

    def my_trades(self, symbol, order_id=None, start=None, end=None, limit=None):  # noqa: ANN001, ANN201
        self.calls += 1
        found = [t for t in self.trades if end is None or t.time <= end]
        return found[-(limit or 100):]


def test_an_order_with_more_fills_than_one_answer_holds_is_read_page_by_page() -> None:
    from engine.exchanges.mexc.rest import MexcTrade

    # 250 fills, some sharing a millisecond across a page boundary.
    trades = [
        MexcTrade(symbol="BTCUSDT", id=f"t{n:03}", order_id="x1", price=Decimal(90000), qty=Decimal("0.001"),
                  quote_qty=Decimal(90), commission=Decimal(0), commission_asset="BTC", time=1_000 + n // 3,
                  is_buyer=True, is_maker=True)
        for n in range(250)
    ]
    rest = _PagedTrades(trades)
    adapter = MexcAccountAdapter(rest, lambda: SymbolCatalog([]), SystemClock(), name="paging")  # type: ignore[arg-type]
    assert [t.id for t in adapter._trades_of("BTCUSDT", "x1")] == [t.id for t in trades]
    assert rest.calls <= 4

