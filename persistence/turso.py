"""Replication of the journal to Turso (libSQL), and rebuilding from it.

``TursoSync`` runs in a thread of its own with a private asyncio loop (the
libSQL client is asyncio-based; the engine's threads are not). Each round it
asks the remote for its highest seq, reads the local rows after it through a
read-only connection (WAL readers never block the journal's writer), and sends
them in batches: one transaction per batch, ``ON CONFLICT (seq) DO NOTHING``,
so a batch re-sent after a lost answer never duplicates a row. When Turso is
unreachable the engine trades on; the syncer backs off and catches up later.

HTTP is used (libsql:// URLs are turned into https://): what the tests run
against is what production runs.
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any, cast

import apsw
import libsql_client
import msgspec
import structlog

from engine.clock import Clock, SystemClock
from engine.errors import EngineError
from persistence import codec, db
from persistence.journal import Journal

log = structlog.get_logger(__name__)

CALL_TIMEOUT_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 60.0

REMOTE_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, stream TEXT NOT NULL, type TEXT NOT NULL,"
    " version INTEGER NOT NULL, payload TEXT NOT NULL, checksum INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_by_stream ON events (stream, seq)",
]
INSERT = (
    "INSERT INTO events (seq, time, stream, type, version, payload, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (seq) DO NOTHING"
)
COLUMNS = "seq, time, stream, type, version, payload, checksum"


class RestoreFromTursoRefused(EngineError):
    code = "RESTORE_REFUSED"


class SyncStatus(msgspec.Struct, frozen=True, rename="camel"):
    enabled: bool
    url: str | None
    running: bool
    last_success_ms: int | None
    last_error: str | None
    last_error_ms: int | None
    local_seq: int
    remote_seq: int | None
    events_behind: int | None
    batches_sent: int
    rows_sent: int


def http_url(url: str) -> str:
    """libsql://host is Turso's WebSocket form; sync speaks HTTP to the same host."""
    return re.sub(r"^libsql://", "https://", url)


def shown_url(url: str) -> str:
    return re.sub(r"//[^/@\s]*@", "//***@", url)


class TursoSync:
    def __init__(
        self,
        db_path: str | Path,
        url: str,
        auth_token: str | None,
        *,
        batch_size: int = 500,
        interval: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self._db_path = str(db_path)
        self._url = http_url(url)
        self._token = auth_token
        self._batch_size = batch_size
        self._interval = interval
        self._clock = clock or SystemClock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._started = threading.Event()
        self._schema_ready = False
        self._lock = threading.Lock()
        self._last_success_ms: int | None = None
        self._last_error: str | None = None
        self._last_error_ms: int | None = None
        self._remote_seq: int | None = None
        self._batches = 0
        self._rows = 0

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> TursoSync:
        self._thread = threading.Thread(target=self._run, name="turso-sync", daemon=True)
        self._thread.start()
        self._started.wait(5)
        log.info("turso.sync_started", url=shown_url(self._url), interval=self._interval, batch_size=self._batch_size)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("turso.sync_stop_timeout", timeout=timeout)
        log.info("turso.sync_stopped")

    def sync_now(self) -> None:
        """Ask for a round at once instead of at the next interval."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def status(self) -> SyncStatus:
        local = _local_seq(self._db_path)
        with self._lock:
            remote = self._remote_seq
            return SyncStatus(
                enabled=True,
                url=shown_url(self._url),
                running=self._thread is not None and self._thread.is_alive(),
                last_success_ms=self._last_success_ms,
                last_error=self._last_error,
                last_error_ms=self._last_error_ms,
                local_seq=local,
                remote_seq=remote,
                events_behind=None if remote is None else max(local - remote, 0),
                batches_sent=self._batches,
                rows_sent=self._rows,
            )

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._started.set()
        backoff = self._interval
        client = libsql_client.create_client(self._url, auth_token=self._token)
        try:
            while not self._stop.is_set():
                try:
                    await self._round(client)
                    backoff = self._interval
                except Exception as exc:  # noqa: BLE001 - Turso down: keep trading, retry later
                    with self._lock:
                        self._last_error, self._last_error_ms = repr(exc), self._clock.now_ms()
                    self._schema_ready = False
                    log.warning("turso.sync_failed", error=repr(exc), retry_in=round(backoff, 1))
                    backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF_SECONDS)
                waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._wake.wait())]
                await asyncio.wait(waits, timeout=backoff, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waits:
                    waiter.cancel()
                self._wake.clear()
        finally:
            await client.close()

    async def _round(self, client: Any) -> None:
        if not self._schema_ready:
            for statement in REMOTE_SCHEMA:
                await _call(client.execute(statement))
            self._schema_ready = True
        remote = await remote_seq(client)
        self._set_remote(remote)
        conn = db.connect(self._db_path, readonly=True)
        try:
            while True:
                rows = conn.execute(
                    f"SELECT {COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (remote, self._batch_size)
                ).fetchall()
                if not rows:
                    break
                await _call(client.batch([libsql_client.Statement(INSERT, list(row)) for row in rows]))
                remote = cast(int, rows[-1][0])  # the seq column
                with self._lock:
                    self._batches += 1
                    self._rows += len(rows)
                self._set_remote(remote)
        finally:
            conn.close()
        with self._lock:
            self._last_success_ms = self._clock.now_ms()

    def _set_remote(self, seq: int) -> None:
        with self._lock:
            self._remote_seq = seq


async def _call(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, CALL_TIMEOUT_SECONDS)


async def remote_seq(client: Any) -> int:
    result = await _call(client.execute("SELECT coalesce(max(seq), 0) FROM events"))
    return int(result.rows[0][0])


def _local_seq(db_path: str) -> int:
    try:
        conn = db.connect(db_path, readonly=True)
    except apsw.Error:
        return 0
    try:
        return conn.execute("SELECT coalesce(max(seq), 0) FROM events").get
    except apsw.SQLError:
        return 0
    finally:
        conn.close()


# -- rebuilding a machine from Turso ------------------------------------------------------


def restore_from_turso(url: str, auth_token: str | None, db_path: str | Path, *, page: int = 2000) -> int:
    """Rebuild an empty database from the remote journal. Every row is checked
    (checksum, decoding, contiguous seqs) and goes through the same journal code
    as live trading, so orders, fills and balances are projected again. Returns
    the number of events restored."""
    path = Path(db_path)
    if path.exists() and _local_seq(str(path)) > 0:
        raise RestoreFromTursoRefused(f"{path} already holds a journal; restore from Turso only into an empty data directory")
    return asyncio.run(_restore(http_url(url), auth_token, path, page))


async def _restore(url: str, token: str | None, path: Path, page: int) -> int:
    client = libsql_client.create_client(url, auth_token=token)
    journal = Journal.open(path)
    restored = 0
    try:
        last = 0
        while True:
            result = await _call(
                client.execute(f"SELECT {COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", [last, page])
            )
            rows = [tuple(row) for row in result.rows]
            if not rows:
                break
            batch = []
            for row in rows:
                seq, _, _, type_, version, payload, checksum = row
                if seq != last + 1:
                    raise RestoreFromTursoRefused(f"the remote journal has a gap: seq {last} is followed by {seq}")
                batch.append((row, codec.decode(seq, type_, version, payload, checksum)))
                last = seq
            journal.restore_rows(batch)
            restored += len(batch)
        log.info("turso.restored", events=restored, database=str(path))
        return restored
    finally:
        journal.close()
        await client.close()
