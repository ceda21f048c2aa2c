"""Online backups of the journal, restores, and scheduled backups with rotation.

``backup`` copies the live database while the engine keeps trading: SQLite's
backup API reads it through a separate read-only connection, and WAL mode means
that reader never blocks the engine's writer. The copy is written beside the
target, checked, fsynced and renamed into place, so ``to_file`` is either the
old file or a complete, checked backup, never something in between.

``restore`` puts a backup in place of the database, refusing while an engine
holds the database lock, and refusing a file that is damaged or is not a
cryptobot journal this code can open. The replaced database is kept beside it
as ``<db>.before-restore-<timestamp>``.

``BackupScheduler`` takes a backup every BACKUP_INTERVAL_SECONDS into the backup
directory and keeps the newest BACKUP_KEEP of the files it made (``rotate``).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import structlog

from engine.clock import Clock, SystemClock
from engine.errors import EngineError, JournalCorrupted
from persistence import codec, migrate
from persistence.db import BUSY_TIMEOUT_MS
from persistence.lock import DatabaseInUse, DatabaseLock

log = structlog.get_logger(__name__)

# Files made by the scheduler, and the only files ``rotate`` ever deletes.
SCHEDULED_PREFIX = "cryptobot-"
SCHEDULED_RE = re.compile(r"^cryptobot-\d{8}T\d{9}Z\.db$")

# An incremental backup (pages_per_step > 0) starts over whenever the engine
# commits between two steps; after this many restarts the rest is copied in
# one step, which cannot be restarted (see _copy).
MAX_RESTARTS = 3
BUSY_RETRY_SECONDS = BUSY_TIMEOUT_MS / 1000

_READONLY = apsw.SQLITE_OPEN_READONLY
_SIDECARS = ("-wal", "-journal")  # carry committed or to-be-rolled-back data; -shm is only an index


class BackupFailed(EngineError):
    code = "BACKUP_FAILED"


class RestoreRefused(EngineError):
    """The database was left untouched; ``details["reason"]`` says why."""

    code = "RESTORE_REFUSED"


class RestoreInUse(RestoreRefused, DatabaseInUse):
    """An engine holds the database lock. Also a DatabaseInUse, with its code."""

    code = "DATABASE_IN_USE"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    last_seq: int  # the newest journal event in the copy
    duration_seconds: float
    pages: int
    restarts: int  # times SQLite started the copy over because the engine wrote between steps

    def summary(self) -> str:
        return (
            f"backup {self.path}: {self.bytes} bytes, journal through seq {self.last_seq}, "
            f"{self.duration_seconds:.2f}s"
        )


@dataclass(frozen=True)
class RestoreResult:
    path: Path  # the database, now the restored copy
    source: Path
    kept: Path | None  # the database it replaced, if there was one
    bytes: int
    last_seq: int
    duration_seconds: float

    def summary(self) -> str:
        kept = f"; the previous database is kept as {self.kept}" if self.kept else ""
        return f"restored {self.source} to {self.path}: journal through seq {self.last_seq}{kept}"


@dataclass(frozen=True)
class BackupStatus:
    running: bool
    interval_seconds: float
    keep: int
    backup_dir: Path
    count: int  # successful backups since start
    failures: int
    last_success_at: int | None  # ms UTC
    last_path: Path | None
    last_seq: int | None
    last_error: str | None
    last_error_at: int | None  # ms UTC

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly, for /health or a status command."""
        return {
            "running": self.running,
            "interval_seconds": self.interval_seconds,
            "keep": self.keep,
            "backup_dir": str(self.backup_dir),
            "count": self.count,
            "failures": self.failures,
            "last_success_at": self.last_success_at,
            "last_path": str(self.last_path) if self.last_path else None,
            "last_seq": self.last_seq,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


# -- checking --------------------------------------------------------------------------------


def integrity_check(path: str | Path) -> list[str]:
    """The problems ``PRAGMA integrity_check`` finds in the file; empty when "ok".
    A file that is not a database at all is one problem, not an exception."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no database file at {path}")
    try:
        conn = apsw.Connection(str(path), flags=_READONLY)
    except apsw.Error as exc:
        return [f"cannot open: {exc}"]
    try:
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        return _problems(conn)
    finally:
        conn.close()


def _problems(conn: apsw.Connection) -> list[str]:
    try:
        rows = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except apsw.Error as exc:  # NotADBError, CorruptError: the check could not even run
        return [f"{type(exc).__name__}: {exc}"]
    return [] if rows == ["ok"] else rows


# -- backup ----------------------------------------------------------------------------------


def backup(db_path: str | Path, to_file: str | Path, *, pages_per_step: int = -1) -> BackupResult:
    """An online, consistent copy of the database at ``db_path`` in ``to_file``.

    Safe while the engine trades. ``to_file`` is replaced atomically (an
    existing file there stays as it was if anything fails). The copy is a
    single self-contained file (rollback-journal mode, no -wal beside it).
    ``pages_per_step`` < 0 copies in one step (the default, and what the
    scheduler uses); a positive number copies that many pages per step.
    """
    if pages_per_step == 0:
        raise ValueError("pages_per_step must be negative (all at once) or positive")
    started = time.monotonic()
    db_path, target = Path(db_path), Path(to_file)
    if not db_path.is_file():
        raise BackupFailed(f"no database at {db_path}", details={"database": str(db_path)})
    if any(_same_file(Path(f"{db_path}{suffix}"), target) for suffix in ("", *_SIDECARS, "-shm", ".lock")):
        raise BackupFailed(f"refusing to write a backup onto the database {db_path} or its files",
                           details={"target": str(target)})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(target)
    try:
        dest = apsw.Connection(str(tmp))
        try:
            try:
                # Read-only: the backup can never write to the live database.
                source = apsw.Connection(str(db_path), flags=_READONLY)
                source.set_busy_timeout(BUSY_TIMEOUT_MS)
                try:
                    pages, restarts = _copy(dest, source, pages_per_step)
                finally:
                    source.close()
            except apsw.Error as exc:
                raise BackupFailed(f"cannot copy {db_path}: {exc}", details={"database": str(db_path)}) from None
            last_seq = _finish_copy(dest, db_path, BackupFailed)
        finally:
            dest.close()
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent)
    except BaseException:
        _remove(tmp)
        raise
    return BackupResult(
        path=target,
        bytes=target.stat().st_size,
        last_seq=last_seq,
        duration_seconds=time.monotonic() - started,
        pages=pages,
        restarts=restarts,
    )


def _copy(dest: apsw.Connection, source: apsw.Connection, pages_per_step: int) -> tuple[int, int]:
    """Copy every page of ``source`` into ``dest``; (pages, restarts).

    Why the copy is one consistent snapshot:

    * One step (``step(-1)``): sqlite3_backup_step holds a read transaction on
      the source for the whole call. In WAL mode a read transaction sees the
      database as of one commit (its end mark in the WAL) and keeps seeing
      exactly that while the engine appends newer commits to the WAL and while
      checkpoints run (they never overwrite pages a reader still needs). So
      every page comes from the same commit: each journal transaction is in the
      copy entirely or not at all, and since the engine is the only writer and
      assigns seqs in commit order, the copy's events are a prefix of the journal.

    * Several steps: the read transaction ends after each step. If any other
      connection commits to the source in between, SQLite notices at the next
      step and starts the whole copy over from page 1, so a copy that completes
      still comes from a single, unchanged version of the database. Under a
      steady stream of commits that can go on forever (the copy never gets past
      the first step), so after MAX_RESTARTS restarts the rest is copied in one
      step, which nothing can restart.

    The destination is locked from the first step until finish(); on any error
    the backup object is finished with a rollback of the destination.
    """
    restarts = 0
    with dest.backup("main", source, "main") as job:
        if pages_per_step < 0:
            _step(job, -1)
        else:
            previous: int | None = None
            while not _step(job, pages_per_step):
                # Progress means fewer pages remain than after the last step;
                # after a restart the count is back near the total.
                if previous is not None and job.remaining >= previous:
                    restarts += 1
                    if restarts >= MAX_RESTARTS:
                        _step(job, -1)
                        break
                previous = job.remaining
        pages = job.page_count  # zero once finished, so read it here
    return pages, restarts


def _step(job: apsw.Backup, pages: int) -> bool:
    # The source's busy handler covers most waits; SQLITE_BUSY/LOCKED can still
    # surface (e.g. while another connection runs WAL recovery) and are retryable.
    deadline = time.monotonic() + BUSY_RETRY_SECONDS
    while True:
        try:
            return job.step(pages)
        except (apsw.BusyError, apsw.LockedError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _finish_copy(dest: apsw.Connection, origin: Path, error: type[EngineError]) -> int:
    """Make the copy self-contained and check it; the last journal seq in it."""
    # The backup copies page 1 verbatim, including the "WAL mode" bytes of the
    # header: a backup of a WAL database is itself a WAL database and would grow
    # -wal/-shm files the first time it is opened. Rollback mode makes it one
    # file; the engine switches a restored database back to WAL when it opens it.
    try:
        dest.execute("PRAGMA journal_mode=DELETE")
    except apsw.Error as exc:
        raise error(f"the copy of {origin} is unusable: {exc}", details={"reason": "unreadable"}) from None
    problems = _problems(dest)
    if problems:
        raise error(
            f"the copy of {origin} fails integrity_check: {'; '.join(problems[:5])}",
            details={"reason": "integrity", "problems": problems[:20]},
        )
    tables = {name for (name,) in dest.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"events", "schema_migrations"} <= tables:
        raise error(f"{origin} is not a cryptobot journal (it has no events table)", details={"reason": "not_a_journal"})
    return dest.execute("SELECT coalesce(max(seq), 0) FROM events").get


# -- restore ---------------------------------------------------------------------------------


def restore(from_file: str | Path, db_path: str | Path, *, clock: Clock | None = None) -> RestoreResult:
    """Replace the database at ``db_path`` with the backup ``from_file``.

    Refuses (RestoreRefused, the database untouched) while an engine runs on the
    database (RestoreInUse, code DATABASE_IN_USE), and when the backup fails
    integrity_check, is not a cryptobot journal, was written by a newer schema,
    or holds a journal row that fails its checksum. The database lock is held
    for the whole restore, so no engine can start half-way through.
    """
    started = time.monotonic()
    source, db_path = Path(from_file), Path(db_path)
    clock = clock or SystemClock()
    if not source.is_file():
        raise RestoreRefused(f"no backup file at {source}", details={"reason": "missing"})
    if _same_file(source, db_path):
        raise RestoreRefused(f"{source} is the database itself", details={"reason": "same_file"})
    lock = DatabaseLock(db_path)
    try:
        lock.acquire()
    except DatabaseInUse:
        raise RestoreInUse(
            f"an engine is running on {db_path}; stop it before restoring", details={"reason": "in_use"}
        ) from None
    try:
        tmp = _temp_beside(db_path)
        try:
            last_seq = _restore_copy(source, tmp)
            kept = _set_aside(db_path, _stamp(clock.now_ms()))
            os.replace(tmp, db_path)
            _fsync(db_path.parent)
        except BaseException:
            _remove(tmp)
            raise
    finally:
        lock.release()
    log.info("restore.done", source=str(source), database=str(db_path), kept=str(kept) if kept else None, last_seq=last_seq)
    return RestoreResult(
        path=db_path,
        source=source,
        kept=kept,
        bytes=db_path.stat().st_size,
        last_seq=last_seq,
        duration_seconds=time.monotonic() - started,
    )


def _restore_copy(source: Path, tmp: Path) -> int:
    """Copy the backup into ``tmp`` and check the copy (not the source, so what
    was checked is exactly what is put in place). The last journal seq."""
    dest = apsw.Connection(str(tmp))
    try:
        try:
            # The backup API rather than a file copy: a source in WAL mode is read
            # with its -wal, and the source is opened read-only, never changed.
            src = apsw.Connection(str(source), flags=_READONLY)
            src.set_busy_timeout(BUSY_TIMEOUT_MS)
            try:
                _copy(dest, src, -1)
            finally:
                src.close()
        except apsw.Error as exc:
            raise RestoreRefused(
                f"{source} is not a readable SQLite database: {exc}", details={"reason": "not_a_database"}
            ) from None
        last_seq = _finish_copy(dest, source, RestoreRefused)
        try:
            migrate.status(dest)  # refuses a schema newer than this code
        except migrate.MigrationError as exc:
            raise RestoreRefused(exc.message, details={"reason": "newer_schema"}) from None
        try:
            rows = dest.execute("SELECT seq, type, version, payload, checksum FROM events ORDER BY seq")
            for seq, type_, version, payload, checksum in rows:
                codec.decode(seq, type_, version, payload, checksum)
        except JournalCorrupted as exc:
            raise RestoreRefused(
                f"{source} holds a damaged journal: {exc.message}", details={"reason": "corrupt_rows", **exc.details}
            ) from None
    finally:
        dest.close()
    _fsync(tmp)
    return last_seq


def _set_aside(db_path: Path, stamp: str) -> Path | None:
    """Keep the current database as <db>.before-restore-<stamp> and clear the
    way: no -wal, -journal or -shm of the old database may stay beside the new
    one, or SQLite would replay the old WAL (or roll back the old journal) into
    the restored file. Returns the kept file, None if there was no database."""
    kept = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    n = 1
    while kept.exists():
        kept = db_path.with_name(f"{db_path.name}.before-restore-{stamp}-{n}")
        n += 1
    existed = db_path.is_file()
    if existed:
        _fold_wal(db_path)
        try:
            os.link(db_path, kept)  # the same file under a second name: db_path never goes missing
        except OSError:
            shutil.copy2(db_path, kept)
            _fsync(kept)
    for suffix in _SIDECARS:  # only left when folding failed; they belong to the kept copy
        sidecar = Path(f"{db_path}{suffix}")
        if sidecar.exists():
            os.replace(sidecar, Path(f"{kept}{suffix}"))
    Path(f"{db_path}-shm").unlink(missing_ok=True)
    return kept if existed else None


def _fold_wal(db_path: Path) -> None:
    """Checkpoint the old database's WAL into it and leave WAL mode, so the kept
    file is whole on its own. Best effort: a database too damaged to open keeps
    its sidecars under the kept name instead."""
    try:
        conn = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READWRITE)
        try:
            conn.set_busy_timeout(BUSY_TIMEOUT_MS)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            conn.close()
    except apsw.Error as exc:
        log.warning("restore.wal_not_folded", database=str(db_path), error=str(exc))


# -- rotation and the scheduler ---------------------------------------------------------------


def scheduled_name(now_ms: int) -> str:
    return f"{SCHEDULED_PREFIX}{_stamp(now_ms)}.db"


def rotate(backup_dir: str | Path, keep: int) -> list[Path]:
    """Delete the oldest scheduler backups beyond the newest ``keep``; the deleted
    paths, oldest first. Files not named like the scheduler's are never touched."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    backup_dir = Path(backup_dir)
    if not backup_dir.is_dir():
        return []
    # The timestamp in the name orders them (mtimes can be changed by a copy).
    ours = sorted(p for p in backup_dir.iterdir() if SCHEDULED_RE.fullmatch(p.name) and p.is_file())
    doomed = ours[:-keep]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


class BackupScheduler:
    """A thread that backs the database up every ``interval_seconds`` into
    ``backup_dir`` and keeps the newest ``keep`` of its files."""

    def __init__(
        self,
        db_path: str | Path,
        backup_dir: str | Path,
        interval_seconds: float,
        keep: int,
        clock: Clock | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.db_path = Path(db_path)
        self.backup_dir = Path(backup_dir)
        self.interval_seconds = float(interval_seconds)
        self.keep = keep
        self.clock = clock or SystemClock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._one_at_a_time = threading.Lock()
        self._state = threading.Lock()
        self._count = 0
        self._failures = 0
        self._last_success_at: int | None = None
        self._last_path: Path | None = None
        self._last_seq: int | None = None
        self._last_error: str | None = None
        self._last_error_at: int | None = None

    def start(self) -> BackupScheduler:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="backup-scheduler", daemon=True)
        self._thread.start()
        log.info("backup.scheduler_started", directory=str(self.backup_dir), interval_seconds=self.interval_seconds,
                 keep=self.keep)
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop taking backups; True if the thread has ended. A backup under way
        is not interrupted (its temporary file is removed if it fails)."""
        self._stopping.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        stopped = not thread.is_alive()
        if stopped:
            self._thread = None
        return stopped

    def run_once(self) -> BackupResult:
        """Take one backup now and rotate; raises what the backup raised."""
        with self._one_at_a_time:
            try:
                self.backup_dir.mkdir(parents=True, exist_ok=True)
                result = backup(self.db_path, self._next_path())
            except Exception as exc:
                message = exc.message if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
                with self._state:
                    self._failures += 1
                    self._last_error = message
                    self._last_error_at = self.clock.now_ms()
                log.error("backup.failed", database=str(self.db_path), directory=str(self.backup_dir), error=message)
                raise
            with self._state:
                self._count += 1
                self._last_success_at = self.clock.now_ms()
                self._last_path = result.path
                self._last_seq = result.last_seq
            try:
                removed = rotate(self.backup_dir, self.keep)
            except OSError as exc:
                removed = []
                with self._state:
                    self._last_error = f"rotation failed: {exc}"
                    self._last_error_at = self.clock.now_ms()
                log.warning("backup.rotate_failed", directory=str(self.backup_dir), error=str(exc))
            log.info(
                "backup.done",
                path=str(result.path),
                bytes=result.bytes,
                last_seq=result.last_seq,
                duration_seconds=round(result.duration_seconds, 3),
                rotated=[p.name for p in removed],
            )
            return result

    def status(self) -> BackupStatus:
        with self._state:
            return BackupStatus(
                running=self._thread is not None and self._thread.is_alive() and not self._stopping.is_set(),
                interval_seconds=self.interval_seconds,
                keep=self.keep,
                backup_dir=self.backup_dir,
                count=self._count,
                failures=self._failures,
                last_success_at=self._last_success_at,
                last_path=self._last_path,
                last_seq=self._last_seq,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
            )

    def _run(self) -> None:
        next_due = time.monotonic() + self.interval_seconds
        while not self._stopping.wait(max(next_due - time.monotonic(), 0.0)):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - recorded and logged by run_once; try again next time
                pass
            # Keep the cadence; after an overrun, wait a whole interval rather than catch up.
            next_due += self.interval_seconds
            if next_due <= time.monotonic():
                next_due = time.monotonic() + self.interval_seconds

    def _next_path(self) -> Path:
        now = self.clock.now_ms()
        path = self.backup_dir / scheduled_name(now)
        while path.exists():  # two backups within a millisecond (or a clock that stands still)
            now += 1
            path = self.backup_dir / scheduled_name(now)
        return path


# -- files -------------------------------------------------------------------------------------


def _stamp(now_ms: int) -> str:
    """20240102T030405678Z: UTC with milliseconds; sorts as text in time order."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ms // 1000)) + f"{now_ms % 1000:03d}Z"


def _temp_beside(target: Path) -> Path:
    # Same directory, so the final os.replace is a rename on one filesystem.
    # The leading dot and suffix keep it from ever matching SCHEDULED_RE.
    return target.with_name(f".{target.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")


def _remove(tmp: Path) -> None:
    for path in (tmp, *(Path(f"{tmp}{s}") for s in (*_SIDECARS, "-shm"))):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _fsync(path: Path) -> None:
    """fsync a file, or a directory (so a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False
