"""engine.positions: average cost, fees included, realized and unrealized PnL, and replay."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.events import AnyEvent, OrderCanceled, OrderRejected
from engine.model import Fill
from engine.orders import PlaceOrder
from engine.portfolio import PortfolioState, decide_close, decide_fill, decide_open, decide_place, evolve, snapshot_of, state_from
from engine.positions import DAY_MS, utc_day
from engine.symbols import paper_symbol

D = Decimal
BTC = paper_symbol("BTCUSDT")
T0 = 1_700_000_000_000
_ids = itertools.count(1)


def opened(usdt: str = "100000", btc: str = "0") -> PortfolioState:
    state = PortfolioState("alice")
    evolve(state, decide_open(state, {"USDT": D(usdt), "BTC": D(btc)}, T0, "test"))
    return state


def order(state: PortfolioState, side: str, quantity: str, price: str, now: int = T0) -> str:
    cmd = PlaceOrder(symbol="BTCUSDT", side=side, type="LIMIT", quantity=D(quantity), price=D(price))  # type: ignore[arg-type]
    n = next(_ids)
    event = decide_place(state, cmd, BTC, None, order_id=f"o{n}", client_order_id=f"c{n}", now=now)
    evolve(state, event)
    return event.order.id


def fill(state: PortfolioState, order_id: str, quantity: str, price: str, fee: str, *, status: str = "PARTIALLY_FILLED",
         time: int = T0) -> None:
    o = state.orders[order_id]
    q, p = D(quantity), D(price)
    fee_asset = "BTC" if o.side == "BUY" else "USDT"  # MEXC spot: the fee comes out of what the trade brings in
    f = Fill(trade_id=f"t{next(_ids)}", price=p, quantity=q, quote=q * p, fee=D(fee), fee_asset=fee_asset,
             is_maker=False, time=time)
    event = decide_fill(o, BTC, f, status)  # type: ignore[arg-type]
    assert event is not None
    evolve(state, event)


def test_partial_buys_and_sells_with_fees_equal_the_hand_computation() -> None:
    state = opened()
    buy = order(state, "BUY", "0.3", "130")
    fill(state, buy, "0.1", "100", "0.0001")  # 0.0999 BTC for 10 USDT
    fill(state, buy, "0.2", "130", "0.0002", status="FILLED")  # 0.1998 BTC for 26 USDT
    position = state.positions["BTCUSDT"]
    assert position.quantity == D("0.2997")
    assert position.cost_basis == D("36")
    assert position.average_price is not None
    assert abs(position.average_price - D(36) / D("0.2997")) < D("1e-20")  # fees in the entry price: 120.12...
    assert position.realized_pnl == 0
    assert position.unrealized(D("140")) == D("0.2997") * 140 - 36

    sell = order(state, "SELL", "0.2997", "90")
    fill(state, sell, "0.1", "150", "0.0075")  # 15 USDT in, 0.0075 fee
    position = state.positions["BTCUSDT"]
    first = D("14.9925") - D(36) * D("0.1") / D("0.2997")
    assert abs(position.realized_pnl - first) < D("1e-20")
    assert position.quantity == D("0.1997")
    fill(state, sell, "0.1997", "90", "0.0089865", status="FILLED")  # 17.973 in, 0.0089865 fee
    position = state.positions["BTCUSDT"]
    # All of it sold: what came in, net of fees, minus what it cost. Exactly.
    assert position.realized_pnl == D("14.9925") + D("17.9640135") - D("36")
    assert position.realized_pnl == D("-3.0434865")
    assert position.quantity == 0 and position.cost_basis == 0 and position.average_price is None
    assert position.unrealized(D("1000")) == 0
    assert position.fees == D("0.0001") * 100 + D("0.0002") * 130 + D("0.0075") + D("0.0089865")


def test_a_sell_beyond_the_position_realizes_nothing_on_coins_of_unknown_cost() -> None:
    state = opened(btc="1")  # a deposit: no cost known
    buy = order(state, "BUY", "0.1", "100")
    fill(state, buy, "0.1", "100", "0", status="FILLED")
    sell = order(state, "SELL", "0.5", "120")
    fill(state, sell, "0.5", "120", "0", status="FILLED")
    position = state.positions["BTCUSDT"]
    # 0.1 of the 0.5 was bought here at 100: 2 USDT of profit on it; the rest is not counted.
    assert position.realized_pnl == D("2")
    assert position.quantity == 0 and position.cost_basis == 0


def test_a_late_fill_of_a_closed_order_still_moves_the_position() -> None:
    state = opened()
    buy = order(state, "BUY", "0.2", "100")
    fill(state, buy, "0.1", "100", "0")
    evolve(state, _cancel(state, buy))
    fill(state, buy, "0.1", "100", "0", status="CANCELED")  # myTrades lagged the cancel
    assert state.positions["BTCUSDT"].quantity == D("0.2")


def _cancel(state: PortfolioState, order_id: str) -> OrderCanceled | OrderRejected:
    return decide_close(state.orders[order_id], "CANCELED", "test", T0)


def test_daily_realized_pnl_starts_again_each_utc_day_and_keeps_late_fills_in_their_day() -> None:
    state = opened()
    day1 = utc_day(T0)
    buy = order(state, "BUY", "1", "100")
    fill(state, buy, "1", "100", "0", status="FILLED", time=day1 + 1000)
    sell = order(state, "SELL", "1", "100")
    fill(state, sell, "0.5", "110", "0", time=day1 + 2000)  # +5 on day 1
    fill(state, sell, "0.25", "90", "0", time=day1 + DAY_MS + 5)  # -2.5 on day 2
    position = state.positions["BTCUSDT"]
    assert position.realized_on(day1 + DAY_MS) == D("-2.5")
    assert position.realized_on(day1) == 0  # a day that is over is not kept
    fill(state, sell, "0.25", "120", "0", status="FILLED", time=day1 + 3000)  # late, of day 1
    assert position.realized_on(day1 + DAY_MS) == D("-2.5")
    assert position.realized_pnl == D("5") - D("2.5") + D("5")


fills = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL"]),
        st.integers(min_value=1_000, max_value=50_000),  # quantity in 1e-6 BTC (at least the 1 USDT minimum)
        st.integers(min_value=5_000, max_value=20_000),  # price in whole USDT
        st.integers(min_value=0, max_value=10),  # fee in 1e-4 of the amount received
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(fills, st.integers(min_value=0, max_value=24))
def test_positions_replay_and_restore_from_a_snapshot_exactly(steps: list[tuple[str, int, int, int]], cut: int) -> None:
    live = opened(usdt="100000000", btc="10")
    events: list[AnyEvent] = []
    for side, micro, price, fee_bp in steps:
        cmd = PlaceOrder(symbol="BTCUSDT", side=side, type="LIMIT", quantity=D(micro).scaleb(-6), price=D(price))  # type: ignore[arg-type]
        n = next(_ids)
        accepted = decide_place(live, cmd, BTC, None, order_id=f"o{n}", client_order_id=f"c{n}", now=T0)
        evolve(live, accepted)
        o = live.orders[accepted.order.id]
        q = o.quantity
        assert q is not None
        received = q if side == "BUY" else q * price
        fee = (received * fee_bp / 10_000).quantize(D("1e-8"))
        f = Fill(trade_id=f"t{n}", price=D(price), quantity=q, quote=q * price, fee=fee,
                 fee_asset="BTC" if side == "BUY" else "USDT", is_maker=True, time=T0 + n)
        filled = decide_fill(o, BTC, f, "FILLED")
        assert filled is not None
        evolve(live, filled)
        events += [accepted, filled]
    replayed = opened(usdt="100000000", btc="10")
    for event in events:
        evolve(replayed, event)
    assert replayed.positions == live.positions
    # A snapshot part way, then the tail: the same positions.
    head, tail = events[: cut * 2], events[cut * 2:]
    partial = opened(usdt="100000000", btc="10")
    for event in head:
        evolve(partial, event)
    restored = state_from(snapshot_of(partial), 2)
    assert restored is not None
    for event in tail:
        evolve(restored, event)
    assert restored.positions == live.positions
    position = live.positions["BTCUSDT"]
    assert position.quantity >= 0 and position.cost_basis >= 0
