"""The event journal: appends (with their projections) and reads.

``commit`` is the group commit: many callers' appends in one transaction, each
in its own savepoint so one bad append fails alone, one fsync for them all.
"Alone" is per stream: a stream's writer decides each append on a state that
already holds its earlier ones, so after a failure the later appends of that
stream in the batch (and the snapshot they carry) are refused too.
Reads verify every row's checksum; a damaged row is an error naming its seq.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import apsw
import msgspec
import structlog

from engine.errors import JournalCorrupted
from engine.events import AnyEvent
from engine.model import Order
from engine.triggers import Trigger
from persistence import candles, codec, db, migrate
from persistence.projections import decode_order, decode_trigger, project

log = structlog.get_logger(__name__)

Snapshot = tuple[int, bytes]  # (version, payload)
VERIFIED_MARK = "verified_seq"  # meta key: every row up to this seq has been verified


class PrecedingAppendFailed(Exception):
    """An append not tried because an earlier append of its stream failed."""


class StreamLoad(msgspec.Struct, frozen=True):
    snapshot: tuple[int, int, bytes] | None  # (seq, version, payload)
    events: list[AnyEvent]


class Journal:
    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        try:
            conn = db.connect(path)
            # Candles from before they had a file of their own go there before 0004 drops them.
            candles.move_from_journal(conn, path)
            migrate.apply(conn)
        except (apsw.CorruptError, apsw.NotADBError) as exc:
            raise JournalCorrupted(f"the journal file {path} is damaged: {exc}") from None
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    # -- writes ----------------------------------------------------------------------

    def commit(self, batch: Sequence[tuple[str, Sequence[AnyEvent]] | tuple[str, Sequence[AnyEvent], Snapshot | None]],
               marks: Mapping[str, str] | None = None) -> list[int | Exception]:
        """Append every (stream, events[, snapshot]) in one transaction, and set the
        ``meta`` entries in ``marks`` (the verified mark) in the same one.

        A snapshot, if given, is the stream's state *after* these events and is
        stored in the same savepoint, so it can never get ahead of the journal.
        Returns, per item, the seq of its last event or the exception that
        rolled that item back; an item after a failed one of the same stream is
        not tried (PrecedingAppendFailed): its events and its snapshot may hold
        the failed one's effects. Raises if the transaction itself fails, in
        which case nothing of the batch is durable.
        """
        # Almost every batch commits whole: try it as one transaction, with no savepoint
        # per append (they were a sixth of an append's cost). Only if one append fails
        # is the batch rolled back and done again append by append, each in a savepoint
        # of its own, so that the failure is that stream's alone.
        try:
            with self.conn:
                fast = [self._append(item[0], item[1], item[2] if len(item) > 2 else None) for item in batch]
                for key, value in (marks or {}).items():
                    self._set_meta(key, value)
            return list(fast)
        except Exception:  # noqa: BLE001 - redone below, where each append's own error is found
            pass
        results: list[int | Exception] = []
        failed: dict[str, Exception] = {}
        with self.conn:
            for item in batch:
                stream, events = item[0], item[1]
                snapshot = item[2] if len(item) > 2 else None
                earlier = failed.get(stream)
                if earlier is not None:
                    results.append(PrecedingAppendFailed(f"an earlier append of {stream} failed: {earlier}"))
                    continue
                try:
                    with self.conn:
                        results.append(self._append(stream, events, snapshot))
                except Exception as exc:  # noqa: BLE001 - reported to that stream's callers only
                    failed[stream] = exc
                    results.append(exc)
            for key, value in (marks or {}).items():
                self._set_meta(key, value)
        return results

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _append(self, stream: str, events: Sequence[AnyEvent], snapshot: Snapshot | None = None) -> int:
        seq = 0
        for event in events:
            type_, version, payload, checksum = codec.encode(event)
            self.conn.execute(
                "INSERT INTO events (time, stream, type, version, payload, checksum) VALUES (?, ?, ?, ?, ?, ?)",
                (event.time, stream, type_, version, payload, checksum),
            )
            seq = self.conn.last_insert_rowid()
            project(self.conn, seq, stream, event)
        if snapshot is not None and seq:
            snapshot_version, snapshot_payload = snapshot
            self.conn.execute(
                "INSERT INTO snapshots (stream, seq, version, payload, checksum, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, version = excluded.version,"
                " payload = excluded.payload, checksum = excluded.checksum, created_at = excluded.created_at",
                (stream, seq, snapshot_version, snapshot_payload.decode(), zlib.crc32(snapshot_payload), events[-1].time),
            )
        return seq

    def restore_rows(self, rows: Sequence[tuple[tuple[Any, ...], AnyEvent]]) -> None:
        """Write rows exactly as a replica holds them (seq, time, stream, type,
        version, payload, checksum), projecting their decoded events, in one
        transaction: the rebuilt journal is byte for byte the original."""
        with self.conn:
            for row, event in rows:
                self.conn.execute(
                    "INSERT INTO events (seq, time, stream, type, version, payload, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                project(self.conn, row[0], row[2], event)

    def check_writable(self, now_ms: int) -> None:
        """A real committed write: proves the file, the lock and fsync work."""
        with self.conn:
            self._set_meta("heartbeat", str(now_ms))

    # -- reads -----------------------------------------------------------------------

    def load_stream(self, stream: str) -> StreamLoad:
        """The stream's newest snapshot (if sound) and the events after it."""
        row = self.conn.execute(
            "SELECT seq, version, payload, checksum FROM snapshots WHERE stream = ?", (stream,)
        ).fetchone()
        snapshot = None
        if row is not None:
            seq, version, payload, checksum = row
            raw = payload.encode()
            if zlib.crc32(raw) == checksum:
                snapshot = (seq, version, raw)
            else:
                # A snapshot is only a shortcut: the journal still has everything.
                log.warning("journal.snapshot_damaged", stream=stream, seq=seq)
        after = snapshot[0] if snapshot else 0
        events = [event for _, event in self.read_stream(stream, after)]
        return StreamLoad(snapshot=snapshot, events=events)

    def read_stream(self, stream: str, after_seq: int = 0) -> list[tuple[int, AnyEvent]]:
        rows = self.conn.execute(
            "SELECT seq, type, version, payload, checksum FROM events WHERE stream = ? AND seq > ? ORDER BY seq",
            (stream, after_seq),
        )
        return [(seq, codec.decode(seq, t, v, p, c)) for seq, t, v, p, c in rows]

    def newest(self, stream: str, limit: int) -> list[AnyEvent]:
        """The stream's last ``limit`` events, oldest first."""
        rows = self.conn.execute(
            "SELECT seq, type, version, payload, checksum FROM events WHERE stream = ? ORDER BY seq DESC LIMIT ?",
            (stream, limit),
        )
        return [codec.decode(seq, t, v, p, c) for seq, t, v, p, c in rows][::-1]

    def users_with_open_orders(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT user_id FROM orders WHERE status IN ('NEW', 'PARTIALLY_FILLED') ORDER BY user_id"
        )
        return [user_id for (user_id,) in rows]

    def open_accounts(self) -> list[tuple[str, dict[str, Decimal], list[Order]]]:
        """Every user with orders open: what each holds of every asset (free plus
        locked) and those orders, oldest first, in two reads whatever the number of
        users (a paper venue rebuilds its accounts from this at start)."""
        orders: dict[str, list[Order]] = {}
        for order in self.open_orders():
            orders.setdefault(order.user_id, []).append(order)
        totals: dict[str, dict[str, Decimal]] = {user: {} for user in orders}
        rows = self.conn.execute(
            "SELECT user_id, asset, free, locked FROM balances"
            " WHERE user_id IN (SELECT user_id FROM orders WHERE status IN ('NEW', 'PARTIALLY_FILLED'))"
        )
        for user_id, asset, free, locked in rows:
            if user_id in totals:
                totals[user_id][asset] = Decimal(free) + Decimal(locked)
        return [(user, totals[user], orders[user]) for user in sorted(orders)]

    def open_orders(self) -> list[Order]:
        rows = self.conn.execute(
            "SELECT data FROM orders WHERE status IN ('NEW', 'PARTIALLY_FILLED') ORDER BY created_at"
        )
        return [decode_order(data) for (data,) in rows]

    def find_order(self, user_id: str, *, order_id: str | None = None, client_order_id: str | None = None,
                   idempotency_key: str | None = None) -> Order | None:
        """One of the user's orders from the projection, by any of its ids."""
        if order_id is not None:
            row = self.conn.execute("SELECT data FROM orders WHERE id = ? AND user_id = ?", (order_id, user_id)).fetchone()
        elif idempotency_key is not None:
            row = self.conn.execute(
                "SELECT data FROM orders WHERE user_id = ? AND idempotency_key = ?", (user_id, idempotency_key)
            ).fetchone()
        elif client_order_id is not None:
            row = self.conn.execute(
                "SELECT data FROM orders WHERE user_id = ? AND client_order_id = ?", (user_id, client_order_id)
            ).fetchone()
        else:
            row = None
        return None if row is None else decode_order(row[0])

    def triggers_of(self, symbol: str) -> list[Trigger]:
        """Every trigger users hold on ``symbol`` (a market actor's start)."""
        rows = self.conn.execute("SELECT data FROM triggers WHERE symbol = ? ORDER BY user_id, key", (symbol,))
        return [decode_trigger(data) for (data,) in rows]

    def users_with_listing_rules(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT user_id FROM rules WHERE json_extract(data, '$.kind') = 'NEW_LISTING'"
            " AND json_extract(data, '$.enabled') = 1 AND json_extract(data, '$.paused') = 0 ORDER BY user_id")
        return [user_id for (user_id,) in rows]

    def users_with_paused_rules(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT user_id FROM rules WHERE json_extract(data, '$.paused') = 1 ORDER BY user_id")
        return [user_id for (user_id,) in rows]

    def order_keys(self, user_id: str) -> list[tuple[str, str, str | None, str | None]]:
        """(id, client order id, idempotency key, exchange client id or None) of every
        order of the user."""
        rows = self.conn.execute(
            "SELECT id, client_order_id, idempotency_key, json_extract(data, '$.exchange_client_id') FROM orders"
            " WHERE user_id = ?", (user_id,))
        return [(order_id, client_order_id, key, sent_as) for order_id, client_order_id, key, sent_as in rows]

    def orders_for(self, user_id: str, *, symbol: str | None = None, open_only: bool = False, limit: int = 100) -> list[Order]:
        """The user's orders, newest first."""
        sql = "SELECT data FROM orders WHERE user_id = ?"
        args: list[object] = [user_id]
        if symbol is not None:
            sql += " AND symbol = ?"
            args.append(symbol)
        if open_only:
            sql += " AND status IN ('NEW', 'PARTIALLY_FILLED')"
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        return [decode_order(data) for (data,) in self.conn.execute(sql, args)]

    def verify(self, after_seq: int = 0, limit: int = -1) -> int:
        """Check every row after ``after_seq`` (at most ``limit``; -1: all): checksum
        and decoding. Raise JournalCorrupted naming the first bad row; return the
        last seq checked."""
        last = after_seq
        try:
            rows = self.conn.execute(
                "SELECT seq, type, version, payload, checksum FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
            for seq, type_, version, payload, checksum in rows:
                codec.decode(seq, type_, version, payload, checksum)
                last = seq
        except apsw.CorruptError as exc:
            raise JournalCorrupted(f"the journal file is damaged after row seq={last}: {exc}", details={"seq": last}) from None
        return last

    def verified_seq(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (VERIFIED_MARK,)).fetchone()
        return int(row[0]) if row else 0

    def verify_new_rows(self, limit: int = -1) -> int:
        """Verify the rows written since the last verification (at most ``limit``),
        and remember how far: the engine keeps this mark close behind its writes,
        so a start checks only what the last seconds before it wrote."""
        start = self.verified_seq()
        last = self.verify(start, limit)
        if last == start:
            return last
        with self.conn:
            self._set_meta(VERIFIED_MARK, str(last))
        return last

    def last_seq(self) -> int:
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM events").get
