"""The event journal: appends (with their projections) and reads.

``commit`` is the group commit: many callers' appends in one transaction, each
in its own savepoint so one bad append fails alone, one fsync for them all.
Reads verify every row's checksum; a damaged row is an error naming its seq.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import apsw

from engine.events import AnyEvent
from engine.model import Order
from persistence import codec, db, migrate
from persistence.projections import decode_order, project


class Journal:
    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        conn = db.connect(path)
        migrate.apply(conn)
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    # -- writes ----------------------------------------------------------------------

    def commit(self, batch: Sequence[tuple[str, Sequence[AnyEvent]]]) -> list[int | Exception]:
        """Append every (stream, events) in one transaction.

        Returns, per item, the seq of its last event or the exception that
        rolled that item back. Raises if the transaction itself fails, in which
        case nothing of the batch is durable.
        """
        results: list[int | Exception] = []
        with self.conn:
            for stream, events in batch:
                try:
                    with self.conn:
                        results.append(self._append(stream, events))
                except Exception as exc:  # noqa: BLE001 - reported to that caller only
                    results.append(exc)
        return results

    def _append(self, stream: str, events: Sequence[AnyEvent]) -> int:
        seq = 0
        for event in events:
            type_, version, payload, checksum = codec.encode(event)
            self.conn.execute(
                "INSERT INTO events (time, stream, type, version, payload, checksum) VALUES (?, ?, ?, ?, ?, ?)",
                (event.time, stream, type_, version, payload, checksum),
            )
            seq = self.conn.last_insert_rowid()
            project(self.conn, seq, stream, event)
        return seq

    def check_writable(self, now_ms: int) -> None:
        """A real committed write: proves the file, the lock and fsync work."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('heartbeat', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(now_ms),),
            )

    # -- reads -----------------------------------------------------------------------

    def read_stream(self, stream: str, after_seq: int = 0) -> list[tuple[int, AnyEvent]]:
        rows = self.conn.execute(
            "SELECT seq, type, version, payload, checksum FROM events WHERE stream = ? AND seq > ? ORDER BY seq",
            (stream, after_seq),
        )
        return [(seq, codec.decode(seq, t, v, p, c)) for seq, t, v, p, c in rows]

    def open_orders(self) -> list[Order]:
        rows = self.conn.execute(
            "SELECT data FROM orders WHERE status IN ('NEW', 'PARTIALLY_FILLED') ORDER BY created_at"
        )
        return [decode_order(data) for (data,) in rows]

    def last_seq(self) -> int:
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
