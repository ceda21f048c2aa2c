"""kill -9 in the middle of trading loses nothing that was acknowledged."""

from __future__ import annotations

import decimal
import random
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import apsw
import httpx
import pytest

from engine.events import OrderAccepted, OrderFilled
from persistence import codec
from tests.support.server import EngineProcess, new_user
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

START = Decimal(10000)


def journaled_fill_totals(db_path: Path) -> dict[str, dict[str, Decimal]]:
    """Per user and asset: the start balance plus every journaled fill's effect,
    summed exactly (a context wide enough that no addition rounds)."""
    with decimal.localcontext(prec=60):
        return _journaled_fill_totals(db_path)


def _journaled_fill_totals(db_path: Path) -> dict[str, dict[str, Decimal]]:
    conn = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    orders: dict[str, tuple[str, str, str]] = {}  # order id -> (user, side, symbol)
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for seq, stream, type_, version, payload, checksum in conn.execute(
        "SELECT seq, stream, type, version, payload, checksum FROM events ORDER BY seq"
    ):
        event = codec.decode(seq, type_, version, payload, checksum)
        user = stream.removeprefix("user:")
        if type_ == "AccountOpened":
            totals[user]["USDT"] += START
        elif isinstance(event, OrderAccepted):
            orders[event.order.id] = (user, event.order.side, event.order.symbol)
        elif isinstance(event, OrderFilled):
            _, side, symbol = orders[event.order_id]
            base = symbol.removesuffix("USDT")
            fill = event.fill
            if side == "BUY":
                totals[user]["USDT"] -= fill.quote
                totals[user][base] += fill.quantity
            else:
                totals[user]["USDT"] += fill.quote
                totals[user][base] -= fill.quantity
            totals[user][fill.fee_asset] -= fill.fee
    conn.close()
    return totals


def test_every_acknowledged_order_survives_kill_9(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path, {"PAPER_SPEED": "10"}).start()
    users = [new_user("crash") for _ in range(4)]
    acknowledged: dict[str, tuple[str, str]] = {}  # order id -> (user, status last acknowledged)
    cancel_sent: set[str] = set()  # a cancel may land even if its answer never arrives
    lock = threading.Lock()
    stop = threading.Event()
    enough = threading.Event()

    def trade(user: str, seed: int) -> None:
        rng = random.Random(seed)
        resting: list[str] = []
        with engine.client(user, timeout=5.0) as http:
            while not stop.is_set():
                roll = rng.random()
                try:
                    if roll < 0.45:
                        body = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": str(rng.randint(5, 40))}
                        response = http.post("/api/v1/trading/orders", json=body)
                    elif roll < 0.6:
                        body = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.00005"}
                        response = http.post("/api/v1/trading/orders", json=body)
                    elif roll < 0.85 or not resting:
                        body = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": str(rng.randint(1000, 1500))}
                        response = http.post("/api/v1/trading/orders", json=body)
                    else:
                        target = resting.pop(rng.randrange(len(resting)))
                        with lock:
                            cancel_sent.add(target)
                        response = http.delete(f"/api/v1/trading/orders/{target}")
                except httpx.HTTPError:
                    continue  # the server is down: keep trying until the test says stop
                if 200 <= response.status_code < 300:
                    order = response.json()["data"]
                    with lock:
                        acknowledged[order["id"]] = (user, order["status"])
                        if len(acknowledged) >= 120:
                            enough.set()
                    if order["status"] == "NEW":
                        resting.append(order["id"])

    threads = [threading.Thread(target=trade, args=(u, i)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    try:
        assert enough.wait(60), engine.logs()[-3000:]
        engine.kill()  # mid-stream: the traders are still sending
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    with lock:
        snapshot = dict(acknowledged)
        canceled_maybe = set(cancel_sent)
    restarted = EngineProcess(tmp_path, {"PAPER_SPEED": "10"}).start()
    try:
        for order_id, (user, status) in snapshot.items():
            with restarted.client(user) as http:
                response = http.get(f"/api/v1/trading/orders/{order_id}")
                assert response.status_code == 200, (order_id, response.text)
                allowed = {status, "CANCELED"} if order_id in canceled_maybe else {status}
                assert response.json()["data"]["status"] in allowed, order_id

        for user in users:
            with restarted.client(user) as http:
                # Market orders accepted just before the kill are sent again and fill.
                wait_for(lambda: all(
                    o["type"] == "LIMIT"
                    for o in http.get("/api/v1/trading/orders", params={"status": "open", "limit": 1000}).json()["data"]
                ), message="resent market orders settled")
        totals = journaled_fill_totals(tmp_path / "cryptobot.db")
        for user in users:
            with restarted.client(user) as http:
                wallet = {b["asset"]: b for b in http.get("/api/v1/account/wallet").json()["data"]["balances"]}
                open_orders = http.get("/api/v1/trading/orders", params={"status": "open", "limit": 1000}).json()["data"]
                ids = [o["id"] for o in http.get("/api/v1/trading/orders", params={"limit": 1000}).json()["data"]]
            assert len(ids) == len(set(ids))
            expected = {asset: amount for asset, amount in totals[user].items() if amount}
            with decimal.localcontext(prec=60):  # free + locked, exactly
                held = {a: Decimal(b["free"]) + Decimal(b["locked"]) for a, b in wallet.items()}
            held = {a: amount for a, amount in held.items() if amount}
            assert held == expected, user
            reserved = sum(Decimal(o["quantity"]) * Decimal(o["price"]) for o in open_orders)
            assert Decimal(wallet["USDT"]["locked"]) == reserved
    finally:
        restarted.stop()
