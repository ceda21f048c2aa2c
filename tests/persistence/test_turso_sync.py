"""Replication to a real Turso server (the turso CLI's sync server, behind the
libsql-client v1 adapter), and rebuilding a machine from it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import apsw
import pytest

from actors.client import EngineClient
from actors.system import ActorSystem
from engine.orders import PlaceOrder
from persistence.turso import RestoreFromTursoRefused, TursoSync, restore_from_turso
from tests.conftest import make_config
from tests.support.hrana_adapter import HranaV1Adapter
from tests.support.turso_server import TursoServer
from tests.support.waiting import wait_for


@pytest.fixture
def turso(tmp_path: Path) -> Iterator[tuple[TursoServer, HranaV1Adapter]]:
    server = TursoServer(tmp_path / "remote.db").start()
    adapter = HranaV1Adapter(server.url).start()
    try:
        yield server, adapter
    finally:
        adapter.stop()
        server.stop()


def local_events(db: str) -> tuple[int, str]:
    conn = apsw.Connection(db, flags=apsw.SQLITE_OPEN_READONLY)
    rows = conn.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
    conn.close()
    return len(rows), hashlib.sha256("\n".join(f"{s}:{p}" for s, p in rows).encode()).hexdigest()


def remote_events(server: TursoServer) -> tuple[int, str]:
    rows = server.query("SELECT seq, payload FROM events ORDER BY seq")
    return len(rows), hashlib.sha256("\n".join(f"{s}:{p}" for s, p in rows).encode()).hexdigest()


def trade(client: EngineClient, users: list[str], rounds: int) -> None:
    wait_for(lambda: client.ticker("ETHUSDT"), message="ETHUSDT's market data, for the MARKET orders")
    for n in range(rounds):
        for user in users:
            placed = client.place_order(user, PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000 + n)))
            if n % 3 == 0:
                client.cancel_order(user, placed.order.id)
            client.place_order(user, PlaceOrder(symbol="ETHUSDT", side="BUY", type="MARKET", quote_quantity=Decimal(5 + n)))


def test_the_remote_ends_with_exactly_the_local_events_after_an_outage(tmp_path: Path, turso) -> None:
    server, adapter = turso
    config = make_config(tmp_path, ORDER_RATE_LIMIT="0")
    system = ActorSystem(config).start()
    client = EngineClient(system)
    sync = TursoSync(config.database_path, adapter.url, None, batch_size=7, interval=0.1).start()
    try:
        trade(client, ["alice", "bob"], 5)
        wait_for(lambda: remote_events(server) == local_events(config.database_path), message="first catch-up")

        server.stop()  # Turso goes away; trading goes on
        trade(client, ["alice", "bob", "carol"], 5)
        wait_for(lambda: sync.status().last_error is not None, message="the outage is noticed")
        assert (sync.status().events_behind or 0) > 0

        server.start()
        wait_for(lambda: remote_events(server) == local_events(config.database_path), timeout=30, message="caught up after the outage")
        seqs = [int(s) for (s,) in server.query("SELECT seq FROM events ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))  # none twice, none missing
        wait_for(lambda: sync.status().events_behind == 0)
    finally:
        sync.stop()
        system.stop()


def test_resending_a_batch_never_duplicates_a_row(tmp_path: Path, turso) -> None:
    server, adapter = turso
    config = make_config(tmp_path)
    system = ActorSystem(config).start()
    try:
        trade(EngineClient(system), ["alice"], 2)
    finally:
        system.stop()
    for _ in range(2):  # a second syncer starts from scratch and sends everything again
        sync = TursoSync(config.database_path, adapter.url, None, batch_size=3, interval=0.1).start()
        wait_for(lambda: remote_events(server) == local_events(config.database_path))
        sync.stop()
    import libsql_client

    with libsql_client.create_client_sync(adapter.url) as direct:
        rows = direct.execute("SELECT seq, time, stream, type, version, payload, checksum FROM events WHERE seq <= 3").rows
        direct.batch([libsql_client.Statement(
            "INSERT INTO events (seq, time, stream, type, version, payload, checksum) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING",
            list(row),
        ) for row in rows])
    assert remote_events(server) == local_events(config.database_path)


def test_restore_from_turso_on_an_empty_machine_reproduces_every_user(tmp_path: Path, turso) -> None:
    server, adapter = turso
    original = make_config(tmp_path / "original", ORDER_RATE_LIMIT="0")
    users = ["alice", "bob", "carol"]
    system = ActorSystem(original).start()
    client = EngineClient(system)
    sync = TursoSync(original.database_path, adapter.url, None, batch_size=50, interval=0.1).start()
    try:
        trade(client, users, 6)
        client.halt("maintenance", "ops")
        # The kill switch cancels every open order: what is restored is after that.
        wait_for(lambda: all(not client.list_orders(u, open_only=True) for u in users), timeout=10)
        expected = {u: (client.wallet(u), client.list_orders(u, limit=1000)) for u in users}
        wait_for(lambda: remote_events(server) == local_events(original.database_path))
    finally:
        sync.stop()
        system.stop()

    fresh = make_config(tmp_path / "fresh")
    restored = restore_from_turso(adapter.url, None, fresh.database_path)
    assert restored == local_events(original.database_path)[0]
    assert local_events(fresh.database_path) == local_events(original.database_path)
    with pytest.raises(RestoreFromTursoRefused):
        restore_from_turso(adapter.url, None, fresh.database_path)  # never over an existing journal

    system = ActorSystem(fresh).start()
    client = EngineClient(system)
    try:
        for user in users:
            assert (client.wallet(user), client.list_orders(user, limit=1000)) == expected[user]
        assert client.risk_status().halted is True  # the kill switch came back too
    finally:
        system.stop()
