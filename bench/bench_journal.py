"""Durable appends per second through the persistence actor (synchronous=FULL, WAL,
group commit), from 1, 8 and 32 threads; raw apsw on the same disk beside it.

Each append is one OrderAccepted event of a resting LIMIT order (with its
projection row, as a placement writes it) on the thread's own user stream, made
by `ActorSystem.append`: a tell to the persistence actor carrying a future that
resolves after the batch's commit. Two ways of calling:
- `pipelined`: each thread keeps WINDOW appends in flight and waits for the
  oldest before sending the next: how a portfolio host thread, with many users'
  orders in flight, uses the journal. The target (>= 100,000/s at 8 threads)
  is read on this one.
- `closed`: each thread waits for each append before the next (one in flight
  per thread): at most THREADS appends can share a commit.
Beside it, `journal_raw`: rows/s of plain apsw 1,000-row transactions (same
pragmas, same directory, one INSERT of a payload the size of an event per row),
and the fsync cost of a one-row commit; and `journal_direct`: Journal.commit itself
(encoding, projections, savepoints) in one thread, 1,000 appends a commit. Never fails.
"""

from __future__ import annotations

import collections
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec  # noqa: E402

from bench.common import QUICK, emit, engine, loadavg, target  # noqa: E402
from engine.events import OrderAccepted, user_stream  # noqa: E402
from engine.orders import PlaceOrder  # noqa: E402
from engine.portfolio import PortfolioState, decide_open, decide_place, evolve  # noqa: E402
from engine.symbols import paper_symbol  # noqa: E402
from persistence import db  # noqa: E402

SECONDS = 2.0 if QUICK else 5.0
THREADS = (1, 8, 32)
WINDOW = 64
RAW_ROWS = 1000
TARGET = 100_000


def template() -> OrderAccepted:
    state = PortfolioState("t")
    evolve(state, decide_open(state, {"USDT": Decimal(10**9)}, 1, "bench"))
    cmd = PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000))
    return decide_place(state, cmd, paper_symbol("BTCUSDT"), None, order_id="x", client_order_id="c", now=1)


def appends(system, threads: int, mode: str) -> dict:
    base = template()
    counts = [0] * threads
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        stream = user_stream(f"journal-{mode}-{threads}-{t}")
        opened = decide_open(PortfolioState(stream), {"USDT": Decimal(10**9)}, 1, "bench")
        system.append(stream, [opened]).result(30)
        inflight: collections.deque = collections.deque()
        n = 0
        window = WINDOW if mode == "pipelined" else 1
        try:
            while not stop.is_set():
                n += 1
                oid = f"{mode[0]}{threads}-{t}-{n}"
                order = msgspec.structs.replace(base.order, id=oid, client_order_id=oid)
                event = msgspec.structs.replace(base, order=order, time=n)
                inflight.append(system.append(stream, [event]))
                if len(inflight) >= window:
                    inflight.popleft().result(30)
                    counts[t] += 1
            while inflight:
                inflight.popleft().result(30)
        except BaseException as exc:  # noqa: BLE001 - reported in the figure
            errors.append(exc)

    journal = system.ref("persistence", "journal").proxy()
    batches0, appends0 = journal.batches.get(), journal.appends.get()
    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    time.sleep(SECONDS)
    done = sum(counts)  # acknowledged (durable) within the window
    elapsed = time.perf_counter() - started
    stop.set()
    for w in workers:
        w.join()
    batches, total = journal.batches.get() - batches0, journal.appends.get() - appends0
    return {"appends_per_s": round(done / elapsed), "appends_per_commit": round(total / max(batches, 1), 1),
            "commits_per_s": round(batches / (time.perf_counter() - started)), "errors": len(errors)}


def raw(path: Path, seconds: float) -> dict:
    conn = db.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, stream TEXT, payload TEXT)")
    payload = msgspec.json.encode(template()).decode()
    rows = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        with conn:
            conn.executemany("INSERT INTO raw (stream, payload) VALUES (?, ?)", (("user:raw", payload) for _ in range(RAW_ROWS)))
        rows += RAW_ROWS
    rows_per_s = rows / (time.perf_counter() - started)
    commits = 0
    started = time.perf_counter()
    while time.perf_counter() - started < min(seconds, 2.0):
        with conn:
            conn.execute("INSERT INTO raw (stream, payload) VALUES ('user:raw', 'x')")
        commits += 1
    one_row = (time.perf_counter() - started) / commits
    conn.close()
    return {"rows_per_s": round(rows_per_s), "one_row_commit_ms": round(one_row * 1000, 3)}


def direct(path: Path, seconds: float) -> dict:
    """Journal.commit itself, no actor, no threads: 1,000 appends per commit."""
    from persistence.journal import Journal

    journal = Journal.open(path)
    base = template()
    stream = user_stream("direct")
    journal.commit([(stream, [decide_open(PortfolioState("direct"), {"USDT": Decimal(10**9)}, 1, "bench")])])
    n = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = []
        for _ in range(RAW_ROWS):
            n += 1
            order = msgspec.structs.replace(base.order, id=f"d{n}", client_order_id=f"d{n}")
            batch.append((stream, [msgspec.structs.replace(base, order=order, time=n)]))
        journal.commit(batch)
    rate = n / (time.perf_counter() - started)
    journal.close()
    return {"appends_per_s": round(rate)}


def main() -> None:
    load = loadavg()
    with tempfile.TemporaryDirectory(dir=None) as tmp:
        figures = raw(Path(tmp) / "raw.db", SECONDS)
        emit("journal_raw", rows_per_transaction=RAW_ROWS, synchronous="FULL", journal_mode="WAL", disk=tmp, **figures,
             loadavg=load)
        load = loadavg()
        emit("journal_direct", appends_per_commit=RAW_ROWS, note="Journal.commit in one thread: no actor, no futures",
             **direct(Path(tmp) / "direct.db", SECONDS), loadavg=load)
    with engine() as (system, _client):
        for mode in ("pipelined", "closed"):
            for threads in THREADS:
                load = loadavg()
                figures = appends(system, threads, mode)
                fields = {"mode": mode, "threads": threads, "window": WINDOW if mode == "pipelined" else 1,
                          "seconds": SECONDS, **figures, "loadavg": load}
                if mode == "pipelined" and threads == 8:
                    fields.update(met=target(figures["appends_per_s"], TARGET, at_least=True),
                                  targets={"appends_per_s": f">={TARGET}"})
                emit("journal", **fields)


if __name__ == "__main__":
    main()
