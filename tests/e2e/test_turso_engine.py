"""A running engine replicates to Turso and reports it; a fresh machine is
rebuilt from Turso with the restore command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hrana_adapter import HranaV1Adapter
from tests.support.server import EngineProcess, new_user
from tests.support.turso_server import TursoServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]


def test_an_engine_syncs_to_turso_and_a_fresh_machine_is_rebuilt_from_it(tmp_path: Path) -> None:
    server = TursoServer(tmp_path / "remote.db").start()
    adapter = HranaV1Adapter(server.url).start()
    env = {"TURSO_ENABLED": "true", "TURSO_SYNC_ENABLED": "true", "TURSO_URL": adapter.url, "TURSO_AUTH_TOKEN": "token-1", "TURSO_SYNC_INTERVAL_SECONDS": "0.2"}
    user = new_user()
    engine = EngineProcess(tmp_path / "a", env).start()
    try:
        with engine.client(user) as http, engine.client("ops", role="admin") as admin:
            http.post("/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "100"})
            http.post("/api/v1/trading/orders", json={"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1", "price": "1000"})
            wallet = http.get("/api/v1/account/wallet").json()["data"]
            orders = http.get("/api/v1/trading/orders").json()["data"]
            status = wait_for(lambda: (s := admin.get("/api/v1/status/sync").json()["data"])["eventsBehind"] == 0 and s)
            assert status["enabled"] is True and status["lastSuccessMs"] and status["remoteSeq"] == status["localSeq"]
            assert "token-1" not in str(status)
    finally:
        engine.stop()

    fresh = tmp_path / "b"
    fresh.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "restore", "--from-turso"],
        env={**os.environ, **env, "DATABASE_URL": str(fresh / "cryptobot.db")},
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rebuilt = EngineProcess(fresh).start()
    try:
        with rebuilt.client(user) as http:
            assert http.get("/api/v1/account/wallet").json()["data"] == wallet
            assert http.get("/api/v1/trading/orders").json()["data"] == orders
    finally:
        rebuilt.stop()
        adapter.stop()
        server.stop()
