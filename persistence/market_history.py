"""Where the stored market left off, read before the engine takes the database.

Paper trading starts a fresh simulator at every start; it carries on from the
1m candles the journal kept (the open one too, after a clean stop), so prices
and charts do not jump back to the simulator's reference prices after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import apsw
import structlog

from engine.candles import Candle
from persistence import db
from persistence.journal import Journal

log = structlog.get_logger(__name__)


def recent_minutes(path: str | Path, symbols: Sequence[str], limit: int) -> dict[str, list[Candle]]:
    """Each symbol's newest ``limit`` stored 1m candles, oldest first (the newest may
    be the minute that was open when the engine stopped). Empty for a new or
    unreadable database: the caller starts from scratch."""
    if not Path(path).exists():
        return {}
    try:
        conn = db.connect(path, readonly=True)
    except apsw.Error as exc:
        log.warning("market_history.unreadable", error=repr(exc))
        return {}
    journal = Journal(conn)  # reads only: no migrations, no lock
    out: dict[str, list[Candle]] = {}
    try:
        for symbol in symbols:
            candles = journal.load_candles(symbol, "1m", limit)
            if candles:
                out[symbol] = candles
    except apsw.Error as exc:  # not migrated yet: no candles table
        log.info("market_history.none", reason=repr(exc))
        return {}
    finally:
        conn.close()
    return out
