"""The boundary between the engine and the exchange, through a running ActorSystem on
the paper venue (the MEXC simulator in-process, reached through its REST app and
stream server in this process, and, for the tests on the ``engine`` fixture, also
over loopback HTTP and a WebSocket per account): each test is a path on which the
engine once believed an order closed while it still traded, could not see a live
order, or waited on the network."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path

import pytest

from actors.messages import Execution, GatewayStatus, Passivate, Reconcile
from actors.system import ActorSystem
from engine.clock import ManualClock
from engine.errors import EngineTimeout
from engine.exchanges.base import ExecutionReport
from engine.exchanges.mexc.rest import MexcRestClient
from engine.model import Fill
from engine.orders import PlaceOrder, exchange_client_id, new_order_id
from tests.conftest import make_config
from tests.support.trading import (
    START,
    SYMBOL,
    USER,
    cancel,
    first_book,
    get_order,
    limit_buy,
    orders,
    place,
    sent_as,
    settled,
    wallet,
)
from tests.support.waiting import wait_for


def account_client(system: ActorSystem, user: str = USER) -> MexcRestClient:
    """A REST client of the user's own simulator account, as the engine holds one."""
    api_key, secret = system.venue._credentials(system.venue.account_for(user))  # type: ignore[attr-defined]
    return MexcRestClient(system.venue.simulator.rest_url, api_key, secret)  # type: ignore[attr-defined]


def api_key(system: ActorSystem, user: str = USER) -> str:
    return system.venue._credentials(system.venue.account_for(user))[0]  # type: ignore[attr-defined]


def exchange_totals(system: ActorSystem, user: str = USER) -> dict[str, Decimal]:
    balances = system.venue.simulator.account_balances(api_key(system, user))  # type: ignore[attr-defined]
    return {asset: b.free + b.locked for asset, b in balances.items() if b.free + b.locked}


def engine_totals(system: ActorSystem, user: str = USER) -> dict[str, Decimal]:
    return {asset: free + locked for asset, (free, locked) in wallet(system, user).items() if free + locked}


def refresh(system: ActorSystem, user: str = USER, timeout: float = 10) -> int:
    done: Future[int] = system.ask_portfolio(user, Reconcile())
    return done.result(timeout=timeout)


@pytest.fixture(params=["inprocess", "loopback"])
def engine(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ActorSystem]:
    system = ActorSystem(make_config(tmp_path, ORDER_RATE_LIMIT="0", PAPER_TRANSPORT=request.param)).start()
    yield system
    system.stop()


# -- defect 1: a fill after the order's end is applied, not dropped ----------------------------


def test_a_fill_reported_after_its_order_was_canceled_reaches_the_wallet(engine: ActorSystem) -> None:
    first_book(engine)
    order = settled(place(engine, limit_buy("0.002", "80000")))  # reserves 160
    now = engine.clock.now_ms()

    def fill(n: int) -> Fill:
        return Fill(trade_id=f"late-{n}", price=Decimal(80000), quantity=Decimal("0.001"), quote=Decimal(80),
                    fee=Decimal(0), fee_asset="BTC", is_maker=True, time=now + n)

    engine.tell_portfolio(USER, Execution(ExecutionReport(user_id=USER, order_id=order.id, status="CANCELED",
                                                          fills=(fill(1),), time=now + 1)))
    wait_for(lambda: get_order(engine, order.id).status == "CANCELED")
    # The exchange's last trade of the order comes after its end was told (myTrades lagged).
    engine.tell_portfolio(USER, Execution(ExecutionReport(user_id=USER, order_id=order.id, status="CANCELED",
                                                          fills=(fill(2),), time=now + 2)))
    late = wait_for(lambda: (o := get_order(engine, order.id)).executed_quantity == Decimal("0.002") and o,
                    message="the late fill is applied")
    assert late.status == "CANCELED" and [f.trade_id for f in late.fills] == ["late-1", "late-2"]
    assert wallet(engine) == {"USDT": (START - 160, Decimal(0)), "BTC": (Decimal("0.002"), Decimal(0))}


# -- defect 5: a reconciliation's answers arrive even when its caller gave up ------------------


def test_fills_found_by_a_reconciliation_slower_than_its_caller_are_still_applied(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, ORDER_RATE_LIMIT="0", ASK_TIMEOUT_SECONDS="1")).start()
    sim = system.venue.simulator  # type: ignore[attr-defined]
    try:
        first_book(system)
        order = settled(place(system, limit_buy("0.001", "90000")))
        sim.faults.pushes(api_key(system), "drop", probability=1.0)  # the fill's pushes never come
        system.markets.set_paper_price(SYMBOL, Decimal(89000))
        assert get_order(system, order.id).status == "NEW"  # the engine has not heard
        sim.faults.delay(1.5, count=4)  # and the exchange answers slower than the caller waits
        with pytest.raises((EngineTimeout, TimeoutError)):
            refresh(system, timeout=1)
        filled = wait_for(lambda: (o := get_order(system, order.id)).status == "FILLED" and o, timeout=15,
                          message="the reconciliation's finding lands without anyone waiting for it")
        assert filled.executed_quantity == Decimal("0.001") and filled.reserved == 0
        sim.faults.clear()
        refresh(system)
        assert engine_totals(system) == exchange_totals(system)
    finally:
        system.stop()


# -- defect 7: a MARKET order that never reached the exchange ends through the gateway -----------


def test_a_market_order_that_never_reached_the_exchange_is_rejected_and_its_user_can_rest(tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000_000)
    system = ActorSystem(make_config(tmp_path, ORDER_RATE_LIMIT="0"), clock=clock).start()
    sim = system.venue.simulator  # type: ignore[attr-defined]
    try:
        first_book(system)
        sim.faults.fail_next(1000, status=503, path="order")  # it, and every look for it, go unanswered
        ticket = place(system, PlaceOrder(symbol=SYMBOL, side="BUY", type="MARKET", quote_quantity=Decimal(100)))
        assert not ticket.settled.done()
        for second in range(60):  # a minute of exchange time, a second at a time
            if second == 12:
                sim.faults.clear()  # back, past the order's send window
            clock.advance(1_000)
            system.supervision.tick_gateways()  # the gateway looks at the new time; then its calls are answered
            wait_for(lambda: system.ask_gateway(USER, GatewayStatus())["busy"] == 0, message="the gateway's calls are back")
            if ticket.settled.done():
                break
        rejected = ticket.settled.result(timeout=5)
        assert rejected.status == "REJECTED" and "in time" in (rejected.reason or "")
        assert sim.orders_seen(api_key(system)) == []  # never traded late
        assert wallet(system) == {"USDT": (START, Decimal(0))}
        assert wait_for(lambda: system.ask_portfolio(USER, Passivate(0.0)) is True, message="nothing holds the user up")
    finally:
        system.stop()


# -- defect 11: the gateway never waits on the network ------------------------------------------


def test_the_gateway_answers_while_an_order_is_out_at_a_slow_exchange(engine: ActorSystem) -> None:
    sim = engine.venue.simulator  # type: ignore[attr-defined]
    first_book(engine)
    settled(place(engine, limit_buy("0.001", "80000")))  # the gateway and its stream are up
    sim.faults.delay(2.0, count=1)
    ticket = place(engine, limit_buy("0.001", "80001"))
    started = time.monotonic()
    status = engine.ask_gateway(USER, GatewayStatus(USER), timeout=1.0)
    assert time.monotonic() - started < 1.0 and status["busy"] == 1  # its placement is out, it is not
    assert settled(ticket).status == "NEW"


# -- defect 12: one gateway per account, however many threads ask ------------------------------


def test_threads_racing_for_a_new_accounts_gateway_start_one(engine: ActorSystem) -> None:
    first_book(engine)
    barrier = threading.Barrier(8)
    answers: list[dict] = []
    made: list[str] = []
    make_adapter = engine.venue.make_adapter

    def counting(account: str):
        made.append(account)
        return make_adapter(account)

    engine.venue.make_adapter = counting  # type: ignore[method-assign]

    def ask() -> None:
        barrier.wait()
        answers.append(engine.ask_gateway("bob", GatewayStatus()))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(answers) == 8
    assert made == ["sim:bob"]  # one gateway, one REST client
    assert engine.live_gateways().count("sim:bob") == 1
    # Over loopback the account has one user stream; in process it needs none.
    streams = ["sim:bob"] if engine.config.paper_transport == "loopback" else []
    assert [a for a in engine.account_streams.accounts() if a == "sim:bob"] == streams


# -- defect 4: an engine order the journal lacks is found and adopted --------------------------


def orphan_on_the_exchange(system: ActorSystem, **order: object) -> str:
    """Send an order as the engine would have, then lose its record (a crash between
    its send and its commit): the exchange has it, the journal does not."""
    client_id = exchange_client_id(USER, new_order_id(system.clock.now_ms()))
    with account_client(system) as client:
        client.place_order(SYMBOL, client_order_id=client_id, **order)  # type: ignore[arg-type]
    return client_id


def test_orphans_are_adopted_with_their_fills_and_the_wallet_equals_the_exchange(engine: ActorSystem) -> None:
    first_book(engine)
    settled(place(engine, limit_buy("0.001", "50000")))  # the user's account exists on the exchange
    resting = orphan_on_the_exchange(engine, side="BUY", type="LIMIT", quantity=Decimal("0.002"), price=Decimal(60000))
    filled = orphan_on_the_exchange(engine, side="BUY", type="MARKET", quote_order_qty=Decimal(200))

    refresh(engine)
    by_id = {sent_as(o): o for o in orders(engine)}
    assert set(by_id) >= {resting, filled}
    assert (by_id[resting].status, by_id[resting].reserved) == ("NEW", Decimal(120))
    done = wait_for(lambda: (o := {sent_as(x): x for x in orders(engine)}[filled]).status == "FILLED" and o,
                    message="the filled orphan's fills are read")
    [sent] = [o for o in engine.venue.exchange_orders(USER) if o.client_order_id == filled]  # type: ignore[attr-defined]
    with account_client(engine) as client:
        trades = client.my_trades(SYMBOL, order_id=sent.order_id)
    assert trades and {f.trade_id for f in done.fills} == {t.id for t in trades}
    refresh(engine)  # nothing is left to move the balances: compare them
    assert engine_totals(engine) == exchange_totals(engine)
    records = list(engine.reconciliations)
    assert sorted(a for r in records for a in r.orders_adopted) == sorted([by_id[resting].id, by_id[filled].id])


def test_under_the_cancel_policy_an_adopted_orphan_that_still_stands_is_canceled(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, ORDER_RATE_LIMIT="0", ORPHAN_POLICY="cancel")).start()
    try:
        first_book(system)
        settled(place(system, limit_buy("0.001", "50000")))
        resting = orphan_on_the_exchange(system, side="BUY", type="LIMIT", quantity=Decimal("0.002"), price=Decimal(60000))
        refresh(system)
        adopted = wait_for(lambda: (o := {sent_as(x): x for x in orders(system)}[resting]).status == "CANCELED" and o,
                           message="the orphan is canceled")
        assert adopted.reserved == 0
        [on_exchange] = [o for o in system.venue.exchange_orders(USER) if o.client_order_id == resting]  # type: ignore[attr-defined]
        assert on_exchange.status == "CANCELED"
    finally:
        system.stop()


def test_the_periodic_sweep_finds_an_orphan_with_nobody_asking(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, ORDER_RATE_LIMIT="0", RECONCILE_INTERVAL_SECONDS="1")).start()
    try:
        first_book(system)
        settled(place(system, limit_buy("0.001", "50000")))
        resting = orphan_on_the_exchange(system, side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(55000))
        wait_for(lambda: resting in {sent_as(o) for o in orders(system)}, timeout=10, message="adopted by the sweep")
    finally:
        system.stop()


# -- defect 6: a MARKET buy by quantity is capped at its reservation ---------------------------


def test_a_market_buy_by_quantity_cannot_spend_past_what_it_reserved(engine: ActorSystem) -> None:
    first_book(engine)
    ticket = place(engine, PlaceOrder(symbol=SYMBOL, side="BUY", type="MARKET", quantity=Decimal("0.01")))
    order = settled(ticket)
    reserved = ticket.accepted.result(timeout=5).reserved
    [sent] = [o for o in engine.venue.exchange_orders(USER) if o.client_order_id == sent_as(order)]  # type: ignore[attr-defined]
    assert sent.type == "IMMEDIATE_OR_CANCEL" and sent.price * Decimal("0.01") <= reserved
    assert order.status == "FILLED" and order.executed_quote <= reserved


# -- a cancel the gateway lost with its restart is sent again ---------------------------------


def test_a_cancel_that_died_with_its_gateway_is_sent_again_by_the_reconciliation(engine: ActorSystem) -> None:
    sim = engine.venue.simulator  # type: ignore[attr-defined]
    first_book(engine)
    order = settled(place(engine, limit_buy("0.001", "80000")))
    sim.faults.fail_next(1, status=429, retry_after=3, method="DELETE", path="order")  # put off for 3 s
    ticket = cancel(engine, order.id)
    account = engine.venue.account_for(USER)
    wait_for(lambda: engine.ask_gateway(USER, GatewayStatus())["busy"] == 0, message="the cancel was turned away")
    engine.fail_entity("gateway", account, "lost")  # the cancel it was to send later dies with it
    assert settled(ticket).status == "CANCELED"  # the restarted gateway's owner sends it again
    [on_exchange] = [o for o in engine.venue.exchange_orders(USER) if o.client_order_id == sent_as(order)]  # type: ignore[attr-defined]
    assert on_exchange.status == "CANCELED"
