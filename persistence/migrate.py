"""Numbered SQL migrations in persistence/migrations/, applied in order.

A database that records a migration this code does not have was written by a
newer version; it is refused untouched rather than half-understood.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import apsw
import msgspec

from engine.errors import EngineError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(EngineError):
    code = "MIGRATION_ERROR"


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    path: Path


class MigrationStatus(msgspec.Struct, frozen=True):
    version: int
    name: str
    applied_at: int | None  # ms UTC, None if pending


def available() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME_RE.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration files must be numbered 0001 upwards without gaps, found {versions}")
    return found


def _ensure_table(conn: apsw.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )


def _applied(conn: apsw.Connection) -> dict[int, int]:
    return {v: at for v, at in conn.execute("SELECT version, applied_at FROM schema_migrations")}


def status(conn: apsw.Connection) -> list[MigrationStatus]:
    _ensure_table(conn)
    applied = _applied(conn)
    _refuse_newer(applied)
    return [MigrationStatus(m.version, m.name, applied.get(m.version)) for m in available()]


def apply(conn: apsw.Connection) -> list[Migration]:
    """Apply pending migrations, each in its own transaction. Returns those applied."""
    _ensure_table(conn)
    applied = _applied(conn)
    _refuse_newer(applied)
    done = []
    for migration in available():
        if migration.version in applied:
            continue
        with conn:
            conn.execute(migration.path.read_text())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time_ns() // 1_000_000),
            )
        done.append(migration)
    return done


def _refuse_newer(applied: dict[int, int]) -> None:
    known = len(available())
    newest = max(applied, default=0)
    if newest > known:
        raise MigrationError(
            f"the database is at schema version {newest} but this code knows only up to {known}; "
            "it was written by a newer cryptobot and is left untouched"
        )
