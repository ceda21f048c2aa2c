"""PortfolioActor driven by its messages (no HTTP): orders, wallet, durability,
recovery from the journal, supervision and risk checks."""

from __future__ import annotations

import functools
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import apsw
import pytest

from actors import portfolio as portfolio_actor
from actors.client import EngineClient
from actors.messages import Ask, FindOrder, GetRiskStatus, ListOrders, Passivate
from actors.system import ActorSystem
from engine.config import Config
from engine.errors import EngineTimeout, ExchangeUnavailable, OrderNotCancelable, OrderNotFound, RiskLimitExceeded, TradingHalted
from engine.model import Order
from engine.money import LEDGER
from engine.portfolio import PortfolioState
from tests.conftest import make_config
from tests.support.journal import refuse_appends
from tests.support.trading import (
    START,
    SYMBOL,
    USER,
    cancel,
    first_book,
    get_order,
    journaled_order_ids,
    limit_buy,
    market_buy_amount,
    orders,
    place,
    sent_as,
    settled,
    wallet,
)
from tests.support.venues import sim_venue
from tests.support.waiting import wait_for

# -- orders and the wallet --------------------------------------------------------------------


def test_a_new_user_starts_with_the_paper_deposit(system: ActorSystem) -> None:
    assert wallet(system) == {"USDT": (START, Decimal(0))}
    assert orders(system) == []


def test_market_buy_by_quote_amount_fills_whole_lots_and_changes_the_wallet_exactly(system: ActorSystem) -> None:
    book = first_book(system)
    ticket = place(system, market_buy_amount("100"))
    assert ticket.replayed is False

    accepted = ticket.accepted.result(timeout=5)
    assert (accepted.status, accepted.reserved_asset, accepted.reserved) == ("NEW", "USDT", Decimal(100))
    order = settled(ticket)
    assert order.id == accepted.id == ticket.order_id
    assert order.status == "FILLED" and order.reserved == 0
    assert order.fills
    lot = Decimal(1).scaleb(-system.catalog.get(SYMBOL).base_precision)
    taker = system.config.paper_taker_fee
    for fill in order.fills:
        assert fill.price >= book.ask  # a buy takes the asks from the best up
        assert fill.quote == fill.price * fill.quantity
        assert fill.quantity % lot == 0  # MEXC fills whole lots
        fee = (fill.quantity * taker).quantize(lot, ROUND_HALF_UP)  # MEXC's commission precision: BTC's
        assert (fill.fee, fill.fee_asset, fill.is_maker) == (fee, "BTC", False)
    spent = sum((f.quote for f in order.fills), Decimal(0))
    bought = sum((f.quantity for f in order.fills), Decimal(0))
    fees = sum((f.fee for f in order.fills), Decimal(0))
    worst = max(f.price for f in order.fills)
    # At most the amount is spent; what is left would not buy one more lot.
    assert 100 - worst * lot < spent <= 100

    assert wallet(system) == {
        "USDT": (START - spent, Decimal(0)),
        "BTC": (LEDGER.subtract(bought, fees), Decimal(0)),
    }
    assert get_order(system, order.id) == order
    assert orders(system) == [order]


def test_a_cancel_turned_away_by_a_rate_limit_is_sent_again_after_retry_after(system: ActorSystem) -> None:
    first_book(system)
    order = settled(place(system, limit_buy("0.001", "80000")))
    sim_venue(system).simulator.faults.fail_next(1, status=429, retry_after=1, method="DELETE", path="order")
    assert settled(cancel(system, order.id)).status == "CANCELED"
    assert wallet(system) == {"USDT": (START, Decimal(0))}


def test_a_cancel_the_exchange_never_carries_out_is_reported_and_the_next_one_goes_through(system: ActorSystem) -> None:
    faults = sim_venue(system).simulator.faults
    first_book(system)
    order = settled(place(system, limit_buy("0.001", "80000")))
    before = wallet(system)

    faults.fail_next(20, status=500, method="DELETE", path="order")  # every try's answer lost, none carried out
    with pytest.raises(ExchangeUnavailable, match="still NEW: retry the cancel"):
        settled(cancel(system, order.id))
    assert get_order(system, order.id).status == "NEW" and wallet(system) == before
    faults.clear()

    assert settled(cancel(system, order.id)).status == "CANCELED"  # asked again, not stuck
    assert wallet(system) == {"USDT": (START, Decimal(0))}


def test_a_cancel_whose_answer_is_lost_is_looked_up_and_asked_again(system: ActorSystem) -> None:
    first_book(system)
    order = settled(place(system, limit_buy("0.001", "80000")))
    sim_venue(system).simulator.faults.fail_next(1, status=500, method="DELETE", path="order")
    assert settled(cancel(system, order.id)).status == "CANCELED"
    assert wallet(system) == {"USDT": (START, Decimal(0))}


def test_limit_buy_below_the_market_rests_until_the_price_falls_through_it(system: ActorSystem) -> None:
    book = first_book(system)
    assert book.ask > Decimal(90000)
    order = settled(place(system, limit_buy("0.001", "90000")))
    assert order.status == "NEW" and order.fills == []
    assert wallet(system) == {"USDT": (START - 90, Decimal(90))}

    system.markets.set_paper_price(SYMBOL, Decimal(89000))
    filled = wait_for(
        lambda: (o := get_order(system, order.id)).status == "FILLED" and o, timeout=5, message="the resting order fills"
    )
    [fill] = filled.fills
    assert (fill.price, fill.quantity, fill.quote, fill.is_maker) == (Decimal(90000), Decimal("0.001"), Decimal(90), True)
    assert fill.fee == 0  # the paper maker fee
    assert filled.reserved == 0
    assert wallet(system) == {"USDT": (START - 90, Decimal(0)), "BTC": (Decimal("0.001"), Decimal(0))}
    assert orders(system) == [filled]


def test_cancel_of_a_new_order_releases_exactly_what_it_locked(system: ActorSystem) -> None:
    first_book(system)
    order = settled(place(system, limit_buy("0.002", "85000.37")))
    locked = Decimal("0.002") * Decimal("85000.37")
    assert order.status == "NEW" and order.reserved == locked
    assert wallet(system) == {"USDT": (START - locked, locked)}

    ticket = cancel(system, order.id)
    canceled = settled(ticket)
    assert canceled.id == order.id
    assert canceled.status == "CANCELED" and canceled.reserved == 0 and canceled.fills == []
    assert wallet(system) == {"USDT": (START, Decimal(0))}
    assert get_order(system, order.id).status == "CANCELED"

    with pytest.raises(OrderNotCancelable):
        cancel(system, order.id)


def test_unknown_order_ids_raise_order_not_found(system: ActorSystem) -> None:
    with pytest.raises(OrderNotFound):
        get_order(system, "no-such-order")
    with pytest.raises(OrderNotFound):
        cancel(system, "no-such-order")
    assert orders(system) == []


def test_an_expired_deadline_is_refused_and_creates_no_order(system: ActorSystem) -> None:
    first_book(system)
    with pytest.raises(EngineTimeout):
        place(system, limit_buy("0.001", "90000"), deadline=time.monotonic() - 0.001)
    assert orders(system) == []
    assert wallet(system) == {"USDT": (START, Decimal(0))}

    order = settled(place(system, limit_buy("0.001", "90000")))
    with pytest.raises(EngineTimeout):
        cancel(system, order.id, deadline=time.monotonic() - 0.001)
    assert get_order(system, order.id).status == "NEW"
    assert journaled_order_ids(system.config) == {order.id}


def test_the_same_idempotency_key_twice_places_one_order(system: ActorSystem) -> None:
    first_book(system)
    first = place(system, limit_buy("0.001", "90000", idempotency_key="key-1"))
    again = place(system, limit_buy("0.001", "90000", idempotency_key="key-1"))
    assert first.replayed is False and again.replayed is True
    assert again.order_id == first.order_id
    assert settled(again) == settled(first)
    assert [o.id for o in orders(system)] == [first.order_id]
    assert wallet(system) == {"USDT": (START - 90, Decimal(90))}  # locked once

    # Even a retry that arrives after the first has settled is the same order.
    late = place(system, limit_buy("0.001", "90000", idempotency_key="key-1"))
    assert late.replayed is True and settled(late).id == first.order_id
    other = place(system, limit_buy("0.001", "90000", idempotency_key="key-2"))
    assert other.replayed is False and other.order_id != first.order_id
    assert len(orders(system)) == 2


def asks_to_the_journal(system: ActorSystem, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every message asked of the PersistenceActor from now on, in order."""
    asked: list[object] = []
    ask = system.ask_persistence

    def recording(message: Ask[Any], timeout: float | None = None) -> Any:
        asked.append(message)
        return ask(message, timeout)

    monkeypatch.setattr(system, "ask_persistence", recording)
    return asked


def test_a_new_key_is_known_to_be_new_without_asking_the_journal_and_a_retired_orders_key_still_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two closed orders in memory: older ones leave it (their Order objects, not their keys).
    monkeypatch.setattr(portfolio_actor, "PortfolioState", functools.partial(PortfolioState, max_closed=2))
    config = make_config(tmp_path, SNAPSHOT_EVERY_EVENTS="10", ORDER_RATE_LIMIT="0")
    system = ActorSystem(config).start()
    try:
        first_book(system)
        old = settled(place(system, limit_buy("0.001", "80000", idempotency_key="key-old", client_order_id="cid-old")))
        settled(cancel(system, old.id))
        for n in range(5):  # retires ``old``, and passes SNAPSHOT_EVERY_EVENTS
            settled(cancel(system, settled(place(system, limit_buy("0.001", "80000", idempotency_key=f"key-{n}"))).id))
    finally:
        system.stop()
    conn = apsw.Connection(config.database_path)
    try:
        assert conn.execute("SELECT count(*) FROM snapshots WHERE stream = ?", (f"user:{USER}",)).get == 1
    finally:
        conn.close()

    for n, run in enumerate(("from the snapshot", "from a replay of the whole stream")):
        system = ActorSystem(config).start()
        try:
            first_book(system)
            asked = asks_to_the_journal(system, monkeypatch)
            fresh = place(system, limit_buy("0.001", "80000", idempotency_key=f"key-new-{n}"))
            own_id = place(system, limit_buy("0.001", "80000", client_order_id=f"cid-new-{n}"))
            assert fresh.replayed is False and own_id.replayed is False
            settled(fresh), settled(own_id)
            # Nothing was read (and so no commit waited for) before the new orders left.
            assert [m for m in asked if isinstance(m, FindOrder)] == [], run

            again = place(system, limit_buy("0.001", "80000", idempotency_key="key-old"))
            assert again.replayed is True and again.order_id == old.id
            assert settled(again).status == "CANCELED"
            by_client_id = place(system, limit_buy("0.001", "80000", client_order_id="cid-old"))
            assert by_client_id.replayed is True and by_client_id.order_id == old.id
            assert system.ask_portfolio(USER, ListOrders(client_order_id="cid-old")) == [settled(again)]
            assert system.ask_portfolio(USER, ListOrders(client_order_id="cid-never-used")) == []
            # Only the old order itself is read from the journal: it is no longer in memory.
            assert [m for m in asked if isinstance(m, FindOrder)] == [FindOrder(USER, order_id=old.id)] * 3, run
        finally:
            system.stop()
        conn = apsw.Connection(config.database_path)
        try:
            conn.execute("UPDATE snapshots SET version = 0")  # an older format: the stream is replayed instead
        finally:
            conn.close()

# -- recovery ---------------------------------------------------------------------------------


def trade_a_little(system: ActorSystem) -> dict[str, Order]:
    first_book(system)
    filled = settled(place(system, market_buy_amount("250")))
    resting = settled(place(system, limit_buy("0.003", "80000", client_order_id="rest-1")))
    canceled = settled(place(system, limit_buy("0.001", "70000")))
    settled(cancel(system, canceled.id))
    return {"filled": filled, "resting": resting, "canceled": canceled}


def test_wallet_and_orders_are_identical_after_a_restart_from_the_journal(system: ActorSystem, config: Config) -> None:
    placed = trade_a_little(system)
    wallet_before, orders_before = wallet(system), orders(system)
    assert [o.status for o in orders_before] == ["CANCELED", "NEW", "FILLED"]
    system.stop()

    again = ActorSystem(config).start()
    try:
        assert wallet(again) == wallet_before
        assert orders(again) == orders_before
        # The resting order is back on the (in-process) simulator too.
        resting = placed["resting"]
        wait_for(lambda: any(o.client_order_id == sent_as(resting) and o.is_open for o in sim_venue(again).exchange_orders(USER)))
        again.markets.set_paper_price(SYMBOL, Decimal(79000))
        wait_for(lambda: get_order(again, resting.id).status == "FILLED", timeout=5)
        assert wallet(again)["USDT"] == (wallet_before["USDT"][0], Decimal(0))
    finally:
        again.stop()


def test_resting_orders_are_back_on_the_exchange_by_the_time_start_returns(system: ActorSystem, config: Config) -> None:
    first_book(system)
    resting = settled(place(system, limit_buy("0.003", "80000", client_order_id="rest-early")))
    system.stop()

    again = ActorSystem(config).start()
    try:
        # No waiting: the API serves only after start, and its first request may move the price.
        assert any(o.client_order_id == sent_as(resting) and o.is_open for o in sim_venue(again).exchange_orders(USER))
        again.markets.set_paper_price(SYMBOL, Decimal(79000))
        filled = wait_for(lambda: (o := get_order(again, resting.id)).status == "FILLED" and o)
        assert all(f.price == Decimal(80000) and f.is_maker for f in filled.fills)  # at its own price, as maker
    finally:
        again.stop()


def test_a_crashed_portfolio_is_restarted_by_the_supervisor_with_the_same_state(system: ActorSystem) -> None:
    trade_a_little(system)
    wallet_before, orders_before = wallet(system), orders(system)
    old = system.activation("portfolio", USER)
    system.tell_portfolio(USER, object())  # an unknown message: the portfolio fails

    def successor():
        now = system.activation("portfolio", USER)
        return now if now is not None and now != old else None

    new = wait_for(successor, timeout=5, message="the supervisor restarted the portfolio")
    assert wallet(system) == wallet_before and system.activation("portfolio", USER) == new
    assert wallet(system) == wallet_before
    assert orders(system) == orders_before
    status = EngineClient(system).risk_status()
    assert [(f.kind, f.key, f.restarted) for f in status.failures] == [("portfolio", USER, True)]
    assert "TypeError" in status.failures[0].error


def test_a_crash_is_restarted_even_if_the_supervisor_handles_the_report_at_once(
    system: ActorSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet(system)
    old = system.activation("portfolio", USER)
    report = system.supervision.report_failure

    def report_then_let_the_supervisor_run(kind: str, key: str, exc: Exception) -> None:
        report(kind, key, exc)
        # The scheduling the OS may choose: the supervisor handles ActorFailed
        # before the crashing thread reaches its own _stop().
        system.ask_risk(GetRiskStatus())

    monkeypatch.setattr(system.supervision, "report_failure", report_then_let_the_supervisor_run)
    system.tell_portfolio(USER, object())

    def successor():
        now = system.activation("portfolio", USER)
        return now if now is not None and now != old else None

    wait_for(successor, timeout=1, message="the supervisor restarted the portfolio")


def test_an_append_the_journal_refuses_leaves_no_trace_in_the_portfolio(system: ActorSystem) -> None:
    first_book(system)
    assert wallet(system) == {"USDT": (START, Decimal(0))}
    # Any per-append failure (a constraint, SQLITE_FULL inside the savepoint, ...).
    refuse_appends(system.config.database_path, "NEW.type = 'OrderAccepted'")
    ticket = place(system, limit_buy("0.001", "90000"))
    with pytest.raises(Exception, match="simulated append failure"):
        ticket.accepted.result(timeout=5)
    assert journaled_order_ids(system.config) == set()
    # The caller was told the order failed; the portfolio must agree with the journal.
    assert wallet(system) == {"USDT": (START, Decimal(0))}
    assert orders(system) == []


# -- risk -------------------------------------------------------------------------------------


def test_an_order_over_the_notional_limit_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, MAX_ORDER_NOTIONAL="1000")).start()
    try:
        first_book(system)
        with pytest.raises(RiskLimitExceeded) as info:
            place(system, limit_buy("0.02", "90000"))  # 1800 USDT
        assert info.value.code == "ORDER_NOTIONAL_LIMIT"
        assert (info.value.details["maximum"], info.value.details["value"]) == ("1000", "1800")
        with pytest.raises(RiskLimitExceeded):
            place(system, market_buy_amount("1000.01"))
        assert orders(system) == []
        assert wallet(system) == {"USDT": (START, Decimal(0))}
        assert settled(place(system, limit_buy("0.01", "90000"))).status == "NEW"  # 900 USDT is fine
    finally:
        system.stop()


def test_halt_refuses_orders_and_resume_allows_them_again(system: ActorSystem) -> None:
    first_book(system)
    client = EngineClient(system)
    status = client.halt("maintenance", by="ops")
    assert (status.halted, status.halt_reason, status.halted_by) == (True, "maintenance", "ops")
    with pytest.raises(TradingHalted, match="maintenance"):
        place(system, limit_buy("0.001", "90000"))
    with pytest.raises(TradingHalted):
        place(system, market_buy_amount("100"))
    assert orders(system) == []
    assert wallet(system) == {"USDT": (START, Decimal(0))}

    assert client.resume(by="ops").halted is False
    assert settled(place(system, limit_buy("0.001", "90000"))).status == "NEW"


def test_a_halt_survives_a_restart_of_the_whole_system(system: ActorSystem, config: Config) -> None:
    EngineClient(system).halt("incident 42", by="ops")
    system.stop()

    again = ActorSystem(config).start()
    try:
        client = EngineClient(again)
        status = client.risk_status()
        assert (status.halted, status.halt_reason, status.halted_by) == (True, "incident 42", "ops")
        first_book(again)
        with pytest.raises(TradingHalted):
            place(again, limit_buy("0.001", "90000"))
        client.resume(by="ops")
    finally:
        again.stop()

    third = ActorSystem(config).start()
    try:
        assert EngineClient(third).risk_status().halted is False  # the resume was journaled too
        first_book(third)
        assert settled(place(third, limit_buy("0.001", "90000"))).status == "NEW"
    finally:
        third.stop()


# -- passivation ------------------------------------------------------------------------------


def test_an_idle_portfolio_with_nothing_open_stops_and_comes_back_unchanged(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, PORTFOLIO_IDLE_SECONDS="0.2")).start()
    try:
        first_book(system)
        settled(place(system, market_buy_amount("100")))
        before = (wallet(system), orders(system))
        first = system.activation("portfolio", USER)
        wait_for(lambda: USER not in system.live_portfolios(), timeout=10, message="the idle portfolio let go")
        assert (wallet(system), orders(system)) == before  # started again from the journal
        assert system.activation("portfolio", USER) not in (None, first)
    finally:
        system.stop()


def test_a_passivated_users_exchange_account_lets_go_of_its_gateway_and_stream_until_used_again(tmp_path: Path) -> None:
    # Over loopback, as MEXC is reached: each account has a stream of its own then.
    system = ActorSystem(make_config(tmp_path, PAPER_TRANSPORT="loopback")).start()
    sim = sim_venue(system).simulator
    try:
        first_book(system)
        market_streams = sim.websocket_connections
        settled(place(system, market_buy_amount("100")))
        wait_for(lambda: sim.websocket_connections == market_streams + 1, message="the user's stream connected")
        assert "sim:alice" in system.live_gateways()
        # Not while a write of its own is in flight (a reconnect's reconciliation, say).
        wait_for(lambda: system.ask_portfolio(USER, Passivate(0.0)) is True, message="the portfolio passivates")
        assert list(system.reconciliations) == []  # and nothing differed from the exchange
        # Its gateway follows nothing now: it goes too, at the supervisor's next look.
        wait_for(lambda: system.ask_account("sim:alice", Passivate(0.0)) is True, message="the gateway passivates")
        assert "sim:alice" not in system.live_gateways()
        wait_for(lambda: sim.websocket_connections == market_streams, message="the user's stream closed")
        wait_for(lambda: system.venue.health()["accountClients"] == 0, message="the account's REST clients closed")
        # Used again: gateway and stream come back, and a resting order fills by push.
        order = settled(place(system, limit_buy("0.001", "90000")))
        wait_for(lambda: sim.websocket_connections == market_streams + 1, message="the user's stream is back")
        wait_for(lambda: any(o.client_order_id == sent_as(order) for o in sim_venue(system).exchange_orders(USER)))
        system.markets.set_paper_price(SYMBOL, Decimal(89000))
        wait_for(lambda: get_order(system, order.id).status == "FILLED", message="the fill arrived")
    finally:
        system.stop()


def test_a_first_order_racing_its_user_streams_first_connect_is_no_reconciliation_finding(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, PAPER_TRANSPORT="loopback")).start()  # a stream that connects
    sim = sim_venue(system).simulator
    try:
        first_book(system)
        market_streams = sim.websocket_connections
        # Slow answers: the user stream connects (and asks for a catch-up) while
        # the gateway is still placing the order.
        sim.faults.delay(0.3)
        order = settled(place(system, market_buy_amount("100")))
        wait_for(lambda: sim.websocket_connections == market_streams + 1, message="the user's stream connected")
        sim.faults.clear()
        wallet(system)  # the catch-up asked for on connect is done by now
        assert order.status == "FILLED"
        assert list(system.reconciliations) == []  # nothing was missed, so nothing to report
    finally:
        system.stop()


def test_a_sleeping_users_resting_order_fills_wakes_it_and_is_applied_durably(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    system = ActorSystem(config).start()
    try:
        first_book(system)
        order = settled(place(system, limit_buy("0.001", "80000")))
        before = wallet(system)
        wait_for(lambda: any(o.client_order_id == sent_as(order) for o in sim_venue(system).exchange_orders(USER)))
        # Open orders do not keep a portfolio: it sleeps. Nor its gateway, once the order
        # rests quietly: the account's pushes reach the engine with no gateway live.
        assert system.ask_portfolio(USER, Passivate(0.0)) is True
        asleep = system.activation("portfolio", USER)
        assert asleep is None
        wait_for(lambda: system.ask_account("sim:alice", Passivate(0.0)) is True, message="the gateway lets go")
        assert "sim:alice" not in system.live_gateways() and USER not in system.live_portfolios()
        system.markets.set_paper_price(SYMBOL, Decimal(79000))  # the order fills on the exchange
        woken = wait_for(lambda: system.activation("portfolio", USER), message="the fill woke the portfolio")
        assert woken is not None
        filled = wait_for(lambda: (o := get_order(system, order.id)).status == "FILLED" and o, message="the fill applied")
        assert filled.executed_quantity == Decimal("0.001") and wallet(system)["BTC"][0] > 0
        assert wallet(system)["USDT"] == (before["USDT"][0], Decimal(0))  # what it locked was spent
    finally:
        system.stop()
    # Durable: a new engine on the same journal holds the fill.
    again = ActorSystem(config).start()
    try:
        assert get_order(again, order.id).status == "FILLED"
    finally:
        again.stop()


def test_after_a_restart_sleeping_users_resting_orders_are_on_the_exchange_and_a_fill_wakes_its_user(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    system = ActorSystem(config).start()
    try:
        first_book(system)
        resting = settled(place(system, limit_buy("0.001", "80000")))
        other = settled(place(system, limit_buy("0.001", "70000"), user="bob"))
        before = wallet(system)
    finally:
        system.stop()
    # A new engine (and a new simulator) on the same journal: the accounts are rebuilt
    # in bulk, with no portfolio started for them.
    again = ActorSystem(config).start()
    try:
        assert again.live_portfolios() == []
        on_exchange = {o.client_order_id: o for o in sim_venue(again).exchange_orders(USER)}
        assert on_exchange[sent_as(resting)].status == "NEW"
        assert [o.client_order_id for o in sim_venue(again).exchange_orders("bob")] == [sent_as(other)]
        again.markets.set_paper_price(SYMBOL, Decimal(79000))  # alice's order fills; bob's still rests
        woken = wait_for(lambda: again.activation("portfolio", USER), message="the fill woke its user")
        assert woken is not None
        filled = wait_for(lambda: (o := get_order(again, resting.id)).status == "FILLED" and o, message="the fill applied")
        assert filled.executed_quantity == Decimal("0.001")
        assert wallet(again)["USDT"] == (before["USDT"][0], Decimal(0))
        assert "bob" not in again.live_portfolios()  # nothing happened to bob: he sleeps on
        assert get_order(again, other.id, user="bob").status == "NEW"
    finally:
        again.stop()
    third = ActorSystem(config).start()  # durable: the fill is in the journal
    try:
        assert get_order(third, resting.id).status == "FILLED"
    finally:
        third.stop()
