"""The engine on EXCHANGE=mexc: gunicorn serving the real app, the real MEXC client
and streams talking to the loopback simulator over HTTP and WebSocket."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from engine.exchanges.mexc_sim import Simulator
from tests.support.server import EngineProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET, USER = "sim-key-1", "sim-secret-1", "alice"
START = Decimal(10000)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(accounts={KEY: (SECRET, {"USDT": START})}, speed=0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def mexc_engine(data_dir: Path, sim: Simulator, **env: str) -> EngineProcess:
    settings = {
        "EXCHANGE": "mexc",
        "MEXC_BASE_URL": sim.rest_url,
        "MEXC_WS_URL": sim.ws_url,
        "MEXC_API_KEY": KEY,
        "MEXC_SECRET_KEY": SECRET,
        "MEXC_ACCOUNT_USER": USER,
        "ORDER_RATE_LIMIT": "0",
    }
    settings.update(env)
    return EngineProcess(data_dir, settings)


def totals(http: httpx.Client) -> dict[str, Decimal]:
    balances = http.get("/api/v1/account/wallet").json()["data"]["balances"]
    return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in balances if Decimal(b["free"]) + Decimal(b["locked"])}


def sim_totals(sim: Simulator) -> dict[str, Decimal]:
    return {a: b.free + b.locked for a, b in sim.account_balances(KEY).items() if b.free + b.locked}


def order_status(http: httpx.Client, order_id: str) -> str:
    return http.get(f"/api/v1/trading/orders/{order_id}").json()["data"]["status"]


def test_the_engine_trades_on_mexc_and_its_wallet_matches_the_exchange(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim).start()
    try:
        with engine.client(USER) as http:
            wait_for(lambda: http.get("/api/v1/market/ticker/BTCUSDT").status_code == 200)
            # The account's balance comes from the exchange, journaled by reconciliation.
            assert totals(http) == {"USDT": START}

            market = http.post("/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "100"})
            assert market.status_code == 201, market.text
            order = market.json()["data"]
            assert order["status"] == "FILLED"
            assert Decimal(order["executedQuote"]) <= 100
            assert sum(Decimal(f["quantity"]) for f in order["fills"]) == Decimal(order["executedQuantity"])
            wait_for(lambda: totals(http) == sim_totals(sim), message="the wallet equals the exchange account")

            book = http.get("/api/v1/market/orderbook/BTCUSDT", params={"depth": 5}).json()["data"]
            limit_price = (Decimal(book["bids"][0]["price"]) * Decimal("0.9")).quantize(Decimal("0.01"))
            resting = http.post(
                "/api/v1/trading/orders",
                json={"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.002", "price": str(limit_price)},
            ).json()["data"]
            assert resting["status"] == "NEW"
            [seen] = [o for o in sim.orders_seen(KEY) if o.client_order_id == resting["clientOrderId"]]
            assert seen.status == "NEW" and seen.price == limit_price

            sim.set_price("BTCUSDT", limit_price - 100)
            wait_for(lambda: order_status(http, resting["id"]) == "FILLED", message="the limit order filled on the exchange")
            wait_for(lambda: totals(http) == sim_totals(sim), message="the wallet follows the fill")

            cancelled = http.post(
                "/api/v1/trading/orders",
                json={"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.002", "price": str(limit_price - 5000)},
            ).json()["data"]
            response = http.delete(f"/api/v1/trading/orders/{cancelled['id']}")
            assert response.status_code == 200 and response.json()["data"]["status"] == "CANCELED"
            wallet = {b["asset"]: b for b in http.get("/api/v1/account/wallet").json()["data"]["balances"]}
            assert Decimal(wallet["USDT"]["locked"]) == 0
            assert sim.account_balances(KEY)["USDT"].locked == 0
    finally:
        engine.stop()


def test_other_users_have_no_exchange_account_to_trade_with(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim).start()
    try:
        with engine.client("bob") as http:
            response = http.post("/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "10"})
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "NO_EXCHANGE_ACCOUNT"
            assert http.get("/api/v1/market/ticker/BTCUSDT").status_code in (200, 503)
        with engine.client("ops", role="admin") as admin:
            moved = admin.put("/api/v1/paper/prices/BTCUSDT", json={"price": "50000"})
            assert (moved.status_code, moved.json()["error"]["code"]) == (409, "NOT_SUPPORTED")
        assert sim.orders_seen(KEY) == []
    finally:
        engine.stop()


def test_under_429s_and_5xx_no_order_is_placed_twice_and_every_order_ends_known(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim, ASK_TIMEOUT_SECONDS="3").start()
    try:
        with engine.client(USER, timeout=30) as http:
            wait_for(lambda: http.get("/api/v1/market/ticker/ETHUSDT").status_code == 200)
            ids = []
            for n in range(12):
                if n % 4 == 0:
                    sim.faults.fail_next(2, status=429, retry_after=1)
                elif n % 4 == 1:
                    sim.faults.fail_after_order(1, status=500)  # placed, but the answer is lost
                elif n % 4 == 2:
                    sim.faults.fail_next(1, status=503)
                else:
                    sim.faults.fail_after_order(1, status=429)  # placed, then "refused": the retry finds it taken
                body = (
                    {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "20"}
                    if n % 2
                    else {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1000"}
                )
                headers = {"Idempotency-Key": f"order-{n}"}
                for _ in range(5):  # a client retries a 503 with the same key
                    response = http.post("/api/v1/trading/orders", json=body, headers=headers)
                    if response.status_code != 503:
                        break
                assert response.status_code in (201, 202), response.text
                ids.append(response.json()["data"]["id"])
            sim.faults.clear()

            assert len(set(ids)) == 12
            engine_orders = {o["id"]: o for o in http.get("/api/v1/trading/orders", params={"limit": 100}).json()["data"]}
            assert set(engine_orders) == set(ids)

            def all_settled() -> bool:
                seen = {o.client_order_id: o for o in sim.orders_seen(KEY)}
                for order in http.get("/api/v1/trading/orders", params={"limit": 100}).json()["data"]:
                    exchange = seen.get(order["clientOrderId"])
                    if order["status"] == "REJECTED" and exchange is None:
                        continue  # refused by the exchange, known to both
                    if exchange is None or order["status"] != {"PARTIALLY_CANCELED": "CANCELED"}.get(exchange.status, exchange.status):
                        return False
                return True

            wait_for(all_settled, timeout=30, message="every order's state equals the exchange's")
            client_ids = [o.client_order_id for o in sim.orders_seen(KEY)]
            assert len(client_ids) == len(set(client_ids))  # none placed twice
            placed = [o for o in http.get("/api/v1/trading/orders", params={"limit": 100}).json()["data"] if o["status"] != "REJECTED"]
            assert sorted(client_ids, key=str) == sorted(o["clientOrderId"] for o in placed)
            assert len(placed) == 12  # 429s and 5xx are retried safely: every order got through
            wait_for(lambda: totals(http) == sim_totals(sim), message="the wallet equals the exchange account")
    finally:
        engine.stop()


def test_while_the_breaker_holds_calls_back_an_order_is_a_503_and_not_accepted(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim).start()
    try:
        with engine.client(USER, timeout=30) as http:
            sim.faults.fail_next(50, status=503)
            for _ in range(2):  # each refresh tries the exchange a few times: the breaker opens
                assert http.post("/api/v1/account/wallet/refresh").status_code == 503
            health = http.get("/health").json()
            assert health["error"]["details"]["checks"]["exchange"]["account"]["breaker"]["state"] == "open"
            response = http.post(
                "/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "50000"}
            )
            assert response.status_code == 503 and response.json()["error"]["code"] == "EXCHANGE_UNAVAILABLE", response.text
            assert "suspended" in response.json()["error"]["message"]
            assert http.get("/api/v1/trading/orders").json()["data"] == []  # nothing accepted, nothing to clean up
            assert sim.orders_seen(KEY) == []
    finally:
        sim.faults.clear()
        engine.stop()


def test_after_a_restart_reconciliation_applies_what_the_exchange_did_meanwhile(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim).start()
    with engine.client(USER) as http:
        wait_for(lambda: http.get("/api/v1/market/ticker/SOLUSDT").status_code == 200)
        resting = http.post(
            "/api/v1/trading/orders",
            json={"symbol": "SOLUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "150"},
        ).json()["data"]
        assert resting["status"] == "NEW"
    engine.kill()

    sim.set_price("SOLUSDT", Decimal(140))  # fills while the engine is down
    [exchange_order] = [o for o in sim.orders_seen(KEY) if o.client_order_id == resting["clientOrderId"]]
    assert exchange_order.status == "FILLED"

    restarted = mexc_engine(tmp_path, sim).start()
    try:
        with restarted.client(USER) as http:
            order = http.get(f"/api/v1/trading/orders/{resting['id']}").json()["data"]
            assert order["status"] == "FILLED"
            assert Decimal(order["executedQuantity"]) == 1
            assert totals(http) == sim_totals(sim)
        with restarted.client("ops", role="admin") as admin:
            records = admin.get("/api/v1/status/reconciliation").json()["data"]
            assert any(resting["id"] in r["ordersUpdated"] for r in records)
        with restarted.client(USER) as http:
            refreshed = http.post("/api/v1/account/wallet/refresh").json()["data"]
            assert {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in refreshed["balances"] if Decimal(b["free"]) + Decimal(b["locked"])} == sim_totals(sim)
    finally:
        restarted.stop()


def test_a_deposit_made_outside_the_engine_is_journaled_by_reconciliation(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim).start()
    try:
        with engine.client(USER) as http:
            assert totals(http) == {"USDT": START}
            sim.add_account(KEY, SECRET, {"USDT": START + 250})  # a deposit on the exchange
            assert totals(http) == {"USDT": START}  # not seen until reconciled
            refreshed = http.post("/api/v1/account/wallet/refresh")
            assert refreshed.status_code == 200
            assert totals(http) == sim_totals(sim) == {"USDT": START + 250}
        with engine.client("ops", role="admin") as admin:
            [record] = admin.get("/api/v1/status/reconciliation").json()["data"][:1]
            assert record["userId"] == USER and record["balancesAdjusted"] == {"USDT": "250"}
    finally:
        engine.stop()

    restarted = mexc_engine(tmp_path, sim).start()  # the finding is journaled: a restart keeps it listed
    try:
        with restarted.client("ops", role="admin") as admin:
            assert record in admin.get("/api/v1/status/reconciliation").json()["data"]
    finally:
        restarted.stop()


def test_a_symbol_listed_while_running_appears_in_symbols(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim, EXCHANGE_INFO_REFRESH_SECONDS="0.3", MEXC_SYMBOLS="BTCUSDT,NEWUSDT").start()
    try:
        with engine.client(USER, role="viewer") as http:
            symbols = lambda: {s["symbol"] for s in http.get("/api/v1/market/symbols").json()["data"]}  # noqa: E731
            assert "NEWUSDT" not in symbols()
            sim.list_symbol("NEWUSDT", 2, 4, Decimal("1.2345"))
            wait_for(lambda: "NEWUSDT" in symbols(), message="the new listing is picked up")
            # It is in MEXC_SYMBOLS, so it is streamed too.
            wait_for(lambda: http.get("/api/v1/market/ticker/NEWUSDT").status_code == 200, message="NEWUSDT streams")
        with engine.client(USER) as http, engine.client("ops", role="admin") as admin:
            # And it trades at once, through the gateway that was running before it was listed.
            bought = http.post("/api/v1/trading/orders", json={"symbol": "NEWUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "20"})
            assert bought.status_code == 201, bought.text
            assert bought.json()["data"]["status"] == "FILLED"
            assert admin.get("/api/v1/status/risk").json()["data"]["failures"] == []
    finally:
        engine.stop()


def test_a_fill_missed_while_the_user_stream_was_down_is_caught_up_on_reconnect(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim).start()
    try:
        with engine.client(USER) as http:
            wait_for(lambda: http.get("/api/v1/market/ticker/ETHUSDT").status_code == 200)
            resting = http.post(
                "/api/v1/trading/orders",
                json={"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.5", "price": "3000"},
            ).json()["data"]
            assert resting["status"] == "NEW"
            sim.faults.delay(0.5, count=2)  # keep the engine away a moment longer
            assert sim.drop_websockets() >= 2  # market and user streams
            sim.set_price("ETHUSDT", Decimal(2900))  # the deal push has nowhere to go
            wait_for(lambda: order_status(http, resting["id"]) == "FILLED", timeout=20, message="reconciled after reconnect")
            wait_for(lambda: totals(http) == sim_totals(sim), message="the wallet equals the exchange account")
    finally:
        engine.stop()


def test_credentials_the_exchange_refuses_are_a_503_that_crashes_nothing(tmp_path: Path, sim: Simulator) -> None:
    engine = mexc_engine(tmp_path, sim).start()
    try:
        with engine.client(USER) as http, engine.client("ops", role="admin") as admin:
            wait_for(lambda: http.get("/api/v1/account/wallet").status_code == 200)
            sim.add_account(KEY, "a-rotated-secret")  # the key's secret changed on the exchange
            refused = http.post("/api/v1/account/wallet/refresh")
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "EXCHANGE_UNAVAILABLE"
            assert "700002" in refused.json()["error"]["message"]
            assert "refused the account's API key" in refused.json()["error"]["message"]
            assert http.get("/api/v1/account/wallet").status_code == 200  # the journal still answers
            risk = admin.get("/api/v1/status/risk").json()["data"]
            assert risk["failures"] == [] and risk["halted"] is False
            health = http.get("/health")
            assert health.status_code == 503  # operators see it: nothing will trade until the key is fixed
            assert "700002" in health.json()["error"]["message"], health.text

            order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "50000"}
            headers = {"Idempotency-Key": "placed-once-the-key-works"}
            refused_order = http.post("/api/v1/trading/orders", json=order, headers=headers)
            assert refused_order.status_code == 503, refused_order.text  # not accepted: nothing journaled
            assert refused_order.json()["error"]["code"] == "EXCHANGE_UNAVAILABLE"

            sim.add_account(KEY, SECRET)
            # The client retries, as a 503 says to; the engine notices the key works again.
            placed = wait_for(lambda: (r := http.post("/api/v1/trading/orders", json=order, headers=headers)).status_code != 503 and r)
            assert placed.status_code == 201 and placed.json()["data"]["status"] == "NEW", placed.text
            assert len([o for o in sim.orders_seen(KEY) if o.client_order_id == placed.json()["data"]["clientOrderId"]]) == 1
            assert http.post("/api/v1/account/wallet/refresh").status_code == 200
            assert http.get("/health").status_code == 200
            sim.add_account(KEY, "rotated-again")
            assert http.post("/api/v1/account/wallet/refresh").status_code == 503
            assert http.get("/health").status_code == 503
            sim.add_account(KEY, SECRET)  # fixed: /health asks about the key itself, nothing else need call
            wait_for(lambda: http.get("/health").status_code == 200, message="/health sees the key fixed")
    finally:
        engine.stop()


def test_serve_refuses_credentials_the_exchange_refuses_with_one_line(tmp_path: Path, sim: Simulator) -> None:
    env = {
        "EXCHANGE": "mexc", "MEXC_BASE_URL": sim.rest_url, "MEXC_WS_URL": sim.ws_url, "MEXC_API_KEY": KEY,
        "MEXC_SECRET_KEY": "not-the-secret", "MEXC_ACCOUNT_USER": USER, "DATA_DIR": str(tmp_path), "PORT": "1", "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run([sys.executable, "-m", "api.cli", "serve"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "700002" in result.stderr and len(result.stderr.strip().splitlines()) == 1
