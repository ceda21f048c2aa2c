"""Killing and restarting an engine on EXCHANGE=mexc, and the orders it restarts with:
shared by the restart tests and bench/bench_restart.py."""

from __future__ import annotations

import functools
import time
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx

from tests.support.server import EngineProcess
from tests.support.simulator import SimulatorProcess
from tests.support.waiting import wait_for

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
# Each account on the simulator starts with these (the engine reads them at start).
BALANCES = {"USDT": "1000000", "BTC": "2", "ETH": "40", "SOL": "600"}


class Rules:
    """The symbols' precisions and prices as the engine serves them."""

    def __init__(self, http: httpx.Client) -> None:
        listed = {s["symbol"]: s for s in http.get("/api/v1/market/symbols").json()["data"]}
        self.base = {s: int(listed[s]["basePrecision"]) for s in SYMBOLS}
        self.quote = {s: int(listed[s]["quotePrecision"]) for s in SYMBOLS}
        self.prices = {
            s: Decimal(wait_for(functools.partial(_ticker, http, s), message=f"a ticker for {s}")["lastPrice"]) for s in SYMBOLS
        }

    def price(self, symbol: str, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.quote[symbol]), rounding=ROUND_DOWN)

    def quantity(self, symbol: str, notional: Decimal, price: Decimal) -> Decimal:
        return (notional / price).quantize(Decimal(1).scaleb(-self.base[symbol]), rounding=ROUND_DOWN)

    def limit(self, symbol: str, side: str, price: Decimal, notional: Decimal) -> dict[str, str]:
        price = self.price(symbol, price)
        return {"symbol": symbol, "side": side, "type": "LIMIT", "price": str(price),
                "quantity": str(self.quantity(symbol, notional, price))}


def _ticker(http: httpx.Client, symbol: str) -> dict[str, Any] | None:
    response = http.get(f"/api/v1/market/ticker/{symbol}")
    return response.json()["data"] if response.status_code == 200 else None


def place_resting(http: httpx.Client, rules: Rules, count: int, sim: SimulatorProcess) -> list[dict[str, Any]]:
    """``count`` LIMIT orders priced far from the market (buys at half the price, sells
    at one and a half), so they rest; spread over the symbols and both sides. Returns
    once the exchange holds them all (past MEXC's order budget the engine answers 202
    and sends them as the budget allows)."""
    placed = []
    for n in range(count):
        symbol, side = SYMBOLS[n % len(SYMBOLS)], ("BUY", "SELL")[n // len(SYMBOLS) % 2]
        far = rules.prices[symbol] * (Decimal("0.5") if side == "BUY" else Decimal("1.5"))
        far -= Decimal(n).scaleb(-rules.quote[symbol])  # a price of its own: distinct orders
        response = http.post("/api/v1/trading/orders", json=rules.limit(symbol, side, far, Decimal(20)),
                             headers={"Idempotency-Key": f"resting-{n}"})
        assert response.status_code in (201, 202), response.text
        placed.append(response.json()["data"])
    wait_for(lambda: sum(o["status"] == "NEW" for o in sim.orders()) >= count, timeout=max(30.0, count / 20),
             interval=0.2, message=f"the exchange to hold {count} resting orders")
    return placed


def timed_restart(data_dir: Any, env: dict[str, str], port: int, timeout: float = 60.0) -> tuple[EngineProcess, float]:
    """A new engine on ``data_dir``; seconds from its process start to the first
    /health 200."""
    engine = EngineProcess(data_dir, env, port=port)
    started = time.monotonic()
    engine.start(timeout)
    return engine, time.monotonic() - started


def timed_refresh(http: httpx.Client) -> tuple[httpx.Response, float]:
    """POST /api/v1/account/wallet/refresh and how long its answer took."""
    started = time.monotonic()
    response = http.post("/api/v1/account/wallet/refresh")
    return response, time.monotonic() - started
