"""Acceptance: backups taken while 8 threads journal a burst of real orders are
sound files holding a consistent prefix of the journal, with projections equal
to a replay of exactly that prefix."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import apsw

from actors.client import EngineClient
from actors.system import ActorSystem
from engine.orders import PlaceOrder
from engine.portfolio import PortfolioState, evolve
from persistence import codec
from persistence.backup import BackupResult, backup, integrity_check
from persistence.projections import decode_order
from tests.conftest import make_config
from tests.support.waiting import wait_for

THREADS = 8
MIN_COMMANDS_PER_THREAD = 50
MIN_BACKUPS = 12
BURST_DEADLINE_SECONDS = 20.0

Row = tuple[Any, ...]


def limit_buy() -> PlaceOrder:
    return PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000))


def market_buy() -> PlaceOrder:
    return PlaceOrder(symbol="BTCUSDT", side="BUY", type="MARKET", quote_quantity=Decimal(5))


def read_journal(path: Path) -> list[Row]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return list(conn.execute("SELECT seq, time, stream, type, version, payload, checksum FROM events ORDER BY seq"))
    finally:
        conn.close()


def replay(rows: list[Row]) -> dict[str, dict[Any, Any]]:
    """Balances, orders and fills as a replay of ``rows`` through evolve makes them."""
    states: dict[str, PortfolioState] = {}
    for seq, _, stream, type_, version, payload, checksum in rows:
        if stream.startswith("user:"):
            user = stream.removeprefix("user:")
            evolve(states.setdefault(user, PortfolioState(user, max_closed=10**9)), codec.decode(seq, type_, version, payload, checksum))
    orders = {o.id: o for state in states.values() for o in state.orders.values()}
    return {
        "balances": {(u, a): (b.free, b.locked) for u, s in states.items() for a, b in s.balances.items()},
        "orders": orders,
        "fills": {
            (o.id, f.trade_id): (o.user_id, o.symbol, o.side, f.price, f.quantity, f.quote, f.fee, f.fee_asset, f.is_maker, f.time)
            for o in orders.values()
            for f in o.fills
        },
    }


def projections(path: Path) -> dict[str, dict[Any, Any]]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {
            "balances": {
                (u, a): (Decimal(free), Decimal(locked))
                for u, a, free, locked in conn.execute("SELECT user_id, asset, free, locked FROM balances")
            },
            "orders": {order_id: decode_order(data) for order_id, data in conn.execute("SELECT id, data FROM orders")},
            "fills": {
                (oid, tid): (user, symbol, side, Decimal(price), Decimal(qty), Decimal(quote), Decimal(fee), fee_asset, bool(maker), t)
                for oid, tid, user, symbol, side, price, qty, quote, fee, fee_asset, maker, t in conn.execute(
                    "SELECT order_id, trade_id, user_id, symbol, side, price, quantity, quote, fee, fee_asset, is_maker, time FROM fills"
                )
            },
        }
    finally:
        conn.close()


def snapshot_seqs(path: Path) -> list[int]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [seq for (seq,) in conn.execute("SELECT seq FROM snapshots")]
    finally:
        conn.close()


def test_backups_taken_during_a_burst_of_writes_are_sound_prefixes_of_the_journal(tmp_path: Path) -> None:
    config = make_config(tmp_path, ORDER_RATE_LIMIT="0", SNAPSHOT_EVERY_EVENTS="10")
    database = Path(config.database_path)
    system = ActorSystem(config).start()
    client = EngineClient(system)
    results: list[BackupResult] = []
    done = [0] * THREADS
    errors: list[BaseException] = []
    stop = threading.Event()
    deadline = time.monotonic() + BURST_DEADLINE_SECONDS

    def burst(n: int) -> None:
        user = f"burst-{n}"
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                k = done[n]
                placed = client.place_order(user, market_buy() if k % 4 == 3 else limit_buy())
                if k % 3 == 2 and placed.order.is_open:
                    client.cancel_order(user, placed.order.id)
                done[n] += 1
                if min(done) >= MIN_COMMANDS_PER_THREAD and len(results) >= MIN_BACKUPS:
                    stop.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            stop.set()

    try:
        wait_for(lambda: client.ticker("BTCUSDT"), message="market data, for the MARKET orders")
        client.place_order("burst-0", limit_buy())  # the journal is not empty when the burst starts
        seq_before = read_journal(database)[-1][0]
        threads = [threading.Thread(target=burst, args=(n,), name=f"burst-{n}") for n in range(THREADS)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            # One step (the default), and small incremental steps that SQLite
            # restarts whenever the engine commits in between.
            pages_per_step = -1 if len(results) % 2 == 0 else 4
            results.append(backup(database, tmp_path / "backups" / f"b{len(results):03d}.db", pages_per_step=pages_per_step))
        stop.set()
        for thread in threads:
            thread.join(10)
        assert not errors, errors
        assert min(done) >= MIN_COMMANDS_PER_THREAD and len(results) >= MIN_BACKUPS, (done, len(results))
    finally:
        stop.set()
        system.stop()

    final = read_journal(database)
    final_seq = final[-1][0]
    taken_during_burst = {r.last_seq for r in results if seq_before < r.last_seq < final_seq}
    assert len(taken_during_burst) >= 3, [r.last_seq for r in results]

    for result in results:
        path = result.path
        assert integrity_check(path) == []
        assert not Path(f"{path}-wal").exists()  # a single self-contained file
        rows = read_journal(path)
        n = len(rows)
        assert n == result.last_seq
        assert [row[0] for row in rows] == list(range(1, n + 1)), f"{path.name}: seqs are not 1..{n}"
        assert rows == final[:n], f"{path.name}: not a prefix of the final journal"
        assert projections(path) == replay(rows), f"{path.name}: projections differ from a replay of its {n} events"
        assert all(seq <= n for seq in snapshot_seqs(path)), f"{path.name}: a snapshot is ahead of the journal"
