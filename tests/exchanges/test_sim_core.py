"""The simulator's matching engine, accounts and price paths, in-process on a manual clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.clock import ManualClock
from engine.exchanges.mexc_sim.core import MAX_OPEN_ORDERS, SimExchange, SimListener
from engine.exchanges.mexc_sim.klines import window
from engine.exchanges.mexc_sim.maker import MakerConfig
from engine.exchanges.mexc_sim.market import Candle, CandlePath, PricePath, WalkPath, load_candles
from engine.exchanges.mexc_sim.model import SimSymbol
from engine.exchanges.mexc_sim.rejects import SimReject

D = Decimal
T0 = 1_700_000_000_000
BTC = SimSymbol("BTCUSDT", "BTC", "USDT", 6, 2, min_quantity=D("0.000001"), min_notional=D(1), min_notional_market=D(1))


class Recorder(SimListener):
    def __init__(self) -> None:
        self.depth: list[tuple[int, int, dict, dict]] = []
        self.orders: list = []
        self.deals: list = []
        self.account: list = []

    def on_depth(self, symbol, from_version, to_version, bids, asks) -> None:
        self.depth.append((from_version, to_version, dict(bids), dict(asks)))

    def on_private_order(self, api_key, order, last_qty) -> None:
        self.orders.append((api_key, order.status, last_qty))

    def on_private_deal(self, api_key, trade) -> None:
        self.deals.append((api_key, trade))

    def on_private_account(self, api_key, change) -> None:
        self.account.append((api_key, change))


def make_exchange(*, levels: int = 0, price: str = "100", maker_fee: str = "0", taker_fee: str = "0.0005") -> tuple[SimExchange, ManualClock]:
    """One BTCUSDT market; with ``levels=0`` the market maker stays out of the book."""
    clock = ManualClock(T0)
    exchange = SimExchange(
        clock,
        seed=7,
        maker_fee=D(maker_fee),
        taker_fee=D(taker_fee),
        maker=MakerConfig(levels=levels, gap_ticks=1, min_notional=D(500), max_notional=D(1000)),
    )
    exchange.add_symbol(BTC, WalkPath(D(price), clock, BTC.tick, speed=0))  # a still market
    for key in ("alice", "bob", "carol"):
        exchange.add_account(key, f"{key}-secret", {"USDT": D(100_000), "BTC": D(10)})
    return exchange, clock


def code_of(call) -> int:
    with pytest.raises(SimReject) as caught:
        call()
    return caught.value.code


# -- matching -------------------------------------------------------------------------


def test_resting_orders_fill_best_price_first_then_oldest_first():
    x, clock = make_exchange()
    first = x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D(101))
    clock.advance(1)
    second = x.place_order("bob", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D(101))
    better = x.place_order("carol", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D("100.5"))

    taker = x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D("2.5"), price=D(101))

    assert taker.status == "FILLED"
    assert taker.cum_quote == D("100.5") + D(101) + D("50.5")
    assert x.get_order("carol", "BTCUSDT", better.order_id).status == "FILLED"
    assert x.get_order("alice", "BTCUSDT", first.order_id).status == "FILLED"
    later = x.get_order("bob", "BTCUSDT", second.order_id)
    assert (later.status, later.executed_qty) == ("PARTIALLY_FILLED", D("0.5"))
    assert [t.price for t in x.my_trades("alice", "BTCUSDT", order_id=taker.order_id)] == [D("100.5"), D(101), D(101)]


def test_fees_are_exact_and_taken_from_the_asset_received():
    x, _ = make_exchange(maker_fee="0.0002", taker_fee="0.0005")
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D("0.5"), price=D(100))
    x.place_order("bob", "BTCUSDT", "BUY", "LIMIT", quantity=D("0.5"), price=D(100))

    seller, buyer = x.balances("alice"), x.balances("bob")
    assert seller["USDT"] == (D(100_000) + D(50) - D("0.01"), D(0))  # maker: 0.0002 of the quote
    assert seller["BTC"] == (D("9.5"), D(0))
    assert buyer["BTC"] == (D(10) + D("0.5") - D("0.00025"), D(0))  # taker: 0.0005 of the base
    assert buyer["USDT"] == (D(100_000) - D(50), D(0))
    (maker_trade,) = x.my_trades("alice", "BTCUSDT")
    (taker_trade,) = x.my_trades("bob", "BTCUSDT")
    assert (maker_trade.fee, maker_trade.fee_asset, maker_trade.is_maker) == (D("0.01"), "USDT", True)
    assert (taker_trade.fee, taker_trade.fee_asset, taker_trade.is_maker) == (D("0.00025"), "BTC", False)


@pytest.mark.parametrize(
    ("side", "quantity", "price", "fee", "fee_asset"),
    [
        pytest.param("BUY", "0.001", "1000", "0.000001", "BTC", id="a buy's fee of 0.0000005 BTC is rounded half up to six decimals"),
        pytest.param("BUY", "0.0008", "2000", "0", "BTC", id="a buy's fee of 0.0000004 BTC rounds to nothing"),
        pytest.param("SELL", "0.01", "1000", "0.01", "USDT", id="a sell's fee of 0.005 USDT is rounded half up to two decimals"),
        pytest.param("SELL", "0.003", "1000", "0", "USDT", id="a sell's fee of 0.0015 USDT rounds down to nothing"),
        pytest.param("SELL", "0.5", "100", "0.03", "USDT", id="a sell's fee of 0.025 USDT rounds up, not to the even cent"),
    ],
)
def test_a_fee_is_rounded_to_the_commission_precision_and_charged_as_reported(side, quantity, price, fee, fee_asset):
    x, _ = make_exchange(taker_fee="0.0005")
    total_before = {a: sum(sum(x.balances(k)[a]) for k in ("alice", "bob")) for a in ("BTC", "USDT")}
    x.place_order("alice", "BTCUSDT", "SELL" if side == "BUY" else "BUY", "LIMIT", quantity=D(quantity), price=D(price))
    before = x.balances("bob")[fee_asset][0]

    taker = x.place_order("bob", "BTCUSDT", side, "MARKET", quantity=D(quantity))

    (trade,) = x.my_trades("bob", "BTCUSDT", order_id=taker.order_id)
    assert (trade.fee, trade.fee_asset) == (D(fee), fee_asset)
    received = D(quantity) if side == "BUY" else D(quantity) * D(price)
    assert x.balances("bob")[fee_asset][0] - before == received - D(fee)
    total_after = {a: sum(sum(x.balances(k)[a]) for k in ("alice", "bob")) for a in ("BTC", "USDT")}
    assert total_before[fee_asset] - total_after[fee_asset] == D(fee)  # the maker pays nothing here
    other = "USDT" if fee_asset == "BTC" else "BTC"
    assert total_before[other] == total_after[other]


def test_a_partial_fill_keeps_the_rest_in_the_book_and_locked():
    x, _ = make_exchange()
    sell = x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D(100))
    x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quantity=D("0.4"))

    order = x.get_order("alice", "BTCUSDT", sell.order_id)
    assert (order.status, order.executed_qty, order.cum_quote) == ("PARTIALLY_FILLED", D("0.4"), D(40))
    assert x.balances("alice")["BTC"] == (D(9), D("0.6"))
    assert x.depth("BTCUSDT")[2] == [(D(100), D("0.6"))]


def test_cancelling_a_partly_filled_order_is_partially_canceled_and_unlocks_the_rest():
    x, _ = make_exchange()
    buy = x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(2), price=D(100))
    x.place_order("bob", "BTCUSDT", "SELL", "MARKET", quantity=D("0.5"))

    canceled = x.cancel_order("alice", "BTCUSDT", order_id=buy.order_id)

    assert canceled.status == "PARTIALLY_CANCELED"
    assert x.balances("alice")["USDT"] == (D(100_000) - D(50), D(0))
    assert x.open_orders("alice") == []
    assert code_of(lambda: x.cancel_order("alice", "BTCUSDT", order_id=buy.order_id)) == -2011


def test_a_buy_limit_filled_below_its_price_gets_the_difference_back():
    x, _ = make_exchange()
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D(90))
    order = x.place_order("bob", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(100))

    assert (order.status, order.cum_quote, order.reserved) == ("FILLED", D(90), D(0))
    assert x.balances("bob")["USDT"] == (D(100_000) - D(90), D(0))


def test_limit_maker_that_would_take_is_refused_and_one_that_would_not_rests():
    x, _ = make_exchange()
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D(100))

    assert code_of(lambda: x.place_order("bob", "BTCUSDT", "BUY", "LIMIT_MAKER", quantity=D(1), price=D(100))) == 30041
    resting = x.place_order("bob", "BTCUSDT", "BUY", "LIMIT_MAKER", quantity=D(1), price=D("99.99"))
    assert resting.status == "NEW"
    assert x.orders_seen("bob") == [resting]


def test_immediate_or_cancel_fills_what_crosses_and_cancels_the_rest():
    x, _ = make_exchange()
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D("0.3"), price=D(100))

    partial = x.place_order("bob", "BTCUSDT", "BUY", "IMMEDIATE_OR_CANCEL", quantity=D(1), price=D(100))
    nothing = x.place_order("bob", "BTCUSDT", "BUY", "IMMEDIATE_OR_CANCEL", quantity=D(1), price=D(100))

    assert (partial.status, partial.executed_qty) == ("PARTIALLY_CANCELED", D("0.3"))
    assert (nothing.status, nothing.executed_qty) == ("CANCELED", D(0))
    assert x.balances("bob")["USDT"] == (D(100_000) - D(30), D(0))
    assert x.depth("BTCUSDT")[1:] == ([], [])


def test_fill_or_kill_fills_all_or_nothing():
    x, _ = make_exchange()
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D("0.3"), price=D(100))
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D("0.3"), price=D(101))

    killed = x.place_order("bob", "BTCUSDT", "BUY", "FILL_OR_KILL", quantity=D("0.5"), price=D(100))
    filled = x.place_order("bob", "BTCUSDT", "BUY", "FILL_OR_KILL", quantity=D("0.5"), price=D(101))

    assert (killed.status, killed.executed_qty) == ("CANCELED", D(0))
    assert (filled.status, filled.executed_qty, filled.cum_quote) == ("FILLED", D("0.5"), D(30) + D("20.2"))


def test_market_buy_by_amount_spends_at_most_the_amount_with_quantity_truncated():
    x, _ = make_exchange()
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D("30.03"))

    order = x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quote_qty=D(100))

    # 100 / 30.03 = 3.33000333..: one whole 1 BTC is all there is at that price
    assert (order.status, order.executed_qty, order.cum_quote) == ("PARTIALLY_CANCELED", D(1), D("30.03"))
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(5), price=D("30.03"))
    order = x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quote_qty=D(100))
    assert order.executed_qty == D("3.330003")  # truncated to 6 places, never rounded up
    assert order.cum_quote == D("99.99999009") and order.cum_quote <= D(100)
    assert order.status == "FILLED"
    assert x.balances("bob")["USDT"] == (D(100_000) - D("30.03") - D("99.99999009"), D(0))


def test_market_sell_by_amount_sells_the_base_that_amount_needs():
    x, _ = make_exchange()
    x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(10), price=D(40))

    order = x.place_order("bob", "BTCUSDT", "SELL", "MARKET", quote_qty=D(100))

    assert (order.status, order.executed_qty, order.cum_quote) == ("FILLED", D("2.5"), D(100))
    assert x.balances("bob")["BTC"] == (D("7.5"), D(0))


def test_a_market_order_walks_the_depth_and_stops_when_it_runs_out():
    x, _ = make_exchange()
    for price in ("100", "101", "102"):
        x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D(price))

    order = x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quantity=D("2.5"))
    assert (order.status, order.cum_quote) == ("FILLED", D(100) + D(101) + D(51))
    rest = x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quantity=D(2))
    assert (rest.status, rest.executed_qty) == ("PARTIALLY_CANCELED", D("0.5"))


# -- validations ------------------------------------------------------------------------


def test_refusals_use_mexcs_codes_and_messages():
    x, _ = make_exchange()
    cases = {
        10007: lambda: x.place_order("alice", "NOPEUSDT", "BUY", "LIMIT", quantity=D(1), price=D(1)),
        -1121: lambda: x.depth("NOPEUSDT"),
        10096: lambda: x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D("0.0000001"), price=D(100)),
        400: lambda: x.place_order("alice", "BTCUSDT", "BUY", "MARKET", quote_qty=D("10.001")),
        10102: lambda: x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(-1), price=D(100)),
        30002: lambda: x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D("0.001"), price=D(100)),
        30004: lambda: x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(2000), price=D(100)),
        -2013: lambda: x.get_order("alice", "BTCUSDT", order_id="C02__1"),
    }
    messages = {}
    for code, call in cases.items():
        with pytest.raises(SimReject) as caught:
            call()
        assert caught.value.code == code
        messages[code] = caught.value.msg
    assert messages[400] == " amount scale is invalid"
    assert messages[30002] == "The minimum transaction volume cannot be less than:1USDT"
    assert messages[-2013] == "Order does not exist."
    assert messages[-1121] == "Invalid symbol."
    assert messages[30004] == "Insufficient position"


def test_a_paused_symbol_refuses_orders():
    x, _ = make_exchange()
    x.set_status("BTCUSDT", "2")
    assert code_of(lambda: x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(100))) == 30016


def test_a_client_order_id_is_used_once_per_account():
    x, _ = make_exchange()
    x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(50), client_order_id="mine-1")

    assert code_of(lambda: x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(50), client_order_id="mine-1")) == 26
    other = x.place_order("bob", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(50), client_order_id="mine-1")
    assert other.client_order_id == "mine-1"
    assert len(x.orders_seen("alice")) == 1
    assert x.get_order("alice", "BTCUSDT", client_order_id="mine-1").side == "BUY"


def test_the_501st_open_order_is_refused():
    x, _ = make_exchange()
    for i in range(MAX_OPEN_ORDERS):
        x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D("0.02"), price=D(50) + i * D("0.01"))

    assert code_of(lambda: x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D("0.02"), price=D(50))) == 30029
    x.cancel_open_orders("alice", ["BTCUSDT"])
    assert x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D("0.02"), price=D(50)).status == "NEW"


def test_a_test_order_is_validated_but_never_placed():
    x, _ = make_exchange()
    x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(50), test=True)
    assert x.orders_seen("alice") == []
    assert code_of(lambda: x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D("0.001"), price=D(50), test=True)) == 30002


# -- the market maker and the path -----------------------------------------------------


def test_the_maker_fills_a_resting_order_when_the_price_jumps_through_it():
    x, _ = make_exchange(levels=20, price="100")
    assert x.book_top("BTCUSDT").bid == D(100)
    buy = x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(99), client_order_id="dip")

    x.set_price("BTCUSDT", D(98))

    order = x.get_order("alice", "BTCUSDT", buy.order_id)
    assert (order.status, order.cum_quote) == ("FILLED", D(99))  # at the user's price
    (trade,) = x.my_trades("alice", "BTCUSDT")
    assert trade.is_maker and trade.fee == 0
    top = x.book_top("BTCUSDT")
    assert (top.bid, top.ask) == (D(98), D("98.01"))


def test_the_maker_fills_a_resting_order_when_the_path_moves_through_it():
    clock = ManualClock(T0)
    x = SimExchange(clock, seed=3, maker=MakerConfig(levels=10, gap_ticks=1))
    candles = [Candle(0, D(100), D(100), D(95), D(95), D(1)), Candle(300_000, D(95), D(96), D(95), D(96), D(1))]
    x.add_symbol(BTC, CandlePath(candles, clock, BTC.tick, speed=1.0))
    x.add_account("alice", "s", {"USDT": D(1000)})
    sell_side_before = x.book_top("BTCUSDT").ask
    buy = x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(97))

    clock.advance(300_000)  # the first candle's low (95) is behind us
    x.tick()

    assert sell_side_before == D("100.01")
    order = x.get_order("alice", "BTCUSDT", buy.order_id)
    assert (order.status, order.cum_quote) == ("FILLED", D(97))
    assert x.balances("alice")["BTC"] == (D(1), D(0))


def test_a_market_order_walks_the_makers_ladder():
    x, _ = make_exchange(levels=20, price="100")
    asks = x.depth("BTCUSDT", 20)[2]
    first_three = sum((q for _, q in asks[:3]), D(0))

    order = x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quantity=first_three)

    assert order.status == "FILLED"
    assert order.cum_quote == sum((p * q for p, q in asks[:3]), D(0))
    assert x.depth("BTCUSDT", 20)[2][0] == asks[3]


def test_depth_version_grows_by_one_per_book_change_and_diffs_rebuild_the_book():
    x, _ = make_exchange(levels=5)
    recorder = Recorder()
    x.listeners.append(recorder)
    version, bids, asks = x.depth("BTCUSDT", 100)
    book = {"bids": dict(bids), "asks": dict(asks)}

    x.place_order("alice", "BTCUSDT", "BUY", "LIMIT", quantity=D(1), price=D(90))
    assert x.depth("BTCUSDT")[0] == version + 1
    assert recorder.depth[-1] == (version + 1, version + 1, {D(90): D(1)}, {})
    x.cancel_open_orders("alice")
    assert x.depth("BTCUSDT")[0] == version + 2
    x.set_price("BTCUSDT", D("100.5"))  # the whole ladder moves
    x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quantity=D("0.5"))

    expected_from = version + 1
    for first, last, bid_diff, ask_diff in recorder.depth:
        assert first == expected_from
        expected_from = last + 1
        for side, diff in (("bids", bid_diff), ("asks", ask_diff)):
            for price, qty in diff.items():
                if qty == 0:
                    book[side].pop(price, None)
                else:
                    book[side][price] = qty
    final_version, final_bids, final_asks = x.depth("BTCUSDT", 100)
    assert expected_from - 1 == final_version
    assert book == {"bids": dict(final_bids), "asks": dict(final_asks)}


def test_a_fill_reports_the_order_the_deal_and_both_balances():
    x, _ = make_exchange()
    recorder = Recorder()
    x.listeners.append(recorder)
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D(100))
    recorder.orders.clear()
    recorder.account.clear()

    x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quantity=D(1))

    assert ("alice", "FILLED", D(1)) in recorder.orders
    assert ("bob", "FILLED", D(1)) in recorder.orders
    assert sorted(key for key, _ in recorder.deals) == ["alice", "bob"]
    bob_changes = {(c.asset, c.kind) for key, c in recorder.account if key == "bob"}
    assert {("USDT", "ENTRUST_PLACE"), ("USDT", "ENTRUST"), ("BTC", "ENTRUST")} <= bob_changes


def test_a_new_listing_trades_at_once():
    x, clock = make_exchange(levels=5)
    sol = SimSymbol("SOLUSDT", "SOL", "USDT", 3, 2, min_quantity=D("0.001"))
    x.add_symbol(sol, WalkPath(D(180), clock, sol.tick, speed=0))

    assert x.book_top("SOLUSDT").bid == D(180)
    order = x.place_order("alice", "SOLUSDT", "BUY", "MARKET", quote_qty=D(100))
    assert order.status == "FILLED" and order.executed_qty > 0
    with pytest.raises(ValueError):
        x.add_symbol(sol, WalkPath(D(180), clock, sol.tick, speed=0))


def test_klines_fold_trades_into_every_interval():
    x, clock = make_exchange()
    clock.set(T0 - T0 % 60_000)  # the start of a minute
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(2), price=D(100))
    x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quantity=D(1))
    clock.advance(1_000)
    x.place_order("alice", "BTCUSDT", "SELL", "LIMIT", quantity=D(1), price=D(98))
    x.place_order("bob", "BTCUSDT", "BUY", "MARKET", quantity=D(2))

    (k,) = [k for k in x.klines("BTCUSDT", "1m") if k.open_time == clock.now_ms() - 1_000]
    assert (k.high, k.low, k.close) == (D(100), D(98), D(100))
    assert k.volume >= D(3) and k.close_time - k.open_time == 60_000
    assert code_of(lambda: x.klines("BTCUSDT", "1h")) == 33333
    monday = window("1W", 1_700_000_000_000)[0]  # 2023-11-14 is a Tuesday
    assert monday == 1_699_833_600_000  # Monday 2023-11-13 00:00 UTC


# -- price paths -----------------------------------------------------------------------


def test_a_walk_is_the_same_for_the_same_seed_and_different_for_another():
    def prices(seed: int) -> list[Decimal]:
        clock = ManualClock(T0)
        path = WalkPath(D(100), clock, D("0.01"), seed=seed, speed=10)
        out = []
        for _ in range(50):
            clock.advance(100)
            out.append(path.price())
        return out

    assert prices(1) == prices(1)
    assert prices(1) != prices(2)
    assert len(set(prices(1))) > 10  # it moves, tick by tick


def test_a_candle_path_visits_each_candles_extremes_scales_and_loops_without_a_seam():
    candles = load_candles()[:3]
    clock = ManualClock(T0)
    scale = D(95_000) / candles[0].open
    path = CandlePath(candles, clock, D("0.01"), reference=D(95_000), seed=5, speed=1)
    duration = 300_000

    seen = [path.price_at(T0 + t) for t in range(0, duration + 1, 1_000)]

    high, low = candles[0].high * scale, candles[0].low * scale
    assert path.price_at(T0) == D(95_000)
    assert all(low - D("0.01") <= p <= high + D("0.01") for p in seen)
    assert max(seen) == pytest.approx(high, abs=D("0.1"))  # sampled once a second
    assert min(seen) == pytest.approx(low, abs=D("0.1"))
    assert path.price_at(T0 + duration - 1) == pytest.approx((candles[0].close * scale), abs=D(1))
    # Looped, carrying on from the last close: the seam is no jump.
    ratio = candles[-1].close / candles[0].open
    assert path.price_at(T0 + 3 * duration) == (D(95_000) * ratio).quantize(D("0.01"))
    assert path.price_at(T0 + 4 * duration) == (path.price_at(T0 + duration) * ratio).quantize(D("0.01"))


# -- history before the simulator started ---------------------------------------------


def walk(seed: int = 3, speed: float = 10) -> tuple[WalkPath, ManualClock]:
    clock = ManualClock(T0 + 12_345)  # mid-minute
    return WalkPath(D(95_000), clock, D("0.01"), seed=seed, speed=speed), clock


@pytest.mark.parametrize("kind", ["walk", "candles"])
def test_history_is_whole_minutes_up_to_the_start_minute_with_consistent_candles_on_the_tick(kind: str):
    path: PricePath
    if kind == "walk":
        path, _ = walk()
    else:
        path = CandlePath(load_candles(), ManualClock(T0 + 12_345), D("0.01"), reference=D(95_000), seed=5, speed=10)
    rows = path.history(120)
    assert len(rows) == 120
    start_minute = (T0 + 12_345) // 60_000 * 60_000
    assert [t for t, *_ in rows] == [start_minute - 120 * 60_000 + i * 60_000 for i in range(120)]
    for _, o, h, low, c in rows:
        assert low <= min(o, c) and h >= max(o, c)
        assert all(p == p.quantize(D("0.01")) for p in (o, h, low, c))
    assert len({c for *_, c in rows}) > 60  # it moved
    assert all(abs(c - D(95_000)) < D(95_000) * D("0.3") for *_, c in rows)


def test_history_is_seeded_and_leaves_the_walk_ahead_untouched():
    a, clock_a = walk(seed=3)
    b, clock_b = walk(seed=3)
    assert a.history(60) == b.history(60)
    assert walk(seed=4)[0].history(60) != a.history(60)
    fresh, clock_f = walk(seed=3)
    for clock in (clock_a, clock_f):
        clock.advance(30_000)
    assert a.price() == fresh.price()  # the future does not depend on the past drawn


def test_a_still_market_has_no_history():
    assert walk(speed=0)[0].history(60) == []


def test_history_candles_fold_into_every_interval_and_live_trades_carry_on():
    from engine.exchanges.mexc_sim.klines import KlineSeries
    from engine.exchanges.mexc_sim.model import Kline

    minutes = [
        Kline("1m", T0 + i * 60_000, T0 + (i + 1) * 60_000, D(100 + i), D(110 + i), D(90 + i), D(101 + i), D(1), D(100))
        for i in range(10)
    ]
    series = KlineSeries()
    series.seed(minutes)
    start = window("5m", T0)[0]
    five = [k for k in series.query("5m", None, None, 10, T0 + 10 * 60_000) if k.open_time >= start]
    first = [m for m in minutes if window("5m", m.open_time)[0] == five[0].open_time]
    assert (five[0].open, five[0].close) == (first[0].open, first[-1].close)
    assert (five[0].high, five[0].low) == (max(m.high for m in first), min(m.low for m in first))
    assert five[0].volume == len(first) and five[0].quote_volume == 100 * len(first)
    series.add_trade(D(111), D(1), T0 + 10 * 60_000)
    assert series.query("1m", None, None, 2, T0 + 10 * 60_000)[-2:][0].close == D(110)
    with pytest.raises(ValueError):
        series.seed(minutes)


def test_a_simulator_answers_klines_from_before_it_started_but_a_new_listing_has_none():
    import httpx

    from engine.exchanges.mexc_sim import Simulator

    with Simulator(symbols=["BTCUSDT"], speed=10, history_minutes=90) as sim, httpx.Client(base_url=sim.rest_url) as http:
        rows = http.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": 500}).json()
        assert 90 <= len(rows) <= 92  # the history, and the live minute or two
        assert rows[0][0] < sim.clock.now_ms() - 89 * 60_000
        sim.list_symbol("NEWUSDT", 2, 4, D(1))
        listed = http.get("/api/v3/klines", params={"symbol": "NEWUSDT", "interval": "1m", "limit": 500}).json()
        assert len(listed) <= 2


def kept_minutes(first_open: int, closes: list[str]):
    from engine.candles import Candle as EngineCandle

    out, previous = [], D(closes[0])
    for i, close in enumerate(closes):
        c = D(close)
        out.append(EngineCandle("1m", first_open + i * 60_000, previous, max(previous, c) + 5, min(previous, c) - 5, c, D(1), c))
        previous = c
    return out


def test_a_simulator_resumed_from_an_earlier_run_keeps_its_past_and_makes_up_only_the_gap():
    from engine.exchanges.mexc_sim import Simulator

    clock = ManualClock(T0 + 12_345)
    minute = (T0 + 12_345) // 60_000 * 60_000
    kept = kept_minutes(minute - 40 * 60_000, ["80100.00", "80050.00", "80000.00"])  # ended 37 minutes ago
    sim = Simulator(symbols=["BTCUSDT", "ETHUSDT"], speed=10, clock=clock, resume_from={"BTCUSDT": kept})
    btc = [k for k in sim.exchange.klines("BTCUSDT", "1m", None, None, 100) if k.open_time < minute]
    assert [(k.open_time, k.close) for k in btc[:3]] == [(c.open_time, c.close) for c in kept]  # the past as it was
    gap = btc[3:]
    assert [k.open_time for k in gap] == [kept[-1].open_time + (i + 1) * 60_000 for i in range(37)]
    assert gap[0].open == D("80000.00")  # made up from where the earlier run left off
    last = sim.exchange.last_price("BTCUSDT")
    assert last is not None and abs(last - gap[-1].close) < D(80000) * D("0.02")  # and carries on
    assert len(sim.exchange.klines("ETHUSDT", "1m", None, None, 2000)) > 1000  # no earlier run: a day of history


def test_a_restart_within_the_minute_continues_the_open_candle_at_its_price():
    from engine.exchanges.mexc_sim import Simulator

    clock = ManualClock(T0 + 12_345)
    minute = (T0 + 12_345) // 60_000 * 60_000
    kept = kept_minutes(minute - 60_000, ["3000.00", "2990.00"])  # the last one is this minute, left open
    sim = Simulator(symbols=["ETHUSDT"], speed=0, clock=clock, resume_from={"ETHUSDT": kept})
    last = sim.exchange.last_price("ETHUSDT")
    assert last is not None and abs(last - D("2990.00")) <= D("0.01")
    [now_candle] = [k for k in sim.exchange.klines("ETHUSDT", "1m", None, None, 10) if k.open_time == minute]
    assert now_candle.low <= kept[-1].low and now_candle.high >= kept[-1].high  # the minute's range before the restart stays


def test_trade_ids_are_never_repeated_by_a_simulator_started_again():
    from engine.exchanges.mexc_sim import Simulator

    def trade_ids(start_ms: int) -> set[str]:
        sim = Simulator(symbols=["BTCUSDT"], speed=0, clock=ManualClock(start_ms), history_minutes=0, seed=42)
        sim.add_account("k", "s", {"USDT": "10000"})
        for _ in range(5):
            sim.exchange.place_order("k", "BTCUSDT", "BUY", "MARKET", quote_qty=D(100))
        return {t.trade_id for t in sim.exchange.my_trades("k", "BTCUSDT")}

    first, again = trade_ids(T0), trade_ids(T0 + 60_000)
    assert len(first) >= 5 and not first & again
    assert trade_ids(T0) == first  # still repeatable for the same start
