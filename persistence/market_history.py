"""Where the stored market left off, read before the engine takes the database.

Paper trading starts a fresh simulator at every start; it carries on from the
1m candles kept beside the journal (the open one too, after a clean stop), so
prices and charts do not jump back to the simulator's reference prices after a
restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.candles import Candle
from persistence import candles


def recent_minutes(path: str | Path, symbols: Sequence[str], limit: int) -> dict[str, list[Candle]]:
    """Each symbol's newest ``limit`` stored 1m candles, oldest first (the newest may
    be the minute that was open when the engine stopped). Empty for a new or
    unreadable database: the caller starts from scratch. ``path`` is the journal's:
    its candles are read from their own file, or from the journal itself while it
    still holds them from an older version."""
    return candles.recent(path, symbols, "1m", limit)
