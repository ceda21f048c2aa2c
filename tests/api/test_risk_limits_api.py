"""Risk limits, per-user halts and the kill switch through the real server: each limit
refuses with its own code and changes nothing; the kill switch cancels every open and
conditional order of every user, and resuming brings none of them back."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.support.server import EngineProcess, new_user, running
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

D = Decimal
START = D(1_000_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    env = {"PAPER_START_BALANCE": str(START), "RISK_MAX_ORDER_NOTIONAL": "50000"}
    with running(tmp_path_factory.mktemp("risk"), env=env) as engine:
        yield engine


@pytest.fixture
def admin(server: EngineProcess) -> Iterator[httpx.Client]:
    with server.client("ops", role="admin") as client:
        yield client


def place(http: httpx.Client, **body: str) -> httpx.Response:
    return http.post("/api/v1/trading/orders", json={"symbol": "SOLUSDT", "side": "BUY", **body})


def last(http: httpx.Client) -> Decimal:
    return D(http.get("/api/v1/market/ticker/SOLUSDT").json()["data"]["lastPrice"])


def limits(admin: httpx.Client, user: str, **values: object) -> dict:
    response = admin.put(f"/api/v1/status/risk/users/{user}", json=values)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def refused(response: httpx.Response, code: str) -> dict:
    assert response.status_code in (422, 503), response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


def open_orders(http: httpx.Client) -> list[dict]:
    return http.get("/api/v1/trading/orders?status=open").json()["data"]


def test_the_engine_wide_order_notional_limit_refuses_with_its_code_and_figures(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        error = refused(place(http, type="MARKET", quoteQuantity="60000"), "ORDER_NOTIONAL_LIMIT")
        assert error["details"]["limit"] == "maxOrderNotional" and error["details"]["maximum"] == "50000"
        assert error["details"]["value"] == "60000"
        assert http.get("/api/v1/trading/orders").json()["data"] == []


def test_a_users_own_limits_refuse_each_with_its_code(server: EngineProcess, admin: httpx.Client) -> None:
    user = new_user()
    with server.client(user) as http:
        price = last(http)
        set_to = limits(admin, user, maxOpenOrders=2, maxPositionNotional="1000", priceBandPercent="5",
                        maxOrderNotional="2000")
        assert set_to["limits"]["maxOpenOrders"] == 2 and set_to["effective"]["maxOrderNotional"] == "2000"
        assert set_to["effective"]["maxDailyLoss"] is None

        band = refused(place(http, type="LIMIT", quantity="1", price=str((price * D("0.5")).quantize(D("0.01")))),
                       "PRICE_BAND")
        assert band["details"]["limit"] == "priceBandPercent" and band["details"]["maximum"] == "5"
        near = (price * D("0.97")).quantize(D("0.01"))
        for _ in range(2):
            assert place(http, type="LIMIT", quantity="1", price=str(near)).status_code == 201
        error = refused(place(http, type="LIMIT", quantity="1", price=str(near)), "OPEN_ORDERS_LIMIT")
        assert error["details"] == {"limit": "maxOpenOrders", "maximum": 2, "value": 3}
        for order in open_orders(http):
            assert http.delete(f"/api/v1/trading/orders/{order['id']}").status_code == 200

        assert place(http, type="MARKET", quoteQuantity="800").status_code == 201
        error = refused(place(http, type="MARKET", quoteQuantity="300"), "POSITION_LIMIT")
        assert error["details"]["limit"] == "maxPositionNotional" and D(error["details"]["value"]) > 1000
        refused(place(http, type="MARKET", quoteQuantity="2500"), "ORDER_NOTIONAL_LIMIT")
        # Selling is never held back by the position limit.
        sol = next(b for b in http.get("/api/v1/account/wallet").json()["data"]["balances"] if b["asset"] == "SOL")
        sell = http.post("/api/v1/trading/orders", json={"symbol": "SOLUSDT", "side": "SELL", "type": "MARKET",
                                                          "quantity": sol["free"]})
        assert sell.status_code == 201, sell.text
        back = limits(admin, user)  # nothing set: the engine's limits again
        assert back["limits"]["maxOpenOrders"] is None and back["effective"]["maxOrderNotional"] == "50000"


def test_the_daily_loss_limit_halts_the_user_until_an_admin_lifts_it(server: EngineProcess, admin: httpx.Client) -> None:
    user = new_user()
    with server.client(user) as http:
        price = last(http)
        try:
            assert place(http, type="MARKET", quoteQuantity="10000").status_code == 201
            limits(admin, user, maxDailyLoss="20")
            assert admin.put("/api/v1/paper/prices/SOLUSDT", json={"price": str((price * D("0.98")).quantize(D("0.01")))}
                             ).status_code == 200
            wait_for(lambda: last(http) < price * D("0.99"), timeout=10)
            error = refused(place(http, type="MARKET", quoteQuantity="10"), "DAILY_LOSS_LIMIT")
            assert error["details"]["limit"] == "maxDailyLoss" and D(error["details"]["value"]) >= 20
            risk = admin.get(f"/api/v1/status/risk/users/{user}").json()["data"]
            assert risk["dailyLossHalted"] is True and D(risk["dailyPnl"]) <= -20
            refused(place(http, type="LIMIT", quantity="1", price=str((price * D("0.97")).quantize(D("0.01")))),
                    "DAILY_LOSS_LIMIT")
            lifted = admin.post(f"/api/v1/status/risk/users/{user}/resume")
            assert lifted.status_code == 200 and lifted.json()["data"]["dailyLossHalted"] is False
            assert place(http, type="MARKET", quoteQuantity="10").status_code == 201
        finally:
            admin.put("/api/v1/paper/prices/SOLUSDT", json={"price": str(price)})


def test_a_user_halt_refuses_only_that_users_orders_until_resumed(server: EngineProcess, admin: httpx.Client) -> None:
    halted, other = new_user(), new_user()
    with server.client(halted) as http, server.client(other) as http2:
        response = admin.post(f"/api/v1/status/risk/users/{halted}/halt", json={"reason": "review"})
        assert response.status_code == 200 and response.json()["data"]["halted"] is True
        error = refused(place(http, type="MARKET", quoteQuantity="10"), "TRADING_HALTED")
        assert "review" in error["message"]
        assert place(http2, type="MARKET", quoteQuantity="10").status_code == 201
        assert admin.post(f"/api/v1/status/risk/users/{halted}/resume").status_code == 200
        assert place(http, type="MARKET", quoteQuantity="10").status_code == 201


def test_the_kill_switch_cancels_every_open_and_conditional_order_and_resume_restores_none(
        server: EngineProcess, admin: httpx.Client) -> None:
    users = [new_user(), new_user()]
    placed: dict[str, list[str]] = {}
    try:
        for user in users:
            with server.client(user) as http:
                price = last(http)
                assert place(http, type="MARKET", quoteQuantity="1000").status_code == 201
                ids = [place(http, type="LIMIT", quantity="1", price=str((price * D("0.9")).quantize(D("0.01")))
                             ).json()["data"]["id"]]
                stop = http.post("/api/v1/trading/orders", json={
                    "symbol": "SOLUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "1",
                    "triggerPrice": str((price * D("0.8")).quantize(D("0.01")))})
                assert stop.status_code == 201, stop.text
                ids.append(stop.json()["data"]["id"])
                placed[user] = ids
        halt = admin.post("/api/v1/status/halt", json={"reason": "drill"})
        assert halt.status_code == 200, halt.text
        for user in users:
            with server.client(user) as http:
                client = http
                wait_for(lambda: open_orders(client) == [], timeout=10, message="every order canceled")
                for order_id in placed[user]:
                    order = http.get(f"/api/v1/trading/orders/{order_id}").json()["data"]
                    assert order["status"] == "CANCELED" and "kill switch: drill" in order["reason"]
                refused(place(http, type="MARKET", quoteQuantity="10"), "TRADING_HALTED")
                usdt = next(b for b in http.get("/api/v1/account/wallet").json()["data"]["balances"]
                            if b["asset"] == "USDT")
                assert D(usdt["locked"]) == 0
        assert admin.post("/api/v1/status/resume").status_code == 200
        for user in users:
            with server.client(user) as http:
                assert open_orders(http) == []  # nothing canceled comes back
                assert place(http, type="MARKET", quoteQuantity="10").status_code == 201
    finally:
        admin.post("/api/v1/status/resume")


@pytest.mark.parametrize("body", [{"maxOrderNotional": "-1"}, {"maxOpenOrders": -1}, {"priceBandPercent": "abc"},
                                  {"maxLoss": "5"}])
def test_bad_limits_are_refused_and_change_nothing(server: EngineProcess, admin: httpx.Client, body: dict) -> None:
    user = new_user()
    response = admin.put(f"/api/v1/status/risk/users/{user}", json=body)
    assert response.status_code == 422, response.text
    assert all(v is None for v in admin.get(f"/api/v1/status/risk/users/{user}").json()["data"]["limits"].values())


def test_only_admins_see_or_set_a_users_risk(server: EngineProcess) -> None:
    user = new_user()
    with server.client(user) as http:
        assert http.get(f"/api/v1/status/risk/users/{user}").status_code == 403
        assert http.put(f"/api/v1/status/risk/users/{user}", json={"maxOpenOrders": 1000}).status_code == 403
        assert http.post(f"/api/v1/status/risk/users/{user}/resume").status_code == 403
