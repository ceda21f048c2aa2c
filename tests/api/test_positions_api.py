"""Positions over HTTP: built from the fills the orders show, and the same after a SIGKILL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.server import EngineProcess, new_user

pytestmark = pytest.mark.e2e

D = Decimal


def place(http, **body) -> dict:
    response = http.post("/api/v1/trading/orders", json=body)
    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert order["status"] == "FILLED", order
    return order


def by_hand(orders: list[dict]) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, cost basis, realized PnL) by average cost, fees included."""
    quantity = cost = realized = D(0)
    for order in orders:
        for fill in order["fills"]:
            q, quote, fee = D(fill["quantity"]), D(fill["quoteQuantity"]), D(fill["fee"])
            if order["side"] == "BUY":
                assert fill["feeAsset"] == "BTC"
                quantity += q - fee
                cost += quote
            else:
                assert fill["feeAsset"] == "USDT"
                share = cost * q / quantity
                realized += quote - fee - share
                quantity -= q
                cost -= share
    return quantity, cost, realized


def close(a: str | None, b: Decimal) -> bool:
    return a is not None and abs(D(a) - b) <= D("1e-9")


def test_positions_follow_partial_buys_and_sells_with_fees_and_survive_a_sigkill(tmp_path: Path) -> None:
    user = new_user()
    engine = EngineProcess(tmp_path / "data").start()
    try:
        with engine.client(user) as http:
            assert http.get("/api/v1/trading/positions").json()["data"] == []
            zero = http.get("/api/v1/trading/positions/btcusdt").json()["data"]
            assert zero["symbol"] == "BTCUSDT" and zero["quantity"] == "0" and zero["averagePrice"] is None
            orders = [place(http, symbol="BTCUSDT", side="BUY", type="MARKET", quoteQuantity="300")]
            orders.append(place(http, symbol="BTCUSDT", side="BUY", type="MARKET", quoteQuantity="200"))
            orders.append(place(http, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.001"))
            quantity, cost, realized = by_hand(orders)
            position = http.get("/api/v1/trading/positions/BTCUSDT").json()["data"]
            assert D(position["quantity"]) == quantity
            assert close(position["costBasis"], cost)
            assert close(position["realizedPnl"], realized)
            assert realized != 0  # the sell paid a fee at least
            assert abs(D(position["averagePrice"]) - cost / quantity) < D("1e-6")
            last = D(position["lastPrice"])
            assert close(position["unrealizedPnl"], quantity * last - cost)
            wallet = {b["asset"]: D(b["free"]) for b in http.get("/api/v1/account/wallet").json()["data"]["balances"]}
            assert wallet["BTC"] == quantity  # everything held came from these fills
            listed = http.get("/api/v1/trading/positions").json()["data"]
            assert [p["symbol"] for p in listed] == ["BTCUSDT"]
            assert http.get("/api/v1/trading/positions/NOPEUSDT").status_code == 404
        engine.kill()
        engine.start()
        with engine.client(user) as http:
            again = http.get("/api/v1/trading/positions/BTCUSDT").json()["data"]
            for field in ("quantity", "costBasis", "realizedPnl", "averagePrice", "fees", "updatedAt"):
                assert again[field] == position[field], field
    finally:
        engine.stop()


def test_a_viewer_reads_positions_and_an_anonymous_caller_is_refused(server: EngineProcess) -> None:
    with server.client(new_user(), role="viewer") as http:
        assert http.get("/api/v1/trading/positions").status_code == 200
    import httpx

    assert httpx.get(f"{server.url}/api/v1/trading/positions").status_code == 401
