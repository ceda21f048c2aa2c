"""The README's two-process set-up: `cryptobot simulator --port P --account KEY:SECRET`
in one process, the engine on EXCHANGE=mexc pointed at it in another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.server import EngineProcess
from tests.support.simulator import two_free_ports
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def test_the_engine_trades_on_a_simulator_process_given_only_its_rest_port(tmp_path: Path) -> None:
    port = two_free_ports()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "simulator", "--port", str(port), "--account", "cli-key:cli-secret",
         "--balance", "USDT=500", "--speed", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = [simulator.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        assert lines[1].split()[-1] == f"ws://127.0.0.1:{port + 1}/ws"
        assert lines[2].strip() == f"MEXC_BASE_URL=http://127.0.0.1:{port} MEXC_WS_URL=ws://127.0.0.1:{port + 1}/ws"
        env = {
            "EXCHANGE": "mexc",
            "MEXC_BASE_URL": f"http://127.0.0.1:{port}",  # no MEXC_WS_URL: the next port is assumed
            "MEXC_API_KEY": "cli-key",
            "MEXC_SECRET_KEY": "cli-secret",
            "MEXC_ACCOUNT_USER": "alice",
        }
        engine = EngineProcess(tmp_path, env).start()
        try:
            with engine.client("alice") as http:
                ticker = wait_for(lambda: (r := http.get("/api/v1/market/ticker/BTCUSDT")).status_code == 200 and r.json()["data"])
                assert ticker["stale"] is False  # streamed over the WebSocket
                wait_for(lambda: http.get("/api/v1/account/wallet").json()["data"]["balances"])
                wallet = http.post("/api/v1/account/wallet/refresh").json()["data"]["balances"]
                assert {b["asset"]: Decimal(b["free"]) for b in wallet} == {"USDT": Decimal(500)}
                order = http.post(
                    "/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "50"}
                )
                assert order.status_code == 201, order.text
                assert order.json()["data"]["status"] == "FILLED"
        finally:
            engine.stop()
        simulator.send_signal(signal.SIGTERM)
        assert simulator.wait(10) == 0
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()
