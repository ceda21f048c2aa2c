"""Backup files, rotation and the scheduler: atomic targets, bounded restarts of
incremental copies, rotation that touches only its own files, and a scheduler
that runs on its interval, reports failures and stops promptly."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path

import apsw
import pytest

from actors.client import EngineClient
from actors.system import ActorSystem
from engine.clock import ManualClock
from engine.orders import PlaceOrder
from persistence import backup as backup_module
from persistence import db, migrate
from persistence.backup import (
    MAX_RESTARTS,
    BackupFailed,
    BackupScheduler,
    backup,
    integrity_check,
    rotate,
    scheduled_name,
)
from tests.conftest import make_config
from tests.support.waiting import wait_for

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def new_journal(path: Path) -> Path:
    conn = db.connect(path)
    migrate.apply(conn)
    conn.close()
    return path


def event_count(path: Path) -> int:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute("SELECT count(*) FROM events").get
    finally:
        conn.close()


# -- one backup --------------------------------------------------------------------------------


def test_a_failed_backup_leaves_the_file_already_at_the_target_untouched_and_no_temporary_file(tmp_path: Path) -> None:
    source = tmp_path / "not-a-database.db"
    source.write_bytes(os.urandom(32 * 1024))
    target = tmp_path / "out" / "backup.db"
    target.parent.mkdir()
    target.write_bytes(b"the previous backup")

    with pytest.raises(BackupFailed) as failed:
        backup(source, target)

    assert failed.value.code == "BACKUP_FAILED"
    assert target.read_bytes() == b"the previous backup"
    assert os.listdir(target.parent) == ["backup.db"]


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_a_backup_refuses_to_write_onto_the_database_or_its_sidecar_files(tmp_path: Path, suffix: str) -> None:
    database = new_journal(tmp_path / "cryptobot.db")
    before = database.read_bytes()
    with pytest.raises(BackupFailed, match="onto the database"):
        backup(database, Path(f"{database}{suffix}"))
    assert database.read_bytes() == before
    assert integrity_check(database) == []


def test_an_incremental_backup_restarted_by_every_commit_finishes_in_one_final_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = new_journal(tmp_path / "cryptobot.db")
    writer = db.connect(database)
    with writer:
        for n in range(200):  # enough pages that a 1-page step never finishes the copy
            writer.execute(
                "INSERT INTO events (time, stream, type, version, payload, checksum) VALUES (?, 'user:x', 'T', 1, ?, 0)",
                (n, "x" * 400),
            )
    steps: list[int] = []
    real_step = backup_module._step

    def commit_then_step(job: apsw.Backup, pages: int) -> bool:
        # The engine commits between every two steps: SQLite starts the copy over each time.
        assert len(steps) < 100, "the copy never finishes"
        with writer:
            writer.execute(
                "INSERT INTO events (time, stream, type, version, payload, checksum) VALUES (0, 'user:x', 'T', 1, 'late', 0)"
            )
        steps.append(pages)
        return real_step(job, pages)

    monkeypatch.setattr(backup_module, "_step", commit_then_step)
    result = backup(database, tmp_path / "backup.db", pages_per_step=1)
    writer.close()

    assert result.restarts == MAX_RESTARTS
    assert steps[-1] == -1 and all(pages == 1 for pages in steps[:-1])
    # Exactly what was committed before the last step: one version of the database.
    assert event_count(result.path) == 200 + len(steps)
    assert integrity_check(result.path) == []


# -- rotation ----------------------------------------------------------------------------------


def test_rotate_keeps_exactly_the_newest_scheduler_backups_and_never_touches_other_files(tmp_path: Path) -> None:
    ours = [tmp_path / scheduled_name(T0 + n * 60_000) for n in range(6)]
    for n, path in enumerate(ours):
        path.write_bytes(b"backup")
        os.utime(path, (T0 / 1000 - n, T0 / 1000 - n))  # mtimes in the reverse order: the name decides
    others = [
        tmp_path / "cryptobot.db",
        tmp_path / "cryptobot-manual.db",
        tmp_path / "cryptobot-20200101T000000000Z.db.bak",
        tmp_path / f".{scheduled_name(T0 - 1)}.partial-1-abcd",
        tmp_path / "notes.txt",
    ]
    for path in others:
        path.write_bytes(b"not ours")
    (tmp_path / scheduled_name(T0 - 60_000)).mkdir()  # a directory with our name is not a backup

    removed = rotate(tmp_path, 2)

    assert removed == ours[:4]
    assert sorted(p for p in tmp_path.iterdir() if p.is_file() and p in ours) == ours[4:]
    assert all(path.read_bytes() == b"not ours" for path in others)
    assert (tmp_path / scheduled_name(T0 - 60_000)).is_dir()
    assert rotate(tmp_path, 2) == []


def test_rotate_refuses_to_keep_no_backup_at_all(tmp_path: Path) -> None:
    (tmp_path / scheduled_name(T0)).write_bytes(b"backup")
    with pytest.raises(ValueError):
        rotate(tmp_path, 0)
    assert (tmp_path / scheduled_name(T0)).exists()


def test_scheduled_names_sort_in_time_order_and_carry_milliseconds() -> None:
    assert scheduled_name(T0 + 7) == "cryptobot-20231114T221320007Z.db"
    names = [scheduled_name(T0 + delta) for delta in (0, 999, 1000, 59_999, 86_400_000)]
    assert names == sorted(names)


# -- the scheduler -----------------------------------------------------------------------------


def test_the_scheduler_backs_up_a_trading_engine_on_its_interval_and_keeps_only_the_newest(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    backups = tmp_path / "backups"
    system = ActorSystem(config).start()
    scheduler = BackupScheduler(config.database_path, backups, interval_seconds=0.05, keep=2).start()
    try:
        placed = EngineClient(system).place_order(
            "alice", PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000))
        )
        assert placed.order.status == "NEW"
        seq = event_count(Path(config.database_path))
        status = wait_for(lambda: (s := scheduler.status()).count >= 4 and (s.last_seq or 0) >= seq and s, 10, message="4 backups")
    finally:
        stopped = scheduler.stop(timeout=5)
        system.stop()
    assert stopped
    files = sorted(p for p in backups.iterdir())
    assert len(files) == 2
    assert all(backup_module.SCHEDULED_RE.fullmatch(p.name) for p in files)
    assert status.last_path in files
    assert status.failures == 0 and status.last_error is None
    assert all(integrity_check(p) == [] for p in files)
    assert event_count(files[-1]) >= seq  # the newest holds the order


def test_the_scheduler_stops_promptly_between_backups(tmp_path: Path) -> None:
    database = new_journal(tmp_path / "cryptobot.db")
    scheduler = BackupScheduler(database, tmp_path / "backups", interval_seconds=3600, keep=3).start()
    assert wait_for(lambda: scheduler.status().running, 5)
    started = time.monotonic()

    assert scheduler.stop(timeout=5)

    assert time.monotonic() - started < 1.0
    status = scheduler.status()
    assert not status.running and status.count == 0  # the first backup is one interval after start
    assert not (tmp_path / "backups").exists()


def test_a_failed_scheduled_backup_is_reported_and_the_next_interval_tries_again(tmp_path: Path) -> None:
    database = tmp_path / "cryptobot.db"  # not there yet
    scheduler = BackupScheduler(database, tmp_path / "backups", interval_seconds=0.05, keep=3).start()
    try:
        failed = wait_for(lambda: (s := scheduler.status()).failures >= 1 and s, 10, message="a failure")
        assert failed.count == 0 and failed.last_success_at is None and failed.last_path is None
        assert failed.last_error is not None and "no database" in failed.last_error
        assert failed.running  # a failure does not end the thread

        new_journal(database)
        recovered = wait_for(lambda: (s := scheduler.status()).count >= 1 and s, 10, message="a backup after the failure")
    finally:
        stopped = scheduler.stop(timeout=5)
    assert stopped
    assert recovered.last_success_at is not None and recovered.last_error_at is not None
    assert recovered.last_success_at > recovered.last_error_at  # an operator sees the error is older
    assert recovered.last_path is not None and recovered.last_path.exists()
    assert integrity_check(recovered.last_path) == []


def test_scheduled_backups_never_overwrite_each_other_even_on_a_clock_that_stands_still(tmp_path: Path) -> None:
    database = new_journal(tmp_path / "cryptobot.db")
    scheduler = BackupScheduler(database, tmp_path / "backups", interval_seconds=3600, keep=5, clock=ManualClock(T0))

    paths = [scheduler.run_once().path for _ in range(3)]

    assert len(set(paths)) == 3
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == sorted(p.name for p in paths)
    assert paths[0].name == scheduled_name(T0)
    assert scheduler.status().count == 3 and scheduler.status().last_path == paths[-1]


def test_the_scheduler_refuses_an_interval_or_keep_that_would_never_back_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        BackupScheduler(tmp_path / "cryptobot.db", tmp_path, interval_seconds=0, keep=3)
    with pytest.raises(ValueError):
        BackupScheduler(tmp_path / "cryptobot.db", tmp_path, interval_seconds=60, keep=0)
