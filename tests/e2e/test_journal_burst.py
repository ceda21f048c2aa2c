"""kill -9 during a burst of 1,000 order commands from 8 threads: every
acknowledged order is there exactly once and balances equal the replay of the
journal's events."""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal, localcontext
from pathlib import Path

import apsw
import httpx
import pytest

from engine.events import OrderAccepted
from engine.portfolio import PortfolioState, evolve
from persistence import codec
from tests.support.server import EngineProcess, new_user
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

COMMANDS = 1000
THREADS = 8


def replay_journal(db: Path) -> tuple[dict[str, PortfolioState], Counter[str]]:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    states: dict[str, PortfolioState] = {}
    accepted: Counter[str] = Counter()
    for seq, stream, type_, version, payload, checksum in conn.execute(
        "SELECT seq, stream, type, version, payload, checksum FROM events WHERE stream LIKE 'user:%' ORDER BY seq"
    ):
        user = stream.removeprefix("user:")
        event = codec.decode(seq, type_, version, payload, checksum)
        evolve(states.setdefault(user, PortfolioState(user, max_closed=10**9)), event)
        if isinstance(event, OrderAccepted):
            accepted[event.order.id] += 1
    conn.close()
    return states, accepted


def test_kill_9_during_a_burst_of_1000_orders_from_8_threads_loses_nothing_acknowledged(tmp_path: Path) -> None:
    env = {"ORDER_RATE_LIMIT": "0", "PAPER_SPEED": "10", "SNAPSHOT_EVERY_EVENTS": "50"}
    engine = EngineProcess(tmp_path, env).start()
    users = [new_user("burst") for _ in range(4)]
    acknowledged: dict[str, str] = {}  # order id -> user
    lock = threading.Lock()
    sent = [0]
    halfway = threading.Event()

    def burst(thread: int) -> None:
        rng = random.Random(thread)
        user = users[thread % len(users)]  # two threads per user: one portfolio, concurrent callers
        with engine.client(user, timeout=5.0) as http:
            while True:
                with lock:
                    if sent[0] >= COMMANDS:
                        return
                    sent[0] += 1
                    if sent[0] >= COMMANDS // 2:
                        halfway.set()
                if rng.random() < 0.5:
                    body = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": str(rng.randint(2, 9))}
                else:
                    body = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": str(rng.randint(900, 1200))}
                try:
                    response = http.post("/api/v1/trading/orders", json=body)
                except httpx.HTTPError:
                    continue  # the server is gone
                if response.status_code in (201, 202):
                    with lock:
                        acknowledged[response.json()["data"]["id"]] = user

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    assert halfway.wait(60)
    engine.kill()
    for thread in threads:
        thread.join(60)
    assert acknowledged, "the burst got no answers before the kill"

    restarted = EngineProcess(tmp_path, env).start()
    try:
        for user in users:  # load every portfolio: each reconciles as it starts
            with restarted.client(user) as http:
                assert http.get("/api/v1/account/wallet").status_code == 200
                # A market order accepted just before the kill is sent again and fills.
                wait_for(lambda: all(
                    o["type"] == "LIMIT"
                    for o in http.get("/api/v1/trading/orders", params={"status": "open", "limit": 1000}).json()["data"]
                ), message="resent market orders settled")
        states, accepted = replay_journal(tmp_path / "cryptobot.db")
        # Every acknowledged order is in the journal exactly once.
        assert all(accepted[order_id] == 1 for order_id in acknowledged)
        assert max(accepted.values()) == 1
        for user in users:
            with restarted.client(user) as http:
                listed = [o["id"] for o in http.get("/api/v1/trading/orders", params={"limit": 1000}).json()["data"]]
                assert len(listed) == len(set(listed))
                mine = {order_id for order_id, owner in acknowledged.items() if owner == user}
                assert mine <= set(listed)
                wallet = {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in http.get("/api/v1/account/wallet").json()["data"]["balances"]}
            with localcontext(prec=60):
                expected = {a: (b.free, b.locked) for a, b in states[user].balances.items() if b.free or b.locked or a == "USDT"}
            assert wallet == expected, user
    finally:
        restarted.stop()
