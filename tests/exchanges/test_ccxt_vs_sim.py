"""ccxt's own MEXC spot client, unchanged, trading on the simulator over loopback HTTP.

ccxt is only configured, as any user would configure it: its spot URLs (and the
futures one its ``load_markets`` also reads) point at the simulator, with an API key
pair and ``adjustForTimeDifference``. What it reports is checked against the
simulator's own state (``orders_seen``, its trades, ``account_balances``), to the
exact Decimal wherever money is involved.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from decimal import Decimal

import ccxt
import pytest

from engine.exchanges.mexc_sim.simulator import Simulator

D = Decimal
SYMBOL, MARKET = "BTC/USDT", "BTCUSDT"
START = {"USDT": D(10_000), "BTC": D(1)}
START_BALANCES = {"USDT": (D(10_000), D(0)), "BTC": (D(1), D(0))}  # (free, locked)
_keys = itertools.count(1)


def client(sim: Simulator, api_key: str = "", secret: str = "") -> ccxt.mexc:
    exchange = ccxt.mexc({
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": False,  # the simulator enforces MEXC's limits itself
        "options": {"adjustForTimeDifference": True},
    })
    exchange.urls["api"]["spot"] = {"public": sim.rest_url, "private": sim.rest_url}
    exchange.urls["api"]["contract"] = {"public": f"{sim.rest_url}/api/v1/contract", "private": f"{sim.rest_url}/api/v1/private"}
    return exchange


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """A still market: the book holds only the market maker's ladder and what tests rest."""
    with Simulator(speed=0, seed=3, maker_fee=D("0.0002"), taker_fee=D("0.0005")) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def moving() -> Iterator[Simulator]:
    """A moving market with a day of candles behind it."""
    with Simulator(seed=4) as simulator:
        yield simulator


class Account:
    """A fresh simulator account, and ccxt logged in to it with its markets loaded."""

    def __init__(self, sim: Simulator) -> None:
        self.key, secret = f"ccxt-{next(_keys)}", "ccxt-secret"
        sim.add_account(self.key, secret, START)
        self.sim = sim
        self.ccxt = client(sim, self.key, secret)
        self.ccxt.load_markets()

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {a: (b.free, b.locked) for a, b in self.sim.account_balances(self.key).items() if b.free or b.locked}


@pytest.fixture
def account(sim: Simulator) -> Account:
    return Account(sim)


def book_top(sim: Simulator) -> tuple[Decimal, Decimal]:
    top = sim.exchange.book_top(MARKET)
    assert top.bid is not None and top.ask is not None
    return top.bid, top.ask


# -- markets, currencies, market data ---------------------------------------------------------


def test_load_markets_reads_every_symbol_with_mexcs_precisions_and_limits(account):
    markets, currencies = account.ccxt.markets, account.ccxt.currencies

    assert sorted(m for m in markets) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]  # no futures: the simulator lists none
    for info in account.sim.exchange.symbols():
        market = markets[f"{info.base}/{info.quote}"]
        assert (market["id"], market["active"], market["spot"]) == (info.symbol, True, True)
        assert D(str(market["precision"]["amount"])) == info.step and D(str(market["precision"]["price"])) == info.tick
        assert D(market["info"]["baseSizePrecision"]) == info.min_quantity
        assert D(market["info"]["quoteAmountPrecision"]) == info.min_notional
        assert (market["maker"], market["taker"]) == (0.0002, 0.0005)
    assert sorted(currencies) == ["BTC", "ETH", "SOL", "USDT"]
    assert sorted(currencies["USDT"]["networks"]) == ["ERC20", "TRC20"]
    assert isinstance(account.ccxt.options["timeDifference"], int)  # the simulator's /time was read


def test_ticker_tickers_and_bids_asks_show_the_simulators_book_top(account):
    bid, ask = book_top(account.sim)

    ticker = account.ccxt.fetch_ticker(SYMBOL)
    tickers = account.ccxt.fetch_tickers()
    bids_asks = account.ccxt.fetch_bids_asks()

    assert (D(ticker["info"]["bidPrice"]), D(ticker["info"]["askPrice"])) == (bid, ask)
    assert (ticker["bid"], ticker["ask"]) == (float(bid), float(ask))
    assert sorted(tickers) == sorted(bids_asks) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert (bids_asks[SYMBOL]["bid"], bids_asks[SYMBOL]["ask"]) == (float(bid), float(ask))


def test_the_order_book_is_the_simulators_depth(account):
    version, bids, asks = account.sim.exchange.depth(MARKET, 5)

    book = account.ccxt.fetch_order_book(SYMBOL, 5)

    assert book["bids"] == [[float(p), float(q)] for p, q in bids]
    assert book["asks"] == [[float(p), float(q)] for p, q in asks]
    assert book["nonce"] == version


def test_ohlcv_rows_are_the_simulators_closed_candles(moving):
    rows = client(moving).fetch_ohlcv(SYMBOL, "5m", limit=20)
    candles = {k.open_time: k for k in moving.exchange.klines(MARKET, "5m", None, None, 30)}

    closed = rows[:-1]  # the newest may still be moving
    assert len(closed) == 19
    for open_time, o, h, low, c, volume in closed:
        k = candles[open_time]
        assert (o, h, low, c, volume) == (float(k.open), float(k.high), float(k.low), float(k.close), float(k.volume))
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_the_balance_is_the_simulators_account_to_the_decimal(account):
    balance = account.ccxt.fetch_balance()

    reported = {b["asset"]: (D(b["free"]), D(b["locked"])) for b in balance["info"]["balances"]}
    assert reported == account.balances() == START_BALANCES
    assert (balance["free"]["USDT"], balance["total"]["BTC"]) == (10_000.0, 1.0)


def test_the_trading_fee_is_the_accounts_commission(account):
    fee = account.ccxt.fetch_trading_fee(SYMBOL)
    assert (fee["maker"], fee["taker"]) == (0.0002, 0.0005)


# -- orders -------------------------------------------------------------------------------------


def test_a_limit_buy_below_the_market_rests_then_cancels_and_releases_its_usdt(account):
    price = book_top(account.sim)[0] - 1000
    placed = account.ccxt.create_order(SYMBOL, "limit", "buy", 0.001, float(price))

    open_orders = account.ccxt.fetch_open_orders(SYMBOL)
    resting = account.balances()
    canceled = account.ccxt.cancel_order(placed["id"], SYMBOL)
    fetched = account.ccxt.fetch_order(placed["id"], SYMBOL)

    assert [o["id"] for o in open_orders] == [placed["id"]] and open_orders[0]["status"] == "open"
    assert resting["USDT"] == (D(10_000) - price * D("0.001"), price * D("0.001"))
    assert canceled["id"] == placed["id"]
    assert (fetched["status"], fetched["filled"], fetched["amount"]) == ("canceled", 0.0, 0.001)
    (seen,) = account.sim.orders_seen(account.key)
    assert (seen.order_id, seen.status, seen.price, seen.orig_qty) == (placed["id"], "CANCELED", price, D("0.001"))
    assert account.balances() == START_BALANCES
    assert [o["status"] for o in account.ccxt.fetch_orders(SYMBOL)] == ["canceled"]


def test_an_order_is_found_and_canceled_by_its_client_order_id(account):
    price = book_top(account.sim)[0] - 1000
    account.ccxt.create_order(SYMBOL, "limit", "buy", 0.001, float(price), {"clientOrderId": "ccxt-dip"})

    fetched = account.ccxt.fetch_order(None, SYMBOL, {"clientOrderId": "ccxt-dip"})
    account.ccxt.cancel_order(None, SYMBOL, {"clientOrderId": "ccxt-dip"})  # ccxt also sends a stray clientOrderId

    (seen,) = account.sim.orders_seen(account.key)
    assert (fetched["id"], fetched["clientOrderId"], fetched["status"]) == (seen.order_id, "ccxt-dip", "open")
    assert (seen.client_order_id, seen.status) == ("ccxt-dip", "CANCELED")


def test_a_limit_sell_above_the_market_rests_with_its_btc_locked(account):
    price = book_top(account.sim)[1] + 1000
    placed = account.ccxt.create_order(SYMBOL, "limit", "sell", 0.002, float(price))

    fetched = account.ccxt.fetch_order(placed["id"], SYMBOL)

    assert (fetched["status"], fetched["side"], fetched["price"], fetched["amount"]) == ("open", "sell", float(price), 0.002)
    assert account.balances() == {"USDT": (D(10_000), D(0)), "BTC": (D("0.998"), D("0.002"))}
    assert account.ccxt.fetch_my_trades(SYMBOL) == []


def _limit_through_the_book(account: Account) -> dict:
    return account.ccxt.create_order(SYMBOL, "limit", "buy", 0.003, float(book_top(account.sim)[1] + 50))


@pytest.mark.parametrize(
    "place",
    [
        pytest.param(_limit_through_the_book, id="a limit buy priced through the book fills at once at the book's prices"),
        pytest.param(lambda a: a.ccxt.create_order(SYMBOL, "market", "buy", 0.003), id="a market buy by amount fills that amount"),
        pytest.param(lambda a: a.ccxt.create_market_buy_order_with_cost(SYMBOL, 250), id="a market buy by cost spends at most the cost"),
        pytest.param(lambda a: a.ccxt.create_order(SYMBOL, "market", "sell", 0.003), id="a market sell pays its fee in USDT"),
    ],
)
def test_a_filled_order_reads_back_as_the_simulator_filled_it_and_the_balances_add_up(account, place: Callable[[Account], dict]):
    placed = place(account)

    fetched = account.ccxt.fetch_order(placed["id"], SYMBOL)
    trades = account.ccxt.fetch_my_trades(SYMBOL)

    (seen,) = account.sim.orders_seen(account.key)
    fills = account.sim.exchange.my_trades(account.key, MARKET, order_id=seen.order_id)
    assert (fetched["id"], fetched["status"], seen.status) == (seen.order_id, "closed", "FILLED")
    assert (D(fetched["info"]["executedQty"]), D(fetched["info"]["cummulativeQuoteQty"])) == (seen.executed_qty, seen.cum_quote)
    assert fetched["filled"] == float(seen.executed_qty) and len(fills) >= 1
    assert [(t["id"], t["order"], t["side"], t["takerOrMaker"]) for t in trades] == [
        (f.trade_id, seen.order_id, seen.side.lower(), "taker") for f in fills
    ]
    reported = [(D(t["info"]["price"]), D(t["info"]["qty"]), D(t["info"]["quoteQty"]), D(t["info"]["commission"])) for t in trades]
    assert reported == [(f.price, f.qty, f.quote, f.fee) for f in fills]
    if seen.orig_quote_qty is not None:  # by cost: at most the cost, and not one more lot's worth left
        assert seen.orig_quote_qty == D(250) and seen.cum_quote <= 250 < seen.cum_quote + max(f.price for f in fills) * D("0.000001")
    else:
        assert seen.executed_qty == D("0.003")

    # What ccxt was told was charged is exactly what the account paid.
    quote = sum((q for _, _, q, _ in reported), D(0))
    qty = sum((q for _, q, _, _ in reported), D(0))
    fee = sum((f for *_, f in reported), D(0))
    assert {t["fee"]["currency"] for t in trades} == {"BTC" if seen.side == "BUY" else "USDT"}
    if seen.side == "BUY":
        assert account.balances() == {"USDT": (D(10_000) - quote, D(0)), "BTC": (D(1) + qty - fee, D(0))}
    else:
        assert account.balances() == {"USDT": (D(10_000) + quote - fee, D(0)), "BTC": (D(1) - qty, D(0))}


def test_create_orders_places_a_batch_and_marks_the_refused_one_rejected(account):
    price = float(book_top(account.sim)[0] - 1000)
    orders = [
        {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.001, "price": price},
        {"symbol": SYMBOL, "type": "limit", "side": "buy", "amount": 0.000001, "price": price, "params": {"clientOrderId": "too-small"}},
    ]

    placed, refused = account.ccxt.create_orders(orders)

    (seen,) = account.sim.orders_seen(account.key)
    assert placed["id"] == seen.order_id and seen.status == "NEW"
    assert (refused["status"], refused["clientOrderId"], refused["info"]["code"]) == ("rejected", "too-small", 30002)

