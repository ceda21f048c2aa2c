"""When an actor cannot answer, requests end in a 503 envelope; none hangs."""

from __future__ import annotations

import time
from pathlib import Path

import apsw
import falcon.testing
import pytest

from actors.client import EngineClient
from actors.system import ActorSystem
from api.app import create_app
from engine.auth import issue_dev_token, load_or_create_dev_key, verifier_for
from tests.conftest import make_config
from tests.support.server import EngineProcess, new_user
from tests.support.waiting import wait_for


@pytest.fixture
def app_and_system(tmp_path: Path):
    config = make_config(tmp_path, ASK_TIMEOUT_SECONDS="0.5", SUPERVISOR_INTERVAL_SECONDS="3600")
    system = ActorSystem(config).start()
    app = create_app(EngineClient(system), verifier_for(config))
    token = issue_dev_token(load_or_create_dev_key(config.data_dir), "alice", "admin")
    try:
        yield falcon.testing.TestClient(app, headers={"Authorization": f"Bearer {token}"}), system
    finally:
        system.stop()


def test_a_stopped_market_actor_gives_503_at_once_and_recovers_after_restart(app_and_system) -> None:
    http, system = app_and_system
    assert http.simulate_get("/api/v1/market/ticker/BTCUSDT").status_code == 200
    system.ref("market", "BTCUSDT").stop()

    started = time.monotonic()
    for path in ("/api/v1/market/ticker/BTCUSDT", "/api/v1/market/tickers"):
        response = http.simulate_get(path)
        assert response.status_code == 503
        assert response.json["success"] is False
        assert response.json["error"]["code"] == "ACTOR_UNAVAILABLE"
    assert time.monotonic() - started < 5  # answered, not hung
    health = http.simulate_get("/health")
    assert health.status_code == 503
    assert "market:BTCUSDT" in health.json["error"]["message"]

    system.supervision.supervise_once()  # what the supervisor's timer does
    assert wait_for(lambda: http.simulate_get("/api/v1/market/ticker/BTCUSDT").status_code == 200)
    assert http.simulate_get("/health").status_code == 200


def test_a_stopped_portfolio_is_started_again_on_the_next_request(app_and_system) -> None:
    http, system = app_and_system
    assert http.simulate_get("/api/v1/account/wallet").status_code == 200
    system.fail_entity("portfolio", "alice", "stopped")
    response = http.simulate_get("/api/v1/account/wallet")
    assert response.status_code == 200
    assert response.json["data"]["balances"] == [{"asset": "USDT", "free": "10000", "locked": "0"}]


def test_a_stopped_journal_makes_orders_and_health_503(app_and_system) -> None:
    http, system = app_and_system
    assert http.simulate_get("/api/v1/account/wallet").status_code == 200
    system.ref("persistence", "journal").stop()
    body = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "10"}
    response = http.simulate_post("/api/v1/trading/orders", json=body)
    assert response.status_code == 503
    assert response.json["error"]["code"] in ("ACTOR_UNAVAILABLE", "JOURNAL_UNAVAILABLE")
    assert http.simulate_get("/health").status_code == 503
    assert http.simulate_get("/api/v1/trading/orders").status_code == 503  # history lives in the journal
    # Nothing was accepted without the journal: once it is back, there is no order.
    system.supervision.supervise_once()
    listed = wait_for(lambda: (r := http.simulate_get("/api/v1/trading/orders")).status_code == 200 and r)
    assert listed.json["data"] == []


@pytest.mark.e2e
def test_a_blocked_journal_times_out_into_503_and_the_order_lands_once_it_clears(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path, {"ASK_TIMEOUT_SECONDS": "1"}).start()
    try:
        with engine.client(new_user()) as http:
            assert http.get("/api/v1/account/wallet").status_code == 200
            blocker = apsw.Connection(str(tmp_path / "cryptobot.db"))
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                started = time.monotonic()
                body = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "10", "clientOrderId": "during-lock"}
                response = http.post("/api/v1/trading/orders", json=body)
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "ENGINE_TIMEOUT"
                # /health reads the writer's status: its commit has run longer than an ask may wait.
                health = wait_for(lambda: (r := http.get("/health")).status_code == 503 and r, timeout=2)
                assert "journal: a commit has been running for" in health.json()["error"]["message"]
                assert time.monotonic() - started < 4  # both answered within their deadlines
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            # The journal catches up: the order the client was unsure about is there, once.
            orders = wait_for(lambda: http.get("/api/v1/trading/orders").json()["data"])
            assert [o["clientOrderId"] for o in orders] == ["during-lock"]
            assert orders[0]["status"] == "FILLED"
            retry = http.post("/api/v1/trading/orders", json=body)
            assert retry.json()["data"]["id"] == orders[0]["id"]
            assert wait_for(lambda: http.get("/health").status_code == 200)
    finally:
        engine.stop()
