"""The journal on real SQLite files: migrations, group commit, checksums,
projections, and the one-engine-per-database lock. No actors."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import apsw
import pytest

from engine.errors import JournalCorrupted
from engine.events import AccountOpened, AnyEvent, OrderFilled, user_stream
from engine.model import BookTicker, Fill, OrderStatus
from engine.orders import PlaceOrder
from engine.portfolio import (
    SNAPSHOT_VERSION,
    PortfolioState,
    decide_close,
    decide_fill,
    decide_open,
    decide_place,
    evolve,
    snapshot_of,
)
from engine.symbols import paper_symbol
from persistence import db, migrate
from persistence.journal import Journal, PrecedingAppendFailed
from persistence.lock import DatabaseInUse, DatabaseLock
from persistence.projections import decode_order

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000
BTC = paper_symbol("BTCUSDT")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def journal(db_path: Path):
    j = Journal.open(db_path)
    try:
        yield j
    finally:
        j.close()


def opened(user: str, usdt: str = "10000", now: int = T0) -> AccountOpened:
    return decide_open(PortfolioState(user), {"USDT": Decimal(usdt)}, now, reason="test")


def orphan_fill(order_id: str = "no-such-order") -> OrderFilled:
    fill = Fill("t-1", Decimal("100"), Decimal("1"), Decimal("100"), Decimal("0"), "BTC", False, T0)
    return OrderFilled(time=T0, order_id=order_id, fill=fill, status="FILLED")


def tamper(path: Path, sql: str, *args: object) -> None:
    conn = apsw.Connection(str(path))
    try:
        conn.execute(sql, args)
    finally:
        conn.close()


def table_names(conn: apsw.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


# -- migrations -----------------------------------------------------------------------------


def test_open_applies_every_migration_and_records_it(journal: Journal) -> None:
    assert {"events", "orders", "fills", "balances", "meta", "snapshots", "schema_migrations", "triggers"} <= table_names(journal.conn)
    assert "candles" not in table_names(journal.conn)  # they have a file of their own
    rows = list(journal.conn.execute("SELECT version, name FROM schema_migrations ORDER BY version"))
    assert rows == [(1, "initial"), (2, "snapshots"), (3, "market_data"), (4, "market_data_moved"), (5, "triggers")]
    assert journal.conn.execute("PRAGMA journal_mode").get == "wal"


def test_reopening_a_migrated_database_applies_nothing_again(db_path: Path) -> None:
    Journal.open(db_path).close()
    conn = db.connect(db_path)
    try:
        assert migrate.apply(conn) == []
        assert conn.execute("SELECT count(*) FROM schema_migrations").get == 5
    finally:
        conn.close()


def test_status_lists_every_migration_as_applied(journal: Journal) -> None:
    status = migrate.status(journal.conn)
    assert [(s.version, s.name) for s in status] == [(1, "initial"), (2, "snapshots"), (3, "market_data"), (4, "market_data_moved"), (5, "triggers")]
    assert all(s.applied_at is not None and s.applied_at > 0 for s in status)


def test_status_of_an_empty_database_lists_every_migration_as_pending(db_path: Path) -> None:
    conn = apsw.Connection(str(db_path))
    try:
        status = migrate.status(conn)
        assert [(s.version, s.name, s.applied_at) for s in status] == [
            (1, "initial", None),
            (2, "snapshots", None),
            (3, "market_data", None),
            (4, "market_data_moved", None),
            (5, "triggers", None),
        ]
    finally:
        conn.close()


def test_database_from_a_newer_version_is_refused_and_left_untouched(db_path: Path) -> None:
    conn = apsw.Connection(str(db_path))
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'from_the_future', 123)")
    conn.close()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()

    conn = apsw.Connection(str(db_path))
    try:
        with pytest.raises(migrate.MigrationError, match="99"):
            migrate.apply(conn)
        with pytest.raises(migrate.MigrationError):
            migrate.status(conn)
        assert table_names(conn) == {"schema_migrations"}
        assert list(conn.execute("SELECT version, name, applied_at FROM schema_migrations")) == [(99, "from_the_future", 123)]
    finally:
        conn.close()
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_journal_open_refuses_a_database_from_a_newer_version(db_path: Path) -> None:
    conn = apsw.Connection(str(db_path))
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'from_the_future', 123)")
    conn.close()
    with pytest.raises(migrate.MigrationError):
        Journal.open(db_path)
    check = apsw.Connection(str(db_path))
    try:
        assert table_names(check) == {"schema_migrations"}
    finally:
        check.close()


# -- group commit ---------------------------------------------------------------------------


def test_commit_of_several_items_returns_the_last_seq_of_each(journal: Journal) -> None:
    results = journal.commit(
        [
            ("system:a", [opened("a"), opened("a", now=T0 + 1)]),
            ("system:b", [opened("b")]),
            ("system:c", [opened("c"), opened("c"), opened("c")]),
        ]
    )
    assert results == [2, 3, 6]
    assert journal.last_seq() == 6


def test_a_failing_item_fails_alone_and_the_others_commit(journal: Journal, db_path: Path) -> None:
    results = journal.commit(
        [
            (user_stream("a"), [opened("a")]),
            (user_stream("a"), [orphan_fill()]),
            (user_stream("b"), [opened("b", "50")]),
        ]
    )
    assert isinstance(results[0], int)
    assert isinstance(results[1], LookupError)
    assert isinstance(results[2], int) and results[2] > results[0]

    # Another connection sees exactly the two good items, committed.
    other = apsw.Connection(str(db_path))
    try:
        rows = list(other.execute("SELECT stream, type FROM events ORDER BY seq"))
        assert rows == [("user:a", "AccountOpened"), ("user:b", "AccountOpened")]
        balances = dict(other.execute("SELECT user_id, free FROM balances WHERE asset = 'USDT'"))
        assert balances == {"a": "10000", "b": "50"}
    finally:
        other.close()


def test_a_failing_item_is_rolled_back_as_a_whole_including_its_good_events(journal: Journal) -> None:
    failing: list[AnyEvent] = [opened("c"), orphan_fill()]
    results = journal.commit(
        [
            (user_stream("c"), failing),
            (user_stream("d"), [opened("d")]),
        ]
    )
    assert isinstance(results[0], LookupError)
    assert isinstance(results[1], int)
    assert journal.read_stream(user_stream("c")) == []
    assert journal.conn.execute("SELECT count(*) FROM balances WHERE user_id = 'c'").get == 0
    assert [type(e).__name__ for _, e in journal.read_stream(user_stream("d"))] == ["AccountOpened"]


# -- reads and checksums --------------------------------------------------------------------


def test_read_stream_returns_the_events_written_in_order(journal: Journal) -> None:
    written = [opened("x", str(n), now=T0 + n) for n in range(1, 6)]
    journal.commit([("system:x", written[:2]), ("system:y", [opened("y")]), ("system:x", written[2:])])
    read = journal.read_stream("system:x")
    seqs = [seq for seq, _ in read]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert [event for _, event in read] == written
    assert journal.read_stream("system:x", after_seq=seqs[2]) == read[3:]


def test_an_altered_payload_makes_read_stream_raise_naming_the_seq(journal: Journal, db_path: Path) -> None:
    seqs = journal.commit([("system:x", [opened("x")]), ("system:x", [opened("x", "20")])])
    bad = seqs[1]
    tamper(db_path, "UPDATE events SET payload = replace(payload, '\"20\"', '\"2000000\"') WHERE seq = ?", bad)
    changed = journal.conn.execute("SELECT payload FROM events WHERE seq = ?", (bad,)).get
    assert "2000000" in changed
    with pytest.raises(JournalCorrupted, match=rf"seq={bad}\b") as info:
        journal.read_stream("system:x")
    assert info.value.details == {"seq": bad}


def test_a_changed_checksum_alone_makes_read_stream_raise_naming_the_seq(journal: Journal, db_path: Path) -> None:
    seq = journal.commit([("system:x", [opened("x")])])[0]
    tamper(db_path, "UPDATE events SET checksum = checksum + 1 WHERE seq = ?", seq)
    with pytest.raises(JournalCorrupted, match=rf"seq={seq}\b") as info:
        journal.read_stream("system:x")
    assert info.value.details == {"seq": seq}


def test_a_row_whose_type_column_lies_makes_read_stream_raise(journal: Journal, db_path: Path) -> None:
    seq = journal.commit([("system:x", [opened("x")])])[0]
    tamper(db_path, "UPDATE events SET type = 'OrderFilled' WHERE seq = ?", seq)
    with pytest.raises(JournalCorrupted, match=rf"seq={seq}\b.*OrderFilled"):
        journal.read_stream("system:x")


# -- projections ----------------------------------------------------------------------------


def book(price: str) -> BookTicker:
    p = Decimal(price)
    return BookTicker("BTCUSDT", p, Decimal(1), p + Decimal("0.01"), Decimal(1), p, T0)


def trade(n: str, price: str, quantity: str, fee: str = "0", fee_asset: str = "BTC", maker: bool = True) -> Fill:
    p, q = Decimal(price), Decimal(quantity)
    return Fill(n, p, q, p * q, Decimal(fee), fee_asset, maker, T0 + 10)


class Scenario:
    """Events for one user made by the decide_* functions, applied as decided."""

    def __init__(self, user: str) -> None:
        self.state = PortfolioState(user)
        self.events: list = []
        self.now = T0

    def add(self, event) -> None:
        evolve(self.state, event)
        self.events.append(event)

    def place(self, order_id: str, **fields) -> str:
        self.now += 1
        cmd = PlaceOrder(symbol="BTCUSDT", **fields)
        self.add(
            decide_place(self.state, cmd, BTC, book("95000"), order_id=order_id, client_order_id=f"c-{order_id}", now=self.now)
        )
        return order_id

    def fill(self, order_id: str, fill: Fill, status: OrderStatus) -> None:
        event = decide_fill(self.state.orders[order_id], BTC, fill, status)
        assert event is not None
        self.add(event)


def build_scenario(user: str) -> Scenario:
    s = Scenario(user)
    s.add(decide_open(s.state, {"USDT": Decimal(10000)}, T0, reason="test"))
    # A limit buy filled in two parts.
    s.place("o1", side="BUY", type="LIMIT", quantity=Decimal("0.01"), price=Decimal("90000"))
    s.fill("o1", trade("o1-1", "90000", "0.004"), "PARTIALLY_FILLED")
    s.fill("o1", trade("o1-2", "90000", "0.006"), "FILLED")
    # A market buy by amount, taker fee in BTC.
    s.place("o2", side="BUY", type="MARKET", quote_quantity=Decimal("100"))
    s.fill("o2", trade("o2-1", "100000", "0.001", fee="0.0000005", maker=False), "FILLED")
    # A limit sell, canceled.
    s.place("o3", side="SELL", type="LIMIT", quantity=Decimal("0.002"), price=Decimal("120000"))
    s.add(decide_close(s.state.orders["o3"], "CANCELED", "canceled by user", s.now + 1))
    # Two orders left open: one NEW, one PARTIALLY_FILLED.
    s.place("o4", side="BUY", type="LIMIT", quantity=Decimal("0.01"), price=Decimal("80000"))
    s.place("o5", side="SELL", type="LIMIT", quantity=Decimal("0.005"), price=Decimal("110000"))
    s.fill("o5", trade("o5-1", "110000", "0.001", fee="0.055", fee_asset="USDT"), "PARTIALLY_FILLED")
    return s


def replay(journal: Journal, user: str) -> PortfolioState:
    state = PortfolioState(user)
    for _, event in journal.read_stream(user_stream(user)):
        evolve(state, event)
    return state


def test_projections_equal_a_replay_of_the_journal(journal: Journal) -> None:
    s = build_scenario("u1")
    # One event per item, as the actors append them, plus noise from another user.
    results = journal.commit([(user_stream("u1"), [e]) for e in s.events] + [(user_stream("u2"), [opened("u2")])])
    assert all(isinstance(r, int) for r in results), results

    state = replay(journal, "u1")
    assert [e for _, e in journal.read_stream(user_stream("u1"))] == s.events

    balances = {
        asset: (Decimal(free), Decimal(locked))
        for asset, free, locked in journal.conn.execute("SELECT asset, free, locked FROM balances WHERE user_id = 'u1'")
    }
    assert balances == {asset: (b.free, b.locked) for asset, b in state.balances.items()}
    # Worked out by hand: 900 spent on o1, 100 on o2, 800 locked by o4, 110 - 0.055 from o5.
    assert balances["USDT"] == (Decimal("8309.945"), Decimal("800"))
    # 0.01 + 0.001 - 0.0000005 bought, 0.001 sold, 0.004 still reserved by o5.
    assert balances["BTC"] == (Decimal("0.0059995"), Decimal("0.004"))

    orders = {
        row[0]: row[1:]
        for row in journal.conn.execute("SELECT id, status, user_id, client_order_id, data FROM orders WHERE user_id = 'u1'")
    }
    assert set(orders) == set(state.orders) == {"o1", "o2", "o3", "o4", "o5"}
    for order_id, (status, user_id, client_order_id, data) in orders.items():
        expected = state.orders[order_id]
        assert decode_order(data) == expected
        assert (status, user_id, client_order_id) == (expected.status, "u1", expected.client_order_id)
    assert {k: v[0] for k, v in orders.items()} == {
        "o1": "FILLED", "o2": "FILLED", "o3": "CANCELED", "o4": "NEW", "o5": "PARTIALLY_FILLED"
    }

    fills = {
        (order_id, trade_id): (Decimal(price), Decimal(qty), Decimal(quote), Decimal(fee), fee_asset, bool(maker))
        for order_id, trade_id, price, qty, quote, fee, fee_asset, maker in journal.conn.execute(
            "SELECT order_id, trade_id, price, quantity, quote, fee, fee_asset, is_maker FROM fills WHERE user_id = 'u1'"
        )
    }
    expected_fills = {
        (o.id, f.trade_id): (f.price, f.quantity, f.quote, f.fee, f.fee_asset, f.is_maker)
        for o in state.orders.values()
        for f in o.fills
    }
    assert fills == expected_fills and len(fills) == 4


# -- a failed append and the appends after it -------------------------------------------------


def test_a_failed_append_fails_the_later_appends_of_its_stream_and_their_snapshot_is_not_stored(journal: Journal) -> None:
    s = Scenario("u1")
    s.add(decide_open(s.state, {"USDT": Decimal(10000)}, T0, reason="test"))
    s.place("o1", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal("90000"))
    assert all(isinstance(r, int) for r in journal.commit([(user_stream("u1"), list(s.events))]))

    # The portfolio applies each event as it decides it, before the journal answers:
    # o2 reuses o1's clientOrderId (the projection's unique index refuses it), and o3
    # with the snapshot after it is decided on a state that already holds o2.
    s.now += 1
    cmd = PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.002"), price=Decimal("90000"))
    clash = decide_place(s.state, cmd, BTC, None, order_id="o2", client_order_id="c-o1", now=s.now)
    s.add(clash)
    s.place("o3", side="BUY", type="LIMIT", quantity=Decimal("0.003"), price=Decimal("90000"))
    snapshot = (SNAPSHOT_VERSION, snapshot_of(s.state))
    assert {"o2", "o3"} <= set(s.state.orders)

    results = journal.commit(
        [
            (user_stream("u1"), [clash]),
            (user_stream("u2"), [opened("u2")]),
            (user_stream("u1"), [s.events[-1]], snapshot),
        ]
    )
    assert isinstance(results[0], apsw.ConstraintError)
    assert isinstance(results[1], int)  # another stream is not affected
    assert isinstance(results[2], PrecedingAppendFailed)

    load = journal.load_stream(user_stream("u1"))
    assert load.snapshot is None
    assert [type(e).__name__ for e in load.events] == ["AccountOpened", "OrderAccepted"]
    # What a restart loads equals a replay of what was committed, in memory and in the projection.
    state = replay(journal, "u1")
    assert set(state.orders) == {"o1"}
    assert state.balances["USDT"].locked == Decimal(90)
    balances = {
        asset: (Decimal(free), Decimal(locked))
        for asset, free, locked in journal.conn.execute("SELECT asset, free, locked FROM balances WHERE user_id = 'u1'")
    }
    assert balances == {asset: (b.free, b.locked) for asset, b in state.balances.items()}
    assert [o for (o,) in journal.conn.execute("SELECT id FROM orders WHERE user_id = 'u1'")] == ["o1"]
    assert [type(e).__name__ for _, e in journal.read_stream(user_stream("u2"))] == ["AccountOpened"]


def test_open_orders_returns_only_new_and_partially_filled_orders(journal: Journal) -> None:
    s = build_scenario("u1")
    journal.commit([(user_stream("u1"), [e]) for e in s.events])
    open_orders = journal.open_orders()
    assert sorted(o.id for o in open_orders) == ["o4", "o5"]
    assert {o.id: o.status for o in open_orders} == {"o4": "NEW", "o5": "PARTIALLY_FILLED"}
    assert {o.id: o for o in open_orders} == {k: v for k, v in s.state.orders.items() if k in ("o4", "o5")}


# -- one engine per database ----------------------------------------------------------------

_PROBE = "import sys; from persistence.lock import DatabaseLock; print(DatabaseLock(sys.argv[1]).is_held_elsewhere())"
_GRAB = (
    "import sys\nfrom persistence.lock import DatabaseLock, DatabaseInUse\n"
    "try:\n    DatabaseLock(sys.argv[1]).acquire()\nexcept DatabaseInUse:\n    print('in use')\nelse:\n    print('acquired')\n"
)


def run_python(code: str, path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_second_lock_on_the_same_database_in_the_same_process_is_refused(db_path: Path) -> None:
    first = DatabaseLock(db_path)
    first.acquire()
    try:
        with pytest.raises(DatabaseInUse):
            DatabaseLock(db_path).acquire()
    finally:
        first.release()


def test_release_frees_the_lock_for_the_next_owner(db_path: Path) -> None:
    first = DatabaseLock(db_path)
    first.acquire()
    first.release()
    second = DatabaseLock(db_path)
    second.acquire()
    second.release()


def test_another_process_sees_the_lock_held_and_free_after_release(db_path: Path) -> None:
    lock = DatabaseLock(db_path)
    lock.acquire()
    try:
        assert run_python(_PROBE, db_path) == "True"
        assert run_python(_GRAB, db_path) == "in use"
    finally:
        lock.release()
    assert run_python(_PROBE, db_path) == "False"
    assert run_python(_GRAB, db_path) == "acquired"


def test_the_owner_does_not_see_its_own_lock_as_held_elsewhere(db_path: Path) -> None:
    lock = DatabaseLock(db_path)
    assert lock.is_held_elsewhere() is False  # no lock file yet
    lock.acquire()
    try:
        assert lock.is_held_elsewhere() is False
    finally:
        lock.release()
