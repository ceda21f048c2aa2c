"""The simulator's REST API over real sockets: MEXC's paths, shapes, signing, limits, faults."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

import httpx
import pytest

from engine.clock import ManualClock
from engine.exchanges.mexc_sim import auth
from engine.exchanges.mexc_sim.limits import RatePolicy
from engine.exchanges.mexc_sim.simulator import Simulator
from tests.support import signed
from tests.support.signed import hmac_hex, now_ms
from tests.support.waiting import wait_for

D = Decimal
DOC_KEY = "mx0aBYs33eIilxBWC5"  # the MEXC docs' example key pair
DOC_SECRET = "45d0b3c26f2644f19bfb98b07741b2f5"
KEY, SECRET = "test-key", "test-secret"
DECIMAL_TEXT = re.compile(r"-?\d+(\.\d+)?")


def signed_query(params: list[tuple[str, object]], secret: str = SECRET, ts: int | None = None, recv: object = None) -> str:
    return signed.signed_query(params, secret, ts, recv)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    # A still market (speed 0): what rests stays unfilled until a test moves the price.
    accounts = {KEY: (SECRET, {"USDT": "10000", "BTC": "1"}), DOC_KEY: (DOC_SECRET, {"USDT": "1000"})}
    simulator = Simulator(accounts=accounts, speed=0, seed=11).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def http(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.rest_url, timeout=10.0) as client:
        yield client


def call(http: httpx.Client, method: str, path: str, params: list[tuple[str, object]], key: str = KEY, secret: str = SECRET, **kw) -> httpx.Response:
    return signed.signed_call(http, method, path, params, key, secret, **kw)


def assert_all_numbers_are_strings(value: object, numeric_keys: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in numeric_keys:
                assert isinstance(v, str) and DECIMAL_TEXT.fullmatch(v), (k, v)
            assert_all_numbers_are_strings(v, numeric_keys)
    elif isinstance(value, list):
        for item in value:
            assert_all_numbers_are_strings(item, numeric_keys)


# -- signing --------------------------------------------------------------------------------


def test_the_docs_mixed_example_signs_query_and_body_joined_without_ampersand():
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT"
    body = "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087&signature=abc"

    total, signature = auth.split_signature(query, body)

    assert total == "symbol=BTCUSDT&side=BUY&type=LIMITquantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    assert signature == "abc"
    assert hmac_hex(DOC_SECRET, total) == "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"


def test_an_order_signed_in_the_query_string_is_accepted(http):
    r = call(http, "POST", "order", [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.001"), ("price", "50000")], recv=5000)
    assert r.status_code == 200, r.text
    assert r.json()["orderId"].startswith("C02__")


def test_an_order_signed_over_query_and_form_body_is_accepted(http):
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT"
    body = f"quantity=1&price=11&recvWindow=5000&timestamp={now_ms()}"
    signature = hmac_hex(DOC_SECRET, query + body)

    r = http.post(
        f"/api/v3/order?{query}",
        content=f"{body}&signature={signature}",
        headers={"X-MEXC-APIKEY": DOC_KEY, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert r.status_code == 200, r.text
    assert (r.json()["price"], r.json()["origQty"]) == ("11", "1")


def test_a_json_body_is_read_and_signed_after_the_query_string(http):
    body = '{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"0.001","price":"40000"}'
    query = f"timestamp={now_ms()}"
    signature = hmac_hex(SECRET, query + body)
    r = http.post(f"/api/v3/order/test?{query}&signature={signature}", content=body, headers={"X-MEXC-APIKEY": KEY, "Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (200, {})


def test_a_wrong_secret_is_700002_with_http_400(http):
    r = call(http, "GET", "account", [], secret="not-the-secret")
    assert r.status_code == 400
    assert r.json() == {"code": 700002, "msg": "Signature for this request is not valid."}


def test_an_uppercase_signature_is_refused(http):
    query = urlencode([("timestamp", now_ms())])
    r = http.get(f"/api/v3/account?{query}&signature={hmac_hex(SECRET, query).upper()}", headers={"X-MEXC-APIKEY": KEY})
    assert r.json()["code"] == 700002


def test_an_unknown_api_key_is_10072_and_a_missing_one_400(http):
    r = call(http, "GET", "account", [], key="who-is-this")
    assert (r.status_code, r.json()["code"]) == (400, 10072)
    r = http.get(f"/api/v3/account?{signed_query([])}")
    assert r.json() == {"code": 400, "msg": "api key required"}


def test_timestamps_outside_the_window_are_700003_and_a_huge_window_700005(http):
    stale = call(http, "GET", "account", [], ts=now_ms() - 6_000)
    future = call(http, "GET", "account", [], ts=now_ms() + 5_000)
    widened = call(http, "GET", "account", [], ts=now_ms() - 6_000, recv=10_000)
    too_wide = call(http, "GET", "account", [], recv=60_000)

    assert (stale.status_code, stale.json()["code"]) == (400, 700003)
    assert stale.json()["msg"] == "Timestamp for this request is outside of the recvWindow."
    assert future.json()["code"] == 700003
    assert widened.status_code == 200
    assert too_wide.json()["code"] == 700005
    for bad in ("abc", "0"):
        assert call(http, "GET", "account", [], recv=bad).json()["code"] == 33333  # not a window: a bad parameter


def test_a_missing_signature_is_700004(http):
    r = http.get(f"/api/v3/account?timestamp={now_ms()}", headers={"X-MEXC-APIKEY": KEY})
    assert r.json()["code"] == 700004
    assert "signature" in r.json()["msg"]


# -- shapes ----------------------------------------------------------------------------------


def test_public_endpoints_answer_mexcs_shapes_with_numbers_as_strings(http):
    assert http.get("/api/v3/ping").json() == {}
    assert abs(http.get("/api/v3/time").json()["serverTime"] - now_ms()) < 5_000
    assert http.get("/api/v3/defaultSymbols").json() == {"code": 200, "data": ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "msg": None}

    info = http.get("/api/v3/exchangeInfo", params={"symbols": "BTCUSDT,SOLUSDT"}).json()
    btc, sol = info["symbols"]
    assert (btc["baseAssetPrecision"], btc["quoteAssetPrecision"], btc["baseSizePrecision"]) == (6, 2, "0.000001")
    assert (sol["baseAssetPrecision"], sol["quoteAssetPrecision"], sol["status"]) == (3, 2, "1")
    assert btc["quoteAmountPrecision"] == "1" and btc["takerCommission"] == "0.0005"

    depth = http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5}).json()
    assert isinstance(depth["lastUpdateId"], int) and len(depth["bids"]) == 5
    assert all(isinstance(x, str) for level in depth["bids"] + depth["asks"] for x in level)
    assert D(depth["bids"][0][0]) < D(depth["asks"][0][0])

    ticker = http.get("/api/v3/ticker/24hr", params={"symbol": "BTCUSDT"}).json()
    numeric = {"priceChange", "priceChangePercent", "prevClosePrice", "lastPrice", "bidPrice", "bidQty", "askPrice",
               "askQty", "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume", "price", "qty", "quoteQty", "p", "q"}
    assert_all_numbers_are_strings(ticker, numeric)
    assert isinstance(ticker["openTime"], int) and ticker["count"] is None
    assert len(http.get("/api/v3/ticker/24hr").json()) == 3

    for path, params in (("trades", {"symbol": "BTCUSDT", "limit": 3}), ("aggTrades", {"symbol": "BTCUSDT"}),
                         ("ticker/price", {}), ("ticker/bookTicker", {"symbol": "ETHUSDT"}), ("avgPrice", {"symbol": "BTCUSDT"})):
        body = http.get(f"/api/v3/{path}", params=params).json()
        assert body, path
        assert_all_numbers_are_strings(body, numeric)
    (row,) = http.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1}).json()
    assert isinstance(row[0], int) and isinstance(row[6], int) and row[6] - row[0] == 60_000
    assert all(isinstance(x, str) and DECIMAL_TEXT.fullmatch(x) for x in row[1:6] + row[7:])


def test_market_data_errors_are_mexcs(http):
    assert http.get("/api/v3/depth", params={"symbol": "NOPEUSDT"}).json() == {"code": -1121, "msg": "Invalid symbol."}
    assert http.get("/api/v3/aggTrades", params={"symbol": "BTCUSDT", "startTime": 1}).json()["code"] == -1128
    assert http.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1h"}).status_code == 400
    assert http.get("/api/v3/nonsense").status_code == 404


def test_an_order_round_trip_has_mexcs_shapes(http, sim):
    placed = call(http, "POST", "order", [("symbol", "BTCUSDT"), ("side", "SELL"), ("type", "LIMIT"), ("quantity", "0.01"),
                                          ("price", "200000"), ("newClientOrderId", "round-trip-1")]).json()
    assert set(placed) == {"symbol", "orderId", "orderListId", "price", "origQty", "type", "side", "transactTime"}
    assert (placed["price"], placed["origQty"], placed["orderListId"]) == ("200000", "0.01", -1)

    fetched = call(http, "GET", "order", [("symbol", "BTCUSDT"), ("origClientOrderId", "round-trip-1")]).json()
    assert (fetched["orderId"], fetched["status"], fetched["executedQty"], fetched["clientOrderId"]) == (placed["orderId"], "NEW", "0", "round-trip-1")
    assert fetched["isWorking"] is True and fetched["timeInForce"] is None

    opened = call(http, "GET", "openOrders", [("symbol", "BTCUSDT")]).json()
    assert placed["orderId"] in {o["orderId"] for o in opened}
    account = call(http, "GET", "account", []).json()
    btc = next(b for b in account["balances"] if b["asset"] == "BTC")
    assert D(btc["locked"]) >= D("0.01") and account["accountType"] == "SPOT"

    # ccxt sends a stray clientOrderId when cancelling by client id: ignored
    canceled = call(http, "DELETE", "order", [("symbol", "BTCUSDT"), ("origClientOrderId", "round-trip-1"), ("clientOrderId", "round-trip-1")]).json()
    # The short answer MEXC gives in practice: the order, no status, no fills.
    assert set(canceled) == {"symbol", "orderId", "price", "origQty", "type", "side", "orderListId"}
    assert canceled["orderId"] == placed["orderId"]
    history = call(http, "GET", "allOrders", [("symbol", "BTCUSDT")]).json()
    assert any(o["orderId"] == placed["orderId"] and o["status"] == "CANCELED" for o in history)


def test_a_filled_market_order_shows_in_my_trades_with_its_commission(http):
    placed = call(http, "POST", "order", [("symbol", "ETHUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quoteOrderQty", "50")])
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["orderId"]

    order = call(http, "GET", "order", [("symbol", "ETHUSDT"), ("orderId", order_id)]).json()
    trades = call(http, "GET", "myTrades", [("symbol", "ETHUSDT"), ("orderId", order_id)]).json()

    assert order["status"] == "FILLED" and D(order["cummulativeQuoteQty"]) <= D(50)
    assert sum(D(t["qty"]) for t in trades) == D(order["executedQty"])
    assert all(t["commissionAsset"] == "ETH" and t["isMaker"] is False for t in trades)
    info = http.get("/api/v3/exchangeInfo", params={"symbol": "ETHUSDT"}).json()["symbols"][0]
    fee_step = D(1).scaleb(-info["baseCommissionPrecision"])
    for t in trades:  # each fill's fee, in the precision exchangeInfo states for the base
        assert D(t["commission"]) == (D(t["qty"]) * D("0.0005")).quantize(fee_step, ROUND_HALF_UP)


def test_cancel_errors_are_700004_and_minus_2013(http):
    missing = call(http, "DELETE", "order", [("symbol", "BTCUSDT")])
    unknown = call(http, "GET", "order", [("symbol", "BTCUSDT"), ("orderId", "C02__000")])
    assert missing.json() == {"code": 700004, "msg": "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null"}
    assert (unknown.status_code, unknown.json()) == (400, {"code": -2013, "msg": "Order does not exist."})


def test_cancel_all_and_open_orders_by_symbol(http):
    for price in ("10000", "10001"):
        call(http, "POST", "order", [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.001"), ("price", price)])
    canceled = call(http, "DELETE", "openOrders", [("symbol", "BTCUSDT")]).json()
    assert len(canceled) >= 2 and all(o["orderListId"] == -1 for o in canceled)
    call(http, "POST", "order", [("symbol", "SOLUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "1"), ("price", "10")])
    everything = call(http, "DELETE", "order/all", []).json()
    assert everything["code"] == 200 and everything["msg"] == "success"
    assert call(http, "GET", "openOrders", []).json() == []


def test_listen_keys_are_created_listed_kept_alive_and_deleted(http):
    key = call(http, "POST", "userDataStream", []).json()["listenKey"]
    assert re.fullmatch(r"[0-9a-z]{64}", key)
    assert key in call(http, "GET", "userDataStream", []).json()["listenKey"]
    assert call(http, "PUT", "userDataStream", [("listenKey", key)]).json() == {"listenKey": key}
    assert call(http, "DELETE", "userDataStream", [("listenKey", key)]).json() == {"listenKey": key}
    assert key not in call(http, "GET", "userDataStream", []).json()["listenKey"]
    assert call(http, "PUT", "userDataStream", [("listenKey", key)]).status_code == 400


def test_an_account_holds_at_most_60_listen_keys(sim, http):
    sim.add_account("keys-60", "s60", {})
    keys = [call(http, "POST", "userDataStream", [], key="keys-60", secret="s60") for _ in range(60)]
    assert all(r.status_code == 200 for r in keys)
    refused = call(http, "POST", "userDataStream", [], key="keys-60", secret="s60")
    assert (refused.status_code, refused.json()["code"]) == (400, 26)


# -- faults -------------------------------------------------------------------------------


def test_an_injected_burst_of_429s_carries_retry_after_then_clears(sim, http):
    sim.faults.fail_next(3, status=429, retry_after=2)
    answers = [http.get("/api/v3/ping") for _ in range(4)]
    assert [r.status_code for r in answers] == [429, 429, 429, 200]
    assert answers[0].headers["Retry-After"] == "2"
    assert answers[0].json() == {"code": 429, "msg": "Too Many Requests"}


def test_a_5xx_after_the_order_was_placed_leaves_the_order_in_the_book(sim, http):
    sim.faults.fail_after_order(1, status=503)
    before = len(sim.orders_seen(KEY))

    r = call(http, "POST", "order", [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.001"),
                                     ("price", "30000"), ("newClientOrderId", "did-it-land")])
    found = call(http, "GET", "order", [("symbol", "BTCUSDT"), ("origClientOrderId", "did-it-land")])
    again = call(http, "POST", "order", [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.001"),
                                         ("price", "30000"), ("newClientOrderId", "did-it-land")])

    assert r.status_code == 503
    assert found.status_code == 200 and found.json()["status"] == "NEW"
    assert again.json()["code"] == 26  # the same client order id is never placed twice
    assert len(sim.orders_seen(KEY)) == before + 1


def test_a_delay_holds_the_answer(sim, http):
    sim.faults.delay(0.3, count=1)
    started = time.monotonic()
    assert http.get("/api/v3/ping").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    http.get("/api/v3/ping")
    assert time.monotonic() - started < 0.3


def test_the_rate_budget_runs_out_with_429_then_418():
    policy = RatePolicy(ban_after=3, ban_ms=120_000)
    with Simulator(speed=0, rate_policy=policy) as sim, httpx.Client(base_url=sim.rest_url) as http:
        statuses = [http.get("/api/v3/ticker/24hr").status_code for _ in range(16)]  # weight 40 each
        other = http.get("/api/v3/ping")  # a separate endpoint, a separate budget... but banned
        assert statuses[:12] == [200] * 12  # 12 x 40 = 480 <= 500
        assert statuses[12:15] == [429] * 3
        assert statuses[15] == 418
        assert other.status_code == 418 and int(other.headers["Retry-After"]) > 100


def test_a_429_says_when_the_budget_frees_up():
    with Simulator(speed=0) as sim, httpx.Client(base_url=sim.rest_url) as http:
        for _ in range(50):
            assert http.get("/api/v3/exchangeInfo").status_code == 200  # weight 10: 500 in all
        refused = http.get("/api/v3/exchangeInfo")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        assert http.get("/api/v3/depth", params={"symbol": "BTCUSDT"}).status_code == 200  # its own budget


# -- the simulator's own controls -----------------------------------------------------


def test_sim_http_controls_add_accounts_move_prices_and_list_orders(sim, http):
    r = http.post("/_sim/accounts", json={"apiKey": "ctl", "secret": "ctl-secret", "balances": {"USDT": "500"}})
    assert r.status_code == 200
    placed = call(http, "POST", "order", [("symbol", "SOLUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "1"), ("price", "100")],
                  key="ctl", secret="ctl-secret")
    assert placed.status_code == 200, placed.text

    moved = http.post("/_sim/price", json={"symbol": "SOLUSDT", "price": "99"}).json()
    orders = http.get("/_sim/orders", params={"apiKey": "ctl"}).json()
    balances = http.get("/_sim/balances", params={"apiKey": "ctl"}).json()

    assert moved == {"symbol": "SOLUSDT", "price": "99"}
    assert [(o["orderId"], o["status"]) for o in orders] == [(placed.json()["orderId"], "FILLED")]
    assert balances["SOL"] == {"free": "1", "locked": "0"} and balances["USDT"]["free"] == "400"
    assert http.post("/_sim/price", json={"symbol": "SOLUSDT"}).status_code == 400


@pytest.mark.parametrize("path,body", [
    ("/_sim/price", {"symbol": "BTCUSDT", "price": "1e400"}),
    ("/_sim/price", {"symbol": "BTCUSDT", "price": "-5"}),
    ("/_sim/faults", {"kind": "fail_next", "count": 1, "status": 200}),
    ("/_sim/faults", {"kind": "fail_next", "count": -1, "status": 429}),
    ("/_sim/faults", {"kind": "delay", "seconds": -1}),
    ("/_sim/symbols", {"symbol": "BADUSDT", "basePrecision": -1, "quotePrecision": 2, "price": "1"}),
    ("/_sim/symbols", {"symbol": "bad", "basePrecision": 2, "quotePrecision": 2, "price": "1"}),
    ("/_sim/symbols", {"symbol": "ZEROUSDT", "basePrecision": 2, "quotePrecision": 2, "price": "0"}),
    ("/_sim/symbols", {"symbol": "LATEUSDT", "basePrecision": 2, "quotePrecision": 2, "price": "1", "afterSeconds": -5}),
    ("/_sim/accounts", {"apiKey": "neg", "secret": "s", "balances": {"USDT": "-1"}}),
    ("/_sim/faults", {"kind": "fail_next", "count": "x", "status": 429}),
    ("/_sim/faults", {"kind": "delay", "seconds": "soon"}),
    ("/_sim/accounts", {"apiKey": "huge", "secret": "s", "balances": {"USDT": "1e400"}}),
])
def test_sim_controls_refuse_what_no_exchange_could_do_and_change_nothing(sim, http, path, body):
    before = http.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).json()["price"]
    symbols = http.get("/api/v3/defaultSymbols").json()["data"]
    response = http.post(path, json=body)
    assert response.status_code == 400 and "error" in response.json()
    assert http.get("/api/v3/defaultSymbols").json()["data"] == symbols
    assert http.get("/api/v3/ping").status_code == 200  # no fault was armed
    if path == "/_sim/price":
        assert http.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).json()["price"] == before


def test_a_fault_aimed_at_one_endpoint_lets_the_others_through(sim, http):
    assert http.post("/_sim/faults", json={"kind": "fail_next", "count": 1, "status": 503, "method": "delete", "path": "order"}).status_code == 200
    try:
        assert http.get("/api/v3/ping").status_code == 200
        assert http.get("/api/v3/time").status_code == 200
        failed = call(http, "DELETE", "order", [("symbol", "BTCUSDT"), ("orderId", "C02__0")])
        assert failed.status_code == 503
        assert call(http, "DELETE", "order", [("symbol", "BTCUSDT"), ("orderId", "C02__0")]).status_code == 400  # -2013: it is spent
    finally:
        sim.faults.clear()


def test_an_existing_account_is_not_overwritten_by_the_controls(sim, http):
    sim.add_account("taken", "first-secret", {"USDT": "10"})
    response = http.post("/_sim/accounts", json={"apiKey": "taken", "secret": "other", "balances": {"USDT": "1"}})
    assert response.status_code == 409 and "exists" in response.json()["error"]
    assert sim.account_balances("taken")["USDT"].free == D(10)
    assert call(http, "GET", "account", [], key="taken", secret="first-secret").status_code == 200


def test_an_update_rotates_an_accounts_secret_and_sets_its_balances(sim, http):
    sim.add_account("rotated", "old-secret", {"USDT": "10"})
    response = http.post("/_sim/accounts", json={"apiKey": "rotated", "secret": "new-secret", "balances": {"USDT": "25"}, "update": True})
    assert response.status_code == 200
    assert call(http, "GET", "account", [], key="rotated", secret="old-secret").json()["code"] == 700002
    assert call(http, "GET", "account", [], key="rotated", secret="new-secret").status_code == 200
    assert sim.account_balances("rotated")["USDT"].free == D(25)
    bad = http.post("/_sim/accounts", json={"apiKey": "rotated", "secret": "s", "update": "yes"})
    assert bad.status_code == 400


def test_sim_controls_without_an_api_key_answer_in_their_own_shape(http):
    for path in ("/_sim/orders", "/_sim/balances"):
        response = http.get(path)
        assert response.status_code == 400 and response.json() == {"error": "apiKey is required"}


def test_one_broken_market_does_not_stop_the_others_moving():
    clock = ManualClock(1_800_000_000_000)
    with Simulator(symbols=["BTCUSDT", "ETHUSDT"], speed=10, clock=clock, history_minutes=0) as sim:
        market = sim.exchange._markets["BTCUSDT"]
        market.path.price_at = lambda now: (_ for _ in ()).throw(ArithmeticError("broken path"))  # type: ignore[method-assign,assignment]  # a path that fails
        before = sim.exchange.last_price("ETHUSDT")
        for _ in range(20):
            clock.advance(5_000)
            sim.exchange.tick()
            if sim.exchange.last_price("ETHUSDT") != before:
                break
        assert sim.exchange.last_price("ETHUSDT") != before


def test_a_listing_appears_mid_run(sim, http):
    assert http.post("/_sim/symbols", json={"symbol": "PEPEUSDT", "basePrecision": 0, "quotePrecision": 8,
                                            "price": "0.00001234", "afterSeconds": 0.2}).status_code == 200
    assert "PEPEUSDT" not in http.get("/api/v3/defaultSymbols").json()["data"]

    wait_for(lambda: "PEPEUSDT" in http.get("/api/v3/defaultSymbols").json()["data"], 5)

    book = http.get("/api/v3/ticker/bookTicker", params={"symbol": "PEPEUSDT"}).json()
    assert D(book["bidPrice"]) == D("0.00001234")
    info = http.get("/api/v3/exchangeInfo", params={"symbol": "PEPEUSDT"}).json()["symbols"][0]
    assert (info["baseAsset"], info["baseAssetPrecision"], info["quoteAssetPrecision"]) == ("PEPE", 0, 8)


def test_the_cli_serves_until_sigterm(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.exchanges.mexc_sim.cli", "--port", "0", "--account", "cli-key:cli-secret",
         "--balance", "USDT=25", "--symbols", "BTCUSDT", "--seed", "3", "--candles"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        rest_line = proc.stdout.readline()  # type: ignore[union-attr]
        ws_line = proc.stdout.readline()  # type: ignore[union-attr]
        rest_url, ws_url = rest_line.split()[-1], ws_line.split()[-1]
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/ws", ws_url)
        with httpx.Client(base_url=rest_url) as http:
            assert http.get("/api/v3/defaultSymbols").json()["data"] == ["BTCUSDT"]
            balances = http.get("/_sim/balances", params={"apiKey": "cli-key"}).json()
            assert balances == {"USDT": {"free": "25", "locked": "0"}}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_engines_mexc_client_cannot_tell_the_simulator_from_mexc(sim):
    from engine.exchanges.mexc.errors import MexcRateLimited, MexcServerError
    from engine.exchanges.mexc.rest import MexcRestClient

    sim.add_account("client-key", "client-secret", {"USDT": "1000"})
    with MexcRestClient(sim.rest_url, "client-key", "client-secret") as client:
        client.sync_time()
        btc = client.exchange_info(["BTCUSDT"]).get("BTCUSDT")
        assert btc is not None and (btc.info.base_precision, btc.info.quote_precision) == (6, 2)

        sim.faults.fail_after_order(1, status=500)  # placed, then the answer is lost
        with pytest.raises(MexcServerError):
            client.place_order("BTCUSDT", "BUY", "LIMIT", quantity=D("0.001"), price=D("20000"), client_order_id="engine-1")
        assert client.query_order("BTCUSDT", client_order_id="engine-1").status == "NEW"  # it landed, once
        assert [o.client_order_id for o in sim.orders_seen("client-key")] == ["engine-1"]

        sim.faults.fail_after_order(1, status=429)  # placed, yet answered as refused
        with pytest.raises(MexcRateLimited):
            client.place_order("BTCUSDT", "BUY", "LIMIT", quantity=D("0.001"), price=D("20000"), client_order_id="engine-2")
        assert [o.client_order_id for o in sim.orders_seen("client-key")] == ["engine-1", "engine-2"]
        wait_for(lambda: client.health()["blocked_for_seconds"] <= 0, timeout=5)  # the back-off of that 429
        client.cancel_order("BTCUSDT", client_order_id="engine-2")

        assert client.cancel_order("BTCUSDT", client_order_id="engine-1").status is None  # the short answer
        assert client.query_order("BTCUSDT", client_order_id="engine-1").status == "CANCELED"
        bought = client.place_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=D(100))
        assert client.query_order("BTCUSDT", order_id=bought.order_id).status == "FILLED"
        assert client.account().balance("BTC").free > 0
