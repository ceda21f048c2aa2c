"""Recovery from the journal: snapshots bound replay, old journals upgrade, and a
damaged row stops the start with its seq named."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import apsw
import pytest

from actors.client import EngineClient
from actors.messages import LoadAllEvents, LoadCandles, LoadStream
from actors.system import ActorSystem
from engine.config import Config
from engine.errors import ActorUnavailable, JournalCorrupted
from engine.events import user_stream
from engine.orders import PlaceOrder
from engine.portfolio import PortfolioState, evolve
from persistence.journal import Journal
from tests.conftest import make_config
from tests.support.venues import sim_venue

FIXTURE = Path(__file__).parents[1] / "fixtures" / "journal-0001.db"
ROOT = Path(__file__).parents[2]


def limit_buy(price: str, **extra: Any) -> PlaceOrder:
    return PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(price), **extra)


def replayed(system: ActorSystem, user: str) -> PortfolioState:
    state = PortfolioState(user)
    for event in system.ask_persistence(LoadAllEvents(user_stream(user))):
        evolve(state, event)
    return state


def wallet(client: EngineClient, user: str) -> dict[str, tuple[Decimal, Decimal]]:
    return {line.asset: (line.free, line.locked) for line in client.wallet(user)}


# -- snapshots -------------------------------------------------------------------------------


def test_a_restart_replays_only_the_events_after_the_newest_snapshot(tmp_path: Path) -> None:
    config = make_config(tmp_path, SNAPSHOT_EVERY_EVENTS="10", ORDER_RATE_LIMIT="0")
    system = ActorSystem(config).start()
    client = EngineClient(system)
    try:
        for n in range(12):
            placed = client.place_order("alice", limit_buy(str(1000 + n), idempotency_key=f"k{n}"))
            if n % 3 == 0:
                client.cancel_order("alice", placed.order.id)
        before = (wallet(client, "alice"), client.list_orders("alice", limit=100))
    finally:
        system.stop()

    system = ActorSystem(config).start()
    client = EngineClient(system)
    try:
        load = system.ask_persistence(LoadStream(user_stream("alice")))
        assert load.snapshot is not None
        assert len(load.events) < 10  # only the tail is replayed
        assert (wallet(client, "alice"), client.list_orders("alice", limit=100)) == before
        full = replayed(system, "alice")
        assert {a: (b.free, b.locked) for a, b in full.balances.items() if b.free or b.locked or a == "USDT"} == wallet(client, "alice")
        # An idempotent retry is still recognised after the restart.
        again = client.place_order("alice", limit_buy("1000", idempotency_key="k0"))
        assert again.replayed and again.order.id == before[1][-1].id
    finally:
        system.stop()


def test_a_damaged_snapshot_falls_back_to_the_whole_stream(tmp_path: Path) -> None:
    config = make_config(tmp_path, SNAPSHOT_EVERY_EVENTS="10", ORDER_RATE_LIMIT="0")
    system = ActorSystem(config).start()
    client = EngineClient(system)
    try:
        for n in range(12):
            client.place_order("alice", limit_buy(str(1000 + n)))
        before = wallet(client, "alice")
    finally:
        system.stop()
    conn = apsw.Connection(config.database_path)
    conn.execute("UPDATE snapshots SET payload = '{\"garbage\": true}'")
    conn.close()
    system = ActorSystem(config).start()
    try:
        assert wallet(EngineClient(system), "alice") == before
    finally:
        system.stop()


# -- upgrades ----------------------------------------------------------------------------------


def test_a_journal_written_by_migration_0001_opens_and_upgrades(tmp_path: Path) -> None:
    db = tmp_path / "cryptobot.db"
    shutil.copy(FIXTURE, db)
    old = apsw.Connection(str(db))
    assert list(old.execute("SELECT version FROM schema_migrations")) == [(1,)]
    old_balances = {
        (user, asset): (Decimal(free), Decimal(locked))
        for user, asset, free, locked in old.execute("SELECT user_id, asset, free, locked FROM balances")
    }
    old_orders = {order_id: status for order_id, status in old.execute("SELECT id, status FROM orders")}
    old.close()

    system = ActorSystem(make_config(tmp_path)).start()
    client = EngineClient(system)
    try:
        for user in ("alice", "bob"):
            held = {asset: value for (u, asset), value in old_balances.items() if u == user and any(value)}
            assert {a: v for a, v in wallet(client, user).items() if any(v)} == held
        listed = {o.id: o.status for user in ("alice", "bob") for o in client.list_orders(user, limit=100)}
        assert listed == old_orders
        # The idempotency key of an order written before 0002 still dedupes.
        retry = client.place_order("alice", PlaceOrder(symbol="BTCUSDT", side="BUY", type="MARKET", quote_quantity=Decimal(100), idempotency_key="a-1"))
        assert retry.replayed
        assert client.risk_status().halted is False
    finally:
        system.stop()
    conn = apsw.Connection(str(db))
    assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == [1, 2, 3, 4, 5]
    conn.close()


def journal_at_version_3_with_candles(db: Path, minutes: list[tuple[int, str]]) -> None:
    """The fixture upgraded the way 0002 and 0003 did it, holding 1m BTCUSDT candles
    in the journal itself, as every journal did before they had a file of their own."""
    from persistence.migrate import MIGRATIONS_DIR

    shutil.copy(FIXTURE, db)
    conn = apsw.Connection(str(db))
    try:
        for version, name in ((2, "snapshots"), (3, "market_data")):
            with conn:
                conn.execute((MIGRATIONS_DIR / f"{version:04d}_{name}.sql").read_text())
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (version, name))
        with conn:
            conn.executemany(
                "INSERT INTO candles VALUES ('BTCUSDT', '1m', ?, ?, ?, ?, ?, '1', ?)",
                [(t, p, p, p, p, p) for t, p in minutes],
            )
    finally:
        conn.close()


def test_candles_kept_in_an_old_journal_move_to_their_own_file_once(tmp_path: Path) -> None:
    from engine.clock import ManualClock
    from persistence.candles import candles_path
    from persistence.market_history import recent_minutes

    db = tmp_path / "cryptobot.db"
    t0 = 1_800_000_000_000
    minutes = [(t0 + n * 60_000, str(90_000 + n)) for n in range(5)]
    journal_at_version_3_with_candles(db, minutes)
    config = make_config(tmp_path)
    # Read before the engine takes the database: the paper market resumes from them.
    assert [(c.open_time, str(c.close)) for c in recent_minutes(db, ["BTCUSDT"], 10)["BTCUSDT"]] == minutes

    system = ActorSystem(config, clock=ManualClock(t0 + 5 * 60_000 + 1_000)).start()
    try:
        held = EngineClient(system).candles("BTCUSDT", "1m", 10)
        assert [(c.open_time, c.close) for c in held[:5]] == [(t, Decimal(p)) for t, p in minutes]
    finally:
        system.stop()
    conn = apsw.Connection(str(db))
    try:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'candles'").get == 0
        assert max(v for (v,) in conn.execute("SELECT version FROM schema_migrations")) == 5
    finally:
        conn.close()
    moved = apsw.Connection(str(candles_path(db)))
    try:
        rows = moved.execute("SELECT open_time, close FROM candles WHERE interval = '1m' AND open_time < ? ORDER BY open_time",
                             (t0 + 5 * 60_000,)).fetchall()
        assert rows == minutes
    finally:
        moved.close()
    assert [c.open_time for c in recent_minutes(db, ["BTCUSDT"], 10)["BTCUSDT"]][:5] == [t for t, _ in minutes]


# -- damage ------------------------------------------------------------------------------------


def damage_row(db: Path, seq: int, payload: str | None = None) -> None:
    conn = apsw.Connection(str(db))
    row = conn.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()
    assert row is not None
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (payload if payload is not None else row[0][: len(row[0]) // 2], seq))
    conn.close()


@pytest.mark.parametrize("payload", [None, '{"type":"AccountOpened","time":1}'], ids=["truncated", "altered"])
def test_a_damaged_row_stops_the_start_with_its_seq_named(tmp_path: Path, payload: str | None) -> None:
    db = tmp_path / "cryptobot.db"
    shutil.copy(FIXTURE, db)
    damage_row(db, 5, payload)
    with pytest.raises((ActorUnavailable, JournalCorrupted), match=r"seq=5\b"):
        ActorSystem(make_config(tmp_path)).start()


def test_serve_refuses_a_damaged_journal_with_one_line_naming_the_row(tmp_path: Path) -> None:
    db = tmp_path / "cryptobot.db"
    shutil.copy(FIXTURE, db)
    damage_row(db, 7)
    env = {"DATABASE_URL": str(db), "PORT": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "api.cli", "serve"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "seq=7" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    verify = subprocess.run([sys.executable, "-m", "api.cli", "verify"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 1 and "seq=7" in verify.stderr


def test_a_truncated_database_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "cryptobot.db"
    shutil.copy(FIXTURE, db)
    with open(db, "r+b") as f:
        f.truncate(db.stat().st_size // 3)
    with pytest.raises((ActorUnavailable, JournalCorrupted), match="damaged|malformed|seq="):
        ActorSystem(make_config(tmp_path)).start()


def test_rows_verified_once_are_not_verified_again_at_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "cryptobot.db"
    shutil.copy(FIXTURE, db)
    journal = Journal.open(db)
    try:
        assert journal.verify_new_rows() == journal.last_seq() == journal.verified_seq()
    finally:
        journal.close()
    # Damage below the watermark is found by `cryptobot verify`, or when the row is read.
    damage_row(db, 2)
    journal = Journal.open(db)
    try:
        journal.verify_new_rows()
        with pytest.raises(JournalCorrupted, match="seq=2"):
            journal.verify(0)
    finally:
        journal.close()


# -- market data ---------------------------------------------------------------------------


def test_closed_candles_are_stored_and_a_restart_starts_from_them(tmp_path: Path) -> None:
    from engine.clock import ManualClock

    t0 = 1_800_000_000_000
    clock = ManualClock(t0)
    config = make_config(tmp_path)
    system = ActorSystem(config, clock=clock).start()
    client = EngineClient(system)
    try:
        from tests.support.waiting import wait_for

        # One tick in each of four minutes, 50 s apart. MEXC (and so the simulator, on
        # this clock) closes a stream that was sent nothing for 60 s: ticks a whole
        # minute apart would let it drop the connection between the clock's jump and
        # the tick, and the tick's kline with it (klines are pushed only when they
        # change, so a lost one is not sent again in a still market).
        for n, price in enumerate(("95000", "95100", "94900", "95050")):
            clock.set(t0 + (n + 1) * 50_000)
            minute = t0 + (n + 1) * 50_000 // 60_000 * 60_000
            system.markets.set_paper_price("BTCUSDT", Decimal(price))
            # The kline is what this test is about (the book comes on another channel).
            wait_for(lambda: client.candles("BTCUSDT", "1m", 1)[-1].open_time == minute,
                     message=f"the kline of minute {n} reached the market actor")
        assert len(client.candles("BTCUSDT", "1m", 10)) == 4
        before = client.candles("BTCUSDT", "1m", 10)[:-1]  # the open candle is not final
        last_close = client.candles("BTCUSDT", "1m", 1)[-1].close
        wait_for(lambda: len(system.ask(system.ref("candles", "candles"), LoadCandles("BTCUSDT", "1m", 10))) >= 3)
    finally:
        system.stop()
    system = ActorSystem(config, clock=clock).start()
    try:
        assert EngineClient(system).candles("BTCUSDT", "1m", 10)[: len(before)] == before
        # The paper market carries on from where it stopped, not from its reference price.
        book = wait_for(lambda: EngineClient(system).ticker("BTCUSDT"))
        assert abs(book.bid - last_close) <= Decimal("0.02")
    finally:
        system.stop()


def test_a_clean_restart_within_the_minute_keeps_the_paper_price_and_the_open_candle(tmp_path: Path) -> None:
    from engine.clock import ManualClock
    from tests.support.waiting import wait_for

    clock = ManualClock(1_800_000_010_000)  # ten seconds into a minute
    config = make_config(tmp_path)
    system = ActorSystem(config, clock=clock).start()
    try:
        client = EngineClient(system)
        wait_for(lambda: client.ticker("ETHUSDT"))
        book = system.markets.set_paper_price("ETHUSDT", Decimal("3000"))
        wait_for(lambda: (t := client.ticker("ETHUSDT")) is not None and t.time == book.time)
        wait_for(lambda: client.candles("ETHUSDT", "1m", 1)[-1].low <= Decimal("3000.01"))
    finally:
        system.stop()
    clock.advance(20_000)  # back within the same minute
    system = ActorSystem(config, clock=clock).start()
    try:
        client = EngineClient(system)
        book = wait_for(lambda: client.ticker("ETHUSDT"))
        assert abs(book.bid - Decimal("3000")) <= Decimal("0.02")  # not back at the reference price
        candle = client.candles("ETHUSDT", "1m", 1)[-1]
        assert candle.open_time == 1_800_000_000_000 and candle.low <= Decimal("3000.01") and candle.high > 3300  # the jump is still in it
    finally:
        system.stop()


def stored_close(config: Config, symbol: str) -> Decimal | None:
    from persistence.market_history import recent_minutes

    minutes = recent_minutes(config.database_path, [symbol], 1).get(symbol)
    return minutes[-1].close if minutes else None


def test_a_price_set_by_hand_is_stored_before_it_is_acknowledged(tmp_path: Path) -> None:
    from engine.clock import ManualClock
    from tests.support.waiting import wait_for

    config = make_config(tmp_path)
    system = ActorSystem(config, clock=ManualClock(1_800_000_010_000)).start()
    try:
        wait_for(lambda: EngineClient(system).ticker("ETHUSDT"))
        system.markets.set_paper_price("ETHUSDT", Decimal("3000"))
        # No waiting: a crash right now must not bring the market back above orders placed at 3000.
        close = stored_close(config, "ETHUSDT")
        assert close is not None and abs(close - Decimal("3000")) <= Decimal("0.02")
    finally:
        system.stop()


def test_a_big_move_stores_the_open_minute_at_once_not_seconds_later(tmp_path: Path) -> None:
    from engine.clock import ManualClock
    from tests.support.waiting import wait_for

    config = make_config(tmp_path)
    system = ActorSystem(config, clock=ManualClock(1_800_000_010_000)).start()  # the clock stands still: no timed store
    try:
        wait_for(lambda: stored_close(config, "ETHUSDT"), message="the open minute stored at the first update")
        sim_venue(system).simulator.set_price("ETHUSDT", Decimal("3000"))  # the market moves on its own
        wait_for(lambda: (c := stored_close(config, "ETHUSDT")) is not None and abs(c - Decimal("3000")) <= Decimal("0.02"),
                 message="the move stored")
    finally:
        system.stop()


def test_a_restart_keeps_the_charts_past_whole(tmp_path: Path) -> None:
    from tests.support.waiting import wait_for

    config = make_config(tmp_path, PAPER_SPEED="10")  # a moving market with a day of history
    system = ActorSystem(config).start()
    try:
        before = wait_for(lambda: (c := EngineClient(system).candles("ETHUSDT", "60m", 1000)) and len(c) >= 20 and c)
        minutes_before = EngineClient(system).candles("ETHUSDT", "1m", 1000)
        assert len(minutes_before) == 1000
    finally:
        system.stop()
    system = ActorSystem(config).start()
    try:
        after = EngineClient(system).candles("ETHUSDT", "60m", 1000)
        minutes = EngineClient(system).candles("ETHUSDT", "1m", 1000)
        assert [c.open_time for c in after[: len(before) - 1]] == [c.open_time for c in before[:-1]]
        assert after[: len(before) - 1] == before[:-1]  # closed hours unchanged
        assert len(minutes) == 1000
        gaps = [b.open_time - a.open_time for a, b in itertools.pairwise(minutes) if b.open_time - a.open_time != 60_000]
        assert gaps == []  # no hole at the restart
        assert minutes[0].open_time >= minutes_before[0].open_time
    finally:
        system.stop()


def test_market_data_older_than_the_window_is_pruned_and_user_events_never_are(tmp_path: Path) -> None:
    from engine.candles import Candle
    from persistence.candles import CandleStore, candles_path

    journal = Journal.open(tmp_path / "j.db")
    store = CandleStore.open(candles_path(tmp_path / "j.db"))
    try:
        old, new = 1_000_000, 9_000_000
        store.save([
            ("BTCUSDT", Candle("1m", old, *(Decimal(1),) * 6)),
            ("BTCUSDT", Candle("1m", new, *(Decimal(2),) * 6)),
        ])
        journal.commit([("user:alice", [PortfolioState_opened("alice", old)])])
        assert store.prune_step(before_ms=5_000_000) == 1
        assert [c.open_time for c in store.load("BTCUSDT", "1m", 10)] == [new]
        assert journal.last_seq() == 1
    finally:
        store.close()
        journal.close()


def PortfolioState_opened(user: str, time_ms: int):  # noqa: N802 - reads as the event it builds
    from engine.portfolio import decide_open

    return decide_open(PortfolioState(user), {"USDT": Decimal(1)}, time_ms, "test")


def test_the_running_engine_keeps_the_verified_mark_close_behind_its_writes(tmp_path: Path) -> None:
    from tests.support.waiting import wait_for

    config = make_config(tmp_path, ORDER_RATE_LIMIT="0")
    system = ActorSystem(config).start()
    try:
        client = EngineClient(system)
        for n in range(20):
            client.place_order("alice", limit_buy(str(1000 + n)))

        def caught_up() -> bool:
            conn = apsw.Connection(config.database_path, flags=apsw.SQLITE_OPEN_READONLY)
            try:
                verified = conn.execute("SELECT value FROM meta WHERE key = 'verified_seq'").fetchone()
                last = conn.execute("SELECT max(seq) FROM events").get
            finally:
                conn.close()
            return verified is not None and int(verified[0]) == last

        wait_for(caught_up, message="the supervisor's ticks verify new rows")
    finally:
        system.stop()
