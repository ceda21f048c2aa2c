"""Auto-buy rules through the real server, against the simulated market: they fire on
the feed (or the clock), within their budget, once per qualifying move, journaled with
what they placed; sleeping users' rules fire after a SIGKILL too."""

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
START = D(100_000)
ENV = {"PAPER_START_BALANCE": str(START), "SUPERVISOR_INTERVAL_SECONDS": "0.1", "EXCHANGE_INFO_REFRESH_SECONDS": "0.5"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    with running(tmp_path_factory.mktemp("rules"), env=ENV) as engine:
        yield engine


@pytest.fixture
def admin(server: EngineProcess) -> Iterator[httpx.Client]:
    with server.client("ops", role="admin") as client:
        yield client


@pytest.fixture
def restore(server: EngineProcess, admin: httpx.Client) -> Iterator[None]:
    with server.client(new_user()) as http:
        before = last(http, "SOLUSDT")
    yield
    move(admin, "SOLUSDT", before)


def last(http: httpx.Client, symbol: str = "SOLUSDT") -> Decimal:
    return D(http.get(f"/api/v1/market/ticker/{symbol}").json()["data"]["lastPrice"])


def move(admin: httpx.Client, symbol: str, price: Decimal) -> None:
    response = admin.put(f"/api/v1/paper/prices/{symbol}", json={"price": str(price.quantize(D("0.01")))})
    assert response.status_code == 200, response.text


def create(http: httpx.Client, **body: object) -> dict:
    response = http.post("/api/v1/trading/rules", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def executions(http: httpx.Client, rule_id: str) -> list[dict]:
    response = http.get(f"/api/v1/trading/rules/{rule_id}/executions")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def order(http: httpx.Client, order_id: str) -> dict:
    return http.get(f"/api/v1/trading/orders/{order_id}").json()["data"]


def test_a_price_drop_rule_fires_once_buys_within_budget_and_its_stop_loss_sells(
        server: EngineProcess, admin: httpx.Client, restore: None) -> None:
    with server.client(new_user()) as http:
        price = last(http)
        rule = create(http, kind="PRICE_DROP", symbol="SOLUSDT", dropPercent="5", windowSeconds=600, quoteAmount="100",
                      maxExecutions=1, stopLossPercent="3")
        assert rule["enabled"] is True and rule["executions"] == 0 and rule["spent"] == "0"
        move(admin, "SOLUSDT", price * D("0.97"))  # 3%: not yet
        move(admin, "SOLUSDT", price * D("0.94"))  # 6% below the window's high
        [fired] = wait_for(lambda: [e for e in executions(http, rule["id"]) if e["status"] == "PLACED"], timeout=10)
        bought = wait_for(lambda: (o := order(http, fired["orderId"]))["status"] == "FILLED" and o, timeout=10)
        assert D(bought["executedQuote"]) <= 100 and D(fired["quoteAmount"]) == 100
        for _ in range(5):  # more qualifying ticks: the rule has done its one execution
            move(admin, "SOLUSDT", price * D("0.935"))
            move(admin, "SOLUSDT", price * D("0.94"))
        after = http.get(f"/api/v1/trading/rules/{rule['id']}").json()["data"]
        assert after["executions"] == 1 and D(after["spent"]) == 100 and after["lastFiredAt"]
        [stop] = wait_for(lambda: [o for o in http.get("/api/v1/trading/orders?status=open").json()["data"]
                                   if o["parentOrderId"] == bought["id"]], timeout=10)
        assert stop["type"] == "STOP_LOSS" and stop["triggered"] is False
        ask_then = D(bought["fills"][0]["price"])
        assert D(stop["triggerPrice"]) < ask_then and D(stop["triggerPrice"]) > ask_then * D("0.96")

        move(admin, "SOLUSDT", price * D("0.85"))  # through the stop
        sold = wait_for(lambda: (o := order(http, stop["id"]))["status"] == "FILLED" and o, timeout=10)
        # The position's realized PnL by hand: what the sale brought in net of its fee,
        # minus what the coins cost (the buy's fee was taken in SOL: fewer coins, same cost).
        quantity = D(bought["executedQuantity"]) - D(bought["fee"])
        assert D(sold["executedQuantity"]) == quantity
        realized = D(sold["executedQuote"]) - D(sold["fee"]) - D(bought["executedQuote"])
        position = http.get("/api/v1/trading/positions/SOLUSDT").json()["data"]
        assert abs(D(position["realizedPnl"]) - realized) <= D("1e-9") and D(position["quantity"]) == 0
        assert len(executions(http, rule["id"])) == 1


def test_a_rule_never_spends_past_its_budget_however_many_ticks_qualify(
        server: EngineProcess, admin: httpx.Client, restore: None) -> None:
    with server.client(new_user()) as http:
        price = last(http)
        rule = create(http, kind="PRICE_BELOW", symbol="SOLUSDT", threshold=str((price * D("0.99")).quantize(D("0.01"))),
                      quoteAmount="100", maxQuoteTotal="250")
        for n in range(100):
            move(admin, "SOLUSDT", price * (D("0.98") - D(n % 5) / 1000))
        done = wait_for(lambda: (r := http.get(f"/api/v1/trading/rules/{rule['id']}").json()["data"])["spent"] == "250"
                        and r, timeout=15)
        placed = [e for e in executions(http, rule["id"]) if e["status"] == "PLACED"]
        assert [D(e["quoteAmount"]) for e in placed] == [D(50), D(100), D(100)]  # newest first: the last is what is left
        assert done["executions"] == 3
        orders = [order(http, e["orderId"]) for e in placed]
        assert sum(D(o["executedQuote"]) for o in orders) <= 250
        for n in range(20):
            move(admin, "SOLUSDT", price * (D("0.97") - D(n % 3) / 1000))
        assert http.get(f"/api/v1/trading/rules/{rule['id']}").json()["data"]["spent"] == "250"
        assert len([e for e in executions(http, rule["id"]) if e["status"] == "PLACED"]) == 3


def test_a_dca_rule_buys_on_its_schedule_up_to_its_count(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        rule = create(http, kind="DCA", symbol="ETHUSDT", everySeconds=1, quoteAmount="20", maxExecutions=2)
        placed = wait_for(lambda: [e for e in executions(http, rule["id"]) if e["status"] == "PLACED"] if len(
            [e for e in executions(http, rule["id"]) if e["status"] == "PLACED"]) == 2 else None, timeout=15)
        assert all(order(http, e["orderId"])["status"] == "FILLED" for e in placed)
        assert placed[0]["time"] - placed[1]["time"] >= 1000
        final = http.get(f"/api/v1/trading/rules/{rule['id']}").json()["data"]
        assert final["executions"] == 2 and final["spent"] == "40"


def test_rules_are_created_listed_changed_switched_and_deleted_and_others_are_not_found(server: EngineProcess) -> None:
    with server.client(new_user()) as http, server.client(new_user()) as stranger:
        rule = create(http, kind="PRICE_BELOW", symbol="btcusdt", threshold="1000", quoteAmount="50", cooldownSeconds=60)
        assert rule["symbol"] == "BTCUSDT" and rule["cooldownSeconds"] == 60 and rule["createdAt"]
        assert [r["id"] for r in http.get("/api/v1/trading/rules").json()["data"]] == [rule["id"]]
        patched = http.patch(f"/api/v1/trading/rules/{rule['id']}", json={"threshold": "900"})
        assert patched.status_code == 200 and patched.json()["data"]["threshold"] == "900"
        assert patched.json()["data"]["quoteAmount"] == "50"
        off = http.post(f"/api/v1/trading/rules/{rule['id']}/disable")
        assert off.status_code == 200 and off.json()["data"]["enabled"] is False
        on = http.post(f"/api/v1/trading/rules/{rule['id']}/enable")
        assert on.json()["data"]["enabled"] is True
        assert stranger.get(f"/api/v1/trading/rules/{rule['id']}").status_code == 404
        assert stranger.delete(f"/api/v1/trading/rules/{rule['id']}").status_code == 404
        assert http.delete(f"/api/v1/trading/rules/{rule['id']}").status_code == 200
        gone = http.get(f"/api/v1/trading/rules/{rule['id']}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "RULE_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "PRICE_BELOW", "symbol": "BTCUSDT", "quoteAmount": "10"}, "threshold"),
        ({"kind": "PRICE_BELOW", "symbol": "NOPEUSDT", "threshold": "1", "quoteAmount": "10"}, "symbol"),
        ({"kind": "PRICE_BELOW", "symbol": "BTCUSDT", "threshold": "1"}, "quoteAmount"),
        ({"kind": "PRICE_BELOW", "symbol": "BTCUSDT", "threshold": "1", "quoteAmount": "-5"}, "quoteAmount"),
        ({"kind": "PRICE_DROP", "symbol": "BTCUSDT", "dropPercent": "5", "quoteAmount": "10"}, "windowSeconds"),
        ({"kind": "PRICE_DROP", "symbol": "BTCUSDT", "dropPercent": "150", "windowSeconds": 60, "quoteAmount": "10"},
         "dropPercent"),
        ({"kind": "DCA", "symbol": "BTCUSDT", "everySeconds": 0, "quoteAmount": "10"}, "everySeconds"),
        ({"kind": "DCA", "symbol": "BTCUSDT", "everySeconds": 60, "threshold": "5", "quoteAmount": "10"}, "threshold"),
        ({"kind": "SOMETIMES", "symbol": "BTCUSDT", "quoteAmount": "10"}, "kind"),
        ({"kind": "NEW_LISTING", "symbol": "BTCUSDT", "quoteAmount": "10"}, "symbol"),
        ({"kind": "PRICE_BELOW", "symbol": "BTCUSDT", "threshold": "1", "quoteAmount": "10", "quoteAsset": "USDT"},
         "quoteAsset"),
        ({"kind": "DCA", "symbol": "BTCUSDT", "everySeconds": 60, "quoteAmount": "10", "maxExecutions": 0},
         "maxExecutions"),
    ],
)
def test_bad_rules_are_refused_naming_the_field_and_change_nothing(server: EngineProcess, body: dict, field: str) -> None:
    with server.client(new_user()) as http:
        response = http.post("/api/v1/trading/rules", json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "INVALID_RULE" and error["details"]["field"] == field, error
        assert http.get("/api/v1/trading/rules").json()["data"] == []


def test_the_kill_switch_pauses_every_rule_and_resume_brings_them_back(server: EngineProcess, admin: httpx.Client) -> None:
    with server.client(new_user()) as http:
        rule = create(http, kind="PRICE_BELOW", symbol="BTCUSDT", threshold="1000", quoteAmount="50")
        try:
            assert admin.post("/api/v1/status/halt", json={"reason": "drill"}).status_code == 200
            wait_for(lambda: http.get(f"/api/v1/trading/rules/{rule['id']}").json()["data"]["paused"] is True, timeout=10)
        finally:
            assert admin.post("/api/v1/status/resume").status_code == 200
        back = wait_for(lambda: (r := http.get(f"/api/v1/trading/rules/{rule['id']}").json()["data"])["paused"] is False
                        and r, timeout=10)
        assert back["enabled"] is True


def test_a_sleeping_users_rule_fires_after_a_sigkill_and_wakes_the_user(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path / "data", env=ENV).start()
    user = new_user()
    try:
        with engine.client(user) as http:
            price = last(http)
            rule = create(http, kind="PRICE_BELOW", symbol="SOLUSDT",
                          threshold=str((price * D("0.95")).quantize(D("0.01"))), quoteAmount="100", maxExecutions=1)
        engine.kill()
        engine.start()
        with engine.client("ops", role="admin") as admin:
            assert user not in admin.get("/api/v1/status/actors").json()["data"]["portfolios"]
            move(admin, "SOLUSDT", price * D("0.9"))
            wait_for(lambda: user in admin.get("/api/v1/status/actors").json()["data"]["portfolios"], timeout=10)
        with engine.client(user) as http:
            [fired] = wait_for(lambda: executions(http, rule["id"]), timeout=10)
            assert fired["status"] == "PLACED"
            assert wait_for(lambda: order(http, fired["orderId"])["status"] == "FILLED", timeout=10)
    finally:
        engine.stop()


def test_a_new_listing_rule_buys_a_symbol_listed_on_the_exchange_within_a_feed_cycle(
        server: EngineProcess, admin: httpx.Client) -> None:
    with server.client(new_user()) as http, server.client(new_user()) as other:
        rule = create(http, kind="NEW_LISTING", quoteAsset="USDT", quoteAmount="25", maxExecutions=2)
        assert rule["symbol"] is None
        btc_only = create(other, kind="NEW_LISTING", quoteAsset="BTC", quoteAmount="25")
        listed = admin.post("/api/v1/paper/symbols", json={"symbol": "FRESHUSDT", "price": "2.5"})
        assert listed.status_code == 201, listed.text
        assert admin.post("/api/v1/paper/symbols", json={"symbol": "FRESHUSDT", "price": "2.5"}).status_code == 409
        [fired] = wait_for(lambda: executions(http, rule["id"]), timeout=15, message="the rule fired on the listing")
        assert fired["status"] == "PLACED", fired
        bought = wait_for(lambda: (o := order(http, fired["orderId"]))["status"] == "FILLED" and o, timeout=10)
        assert bought["symbol"] == "FRESHUSDT" and D(bought["executedQuote"]) <= 25
        assert executions(other, btc_only["id"]) == []  # its quote asset is not this listing's
        assert http.get("/api/v1/market/ticker/FRESHUSDT").status_code == 200  # a market actor for it at once
        after = http.get(f"/api/v1/trading/rules/{rule['id']}").json()["data"]
        assert after["executions"] == 1
