"""The account adapter (orders in, execution reports out) against the simulator over
loopback HTTP, on one clock the test moves. Each test is a way the exchange boundary
once went wrong: an order closed while it still traded, sent twice, or never seen."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from engine.clock import ManualClock
from engine.exchanges.base import ExchangeOrder
from engine.exchanges.mexc import account_io
from engine.exchanges.mexc import adapter as adapter_module
from engine.exchanges.mexc.adapter import MexcAccountAdapter
from engine.exchanges.mexc.codec import PrivateDealPush, PrivateOrderPush, Push
from engine.exchanges.mexc.errors import MexcServerError
from engine.exchanges.mexc.order_state import FILLS_WAIT_MS, GRACE_MS, RECHECK_MS
from engine.exchanges.mexc.rest import MexcRestClient, MexcTrade
from engine.exchanges.mexc_sim import Simulator
from engine.orders import exchange_client_id, is_engine_id
from engine.symbols import SymbolCatalog
from tests.support.adapter import Driver

KEY, SECRET = "adapter-key", "adapter-secret"
USER = "alice"
START_MS = 1_800_000_000_000


@pytest.fixture
def world() -> Iterator[tuple[ManualClock, Simulator, MexcAccountAdapter, Driver]]:
    """A simulator and an adapter on a clock the test moves; no retry waits, no breaker."""
    clock = ManualClock(START_MS)
    simulator = Simulator(accounts={KEY: (SECRET, {"USDT": "100000"})}, speed=0, history_minutes=5, clock=clock).start()
    try:
        with MexcRestClient(simulator.rest_url, KEY, SECRET, clock=clock, breaker_threshold=100,
                            sleep=lambda _: None) as client:
            catalog = SymbolCatalog([s.info for s in client.exchange_info().symbols])
            adapter = MexcAccountAdapter(
                client, lambda: catalog, clock, name="test", owners=lambda: [USER],
                is_ours=lambda cid: USER if is_engine_id(cid, USER) else None, symbols=lambda: ["BTCUSDT"],
            )
            yield clock, simulator, adapter, Driver(adapter)
    finally:
        simulator.stop()


def order(n: str, *, type: str = "LIMIT", side: str = "BUY", quantity: str | None = "0.001", price: str | None = "50000",
          quote: str | None = None, max_quote: str | None = None, created_at: int = START_MS) -> ExchangeOrder:
    return ExchangeOrder(
        user_id=USER, order_id=n, client_order_id=exchange_client_id(USER, n), symbol="BTCUSDT", side=side,  # type: ignore[arg-type]
        type=type, quantity=None if quantity is None else Decimal(quantity),  # type: ignore[arg-type]
        quote_quantity=None if quote is None else Decimal(quote), price=None if price is None else Decimal(price),
        created_at=created_at, max_quote=None if max_quote is None else Decimal(max_quote),
    )


def market_buy(n: str, amount: str) -> ExchangeOrder:
    return order(n, type="MARKET", quantity=None, price=None, quote=amount)


def seen(simulator: Simulator, o: ExchangeOrder) -> list:
    return [s for s in simulator.orders_seen(KEY) if s.client_order_id == o.client_order_id]


def order_push(adapter: MexcAccountAdapter, o: ExchangeOrder, status: int = 2) -> Push:
    """An order push as MEXC sends it (status 2: filled, 3: partially filled), from the exchange's own answer."""
    found = adapter.rest.query_order(o.symbol, client_order_id=o.client_order_id)
    return Push(channel="spot@private.orders.v3.api.pb", symbol=o.symbol, body=PrivateOrderPush(
        id=found.order_id, client_id=o.client_order_id, price=Decimal(0), quantity=found.executed_qty,
        amount=found.cummulative_quote_qty, avg_price=Decimal(0), order_type=5, trade_type=1, is_maker=False,
        remain_amount=Decimal(0), remain_quantity=Decimal(0), cumulative_quantity=found.executed_qty,
        cumulative_amount=found.cummulative_quote_qty, status=status, create_time=found.time,
    ))


def deal_push(o: ExchangeOrder, trade: MexcTrade) -> Push:
    return Push(channel="spot@private.deals.v3.api.pb", symbol=o.symbol, body=PrivateDealPush(
        price=trade.price, quantity=trade.qty, amount=trade.quote_qty, trade_type=1, is_maker=trade.is_maker,
        is_self_trade=False, trade_id=trade.id, client_order_id=o.client_order_id, order_id=trade.order_id,
        fee_amount=trade.commission, fee_currency=trade.commission_asset or "BTC", time=trade.time,
    ))


def executed(reports: list) -> Decimal:
    return sum((f.quantity for r in reports for f in r.fills), Decimal(0))


# -- what it reports, and only once ------------------------------------------------------------


def test_a_market_order_reports_its_outcome_with_every_fill_and_late_pushes_add_nothing(world) -> None:
    clock, simulator, adapter, drive = world
    o = market_buy("1", "100")
    [report] = drive(adapter.submit(o, look_after=True))  # looked at after its ack: the outcome, not the ack
    assert report.status == "FILLED" and report.fills
    assert drive(adapter.on_push(order_push(adapter, o))) == []  # the query already told it all
    trade = adapter.rest.my_trades("BTCUSDT", order_id=seen(simulator, o)[0].order_id)[0]
    assert drive(adapter.on_push(deal_push(o, trade))) == []
    assert adapter.stats()["orders"] == 0  # its end is applied: forgotten but for late news


def test_an_order_push_with_news_is_reported_with_the_fills_it_implies(world) -> None:
    clock, simulator, adapter, drive = world
    o = market_buy("2", "100")
    [ack] = drive(adapter.submit(o))  # no look-after: the ack says NEW
    assert ack.status == "NEW"
    assert drive(adapter.on_push(order_push(adapter, o))) == []  # FILLED, but no fill in hand: not yet ended
    clock.advance(500)
    [report] = drive.tick()  # the trades are read
    assert report.status == "FILLED" and executed([report]) == seen(simulator, o)[0].executed_qty
    assert drive(adapter.on_push(order_push(adapter, o))) == []  # and said once


# -- defect 1: an end is told only when its fills add up; a later fill is still told ------------------


def test_an_order_whose_trades_lag_its_status_ends_only_once_its_fills_add_up(world) -> None:
    clock, simulator, adapter, drive = world
    simulator.faults.lag_trades(KEY, 4_000)
    o = market_buy("3", "100")
    assert drive(adapter.submit(o, look_after=True)) == []  # FILLED at the exchange, myTrades shows nothing yet
    for _ in range(3):
        clock.advance(1_000)
        assert [r.status for r in drive.tick()] in ([], ["PARTIALLY_FILLED"])
    clock.advance(1_500)
    final = drive.tick()
    assert [r.status for r in final] == ["FILLED"]
    assert executed(final) == seen(simulator, o)[0].executed_qty  # every fill, before the end
    assert drive.findings == []


@pytest.mark.parametrize("late_by", [pytest.param("push", id="a late deal push"),
                                     pytest.param("sweep", id="the next sweep of the account")])
def test_fills_that_never_add_up_end_the_order_after_a_while_and_still_count_when_they_come(world, late_by) -> None:
    clock, simulator, adapter, drive = world
    simulator.faults.lag_trades(KEY, FILLS_WAIT_MS + 60_000)
    o = market_buy("4", "100")
    drive(adapter.submit(o, look_after=True))
    ended: list[Any] = []
    while not ended and clock.now_ms() - START_MS <= FILLS_WAIT_MS + 2_000:
        clock.advance(1_000)
        ended = [r for r in drive.tick() if r.status == "FILLED"]
    [end] = ended
    assert end.fills == () and "incomplete" in (end.reason or "")
    assert [f.kind for f in drive.findings] == ["fills_incomplete"]  # operators hear of it

    simulator.faults.clear(KEY)
    trades = adapter.rest.my_trades("BTCUSDT", order_id=seen(simulator, o)[0].order_id)
    if late_by == "push":
        [late] = drive(adapter.on_push(deal_push(o, trades[0])))  # a fill after the end is still reported
    else:
        [late] = drive(adapter.sweep_now())  # the sweep reads the trades of an end that lacked some
    assert late.status == "FILLED" and [f.trade_id for f in late.fills] == [t.id for t in trades][:len(late.fills)]
    assert executed([end, late]) == seen(simulator, o)[0].executed_qty or late_by == "push"


# -- defect 2: a cancel never closes a live order on "unknown"; it withdraws a resend ------------------


def test_a_cancel_the_exchange_calls_unknown_right_after_the_create_is_sent_again_not_taken_as_done(world) -> None:
    clock, simulator, adapter, drive = world
    o = order("5")
    [ack] = drive(adapter.submit(o))
    assert ack.status == "NEW"
    simulator.faults.unknown_after_create(KEY, 2_500)  # the order is on the book, yet "does not exist"
    assert drive(adapter.cancel(o)) == []  # not CANCELED on the spot
    assert seen(simulator, o)[0].status == "NEW"
    reports = []
    for _ in range(6):
        clock.advance(1_000)
        reports += drive.tick()
    assert [r.status for r in reports] == ["CANCELED"]
    assert seen(simulator, o)[0].status == "CANCELED"  # canceled at the exchange, not only here


def test_a_cancel_of_an_order_whose_placement_went_unanswered_keeps_it_from_being_sent_again(world) -> None:
    clock, simulator, adapter, drive = world
    o = order("6")
    simulator.faults.fail_next(1, status=503, method="POST", path="order")  # turned away unprocessed, as a 5xx
    assert drive(adapter.submit(o)) == []
    assert drive(adapter.cancel(o)) == []
    reports = []
    for _ in range(6):
        clock.advance(1_000)
        reports += drive.tick()
    assert [r.status for r in reports] == ["CANCELED"] and "before it reached" in (reports[0].reason or "")
    assert seen(simulator, o) == []  # never sent again


# -- defect 3: one owner decides every resend, from the first send -------------------------------------


def test_an_order_the_exchange_says_it_lacks_is_sent_again_only_once_that_stays_true(world) -> None:
    clock, simulator, adapter, drive = world
    o = order("7")
    simulator.faults.fail_next(1, status=503, method="POST", path="order")
    assert drive(adapter.submit(o)) == []  # the outcome is unknown
    clock.advance(1_000)
    assert drive.tick() == []  # "no such order" a moment after the send may only mean "not yet"
    clock.advance(1_000)
    assert drive.tick() == []
    assert seen(simulator, o) == []
    clock.advance(GRACE_MS)
    [report] = drive.tick()  # still missing three seconds on: it never arrived
    assert report.status == "NEW" and len(seen(simulator, o)) == 1
    assert drive.kinds().count("place") == 2


def test_a_resend_refused_as_a_taken_id_is_looked_up_not_sent_a_third_time(world) -> None:
    clock, simulator, adapter, drive = world
    o = order("8")
    simulator.faults.fail_after_order(1, status=500)  # placed, then the answer is lost
    simulator.faults.unknown_after_create(KEY, GRACE_MS + 3_000)  # and the exchange hides it a long moment
    assert drive(adapter.submit(o)) == []
    reports = []
    for _ in range(8):
        clock.advance(1_000)
        reports += drive.tick()
    assert [r.status for r in reports] == ["NEW"]
    assert len(seen(simulator, o)) == 1  # one order on the exchange
    assert drive.kinds().count("place") == 2  # the resend was refused (code 26), and nothing more was sent


def test_a_market_order_that_did_not_reach_the_exchange_in_time_is_not_sent_late(world) -> None:
    clock, simulator, adapter, drive = world
    o = market_buy("9", "100")
    simulator.faults.fail_next(200, status=503, path="order")  # the order and every look for it fail
    assert drive(adapter.submit(o)) == []
    for _ in range(10):
        clock.advance(1_000)
        assert drive.tick() == []
    simulator.faults.clear()
    reports = []
    for _ in range(5):
        clock.advance(1_000)
        reports += drive.tick()
    [report] = reports  # back, and it has no such order, 15 s after the first send: too late
    assert report.status == "REJECTED" and "in time" in (report.reason or "")
    assert seen(simulator, o) == []
    clock.advance(5_000)
    assert drive.tick() == [] and adapter.stats()["orders"] == 0


# -- defect 6: a MARKET buy by quantity cannot spend past its reservation ------------------------------


def test_a_market_buy_by_quantity_goes_out_capped_at_its_reservation(world) -> None:
    clock, simulator, adapter, drive = world
    ask = adapter.rest.book_ticker("BTCUSDT").ask_price
    cap = (ask * Decimal("0.002") * Decimal("1.005")).quantize(Decimal("0.01"))
    o = order("10", type="MARKET", quantity="0.002", price=None, max_quote=str(cap))
    [report] = drive(adapter.submit(o, look_after=True))
    [sent] = seen(simulator, o)
    assert sent.type == "IMMEDIATE_OR_CANCEL" and sent.price * Decimal("0.002") <= cap
    assert report.status == "FILLED" and sum((f.quote for f in report.fills), Decimal(0)) <= cap

    poor = order("11", type="MARKET", quantity="0.002", price=None, max_quote=str((ask * Decimal("0.0019")).quantize(Decimal("0.01"))))
    reports = drive(adapter.submit(poor, look_after=True))
    assert reports[-1].status == "CANCELED" and executed(reports) == 0  # the book moved past it: nothing overspent


# -- a marketable order's look after its ack is asked again until it answers ---------------------------


def test_a_market_order_whose_look_after_its_ack_fails_is_looked_at_again(world) -> None:
    clock, simulator, adapter, drive = world
    o = market_buy("12", "100")
    drive(adapter.submit(o, look_after=True), hold=True)
    [place_job] = drive.held
    drive.held.clear()
    drive(drive.answer(place_job), hold=True)  # acked; its look is out
    [look] = drive.held
    drive.held.clear()
    [ack] = drive(drive.answer(look, error=MexcServerError(500, "Internal error", 500), run=False))
    assert ack.status == "NEW"  # the ack is all it knows, for now
    clock.advance(RECHECK_MS)
    [report] = drive.tick()  # its pushes may never come: it asks again
    assert report.status == "FILLED" and executed([report]) == seen(simulator, o)[0].executed_qty


def test_a_market_order_the_exchange_calls_unknown_right_after_its_ack_is_looked_at_again(world) -> None:
    clock, simulator, adapter, drive = world
    simulator.faults.unknown_after_create(KEY, 1_500)  # filled on the book, yet "does not exist" for a moment
    o = market_buy("13", "100")
    [ack] = drive(adapter.submit(o, look_after=True))
    assert ack.status == "NEW"
    reports = []
    for _ in range(3):
        clock.advance(RECHECK_MS)
        reports += drive.tick()
    assert [r.status for r in reports] == ["FILLED"]
    assert executed(reports) == seen(simulator, o)[0].executed_qty


def test_a_crossing_limit_whose_creation_push_comes_while_the_look_after_its_ack_is_out_is_not_reported_new(world) -> None:
    """In process, pushes can come in any order around the answers: its creation push
    after its ack, while the look the ack led to is out, must not report it NEW."""
    clock, simulator, adapter, drive = world
    ask = simulator.exchange.book_top("BTCUSDT").ask
    o = order("14", price=str(ask * 2))  # through the book: it fills as it lands
    assert drive(adapter.submit(o, look_after=True), hold=True) == []
    [place] = drive.held
    drive.held.clear()
    after_ack = drive.answer(place)
    assert after_ack.reports == [] and [job.kind for job in after_ack.jobs] == ["query"]
    assert drive(adapter.on_push(order_push(adapter, o, status=1))) == []  # 1: NEW, its creation
    [report] = drive(after_ack)  # the look answers
    assert report.status == "FILLED" and executed([report]) == Decimal("0.001")


# -- defect 13: memory stays bounded -------------------------------------------------------------------


def test_ended_orders_are_forgotten_but_for_the_newest(world, monkeypatch: pytest.MonkeyPatch) -> None:
    clock, simulator, adapter, drive = world
    monkeypatch.setattr(adapter_module, "RECENT_ENDS", 3)
    for n in range(6):
        drive(adapter.submit(market_buy(f"m{n}", "20"), look_after=True))
    assert adapter.stats()["orders"] == 0 and adapter.stats()["ended"] == 3


# -- defect 4: a sweep finds this engine's orders the journal lacks ------------------------------------


def test_a_sweep_finds_an_engine_order_nothing_follows_and_names_its_user(world) -> None:
    clock, simulator, adapter, drive = world
    lost = order("12")  # sent before a crash lost its record
    adapter.rest.place_order("BTCUSDT", "BUY", "LIMIT", quantity=Decimal("0.001"), price=Decimal("50000"),
                             client_order_id=lost.client_order_id)
    adapter.rest.place_order("BTCUSDT", "BUY", "LIMIT", quantity=Decimal("0.001"), price=Decimal("50000"),
                             client_order_id="someone-elses")
    drive(adapter.sweep_now())
    [orphan] = drive.orphans
    assert orphan.user_id == USER and orphan.order.client_order_id == lost.client_order_id
    assert (orphan.order.status, orphan.order.quantity, orphan.order.price) == ("NEW", Decimal("0.001"), Decimal(50000))
    assert [s.user_id for s in drive.swept] == [USER]
    drive(adapter.sweep_now())
    assert len(drive.orphans) == 1  # told once


def test_a_reconciliation_asked_for_during_a_sweep_is_answered_though_another_comes_before_the_next_tick(world) -> None:
    clock, simulator, adapter, drive = world
    drive(adapter.track([], user_id=USER, token=1), hold=True)  # a sweep is out
    drive(adapter.track([], user_id=USER, token=2))  # waits for the next one
    drive.release()
    assert [s.token for s in drive.swept] == [1]
    drive(adapter.track([], user_id=USER, token=3))  # before the timer starts the next one
    drive.tick()
    assert sorted(s.token for s in drive.swept) == [1, 2, 3]  # none left for the periodic sweep, a minute on


def test_a_reconciliation_asked_for_during_a_sweep_is_answered_though_a_reconnect_sweeps_first(world) -> None:
    clock, simulator, adapter, drive = world
    drive(adapter.track([], user_id=USER, token=1), hold=True)  # a sweep is out
    drive(adapter.track([], user_id=USER, token=2))  # waits for the next one
    drive.release()
    drive(adapter.sweep_now())  # the user stream reconnected before the next tick
    assert sorted(s.token for s in drive.swept if s.token) == [1, 2]  # not left waiting a whole interval


# -- reading fills -------------------------------------------------------------------------------------


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
    # 250 fills, some sharing a millisecond across a page boundary.
    trades = [
        MexcTrade(symbol="BTCUSDT", id=f"t{n:03}", order_id="x1", price=Decimal(90000), qty=Decimal("0.001"),
                  quote_qty=Decimal(90), commission=Decimal(0), commission_asset="BTC", time=1_000 + n // 3,
                  is_buyer=True, is_maker=True)
        for n in range(250)
    ]
    rest = _PagedTrades(trades)
    assert [t.id for t in account_io.trades_of(rest, "BTCUSDT", "x1")] == [t.id for t in trades]  # type: ignore[arg-type]
    assert rest.calls <= 4


def test_a_creation_push_ahead_of_a_crossing_orders_answer_does_not_report_it_new(world) -> None:
    clock, simulator, adapter, drive = world
    ask = adapter.rest.book_ticker("BTCUSDT").ask_price
    o = order("13", price=str(ask * 2))  # crosses the book: fills as it lands
    assert drive(adapter.submit(o, look_after=True), hold=True) == []
    [job] = drive.held
    drive.held.clear()
    answer = account_io.run(adapter.rest, job)  # placed (and filled); its answer is still on the way
    assert drive(adapter.on_push(order_push(adapter, o, status=1))) == []  # the creation push comes first
    [report] = drive(adapter.on_result(job, answer))
    assert report.status == "FILLED" and executed([report]) == Decimal("0.001")
