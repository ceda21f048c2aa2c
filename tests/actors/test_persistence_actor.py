"""PersistenceActor: the single journal writer, with group commit and ack after durability."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from decimal import Decimal

import apsw
import pytest

from actors.messages import LoadStream
from actors.persistence import PersistenceActor
from actors.system import ActorSystem
from engine.candles import Candle
from engine.errors import JournalUnavailable
from engine.events import AccountOpened, OrderFilled
from engine.model import BalanceChange, Fill
from tests.support.journal import refuse_appends
from tests.support.waiting import wait_for

THREADS = 8
PER_THREAD = 200


def event(n: int) -> AccountOpened:
    return AccountOpened(time=1_700_000_000_000 + n, user_id=f"n{n}", reason="load", changes=(BalanceChange("USDT", free=Decimal(n)),))


def counters(system: ActorSystem) -> tuple[int, int]:
    """(batches, appends) of the PersistenceActor, read in its own thread through a proxy."""
    ref = system.ref("persistence", "journal")
    assert ref.actor_class is PersistenceActor
    proxy = ref.proxy()
    return proxy.batches.get(timeout=5), proxy.appends.get(timeout=5)


def fresh_connection(system: ActorSystem) -> apsw.Connection:
    return apsw.Connection(system.config.database_path, flags=apsw.SQLITE_OPEN_READONLY)


def test_concurrent_appends_all_commit_with_unique_seqs_in_fewer_batches(system: ActorSystem) -> None:
    batches0, appends0 = counters(system)
    seqs: list[list[int]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(t: int) -> None:
        try:
            start.wait(timeout=10)
            for i in range(PER_THREAD):
                # Like an API thread: wait for this append's ack before the next one.
                seqs[t].append(system.append(f"test:{t}", [event(t * PER_THREAD + i)]).result(timeout=30))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    everything = [seq for per_thread in seqs for seq in per_thread]
    assert len(everything) == THREADS * PER_THREAD
    assert len(set(everything)) == len(everything)
    for per_thread in seqs:
        assert per_thread == sorted(per_thread)  # one caller's appends keep their order

    batches1, appends1 = counters(system)
    appends, batches = appends1 - appends0, batches1 - batches0
    assert appends == THREADS * PER_THREAD
    assert 1 <= batches < appends  # group commit: some transactions carried several appends

    conn = fresh_connection(system)
    try:
        rows = dict(conn.execute("SELECT seq, stream FROM events WHERE stream LIKE 'test:%'"))
    finally:
        conn.close()
    assert set(rows) == set(everything)
    for t, per_thread in enumerate(seqs):
        assert {rows[seq] for seq in per_thread} == {f"test:{t}"}


def test_an_append_is_visible_to_another_connection_when_its_future_resolves(system: ActorSystem) -> None:
    seen_at_resolution: list[tuple[int, int]] = []

    def check(done: Future[int]) -> None:
        # Runs in the journal's thread the moment the future resolves.
        seq = done.result()
        conn = fresh_connection(system)
        try:
            count = conn.execute("SELECT count(*) FROM events WHERE seq = ?", (seq,)).get
        finally:
            conn.close()
        seen_at_resolution.append((seq, count))

    futures = []
    for n in range(20):
        future = system.append("test:durable", [event(n)])
        future.add_done_callback(check)
        futures.append(future)
    results = [f.result(timeout=10) for f in futures]
    wait_for(lambda: len(seen_at_resolution) == len(futures), timeout=5, message="every callback ran")
    assert sorted(seen_at_resolution) == [(seq, 1) for seq in sorted(results)]


def test_a_failing_append_fails_only_its_own_future(system: ActorSystem) -> None:
    fill = Fill("t-1", Decimal(1), Decimal(1), Decimal(1), Decimal(0), "BTC", False, 0)
    good_before = system.append("test:ok", [event(1)])
    bad = system.append("user:nobody", [OrderFilled(time=0, order_id="missing", fill=fill, status="FILLED")])
    good_after = system.append("test:ok", [event(2)])
    with pytest.raises(JournalUnavailable, match="missing"):
        bad.result(timeout=10)
    assert good_after.result(timeout=10) > good_before.result(timeout=10)
    loaded = system.ask_persistence(LoadStream("test:ok")).events
    assert loaded == [event(1), event(2)]


def test_a_load_sees_every_append_queued_before_it(system: ActorSystem) -> None:
    futures = [system.append("test:order", [event(n)]) for n in range(50)]
    loaded = system.ask_persistence(LoadStream("test:order")).events
    assert loaded == [event(n) for n in range(50)]
    assert all(f.done() for f in futures)


def test_appends_after_a_failed_one_of_their_stream_are_refused_until_the_stream_is_loaded_again(system: ActorSystem) -> None:
    refuse_appends(system.config.database_path, "json_extract(NEW.payload, '$.reason') = 'refused'")
    refused = AccountOpened(time=1_700_000_000_000, user_id="zed", reason="refused", changes=())
    # A portfolio that applied ``refused`` before the journal answered: what it sends
    # next (with a snapshot of that state) must not be stored, in this batch or a later one.
    first = system.append("user:zed", [refused])
    later = system.append("user:zed", [event(1)], (1, b'{"holds": "refused"}'))
    other = system.append("test:other", [event(2)])
    with pytest.raises(JournalUnavailable, match="simulated append failure"):
        first.result(timeout=10)
    with pytest.raises(JournalUnavailable, match="earlier append of user:zed failed"):
        later.result(timeout=10)
    assert other.result(timeout=10) > 0
    still = system.append("user:zed", [event(3)], (1, b'{"holds": "refused"}'))
    with pytest.raises(JournalUnavailable, match="earlier append of user:zed failed"):
        still.result(timeout=10)

    # The writer starting over from the journal loads the stream: it may append again.
    load = system.ask_persistence(LoadStream("user:zed"))
    assert (load.snapshot, load.events) == (None, [])
    assert system.append("user:zed", [event(4)]).result(timeout=10) > 0
    assert system.ask_persistence(LoadStream("user:zed")).events == [event(4)]
    assert system.ask_persistence(LoadStream("test:other")).events == [event(2)]

    # A writer that waits for each answer (the kill switch) is not refused after it.
    with pytest.raises(JournalUnavailable, match="simulated append failure"):
        system.append("system:test", [refused]).result(timeout=10)
    assert system.append("system:test", [event(5)]).result(timeout=10) > 0


# -- one writer, one job -----------------------------------------------------------------------


def journal_version(conn: apsw.Connection) -> int:
    """Changes whenever another connection commits to the journal."""
    return conn.execute("PRAGMA data_version").get


def verified_caught_up(system: ActorSystem) -> bool:
    conn = fresh_connection(system)
    try:
        mark = conn.execute("SELECT value FROM meta WHERE key = 'verified_seq'").fetchone()
        last = conn.execute("SELECT coalesce(max(seq), 0) FROM events").get
    finally:
        conn.close()
    return (int(mark[0]) if mark else 0) == last


def test_health_writes_nothing_and_reports_the_writers_last_commit(system: ActorSystem) -> None:
    from actors.client import EngineClient

    client = EngineClient(system)
    seq = system.append("test:health", [event(1)]).result(timeout=10)
    wait_for(lambda: verified_caught_up(system), message="the verifier's mark is written")
    conn = fresh_connection(system)
    try:
        before = journal_version(conn)
        for _ in range(300):
            report = client.health()
        assert journal_version(conn) == before  # 300 health checks, not one commit
    finally:
        conn.close()
    assert report.ok, report.problems
    journal = report.checks["journal"]
    assert journal["failure"] is None and journal["committingForSeconds"] is None
    assert journal["lastCommitAt"] > 0 and journal["appends"] >= 1 and seq > 0


def test_health_shows_a_commit_held_up_by_another_writer_and_clears_once_it_lands(system: ActorSystem) -> None:
    from actors.client import EngineClient

    client = EngineClient(system)
    blocker = apsw.Connection(system.config.database_path)
    blocker.set_busy_timeout(10_000)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        held = system.append("test:held", [event(1)])
        wait_for(lambda: client.health().checks["journal"]["committingForSeconds"] is not None,
                 message="the running commit is published")
        assert not held.done()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert held.result(timeout=10) > 0
    report = wait_for(lambda: (r := client.health()).checks["journal"]["committingForSeconds"] is None and r)
    assert report.ok, report.problems


def test_a_commit_running_too_long_or_a_failed_one_is_a_health_problem() -> None:
    from actors.persistence import JournalStatus

    assert JournalStatus().problem(now=100.0, slow_after=2.0) is None
    assert JournalStatus(committing_since=100.0).problem(now=102.0, slow_after=2.0) is None
    assert JournalStatus(committing_since=100.0).problem(now=102.5, slow_after=2.0) == "a commit has been running for 2.5 s"
    assert JournalStatus(failure="disk I/O error").problem(now=0.0, slow_after=2.0) == "the last commit failed: disk I/O error"
    with pytest.raises(ValueError, match="slow_after"):
        JournalStatus().problem(now=0.0, slow_after=0)


def test_candles_are_stored_in_their_own_file_and_never_commit_to_the_journal(system: ActorSystem) -> None:
    from actors.messages import LoadCandles, SaveCandles
    from engine.candles import Candle
    from persistence.candles import candles_path

    wait_for(lambda: verified_caught_up(system), message="the journal is quiet")
    candles = tuple(("BTCUSDT", Candle("1m", 4_000_000_000_000 + n * 60_000, *(Decimal(n + 1),) * 6)) for n in range(500))
    conn = fresh_connection(system)
    try:
        before = journal_version(conn)
        store = system.ref("candles", "candles")
        for n in range(0, len(candles), 50):
            store.tell(SaveCandles(candles[n:n + 50]))
        stored = system.ask(store, LoadCandles("BTCUSDT", "1m", 1000))
        assert [c for c in stored if c.open_time >= 4_000_000_000_000] == [c for _, c in candles]
        assert journal_version(conn) == before
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'candles'").get == 0
    finally:
        conn.close()
    assert candles_path(system.config.database_path).exists()


def test_pruning_goes_a_small_step_at_a_time_and_lets_other_work_in_between(system: ActorSystem, tmp_path) -> None:
    from actors.candle_store import CandleStoreActor
    from actors.messages import LoadCandles, PruneMarketData, SaveCandles
    from engine.candles import Candle

    ref = CandleStoreActor.start(system, str(tmp_path / "own.db"), prune_batch=100)
    try:
        old = tuple(("ETHUSDT", Candle("1m", n * 60_000, *(Decimal(1),) * 6)) for n in range(1_050))
        new = ("ETHUSDT", Candle("1m", 10_000 * 60_000, *(Decimal(2),) * 6))
        ref.ask(SaveCandles(old + (new,)))
        ref.tell(PruneMarketData(before_ms=5_000 * 60_000))
        # Asked right behind the prune's first step: answered before its second.
        loaded: list[Candle] = ref.ask(LoadCandles("ETHUSDT", "1m", 5_000), block=True)
        assert len(loaded) == 1_051 - 100
        wait_for(lambda: ref.ask(LoadCandles("ETHUSDT", "1m", 5_000)) == [new[1]], message="the prune finished")
        assert ref.proxy().prune_steps.get(timeout=5) == 11
    finally:
        ref.stop()
