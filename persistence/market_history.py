"""Where the stored market left off, read before the engine takes the database.

Paper trading starts a fresh simulator at every start; it carries on from the
last closed candle the journal kept, so prices and charts do not jump back to
the simulator's reference prices after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import apsw
import structlog

from persistence import db

log = structlog.get_logger(__name__)


def last_closes(path: str | Path, symbols: Sequence[str]) -> dict[str, tuple[int, Decimal]]:
    """{symbol: (close time ms, close)} of each symbol's newest stored 1m candle.
    Empty for a new or unreadable database: the caller starts from scratch."""
    if not Path(path).exists():
        return {}
    try:
        conn = db.connect(path, readonly=True)
    except apsw.Error as exc:
        log.warning("market_history.unreadable", error=repr(exc))
        return {}
    out: dict[str, tuple[int, Decimal]] = {}
    try:
        for symbol in symbols:
            row = conn.execute(
                "SELECT open_time, close FROM candles WHERE symbol = ? AND interval = '1m' ORDER BY open_time DESC LIMIT 1",
                (symbol,),
            ).fetchone()
            if row is not None:
                out[symbol] = (row[0] + 60_000, Decimal(row[1]))
    except apsw.Error as exc:  # not migrated yet: no candles table
        log.info("market_history.none", reason=repr(exc))
        return {}
    finally:
        conn.close()
    return out
