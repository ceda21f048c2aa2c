"""Faults in a real journal file, made the way SQLite itself would refuse a write."""

from __future__ import annotations

import apsw


def refuse_appends(database_path: str, when: str, message: str = "simulated append failure") -> None:
    """From now on, the engine's insert of an event row matching ``when`` (an SQL
    condition on NEW, the row) fails inside its savepoint, as a constraint would."""
    conn = apsw.Connection(database_path)
    conn.set_busy_timeout(10_000)  # the engine writes too (candles): wait for its lock
    try:
        conn.execute(
            f"CREATE TRIGGER refuse_appends BEFORE INSERT ON events WHEN {when}"
            f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
    finally:
        conn.close()
