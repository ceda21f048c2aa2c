"""Recovery time as the journal grows: 1 million events.

Writes a journal of EVENTS events for USERS users through the real Journal
(projections and snapshots included, as the engine writes them), then times:
- the first start's verification of every row, and a later start's;
- loading one user's portfolio from its snapshot plus tail, against replaying
  that user's whole stream.
Prints figures; never fails.
"""

from __future__ import annotations

import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.client import EngineClient  # noqa: E402
from actors.messages import LoadAllEvents  # noqa: E402
from actors.system import ActorSystem  # noqa: E402
from engine import config as config_module  # noqa: E402
from engine import logs  # noqa: E402
from engine.events import user_stream  # noqa: E402
from engine.orders import PlaceOrder  # noqa: E402
from engine.portfolio import SNAPSHOT_VERSION, PortfolioState, decide_close, decide_open, decide_place, evolve, snapshot_of  # noqa: E402
from engine.symbols import paper_symbol  # noqa: E402
from persistence.journal import Journal  # noqa: E402

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
USERS = 100
SNAPSHOT_EVERY = 1000
BATCH = 5000


def write_journal(path: Path) -> float:
    info = paper_symbol("BTCUSDT")
    journal = Journal.open(path)
    states = {f"user-{n}": PortfolioState(f"user-{n}") for n in range(USERS)}
    since = dict.fromkeys(states, 0)
    now = 1_700_000_000_000
    written = 0
    batch: list[tuple[str, list, tuple[int, bytes] | None]] = []
    started = time.perf_counter()
    for user, state in states.items():
        evolve(state, opened := decide_open(state, {"USDT": Decimal(10**9)}, now, "bench"))
        batch.append((user_stream(user), [opened], None))
    written += USERS
    n = 0
    while written < EVENTS:
        for user, state in states.items():
            now += 1
            n += 1
            cmd = PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000 + n % 500))
            accepted = decide_place(state, cmd, info, None, order_id=f"{now:012x}{n:010x}", client_order_id=f"c{n}", now=now)
            evolve(state, accepted)
            closed = decide_close(state.orders[accepted.order.id], "CANCELED", "bench", now)
            evolve(state, closed)
            since[user] += 2
            snapshot = None
            if since[user] >= SNAPSHOT_EVERY:
                snapshot, since[user] = (SNAPSHOT_VERSION, snapshot_of(state)), 0
            batch.append((user_stream(user), [accepted, closed], snapshot))
            written += 2
        if len(batch) * 2 >= BATCH:
            journal.commit(batch)
            batch = []
    if batch:
        journal.commit(batch)
    journal.close()
    return time.perf_counter() - started


def main() -> None:
    logs.configure("ERROR", "console")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        seconds = write_journal(path)
        print(f"recovery: wrote {EVENTS:,} events for {USERS} users in {seconds:.1f} s"
              f" ({EVENTS / seconds:,.0f} events/s, projections and snapshots included)")
        config = config_module.load({"DATABASE_URL": str(path), "PAPER_SPEED": "0"}, isatty=False)
        for label in ("first start (verifies every row)", "next start (verifies new rows only)"):
            started = time.perf_counter()
            system = ActorSystem(config).start()
            ready = time.perf_counter() - started
            client = EngineClient(system)
            started = time.perf_counter()
            client.wallet("user-7")
            load = time.perf_counter() - started
            started = time.perf_counter()
            state = PortfolioState("user-7")
            events = system.ask_persistence(LoadAllEvents(user_stream("user-7")), timeout=600)
            for event in events:
                evolve(state, event)
            full = time.perf_counter() - started
            system.stop()
            print(
                f"recovery: {label}: engine ready in {ready:.2f} s; one portfolio from snapshot + tail "
                f"{load * 1000:.1f} ms vs replaying its {len(events):,} events {full * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
