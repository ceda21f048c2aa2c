"""Restoring a backup: refused while an engine runs and for damaged or foreign
files (the database untouched), otherwise an atomic replacement that keeps the
old database and never lets its WAL leak into the restored one."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import apsw
import pytest

from actors.client import EngineClient
from actors.system import ActorSystem
from engine.orders import PlaceOrder
from persistence.backup import RestoreInUse, RestoreRefused, backup, integrity_check, restore
from persistence.lock import DatabaseInUse, DatabaseLock
from tests.conftest import make_config
from tests.support.server import EngineProcess, new_user
from tests.support.waiting import wait_for

ORDERS = "/api/v1/trading/orders"
LIMIT_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "1000"}


def limit_buy() -> PlaceOrder:
    return PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000))


def market_buy() -> PlaceOrder:
    return PlaceOrder(symbol="BTCUSDT", side="BUY", type="MARKET", quote_quantity=Decimal(25))


def streams(path: Path) -> set[str]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {stream for (stream,) in conn.execute("SELECT DISTINCT stream FROM events")}
    finally:
        conn.close()


def journal(path: Path) -> list[tuple[object, ...]]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return list(conn.execute("SELECT seq, time, stream, type, version, payload, checksum FROM events ORDER BY seq"))
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wallet(client: EngineClient, user: str) -> dict[str, tuple[Decimal, Decimal]]:
    return {line.asset: (line.free, line.locked) for line in client.wallet(user)}


# -- refused while an engine runs --------------------------------------------------------------


def test_restore_is_refused_while_an_engine_process_holds_the_database(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path / "live").start()
    db = tmp_path / "live" / "cryptobot.db"
    try:
        with engine.client(new_user("alice")) as http:
            placed = http.post(ORDERS, json=LIMIT_BUY)
            assert placed.status_code == 201, placed.text
            taken = backup(db, tmp_path / "backup.db")  # from another process, while it runs
            assert taken.last_seq >= 2  # the account opening and the order
            inode, files = db.stat().st_ino, set(os.listdir(db.parent))

            with pytest.raises(RestoreInUse) as refused:
                restore(taken.path, db)

            assert refused.value.code == "DATABASE_IN_USE"
            assert isinstance(refused.value, DatabaseInUse)  # what callers of the lock already handle
            assert db.stat().st_ino == inode
            assert set(os.listdir(db.parent)) == files  # nothing kept aside, no temporary file
            order = http.get(f"{ORDERS}/{placed.json()['data']['id']}")
            assert order.status_code == 200, order.text  # the engine trades on, unharmed
    finally:
        engine.stop()


def test_restore_is_refused_while_an_engine_in_this_process_holds_the_database(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    system = ActorSystem(config).start()
    try:
        EngineClient(system).place_order("alice", limit_buy())
        taken = backup(config.database_path, tmp_path / "backup.db")
        with pytest.raises(RestoreInUse):
            restore(taken.path, config.database_path)
        assert not list(tmp_path.glob("cryptobot.db.before-restore-*"))
    finally:
        system.stop()


# -- after a crash -----------------------------------------------------------------------------


def test_restore_after_a_crash_keeps_the_old_database_whole_and_does_not_replay_its_wal(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path / "live").start()
    db = tmp_path / "live" / "cryptobot.db"
    alice, bob = new_user("alice"), new_user("bob")
    try:
        with engine.client(alice) as http:
            assert http.post(ORDERS, json=LIMIT_BUY).status_code == 201
        taken = backup(db, tmp_path / "backup.db")
        with engine.client(bob) as http:
            assert http.post(ORDERS, json=LIMIT_BUY).status_code == 201  # after the backup
    finally:
        engine.kill()  # no clean shutdown: bob's order may live only in the WAL
    # SIGKILL reaches the worker too, but it lets go of the lock only once it has exited.
    wait_for(lambda: not DatabaseLock(db).is_held_elsewhere(), 10, message="the killed engine to release its lock")
    assert Path(f"{db}-wal").stat().st_size > 0

    result = restore(taken.path, db)

    assert result.kept is not None and result.kept.name.startswith("cryptobot.db.before-restore-")
    assert f"user:{bob}" in streams(result.kept)  # the kept file alone holds everything committed
    assert not Path(f"{result.kept}-wal").exists()
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    assert integrity_check(db) == []
    assert journal(db) == journal(taken.path)  # exactly the backup: none of the old WAL replayed into it
    assert f"user:{bob}" not in streams(db) and f"user:{alice}" in streams(db)
    assert result.last_seq == taken.last_seq


# -- a sound restore ---------------------------------------------------------------------------


def test_a_restored_backup_starts_an_engine_with_the_wallets_and_orders_it_was_taken_with(tmp_path: Path) -> None:
    users = ("alice", "bob")
    source = make_config(tmp_path / "source", ORDER_RATE_LIMIT="0")
    system = ActorSystem(source).start()
    client = EngineClient(system)
    try:
        wait_for(lambda: client.ticker("BTCUSDT"), message="market data, for the MARKET orders")
        for user in users:
            client.place_order(user, limit_buy())
            client.place_order(user, market_buy())
            canceled = client.place_order(user, limit_buy())
            client.cancel_order(user, canceled.order.id)
        expected = {user: (wallet(client, user), client.list_orders(user, limit=100)) for user in users}
        assert any(o.fills for o in expected["alice"][1])  # the backup holds fills, not only open orders
        taken = backup(source.database_path, tmp_path / "backup.db")  # online: the engine is running
        client.place_order("alice", limit_buy())  # after the backup: must not come back
    finally:
        system.stop()

    target = make_config(tmp_path / "target")
    system = ActorSystem(target).start()
    try:
        EngineClient(system).place_order("carol", limit_buy())  # what the restore replaces
    finally:
        system.stop()

    result = restore(taken.path, target.database_path)

    assert result.kept is not None and "user:carol" in streams(result.kept)
    system = ActorSystem(target).start()
    client = EngineClient(system)
    try:
        for user in users:
            assert wallet(client, user) == expected[user][0]
            assert client.list_orders(user, limit=100) == expected[user][1]
        assert client.list_orders("carol") == []
    finally:
        system.stop()


# -- refused files -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sound_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sound")
    config = make_config(base)
    system = ActorSystem(config).start()
    try:
        EngineClient(system).place_order("alice", limit_buy())
    finally:
        system.stop()
    return backup(config.database_path, base / "backup.db").path


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def damaged_index_page(path: Path) -> None:
    conn = apsw.Connection(str(path))
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events_by_stream'").get
    page_size = conn.execute("PRAGMA page_size").get
    conn.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * 16)  # the b-tree page header


def no_events_table(path: Path) -> None:
    path.unlink()
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()


def newer_schema(path: Path) -> None:
    conn = apsw.Connection(str(path))
    conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 0)")
    conn.close()


def row_failing_its_checksum(path: Path) -> None:
    conn = apsw.Connection(str(path))
    conn.execute("UPDATE events SET payload = substr(payload, 1, 20) WHERE seq = 1")
    conn.close()


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (garbage, "not_a_database"),
        (damaged_index_page, "integrity"),
        (no_events_table, "not_a_journal"),
        (newer_schema, "newer_schema"),
        (row_failing_its_checksum, "corrupt_rows"),
    ],
    ids=["garbage", "damaged-page", "no-events-table", "newer-schema", "bad-checksum"],
)
def test_restore_refuses_a_damaged_or_foreign_file_and_leaves_the_database_untouched(
    tmp_path: Path, sound_backup: Path, spoil: Callable[[Path], None], reason: str
) -> None:
    db = tmp_path / "data" / "cryptobot.db"
    db.parent.mkdir()
    shutil.copy(sound_backup, db)
    before = digest(db)
    bad = tmp_path / "bad.db"
    shutil.copy(sound_backup, bad)
    spoil(bad)

    with pytest.raises(RestoreRefused) as refused:
        restore(bad, db)

    assert refused.value.code == "RESTORE_REFUSED"
    assert refused.value.details["reason"] == reason
    assert digest(db) == before
    assert sorted(os.listdir(db.parent)) == ["cryptobot.db", "cryptobot.db.lock"]  # nothing kept aside, no temporary file


def test_restore_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RestoreRefused) as refused:
        restore(tmp_path / "nowhere.db", tmp_path / "cryptobot.db")
    assert refused.value.details["reason"] == "missing"
    assert not (tmp_path / "cryptobot.db").exists()
