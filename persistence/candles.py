"""Candles in a file of their own beside the journal (``cryptobot.db`` ->
``cryptobot-candles.db``), with a connection and a writer of their own.

Why not in the journal: market data is not what the journal is for. It can be
fetched again, it is pruned, and it arrives at the market's pace; in the
journal's file every candle write queued behind the group commit (an order's
acknowledgement waited behind a burst of candles, and a prune of a month of
them held the writer for seconds) and committed between its batches, paying an
fsync each. Here it is written with synchronous=NORMAL: a commit survives a crash
of the process (what a restart needs to carry the market on) but may be lost to
a power cut, which costs a few candles the exchange still has.

Journals written before this file existed (migration 0003) kept their candles in
a ``candles`` table; ``Journal.open`` moves those rows here once, before
migration 0004 drops the table (``move_from_journal``). Rows already here win,
so a move interrupted by a crash is simply done again.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import apsw
import structlog

from engine.candles import Candle
from persistence import db

log = structlog.get_logger(__name__)

PRUNE_BATCH = 1_000  # rows per pruning transaction: each is a few milliseconds

SCHEMA = """
CREATE TABLE IF NOT EXISTS candles (
    symbol       TEXT    NOT NULL,
    interval     TEXT    NOT NULL,
    open_time    INTEGER NOT NULL,   -- ms UTC
    open         TEXT    NOT NULL,   -- decimal TEXT, never REAL
    high         TEXT    NOT NULL,
    low          TEXT    NOT NULL,
    close        TEXT    NOT NULL,
    volume       TEXT    NOT NULL,
    quote_volume TEXT    NOT NULL,
    PRIMARY KEY (symbol, interval, open_time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS candles_by_time ON candles (open_time);
"""

_COLUMNS = "symbol, interval, open_time, open, high, low, close, volume, quote_volume"


def candles_path(database_path: str | Path) -> Path:
    """Where the candles of the journal at ``database_path`` live."""
    path = Path(database_path)
    return path.with_name(f"{path.stem}-candles{path.suffix or '.db'}")


def _rows(candles: Sequence[tuple[str, Candle]]) -> list[tuple[Any, ...]]:
    return [
        (symbol, c.interval, c.open_time, str(c.open), str(c.high), str(c.low), str(c.close), str(c.volume), str(c.quote_volume))
        for symbol, c in candles
    ]


def _load(conn: apsw.Connection, symbol: str, interval: str, limit: int) -> list[Candle]:
    rows = conn.execute(
        "SELECT open_time, open, high, low, close, volume, quote_volume FROM candles"
        " WHERE symbol = ? AND interval = ? ORDER BY open_time DESC LIMIT ?",
        (symbol, interval, limit),
    ).fetchall()
    return [
        Candle(interval, t, Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v), Decimal(q))
        for t, o, h, lo, c, v, q in reversed(rows)
    ]


def has_candles_table(conn: apsw.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'candles'").fetchone() is not None


class CandleStore:
    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: str | Path) -> CandleStore:
        conn = db.connect(path, synchronous="NORMAL")
        with conn:
            conn.execute(SCHEMA)
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    def save(self, candles: Sequence[tuple[str, Candle]]) -> None:
        """Store (symbol, candle) pairs; a candle replaces the stored one of its window."""
        with self.conn:
            self.conn.executemany(
                f"INSERT INTO candles ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (symbol, interval, open_time) DO UPDATE SET"
                " open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,"
                " volume = excluded.volume, quote_volume = excluded.quote_volume",
                _rows(candles),
            )

    def load(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """The newest ``limit`` candles of the symbol and interval, oldest first."""
        return _load(self.conn, symbol, interval, limit)

    def prune_step(self, before_ms: int, batch: int = PRUNE_BATCH) -> int:
        """Delete at most ``batch`` candles older than ``before_ms`` in one short
        transaction; returns how many. The caller comes back for the rest, so
        writes wait for one step at most, never for the whole prune."""
        if batch <= 0:
            raise ValueError(f"batch must be positive, not {batch}")
        with self.conn:
            self.conn.execute(
                "DELETE FROM candles WHERE (symbol, interval, open_time) IN"
                " (SELECT symbol, interval, open_time FROM candles WHERE open_time < ? LIMIT ?)",
                (before_ms, batch),
            )
            removed = self.conn.changes()
        return removed

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM candles").get


def move_from_journal(journal: apsw.Connection, database_path: str | Path) -> int:
    """Copy the candles a journal from before migration 0004 holds into the candle
    file (rows already there win); returns how many were copied. The caller then
    applies 0004, which drops them from the journal."""
    if not has_candles_table(journal):
        return 0
    rows = journal.execute(f"SELECT {_COLUMNS} FROM candles").fetchall()
    if not rows:
        return 0
    store = CandleStore.open(candles_path(database_path))
    try:
        with store.conn:
            store.conn.executemany(f"INSERT OR IGNORE INTO candles ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        # NORMAL would leave the copy in the WAL, unsynced: the journal's copy is
        # about to be dropped with a synced commit, so this one is synced first.
        store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    finally:
        store.close()
    log.info("candles.moved_from_journal", candles=len(rows), to=str(candles_path(database_path)))
    return len(rows)


def recent(database_path: str | Path, symbols: Sequence[str], interval: str, limit: int) -> dict[str, list[Candle]]:
    """Each symbol's newest ``limit`` stored candles, oldest first, read without
    taking the database (nothing is created, migrated or moved): from the journal's
    old ``candles`` table while it still has one (its first start on this version
    has not moved them yet), else from the candle file. Empty when there are none."""
    out: dict[str, list[Candle]] = {}
    for path, legacy in ((Path(database_path), True), (candles_path(database_path), False)):
        if not path.exists():
            continue
        try:
            conn = db.connect(path, readonly=True)
        except apsw.Error as exc:
            log.warning("candles.unreadable", path=str(path), error=repr(exc))
            continue
        try:
            if not has_candles_table(conn):
                continue
            for symbol in symbols:
                candles = _load(conn, symbol, interval, limit)
                if candles:
                    out[symbol] = candles
            if legacy:
                return out  # not moved yet: the candle file has nothing newer
        except apsw.Error as exc:
            log.warning("candles.unreadable", path=str(path), error=repr(exc))
        finally:
            conn.close()
    return out
