"""Conditional orders through the real server: held by the portfolio, off the exchange,
until the simulated market reaches their trigger; a BUY's protective pair; a SIGKILL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.support.server import EngineProcess, new_user, running
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

D = Decimal
START = D(1_000_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    with running(tmp_path_factory.mktemp("conditional"), env={"PAPER_START_BALANCE": str(START)}) as engine:
        yield engine


def place(http: httpx.Client, **body: str) -> httpx.Response:
    return http.post("/api/v1/trading/orders", json=body)


def last(http: httpx.Client, symbol: str) -> Decimal:
    return D(http.get(f"/api/v1/market/ticker/{symbol}").json()["data"]["lastPrice"])


def order(http: httpx.Client, order_id: str) -> dict:
    return http.get(f"/api/v1/trading/orders/{order_id}").json()["data"]


def wallet(http: httpx.Client) -> dict[str, tuple[Decimal, Decimal]]:
    lines = http.get("/api/v1/account/wallet").json()["data"]["balances"]
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in lines}


def move(admin: httpx.Client, symbol: str, price: Decimal) -> None:
    response = admin.put(f"/api/v1/paper/prices/{symbol}", json={"price": str(price.quantize(D('0.01')))})
    assert response.status_code == 200, response.text


def buy(http: httpx.Client, symbol: str, quote: str, **extra: str) -> dict:
    response = place(http, symbol=symbol, side="BUY", type="MARKET", quoteQuantity=quote, **extra)
    assert response.status_code == 201, response.text
    bought = response.json()["data"]
    assert bought["status"] == "FILLED"
    return bought


def net(bought: dict) -> Decimal:
    return D(bought["executedQuantity"]) - D(bought["fee"])  # the fee is taken in the base asset


@pytest.fixture
def admin(server: EngineProcess) -> Iterator[httpx.Client]:
    with server.client("ops", role="admin") as client:
        yield client


@pytest.fixture
def restore(server: EngineProcess, admin: httpx.Client) -> Iterator[None]:
    with server.client(new_user()) as http:
        before = {s: last(http, s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    yield
    for symbol, price in before.items():
        move(admin, symbol, price)


def test_a_stop_loss_is_held_off_the_exchange_until_the_price_falls_to_it_then_sells(
        server: EngineProcess, admin: httpx.Client, restore: None) -> None:
    with server.client(new_user()) as http:
        quantity = net(buy(http, "SOLUSDT", "1000"))
        price = last(http, "SOLUSDT")
        trigger = (price * D("0.95")).quantize(D("0.01"))
        response = place(http, symbol="SOLUSDT", side="SELL", type="STOP_LOSS", quantity=str(quantity),
                         triggerPrice=str(trigger))
        assert response.status_code == 201, response.text
        stop = response.json()["data"]
        assert stop["status"] == "NEW" and stop["triggered"] is False and D(stop["triggerPrice"]) == trigger
        assert wallet(http)["SOL"] == (D(0), quantity)  # reserved for the sale
        move(admin, "SOLUSDT", price * D("0.97"))  # not yet
        assert order(http, stop["id"])["triggered"] is False
        move(admin, "SOLUSDT", price * D("0.90"))
        done = wait_for(lambda: (o := order(http, stop["id"]))["status"] == "FILLED" and o, timeout=10)
        assert done["triggered"] is True and done["triggeredOrderId"] == stop["id"] and done["triggeredAt"]
        assert D(done["executedQuantity"]) == quantity and done["fills"]
        assert all(D(f["price"]) < trigger for f in done["fills"])  # sold at market, below the level
        assert wallet(http).get("SOL", (D(0), D(0))) == (D(0), D(0))
        position = http.get("/api/v1/trading/positions/SOLUSDT").json()["data"]
        assert D(position["quantity"]) == 0 and D(position["realizedPnl"]) < 0


def test_a_take_profit_sells_when_the_price_rises_to_it(server: EngineProcess, admin: httpx.Client, restore: None) -> None:
    with server.client(new_user()) as http:
        quantity = net(buy(http, "ETHUSDT", "2000"))
        price = last(http, "ETHUSDT")
        response = place(http, symbol="ETHUSDT", side="SELL", type="TAKE_PROFIT", quantity=str(quantity),
                         triggerPrice=str((price * D("1.05")).quantize(D("0.01"))))
        assert response.status_code == 201, response.text
        profit = response.json()["data"]
        move(admin, "ETHUSDT", price * D("1.10"))
        done = wait_for(lambda: (o := order(http, profit["id"]))["status"] == "FILLED" and o, timeout=10)
        assert done["triggered"] is True
        position = http.get("/api/v1/trading/positions/ETHUSDT").json()["data"]
        assert D(position["realizedPnl"]) > 0


def test_a_stop_limit_buy_places_its_limit_once_the_price_rises_to_the_trigger(
        server: EngineProcess, admin: httpx.Client, restore: None) -> None:
    with server.client(new_user()) as http:
        price = last(http, "SOLUSDT")
        trigger = (price * D("1.05")).quantize(D("0.01"))
        limit = (price * D("1.08")).quantize(D("0.01"))
        response = place(http, symbol="SOLUSDT", side="BUY", type="STOP_LIMIT", quantity="2",
                         price=str(limit), triggerPrice=str(trigger))
        assert response.status_code == 201, response.text
        stop = response.json()["data"]
        assert wallet(http)["USDT"] == (START - 2 * limit, 2 * limit)
        move(admin, "SOLUSDT", price * D("1.06"))
        done = wait_for(lambda: (o := order(http, stop["id"]))["status"] == "FILLED" and o, timeout=10)
        assert done["triggered"] is True and all(D(f["price"]) <= limit for f in done["fills"])
        assert wallet(http)["SOL"][0] == D(2) - D(done["fee"])


def test_a_trailing_stop_follows_the_high_and_sells_on_the_fall_from_it(
        server: EngineProcess, admin: httpx.Client, restore: None) -> None:
    with server.client(new_user()) as http:
        quantity = net(buy(http, "BTCUSDT", "5000"))
        price = last(http, "BTCUSDT")
        response = place(http, symbol="BTCUSDT", side="SELL", type="TRAILING_STOP", quantity=str(quantity),
                         trailingPercent="5")
        assert response.status_code == 201, response.text
        trailing = response.json()["data"]
        assert D(trailing["triggerPrice"]) <= price * D("0.95")
        high = price * D("1.20")
        move(admin, "BTCUSDT", high)
        wait_for(lambda: last(http, "BTCUSDT") >= high.quantize(D("0.01")) - 1, timeout=10)
        move(admin, "BTCUSDT", high * D("0.97"))  # 3% off the high: above its 5%, though far above the start
        assert order(http, trailing["id"])["triggered"] is False
        move(admin, "BTCUSDT", high * D("0.94"))
        done = wait_for(lambda: (o := order(http, trailing["id"]))["status"] == "FILLED" and o, timeout=10)
        assert done["triggered"] is True
        assert all(D(f["price"]) > price for f in done["fills"])  # it sold above where it started: it trailed


def test_a_buy_with_stop_loss_and_take_profit_gets_its_pair_one_cancels_the_other(
        server: EngineProcess, admin: httpx.Client, restore: None) -> None:
    with server.client(new_user()) as http:
        price = last(http, "ETHUSDT")
        stop, target = (price * D("0.9")).quantize(D("0.01")), (price * D("1.1")).quantize(D("0.01"))
        bought = buy(http, "ETHUSDT", "1000", stopLossPrice=str(stop), takeProfitPrice=str(target))
        assert D(bought["stopLossPrice"]) == stop and D(bought["takeProfitPrice"]) == target
        legs = wait_for(lambda: [o for o in http.get("/api/v1/trading/orders?status=open").json()["data"]
                                 if o["parentOrderId"] == bought["id"]], timeout=10)
        assert len(legs) == 2
        by_type = {o["type"]: o for o in legs}
        assert D(by_type["STOP_LOSS"]["triggerPrice"]) == stop and D(by_type["TAKE_PROFIT"]["triggerPrice"]) == target
        assert by_type["STOP_LOSS"]["ocoOrderId"] == by_type["TAKE_PROFIT"]["id"]
        quantity = net(bought)
        assert all(D(o["quantity"]) == quantity for o in legs)
        assert wallet(http)["ETH"] == (D(0), quantity)  # the pair reserves it once
        move(admin, "ETHUSDT", price * D("1.15"))
        sold = wait_for(lambda: (o := order(http, by_type["TAKE_PROFIT"]["id"]))["status"] == "FILLED" and o, timeout=10)
        assert sold["triggered"] is True
        other = order(http, by_type["STOP_LOSS"]["id"])
        assert other["status"] == "CANCELED" and "one-cancels-the-other" in other["reason"]
        assert wallet(http).get("ETH", (D(0), D(0))) == (D(0), D(0))


def test_canceling_a_held_stop_releases_it_and_it_never_triggers(
        server: EngineProcess, admin: httpx.Client, restore: None) -> None:
    with server.client(new_user()) as http:
        quantity = net(buy(http, "SOLUSDT", "500"))
        price = last(http, "SOLUSDT")
        stop = place(http, symbol="SOLUSDT", side="SELL", type="STOP_LOSS", quantity=str(quantity),
                     triggerPrice=str((price * D("0.95")).quantize(D("0.01")))).json()["data"]
        canceled = http.delete(f"/api/v1/trading/orders/{stop['id']}")
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["data"]["status"] == "CANCELED"
        assert wallet(http)["SOL"] == (quantity, D(0))
        move(admin, "SOLUSDT", price * D("0.8"))
        wait_for(lambda: last(http, "SOLUSDT") < price * D("0.9"), timeout=10)  # the market actors have seen it
        assert order(http, stop["id"])["status"] == "CANCELED" and order(http, stop["id"])["triggered"] is False
        assert wallet(http)["SOL"] == (quantity, D(0))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"side": "SELL", "type": "STOP_LOSS", "quantity": "1", "triggerPrice": "1000000"}, "INVALID_TRIGGER"),
        ({"side": "SELL", "type": "TAKE_PROFIT", "quantity": "1", "triggerPrice": "1"}, "INVALID_TRIGGER"),
        ({"side": "SELL", "type": "STOP_LOSS", "quantity": "1"}, "INVALID_TRIGGER"),
        ({"side": "SELL", "type": "STOP_LOSS", "quantity": "1", "triggerPrice": "abc"}, "VALIDATION_ERROR"),
        ({"side": "SELL", "type": "TRAILING_STOP", "quantity": "1"}, "INVALID_TRIGGER"),
        ({"side": "SELL", "type": "TRAILING_STOP", "quantity": "1", "trailingPercent": "0"}, "INVALID_TRIGGER"),
        ({"side": "SELL", "type": "TRAILING_STOP", "quantity": "1", "trailingPercent": "60"}, "INVALID_TRIGGER"),
        ({"side": "BUY", "type": "STOP_LOSS", "quantity": "1", "triggerPrice": "1"}, "VALIDATION_ERROR"),
        ({"side": "BUY", "type": "LIMIT", "quantity": "1", "price": "100", "triggerPrice": "90"}, "INVALID_TRIGGER"),
        ({"side": "BUY", "type": "LIMIT", "quantity": "1", "price": "100", "stopLossPrice": "120"}, "INVALID_TRIGGER"),
        ({"side": "BUY", "type": "LIMIT", "quantity": "1", "price": "100", "takeProfitPrice": "90"}, "INVALID_TRIGGER"),
        ({"side": "SELL", "type": "MARKET", "quantity": "1", "stopLossPrice": "90"}, "INVALID_TRIGGER"),
        ({"side": "BUY", "type": "STOP_LIMIT", "quantity": "1", "triggerPrice": "1000000"}, "INVALID_PRICE"),
        ({"side": "SELL", "type": "STOP_LOSS", "quantity": "1", "triggerPrice": "100"}, "INSUFFICIENT_BALANCE"),
    ],
)
def test_bad_conditional_orders_are_refused_and_change_nothing(server: EngineProcess, body: dict, code: str) -> None:
    with server.client(new_user()) as http:
        response = place(http, symbol="SOLUSDT", **body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code, response.text
        assert http.get("/api/v1/trading/orders").json()["data"] == []
        assert wallet(http) == {"USDT": (START, D(0))}


def test_a_sleeping_users_stop_survives_a_sigkill_and_fires_when_the_price_falls(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path / "data", env={"PAPER_START_BALANCE": str(START)}).start()
    user = new_user()
    try:
        with engine.client(user) as http:
            quantity = net(buy(http, "SOLUSDT", "1000"))
            price = last(http, "SOLUSDT")
            stop = place(http, symbol="SOLUSDT", side="SELL", type="STOP_LOSS", quantity=str(quantity),
                         triggerPrice=str((price * D("0.95")).quantize(D("0.01")))).json()["data"]
        engine.kill()
        engine.start()
        with engine.client("ops", role="admin") as admin:
            actors = admin.get("/api/v1/status/actors").json()["data"]
            assert user not in actors["portfolios"]  # asleep after the restart: the market actor watches its stop
            move(admin, "SOLUSDT", price * D("0.9"))
            # Nothing of the user's is asked for: the crossing alone wakes the portfolio.
            wait_for(lambda: user in admin.get("/api/v1/status/actors").json()["data"]["portfolios"], timeout=10)
        with engine.client(user) as http:
            done = wait_for(lambda: (o := order(http, stop["id"]))["status"] == "FILLED" and o, timeout=10)
            assert done["triggered"] is True and D(done["executedQuantity"]) == quantity
    finally:
        engine.stop()


def test_operators_see_each_symbols_feed_and_the_triggers_it_holds(server: EngineProcess, admin: httpx.Client) -> None:
    with server.client(new_user()) as http:
        quantity = net(buy(http, "BTCUSDT", "2000"))
        price = last(http, "BTCUSDT")
        assert place(http, symbol="BTCUSDT", side="SELL", type="STOP_LOSS", quantity=str(quantity),
                     triggerPrice=str((price * D("0.5")).quantize(D("0.01")))).status_code == 201
    feed = {f["symbol"]: f for f in admin.get("/api/v1/status/feed").json()["data"]}
    assert set(feed) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    btc = feed["BTCUSDT"]
    assert btc["triggers"] >= 1 and btc["updates"] > 0 and btc["stream"] == "connected"
    assert btc["lastUpdateAgeMs"] is not None and btc["offered"] >= btc["conflated"] >= 0
    with server.client(new_user()) as viewer:
        assert viewer.get("/api/v1/status/feed").status_code == 403
