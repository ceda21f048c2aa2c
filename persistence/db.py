"""Opening the SQLite database with the settings durability depends on."""

from __future__ import annotations

from pathlib import Path

import apsw

BUSY_TIMEOUT_MS = 5_000


def connect(path: str | Path, *, readonly: bool = False, synchronous: str = "FULL") -> apsw.Connection:
    """A connection in WAL mode with synchronous=FULL: a committed transaction
    survives a power cut, and readers never block the writer. Data that can be
    fetched again may pass synchronous="NORMAL": a commit then survives a crash of
    the process but not a power cut, and costs no fsync."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    path = Path(path)
    if not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    conn = apsw.Connection(str(path), flags=flags)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn

