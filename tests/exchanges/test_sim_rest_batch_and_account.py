"""The simulator's batch orders, commission, coin list and batch book ticker over real
sockets: MEXC's shapes, and what each does to the account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from engine.clock import ManualClock
from engine.exchanges.mexc_sim.simulator import Simulator
from tests.support.signed import signed_call

D = Decimal
KEY, SECRET = "batch-key", "batch-secret"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """A still market on a clock that moves only when a test moves it: every call
    below lands in the same second unless the test says otherwise."""
    clock = ManualClock(1_750_000_000_000)
    accounts = {KEY: (SECRET, {"USDT": "10000", "BTC": "1"})}
    with Simulator(accounts=accounts, speed=0, clock=clock, maker_fee=D("0.0002"), taker_fee=D("0.001")) as simulator:
        yield simulator


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.rest_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def clock(sim: Simulator) -> ManualClock:
    assert isinstance(sim.clock, ManualClock)
    sim.clock.advance(1_000)  # a fresh second: the batch limit starts over
    return sim.clock


def call(http: httpx.Client, sim: Simulator, method: str, path: str, params: list[tuple[str, object]]) -> httpx.Response:
    return signed_call(http, method, path, params, KEY, SECRET, ts=sim.clock.now_ms())


def batch(http: httpx.Client, sim: Simulator, orders: object) -> httpx.Response:
    text = orders if isinstance(orders, str) else json.dumps(orders)
    return call(http, sim, "POST", "batchOrders", [("batchOrders", text)])


def limit_buy(price: str, quantity: str = "0.001", **extra: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": quantity, "price": price, **extra}


# -- batchOrders ------------------------------------------------------------------------------


def test_a_batch_places_each_order_and_answers_each_refusal_in_its_place(sim, http, clock):
    before = sim.account_balances(KEY)["USDT"]
    seen = len(sim.orders_seen(KEY))

    r = batch(http, sim, [
        limit_buy("80000", newClientOrderId="b-1"),
        limit_buy("80000", quantity="0.00001", newClientOrderId="b-tiny"),  # 0.8 USDT: below the 1 USDT minimum
        limit_buy("81000"),
    ])

    assert r.status_code == 200, r.text
    first, refused, third = r.json()
    placed = sim.orders_seen(KEY)[seen:]
    assert [o.order_id for o in placed] == [first["orderId"], third["orderId"]]
    assert first == {"symbol": "BTCUSDT", "orderId": placed[0].order_id, "orderListId": -1, "newClientOrderId": "b-1"}
    assert third == {"symbol": "BTCUSDT", "orderId": placed[1].order_id, "orderListId": -1}
    assert refused == {"newClientOrderId": "b-tiny", "msg": "The minimum transaction volume cannot be less than:1USDT", "code": 30002}
    after = sim.account_balances(KEY)["USDT"]
    assert after.locked - before.locked == D("80") + D("81") == before.free - after.free
    assert [o.client_order_id for o in placed] == ["b-1", None] and all(o.status == "NEW" for o in placed)


@pytest.mark.parametrize(
    "orders",
    [
        pytest.param([limit_buy("80000")] * 21, id="more than twenty orders are refused as a whole"),
        pytest.param([limit_buy("80000"), {**limit_buy("3000"), "symbol": "ETHUSDT"}], id="orders for two symbols are refused as a whole"),
        pytest.param("[{not json", id="a batch that is not JSON is refused"),
        pytest.param([], id="an empty batch is refused"),
        pytest.param({"symbol": "BTCUSDT"}, id="an object instead of an array is refused"),
    ],
)
def test_a_batch_that_is_not_up_to_twenty_orders_for_one_symbol_places_nothing(sim, http, clock, orders):
    seen = len(sim.orders_seen(KEY))

    r = batch(http, sim, orders)

    assert (r.status_code, r.json()) == (400, {"code": 33333, "msg": "param is error"})
    assert len(sim.orders_seen(KEY)) == seen


def test_a_batch_without_its_array_is_700004(sim, http, clock):
    r = call(http, sim, "POST", "batchOrders", [("symbol", "BTCUSDT")])
    assert r.status_code == 400 and r.json()["code"] == 700004


def test_a_third_batch_within_one_second_is_429_until_the_second_is_over(sim, http, clock):
    assert batch(http, sim, [limit_buy("70000")]).status_code == 200
    assert batch(http, sim, [limit_buy("70000")]).status_code == 200
    seen = len(sim.orders_seen(KEY))

    third = batch(http, sim, [limit_buy("70000")])
    single = call(http, sim, "POST", "order", list(limit_buy("70000").items()))
    clock.advance(1_000)
    later = batch(http, sim, [limit_buy("70000")])

    assert third.status_code == 429 and third.headers["Retry-After"] == "1"
    assert single.status_code == 200  # the limit is the batch endpoint's own
    assert later.status_code == 200
    assert len(sim.orders_seen(KEY)) == seen + 2


# -- tradeFee, capital/config/getall, bookTicker, the futures contract list -------------------


def test_trade_fee_answers_the_accounts_commission_as_numbers_in_mexcs_envelope(sim, http, clock):
    r = call(http, sim, "GET", "tradeFee", [("symbol", "BTCUSDT")])

    assert r.status_code == 200, r.text
    assert '"makerCommission":0.0002' in r.text and '"takerCommission":0.001' in r.text  # numbers, not strings
    body = r.json(parse_float=Decimal)
    assert body == {
        "data": {"makerCommission": D("0.0002"), "takerCommission": D("0.001")},
        "code": 0,
        "msg": "success",
        "timestamp": sim.clock.now_ms(),
    }


def test_trade_fee_for_an_unknown_symbol_is_minus_1121(sim, http, clock):
    r = call(http, sim, "GET", "tradeFee", [("symbol", "NOPEUSDT")])
    assert (r.status_code, r.json()["code"]) == (400, -1121)


def test_the_coin_list_names_every_listed_asset_once_with_its_networks(sim, http, clock):
    r = call(http, sim, "GET", "capital/config/getall", [])

    assert r.status_code == 200, r.text
    coins = {c["coin"]: c for c in r.json()}
    assert sorted(coins) == ["BTC", "ETH", "SOL", "USDT"]
    assert [n["network"] for n in coins["USDT"]["networkList"]] == ["ERC20", "TRC20"]
    for coin in coins.values():
        for network in coin["networkList"]:
            assert network["coin"] == coin["coin"] and network["depositEnable"] is True
            assert all(isinstance(network[k], str) and D(network[k]) >= 0 for k in ("withdrawFee", "withdrawMin", "withdrawMax"))
            assert D(network["withdrawMin"]) < D(network["withdrawMax"])


def test_the_coin_list_is_signed(sim, http):
    r = http.get("/api/v3/capital/config/getall")
    assert r.status_code == 400 and r.json()["code"] == 400  # "api key required"


def test_book_ticker_without_a_symbol_lists_every_symbol_as_each_alone_would(sim, http):
    everyone = http.get("/api/v3/ticker/bookTicker").json()

    assert [t["symbol"] for t in everyone] == [s.symbol for s in sim.exchange.symbols()]
    for ticker in everyone:
        alone = http.get("/api/v3/ticker/bookTicker", params={"symbol": ticker["symbol"]}).json()
        assert ticker == alone  # a still market: nothing moved in between
        assert D(ticker["bidPrice"]) < D(ticker["askPrice"]) and D(ticker["bidQty"]) > 0


def test_the_futures_contract_list_is_empty(http):
    r = http.get("/api/v1/contract/detail")
    assert (r.status_code, r.json()) == (200, {"success": True, "code": 0, "data": []})
