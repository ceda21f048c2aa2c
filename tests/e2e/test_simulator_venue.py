"""PAPER_VENUE=simulator: paper trading on the in-process MEXC simulator through
the real client and streams, with each user's account rebuilt from the journal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.server import EngineProcess, new_user
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def wallet(http) -> dict[str, tuple[Decimal, Decimal]]:
    balances = http.get("/api/v1/account/wallet").json()["data"]["balances"]
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in balances}


def test_paper_trading_on_the_simulator_survives_a_restart(tmp_path: Path) -> None:
    env = {"PAPER_VENUE": "simulator"}
    user = new_user()
    engine = EngineProcess(tmp_path, env).start()
    try:
        with engine.client(user) as http:
            wait_for(lambda: http.get("/api/v1/market/ticker/BTCUSDT").status_code == 200)
            assert wallet(http) == {"USDT": (Decimal(10000), Decimal(0))}
            bought = http.post("/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "100"})
            assert bought.status_code == 201, bought.text
            order = bought.json()["data"]
            assert order["status"] == "FILLED"
            # MEXC fills whole lots: at most the amount is spent, never more.
            assert 0 < Decimal(order["executedQuote"]) <= 100
            resting = http.post(
                "/api/v1/trading/orders",
                json={"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "50000"},
            ).json()["data"]
            assert resting["status"] == "NEW"
            before = wallet(http)
            assert before["USDT"][1] == Decimal(50)
    finally:
        engine.stop()

    restarted = EngineProcess(tmp_path, env).start()
    try:
        with restarted.client(user) as http, restarted.client("ops", role="admin") as admin:
            assert wallet(http) == before  # the simulator account was rebuilt from the journal
            assert http.get(f"/api/v1/trading/orders/{resting['id']}").json()["data"]["status"] == "NEW"
            assert admin.put("/api/v1/paper/prices/BTCUSDT", json={"price": "49000"}).status_code == 200
            wait_for(lambda: http.get(f"/api/v1/trading/orders/{resting['id']}").json()["data"]["status"] == "FILLED")
            after = wallet(http)
            assert after["USDT"] == (before["USDT"][0], Decimal(0))
            assert after["BTC"][0] == before["BTC"][0] + Decimal("0.001")
    finally:
        restarted.stop()
