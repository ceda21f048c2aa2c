"""A `cryptobot simulator` process: the loopback MEXC that outlives the engines a test
kills, driven through its /_sim/ controls and its signed MEXC API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import httpx

from tests.support.signed import signed_call


def two_free_ports() -> int:
    """A port P with P+1 free too (the simulator's WebSocket goes there)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two adjacent free ports")


class SimulatorProcess:
    """``cryptobot simulator --speed 0`` with one account: a still market that moves
    only when told (``set_price``)."""

    def __init__(self, api_key: str, secret: str, balances: dict[str, str], *, seed: int = 42,
                 max_open_orders: int | None = None) -> None:
        """``max_open_orders``: an account's limit of open orders, if not MEXC's 500
        (a benchmark of more resting orders than one MEXC account may hold)."""
        self.api_key, self.secret = api_key, secret
        self.port = two_free_ports()
        self.rest_url = f"http://127.0.0.1:{self.port}"
        command = ["-m", "api.cli"]
        if max_open_orders is not None:
            command = ["-c", "import sys; from engine.exchanges.mexc_sim import core; "
                             f"core.MAX_OPEN_ORDERS = {int(max_open_orders)}; "
                             "from api.cli import main; sys.exit(main(sys.argv[1:]))"]
        self._args = [sys.executable, *command, "simulator", "--port", str(self.port),
                      "--account", f"{api_key}:{secret}", "--speed", "0", "--seed", str(seed)]
        for asset, amount in balances.items():
            self._args += ["--balance", f"{asset}={amount}"]
        self.proc: subprocess.Popen[str] | None = None
        self.http = httpx.Client(base_url=self.rest_url, timeout=15.0)

    def start(self) -> SimulatorProcess:
        self.proc = subprocess.Popen(
            self._args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines = [self.proc.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        if not lines[2].startswith("MEXC_BASE_URL="):
            self.stop()
            raise RuntimeError(f"the simulator did not start: {lines!r}")
        return self

    def stop(self) -> None:
        self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def engine_env(self, user: str) -> dict[str, str]:
        """An engine on EXCHANGE=mexc trading this account for ``user`` (the WebSocket
        is assumed on the next port)."""
        return {"EXCHANGE": "mexc", "MEXC_BASE_URL": self.rest_url, "MEXC_API_KEY": self.api_key,
                "MEXC_SECRET_KEY": self.secret, "MEXC_ACCOUNT_USER": user}

    # -- /_sim/ controls ---------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> Decimal:
        response = self.http.post("/_sim/price", json={"symbol": symbol, "price": str(price)})
        response.raise_for_status()
        return Decimal(response.json()["price"])

    def orders(self) -> list[dict[str, Any]]:
        """Every order the exchange ever accepted for the account, in MEXC's shape."""
        response = self.http.get("/_sim/orders", params={"apiKey": self.api_key})
        response.raise_for_status()
        return response.json()

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked), assets with nothing left out."""
        response = self.http.get("/_sim/balances", params={"apiKey": self.api_key})
        response.raise_for_status()
        held = {a: (Decimal(b["free"]), Decimal(b["locked"])) for a, b in response.json().items()}
        return {a: b for a, b in held.items() if any(b)}

    # -- the signed API ------------------------------------------------------------------

    def trades(self, symbol: str, since_ms: int) -> list[dict[str, Any]]:
        """The account's trades on ``symbol`` from ``since_ms`` on. myTrades answers the
        newest 100 at most, so they are read page by page, back in time. Its weight
        counts against the account's budget, which an engine on the account shares."""
        found: dict[tuple[str, bool], dict[str, Any]] = {}  # a self-trade is two trades of one id
        end: int | None = None
        while True:
            params: list[tuple[str, object]] = [("symbol", symbol), ("startTime", since_ms), ("limit", 100)]
            if end is not None:
                params.append(("endTime", end))
            response = signed_call(self.http, "GET", "myTrades", params, self.api_key, self.secret)
            if response.status_code == 429:  # the account's budget for myTrades is spent for now
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            response.raise_for_status()
            page = response.json()
            new = [t for t in page if (t["id"], t["isBuyer"]) not in found]
            found.update(((t["id"], t["isBuyer"]), t) for t in page)
            if len(page) < 100 or not new:
                return list(found.values())
            end = min(t["time"] for t in page)  # that millisecond again: its other trades are not lost
