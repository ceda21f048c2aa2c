"""The backup commands as an operator uses them, against a real running engine."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from persistence.backup import integrity_check
from tests.support.server import EngineProcess, new_user
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": str(data_dir / "cryptobot.db")}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_backup_while_trading_then_restore_once_stopped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = EngineProcess(data, {"BACKUP_INTERVAL_SECONDS": "0.2", "BACKUP_KEEP": "2"}).start()
    user = new_user()
    try:
        with engine.client(user) as http:
            for price in ("1000", "1001", "1002"):
                assert http.post("/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": price}).status_code == 201
            wallet = http.get("/api/v1/account/wallet").json()["data"]
        copy = tmp_path / "copy.db"
        made = cli(data, "backup", "--to", str(copy))
        assert made.returncode == 0, made.stderr
        assert integrity_check(copy) == []

        refused = cli(data, "restore", "--from", str(copy))
        assert refused.returncode == 2
        assert "running" in refused.stderr or "in use" in refused.stderr

        scheduled = lambda: sorted((data / "backups").glob("cryptobot-*.db"))  # noqa: E731
        wait_for(lambda: len(scheduled()) == 2, message="scheduled backups, rotated to BACKUP_KEEP")
        with engine.client() as anyone:
            assert anyone.get("/health").json()["data"]["checks"]["backups"]["count"] >= 2

        with engine.client(user) as http:  # trade on after the copy
            http.post("/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "50"})
    finally:
        engine.stop()

    restored = cli(data, "restore", "--from", str(copy))
    assert restored.returncode == 0, restored.stderr
    again = EngineProcess(data).start()
    try:
        with again.client(user) as http:
            assert http.get("/api/v1/account/wallet").json()["data"] == wallet
            orders = http.get("/api/v1/trading/orders").json()["data"]
            assert [Decimal(o["price"]) for o in orders] == [Decimal(1002), Decimal(1001), Decimal(1000)]
    finally:
        again.stop()
